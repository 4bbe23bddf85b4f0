/*  emu_rtapi — one execution environment's Runtime API endpoint: a
    libmicrohttpd daemon on 127.0.0.1:<ephemeral port> in the emulator
    loop, serving GET .../invocation/next, POST .../invocation/ID/response,
    .../invocation/ID/error and .../init/error.

    Owns the daemon, its connections, each request's body (capped at
    EMU_LIMIT_PAYLOAD_MAX) and the parked /next long-poll. It decides
    nothing about invocations: each call goes to the owner's callback with
    a handle to answer it by (deliver, accept, error, or park a /next).

    Answers of its own: a resource it does not know 404, wrong method 405,
    a parked /next replaced by a newer one 409, every call once refusing
    500 Runtime.Shutdown - always a JSON {"errorMessage", "errorType"}; at
    most EMU_RTAPI_CONNECTIONS connections at once, request head capped at
    32 KiB; MHD's own complaints are logged at most 10 a second.

    A /next answer carries the event and Lambda-Runtime-Aws-Request-Id,
    -Deadline-Ms, -Invoked-Function-Arn (qualified as the caller invoked
    it: emu_invocation_invoked_qualifier), -Trace-Id (an X-Ray id whose
    time is when the invocation was received), and -Client-Context when
    the invocation has one.

    Invariants: at most one /next is parked; each call handle is answered
    or parked exactly once, inside the callback that received it.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_RTAPI_H
#define EMU_RTAPI_H

#include "emu_invocation.h"
#include "emu_loop.h"
#include "emu_route.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Runtime API connections one environment may hold at once.
#define EMU_RTAPI_CONNECTIONS 16

typedef struct _emu_rtapi_t emu_rtapi_t;
//  One call being answered; valid inside the callback only.
typedef struct _emu_rtapi_call_t emu_rtapi_call_t;

//  What a call carried, for the callbacks (borrowed for the callback).
typedef struct {
    emu_route_rt_call_t call; //  which resource
    const char *request_id;   //  from the path (RESPONSE and ERROR)
    const char *body;         //  NUL-terminated; "" when none
    size_t body_len;          //  bytes in body
    bool too_large;           //  the body went over EMU_LIMIT_PAYLOAD_MAX
    const char *error_type;   //  Lambda-Runtime-Function-Error-Type, or NULL
} emu_rtapi_request_t;

//  The owner's callbacks. Each answers (or, for /next, parks) `call` and
//  returns 0, or -1 when the answer could not be queued (the connection
//  is closed).
typedef struct {
    //  GET /next; `woken` when it was parked and emu_rtapi_wake woke it.
    int (*next)(emu_rtapi_call_t *call, bool woken, void *arg);
    //  POST .../ID/response or .../ID/error.
    int (*result)(emu_rtapi_call_t *call, const emu_rtapi_request_t *request, void *arg);
    //  POST .../init/error.
    int (*init_error)(emu_rtapi_call_t *call, const emu_rtapi_request_t *request,
                      void *arg);
} emu_rtapi_events_t;

//  Starts the daemon for the environment `name` (borrowed, for logs).
//  Returns NULL with a reason in `err` when it cannot start.
emu_rtapi_t *emu_rtapi_new(emu_loop_t *loop, const char *name,
                           const emu_rtapi_events_t *events, void *arg, char *err,
                           size_t err_size);

//  Refuses every call from now on, wakes the parked /next and stops the
//  daemon. Never call it from a callback. Safe on NULL; nulls *self_p.
void emu_rtapi_destroy(emu_rtapi_t **self_p);

uint16_t emu_rtapi_port(emu_rtapi_t *self);

//  From now on every call is answered 500 Runtime.Shutdown (the Runtime
//  API's "container error, non-recoverable"): the environment is dying.
void emu_rtapi_refuse(emu_rtapi_t *self);

//  Wakes the parked /next, if any: `next` is called again for it.
void emu_rtapi_wake(emu_rtapi_t *self);

//  Parks a /next as the long-poll; one parked before is answered 409.
int emu_rtapi_park(emu_rtapi_call_t *call);

//  Answers a /next with `invocation`'s event and headers: the invoked
//  ARN of `function`, `deadline_ms` (Unix epoch ms).
int emu_rtapi_deliver(emu_rtapi_call_t *call, emu_invocation_t *invocation,
                      const char *function, int64_t deadline_ms);

//  202 {"status":"OK"}.
int emu_rtapi_accept(emu_rtapi_call_t *call);

//  `status` with {"errorMessage": message, "errorType": type}.
int emu_rtapi_error(emu_rtapi_call_t *call, unsigned status, const char *type,
                    const char *message);

//  Writes the X-Ray trace header value for `request_id`, received at
//  `start_epoch_s`: "Root=1-{8 hex: start}-{24 hex};Parent={16
//  hex};Sampled=0", the hex digits taken from the request id.
void emu_rtapi_trace_id(const char *request_id, int64_t start_epoch_s, char *out,
                        size_t size);

void emu_rtapi_test(bool verbose);

#endif
