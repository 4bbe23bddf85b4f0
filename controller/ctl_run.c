/*  ctl_run — one run's state machine; see ctl_run.h.

    Transitions happen only in s_go, s_finish and s_fail; every event
    handler ends by asking s_check_settled whether the run can complete, so
    the order in which Done, the last batch or an expiry arrive does not
    matter.
*/
#include "ctl_run.h"
#include "ctl_share.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum {
    S_PREPARING,
    S_RUNNING,
    S_COMPLETED,
    S_FAILED,
} s_state_t;

struct _ctl_run_t {
    int64_t id;                        //  runs.id in the store
    store_t *store;                    //  borrowed: the loop thread's writer
    ctl_registry_t *registry;          //  borrowed: sends to agents
    ctl_run_timing_t timing;           //  timeouts of this run
    s_state_t state;                   //  see the diagram in ctl_run.h
    ctl_share_t **shares;              //  one per agent taking part, index order
    size_t n_shares;                   //  entries in shares
    uint32_t requested;                //  N
    uint32_t timeout_ms;               //  per request
    int64_t prepare_deadline_ns;       //  Ready must all arrive before this
    int64_t start_ns;                  //  the instant agents fire at (controller clock)
    int64_t deadline_ns;               //  results must all arrive before this
    char error[PROTO_MAX_ERROR + 128]; //  why it failed
    store_result_t *rows;              //  scratch for one batch (PROTO_MAX_BATCH)
};

void
ctl_run_timing_defaults(ctl_run_timing_t *timing)
{
    assert(timing);
    timing->ready_timeout_ns = 10 * SP_NS_PER_S;
    timing->deadline_grace_ns = 15 * SP_NS_PER_S;
    timing->min_lead_ns = 250 * SP_NS_PER_MS;
}

static ctl_share_t *
s_share_of(ctl_run_t *self, const char *agent_id)
{
    for (size_t i = 0; i < self->n_shares; i++)
        if (strcmp(ctl_share_agent_id(self->shares[i]), agent_id) == 0)
            return self->shares[i];
    return NULL;
}

static void
s_send_cancel(ctl_run_t *self, const char *reason)
{
    Stampede__Cancel cancel = STAMPEDE__CANCEL__INIT;
    cancel.run_id = (uint64_t)self->id;
    char text[PROTO_MAX_ERROR + 1];
    snprintf(text, sizeof text, "%s", reason);
    cancel.reason = text;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    for (size_t i = 0; i < self->n_shares; i++)
        ctl_registry_send(self->registry, ctl_share_agent_id(self->shares[i]), &env);
}

static void
s_fail(ctl_run_t *self, const char *reason, int64_t now_ns)
{
    if (self->state == S_COMPLETED || self->state == S_FAILED)
        return;
    self->state = S_FAILED;
    snprintf(self->error, sizeof self->error, "%s", reason);
    s_send_cancel(self, reason);
    if (store_run_set_status(self->store, self->id, "failed", 0, now_ns, self->error))
        zsys_error("run: cannot record the failure run_id=%" PRId64, self->id);
    zsys_warning("run failed run_id=%" PRId64 " reason=\"%s\"", self->id, self->error);
}

static void
s_finish(ctl_run_t *self, int64_t now_ns)
{
    for (size_t i = 0; i < self->n_shares; i++) {
        ctl_share_t *share = self->shares[i];
        char reason[PROTO_MAX_ERROR + 128];
        if (ctl_share_abandoned(share))
            snprintf(reason, sizeof reason, "%s", ctl_share_abandoned(share));
        else if (!ctl_share_complete(share))
            snprintf(reason, sizeof reason, "deadline passed");
        else
            snprintf(reason, sizeof reason, "agent %s did not report it",
                     ctl_share_agent_id(share));
        int64_t marked =
            store_mark_lost(self->store, self->id, ctl_share_agent_id(share),
                            ctl_share_first(share), ctl_share_count(share), reason);
        if (marked < 0)
            zsys_error("run: cannot mark lost requests run_id=%" PRId64 " agent_id=%s",
                       self->id, ctl_share_agent_id(share));
        else if (marked > 0)
            zsys_warning("run: requests lost run_id=%" PRId64
                         " agent_id=%s count=%" PRId64 " reason=\"%s\"",
                         self->id, ctl_share_agent_id(share), marked, reason);
    }
    self->state = S_COMPLETED;
    if (store_run_set_status(self->store, self->id, "completed", 0, now_ns, NULL))
        zsys_error("run: cannot record completion run_id=%" PRId64, self->id);
    store_summary_t summary;
    if (store_summary(self->store, self->id, &summary) == 0)
        zsys_notice(
            "run finished run_id=%" PRId64 " ok=%u throttled=%u errors=%u lost=%u",
            self->id, summary.ok, summary.throttled, summary.errors, summary.lost);
}

//  Completes a running run once every share is settled.
static void
s_check_settled(ctl_run_t *self, int64_t now_ns)
{
    if (self->state != S_RUNNING)
        return;
    for (size_t i = 0; i < self->n_shares; i++)
        if (!ctl_share_complete(self->shares[i]) && !ctl_share_abandoned(self->shares[i]))
            return;
    s_finish(self, now_ns);
}

static void
s_go(ctl_run_t *self, int64_t now_ns)
{
    int64_t max_rtt = 0;
    for (size_t i = 0; i < self->n_shares; i++)
        if (ctl_share_rtt_ns(self->shares[i]) > max_rtt)
            max_rtt = ctl_share_rtt_ns(self->shares[i]);
    int64_t lead =
        4 * max_rtt > self->timing.min_lead_ns ? 4 * max_rtt : self->timing.min_lead_ns;
    self->start_ns = now_ns + lead;
    self->deadline_ns = self->start_ns + (int64_t)self->timeout_ms * SP_NS_PER_MS +
                        self->timing.deadline_grace_ns;
    self->state = S_RUNNING;
    if (store_run_set_status(self->store, self->id, "running", self->start_ns, 0, NULL))
        zsys_error("run: cannot record the start run_id=%" PRId64, self->id);
    zsys_notice("run started run_id=%" PRId64 " requested=%u agents=%zu lead_ms=%" PRId64,
                self->id, self->requested, self->n_shares, lead / SP_NS_PER_MS);
    for (size_t i = 0; i < self->n_shares; i++) {
        ctl_share_t *share = self->shares[i];
        Stampede__Go go = STAMPEDE__GO__INIT;
        go.run_id = (uint64_t)self->id;
        go.start_at_ns = self->start_ns + ctl_share_offset_ns(share);
        proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
        env.body_case = STAMPEDE__ENVELOPE__BODY_GO;
        env.go = &go;
        if (ctl_registry_send(self->registry, ctl_share_agent_id(share), &env)) {
            char reason[160];
            snprintf(reason, sizeof reason, "agent %s could not be sent Go",
                     ctl_share_agent_id(share));
            ctl_share_abandon(share, reason);
        }
    }
    s_check_settled(self, now_ns);
}

ctl_run_t *
ctl_run_new(const ctl_runspec_t *spec, const ctl_run_timing_t *timing, store_t *store,
            ctl_registry_t *registry, int64_t now_ns, char *err, size_t err_size,
            int *status)
{
    assert(spec && store && registry && status);
    ctl_run_t *self = NULL;
    ctl_agent_t **agents = NULL;
    uint32_t *firsts = NULL, *counts = NULL;
    Stampede__Header *headers = NULL;
    Stampede__Header **header_ptrs = NULL;
    char(*names)[PROTO_MAX_HEADER_NAME + 1] = NULL;
    *status = 400;
    if (ctl_runspec_check(spec, err, err_size))
        goto fail;
    size_t n_agents = ctl_registry_size(registry);
    if (n_agents == 0) {
        *status = 503;
        snprintf(err, err_size, "no agents connected");
        goto fail;
    }
    *status = 500;
    agents = calloc(n_agents, sizeof *agents);
    firsts = calloc(n_agents, sizeof *firsts);
    counts = calloc(n_agents, sizeof *counts);
    headers = calloc(PROTO_MAX_HEADERS, sizeof *headers);
    header_ptrs = calloc(PROTO_MAX_HEADERS, sizeof *header_ptrs);
    names = calloc(PROTO_MAX_HEADERS, sizeof *names);
    self = calloc(1, sizeof *self);
    if (!agents || !firsts || !counts || !headers || !header_ptrs || !names || !self)
        goto oom;
    self->rows = calloc(PROTO_MAX_BATCH, sizeof *self->rows);
    self->shares = calloc(n_agents, sizeof *self->shares);
    if (!self->rows || !self->shares)
        goto oom;
    self->store = store;
    self->registry = registry;
    if (timing)
        self->timing = *timing;
    else
        ctl_run_timing_defaults(&self->timing);
    self->requested = spec->requests;
    self->timeout_ms =
        spec->timeout_ms ? spec->timeout_ms : CTL_RUNSPEC_DEFAULT_TIMEOUT_MS;
    self->state = S_PREPARING;

    n_agents = ctl_registry_list(registry, agents, n_agents);
    ctl_share_split(spec->requests, n_agents, firsts, counts);
    for (size_t i = 0; i < n_agents; i++) {
        if (counts[i] == 0)
            continue;
        if (counts[i] > agents[i]->capacity) {
            *status = 400;
            snprintf(err, err_size,
                     "agent %s takes at most %u requests, its share would be %u",
                     agents[i]->id, agents[i]->capacity, counts[i]);
            goto fail;
        }
        ctl_share_t *share = ctl_share_new(agents[i]->id, firsts[i], counts[i],
                                           ctl_clock_offset_ns(agents[i]->clock),
                                           ctl_clock_rtt_ns(agents[i]->clock));
        if (!share)
            goto oom;
        self->shares[self->n_shares++] = share;
    }

    Stampede__Target target;
    if (ctl_runspec_target(spec, &target, headers, header_ptrs, names, err, err_size)) {
        *status = 400;
        goto fail;
    }
    Stampede__StartMode start_mode = ctl_runspec_start_mode(spec);
    store_run_t row = {.url = spec->url,
                       .method = target.method,
                       .requested = spec->requests,
                       .agents = (uint32_t)self->n_shares,
                       .created_ns = now_ns,
                       .label = spec->label,
                       .start_mode = proto_start_mode_name(start_mode)};
    self->id = store_run_create(store, &row);
    if (self->id < 1) {
        snprintf(err, err_size, "cannot create the run in the results database");
        goto fail;
    }
    for (size_t i = 0; i < self->n_shares; i++) {
        ctl_share_t *share = self->shares[i];
        ctl_agent_t *agent = ctl_registry_lookup(registry, ctl_share_agent_id(share));
        assert(agent);
        int64_t error_ns = ctl_clock_error_ns(agent->clock);
        if (store_agent_upsert(store, agent->id, agent->host, agent->version,
                               agent->capacity, now_ns) ||
            store_share_add(store, self->id, agent->id, ctl_share_first(share),
                            ctl_share_count(share), ctl_share_offset_ns(share),
                            error_ns)) {
            snprintf(err, err_size, "cannot record the shares in the results database");
            store_run_set_status(store, self->id, "failed", 0, now_ns, err);
            goto fail;
        }
    }
    self->prepare_deadline_ns = now_ns + self->timing.ready_timeout_ns;
    for (size_t i = 0; i < self->n_shares; i++) {
        ctl_share_t *share = self->shares[i];
        Stampede__Prepare prepare = STAMPEDE__PREPARE__INIT;
        prepare.run_id = (uint64_t)self->id;
        prepare.first_index = ctl_share_first(share);
        prepare.count = ctl_share_count(share);
        prepare.target = &target;
        prepare.start_mode = start_mode;
        proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
        env.body_case = STAMPEDE__ENVELOPE__BODY_PREPARE;
        env.prepare = &prepare;
        if (ctl_registry_send(registry, ctl_share_agent_id(share), &env)) {
            char reason[160];
            snprintf(reason, sizeof reason, "agent %s could not be sent Prepare",
                     ctl_share_agent_id(share));
            s_fail(self, reason, now_ns);
            break;
        }
    }
    zsys_info("run prepared run_id=%" PRId64 " requested=%u agents=%zu start_mode=%s",
              self->id, self->requested, self->n_shares,
              proto_start_mode_name(start_mode));
    *status = 200;
    goto out;
oom:
    snprintf(err, err_size, "out of memory");
fail:
    ctl_run_destroy(&self);
out:
    free(agents);
    free(firsts);
    free(counts);
    free(headers);
    free(header_ptrs);
    free(names);
    return self;
}

void
ctl_run_destroy(ctl_run_t **self_p)
{
    assert(self_p);
    ctl_run_t *self = *self_p;
    if (self) {
        if (self->shares)
            for (size_t i = 0; i < self->n_shares; i++)
                ctl_share_destroy(&self->shares[i]);
        free(self->shares);
        free(self->rows);
        free(self);
        *self_p = NULL;
    }
}

int64_t
ctl_run_id(ctl_run_t *self)
{
    assert(self);
    return self->id;
}

const char *
ctl_run_state(ctl_run_t *self)
{
    assert(self);
    switch (self->state) {
    case S_PREPARING:
        return "preparing";
    case S_RUNNING:
        return "running";
    case S_COMPLETED:
        return "completed";
    default:
        return "failed";
    }
}

bool
ctl_run_finished(ctl_run_t *self)
{
    assert(self);
    return self->state == S_COMPLETED || self->state == S_FAILED;
}

const char *
ctl_run_error(ctl_run_t *self)
{
    assert(self);
    return self->error;
}

size_t
ctl_run_agents(ctl_run_t *self)
{
    assert(self);
    return self->n_shares;
}

int64_t
ctl_run_start_ns(ctl_run_t *self)
{
    assert(self);
    return self->start_ns;
}

void
ctl_run_on_ready(ctl_run_t *self, const char *agent_id, const Stampede__Ready *ready,
                 int64_t now_ns)
{
    assert(self && agent_id && ready);
    ctl_share_t *share = s_share_of(self, agent_id);
    if (!share || self->state != S_PREPARING) {
        zsys_info("run: ready ignored run_id=%" PRId64 " agent_id=%s state=%s", self->id,
                  agent_id, ctl_run_state(self));
        return;
    }
    char reason[PROTO_MAX_ERROR + 128];
    if (ready->error && *ready->error) {
        snprintf(reason, sizeof reason, "agent %s refused the run: %s", agent_id,
                 ready->error);
        s_fail(self, reason, now_ns);
        return;
    }
    if (ready->prepared != ctl_share_count(share)) {
        snprintf(reason, sizeof reason, "agent %s prepared %u of %u requests", agent_id,
                 ready->prepared, ctl_share_count(share));
        s_fail(self, reason, now_ns);
        return;
    }
    ctl_share_set_ready(share);
    for (size_t i = 0; i < self->n_shares; i++)
        if (!ctl_share_ready(self->shares[i]))
            return;
    s_go(self, now_ns);
}

//  Agent instant -> controller instant; 0 stays "absent".
static int64_t
s_to_controller(int64_t agent_ns, int64_t offset_ns)
{
    return agent_ns ? agent_ns - offset_ns : 0;
}

static const char *
s_text(const char *text)
{
    return text && *text ? text : NULL;
}

static void
s_ack(ctl_run_t *self, const char *agent_id, uint32_t seq)
{
    Stampede__Ack ack = STAMPEDE__ACK__INIT;
    ack.run_id = (uint64_t)self->id;
    ack.seq = seq;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    //  A lost ack costs a resend, which is acknowledged again.
    ctl_registry_send(self->registry, agent_id, &env);
}

int
ctl_run_store_batch(store_t *store, int64_t run_id, const char *agent_id,
                    uint32_t first_index, uint32_t count, int64_t offset_ns,
                    const Stampede__ResultBatch *batch, store_result_t *rows, char *why,
                    size_t why_size)
{
    assert(store && agent_id && batch && rows && why);
    assert(batch->n_results <= PROTO_MAX_BATCH);
    //  Every batch carries at least one result, so seq never exceeds count.
    if (batch->seq > count) {
        snprintf(why, why_size, "seq %u above the share's %u requests", batch->seq,
                 count);
        return 1;
    }
    for (size_t i = 0; i < batch->n_results; i++) {
        const Stampede__Result *r = batch->results[i];
        if (r->index < first_index || r->index - first_index >= count) {
            snprintf(why, why_size, "index %u outside the share %u..%" PRId64, r->index,
                     first_index, (int64_t)first_index + count - 1);
            return 1;
        }
        rows[i] = (store_result_t){
            .index = r->index,
            .outcome = proto_outcome_name(r->outcome),
            .http_status = (int)r->http_status,
            .scheduled_ns = s_to_controller(r->scheduled_ns, offset_ns),
            .sent_ns = s_to_controller(r->sent_ns, offset_ns),
            .first_byte_ns = s_to_controller(r->first_byte_ns, offset_ns),
            .done_ns = s_to_controller(r->done_ns, offset_ns),
            .received_ns = r->received_ns,
            .bytes = r->bytes_received,
            .reused = r->connection_reused,
            .request_id = s_text(r->request_id),
            .environment_id = s_text(r->environment_id),
            .cold_start = r->has_cold_start ? (r->cold_start ? 1 : 0) : -1,
            .cold_start_time = r->cold_start_time,
            .initialization_type = s_text(r->initialization_type),
            .invocation_count = r->invocation_count,
            .function_started_ns = r->function_started_ns,
            .function_finished_ns = r->function_finished_ns,
            .error = s_text(r->error),
        };
    }
    if (store_results_insert(store, run_id, agent_id, rows, batch->n_results)) {
        snprintf(why, why_size, "the store refused the batch");
        return -1;
    }
    return 0;
}

void
ctl_run_on_batch(ctl_run_t *self, const char *agent_id,
                 const Stampede__ResultBatch *batch, int64_t now_ns)
{
    assert(self && agent_id && batch);
    ctl_share_t *share = s_share_of(self, agent_id);
    if (!share) {
        zsys_warning("run: batch from an agent without a share dropped run_id=%" PRId64
                     " agent_id=%s",
                     self->id, agent_id);
        return;
    }
    if (self->state == S_PREPARING) {
        zsys_warning("run: batch before Go dropped run_id=%" PRId64 " agent_id=%s",
                     self->id, agent_id);
        return;
    }
    if (self->state == S_FAILED) {
        //  The run is over and was cancelled: let the agent drop the batch.
        s_ack(self, agent_id, batch->seq);
        return;
    }
    if (ctl_share_batch_seen(share, batch->seq)) {
        s_ack(self, agent_id, batch->seq); //  a resend: stored already
        return;
    }
    char why[128];
    int rc = ctl_run_store_batch(self->store, self->id, agent_id, ctl_share_first(share),
                                 ctl_share_count(share), ctl_share_offset_ns(share),
                                 batch, self->rows, why, sizeof why);
    if (rc > 0) {
        zsys_warning("run: batch dropped run_id=%" PRId64 " agent_id=%s seq=%u "
                     "reason=\"%s\"",
                     self->id, agent_id, batch->seq, why);
        return;
    }
    if (rc < 0) {
        zsys_error("run: batch not stored, the agent will resend run_id=%" PRId64
                   " agent_id=%s seq=%u",
                   self->id, agent_id, batch->seq);
        return;
    }
    ctl_share_batch_stored(share, batch->seq);
    s_ack(self, agent_id, batch->seq);
    s_check_settled(self, now_ns);
}

void
ctl_run_on_done(ctl_run_t *self, const char *agent_id, const Stampede__Done *done,
                int64_t now_ns)
{
    assert(self && agent_id && done);
    ctl_share_t *share = s_share_of(self, agent_id);
    if (!share || self->state != S_RUNNING) {
        zsys_info("run: done ignored run_id=%" PRId64 " agent_id=%s state=%s", self->id,
                  agent_id, ctl_run_state(self));
        return;
    }
    if (ctl_share_set_done(share, done->results, done->batches)) {
        zsys_warning(
            "run: done dropped run_id=%" PRId64 " agent_id=%s reason=\"%u results "
            "in %u batches does not fit a share of %u\"",
            self->id, agent_id, done->results, done->batches, ctl_share_count(share));
        return;
    }
    s_check_settled(self, now_ns);
}

void
ctl_run_on_agent_expired(ctl_run_t *self, const char *agent_id, int64_t now_ns)
{
    assert(self && agent_id);
    ctl_share_t *share = s_share_of(self, agent_id);
    if (!share)
        return;
    char reason[160];
    snprintf(reason, sizeof reason, "agent %s disconnected", agent_id);
    if (self->state == S_PREPARING)
        s_fail(self, reason, now_ns);
    else if (self->state == S_RUNNING && !ctl_share_complete(share)) {
        ctl_share_abandon(share, reason);
        s_check_settled(self, now_ns);
    }
}

void
ctl_run_tick(ctl_run_t *self, int64_t now_ns)
{
    assert(self);
    if (self->state == S_PREPARING && now_ns >= self->prepare_deadline_ns) {
        char reason[PROTO_MAX_ERROR];
        size_t used =
            (size_t)snprintf(reason, sizeof reason, "no Ready within %" PRId64 " ms from",
                             self->timing.ready_timeout_ns / SP_NS_PER_MS);
        for (size_t i = 0; i < self->n_shares && used < sizeof reason - 80; i++)
            if (!ctl_share_ready(self->shares[i]))
                used += (size_t)snprintf(reason + used, sizeof reason - used, " %s",
                                         ctl_share_agent_id(self->shares[i]));
        s_fail(self, reason, now_ns);
    } else if (self->state == S_RUNNING && now_ns >= self->deadline_ns)
        s_finish(self, now_ns);
}

void
ctl_run_cancel(ctl_run_t *self, const char *reason, int64_t now_ns)
{
    assert(self && reason);
    s_fail(self, reason, now_ns);
}

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
    CHECK_STR(ctl_run_state(run), "running");
    CHECK_INT(rig.start_mode, STAMPEDE__START_MODE__START_MODE_LAST_BYTE); //  auto + body
    //  rtt 1 ms -> lead is the 250 ms minimum; agent-2 gets its own clock.
    CHECK_INT(ctl_run_start_ns(run), t0 + 100 + 250 * SP_NS_PER_MS);
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
    ctl_run_destroy(&run);

    //  The deadline: start + timeout + grace; nothing arrives.
    spec.requests = 3;
    spec.timeout_ms = 1000;
    run = ctl_run_new(&spec, &timing, rig.store, rig.registry, t0, err, sizeof err,
                      &status);
    CHECK_NOT_NULL(run);
    s_expect_prepare(run, &rig, 0, 0, 1, t0);
    s_expect_prepare(run, &rig, 1, 1, 1, t0);
    s_expect_prepare(run, &rig, 2, 2, 1, t0);
    int64_t deadline = ctl_run_start_ns(run) + SP_NS_PER_S + 15 * SP_NS_PER_S;
    ctl_run_tick(run, deadline - 1);
    CHECK_STR(ctl_run_state(run), "running");
    ctl_run_tick(run, deadline);
    CHECK_STR(ctl_run_state(run), "completed");
    CHECK_INT(s_count(rig.store, ctl_run_id(run), "lost"), 3);
    ctl_run_destroy(&run);
    for (size_t a = 0; a < 3; a++) { //  the Go of that run
        proto_envelope_t *go = proto_recv(rig.dealer[a], 2000, NULL, 0);
        CHECK_STR(proto_body_name(go), "go");
        proto_envelope_destroy(&go);
    }

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
    ctl_run_cancel(run, "stopping", t0);
    CHECK_STR(ctl_run_error(run), "no Ready within 10000 ms from agent-1 agent-3");
    ctl_run_destroy(&run);
    for (size_t a = 0; a < 3; a++) //  drain Prepare (0, 2) and Cancel
        for (int m = 0; m < (a == 1 ? 1 : 2); m++) {
            proto_envelope_t *env = proto_recv(rig.dealer[a], 2000, NULL, 0);
            CHECK_NOT_NULL(env);
            proto_envelope_destroy(&env);
        }

    //  Cancel of a live run; a share above an agent's capacity is refused.
    run = ctl_run_new(&spec, &timing, rig.store, rig.registry, t0, err, sizeof err,
                      &status);
    ctl_run_cancel(run, "controller stopping", t0);
    CHECK_STR(ctl_run_state(run), "failed");
    CHECK_STR(ctl_run_error(run), "controller stopping");
    ctl_run_destroy(&run);
    spec.requests = 301;
    CHECK_NULL(ctl_run_new(&spec, &timing, rig.store, rig.registry, t0, err, sizeof err,
                           &status));
    CHECK_INT(status, 400);
    CHECK_STR(err, "agent agent-1 takes at most 100 requests, its share would be 101");
    s_rig_stop(&rig);
    if (verbose)
        printf("(run checks done) ");
}
