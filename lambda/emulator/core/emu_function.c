/*  emu_function — one function: the facade over its versions, fleet,
    provisioned configs and asynchronous events; see emu_function.h.

    Dispatch of an invocation of qualifier Q: an idle provisioned
    environment of the version Q runs it first (emu_provisioned_idle),
    else an on-demand environment of that version while the quota allows
    (emu_quota_room), else it is throttled. The fleet reports back
    through s_fleet_events: busy environments are counted in the quota
    member, freed ones wake the event queue, lost or failed provisioned
    ones go to emu_provisioned.

    Teardown order: the event queue is closed first (so invocations the
    fleet hands back ABORTED free their events quietly), then the fleet
    goes, then everything that only points into it.
*/
#include "emu_function.h"
#include "emu_fleet.h"
#include "emu_pool.h"
#include "sp_clock.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _emu_function_t {
    emu_loop_t *loop;                    //  borrowed
    const emu_function_config_t *config; //  borrowed
    emu_quota_t *own_quota;              //  while not in an account
    emu_quota_t *quota;                  //  the account's (borrowed) or own_quota
    emu_quota_member_t member;           //  its numbers in the quota
    emu_fleet_t *fleet;
    emu_versions_t *versions;
    emu_provisioned_t *provisioned;
    emu_eventq_t *eventq;
    uint64_t invocations; //  dispatched to an environment
    uint64_t throttles;
};

//  --- fleet events -------------------------------------------------------

static void
s_fleet_busy(void *arg, bool provisioned, int delta)
{
    emu_function_t *self = arg;
    if (!provisioned)
        self->member.on_demand_busy += delta;
}

static void
s_fleet_freed(void *arg)
{
    emu_function_t *self = arg;
    emu_eventq_kick(self->eventq);
}

static void
s_fleet_lost(void *arg, void *owner, bool init_failed, const char *version)
{
    emu_function_t *self = arg;
    emu_provisioned_lost(self->provisioned, owner, init_failed, version);
}

static void
s_fleet_start_failed(void *arg, void *owner, const char *why)
{
    emu_function_t *self = arg;
    emu_provisioned_start_failed(self->provisioned, owner, why);
}

static const emu_fleet_events_t s_fleet_events = {.busy = s_fleet_busy,
                                                  .freed = s_fleet_freed,
                                                  .lost = s_fleet_lost,
                                                  .start_failed = s_fleet_start_failed};

//  --- dispatch -----------------------------------------------------------

static int
s_admit_on_demand(emu_function_t *self, emu_aws_error_t *err)
{
    const char *reason = NULL;
    if (emu_quota_room(self->quota, &self->member, &reason) > 0)
        return 0;
    emu_aws_error_throttle(err, reason);
    return -1;
}

static emu_function_dispatch_t
s_dispatch(emu_function_t *self, const char *qualifier, emu_invocation_t *invocation,
           emu_aws_error_t *err, bool count_throttle)
{
    const char *alias = NULL;
    emu_version_t *version = emu_versions_resolve(self->versions, qualifier, &alias);
    if (!version) {
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return EMU_FUNCTION_DISPATCH_REFUSED;
    }
    const char *name = emu_version_name(version);
    emu_invocation_set_version(invocation, name);
    //  The ARN the function is handed names the qualifier as invoked;
    //  emu_versions_resolve accepted it, so it fits the pattern.
    if (emu_invocation_set_invoked_qualifier(invocation, qualifier ? qualifier : "")) {
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return EMU_FUNCTION_DISPATCH_REFUSED;
    }
    emu_fleet_group_t *provisioned =
        emu_provisioned_idle(self->provisioned, alias ? alias : name, version);
    if (provisioned) {
        emu_fleet_run_idle(provisioned, invocation);
        self->invocations++;
        return EMU_FUNCTION_DISPATCH_OK;
    }
    if (s_admit_on_demand(self, err)) {
        if (count_throttle)
            self->throttles++;
        return EMU_FUNCTION_DISPATCH_REFUSED;
    }
    switch (emu_fleet_acquire(emu_version_group(version), emu_version_snap(version),
                              invocation)) {
    case EMU_FLEET_OK:
        break;
    case EMU_FLEET_FULL:
        emu_aws_error_throttle(err,
                               self->member.reserved >= 0
                                   ? "ReservedFunctionConcurrentInvocationLimitExceeded"
                                   : "ConcurrentInvocationLimitExceeded");
        if (count_throttle)
            self->throttles++;
        return EMU_FUNCTION_DISPATCH_REFUSED;
    case EMU_FLEET_FAILED:
        return EMU_FUNCTION_DISPATCH_FAILED;
    }
    self->invocations++;
    return EMU_FUNCTION_DISPATCH_OK;
}

//  The event queue's way in: throttles of events are not counted.
static int
s_event_dispatch(void *arg, const char *qualifier, emu_invocation_t *invocation,
                 emu_aws_error_t *err)
{
    switch (s_dispatch(arg, qualifier, invocation, err, false)) {
    case EMU_FUNCTION_DISPATCH_OK:
        return 0;
    case EMU_FUNCTION_DISPATCH_REFUSED:
        return 1;
    case EMU_FUNCTION_DISPATCH_FAILED:
        break;
    }
    return -1;
}

//  --- the function -------------------------------------------------------

emu_function_t *
emu_function_new(emu_loop_t *loop, const emu_function_config_t *config, bool verbose)
{
    assert(loop && config);
    emu_function_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->config = config;
    self->member.reserved = config->reserved;
    int ttl_s = config->idle_ttl_s > 0 ? config->idle_ttl_s : EMU_CONFIG_IDLE_TTL_DEFAULT;
    self->own_quota = emu_quota_new(EMU_CONFIG_ACCOUNT_LIMIT);
    self->quota = self->own_quota;
    if (!self->own_quota || emu_quota_join(self->quota, &self->member))
        goto fail;
    self->fleet =
        emu_fleet_new(loop, config->name, config->path, (int64_t)ttl_s * SP_NS_PER_S,
                      verbose, &s_fleet_events, self);
    self->versions = self->fleet ? emu_versions_new(config, self->fleet) : NULL;
    self->provisioned = self->versions
                            ? emu_provisioned_new(config->name, self->fleet,
                                                  self->versions, &self->member)
                            : NULL;
    self->eventq = self->provisioned
                       ? emu_eventq_new(loop, config->name, s_event_dispatch, self)
                       : NULL;
    if (!self->eventq)
        goto fail;
    return self;
fail:
    emu_function_destroy(&self);
    return NULL;
}

void
emu_function_destroy(emu_function_t **self_p)
{
    assert(self_p);
    emu_function_t *self = *self_p;
    if (!self)
        return;
    if (self->eventq)
        emu_eventq_close(self->eventq);
    emu_fleet_destroy(&self->fleet);
    emu_eventq_destroy(&self->eventq);
    emu_provisioned_destroy(&self->provisioned);
    emu_versions_destroy(&self->versions);
    if (self->quota)
        emu_quota_leave(self->quota, &self->member);
    emu_quota_destroy(&self->own_quota);
    free(self);
    *self_p = NULL;
}

int
emu_function_join(emu_function_t *self, emu_quota_t *quota)
{
    assert(self && quota);
    if (emu_quota_join(quota, &self->member))
        return -1;
    emu_quota_leave(self->quota, &self->member);
    emu_quota_destroy(&self->own_quota);
    self->quota = quota;
    return 0;
}

int
emu_function_on_demand_in_flight(emu_function_t *self)
{
    assert(self);
    return self->member.on_demand_busy;
}

int
emu_function_provisioned_total(emu_function_t *self)
{
    assert(self);
    return emu_provisioned_total(self->provisioned);
}

int
emu_function_resolve(emu_function_t *self, const char *qualifier, const char **version_p,
                     emu_aws_error_t *err)
{
    assert(self && err);
    emu_version_t *version = emu_versions_resolve(self->versions, qualifier, NULL);
    if (!version) {
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return -1;
    }
    if (version_p)
        *version_p = emu_version_name(version);
    return 0;
}

int
emu_function_admit(emu_function_t *self, const char *qualifier, emu_aws_error_t *err)
{
    assert(self && err);
    const char *alias = NULL;
    emu_version_t *version = emu_versions_resolve(self->versions, qualifier, &alias);
    if (!version) {
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return -1;
    }
    if (emu_provisioned_idle(self->provisioned, alias ? alias : emu_version_name(version),
                             version))
        return 0;
    return s_admit_on_demand(self, err);
}

emu_function_dispatch_t
emu_function_dispatch(emu_function_t *self, const char *qualifier,
                      emu_invocation_t *invocation, emu_aws_error_t *err)
{
    assert(self && invocation && err);
    return s_dispatch(self, qualifier, invocation, err, true);
}

void
emu_function_count_throttle(emu_function_t *self)
{
    assert(self);
    self->throttles++;
}

const char *
emu_function_name(emu_function_t *self)
{
    assert(self);
    return self->config->name;
}

const char *const *
emu_function_environment(emu_function_t *self, size_t *count_p)
{
    assert(self);
    return emu_snap_env(emu_version_snap(emu_versions_latest(self->versions)), false,
                        count_p);
}

void
emu_function_stats(emu_function_t *self, emu_function_stats_t *stats)
{
    assert(self && stats);
    emu_fleet_stats_t fleet;
    emu_fleet_stats(self->fleet, &fleet);
    emu_eventq_stats_t events;
    emu_eventq_stats(self->eventq, &events);
    *stats = (emu_function_stats_t){
        .invocations = self->invocations,
        .throttles = self->throttles,
        .spawns = fleet.spawns,
        .spawn_failures = fleet.spawn_failures,
        .starting = fleet.starting,
        .environments = fleet.environments,
        .idle = fleet.idle,
        .cap = (size_t)emu_quota_cap(self->quota, &self->member),
        .queued = events.waiting,
        .async_done = events.done,
        .async_dropped = events.dropped,
    };
}

int
emu_function_enqueue(emu_function_t *self, const char *qualifier, const char *request_id,
                     char **event_p, size_t event_len, emu_aws_error_t *err)
{
    assert(self && request_id && event_p && *event_p && err);
    if (!emu_versions_resolve(self->versions, qualifier, NULL)) {
        free(*event_p);
        *event_p = NULL;
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return -1;
    }
    return emu_eventq_push(self->eventq, qualifier, request_id, event_p, event_len, err);
}

//  --- reserved concurrency ------------------------------------------------

int
emu_function_reserved(emu_function_t *self)
{
    assert(self);
    return self->member.reserved;
}

int
emu_function_put_reserved(emu_function_t *self, int reserved, emu_aws_error_t *err)
{
    assert(self && err);
    if (reserved < 0 || reserved > EMU_POOL_CAP_MAX) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "ReservedConcurrentExecutions must be between 0 and %d.",
                          EMU_POOL_CAP_MAX);
        return -1;
    }
    if (emu_quota_check_reserved(self->quota, &self->member, reserved, err))
        return -1;
    self->member.reserved = reserved;
    emu_eventq_kick(self->eventq);
    return 0;
}

void
emu_function_delete_reserved(emu_function_t *self)
{
    assert(self);
    self->member.reserved = -1;
    emu_eventq_kick(self->eventq);
}

//  --- versions and aliases -----------------------------------------------

int
emu_function_version_info(emu_function_t *self, const char *qualifier,
                          emu_function_version_info_t *info, emu_aws_error_t *err)
{
    assert(self && info && err);
    emu_version_t *version = emu_versions_resolve(self->versions, qualifier, NULL);
    if (!version) {
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return -1;
    }
    emu_versions_info(self->versions, version, info);
    return 0;
}

size_t
emu_function_version_count(emu_function_t *self)
{
    assert(self);
    return emu_versions_count(self->versions);
}

void
emu_function_version_at(emu_function_t *self, size_t index,
                        emu_function_version_info_t *info)
{
    assert(self && info);
    emu_versions_info(self->versions, emu_versions_at(self->versions, index), info);
}

int
emu_function_update(emu_function_t *self, const emu_function_update_t *update,
                    emu_function_version_info_t *info, emu_aws_error_t *err)
{
    assert(self && update && err);
    if (emu_versions_update(self->versions, update, err))
        return -1;
    if (info)
        emu_versions_info(self->versions, emu_versions_latest(self->versions), info);
    return 0;
}

int
emu_function_publish(emu_function_t *self, const char *description,
                     emu_function_version_info_t *info, emu_aws_error_t *err)
{
    assert(self && err);
    emu_version_t *version = emu_versions_publish(self->versions, description, err);
    if (!version)
        return -1;
    if (info)
        emu_versions_info(self->versions, version, info);
    return 0;
}

int
emu_function_create_alias(emu_function_t *self, const char *name, const char *version,
                          const char *description, emu_function_alias_info_t *info,
                          emu_aws_error_t *err)
{
    assert(self && name && version && err);
    return emu_versions_create_alias(self->versions, name, version, description, info,
                                     err);
}

int
emu_function_update_alias(emu_function_t *self, const char *name, const char *version,
                          const char *description, emu_function_alias_info_t *info,
                          emu_aws_error_t *err)
{
    assert(self && name && err);
    emu_version_t *before = emu_versions_alias_version(self->versions, name);
    if (emu_versions_update_alias(self->versions, name, version, description,
                                  emu_provisioned_move_check, self->provisioned, info,
                                  err))
        return -1;
    emu_version_t *after = emu_versions_alias_version(self->versions, name);
    if (after != before)
        emu_provisioned_moved(self->provisioned, name, after);
    return 0;
}

int
emu_function_alias(emu_function_t *self, const char *name,
                   emu_function_alias_info_t *info, emu_aws_error_t *err)
{
    assert(self && name && info && err);
    return emu_versions_alias(self->versions, name, info, err);
}

int
emu_function_delete_alias(emu_function_t *self, const char *name, emu_aws_error_t *err)
{
    assert(self && name && err);
    if (emu_versions_delete_alias(self->versions, name, err))
        return -1;
    //  Its provisioned config goes with it.
    emu_provisioned_drop(self->provisioned, name);
    return 0;
}

size_t
emu_function_alias_count(emu_function_t *self)
{
    assert(self);
    return emu_versions_alias_count(self->versions);
}

void
emu_function_alias_at(emu_function_t *self, size_t index, emu_function_alias_info_t *info)
{
    assert(self && info);
    emu_versions_alias_at(self->versions, index, info);
}

//  --- provisioned concurrency ----------------------------------------------

int
emu_function_put_provisioned(emu_function_t *self, const char *qualifier, int count,
                             emu_function_provisioned_info_t *info, emu_aws_error_t *err)
{
    assert(self && err);
    return emu_provisioned_put(self->provisioned, self->quota, qualifier, count, info,
                               err);
}

int
emu_function_provisioned(emu_function_t *self, const char *qualifier,
                         emu_function_provisioned_info_t *info, emu_aws_error_t *err)
{
    assert(self && info && err);
    return emu_provisioned_get(self->provisioned, qualifier, info, err);
}

int
emu_function_delete_provisioned(emu_function_t *self, const char *qualifier,
                                emu_aws_error_t *err)
{
    assert(self && err);
    if (emu_provisioned_delete(self->provisioned, qualifier, err))
        return -1;
    emu_eventq_kick(self->eventq);
    return 0;
}

size_t
emu_function_provisioned_count(emu_function_t *self)
{
    assert(self);
    return emu_provisioned_count(self->provisioned);
}

void
emu_function_provisioned_at(emu_function_t *self, size_t index,
                            emu_function_provisioned_info_t *info)
{
    assert(self && info);
    emu_provisioned_at(self->provisioned, index, info);
}
