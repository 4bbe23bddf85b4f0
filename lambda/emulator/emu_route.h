/*  emu_route — what an incoming request path names: the front-door route
    of a raw request target ("/url/NAME/rest?query") and the Runtime API
    call of a path ("/2018-06-01/runtime/invocation/ID/response").

    Pure functions over untrusted text; the result is a value struct whose
    strings are copies (bounded by EMU_ROUTE_NAME_MAX and
    EMU_ROUTE_ID_MAX) or pointers into the caller's input. No state;
    callable from any thread.
*/
#ifndef EMU_ROUTE_H
#define EMU_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define EMU_ROUTE_NAME_MAX 64
#define EMU_ROUTE_ID_MAX 128
#define EMU_ROUTE_PREFIX_URL "/url/"

typedef enum {
    EMU_ROUTE_NONE,         //  not a route we serve
    EMU_ROUTE_FUNCTION_URL, //  /url/NAME[/rest][?query]
    EMU_ROUTE_BAD_NAME,     //  /url/ with an invalid function name
} emu_route_door_t;

//  A front-door request target, split.
typedef struct {
    emu_route_door_t door;
    char function[EMU_ROUTE_NAME_MAX + 1]; //  validated function name
    const char *path;                      //  the rest of the path, always starting
    size_t path_len;                       //  with '/' ("/" when empty); in input
    const char *query;                     //  raw query string without '?', may be
    size_t query_len;                      //  empty; points into input
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

//  Splits the raw request target `target` (as sent on the request line,
//  not percent-decoded). Returns the door; fills `route`.
emu_route_door_t emu_route_parse_url(const char *target, emu_route_url_t *route);

//  Names the Runtime API call of `method` on `path` (decoded, without the
//  query string). Request ids are 1..128 characters without '/'.
emu_route_rt_call_t emu_route_parse_runtime(const char *method, const char *path,
                                            emu_route_rt_t *route);

void emu_route_test(bool verbose);

#endif
