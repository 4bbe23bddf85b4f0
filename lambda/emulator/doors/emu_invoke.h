/*  emu_invoke — the Lambda Invoke API's own rules, as AWS applies them to
    POST /2015-03-31/functions/FN/invocations[?Qualifier=Q]:

      X-Amz-Invocation-Type  RequestResponse (default) | Event | DryRun
      X-Amz-Log-Type         None (default) | Tail
      X-Amz-Client-Context   base64 of a JSON object, at most 3583 bytes
      Qualifier              1..128 of [a-zA-Z0-9$_-]; must agree with the
                             qualifier of an ARN FunctionName
      payload                JSON (any value; empty means {}), at most
                             EMU_LIMIT_PAYLOAD_MAX bytes (Event:
                             EMU_LIMIT_EVENT_PAYLOAD_MAX)

    and the answers: 200 with the function's payload, Content-Type
    application/json and X-Amz-Executed-Version; a function error,
    timeout, crash, init failure or oversized response is still 200, with
    X-Amz-Function-Error: Unhandled and the error payload; Tail adds
    X-Amz-Log-Result, the base64 of the invocation's log tail; Event is
    202 with no body, DryRun 204. Refusals are emu_aws_error_t values
    (emu_aws_error_reply gives the answer), with AWS's types and words:

      400 InvalidParameterValueException  bad invocation or log type,
                                          qualifier disagreeing with the ARN
      400 ValidationException             malformed Qualifier
      400 InvalidRequestContentException  payload or client context not
                                          JSON ("Could not parse request
                                          body into json: ...")
      413 RequestEntityTooLargeException  payload over the limit: "Request
                                          must be smaller than LIMIT bytes for
                                          the InvokeFunction operation"; Event:
                                          "N byte payload is too large for the
                                          Event invocation type (limit LIMIT
                                          bytes)"

    Response streaming (InvokeWithResponseStream, POST
    /2021-11-15/functions/FN/response-streaming-invocations) is not
    emulated: it is refused with emu_invoke_streaming_refused's answer,
    never served as a plain 200.

    Every message is printable ASCII: untrusted text echoed in one has any
    other byte replaced by '?'.

    Pure functions over untrusted input; no state; callable from any
    thread. The front door (emu_frontdoor) looks the function up and
    dispatches.
*/
#ifndef EMU_INVOKE_H
#define EMU_INVOKE_H

#include "emu_aws.h"
#include "emu_invocation.h"
#include "emu_limits.h"
#include "emu_reply.h"
#include "emu_route.h"

#include <stdbool.h>
#include <stddef.h>

//  Longest X-Amz-Client-Context, bytes of base64.
#define EMU_INVOKE_CLIENT_CONTEXT_MAX 3583

typedef enum {
    EMU_INVOKE_REQUEST_RESPONSE, //  synchronous: wait for the function's answer
    EMU_INVOKE_EVENT,            //  asynchronous: queued, 202 at once
    EMU_INVOKE_DRY_RUN,          //  checks only, 204
} emu_invoke_type_t;

//  The options of one Invoke request, validated.
typedef struct {
    emu_invoke_type_t type;
    bool tail; //  X-Amz-Log-Type: Tail
    //  X-Amz-Client-Context as sent (base64 of a JSON object), "" when none.
    char client_context[EMU_INVOKE_CLIENT_CONTEXT_MAX + 1];
} emu_invoke_options_t;

//  Reads the request headers (each NULL when absent) into `options`.
//  Returns 0, or -1 with the 400 AWS sends in `err`.
int emu_invoke_parse_options(const char *invocation_type, const char *log_type,
                             const char *client_context, emu_invoke_options_t *options,
                             emu_aws_error_t *err);

//  The client context of validated `options` as the runtime gets it: the
//  decoded JSON object, on one line (CR, LF and tab, which can only be
//  whitespace between its tokens, become spaces), written into `out`.
//  Returns its length, 0 when there is none.
size_t emu_invoke_client_context(const emu_invoke_options_t *options,
                                 char out[EMU_INVOCATION_CLIENT_CONTEXT_MAX + 1]);

//  The qualifier to invoke: the Qualifier parameter (`raw`, `raw_len`
//  bytes, percent-encoded, when `present`) or else `derived`, the one an
//  ARN FunctionName carried ("" when none). Writes it into `out` ("" =
//  unqualified, i.e. $LATEST). Returns 0, or -1 with 400 in `err` when
//  the parameter is malformed or disagrees with `derived`.
int emu_invoke_qualifier(const char *derived, const char *raw, size_t raw_len,
                         bool present, char out[EMU_ROUTE_QUALIFIER_MAX + 1],
                         emu_aws_error_t *err);

//  Checks the request payload for an invocation of `type`: size, then
//  JSON. Returns 0, or -1 with 413 or 400 in `err`.
int emu_invoke_check_payload(emu_invoke_type_t type, const void *body, size_t len,
                             emu_aws_error_t *err);

//  Fills `err` with the 413 of a payload of `len` bytes over the limit of
//  `type` (the Event wording names the length), also for a caller that
//  did not keep the payload. Returns -1.
int emu_invoke_too_large(emu_invoke_type_t type, size_t len, emu_aws_error_t *err);

//  True when `target` (a raw request target) names the response-streaming
//  Invoke API (/2021-11-15/functions/FN/response-streaming-invocations).
bool emu_invoke_streaming_path(const char *target);

//  Fills `err` with the refusal of InvokeWithResponseStream, which the
//  emulator does not emulate: 400 with an AWS-shaped type and a message
//  that says so. Returns -1.
int emu_invoke_streaming_refused(emu_aws_error_t *err);

//  The event the function gets for a checked payload: a malloc'd copy
//  (caller frees), "{}" when the payload is empty or only whitespace.
//  Its length in *len_p. NULL when memory runs out.
char *emu_invoke_event(const void *body, size_t len, size_t *len_p);

//  Maps a completed invocation (any outcome) to the answer; X-Amz-Log-
//  Result when `tail`. NULL when memory runs out.
emu_reply_t *emu_invoke_reply(emu_invocation_t *invocation, bool tail);

//  An Event invocation accepted: 202, empty body.
emu_reply_t *emu_invoke_accepted(void);

//  A DryRun that passed its checks: 204, empty body.
emu_reply_t *emu_invoke_dry_run(void);

void emu_invoke_test(bool verbose);

#endif
