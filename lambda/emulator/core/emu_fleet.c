/*  emu_fleet — one function's execution environments; see emu_fleet.h.

    Invariants: a record is in its group's pool from the moment its slot
    is taken until it is stopped or gone, then in `dead` until a deferred
    call destroys its environment; a stopped record is never reused; a
    record serves at most one invocation and `serving` says whether it is
    counted (and reported through the busy event).
*/
#include "emu_fleet.h"
#include "emu_env.h"
#include "emu_pool.h"
#include "sp_clock.h"
#include "sp_oom.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _emu_fleet_group_t {
    emu_fleet_t *fleet;
    void *owner;      //  provisioned and current; NULL otherwise
    bool provisioned; //  its records are provisioned environments
    emu_pool_t *pool; //  items: s_rec_t
    size_t buried;    //  its records awaiting burial (they point here)
};

//  One execution environment and what we know of it.
typedef struct {
    emu_fleet_group_t *group;
    emu_snap_t *snap; //  a reference: what it started with
    size_t slot;
    emu_env_t *env;            //  NULL while queued to start
    emu_invocation_t *pending; //  to assign once started
    bool serving;              //  counted as in flight
    bool ready;                //  reached its first /next
    bool recycle;              //  stop it when it next goes idle
    bool stopped;              //  out of the pool, awaiting burial
    int64_t idle_since_ns;     //  CLOCK_MONOTONIC
} s_rec_t;

struct _emu_fleet_t {
    emu_loop_t *loop;                 //  borrowed
    const char *name;                 //  borrowed: the function's
    const char *path;                 //  borrowed: its executable
    const emu_fleet_events_t *events; //  borrowed
    void *arg;                        //  for the events
    bool verbose;
    bool destroying;
    int64_t idle_ttl_ns;
    emu_fleet_group_t **groups; //  every group, detached ones until empty
    size_t group_count;
    s_rec_t **starts; //  FIFO of records to start
    size_t start_head;
    size_t start_count;
    size_t start_cap;
    emu_timer_t *start_timer;
    s_rec_t **dead; //  records whose environment awaits destroy
    size_t dead_count;
    size_t dead_cap;
    bool burial_queued;
    emu_timer_t *sweep_timer; //  idle reclaim
    int busy[2];              //  serving records: [0] on-demand, [1] provisioned
    unsigned serial;          //  environments started so far
    uint64_t spawns;
    uint64_t spawn_failures;
};

static void s_sweep_arm(emu_fleet_t *self);
static int s_queue_start(emu_fleet_t *self, s_rec_t *rec);

//  --- groups and records -------------------------------------------------

emu_fleet_group_t *
emu_fleet_group_new(emu_fleet_t *self, void *owner)
{
    assert(self);
    emu_fleet_group_t **grown =
        realloc(self->groups, (self->group_count + 1) * sizeof *self->groups);
    if (!grown)
        return NULL;
    self->groups = grown;
    emu_fleet_group_t *group = calloc(1, sizeof *group);
    if (!group)
        return NULL;
    group->fleet = self;
    group->owner = owner;
    group->provisioned = owner != NULL;
    group->pool = emu_pool_new(EMU_POOL_CAP_MAX);
    if (!group->pool) {
        free(group);
        return NULL;
    }
    self->groups[self->group_count++] = group;
    return group;
}

static void
s_group_free(emu_fleet_t *self, emu_fleet_group_t *group)
{
    for (size_t i = 0; i < self->group_count; i++)
        if (self->groups[i] == group) {
            self->groups[i] = self->groups[--self->group_count];
            break;
        }
    emu_pool_destroy(&group->pool);
    free(group);
}

//  Frees a detached provisioned group once its last environment is gone.
static void
s_group_collect(emu_fleet_t *self, emu_fleet_group_t *group)
{
    if (group->provisioned && !group->owner && emu_pool_size(group->pool) == 0 &&
        group->buried == 0)
        s_group_free(self, group);
}

static s_rec_t *
s_rec_at(emu_fleet_group_t *group, size_t slot)
{
    return emu_pool_item(group->pool, slot);
}

//  Counts the record as serving an invocation, or stops counting it.
static void
s_serving(emu_fleet_t *self, s_rec_t *rec, bool serving)
{
    if (rec->serving == serving)
        return;
    rec->serving = serving;
    int delta = serving ? 1 : -1;
    self->busy[rec->group->provisioned] += delta;
    assert(self->busy[0] >= 0 && self->busy[1] >= 0);
    self->events->busy(self->arg, rec->group->provisioned, delta);
}

static void
s_bury(emu_loop_t *loop, void *arg)
{
    emu_fleet_t *self = arg;
    self->burial_queued = false;
    //  Destroying may hand invocations back, whose owners may stop more.
    while (self->dead_count > 0) {
        s_rec_t *rec = self->dead[--self->dead_count];
        emu_fleet_group_t *group = rec->group;
        group->buried--;
        emu_env_destroy(&rec->env);
        emu_snap_unref(&rec->snap);
        free(rec);
        s_group_collect(self, group);
    }
}

//  Moves a record out of its pool into the dead list.
static void
s_retire(emu_fleet_t *self, s_rec_t *rec)
{
    assert(!rec->stopped);
    emu_pool_remove(rec->group->pool, rec->slot);
    rec->stopped = true;
    rec->group->buried++;
    if (self->dead_count == self->dead_cap) {
        size_t cap = self->dead_cap ? self->dead_cap * 2 : 16;
        //  A few pointers: without them the environment cannot be reaped.
        self->dead = SP_OOM_CHECK(realloc(self->dead, cap * sizeof *self->dead),
                                  "environment burial list");
        self->dead_cap = cap;
    }
    self->dead[self->dead_count++] = rec;
    if (!self->burial_queued && !self->destroying) {
        if (emu_loop_defer(self->loop, s_bury, self))
            sp_oom("environment burial call");
        self->burial_queued = true;
    }
}

//  Stops an idle (or never started) environment: out of the pool now,
//  its process killed from a deferred call.
static void
s_stop(emu_fleet_t *self, s_rec_t *rec)
{
    assert(!rec->serving && !rec->pending);
    s_retire(self, rec);
}

void
emu_fleet_recycle(emu_fleet_group_t *group)
{
    assert(group);
    for (size_t slot = 0; slot < emu_pool_slots(group->pool); slot++) {
        s_rec_t *rec = s_rec_at(group, slot);
        if (!rec)
            continue;
        rec->recycle = true;
        if (emu_pool_is_idle(group->pool, slot))
            s_stop(group->fleet, rec);
    }
}

void
emu_fleet_group_detach(emu_fleet_group_t *group)
{
    assert(group && group->provisioned);
    group->owner = NULL;
    emu_fleet_recycle(group);
    s_group_collect(group->fleet, group);
}

//  A record for a new slot of `group`, queued to start with `snap`.
static s_rec_t *
s_rec_open(emu_fleet_group_t *group, emu_snap_t *snap, size_t slot)
{
    s_rec_t *rec = calloc(1, sizeof *rec);
    if (!rec) {
        emu_pool_remove(group->pool, slot);
        return NULL;
    }
    *rec = (s_rec_t){.group = group, .snap = emu_snap_ref(snap), .slot = slot};
    emu_pool_set_item(group->pool, slot, rec);
    if (s_queue_start(group->fleet, rec)) {
        emu_pool_remove(group->pool, slot);
        emu_snap_unref(&rec->snap);
        free(rec);
        return NULL;
    }
    return rec;
}

int
emu_fleet_live(emu_fleet_group_t *group, int *ready_p)
{
    assert(group);
    int live = 0, ready = 0;
    for (size_t slot = 0; slot < emu_pool_slots(group->pool); slot++) {
        s_rec_t *rec = s_rec_at(group, slot);
        if (rec && !rec->recycle) {
            live++;
            ready += rec->ready;
        }
    }
    if (ready_p)
        *ready_p = ready;
    return live;
}

int
emu_fleet_fill(emu_fleet_group_t *group, emu_snap_t *snap, int count)
{
    assert(group && snap);
    emu_fleet_t *self = group->fleet;
    int live = emu_fleet_live(group, NULL);
    for (size_t slot = 0; live > count && slot < emu_pool_slots(group->pool); slot++) {
        s_rec_t *rec = s_rec_at(group, slot);
        if (rec && !rec->recycle && emu_pool_is_idle(group->pool, slot)) {
            rec->recycle = true;
            s_stop(self, rec);
            live--;
        }
    }
    for (size_t slot = 0; live > count && slot < emu_pool_slots(group->pool); slot++) {
        s_rec_t *rec = s_rec_at(group, slot);
        if (rec && !rec->recycle) {
            rec->recycle = true;
            live--;
        }
    }
    for (; live < count; live++) {
        size_t slot = 0;
        if (emu_pool_open(group->pool, &slot) != EMU_POOL_SPAWN)
            return -1;
        if (!s_rec_open(group, snap, slot))
            return -1;
    }
    return 0;
}

emu_fleet_grant_t
emu_fleet_acquire(emu_fleet_group_t *group, emu_snap_t *snap,
                  emu_invocation_t *invocation)
{
    assert(group && snap && invocation);
    emu_fleet_t *self = group->fleet;
    size_t slot = 0;
    s_rec_t *rec = NULL;
    switch (emu_pool_acquire(group->pool, &slot)) {
    case EMU_POOL_REUSE:
        rec = s_rec_at(group, slot);
        s_serving(self, rec, true);
        emu_env_assign(rec->env, invocation);
        return EMU_FLEET_OK;
    case EMU_POOL_SPAWN:
        rec = s_rec_open(group, snap, slot);
        if (!rec)
            return EMU_FLEET_FAILED;
        rec->pending = invocation;
        s_serving(self, rec, true);
        return EMU_FLEET_OK;
    case EMU_POOL_THROTTLE:
        return EMU_FLEET_FULL;
    case EMU_POOL_FAILED:
        break;
    }
    return EMU_FLEET_FAILED;
}

size_t
emu_fleet_idle(emu_fleet_group_t *group)
{
    assert(group);
    return emu_pool_idle(group->pool);
}

void
emu_fleet_run_idle(emu_fleet_group_t *group, emu_invocation_t *invocation)
{
    assert(group && invocation);
    size_t slot = 0;
    bool taken = emu_pool_reuse(group->pool, &slot);
    assert(taken);
    s_rec_t *rec = s_rec_at(group, slot);
    s_serving(group->fleet, rec, true);
    emu_env_assign(rec->env, invocation);
}

//  --- environment events -------------------------------------------------

static void
s_env_idle(emu_env_t *env, void *arg)
{
    s_rec_t *rec = arg;
    emu_fleet_group_t *group = rec->group;
    emu_fleet_t *self = group->fleet;
    s_serving(self, rec, false);
    rec->ready = true;
    if (rec->recycle)
        s_stop(self, rec);
    else {
        emu_pool_release(group->pool, rec->slot);
        rec->idle_since_ns = sp_clock_mono_ns();
        if (!group->provisioned)
            s_sweep_arm(self);
    }
    self->events->freed(self->arg);
}

static void
s_env_gone(emu_env_t *env, void *arg)
{
    s_rec_t *rec = arg;
    emu_fleet_group_t *group = rec->group;
    emu_fleet_t *self = group->fleet;
    if (rec->stopped)
        return; //  already on its way out
    s_serving(self, rec, false);
    bool init_failed = !rec->ready;
    s_retire(self, rec);
    if (group->owner && !rec->recycle)
        self->events->lost(self->arg, group->owner, init_failed,
                           emu_snap_version(rec->snap));
    self->events->freed(self->arg);
}

static const emu_env_events_t s_env_events = {.idle = s_env_idle, .gone = s_env_gone};

//  --- starting environments ----------------------------------------------

static void
s_start_batch(emu_loop_t *loop, void *arg)
{
    emu_fleet_t *self = arg;
    self->start_timer = NULL;
    for (int n = 0; n < EMU_FLEET_SPAWN_BATCH && self->start_count > 0; n++) {
        s_rec_t *rec = self->starts[self->start_head];
        self->start_head = (self->start_head + 1) % self->start_cap;
        self->start_count--;
        emu_fleet_group_t *group = rec->group;
        if (rec->recycle && !rec->pending) {
            //  Not needed any more (a provisioned config moved or shrank).
            emu_pool_remove(group->pool, rec->slot);
            emu_snap_unref(&rec->snap);
            free(rec);
            s_group_collect(self, group);
            continue;
        }
        size_t env_count = 0;
        const char *const *env = emu_snap_env(rec->snap, group->provisioned, &env_count);
        emu_env_spec_t spec = {
            .function = self->name,
            .path = self->path,
            .env = env,
            .env_count = env_count,
            .timeout_ns = (int64_t)emu_snap_timeout_s(rec->snap) * SP_NS_PER_S,
            .init_timeout_ns = EMU_ENV_INIT_TIMEOUT_NS,
            .verbose = self->verbose,
        };
        char err[256];
        rec->env = emu_env_new(self->loop, &spec, ++self->serial, rec->slot,
                               &s_env_events, rec, err, sizeof err);
        if (!rec->env) {
            self->spawn_failures++;
            zsys_error("environment failed to start function=%s error=\"%s\"", self->name,
                       err);
            emu_invocation_t *pending = rec->pending;
            rec->pending = NULL;
            s_serving(self, rec, false);
            emu_pool_remove(group->pool, rec->slot);
            emu_snap_unref(&rec->snap);
            free(rec);
            if (group->owner)
                self->events->start_failed(self->arg, group->owner, err);
            s_group_collect(self, group);
            if (pending)
                emu_invocation_fail(&pending, EMU_INVOCATION_INIT_ERROR,
                                    "Runtime.InvalidEntrypoint", err);
            continue;
        }
        self->spawns++;
        if (rec->pending) {
            emu_invocation_t *pending = rec->pending;
            rec->pending = NULL;
            emu_env_assign(rec->env, pending);
        }
    }
    if (self->start_count > 0)
        self->start_timer =
            SP_OOM_CHECK(emu_loop_timer_start(loop, 0, s_start_batch, self),
                         "environment start timer");
}

static int
s_queue_start(emu_fleet_t *self, s_rec_t *rec)
{
    if (self->start_count == self->start_cap) {
        size_t cap = self->start_cap ? self->start_cap * 2 : 64;
        s_rec_t **grown = malloc(cap * sizeof *grown);
        if (!grown)
            return -1;
        for (size_t i = 0; i < self->start_count; i++)
            grown[i] = self->starts[(self->start_head + i) % self->start_cap];
        free(self->starts);
        self->starts = grown;
        self->start_cap = cap;
        self->start_head = 0;
    }
    if (!self->start_timer) {
        self->start_timer = emu_loop_timer_start(self->loop, 0, s_start_batch, self);
        if (!self->start_timer)
            return -1;
    }
    self->starts[(self->start_head + self->start_count) % self->start_cap] = rec;
    self->start_count++;
    return 0;
}

//  --- idle reclaim -------------------------------------------------------

static void
s_sweep(emu_loop_t *loop, void *arg)
{
    emu_fleet_t *self = arg;
    self->sweep_timer = NULL;
    int64_t now = sp_clock_mono_ns();
    bool idle_left = false;
    for (size_t g = 0; g < self->group_count; g++) {
        emu_fleet_group_t *group = self->groups[g];
        if (group->provisioned)
            continue;
        for (size_t slot = 0; slot < emu_pool_slots(group->pool); slot++) {
            if (!emu_pool_is_idle(group->pool, slot))
                continue;
            s_rec_t *rec = s_rec_at(group, slot);
            if (now - rec->idle_since_ns >= self->idle_ttl_ns) {
                zsys_info("environment reclaimed function=%s env=%s idle_s=%.1f",
                          self->name, emu_env_name(rec->env),
                          (double)(now - rec->idle_since_ns) / SP_NS_PER_S);
                s_stop(self, rec);
            } else
                idle_left = true;
        }
    }
    if (idle_left)
        s_sweep_arm(self);
}

//  Checks idle environments every quarter TTL (at least every 10 s).
static void
s_sweep_arm(emu_fleet_t *self)
{
    if (self->sweep_timer || self->destroying)
        return;
    int64_t period = self->idle_ttl_ns / 4;
    if (period > 10 * SP_NS_PER_S)
        period = 10 * SP_NS_PER_S;
    if (period < 10 * SP_NS_PER_MS)
        period = 10 * SP_NS_PER_MS;
    self->sweep_timer = emu_loop_timer_start(self->loop, period, s_sweep, self);
}

//  --- the fleet ----------------------------------------------------------

emu_fleet_t *
emu_fleet_new(emu_loop_t *loop, const char *name, const char *path, int64_t idle_ttl_ns,
              bool verbose, const emu_fleet_events_t *events, void *arg)
{
    assert(loop && name && path && events);
    assert(events->busy && events->freed && events->lost && events->start_failed);
    emu_fleet_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    *self = (emu_fleet_t){.loop = loop,
                          .name = name,
                          .path = path,
                          .events = events,
                          .arg = arg,
                          .verbose = verbose,
                          .idle_ttl_ns = idle_ttl_ns};
    return self;
}

static void
s_rec_free(s_rec_t *rec)
{
    if (rec->pending) {
        emu_invocation_t *pending = rec->pending;
        rec->pending = NULL;
        emu_invocation_fail(&pending, EMU_INVOCATION_ABORTED, "ServiceException",
                            "the function was shut down");
    }
    emu_env_destroy(&rec->env);
    emu_snap_unref(&rec->snap);
    free(rec);
}

void
emu_fleet_destroy(emu_fleet_t **self_p)
{
    assert(self_p);
    emu_fleet_t *self = *self_p;
    if (!self)
        return;
    self->destroying = true;
    emu_loop_timer_cancel(self->loop, &self->start_timer);
    emu_loop_timer_cancel(self->loop, &self->sweep_timer);
    //  Queued records are also in their pools: freed with them below.
    free(self->starts);
    self->starts = NULL;
    self->start_count = 0;
    for (size_t g = 0; g < self->group_count; g++) {
        emu_fleet_group_t *group = self->groups[g];
        for (size_t slot = 0; slot < emu_pool_slots(group->pool); slot++) {
            s_rec_t *rec = s_rec_at(group, slot);
            if (rec) {
                emu_pool_remove(group->pool, slot);
                s_rec_free(rec);
            }
        }
    }
    for (size_t i = 0; i < self->dead_count; i++)
        s_rec_free(self->dead[i]);
    free(self->dead);
    while (self->group_count > 0)
        s_group_free(self, self->groups[self->group_count - 1]);
    free(self->groups);
    free(self);
    *self_p = NULL;
}

void
emu_fleet_stats(emu_fleet_t *self, emu_fleet_stats_t *stats)
{
    assert(self && stats);
    *stats = (emu_fleet_stats_t){.spawns = self->spawns,
                                 .spawn_failures = self->spawn_failures,
                                 .starting = self->start_count};
    for (size_t g = 0; g < self->group_count; g++) {
        stats->environments += emu_pool_size(self->groups[g]->pool);
        stats->idle += emu_pool_idle(self->groups[g]->pool);
    }
}
