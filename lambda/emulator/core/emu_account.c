/*  emu_account — the emulated account: its limit and its functions; see
    emu_account.h.

    The concurrency arithmetic lives in the account's emu_quota, whose
    members are the functions' own numbers, so they can never disagree.
*/
#include "emu_account.h"
#include "emu_limits.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_err.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _emu_account_t {
    emu_loop_t *loop;           //  borrowed
    const emu_config_t *config; //  borrowed
    emu_quota_t *quota;         //  the limit and the functions' numbers
    emu_function_t **functions; //  owned, in configuration order
    size_t function_count;
};

emu_account_t *
emu_account_new(emu_loop_t *loop, const emu_config_t *config, char *err, size_t err_size)
{
    assert(loop && config && err && err_size > 0);
    //  The accessors do not change the configuration.
    emu_config_t *cfg = (emu_config_t *)config;
    int limit = emu_config_account_concurrency(cfg);
    long reserved = 0;
    size_t count = emu_config_function_count(cfg);
    for (size_t i = 0; i < count; i++)
        if (emu_config_function(cfg, i)->reserved > 0)
            reserved += emu_config_function(cfg, i)->reserved;
    if (limit - reserved < EMU_LIMIT_UNRESERVED_MIN) {
        snprintf(
            err, err_size,
            "the functions reserve %ld of the account's %d concurrency, leaving less "
            "than the minimum of %d unreserved",
            reserved, limit, EMU_LIMIT_UNRESERVED_MIN);
        return NULL;
    }
    emu_account_t *self = calloc(1, sizeof *self);
    if (self)
        self->functions = calloc(count + 1, sizeof *self->functions);
    if (self)
        self->quota = emu_quota_new(limit);
    if (!self || !self->functions || !self->quota) {
        sp_err_set(err, err_size, "out of memory");
        emu_account_destroy(&self);
        return NULL;
    }
    self->loop = loop;
    self->config = config;
    bool verbose = emu_config_verbose(cfg);
    for (size_t i = 0; i < count; i++) {
        emu_function_t *function =
            emu_function_new(loop, emu_config_function(cfg, i), verbose);
        if (function)
            self->functions[self->function_count++] = function;
        if (!function || emu_function_join(function, self->quota)) {
            sp_err_set(err, err_size, "out of memory");
            emu_account_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void
emu_account_destroy(emu_account_t **self_p)
{
    assert(self_p);
    emu_account_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->function_count; i++)
        emu_function_destroy(&self->functions[i]);
    free(self->functions);
    emu_quota_destroy(&self->quota);
    free(self);
    *self_p = NULL;
}

size_t
emu_account_function_count(emu_account_t *self)
{
    assert(self);
    return self->function_count;
}

emu_function_t *
emu_account_function_at(emu_account_t *self, size_t index)
{
    assert(self && index < self->function_count);
    return self->functions[index];
}

static bool
s_valid_qualifier(const char *text, size_t len)
{
    if (len == strlen("$LATEST") && strncmp(text, "$LATEST", len) == 0)
        return true;
    if (len == 0 || len > EMU_FUNCTION_QUALIFIER_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool
s_token_is(const char *token, size_t len, const char *expected)
{
    return len == strlen(expected) && strncmp(token, expected, len) == 0;
}

emu_function_t *
emu_account_lookup(emu_account_t *self, const char *name, char *qualifier,
                   emu_aws_error_t *err)
{
    assert(self && name && qualifier && err);
    qualifier[0] = '\0';
    //  Split on ':' into at most 8 tokens.
    const char *tokens[9];
    size_t lens[9];
    size_t count = 0;
    const char *p = name;
    bool valid = strlen(name) <= 256 + EMU_FUNCTION_QUALIFIER_MAX;
    while (valid) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (count == 8) {
            valid = false;
            break;
        }
        tokens[count] = p;
        lens[count++] = len;
        if (!colon)
            break;
        p = colon + 1;
    }
    //  name[:q] | account:function:name[:q] |
    //  arn:aws:lambda:region:account:function:name[:q]
    size_t at = 0; //  index of the name token
    bool foreign = false;
    if (valid) {
        if (count == 1 || count == 2)
            at = 0;
        else if (count == 3 || count == 4) {
            at = 2;
            valid = s_token_is(tokens[1], lens[1], "function");
            foreign = !s_token_is(tokens[0], lens[0], EMU_AWS_ACCOUNT_ID);
        } else if (count == 7 || count == 8) {
            at = 6;
            valid = s_token_is(tokens[0], lens[0], "arn") &&
                    s_token_is(tokens[1], lens[1], "aws") &&
                    s_token_is(tokens[2], lens[2], "lambda") &&
                    s_token_is(tokens[5], lens[5], "function");
            foreign = !s_token_is(tokens[3], lens[3], EMU_AWS_REGION) ||
                      !s_token_is(tokens[4], lens[4], EMU_AWS_ACCOUNT_ID);
        } else
            valid = false;
    }
    if (valid)
        valid = emu_route_valid_name(tokens[at], lens[at]);
    bool qualified = valid && at + 2 == count;
    if (qualified)
        valid = s_valid_qualifier(tokens[at + 1], lens[at + 1]);
    if (!valid) {
        emu_aws_error_set(
            err, 400, "ValidationException",
            "1 validation error detected: Value '%.200s' at 'functionName' "
            "failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?("
            "\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+)"
            ")?",
            name);
        return NULL;
    }
    char function_name[EMU_ROUTE_NAME_MAX + 1];
    snprintf(function_name, sizeof function_name, "%.*s", (int)lens[at], tokens[at]);
    if (qualified)
        snprintf(qualifier, EMU_FUNCTION_QUALIFIER_MAX + 1, "%.*s", (int)lens[at + 1],
                 tokens[at + 1]);
    for (size_t i = 0; !foreign && i < self->function_count; i++)
        if (strcmp(emu_function_name(self->functions[i]), function_name) == 0)
            return self->functions[i];
    emu_aws_error_function_not_found(err, function_name, NULL);
    qualifier[0] = '\0';
    return NULL;
}

int
emu_account_limit(emu_account_t *self)
{
    assert(self);
    return emu_quota_limit(self->quota);
}

int
emu_account_unreserved(emu_account_t *self)
{
    assert(self);
    return emu_quota_unreserved(self->quota);
}

int
emu_account_unreserved_in_flight(emu_account_t *self)
{
    assert(self);
    return emu_quota_unreserved_in_flight(self->quota);
}

//  --- selftest -----------------------------------------------------------

typedef struct {
    int done;
    int aborted;
} s_test_t;

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    s_test_t *test = arg;
    test->done++;
    test->aborted += emu_invocation_outcome(invocation) == EMU_INVOCATION_ABORTED;
}

static emu_function_dispatch_t
s_test_dispatch(emu_function_t *function, const char *qualifier, s_test_t *test,
                emu_invocation_t **invocation_p, emu_aws_error_t *err)
{
    char id[EMU_INVOCATION_ID_SIZE];
    emu_invocation_new_id(id);
    char *event = strdup("{}");
    *invocation_p = emu_invocation_new(id, &event, 2, s_test_done, test);
    CHECK_NOT_NULL(*invocation_p);
    emu_aws_error_clear(err);
    return emu_function_dispatch(function, qualifier, *invocation_p, err);
}

static void
s_test_lookup(emu_account_t *account, const char *name, const char *function,
              const char *qualifier)
{
    char found_qualifier[EMU_FUNCTION_QUALIFIER_MAX + 1] = "unset";
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    emu_function_t *found = emu_account_lookup(account, name, found_qualifier, &err);
    if (!function) {
        CHECK_NULL(found);
        CHECK_STR(found_qualifier, "");
        return;
    }
    CHECK_NOT_NULL(found);
    CHECK_INT(err.status, 0);
    CHECK_STR(emu_function_name(found), function);
    CHECK_STR(found_qualifier, qualifier);
}

void
emu_account_test(bool verbose)
{
    //  Account 150, "a" reserves 40: the unreserved pool is 110, shared
    //  by "b" and "c".
    char *argv[] = {"stampede-lambda",
                    "--account-concurrency",
                    "150",
                    "--function",
                    "a=" EMU_TEST_BOOTSTRAP,
                    "--reserved",
                    "40",
                    "--function",
                    "b=" EMU_TEST_BOOTSTRAP,
                    "--function",
                    "c=" EMU_TEST_BOOTSTRAP,
                    NULL};
    emu_config_t *config = emu_config_new();
    CHECK_INT(emu_config_parse(config, 11, argv, stdout, stderr), EMU_CONFIG_RUN);
    emu_loop_t *loop = emu_loop_new();
    char reason[256] = "";
    emu_account_t *account = emu_account_new(loop, config, reason, sizeof reason);
    CHECK_NOT_NULL(account);
    CHECK_INT(emu_account_limit(account), 150);
    CHECK_INT(emu_account_unreserved(account), 110);
    CHECK_INT(emu_account_unreserved_in_flight(account), 0);
    CHECK_INT(emu_account_function_count(account), 3);
    emu_function_t *a = emu_account_function_at(account, 0);
    emu_function_t *b = emu_account_function_at(account, 1);
    emu_function_t *c = emu_account_function_at(account, 2);
    CHECK_STR(emu_function_name(c), "c");
    CHECK_INT(emu_function_reserved(a), 40);
    CHECK_INT(emu_function_reserved(b), -1);

    //  FunctionName in every form AWS accepts.
    s_test_lookup(account, "b", "b", "");
    s_test_lookup(account, "b:live", "b", "live");
    s_test_lookup(account, "b:7", "b", "7");
    s_test_lookup(account, "b:$LATEST", "b", "$LATEST");
    s_test_lookup(account, "arn:aws:lambda:us-east-1:123456789012:function:a", "a", "");
    s_test_lookup(account, "arn:aws:lambda:us-east-1:123456789012:function:a:live", "a",
                  "live");
    s_test_lookup(account, "123456789012:function:c", "c", "");
    s_test_lookup(account, "123456789012:function:c:2", "c", "2");
    char qualifier[EMU_FUNCTION_QUALIFIER_MAX + 1];
    emu_aws_error_t err;
    CHECK_NULL(emu_account_lookup(account, "nope", qualifier, &err));
    CHECK_INT(err.status, 404);
    CHECK_STR(err.type, "ResourceNotFoundException");
    CHECK_STR(err.message,
              "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope");
    CHECK_NULL(emu_account_lookup(account, "999999999999:function:a", qualifier, &err));
    CHECK_INT(err.status, 404);
    CHECK_NULL(emu_account_lookup(
        account, "arn:aws:lambda:eu-west-1:123456789012:function:a", qualifier, &err));
    CHECK_INT(err.status, 404);
    const char *bad[] = {"",
                         "a:",
                         "a:b:c",
                         "a b",
                         "a:bad qualifier",
                         "x:y:z:w:v",
                         "arn:aws:s3:us-east-1:123456789012:function:a",
                         "a:1:2",
                         NULL};
    for (size_t i = 0; bad[i]; i++) {
        CHECK_NULL(emu_account_lookup(account, bad[i], qualifier, &err));
        CHECK_INT(err.status, 400);
        CHECK_STR(err.type, "ValidationException");
        CHECK_STR(qualifier, "");
    }
    CHECK_TRUE(
        strncmp(emu_account_lookup(account, "a:b:c", qualifier, &err) ? "" : err.message,
                "1 validation error detected: Value 'a:b:c' at 'functionName' failed "
                "to satisfy constraint: Member must satisfy regular expression pattern: ",
                117) == 0);

    //  The unreserved pool is shared: 60 of b and 50 of c run, the 111th
    //  invocation of either is throttled for the account, not the function.
    s_test_t test = {0};
    emu_invocation_t *invocations[200];
    size_t n = 0;
    for (int i = 0; i < 60; i++)
        CHECK_INT(s_test_dispatch(b, NULL, &test, &invocations[n++], &err),
                  EMU_FUNCTION_DISPATCH_OK);
    for (int i = 0; i < 50; i++)
        CHECK_INT(s_test_dispatch(c, NULL, &test, &invocations[n++], &err),
                  EMU_FUNCTION_DISPATCH_OK);
    CHECK_INT(emu_account_unreserved_in_flight(account), 110);
    CHECK_INT(s_test_dispatch(b, NULL, &test, &invocations[n++], &err),
              EMU_FUNCTION_DISPATCH_REFUSED);
    CHECK_INT(err.status, 429);
    CHECK_STR(err.type, "TooManyRequestsException");
    CHECK_STR(err.message, "Rate Exceeded.");
    CHECK_STR(err.reason, "ConcurrentInvocationLimitExceeded");
    CHECK_INT(s_test_dispatch(c, NULL, &test, &invocations[n++], &err),
              EMU_FUNCTION_DISPATCH_REFUSED);
    CHECK_STR(err.reason, "ConcurrentInvocationLimitExceeded");
    CHECK_INT(emu_function_admit(c, NULL, &err), -1);
    CHECK_STR(err.reason, "ConcurrentInvocationLimitExceeded");
    CHECK_INT(emu_function_admit(b, NULL, &err), -1);
    CHECK_STR(err.reason, "ConcurrentInvocationLimitExceeded");
    //  The reserved function keeps its own 40, untouched by the others.
    for (int i = 0; i < 40; i++)
        CHECK_INT(s_test_dispatch(a, NULL, &test, &invocations[n++], &err),
                  EMU_FUNCTION_DISPATCH_OK);
    CHECK_INT(s_test_dispatch(a, NULL, &test, &invocations[n++], &err),
              EMU_FUNCTION_DISPATCH_REFUSED);
    CHECK_STR(err.reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    emu_function_stats_t stats;
    emu_function_stats(b, &stats);
    CHECK_INT(stats.invocations, 60);
    CHECK_INT(stats.throttles, 1);
    CHECK_INT(stats.cap, 110); //  the shared pool
    emu_function_stats(a, &stats);
    CHECK_INT(stats.cap, 40);

    //  Reservations must leave 100 unreserved: b may take 10, not 11.
    CHECK_INT(emu_function_put_reserved(b, 11, &err), -1);
    CHECK_INT(err.status, 400);
    CHECK_STR(err.type, "InvalidParameterValueException");
    CHECK_STR(err.message,
              "Specified ReservedConcurrentExecutions for function decreases "
              "account's UnreservedConcurrentExecution below its minimum value "
              "of [100].");
    CHECK_INT(emu_function_reserved(b), -1);
    CHECK_INT(emu_function_put_reserved(b, 10, &err), 0);
    CHECK_INT(emu_account_unreserved(account), 100);
    //  b's 60 in flight no longer count in the pool: c may grow to 100.
    CHECK_INT(emu_account_unreserved_in_flight(account), 50);
    CHECK_INT(emu_function_admit(c, NULL, &err), 0);
    CHECK_INT(emu_function_admit(b, NULL, &err), -1);
    CHECK_STR(err.reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    //  Lowering a reservation is always fine; deleting one returns it.
    CHECK_INT(emu_function_put_reserved(a, 0, &err), 0);
    CHECK_INT(emu_account_unreserved(account), 140);
    CHECK_INT(emu_function_admit(a, NULL, &err), -1);
    CHECK_STR(err.reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    emu_function_delete_reserved(b);
    CHECK_INT(emu_function_reserved(b), -1);
    CHECK_INT(emu_account_unreserved(account), 150);
    CHECK_INT(emu_account_unreserved_in_flight(account), 110);

    //  Destroyed with invocations still queued: all handed back ABORTED.
    int dispatched = 60 + 50 + 40;
    emu_account_destroy(&account);
    CHECK_NULL(account);
    emu_account_destroy(&account);
    CHECK_INT(test.done, dispatched);
    CHECK_INT(test.aborted, dispatched);
    for (size_t i = 0; i < n; i++)
        emu_invocation_destroy(&invocations[i]);
    emu_loop_destroy(&loop);
    emu_config_destroy(&config);
    (void)verbose;
}
