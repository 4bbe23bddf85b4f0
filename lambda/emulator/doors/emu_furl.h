/*  emu_furl — the Lambda Function URL event: the payload-2.0 event a
    function gets for an HTTP request (its answer: emu_furl_map).

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

    The builder and its pieces are exported for the other front doors
    that speak payload 2.0 or a close relative (emu_apigw, emu_apigw_http):
    emu_furl_event_for takes what differs between them.

    Pure functions over untrusted input (the request, the function's
    payload); no state, callable from any thread.
*/
#ifndef EMU_FURL_H
#define EMU_FURL_H

#include "emu_aws.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_FURL_ACCOUNT_ID EMU_AWS_ACCOUNT_ID
#define EMU_FURL_REGION EMU_AWS_REGION
//  Most query parameters and headers carried into an event.
#define EMU_FURL_PARAMS_MAX 1000
//  A request time as emu_furl_time writes it, plus NUL (room to spare).
#define EMU_FURL_TIME_SIZE 64

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

//  What differs between the payload-2.0 events of the front doors.
typedef struct {
    const char *api_id;      //  requestContext.apiId and .domainPrefix
    const char *domain_name; //  requestContext.domainName
    const char *request_id;  //  requestContext.requestId; NULL: the request's
    bool decode_path;        //  rawPath and http.path percent-decoded (HTTP API)
} emu_furl_context_t;

//  Called for each query parameter with its percent-decoded key (valid
//  UTF-8 without NUL) and value (a JSON string, borrowed). Returns 0, or
//  -1 to drop the parameter.
typedef int(emu_furl_param_fn)(const char *key, json_t *value, void *arg);

//  The 32-character URL id AWS would give `function` (stable per name).
void emu_furl_url_id(const char *function, char out[33]);

//  A JSON string of `len` bytes of `text`; invalid UTF-8 bytes become
//  U+FFFD. NULL when memory runs out. Caller owns the reference.
json_t *emu_furl_text(const char *text, size_t len);

//  Percent-decodes `len` bytes of `in` into `out` (room for `len` bytes);
//  malformed escapes stay as they are, '+' stays '+'. Returns the decoded
//  length.
size_t emu_furl_percent_decode(const char *in, size_t len, char *out);

//  Calls `fn` for the first EMU_FURL_PARAMS_MAX usable parameters of raw
//  query `query` ("a=1&b" -> ("a", "1"), ("b", "")), in order; empty
//  pieces and keys with a NUL are skipped. Returns 0, -1 without memory.
int emu_furl_query_foreach(const char *query, size_t len, emu_furl_param_fn *fn,
                           void *arg);

//  The queryStringParameters object of raw query `query`, or NULL when it
//  has no parameters. Caller owns the reference.
json_t *emu_furl_query_parameters(const char *query, size_t len);

//  Value of the first header `name` (case-insensitive) of `request`, or
//  NULL. Borrowed from the request.
const char *emu_furl_request_header(const emu_furl_request_t *request, const char *name);

//  The event's "body" for `len` bytes of `body`: the text when it is
//  valid UTF-8, else its base64 (then *base64_p is true). NULL without
//  memory. Caller owns the reference.
json_t *emu_furl_body(const void *body, size_t len, bool *base64_p);

//  The time of a request, `time_ns` (CLOCK_REALTIME), as the events print
//  it: "04/Mar/2020:19:03:58 +0000".
void emu_furl_time(int64_t time_ns, char out[EMU_FURL_TIME_SIZE]);

//  The event JSON for `request` (caller frees), its length in *len_p.
//  NULL when memory runs out.
char *emu_furl_event(const emu_furl_request_t *request, size_t *len_p);

//  The payload-2.0 event of `request` as seen through `context` (caller
//  frees), its length in *len_p. NULL when memory runs out.
char *emu_furl_event_for(const emu_furl_request_t *request,
                         const emu_furl_context_t *context, size_t *len_p);

void emu_furl_test(bool verbose);

#endif
