/*  emu_provisioned — provisioned concurrency configs; see
    emu_provisioned.h.

    Invariant: a config's group, when it has one, runs the config's
    version; a detached group belongs to the fleet alone.
*/
#include "emu_provisioned.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char qualifier[EMU_VERSIONS_QUALIFIER_MAX + 1];
    int requested;
    emu_fleet_group_t *group; //  current allocation (the fleet's)
    emu_version_t *version;   //  what the group runs
    bool failed;
    char reason[256];
    int64_t last_modified_ms;
} s_pc_t;

struct _emu_provisioned_t {
    const char *name;           //  borrowed: the function's
    emu_fleet_t *fleet;         //  borrowed
    emu_versions_t *versions;   //  borrowed
    emu_quota_member_t *member; //  borrowed: `provisioned` kept here
    s_pc_t **pcs;
    size_t pc_count;
};

static int64_t
s_now_ms(void)
{
    return sp_clock_wall_ns() / SP_NS_PER_MS;
}

static void
s_sync(emu_provisioned_t *self)
{
    self->member->provisioned = emu_provisioned_total(self);
}

static void
s_fail(emu_provisioned_t *self, s_pc_t *pc, const char *why)
{
    if (pc->failed)
        return;
    pc->failed = true;
    snprintf(pc->reason, sizeof pc->reason, "FUNCTION_ERROR_INIT_FAILURE: %.200s", why);
    pc->last_modified_ms = s_now_ms();
    zsys_warning("provisioned concurrency failed function=%s qualifier=%s reason=\"%s\"",
                 self->name, pc->qualifier, pc->reason);
}

//  Detaches the config's group: its environments are recycled.
static void
s_release(s_pc_t *pc)
{
    if (!pc->group)
        return;
    emu_fleet_group_detach(pc->group);
    pc->group = NULL;
    pc->version = NULL;
}

//  (Re)allocates the config on `version`.
static int
s_allocate(emu_provisioned_t *self, s_pc_t *pc, emu_version_t *version)
{
    if (pc->group && pc->version != version)
        s_release(pc);
    if (!pc->group) {
        pc->group = emu_fleet_group_new(self->fleet, pc);
        if (!pc->group)
            return -1;
        pc->version = version;
    }
    pc->failed = false;
    pc->reason[0] = '\0';
    pc->last_modified_ms = s_now_ms();
    return emu_fleet_fill(pc->group, emu_version_snap(version), pc->requested);
}

static s_pc_t *
s_find(emu_provisioned_t *self, const char *qualifier)
{
    for (size_t i = 0; i < self->pc_count; i++)
        if (strcmp(self->pcs[i]->qualifier, qualifier) == 0)
            return self->pcs[i];
    return NULL;
}

static void
s_remove(emu_provisioned_t *self, s_pc_t *pc)
{
    s_release(pc);
    for (size_t i = 0; i < self->pc_count; i++)
        if (self->pcs[i] == pc) {
            memmove(self->pcs + i, self->pcs + i + 1,
                    (self->pc_count - i - 1) * sizeof *self->pcs);
            self->pc_count--;
            break;
        }
    free(pc);
    s_sync(self);
}

static void
s_info(s_pc_t *pc, emu_provisioned_info_t *info)
{
    int ready = 0;
    int live = pc->group ? emu_fleet_live(pc->group, &ready) : 0;
    *info = (emu_provisioned_info_t){
        .qualifier = pc->qualifier,
        .requested = pc->requested,
        .available = ready,
        .allocated = live,
        .status = pc->failed               ? "FAILED"
                  : ready >= pc->requested ? "READY"
                                           : "IN_PROGRESS",
        .status_reason = pc->failed ? pc->reason : "",
        .last_modified_ms = pc->last_modified_ms,
    };
}

//  The version a provisioned config on `qualifier` would run, or NULL
//  with the error (`put` words the $LATEST refusal as PutProvisioned...).
static emu_version_t *
s_target(emu_provisioned_t *self, const char *qualifier, bool put, emu_aws_error_t *err)
{
    if (emu_versions_is_latest(qualifier)) {
        if (put)
            emu_aws_error_set(err, 400, "InvalidParameterValueException",
                              "Provisioned Concurrency Configs cannot be applied to "
                              "unpublished function versions.");
        else
            emu_aws_error_set(err, 400, "InvalidParameterValueException",
                              "The function resource provided must be an alias or a "
                              "published version.");
        return NULL;
    }
    emu_version_t *version = emu_versions_resolve(self->versions, qualifier, NULL);
    if (!version) {
        if (emu_versions_is_number(qualifier))
            emu_aws_error_function_not_found(err, self->name, qualifier);
        else {
            char arn[EMU_AWS_ARN_MAX];
            emu_aws_function_arn(self->name, qualifier, arn, sizeof arn);
            emu_aws_error_set(err, 404, "ResourceNotFoundException",
                              "Cannot find alias arn: %s", arn);
        }
        return NULL;
    }
    if (put && version == emu_versions_latest(self->versions)) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "Provisioned Concurrency Configs cannot be applied to "
                          "unpublished function versions.");
        return NULL;
    }
    return version;
}

emu_provisioned_t *
emu_provisioned_new(const char *name, emu_fleet_t *fleet, emu_versions_t *versions,
                    emu_quota_member_t *member)
{
    assert(name && fleet && versions && member);
    emu_provisioned_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    *self = (emu_provisioned_t){
        .name = name, .fleet = fleet, .versions = versions, .member = member};
    return self;
}

void
emu_provisioned_destroy(emu_provisioned_t **self_p)
{
    assert(self_p);
    emu_provisioned_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->pc_count; i++)
        free(self->pcs[i]);
    free(self->pcs);
    free(self);
    *self_p = NULL;
}

int
emu_provisioned_total(emu_provisioned_t *self)
{
    assert(self);
    int total = 0;
    for (size_t i = 0; i < self->pc_count; i++)
        total += self->pcs[i]->requested;
    return total;
}

emu_fleet_group_t *
emu_provisioned_idle(emu_provisioned_t *self, const char *qualifier,
                     emu_version_t *version)
{
    assert(self && qualifier && version);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < self->pc_count; i++) {
            s_pc_t *pc = self->pcs[i];
            bool own = strcmp(pc->qualifier, qualifier) == 0;
            if ((pass == 0) != own || !pc->group || pc->version != version)
                continue;
            if (emu_fleet_idle(pc->group) > 0)
                return pc->group;
        }
    return NULL;
}

int
emu_provisioned_put(emu_provisioned_t *self, emu_quota_t *quota, const char *qualifier,
                    int count, emu_provisioned_info_t *info, emu_aws_error_t *err)
{
    assert(self && quota && err);
    if (count < 1) {
        emu_aws_error_set(
            err, 400, "ValidationException",
            "1 validation error detected: Value '%d' at "
            "'provisionedConcurrentExecutions' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1",
            count);
        return -1;
    }
    emu_version_t *version = s_target(self, qualifier, true, err);
    if (!version)
        return -1;
    bool is_alias = !emu_versions_is_number(qualifier);
    if (is_alias && s_find(self, emu_version_name(version))) {
        emu_aws_error_set(
            err, 409, "ResourceConflictException",
            "Alias can't be used for Provisioned Concurrency configuration on "
            "an already Provisioned version");
        return -1;
    }
    for (size_t i = 0; !is_alias && i < emu_versions_alias_count(self->versions); i++) {
        emu_alias_info_t alias;
        emu_versions_alias_at(self->versions, i, &alias);
        if (strcmp(alias.version, emu_version_name(version)) == 0 &&
            s_find(self, alias.name)) {
            emu_aws_error_set(err, 409, "ResourceConflictException",
                              "Version is pointed by a Provisioned Concurrency alias");
            return -1;
        }
    }
    s_pc_t *pc = s_find(self, qualifier);
    if (emu_quota_check_provisioned(quota, self->member, pc ? pc->requested : 0, count,
                                    err))
        return -1;
    if (!pc) {
        s_pc_t **grown = realloc(self->pcs, (self->pc_count + 1) * sizeof *self->pcs);
        if (grown)
            self->pcs = grown;
        pc = grown ? calloc(1, sizeof *pc) : NULL;
        if (!pc) {
            emu_aws_error_set(err, 500, "ServiceException",
                              "The emulator ran out of memory.");
            return -1;
        }
        snprintf(pc->qualifier, sizeof pc->qualifier, "%s", qualifier);
        self->pcs[self->pc_count++] = pc;
    }
    pc->requested = count;
    s_sync(self);
    if (s_allocate(self, pc, version))
        s_fail(self, pc, "cannot start the provisioned environments");
    zsys_notice("provisioned concurrency allocating function=%s qualifier=%s version=%s "
                "count=%d",
                self->name, qualifier, emu_version_name(version), count);
    if (info)
        s_info(pc, info);
    return 0;
}

int
emu_provisioned_get(emu_provisioned_t *self, const char *qualifier,
                    emu_provisioned_info_t *info, emu_aws_error_t *err)
{
    assert(self && info && err);
    if (!s_target(self, qualifier, false, err))
        return -1;
    s_pc_t *pc = s_find(self, qualifier);
    if (!pc) {
        emu_aws_error_set(err, 404, "ProvisionedConcurrencyConfigNotFoundException",
                          "No Provisioned Concurrency Config found for this function");
        return -1;
    }
    s_info(pc, info);
    return 0;
}

int
emu_provisioned_delete(emu_provisioned_t *self, const char *qualifier,
                       emu_aws_error_t *err)
{
    assert(self && err);
    if (!s_target(self, qualifier, false, err))
        return -1;
    emu_provisioned_drop(self, qualifier);
    return 0;
}

size_t
emu_provisioned_count(emu_provisioned_t *self)
{
    assert(self);
    return self->pc_count;
}

void
emu_provisioned_at(emu_provisioned_t *self, size_t index, emu_provisioned_info_t *info)
{
    assert(self && index < self->pc_count && info);
    s_info(self->pcs[index], info);
}

int
emu_provisioned_move_check(void *arg, const char *alias, emu_version_t *from,
                           emu_version_t *to, emu_aws_error_t *err)
{
    emu_provisioned_t *self = arg;
    assert(self && alias && to && err);
    if (!s_find(self, alias))
        return 0;
    if (to == emu_versions_latest(self->versions)) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "Provisioned Concurrency Configs cannot be applied to "
                          "unpublished function versions.");
        return -1;
    }
    if (s_find(self, emu_version_name(to))) {
        emu_aws_error_set(err, 409, "ResourceConflictException",
                          "Alias can't be used for Provisioned Concurrency configuration "
                          "on an already Provisioned version");
        return -1;
    }
    (void)from;
    return 0;
}

void
emu_provisioned_moved(emu_provisioned_t *self, const char *alias, emu_version_t *to)
{
    assert(self && alias && to);
    s_pc_t *pc = s_find(self, alias);
    if (pc && s_allocate(self, pc, to))
        s_fail(self, pc, "cannot start the provisioned environments");
}

void
emu_provisioned_drop(emu_provisioned_t *self, const char *qualifier)
{
    assert(self && qualifier);
    s_pc_t *pc = s_find(self, qualifier);
    if (pc)
        s_remove(self, pc);
}

void
emu_provisioned_lost(emu_provisioned_t *self, void *owner, bool init_failed,
                     const char *version)
{
    assert(self && owner);
    s_pc_t *pc = owner;
    if (init_failed) {
        char why[160];
        snprintf(why, sizeof why,
                 "an execution environment of version %s failed to initialize", version);
        s_fail(self, pc, why);
    } else if (!pc->failed &&
               emu_fleet_fill(pc->group, emu_version_snap(pc->version), pc->requested))
        s_fail(self, pc, "cannot start a replacement environment");
}

void
emu_provisioned_start_failed(emu_provisioned_t *self, void *owner, const char *why)
{
    assert(self && owner);
    s_fail(self, owner, why);
}

//  --- selftest -----------------------------------------------------------

#define S_TEST_ARN "arn:aws:lambda:us-east-1:123456789012:function:demo"

static void
s_test_busy(void *arg, bool provisioned, int delta)
{
}

static void
s_test_freed(void *arg)
{
}

static void
s_test_lost(void *arg, void *owner, bool init_failed, const char *version)
{
}

static void
s_test_start_failed(void *arg, void *owner, const char *why)
{
}

static void
s_check_error(const emu_aws_error_t *err, int status, const char *type,
              const char *message)
{
    CHECK_INT(err->status, status);
    CHECK_STR(err->type, type);
    CHECK_STR(err->message, message);
}

//  --- with processes: fleet events routed here, as the function does ---

typedef struct {
    emu_loop_t *loop;
    emu_provisioned_t *provisioned;
    const char *qualifier; //  for s_live_status
    const char *status;
    int done;
} s_live_t;

static void
s_live_lost(void *arg, void *owner, bool init_failed, const char *version)
{
    s_live_t *live = arg;
    emu_provisioned_lost(live->provisioned, owner, init_failed, version);
}

static void
s_live_start_failed(void *arg, void *owner, const char *why)
{
    s_live_t *live = arg;
    emu_provisioned_start_failed(live->provisioned, owner, why);
}

static void
s_live_done(emu_invocation_t *invocation, void *arg)
{
    s_live_t *live = arg;
    live->done++;
}

static bool
s_live_status(s_live_t *live)
{
    emu_provisioned_info_t pc;
    emu_aws_error_t err;
    CHECK_INT(emu_provisioned_get(live->provisioned, live->qualifier, &pc, &err), 0);
    return strcmp(pc.status, live->status) == 0;
}

static bool
s_live_done_one(s_live_t *live)
{
    return live->done > 0;
}

typedef struct {
    s_live_t *live;
    bool (*ready)(s_live_t *);
    int64_t deadline_ns;
} s_live_wait_t;

static void
s_live_poll(emu_loop_t *loop, void *arg)
{
    s_live_wait_t *wait = arg;
    CHECK_TRUE(sp_clock_mono_ns() < wait->deadline_ns);
    if (wait->ready(wait->live))
        emu_loop_stop(loop);
    else
        CHECK_NOT_NULL(emu_loop_timer_start(loop, 5 * SP_NS_PER_MS, s_live_poll, wait));
}

//  Runs the loop until ready(live), at most 10 s.
static void
s_live_wait(s_live_t *live, bool (*ready)(s_live_t *))
{
    s_live_wait_t wait = {.live = live,
                          .ready = ready,
                          .deadline_ns = sp_clock_mono_ns() + 10 * SP_NS_PER_S};
    CHECK_NOT_NULL(emu_loop_timer_start(live->loop, 0, s_live_poll, &wait));
    CHECK_INT(emu_loop_run(live->loop), 0);
}

static const char s_init_error_runtime[] =
    "#!/usr/bin/env python3\n"
    "import os, urllib.request\n"
    "api = os.environ['AWS_LAMBDA_RUNTIME_API']\n"
    "urllib.request.urlopen(urllib.request.Request(\n"
    "    'http://%s/2018-06-01/runtime/init/error' % api, method='POST',\n"
    "    data=b'{\"errorMessage\":\"boom\",\"errorType\":\"InitError\"}')).read()\n";

static const char s_crashing_runtime[] =
    "#!/usr/bin/env python3\n"
    "import os, sys, urllib.request\n"
    "base = 'http://%s/2018-06-01/runtime' % os.environ['AWS_LAMBDA_RUNTIME_API']\n"
    "urllib.request.urlopen(base + '/invocation/next').read()\n"
    "sys.exit(3)\n";

//  Runs the script `text` (written as `dir`/`name`) as version 1 with
//  `count` provisioned environments: its init fails (`init_fails`), or
//  its environments crash after init.
static void
s_test_live(const char *dir, const char *name, const char *text, int count,
            bool init_fails, bool verbose)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen(path, "w");
    CHECK_NOT_NULL(file);
    fputs(text, file);
    fclose(file);
    CHECK_INT(chmod(path, 0755), 0);
    s_live_t live = {.loop = emu_loop_new(), .qualifier = "1"};
    CHECK_NOT_NULL(live.loop);
    const emu_fleet_events_t events = {s_test_busy, s_test_freed, s_live_lost,
                                       s_live_start_failed};
    emu_function_config_t config = {
        .name = "demo", .path = path, .reserved = -1, .timeout_s = 3};
    emu_fleet_t *fleet =
        emu_fleet_new(live.loop, "demo", path, 60 * SP_NS_PER_S, verbose, &events, &live);
    CHECK_NOT_NULL(fleet);
    emu_versions_t *versions = emu_versions_new(&config, fleet);
    CHECK_NOT_NULL(versions);
    emu_quota_t *quota = emu_quota_new(1000);
    CHECK_NOT_NULL(quota);
    emu_quota_member_t member = {.reserved = -1};
    CHECK_INT(emu_quota_join(quota, &member), 0);
    live.provisioned = emu_provisioned_new("demo", fleet, versions, &member);
    CHECK_NOT_NULL(live.provisioned);
    emu_aws_error_t err;
    emu_version_t *one = emu_versions_publish(versions, NULL, &err);
    CHECK_NOT_NULL(one);
    emu_provisioned_info_t pc;
    CHECK_INT(emu_provisioned_put(live.provisioned, quota, "1", count, &pc, &err), 0);
    CHECK_STR(pc.status, "IN_PROGRESS");
    if (init_fails) {
        //  The init failure is seen.
        live.status = "FAILED";
        s_live_wait(&live, s_live_status);
        CHECK_INT(emu_provisioned_get(live.provisioned, "1", &pc, &err), 0);
        CHECK_STR(pc.status, "FAILED");
        CHECK_TRUE(strncmp(pc.status_reason, "FUNCTION_ERROR_INIT_FAILURE: ", 29) == 0);
    } else {
        //  An environment that crashes after init is replaced.
        live.status = "READY";
        s_live_wait(&live, s_live_status);
        emu_fleet_group_t *group = emu_provisioned_idle(live.provisioned, "1", one);
        CHECK_NOT_NULL(group);
        char *event = strdup("{}");
        CHECK_NOT_NULL(event);
        emu_invocation_t *crashed =
            emu_invocation_new("crash-id", &event, 2, s_live_done, &live);
        CHECK_NOT_NULL(crashed);
        emu_fleet_run_idle(group, crashed);
        s_live_wait(&live, s_live_done_one);
        CHECK_INT(emu_invocation_outcome(crashed), EMU_INVOCATION_EXIT);
        CHECK_TRUE(!emu_invocation_cold(crashed));
        emu_invocation_destroy(&crashed);
        CHECK_INT(emu_provisioned_get(live.provisioned, "1", &pc, &err), 0);
        CHECK_STR(pc.status, "IN_PROGRESS");
        CHECK_INT(pc.allocated, 1);
        s_live_wait(&live, s_live_status);
        emu_fleet_stats_t stats;
        emu_fleet_stats(fleet, &stats);
        CHECK_INT(stats.spawns, 2);
        CHECK_INT(stats.environments, 1);
    }
    emu_fleet_destroy(&fleet);
    emu_provisioned_destroy(&live.provisioned);
    emu_versions_destroy(&versions);
    emu_quota_leave(quota, &member);
    emu_quota_destroy(&quota);
    emu_loop_destroy(&live.loop);
    unlink(path);
}

void
emu_provisioned_test(bool verbose)
{
    //  Nothing runs: the loop is never driven, so environments stay queued.
    emu_loop_t *loop = emu_loop_new();
    CHECK_NOT_NULL(loop);
    const emu_fleet_events_t events = {s_test_busy, s_test_freed, s_test_lost,
                                       s_test_start_failed};
    emu_function_config_t config = {
        .name = "demo", .path = "/nonexistent/bootstrap", .reserved = 10, .timeout_s = 3};
    emu_fleet_t *fleet =
        emu_fleet_new(loop, "demo", config.path, 60 * SP_NS_PER_S, false, &events, NULL);
    CHECK_NOT_NULL(fleet);
    emu_versions_t *versions = emu_versions_new(&config, fleet);
    CHECK_NOT_NULL(versions);
    emu_quota_t *quota = emu_quota_new(1000);
    CHECK_NOT_NULL(quota);
    emu_quota_member_t member = {.reserved = 10};
    CHECK_INT(emu_quota_join(quota, &member), 0);
    emu_provisioned_t *provisioned =
        emu_provisioned_new("demo", fleet, versions, &member);
    CHECK_NOT_NULL(provisioned);
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    emu_alias_info_t alias;
    emu_version_t *latest = emu_versions_latest(versions);
    emu_version_t *one = emu_versions_publish(versions, NULL, &err);
    CHECK_NOT_NULL(one);
    CHECK_INT(emu_versions_create_alias(versions, "live", "1", NULL, &alias, &err), 0);
    CHECK_INT(emu_versions_create_alias(versions, "head", "$LATEST", NULL, &alias, &err),
              0);

    //  Refusals.
    emu_provisioned_info_t pc;
    CHECK_INT(emu_provisioned_put(provisioned, quota, "live", 0, &pc, &err), -1);
    CHECK_INT(err.status, 400);
    CHECK_STR(err.type, "ValidationException");
    CHECK_INT(emu_provisioned_put(provisioned, quota, "$LATEST", 1, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "Provisioned Concurrency Configs cannot be applied to unpublished "
                  "function versions.");
    CHECK_INT(emu_provisioned_put(provisioned, quota, NULL, 1, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "Provisioned Concurrency Configs cannot be applied to unpublished "
                  "function versions.");
    CHECK_INT(emu_provisioned_put(provisioned, quota, "head", 1, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "Provisioned Concurrency Configs cannot be applied to unpublished "
                  "function versions.");
    CHECK_INT(emu_provisioned_put(provisioned, quota, "9", 1, &pc, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_TEST_ARN ":9");
    CHECK_INT(emu_provisioned_put(provisioned, quota, "nope", 1, &pc, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Cannot find alias arn: " S_TEST_ARN ":nope");
    CHECK_INT(emu_provisioned_put(provisioned, quota, "live", 11, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "Requested Provisioned Concurrency should not be greater than the "
                  "reservedConcurrentExecution for function");
    CHECK_INT(emu_provisioned_count(provisioned), 0);
    CHECK_INT(emu_provisioned_total(provisioned), 0);

    //  A config on the alias, allocated at once.
    CHECK_INT(emu_provisioned_put(provisioned, quota, "live", 4, &pc, &err), 0);
    CHECK_STR(pc.qualifier, "live");
    CHECK_INT(pc.requested, 4);
    CHECK_INT(pc.available, 0);
    CHECK_INT(pc.allocated, 4);
    CHECK_STR(pc.status, "IN_PROGRESS");
    CHECK_STR(pc.status_reason, "");
    CHECK_INT(emu_provisioned_total(provisioned), 4);
    CHECK_INT(member.provisioned, 4);
    CHECK_INT(emu_provisioned_count(provisioned), 1);
    emu_provisioned_at(provisioned, 0, &pc);
    CHECK_STR(pc.qualifier, "live");
    CHECK_INT(emu_provisioned_get(provisioned, "live", &pc, &err), 0);
    CHECK_INT(pc.requested, 4);
    CHECK_NULL(emu_provisioned_idle(provisioned, "live", one));
    //  The version under it may not get its own.
    CHECK_INT(emu_provisioned_put(provisioned, quota, "1", 1, &pc, &err), -1);
    s_check_error(&err, 409, "ResourceConflictException",
                  "Version is pointed by a Provisioned Concurrency alias");
    CHECK_INT(emu_provisioned_get(provisioned, "1", &pc, &err), -1);
    s_check_error(&err, 404, "ProvisionedConcurrencyConfigNotFoundException",
                  "No Provisioned Concurrency Config found for this function");
    CHECK_INT(emu_provisioned_get(provisioned, "$LATEST", &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "The function resource provided must be an alias or a published "
                  "version.");

    //  The alias may not move onto $LATEST nor onto a provisioned version.
    CHECK_INT(emu_provisioned_move_check(provisioned, "live", one, latest, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "Provisioned Concurrency Configs cannot be applied to unpublished "
                  "function versions.");
    emu_snap_update_t update = {.has_memory = true, .memory_mb = 512};
    CHECK_INT(emu_versions_update(versions, &update, &err), 0);
    emu_version_t *two = emu_versions_publish(versions, NULL, &err);
    CHECK_NOT_NULL(two);
    CHECK_INT(emu_provisioned_put(provisioned, quota, "2", 1, &pc, &err), 0);
    CHECK_INT(emu_provisioned_total(provisioned), 5);
    CHECK_INT(emu_provisioned_move_check(provisioned, "live", one, two, &err), -1);
    s_check_error(&err, 409, "ResourceConflictException",
                  "Alias can't be used for Provisioned Concurrency configuration on an "
                  "already Provisioned version");
    CHECK_INT(emu_provisioned_move_check(provisioned, "head", latest, two, &err), 0);
    //  Deleting: a missing config succeeds, $LATEST does not.
    CHECK_INT(emu_provisioned_delete(provisioned, "2", &err), 0);
    CHECK_INT(emu_provisioned_delete(provisioned, "2", &err), 0);
    CHECK_INT(emu_provisioned_delete(provisioned, "$LATEST", &err), -1);
    CHECK_INT(err.status, 400);
    CHECK_INT(emu_provisioned_total(provisioned), 4);
    CHECK_INT(emu_provisioned_move_check(provisioned, "live", one, two, &err), 0);
    //  The alias moves: its config follows, allocated on version 2.
    CHECK_INT(emu_versions_update_alias(versions, "live", "2", NULL,
                                        emu_provisioned_move_check, provisioned, &alias,
                                        &err),
              0);
    emu_provisioned_moved(provisioned, "live", two);
    CHECK_INT(emu_provisioned_get(provisioned, "live", &pc, &err), 0);
    CHECK_STR(pc.status, "IN_PROGRESS");
    CHECK_INT(pc.allocated, 4);
    CHECK_INT(emu_provisioned_total(provisioned), 4);
    //  Dropping the alias's config (the alias is being deleted).
    emu_provisioned_drop(provisioned, "live");
    CHECK_INT(emu_provisioned_count(provisioned), 0);
    CHECK_INT(emu_provisioned_total(provisioned), 0);
    CHECK_INT(member.provisioned, 0);

    CHECK_INT(emu_provisioned_delete(provisioned, "live", &err), 0);
    CHECK_INT(emu_provisioned_count(provisioned), 0);
    //  Unreserved, the account's pool must keep its 100.
    member.reserved = -1;
    CHECK_INT(emu_provisioned_put(provisioned, quota, "1", 901, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "Specified ConcurrentExecutions for function decreases account's "
                  "UnreservedConcurrentExecution below its minimum value of [100].");
    CHECK_INT(emu_provisioned_total(provisioned), 0);

    emu_provisioned_destroy(&provisioned);
    CHECK_NULL(provisioned);
    emu_quota_leave(quota, &member);
    emu_quota_destroy(&quota);
    emu_versions_destroy(&versions);
    emu_fleet_destroy(&fleet);
    emu_loop_destroy(&loop);

    char dir[] = "/tmp/emu_provisioned_test.XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    s_test_live(dir, "init_error", s_init_error_runtime, 2, true, verbose);
    s_test_live(dir, "crashing", s_crashing_runtime, 1, false, verbose);
    CHECK_INT(rmdir(dir), 0);
}
