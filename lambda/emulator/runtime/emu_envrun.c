/*  emu_envrun — one invocation's run in an environment; see emu_envrun.h. */
#include "emu_envrun.h"
#include "emu_limits.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_oom.h"

#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _emu_envrun_t {
    emu_loop_t *loop;               //  borrowed
    emu_envrun_spec_t spec;         //  borrowed strings
    emu_envlog_t *log;              //  the environment's, borrowed
    emu_proc_t *proc;               //  the environment's, borrowed; may be NULL
    emu_envrun_expired_fn *expired; //  the owner's deadline event
    void *expired_arg;              //  its argument
    emu_invocation_t *invocation;   //  held; borrowed until handed back
    bool delivered;                 //  its event went out on /next
    bool cold;                      //  it was assigned while starting
    int64_t init_ns;                //  the init it waited for, when cold
    int64_t assigned_ns;            //  CLOCK_MONOTONIC when assigned
    int64_t delivered_ns;           //  CLOCK_MONOTONIC when delivered
    emu_timer_t *deadline_timer;    //  invocation timeout
};

//  Hands the invocation back with `outcome` and `payload`.
static void
s_complete(emu_envrun_t *self, emu_invocation_outcome_t outcome, const char *payload,
           size_t len)
{
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    emu_envlog_detach(self->log);
    emu_invocation_complete(&self->invocation, outcome, payload, len);
}

//  Hands the invocation back as a failure.
static void
s_fail(emu_envrun_t *self, emu_invocation_outcome_t outcome, const char *type,
       const char *message)
{
    if (!self->invocation)
        return;
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    zsys_info("invocation failed function=%s env=%s request_id=%s outcome=%s type=%s",
              self->spec.function, self->spec.name,
              emu_invocation_request_id(self->invocation),
              emu_invocation_outcome_name(outcome), type);
    emu_envlog_detach(self->log);
    emu_invocation_fail(&self->invocation, outcome, type, message);
}

//  Ends the invocation's log: START if the event never went out, END and
//  REPORT. `status` is NULL for an invocation that ran to its answer,
//  else "timeout" or "error" (with `error_type`).
static void
s_log_end(emu_envrun_t *self, const char *status, const char *error_type)
{
    if (!self->invocation)
        return;
    emu_envlog_drain(self->log);
    emu_envlog_start(self->log);
    int64_t now = sp_clock_mono_ns();
    int64_t duration_ns =
        now - (self->delivered ? self->delivered_ns : self->assigned_ns);
    //  A timed-out invocation lasted its timeout, not the timer's lateness.
    if (status && strcmp(status, "timeout") == 0 && self->delivered &&
        duration_ns > self->spec.timeout_ns)
        duration_ns = self->spec.timeout_ns;
    bool init_shown = self->cold && self->delivered && self->init_ns > 0;
    emu_envlog_report_t report = {
        .status = status,
        .error_type = error_type,
        .duration_ns = duration_ns,
        .init_ns = init_shown ? self->init_ns : 0,
        .memory_mb = self->spec.memory_mb,
        .max_memory_mb = self->proc ? emu_proc_max_memory_mb(self->proc) : 0,
    };
    emu_envlog_end(self->log, &report);
}

static void
s_deadline_expired(emu_loop_t *loop, void *arg)
{
    emu_envrun_t *self = arg;
    self->deadline_timer = NULL;
    if (self->invocation) {
        //  The answer is the one Lambda sends now; its log keeps the older
        //  "<time> <id> Task timed out" line.
        double seconds = (double)self->spec.timeout_ns / SP_NS_PER_S;
        char message[256];
        snprintf(message, sizeof message,
                 "RequestId: %s Error: Task timed out after %.2f seconds",
                 emu_invocation_request_id(self->invocation), seconds);
        emu_envlog_timed_out(self->log, seconds);
        s_log_end(self, "timeout", NULL);
        s_fail(self, EMU_INVOCATION_TIMEOUT, "Sandbox.Timedout", message);
    }
    self->expired(self->expired_arg);
}

emu_envrun_t *
emu_envrun_new(emu_loop_t *loop, const emu_envrun_spec_t *spec, emu_envlog_t *log,
               emu_proc_t *proc, emu_envrun_expired_fn *expired, void *arg)
{
    assert(loop && spec && spec->function && spec->name && log && expired);
    emu_envrun_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->spec = *spec;
    self->log = log;
    self->proc = proc;
    self->expired = expired;
    self->expired_arg = arg;
    return self;
}

void
emu_envrun_destroy(emu_envrun_t **self_p)
{
    assert(self_p);
    emu_envrun_t *self = *self_p;
    if (!self)
        return;
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    if (self->invocation) {
        emu_envlog_detach(self->log);
        emu_invocation_fail(&self->invocation, EMU_INVOCATION_ABORTED, "ServiceException",
                            "the execution environment was shut down");
    }
    free(self);
    *self_p = NULL;
}

void
emu_envrun_assign(emu_envrun_t *self, emu_invocation_t *invocation, bool cold)
{
    assert(self && invocation && !self->invocation);
    self->invocation = invocation;
    self->delivered = false;
    self->cold = cold;
    self->init_ns = 0;
    self->assigned_ns = sp_clock_mono_ns();
    emu_envlog_attach(self->log, invocation);
}

emu_invocation_t *
emu_envrun_invocation(emu_envrun_t *self)
{
    assert(self);
    return self->invocation;
}

bool
emu_envrun_delivered(emu_envrun_t *self)
{
    assert(self);
    return self->delivered;
}

int64_t
emu_envrun_deliver(emu_envrun_t *self, int64_t init_ns)
{
    assert(self && self->invocation && !self->delivered);
    self->delivered = true;
    self->delivered_ns = sp_clock_mono_ns();
    self->init_ns = init_ns;
    emu_invocation_set_environment(self->invocation, self->spec.name, self->cold,
                                   self->cold ? init_ns : 0);
    emu_envlog_start(self->log);
    int64_t deadline_ms = (sp_clock_wall_ns() + self->spec.timeout_ns) / SP_NS_PER_MS;
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    self->deadline_timer = SP_OOM_CHECK(
        emu_loop_timer_start(self->loop, self->spec.timeout_ns, s_deadline_expired, self),
        "invocation deadline timer");
    return deadline_ms;
}

void
emu_envrun_finish(emu_envrun_t *self, const emu_rtapi_request_t *request)
{
    assert(self && request);
    if (!self->invocation)
        return;
    const char *id = emu_invocation_request_id(self->invocation);
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    s_log_end(self, NULL, NULL);
    if (request->too_large) {
        char message[128];
        snprintf(
            message, sizeof message,
            "Response payload size exceeded maximum allowed payload size (%d bytes).",
            EMU_LIMIT_RESPONSE_MAX);
        s_fail(self, EMU_INVOCATION_TOO_LARGE, "Function.ResponseSizeTooLarge", message);
        return;
    }
    if (request->call == EMU_ROUTE_RT_RESPONSE) {
        if (self->spec.verbose)
            zsys_debug("invocation done env=%s request_id=%s", self->spec.name, id);
        s_complete(self, EMU_INVOCATION_OK, request->body, request->body_len);
        return;
    }
    //  An error: the runtime's payload, or one made from its error type.
    json_t *doc = request->body_len > 0
                      ? json_loadb(request->body, request->body_len, 0, NULL)
                      : NULL;
    bool object = json_is_object(doc);
    json_decref(doc);
    if (object) {
        zsys_info(
            "invocation failed function=%s env=%s request_id=%s outcome=function_error",
            self->spec.function, self->spec.name, id);
        s_complete(self, EMU_INVOCATION_FUNCTION_ERROR, request->body, request->body_len);
        return;
    }
    char safe_type[128];
    snprintf(safe_type, sizeof safe_type, "%s",
             request->error_type ? request->error_type : "Unhandled");
    s_fail(self, EMU_INVOCATION_FUNCTION_ERROR, safe_type,
           "the function reported an error");
}

void
emu_envrun_exited(emu_envrun_t *self, const char *how, bool init, int64_t spawned_ns)
{
    assert(self && how);
    if (!self->invocation)
        return;
    char message[256];
    snprintf(message, sizeof message,
             "RequestId: %s Error: Runtime exited with error: %s",
             emu_invocation_request_id(self->invocation), how);
    emu_envlog_drain(self->log);
    if (init)
        emu_envlog_init_failed(self->log, spawned_ns, "error", "Runtime.ExitError");
    emu_envlog_start(self->log);
    emu_envlog_printf(self->log, "%s\nRuntime.ExitError\n", message);
    s_log_end(self, "error", "Runtime.ExitError");
    s_fail(self, init ? EMU_INVOCATION_INIT_ERROR : EMU_INVOCATION_EXIT,
           "Runtime.ExitError", message);
}

void
emu_envrun_init_timed_out(emu_envrun_t *self, int64_t init_timeout_ns, int64_t spawned_ns)
{
    assert(self);
    if (!self->invocation)
        return;
    char message[256];
    snprintf(message, sizeof message,
             "RequestId: %s Error: Init timed out after %.2f seconds",
             emu_invocation_request_id(self->invocation),
             (double)init_timeout_ns / SP_NS_PER_S);
    emu_envlog_init_failed(self->log, spawned_ns, "timeout", NULL);
    s_log_end(self, "timeout", NULL);
    s_fail(self, EMU_INVOCATION_INIT_ERROR, "Sandbox.Timedout", message);
}

//  The errorType of an init error: the payload's, else the header's,
//  else Runtime.InitError; printable ASCII only, for the log line.
static void
s_init_error_type(const emu_rtapi_request_t *request, json_t *doc, char *out, size_t size)
{
    const char *type = json_string_value(json_object_get(doc, "errorType"));
    if (!type || !*type)
        type = request->error_type;
    if (!type || !*type)
        type = "Runtime.InitError";
    snprintf(out, size, "%s", type);
    for (char *c = out; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            *c = '?';
}

void
emu_envrun_init_failed(emu_envrun_t *self, const emu_rtapi_request_t *request,
                       int64_t spawned_ns)
{
    assert(self && request);
    if (!self->invocation)
        return;
    json_t *doc = request->body_len > 0
                      ? json_loadb(request->body, request->body_len, 0, NULL)
                      : NULL;
    bool object = json_is_object(doc);
    char type[64];
    s_init_error_type(request, doc, type, sizeof type);
    json_decref(doc);
    emu_envlog_init_failed(self->log, spawned_ns, "error", type);
    s_log_end(self, "error", type);
    if (object)
        s_complete(self, EMU_INVOCATION_INIT_ERROR, request->body, request->body_len);
    else
        s_fail(self, EMU_INVOCATION_INIT_ERROR, "Runtime.InitError", "init failed");
}

//  --- selftest -----------------------------------------------------------

typedef struct {
    emu_loop_t *loop;
    int dones;
    int expired;
    emu_invocation_outcome_t outcome;
    char payload[256];
} s_test_t;

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    s_test_t *test = arg;
    test->dones++;
    test->outcome = emu_invocation_outcome(invocation);
    snprintf(test->payload, sizeof test->payload, "%s",
             emu_invocation_payload(invocation, NULL));
}

static void
s_test_expired(void *arg)
{
    s_test_t *test = arg;
    test->expired++;
    emu_loop_stop(test->loop);
}

static void
s_test_guard(emu_loop_t *loop, void *arg)
{
    fprintf(stderr, "emu_envrun test: timed out waiting\n");
    abort();
}

//  Assigns a new invocation `id`, and, when `deliver`, sends its event
//  (cold, after a 4.000001 ms init: billed as 5 ms with under 1 ms run).
static emu_invocation_t *
s_test_assign(emu_envrun_t *run, s_test_t *test, const char *id, bool deliver)
{
    char *event = strdup("{}");
    emu_invocation_t *inv = emu_invocation_new(id, &event, 2, s_test_done, test);
    CHECK_NOT_NULL(inv);
    emu_envrun_assign(run, inv, true);
    CHECK_TRUE(emu_envrun_invocation(run) == inv);
    CHECK_TRUE(!emu_envrun_delivered(run));
    if (deliver)
        emu_envrun_deliver(run, 4000001);
    return inv;
}

//  The part of `inv`'s log after its Duration figure.
static const char *
s_test_after_duration(emu_invocation_t *inv, char *text, size_t size)
{
    size_t len = 0;
    const char *log = emu_invocation_log(inv, &len);
    CHECK_TRUE(len < size);
    memcpy(text, log, len);
    text[len] = '\0';
    const char *duration = strstr(text, "\tDuration: ");
    CHECK_NOT_NULL(duration);
    return strstr(duration, " ms\t");
}

//  Checks the REPORT line of inv's log when its duration is real time: the
//  billed milliseconds are the duration plus `init_ms` rounded up (the
//  exact arithmetic is pinned in emu_envlog's test), and what follows
//  "Billed Duration: N ms" is exactly `rest`. Leaves the log in `text`.
static void
s_test_check_report(emu_invocation_t *inv, char *text, size_t size, double init_ms,
                    const char *rest)
{
    const char *after = s_test_after_duration(inv, text, size);
    double duration_ms = strtod(strstr(text, "\tDuration: ") + 11, NULL);
    long long billed_ms = -1;
    int consumed = 0;
    CHECK_INT(sscanf(after, " ms\tBilled Duration: %lld ms%n", &billed_ms, &consumed), 1);
    CHECK_TRUE(billed_ms >= 1);
    CHECK_TRUE(billed_ms >= (long long)(duration_ms + init_ms));
    CHECK_TRUE(billed_ms <= (long long)(duration_ms + init_ms) + 2);
    CHECK_STR(after + consumed, rest);
}

void
emu_envrun_test(bool verbose)
{
    s_test_t test = {.loop = emu_loop_new()};
    CHECK_NOT_NULL(test.loop);
    emu_envlog_t *log = emu_envlog_new(test.loop, "demo#1", "$LATEST");
    CHECK_NOT_NULL(log);
    emu_envrun_spec_t spec = {.function = "demo",
                              .name = "demo#1",
                              .timeout_ns = 50 * SP_NS_PER_MS,
                              .memory_mb = 128,
                              .verbose = verbose};
    emu_envrun_t *run =
        emu_envrun_new(test.loop, &spec, log, NULL, s_test_expired, &test);
    CHECK_NOT_NULL(run);
    CHECK_NULL(emu_envrun_invocation(run));
    char text[EMU_INVOCATION_LOG_MAX + 1];

    //  A response, cold: the deadline is the timeout from now; the REPORT
    //  shows and bills the init.
    int64_t before_ms = sp_clock_wall_ns() / SP_NS_PER_MS;
    char *event = strdup("{}");
    emu_invocation_t *inv = emu_invocation_new("1", &event, 2, s_test_done, &test);
    emu_envrun_assign(run, inv, true);
    int64_t deadline_ms = emu_envrun_deliver(run, 4000001);
    CHECK_TRUE(emu_envrun_delivered(run));
    CHECK_TRUE(deadline_ms >= before_ms + 50);
    CHECK_TRUE(deadline_ms <= sp_clock_wall_ns() / SP_NS_PER_MS + 50);
    CHECK_TRUE(emu_invocation_cold(inv));
    CHECK_INT(emu_invocation_init_ns(inv), 4000001);
    CHECK_STR(emu_invocation_environment(inv), "demo#1");
    emu_rtapi_request_t request = {.call = EMU_ROUTE_RT_RESPONSE,
                                   .request_id = "1",
                                   .body = "{\"r\":1}",
                                   .body_len = 7};
    emu_envrun_finish(run, &request);
    CHECK_NULL(emu_envrun_invocation(run));
    CHECK_INT(test.outcome, EMU_INVOCATION_OK);
    CHECK_STR(test.payload, "{\"r\":1}");
    //  The run's duration is real time: see s_test_check_report.
    s_test_check_report(
        inv, text, sizeof text, 4.0,
        "\tMemory Size: 128 MB\tMax Memory Used: 0 MB\tInit Duration: 4.00 ms\t\n");
    static const char head[] = "START RequestId: 1 Version: $LATEST\nEND RequestId: 1\n"
                               "REPORT RequestId: 1\tDuration: ";
    CHECK_TRUE(strncmp(text, head, sizeof head - 1) == 0);
    CHECK_INT(emu_loop_timer_count(test.loop), 0);
    emu_invocation_destroy(&inv);

    //  Errors: a JSON object is the payload; otherwise one is made from the
    //  error type header (Unhandled without); over the cap, TOO_LARGE.
    static const struct {
        const char *body;
        const char *type;
        bool too_large;
        emu_invocation_outcome_t outcome;
        const char *payload;
    } errors[] = {
        {"{\"errorType\":\"E\"}", NULL, false, EMU_INVOCATION_FUNCTION_ERROR,
         "{\"errorType\":\"E\"}"},
        {"oops", "My.Err", false, EMU_INVOCATION_FUNCTION_ERROR,
         "{\"errorMessage\":\"the function reported an "
         "error\",\"errorType\":\"My.Err\"}"},
        {"", NULL, false, EMU_INVOCATION_FUNCTION_ERROR,
         "{\"errorMessage\":\"the function reported an error\","
         "\"errorType\":\"Unhandled\"}"},
        {"", NULL, true, EMU_INVOCATION_TOO_LARGE,
         "{\"errorMessage\":\"Response payload size exceeded maximum allowed payload "
         "size (6291556 bytes).\",\"errorType\":\"Function.ResponseSizeTooLarge\"}"},
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        inv = s_test_assign(run, &test, "2", true);
        request = (emu_rtapi_request_t){.call = EMU_ROUTE_RT_ERROR,
                                        .request_id = "2",
                                        .body = errors[i].body,
                                        .body_len = strlen(errors[i].body),
                                        .too_large = errors[i].too_large,
                                        .error_type = errors[i].type};
        emu_envrun_finish(run, &request);
        CHECK_INT(test.outcome, errors[i].outcome);
        CHECK_STR(test.payload, errors[i].payload);
        emu_invocation_destroy(&inv);
    }

    //  The deadline: TIMEOUT, the owner told, the REPORT lasting the
    //  timeout exactly.
    inv = s_test_assign(run, &test, "3", true);
    emu_timer_t *guard =
        emu_loop_timer_start(test.loop, 20 * SP_NS_PER_S, s_test_guard, &test);
    CHECK_INT(emu_loop_run(test.loop), 0);
    emu_loop_timer_cancel(test.loop, &guard);
    CHECK_INT(test.expired, 1);
    CHECK_INT(test.outcome, EMU_INVOCATION_TIMEOUT);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 3 Error: Task timed out after "
              "0.05 seconds\",\"errorType\":\"Sandbox.Timedout\"}");
    s_test_after_duration(inv, text, sizeof text);
    CHECK_STR(strstr(text, " 3 Task"),
              " 3 Task timed out after 0.05 seconds\nEND RequestId: 3\nREPORT RequestId: "
              "3\tDuration: 50.00 ms\tBilled Duration: 55 ms\tMemory Size: 128 MB\t"
              "Max Memory Used: 0 MB\tInit Duration: 4.00 ms\tStatus: timeout\n");
    emu_invocation_destroy(&inv);

    //  An exit while running (EXIT) and during init (INIT_ERROR, with
    //  INIT_REPORT before START).
    inv = s_test_assign(run, &test, "4", true);
    emu_envrun_exited(run, "signal: killed", false, 0);
    CHECK_INT(test.outcome, EMU_INVOCATION_EXIT);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 4 Error: Runtime exited with "
              "error: signal: killed\",\"errorType\":\"Runtime.ExitError\"}");
    s_test_check_report(
        inv, text, sizeof text, 4.0,
        "\tMemory Size: 128 MB\tMax Memory Used: 0 MB\tInit Duration: 4.00 ms"
        "\tStatus: error\tError Type: Runtime.ExitError\n");
    CHECK_NOT_NULL(strstr(text,
                          "START RequestId: 4 Version: $LATEST\nRequestId: 4 Error: "
                          "Runtime exited with error: signal: killed\n"
                          "Runtime.ExitError\nEND RequestId: 4\n"));
    emu_invocation_destroy(&inv);
    inv = s_test_assign(run, &test, "5", false);
    emu_envrun_exited(run, "exit status 3", true, sp_clock_mono_ns());
    CHECK_INT(test.outcome, EMU_INVOCATION_INIT_ERROR);
    s_test_after_duration(inv, text, sizeof text);
    CHECK_TRUE(strncmp(text, "INIT_REPORT Init Duration: ", 27) == 0);
    CHECK_NOT_NULL(strstr(text,
                          " ms\tPhase: init\tStatus: error\tError Type: "
                          "Runtime.ExitError\nSTART RequestId: 5 Version: $LATEST\n"));
    emu_invocation_destroy(&inv);

    //  Init timed out; init errors (the runtime's payload when an object,
    //  its type made printable for the log).
    inv = s_test_assign(run, &test, "6", false);
    emu_envrun_init_timed_out(run, 10 * SP_NS_PER_S, sp_clock_mono_ns());
    CHECK_INT(test.outcome, EMU_INVOCATION_INIT_ERROR);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 6 Error: Init timed out after "
              "10.00 seconds\",\"errorType\":\"Sandbox.Timedout\"}");
    s_test_check_report(
        inv, text, sizeof text, 0.0,
        "\tMemory Size: 128 MB\tMax Memory Used: 0 MB\tStatus: timeout\n");
    emu_invocation_destroy(&inv);
    inv = s_test_assign(run, &test, "7", false);
    request = (emu_rtapi_request_t){.call = EMU_ROUTE_RT_INIT_ERROR,
                                    .body = "{\"errorType\":\"Bad Type\"}",
                                    .body_len = 24};
    emu_envrun_init_failed(run, &request, sp_clock_mono_ns());
    CHECK_INT(test.outcome, EMU_INVOCATION_INIT_ERROR);
    CHECK_STR(test.payload, "{\"errorType\":\"Bad Type\"}");
    s_test_check_report(inv, text, sizeof text, 0.0,
                        "\tMemory Size: 128 MB\tMax Memory Used: 0 MB\tStatus: error"
                        "\tError Type: Bad?Type\n");
    emu_invocation_destroy(&inv);
    inv = s_test_assign(run, &test, "8", false);
    request = (emu_rtapi_request_t){.call = EMU_ROUTE_RT_INIT_ERROR, .body = ""};
    emu_envrun_init_failed(run, &request, sp_clock_mono_ns());
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"init failed\",\"errorType\":\"Runtime.InitError\"}");
    emu_invocation_destroy(&inv);

    //  Without a held invocation every ending is a no-op.
    int dones = test.dones;
    emu_envrun_finish(run, &request);
    emu_envrun_exited(run, "exit status 1", true, 0);
    emu_envrun_init_timed_out(run, SP_NS_PER_S, 0);
    emu_envrun_init_failed(run, &request, 0);
    CHECK_INT(test.dones, dones);

    //  Destroy hands a held invocation back as ABORTED.
    inv = s_test_assign(run, &test, "9", true);
    emu_envrun_destroy(&run);
    CHECK_NULL(run);
    emu_envrun_destroy(&run);
    CHECK_INT(test.outcome, EMU_INVOCATION_ABORTED);
    CHECK_INT(test.dones, dones + 1);
    CHECK_INT(emu_loop_timer_count(test.loop), 0);
    emu_invocation_destroy(&inv);
    emu_envlog_destroy(&log);
    emu_loop_destroy(&test.loop);
}
