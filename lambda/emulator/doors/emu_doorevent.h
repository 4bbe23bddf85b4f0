/*  emu_doorevent — the event a path door (Function URL, API Gateway REST
    API, HTTP API) makes of an HTTP request: the request read off its
    libmicrohttpd connection (headers, at most EMU_FURL_PARAMS_MAX, and
    the client's address) and handed to the door's event builder
    (emu_furl, emu_apigw, emu_apigw_http).

    No state. The connection is borrowed and read on the thread that
    serves it (the emulator loop's).
*/
#ifndef EMU_DOOREVENT_H
#define EMU_DOOREVENT_H

#include "emu_furl.h"
#include "emu_route.h"

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

//  What the front door knows of a request besides its connection.
//  Borrowed.
typedef struct {
    const emu_route_url_t *route; //  the target, split
    const char *method;
    const char *version;    //  "HTTP/1.1"
    const char *request_id; //  the invocation's
    int64_t received_ns;    //  CLOCK_REALTIME, X-Stampede-Received-Ns
    const void *body;
    size_t body_len;
} emu_doorevent_request_t;

//  The event of `door` for `request` (Function URL: payload 2.0, REST
//  API: 1.0, HTTP API: 2.0 with its ids), caller frees, its length in
//  *len_p. NULL when memory runs out.
char *emu_doorevent_of(emu_route_door_t door, const emu_furl_request_t *request,
                       size_t *len_p);

//  The event of `door` for the request on `connection`: its headers and
//  client address read from the connection, the rest from `request`.
//  Caller frees; its length in *len_p. NULL when memory runs out.
char *emu_doorevent_read(emu_route_door_t door, struct MHD_Connection *connection,
                         const emu_doorevent_request_t *request, size_t *len_p);

void emu_doorevent_test(bool verbose);

#endif
