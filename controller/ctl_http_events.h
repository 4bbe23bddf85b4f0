/*  ctl_http_events — server-sent events for the dashboard: a response that
    stays open and sends an "event: progress" whenever the snapshot the
    daemon builds changes (checked every CTL_HTTP_EVENTS_PERIOD_MS), and a
    comment line every CTL_HTTP_EVENTS_KEEPALIVE_MS so proxies and the
    connection timeout see traffic.

    libmicrohttpd calls a response's reader whenever the socket can take
    more; with nothing to send, the reader suspends its connection
    (MHD_suspend_connection, the daemon runs with MHD_ALLOW_SUSPEND_RESUME)
    and hands it to this object's resumer actor over an inproc PUSH socket
    the daemon thread owns; the actor resumes every parked connection each
    period. So a quiet stream costs no polling and the daemon thread never
    sleeps.

    Thread model: _new and _destroy on the owner's thread; _response and
    the readers on libmicrohttpd's thread; the actor on its own. They
    share only the PUSH/PULL pair and an atomic stopping flag.
    ctl_http_events_stop must be called before MHD_stop_daemon: it ends
    every stream and resumes every parked connection (libmicrohttpd refuses
    to stop with a suspended one).
*/
#ifndef CTL_HTTP_EVENTS_H
#define CTL_HTTP_EVENTS_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

#define CTL_HTTP_EVENTS_PERIOD_MS 250      //  how often a stream checks for news
#define CTL_HTTP_EVENTS_KEEPALIVE_MS 15000 //  a comment line when nothing changed
#define CTL_HTTP_EVENTS_MAX_STREAMS 32     //  open streams; more are refused (503)

typedef struct _ctl_http_events_t ctl_http_events_t;

//  The snapshot a stream sends: a JSON text (caller frees) or NULL when it
//  cannot be built now (nothing is sent). Called on libmicrohttpd's thread.
typedef char *(ctl_http_events_snapshot_fn)(void *arg);

//  Starts the resumer actor. NULL when it cannot (logged).
ctl_http_events_t *ctl_http_events_new(void);

//  Ends every stream and resumes every parked connection; waits two
//  periods so a reader that parked meanwhile is resumed too. Idempotent.
void ctl_http_events_stop(ctl_http_events_t *self);

//  Stops (if not yet) and frees; safe on NULL and twice; nulls *self_p.
void ctl_http_events_destroy(ctl_http_events_t **self_p);

//  A streaming response for conn (libmicrohttpd's thread), or NULL when
//  CTL_HTTP_EVENTS_MAX_STREAMS are open, the object is stopping, or out
//  of memory.
struct MHD_Response *ctl_http_events_response(ctl_http_events_t *self,
                                              struct MHD_Connection *conn,
                                              ctl_http_events_snapshot_fn *snapshot,
                                              void *arg);

void ctl_http_events_test(bool verbose);

#endif
