/*  ctl_run — one run's state machine; see ctl_run.h.

    Transitions happen only in s_go, s_finish and s_fail; every event
    handler ends by asking s_check_settled whether the run can complete, so
    the order in which Done, the last batch or an expiry arrive does not
    matter.
*/
#include "ctl_run.h"
#include "ctl_share.h"
#include "sp_clock.h"
#include "sp_err.h"

#include <assert.h>
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
    int64_t prepare_deadline_ns;       //  Ready (and clocks) must all be there by this
    bool clock_wait_logged;            //  "waiting for clocks" said once
    bool compensate_path;              //  --compensate-path
    bool ending;                       //  the end could not be stored yet
    int64_t end_retry_ns;              //  next attempt to store it
    int64_t end_backoff_ns;            //  wait before the attempt after that
    int64_t end_give_up_ns;            //  past this, the run fails
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
    timing->clock_min_samples = 3;
    timing->clock_max_age_ns = 10 * SP_NS_PER_S;
    timing->start_tolerance_ns = 20 * SP_NS_PER_MS;
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

//  Gives every index of every share that has no row a "lost" row, so that
//  requested = recorded + lost holds however the run ends: the share's own
//  reason (abandoned, deadline, not reported), or `why` for all when set.
//  Returns the rows marked (-1 when the store refused one share's); the
//  first reason goes into first (may be NULL).
static int64_t
s_mark_lost(ctl_run_t *self, const char *why, char *first, size_t first_size)
{
    int64_t total = 0;
    bool refused = false;
    for (size_t i = 0; i < self->n_shares; i++) {
        ctl_share_t *share = self->shares[i];
        char reason[PROTO_MAX_ERROR + 128];
        if (why)
            snprintf(reason, sizeof reason, "%s", why);
        else if (ctl_share_abandoned(share))
            snprintf(reason, sizeof reason, "%s", ctl_share_abandoned(share));
        else if (!ctl_share_complete(share))
            snprintf(reason, sizeof reason, "deadline passed");
        else
            snprintf(reason, sizeof reason, "agent %s did not report it",
                     ctl_share_agent_id(share));
        int64_t marked =
            store_mark_lost(self->store, self->id, ctl_share_agent_id(share),
                            ctl_share_first(share), ctl_share_count(share), reason);
        if (marked < 0) {
            zsys_error("run: cannot mark lost requests run_id=%" PRId64 " agent_id=%s",
                       self->id, ctl_share_agent_id(share));
            refused = true;
        } else if (marked > 0) {
            zsys_warning("run: requests lost run_id=%" PRId64
                         " agent_id=%s count=%" PRId64 " reason=\"%s\"",
                         self->id, ctl_share_agent_id(share), marked, reason);
            if (total == 0 && first)
                snprintf(first, first_size, "%s", reason);
            total += marked;
        }
    }
    return refused ? -1 : total;
}

//  Ends the run as failed (or, `interrupted`, as interrupted) with reason:
//  the agents are told to stop and every missing index is marked lost.
static void
s_end_failed(ctl_run_t *self, const char *reason, bool interrupted, int64_t now_ns)
{
    if (self->state == S_COMPLETED || self->state == S_FAILED)
        return;
    self->state = S_FAILED;
    snprintf(self->error, sizeof self->error, "%s", reason);
    s_send_cancel(self, reason);
    s_mark_lost(self, reason, NULL, 0);
    int rc = interrupted
                 ? store_run_interrupted(self->store, self->id, now_ns, self->error)
                 : store_run_set_status(self->store, self->id, "failed", 0, now_ns,
                                        self->error);
    if (rc)
        zsys_error("run: cannot record the failure run_id=%" PRId64, self->id);
    zsys_warning("run %s run_id=%" PRId64 " reason=\"%s\"",
                 interrupted ? "interrupted" : "failed", self->id, self->error);
}

static void
s_fail(ctl_run_t *self, const char *reason, int64_t now_ns)
{
    s_end_failed(self, reason, false, now_ns);
}

//  The store refused the run's end: try again later, backing off, and give
//  up (the run failed, its end unrecorded) after CTL_RUN_STORE_GIVE_UP_NS.
static void
s_end_refused(ctl_run_t *self, int64_t now_ns)
{
    if (!self->ending) {
        self->ending = true;
        self->end_backoff_ns = CTL_RUN_STORE_RETRY_NS;
        self->end_give_up_ns = now_ns + CTL_RUN_STORE_GIVE_UP_NS;
        zsys_error(
            "run: the results database refused the run's end, retrying run_id=%" PRId64,
            self->id);
    }
    if (now_ns >= self->end_give_up_ns) {
        self->state = S_FAILED;
        snprintf(self->error, sizeof self->error,
                 "the results database refused writes for %" PRId64
                 " s: the run's end is not recorded",
                 CTL_RUN_STORE_GIVE_UP_NS / SP_NS_PER_S);
        s_send_cancel(self, self->error);
        zsys_error("run failed run_id=%" PRId64 " reason=\"%s\"", self->id, self->error);
        return;
    }
    self->end_retry_ns = now_ns + self->end_backoff_ns;
    if (self->end_backoff_ns < CTL_RUN_STORE_RETRY_MAX_NS)
        self->end_backoff_ns *= 2;
}

//  The first share whose start is not certified, named into reason ("" when
//  every start is, or the share released nothing: all its requests had
//  ended before the instant). The store counts the shares itself.
static void
s_mis_start_reason(ctl_run_t *self, char *reason, size_t size)
{
    reason[0] = '\0';
    size_t mis = 0;
    char first[512] = "";
    for (size_t i = 0; i < self->n_shares; i++) {
        ctl_share_t *share = self->shares[i];
        char why[512];
        if (ctl_share_released(share) &&
            ctl_share_mis_started(share, ctl_share_instant_ns(share, self->start_ns),
                                  self->timing.start_tolerance_ns, why, sizeof why) &&
            mis++ == 0)
            snprintf(first, sizeof first, "%s", why);
    }
    if (mis == 1)
        snprintf(reason, size, "%s", first);
    else if (mis > 1)
        snprintf(reason, size, "%zu agents outside the instant (%s)", mis, first);
}

static void
s_finish(ctl_run_t *self, int64_t now_ns)
{
    char first[PROTO_MAX_ERROR + 128] = "";
    int64_t lost = s_mark_lost(self, NULL, first, sizeof first);
    //  Losses end the run completed_with_losses (the store says so): name
    //  how many and why. A store that refuses gets more tries: the run is
    //  never "completed" without its rows.
    char reason[sizeof first + 64] = "";
    if (lost > 0)
        snprintf(reason, sizeof reason, "%" PRId64 " of %u requests lost (%s)", lost,
                 self->requested, first);
    else
        s_mis_start_reason(self, reason, sizeof reason);
    if (lost < 0 || store_run_set_status(self->store, self->id, "completed", 0, now_ns,
                                         reason[0] ? reason : NULL)) {
        s_end_refused(self, now_ns);
        return;
    }
    self->ending = false;
    self->state = S_COMPLETED;
    store_summary_t summary;
    if (store_summary(self->store, self->id, &summary) == 0)
        zsys_notice("run finished run_id=%" PRId64
                    " outcome=%s ok=%u throttled=%u errors=%u lost=%u",
                    self->id, summary.outcome, summary.ok, summary.throttled,
                    summary.errors, summary.lost);
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

//  Names into reason the first agent of the run whose clock is not ready
//  for an agreed instant (ctl_clock_ready). Returns false when every clock
//  is.
static bool
s_clock_unready(ctl_run_t *self, int64_t now_ns, char *reason, size_t size)
{
    const ctl_run_timing_t *t = &self->timing;
    for (size_t i = 0; i < self->n_shares; i++) {
        const char *id = ctl_share_agent_id(self->shares[i]);
        ctl_agent_t *agent = ctl_registry_lookup(self->registry, id);
        if (agent && ctl_clock_ready(agent->clock, now_ns, t->clock_min_samples,
                                     t->clock_max_age_ns))
            continue;
        size_t fresh =
            agent ? ctl_clock_fresh(agent->clock, now_ns, t->clock_max_age_ns) : 0;
        if (fresh < t->clock_min_samples)
            snprintf(reason, size,
                     "agent %s has %zu clock samples from the last %" PRId64
                     " ms, %zu needed",
                     id, fresh, t->clock_max_age_ns / SP_NS_PER_MS, t->clock_min_samples);
        else
            //  Until the drift is known the bound would rest on an assumed
            //  drift: a clock running fast beyond it would start early unseen.
            snprintf(reason, size,
                     "agent %s's clock drift is not known yet: its samples span %" PRId64
                     " ms, %" PRId64 " needed",
                     id, ctl_clock_span_ns(agent->clock) / SP_NS_PER_MS,
                     CTL_CLOCK_DRIFT_SPAN_NS / SP_NS_PER_MS);
        return true;
    }
    return false;
}

static bool
s_all_ready(ctl_run_t *self)
{
    for (size_t i = 0; i < self->n_shares; i++)
        if (!ctl_share_ready(self->shares[i]))
            return false;
    return true;
}

static void s_go(ctl_run_t *self, int64_t now_ns);

//  Goes once every share is Ready and every agent's clock is known; until
//  then the run stays preparing (the prepare deadline bounds the wait).
static void
s_try_go(ctl_run_t *self, int64_t now_ns)
{
    if (!s_all_ready(self))
        return;
    char reason[256];
    if (s_clock_unready(self, now_ns, reason, sizeof reason)) {
        if (!self->clock_wait_logged)
            zsys_info("run waits for clocks run_id=%" PRId64 " reason=\"%s\"", self->id,
                      reason);
        self->clock_wait_logged = true;
        return;
    }
    s_go(self, now_ns);
}

//  --compensate-path: each share's one-way path is half the shortest
//  handshake its agent measured; the farthest agent releases at the
//  instant, each nearer one later by the difference, so their final bytes
//  meet at the target. An agent that measured nothing is not shifted.
static void
s_compensate(ctl_run_t *self)
{
    int64_t farthest = 0;
    for (size_t i = 0; i < self->n_shares; i++) {
        int64_t one_way = ctl_share_path_rtt_ns(self->shares[i]) / 2;
        farthest = one_way > farthest ? one_way : farthest;
    }
    for (size_t i = 0; i < self->n_shares; i++) {
        int64_t rtt = ctl_share_path_rtt_ns(self->shares[i]);
        ctl_share_set_shift(self->shares[i],
                            self->compensate_path && rtt > 0 ? farthest - rtt / 2 : 0);
    }
}

//  Records the start: the run running at its instant, and each share's
//  clock and path (after Go went out: a slow disk must not eat the lead).
static void
s_record_start(ctl_run_t *self, int64_t lead)
{
    if (store_run_set_status(self->store, self->id, "running", self->start_ns, 0, NULL))
        zsys_error("run: cannot record the start run_id=%" PRId64, self->id);
    zsys_notice("run started run_id=%" PRId64 " requested=%u agents=%zu lead_ms=%" PRId64,
                self->id, self->requested, self->n_shares, lead / SP_NS_PER_MS);
    for (size_t i = 0; i < self->n_shares; i++) {
        ctl_share_t *share = self->shares[i];
        const char *id = ctl_share_agent_id(share);
        ctl_agent_t *agent = ctl_registry_lookup(self->registry, id);
        if (agent) {
            if (store_share_add(self->store, self->id, id, ctl_share_first(share),
                                ctl_share_count(share), ctl_share_offset_ns(share),
                                ctl_share_bound_ns(share)))
                zsys_error("run: cannot record the clock of agent_id=%s run_id=%" PRId64,
                           id, self->id);
            zsys_info("run clock run_id=%" PRId64 " agent_id=%s offset_us=%.1f "
                      "bound_us=%.1f drift_ppm=%.1f%s",
                      self->id, id, (double)ctl_share_offset_ns(share) / 1e3,
                      (double)ctl_share_bound_ns(share) / 1e3,
                      ctl_clock_drift_ppm(agent->clock),
                      ctl_clock_drift_known(agent->clock) ? "" : " (drift unknown)");
        }
        int64_t rtt = ctl_share_path_rtt_ns(share);
        if (store_share_path(self->store, self->id, id, rtt > 0 ? rtt : -1,
                             ctl_share_shift_ns(share)))
            zsys_error("run: cannot record the path of agent_id=%s run_id=%" PRId64, id,
                       self->id);
        if (self->compensate_path)
            zsys_info("run path run_id=%" PRId64 " agent_id=%s path_rtt_us=%.1f "
                      "shift_us=%.1f",
                      self->id, id, (double)rtt / 1e3,
                      (double)ctl_share_shift_ns(share) / 1e3);
    }
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
    //  The offset at the instant itself, drift applied, and its bound: Go is
    //  converted with it, results back with it, and it is stored.
    for (size_t i = 0; i < self->n_shares; i++) {
        ctl_share_t *share = self->shares[i];
        ctl_agent_t *agent =
            ctl_registry_lookup(self->registry, ctl_share_agent_id(share));
        if (agent)
            ctl_share_set_clock(share, ctl_clock_offset_at(agent->clock, self->start_ns),
                                ctl_clock_bound_at(agent->clock, self->start_ns));
    }
    s_compensate(self);
    for (size_t i = 0; i < self->n_shares; i++) {
        ctl_share_t *share = self->shares[i];
        Stampede__Go go = STAMPEDE__GO__INIT;
        go.run_id = (uint64_t)self->id;
        go.start_at_ns = ctl_share_instant_ns(share, self->start_ns);
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
    s_record_start(self, lead);
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
    uint32_t *firsts = NULL, *counts = NULL, *capacities = NULL;
    Stampede__Header *headers = NULL;
    Stampede__Header **header_ptrs = NULL;
    char(*names)[PROTO_MAX_HEADER_NAME + 1] = NULL;
    *status = 400;
    if (ctl_runspec_check(spec, err, err_size))
        goto fail;
    size_t n_agents = ctl_registry_size(registry);
    if (n_agents == 0) {
        *status = 503;
        sp_err_set(err, err_size, "no agents connected");
        goto fail;
    }
    *status = 500;
    agents = calloc(n_agents, sizeof *agents);
    firsts = calloc(n_agents, sizeof *firsts);
    counts = calloc(n_agents, sizeof *counts);
    capacities = calloc(n_agents, sizeof *capacities);
    headers = calloc(PROTO_MAX_HEADERS, sizeof *headers);
    header_ptrs = calloc(PROTO_MAX_HEADERS, sizeof *header_ptrs);
    names = calloc(PROTO_MAX_HEADERS, sizeof *names);
    self = calloc(1, sizeof *self);
    if (!agents || !firsts || !counts || !capacities || !headers || !header_ptrs ||
        !names || !self)
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
    self->compensate_path = spec->compensate_path;
    self->timeout_ms =
        spec->timeout_ms ? spec->timeout_ms : CTL_RUNSPEC_DEFAULT_TIMEOUT_MS;
    self->state = S_PREPARING;

    n_agents = ctl_registry_list(registry, agents, n_agents);
    //  Equal shares as far as each agent can hold them; a run the agents
    //  cannot hold together is refused before anything is sent.
    uint64_t total = 0;
    for (size_t i = 0; i < n_agents; i++) {
        capacities[i] = agents[i]->capacity;
        total += capacities[i];
    }
    if (ctl_share_split_fit(spec->requests, n_agents, capacities, firsts, counts)) {
        *status = 400;
        size_t used = (size_t)snprintf(
            err, err_size, "the agents take at most %" PRIu64 " requests together (",
            total);
        for (size_t i = 0; i < n_agents && i < 8 && used < err_size; i++)
            used += (size_t)snprintf(err + used, err_size - used, "%s%s %u",
                                     i ? ", " : "", agents[i]->id, agents[i]->capacity);
        if (used < err_size)
            snprintf(err + used, err_size - used, "%s), the run asks for %u",
                     n_agents > 8 ? ", …" : "", spec->requests);
        goto fail;
    }
    for (size_t i = 0; i < n_agents; i++) {
        if (counts[i] == 0)
            continue;
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
                       .start_mode = proto_start_mode_name(start_mode),
                       .door = proto_door_name(target.door),
                       .reserved_known = spec->reserved_known,
                       .reserved_configured = spec->reserved_configured};
    self->id = store_run_create(store, &row);
    if (self->id < 1) {
        sp_err_set(err, err_size, "cannot create the run in the results database");
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
            sp_err_set(err, err_size, "cannot record the shares in the results database");
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
    zsys_info("run prepared run_id=%" PRId64
              " requested=%u agents=%zu start_mode=%s door=%s",
              self->id, self->requested, self->n_shares,
              proto_start_mode_name(start_mode), proto_door_name(target.door));
    *status = 200;
    goto out;
oom:
    sp_err_set(err, err_size, "out of memory");
fail:
    ctl_run_destroy(&self);
out:
    free(agents);
    free(firsts);
    free(counts);
    free(capacities);
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
    zsys_info("run: share ready run_id=%" PRId64 " agent_id=%s prepared=%u armed=%u "
              "arm_ms=%.1f",
              self->id, agent_id, ready->prepared, ready->armed,
              (double)ready->arm_ns / 1e6);
    ctl_share_set_path(share, ready->path_rtt_ns);
    ctl_share_set_ready(share);
    s_try_go(self, now_ns);
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
            .door = proto_door_name(r->door),
            .throttle_source = proto_throttle_source_name(r->throttle_source),
            .throttle_reason = s_text(r->throttle_reason),
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

//  Records a share's release (Released, or Done's copy) and judges it.
static void
s_released(ctl_run_t *self, ctl_share_t *share, const Stampede__Released *released)
{
    int rc =
        ctl_share_set_released(share, released->released_ns, released->release_end_ns,
                               released->armed, released->late);
    if (rc <= 0) {
        if (rc < 0)
            zsys_warning("run: released dropped run_id=%" PRId64 " agent_id=%s reason="
                         "\"%u armed + %u late does not fit a share of %u\"",
                         self->id, ctl_share_agent_id(share), released->armed,
                         released->late, ctl_share_count(share));
        return;
    }
    int64_t start_at = ctl_share_instant_ns(share, self->start_ns);
    char why[512];
    bool mis = ctl_share_mis_started(share, start_at, self->timing.start_tolerance_ns,
                                     why, sizeof why);
    store_release_t row = {
        .released_ns = released->released_ns - ctl_share_offset_ns(share),
        .start_error_ns = ctl_share_start_error_ns(share, start_at),
        .release_span_ns = ctl_share_release_span_ns(share),
        .armed = released->armed,
        .late = released->late,
        .mis_start = mis ? why : NULL,
    };
    if (store_share_released(self->store, self->id, ctl_share_agent_id(share), &row))
        zsys_error("run: cannot record the release run_id=%" PRId64 " agent_id=%s",
                   self->id, ctl_share_agent_id(share));
    if (mis)
        zsys_warning("run mis-started run_id=%" PRId64 " reason=\"%s\"", self->id, why);
    else
        zsys_info("run released run_id=%" PRId64 " agent_id=%s start_error_us=%.1f "
                  "bound_us=%.1f armed=%u",
                  self->id, ctl_share_agent_id(share), (double)row.start_error_ns / 1e3,
                  (double)ctl_share_bound_ns(share) / 1e3, row.armed);
}

void
ctl_run_on_released(ctl_run_t *self, const char *agent_id,
                    const Stampede__Released *released, int64_t now_ns)
{
    assert(self && agent_id && released);
    ctl_share_t *share = s_share_of(self, agent_id);
    if (!share || self->state != S_RUNNING) {
        zsys_info("run: released ignored run_id=%" PRId64 " agent_id=%s state=%s",
                  self->id, agent_id, ctl_run_state(self));
        return;
    }
    s_released(self, share, released);
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
    if (done->released)
        s_released(self, share, done->released);
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
    if (self->state == S_PREPARING)
        s_try_go(self, now_ns);
    if (self->state == S_PREPARING && now_ns >= self->prepare_deadline_ns) {
        char reason[PROTO_MAX_ERROR];
        char clock[256];
        if (s_all_ready(self) && s_clock_unready(self, now_ns, clock, sizeof clock)) {
            snprintf(reason, sizeof reason, "no clock estimate within %" PRId64 " ms: %s",
                     self->timing.ready_timeout_ns / SP_NS_PER_MS, clock);
            s_fail(self, reason, now_ns);
            return;
        }
        size_t used =
            (size_t)snprintf(reason, sizeof reason, "no Ready within %" PRId64 " ms from",
                             self->timing.ready_timeout_ns / SP_NS_PER_MS);
        for (size_t i = 0; i < self->n_shares && used < sizeof reason - 80; i++)
            if (!ctl_share_ready(self->shares[i]))
                used += (size_t)snprintf(reason + used, sizeof reason - used, " %s",
                                         ctl_share_agent_id(self->shares[i]));
        s_fail(self, reason, now_ns);
    } else if (self->state == S_RUNNING && self->ending) {
        if (now_ns >= self->end_retry_ns)
            s_finish(self, now_ns);
    } else if (self->state == S_RUNNING && now_ns >= self->deadline_ns)
        s_finish(self, now_ns);
}

void
ctl_run_interrupt(ctl_run_t *self, const char *reason, int64_t now_ns)
{
    assert(self && reason);
    s_end_failed(self, reason, true, now_ns);
}
