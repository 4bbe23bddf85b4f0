/*  emu_furl_map — a Lambda Function URL's answer: how a completed
    invocation becomes the HTTP response, as on AWS.

    A JSON object with "statusCode" gives statusCode, headers, body,
    isBase64Encoded and cookies; anything else is the body of a 200
    application/json answer. Invalid structured answers become 502
    {"Message":"Internal Server Error"} (the reason in X-Stampede-Error).
    A function error, timeout, crash or init failure is 502 with AWS's
    body "Internal Server Error" (Content-Type application/json); the
    function's error JSON is not passed through.

    The pieces of the mapping are exported for the API Gateway doors
    (emu_apigw, emu_apigw_http).

    Pure functions over untrusted input (the function's payload); no
    state, callable from any thread.
*/
#ifndef EMU_FURL_MAP_H
#define EMU_FURL_MAP_H

#include "emu_invocation.h"
#include "emu_reply.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  True for headers a function may not set: they belong to the
//  connection (Connection, Content-Length, Transfer-Encoding, Date...).
bool emu_furl_map_connection_header(const char *name);

//  Writes the text of header value `value` (a string without NUL, a
//  number or a boolean) into `out`. False for any other value or when it
//  does not fit in `size`.
bool emu_furl_map_header_text(json_t *value, char *out, size_t size);

//  Sets the reply status from the "statusCode" of a structured answer
//  `doc`. NULL on success, else why it is invalid.
const char *emu_furl_map_status(emu_reply_t *reply, json_t *doc);

//  Sets the reply body from a structured answer `doc`: its
//  "isBase64Encoded" (a boolean or null) and "body" (absent, null, a
//  string, base64 text when isBase64Encoded, or, unless `string_body`,
//  any other JSON dumped as text); then Content-Type application/json
//  unless set. NULL on success, else why it is invalid.
const char *emu_furl_map_body(emu_reply_t *reply, json_t *doc, bool string_body);

//  Maps a function's successful `payload` onto `reply` (status 200), `doc`
//  being the payload parsed as JSON (NULL when it is not): an object with
//  statusCode is a structured payload-2.0 answer (status, headers,
//  cookies, body); anything else is the body of an application/json
//  answer. NULL on success, else why it is invalid (the reply is then
//  half-built: discard it).
const char *emu_furl_map_answer(emu_reply_t *reply, json_t *doc, const char *payload,
                                size_t len);

//  Maps a function's successful `payload` to the HTTP reply. Never NULL
//  unless memory runs out.
emu_reply_t *emu_furl_map_payload(const char *payload, size_t len);

//  Maps a completed invocation (any outcome) to the HTTP reply.
emu_reply_t *emu_furl_map_reply(emu_invocation_t *invocation);

//  An error reply {"Message": message} with x-amzn-ErrorType `type`
//  (unless NULL).
emu_reply_t *emu_furl_map_error(int status, const char *type, const char *message);

//  The throttle reply: 429, TooManyRequestsException, "Rate Exceeded.".
emu_reply_t *emu_furl_map_throttle(void);

void emu_furl_map_test(bool verbose);

#endif
