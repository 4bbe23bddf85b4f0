/*  ctl_run_test — the selftest of ctl_run: the run against fake agents on
    DEALER sockets over inproc. A file of its own, linked only into the
    selftest runner, because it is half the length of the run.
*/
#include "ctl_run.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "store_api.h"
#include "store_fixture.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Selftest: the run against fake agents on DEALER sockets over inproc.

typedef struct {
    zsock_t *router;
    zsock_t *dealer[3];
    zframe_t *route[3];
    ctl_registry_t *registry;
    store_t *store;
    char path[64];
    Stampede__StartMode start_mode; //  of the last Prepare received
    int64_t path_rtt_ns[4];         //  what each agent's Ready says it measured
} s_rig_t;

//  True when nothing waits on dealer (checked without blocking long).
static bool
s_quiet(zsock_t *dealer)
{
    zpoller_t *poller = zpoller_new(dealer, NULL);
    void *which = zpoller_wait(poller, 20);
    zpoller_destroy(&poller);
    return which == NULL;
}

static void
s_rig_start(s_rig_t *rig, size_t agents, uint32_t capacity)
{
    memset(rig, 0, sizeof *rig);
    snprintf(rig->path, sizeof rig->path, "/tmp/ctl_run_test-%ld.db", (long)getpid());
    unlink(rig->path);
    char err[256];
    rig->store = store_open(rig->path, err, sizeof err);
    CHECK_NOT_NULL(rig->store);
    rig->router = zsock_new(ZMQ_ROUTER);
    zsock_set_router_mandatory(rig->router, 1);
    CHECK_INT(zsock_bind(rig->router, "inproc://ctl_run_test"), 0);
    rig->registry = ctl_registry_new(rig->router, 16);
    for (size_t i = 0; i < agents; i++) {
        rig->dealer[i] = zsock_new_dealer("inproc://ctl_run_test");
        zstr_send(rig->dealer[i], "hi");
        rig->route[i] = zframe_recv(rig->router);
        char *hi = zstr_recv(rig->router);
        zstr_free(&hi);
        char id[32];
        snprintf(id, sizeof id, "agent-%zu", i + 1);
        Stampede__Hello hello = STAMPEDE__HELLO__INIT;
        hello.agent_id = id;
        hello.host = "localhost";
        hello.version = "test";
        hello.capacity = capacity;
        hello.protocol = STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
        bool is_new, replaced;
        CHECK_NOT_NULL(ctl_registry_hello(rig->registry, rig->route[i], &hello, 0, 1,
                                          &is_new, &replaced));
    }
}

static void
s_rig_stop(s_rig_t *rig)
{
    ctl_registry_destroy(&rig->registry);
    for (size_t i = 0; i < 3; i++) {
        zsock_destroy(&rig->dealer[i]);
        zframe_destroy(&rig->route[i]);
    }
    zsock_destroy(&rig->router);
    store_destroy(&rig->store);
    char wal[80];
    unlink(rig->path);
    snprintf(wal, sizeof wal, "%s-wal", rig->path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", rig->path);
    unlink(wal);
}

//  Gives agent `agent` (0-based) three clock samples, 1 s apart, the last
//  at t0: `offset` ahead of the controller, rtt 1 ms, so its clock is
//  known to a run at t0.
static void
s_rig_clock(s_rig_t *rig, size_t agent, int64_t offset, int64_t t0)
{
    char id[32];
    snprintf(id, sizeof id, "agent-%zu", agent + 1);
    ctl_agent_t *a = ctl_registry_lookup(rig->registry, id);
    CHECK_NOT_NULL(a);
    for (int k = 2; k >= 0; k--) {
        int64_t t1 = t0 - k * SP_NS_PER_S;
        int64_t there = t1 + 500000 + offset;
        CHECK_INT(ctl_clock_sample(a->clock, t1, there, there, t1 + 1000000), 0);
    }
}

//  Expects a Prepare on dealer and answers Ready for it.
static void
s_expect_prepare(ctl_run_t *run, s_rig_t *rig, size_t agent, uint32_t first,
                 uint32_t count, int64_t now)
{
    proto_envelope_t *env = proto_recv(rig->dealer[agent], 2000, NULL, 0);
    CHECK_NOT_NULL(env);
    CHECK_STR(proto_body_name(env), "prepare");
    CHECK_INT(env->prepare->run_id, ctl_run_id(run));
    CHECK_INT(env->prepare->first_index, first);
    CHECK_INT(env->prepare->count, count);
    rig->start_mode = env->prepare->start_mode;
    Stampede__Ready ready = STAMPEDE__READY__INIT;
    ready.run_id = env->prepare->run_id;
    ready.prepared = count;
    ready.path_rtt_ns = rig->path_rtt_ns[agent];
    char id[32];
    snprintf(id, sizeof id, "agent-%zu", agent + 1);
    ctl_run_on_ready(run, id, &ready, now);
    proto_envelope_destroy(&env);
}

//  Feeds a batch of results [first, first + n) to the run as agent.
static void
s_batch(ctl_run_t *run, size_t agent, uint32_t seq, uint32_t first, uint32_t n,
        Stampede__Outcome outcome, int64_t now)
{
    Stampede__Result results[PROTO_MAX_BATCH];
    Stampede__Result *ptrs[PROTO_MAX_BATCH];
    for (uint32_t i = 0; i < n; i++) {
        stampede__result__init(&results[i]);
        results[i].index = first + i;
        results[i].outcome = outcome;
        results[i].http_status = outcome == STAMPEDE__OUTCOME__OUTCOME_OK ? 200 : 429;
        results[i].sent_ns = 1000000 + i;
        results[i].done_ns = 3000000 + i;
        results[i].received_ns = 77;
        results[i].environment_id = outcome == STAMPEDE__OUTCOME__OUTCOME_OK ? "env" : "";
        results[i].invocation_count = -1;
        ptrs[i] = &results[i];
    }
    Stampede__ResultBatch batch = STAMPEDE__RESULT_BATCH__INIT;
    batch.run_id = (uint64_t)ctl_run_id(run);
    batch.seq = seq;
    batch.results = ptrs;
    batch.n_results = n;
    char id[32];
    snprintf(id, sizeof id, "agent-%zu", agent + 1);
    ctl_run_on_batch(run, id, &batch, now);
}

static void
s_expect_ack(s_rig_t *rig, size_t agent, uint32_t seq)
{
    proto_envelope_t *env = proto_recv(rig->dealer[agent], 2000, NULL, 0);
    CHECK_NOT_NULL(env);
    CHECK_STR(proto_body_name(env), "ack");
    CHECK_INT(env->ack->seq, seq);
    proto_envelope_destroy(&env);
}

static void
s_done(ctl_run_t *run, size_t agent, uint32_t results, uint32_t batches, int64_t now)
{
    Stampede__Done done = STAMPEDE__DONE__INIT;
    done.run_id = (uint64_t)ctl_run_id(run);
    done.results = results;
    done.batches = batches;
    char id[32];
    snprintf(id, sizeof id, "agent-%zu", agent + 1);
    ctl_run_on_done(run, id, &done, now);
}

static int64_t
s_count(store_t *store, int64_t run_id, const char *what)
{
    store_summary_t summary;
    CHECK_INT(store_summary(store, run_id, &summary), 0);
    if (strcmp(what, "ok") == 0)
        return summary.ok;
    if (strcmp(what, "throttled") == 0)
        return summary.throttled;
    if (strcmp(what, "lost") == 0)
        return summary.lost;
    if (strcmp(what, "recorded") == 0)
        return summary.recorded;
    if (strcmp(what, "environments") == 0)
        return summary.environments;
    assert(false);
    return -1;
}

//  A run of spec.requests = 3 over the rig's three agents (one each), all
//  Ready at t0 (it goes once their clocks allow); returns it, and in
//  *deadline its start + timeout + grace once it has gone.
static ctl_run_t *
s_run_three(const ctl_runspec_t *spec, const ctl_run_timing_t *timing, s_rig_t *rig,
            int64_t t0, int64_t *deadline)
{
    char err[256];
    int status = 0;
    ctl_run_t *run = ctl_run_new(spec, timing, rig->store, rig->registry, t0, err,
                                 sizeof err, &status);
    CHECK_NOT_NULL(run);
    for (size_t a = 0; a < 3; a++)
        s_expect_prepare(run, rig, a, (uint32_t)a, 1, t0);
    *deadline = ctl_run_start_ns(run) + (int64_t)spec->timeout_ms * SP_NS_PER_MS +
                15 * SP_NS_PER_S;
    return run;
}

//  Expects each of the rig's three agents to get first, then second
//  ("go", "cancel"; second may be NULL).
static void
s_expect_each(s_rig_t *rig, const char *first, const char *second)
{
    const char *names[] = {first, second};
    for (size_t a = 0; a < 3; a++)
        for (size_t m = 0; m < 2 && names[m]; m++) {
            proto_envelope_t *env = proto_recv(rig->dealer[a], 2000, NULL, 0);
            CHECK_NOT_NULL(env);
            CHECK_STR(proto_body_name(env), names[m]);
            proto_envelope_destroy(&env);
        }
}

//  The run's outcome as the summary reports it, and its requested count
//  against recorded + lost.
static const char *
s_outcome(store_t *store, int64_t run_id)
{
    static store_summary_t summary;
    CHECK_INT(store_summary(store, run_id, &summary), 0);
    CHECK_INT(summary.requested, summary.recorded + summary.lost);
    return summary.outcome;
}

void
ctl_run_test(bool verbose)
{
    const int64_t t0 = INT64_C(1700000000) * SP_NS_PER_S;
    char err[256];
    int status;
    s_rig_t rig;
    ctl_run_timing_t timing;
    ctl_run_timing_defaults(&timing);
    CHECK_INT(timing.ready_timeout_ns, 10 * SP_NS_PER_S);
    CHECK_INT(timing.deadline_grace_ns, 15 * SP_NS_PER_S);
    CHECK_INT(timing.min_lead_ns, 250 * SP_NS_PER_MS);

    //  The spec's own rules are ctl_runspec's (and its selftest's); a
    //  run refuses a spec that breaks them.
    const char *headers[] = {"Content-Type: application/json"};
    ctl_runspec_t spec = {.url = "http://127.0.0.1:9000/url/demo/",
                          .requests = CTL_RUNSPEC_MAX_REQUESTS + 1,
                          .headers = headers,
                          .n_headers = 1,
                          .body = "{}",
                          .body_size = 2};

    //  No agents: 503 (a bad spec is refused first, 400).
    s_rig_start(&rig, 0, 100);
    CHECK_NULL(
        ctl_run_new(&spec, NULL, rig.store, rig.registry, t0, err, sizeof err, &status));
    CHECK_INT(status, 400);
    CHECK_STR(err, "requests must be 1-1000000");
    spec.requests = 10;
    CHECK_NULL(
        ctl_run_new(&spec, NULL, rig.store, rig.registry, t0, err, sizeof err, &status));
    CHECK_INT(status, 503);
    CHECK_STR(err, "no agents connected");
    s_rig_stop(&rig);

    //  The whole path: 10 over 3 agents (4/3/3), one batch resent, one agent
    //  with its clock 2 ms ahead.
    s_rig_start(&rig, 3, 100);
    s_rig_clock(&rig, 0, 0, t0);
    s_rig_clock(&rig, 2, 0, t0);
    ctl_agent_t *second = ctl_registry_lookup(rig.registry, "agent-2");
    CHECK_INT(
        ctl_clock_sample(second->clock, t0, t0 + 2500000, t0 + 2500000, t0 + 1000000), 0);
    CHECK_INT(ctl_clock_offset_ns(second->clock), 2000000);
    ctl_run_t *run = ctl_run_new(&spec, &timing, rig.store, rig.registry, t0, err,
                                 sizeof err, &status);
    CHECK_NOT_NULL(run);
    CHECK_INT(status, 200);
    CHECK_INT(ctl_run_id(run), 1);
    CHECK_STR(ctl_run_state(run), "preparing");
    CHECK_INT(ctl_run_agents(run), 3);
    CHECK_TRUE(!ctl_run_finished(run));
    CHECK_STR(ctl_run_error(run), "");
    CHECK_INT(ctl_run_start_ns(run), 0);
    s_expect_prepare(run, &rig, 0, 0, 4, t0);
    s_expect_prepare(run, &rig, 1, 4, 3, t0);
    CHECK_STR(ctl_run_state(run), "preparing");
    ctl_run_tick(run, t0 + SP_NS_PER_S); //  within the Ready timeout
    CHECK_STR(ctl_run_state(run), "preparing");
    s_expect_prepare(run, &rig, 2, 7, 3, t0 + 100);
    //  Every share is Ready, but agent-2's clock has one sample: no Go yet.
    CHECK_STR(ctl_run_state(run), "preparing");
    CHECK_TRUE(s_quiet(rig.dealer[0]));
    ctl_run_tick(run, t0 + 150);
    CHECK_STR(ctl_run_state(run), "preparing");
    for (int k = 2; k >= 1; k--) { //  two more, 2 ms ahead like the first
        int64_t t1 = t0 - k * SP_NS_PER_S;
        CHECK_INT(
            ctl_clock_sample(second->clock, t1, t1 + 2500000, t1 + 2500000, t1 + 1000000),
            0);
    }
    ctl_run_tick(run, t0 + 200);
    CHECK_STR(ctl_run_state(run), "running");
    CHECK_INT(rig.start_mode, STAMPEDE__START_MODE__START_MODE_LAST_BYTE); //  auto + body
    //  rtt 1 ms -> lead is the 250 ms minimum; agent-2 gets its own clock.
    CHECK_INT(ctl_run_start_ns(run), t0 + 200 + 250 * SP_NS_PER_MS);
    for (size_t a = 0; a < 3; a++) {
        proto_envelope_t *go = proto_recv(rig.dealer[a], 2000, NULL, 0);
        CHECK_NOT_NULL(go);
        CHECK_STR(proto_body_name(go), "go");
        CHECK_INT(go->go->start_at_ns, ctl_run_start_ns(run) + (a == 1 ? 2000000 : 0));
        proto_envelope_destroy(&go);
    }
    //  agent-1: two batches, the first sent twice.
    s_batch(run, 0, 1, 0, 2, STAMPEDE__OUTCOME__OUTCOME_OK, t0);
    s_expect_ack(&rig, 0, 1);
    s_batch(run, 0, 1, 0, 2, STAMPEDE__OUTCOME__OUTCOME_OK, t0);
    s_expect_ack(&rig, 0, 1);
    s_batch(run, 0, 2, 2, 2, STAMPEDE__OUTCOME__OUTCOME_THROTTLED, t0);
    s_expect_ack(&rig, 0, 2);
    //  Bad batches are dropped without an ack: index outside the share, seq
    //  beyond any possible batch.
    s_batch(run, 0, 3, 4, 1, STAMPEDE__OUTCOME__OUTCOME_OK, t0);
    s_batch(run, 0, 5, 0, 1, STAMPEDE__OUTCOME__OUTCOME_OK, t0);
    CHECK_TRUE(s_quiet(rig.dealer[0]));
    s_done(run, 0, 4, 2, t0);
    //  agent-2 and agent-3: Done arrives before its last batch.
    s_batch(run, 1, 1, 4, 3, STAMPEDE__OUTCOME__OUTCOME_THROTTLED, t0);
    s_expect_ack(&rig, 1, 1);
    s_done(run, 1, 3, 1, t0);
    s_done(run, 2, 3, 1, t0);
    CHECK_STR(ctl_run_state(run), "running");
    s_batch(run, 2, 1, 7, 3, STAMPEDE__OUTCOME__OUTCOME_THROTTLED, t0 + 5);
    s_expect_ack(&rig, 2, 1);
    CHECK_STR(ctl_run_state(run), "completed");
    CHECK_TRUE(ctl_run_finished(run));
    CHECK_INT(s_count(rig.store, 1, "recorded"), 10);
    CHECK_INT(s_count(rig.store, 1, "ok"), 2);
    CHECK_INT(s_count(rig.store, 1, "throttled"), 8);
    CHECK_INT(s_count(rig.store, 1, "lost"), 0);
    CHECK_INT(s_count(rig.store, 1, "environments"), 1); //  "" is not an environment
    CHECK_STR(s_outcome(rig.store, 1), "completed");
    //  A late resend of a completed run is acknowledged again.
    s_batch(run, 2, 1, 7, 3, STAMPEDE__OUTCOME__OUTCOME_THROTTLED, t0 + 6);
    s_expect_ack(&rig, 2, 1);
    //  Agent clock converted: agent-2's sent_ns 1000000 is 2 ms ahead.
    json_t *json = store_run_json(rig.store, 1, true);
    CHECK_STR(json_string_value(json_object_get(json, "start_mode")), "last_byte");
    json_t *rows = json_object_get(json, "requests");
    CHECK_INT(json_array_size(rows), 10);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(rows, 4), "sent_ns")),
              1000000 - 2000000);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(rows, 0), "sent_ns")),
              1000000);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(rows, 4), "received_ns")),
              77);
    json_t *shares = json_object_get(json, "shares");
    CHECK_INT(json_array_size(shares), 3);
    CHECK_INT(
        json_integer_value(json_object_get(json_array_get(shares, 1), "clock_offset_ns")),
        2000000);
    json_decref(json);
    ctl_run_destroy(&run);
    CHECK_NULL(run);
    ctl_run_destroy(&run);

    //  An agent that disappears mid-run: its missing indices are lost, the
    //  run completes when the other share is in.
    spec.requests = 6;
    run = ctl_run_new(&spec, &timing, rig.store, rig.registry, t0, err, sizeof err,
                      &status);
    CHECK_NOT_NULL(run);
    CHECK_INT(ctl_run_id(run), 2);
    s_expect_prepare(run, &rig, 0, 0, 2, t0);
    s_expect_prepare(run, &rig, 1, 2, 2, t0);
    s_expect_prepare(run, &rig, 2, 4, 2, t0);
    CHECK_STR(ctl_run_state(run), "running");
    for (size_t a = 0; a < 3; a++) {
        proto_envelope_t *go = proto_recv(rig.dealer[a], 2000, NULL, 0);
        CHECK_STR(proto_body_name(go), "go");
        proto_envelope_destroy(&go);
    }
    s_batch(run, 1, 1, 2, 1, STAMPEDE__OUTCOME__OUTCOME_OK, t0); //  1 of 2
    s_expect_ack(&rig, 1, 1);
    ctl_run_on_agent_expired(run, "agent-2", t0 + SP_NS_PER_S);
    ctl_run_on_agent_expired(run, "agent-9", t0 + SP_NS_PER_S); //  not in the run
    s_batch(run, 0, 1, 0, 2, STAMPEDE__OUTCOME__OUTCOME_OK, t0);
    s_done(run, 0, 2, 1, t0);
    CHECK_STR(ctl_run_state(run), "running");
    s_batch(run, 2, 1, 4, 2, STAMPEDE__OUTCOME__OUTCOME_THROTTLED, t0);
    s_done(run, 2, 2, 1, t0);
    CHECK_STR(ctl_run_state(run), "completed");
    CHECK_INT(s_count(rig.store, 2, "recorded"), 5);
    CHECK_INT(s_count(rig.store, 2, "lost"), 1);
    CHECK_STR(s_outcome(rig.store, 2), "completed_with_losses");
    json = store_run_json(rig.store, 2, true);
    rows = json_object_get(json, "requests");
    CHECK_STR(json_string_value(json_object_get(json_array_get(rows, 3), "outcome")),
              "lost");
    CHECK_STR(json_string_value(json_object_get(json_array_get(rows, 3), "error")),
              "agent agent-2 disconnected");
    json_decref(json);
    //  The agent comes back with the missing result: it replaces the lost row.
    s_expect_ack(&rig, 0, 1);
    s_expect_ack(&rig, 2, 1);
    s_batch(run, 1, 2, 3, 1, STAMPEDE__OUTCOME__OUTCOME_OK, t0);
    s_expect_ack(&rig, 1, 2);
    CHECK_INT(s_count(rig.store, 2, "recorded"), 6);
    CHECK_INT(s_count(rig.store, 2, "lost"), 0);
    CHECK_STR(s_outcome(rig.store, 2), "completed"); //  nothing is lost any more
    ctl_run_destroy(&run);

    //  The deadline: start + timeout + grace; nothing arrives.
    spec.requests = 3;
    spec.timeout_ms = 1000;
    int64_t deadline;
    run = s_run_three(&spec, &timing, &rig, t0, &deadline);
    ctl_run_tick(run, deadline - 1);
    CHECK_STR(ctl_run_state(run), "running");
    ctl_run_tick(run, deadline);
    CHECK_STR(ctl_run_state(run), "completed");
    CHECK_INT(s_count(rig.store, ctl_run_id(run), "lost"), 3);
    CHECK_STR(s_outcome(rig.store, ctl_run_id(run)), "completed_with_losses");
    json = store_run_json(rig.store, ctl_run_id(run), false);
    CHECK_STR(json_string_value(json_object_get(json, "error")),
              "3 of 3 requests lost (deadline passed)");
    json_decref(json);
    ctl_run_destroy(&run);
    s_expect_each(&rig, "go", NULL);

    //  Starts: agent-1 released on time (Released), agent-2 25 ms late on
    //  its clock, 2 ms ahead (told only in Done's copy), agent-3 released nothing (its
    //  request had failed before the instant): mis_started, naming agent-2, and each
    //  share's release stored.
    run = s_run_three(&spec, &timing, &rig, t0, &deadline);
    s_expect_each(&rig, "go", NULL);
    int64_t start = ctl_run_start_ns(run);
    Stampede__Released on_time = STAMPEDE__RELEASED__INIT;
    on_time.run_id = (uint64_t)ctl_run_id(run);
    on_time.released_ns = start + 150 * 1000;
    on_time.release_end_ns = on_time.released_ns + 20 * 1000;
    on_time.count = 1;
    on_time.armed = 1;
    ctl_run_on_released(run, "agent-1", &on_time, start);
    Stampede__Released late_one = on_time;
    late_one.released_ns = start + 2 * SP_NS_PER_MS + 25 * SP_NS_PER_MS;
    late_one.release_end_ns = late_one.released_ns + 1000;
    Stampede__Done done = STAMPEDE__DONE__INIT;
    done.run_id = (uint64_t)ctl_run_id(run);
    done.results = 1;
    done.batches = 1;
    done.released = &late_one;
    for (size_t a = 0; a < 3; a++)
        s_batch(run, a, 1, (uint32_t)a, 1, STAMPEDE__OUTCOME__OUTCOME_OK, start);
    ctl_run_on_done(run, "agent-2", &done, start);
    done.released = NULL;
    ctl_run_on_done(run, "agent-1", &done, start);
    ctl_run_on_done(run, "agent-3", &done, start);
    CHECK_STR(ctl_run_state(run), "completed");
    CHECK_STR(s_outcome(rig.store, ctl_run_id(run)), "mis_started");
    json = store_run_json(rig.store, ctl_run_id(run), false);
    CHECK_STR(json_string_value(json_object_get(json, "error")),
              "agent agent-2 released 25.000 ms after the instant, outside its bound of "
              "0.627 ms + 20.000 ms tolerance");
    shares = json_object_get(json, "shares");
    json_t *share = json_array_get(shares, 0);
    CHECK_INT(json_integer_value(json_object_get(share, "start_error_ns")), 150000);
    CHECK_INT(json_integer_value(json_object_get(share, "released_ns")), start + 150000);
    CHECK_INT(json_integer_value(json_object_get(share, "release_span_ns")), 20000);
    CHECK_INT(json_integer_value(json_object_get(share, "armed")), 1);
    CHECK_TRUE(json_is_null(json_object_get(share, "mis_start")));
    share = json_array_get(shares, 1);
    CHECK_INT(json_integer_value(json_object_get(share, "start_error_ns")),
              25 * SP_NS_PER_MS);
    CHECK_INT(json_integer_value(json_object_get(share, "released_ns")),
              start + 25 * SP_NS_PER_MS); //  on the controller's clock
    CHECK_STR(json_string_value(json_object_get(share, "mis_start")),
              json_string_value(json_object_get(json, "error")));
    CHECK_TRUE(json_is_null(json_object_get(json_array_get(shares, 2), "released_ns")));
    json_decref(json);
    for (size_t a = 0; a < 3; a++)
        s_expect_ack(&rig, a, 1);
    ctl_run_destroy(&run);

    //  --compensate-path: agent-1's shortest handshake 40 ms, agent-2's
    //  10 ms, agent-3 measured none. agent-1 (the farthest) goes at the
    //  instant, agent-2 15 ms later (20 - 5 ms one way), agent-3 unshifted;
    //  paths and shifts are stored, and each released at its own instant
    //  is a start as agreed: completed.
    rig.path_rtt_ns[0] = 40 * SP_NS_PER_MS;
    rig.path_rtt_ns[1] = 10 * SP_NS_PER_MS;
    spec.compensate_path = true;
    run = s_run_three(&spec, &timing, &rig, t0, &deadline);
    start = ctl_run_start_ns(run);
    json = store_run_json(rig.store, ctl_run_id(run), false);
    shares = json_object_get(json, "shares");
    const int64_t shifts[3] = {0, 15 * SP_NS_PER_MS, 0};
    for (size_t a = 0; a < 3; a++) {
        share = json_array_get(shares, a);
        CHECK_INT(json_integer_value(json_object_get(share, "shift_ns")), shifts[a]);
        if (a < 2)
            CHECK_INT(json_integer_value(json_object_get(share, "path_rtt_ns")),
                      rig.path_rtt_ns[a]);
        else
            CHECK_TRUE(json_is_null(json_object_get(share, "path_rtt_ns")));
        int64_t offset = json_integer_value(json_object_get(share, "clock_offset_ns"));
        proto_envelope_t *go = proto_recv(rig.dealer[a], 2000, NULL, 0);
        CHECK_NOT_NULL(go);
        CHECK_STR(proto_body_name(go), "go");
        CHECK_INT(go->go->start_at_ns, start + shifts[a] + offset);
        Stampede__Released released = STAMPEDE__RELEASED__INIT;
        released.run_id = (uint64_t)ctl_run_id(run);
        released.released_ns = go->go->start_at_ns + 100 * 1000;
        released.release_end_ns = released.released_ns + 1000;
        released.count = 1;
        released.armed = 1;
        char id[32];
        snprintf(id, sizeof id, "agent-%zu", a + 1);
        ctl_run_on_released(run, id, &released, start);
        s_batch(run, a, 1, (uint32_t)a, 1, STAMPEDE__OUTCOME__OUTCOME_OK, start);
        ctl_run_on_done(run, id, &done, start);
        proto_envelope_destroy(&go);
    }
    json_decref(json);
    CHECK_STR(ctl_run_state(run), "completed");
    CHECK_STR(s_outcome(rig.store, ctl_run_id(run)), "completed");
    for (size_t a = 0; a < 3; a++)
        s_expect_ack(&rig, a, 1);
    ctl_run_destroy(&run);
    spec.compensate_path = false;
    memset(rig.path_rtt_ns, 0, sizeof rig.path_rtt_ns);

    //  A store that refuses the run's end (a full disk, a read-only file):
    //  the run is not completed; it retries, backing off, and ends as soon
    //  as the store takes writes again.
    run = s_run_three(&spec, &timing, &rig, t0, &deadline);
    store_fixture_refuse_writes(rig.store, true);
    ctl_run_tick(run, deadline);
    CHECK_STR(ctl_run_state(run), "running");
    ctl_run_tick(run, deadline + 50 * SP_NS_PER_MS);  //  not due yet
    ctl_run_tick(run, deadline + 100 * SP_NS_PER_MS); //  refused again: 200 ms
    CHECK_STR(ctl_run_state(run), "running");
    store_fixture_refuse_writes(rig.store, false);
    ctl_run_tick(run, deadline + 250 * SP_NS_PER_MS);
    CHECK_STR(ctl_run_state(run), "running");
    ctl_run_tick(run, deadline + 300 * SP_NS_PER_MS);
    CHECK_STR(ctl_run_state(run), "completed");
    CHECK_STR(s_outcome(rig.store, ctl_run_id(run)), "completed_with_losses");
    CHECK_INT(s_count(rig.store, ctl_run_id(run), "lost"), 3);
    ctl_run_destroy(&run);
    s_expect_each(&rig, "go", NULL);
    //  Refused past the give-up time: failed, its end unrecorded, Cancel sent.
    run = s_run_three(&spec, &timing, &rig, t0, &deadline);
    int64_t failed_id = ctl_run_id(run);
    store_fixture_refuse_writes(rig.store, true);
    ctl_run_tick(run, deadline);
    ctl_run_tick(run, deadline + CTL_RUN_STORE_GIVE_UP_NS);
    CHECK_STR(ctl_run_state(run), "failed");
    CHECK_STR(
        ctl_run_error(run),
        "the results database refused writes for 60 s: the run's end is not recorded");
    store_fixture_refuse_writes(rig.store, false);
    CHECK_STR(s_outcome(rig.store, failed_id), ""); //  still running on file
    ctl_run_destroy(&run);
    s_expect_each(&rig, "go", "cancel");

    //  A refusal fails the run and cancels it everywhere.
    run = ctl_run_new(&spec, &timing, rig.store, rig.registry, t0, err, sizeof err,
                      &status);
    CHECK_NOT_NULL(run);
    Stampede__Ready refused = STAMPEDE__READY__INIT;
    refused.run_id = (uint64_t)ctl_run_id(run);
    refused.error = "target 10.0.0.1 is not on the allow-list";
    ctl_run_on_ready(run, "agent-3", &refused, t0);
    CHECK_STR(ctl_run_state(run), "failed");
    CHECK_STR(ctl_run_error(run),
              "agent agent-3 refused the run: target 10.0.0.1 is not on the allow-list");
    for (size_t a = 0; a < 3; a++) {
        proto_envelope_t *env = proto_recv(rig.dealer[a], 2000, NULL, 0);
        CHECK_STR(proto_body_name(env), "prepare");
        proto_envelope_destroy(&env);
        env = proto_recv(rig.dealer[a], 2000, NULL, 0);
        CHECK_STR(proto_body_name(env), "cancel");
        proto_envelope_destroy(&env);
    }
    store_summary_t summary;
    CHECK_INT(store_summary(rig.store, ctl_run_id(run), &summary), 0);
    CHECK_STR(summary.status, "failed");
    //  Every request of a failed run is accounted for: lost, with the reason.
    CHECK_STR(s_outcome(rig.store, ctl_run_id(run)), "failed");
    CHECK_INT(s_count(rig.store, ctl_run_id(run), "lost"), spec.requests);
    ctl_run_destroy(&run);

    //  A Ready timeout names the silent agents; a cancel of a finished run
    //  changes nothing.
    run = ctl_run_new(&spec, &timing, rig.store, rig.registry, t0, err, sizeof err,
                      &status);
    CHECK_NOT_NULL(run);
    s_expect_prepare(run, &rig, 1, 1, 1, t0);
    ctl_run_tick(run, t0 + 10 * SP_NS_PER_S);
    CHECK_STR(ctl_run_state(run), "failed");
    CHECK_STR(ctl_run_error(run), "no Ready within 10000 ms from agent-1 agent-3");
    ctl_run_interrupt(run, "stopping", t0);
    CHECK_STR(ctl_run_error(run), "no Ready within 10000 ms from agent-1 agent-3");
    ctl_run_destroy(&run);
    for (size_t a = 0; a < 3; a++) //  drain Prepare (0, 2) and Cancel
        for (int m = 0; m < (a == 1 ? 1 : 2); m++) {
            proto_envelope_t *env = proto_recv(rig.dealer[a], 2000, NULL, 0);
            CHECK_NOT_NULL(env);
            proto_envelope_destroy(&env);
        }

    //  Clocks gone stale (the last samples 20 s old): Ready from all, but
    //  no Go; at the deadline the run fails naming the agent, every
    //  request lost.
    spec.requests = 3;
    int64_t late = t0 + 20 * SP_NS_PER_S;
    run = s_run_three(&spec, &timing, &rig, late, &deadline);
    CHECK_STR(ctl_run_state(run), "preparing");
    ctl_run_tick(run, late + 10 * SP_NS_PER_S);
    CHECK_STR(ctl_run_state(run), "failed");
    CHECK_STR(ctl_run_error(run),
              "no clock estimate within 10000 ms: agent agent-1 has 0 "
              "clock samples from the last 10000 ms, 3 needed");
    CHECK_STR(s_outcome(rig.store, ctl_run_id(run)), "failed");
    CHECK_INT(s_count(rig.store, ctl_run_id(run), "lost"), 3);
    ctl_run_destroy(&run);
    s_expect_each(&rig, "cancel", NULL); //  and never a Go

    //  Cancel of a live run; a share above an agent's capacity is refused.
    run = ctl_run_new(&spec, &timing, rig.store, rig.registry, t0, err, sizeof err,
                      &status);
    ctl_run_interrupt(run, "controller stopping", t0);
    CHECK_STR(ctl_run_state(run), "failed");
    CHECK_STR(ctl_run_error(run), "controller stopping");
    CHECK_STR(s_outcome(rig.store, ctl_run_id(run)), "interrupted");
    CHECK_INT(s_count(rig.store, ctl_run_id(run), "lost"), spec.requests);
    ctl_run_destroy(&run);
    spec.requests = 301;
    CHECK_NULL(ctl_run_new(&spec, &timing, rig.store, rig.registry, t0, err, sizeof err,
                           &status));
    CHECK_INT(status, 400);
    CHECK_STR(err, "the agents take at most 300 requests together (agent-1 100, agent-2 "
                   "100, agent-3 100), the run asks for 301");
    s_rig_stop(&rig);
    if (verbose)
        printf("(run checks done) ");
}
