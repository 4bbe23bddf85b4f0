/*  fn_handler — the demo function's handler; see fn_handler.h. */
#include "fn_handler.h"
#include "fn_answer.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_err.h"
#include "sp_id.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_INIT_TYPE_MAX 64
#define S_ON_DEMAND "on-demand"

struct _fn_handler_t {
    char environment_id[17]; //  16 hex digits
    char initialization_type[S_INIT_TYPE_MAX + 1];
    bool on_demand;       //  started for a request (else initialised ahead)
    int hold_ms;          //  hold per invocation
    double init_seconds;  //  process start to end of init
    uint64_t invocations; //  served so far
};

static int
s_parse_hold(const char *text, int *hold_ms, char *err, size_t err_size)
{
    if (!text) {
        *hold_ms = FN_HANDLER_HOLD_MS_DEFAULT;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    //  Digits only: strtol alone would also take blanks and a sign.
    bool digits = text[0] >= '0' && text[0] <= '9';
    if (!digits || errno || *end || value > FN_HANDLER_HOLD_MS_MAX) {
        sp_err_set(err, err_size,
                   "STAMPEDE_HOLD_MS must be an integer 0..%d, got \"%.32s\"",
                   FN_HANDLER_HOLD_MS_MAX, text);
        return -1;
    }
    *hold_ms = (int)value;
    return 0;
}

static int
s_parse_init_type(const char *text, char *out, char *err, size_t err_size)
{
    if (!text || !*text)
        text = S_ON_DEMAND;
    size_t len = strlen(text);
    bool printable = len <= S_INIT_TYPE_MAX;
    for (size_t i = 0; printable && i < len; i++)
        printable = text[i] > 0x20 && text[i] < 0x7f;
    if (!printable) {
        sp_err_set(err, err_size,
                   "AWS_LAMBDA_INITIALIZATION_TYPE must be 1..%d printable characters",
                   S_INIT_TYPE_MAX);
        return -1;
    }
    memcpy(out, text, len + 1);
    return 0;
}

//  A fresh environment id: 8 random bytes as 16 hex digits.
static int
s_random_id(char *out, char *err, size_t err_size)
{
    if (sp_id_hex(out, 8) == 0)
        return 0;
    sp_err_set(err, err_size, "getrandom: %s", strerror(errno));
    return -1;
}

fn_handler_t *
fn_handler_new(const char *hold_ms, const char *init_type, char *err, size_t err_size)
{
    fn_handler_t *self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    if (s_parse_hold(hold_ms, &self->hold_ms, err, err_size) ||
        s_parse_init_type(init_type, self->initialization_type, err, err_size) ||
        s_random_id(self->environment_id, err, err_size)) {
        free(self);
        return NULL;
    }
    self->on_demand = strcmp(self->initialization_type, S_ON_DEMAND) == 0;
    return self;
}

void
fn_handler_destroy(fn_handler_t **self_p)
{
    assert(self_p);
    free(*self_p);
    *self_p = NULL;
}

void
fn_handler_init_done(fn_handler_t *self, double seconds)
{
    assert(self);
    self->init_seconds = seconds;
}

//  Sleeps `ms` milliseconds of CLOCK_MONOTONIC, restarting after signals.
static void
s_hold(int ms)
{
    int64_t until = sp_clock_mono_ns() + (int64_t)ms * SP_NS_PER_MS;
    struct timespec ts = {.tv_sec = until / SP_NS_PER_S, .tv_nsec = until % SP_NS_PER_S};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

char *
fn_handler_invoke(fn_handler_t *self, const char *request_id)
{
    assert(self && request_id);
    self->invocations++;
    //  Only a request that started its environment paid for the init: a
    //  provisioned (or otherwise pre-initialised) one never did.
    bool cold = self->invocations == 1 && self->on_demand;
    fn_handler_result_t result = {
        .request_id = request_id,
        .environment_id = self->environment_id,
        .cold_start = cold,
        .cold_start_time = cold ? self->init_seconds : 0.0,
        .initialization_type = self->initialization_type,
        .invocation_count = self->invocations,
    };
    result.started_at_ns = sp_clock_wall_ns();
    if (self->hold_ms > 0)
        s_hold(self->hold_ms);
    result.finished_at_ns = sp_clock_wall_ns();
    return fn_handler_render(&result);
}

//  The facts object of `r` as compact text; caller frees, NULL on invalid
//  UTF-8 or no memory.
static char *
s_render_facts(const fn_handler_result_t *r)
{
    json_t *doc = json_pack(
        "{s:s, s:s, s:b, s:f, s:s, s:I, s:I, s:I}", "request_id", r->request_id,
        "environment_id", r->environment_id, "cold_start", r->cold_start,
        "cold_start_time", r->cold_start_time, "initialization_type",
        r->initialization_type, "invocation_count", (json_int_t)r->invocation_count,
        "started_at_ns", (json_int_t)r->started_at_ns, "finished_at_ns",
        (json_int_t)r->finished_at_ns);
    if (!doc)
        return NULL;
    char *text =
        json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(doc);
    return text;
}

char *
fn_handler_render(const fn_handler_result_t *r)
{
    assert(r && r->request_id && r->environment_id && r->initialization_type);
    char *facts = s_render_facts(r);
    if (!facts)
        return NULL;
    json_t *doc = json_pack("{s:i, s:{s:s}, s:s}", "statusCode", 200, "headers",
                            "Content-Type", "application/json", "body", facts);
    free(facts);
    if (!doc)
        return NULL;
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return text;
}

const char *
fn_handler_environment_id(fn_handler_t *self)
{
    assert(self);
    return self->environment_id;
}

int
fn_handler_hold_ms(fn_handler_t *self)
{
    assert(self);
    return self->hold_ms;
}

//  Checks the response of `handler` to `request_id`: exactly the proxy
//  envelope around exactly these facts, with the environment's id and two
//  time stamps in order.
static void
s_test_invoke(fn_handler_t *handler, const char *request_id, bool cold, double cold_time,
              const char *type, int64_t count)
{
    char *text = fn_handler_invoke(handler, request_id);
    CHECK_NOT_NULL(text);
    fn_answer_t answer;
    CHECK_INT(fn_answer_proxy(text, &answer), 0);
    free(text);
    CHECK_STR(answer.request_id, request_id);
    CHECK_STR(answer.environment_id, fn_handler_environment_id(handler));
    CHECK_INT(answer.cold_start, cold);
    CHECK_REAL(answer.cold_start_time, cold_time);
    CHECK_STR(answer.initialization_type, type);
    CHECK_INT(answer.invocation_count, count);
    CHECK_TRUE(answer.started_at_ns > 0 && answer.finished_at_ns >= answer.started_at_ns);
}

void
fn_handler_test(bool verbose)
{
    //  The exact response: the facts, as a string, in the proxy envelope.
    fn_handler_result_t result = {
        .request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678",
        .environment_id = "0123456789abcdef",
        .cold_start = true,
        .cold_start_time = 0.0125,
        .initialization_type = "on-demand",
        .invocation_count = 1,
        .started_at_ns = INT64_C(1700000000123456789),
        .finished_at_ns = INT64_C(1700000002123456789),
    };
    char *json = fn_handler_render(&result);
    CHECK_STR(
        json,
        "{\"statusCode\":200,\"headers\":{\"Content-Type\":\"application/json\"},"
        "\"body\":\"{\\\"request_id\\\":\\\"c6af9ac6-7b61-11e6-9a41-93e812345678\\\","
        "\\\"environment_id\\\":\\\"0123456789abcdef\\\",\\\"cold_start\\\":true,"
        "\\\"cold_start_time\\\":0.0125,\\\"initialization_type\\\":\\\"on-demand\\\","
        "\\\"invocation_count\\\":1,\\\"started_at_ns\\\":1700000000123456789,"
        "\\\"finished_at_ns\\\":1700000002123456789}\"}");
    free(json);
    result.cold_start = false;
    result.cold_start_time = 0;
    result.invocation_count = 2;
    json = fn_handler_render(&result);
    CHECK_STR(
        json,
        "{\"statusCode\":200,\"headers\":{\"Content-Type\":\"application/json\"},"
        "\"body\":\"{\\\"request_id\\\":\\\"c6af9ac6-7b61-11e6-9a41-93e812345678\\\","
        "\\\"environment_id\\\":\\\"0123456789abcdef\\\",\\\"cold_start\\\":false,"
        "\\\"cold_start_time\\\":0.0,\\\"initialization_type\\\":\\\"on-demand\\\","
        "\\\"invocation_count\\\":2,\\\"started_at_ns\\\":1700000000123456789,"
        "\\\"finished_at_ns\\\":1700000002123456789}\"}");
    free(json);
    result.request_id = "\xff";
    CHECK_NULL(fn_handler_render(&result));

    //  Settings.
    char err[256];
    fn_handler_t *handler = fn_handler_new(NULL, NULL, err, sizeof err);
    CHECK_NOT_NULL(handler);
    CHECK_INT(fn_handler_hold_ms(handler), 2000);
    fn_handler_destroy(&handler);
    CHECK_NULL(handler);
    fn_handler_destroy(&handler);
    const char *bad_holds[] = {"",   "-1", "900001", "12ms", " 5", "99999999999999999999",
                               "1.5"};
    for (size_t i = 0; i < sizeof bad_holds / sizeof bad_holds[0]; i++) {
        CHECK_NULL(fn_handler_new(bad_holds[i], NULL, err, sizeof err));
        CHECK_TRUE(strncmp(err, "STAMPEDE_HOLD_MS must be an integer 0..900000", 45) ==
                   0);
    }
    CHECK_NULL(fn_handler_new("-1", NULL, err, sizeof err));
    CHECK_STR(err, "STAMPEDE_HOLD_MS must be an integer 0..900000, got \"-1\"");
    CHECK_NULL(fn_handler_new("0", "on demand", err, sizeof err));
    CHECK_STR(err, "AWS_LAMBDA_INITIALIZATION_TYPE must be 1..64 printable characters");
    handler = fn_handler_new("900000", "", err, sizeof err);
    CHECK_NOT_NULL(handler);
    CHECK_INT(fn_handler_hold_ms(handler), 900000);
    fn_handler_destroy(&handler);

    //  An on-demand environment: cold once, then warm; ids stay fixed.
    handler = fn_handler_new("0", "on-demand", err, sizeof err);
    CHECK_NOT_NULL(handler);
    const char *id = fn_handler_environment_id(handler);
    CHECK_INT(strlen(id), 16);
    CHECK_INT(strspn(id, "0123456789abcdef"), 16);
    fn_handler_init_done(handler, 0.25);
    s_test_invoke(handler, "r1", true, 0.25, "on-demand", 1);
    s_test_invoke(handler, "r2", false, 0.0, "on-demand", 2);
    fn_handler_destroy(&handler);

    //  Unset or empty: on-demand, cold.
    handler = fn_handler_new("0", NULL, err, sizeof err);
    fn_handler_init_done(handler, 0.5);
    s_test_invoke(handler, "n1", true, 0.5, "on-demand", 1);
    fn_handler_destroy(&handler);

    //  Initialised ahead of any request: never cold, the type echoed.
    const char *ahead[] = {"provisioned-concurrency", "snap-start"};
    for (size_t i = 0; i < sizeof ahead / sizeof ahead[0]; i++) {
        handler = fn_handler_new("0", ahead[i], err, sizeof err);
        CHECK_NOT_NULL(handler);
        fn_handler_init_done(handler, 1.5);
        for (int k = 1; k <= 2; k++) {
            char request_id[8];
            snprintf(request_id, sizeof request_id, "p%d", k);
            s_test_invoke(handler, request_id, false, 0.0, ahead[i], k);
        }
        if (i + 1 < sizeof ahead / sizeof ahead[0])
            fn_handler_destroy(&handler);
    }
    //  Two environments have different ids.
    fn_handler_t *other = fn_handler_new("0", NULL, err, sizeof err);
    CHECK_TRUE(strcmp(fn_handler_environment_id(other),
                      fn_handler_environment_id(handler)) != 0);
    fn_handler_destroy(&other);
    fn_handler_destroy(&handler);
    (void)verbose;
}
