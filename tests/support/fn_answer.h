/*  fn_answer — reads the demo function's answer (lambda/function,
    fn_handler.h) in the selftests that run the real bootstrap.

    The bootstrap answers every invocation with a Lambda proxy response,
    {"statusCode":200,"headers":{"Content-Type":"application/json"},
    "body":"<facts>"}. A Function URL or API Gateway door unwraps it and
    sends the facts object as the HTTP body (fn_answer_facts reads that);
    the Invoke API passes the whole response through (fn_answer_proxy).
    Both accept only exactly that shape - the envelope with nothing more,
    the facts' eight keys in fn_handler's order with their JSON types - so
    a test asserts on fields that were all there and nothing else was.

    Stateless; any thread.
*/
#ifndef FN_ANSWER_H
#define FN_ANSWER_H

#include <stdbool.h>
#include <stdint.h>

#define FN_ANSWER_ID_MAX 128
#define FN_ANSWER_TYPE_MAX 64

//  The facts of one answer.
typedef struct {
    char request_id[FN_ANSWER_ID_MAX + 1];
    char environment_id[17]; //  16 hex digits
    bool cold_start;
    double cold_start_time; //  seconds
    char initialization_type[FN_ANSWER_TYPE_MAX + 1];
    int64_t invocation_count;
    int64_t started_at_ns;
    int64_t finished_at_ns;
} fn_answer_t;

//  Reads `text` (NUL-terminated), the facts object as a door delivers it,
//  into `answer`. Returns 0, or -1 when it is not exactly that object.
int fn_answer_facts(const char *text, fn_answer_t *answer);

//  Reads `text` (NUL-terminated), the whole proxy response as the Invoke
//  API delivers it, into `answer`. Returns 0, or -1 when the envelope or
//  the facts in its body are not exactly the bootstrap's.
int fn_answer_proxy(const char *text, fn_answer_t *answer);

void fn_answer_test(bool verbose);

#endif
