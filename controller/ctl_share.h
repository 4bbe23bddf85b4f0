/*  ctl_share — one agent's part of a run: the contiguous index range
    [first_index, first_index + count) it fires, its clock estimate at
    Prepare, and the delivery bookkeeping that says when every one of its
    results is stored (Ready received, batches 1..batches stored, Done
    received).

    Also home of ctl_share_split, the rule that divides N requests over K
    agents: contiguous ranges in agent order, equal sizes, the remainder
    spread one each over the first agents (100 over 4 → 25/25/25/25; 10
    over 3 → 4/3/3) — as long as every agent can hold its part. An agent
    whose capacity is below its equal part gets its capacity, and what it
    cannot hold is shared equally by the others, by the same rule (water
    filling: 100 over capacities 10, 100, 100 → 10/45/45), so the shares
    stay as equal as the agents allow.

    Batch numbers come from agents: ctl_share_batch_stored refuses a seq
    outside 1..count (every batch carries at least one result) rather than
    trusting it to size anything.

    Thread model: owned and used by one thread (the controller's loop).
*/
#ifndef CTL_SHARE_H
#define CTL_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _ctl_share_t ctl_share_t;

//  Splits n requests over `agents` slots: fills first[i] and count[i] for
//  i < agents (count may be 0 when n < agents). agents >= 1.
void ctl_share_split(uint32_t n, size_t agents, uint32_t *first, uint32_t *count);

//  The same split with agent i holding at most capacity[i]. Returns 0, or
//  -1 when the capacities together are below n (first/count then hold
//  what would fit).
int ctl_share_split_fit(uint32_t n, size_t agents, const uint32_t *capacity,
                        uint32_t *first, uint32_t *count);

//  A share of agent_id (copied) with its range and clock estimate, or NULL
//  when count is 0 or allocation fails.
ctl_share_t *ctl_share_new(const char *agent_id, uint32_t first_index, uint32_t count,
                           int64_t clock_offset_ns, int64_t clock_rtt_ns);

//  Frees; safe on NULL and twice; nulls *self_p.
void ctl_share_destroy(ctl_share_t **self_p);

const char *ctl_share_agent_id(ctl_share_t *self);
uint32_t ctl_share_first(ctl_share_t *self);
uint32_t ctl_share_count(ctl_share_t *self);
int64_t ctl_share_offset_ns(ctl_share_t *self);
//  The clock offset of the agent at the run's instant, and its bound, as Go
//  was converted with; results are converted back with the same offset.
void ctl_share_set_clock(ctl_share_t *self, int64_t offset_ns, int64_t bound_ns);
int64_t ctl_share_bound_ns(ctl_share_t *self);
int64_t ctl_share_rtt_ns(ctl_share_t *self);

//  The shortest TCP handshake the agent measured while arming (Ready), 0
//  when unknown; and the shift of its instant that --compensate-path gave it
//  (>= 0: nearer paths go later).
void ctl_share_set_path(ctl_share_t *self, int64_t path_rtt_ns);
int64_t ctl_share_path_rtt_ns(ctl_share_t *self);
void ctl_share_set_shift(ctl_share_t *self, int64_t shift_ns);
int64_t ctl_share_shift_ns(ctl_share_t *self);

//  The share's instant on the agent's clock: the run's instant (controller
//  clock) shifted and converted with the share's offset.
int64_t ctl_share_instant_ns(ctl_share_t *self, int64_t start_ns);

//  True when index belongs to the share.
bool ctl_share_contains(ctl_share_t *self, uint32_t index);

//  Readiness: set once the agent answered Ready without error.
void ctl_share_set_ready(ctl_share_t *self);
bool ctl_share_ready(ctl_share_t *self);

//  Notes that batch seq is stored. Returns 1 when new, 0 when it was
//  already stored (a resend), -1 when seq is outside 1..count.
int ctl_share_batch_stored(ctl_share_t *self, uint32_t seq);

//  True when batch seq is already stored.
bool ctl_share_batch_seen(ctl_share_t *self, uint32_t seq);

//  Records Done{results, batches}. Returns 0, or -1 when the numbers cannot
//  be true (results or batches above count, batches 0 with results).
int ctl_share_set_done(ctl_share_t *self, uint32_t results, uint32_t batches);

//  Results the agent said it sent in Done (0 before Done).
uint32_t ctl_share_done_results(ctl_share_t *self);

//  True once Done arrived and batches 1..batches are all stored.
bool ctl_share_complete(ctl_share_t *self);

//  Abandons the share (its agent expired): it counts as settled, and
//  reason (copied) is what its missing results are marked lost with.
void ctl_share_abandon(ctl_share_t *self, const char *reason);

//  The abandon reason, or NULL while the share is live.
const char *ctl_share_abandoned(ctl_share_t *self);

//  The agent's report of when it released the share (protocol Released, or
//  Done's copy), on the agent's clock: the pass began at released_ns and
//  ended at end_ns; armed requests held only their last byte then, late
//  ones were still connecting or writing. Returns 1 when recorded, 0 when
//  one was recorded already (a repeat: kept as it was), -1 when it cannot
//  be true (end before start, armed + late above count).
int ctl_share_set_released(ctl_share_t *self, int64_t released_ns, int64_t end_ns,
                           uint32_t armed, uint32_t late);
//  True once a release report is recorded.
bool ctl_share_released(ctl_share_t *self);
int64_t ctl_share_released_ns(ctl_share_t *self);     //  agent's clock
int64_t ctl_share_release_span_ns(ctl_share_t *self); //  end - start
uint32_t ctl_share_armed(ctl_share_t *self);
uint32_t ctl_share_late(ctl_share_t *self);
//  The start error: release minus start_at_ns, the instant Go named on the
//  agent's clock. Measured on one clock, so exact for the agent; its true
//  error against the controller's instant is this ± the clock bound.
int64_t ctl_share_start_error_ns(ctl_share_t *self, int64_t start_at_ns);
//  The start rule. A recorded release is certified when |start error| <=
//  bound + tolerance_ns (the bound covers the clock estimate, the
//  tolerance the agent's own release jitter) and no request went late.
//  Returns false when certified, else true with why in reason. Call only
//  once released.
bool ctl_share_mis_started(ctl_share_t *self, int64_t start_at_ns, int64_t tolerance_ns,
                           char *reason, size_t size);

void ctl_share_test(bool verbose);

#endif
