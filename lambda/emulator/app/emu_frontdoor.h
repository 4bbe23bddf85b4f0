/*  emu_frontdoor — the HTTP front door of the emulator: every way in to
    the functions, on the one --listen address (paths: emu_route).

      door      path                               event / answer
      url       /url/FN[:Q]/...                    Function URL (emu_furl)
      restapi   /restapi/FN[:Q]/...                API Gateway REST API,
                                                   payload 1.0 (emu_apigw)
      httpapi   /httpapi/FN[:Q]/...                API Gateway HTTP API,
                                                   payload 2.0 (emu_apigw)
      invoke    POST /2015-03-31/functions/FN/invocations
                                                   Invoke API (emu_invoke)
                POST /2021-11-15/functions/FN/response-streaming-invocations
                                                   refused: response streaming
                                                   is not emulated (400)
      mgmt      anything else                      management API (emu_mgmt),
                                                   404 when it is not one

    Q is an alias, a version or $LATEST (the default). Throttles are
    decided before any work on the event and answered at once, never
    queued, each door the way AWS answers it: Function URL 429 {"Message":
    "Rate Exceeded."}; REST API 500 {"message": "Internal server error"};
    HTTP API 500 (or 429, see emu_frontdoor_set_httpapi_throttle_status);
    Invoke API 429 TooManyRequestsException with its Reason. A dispatched
    request is suspended until its invocation completes, then the answer
    is mapped by its door - or, on an API Gateway door, until the
    gateway's integration timeout (emu_frontdoor_set_gateway_timeouts).
    The Invoke API hands a synchronous invocation's X-Amz-Client-Context
    to the runtime, as AWS does: decoded, in the /next answer's
    Lambda-Runtime-Client-Context (CR, LF and tab, whitespace between
    JSON tokens there, sent as spaces); an Event invocation gets none.

    Each door's answers (not found, throttle, too large, timeout, the
    function's) are emu_doormap's; the event of a path door is
    emu_doorevent's; access-log lines are emu_doorlog's.

    Owns the listening socket and libmicrohttpd daemon, every client
    request in progress (its raw target, its body - emu_doorbody, kept up
    to the door's limit, EMU_LIMIT_PAYLOAD_MAX, or EMU_MGMT_BODY_MAX for
    the management API -, its invocation while dispatched, its
    integration-timeout timer, its reply),
    the list of the requests suspended while their function runs, and the
    invocations abandoned by a timeout until they complete. Functions and
    the account are borrowed.

    Every answer carries X-Stampede-Received-Ns and x-amzn-RequestId, and,
    when an access log is set, leaves one JSON line there (see
    emu_frontdoor_set_access_log). A body over the door's limit is drained
    (read and thrown away, within emu_doorbody's bounds) and then answered
    413, so that a client still writing reads the answer instead of a
    reset; one declared past the drain cap is refused before it is read.
    Request line and headers are capped by the connection memory limit
    (32 KiB); a malformed request gets MHD's 4xx and the door keeps
    serving.

    X-Stampede-Received-Ns (CLOCK_REALTIME ns; also the access log's
    received_ns, the event's requestContext time and a synchronous
    invocation's X-Ray trace id time) is when the request arrived: the
    kernel's receive timestamp of the TCP segment that completed it
    (emu_rxstamp, with its limits), or the loop's clock when none was
    peeked (stats.rx_loop) and for an answer given before the request was
    complete (a body refused unread).

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
    uint64_t throttled;   //  throttles (429, or an API Gateway door's 500)
    uint64_t errors;      //  anything else
    uint64_t log_errors;  //  access-log lines that could not be written
    uint64_t undelivered; //  answers ready after the client had left
    uint64_t timeouts;    //  API Gateway integration timeouts answered
    size_t waiting;       //  suspended on an invocation now
    size_t abandoned;     //  invocations still running after their timeout answer
    uint64_t rx_kernel;   //  requests stamped with the kernel's receive time
    uint64_t rx_coarse;   //  stamped with the kernel's last receive (TCP_INFO, ms)
    uint64_t rx_loop;     //  requests stamped with the loop's clock (emu_rxstamp)
} emu_frontdoor_stats_t;

//  Listens on `listen` ("HOST:PORT", port 0 = ephemeral) and serves from
//  `loop`. NULL with a reason in `err`.
emu_frontdoor_t *emu_frontdoor_new(emu_loop_t *loop, const char *listen, bool verbose,
                                   char *err, size_t err_size);

//  Stops serving and frees. Destroy the functions first, so that no
//  request still waits on an invocation. Nulls *self_p.
void emu_frontdoor_destroy(emu_frontdoor_t **self_p);

//  Serves `function` (borrowed) by its plain name through every door
//  while no account is set (selftests). Returns 0, or -1 when full
//  (EMU_CONFIG_FUNCTIONS_MAX).
int emu_frontdoor_add_function(emu_frontdoor_t *self, emu_function_t *function);

//  Serves every function of `account` (borrowed; outlives the door)
//  through every door - Function URL, Invoke API, API Gateway REST and
//  HTTP API - and answers the management API for it. Functions added with
//  emu_frontdoor_add_function are no longer served.
void emu_frontdoor_set_account(emu_frontdoor_t *self, emu_account_t *account);

//  Status of an HTTP API door's throttle answer: 500 (default, {"message":
//  "Internal Server Error"}) or 429 ({"message":"Too Many Requests"}).
void emu_frontdoor_set_httpapi_throttle_status(emu_frontdoor_t *self, int status);

//  Integration timeouts of the API Gateway doors, in ns (> 0): a REST API
//  request still waiting for its function after `rest_ns` (default 29 s)
//  is answered 504 {"message": "Endpoint request timed out"}, an HTTP API
//  one after `http_ns` (default 30 s) 503 {"message":"Service
//  Unavailable"}. The function runs on to its own end in its environment,
//  which is neither killed nor freed early; its answer is dropped. The
//  Function URL and the Invoke API wait for the function.
void emu_frontdoor_set_gateway_timeouts(emu_frontdoor_t *self, int64_t rest_ns,
                                        int64_t http_ns);

//  Writes one line per answer to `log` (borrowed; NULL stops logging),
//  in the order answered, one fwrite per line:
//    {"received_ns":N,"answered_ns":N,"status":S,"function":"NAME",
//     "request_id":"ID","door":"DOOR"}
//  received_ns as in X-Stampede-Received-Ns; answered_ns when the answer
//  was queued on the connection (CLOCK_REALTIME ns); function is null
//  when the target names no served function; request_id is the
//  x-amzn-RequestId sent; door is "url", "restapi", "httpapi", "invoke"
//  or "mgmt" (management API and unknown paths). When the client left while the function
//  ran, the answer cannot be delivered: its line is written when the connection ends
//  (answered_ns then), with a seventh field "delivered":false. So every request that
//  reached the door has exactly one line. Requests MHD refuses itself (malformed request
//  line or headers) never reach the door and leave no line. A failed write is counted in
//  stats.log_errors and logged once.
void emu_frontdoor_set_access_log(emu_frontdoor_t *self, FILE *log);

//  The bound port.
uint16_t emu_frontdoor_port(emu_frontdoor_t *self);

void emu_frontdoor_stats(emu_frontdoor_t *self, emu_frontdoor_stats_t *stats);

void emu_frontdoor_test(bool verbose);

#endif
