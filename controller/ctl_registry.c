/*  ctl_registry — registered agents and the sends to them; see
    ctl_registry.h.

    Two indexes over the same entries: by_id owns them, by_route maps the
    hex form of a routing id to the entry. Sends never block: the ROUTER is
    mandatory and every send is DONTWAIT, so a vanished or slow agent costs
    a failed send, not a stalled loop.
*/
#include "ctl_registry.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_oom.h"

struct _ctl_registry_t {
    zsock_t *router;    //  borrowed ROUTER all sends go through
    size_t max_agents;  //  cap on entries
    zhashx_t *by_id;    //  agent id -> ctl_agent_t (owned)
    zhashx_t *by_route; //  hex routing id -> ctl_agent_t (borrowed from by_id)
};

static void
s_agent_destroy(void **item)
{
    ctl_agent_t *agent = (ctl_agent_t *)*item;
    if (agent) {
        ctl_clock_destroy(&agent->clock);
        zframe_destroy(&agent->routing_id);
        free(agent);
        *item = NULL;
    }
}

ctl_registry_t *
ctl_registry_new(zsock_t *router, size_t max_agents)
{
    ctl_registry_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->router = router;
    self->max_agents = max_agents;
    self->by_id = zhashx_new();
    self->by_route = zhashx_new();
    if (!self->by_id || !self->by_route) {
        ctl_registry_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->by_id, s_agent_destroy);
    return self;
}

void
ctl_registry_destroy(ctl_registry_t **self_p)
{
    assert(self_p);
    ctl_registry_t *self = *self_p;
    if (self) {
        zhashx_destroy(&self->by_route);
        zhashx_destroy(&self->by_id);
        free(self);
        *self_p = NULL;
    }
}

//  The by_route key of a routing id, into key (caller's buffer).
static void
s_route_key(zframe_t *routing_id, char *key, size_t key_size)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *data = zframe_data(routing_id);
    size_t size = zframe_size(routing_id);
    size_t out = 0;
    for (size_t i = 0; i < size && out + 2 < key_size; i++) {
        key[out++] = hex[data[i] >> 4];
        key[out++] = hex[data[i] & 15];
    }
    key[out] = '\0';
}

#define S_ROUTE_KEY_SIZE (2 * 256 + 1)

static void
s_remove(ctl_registry_t *self, ctl_agent_t *agent)
{
    char key[S_ROUTE_KEY_SIZE];
    s_route_key(agent->routing_id, key, sizeof key);
    zhashx_delete(self->by_route, key);
    zhashx_delete(self->by_id, agent->id); //  frees agent
}

ctl_agent_t *
ctl_registry_hello(ctl_registry_t *self, zframe_t *routing_id,
                   const Stampede__Hello *hello, int64_t now_mono_ns, int64_t now_wall_ns,
                   bool *is_new, bool *replaced)
{
    assert(self && routing_id && hello && is_new && replaced);
    *is_new = false;
    *replaced = false;
    char key[S_ROUTE_KEY_SIZE];
    s_route_key(routing_id, key, sizeof key);
    //  This connection spoke before under another agent id: forget that.
    ctl_agent_t *same_route = (ctl_agent_t *)zhashx_lookup(self->by_route, key);
    if (same_route && strcmp(same_route->id, hello->agent_id) != 0)
        s_remove(self, same_route);
    ctl_agent_t *agent = (ctl_agent_t *)zhashx_lookup(self->by_id, hello->agent_id);
    if (agent && !zframe_eq(agent->routing_id, routing_id)) {
        s_remove(self, agent);
        agent = NULL;
        *replaced = true;
    }
    if (!agent) {
        if (zhashx_size(self->by_id) >= self->max_agents)
            return NULL;
        agent = calloc(1, sizeof *agent);
        if (!agent)
            return NULL;
        agent->clock = ctl_clock_new();
        agent->routing_id = zframe_dup(routing_id);
        if (!agent->clock || !agent->routing_id) {
            void *item = agent;
            s_agent_destroy(&item);
            return NULL;
        }
        snprintf(agent->id, sizeof agent->id, "%s", hello->agent_id);
        zhashx_insert(self->by_id, agent->id, agent);
        zhashx_insert(self->by_route, key, agent);
        *is_new = !*replaced;
    }
    snprintf(agent->host, sizeof agent->host, "%s", hello->host ? hello->host : "");
    snprintf(agent->version, sizeof agent->version, "%s",
             hello->version ? hello->version : "");
    agent->capacity = hello->capacity;
    agent->joined_ns = now_wall_ns;
    agent->last_seen_ns = now_mono_ns;
    return agent;
}

ctl_agent_t *
ctl_registry_find(ctl_registry_t *self, zframe_t *routing_id)
{
    assert(self && routing_id);
    char key[S_ROUTE_KEY_SIZE];
    s_route_key(routing_id, key, sizeof key);
    return (ctl_agent_t *)zhashx_lookup(self->by_route, key);
}

ctl_agent_t *
ctl_registry_lookup(ctl_registry_t *self, const char *agent_id)
{
    assert(self && agent_id);
    return (ctl_agent_t *)zhashx_lookup(self->by_id, agent_id);
}

void
ctl_registry_touch(ctl_registry_t *self, ctl_agent_t *agent, int64_t now_mono_ns)
{
    assert(self && agent);
    if (now_mono_ns > agent->last_seen_ns)
        agent->last_seen_ns = now_mono_ns;
}

size_t
ctl_registry_expire(ctl_registry_t *self, int64_t now_mono_ns, int64_t silence_ns,
                    zlist_t *expired)
{
    assert(self && expired);
    //  Collect first: deleting while iterating a zhashx is not allowed.
    zlist_t *victims = SP_OOM_CHECK(zlist_new(), "expiry list");
    for (ctl_agent_t *agent = (ctl_agent_t *)zhashx_first(self->by_id); agent;
         agent = (ctl_agent_t *)zhashx_next(self->by_id))
        if (now_mono_ns - agent->last_seen_ns > silence_ns)
            zlist_append(victims, agent);
    size_t count = 0;
    for (ctl_agent_t *agent = (ctl_agent_t *)zlist_first(victims); agent;
         agent = (ctl_agent_t *)zlist_next(victims)) {
        zlist_append(expired, agent->id); //  autofree: the list copies it
        s_remove(self, agent);
        count++;
    }
    zlist_destroy(&victims);
    return count;
}

size_t
ctl_registry_size(ctl_registry_t *self)
{
    assert(self);
    return zhashx_size(self->by_id);
}

static int
s_compare_agents(const void *a, const void *b)
{
    const ctl_agent_t *x = *(ctl_agent_t *const *)a;
    const ctl_agent_t *y = *(ctl_agent_t *const *)b;
    return strcmp(x->id, y->id);
}

size_t
ctl_registry_list(ctl_registry_t *self, ctl_agent_t **out, size_t max)
{
    assert(self && (out || max == 0));
    size_t total = zhashx_size(self->by_id);
    ctl_agent_t **all =
        SP_OOM_CHECK(calloc(total ? total : 1, sizeof *all), "agent list");
    size_t n = 0;
    for (ctl_agent_t *agent = (ctl_agent_t *)zhashx_first(self->by_id); agent;
         agent = (ctl_agent_t *)zhashx_next(self->by_id))
        all[n++] = agent;
    qsort(all, n, sizeof *all, s_compare_agents);
    size_t count = n < max ? n : max;
    memcpy(out, all, count * sizeof *all);
    free(all);
    return count;
}

//  Sends env to one entry without blocking. Returns 0 or -1.
static int
s_send(ctl_registry_t *self, ctl_agent_t *agent, const proto_envelope_t *env)
{
    zframe_t *data = proto_encode(env);
    if (!data)
        return -1;
    zframe_t *rid = agent->routing_id;
    if (zframe_send(&rid, self->router, ZFRAME_MORE | ZFRAME_REUSE | ZFRAME_DONTWAIT)) {
        zframe_destroy(&data);
        return -1;
    }
    if (zframe_send(&data, self->router, ZFRAME_DONTWAIT)) {
        zframe_destroy(&data);
        return -1;
    }
    return 0;
}

int
ctl_registry_send(ctl_registry_t *self, const char *agent_id, const proto_envelope_t *env)
{
    assert(self && agent_id && env);
    ctl_agent_t *agent = ctl_registry_lookup(self, agent_id);
    if (!agent)
        return -1;
    return s_send(self, agent, env);
}

int
ctl_registry_probe(ctl_registry_t *self, ctl_agent_t *agent)
{
    assert(self && agent);
    Stampede__Heartbeat heartbeat = STAMPEDE__HEARTBEAT__INIT;
    heartbeat.sent_ns = sp_clock_wall_ns();
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &heartbeat;
    agent->probed_ns = sp_clock_mono_ns();
    return s_send(self, agent, &env);
}

void
ctl_registry_probe_all(ctl_registry_t *self)
{
    assert(self);
    for (ctl_agent_t *agent = (ctl_agent_t *)zhashx_first(self->by_id); agent;
         agent = (ctl_agent_t *)zhashx_next(self->by_id))
        ctl_registry_probe(self, agent);
}

void
ctl_registry_probe_new(ctl_registry_t *self, size_t min_samples, int64_t max_age_ns,
                       int64_t gap_ns)
{
    assert(self);
    int64_t wall = sp_clock_wall_ns(), mono = sp_clock_mono_ns();
    for (ctl_agent_t *agent = (ctl_agent_t *)zhashx_first(self->by_id); agent;
         agent = (ctl_agent_t *)zhashx_next(self->by_id))
        if (!ctl_clock_ready(agent->clock, wall, min_samples, max_age_ns) &&
            mono - agent->probed_ns >= gap_ns)
            ctl_registry_probe(self, agent);
}

int
ctl_registry_heartbeat(ctl_registry_t *self, ctl_agent_t *agent,
                       const Stampede__Heartbeat *heartbeat, int64_t received_ns)
{
    assert(self && agent && heartbeat);
    if (heartbeat->echo_sent_ns == 0) {
        if (heartbeat->sent_ns <= 0)
            return -1; //  an echo of 0 would read as a probe on the other side
        Stampede__Heartbeat answer = STAMPEDE__HEARTBEAT__INIT;
        answer.echo_sent_ns = heartbeat->sent_ns;
        answer.echo_received_ns = received_ns;
        answer.sent_ns = sp_clock_wall_ns();
        proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
        env.body_case = STAMPEDE__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &answer;
        return s_send(self, agent, &env);
    }
    return ctl_clock_sample(agent->clock, heartbeat->echo_sent_ns,
                            heartbeat->echo_received_ns, heartbeat->sent_ns, received_ns);
}

json_t *
ctl_registry_json(ctl_registry_t *self)
{
    assert(self);
    json_t *array = json_array();
    size_t total = ctl_registry_size(self);
    ctl_agent_t **agents = calloc(total ? total : 1, sizeof *agents);
    if (!array || !agents) {
        free(agents);
        json_decref(array);
        return NULL;
    }
    size_t n = ctl_registry_list(self, agents, total);
    for (size_t i = 0; i < n; i++) {
        ctl_agent_t *a = agents[i];
        json_array_append_new(
            array, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "id", a->id,
                             "host", a->host, "version", a->version, "capacity",
                             (json_int_t)a->capacity, "clock_offset_ns",
                             (json_int_t)ctl_clock_offset_ns(a->clock), "rtt_ns",
                             (json_int_t)ctl_clock_rtt_ns(a->clock), "clock_error_ns",
                             (json_int_t)ctl_clock_error_ns(a->clock), "clock_samples",
                             (json_int_t)ctl_clock_samples(a->clock), "clock_drift_ppm",
                             ctl_clock_drift_known(a->clock)
                                 ? json_real(ctl_clock_drift_ppm(a->clock))
                                 : json_null()));
    }
    free(agents);
    return array;
}

//  --------------------------------------------------------------------------
//  Selftest

//  Sends a hello from dealer and returns the routing id the router saw.
static zframe_t *
s_hello_route(zsock_t *router, zsock_t *dealer)
{
    zstr_send(dealer, "hi");
    zframe_t *rid = zframe_recv(router);
    char *text = zstr_recv(router);
    CHECK_STR(text, "hi");
    zstr_free(&text);
    return rid;
}

void
ctl_registry_test(bool verbose)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_router_mandatory(router, 1);
    CHECK_INT(zsock_bind(router, "inproc://ctl_registry_test"), 0);
    zsock_t *dealer_a = zsock_new_dealer("inproc://ctl_registry_test");
    zsock_t *dealer_b = zsock_new_dealer("inproc://ctl_registry_test");
    zframe_t *route_a = s_hello_route(router, dealer_a);
    zframe_t *route_b = s_hello_route(router, dealer_b);

    ctl_registry_t *registry = ctl_registry_new(router, 2);
    CHECK_NOT_NULL(registry);
    CHECK_INT(ctl_registry_size(registry), 0);

    Stampede__Hello hello = STAMPEDE__HELLO__INIT;
    hello.agent_id = "agent-b";
    hello.host = "host-b";
    hello.version = "0.1.0";
    hello.capacity = 50;
    hello.protocol = STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    bool is_new, replaced;
    ctl_agent_t *b =
        ctl_registry_hello(registry, route_b, &hello, 1000, 5000, &is_new, &replaced);
    CHECK_NOT_NULL(b);
    CHECK_TRUE(is_new && !replaced);
    CHECK_STR(b->host, "host-b");
    CHECK_INT(b->capacity, 50);
    CHECK_INT(b->joined_ns, 5000);
    hello.agent_id = "agent-a";
    hello.host = "host-a";
    ctl_agent_t *a =
        ctl_registry_hello(registry, route_a, &hello, 1000, 5000, &is_new, &replaced);
    CHECK_TRUE(a && is_new && !replaced);
    CHECK_INT(ctl_registry_size(registry), 2);
    CHECK_TRUE(ctl_registry_find(registry, route_a) == a);
    CHECK_TRUE(ctl_registry_lookup(registry, "agent-b") == b);
    CHECK_NULL(ctl_registry_lookup(registry, "agent-c"));

    //  A repeated Hello from the same connection refreshes the entry.
    hello.capacity = 7;
    CHECK_TRUE(ctl_registry_hello(registry, route_a, &hello, 2000, 6000, &is_new,
                                  &replaced) == a);
    CHECK_TRUE(!is_new && !replaced);
    CHECK_INT(a->capacity, 7);
    CHECK_INT(a->last_seen_ns, 2000);

    //  Full: a third agent id is refused.
    zframe_t *route_c = zframe_new("c-route", 7);
    hello.agent_id = "agent-c";
    CHECK_NULL(
        ctl_registry_hello(registry, route_c, &hello, 2000, 6000, &is_new, &replaced));
    CHECK_INT(ctl_registry_size(registry), 2);

    //  Sorted listing and JSON.
    ctl_agent_t *list[4];
    CHECK_INT(ctl_registry_list(registry, list, 4), 2);
    CHECK_STR(list[0]->id, "agent-a");
    CHECK_STR(list[1]->id, "agent-b");
    CHECK_INT(ctl_registry_list(registry, list, 1), 1);
    CHECK_STR(list[0]->id, "agent-a");
    json_t *json = ctl_registry_json(registry);
    CHECK_INT(json_array_size(json), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json, 1), "host")),
              "host-b");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json, 0), "capacity")),
              7);
    json_decref(json);

    //  Sends reach the right connection; an unknown id fails.
    Stampede__Cancel cancel = STAMPEDE__CANCEL__INIT;
    cancel.run_id = 9;
    cancel.reason = "test";
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    CHECK_INT(ctl_registry_send(registry, "agent-b", &env), 0);
    proto_envelope_t *got = proto_recv(dealer_b, 1000, NULL, 0);
    CHECK_NOT_NULL(got);
    CHECK_STR(proto_body_name(got), "cancel");
    CHECK_INT(got->cancel->run_id, 9);
    proto_envelope_destroy(&got);
    CHECK_INT(ctl_registry_send(registry, "agent-x", &env), -1);
    cancel.run_id = 0; //  invalid: never sent
    CHECK_INT(ctl_registry_send(registry, "agent-b", &env), -1);

    //  Clock: our probe goes out, the agent's answer becomes a sample.
    CHECK_INT(ctl_registry_probe(registry, a), 0);
    got = proto_recv(dealer_a, 1000, NULL, 0);
    CHECK_NOT_NULL(got);
    int64_t t1 = got->heartbeat->sent_ns;
    CHECK_TRUE(t1 > 0);
    CHECK_INT(got->heartbeat->echo_sent_ns, 0);
    proto_envelope_destroy(&got);
    Stampede__Heartbeat answer = STAMPEDE__HEARTBEAT__INIT;
    answer.echo_sent_ns = t1;
    answer.echo_received_ns = t1 + 3000000 + 1000; //  agent 3 ms ahead, 1 us away
    answer.sent_ns = t1 + 3000000 + 2000;
    CHECK_INT(ctl_registry_heartbeat(registry, a, &answer, t1 + 3000), 0);
    CHECK_INT(ctl_clock_samples(a->clock), 1);
    CHECK_INT(ctl_clock_rtt_ns(a->clock), 2000);
    CHECK_INT(ctl_clock_offset_ns(a->clock), 3000000);
    answer.sent_ns = answer.echo_received_ns - 1; //  t3 < t2
    CHECK_INT(ctl_registry_heartbeat(registry, a, &answer, t1 + 3000), -1);
    //  The agent's probe is echoed with our receive time.
    Stampede__Heartbeat probe = STAMPEDE__HEARTBEAT__INIT;
    probe.sent_ns = 424242;
    CHECK_INT(ctl_registry_heartbeat(registry, a, &probe, 777), 0);
    got = proto_recv(dealer_a, 1000, NULL, 0);
    CHECK_NOT_NULL(got);
    CHECK_INT(got->heartbeat->echo_sent_ns, 424242);
    CHECK_INT(got->heartbeat->echo_received_ns, 777);
    CHECK_TRUE(got->heartbeat->sent_ns > 0);
    proto_envelope_destroy(&got);
    probe.sent_ns = 0;
    CHECK_INT(ctl_registry_heartbeat(registry, a, &probe, 777), -1);
    ctl_registry_probe_all(registry);
    got = proto_recv(dealer_a, 1000, NULL, 0);
    CHECK_TRUE(got && got->heartbeat->sent_ns > 0);
    proto_envelope_destroy(&got);
    got = proto_recv(dealer_b, 1000, NULL, 0);
    CHECK_TRUE(got && got->heartbeat->sent_ns > 0);
    proto_envelope_destroy(&got);

    //  agent-b reconnects: same id, new routing id -> replaced.
    hello.agent_id = "agent-b";
    hello.capacity = 50;
    b = ctl_registry_hello(registry, route_c, &hello, 3000, 7000, &is_new, &replaced);
    CHECK_TRUE(b && !is_new && replaced);
    CHECK_INT(ctl_registry_size(registry), 2);
    CHECK_NULL(ctl_registry_find(registry, route_b));
    CHECK_TRUE(ctl_registry_find(registry, route_c) == b);
    CHECK_INT(ctl_clock_samples(b->clock), 0);

    //  Expiry: a silent for 3000 - 2000 ns, b seen at 3000; limit 500.
    ctl_registry_touch(registry, b, 3500);
    ctl_registry_touch(registry, b, 100); //  never moves backwards
    CHECK_INT(b->last_seen_ns, 3500);
    zlist_t *expired = zlist_new();
    zlist_autofree(expired);
    CHECK_INT(ctl_registry_expire(registry, 3000, 500, expired), 1);
    CHECK_STR((char *)zlist_first(expired), "agent-a");
    CHECK_INT(ctl_registry_size(registry), 1);
    CHECK_NULL(ctl_registry_lookup(registry, "agent-a"));
    CHECK_NULL(ctl_registry_find(registry, route_a));
    CHECK_INT(ctl_registry_expire(registry, 3900, 500, expired), 0);
    CHECK_INT(ctl_registry_expire(registry, 4100, 500, expired), 1);
    CHECK_INT(ctl_registry_size(registry), 0);
    zlist_destroy(&expired);

    ctl_registry_destroy(&registry);
    CHECK_NULL(registry);
    ctl_registry_destroy(&registry);
    zframe_destroy(&route_a);
    zframe_destroy(&route_b);
    zframe_destroy(&route_c);
    zsock_destroy(&dealer_a);
    zsock_destroy(&dealer_b);
    zsock_destroy(&router);
    if (verbose)
        printf("(registry checks done) ");
}
