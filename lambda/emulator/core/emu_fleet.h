/*  emu_fleet — one function's execution environments: starting them,
    handing them invocations, taking them back idle, retiring, recycling
    and reclaiming them.

    Owns every group of environments (an emu_pool of records) and every
    emu_env_t: live ones in their group's pool, gone or stopped ones in a
    dead list until a deferred call destroys them. A group is the
    on-demand environments of one version (no owner), or the provisioned
    environments of one provisioned config (its owner, opaque here); a
    detached provisioned group (its config moved or deleted) recycles its
    environments and is freed once empty.

    A new environment takes its slot at once, but its process is started
    from a timer, EMU_FLEET_SPAWN_BATCH per loop iteration: starting a
    process blocks the loop for about a millisecond, and a burst must not
    delay the throttle answers of the requests behind it. On-demand
    environments idle for the idle TTL are stopped (checked every quarter
    TTL, at most every 10 s).

    The fleet reports back through emu_fleet_events_t and never calls the
    queue or provisioned code itself.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_FLEET_H
#define EMU_FLEET_H

#include "emu_invocation.h"
#include "emu_loop.h"
#include "emu_snap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Processes started per loop iteration.
#define EMU_FLEET_SPAWN_BATCH 8

typedef struct _emu_fleet_t emu_fleet_t;
typedef struct _emu_fleet_group_t emu_fleet_group_t;

//  What the fleet tells its owner; every callback is required. None
//  runs inside a call into the fleet except where said.
typedef struct {
    //  An environment started (delta 1: inside emu_fleet_acquire or
    //  emu_fleet_run_idle) or stopped (-1) serving an invocation.
    void (*busy)(void *arg, bool provisioned, int delta);
    //  An environment went idle or away: room may have opened.
    void (*freed)(void *arg);
    //  An environment of a group with an owner died (init_failed: before
    //  its first /next) while it was meant to stay; `version` is what it ran.
    void (*lost)(void *arg, void *owner, bool init_failed, const char *version);
    //  An environment of a group with an owner could not start.
    void (*start_failed)(void *arg, void *owner, const char *why);
} emu_fleet_events_t;

typedef struct {
    uint64_t spawns; //  environments started (cold starts)
    uint64_t spawn_failures;
    size_t starting;     //  waiting in the start queue
    size_t environments; //  live now (busy + idle, queued included)
    size_t idle;
} emu_fleet_stats_t;

//  Outcome of emu_fleet_acquire.
typedef enum {
    EMU_FLEET_OK,     //  an environment has it: completion follows
    EMU_FLEET_FULL,   //  the group is at EMU_POOL_CAP_MAX
    EMU_FLEET_FAILED, //  out of memory
} emu_fleet_grant_t;

//  A fleet for function `name` running `path` (both borrowed for the
//  fleet's life); `events` and `arg` borrowed likewise. NULL when memory
//  runs out.
emu_fleet_t *emu_fleet_new(emu_loop_t *loop, const char *name, const char *path,
                           int64_t idle_ttl_ns, bool verbose,
                           const emu_fleet_events_t *events, void *arg);

//  Kills and reaps every environment (invocations waiting for one to
//  start are handed back ABORTED; those in flight likewise by emu_env)
//  and frees every group. No event is reported from here on. Call it
//  outside the loop's callbacks. Nulls *self_p.
void emu_fleet_destroy(emu_fleet_t **self_p);

//  A new empty group, owned by the fleet: on-demand when `owner` is NULL,
//  else provisioned for `owner`. NULL when memory runs out.
emu_fleet_group_t *emu_fleet_group_new(emu_fleet_t *self, void *owner);

//  Detaches a provisioned group from its owner: its environments are
//  recycled and it is freed once the last is gone. The caller forgets it.
void emu_fleet_group_detach(emu_fleet_group_t *group);

//  Recycles every environment of `group`: idle ones stop now, busy ones
//  when they finish, queued ones never start.
void emu_fleet_recycle(emu_fleet_group_t *group);

//  Hands `invocation` (borrowed until its done callback) to an idle
//  environment of the group, else to a new one started with `snap`; an
//  environment that cannot start hands it back INIT_ERROR.
emu_fleet_grant_t emu_fleet_acquire(emu_fleet_group_t *group, emu_snap_t *snap,
                                    emu_invocation_t *invocation);

//  Environments of the group idle now.
size_t emu_fleet_idle(emu_fleet_group_t *group);

//  Hands `invocation` to an idle environment of the group (there must be
//  one). It initialised ahead, so the invocation is warm.
void emu_fleet_run_idle(emu_fleet_group_t *group, emu_invocation_t *invocation);

//  Starts environments with `snap` until `count` are live (not
//  recycling); recycles the surplus (idle ones first). 0, or -1 when one
//  cannot be queued.
int emu_fleet_fill(emu_fleet_group_t *group, emu_snap_t *snap, int count);

//  Live environments of the group (not recycling), and those of them
//  that reached their first /next in *ready_p (may be NULL).
int emu_fleet_live(emu_fleet_group_t *group, int *ready_p);

void emu_fleet_stats(emu_fleet_t *self, emu_fleet_stats_t *stats);

void emu_fleet_test(bool verbose);

#endif
