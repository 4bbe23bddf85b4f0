/*  ctl_runspec — what one run fires, and the one set of rules a run
    command must pass, whichever door it came in by: the command line
    (ctl_config), the HTTP API (ctl_http) and the controller core's JSON
    command (ctl_server) all check their input here, and the run engine
    (ctl_run) checks the assembled spec here again before it sends Prepare.

    Why these rules: a spec that passes is exactly what the agents accept,
    because the last check hands the assembled Prepare to the protocol's
    own validator (proto_validate). The first checks are the same rules,
    stated so a user gets a message naming the field. So:
      - requests 1..CTL_RUNSPEC_MAX_REQUESTS = PROTO_MAX_SHARE (1,000,000),
        the protocol's cap on one share and so the widest count the engine
        can hand to a single agent; the engine splits a run over agents and
        marks every missing index lost, so it holds a run this size;
      - the URL scheme is lowercase "http://" or "https://" (the protocol
        compares it case-sensitively), no byte is a space or a control
        character, and curl's URL parser (sp_url) finds a host in it;
      - a header is "Name: value", the name a token, the value printable
        with no control characters: a tab inside a value is refused (the
        protocol refuses it); blanks after the colon are skipped;
      - method a token of 1..PROTO_MAX_METHOD, body at most PROTO_MAX_BODY,
        timeout 1..PROTO_MAX_TIMEOUT_MS ms, at most PROTO_MAX_HEADERS;
      - the start mode: auto, at-go or last-byte (last-byte needs a body).

    CTL_RUNSPEC_DEFAULT_TIMEOUT_MS is the per-request timeout of a run that
    sets none: the protocol's PROTO_TIMEOUT_MS_DEFAULT (30,000 ms).

    Pure functions, no state; any thread. Strings of a spec are borrowed.
*/
#ifndef CTL_RUNSPEC_H
#define CTL_RUNSPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_codec.h"

#define CTL_RUNSPEC_MAX_REQUESTS PROTO_MAX_SHARE //  requests of one run
#define CTL_RUNSPEC_DEFAULT_TIMEOUT_MS                                                   \
    PROTO_TIMEOUT_MS_DEFAULT      //  per request, none given
#define CTL_RUNSPEC_MAX_LABEL 256 //  label shown in the UI, bytes
#define CTL_RUNSPEC_COMPENSATE_ERROR                                                     \
    "compensate_path needs the last-byte start mode (the path is measured while the "    \
    "agents connect ahead)"
#define CTL_RUNSPEC_MAX_AGENTS 256      //  agents one command may start or await
#define CTL_RUNSPEC_MAX_RESERVED 100000 //  a function's reserved concurrency
#define CTL_RUNSPEC_RESERVED_ERROR                                                       \
    "reserved_configured must be an integer from -1 (unreserved) to 100000"
#define CTL_RUNSPEC_ARRIVAL_HEADER_ERROR                                                 \
    "arrival_header must be a header name (a token of 1-256 characters)"
#define CTL_RUNSPEC_CA_PEM_ERROR                                                         \
    "ca_pem must be PEM certificates (-----BEGIN CERTIFICATE-----) of at most 1048576 "  \
    "bytes"
#define CTL_RUNSPEC_DOOR_ERROR                                                           \
    "door must be \"auto\", \"function-url\", \"invoke\", \"apigw-rest\", "              \
    "\"apigw-http\", \"apigw\" or \"http\""

//  How the agents make a run's requests simultaneous (--start-mode, the
//  API's "start_mode"). AUTO resolves per run: LAST_BYTE when the request
//  has a body (and is not HEAD), AT_GO otherwise.
typedef enum {
    CTL_START_MODE_AUTO = 0,
    CTL_START_MODE_AT_GO,     //  start every transfer at the instant
    CTL_START_MODE_LAST_BYTE, //  write all but the last body byte ahead
} ctl_start_mode_t;

//  Counts a run must end with (`run --expect-*`); -1 where none is set,
//  else 0..CTL_RUNSPEC_MAX_REQUESTS.
typedef struct {
    int64_t ok;
    int64_t throttled;
    int64_t errors;
    int64_t lost;
} ctl_expect_t;

//  What to fire.
typedef struct {
    const char *url;             //  http:// or https://
    const char *method;          //  NULL means GET
    const char *const *headers;  //  "Name: value" each
    size_t n_headers;            //  <= PROTO_MAX_HEADERS
    const char *body;            //  may be NULL
    size_t body_size;            //  <= PROTO_MAX_BODY
    uint32_t requests;           //  N, 1 .. CTL_RUNSPEC_MAX_REQUESTS
    uint32_t timeout_ms;         //  per request; 0 means CTL_RUNSPEC_DEFAULT_TIMEOUT_MS
    const char *label;           //  shown in the UI, may be NULL
    ctl_start_mode_t start_mode; //  AUTO: see ctl_runspec_start_mode
    int door;                    //  CTL_DOOR_AUTO or a Stampede__Door (ctl_door)
    const char *arrival_header;  //  the target's receive-instant header, or NULL
                                 //  (X-Stampede-Received-Ns)
    const char *ca_pem;          //  PEM CAs trusted for https://, or NULL
    size_t ca_pem_size;          //  <= PROTO_MAX_CA_PEM
    bool reserved_known;         //  the function's reserved concurrency is known:
    int32_t reserved_configured; //  then 0..CTL_RUNSPEC_MAX_RESERVED, or -1 unreserved
    bool compensate_path;        //  shift each agent's instant by its measured path
                                 //  (last-byte only: measured while arming)
} ctl_runspec_t;

//  Zeroes spec: no URL, GET, no body, 0 requests, the default timeout,
//  start mode AUTO, door AUTO.
void ctl_runspec_defaults(ctl_runspec_t *spec);

//  Each check returns 0, or -1 with a reason for the user in err.

//  url against the rules above.
int ctl_runspec_check_url(const char *url, char *err, size_t err_size);

//  method: a token of 1..PROTO_MAX_METHOD characters.
int ctl_runspec_check_method(const char *method, char *err, size_t err_size);

//  Splits and checks one "Name: value" header: copies the name into name
//  (at least PROTO_MAX_HEADER_NAME + 1 bytes) and points *value into
//  header past the colon and any blanks.
int ctl_runspec_split_header(const char *header, char *name, size_t name_size,
                             const char **value, char *err, size_t err_size);

//  Parses a start mode: "auto", "at-go" or "last-byte" (also "at_go",
//  "last_byte", the names results use). Returns 0, or -1 when text is none
//  of them.
int ctl_runspec_start_mode_parse(const char *text, ctl_start_mode_t *mode);

//  "auto", "at-go" or "last-byte".
const char *ctl_runspec_start_mode_name(ctl_start_mode_t mode);

//  The start mode the agents get for spec: its own, or for AUTO
//  LAST_BYTE when the request has a body of >= 1 byte and is not HEAD,
//  AT_GO otherwise.
Stampede__StartMode ctl_runspec_start_mode(const ctl_runspec_t *spec);

//  Fills target from spec (method NULL -> GET, timeout 0 -> the default);
//  header names are copied into names (one row per header), the structs go
//  into headers and header_ptrs (PROTO_MAX_HEADERS each). target points
//  into spec and those arrays. Returns 0, or -1 with err for a malformed
//  header.
int ctl_runspec_target(const ctl_runspec_t *spec, Stampede__Target *target,
                       Stampede__Header *headers, Stampede__Header **header_ptrs,
                       char (*names)[PROTO_MAX_HEADER_NAME + 1], char *err,
                       size_t err_size);

//  The whole spec: every rule above, then the Prepare it makes through the
//  protocol's validator.
int ctl_runspec_check(const ctl_runspec_t *spec, char *err, size_t err_size);

//  Checks one field of a JSON run command by the rules above: "url",
//  "requests", "timeout_ms", "method", "headers", "body", "label",
//  "start_mode", "door", "arrival_header", "ca_pem", "reserved_configured"
//  (what the caller knows of the function's reserved concurrency, -1 for
//  unreserved: recorded with the run), "compensate_path" (a boolean).
//  null means "not
//  given" and passes. Returns 0; -1 with a
//  message naming the field; 1 when key is none of those fields (err
//  untouched).
int ctl_runspec_json_field(const char *key, json_t *value, char *err, size_t err_size);

//  Overrides spec's fields with those command (a JSON object) gives, each
//  checked by ctl_runspec_json_field; other members are ignored. headers
//  is room for PROTO_MAX_HEADERS pointers. Strings are borrowed from
//  command. Returns 0, or -1 with the message of the first bad field.
int ctl_runspec_from_json(json_t *command, ctl_runspec_t *spec, const char **headers,
                          char *err, size_t err_size);

void ctl_runspec_test(bool verbose);

#endif
