/*  emu_env_test — emu_env's selftest, in a file of its own (built into the
    selftest runner only) so the module stays one screenful of product
    code; it uses the public API only.
*/
#define _GNU_SOURCE //  asprintf
#include "emu_env.h"
#include "emu_envlog.h"
#include "emu_envrun.h"
#include "emu_proc.h"
#include "emu_route.h"
#include "emu_rtapi.h"
#include "fn_answer.h"
#include "sp_check.h"
#include "sp_clock.h"
#include <czmq.h>
#include <errno.h>
#include <libgen.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    emu_loop_t *loop;
    int idles;
    int gones;
    int dones;
    emu_invocation_outcome_t outcome;
    char payload[1024];
    bool stop_on_idle;
    bool stop_on_gone;
    bool stop_on_done;
} s_test_t;

static void
s_test_idle(emu_env_t *env, void *arg)
{
    s_test_t *test = arg;
    test->idles++;
    if (test->stop_on_idle)
        emu_loop_stop(test->loop);
}

static void
s_test_gone(emu_env_t *env, void *arg)
{
    s_test_t *test = arg;
    test->gones++;
    if (test->stop_on_gone)
        emu_loop_stop(test->loop);
}

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    s_test_t *test = arg;
    test->dones++;
    test->outcome = emu_invocation_outcome(invocation);
    snprintf(test->payload, sizeof test->payload, "%s",
             emu_invocation_payload(invocation, NULL));
    if (test->stop_on_done)
        emu_loop_stop(test->loop);
}

static void
s_test_expired(emu_loop_t *loop, void *arg)
{
    fprintf(stderr, "emu_env test: timed out waiting\n");
    abort();
}

static const emu_env_events_t s_test_events = {.idle = s_test_idle, .gone = s_test_gone};

//  Runs the loop until a callback stops it (20 s at most).
static void
s_test_run(s_test_t *test)
{
    emu_timer_t *guard =
        emu_loop_timer_start(test->loop, 20 * SP_NS_PER_S, s_test_expired, test);
    CHECK_INT(emu_loop_run(test->loop), 0);
    emu_loop_timer_cancel(test->loop, &guard);
}

static emu_invocation_t *
s_test_invocation(s_test_t *test, const char *id)
{
    char *event = strdup("{\"hello\":1}");
    return emu_invocation_new(id, &event, strlen("{\"hello\":1}"), s_test_done, test);
}

//  Starts environment `serial` of `spec` and assigns it a new invocation
//  `id`; resets `test` to stop when the invocation is done, or else when
//  the environment is gone.
static emu_env_t *
s_test_start(s_test_t *test, const emu_env_spec_t *spec, unsigned serial, const char *id,
             bool stop_on_done, emu_invocation_t **inv_p)
{
    *test = (s_test_t){
        .loop = test->loop, .stop_on_done = stop_on_done, .stop_on_gone = !stop_on_done};
    char err[256];
    emu_env_t *env =
        emu_env_new(test->loop, spec, serial, 0, &s_test_events, test, err, sizeof err);
    CHECK_NOT_NULL(env);
    *inv_p = s_test_invocation(test, id);
    emu_env_assign(env, *inv_p);
    return env;
}

//  A script runtime in a fresh temporary directory.
static char *
s_test_script(const char *text)
{
    char dir[] = "/tmp/emu_env_testXXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char *path = NULL;
    CHECK_TRUE(asprintf(&path, "%s/bootstrap", dir) > 0);
    FILE *file = fopen(path, "w");
    CHECK_NOT_NULL(file);
    fputs(text, file);
    fclose(file);
    CHECK_INT(chmod(path, 0755), 0);
    return path;
}

static void
s_test_remove_script(char *path)
{
    unlink(path);
    rmdir(dirname(path));
    free(path);
}

static bool
s_test_alive(pid_t pid)
{
    return kill(pid, 0) == 0;
}

//  Checks that the whole log of `inv` matches the extended regular
//  expression `pattern` (anchor it); fills up to 4 sub-matches as numbers.
static void
s_test_log(emu_invocation_t *inv, const char *pattern, double numbers[4])
{
    size_t len = 0;
    const char *log = emu_invocation_log(inv, &len);
    char text[EMU_INVOCATION_LOG_MAX + 1];
    memcpy(text, log, len);
    text[len] = '\0';
    regex_t regex;
    CHECK_INT(regcomp(&regex, pattern, REG_EXTENDED), 0);
    regmatch_t match[5];
    int rc = regexec(&regex, text, 5, match, 0);
    if (rc != 0)
        fprintf(stderr,
                "emu_env test: log does not match\n--- log:\n%s\n--- pattern:\n%s\n",
                text, pattern);
    CHECK_INT(rc, 0);
    for (int i = 0; numbers && i < 4; i++)
        numbers[i] =
            match[i + 1].rm_so >= 0 ? strtod(text + match[i + 1].rm_so, NULL) : -1;
    regfree(&regex);
}

//  The REPORT line's fields after "Memory Size" and before Status.
#define S_TEST_NUM "([0-9]+\\.[0-9]{2})"
#define S_TEST_INT "([0-9]+)"
#define S_TEST_REPORT(id, memory)                                                        \
    "END RequestId: " id "\nREPORT RequestId: " id "\tDuration: " S_TEST_NUM             \
    " ms\tBilled Duration: " S_TEST_INT " ms\tMemory Size: " memory                      \
    " MB\tMax Memory Used: " S_TEST_INT " MB\t"
#define S_TEST_INIT "Init Duration: " S_TEST_NUM " ms\t"
#define S_TEST_STAMP "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"
#define S_TEST_START(id, version) "START RequestId: " id " Version: " version "\n"

//  A bash runtime: takes one invocation and runs `body` with $id, $arn,
//  $trace and $context set from the /next answer's headers.
#define S_TEST_BASH_NEXT                                                                 \
    "#!/bin/bash\n"                                                                      \
    "api=$AWS_LAMBDA_RUNTIME_API; host=${api%:*}; port=${api#*:}\n"                      \
    "exec 3<>/dev/tcp/$host/$port\n"                                                     \
    "printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: "               \
    "x\\r\\n\\r\\n' >&3\n"                                                               \
    "IFS= read -r status <&3\n"                                                          \
    "while IFS= read -r line <&3; do\n"                                                  \
    "    line=${line%$'\\r'}\n"                                                          \
    "    [ -z \"$line\" ] && break\n"                                                    \
    "    case $line in Lambda-Runtime-Aws-Request-Id:*) id=${line#*: } ;;\n"             \
    "        Lambda-Runtime-Invoked-Function-Arn:*) arn=${line#*: } ;;\n"                \
    "        Lambda-Runtime-Trace-Id:*) trace=${line#*: } ;;\n"                          \
    "        Lambda-Runtime-Client-Context:*) context=${line#*: } ;; esac\n"             \
    "done\n"

void
emu_env_test(bool verbose)
{
    s_test_t test = {.loop = emu_loop_new()};
    CHECK_NOT_NULL(test.loop);
    const char *env_ok[] = {"STAMPEDE_HOLD_MS=0", "AWS_LAMBDA_FUNCTION_NAME=demo",
                            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"};
    emu_env_spec_t spec = {
        .function = "demo",
        .path = EMU_TEST_BOOTSTRAP,
        .env = env_ok,
        .env_count = 3,
        .timeout_ns = 3 * SP_NS_PER_S,
        .init_timeout_ns = EMU_LIMIT_INIT_TIMEOUT_NS,
        .verbose = verbose,
    };
    char err[256];
    double n[4];

    //  The bootstrap: a cold invocation, then a warm one.
    emu_env_t *env =
        emu_env_new(test.loop, &spec, 1, 7, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    CHECK_STR(emu_env_name(env), "demo#1");
    CHECK_INT(emu_env_tag(env), 7);
    CHECK_INT(emu_env_state(env), EMU_ENV_STARTING);
    CHECK_TRUE(emu_env_pid(env) > 0);
    CHECK_TRUE(emu_env_port(env) > 0);
    CHECK_INT(emu_env_init_ns(env), 0);
    CHECK_INT(emu_env_memory_mb(env), 256);
    emu_invocation_t *inv =
        s_test_invocation(&test, "11111111-1111-4111-8111-111111111111");
    emu_invocation_set_version(inv, "7");
    emu_env_assign(env, inv);
    test.stop_on_idle = true;
    s_test_run(&test);
    CHECK_INT(test.dones, 1);
    CHECK_INT(test.idles, 1);
    CHECK_INT(test.outcome, EMU_INVOCATION_OK);
    //  The bootstrap's proxy response, passed through as it posted it.
    fn_answer_t answer;
    CHECK_INT(fn_answer_proxy(test.payload, &answer), 0);
    CHECK_STR(answer.request_id, "11111111-1111-4111-8111-111111111111");
    CHECK_INT(answer.cold_start, true);
    CHECK_INT(answer.invocation_count, 1);
    CHECK_STR(answer.initialization_type, "on-demand");
    CHECK_TRUE(emu_invocation_cold(inv));
    CHECK_STR(emu_invocation_environment(inv), "demo#1");
    CHECK_TRUE(emu_env_init_ns(env) > 0);
    CHECK_INT(emu_invocation_init_ns(inv), emu_env_init_ns(env));
    CHECK_INT(emu_env_state(env), EMU_ENV_IDLE);
    CHECK_INT(emu_env_invocations(env), 1);
    //  Cold: Init Duration, billed with the invocation (a custom runtime).
    s_test_log(inv,
               "^" S_TEST_START("11111111-1111-4111-8111-111111111111", "7")
                   S_TEST_REPORT("11111111-1111-4111-8111-111111111111", "256")
                       S_TEST_INIT "\n$",
               n);
    double init_ms = (double)emu_env_init_ns(env) / SP_NS_PER_MS;
    CHECK_TRUE(n[3] > init_ms - 0.01 && n[3] < init_ms + 0.01);
    CHECK_TRUE(n[1] >= n[0] + n[3] && n[1] <= n[0] + n[3] + 1.02);
    CHECK_TRUE(n[2] >= 1 && n[2] < 256);
    emu_invocation_destroy(&inv);

    inv = s_test_invocation(&test, "22222222-2222-4222-8222-222222222222");
    emu_env_assign(env, inv);
    s_test_run(&test);
    CHECK_INT(test.dones, 2);
    CHECK_INT(test.outcome, EMU_INVOCATION_OK);
    char first_environment[sizeof answer.environment_id];
    memcpy(first_environment, answer.environment_id, sizeof first_environment);
    CHECK_INT(fn_answer_proxy(test.payload, &answer), 0);
    CHECK_STR(answer.request_id, "22222222-2222-4222-8222-222222222222");
    CHECK_STR(answer.environment_id, first_environment);
    CHECK_INT(answer.cold_start, false);
    CHECK_REAL(answer.cold_start_time, 0.0);
    CHECK_INT(answer.invocation_count, 2);
    CHECK_TRUE(!emu_invocation_cold(inv));
    CHECK_INT(emu_invocation_init_ns(inv), 0);
    CHECK_INT(emu_env_invocations(env), 2);
    //  Warm: no Init Duration; no version set: $LATEST.
    s_test_log(inv,
               "^" S_TEST_START("22222222-2222-4222-8222-222222222222", "\\$LATEST")
                   S_TEST_REPORT("22222222-2222-4222-8222-222222222222", "256") "\n$",
               n);
    CHECK_TRUE(n[1] >= n[0] && n[1] <= n[0] + 1);
    emu_invocation_destroy(&inv);
    pid_t pid = emu_env_pid(env);
    emu_env_destroy(&env);
    CHECK_NULL(env);
    emu_env_destroy(&env);
    CHECK_TRUE(!s_test_alive(pid));
    CHECK_INT(test.gones, 0);

    //  Timeout: the invocation fails as Sandbox.Timedout with Lambda's
    //  message, the log says so, the process dies.
    const char *env_slow[] = {"STAMPEDE_HOLD_MS=5000", "AWS_LAMBDA_FUNCTION_VERSION=3",
                              "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=64"};
    spec.env = env_slow;
    spec.timeout_ns = 200 * SP_NS_PER_MS;
    env = s_test_start(&test, &spec, 2, "33333333-3333-4333-8333-333333333333", false,
                       &inv);
    CHECK_INT(emu_env_memory_mb(env), 128); //  below AWS's minimum: the default
    s_test_run(&test);
    CHECK_INT(test.dones, 1);
    CHECK_INT(test.gones, 1);
    CHECK_INT(test.outcome, EMU_INVOCATION_TIMEOUT);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 33333333-3333-4333-8333-333333333333 "
              "Error: Task timed out after 0.20 seconds\","
              "\"errorType\":\"Sandbox.Timedout\"}");
    CHECK_INT(emu_env_state(env), EMU_ENV_GONE);
    s_test_log(inv,
               "^" S_TEST_START("33333333-3333-4333-8333-333333333333", "3") S_TEST_STAMP
               " 33333333-3333-4333-8333-333333333333 Task timed out after 0\\.20 "
               "seconds\n" S_TEST_REPORT("33333333-3333-4333-8333-333333333333", "128")
                   S_TEST_INIT "Status: timeout\n$",
               n);
    CHECK_TRUE(n[0] == 200.0); //  the timeout, not the timer's lateness
    CHECK_TRUE(n[1] >= 200 + n[3] && n[1] <= 200 + n[3] + 1.02);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);

    //  Init error reported by the runtime (invalid STAMPEDE_HOLD_MS): its
    //  payload is the answer; what it printed comes first in the log.
    const char *env_bad[] = {"STAMPEDE_HOLD_MS=soon"};
    spec.env = env_bad;
    spec.env_count = 1;
    spec.timeout_ns = 3 * SP_NS_PER_S;
    env = s_test_start(&test, &spec, 3, "44444444-4444-4444-8444-444444444444", false,
                       &inv);
    s_test_run(&test);
    CHECK_INT(test.outcome, EMU_INVOCATION_INIT_ERROR);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"STAMPEDE_HOLD_MS must be an integer 0..900000, "
              "got \\\"soon\\\"\",\"errorType\":\"Runtime.InvalidConfig\"}");
    CHECK_INT(test.gones, 1);
    s_test_log(
        inv,
        "^bootstrap: init failed error=\"STAMPEDE_HOLD_MS must be an integer "
        "0\\.\\.900000, got \"soon\"\"\n"
        "INIT_REPORT Init Duration: " S_TEST_NUM " ms\tPhase: init\tStatus: error\t"
        "Error Type: Runtime\\.InvalidConfig\n" S_TEST_START(
            "44444444-4444-4444-8444-444444444444", "\\$LATEST")
            S_TEST_REPORT("44444444-4444-4444-8444-444444444444",
                          "128") "Status: error\tError Type: Runtime\\.InvalidConfig\n$",
        NULL);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);

    //  A runtime that exits at once: Runtime.ExitError with its status.
    char *script = s_test_script("#!/bin/sh\necho starting\necho oops >&2\nexit 3\n");
    spec.path = script;
    spec.env_count = 0;
    env = s_test_start(&test, &spec, 4, "55555555-5555-4555-8555-555555555555", false,
                       &inv);
    s_test_run(&test);
    CHECK_INT(test.outcome, EMU_INVOCATION_INIT_ERROR);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 55555555-5555-4555-8555-555555555555 "
              "Error: Runtime exited with error: exit status 3\","
              "\"errorType\":\"Runtime.ExitError\"}");
    s_test_log(
        inv,
        "^starting\noops\n"
        "INIT_REPORT Init Duration: " S_TEST_NUM " ms\tPhase: init\tStatus: error\t"
        "Error Type: Runtime\\.ExitError\n" S_TEST_START(
            "55555555-5555-4555-8555-555555555555",
            "\\$LATEST") "RequestId: 55555555-5555-4555-8555-555555555555 Error: Runtime "
                         "exited with "
                         "error: exit status 3\nRuntime\\.ExitError\n" S_TEST_REPORT(
                             "55555555-5555-4555-8555-555555555555",
                             "128") "Status: error\tError Type: Runtime\\.ExitError\n$",
        n);
    CHECK_TRUE(n[2] >= 1); //  from its rusage: it is gone
    CHECK_INT(emu_env_output_lines(env), 2);
    CHECK_INT(emu_env_output_dropped(env), 0);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);

    //  Init that never reaches /next: the init limit kills it.
    s_test_remove_script(script);
    script = s_test_script("#!/bin/sh\nexec sleep 30\n");
    spec.path = script;
    spec.init_timeout_ns = 200 * SP_NS_PER_MS;
    env = s_test_start(&test, &spec, 5, "66666666-6666-4666-8666-666666666666", false,
                       &inv);
    s_test_run(&test);
    CHECK_INT(test.outcome, EMU_INVOCATION_INIT_ERROR);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 66666666-6666-4666-8666-666666666666 "
              "Error: Init timed out after 0.20 seconds\","
              "\"errorType\":\"Sandbox.Timedout\"}");
    s_test_log(inv,
               "^INIT_REPORT Init Duration: " S_TEST_NUM
               " ms\tPhase: init\tStatus: timeout\n" S_TEST_START(
                   "66666666-6666-4666-8666-666666666666", "\\$LATEST")
                   S_TEST_REPORT("66666666-6666-4666-8666-666666666666",
                                 "128") "Status: timeout\n$",
               n);
    //  The init limit runs from the spawn, which comes before the
    //  invocation was assigned: the init lasted at least the limit, the
    //  invocation (timed from its assignment) no longer than the init.
    CHECK_TRUE(n[0] >= 200);
    CHECK_TRUE(n[1] > 0 && n[1] <= n[0]);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);

    //  Destroy hands a held invocation back as ABORTED and reaps.
    env = s_test_start(&test, &spec, 6, "77777777-7777-4777-8777-777777777777", false,
                       &inv);
    pid = emu_env_pid(env);
    emu_env_destroy(&env);
    CHECK_INT(test.dones, 1);
    CHECK_INT(test.outcome, EMU_INVOCATION_ABORTED);
    CHECK_TRUE(!s_test_alive(pid));
    emu_invocation_destroy(&inv);
    s_test_remove_script(script);

    //  A crash mid-invocation (SIGKILL): Runtime.ExitError "signal:
    //  killed"; what it printed while it ran is in the log.
    script =
        s_test_script(S_TEST_BASH_NEXT "echo \"got ${status%$'\\r'}\"\nkill -9 $$\n");
    spec.path = script;
    spec.init_timeout_ns = EMU_LIMIT_INIT_TIMEOUT_NS;
    env = s_test_start(&test, &spec, 8, "88888888-8888-4888-8888-888888888888", false,
                       &inv);
    s_test_run(&test);
    CHECK_INT(test.outcome, EMU_INVOCATION_EXIT);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 88888888-8888-4888-8888-888888888888 "
              "Error: Runtime exited with error: signal: killed\","
              "\"errorType\":\"Runtime.ExitError\"}");
    s_test_log(
        inv,
        "^" S_TEST_START("88888888-8888-4888-8888-888888888888",
                         "\\$LATEST") "got HTTP/1\\.1 200 OK\n"
                                      "RequestId: 88888888-8888-4888-8888-888888888888 "
                                      "Error: Runtime exited "
                                      "with error: signal: "
                                      "killed\nRuntime\\.ExitError\n" S_TEST_REPORT(
                                          "88888888-8888-4888-8888-888888888888", "128")
                                          S_TEST_INIT
        "Status: error\tError Type: Runtime\\.ExitError\n$",
        NULL);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);
    s_test_remove_script(script);

    //  What the runtime is told in /next: the invoked ARN, qualified as
    //  the caller invoked it; the X-Ray trace id timed at the invocation's
    //  arrival; the client context as given, and no such header without
    //  one. The runtime answers with what it got; then it stays in
    //  FINISHING (no next /next) until destroyed.
    script = s_test_script(S_TEST_BASH_NEXT
                           "export LC_ALL=C; body=\"$arn $trace ${context:-none}\"\n"
                           "exec 4<>/dev/tcp/$host/$port\n"
                           "printf 'POST /2018-06-01/runtime/invocation/%s/response "
                           "HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: %d\\r\\n\\r\\n%s' "
                           "\"$id\" ${#body} \"$body\" >&4\n"
                           "IFS= read -r status <&4\nexec sleep 30\n");
    spec.path = script;
    static const char *const qualifiers[] = {"live", "3", ""};
    static const char *const contexts[] = {
        "{\"client\":{\"app_title\":\"t\"},\"custom\":{\"k\":\"v\"}}", NULL, NULL};
    static const char *const expected[] = {
        "arn:aws:lambda:us-east-1:123456789012:function:demo:live ",
        "arn:aws:lambda:us-east-1:123456789012:function:demo:3 ",
        "arn:aws:lambda:us-east-1:123456789012:function:demo "};
    for (size_t i = 0; i < 3; i++) {
        env = s_test_start(&test, &spec, 10 + (unsigned)i,
                           "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", true, &inv);
        //  Assigned while starting: the event goes out at the first /next.
        CHECK_INT(emu_invocation_set_invoked_qualifier(inv, qualifiers[i]), 0);
        emu_invocation_set_received_ns(inv,
                                       (INT64_C(1700000000) + (int64_t)i) * SP_NS_PER_S);
        if (contexts[i])
            CHECK_INT(
                emu_invocation_set_client_context(inv, contexts[i], strlen(contexts[i])),
                0);
        s_test_run(&test);
        CHECK_INT(test.outcome, EMU_INVOCATION_OK);
        char want[256];
        snprintf(want, sizeof want,
                 "%sRoot=1-6553f10%zu-aaaaaaaaaaaa4aaa8aaaaaaa;Parent=8aaaaaaaaaaaaaaa;"
                 "Sampled=0 %s",
                 expected[i], i, contexts[i] ? contexts[i] : "none");
        CHECK_STR(test.payload, want);
        CHECK_INT(emu_env_state(env), EMU_ENV_FINISHING);
        pid = emu_env_pid(env);
        emu_invocation_destroy(&inv);
        emu_env_destroy(&env);
        CHECK_TRUE(!s_test_alive(pid));
    }
    s_test_remove_script(script);

    //  A path that cannot run.
    spec.path = "/nonexistent/bootstrap";
    env = emu_env_new(test.loop, &spec, 7, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NULL(env);
    CHECK_STR(err, "cannot start /nonexistent/bootstrap: No such file or directory");
    CHECK_INT(emu_loop_watch_count(test.loop), 0);
    CHECK_INT(emu_loop_timer_count(test.loop), 0);
    emu_loop_destroy(&test.loop);
}
