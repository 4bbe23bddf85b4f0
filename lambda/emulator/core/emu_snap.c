/*  emu_snap — one version's configuration at one time; see emu_snap.h.

    Invariant: both environment lists have room for every user variable
    and the emulator's own S_ENV_OWN, so setting one never grows them.
*/
#define _GNU_SOURCE //  asprintf
#include "emu_snap.h"
#include "emu_aws.h"
#include "emu_invocation.h"
#include "emu_route.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Variables the emulator sets before the user's.
#define S_ENV_OWN 16
#define S_OD 0 //  on-demand environment list
#define S_PC 1 //  provisioned-concurrency environment list

struct _emu_snap_t {
    unsigned refs;
    const emu_function_config_t *config; //  borrowed
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
};

emu_snap_t *
emu_snap_ref(emu_snap_t *self)
{
    assert(self);
    self->refs++;
    return self;
}

void
emu_snap_unref(emu_snap_t **self_p)
{
    assert(self_p);
    emu_snap_t *snap = *self_p;
    *self_p = NULL;
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
s_build_env(emu_snap_t *snap, const char *handler)
{
    const emu_function_config_t *config = snap->config;
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
        rc |= s_setenvf(env, n, cap, "_HANDLER", handler);
        rc |= s_setenvf(env, n, cap, "AWS_LAMBDA_FUNCTION_NAME", config->name);
        rc |= s_setenvf(env, n, cap, "AWS_LAMBDA_FUNCTION_VERSION", snap->version);
        rc |= s_setenvf(env, n, cap, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory);
        rc |= s_setenvf(env, n, cap, "AWS_LAMBDA_INITIALIZATION_TYPE",
                        kind == S_OD ? "on-demand" : "provisioned-concurrency");
        rc |= s_setenvf(env, n, cap, "AWS_REGION", EMU_AWS_REGION);
        rc |= s_setenvf(env, n, cap, "AWS_DEFAULT_REGION", EMU_AWS_REGION);
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

emu_snap_t *
emu_snap_new(const emu_function_config_t *config, const char *handler,
             const char *version, const emu_snap_t *from, const emu_snap_update_t *update,
             uint64_t change)
{
    assert(config && handler && version);
    emu_snap_t *snap = calloc(1, sizeof *snap);
    if (!snap)
        return NULL;
    snap->refs = 1;
    snap->config = config;
    snprintf(snap->version, sizeof snap->version, "%s", version);
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
    snap->change = change;
    snap->last_modified_ms =
        from && !update ? from->last_modified_ms : sp_clock_wall_ns() / SP_NS_PER_MS;
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
        rc = s_build_env(snap, handler);
    if (rc) {
        emu_snap_unref(&snap);
        return NULL;
    }
    return snap;
}

const char *
emu_snap_version(const emu_snap_t *self)
{
    assert(self);
    return self->version;
}

const char *
emu_snap_description(const emu_snap_t *self)
{
    assert(self);
    return self->description;
}

int
emu_snap_timeout_s(const emu_snap_t *self)
{
    assert(self);
    return self->timeout_s;
}

int
emu_snap_memory_mb(const emu_snap_t *self)
{
    assert(self);
    return self->memory_mb;
}

const char *
emu_snap_revision_id(const emu_snap_t *self)
{
    assert(self);
    return self->revision_id;
}

int64_t
emu_snap_last_modified_ms(const emu_snap_t *self)
{
    assert(self);
    return self->last_modified_ms;
}

uint64_t
emu_snap_change(const emu_snap_t *self)
{
    assert(self);
    return self->change;
}

const char *const *
emu_snap_variables(const emu_snap_t *self, size_t *count_p)
{
    assert(self);
    if (count_p)
        *count_p = self->var_count;
    return (const char *const *)self->vars;
}

const char *const *
emu_snap_env(const emu_snap_t *self, bool provisioned, size_t *count_p)
{
    assert(self);
    int kind = provisioned ? S_PC : S_OD;
    if (count_p)
        *count_p = self->env_count[kind];
    return (const char *const *)self->env[kind];
}

//  --- selftest -----------------------------------------------------------

static const char *
s_test_lookup(const emu_snap_t *snap, bool provisioned, const char *key)
{
    size_t count = 0;
    const char *const *env = emu_snap_env(snap, provisioned, &count);
    size_t len = strlen(key);
    for (size_t i = 0; i < count; i++)
        if (strncmp(env[i], key, len) == 0 && env[i][len] == '=')
            return env[i] + len + 1;
    return NULL;
}

void
emu_snap_test(bool verbose)
{
    const char *pairs[] = {"STAMPEDE_HOLD_MS=300", "TZ=:Europe/Paris"};
    emu_function_config_t config = {
        .name = "demo",
        .path = "/opt/fn/bootstrap",
        .reserved = 2,
        .env = pairs,
        .env_count = 2,
        .timeout_s = 3,
    };
    emu_snap_t *snap = emu_snap_new(&config, "bootstrap", "$LATEST", NULL, NULL, 0);
    CHECK_NOT_NULL(snap);
    CHECK_STR(s_test_lookup(snap, false, "AWS_LAMBDA_FUNCTION_NAME"), "demo");
    CHECK_STR(s_test_lookup(snap, false, "AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
    CHECK_STR(s_test_lookup(snap, false, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "128");
    CHECK_STR(s_test_lookup(snap, false, "AWS_LAMBDA_INITIALIZATION_TYPE"), "on-demand");
    CHECK_STR(s_test_lookup(snap, true, "AWS_LAMBDA_INITIALIZATION_TYPE"),
              "provisioned-concurrency");
    CHECK_STR(s_test_lookup(snap, false, "AWS_REGION"), "us-east-1");
    CHECK_STR(s_test_lookup(snap, false, "AWS_DEFAULT_REGION"), "us-east-1");
    CHECK_STR(s_test_lookup(snap, false, "AWS_LAMBDA_LOG_GROUP_NAME"),
              "/aws/lambda/demo");
    CHECK_STR(s_test_lookup(snap, false, "_HANDLER"), "bootstrap");
    CHECK_STR(s_test_lookup(snap, false, "LAMBDA_TASK_ROOT"), "/opt/fn");
    CHECK_STR(s_test_lookup(snap, false, "TZ"), ":Europe/Paris"); //  --env overrides
    CHECK_STR(s_test_lookup(snap, false, "STAMPEDE_HOLD_MS"), "300");
    CHECK_NOT_NULL(s_test_lookup(snap, false, "PATH"));
    CHECK_NULL(s_test_lookup(snap, false, "AWS_LAMBDA_RUNTIME_API"));
    CHECK_STR(emu_snap_version(snap), "$LATEST");
    CHECK_STR(emu_snap_description(snap), "");
    CHECK_INT(emu_snap_timeout_s(snap), 3);
    CHECK_INT(emu_snap_memory_mb(snap), 128);
    CHECK_INT(strlen(emu_snap_revision_id(snap)), 36);
    CHECK_TRUE(emu_snap_last_modified_ms(snap) > 1700000000000);
    size_t count = 0;
    CHECK_STR(emu_snap_variables(snap, &count)[1], "TZ=:Europe/Paris");
    CHECK_INT(count, 2);

    //  A copy keeps the revision; an update makes a new one.
    emu_snap_t *copy = emu_snap_new(&config, "bootstrap", "1", snap, NULL, 0);
    CHECK_STR(emu_snap_version(copy), "1");
    CHECK_STR(s_test_lookup(copy, false, "AWS_LAMBDA_FUNCTION_VERSION"), "1");
    CHECK_STR(emu_snap_revision_id(copy), emu_snap_revision_id(snap));
    const char *vars[] = {"COLOR=red"};
    emu_snap_update_t update = {.has_memory = true,
                                .memory_mb = 256,
                                .has_description = true,
                                .description = "second",
                                .has_variables = true,
                                .variables = vars,
                                .variable_count = 1};
    emu_snap_t *updated = emu_snap_new(&config, "bootstrap", "$LATEST", snap, &update, 1);
    CHECK_TRUE(strcmp(emu_snap_revision_id(updated), emu_snap_revision_id(snap)) != 0);
    CHECK_STR(s_test_lookup(updated, false, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "256");
    CHECK_STR(s_test_lookup(updated, false, "COLOR"), "red");
    CHECK_STR(s_test_lookup(updated, false, "TZ"), ":UTC");
    CHECK_STR(emu_snap_description(updated), "second");
    CHECK_INT(emu_snap_change(updated), 1);
    CHECK_INT(emu_snap_timeout_s(updated), 3);
    //  References: the last one frees.
    emu_snap_t *held = emu_snap_ref(updated);
    emu_snap_unref(&updated);
    CHECK_NULL(updated);
    CHECK_STR(emu_snap_description(held), "second");
    emu_snap_unref(&held);
    emu_snap_unref(&copy);
    emu_snap_unref(&snap);
    emu_snap_unref(&snap);
    (void)verbose;
}
