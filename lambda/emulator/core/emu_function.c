/*  emu_function — one function: its versions, aliases, provisioned
    concurrency, environments and asynchronous events; see emu_function.h.

    Data model. A version (s_version_t) holds its current configuration
    snapshot (s_snap_t: what an environment starts with, reference-counted
    so that a running environment keeps the one it started with after an
    update) and its on-demand group. A group (s_group_t) is an emu_pool of
    environment records (s_rec_t): the on-demand environments of a
    version, or the provisioned environments of one provisioned config on
    one version. A provisioned config (s_pc_t) has one current group; when
    its alias moves or the config is deleted, the group is detached: its
    environments are recycled (idle ones stopped now, busy ones when they
    finish) and the group is freed once empty.

    Counting. on_demand_busy counts on-demand records serving an
    invocation (queued to start included); provisioned records serving one
    are counted apart. Admission of an on-demand invocation: a reserved
    function keeps on_demand_busy < reserved - provisioned total; an
    unreserved one keeps the account's unreserved on-demand in flight <
    unreserved - provisioned total of unreserved functions. Provisioned
    invocations need no admission: they are bounded by the configs, which
    fit in the reservation or the unreserved pool.

    Invariants: a record is in its group's pool from the moment its slot
    is taken until it is stopped or gone, then in `dead` until a deferred
    call destroys its environment; a stopped record is never reused; a
    record serves at most one invocation and `serving` says whether it is
    counted.
*/
#define _GNU_SOURCE //  asprintf
#include "emu_function.h"
#include "emu_account.h"
#include "emu_env.h"
#include "emu_furl.h"
#include "emu_pool.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Variables the emulator sets before the user's.
#define S_ENV_OWN 16
#define S_OD 0 //  on-demand environment list
#define S_PC 1 //  provisioned-concurrency environment list
//  First throttle backoff of an asynchronous event; doubles up to the cap.
#define S_BACKOFF_NS (100 * SP_NS_PER_MS)
#define S_BACKOFF_MAX_NS (5 * SP_NS_PER_S)
#define S_RETRY_DELAY_NS SP_NS_PER_S

typedef struct _s_group_t s_group_t;
typedef struct _s_pc_t s_pc_t;
typedef struct _s_version_t s_version_t;

//  A version's configuration at one time.
typedef struct {
    unsigned refs;
    char version[EMU_INVOCATION_VERSION_MAX + 1];
    char *description;
    int timeout_s;
    int memory_mb;
    char **vars; //  user variables, "KEY=VALUE"
    size_t var_count;
    char **env[2]; //  what runtimes get: [S_OD], [S_PC]
    size_t env_count[2];
    size_t env_cap; //  entries of each env array
    char revision_id[EMU_INVOCATION_ID_SIZE];
    int64_t last_modified_ms;
    uint64_t change; //  $LATEST's change counter it was taken from
} s_snap_t;

struct _s_version_t {
    s_snap_t *snap;      //  current configuration
    s_group_t *ondemand; //  its on-demand environments
};

typedef struct {
    char name[EMU_FUNCTION_QUALIFIER_MAX + 1];
    s_version_t *version;
    char *description;
    char revision_id[EMU_INVOCATION_ID_SIZE];
} s_alias_t;

struct _s_pc_t {
    char qualifier[EMU_FUNCTION_QUALIFIER_MAX + 1];
    int requested;
    s_group_t *group; //  current allocation
    bool failed;
    char reason[256];
    int64_t last_modified_ms;
};

struct _s_group_t {
    emu_function_t *function;
    s_version_t *version;
    s_pc_t *pc;       //  provisioned and current; NULL otherwise
    bool provisioned; //  its records are provisioned environments
    emu_pool_t *pool; //  items: s_rec_t
    size_t buried;    //  its records awaiting burial (they point here)
};

//  One execution environment and what we know of it.
typedef struct {
    s_group_t *group;
    s_snap_t *snap; //  a reference: what it started with
    size_t slot;
    emu_env_t *env;            //  NULL while queued to start
    emu_invocation_t *pending; //  to assign once started
    bool serving;              //  counted as in flight
    bool ready;                //  reached its first /next
    bool recycle;              //  stop it when it next goes idle
    bool stopped;              //  out of the pool, awaiting burial
    int64_t idle_since_ns;     //  CLOCK_MONOTONIC
} s_rec_t;

//  One asynchronous event.
typedef struct {
    emu_function_t *function;
    char qualifier[EMU_FUNCTION_QUALIFIER_MAX + 1];
    char request_id[EMU_INVOCATION_ID_SIZE];
    char *event;
    size_t len;
    int64_t enqueued_ns;          //  CLOCK_MONOTONIC
    int64_t due_ns;               //  not before
    int retries;                  //  function-error retries made
    int throttles;                //  in a row
    emu_invocation_t *invocation; //  while it runs
} s_event_t;

struct _emu_function_t {
    emu_loop_t *loop;                    //  borrowed
    const emu_function_config_t *config; //  borrowed
    emu_account_t *account;              //  borrowed, or NULL
    bool verbose;
    bool destroying;
    int reserved;  //  -1: none
    char *handler; //  the executable's file name
    char code_sha256[48];
    int64_t code_size;
    uint64_t change; //  updates of $LATEST so far
    int64_t idle_ttl_ns;
    s_version_t **versions; //  [0] is $LATEST
    size_t version_count;
    s_alias_t **aliases;
    size_t alias_count;
    s_pc_t **pcs;
    size_t pc_count;
    s_group_t **groups; //  every group, detached ones until empty
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
    s_event_t **queue;        //  asynchronous events waiting, FIFO
    size_t queue_count;
    emu_timer_t *pump_timer;
    int64_t pump_at_ns;
    int on_demand_busy;
    int provisioned_busy;
    unsigned serial; //  environments started so far
    emu_function_stats_t stats;
};

static void s_pump_soon(emu_function_t *self, int64_t delay_ns);
static void s_stop(emu_function_t *self, s_rec_t *rec);
static void s_sweep_arm(emu_function_t *self);

//  --- helpers ------------------------------------------------------------

static int64_t
s_now_ms(void)
{
    return sp_clock_wall_ns() / SP_NS_PER_MS;
}

static bool
s_is_latest(const char *qualifier)
{
    return !qualifier || !*qualifier || strcmp(qualifier, "$LATEST") == 0;
}

static bool
s_is_number(const char *text)
{
    if (!*text)
        return false;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

//  SHA-256 of the file at `path`, base64, and its size.
static int
s_code_digest(const char *path, char *out, size_t size, int64_t *size_p)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : -1;
    int64_t total = 0;
    unsigned char buf[65536];
    while (rc == 0) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -1;
        if (n <= 0)
            break;
        total += n;
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            rc = -1;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (rc == 0 && EVP_DigestFinal_ex(ctx, digest, &len) != 1)
        rc = -1;
    EVP_MD_CTX_free(ctx);
    close(fd);
    if (rc == 0) {
        assert(size >= 45 && len == 32);
        EVP_EncodeBlock((unsigned char *)out, digest, (int)len);
        *size_p = total;
    }
    return rc;
}

//  --- snapshots ----------------------------------------------------------

static void
s_snap_unref(s_snap_t **snap_p)
{
    s_snap_t *snap = *snap_p;
    *snap_p = NULL;
    if (!snap || --snap->refs > 0)
        return;
    free(snap->description);
    for (size_t i = 0; i < snap->var_count; i++)
        free(snap->vars[i]);
    free(snap->vars);
    for (int kind = 0; kind < 2; kind++) {
        for (size_t i = 0; i < snap->env_count[kind]; i++)
            free(snap->env[kind][i]);
        free(snap->env[kind]);
    }
    free(snap);
}

static s_snap_t *
s_snap_ref(s_snap_t *snap)
{
    snap->refs++;
    return snap;
}

//  Sets KEY=VALUE `pair` in an environment list, replacing the same key.
static int
s_setenv(char **env, size_t *count, size_t cap, const char *pair)
{
    size_t key_len = strcspn(pair, "=");
    char *copy = strdup(pair);
    if (!copy)
        return -1;
    for (size_t i = 0; i < *count; i++)
        if (strncmp(env[i], pair, key_len + 1) == 0) {
            free(env[i]);
            env[i] = copy;
            return 0;
        }
    assert(*count < cap);
    env[(*count)++] = copy;
    return 0;
}

static int
s_setenvf(char **env, size_t *count, size_t cap, const char *key, const char *value)
{
    char *pair = NULL;
    if (asprintf(&pair, "%s=%s", key, value) < 0)
        return -1;
    int rc = s_setenv(env, count, cap, pair);
    free(pair);
    return rc;
}

//  Fills both environment lists of `snap` from its fields.
static int
s_snap_build_env(emu_function_t *self, s_snap_t *snap)
{
    const emu_function_config_t *config = self->config;
    char *path = strdup(config->path);
    if (!path)
        return -1;
    const char *dir = dirname(path);
    char group[EMU_ROUTE_NAME_MAX + 16], memory[16];
    snprintf(group, sizeof group, "/aws/lambda/%s", config->name);
    snprintf(memory, sizeof memory, "%d", snap->memory_mb);
    const char *search = getenv("PATH");
    const char *lang = getenv("LANG");
    int rc = 0;
    size_t cap = snap->env_cap;
    for (int kind = 0; kind < 2; kind++) {
        char **env = snap->env[kind];
        size_t *n = &snap->env_count[kind];
        rc |= s_setenvf(env, n, cap, "_HANDLER", self->handler);
        rc |= s_setenvf(env, n, cap, "AWS_LAMBDA_FUNCTION_NAME", config->name);
        rc |= s_setenvf(env, n, cap, "AWS_LAMBDA_FUNCTION_VERSION", snap->version);
        rc |= s_setenvf(env, n, cap, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory);
        rc |= s_setenvf(env, n, cap, "AWS_LAMBDA_INITIALIZATION_TYPE",
                        kind == S_OD ? "on-demand" : "provisioned-concurrency");
        rc |= s_setenvf(env, n, cap, "AWS_REGION", EMU_FURL_REGION);
        rc |= s_setenvf(env, n, cap, "AWS_DEFAULT_REGION", EMU_FURL_REGION);
        rc |= s_setenvf(env, n, cap, "LAMBDA_TASK_ROOT", dir);
        rc |= s_setenvf(env, n, cap, "LAMBDA_RUNTIME_DIR", dir);
        rc |= s_setenvf(env, n, cap, "AWS_LAMBDA_LOG_GROUP_NAME", group);
        rc |= s_setenvf(env, n, cap, "TZ", ":UTC");
        rc |= s_setenvf(env, n, cap, "LANG", lang && *lang ? lang : "en_US.UTF-8");
        rc |= s_setenvf(env, n, cap, "PATH",
                        search && *search ? search : "/usr/local/bin:/usr/bin:/bin");
        for (size_t i = 0; i < snap->var_count; i++)
            rc |= s_setenv(env, n, cap, snap->vars[i]);
    }
    free(path);
    return rc ? -1 : 0;
}

//  A new snapshot named `version`: a copy of `from` (or the function's
//  configuration when NULL) with `update` applied (may be NULL).
static s_snap_t *
s_snap_new(emu_function_t *self, const char *version, const s_snap_t *from,
           const emu_function_update_t *update)
{
    s_snap_t *snap = calloc(1, sizeof *snap);
    if (!snap)
        return NULL;
    snap->refs = 1;
    snprintf(snap->version, sizeof snap->version, "%s", version);
    const emu_function_config_t *config = self->config;
    const char *description = from ? from->description : "";
    snap->timeout_s = from                    ? from->timeout_s
                      : config->timeout_s > 0 ? config->timeout_s
                                              : EMU_CONFIG_TIMEOUT_DEFAULT;
    snap->memory_mb = from                    ? from->memory_mb
                      : config->memory_mb > 0 ? config->memory_mb
                                              : EMU_CONFIG_MEMORY_DEFAULT;
    const char *const *vars = from ? (const char *const *)from->vars : config->env;
    size_t var_count = from ? from->var_count : config->env_count;
    if (update) {
        if (update->has_timeout)
            snap->timeout_s = update->timeout_s;
        if (update->has_memory)
            snap->memory_mb = update->memory_mb;
        if (update->has_description)
            description = update->description;
        if (update->has_variables) {
            vars = update->variables;
            var_count = update->variable_count;
        }
    }
    snap->change = self->change;
    snap->last_modified_ms = from && !update ? from->last_modified_ms : s_now_ms();
    if (from && !update)
        memcpy(snap->revision_id, from->revision_id, sizeof snap->revision_id);
    else
        emu_invocation_new_id(snap->revision_id);
    snap->description = strdup(description ? description : "");
    snap->vars = calloc(var_count + 1, sizeof *snap->vars);
    snap->env_cap = var_count + S_ENV_OWN;
    snap->env[S_OD] = calloc(snap->env_cap, sizeof *snap->env[S_OD]);
    snap->env[S_PC] = calloc(snap->env_cap, sizeof *snap->env[S_PC]);
    int rc =
        snap->description && snap->vars && snap->env[S_OD] && snap->env[S_PC] ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < var_count; i++) {
        snap->vars[i] = strdup(vars[i]);
        if (!snap->vars[i])
            rc = -1;
        else
            snap->var_count++;
    }
    if (rc == 0)
        rc = s_snap_build_env(self, snap);
    if (rc) {
        s_snap_unref(&snap);
        return NULL;
    }
    return snap;
}

//  --- groups and records -------------------------------------------------

static s_group_t *
s_group_new(emu_function_t *self, s_version_t *version, s_pc_t *pc)
{
    s_group_t **grown =
        realloc(self->groups, (self->group_count + 1) * sizeof *self->groups);
    if (!grown)
        return NULL;
    self->groups = grown;
    s_group_t *group = calloc(1, sizeof *group);
    if (!group)
        return NULL;
    group->function = self;
    group->version = version;
    group->pc = pc;
    group->provisioned = pc != NULL;
    group->pool = emu_pool_new(EMU_POOL_CAP_MAX);
    if (!group->pool) {
        free(group);
        return NULL;
    }
    self->groups[self->group_count++] = group;
    return group;
}

static void
s_group_free(emu_function_t *self, s_group_t *group)
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
s_group_collect(emu_function_t *self, s_group_t *group)
{
    if (group->provisioned && !group->pc && emu_pool_size(group->pool) == 0 &&
        group->buried == 0)
        s_group_free(self, group);
}

static s_rec_t *
s_rec_at(s_group_t *group, size_t slot)
{
    return emu_pool_item(group->pool, slot);
}

//  Counts the record as serving an invocation, or stops counting it.
static void
s_serving(emu_function_t *self, s_rec_t *rec, bool serving)
{
    if (rec->serving == serving)
        return;
    rec->serving = serving;
    int delta = serving ? 1 : -1;
    if (rec->group->provisioned)
        self->provisioned_busy += delta;
    else
        self->on_demand_busy += delta;
    assert(self->on_demand_busy >= 0 && self->provisioned_busy >= 0);
}

static void
s_bury(emu_loop_t *loop, void *arg)
{
    emu_function_t *self = arg;
    self->burial_queued = false;
    //  Destroying may hand invocations back, whose owners may stop more.
    while (self->dead_count > 0) {
        s_rec_t *rec = self->dead[--self->dead_count];
        s_group_t *group = rec->group;
        group->buried--;
        emu_env_destroy(&rec->env);
        s_snap_unref(&rec->snap);
        free(rec);
        s_group_collect(self, group);
    }
}

//  Moves a record out of its pool into the dead list.
static void
s_retire(emu_function_t *self, s_rec_t *rec)
{
    assert(!rec->stopped);
    emu_pool_remove(rec->group->pool, rec->slot);
    rec->stopped = true;
    rec->group->buried++;
    if (self->dead_count == self->dead_cap) {
        size_t cap = self->dead_cap ? self->dead_cap * 2 : 16;
        s_rec_t **grown = realloc(self->dead, cap * sizeof *grown);
        assert(grown); //  a few pointers: running out here is not survivable
        self->dead = grown;
        self->dead_cap = cap;
    }
    self->dead[self->dead_count++] = rec;
    if (!self->burial_queued && !self->destroying) {
        int rc = emu_loop_defer(self->loop, s_bury, self);
        assert(rc == 0);
        self->burial_queued = true;
    }
}

//  Stops an idle (or never started) environment: out of the pool now,
//  its process killed from a deferred call.
static void
s_stop(emu_function_t *self, s_rec_t *rec)
{
    assert(!rec->serving && !rec->pending);
    s_retire(self, rec);
}

//  Recycles every environment of `group`: idle ones stop now, busy ones
//  when they finish, queued ones never start.
static void
s_recycle_group(emu_function_t *self, s_group_t *group)
{
    for (size_t slot = 0; slot < emu_pool_slots(group->pool); slot++) {
        s_rec_t *rec = s_rec_at(group, slot);
        if (!rec)
            continue;
        rec->recycle = true;
        if (emu_pool_is_idle(group->pool, slot))
            s_stop(self, rec);
    }
}

//  --- provisioned configs ------------------------------------------------

static int
s_pc_live(s_pc_t *pc, int *ready_p)
{
    int live = 0, ready = 0;
    if (pc->group)
        for (size_t slot = 0; slot < emu_pool_slots(pc->group->pool); slot++) {
            s_rec_t *rec = s_rec_at(pc->group, slot);
            if (rec && !rec->recycle) {
                live++;
                ready += rec->ready;
            }
        }
    if (ready_p)
        *ready_p = ready;
    return live;
}

static void
s_pc_fail(emu_function_t *self, s_pc_t *pc, const char *why)
{
    if (pc->failed)
        return;
    pc->failed = true;
    snprintf(pc->reason, sizeof pc->reason, "FUNCTION_ERROR_INIT_FAILURE: %.200s", why);
    pc->last_modified_ms = s_now_ms();
    zsys_warning("provisioned concurrency failed function=%s qualifier=%s reason=\"%s\"",
                 self->config->name, pc->qualifier, pc->reason);
}

static int s_queue_start(emu_function_t *self, s_rec_t *rec);

//  Starts provisioned environments until `requested` are live; stops
//  the surplus (idle ones first) when there are more.
static int
s_pc_fill(emu_function_t *self, s_pc_t *pc)
{
    s_group_t *group = pc->group;
    int live = s_pc_live(pc, NULL);
    for (size_t slot = 0; live > pc->requested && slot < emu_pool_slots(group->pool);
         slot++) {
        s_rec_t *rec = s_rec_at(group, slot);
        if (rec && !rec->recycle && emu_pool_is_idle(group->pool, slot)) {
            rec->recycle = true;
            s_stop(self, rec);
            live--;
        }
    }
    for (size_t slot = 0; live > pc->requested && slot < emu_pool_slots(group->pool);
         slot++) {
        s_rec_t *rec = s_rec_at(group, slot);
        if (rec && !rec->recycle) {
            rec->recycle = true;
            live--;
        }
    }
    for (; live < pc->requested; live++) {
        size_t slot = 0;
        if (emu_pool_open(group->pool, &slot) != EMU_POOL_SPAWN)
            return -1;
        s_rec_t *rec = calloc(1, sizeof *rec);
        if (!rec) {
            emu_pool_remove(group->pool, slot);
            return -1;
        }
        *rec = (s_rec_t){
            .group = group, .snap = s_snap_ref(group->version->snap), .slot = slot};
        emu_pool_set_item(group->pool, slot, rec);
        if (s_queue_start(self, rec)) {
            emu_pool_remove(group->pool, slot);
            s_snap_unref(&rec->snap);
            free(rec);
            return -1;
        }
    }
    return 0;
}

//  Detaches the config's group: its environments are recycled.
static void
s_pc_release(emu_function_t *self, s_pc_t *pc)
{
    s_group_t *group = pc->group;
    if (!group)
        return;
    pc->group = NULL;
    group->pc = NULL;
    s_recycle_group(self, group);
    s_group_collect(self, group);
}

//  (Re)allocates the config on `version`.
static int
s_pc_allocate(emu_function_t *self, s_pc_t *pc, s_version_t *version)
{
    if (pc->group && pc->group->version != version)
        s_pc_release(self, pc);
    if (!pc->group) {
        pc->group = s_group_new(self, version, pc);
        if (!pc->group)
            return -1;
    }
    pc->failed = false;
    pc->reason[0] = '\0';
    pc->last_modified_ms = s_now_ms();
    return s_pc_fill(self, pc);
}

static s_pc_t *
s_pc_find(emu_function_t *self, const char *qualifier)
{
    for (size_t i = 0; i < self->pc_count; i++)
        if (strcmp(self->pcs[i]->qualifier, qualifier) == 0)
            return self->pcs[i];
    return NULL;
}

static void
s_pc_remove(emu_function_t *self, s_pc_t *pc)
{
    s_pc_release(self, pc);
    for (size_t i = 0; i < self->pc_count; i++)
        if (self->pcs[i] == pc) {
            memmove(self->pcs + i, self->pcs + i + 1,
                    (self->pc_count - i - 1) * sizeof *self->pcs);
            self->pc_count--;
            break;
        }
    free(pc);
}

static void
s_pc_info(s_pc_t *pc, emu_function_provisioned_info_t *info)
{
    int ready = 0;
    int live = s_pc_live(pc, &ready);
    *info = (emu_function_provisioned_info_t){
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

//  --- environment events -------------------------------------------------

static void
s_env_idle(emu_env_t *env, void *arg)
{
    s_rec_t *rec = arg;
    s_group_t *group = rec->group;
    emu_function_t *self = group->function;
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
    if (self->queue_count > 0)
        s_pump_soon(self, 0);
}

static void
s_env_gone(emu_env_t *env, void *arg)
{
    s_rec_t *rec = arg;
    s_group_t *group = rec->group;
    emu_function_t *self = group->function;
    if (rec->stopped)
        return; //  already on its way out
    s_serving(self, rec, false);
    bool init_failed = !rec->ready;
    s_retire(self, rec);
    s_pc_t *pc = group->pc;
    if (pc && !rec->recycle) {
        if (init_failed) {
            char why[160];
            snprintf(why, sizeof why,
                     "an execution environment of version %s failed to initialize",
                     group->version->snap->version);
            s_pc_fail(self, pc, why);
        } else if (!pc->failed && s_pc_fill(self, pc))
            s_pc_fail(self, pc, "cannot start a replacement environment");
    }
    if (self->queue_count > 0)
        s_pump_soon(self, 0);
}

static const emu_env_events_t s_env_events = {.idle = s_env_idle, .gone = s_env_gone};

//  --- starting environments ----------------------------------------------

static void
s_start_batch(emu_loop_t *loop, void *arg)
{
    emu_function_t *self = arg;
    self->start_timer = NULL;
    for (int n = 0; n < EMU_FUNCTION_SPAWN_BATCH && self->start_count > 0; n++) {
        s_rec_t *rec = self->starts[self->start_head];
        self->start_head = (self->start_head + 1) % self->start_cap;
        self->start_count--;
        s_group_t *group = rec->group;
        if (rec->recycle && !rec->pending) {
            //  Not needed any more (a provisioned config moved or shrank).
            emu_pool_remove(group->pool, rec->slot);
            s_snap_unref(&rec->snap);
            free(rec);
            s_group_collect(self, group);
            continue;
        }
        int kind = group->provisioned ? S_PC : S_OD;
        emu_env_spec_t spec = {
            .function = self->config->name,
            .path = self->config->path,
            .env = (const char *const *)rec->snap->env[kind],
            .env_count = rec->snap->env_count[kind],
            .timeout_ns = (int64_t)rec->snap->timeout_s * SP_NS_PER_S,
            .init_timeout_ns = EMU_ENV_INIT_TIMEOUT_NS,
            .verbose = self->verbose,
        };
        char err[256];
        rec->env = emu_env_new(self->loop, &spec, ++self->serial, rec->slot,
                               &s_env_events, rec, err, sizeof err);
        if (!rec->env) {
            self->stats.spawn_failures++;
            zsys_error("environment failed to start function=%s error=\"%s\"",
                       self->config->name, err);
            emu_invocation_t *pending = rec->pending;
            rec->pending = NULL;
            s_serving(self, rec, false);
            emu_pool_remove(group->pool, rec->slot);
            s_snap_unref(&rec->snap);
            free(rec);
            if (group->pc)
                s_pc_fail(self, group->pc, err);
            s_group_collect(self, group);
            if (pending)
                emu_invocation_fail(&pending, EMU_INVOCATION_INIT_ERROR,
                                    "Runtime.InvalidEntrypoint", err);
            continue;
        }
        self->stats.spawns++;
        if (rec->pending) {
            emu_invocation_t *pending = rec->pending;
            rec->pending = NULL;
            emu_env_assign(rec->env, pending);
        }
    }
    if (self->start_count > 0) {
        self->start_timer = emu_loop_timer_start(loop, 0, s_start_batch, self);
        assert(self->start_timer);
    }
}

static int
s_queue_start(emu_function_t *self, s_rec_t *rec)
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
    emu_function_t *self = arg;
    self->sweep_timer = NULL;
    int64_t now = sp_clock_mono_ns();
    bool idle_left = false;
    for (size_t g = 0; g < self->group_count; g++) {
        s_group_t *group = self->groups[g];
        if (group->provisioned)
            continue;
        for (size_t slot = 0; slot < emu_pool_slots(group->pool); slot++) {
            if (!emu_pool_is_idle(group->pool, slot))
                continue;
            s_rec_t *rec = s_rec_at(group, slot);
            if (now - rec->idle_since_ns >= self->idle_ttl_ns) {
                zsys_info("environment reclaimed function=%s env=%s idle_s=%.1f",
                          self->config->name, emu_env_name(rec->env),
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
s_sweep_arm(emu_function_t *self)
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

//  --- versions and aliases ------------------------------------------------

static s_version_t *
s_version_new(emu_function_t *self, s_snap_t *snap)
{
    s_version_t **grown =
        realloc(self->versions, (self->version_count + 1) * sizeof *self->versions);
    if (!grown)
        return NULL;
    self->versions = grown;
    s_version_t *version = calloc(1, sizeof *version);
    if (!version)
        return NULL;
    version->snap = snap;
    version->ondemand = s_group_new(self, version, NULL);
    if (!version->ondemand) {
        free(version);
        return NULL;
    }
    self->versions[self->version_count++] = version;
    return version;
}

//  "$LATEST" (or NULL, "") or a published version number; NULL otherwise.
static s_version_t *
s_version_find(emu_function_t *self, const char *name)
{
    if (s_is_latest(name))
        return self->versions[0];
    if (!s_is_number(name) || name[0] == '0' || strlen(name) > 9)
        return NULL;
    size_t number = (size_t)strtoul(name, NULL, 10);
    return number < self->version_count ? self->versions[number] : NULL;
}

static s_alias_t *
s_alias_find(emu_function_t *self, const char *name)
{
    for (size_t i = 0; i < self->alias_count; i++)
        if (strcmp(self->aliases[i]->name, name) == 0)
            return self->aliases[i];
    return NULL;
}

//  The version `qualifier` runs; the alias in *alias_p when it is one.
static s_version_t *
s_resolve(emu_function_t *self, const char *qualifier, s_alias_t **alias_p)
{
    if (alias_p)
        *alias_p = NULL;
    if (s_is_latest(qualifier) || s_is_number(qualifier))
        return s_version_find(self, qualifier);
    s_alias_t *alias = s_alias_find(self, qualifier);
    if (alias_p)
        *alias_p = alias;
    return alias ? alias->version : NULL;
}

static void
s_version_info(emu_function_t *self, s_version_t *version,
               emu_function_version_info_t *info)
{
    s_snap_t *snap = version->snap;
    *info = (emu_function_version_info_t){
        .version = snap->version,
        .description = snap->description,
        .timeout_s = snap->timeout_s,
        .memory_mb = snap->memory_mb,
        .variables = (const char *const *)snap->vars,
        .variable_count = snap->var_count,
        .handler = self->handler,
        .code_sha256 = self->code_sha256,
        .code_size = self->code_size,
        .last_modified_ms = snap->last_modified_ms,
        .revision_id = snap->revision_id,
    };
}

static void
s_alias_info(s_alias_t *alias, emu_function_alias_info_t *info)
{
    *info = (emu_function_alias_info_t){
        .name = alias->name,
        .version = alias->version->snap->version,
        .description = alias->description,
        .revision_id = alias->revision_id,
    };
}

static void
s_alias_arn(emu_function_t *self, const char *name, char *out, size_t size)
{
    emu_aws_function_arn(self->config->name, name, out, size);
}

static void
s_out_of_memory(emu_aws_error_t *err)
{
    emu_aws_error_set(err, 500, "ServiceException", "The emulator ran out of memory.");
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
    self->verbose = verbose;
    self->reserved = config->reserved;
    int ttl_s = config->idle_ttl_s > 0 ? config->idle_ttl_s : EMU_CONFIG_IDLE_TTL_DEFAULT;
    self->idle_ttl_ns = (int64_t)ttl_s * SP_NS_PER_S;
    char *file = strdup(config->path);
    self->handler = file ? strdup(basename(file)) : NULL;
    free(file);
    //  An unreadable executable fails at its first start, as on AWS.
    if (s_code_digest(config->path, self->code_sha256, sizeof self->code_sha256,
                      &self->code_size)) {
        self->code_sha256[0] = '\0';
        self->code_size = 0;
    }
    s_snap_t *snap = self->handler ? s_snap_new(self, "$LATEST", NULL, NULL) : NULL;
    if (!snap || !s_version_new(self, snap)) {
        s_snap_unref(&snap);
        emu_function_destroy(&self);
        return NULL;
    }
    return self;
}

static void
s_rec_free(emu_function_t *self, s_rec_t *rec)
{
    if (rec->pending) {
        emu_invocation_t *pending = rec->pending;
        rec->pending = NULL;
        emu_invocation_fail(&pending, EMU_INVOCATION_ABORTED, "ServiceException",
                            "the function was shut down");
    }
    emu_env_destroy(&rec->env);
    s_snap_unref(&rec->snap);
    free(rec);
}

void
emu_function_destroy(emu_function_t **self_p)
{
    assert(self_p);
    emu_function_t *self = *self_p;
    if (!self)
        return;
    self->destroying = true;
    emu_loop_timer_cancel(self->loop, &self->start_timer);
    emu_loop_timer_cancel(self->loop, &self->sweep_timer);
    emu_loop_timer_cancel(self->loop, &self->pump_timer);
    for (size_t i = 0; i < self->queue_count; i++) {
        free(self->queue[i]->event);
        free(self->queue[i]);
    }
    self->queue_count = 0;
    free(self->queue);
    //  Queued records are also in their pools: freed with them below.
    free(self->starts);
    self->starts = NULL;
    self->start_count = 0;
    for (size_t g = 0; g < self->group_count; g++) {
        s_group_t *group = self->groups[g];
        for (size_t slot = 0; slot < emu_pool_slots(group->pool); slot++) {
            s_rec_t *rec = s_rec_at(group, slot);
            if (rec) {
                emu_pool_remove(group->pool, slot);
                s_rec_free(self, rec);
            }
        }
    }
    for (size_t i = 0; i < self->dead_count; i++)
        s_rec_free(self, self->dead[i]);
    free(self->dead);
    while (self->group_count > 0)
        s_group_free(self, self->groups[self->group_count - 1]);
    free(self->groups);
    for (size_t i = 0; i < self->pc_count; i++)
        free(self->pcs[i]);
    free(self->pcs);
    for (size_t i = 0; i < self->alias_count; i++) {
        free(self->aliases[i]->description);
        free(self->aliases[i]);
    }
    free(self->aliases);
    for (size_t i = 0; i < self->version_count; i++) {
        s_snap_unref(&self->versions[i]->snap);
        free(self->versions[i]);
    }
    free(self->versions);
    free(self->handler);
    free(self);
    *self_p = NULL;
}

void
emu_function_set_account(emu_function_t *self, emu_account_t *account)
{
    assert(self && account);
    self->account = account;
}

int
emu_function_on_demand_in_flight(emu_function_t *self)
{
    assert(self);
    return self->on_demand_busy;
}

int
emu_function_provisioned_total(emu_function_t *self)
{
    assert(self);
    int total = 0;
    for (size_t i = 0; i < self->pc_count; i++)
        total += self->pcs[i]->requested;
    return total;
}

//  Provisioned concurrency of the account's unreserved functions.
static int
s_unreserved_provisioned(emu_account_t *account)
{
    int total = 0;
    for (size_t i = 0; i < emu_account_function_count(account); i++) {
        emu_function_t *function = emu_account_function_at(account, i);
        if (function->reserved < 0)
            total += emu_function_provisioned_total(function);
    }
    return total;
}

//  On-demand invocations the function may have in flight now (its
//  share of the unreserved pool counts what other functions use).
static int
s_on_demand_room(emu_function_t *self, const char **reason_p)
{
    int provisioned = emu_function_provisioned_total(self);
    if (self->reserved >= 0) {
        *reason_p = "ReservedFunctionConcurrentInvocationLimitExceeded";
        return self->reserved - provisioned - self->on_demand_busy;
    }
    *reason_p = "ConcurrentInvocationLimitExceeded";
    if (!self->account)
        return EMU_CONFIG_ACCOUNT_LIMIT - provisioned - self->on_demand_busy;
    return emu_account_unreserved(self->account) -
           s_unreserved_provisioned(self->account) -
           emu_account_unreserved_in_flight(self->account);
}

static int
s_admit_on_demand(emu_function_t *self, emu_aws_error_t *err)
{
    const char *reason = NULL;
    if (s_on_demand_room(self, &reason) > 0)
        return 0;
    emu_aws_error_throttle(err, reason);
    return -1;
}

//  A provisioned group of `version` with an idle environment: the
//  config named `name` first, then any other on the same version.
static s_group_t *
s_provisioned_idle(emu_function_t *self, const char *name, s_version_t *version)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < self->pc_count; i++) {
            s_pc_t *pc = self->pcs[i];
            bool own = strcmp(pc->qualifier, name) == 0;
            if ((pass == 0) != own || !pc->group || pc->group->version != version)
                continue;
            if (emu_pool_idle(pc->group->pool) > 0)
                return pc->group;
        }
    return NULL;
}

//  Hands `invocation` to an idle provisioned environment of `group`. The
//  environment initialised ahead, so the invocation is warm (emu_env marks
//  cold only an invocation that waited for its environment to start).
static int
s_run_provisioned(emu_function_t *self, s_group_t *group, emu_invocation_t *invocation)
{
    size_t slot = 0;
    bool taken = emu_pool_reuse(group->pool, &slot);
    assert(taken);
    s_rec_t *rec = s_rec_at(group, slot);
    s_serving(self, rec, true);
    emu_env_assign(rec->env, invocation);
    return 0;
}

static emu_function_dispatch_t
s_dispatch(emu_function_t *self, const char *qualifier, emu_invocation_t *invocation,
           emu_aws_error_t *err, bool count_throttle)
{
    s_alias_t *alias = NULL;
    s_version_t *version = s_resolve(self, qualifier, &alias);
    if (!version) {
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return EMU_FUNCTION_DISPATCH_REFUSED;
    }
    emu_invocation_set_version(invocation, version->snap->version);
    s_group_t *provisioned =
        s_provisioned_idle(self, alias ? alias->name : version->snap->version, version);
    if (provisioned) {
        if (s_run_provisioned(self, provisioned, invocation))
            return EMU_FUNCTION_DISPATCH_FAILED;
        self->stats.invocations++;
        return EMU_FUNCTION_DISPATCH_OK;
    }
    if (s_admit_on_demand(self, err)) {
        if (count_throttle)
            self->stats.throttles++;
        return EMU_FUNCTION_DISPATCH_REFUSED;
    }
    s_group_t *group = version->ondemand;
    size_t slot = 0;
    s_rec_t *rec = NULL;
    switch (emu_pool_acquire(group->pool, &slot)) {
    case EMU_POOL_REUSE:
        rec = s_rec_at(group, slot);
        s_serving(self, rec, true);
        emu_env_assign(rec->env, invocation);
        break;
    case EMU_POOL_SPAWN:
        rec = calloc(1, sizeof *rec);
        if (!rec) {
            emu_pool_remove(group->pool, slot);
            return EMU_FUNCTION_DISPATCH_FAILED;
        }
        *rec = (s_rec_t){.group = group, .snap = s_snap_ref(version->snap), .slot = slot};
        emu_pool_set_item(group->pool, slot, rec);
        if (s_queue_start(self, rec)) {
            emu_pool_remove(group->pool, slot);
            s_snap_unref(&rec->snap);
            free(rec);
            return EMU_FUNCTION_DISPATCH_FAILED;
        }
        rec->pending = invocation;
        s_serving(self, rec, true);
        break;
    case EMU_POOL_THROTTLE:
        emu_aws_error_throttle(
            err, self->reserved >= 0 ? "ReservedFunctionConcurrentInvocationLimitExceeded"
                                     : "ConcurrentInvocationLimitExceeded");
        if (count_throttle)
            self->stats.throttles++;
        return EMU_FUNCTION_DISPATCH_REFUSED;
    case EMU_POOL_FAILED:
        return EMU_FUNCTION_DISPATCH_FAILED;
    }
    self->stats.invocations++;
    return EMU_FUNCTION_DISPATCH_OK;
}

int
emu_function_resolve(emu_function_t *self, const char *qualifier, const char **version_p,
                     emu_aws_error_t *err)
{
    assert(self && err);
    s_version_t *version = s_resolve(self, qualifier, NULL);
    if (!version) {
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return -1;
    }
    if (version_p)
        *version_p = version->snap->version;
    return 0;
}

int
emu_function_admit(emu_function_t *self, const char *qualifier, emu_aws_error_t *err)
{
    assert(self && err);
    s_alias_t *alias = NULL;
    s_version_t *version = s_resolve(self, qualifier, &alias);
    if (!version) {
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return -1;
    }
    if (s_provisioned_idle(self, alias ? alias->name : version->snap->version, version))
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
    self->stats.throttles++;
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
    s_snap_t *snap = self->versions[0]->snap;
    if (count_p)
        *count_p = snap->env_count[S_OD];
    return (const char *const *)snap->env[S_OD];
}

void
emu_function_stats(emu_function_t *self, emu_function_stats_t *stats)
{
    assert(self && stats);
    *stats = self->stats;
    stats->starting = self->start_count;
    stats->environments = 0;
    stats->idle = 0;
    for (size_t g = 0; g < self->group_count; g++) {
        stats->environments += emu_pool_size(self->groups[g]->pool);
        stats->idle += emu_pool_idle(self->groups[g]->pool);
    }
    const char *reason = NULL;
    int room = s_on_demand_room(self, &reason) + self->on_demand_busy;
    if (self->account && self->reserved < 0)
        room = s_on_demand_room(self, &reason) +
               emu_account_unreserved_in_flight(self->account);
    stats->cap = room > 0 ? (size_t)room : 0;
    stats->queued = self->queue_count;
}

//  --- asynchronous events ------------------------------------------------

static void
s_event_free(s_event_t **event_p)
{
    s_event_t *event = *event_p;
    if (event) {
        free(event->event);
        free(event);
    }
    *event_p = NULL;
}

static int
s_queue_push(emu_function_t *self, s_event_t *event)
{
    if (self->queue_count >= EMU_FUNCTION_QUEUE_MAX)
        return -1;
    if ((self->queue_count & (self->queue_count - 1)) == 0) {
        size_t cap = self->queue_count ? self->queue_count * 2 : 16;
        s_event_t **grown = realloc(self->queue, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->queue = grown;
    }
    self->queue[self->queue_count++] = event;
    return 0;
}

static void s_pump(emu_loop_t *loop, void *arg);

static void
s_pump_soon(emu_function_t *self, int64_t delay_ns)
{
    if (self->destroying)
        return;
    int64_t at = sp_clock_mono_ns() + delay_ns;
    if (self->pump_timer) {
        if (self->pump_at_ns <= at)
            return;
        emu_loop_timer_cancel(self->loop, &self->pump_timer);
    }
    self->pump_timer = emu_loop_timer_start(self->loop, delay_ns, s_pump, self);
    self->pump_at_ns = at;
}

static void
s_event_done(emu_invocation_t *invocation, void *arg)
{
    s_event_t *event = arg;
    emu_function_t *self = event->function;
    emu_invocation_outcome_t outcome = emu_invocation_outcome(invocation);
    event->invocation = NULL;
    emu_invocation_destroy(&invocation);
    if (self->destroying || outcome == EMU_INVOCATION_ABORTED) {
        s_event_free(&event);
        return;
    }
    if (outcome == EMU_INVOCATION_OK) {
        self->stats.async_done++;
        s_event_free(&event);
        return;
    }
    if (event->retries < EMU_FUNCTION_RETRIES) {
        event->retries++;
        int64_t delay = S_RETRY_DELAY_NS * event->retries;
        event->due_ns = sp_clock_mono_ns() + delay;
        zsys_info("async event retried function=%s request_id=%s outcome=%s retry=%d",
                  self->config->name, event->request_id,
                  emu_invocation_outcome_name(outcome), event->retries);
        if (s_queue_push(self, event) == 0) {
            s_pump_soon(self, delay);
            return;
        }
    }
    zsys_warning("async event dropped function=%s request_id=%s outcome=%s retries=%d",
                 self->config->name, event->request_id,
                 emu_invocation_outcome_name(outcome), event->retries);
    self->stats.async_dropped++;
    s_event_free(&event);
}

//  Tries to run one event: 0 running, 1 throttled (try later), -1 dropped.
static int
s_event_run(emu_function_t *self, s_event_t *event, int64_t now)
{
    char *copy = malloc(event->len + 1);
    if (copy) {
        memcpy(copy, event->event, event->len);
        copy[event->len] = '\0';
    }
    emu_invocation_t *invocation =
        copy ? emu_invocation_new(event->request_id, &copy, event->len, s_event_done,
                                  event)
             : NULL;
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    emu_function_dispatch_t rc =
        invocation ? s_dispatch(self, event->qualifier, invocation, &err, false)
                   : EMU_FUNCTION_DISPATCH_FAILED;
    if (rc == EMU_FUNCTION_DISPATCH_OK) {
        event->invocation = invocation;
        event->throttles = 0;
        return 0;
    }
    emu_invocation_destroy(&invocation);
    if (rc == EMU_FUNCTION_DISPATCH_REFUSED && err.status != 429) {
        zsys_warning("async event dropped function=%s request_id=%s error=\"%s\"",
                     self->config->name, event->request_id, err.message);
        return -1;
    }
    int64_t backoff = S_BACKOFF_NS << (event->throttles < 6 ? event->throttles : 6);
    event->throttles++;
    event->due_ns = now + (backoff < S_BACKOFF_MAX_NS ? backoff : S_BACKOFF_MAX_NS);
    return 1;
}

static void
s_pump(emu_loop_t *loop, void *arg)
{
    emu_function_t *self = arg;
    self->pump_timer = NULL;
    int64_t now = sp_clock_mono_ns();
    int64_t next = INT64_MAX;
    bool blocked = false; //  throttled: the others wait for room
    size_t kept = 0;
    //  Running an event may complete nothing synchronously (done
    //  callbacks never run inside a dispatch), so the queue only shrinks.
    size_t count = self->queue_count;
    for (size_t i = 0; i < count; i++) {
        s_event_t *event = self->queue[i];
        if (now - event->enqueued_ns >
            (int64_t)EMU_FUNCTION_EVENT_AGE_MAX_S * SP_NS_PER_S) {
            zsys_warning("async event dropped function=%s request_id=%s reason=too_old",
                         self->config->name, event->request_id);
            self->stats.async_dropped++;
            s_event_free(&event);
            continue;
        }
        if (event->due_ns > now || blocked) {
            if (event->due_ns > now && event->due_ns < next)
                next = event->due_ns;
            self->queue[kept++] = event;
            continue;
        }
        int rc = s_event_run(self, event, now);
        if (rc == 1) {
            blocked = true;
            if (event->due_ns < next)
                next = event->due_ns;
            self->queue[kept++] = event;
        } else if (rc < 0) {
            self->stats.async_dropped++;
            s_event_free(&event);
        }
    }
    assert(self->queue_count == count);
    self->queue_count = kept;
    if (kept > 0 && next != INT64_MAX)
        s_pump_soon(self, next > now ? next - now : 0);
}

int
emu_function_enqueue(emu_function_t *self, const char *qualifier, const char *request_id,
                     char **event_p, size_t event_len, emu_aws_error_t *err)
{
    assert(self && request_id && event_p && *event_p && err);
    char *body = *event_p;
    *event_p = NULL;
    if (!s_resolve(self, qualifier, NULL)) {
        free(body);
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return -1;
    }
    s_event_t *event = calloc(1, sizeof *event);
    if (!event) {
        free(body);
        s_out_of_memory(err);
        return -1;
    }
    *event = (s_event_t){.function = self, .event = body, .len = event_len};
    snprintf(event->qualifier, sizeof event->qualifier, "%s", qualifier ? qualifier : "");
    snprintf(event->request_id, sizeof event->request_id, "%s", request_id);
    event->enqueued_ns = event->due_ns = sp_clock_mono_ns();
    if (s_queue_push(self, event)) {
        s_event_free(&event);
        emu_aws_error_set(err, 429, "TooManyRequestsException", "Rate Exceeded.");
        return -1;
    }
    s_pump_soon(self, 0);
    return 0;
}

//  --- reserved concurrency ------------------------------------------------

int
emu_function_reserved(emu_function_t *self)
{
    assert(self);
    return self->reserved;
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
    int provisioned = emu_function_provisioned_total(self);
    if (reserved < provisioned) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "ReservedConcurrentExecutions %d should not be lower than "
                          "function's total provisioned concurrency [%d].",
                          reserved, provisioned);
        return -1;
    }
    int held = self->reserved > 0 ? self->reserved : 0;
    int unreserved = self->account ? emu_account_unreserved(self->account)
                                   : EMU_CONFIG_ACCOUNT_LIMIT - held;
    //  What stays for on-demand invocations of the other unreserved functions.
    int others = self->account ? s_unreserved_provisioned(self->account) : 0;
    if (self->reserved < 0)
        others -= provisioned;
    if (unreserved + held - reserved - others < EMU_ACCOUNT_UNRESERVED_MIN) {
        emu_aws_error_set(
            err, 400, "InvalidParameterValueException",
            "Specified ReservedConcurrentExecutions for function decreases "
            "account's UnreservedConcurrentExecution below its minimum value "
            "of [%d].",
            EMU_ACCOUNT_UNRESERVED_MIN);
        return -1;
    }
    self->reserved = reserved;
    if (self->queue_count > 0)
        s_pump_soon(self, 0);
    return 0;
}

void
emu_function_delete_reserved(emu_function_t *self)
{
    assert(self);
    self->reserved = -1;
    if (self->queue_count > 0)
        s_pump_soon(self, 0);
}

//  --- versions -------------------------------------------------------------

int
emu_function_version_info(emu_function_t *self, const char *qualifier,
                          emu_function_version_info_t *info, emu_aws_error_t *err)
{
    assert(self && info && err);
    s_version_t *version = s_resolve(self, qualifier, NULL);
    if (!version) {
        emu_aws_error_function_not_found(err, self->config->name, qualifier);
        return -1;
    }
    s_version_info(self, version, info);
    return 0;
}

size_t
emu_function_version_count(emu_function_t *self)
{
    assert(self);
    return self->version_count;
}

void
emu_function_version_at(emu_function_t *self, size_t index,
                        emu_function_version_info_t *info)
{
    assert(self && index < self->version_count && info);
    s_version_info(self, self->versions[index], info);
}

int
emu_function_update(emu_function_t *self, const emu_function_update_t *update,
                    emu_function_version_info_t *info, emu_aws_error_t *err)
{
    assert(self && update && err);
    s_version_t *latest = self->versions[0];
    self->change++;
    s_snap_t *snap = s_snap_new(self, "$LATEST", latest->snap, update);
    if (!snap) {
        self->change--;
        s_out_of_memory(err);
        return -1;
    }
    s_snap_unref(&latest->snap);
    latest->snap = snap;
    //  The next invocations start cold with the new configuration.
    s_recycle_group(self, latest->ondemand);
    zsys_notice("function updated name=%s timeout_s=%d memory_mb=%d", self->config->name,
                snap->timeout_s, snap->memory_mb);
    if (info)
        s_version_info(self, latest, info);
    return 0;
}

int
emu_function_publish(emu_function_t *self, const char *description,
                     emu_function_version_info_t *info, emu_aws_error_t *err)
{
    assert(self && err);
    s_version_t *newest =
        self->version_count > 1 ? self->versions[self->version_count - 1] : NULL;
    if (newest && newest->snap->change == self->change) {
        if (info)
            s_version_info(self, newest, info);
        return 0;
    }
    if (self->version_count > EMU_FUNCTION_VERSIONS_MAX) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "The function already has %d published versions, the most the "
                          "emulator keeps.",
                          EMU_FUNCTION_VERSIONS_MAX);
        return -1;
    }
    char name[16];
    snprintf(name, sizeof name, "%zu", self->version_count);
    //  A new RevisionId and LastModified; the description may change.
    emu_function_update_t change = {.has_description = description != NULL,
                                    .description = description};
    s_snap_t *snap = s_snap_new(self, name, self->versions[0]->snap, &change);
    s_version_t *version = snap ? s_version_new(self, snap) : NULL;
    if (!version) {
        s_snap_unref(&snap);
        s_out_of_memory(err);
        return -1;
    }
    zsys_notice("version published function=%s version=%s", self->config->name, name);
    if (info)
        s_version_info(self, version, info);
    return 0;
}

//  --- aliases ----------------------------------------------------------------

static bool
s_valid_alias_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > EMU_FUNCTION_QUALIFIER_MAX || s_is_number(name))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void
s_alias_not_found(emu_function_t *self, const char *name, emu_aws_error_t *err)
{
    char arn[EMU_AWS_ARN_MAX];
    s_alias_arn(self, name, arn, sizeof arn);
    emu_aws_error_set(err, 404, "ResourceNotFoundException", "Alias not found: %s", arn);
}

//  The version an alias may point to: "$LATEST" or a published one.
static s_version_t *
s_alias_target(emu_function_t *self, const char *version, emu_aws_error_t *err)
{
    s_version_t *found = s_version_find(self, version);
    if (!found)
        emu_aws_error_function_not_found(err, self->config->name, version);
    return found;
}

int
emu_function_create_alias(emu_function_t *self, const char *name, const char *version,
                          const char *description, emu_function_alias_info_t *info,
                          emu_aws_error_t *err)
{
    assert(self && name && version && err);
    if (!s_valid_alias_name(name)) {
        emu_aws_error_set(
            err, 400, "ValidationException",
            "1 validation error detected: Value '%.128s' at 'name' failed to "
            "satisfy constraint: Member must satisfy regular expression "
            "pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
            name);
        return -1;
    }
    if (s_alias_find(self, name)) {
        char arn[EMU_AWS_ARN_MAX];
        s_alias_arn(self, name, arn, sizeof arn);
        emu_aws_error_set(err, 409, "ResourceConflictException",
                          "Alias already exists: %s", arn);
        return -1;
    }
    s_version_t *target = s_alias_target(self, version, err);
    if (!target)
        return -1;
    if (self->alias_count >= EMU_FUNCTION_ALIASES_MAX) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "The function already has %d aliases, the most the emulator "
                          "keeps.",
                          EMU_FUNCTION_ALIASES_MAX);
        return -1;
    }
    s_alias_t **grown =
        realloc(self->aliases, (self->alias_count + 1) * sizeof *self->aliases);
    if (grown)
        self->aliases = grown;
    s_alias_t *alias = grown ? calloc(1, sizeof *alias) : NULL;
    char *text = alias ? strdup(description ? description : "") : NULL;
    if (!text) {
        free(alias);
        s_out_of_memory(err);
        return -1;
    }
    snprintf(alias->name, sizeof alias->name, "%s", name);
    alias->version = target;
    alias->description = text;
    emu_invocation_new_id(alias->revision_id);
    self->aliases[self->alias_count++] = alias;
    if (info)
        s_alias_info(alias, info);
    return 0;
}

int
emu_function_update_alias(emu_function_t *self, const char *name, const char *version,
                          const char *description, emu_function_alias_info_t *info,
                          emu_aws_error_t *err)
{
    assert(self && name && err);
    s_alias_t *alias = s_alias_find(self, name);
    if (!alias) {
        s_alias_not_found(self, name, err);
        return -1;
    }
    s_version_t *target = alias->version;
    if (version) {
        target = s_alias_target(self, version, err);
        if (!target)
            return -1;
    }
    s_pc_t *pc = s_pc_find(self, name);
    if (pc && target != alias->version) {
        if (target == self->versions[0]) {
            emu_aws_error_set(err, 400, "InvalidParameterValueException",
                              "Provisioned Concurrency Configs cannot be applied to "
                              "unpublished function versions.");
            return -1;
        }
        if (s_pc_find(self, target->snap->version)) {
            emu_aws_error_set(
                err, 409, "ResourceConflictException",
                "Alias can't be used for Provisioned Concurrency configuration "
                "on an already Provisioned version");
            return -1;
        }
    }
    if (description) {
        char *text = strdup(description);
        if (!text) {
            s_out_of_memory(err);
            return -1;
        }
        free(alias->description);
        alias->description = text;
    }
    if (target != alias->version) {
        alias->version = target;
        if (pc && s_pc_allocate(self, pc, target))
            s_pc_fail(self, pc, "cannot start the provisioned environments");
        zsys_notice("alias moved function=%s alias=%s version=%s", self->config->name,
                    name, target->snap->version);
    }
    emu_invocation_new_id(alias->revision_id);
    if (info)
        s_alias_info(alias, info);
    return 0;
}

int
emu_function_alias(emu_function_t *self, const char *name,
                   emu_function_alias_info_t *info, emu_aws_error_t *err)
{
    assert(self && name && info && err);
    s_alias_t *alias = s_alias_find(self, name);
    if (!alias) {
        s_alias_not_found(self, name, err);
        return -1;
    }
    s_alias_info(alias, info);
    return 0;
}

int
emu_function_delete_alias(emu_function_t *self, const char *name, emu_aws_error_t *err)
{
    assert(self && name && err);
    s_alias_t *alias = s_alias_find(self, name);
    if (!alias) {
        s_alias_not_found(self, name, err);
        return -1;
    }
    s_pc_t *pc = s_pc_find(self, name);
    if (pc)
        s_pc_remove(self, pc);
    for (size_t i = 0; i < self->alias_count; i++)
        if (self->aliases[i] == alias) {
            memmove(self->aliases + i, self->aliases + i + 1,
                    (self->alias_count - i - 1) * sizeof *self->aliases);
            self->alias_count--;
            break;
        }
    free(alias->description);
    free(alias);
    return 0;
}

size_t
emu_function_alias_count(emu_function_t *self)
{
    assert(self);
    return self->alias_count;
}

void
emu_function_alias_at(emu_function_t *self, size_t index, emu_function_alias_info_t *info)
{
    assert(self && index < self->alias_count && info);
    s_alias_info(self->aliases[index], info);
}

//  --- provisioned concurrency ----------------------------------------------

//  The version a provisioned config on `qualifier` would run, or NULL
//  with the error (`put` words the $LATEST refusal as PutProvisioned...).
static s_version_t *
s_pc_target(emu_function_t *self, const char *qualifier, bool put, emu_aws_error_t *err)
{
    if (s_is_latest(qualifier)) {
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
    s_alias_t *alias = NULL;
    s_version_t *version = s_resolve(self, qualifier, &alias);
    if (!version) {
        if (s_is_number(qualifier))
            emu_aws_error_function_not_found(err, self->config->name, qualifier);
        else {
            char arn[EMU_AWS_ARN_MAX];
            s_alias_arn(self, qualifier, arn, sizeof arn);
            emu_aws_error_set(err, 404, "ResourceNotFoundException",
                              "Cannot find alias arn: %s", arn);
        }
        return NULL;
    }
    if (put && version == self->versions[0]) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "Provisioned Concurrency Configs cannot be applied to "
                          "unpublished function versions.");
        return NULL;
    }
    return version;
}

int
emu_function_put_provisioned(emu_function_t *self, const char *qualifier, int count,
                             emu_function_provisioned_info_t *info, emu_aws_error_t *err)
{
    assert(self && err);
    if (count < 1) {
        emu_aws_error_set(
            err, 400, "ValidationException",
            "1 validation error detected: Value '%d' at "
            "'provisionedConcurrentExecutions' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1",
            count);
        return -1;
    }
    s_version_t *version = s_pc_target(self, qualifier, true, err);
    if (!version)
        return -1;
    bool is_alias = !s_is_number(qualifier);
    if (is_alias && s_pc_find(self, version->snap->version)) {
        emu_aws_error_set(
            err, 409, "ResourceConflictException",
            "Alias can't be used for Provisioned Concurrency configuration on "
            "an already Provisioned version");
        return -1;
    }
    if (!is_alias)
        for (size_t i = 0; i < self->alias_count; i++)
            if (self->aliases[i]->version == version &&
                s_pc_find(self, self->aliases[i]->name)) {
                emu_aws_error_set(
                    err, 409, "ResourceConflictException",
                    "Version is pointed by a Provisioned Concurrency alias");
                return -1;
            }
    s_pc_t *pc = s_pc_find(self, qualifier);
    int others = emu_function_provisioned_total(self) - (pc ? pc->requested : 0);
    if (self->reserved >= 0 && others + count > self->reserved) {
        emu_aws_error_set(
            err, 400, "InvalidParameterValueException",
            "Requested Provisioned Concurrency should not be greater than the "
            "reservedConcurrentExecution for function");
        return -1;
    }
    if (self->reserved < 0) {
        int unreserved = self->account ? emu_account_unreserved(self->account)
                                       : EMU_CONFIG_ACCOUNT_LIMIT;
        int taken = self->account ? s_unreserved_provisioned(self->account)
                                  : emu_function_provisioned_total(self);
        taken -= pc ? pc->requested : 0;
        if (unreserved - taken - count < EMU_ACCOUNT_UNRESERVED_MIN) {
            emu_aws_error_set(err, 400, "InvalidParameterValueException",
                              "Specified ConcurrentExecutions for function decreases "
                              "account's UnreservedConcurrentExecution below its minimum "
                              "value of [%d].",
                              EMU_ACCOUNT_UNRESERVED_MIN);
            return -1;
        }
    }
    if (!pc) {
        s_pc_t **grown = realloc(self->pcs, (self->pc_count + 1) * sizeof *self->pcs);
        if (grown)
            self->pcs = grown;
        pc = grown ? calloc(1, sizeof *pc) : NULL;
        if (!pc) {
            s_out_of_memory(err);
            return -1;
        }
        snprintf(pc->qualifier, sizeof pc->qualifier, "%s", qualifier);
        self->pcs[self->pc_count++] = pc;
    }
    pc->requested = count;
    if (s_pc_allocate(self, pc, version))
        s_pc_fail(self, pc, "cannot start the provisioned environments");
    zsys_notice("provisioned concurrency allocating function=%s qualifier=%s version=%s "
                "count=%d",
                self->config->name, qualifier, version->snap->version, count);
    if (info)
        s_pc_info(pc, info);
    return 0;
}

int
emu_function_provisioned(emu_function_t *self, const char *qualifier,
                         emu_function_provisioned_info_t *info, emu_aws_error_t *err)
{
    assert(self && info && err);
    if (!s_pc_target(self, qualifier, false, err))
        return -1;
    s_pc_t *pc = s_pc_find(self, qualifier);
    if (!pc) {
        emu_aws_error_set(err, 404, "ProvisionedConcurrencyConfigNotFoundException",
                          "No Provisioned Concurrency Config found for this function");
        return -1;
    }
    s_pc_info(pc, info);
    return 0;
}

int
emu_function_delete_provisioned(emu_function_t *self, const char *qualifier,
                                emu_aws_error_t *err)
{
    assert(self && err);
    if (!s_pc_target(self, qualifier, false, err))
        return -1;
    s_pc_t *pc = s_pc_find(self, qualifier);
    if (pc)
        s_pc_remove(self, pc);
    if (self->queue_count > 0)
        s_pump_soon(self, 0);
    return 0;
}

size_t
emu_function_provisioned_count(emu_function_t *self)
{
    assert(self);
    return self->pc_count;
}

void
emu_function_provisioned_at(emu_function_t *self, size_t index,
                            emu_function_provisioned_info_t *info)
{
    assert(self && index < self->pc_count && info);
    s_pc_info(self->pcs[index], info);
}
//  --- selftest -----------------------------------------------------------

typedef struct {
    emu_loop_t *loop;
    int done;
    int ok;
    int target; //  stop after this many completions
    emu_invocation_t *invocations[8];
} s_test_t;

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    s_test_t *test = arg;
    test->done++;
    test->ok += emu_invocation_outcome(invocation) == EMU_INVOCATION_OK;
    if (test->done == test->target)
        emu_loop_stop(test->loop);
}

static void
s_test_expired(emu_loop_t *loop, void *arg)
{
    fprintf(stderr, "emu_function test: timed out waiting\n");
    abort();
}

static void
s_test_stop(emu_loop_t *loop, void *arg)
{
    emu_loop_stop(loop);
}

static emu_invocation_t *
s_test_invocation(s_test_t *test)
{
    char id[EMU_INVOCATION_ID_SIZE];
    emu_invocation_new_id(id);
    char *event = strdup("{}");
    return emu_invocation_new(id, &event, 2, s_test_done, test);
}

static const char *
s_test_lookup(emu_function_t *function, const char *key)
{
    size_t count = 0;
    const char *const *env = emu_function_environment(function, &count);
    size_t len = strlen(key);
    for (size_t i = 0; i < count; i++)
        if (strncmp(env[i], key, len) == 0 && env[i][len] == '=')
            return env[i] + len + 1;
    return NULL;
}

//  Dispatch of $LATEST (no qualifier): a reserved cap, reuse,
//  shutdown with invocations in flight or queued, a path that cannot start.
static void
s_test_basics(bool verbose)
{
    s_test_t test = {.loop = emu_loop_new()};
    CHECK_NOT_NULL(test.loop);
    const char *pairs[] = {"STAMPEDE_HOLD_MS=300", "TZ=:Europe/Paris"};
    emu_function_config_t config = {
        .name = "demo",
        .path = EMU_TEST_BOOTSTRAP,
        .reserved = 2,
        .env = pairs,
        .env_count = 2,
        .timeout_s = 3,
    };
    emu_function_t *function = emu_function_new(test.loop, &config, verbose);
    CHECK_NOT_NULL(function);
    CHECK_STR(emu_function_name(function), "demo");
    CHECK_STR(s_test_lookup(function, "AWS_LAMBDA_FUNCTION_NAME"), "demo");
    CHECK_STR(s_test_lookup(function, "AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
    CHECK_STR(s_test_lookup(function, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "128");
    CHECK_STR(s_test_lookup(function, "AWS_LAMBDA_INITIALIZATION_TYPE"), "on-demand");
    CHECK_STR(s_test_lookup(function, "AWS_REGION"), "us-east-1");
    CHECK_STR(s_test_lookup(function, "AWS_DEFAULT_REGION"), "us-east-1");
    CHECK_STR(s_test_lookup(function, "AWS_LAMBDA_LOG_GROUP_NAME"), "/aws/lambda/demo");
    CHECK_STR(s_test_lookup(function, "_HANDLER"), "bootstrap");
    CHECK_TRUE(s_test_lookup(function, "LAMBDA_TASK_ROOT")[0] == '/');
    CHECK_STR(s_test_lookup(function, "TZ"), ":Europe/Paris"); //  --env overrides
    CHECK_STR(s_test_lookup(function, "STAMPEDE_HOLD_MS"), "300");
    CHECK_NOT_NULL(s_test_lookup(function, "PATH"));
    CHECK_NULL(s_test_lookup(function, "AWS_LAMBDA_RUNTIME_API"));

    //  Reserved 2, five at once: two dispatched, three throttled.
    emu_aws_error_t err;
    CHECK_INT(emu_function_admit(function, NULL, &err), 0);
    int dispatched = 0, throttled = 0;
    for (int i = 0; i < 5; i++) {
        test.invocations[i] = s_test_invocation(&test);
        emu_function_dispatch_t rc =
            emu_function_dispatch(function, NULL, test.invocations[i], &err);
        dispatched += rc == EMU_FUNCTION_DISPATCH_OK;
        throttled += rc == EMU_FUNCTION_DISPATCH_REFUSED && err.status == 429;
    }
    CHECK_INT(dispatched, 2);
    CHECK_INT(throttled, 3);
    CHECK_STR(err.reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    CHECK_STR(emu_invocation_version(test.invocations[0]), "$LATEST");
    CHECK_INT(emu_function_admit(function, NULL, &err), -1);
    CHECK_INT(err.status, 429);
    emu_function_count_throttle(function);
    emu_function_stats_t stats;
    emu_function_stats(function, &stats);
    CHECK_INT(stats.invocations, 2);
    CHECK_INT(stats.throttles, 4);
    CHECK_INT(stats.spawns, 0); //  queued: started by the loop
    CHECK_INT(stats.starting, 2);
    CHECK_INT(stats.environments, 2);
    CHECK_INT(stats.idle, 0);
    CHECK_INT(stats.cap, 2);
    test.target = 2;
    emu_timer_t *guard =
        emu_loop_timer_start(test.loop, 20 * SP_NS_PER_S, s_test_expired, NULL);
    CHECK_INT(emu_loop_run(test.loop), 0);
    CHECK_INT(test.ok, 2);
    //  Let both environments come back to /next.
    CHECK_NOT_NULL(
        emu_loop_timer_start(test.loop, 200 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(test.loop), 0);
    emu_function_stats(function, &stats);
    CHECK_INT(stats.idle, 2);
    CHECK_INT(stats.spawns, 2);
    CHECK_INT(stats.starting, 0);
    CHECK_INT(emu_function_admit(function, NULL, &err), 0);

    //  The second wave reuses them: no new spawn.
    for (int i = 5; i < 7; i++) {
        test.invocations[i] = s_test_invocation(&test);
        CHECK_INT(emu_function_dispatch(function, NULL, test.invocations[i], &err),
                  EMU_FUNCTION_DISPATCH_OK);
    }
    emu_function_stats(function, &stats);
    CHECK_INT(stats.spawns, 2);
    CHECK_INT(stats.idle, 0);
    test.target = 4;
    CHECK_INT(emu_loop_run(test.loop), 0);
    CHECK_INT(test.ok, 4);
    emu_loop_timer_cancel(test.loop, &guard);
    CHECK_NOT_NULL(
        emu_loop_timer_start(test.loop, 200 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(test.loop), 0);
    for (int i = 0; i < 7; i++)
        emu_invocation_destroy(&test.invocations[i]);

    //  In flight when the function is destroyed: handed back ABORTED.
    test.invocations[0] = s_test_invocation(&test);
    CHECK_INT(emu_function_dispatch(function, NULL, test.invocations[0], &err),
              EMU_FUNCTION_DISPATCH_OK);
    emu_function_destroy(&function);
    CHECK_NULL(function);
    CHECK_INT(emu_invocation_outcome(test.invocations[0]), EMU_INVOCATION_ABORTED);
    emu_invocation_destroy(&test.invocations[0]);
    emu_function_destroy(&function);
    //  Still queued to start when the function is destroyed: the same.
    function = emu_function_new(test.loop, &config, verbose);
    test.invocations[0] = s_test_invocation(&test);
    CHECK_INT(emu_function_dispatch(function, NULL, test.invocations[0], &err),
              EMU_FUNCTION_DISPATCH_OK);
    emu_function_destroy(&function);
    CHECK_INT(emu_invocation_outcome(test.invocations[0]), EMU_INVOCATION_ABORTED);
    emu_invocation_destroy(&test.invocations[0]);

    //  Reserved 0 throttles everything; a path that cannot start fails.
    config.reserved = 0;
    function = emu_function_new(test.loop, &config, verbose);
    test.invocations[0] = s_test_invocation(&test);
    CHECK_INT(emu_function_dispatch(function, NULL, test.invocations[0], &err),
              EMU_FUNCTION_DISPATCH_REFUSED);
    CHECK_INT(err.status, 429);
    CHECK_STR(err.reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    emu_function_destroy(&function);
    config.reserved = -1;
    config.path = "/nonexistent/bootstrap";
    function = emu_function_new(test.loop, &config, verbose);
    emu_function_stats(function, &stats);
    CHECK_INT(stats.cap, EMU_CONFIG_ACCOUNT_LIMIT);
    CHECK_INT(emu_function_dispatch(function, NULL, test.invocations[0], &err),
              EMU_FUNCTION_DISPATCH_OK);
    test.done = 0;
    test.target = 1;
    CHECK_INT(emu_loop_run(test.loop), 0);
    CHECK_INT(emu_invocation_outcome(test.invocations[0]), EMU_INVOCATION_INIT_ERROR);
    CHECK_STR(emu_invocation_payload(test.invocations[0], NULL),
              "{\"errorMessage\":\"cannot start /nonexistent/bootstrap: No such file or "
              "directory\","
              "\"errorType\":\"Runtime.InvalidEntrypoint\"}");
    emu_function_stats(function, &stats);
    CHECK_INT(stats.spawn_failures, 1);
    CHECK_INT(stats.environments, 0);
    emu_function_destroy(&function);
    emu_invocation_destroy(&test.invocations[0]);
    emu_loop_destroy(&test.loop);
}

//  --- more selftests -------------------------------------------------------

typedef struct {
    bool (*ready)(void *arg);
    void *arg;
    emu_timer_t *timer;
} s_wait_t;

static void
s_wait_poll(emu_loop_t *loop, void *arg)
{
    s_wait_t *wait = arg;
    wait->timer = NULL;
    if (wait->ready(wait->arg))
        emu_loop_stop(loop);
    else
        wait->timer = emu_loop_timer_start(loop, 5 * SP_NS_PER_MS, s_wait_poll, wait);
}

//  Runs the loop until ready(arg), at most `seconds`.
static void
s_wait_for(emu_loop_t *loop, bool (*ready)(void *), void *arg, int seconds)
{
    s_wait_t wait = {.ready = ready, .arg = arg};
    emu_timer_t *guard =
        emu_loop_timer_start(loop, (int64_t)seconds * SP_NS_PER_S, s_test_expired, NULL);
    while (!ready(arg)) {
        wait.timer = emu_loop_timer_start(loop, 5 * SP_NS_PER_MS, s_wait_poll, &wait);
        CHECK_INT(emu_loop_run(loop), 0);
        emu_loop_timer_cancel(loop, &wait.timer);
    }
    emu_loop_timer_cancel(loop, &guard);
}

//  Runs the loop for `ms` milliseconds.
static void
s_run_for(emu_loop_t *loop, int ms)
{
    CHECK_NOT_NULL(emu_loop_timer_start(loop, ms * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(loop), 0);
}

typedef struct {
    emu_function_t *function;
    const char *qualifier;
    const char *status;
    size_t environments;
    s_test_t *test;
} s_cond_t;

static bool
s_cond_status(void *arg)
{
    s_cond_t *cond = arg;
    emu_function_provisioned_info_t info;
    emu_aws_error_t err;
    CHECK_INT(emu_function_provisioned(cond->function, cond->qualifier, &info, &err), 0);
    return strcmp(info.status, cond->status) == 0;
}

static bool
s_cond_environments(void *arg)
{
    s_cond_t *cond = arg;
    emu_function_stats_t stats;
    emu_function_stats(cond->function, &stats);
    return stats.environments == cond->environments && stats.idle == cond->environments;
}

static bool
s_cond_done(void *arg)
{
    s_cond_t *cond = arg;
    return cond->test->done >= cond->test->target;
}

static void
s_check_error(const emu_aws_error_t *err, int status, const char *type,
              const char *message)
{
    CHECK_INT(err->status, status);
    CHECK_STR(err->type, type);
    CHECK_STR(err->message, message);
}

static const char *
s_env_value(const char *const *env, size_t count, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i < count; i++)
        if (strncmp(env[i], key, len) == 0 && env[i][len] == '=')
            return env[i] + len + 1;
    return NULL;
}

#define S_ARN "arn:aws:lambda:us-east-1:123456789012:function:"

//  Versions, aliases and every refusal, without starting a process.
static void
s_test_versions(const char *dir, bool verbose)
{
    char path[256];
    snprintf(path, sizeof path, "%s/hello", dir);
    FILE *file = fopen(path, "w");
    CHECK_NOT_NULL(file);
    fputs("hello\n", file);
    fclose(file);
    emu_loop_t *loop = emu_loop_new();
    const char *pairs[] = {"COLOR=blue"};
    emu_function_config_t config = {.name = "demo",
                                    .path = path,
                                    .reserved = -1,
                                    .env = pairs,
                                    .env_count = 1,
                                    .timeout_s = 3};
    emu_function_t *function = emu_function_new(loop, &config, verbose);
    CHECK_NOT_NULL(function);
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    CHECK_INT(emu_function_version_count(function), 1);
    emu_function_version_info_t info;
    emu_function_version_at(function, 0, &info);
    CHECK_STR(info.version, "$LATEST");
    CHECK_STR(info.description, "");
    CHECK_INT(info.timeout_s, 3);
    CHECK_INT(info.memory_mb, 128);
    CHECK_INT(info.variable_count, 1);
    CHECK_STR(info.variables[0], "COLOR=blue");
    CHECK_STR(info.handler, "hello");
    //  base64(SHA-256("hello\n")).
    CHECK_STR(info.code_sha256, "WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=");
    CHECK_INT(info.code_size, 6);
    CHECK_INT(strlen(info.revision_id), 36);
    CHECK_TRUE(info.last_modified_ms > 1700000000000);
    char latest_revision[EMU_INVOCATION_ID_SIZE];
    snprintf(latest_revision, sizeof latest_revision, "%s", info.revision_id);

    //  Qualifiers.
    const char *version = NULL;
    CHECK_INT(emu_function_resolve(function, NULL, &version, &err), 0);
    CHECK_STR(version, "$LATEST");
    CHECK_INT(emu_function_resolve(function, "", &version, &err), 0);
    CHECK_INT(emu_function_resolve(function, "$LATEST", &version, &err), 0);
    CHECK_INT(emu_function_resolve(function, "1", &version, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_ARN "demo:1");
    CHECK_INT(emu_function_resolve(function, "live", &version, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_ARN "demo:live");

    //  Publish: 1, then 1 again while $LATEST is unchanged.
    CHECK_INT(emu_function_publish(function, NULL, &info, &err), 0);
    CHECK_STR(info.version, "1");
    CHECK_STR(info.code_sha256, "WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=");
    CHECK_TRUE(strcmp(info.revision_id, latest_revision) != 0);
    CHECK_INT(emu_function_publish(function, "ignored", &info, &err), 0);
    CHECK_STR(info.version, "1");
    CHECK_STR(info.description, "");
    CHECK_INT(emu_function_version_count(function), 2);
    CHECK_INT(emu_function_resolve(function, "1", &version, &err), 0);
    CHECK_STR(version, "1");
    CHECK_INT(emu_function_resolve(function, "01", &version, &err), -1);

    //  Update $LATEST: a new revision; the runtime environment follows.
    const char *vars[] = {"COLOR=red", "SIZE=9"};
    emu_function_update_t update = {.has_timeout = true,
                                    .timeout_s = 10,
                                    .has_memory = true,
                                    .memory_mb = 256,
                                    .has_description = true,
                                    .description = "second",
                                    .has_variables = true,
                                    .variables = vars,
                                    .variable_count = 2};
    CHECK_INT(emu_function_update(function, &update, &info, &err), 0);
    CHECK_STR(info.version, "$LATEST");
    CHECK_INT(info.timeout_s, 10);
    CHECK_INT(info.memory_mb, 256);
    CHECK_STR(info.description, "second");
    CHECK_INT(info.variable_count, 2);
    CHECK_TRUE(strcmp(info.revision_id, latest_revision) != 0);
    size_t count = 0;
    const char *const *env = emu_function_environment(function, &count);
    CHECK_STR(s_env_value(env, count, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "256");
    CHECK_STR(s_env_value(env, count, "AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
    CHECK_STR(s_env_value(env, count, "COLOR"), "red");
    CHECK_STR(s_env_value(env, count, "SIZE"), "9");
    //  Version 1 kept its snapshot.
    CHECK_INT(emu_function_version_info(function, "1", &info, &err), 0);
    CHECK_INT(info.memory_mb, 128);
    CHECK_INT(info.timeout_s, 3);
    CHECK_STR(info.variables[0], "COLOR=blue");
    CHECK_INT(emu_function_version_info(function, "3", &info, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_ARN "demo:3");
    //  Many small variables fit (AWS caps their size, 4 KB, not their count).
    char many_text[200][16];
    const char *many[200];
    for (int i = 0; i < 200; i++) {
        snprintf(many_text[i], sizeof many_text[i], "V%d=%d", i, i);
        many[i] = many_text[i];
    }
    emu_function_update_t lots = {
        .has_variables = true, .variables = many, .variable_count = 200};
    CHECK_INT(emu_function_update(function, &lots, &info, &err), 0);
    CHECK_INT(info.variable_count, 200);
    env = emu_function_environment(function, &count);
    CHECK_STR(s_env_value(env, count, "V199"), "199");
    CHECK_NULL(s_env_value(env, count, "COLOR"));
    CHECK_INT(emu_function_update(function, &update, &info, &err), 0);
    CHECK_INT(emu_function_publish(function, "the second", &info, &err), 0);
    CHECK_STR(info.version, "2");
    CHECK_STR(info.description, "the second");
    CHECK_INT(info.memory_mb, 256);
    emu_function_version_at(function, 2, &info);
    CHECK_STR(info.version, "2");

    //  Aliases.
    emu_function_alias_info_t alias;
    CHECK_INT(emu_function_create_alias(function, "live", "1", "prod", &alias, &err), 0);
    CHECK_STR(alias.name, "live");
    CHECK_STR(alias.version, "1");
    CHECK_STR(alias.description, "prod");
    CHECK_INT(strlen(alias.revision_id), 36);
    CHECK_INT(emu_function_create_alias(function, "live", "2", NULL, &alias, &err), -1);
    s_check_error(&err, 409, "ResourceConflictException",
                  "Alias already exists: " S_ARN "demo:live");
    CHECK_INT(emu_function_create_alias(function, "next", "7", NULL, &alias, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_ARN "demo:7");
    CHECK_INT(emu_function_create_alias(function, "123", "1", NULL, &alias, &err), -1);
    CHECK_INT(err.status, 400);
    CHECK_STR(err.type, "ValidationException");
    CHECK_INT(
        emu_function_create_alias(function, "latest", "$LATEST", NULL, &alias, &err), 0);
    CHECK_INT(emu_function_alias(function, "nope", &alias, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Alias not found: " S_ARN "demo:nope");
    CHECK_INT(emu_function_resolve(function, "live", &version, &err), 0);
    CHECK_STR(version, "1");
    CHECK_INT(emu_function_update_alias(function, "live", "2", NULL, &alias, &err), 0);
    CHECK_STR(alias.version, "2");
    CHECK_STR(alias.description, "prod");
    CHECK_INT(emu_function_update_alias(function, "live", NULL, "moved", &alias, &err),
              0);
    CHECK_STR(alias.version, "2");
    CHECK_STR(alias.description, "moved");
    CHECK_INT(emu_function_update_alias(function, "live", "9", NULL, &alias, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_ARN "demo:9");
    CHECK_INT(emu_function_update_alias(function, "gone", "1", NULL, &alias, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Alias not found: " S_ARN "demo:gone");
    CHECK_INT(emu_function_version_info(function, "live", &info, &err), 0);
    CHECK_STR(info.version, "2");
    CHECK_INT(emu_function_alias_count(function), 2);
    emu_function_alias_at(function, 1, &alias);
    CHECK_STR(alias.name, "latest");
    CHECK_STR(alias.version, "$LATEST");
    CHECK_INT(emu_function_delete_alias(function, "latest", &err), 0);
    CHECK_INT(emu_function_delete_alias(function, "latest", &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Alias not found: " S_ARN "demo:latest");
    CHECK_INT(emu_function_alias_count(function), 1);

    //  Reserved concurrency without an account: the limit is 1000.
    CHECK_INT(emu_function_reserved(function), -1);
    CHECK_INT(emu_function_put_reserved(function, 901, &err), -1);
    s_check_error(
        &err, 400, "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].");
    CHECK_INT(emu_function_put_reserved(function, 900, &err), 0);
    CHECK_INT(emu_function_reserved(function), 900);
    emu_function_delete_reserved(function);
    CHECK_INT(emu_function_reserved(function), -1);

    //  Provisioned concurrency refusals.
    const char *unpublished = "Provisioned Concurrency Configs cannot be applied to "
                              "unpublished function versions.";
    emu_function_provisioned_info_t pc;
    CHECK_INT(emu_function_put_provisioned(function, "$LATEST", 1, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException", unpublished);
    CHECK_INT(emu_function_put_provisioned(function, NULL, 1, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException", unpublished);
    CHECK_INT(emu_function_create_alias(function, "head", "$LATEST", NULL, &alias, &err),
              0);
    CHECK_INT(emu_function_put_provisioned(function, "head", 1, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException", unpublished);
    CHECK_INT(emu_function_put_provisioned(function, "nope", 1, &pc, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Cannot find alias arn: " S_ARN "demo:nope");
    CHECK_INT(emu_function_put_provisioned(function, "9", 1, &pc, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_ARN "demo:9");
    CHECK_INT(emu_function_put_provisioned(function, "1", 0, &pc, &err), -1);
    CHECK_INT(err.status, 400);
    CHECK_STR(err.type, "ValidationException");
    CHECK_INT(emu_function_put_provisioned(function, "1", 901, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "Specified ConcurrentExecutions for function decreases account's "
                  "UnreservedConcurrentExecution below its minimum value of [100].");
    CHECK_INT(emu_function_put_reserved(function, 10, &err), 0);
    CHECK_INT(emu_function_put_provisioned(function, "live", 11, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "Requested Provisioned Concurrency should not be greater than the "
                  "reservedConcurrentExecution for function");
    CHECK_INT(emu_function_provisioned(function, "live", &pc, &err), -1);
    s_check_error(&err, 404, "ProvisionedConcurrencyConfigNotFoundException",
                  "No Provisioned Concurrency Config found for this function");
    CHECK_INT(emu_function_provisioned(function, "$LATEST", &pc, &err), -1);
    s_check_error(
        &err, 400, "InvalidParameterValueException",
        "The function resource provided must be an alias or a published version.");
    CHECK_INT(emu_function_delete_provisioned(function, "live", &err), 0);
    CHECK_INT(emu_function_provisioned_count(function), 0);
    CHECK_INT(emu_function_provisioned_total(function), 0);

    //  Asynchronous events: a bad qualifier, then a full queue (reserved
    //  0 keeps every event waiting).
    char *event = strdup("{}");
    CHECK_INT(emu_function_enqueue(function, "nope", "id-0", &event, 2, &err), -1);
    CHECK_NULL(event);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_ARN "demo:nope");
    CHECK_INT(emu_function_put_reserved(function, 0, &err), 0);
    for (int i = 0; i < EMU_FUNCTION_QUEUE_MAX; i++) {
        event = strdup("{}");
        CHECK_INT(emu_function_enqueue(function, NULL, "id", &event, 2, &err), 0);
    }
    event = strdup("{}");
    CHECK_INT(emu_function_enqueue(function, "live", "id", &event, 2, &err), -1);
    s_check_error(&err, 429, "TooManyRequestsException", "Rate Exceeded.");
    emu_function_stats_t stats;
    emu_function_stats(function, &stats);
    CHECK_INT(stats.queued, EMU_FUNCTION_QUEUE_MAX);
    s_run_for(loop, 20); //  one pump: every event throttled, none lost
    emu_function_stats(function, &stats);
    CHECK_INT(stats.queued, EMU_FUNCTION_QUEUE_MAX);
    CHECK_INT(stats.invocations, 0);
    CHECK_INT(stats.throttles, 0);
    emu_function_destroy(&function);
    emu_loop_destroy(&loop);
    unlink(path);
}

static emu_invocation_t *
s_test_dispatch(s_test_t *test, emu_function_t *function, const char *qualifier,
                emu_function_dispatch_t expected, emu_aws_error_t *err)
{
    emu_invocation_t *invocation = s_test_invocation(test);
    CHECK_NOT_NULL(invocation);
    emu_aws_error_clear(err);
    emu_function_dispatch_t rc =
        emu_function_dispatch(function, qualifier, invocation, err);
    CHECK_INT(rc, expected);
    if (rc != EMU_FUNCTION_DISPATCH_OK)
        emu_invocation_destroy(&invocation);
    return invocation;
}

//  Provisioned concurrency: READY, 4 provisioned + 6 on-demand of
//  reserved 10, an alias moved, a config deleted.
static void
s_test_provisioned(bool verbose)
{
    s_test_t test = {.loop = emu_loop_new()};
    const char *pairs[] = {"STAMPEDE_HOLD_MS=500"};
    emu_function_config_t config = {.name = "demo",
                                    .path = EMU_TEST_BOOTSTRAP,
                                    .reserved = 10,
                                    .env = pairs,
                                    .env_count = 1,
                                    .timeout_s = 5};
    emu_function_t *function = emu_function_new(test.loop, &config, verbose);
    emu_aws_error_t err;
    emu_function_version_info_t info;
    emu_function_alias_info_t alias;
    emu_function_provisioned_info_t pc;
    CHECK_INT(emu_function_publish(function, NULL, &info, &err), 0);
    CHECK_INT(emu_function_create_alias(function, "live", "1", NULL, &alias, &err), 0);
    CHECK_INT(emu_function_put_provisioned(function, "live", 4, &pc, &err), 0);
    CHECK_STR(pc.qualifier, "live");
    CHECK_INT(pc.requested, 4);
    CHECK_INT(pc.available, 0);
    CHECK_INT(pc.allocated, 4);
    CHECK_STR(pc.status, "IN_PROGRESS");
    CHECK_STR(pc.status_reason, "");
    CHECK_INT(emu_function_provisioned_total(function), 4);
    //  Reserved may not drop below it; the version may not get its own.
    CHECK_INT(emu_function_put_reserved(function, 3, &err), -1);
    s_check_error(
        &err, 400, "InvalidParameterValueException",
        "ReservedConcurrentExecutions 3 should not be lower than function's total "
        "provisioned concurrency [4].");
    CHECK_INT(emu_function_put_provisioned(function, "1", 1, &pc, &err), -1);
    s_check_error(&err, 409, "ResourceConflictException",
                  "Version is pointed by a Provisioned Concurrency alias");
    CHECK_INT(emu_function_create_alias(function, "other", "1", NULL, &alias, &err), 0);
    s_cond_t cond = {.function = function, .qualifier = "live", .status = "READY"};
    s_wait_for(test.loop, s_cond_status, &cond, 10);
    CHECK_INT(emu_function_provisioned(function, "live", &pc, &err), 0);
    CHECK_INT(pc.available, 4);
    CHECK_INT(pc.allocated, 4);
    CHECK_INT(emu_function_provisioned_count(function), 1);
    emu_function_provisioned_at(function, 0, &pc);
    CHECK_STR(pc.status, "READY");
    emu_function_stats_t stats;
    emu_function_stats(function, &stats);
    CHECK_INT(stats.environments, 4);
    CHECK_INT(stats.idle, 4);
    CHECK_INT(stats.spawns, 4);
    CHECK_INT(stats.cap, 6); //  on-demand: reserved minus provisioned

    //  30 at once on the alias: 4 provisioned, 6 on-demand, 20 throttled.
    CHECK_INT(emu_function_admit(function, "live", &err), 0);
    emu_invocation_t *running[10];
    int ok = 0, throttled = 0;
    for (int i = 0; i < 30; i++) {
        emu_invocation_t *invocation = s_test_invocation(&test);
        emu_aws_error_clear(&err);
        if (emu_function_dispatch(function, "live", invocation, &err) ==
            EMU_FUNCTION_DISPATCH_OK) {
            CHECK_STR(emu_invocation_version(invocation), "1");
            running[ok++] = invocation;
        } else {
            s_check_error(&err, 429, "TooManyRequestsException", "Rate Exceeded.");
            CHECK_STR(err.reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
            throttled++;
            emu_invocation_destroy(&invocation);
        }
    }
    CHECK_INT(ok, 10);
    CHECK_INT(throttled, 20);
    CHECK_INT(emu_function_admit(function, "live", &err), -1);
    CHECK_STR(err.reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    CHECK_INT(emu_function_admit(function, NULL, &err), -1);
    CHECK_INT(emu_function_on_demand_in_flight(function), 6);
    test.done = test.ok = 0;
    test.target = 10;
    cond.test = &test;
    s_wait_for(test.loop, s_cond_done, &cond, 10);
    CHECK_INT(test.ok, 10);
    int warm = 0, provisioned = 0, on_demand = 0;
    for (int i = 0; i < 10; i++) {
        const char *payload = emu_invocation_payload(running[i], NULL);
        bool is_provisioned =
            strstr(payload, "\"initialization_type\":\"provisioned-concurrency\"") !=
            NULL;
        provisioned += is_provisioned;
        on_demand += strstr(payload, "\"initialization_type\":\"on-demand\"") != NULL;
        warm += !emu_invocation_cold(running[i]);
        CHECK_INT(emu_invocation_cold(running[i]), !is_provisioned);
        CHECK_TRUE(strncmp(emu_invocation_environment(running[i]), "demo#", 5) == 0);
        emu_invocation_destroy(&running[i]);
    }
    CHECK_INT(provisioned, 4);
    CHECK_INT(on_demand, 6);
    CHECK_INT(warm, 4);
    emu_function_stats(function, &stats);
    CHECK_INT(stats.invocations, 10);
    CHECK_INT(stats.throttles, 20);
    CHECK_INT(stats.spawns, 10);

    //  Moving the alias re-allocates on version 2 and recycles the old
    //  provisioned environments; version 1's 6 on-demand ones stay idle.
    cond.environments = 10;
    s_wait_for(test.loop, s_cond_environments, &cond, 10);
    emu_function_update_t update = {.has_memory = true, .memory_mb = 512};
    CHECK_INT(emu_function_update(function, &update, &info, &err), 0);
    CHECK_INT(emu_function_publish(function, NULL, &info, &err), 0);
    CHECK_STR(info.version, "2");
    CHECK_INT(emu_function_put_provisioned(function, "2", 1, &pc, &err), 0);
    CHECK_INT(emu_function_update_alias(function, "live", "2", NULL, &alias, &err), -1);
    s_check_error(&err, 409, "ResourceConflictException",
                  "Alias can't be used for Provisioned Concurrency configuration on an "
                  "already Provisioned version");
    CHECK_INT(emu_function_delete_provisioned(function, "2", &err), 0);
    CHECK_INT(emu_function_update_alias(function, "live", "2", NULL, &alias, &err), 0);
    CHECK_INT(emu_function_provisioned(function, "live", &pc, &err), 0);
    CHECK_STR(pc.status, "IN_PROGRESS");
    CHECK_INT(pc.available, 0);
    CHECK_INT(pc.allocated, 4);
    cond.status = "READY";
    s_wait_for(test.loop, s_cond_status, &cond, 10);
    s_wait_for(test.loop, s_cond_environments, &cond, 10);
    //  The new ones run version 2 with its memory size.
    test.done = test.ok = 0;
    test.target = 1;
    running[0] = s_test_dispatch(&test, function, "live", EMU_FUNCTION_DISPATCH_OK, &err);
    s_wait_for(test.loop, s_cond_done, &cond, 10);
    CHECK_STR(emu_invocation_version(running[0]), "2");
    CHECK_TRUE(!emu_invocation_cold(running[0]));
    CHECK_NOT_NULL(strstr(emu_invocation_payload(running[0], NULL),
                          "\"initialization_type\":\"provisioned-concurrency\""));
    emu_invocation_destroy(&running[0]);
    //  Deleting the config stops its environments.
    CHECK_INT(emu_function_delete_provisioned(function, "live", &err), 0);
    CHECK_INT(emu_function_provisioned_count(function), 0);
    cond.environments = 6;
    s_wait_for(test.loop, s_cond_environments, &cond, 10);
    //  Deleting an alias deletes its config.
    CHECK_INT(emu_function_put_provisioned(function, "other", 2, &pc, &err), 0);
    CHECK_INT(emu_function_delete_alias(function, "other", &err), 0);
    CHECK_INT(emu_function_provisioned_count(function), 0);
    s_run_for(test.loop, 50);
    s_wait_for(test.loop, s_cond_environments, &cond, 10);
    emu_function_destroy(&function);
    emu_loop_destroy(&test.loop);
}

//  Writes an executable script `text` as `dir`/`name`.
static void
s_write_script(const char *dir, const char *name, const char *text, char *path,
               size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *file = fopen(path, "w");
    CHECK_NOT_NULL(file);
    fputs(text, file);
    fclose(file);
    CHECK_INT(chmod(path, 0755), 0);
}

static const char s_init_error_runtime[] =
    "#!/usr/bin/env python3\n"
    "import os, urllib.request\n"
    "api = os.environ['AWS_LAMBDA_RUNTIME_API']\n"
    "urllib.request.urlopen(urllib.request.Request(\n"
    "    'http://%s/2018-06-01/runtime/init/error' % api, method='POST',\n"
    "    data=b'{\"errorMessage\":\"boom\",\"errorType\":\"InitError\"}')).read()\n";

static const char s_failing_runtime[] =
    "#!/usr/bin/env python3\n"
    "import os, urllib.request\n"
    "base = 'http://%s/2018-06-01/runtime' % os.environ['AWS_LAMBDA_RUNTIME_API']\n"
    "while True:\n"
    "    with urllib.request.urlopen(base + '/invocation/next') as answer:\n"
    "        rid = answer.headers['Lambda-Runtime-Aws-Request-Id']\n"
    "    urllib.request.urlopen(urllib.request.Request(\n"
    "        base + '/invocation/%s/error' % rid, method='POST',\n"
    "        data=b'{\"errorMessage\":\"no\",\"errorType\":\"Failed\"}')).read()\n";

static const char s_crashing_runtime[] =
    "#!/usr/bin/env python3\n"
    "import os, sys, urllib.request\n"
    "base = 'http://%s/2018-06-01/runtime' % os.environ['AWS_LAMBDA_RUNTIME_API']\n"
    "urllib.request.urlopen(base + '/invocation/next').read()\n"
    "sys.exit(3)\n";

static bool
s_cond_async(void *arg)
{
    s_cond_t *cond = arg;
    emu_function_stats_t stats;
    emu_function_stats(cond->function, &stats);
    return stats.async_done + stats.async_dropped >= cond->environments;
}

//  A runtime that fails init: FAILED. Update recycling, idle reclaim,
//  and asynchronous events with their retries.
static void
s_test_lifecycle(const char *dir, bool verbose)
{
    s_test_t test = {.loop = emu_loop_new()};
    emu_aws_error_t err;
    emu_function_version_info_t info;
    emu_function_provisioned_info_t pc;
    char path[256];
    s_write_script(dir, "init_error", s_init_error_runtime, path, sizeof path);
    emu_function_config_t broken = {
        .name = "broken", .path = path, .reserved = -1, .timeout_s = 3};
    emu_function_t *failing = emu_function_new(test.loop, &broken, verbose);
    CHECK_INT(emu_function_publish(failing, NULL, &info, &err), 0);
    CHECK_INT(emu_function_put_provisioned(failing, "1", 2, &pc, &err), 0);
    CHECK_STR(pc.status, "IN_PROGRESS");

    //  Meanwhile: $LATEST of the bootstrap, idle for at most 1 s.
    const char *pairs[] = {"STAMPEDE_HOLD_MS=0"};
    emu_function_config_t config = {.name = "demo",
                                    .path = EMU_TEST_BOOTSTRAP,
                                    .reserved = -1,
                                    .env = pairs,
                                    .env_count = 1,
                                    .timeout_s = 3,
                                    .idle_ttl_s = 1};
    emu_function_t *function = emu_function_new(test.loop, &config, verbose);
    s_cond_t cond = {.function = function, .test = &test, .environments = 1};
    test.target = 1;
    emu_invocation_t *first =
        s_test_dispatch(&test, function, NULL, EMU_FUNCTION_DISPATCH_OK, &err);
    s_wait_for(test.loop, s_cond_done, &cond, 10);
    s_wait_for(test.loop, s_cond_environments, &cond, 10);
    CHECK_TRUE(emu_invocation_cold(first));
    //  Warm: the same environment.
    test.target = 2;
    emu_invocation_t *second =
        s_test_dispatch(&test, function, NULL, EMU_FUNCTION_DISPATCH_OK, &err);
    s_wait_for(test.loop, s_cond_done, &cond, 10);
    CHECK_TRUE(!emu_invocation_cold(second));
    CHECK_STR(emu_invocation_environment(second), emu_invocation_environment(first));
    s_wait_for(test.loop, s_cond_environments, &cond, 10);
    //  An update recycles it: the next invocation starts cold, elsewhere.
    emu_function_update_t update = {.has_memory = true, .memory_mb = 1024};
    CHECK_INT(emu_function_update(function, &update, &info, &err), 0);
    emu_function_stats_t stats;
    emu_function_stats(function, &stats);
    CHECK_INT(stats.environments, 0);
    test.target = 3;
    emu_invocation_t *third =
        s_test_dispatch(&test, function, NULL, EMU_FUNCTION_DISPATCH_OK, &err);
    s_wait_for(test.loop, s_cond_done, &cond, 10);
    CHECK_INT(test.ok, 3);
    CHECK_TRUE(emu_invocation_cold(third));
    CHECK_TRUE(strcmp(emu_invocation_environment(third),
                      emu_invocation_environment(first)) != 0);
    emu_function_stats(function, &stats);
    CHECK_INT(stats.spawns, 2);
    s_wait_for(test.loop, s_cond_environments, &cond, 10);
    emu_invocation_destroy(&first);
    emu_invocation_destroy(&second);
    emu_invocation_destroy(&third);

    //  Asynchronous: 3 events with reserved 1 run one after the other.
    CHECK_INT(emu_function_put_reserved(function, 1, &err), 0);
    for (int i = 0; i < 3; i++) {
        char *event = strdup("{\"async\":true}");
        CHECK_INT(emu_function_enqueue(function, "$LATEST", "async-id", &event, 14, &err),
                  0);
    }
    cond.environments = 3;
    s_wait_for(test.loop, s_cond_async, &cond, 10);
    emu_function_stats(function, &stats);
    CHECK_INT(stats.async_done, 3);
    CHECK_INT(stats.async_dropped, 0);
    CHECK_INT(stats.queued, 0);
    CHECK_INT(stats.invocations, 6);

    //  The init failure is seen.
    s_cond_t failed = {.function = failing, .qualifier = "1", .status = "FAILED"};
    s_wait_for(test.loop, s_cond_status, &failed, 10);
    CHECK_INT(emu_function_provisioned(failing, "1", &pc, &err), 0);
    CHECK_STR(pc.status, "FAILED");
    CHECK_TRUE(strncmp(pc.status_reason, "FUNCTION_ERROR_INIT_FAILURE: ", 29) == 0);
    emu_function_destroy(&failing);

    //  A provisioned environment that crashes after init is replaced.
    s_write_script(dir, "crashing", s_crashing_runtime, path, sizeof path);
    emu_function_config_t crashy = {
        .name = "crashy", .path = path, .reserved = -1, .timeout_s = 3};
    emu_function_t *crashing = emu_function_new(test.loop, &crashy, verbose);
    CHECK_INT(emu_function_publish(crashing, NULL, &info, &err), 0);
    CHECK_INT(emu_function_put_provisioned(crashing, "1", 1, &pc, &err), 0);
    s_cond_t ready = {.function = crashing, .qualifier = "1", .status = "READY"};
    s_wait_for(test.loop, s_cond_status, &ready, 10);
    test.target = test.done + 1;
    emu_invocation_t *crashed =
        s_test_dispatch(&test, crashing, "1", EMU_FUNCTION_DISPATCH_OK, &err);
    s_wait_for(test.loop, s_cond_done, &cond, 10);
    CHECK_INT(emu_invocation_outcome(crashed), EMU_INVOCATION_EXIT);
    CHECK_TRUE(!emu_invocation_cold(crashed));
    emu_invocation_destroy(&crashed);
    CHECK_INT(emu_function_provisioned(crashing, "1", &pc, &err), 0);
    CHECK_STR(pc.status, "IN_PROGRESS");
    CHECK_INT(pc.allocated, 1);
    s_wait_for(test.loop, s_cond_status, &ready, 10);
    emu_function_stats(crashing, &stats);
    CHECK_INT(stats.spawns, 2);
    CHECK_INT(stats.environments, 1);
    emu_function_destroy(&crashing);

    //  Idle for 1 s: reclaimed.
    cond.environments = 0;
    s_wait_for(test.loop, s_cond_environments, &cond, 5);

    //  A function that always fails: tried 3 times, then dropped.
    s_write_script(dir, "failing", s_failing_runtime, path, sizeof path);
    emu_function_config_t bad = {
        .name = "bad", .path = path, .reserved = -1, .timeout_s = 3};
    emu_function_t *erring = emu_function_new(test.loop, &bad, verbose);
    char *event = strdup("{}");
    CHECK_INT(emu_function_enqueue(erring, NULL, "retried-id", &event, 2, &err), 0);
    s_cond_t retried = {.function = erring, .environments = 1};
    s_wait_for(test.loop, s_cond_async, &retried, 10);
    emu_function_stats(erring, &stats);
    CHECK_INT(stats.invocations, 1 + EMU_FUNCTION_RETRIES);
    CHECK_INT(stats.async_dropped, 1);
    CHECK_INT(stats.async_done, 0);
    CHECK_INT(stats.spawns, 1);
    emu_function_destroy(&erring);
    emu_function_destroy(&function);
    s_run_for(test.loop, 10);
    emu_loop_destroy(&test.loop);
}

void
emu_function_test(bool verbose)
{
    char dir[] = "/tmp/emu_function_test_XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    s_test_basics(verbose);
    s_test_versions(dir, verbose);
    s_test_provisioned(verbose);
    s_test_lifecycle(dir, verbose);
    char path[300];
    snprintf(path, sizeof path, "%s/init_error", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/failing", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/crashing", dir);
    unlink(path);
    CHECK_INT(rmdir(dir), 0);
}
