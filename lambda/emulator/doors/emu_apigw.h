/*  emu_apigw — the Amazon API Gateway protocols in front of a Lambda
    function: the event a function gets and how its answer becomes the
    HTTP response, for a REST API with a Lambda proxy integration
    (payload format 1.0) and for an HTTP API (payload format 2.0).

    REST API, payload 1.0 (an API with `ANY /` and `ANY /{proxy+}`
    integrated with the function, deployed to one stage, binary media
    type "*" so that bodies that are not UTF-8 travel as base64):

      Event: resource "/{proxy+}" ("/" for the root), path (as received,
      still percent-encoded), httpMethod, headers and multiValueHeaders
      (names as sent; a name repeated in any case is one entry under its
      first spelling; headers holds the last value), queryStringParameters
      and multiValueQueryStringParameters (percent-decoded; the single
      form holds the last value; null when there are none),
      pathParameters {"proxy": decoded path without its leading "/"}
      (null for the root), stageVariables null, requestContext {accountId,
      apiId, domainName "<apiId>.execute-api.us-east-1.amazonaws.com",
      domainPrefix, extendedRequestId, httpMethod, identity {sourceIp,
      userAgent, every other field null}, path "/<stage><path>",
      protocol, requestId (the invocation's), requestTime
      "26/Nov/2026:17:40:01 +0000", requestTimeEpoch (ms), resourceId,
      resourcePath, stage}, body (null when empty), isBase64Encoded.

      Answer: the payload must be a JSON object with an integer
      statusCode and nothing but headers, multiValueHeaders (arrays;
      merged with headers, a name/value pair in both is sent once), body
      (a string; base64 decoded when isBase64Encoded is true) and
      isBase64Encoded. Content-Type defaults to application/json.
      Anything else ("Malformed Lambda proxy response") and any outcome
      but OK (function error, timeout, crash, init failure) is 502
      {"message": "Internal server error"} with x-amzn-ErrorType
      InternalServerErrorException. Answers carry x-amzn-RequestId,
      x-amz-apigw-id and (when the function answered) X-Amzn-Trace-Id.

    HTTP API, payload 2.0 (emu_apigw_http): the Function URL event (emu_furl) with the
    HTTP API's id and domain, requestContext.requestId the API Gateway
    request id (16 characters, also sent back as Apigw-Requestid) and the
    path percent-decoded, as HTTP APIs deliver it. Answer: as for
    Function URLs, except that a payload that is not JSON and an invalid
    structured answer are 500 {"message":"Internal Server Error"}, as is
    any outcome but OK.

    Gateway errors (REST bodies are AWS's, spaces included):
      REST throttle (Lambda 429)   500 {"message": "Internal server error"}
                                       InternalServerErrorException
      REST unknown function/route  403 {"message":"Missing Authentication Token"}
                                       MissingAuthenticationTokenException
      REST body over the Lambda    413 {"message": "Request Too Long"}
        payload limit                  BadRequestException
      REST integration timeout     504 {"message": "Endpoint request timed out"}
                                       InternalServerErrorException
      HTTP throttle                500 {"message":"Internal Server Error"}, or
                                   429 {"message":"Too Many Requests"} when so
                                   configured (not documented by AWS)
      HTTP unknown function/route  404 {"message":"Not Found"}
      HTTP body over the limit     413 {"message":"Request Entity Too Large"}
                                   (not documented by AWS: best guess)
      HTTP integration timeout     503 {"message":"Service Unavailable"}
    The 413 of a REST API is what it answers when the event would exceed
    Lambda's 6 MB invoke limit (an observed answer; API Gateway's own 10 MB
    cap answers in plain text from its edge, which we do not model): the
    front door sends it when the event is longer than EMU_LIMIT_PAYLOAD_MAX,
    and the HTTP API's 413 likewise. The timeouts are API Gateway's own
    integration timeouts (29 s REST, 30 s HTTP API), for a front door that
    enforces them; a function that runs over its own timeout is a failed
    invocation (502 / 500).

    Not modelled: headers API Gateway adds to the request (X-Forwarded-*,
    X-Amzn-Trace-Id, CloudFront-*), authorizers, stage variables, and
    REST APIs without binary media types (which pass base64 through).

    Pure functions over untrusted input (the request, the function's
    payload); no state, callable from any thread.
*/
#ifndef EMU_APIGW_H
#define EMU_APIGW_H

#include "emu_furl.h"
#include "emu_invocation.h"
#include "emu_reply.h"

#include <stdbool.h>
#include <stddef.h>

//  The stage of the emulated REST API unless the front door says otherwise.
#define EMU_APIGW_STAGE "dev"
//  Longest stage name used (longer ones are truncated).
#define EMU_APIGW_STAGE_MAX 128
//  An API id: 10 lowercase letters and digits, plus NUL.
#define EMU_APIGW_API_ID_SIZE 11
//  An API Gateway request id (x-amz-apigw-id, Apigw-Requestid): 16
//  characters, plus NUL.
#define EMU_APIGW_GATEWAY_ID_SIZE 17
//  "Root=1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx" plus NUL.
#define EMU_APIGW_TRACE_ID_SIZE 41

//  The ids of the REST API / HTTP API in front of `function`: stable per
//  name, different from each other.
void emu_apigw_rest_api_id(const char *function, char out[EMU_APIGW_API_ID_SIZE]);
void emu_apigw_http_api_id(const char *function, char out[EMU_APIGW_API_ID_SIZE]);

//  The API Gateway request id of invocation `request_id` ("FiV9AHvHoAMFtsg="
//  form): extendedRequestId and x-amz-apigw-id of a REST API, requestId and
//  Apigw-Requestid of an HTTP API. Stable per request id.
void emu_apigw_gateway_id(const char *request_id, char out[EMU_APIGW_GATEWAY_ID_SIZE]);

//  The X-Ray trace id sent back for invocation `request_id`. Stable per
//  request id.
void emu_apigw_trace_id(const char *request_id, char out[EMU_APIGW_TRACE_ID_SIZE]);

//  --- REST API, payload 1.0 ---------------------------------------------

//  The event JSON for `request` through stage `stage` (NULL:
//  EMU_APIGW_STAGE) (caller frees), its length in *len_p. NULL when
//  memory runs out.
char *emu_apigw_rest_event(const emu_furl_request_t *request, const char *stage,
                           size_t *len_p);

//  Maps a function's successful `payload` to the HTTP reply, without the
//  request ids. Never NULL unless memory runs out.
emu_reply_t *emu_apigw_rest_map_payload(const char *payload, size_t len);

//  Maps a completed invocation (any outcome) to the HTTP reply, request
//  ids included. Never NULL unless memory runs out.
emu_reply_t *emu_apigw_rest_reply(emu_invocation_t *invocation);

//  The gateway errors of a REST API, as above.
emu_reply_t *emu_apigw_rest_throttle(void);
emu_reply_t *emu_apigw_rest_not_found(void);
emu_reply_t *emu_apigw_rest_too_large(void);
emu_reply_t *emu_apigw_rest_timeout(void);

//  --- shared by both gateways -------------------------------------------

//  A reply with `status`, JSON text `body` as is (AWS's spacing) and, unless
//  NULL, x-amzn-ErrorType `type`. NULL without memory.
emu_reply_t *emu_apigw_error(int status, const char *type, const char *body);

//  `reply` when the answer mapped (`reason` NULL); else, `reply` dropped,
//  the gateway error `internal()` standing for an invalid answer, with
//  `reason` in X-Stampede-Error (the emulator's own header, as in
//  emu_furl_map) for the function's author. Consumes `reply`.
emu_reply_t *emu_apigw_mapped(emu_reply_t *reply, const char *reason,
                              emu_reply_t *(*internal)(void));

void emu_apigw_test(bool verbose);

#endif
