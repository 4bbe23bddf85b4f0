/*  emu_apigw_http — the Amazon API Gateway HTTP API in front of a Lambda
    function (payload format 2.0): the event the function gets and how its
    answer becomes the HTTP response. The rules and the gateway errors are
    listed in emu_apigw.h, next to the REST API's; the ids are
    emu_apigw's.

    Pure functions over untrusted input (the request, the function's
    payload); no state, callable from any thread.
*/
#ifndef EMU_APIGW_HTTP_H
#define EMU_APIGW_HTTP_H

#include "emu_apigw.h"

#include <stdbool.h>
#include <stddef.h>

//  The event JSON for `request` (caller frees), its length in *len_p.
//  NULL when memory runs out.
char *emu_apigw_http_event(const emu_furl_request_t *request, size_t *len_p);

//  Maps a function's successful `payload` to the HTTP reply, without the
//  request id. Never NULL unless memory runs out.
emu_reply_t *emu_apigw_http_map_payload(const char *payload, size_t len);

//  Maps a completed invocation (any outcome) to the HTTP reply, with
//  Apigw-Requestid. Never NULL unless memory runs out.
emu_reply_t *emu_apigw_http_reply(emu_invocation_t *invocation);

//  The throttle reply of an HTTP API: `status` 429 gives 429 "Too Many
//  Requests", anything else 500 "Internal Server Error".
emu_reply_t *emu_apigw_http_throttle(int status);

//  The other gateway errors of an HTTP API, as above.
emu_reply_t *emu_apigw_http_not_found(void);
emu_reply_t *emu_apigw_http_too_large(void);
emu_reply_t *emu_apigw_http_timeout(void);

void emu_apigw_http_test(bool verbose);

#endif
