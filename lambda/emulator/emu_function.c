/*  emu_function — one function and its environments; see emu_function.h. */
#define _GNU_SOURCE //  asprintf
#include "emu_function.h"
#include "emu_env.h"
#include "emu_furl.h"
#include "emu_pool.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ENV_MAX (EMU_CONFIG_ENV_MAX + 20)

//  An environment to start: its slot is taken, the invocation waits.
typedef struct {
    size_t slot;
    emu_invocation_t *invocation;
} s_start_t;

struct _emu_function_t {
    emu_loop_t *loop;                    //  borrowed
    const emu_function_config_t *config; //  borrowed
    bool verbose;
    char *env[S_ENV_MAX]; //  "KEY=VALUE", owned
    size_t env_count;
    emu_env_spec_t spec; //  how to start an environment
    emu_pool_t *pool;    //  live environments
    emu_env_t **dead;    //  gone environments awaiting destroy
    size_t dead_count;
    size_t dead_cap;
    bool burial_queued; //  a deferred call will destroy them
    s_start_t *starts;  //  FIFO of environments to start
    size_t start_head;  //  first queued
    size_t start_count; //  queued
    size_t start_cap;
    emu_timer_t *start_timer; //  starts the next batch
    unsigned serial;          //  environments started so far
    emu_function_stats_t stats;
};

//  Sets KEY=VALUE `pair` in the environment list, replacing the same key.
static int
s_setenv(emu_function_t *self, const char *pair)
{
    size_t key_len = strcspn(pair, "=");
    char *copy = strdup(pair);
    if (!copy)
        return -1;
    for (size_t i = 0; i < self->env_count; i++)
        if (strncmp(self->env[i], pair, key_len + 1) == 0) {
            free(self->env[i]);
            self->env[i] = copy;
            return 0;
        }
    assert(self->env_count < S_ENV_MAX);
    self->env[self->env_count++] = copy;
    return 0;
}

static int
s_setenvf(emu_function_t *self, const char *key, const char *value)
{
    char *pair = NULL;
    if (asprintf(&pair, "%s=%s", key, value) < 0)
        return -1;
    int rc = s_setenv(self, pair);
    free(pair);
    return rc;
}

static int
s_build_environment(emu_function_t *self)
{
    const emu_function_config_t *config = self->config;
    char *path = strdup(config->path), *file = strdup(config->path);
    if (!path || !file) {
        free(path);
        free(file);
        return -1;
    }
    const char *dir = dirname(path), *handler = basename(file);
    char group[EMU_ROUTE_NAME_MAX + 16];
    snprintf(group, sizeof group, "/aws/lambda/%s", config->name);
    const char *search = getenv("PATH");
    const char *lang = getenv("LANG");
    int rc = 0;
    rc |= s_setenvf(self, "_HANDLER", handler);
    rc |= s_setenvf(self, "AWS_LAMBDA_FUNCTION_NAME", config->name);
    rc |= s_setenvf(self, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    rc |= s_setenvf(self, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    rc |= s_setenvf(self, "AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    rc |= s_setenvf(self, "AWS_REGION", EMU_FURL_REGION);
    rc |= s_setenvf(self, "AWS_DEFAULT_REGION", EMU_FURL_REGION);
    rc |= s_setenvf(self, "LAMBDA_TASK_ROOT", dir);
    rc |= s_setenvf(self, "LAMBDA_RUNTIME_DIR", dir);
    rc |= s_setenvf(self, "AWS_LAMBDA_LOG_GROUP_NAME", group);
    rc |= s_setenvf(self, "TZ", ":UTC");
    rc |= s_setenvf(self, "LANG", lang && *lang ? lang : "en_US.UTF-8");
    rc |= s_setenvf(self, "PATH",
                    search && *search ? search : "/usr/local/bin:/usr/bin:/bin");
    for (size_t i = 0; i < config->env_count; i++)
        rc |= s_setenv(self, config->env[i]);
    free(path);
    free(file);
    return rc ? -1 : 0;
}

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
    size_t cap =
        config->reserved >= 0 ? (size_t)config->reserved : EMU_CONFIG_ACCOUNT_LIMIT;
    self->pool = emu_pool_new(cap);
    if (!self->pool || s_build_environment(self)) {
        emu_function_destroy(&self);
        return NULL;
    }
    self->spec = (emu_env_spec_t){
        .function = config->name,
        .path = config->path,
        .env = (const char *const *)self->env,
        .env_count = self->env_count,
        .timeout_ns = (int64_t)config->timeout_s * SP_NS_PER_S,
        .init_timeout_ns = EMU_ENV_INIT_TIMEOUT_NS,
        .verbose = verbose,
    };
    return self;
}

void
emu_function_destroy(emu_function_t **self_p)
{
    assert(self_p);
    emu_function_t *self = *self_p;
    if (!self)
        return;
    emu_loop_timer_cancel(self->loop, &self->start_timer);
    for (size_t i = 0; i < self->start_count; i++) {
        s_start_t *start = &self->starts[(self->start_head + i) % self->start_cap];
        emu_pool_remove(self->pool, start->slot);
        emu_invocation_fail(&start->invocation, EMU_INVOCATION_ABORTED,
                            "ServiceException", "the function was shut down");
    }
    free(self->starts);
    if (self->pool) {
        for (size_t slot = 0; slot < emu_pool_slots(self->pool); slot++) {
            emu_env_t *env = emu_pool_item(self->pool, slot);
            if (env) {
                emu_pool_remove(self->pool, slot);
                emu_env_destroy(&env);
            }
        }
        emu_pool_destroy(&self->pool);
    }
    for (size_t i = 0; i < self->dead_count; i++)
        emu_env_destroy(&self->dead[i]);
    free(self->dead);
    for (size_t i = 0; i < self->env_count; i++)
        free(self->env[i]);
    free(self);
    *self_p = NULL;
}

static void
s_env_idle(emu_env_t *env, void *arg)
{
    emu_function_t *self = arg;
    emu_pool_release(self->pool, emu_env_tag(env));
}

static void
s_bury(emu_loop_t *loop, void *arg)
{
    emu_function_t *self = arg;
    for (size_t i = 0; i < self->dead_count; i++)
        emu_env_destroy(&self->dead[i]);
    self->dead_count = 0;
    self->burial_queued = false;
}

static void
s_env_gone(emu_env_t *env, void *arg)
{
    emu_function_t *self = arg;
    emu_pool_remove(self->pool, emu_env_tag(env));
    //  Not from inside its own callbacks: destroy it after this batch.
    if (self->dead_count == self->dead_cap) {
        size_t cap = self->dead_cap ? self->dead_cap * 2 : 16;
        emu_env_t **grown = realloc(self->dead, cap * sizeof *grown);
        assert(grown);
        self->dead = grown;
        self->dead_cap = cap;
    }
    self->dead[self->dead_count++] = env;
    if (!self->burial_queued) {
        int rc = emu_loop_defer(self->loop, s_bury, self);
        assert(rc == 0);
        self->burial_queued = true;
    }
}

static const emu_env_events_t s_env_events = {.idle = s_env_idle, .gone = s_env_gone};

//  Starts up to EMU_FUNCTION_SPAWN_BATCH queued environments, then
//  re-arms itself for the next loop iteration while more are queued.
static void
s_start_batch(emu_loop_t *loop, void *arg)
{
    emu_function_t *self = arg;
    self->start_timer = NULL;
    for (int n = 0; n < EMU_FUNCTION_SPAWN_BATCH && self->start_count > 0; n++) {
        s_start_t start = self->starts[self->start_head];
        self->start_head = (self->start_head + 1) % self->start_cap;
        self->start_count--;
        char err[256];
        emu_env_t *env = emu_env_new(self->loop, &self->spec, ++self->serial, start.slot,
                                     &s_env_events, self, err, sizeof err);
        if (!env) {
            emu_pool_remove(self->pool, start.slot);
            self->stats.spawn_failures++;
            zsys_error("environment failed to start function=%s error=\"%s\"",
                       self->config->name, err);
            emu_invocation_fail(&start.invocation, EMU_INVOCATION_INIT_ERROR,
                                "Runtime.InvalidEntrypoint", err);
            continue;
        }
        emu_pool_set_item(self->pool, start.slot, env);
        self->stats.spawns++;
        emu_env_assign(env, start.invocation);
    }
    if (self->start_count > 0) {
        self->start_timer = emu_loop_timer_start(loop, 0, s_start_batch, self);
        assert(self->start_timer);
    }
}

static int
s_queue_start(emu_function_t *self, size_t slot, emu_invocation_t *invocation)
{
    if (self->start_count == self->start_cap) {
        size_t cap = self->start_cap ? self->start_cap * 2 : 64;
        s_start_t *grown = malloc(cap * sizeof *grown);
        if (!grown)
            return -1;
        for (size_t i = 0; i < self->start_count; i++)
            grown[i] = self->starts[(self->start_head + i) % self->start_cap];
        free(self->starts);
        self->starts = grown;
        self->start_cap = cap;
        self->start_head = 0;
    }
    self->starts[(self->start_head + self->start_count) % self->start_cap] =
        (s_start_t){.slot = slot, .invocation = invocation};
    self->start_count++;
    if (!self->start_timer) {
        self->start_timer = emu_loop_timer_start(self->loop, 0, s_start_batch, self);
        if (!self->start_timer) {
            self->start_count--;
            return -1;
        }
    }
    return 0;
}

bool
emu_function_saturated(emu_function_t *self)
{
    assert(self);
    return emu_pool_idle(self->pool) == 0 &&
           emu_pool_size(self->pool) >= emu_pool_cap(self->pool);
}

emu_function_result_t
emu_function_invoke(emu_function_t *self, emu_invocation_t *invocation)
{
    assert(self && invocation);
    size_t slot = 0;
    switch (emu_pool_acquire(self->pool, &slot)) {
    case EMU_POOL_THROTTLE:
        self->stats.throttles++;
        return EMU_FUNCTION_THROTTLED;
    case EMU_POOL_REUSE:
        emu_env_assign(emu_pool_item(self->pool, slot), invocation);
        break;
    case EMU_POOL_SPAWN:
        if (s_queue_start(self, slot, invocation)) {
            emu_pool_remove(self->pool, slot);
            return EMU_FUNCTION_FAILED;
        }
        break;
    }
    self->stats.invocations++;
    return EMU_FUNCTION_DISPATCHED;
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
    if (count_p)
        *count_p = self->env_count;
    return (const char *const *)self->env;
}

void
emu_function_stats(emu_function_t *self, emu_function_stats_t *stats)
{
    assert(self && stats);
    *stats = self->stats;
    stats->starting = self->start_count;
    stats->environments = emu_pool_size(self->pool);
    stats->idle = emu_pool_idle(self->pool);
    stats->cap = emu_pool_cap(self->pool);
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

void
emu_function_test(bool verbose)
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
    int dispatched = 0, throttled = 0;
    for (int i = 0; i < 5; i++) {
        test.invocations[i] = s_test_invocation(&test);
        emu_function_result_t rc = emu_function_invoke(function, test.invocations[i]);
        dispatched += rc == EMU_FUNCTION_DISPATCHED;
        throttled += rc == EMU_FUNCTION_THROTTLED;
    }
    CHECK_INT(dispatched, 2);
    CHECK_INT(throttled, 3);
    CHECK_TRUE(emu_function_saturated(function));
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
    CHECK_TRUE(!emu_function_saturated(function));

    //  The second wave reuses them: no new spawn.
    for (int i = 5; i < 7; i++) {
        test.invocations[i] = s_test_invocation(&test);
        CHECK_INT(emu_function_invoke(function, test.invocations[i]),
                  EMU_FUNCTION_DISPATCHED);
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
    CHECK_INT(emu_function_invoke(function, test.invocations[0]),
              EMU_FUNCTION_DISPATCHED);
    emu_function_destroy(&function);
    CHECK_NULL(function);
    CHECK_INT(emu_invocation_outcome(test.invocations[0]), EMU_INVOCATION_ABORTED);
    emu_invocation_destroy(&test.invocations[0]);
    emu_function_destroy(&function);
    //  Still queued to start when the function is destroyed: the same.
    function = emu_function_new(test.loop, &config, verbose);
    test.invocations[0] = s_test_invocation(&test);
    CHECK_INT(emu_function_invoke(function, test.invocations[0]),
              EMU_FUNCTION_DISPATCHED);
    emu_function_destroy(&function);
    CHECK_INT(emu_invocation_outcome(test.invocations[0]), EMU_INVOCATION_ABORTED);
    emu_invocation_destroy(&test.invocations[0]);

    //  Reserved 0 throttles everything; a path that cannot start fails.
    config.reserved = 0;
    function = emu_function_new(test.loop, &config, verbose);
    test.invocations[0] = s_test_invocation(&test);
    CHECK_INT(emu_function_invoke(function, test.invocations[0]), EMU_FUNCTION_THROTTLED);
    emu_function_destroy(&function);
    config.reserved = -1;
    config.path = "/nonexistent/bootstrap";
    function = emu_function_new(test.loop, &config, verbose);
    emu_function_stats(function, &stats);
    CHECK_INT(stats.cap, EMU_CONFIG_ACCOUNT_LIMIT);
    CHECK_INT(emu_function_invoke(function, test.invocations[0]),
              EMU_FUNCTION_DISPATCHED);
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
