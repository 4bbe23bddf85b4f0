/*  emu_versions_test — emu_versions's selftest, in a file of its own (built into the
    selftest runner only) so the module stays one screenful of product
    code; it uses the public API only.
*/
#include "emu_versions.h"
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

#define S_TEST_ARN "arn:aws:lambda:us-east-1:123456789012:function:demo"

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

static int
s_test_refuse(void *arg, const char *alias, emu_version_t *from, emu_version_t *to,
              emu_aws_error_t *err)
{
    int *asked = arg;
    (*asked)++;
    emu_aws_error_set(err, 409, "ResourceConflictException", "refused by the test");
    return -1;
}

void
emu_versions_test(bool verbose)
{
    CHECK_TRUE(emu_versions_is_latest(NULL));
    CHECK_TRUE(emu_versions_is_latest(""));
    CHECK_TRUE(emu_versions_is_latest("$LATEST"));
    CHECK_TRUE(!emu_versions_is_latest("1"));
    CHECK_TRUE(!emu_versions_is_latest("$latest"));
    CHECK_TRUE(emu_versions_is_number("12"));
    CHECK_TRUE(!emu_versions_is_number(""));
    CHECK_TRUE(!emu_versions_is_number(NULL));
    CHECK_TRUE(!emu_versions_is_number("1a"));
    CHECK_TRUE(!emu_versions_is_number("live"));

    char dir[] = "/tmp/emu_versions_test.XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/hello", dir);
    FILE *file = fopen(path, "w");
    CHECK_NOT_NULL(file);
    fputs("hello\n", file);
    fclose(file);
    emu_loop_t *loop = emu_loop_new();
    CHECK_NOT_NULL(loop);
    const emu_fleet_events_t events = {s_test_busy, s_test_freed, s_test_lost,
                                       s_test_start_failed};
    emu_fleet_t *fleet =
        emu_fleet_new(loop, "demo", path, 60 * SP_NS_PER_S, false, &events, NULL);
    CHECK_NOT_NULL(fleet);
    const char *pairs[] = {"COLOR=blue"};
    emu_function_config_t config = {.name = "demo",
                                    .path = path,
                                    .reserved = -1,
                                    .env = pairs,
                                    .env_count = 1,
                                    .timeout_s = 3};
    emu_versions_t *versions = emu_versions_new(&config, fleet);
    CHECK_NOT_NULL(versions);
    emu_aws_error_t err;
    emu_aws_error_clear(&err);

    //  $LATEST alone.
    CHECK_INT(emu_versions_count(versions), 1);
    emu_version_t *latest = emu_versions_latest(versions);
    CHECK_TRUE(emu_versions_at(versions, 0) == latest);
    CHECK_STR(emu_version_name(latest), "$LATEST");
    CHECK_NOT_NULL(emu_version_snap(latest));
    CHECK_NOT_NULL(emu_version_group(latest));
    emu_version_info_t info;
    emu_versions_info(versions, latest, &info);
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
    CHECK_TRUE(emu_versions_resolve(versions, NULL, NULL) == latest);
    CHECK_TRUE(emu_versions_resolve(versions, "", NULL) == latest);
    CHECK_TRUE(emu_versions_find(versions, "$LATEST") == latest);
    CHECK_NULL(emu_versions_resolve(versions, "1", NULL));
    CHECK_NULL(emu_versions_resolve(versions, "live", NULL));

    char latest_revision[EMU_INVOCATION_ID_SIZE];
    snprintf(latest_revision, sizeof latest_revision, "%s", info.revision_id);

    //  Publish: 1, then 1 again while $LATEST is unchanged (the second
    //  description is ignored).
    emu_version_t *one = emu_versions_publish(versions, NULL, &err);
    CHECK_NOT_NULL(one);
    CHECK_STR(emu_version_name(one), "1");
    emu_versions_info(versions, one, &info);
    CHECK_STR(info.version, "1");
    CHECK_STR(info.code_sha256, "WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=");
    CHECK_TRUE(strcmp(info.revision_id, latest_revision) != 0);
    CHECK_TRUE(emu_versions_publish(versions, "ignored", &err) == one);
    emu_versions_info(versions, one, &info);
    CHECK_STR(info.description, "");
    CHECK_INT(emu_versions_count(versions), 2);
    CHECK_TRUE(emu_versions_find(versions, "1") == one);
    CHECK_TRUE(emu_versions_resolve(versions, "1", NULL) == one);
    CHECK_NULL(emu_versions_resolve(versions, "01", NULL));

    //  Update $LATEST: a new revision; the runtime environment follows.
    const char *vars[] = {"COLOR=red", "SIZE=9"};
    emu_snap_update_t update = {.has_timeout = true,
                                .timeout_s = 10,
                                .has_memory = true,
                                .memory_mb = 256,
                                .has_description = true,
                                .description = "second",
                                .has_variables = true,
                                .variables = vars,
                                .variable_count = 2};
    CHECK_INT(emu_versions_update(versions, &update, &err), 0);
    emu_versions_info(versions, emu_versions_latest(versions), &info);
    CHECK_STR(info.version, "$LATEST");
    CHECK_INT(info.timeout_s, 10);
    CHECK_INT(info.memory_mb, 256);
    CHECK_STR(info.description, "second");
    CHECK_INT(info.variable_count, 2);
    CHECK_TRUE(strcmp(info.revision_id, latest_revision) != 0);
    size_t count = 0;
    const char *const *env =
        emu_snap_env(emu_version_snap(emu_versions_latest(versions)), false, &count);
    CHECK_STR(s_env_value(env, count, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "256");
    CHECK_STR(s_env_value(env, count, "AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
    CHECK_STR(s_env_value(env, count, "COLOR"), "red");
    CHECK_STR(s_env_value(env, count, "SIZE"), "9");
    //  Version 1 kept its snapshot.
    emu_versions_info(versions, one, &info);
    CHECK_INT(info.memory_mb, 128);
    CHECK_INT(info.timeout_s, 3);
    CHECK_STR(info.variables[0], "COLOR=blue");
    CHECK_NULL(emu_versions_resolve(versions, "3", NULL));
    //  Many small variables fit (AWS caps their size, 4 KB, not their count).
    char many_text[200][16];
    const char *many[200];
    for (int i = 0; i < 200; i++) {
        snprintf(many_text[i], sizeof many_text[i], "V%d=%d", i, i);
        many[i] = many_text[i];
    }
    emu_snap_update_t lots = {
        .has_variables = true, .variables = many, .variable_count = 200};
    CHECK_INT(emu_versions_update(versions, &lots, &err), 0);
    emu_versions_info(versions, emu_versions_latest(versions), &info);
    CHECK_INT(info.variable_count, 200);
    env = emu_snap_env(emu_version_snap(emu_versions_latest(versions)), false, &count);
    CHECK_STR(s_env_value(env, count, "V199"), "199");
    CHECK_NULL(s_env_value(env, count, "COLOR"));
    CHECK_INT(emu_versions_update(versions, &update, &err), 0);
    emu_version_t *two = emu_versions_publish(versions, "the second", &err);
    CHECK_NOT_NULL(two);
    emu_versions_info(versions, two, &info);
    CHECK_STR(info.version, "2");
    CHECK_STR(info.description, "the second");
    CHECK_INT(info.memory_mb, 256);
    CHECK_TRUE(emu_versions_at(versions, 2) == two);
    CHECK_STR(emu_version_name(emu_versions_at(versions, 2)), "2");
    CHECK_INT(emu_versions_count(versions), 3);

    //  Aliases.
    emu_alias_info_t alias;
    CHECK_INT(emu_versions_create_alias(versions, "live", "1", "prod", &alias, &err), 0);
    CHECK_STR(alias.name, "live");
    CHECK_STR(alias.version, "1");
    CHECK_STR(alias.description, "prod");
    CHECK_INT(strlen(alias.revision_id), 36);
    CHECK_INT(emu_versions_create_alias(versions, "live", "2", NULL, &alias, &err), -1);
    s_check_error(&err, 409, "ResourceConflictException",
                  "Alias already exists: " S_TEST_ARN ":live");
    CHECK_INT(emu_versions_create_alias(versions, "next", "7", NULL, &alias, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_TEST_ARN ":7");
    CHECK_INT(emu_versions_create_alias(versions, "123", "1", NULL, &alias, &err), -1);
    CHECK_INT(err.status, 400);
    CHECK_STR(err.type, "ValidationException");
    CHECK_INT(
        emu_versions_create_alias(versions, "latest", "$LATEST", NULL, &alias, &err), 0);
    CHECK_INT(emu_versions_alias(versions, "nope", &alias, &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Alias not found: " S_TEST_ARN ":nope");
    const char *alias_name = NULL;
    CHECK_TRUE(emu_versions_resolve(versions, "live", &alias_name) == one);
    CHECK_STR(alias_name, "live");
    CHECK_TRUE(emu_versions_alias_version(versions, "live") == one);
    CHECK_NULL(emu_versions_alias_version(versions, "beta"));
    //  A refused move leaves the alias; an allowed one moves it.
    int asked = 0;
    CHECK_INT(emu_versions_update_alias(versions, "live", "2", NULL, s_test_refuse,
                                        &asked, &alias, &err),
              -1);
    CHECK_INT(asked, 1);
    CHECK_INT(err.status, 409);
    CHECK_TRUE(emu_versions_alias_version(versions, "live") == one);
    CHECK_INT(
        emu_versions_update_alias(versions, "live", "2", NULL, NULL, NULL, &alias, &err),
        0);
    CHECK_STR(alias.version, "2");
    CHECK_STR(alias.description, "prod");
    CHECK_INT(emu_versions_update_alias(versions, "live", NULL, "moved", s_test_refuse,
                                        &asked, &alias, &err),
              0);
    CHECK_INT(asked, 1); //  not moving: not asked
    CHECK_STR(alias.version, "2");
    CHECK_STR(alias.description, "moved");
    CHECK_INT(
        emu_versions_update_alias(versions, "live", "9", NULL, NULL, NULL, &alias, &err),
        -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Function not found: " S_TEST_ARN ":9");
    CHECK_INT(
        emu_versions_update_alias(versions, "gone", "1", NULL, NULL, NULL, &alias, &err),
        -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Alias not found: " S_TEST_ARN ":gone");
    CHECK_TRUE(emu_versions_resolve(versions, "live", NULL) == two);
    CHECK_INT(emu_versions_alias(versions, "live", &alias, &err), 0);
    CHECK_STR(alias.version, "2");
    CHECK_INT(emu_versions_alias_count(versions), 2);
    emu_versions_alias_at(versions, 1, &alias);
    CHECK_STR(alias.name, "latest");
    CHECK_STR(alias.version, "$LATEST");
    CHECK_INT(emu_versions_delete_alias(versions, "latest", &err), 0);
    CHECK_INT(emu_versions_delete_alias(versions, "latest", &err), -1);
    s_check_error(&err, 404, "ResourceNotFoundException",
                  "Alias not found: " S_TEST_ARN ":latest");
    CHECK_INT(emu_versions_alias_count(versions), 1);
    CHECK_NULL(emu_versions_resolve(versions, "latest", NULL));

    emu_versions_destroy(&versions);
    CHECK_NULL(versions);
    emu_fleet_destroy(&fleet);
    emu_loop_destroy(&loop);
    unlink(path);
    rmdir(dir);
}
