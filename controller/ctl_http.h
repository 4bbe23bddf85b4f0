/*  ctl_http — the controller's HTTP API and dashboard: a libmicrohttpd
    daemon serving the embedded page (stampede_web), the runs stored in
    SQLite, and the commands that start a run or ask for the controller's
    status.

    Owns: the libmicrohttpd daemon, its own store_t (a read connection on
    the results database), and its own REQ socket to the controller core's
    command socket (REP).

    Thread model: ctl_http_new / ctl_http_port / ctl_http_destroy are
    called by the thread that owns the object. Every request is handled on
    libmicrohttpd's single internal polling thread (epoll); the store_t and
    the REQ socket are used only there, so they need no locking. The REQ
    socket is created lazily on that thread and recreated after a timeout
    (a REQ socket that missed a reply is stuck). A command holds that one
    thread for at most CTL_HTTP_COMMAND_TIMEOUT_MS per direction, so the
    core must answer commands promptly and never block on HTTP.

    Untrusted input: everything a client sends. The Host (and, on a POST,
    the Origin) is checked by ctl_http_guard first, then the request by
    ctl_http_request before anything acts on it (see there), and a run's
    target against the allow-list before the command reaches the core; a
    bad request gets a 4xx with {"error": "..."} and the daemon keeps
    serving.
*/
#ifndef CTL_HTTP_H
#define CTL_HTTP_H

#include "ctl_http_request.h"
#include "ctl_lambda.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_HTTP_COMMAND_TIMEOUT_MS 5000 //  send and receive, controller socket

typedef struct _ctl_http_t ctl_http_t;

typedef struct {
    const char *listen;  //  "127.0.0.1:5000", "[::1]:0"; port 0 = ephemeral
    const char *db_path; //  the SQLite file; the HTTP thread opens its OWN store_t
    const char *token;   //  required on every /api/ request when non-NULL
    const char
        *command_endpoint;    //  inproc endpoint of the controller's command socket (REP)
    const char *public_host;  //  another name the page is served as ("name[:port]",
                              //  ctl_http_guard), or NULL
    const char *const *allow; //  target allow-list patterns (sp_allow); none: loopback
    size_t allow_count;       //  patterns in allow
    //  The function behind the runs (serve --function), or NULL: before a
    //  run started here without reserved_configured, its reserved
    //  concurrency is read and recorded with the run (a failure to read
    //  it is logged; the run goes on without it).
    const ctl_lambda_t *lambda;
} ctl_http_config_t;

//  Opens the store on config->db_path, binds config->listen and starts
//  libmicrohttpd with its own internal polling thread. A non-loopback
//  address needs a token; public_host must pass ctl_http_public_host_ok and
//  every allow pattern sp_allow_pattern_ok. The config strings are copied. Returns NULL
//  with a one-line reason in err on failure.
ctl_http_t *ctl_http_new(const ctl_http_config_t *config, char *err, size_t err_size);

//  Stops the daemon (waiting for its thread), closes the store and the
//  command socket. Safe on NULL and twice; nulls *self_p.
void ctl_http_destroy(ctl_http_t **self_p);

//  The bound TCP port (the ephemeral one when config asked for port 0).
int ctl_http_port(ctl_http_t *self);

void ctl_http_test(bool verbose);

#endif
