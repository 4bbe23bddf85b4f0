/*  ctl_server — the controller core: a zactor whose thread owns the agents'
    ROUTER socket, the command socket, the agent registry, the active run
    and the writer store_t.

    The actor thread runs one zloop with:
      - the ROUTER (bound to config->listen; CURVE server with a zauth
        actor admitting the certificates in config->agents_dir, or plain
        TCP when config->cert is NULL). Every frame goes through
        proto_decode; an invalid one is logged (rate-limited) and dropped.
      - a REP command socket bound at a unique inproc:// endpoint for the
        HTTP thread (ctl_http) and the actor pipe for the owner; both carry
        the same JSON commands (see ctl_server_request).
      - a heartbeat timer (probes every agent's clock, expires silent
        agents) and a run timer (Ready timeout and run deadline).
    Only this thread touches the registry, the run and its store_t, so
    none of them needs a lock. Other threads read the database through
    their own store_t (WAL mode).

    One run at a time: "run" while one is active answers 409. A finished
    run is kept as the previous run until the next starts, so late batches
    still reach it.

    Restarts: at start (after the bind, before any agent is heard) every
    run a previous process left pending or running is settled as failed
    with CTL_SERVER_RESTART_REASON, its missing indices marked lost. A
    batch for a run this process does not drive is stored against the
    agent's share as recorded in the store (same checks and clock
    conversion as a live run; a real result replaces its lost row) and
    only then acknowledged; a batch with an index outside that share is
    dropped unacknowledged. When the store has no share of that agent in
    that run, the batch is acknowledged without being stored (the agent
    would resend it forever). Done of such a run needs no answer.

    czmq's zauth binds the process-wide ZAP endpoint: at most one CURVE
    server per process at a time.

    Thread model: ctl_server_new / _request / _destroy are called by the
    owning thread; the actor does the rest on its own thread.
*/
#ifndef CTL_SERVER_H
#define CTL_SERVER_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl_run.h"

typedef struct _ctl_server_t ctl_server_t;

//  Why a run left pending or running by a previous process failed.
#define CTL_SERVER_RESTART_REASON "controller restarted during the run"

typedef struct {
    const char *listen;             //  agents' endpoint, e.g. tcp://127.0.0.1:5555 or :*
    const char *db_path;            //  the results database
    zcert_t *cert;                  //  CURVE server certificate; NULL for plain TCP.
                                    //  Borrowed: must outlive the server.
    const char *agents_dir;         //  admitted agent certificates (with cert)
    const char *default_url;        //  target of a "run" without url; may be NULL
    uint32_t default_requests;      //  requests of a "run" without them; 0 = 100
    const json_t *run_defaults;     //  further fields of a "run" command (method,
                                    //  body, headers, start_mode, label) used when
                                    //  a command omits them; NULL for none. Copied.
    int heartbeat_ms;               //  probe and expiry period; 0 = 1000
    int expire_ms;                  //  silence before an agent expires; 0 = 5000
    const ctl_run_timing_t *timing; //  NULL = ctl_run_timing_defaults
    size_t max_agents;              //  0 = 1024
} ctl_server_config_t;

//  Starts the actor and waits until it has opened the store, bound both
//  sockets and settled the runs a previous process left unfinished (see
//  "Restarts" above). Returns the server, or NULL with the reason in err.
//  Config strings are copied.
ctl_server_t *ctl_server_new(const ctl_server_config_t *config, char *err,
                             size_t err_size);

//  Stops the actor: a live run is cancelled and recorded as failed
//  ("controller stopped"), sockets close, the store closes. Safe on NULL
//  and twice; nulls *self_p.
void ctl_server_destroy(ctl_server_t **self_p);

//  The agents' endpoint as bound, with the real port
//  ("tcp://127.0.0.1:41234").
const char *ctl_server_endpoint(ctl_server_t *self);

//  The inproc endpoint of the REP command socket, for ctl_http.
const char *ctl_server_command_endpoint(ctl_server_t *self);

//  Sends one command and returns the reply (caller owns), or NULL when the
//  actor did not answer. Commands, as on the command socket:
//    {"action":"run","url":…,"requests":N,"method":…,"headers":["K: V"],
//     "body":…,"timeout_ms":N,"label":…}  (all but action optional)
//      -> {"run_id":7} | {"error":…,"status":400|409|500|503}
//    {"action":"status"}
//      -> {"agents":[…],"active_run":7|null,"default_url":…|null,
//          "last_run":{"run_id","state","error"}|null}
//    {"action":"interrupt","reason":…}  (the live run ends interrupted)
//      -> {"run_id":7} | {"error":…,"status":400|409}
json_t *ctl_server_request(ctl_server_t *self, json_t *request);

void ctl_server_test(bool verbose);

#endif
