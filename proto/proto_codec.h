/*  proto_codec — the only way stampede puts a protocol message on the wire
    or takes one off it.

    One ZeroMQ frame carries one serialised stampede.Envelope (see
    stampede.proto). proto_decode refuses frames above PROTO_MAX_FRAME before
    parsing, then validates every field against the caps below, so code past
    the boundary works on messages whose strings are bounded and printable,
    whose counts are in range and whose oneof is set. No state; any thread.
*/
#ifndef PROTO_CODEC_H
#define PROTO_CODEC_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stampede.pb-c.h"

#define PROTO_MAX_FRAME (8 * 1024 * 1024)
#define PROTO_MAX_ID 64
#define PROTO_MAX_HOST 255
#define PROTO_MAX_VERSION 32
#define PROTO_MAX_URL 8192
#define PROTO_MAX_METHOD 16
#define PROTO_MAX_HEADERS 64
#define PROTO_MAX_HEADER_NAME 256
#define PROTO_MAX_HEADER_VALUE 8192
#define PROTO_MAX_BODY (6 * 1024 * 1024)
#define PROTO_MAX_CA_PEM (1024 * 1024)
#define PROTO_PEM_CERTIFICATE "-----BEGIN CERTIFICATE-----"

//  True when the len bytes at pem hold a PEM certificate marker.
bool proto_is_pem(const uint8_t *pem, size_t len);
#define PROTO_MAX_TIMEOUT_MS 900000
//  A run's per-request timeout when its specification names none.
#define PROTO_TIMEOUT_MS_DEFAULT 30000
#define PROTO_MAX_SHARE 1000000
#define PROTO_MAX_BATCH 1024
#define PROTO_MAX_FIELD 128
#define PROTO_MAX_ERROR 1024

typedef Stampede__Envelope proto_envelope_t;

//  Parses and validates one frame. Returns the envelope (caller frees with
//  proto_envelope_destroy) or NULL with a one-line reason in err.
proto_envelope_t *proto_decode(const uint8_t *data, size_t size, char *err,
                               size_t err_size);

//  Checks every field of env against the protocol's rules. Returns 0, or -1
//  with a one-line reason in err. Encoders call it too: we never send what
//  we would refuse to receive.
int proto_validate(const proto_envelope_t *env, char *err, size_t err_size);

//  The field rules, for the other boundaries that check what will go on
//  the wire (command line, HTTP API) so they refuse exactly what a decoder
//  would. True when s holds at most max bytes and no control characters
//  (NULL counts as empty).
bool proto_is_printable(const char *s, size_t max);

//  True when the n bytes at s are an RFC 9110 token of 1..max characters.
bool proto_is_token(const char *s, size_t n, size_t max);

//  True when s is a valid agent id: 1..PROTO_MAX_ID of [A-Za-z0-9._-].
bool proto_is_agent_id(const char *s);

//  Validates and serialises env into a new frame (caller owns), or NULL with
//  the reason logged when env is invalid.
zframe_t *proto_encode(const proto_envelope_t *env);

//  Waits up to timeout_ms for one frame on sock and decodes it. Returns
//  the envelope (caller frees with proto_envelope_destroy), or NULL on
//  timeout or an invalid frame (the reason in err when err_size > 0).
proto_envelope_t *proto_recv(zsock_t *sock, int timeout_ms, char *err, size_t err_size);

//  Frees an envelope returned by proto_decode; safe on NULL, nulls *self_p.
void proto_envelope_destroy(proto_envelope_t **self_p);

//  "hello", "heartbeat", … for logs; "none" when the oneof is unset.
const char *proto_body_name(const proto_envelope_t *env);

//  "ok", "throttled", "http_error", "function_error", "timeout",
//  "connect_error", "other_error"; "unspecified" otherwise.
const char *proto_outcome_name(Stampede__Outcome outcome);

//  "at_go", "last_byte"; "unspecified" otherwise. The names the results
//  database and the reports use.
const char *proto_start_mode_name(Stampede__StartMode mode);

//  "http", "function_url", "invoke", "apigw_rest", "apigw_http", "apigw";
//  NULL for a value that is no Door. The names the database stores.
const char *proto_door_name(Stampede__Door door);

//  "lambda", "lambda_via_gateway", "gateway", "http"; NULL for NONE and
//  for a value that is no ThrottleSource.
const char *proto_throttle_source_name(Stampede__ThrottleSource source);

void proto_codec_test(bool verbose);

#endif
