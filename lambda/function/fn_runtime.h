/*  fn_runtime — client of the Lambda Runtime API (2018-06-01).

    Owns one fn_http_t connection to $AWS_LAMBDA_RUNTIME_API and the
    invocation last fetched with fn_runtime_next. It validates what the API
    sends (status, request id, deadline) and speaks the four calls a custom
    runtime needs: next, response, invocation error, init error.

    Thread model: one fn_runtime_t belongs to one thread; calls block
    (fn_runtime_next long-polls until an invocation arrives).
*/
#ifndef FN_RUNTIME_H
#define FN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Longest request id accepted from the API.
#define FN_RUNTIME_ID_MAX 128

typedef struct _fn_runtime_t fn_runtime_t;

//  One invocation as received from GET /runtime/invocation/next. Every
//  pointer is borrowed until the next fn_runtime call.
typedef struct {
    const char *request_id;   //  Lambda-Runtime-Aws-Request-Id, validated
    int64_t deadline_ms;      //  Lambda-Runtime-Deadline-Ms, 0 if absent
    const char *function_arn; //  Lambda-Runtime-Invoked-Function-Arn or ""
    const char *trace_id;     //  Lambda-Runtime-Trace-Id or ""
    const char *event;        //  the event (body), NUL-terminated
    size_t event_len;
} fn_runtime_invocation_t;

//  Creates a client for `api` ("127.0.0.1:9001", the value of
//  AWS_LAMBDA_RUNTIME_API). NULL with a reason in `err` when `api` is
//  missing or not a numeric host:port.
fn_runtime_t *fn_runtime_new(const char *api, char *err, size_t err_size);

//  Frees the client. Safe on NULL; nulls *self_p.
void fn_runtime_destroy(fn_runtime_t **self_p);

//  Waits for the next invocation. Returns 0 and fills `inv`, or -1 when
//  the API failed or answered something invalid (fn_runtime_error says
//  what); a runtime should then exit.
int fn_runtime_next(fn_runtime_t *self, fn_runtime_invocation_t *inv);

//  Posts the function's result for `request_id`. Returns 0 when the API
//  accepted it (202), -1 otherwise.
int fn_runtime_respond(fn_runtime_t *self, const char *request_id, const char *body,
                       size_t body_len);

//  Posts an invocation error {"errorMessage", "errorType"} for
//  `request_id`. Returns 0 on 202, -1 otherwise.
int fn_runtime_fail(fn_runtime_t *self, const char *request_id, const char *type,
                    const char *message);

//  Posts an init error {"errorMessage", "errorType"}. Returns 0 on 202,
//  -1 otherwise.
int fn_runtime_init_error(fn_runtime_t *self, const char *type, const char *message);

//  Text of the last failure; "" when there was none.
const char *fn_runtime_error(fn_runtime_t *self);

void fn_runtime_test(bool verbose);

#endif
