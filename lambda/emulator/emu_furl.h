/*  emu_furl — the Lambda Function URL protocol: the event a function gets
    (payload format 2.0) and how its answer becomes the HTTP response.

    Event: version "2.0", routeKey "$default", rawPath, rawQueryString,
    cookies (from the Cookie header, which then is not repeated in
    headers), headers (names lower-cased, repeats joined with ","),
    queryStringParameters (percent-decoded, repeats joined with ","),
    requestContext {accountId, apiId, domainName, domainPrefix, http
    {method, path, protocol, sourceIp, userAgent}, requestId, routeKey,
    stage, time, timeEpoch}, body (base64 with isBase64Encoded true when
    not UTF-8), isBase64Encoded. Absent parts are left out, as on AWS.
    Text that is not UTF-8 (headers, path, query) is carried with U+FFFD
    in place of the invalid bytes.

    Response mapping (as on AWS): a JSON object with "statusCode" gives
    statusCode, headers, body, isBase64Encoded and cookies; anything else
    is the body of a 200 application/json answer. Invalid structured
    answers become 502. Function errors, timeouts and crashes become 502
    with X-Amz-Function-Error: Unhandled and the error payload.

    Pure functions over untrusted input (the request, the function's
    payload); no state, callable from any thread.
*/
#ifndef EMU_FURL_H
#define EMU_FURL_H

#include "emu_aws.h"
#include "emu_invocation.h"
#include "emu_reply.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_FURL_ACCOUNT_ID EMU_AWS_ACCOUNT_ID
#define EMU_FURL_REGION EMU_AWS_REGION
//  Largest synchronous invocation payload, request and response.
#define EMU_FURL_PAYLOAD_MAX 6291456
//  Most query parameters and headers carried into an event.
#define EMU_FURL_PARAMS_MAX 1000

typedef struct {
    const char *name; //  as received
    const char *value;
} emu_furl_header_t;

//  One front-door request, as received. Strings are borrowed.
typedef struct {
    const char *function;   //  function name
    const char *request_id; //  the invocation's request id
    const char *method;
    const char *path; //  rawPath (not decoded)
    size_t path_len;
    const char *query; //  rawQueryString (not decoded, no '?')
    size_t query_len;
    const char *protocol; //  "HTTP/1.1"
    const char *source_ip;
    int64_t time_ns; //  CLOCK_REALTIME when it was received
    const emu_furl_header_t *headers;
    size_t header_count;
    const void *body;
    size_t body_len;
} emu_furl_request_t;

//  The 32-character URL id AWS would give `function` (stable per name).
void emu_furl_url_id(const char *function, char out[33]);

//  The queryStringParameters object of raw query `query`, or NULL when it
//  has no parameters. Caller owns the reference.
json_t *emu_furl_query_parameters(const char *query, size_t len);

//  The event JSON for `request` (caller frees), its length in *len_p.
//  NULL when memory runs out.
char *emu_furl_event(const emu_furl_request_t *request, size_t *len_p);

//  Maps a function's successful `payload` to the HTTP reply. Never NULL
//  unless memory runs out.
emu_reply_t *emu_furl_map_payload(const char *payload, size_t len);

//  Maps a completed invocation (any outcome) to the HTTP reply.
emu_reply_t *emu_furl_reply(emu_invocation_t *invocation);

//  An error reply {"Message": message} with x-amzn-ErrorType `type`
//  (unless NULL).
emu_reply_t *emu_furl_error(int status, const char *type, const char *message);

//  The throttle reply: 429, TooManyRequestsException, "Rate Exceeded.".
emu_reply_t *emu_furl_throttle(void);

void emu_furl_test(bool verbose);

#endif
