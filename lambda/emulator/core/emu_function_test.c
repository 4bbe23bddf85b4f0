/*  emu_function_test — emu_function's selftest, in a file of its own (built into the
    selftest runner only) so the module stays one screenful of product
    code; it uses the public API only.
*/
#include "emu_fleet.h"
#include "emu_function.h"
#include "emu_pool.h"
#include "fn_answer.h"
#include "sp_check.h"
#include "sp_clock.h"
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

    //  Destroyed with one in flight or queued: emu_fleet_test.
    emu_function_destroy(&function);
    CHECK_NULL(function);

    //  Reserved 0 throttles everything.
    config.reserved = 0;
    function = emu_function_new(test.loop, &config, verbose);
    test.invocations[0] = s_test_invocation(&test);
    CHECK_INT(emu_function_dispatch(function, NULL, test.invocations[0], &err),
              EMU_FUNCTION_DISPATCH_REFUSED);
    CHECK_INT(err.status, 429);
    CHECK_STR(err.reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    emu_function_destroy(&function);
    //  A path that cannot start: emu_fleet_test.
    config.reserved = -1;
    function = emu_function_new(test.loop, &config, verbose);
    emu_function_stats(function, &stats);
    CHECK_INT(stats.cap, EMU_CONFIG_ACCOUNT_LIMIT);
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
    //  Versions and aliases are emu_versions_test's; here, the facade's
    //  answers for qualifiers that do not resolve.
    emu_function_version_info_t info;
    CHECK_INT(emu_function_version_count(function), 1);
    emu_function_version_at(function, 0, &info);
    CHECK_STR(info.version, "$LATEST");
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
    CHECK_INT(emu_function_publish(function, NULL, &info, &err), 0);
    CHECK_STR(info.version, "1");
    CHECK_INT(emu_function_resolve(function, "1", &version, &err), 0);
    CHECK_STR(version, "1");
    CHECK_INT(emu_function_resolve(function, "01", &version, &err), -1);
    size_t count = 0;
    const char *const *env = emu_function_environment(function, &count);
    CHECK_STR(s_env_value(env, count, "COLOR"), "blue");
    CHECK_INT(emu_function_version_info(function, "3", &info, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_ARN "demo:3");
    emu_function_alias_info_t alias;
    CHECK_INT(emu_function_create_alias(function, "live", "1", "prod", &alias, &err), 0);
    CHECK_INT(emu_function_resolve(function, "live", &version, &err), 0);
    CHECK_STR(version, "1");
    CHECK_INT(emu_function_version_info(function, "live", &info, &err), 0);
    CHECK_STR(info.version, "1");
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

    //  Provisioned refusals are emu_provisioned_test's; one through the facade.
    emu_function_provisioned_info_t pc;
    CHECK_INT(emu_function_put_provisioned(function, "$LATEST", 1, &pc, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "Provisioned Concurrency Configs cannot be applied to "
                  "unpublished function versions.");
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
        fn_answer_t answer;
        CHECK_INT(fn_answer_proxy(emu_invocation_payload(running[i], NULL), &answer), 0);
        CHECK_STR(answer.request_id, emu_invocation_request_id(running[i]));
        bool is_provisioned =
            strcmp(answer.initialization_type, "provisioned-concurrency") == 0;
        provisioned += is_provisioned;
        on_demand += strcmp(answer.initialization_type, "on-demand") == 0;
        warm += !emu_invocation_cold(running[i]);
        CHECK_INT(emu_invocation_cold(running[i]), !is_provisioned);
        CHECK_INT(answer.cold_start, !is_provisioned);
        CHECK_INT(answer.invocation_count, 1);
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
    fn_answer_t answer;
    CHECK_INT(fn_answer_proxy(emu_invocation_payload(running[0], NULL), &answer), 0);
    CHECK_STR(answer.initialization_type, "provisioned-concurrency");
    CHECK_INT(answer.cold_start, false);
    CHECK_INT(answer.invocation_count, 1);
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
s_test_lifecycle(bool verbose)
{
    s_test_t test = {.loop = emu_loop_new()};
    emu_aws_error_t err;
    emu_function_version_info_t info;
    //  $LATEST of the bootstrap, idle for at most 1 s.
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

    //  Provisioned init failure and crash replacement: emu_provisioned_test.

    //  Idle reclaim: emu_fleet_test; retries then drop: emu_eventq_test.
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
    s_test_lifecycle(verbose);
    CHECK_INT(rmdir(dir), 0);
}
