/*  emu_doormap — what each front door answers for an invocation's
    outcome: one pure mapping from (door, outcome) to AWS's answer, so
    that the front door routes and this module alone knows the words.

      outcome           url (Function URL)   restapi / httpapi      invoke
      not found         404 Function not     403 Missing Auth. /    400
   ValidationException found                404 Not Found          (name fits no form)
      throttle          429 Rate Exceeded.   500 (or HTTP API 429)  429 TooManyRequests
      body too large    413 Request must be  413 Request Too Long / 413, Event: "N byte
                        smaller than ...     Request Entity Too     payload is too large
                                             Large                  for the Event ..."
      gateway timeout   -                    504 / 503              -
      completed         emu_furl_map         emu_apigw(_http)       emu_invoke

    The management API's answers are its own (emu_mgmt), except that an
    unknown path is "not found" here (door EMU_ROUTE_NONE).

    Pure functions; no state, callable from any thread.
*/
#ifndef EMU_DOORMAP_H
#define EMU_DOORMAP_H

#include "emu_aws.h"
#include "emu_invocation.h"
#include "emu_invoke.h"
#include "emu_reply.h"
#include "emu_route.h"

#include <stdbool.h>
#include <stddef.h>

//  The AWS answer for `err`. A message that is not valid UTF-8 (the core
//  may echo untrusted text) is sent with every byte that is not
//  printable ASCII replaced by '?'. NULL only when memory runs out.
emu_reply_t *emu_doormap_aws(const emu_aws_error_t *err);

//  The answer of `door` to a request naming no function (or no qualifier)
//  it serves; EMU_ROUTE_NONE and EMU_ROUTE_BAD_NAME get a plain 404.
emu_reply_t *emu_doormap_not_found(emu_route_door_t door);

//  The answer of function door `door` (not EMU_ROUTE_NONE) to a request
//  body of `len` bytes over its limit; `type` is the Invoke API's
//  invocation type (the Event wording names the length).
emu_reply_t *emu_doormap_too_large(emu_route_door_t door, emu_invoke_type_t type,
                                   size_t len);

//  The answer of `door` to an invocation the function refused with `err`:
//  a throttle (status 429, *throttled_p set true) in the door's words
//  (an HTTP API answers `httpapi_throttle_status`, 500 or 429), else an
//  unknown qualifier (the Invoke API's error as is, the others' not
//  found).
emu_reply_t *emu_doormap_refused(emu_route_door_t door, const emu_aws_error_t *err,
                                 int httpapi_throttle_status, bool *throttled_p);

//  The answer of `door` to completed `invocation` (any outcome); `tail`
//  is the Invoke API's X-Amz-Log-Type: Tail.
emu_reply_t *emu_doormap_reply(emu_route_door_t door, emu_invocation_t *invocation,
                               bool tail);

//  The answer of API Gateway door `door` (REST or HTTP API) when its
//  integration timed out on invocation `request_id`, with the gateway's
//  request id header (x-amz-apigw-id, Apigw-Requestid).
emu_reply_t *emu_doormap_timeout(emu_route_door_t door, const char *request_id);

void emu_doormap_test(bool verbose);

#endif
