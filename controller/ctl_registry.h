/*  ctl_registry — the agents the controller currently hears from, keyed by
    their ZeroMQ routing id and by agent id, and the only code that sends
    to them.

    An agent enters with Hello. A Hello with a known agent id from a new
    routing id (the agent reconnected, or restarted) replaces the old entry,
    so one agent id maps to one live connection. Every message refreshes
    last_seen; ctl_registry_expire drops agents silent for longer than the
    given limit. The registry probes each agent's clock (Heartbeat with
    sent_ns = t1) and keeps a ctl_clock_t estimate per agent; answers come
    back through ctl_registry_heartbeat, which also answers the agents' own
    probes.

    At most max_agents are kept; a Hello beyond that is refused.

    Thread model: owned and used by one thread (the controller's loop), the
    same one that owns the ROUTER socket it sends on.
*/
#ifndef CTL_REGISTRY_H
#define CTL_REGISTRY_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl_clock.h"
#include "proto_codec.h"

typedef struct _ctl_registry_t ctl_registry_t;

//  One registered agent. Read-only outside the registry; borrowed until
//  the next call that can remove agents (hello, expire, destroy).
typedef struct {
    char id[PROTO_MAX_ID + 1];
    char host[PROTO_MAX_HOST + 1];
    char version[PROTO_MAX_VERSION + 1];
    uint32_t capacity;
    int64_t joined_ns;    //  wall clock of the (last) Hello
    int64_t last_seen_ns; //  monotonic clock of the last message
    ctl_clock_t *clock;   //  this agent's clock estimate
    int64_t probed_ns;    //  monotonic clock of the last probe sent
    zframe_t *routing_id; //  the ROUTER's id for its connection
} ctl_agent_t;

//  A registry sending on router (borrowed, a ROUTER socket). NULL on
//  allocation failure.
ctl_registry_t *ctl_registry_new(zsock_t *router, size_t max_agents);

//  Frees every entry; safe on NULL and twice; nulls *self_p.
void ctl_registry_destroy(ctl_registry_t **self_p);

//  Registers the sender of a (validated) Hello, or refreshes it. *replaced
//  is set when an entry with the same agent id but another routing id was
//  dropped for it; *is_new when the agent id was not registered. Returns the
//  entry, or NULL when the registry is full.
ctl_agent_t *ctl_registry_hello(ctl_registry_t *self, zframe_t *routing_id,
                                const Stampede__Hello *hello, int64_t now_mono_ns,
                                int64_t now_wall_ns, bool *is_new, bool *replaced);

//  The agent behind a routing id, or NULL.
ctl_agent_t *ctl_registry_find(ctl_registry_t *self, zframe_t *routing_id);

//  The agent with this agent id, or NULL.
ctl_agent_t *ctl_registry_lookup(ctl_registry_t *self, const char *agent_id);

//  Marks agent as heard from at now_mono_ns.
void ctl_registry_touch(ctl_registry_t *self, ctl_agent_t *agent, int64_t now_mono_ns);

//  Removes agents silent for more than silence_ns and appends their ids
//  to expired, which must be an autofree list (it keeps copies). Returns
//  how many expired.
size_t ctl_registry_expire(ctl_registry_t *self, int64_t now_mono_ns, int64_t silence_ns,
                           zlist_t *expired);

//  Number of registered agents.
size_t ctl_registry_size(ctl_registry_t *self);

//  Fills out with up to max agents sorted by agent id; returns how many.
size_t ctl_registry_list(ctl_registry_t *self, ctl_agent_t **out, size_t max);

//  Sends env to agent_id. Returns 0, or -1 when the agent is unknown, env
//  is invalid or the socket refused (never blocks).
int ctl_registry_send(ctl_registry_t *self, const char *agent_id,
                      const proto_envelope_t *env);

//  Sends a clock probe (Heartbeat{sent_ns = now}) to every agent.
void ctl_registry_probe_all(ctl_registry_t *self);

//  Sends a clock probe to every agent whose clock is not ready for a run
//  (ctl_clock_ready with min_samples within max_age_ns) and was not probed
//  in the last gap_ns: a new agent is known within a few seconds, its
//  samples spaced enough for the drift to show.
void ctl_registry_probe_new(ctl_registry_t *self, size_t min_samples, int64_t max_age_ns,
                            int64_t gap_ns);

//  Sends a clock probe to one agent. Returns 0 or -1.
int ctl_registry_probe(ctl_registry_t *self, ctl_agent_t *agent);

//  Handles a Heartbeat from agent received at received_ns (wall): a probe
//  (echo_sent_ns == 0) is answered with the echo; an answer to our probe
//  becomes a clock sample. Returns 0, or -1 for a refused sample.
int ctl_registry_heartbeat(ctl_registry_t *self, ctl_agent_t *agent,
                           const Stampede__Heartbeat *heartbeat, int64_t received_ns);

//  The agents as a JSON array (caller owns), sorted by id:
//  [{"id","host","version","capacity","clock_offset_ns","rtt_ns",
//    "clock_error_ns","clock_samples","clock_drift_ppm" (null until known)}].
json_t *ctl_registry_json(ctl_registry_t *self);

void ctl_registry_test(bool verbose);

#endif
