/*  ctl_run — one run's state machine: from the run row in the store,
    through Prepare/Ready and Go, to every result stored (or marked lost)
    and the run completed, or failed.

        preparing --all Ready--> running --all shares settled--> completed
            |                      |  (deadline: start + timeout + grace)
            +--Ready error, ready  +--agent expired: its share is settled
               timeout, agent         as lost, the others carry on
               expired--> failed (Cancel sent to every agent of the run)

    A share is settled when its Done arrived and batches 1..batches are
    stored, or when its agent went away. On completion every index without
    a row is marked lost with the reason (agent disconnected, deadline
    passed, not reported), so requested = recorded + lost always holds.

    Results arrive in agent clock; instants the agent measured (scheduled,
    sent, first byte, done) are converted to controller clock with the
    offset estimated at Prepare — the same one Go was converted with and
    that is stored with the share. Instants from the target
    (received_ns, function_*) are stored as they are.

    Every batch a run accepts is stored in one transaction and then
    acknowledged; a batch already stored is acknowledged again without
    touching the store. A completed run still accepts late batches (a late
    real result replaces its lost row), so an agent that reconnects after
    the end can hand its results over.

    Thread model: owned and used by the controller's loop thread, which
    also owns the store_t and the registry it borrows.
*/
#ifndef CTL_RUN_H
#define CTL_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_registry.h"
#include "ctl_runspec.h"
#include "proto_codec.h"
#include "store_api.h"

typedef struct _ctl_run_t ctl_run_t;

//  The run's clocks; ctl_run_timing_defaults gives the values of the design:
//  10 s for every Ready (and for every agent's clock to be known), a 15 s
//  grace after start + timeout, a start at least 250 ms (and 4 × the
//  largest rtt) after Go is sent, and no Go before every agent of the run
//  has at least 3 clock samples of at most 10 s ago. A share whose agent
//  released it more than its clock bound + start_tolerance_ns (20 ms) from
//  the instant, or with a request not armed then, makes the run
//  mis_started (ctl_share_mis_started).
typedef struct {
    int64_t ready_timeout_ns;
    int64_t deadline_grace_ns;
    int64_t min_lead_ns;
    size_t clock_min_samples;
    int64_t clock_max_age_ns;
    int64_t start_tolerance_ns;
} ctl_run_timing_t;

void ctl_run_timing_defaults(ctl_run_timing_t *timing);

//  A run whose end the results database refuses (disk full, read-only,
//  busy) retries storing it, first after CTL_RUN_STORE_RETRY_NS, doubling
//  up to CTL_RUN_STORE_RETRY_MAX_NS, while the agents keep their unacked
//  results and resend them; after CTL_RUN_STORE_GIVE_UP_NS it fails. It is
//  never "completed" without its rows.
#define CTL_RUN_STORE_RETRY_NS (INT64_C(100) * 1000000)
#define CTL_RUN_STORE_RETRY_MAX_NS (INT64_C(5) * 1000000000)
#define CTL_RUN_STORE_GIVE_UP_NS (INT64_C(60) * 1000000000)

//  Checks spec (ctl_runspec_check), then starts a run of it over every agent in registry
//  (sorted by id; agents whose share would be empty are left out): creates the run row
//  and the shares in store, sends Prepare. spec's strings are borrowed for the call only.
//  now_ns is the controller's wall clock. Returns the run, or NULL with err and *status
//  set to 400 (bad spec, a share above an agent's capacity), 503 (no agents) or 500
//  (store or send failure). timing may be NULL for the defaults. store and registry are
//  borrowed for the run's life.
ctl_run_t *ctl_run_new(const ctl_runspec_t *spec, const ctl_run_timing_t *timing,
                       store_t *store, ctl_registry_t *registry, int64_t now_ns,
                       char *err, size_t err_size, int *status);

//  Frees; safe on NULL and twice; nulls *self_p. Does not touch the store:
//  cancel first to end a live run.
void ctl_run_destroy(ctl_run_t **self_p);

int64_t ctl_run_id(ctl_run_t *self);

//  "preparing", "running", "completed" or "failed".
const char *ctl_run_state(ctl_run_t *self);

//  True once completed or failed.
bool ctl_run_finished(ctl_run_t *self);

//  Why the run failed ("" otherwise).
const char *ctl_run_error(ctl_run_t *self);

//  Number of agents taking part.
size_t ctl_run_agents(ctl_run_t *self);

//  The controller instant the agents fire at (0 before Go).
int64_t ctl_run_start_ns(ctl_run_t *self);

//  Messages of this run from agent_id (validated by proto_decode), handled
//  at controller wall clock now_ns. Messages that do not fit the run's
//  state or the agent's share are logged and dropped.
void ctl_run_on_ready(ctl_run_t *self, const char *agent_id, const Stampede__Ready *ready,
                      int64_t now_ns);
void ctl_run_on_batch(ctl_run_t *self, const char *agent_id,
                      const Stampede__ResultBatch *batch, int64_t now_ns);
void ctl_run_on_released(ctl_run_t *self, const char *agent_id,
                         const Stampede__Released *released, int64_t now_ns);
void ctl_run_on_done(ctl_run_t *self, const char *agent_id, const Stampede__Done *done,
                     int64_t now_ns);

//  Stores a batch (validated by proto_decode) of agent_id's share
//  [first_index, first_index + count) of run_id, as every batch is stored,
//  by the live run and by the server for a run it does not drive: seq must
//  lie in 1..count and every index in the share, or nothing is stored;
//  instants the agent measured are converted to controller clock with
//  offset_ns (agent minus controller, the share's estimate), the target's
//  are kept. rows is scratch for PROTO_MAX_BATCH results. Returns 0 when
//  stored (idempotent, see store_results_insert), 1 when refused, -1 when
//  the store failed (rolled back); why says what happened on 1 and -1.
int ctl_run_store_batch(store_t *store, int64_t run_id, const char *agent_id,
                        uint32_t first_index, uint32_t count, int64_t offset_ns,
                        const Stampede__ResultBatch *batch, store_result_t *rows,
                        char *why, size_t why_size);

//  agent_id was expired by the registry.
void ctl_run_on_agent_expired(ctl_run_t *self, const char *agent_id, int64_t now_ns);

//  Advances timers: the Ready timeout and the run deadline.
void ctl_run_tick(ctl_run_t *self, int64_t now_ns);

//  Ends a live run as interrupted (status failed, outcome interrupted) with
//  reason: sends Cancel and marks every index without a row lost. No-op
//  once finished.
void ctl_run_interrupt(ctl_run_t *self, const char *reason, int64_t now_ns);

void ctl_run_test(bool verbose);

#endif
