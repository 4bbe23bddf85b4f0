/*  fn_handler — the stampede demo function: holds each invocation for a
    configured time and answers with facts about its execution environment.

    Owns the environment's identity (a random 16-hex-digit environment_id
    fixed for the process life), its initialization type, its init
    duration and its invocation counter.

    The response is a Lambda proxy response, the one shape a Function URL,
    an API Gateway HTTP API and a REST API (Lambda proxy integration) all
    accept - a REST API answers any other payload with 502:

      {"statusCode":200,"headers":{"Content-Type":"application/json"},
       "body":"<the facts object below, as a string>"}

    Those doors unwrap it, so their client gets the facts object as the
    HTTP body; the Invoke API (and so `aws lambda invoke` and the SDKs)
    passes the whole response through. The facts object, keys in this
    order:

      request_id           the Lambda request id of this invocation
      environment_id       16 hex digits, random per environment
      cold_start           true only on the first invocation of an
                           on-demand environment: false when
                           AWS_LAMBDA_INITIALIZATION_TYPE is
                           provisioned-concurrency (or any type but
                           on-demand), whose init no request waited for
      cold_start_time      seconds from process creation to end of init on the
                           cold invocation, else 0 (always 0 unless
                           on-demand)
      initialization_type  AWS_LAMBDA_INITIALIZATION_TYPE as given
                           (on-demand when unset or empty)
      invocation_count     invocations served by this environment, 1-based
      started_at_ns        CLOCK_REALTIME ns before the hold
      finished_at_ns       CLOCK_REALTIME ns after the hold

    Thread model: one fn_handler_t belongs to one thread; fn_handler_invoke
    blocks for the hold time.
*/
#ifndef FN_HANDLER_H
#define FN_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FN_HANDLER_HOLD_MS_DEFAULT 2000
#define FN_HANDLER_HOLD_MS_MAX 900000

typedef struct _fn_handler_t fn_handler_t;

//  Everything one response reports.
typedef struct {
    const char *request_id;
    const char *environment_id;
    bool cold_start;
    double cold_start_time; //  seconds
    const char *initialization_type;
    uint64_t invocation_count;
    int64_t started_at_ns;
    int64_t finished_at_ns;
} fn_handler_result_t;

//  Creates the handler from the environment's settings: `hold_ms` is the
//  text of STAMPEDE_HOLD_MS (NULL: the default 2000; otherwise an integer
//  0..900000), `init_type` that of AWS_LAMBDA_INITIALIZATION_TYPE (NULL or
//  empty: "on-demand"; at most 64 printable characters). Returns NULL with
//  a reason in `err` when a setting is invalid or memory runs out.
fn_handler_t *fn_handler_new(const char *hold_ms, const char *init_type, char *err,
                             size_t err_size);

//  Frees the handler. Safe on NULL; nulls *self_p.
void fn_handler_destroy(fn_handler_t **self_p);

//  Records that init ended `seconds` after the process started; reported
//  on the cold invocation.
void fn_handler_init_done(fn_handler_t *self, double seconds);

//  Serves one invocation: holds for the configured time and returns the
//  proxy response text (caller frees), or NULL when memory runs out or
//  `request_id` is not valid UTF-8.
char *fn_handler_invoke(fn_handler_t *self, const char *request_id);

//  Renders `result` as the proxy response text above: the facts object
//  (keys in the order listed) compact as its body. Caller frees; NULL on
//  invalid UTF-8 or no memory.
char *fn_handler_render(const fn_handler_result_t *result);

//  The environment id (16 lowercase hex digits).
const char *fn_handler_environment_id(fn_handler_t *self);

//  The hold time in milliseconds.
int fn_handler_hold_ms(fn_handler_t *self);

void fn_handler_test(bool verbose);

#endif
