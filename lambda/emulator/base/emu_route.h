/*  emu_route — what an incoming request path names: the front door of a
    raw request target and the Runtime API call of a path
    ("/2018-06-01/runtime/invocation/ID/response").

    Front doors, all on the one --listen address:

      /url/FN[:Q][/rest][?query]       Function URL      (emu_furl)
      /restapi/FN[:Q][/rest][?query]   API Gateway REST API, payload 1.0
      /httpapi/FN[:Q][/rest][?query]   API Gateway HTTP API, payload 2.0
      /2015-03-31/functions/FN/invocations[?Qualifier=Q]
                                       Invoke API        (emu_invoke)

    Anything else is no door (the management API's or nobody's). In the
    three path doors FN is a plain function name and Q an optional
    qualifier (alias, version or $LATEST), neither percent-decoded. In the
    Invoke API FN is the FunctionName AWS accepts (name, full or partial
    ARN, each with an optional ":qualifier"), percent-decoded here
    (clients send ':' as %3A) and validated later by emu_account_lookup;
    the Qualifier query parameter is left raw for emu_invoke.

    Pure functions over untrusted text; the result is a value struct whose
    strings are copies (bounded by EMU_ROUTE_TARGET_NAME_MAX and
    EMU_ROUTE_ID_MAX) or pointers into the caller's input. No state;
    callable from any thread.
*/
#ifndef EMU_ROUTE_H
#define EMU_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define EMU_ROUTE_NAME_MAX 64
#define EMU_ROUTE_ID_MAX 128
//  Longest qualifier in a path door (AWS: 1..128).
#define EMU_ROUTE_QUALIFIER_MAX 128
//  Longest decoded Invoke API FunctionName kept: a full ARN with a
//  64-character name and a 128-character qualifier is 240 bytes.
#define EMU_ROUTE_TARGET_NAME_MAX 256
#define EMU_ROUTE_PREFIX_URL "/url/"
#define EMU_ROUTE_PREFIX_REST "/restapi/"
#define EMU_ROUTE_PREFIX_HTTP "/httpapi/"
#define EMU_ROUTE_PREFIX_INVOKE "/2015-03-31/functions/"

typedef enum {
    EMU_ROUTE_NONE,         //  not a door: management API or not found
    EMU_ROUTE_FUNCTION_URL, //  /url/FN[:Q][/rest][?query]
    EMU_ROUTE_BAD_NAME,     //  a door's prefix, an invalid name: see `named`
    EMU_ROUTE_REST_API,     //  /restapi/FN[:Q][/rest][?query]
    EMU_ROUTE_HTTP_API,     //  /httpapi/FN[:Q][/rest][?query]
    EMU_ROUTE_INVOKE,       //  /2015-03-31/functions/FN/invocations[?query]
} emu_route_door_t;

//  A front-door request target, split.
typedef struct {
    emu_route_door_t door;
    emu_route_door_t named; //  the door the prefix names (also for BAD_NAME)
    //  Path doors: the validated function name. Invoke API: the
    //  percent-decoded FunctionName, unvalidated (no NUL in it).
    char function[EMU_ROUTE_TARGET_NAME_MAX + 1];
    const char *qualifier; //  path doors: Q after ':'; Invoke API: the raw
    size_t qualifier_len;  //  value of the first Qualifier parameter; in input
    bool has_qualifier;    //  ":" or "Qualifier=" present (Q may be empty
                           //  only for the Invoke API)
    const char *path;      //  the rest of the path, always starting
    size_t path_len;       //  with '/' ("/" when empty); in input
    const char *query;     //  raw query string without '?', may be
    size_t query_len;      //  empty; points into input
} emu_route_url_t;

typedef enum {
    EMU_ROUTE_RT_NOT_FOUND,  //  no such Runtime API resource
    EMU_ROUTE_RT_BAD_METHOD, //  a resource, the wrong method
    EMU_ROUTE_RT_NEXT,       //  GET  .../runtime/invocation/next
    EMU_ROUTE_RT_RESPONSE,   //  POST .../runtime/invocation/ID/response
    EMU_ROUTE_RT_ERROR,      //  POST .../runtime/invocation/ID/error
    EMU_ROUTE_RT_INIT_ERROR, //  POST .../runtime/init/error
} emu_route_rt_call_t;

//  A Runtime API request, split.
typedef struct {
    emu_route_rt_call_t call;
    char request_id[EMU_ROUTE_ID_MAX + 1]; //  for RESPONSE and ERROR
} emu_route_rt_t;

//  True when `name` is a valid function name: 1..64 of [A-Za-z0-9_-].
bool emu_route_valid_name(const char *name, size_t len);

//  True when `qualifier` is a valid qualifier in a path door: "$LATEST"
//  or 1..128 of [A-Za-z0-9_-].
bool emu_route_valid_qualifier(const char *qualifier, size_t len);

//  The byte the escape "%XY" at in[i] (i < len) stands for, 0..255; -1
//  when in[i] is not '%' followed by two hex digits within `len` bytes.
//  The one reading of an escape behind every percent-decoder of the
//  emulator, whatever each does with a malformed one.
int emu_route_percent_byte(const char *in, size_t len, size_t i);

//  Percent-decodes `len` bytes of `in` into `out` (`size` bytes, always
//  NUL-terminated when size > 0). '+' stays '+'. Returns the decoded
//  length, or -1 (and `out` empty) when a '%' is not followed by two hex
//  digits, the result holds a NUL byte, or it does not fit.
ssize_t emu_route_percent_decode(const char *in, size_t len, char *out, size_t size);

//  Splits the raw request target `target` (as sent on the request line,
//  not percent-decoded). Returns the door; fills `route`.
emu_route_door_t emu_route_parse_url(const char *target, emu_route_url_t *route);

//  Short name of a door for logs: "url", "restapi", "httpapi", "invoke",
//  or "mgmt" for NONE (management API or not found).
const char *emu_route_door_name(emu_route_door_t door);

//  Names the Runtime API call of `method` on `path` (decoded, without the
//  query string). Request ids are 1..128 characters without '/'.
emu_route_rt_call_t emu_route_parse_runtime(const char *method, const char *path,
                                            emu_route_rt_t *route);

void emu_route_test(bool verbose);

#endif
