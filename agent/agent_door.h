/*  agent_door — which answers are a throttle, door by door.

    A Lambda throttle reaches the client in the words of the front door it
    went through, and API Gateway has throttles of its own:

      door           Lambda throttle (source)            gateway throttle
      function_url   429                  (lambda)           -
      invoke         429 TooManyRequestsException, with      -
                     its Reason           (lambda)
      apigw_rest     500 InternalServerErrorException /  429 {"message":
                     {"message": "Internal server error"}    "Too Many Requests"}
                                          (lambda_via_gateway)  (gateway)
      apigw_http     500 {"message":"Internal Server Error"} 429 {"message":
                                          (lambda_via_gateway)  "Too Many Requests"}
      http           429 from any other server (http)

    A gateway's 500 is its answer to any failed Lambda integration, of
    which a throttle is the one a burst provokes; a REST API answers a
    function error 502 instead, an HTTP API answers it 500 too (so behind
    an HTTP API a crashing function counts as throttled: the answer does
    not tell them apart, and the source says it was inferred). A 429 or
    500 whose body is not the gateway's own words is the function's answer
    (its proxy statusCode) and is an http_error. DOOR_APIGW (an
    execute-api host, REST or HTTP API unknown) is resolved per answer:
    x-amz-apigw-id marks a REST API, apigw-requestid an HTTP API.

    Transport failures come first (timeout, connect_error, other_error),
    then X-Amz-Function-Error (function_error), then the table, then 2xx
    ok and anything else http_error.

    Pure functions; any thread.
*/
#ifndef AGENT_DOOR_H
#define AGENT_DOOR_H

#include <stdbool.h>
#include <stddef.h>

#include "proto_codec.h"

#define AGENT_DOOR_ERROR_TYPE_MAX 64

//  What an answer's headers and body said, as far as the verdict needs.
typedef struct {
    bool function_error;    //  X-Amz-Function-Error present
    bool rest_api;          //  x-amz-apigw-id present: a REST API answered
    bool http_api;          //  apigw-requestid present: an HTTP API answered
    const char *error_type; //  x-amzn-ErrorType before any ':', or NULL
    const char *message;    //  the JSON body's "message" (or "Message"), or NULL
} agent_door_answer_t;

typedef struct {
    Stampede__Outcome outcome;
    Stampede__Door door;             //  the door, DOOR_APIGW resolved if told
    Stampede__ThrottleSource source; //  NONE unless outcome is THROTTLED
} agent_door_verdict_t;

//  The verdict on one exchange through `door`: curl_code is a CURLcode,
//  http_status 0 without a response.
agent_door_verdict_t agent_door_classify(Stampede__Door door, int curl_code,
                                         long http_status,
                                         const agent_door_answer_t *answer);

void agent_door_test(bool verbose);

#endif
