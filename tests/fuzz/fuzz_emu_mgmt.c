/*  Fuzz target: the Lambda management API (emu_mgmt_handle) - method,
    request target and body straight from the network.

    Input: METHOD '\n' TARGET '\n' BODY (the body is the rest, any bytes).
    Whatever the input, the answer is NULL (not a management path) or a
    reply with a status 200..599 whose body, when there is one, is JSON,
    and which carries x-amzn-ErrorType exactly when it is an error.

    No process is ever started. Each input gets a fresh account (so no
    state leaks from one input to the next) with two functions, both with
    reserved concurrency 0, and "demo" given version 1 and alias "live"
    through the core: PutProvisionedConcurrencyConfig on them is refused
    (provisioned concurrency above reserved concurrency), and a single
    request cannot both raise the reservation and ask for environments.
    Belt and braces: environments are only ever started from a timer of
    the emulator loop, which this target never runs, and the account is
    destroyed before the next input. The functions' executable is
    /bin/true, never executed.

    The loop and the configuration are made once, on the first input (the
    corpus replayer does not call LLVMFuzzerInitialize), and live until
    exit; so does the silencing of czmq's log. */
#include "emu_account.h"
#include "emu_config.h"
#include "emu_loop.h"
#include "emu_mgmt.h"

#include <czmq.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_METHOD_MAX 16

typedef struct {
    emu_loop_t *loop;
    emu_config_t *config;
} s_fixture_t;

static s_fixture_t *
s_fixture(void)
{
    static s_fixture_t fixture;
    if (fixture.loop)
        return &fixture;
    const char *argv[] = {
        "stampede-lambda", "--function", "demo=/bin/true",  "--reserved", "0", "--env",
        "GREETING=hi",     "--function", "other=/bin/true", "--reserved", "0"};
    //  The core's lifecycle notices would drown the fuzzer's output.
    zsys_set_logstream(NULL);
    fixture.config = emu_config_new();
    fixture.loop = emu_loop_new();
    if (!fixture.config || !fixture.loop ||
        emu_config_parse(fixture.config, (int)(sizeof argv / sizeof argv[0]),
                         (char **)argv, stderr, stderr) != EMU_CONFIG_RUN)
        abort();
    return &fixture;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_fixture_t *fixture = s_fixture();
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    if (!nl || (size_t)(nl - text) > S_METHOD_MAX)
        return 0;
    char method[S_METHOD_MAX + 1];
    memcpy(method, text, (size_t)(nl - text));
    method[nl - text] = '\0';
    const char *target_start = nl + 1;
    size_t rest = size - (size_t)(target_start - text);
    const char *nl2 = memchr(target_start, '\n', rest);
    size_t target_len = nl2 ? (size_t)(nl2 - target_start) : rest;
    char *target = malloc(target_len + 1);
    if (!target)
        return 0;
    memcpy(target, target_start, target_len);
    target[target_len] = '\0';
    const char *body = nl2 ? nl2 + 1 : "";
    size_t body_len = nl2 ? rest - target_len - 1 : 0;

    char reason[256];
    emu_account_t *account =
        emu_account_new(fixture->loop, fixture->config, reason, sizeof reason);
    if (!account)
        abort();
    emu_function_t *demo = emu_account_function_at(account, 0);
    emu_function_version_info_t version;
    emu_function_alias_info_t alias;
    emu_aws_error_t err;
    if (emu_function_publish(demo, NULL, &version, &err) != 0 ||
        emu_function_create_alias(demo, "live", "1", NULL, &alias, &err) != 0)
        abort();

    emu_reply_t *reply = emu_mgmt_handle(account, method, target, body, body_len);
    if (reply) {
        int status = emu_reply_status(reply);
        if (status < 200 || status > 599)
            abort();
        if ((status >= 400) != (emu_reply_header(reply, "x-amzn-ErrorType") != NULL))
            abort();
        size_t len = 0;
        const char *answer = emu_reply_body(reply, &len);
        if (len > 0) {
            json_t *doc = json_loadb(answer, len, 0, NULL);
            if (!doc)
                abort();
            json_decref(doc);
        }
        emu_reply_destroy(&reply);
    }
    emu_account_destroy(&account);
    //  Nothing of the account may outlive it on the loop.
    if (emu_loop_timer_count(fixture->loop) != 0 ||
        emu_loop_watch_count(fixture->loop) != 0)
        abort();
    free(target);
    return 0;
}
