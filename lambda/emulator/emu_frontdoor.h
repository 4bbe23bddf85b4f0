/*  emu_frontdoor — the HTTP front door of the emulator: Function URLs at
    /url/NAME/<anything>.

    Owns the listening socket and libmicrohttpd daemon on --listen, every
    client request in progress (its raw target, its body capped at the 6 MB
    payload limit, its invocation while dispatched, its reply) and the
    list of the requests suspended while their function runs. Functions
    are borrowed.

    For each complete request: unknown route or function -> 404; body over
    the limit -> 413; otherwise the Function URL event is built and the
    function invoked: throttled -> 429 at once (never queued); dispatched
    -> the connection is suspended until the invocation completes, then
    the function's answer is mapped (emu_furl). Every answer carries
    X-Stampede-Received-Ns (CLOCK_REALTIME ns when the emulator held the
    complete request) and x-amzn-RequestId, and, when an access log is
    set, leaves one JSON line there (see emu_frontdoor_set_access_log).
    Request line and headers are
    capped by the connection memory limit (32 KiB); a malformed request
    gets MHD's 4xx and the door keeps serving.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_FRONTDOOR_H
#define EMU_FRONTDOOR_H

#include "emu_account.h"
#include "emu_function.h"
#include "emu_loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

//  Most connections held at once.
#define EMU_FRONTDOOR_CONNECTIONS_MAX 10000

typedef struct _emu_frontdoor_t emu_frontdoor_t;

typedef struct {
    uint64_t requests;    //  answered
    uint64_t ok;          //  2xx
    uint64_t throttled;   //  429
    uint64_t errors;      //  anything else
    uint64_t log_errors;  //  access-log lines that could not be written
    uint64_t undelivered; //  answers ready after the client had left
    size_t waiting;       //  suspended on an invocation now
} emu_frontdoor_stats_t;

//  Listens on `listen` ("HOST:PORT", port 0 = ephemeral) and serves from
//  `loop`. NULL with a reason in `err`.
emu_frontdoor_t *emu_frontdoor_new(emu_loop_t *loop, const char *listen, bool verbose,
                                   char *err, size_t err_size);

//  Stops serving and frees. Destroy the functions first, so that no
//  request still waits on an invocation. Nulls *self_p.
void emu_frontdoor_destroy(emu_frontdoor_t **self_p);

//  Serves `function` (borrowed) at /url/<its name>/. Returns 0, or -1
//  when full (EMU_CONFIG_FUNCTIONS_MAX).
int emu_frontdoor_add_function(emu_frontdoor_t *self, emu_function_t *function);

//  Serves every function of `account` (borrowed; outlives the door)
//  through every door - Function URL, Invoke API, API Gateway REST and
//  HTTP API - and answers the management API for it.
void emu_frontdoor_set_account(emu_frontdoor_t *self, emu_account_t *account);

//  Status of an HTTP API door's throttle answer: 500 (default, {"message":
//  "Internal Server Error"}) or 429 ({"message":"Too Many Requests"}).
void emu_frontdoor_set_httpapi_throttle_status(emu_frontdoor_t *self, int status);

//  Writes one line per answer to `log` (borrowed; NULL stops logging),
//  in the order answered, one fwrite per line:
//    {"received_ns":N,"answered_ns":N,"status":S,"function":"NAME",
//     "request_id":"ID"}
//  received_ns as in X-Stampede-Received-Ns; answered_ns when the answer
//  was queued on the connection (CLOCK_REALTIME ns); function is null
//  when the target names no served function; request_id is the
//  x-amzn-RequestId sent. When the client left while the function ran,
//  the answer cannot be delivered: its line is written when the
//  connection ends (answered_ns then), with a sixth field
//  "delivered":false. So every request that reached the door has exactly
//  one line. Requests MHD refuses itself (malformed request line or
//  headers) never reach the door and leave no line. A failed write is
//  counted in stats.log_errors and logged once.
void emu_frontdoor_set_access_log(emu_frontdoor_t *self, FILE *log);

//  The bound port.
uint16_t emu_frontdoor_port(emu_frontdoor_t *self);

void emu_frontdoor_stats(emu_frontdoor_t *self, emu_frontdoor_stats_t *stats);

void emu_frontdoor_test(bool verbose);

#endif
