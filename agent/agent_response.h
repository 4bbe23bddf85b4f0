/*  agent_response — turns one HTTP exchange, as libcurl delivers it, into
    the outcome and Lambda fields of a stampede Result.

    An agent_response_t collects what one transfer received: the headers we
    care about (X-Stampede-Received-Ns, X-Amz-Function-Error, x-amzn-ErrorType
    and API Gateway's request id headers) and the body,
    of which at most AGENT_RESPONSE_MAX_BODY bytes are kept (the rest is only
    counted). agent_response_finish() then classifies the exchange by its
    front door (agent_door) and parses the body as JSON to fill the Lambda
    fields and a throttle's Reason.

    Everything here is untrusted input from the target: a header or JSON
    field of the wrong type, too long, holding control characters or out of
    range is dropped, never trusted, so a Result built here always passes
    proto_validate(). No I/O, no libcurl calls: pure functions over bytes,
    which is why the fuzz target drives this module directly.

    Thread model: an agent_response_t belongs to the thread that owns its
    transfer (the burst engine); the free functions are stateless.
*/
#ifndef AGENT_RESPONSE_H
#define AGENT_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_codec.h"

#define AGENT_RESPONSE_MAX_BODY (1024 * 1024)
#define AGENT_RESPONSE_MAX_RECEIVED_DIGITS 19

typedef struct _agent_response_t agent_response_t;

//  An empty collector, or NULL when out of memory.
agent_response_t *agent_response_new(void);

//  Frees self; safe on NULL and twice; nulls *self_p.
void agent_response_destroy(agent_response_t **self_p);

//  The header that holds the target's receive instant (the run's
//  arrival_header; borrowed, must outlive self). NULL or "" means
//  X-Stampede-Received-Ns, the emulator's.
void agent_response_set_arrival_header(agent_response_t *self, const char *name);

//  Forgets everything received so far (headers and body).
void agent_response_reset(agent_response_t *self);

//  Feeds one header line as curl's header callback gets it (status line,
//  "Name: value\r\n" or the blank line). A status line starts a new
//  response, so the headers of an interim 1xx answer are forgotten.
void agent_response_header(agent_response_t *self, const char *line, size_t size);

//  Feeds body bytes; keeps up to AGENT_RESPONSE_MAX_BODY, counts the rest.
void agent_response_body(agent_response_t *self, const void *data, size_t size);

//  Body bytes fed so far, kept or not.
uint64_t agent_response_body_size(agent_response_t *self);

//  Fills result's outcome, door, throttle source and reason, http_status,
//  received_ns, Lambda fields and error from what was collected and from
//  curl's verdict on the transfer (curl_code is a CURLcode, curl_error its
//  text, http_status 0 without a response), the outcome by agent_door's
//  rules for `door`. Strings set here are heap copies freed by
//  agent_response_result_clear(). Frees the kept body.
void agent_response_finish(agent_response_t *self, Stampede__Result *result,
                           Stampede__Door door, int curl_code, const char *curl_error,
                           long http_status);

//  Parses an X-Stampede-Received-Ns value (surrounding blanks allowed):
//  1-19 digits that fit an int64. Returns false and leaves *ns alone
//  otherwise.
bool agent_response_parse_received_ns(const char *value, size_t size, int64_t *ns);

//  When body is a JSON object, copies its valid Lambda fields into result
//  (those of the object in its "body" string when it is a Lambda proxy
//  answer, {"statusCode": …, "body": "…"}):
//  request_id, environment_id, initialization_type (strings of at most
//  PROTO_MAX_FIELD bytes without control characters), cold_start (bool; sets
//  has_cold_start), cold_start_time (number >= 0), invocation_count
//  (integer >= 0, else left at -1), started_at_ns / finished_at_ns (integers
//  >= 0, into function_started_ns / function_finished_ns).
void agent_response_parse_lambda(Stampede__Result *result, const char *body, size_t size);

//  Resets result to an empty record for request `index` (invocation_count
//  -1, every string the protobuf empty string).
void agent_response_result_init(Stampede__Result *result, uint32_t index);

//  Frees the strings agent_response_finish() set and re-inits the record
//  with the same index.
void agent_response_result_clear(Stampede__Result *result);

void agent_response_test(bool verbose);

#endif
