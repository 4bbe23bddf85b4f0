/*  emu_invocation — one synchronous invocation; see emu_invocation.h. */
#include "emu_invocation.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_id.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _emu_invocation_t {
    char request_id[129]; //  ours (36 chars) or a caller's, truncated
    char *event;          //  owned
    size_t event_len;
    emu_invocation_done_fn *done;
    void *done_arg;
    char environment[96]; //  which environment served it
    bool cold;            //  that environment started for it
    int64_t init_ns;      //  its init duration
    emu_invocation_outcome_t outcome;
    char *payload; //  owned, NUL-terminated
    size_t payload_len;
    char version[EMU_INVOCATION_VERSION_MAX + 1];     //  executed version, "" until set
    char *client_context;                             //  owned; NULL when none
    int64_t received_ns;                              //  CLOCK_REALTIME when received
    char qualifier[EMU_INVOCATION_QUALIFIER_MAX + 1]; //  as invoked, "" unqualified
    char log[EMU_INVOCATION_LOG_MAX];                 //  the last log bytes, in order
    size_t log_len;                                   //  bytes used in log
};

void
emu_invocation_new_id(char out[EMU_INVOCATION_ID_SIZE])
{
    //  getrandom(2) does not fail for 16 bytes once the kernel's pool is
    //  seeded; if it ever does, there is no id to hand out: stop loudly.
    if (sp_id_uuid4(out)) {
        fprintf(stderr, "emu_invocation: the random source failed\n");
        abort();
    }
}

emu_invocation_t *
emu_invocation_new(const char *request_id, char **event_p, size_t event_len,
                   emu_invocation_done_fn *done, void *arg)
{
    assert(request_id && event_p && *event_p && done);
    emu_invocation_t *self = calloc(1, sizeof *self);
    if (!self) {
        free(*event_p);
        *event_p = NULL;
        return NULL;
    }
    snprintf(self->request_id, sizeof self->request_id, "%s", request_id);
    self->event = *event_p;
    *event_p = NULL;
    self->event_len = event_len;
    self->done = done;
    self->done_arg = arg;
    self->outcome = EMU_INVOCATION_PENDING;
    self->received_ns = sp_clock_wall_ns();
    return self;
}

void
emu_invocation_destroy(emu_invocation_t **self_p)
{
    assert(self_p);
    emu_invocation_t *self = *self_p;
    if (!self)
        return;
    free(self->event);
    free(self->payload);
    free(self->client_context);
    free(self);
    *self_p = NULL;
}

const char *
emu_invocation_request_id(emu_invocation_t *self)
{
    assert(self);
    return self->request_id;
}

void
emu_invocation_set_done(emu_invocation_t *self, emu_invocation_done_fn *done, void *arg)
{
    assert(self && done && self->outcome == EMU_INVOCATION_PENDING);
    self->done = done;
    self->done_arg = arg;
}

const char *
emu_invocation_event(emu_invocation_t *self, size_t *len_p)
{
    assert(self);
    if (len_p)
        *len_p = self->event_len;
    return self->event;
}

void
emu_invocation_set_environment(emu_invocation_t *self, const char *environment, bool cold,
                               int64_t init_ns)
{
    assert(self && environment);
    snprintf(self->environment, sizeof self->environment, "%s", environment);
    self->cold = cold;
    self->init_ns = init_ns;
}

const char *
emu_invocation_environment(emu_invocation_t *self)
{
    assert(self);
    return self->environment;
}

bool
emu_invocation_cold(emu_invocation_t *self)
{
    assert(self);
    return self->cold;
}

int64_t
emu_invocation_init_ns(emu_invocation_t *self)
{
    assert(self);
    return self->init_ns;
}

void
emu_invocation_set_version(emu_invocation_t *self, const char *version)
{
    assert(self && version);
    snprintf(self->version, sizeof self->version, "%s", version);
}

const char *
emu_invocation_version(emu_invocation_t *self)
{
    assert(self);
    return self->version;
}

void
emu_invocation_set_received_ns(emu_invocation_t *self, int64_t wall_ns)
{
    assert(self);
    self->received_ns = wall_ns;
}

int64_t
emu_invocation_received_ns(emu_invocation_t *self)
{
    assert(self);
    return self->received_ns;
}

int
emu_invocation_set_invoked_qualifier(emu_invocation_t *self, const char *qualifier)
{
    assert(self && qualifier);
    size_t len = strlen(qualifier);
    if (len > EMU_INVOCATION_QUALIFIER_MAX)
        return -1;
    for (const char *c = qualifier; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '$' || *c == '_' || *c == '-'))
            return -1;
    memcpy(self->qualifier, qualifier, len + 1);
    return 0;
}

const char *
emu_invocation_invoked_qualifier(emu_invocation_t *self)
{
    assert(self);
    return self->qualifier;
}

int
emu_invocation_set_client_context(emu_invocation_t *self, const char *context, size_t len)
{
    assert(self && (context || len == 0));
    if (len > EMU_INVOCATION_CLIENT_CONTEXT_MAX || memchr(context, '\r', len) ||
        memchr(context, '\n', len) || memchr(context, '\0', len))
        return -1;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, context, len);
    copy[len] = '\0';
    free(self->client_context);
    self->client_context = copy;
    return 0;
}

const char *
emu_invocation_client_context(emu_invocation_t *self)
{
    assert(self);
    return self->client_context;
}

void
emu_invocation_log_append(emu_invocation_t *self, const char *data, size_t len)
{
    assert(self && (data || len == 0));
    if (len >= EMU_INVOCATION_LOG_MAX) {
        memcpy(self->log, data + len - EMU_INVOCATION_LOG_MAX, EMU_INVOCATION_LOG_MAX);
        self->log_len = EMU_INVOCATION_LOG_MAX;
        return;
    }
    size_t keep = self->log_len;
    if (keep + len > EMU_INVOCATION_LOG_MAX)
        keep = EMU_INVOCATION_LOG_MAX - len;
    memmove(self->log, self->log + self->log_len - keep, keep);
    memcpy(self->log + keep, data, len);
    self->log_len = keep + len;
}

const char *
emu_invocation_log(emu_invocation_t *self, size_t *len_p)
{
    assert(self && len_p);
    *len_p = self->log_len;
    return self->log;
}

void
emu_invocation_complete(emu_invocation_t **self_p, emu_invocation_outcome_t outcome,
                        const void *payload, size_t len)
{
    assert(self_p && *self_p && outcome != EMU_INVOCATION_PENDING);
    emu_invocation_t *self = *self_p;
    *self_p = NULL;
    assert(self->outcome == EMU_INVOCATION_PENDING);
    self->outcome = outcome;
    self->payload = malloc(len + 1);
    if (self->payload) {
        if (len)
            memcpy(self->payload, payload, len);
        self->payload[len] = '\0';
        self->payload_len = len;
    }
    self->done(self, self->done_arg);
}

void
emu_invocation_fail(emu_invocation_t **self_p, emu_invocation_outcome_t outcome,
                    const char *type, const char *message)
{
    assert(self_p && type && message);
    json_t *doc = json_pack("{s:s, s:s}", "errorMessage", message, "errorType", type);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    emu_invocation_complete(self_p, outcome, text ? text : "", text ? strlen(text) : 0);
    free(text);
}

emu_invocation_outcome_t
emu_invocation_outcome(emu_invocation_t *self)
{
    assert(self);
    return self->outcome;
}

const char *
emu_invocation_payload(emu_invocation_t *self, size_t *len_p)
{
    assert(self);
    if (len_p)
        *len_p = self->payload_len;
    return self->payload ? self->payload : "";
}

const char *
emu_invocation_outcome_name(emu_invocation_outcome_t outcome)
{
    switch (outcome) {
    case EMU_INVOCATION_PENDING:
        return "pending";
    case EMU_INVOCATION_OK:
        return "ok";
    case EMU_INVOCATION_FUNCTION_ERROR:
        return "function_error";
    case EMU_INVOCATION_TIMEOUT:
        return "timeout";
    case EMU_INVOCATION_EXIT:
        return "exit";
    case EMU_INVOCATION_INIT_ERROR:
        return "init_error";
    case EMU_INVOCATION_TOO_LARGE:
        return "too_large";
    case EMU_INVOCATION_ABORTED:
        return "aborted";
    }
    return "unknown";
}

typedef struct {
    int calls;
    emu_invocation_outcome_t seen;
    bool destroy; //  destroy inside the callback
} s_done_t;

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    s_done_t *done = arg;
    done->calls++;
    done->seen = emu_invocation_outcome(invocation);
    if (done->destroy)
        emu_invocation_destroy(&invocation);
}

void
emu_invocation_test(bool verbose)
{
    char id[EMU_INVOCATION_ID_SIZE], other[EMU_INVOCATION_ID_SIZE];
    emu_invocation_new_id(id);
    emu_invocation_new_id(other);
    CHECK_INT(strlen(id), 36);
    CHECK_TRUE(strcmp(id, other) != 0);
    CHECK_INT(id[8], '-');
    CHECK_INT(id[14], '4');
    CHECK_TRUE(strchr("89ab", id[19]) != NULL);

    s_done_t done = {0};
    char *event = strdup("{\"a\":1}");
    emu_invocation_t *inv = emu_invocation_new(id, &event, 7, s_test_done, &done);
    CHECK_NOT_NULL(inv);
    CHECK_NULL(event);
    CHECK_STR(emu_invocation_request_id(inv), id);
    size_t len = 0;
    CHECK_STR(emu_invocation_event(inv, &len), "{\"a\":1}");
    CHECK_INT(len, 7);
    CHECK_INT(emu_invocation_outcome(inv), EMU_INVOCATION_PENDING);
    CHECK_STR(emu_invocation_environment(inv), "");
    emu_invocation_set_environment(inv, "demo#1", true, 1500000);
    CHECK_STR(emu_invocation_environment(inv), "demo#1");
    CHECK_TRUE(emu_invocation_cold(inv));
    CHECK_INT(emu_invocation_init_ns(inv), 1500000);
    CHECK_STR(emu_invocation_version(inv), "");
    emu_invocation_set_version(inv, "$LATEST");
    CHECK_STR(emu_invocation_version(inv), "$LATEST");

    //  The client context: copied; one header line at most
    //  EMU_INVOCATION_CLIENT_CONTEXT_MAX long, else refused and unchanged.
    CHECK_NULL(emu_invocation_client_context(inv));
    char context[EMU_INVOCATION_CLIENT_CONTEXT_MAX + 2];
    snprintf(context, sizeof context, "{\"custom\":{\"k\":\"v\"}}");
    CHECK_INT(emu_invocation_set_client_context(inv, context, strlen(context)), 0);
    context[0] = 'x';
    CHECK_STR(emu_invocation_client_context(inv), "{\"custom\":{\"k\":\"v\"}}");
    CHECK_INT(emu_invocation_set_client_context(inv, "{\"a\":\n1}", 8), -1);
    CHECK_INT(emu_invocation_set_client_context(inv, "{\"a\":\r1}", 8), -1);
    CHECK_INT(emu_invocation_set_client_context(inv, "{\"a\":\0001}", 8), -1);
    memset(context, ' ', sizeof context);
    context[0] = '{';
    context[EMU_INVOCATION_CLIENT_CONTEXT_MAX] = '}';
    CHECK_INT(emu_invocation_set_client_context(inv, context,
                                                EMU_INVOCATION_CLIENT_CONTEXT_MAX + 1),
              -1);
    CHECK_STR(emu_invocation_client_context(inv), "{\"custom\":{\"k\":\"v\"}}");
    context[EMU_INVOCATION_CLIENT_CONTEXT_MAX - 1] = '}';
    CHECK_INT(emu_invocation_set_client_context(inv, context,
                                                EMU_INVOCATION_CLIENT_CONTEXT_MAX),
              0);
    CHECK_INT(strlen(emu_invocation_client_context(inv)),
              EMU_INVOCATION_CLIENT_CONTEXT_MAX);
    CHECK_INT(emu_invocation_set_client_context(inv, "{}", 2), 0);
    CHECK_STR(emu_invocation_client_context(inv), "{}");

    //  Received: now, unless set (an Event invocation keeps its request's
    //  time).
    int64_t now = sp_clock_wall_ns();
    CHECK_TRUE(emu_invocation_received_ns(inv) <= now);
    CHECK_TRUE(emu_invocation_received_ns(inv) > now - 10 * SP_NS_PER_S);
    emu_invocation_set_received_ns(inv, INT64_C(1700000000) * SP_NS_PER_S);
    CHECK_INT(emu_invocation_received_ns(inv), INT64_C(1700000000) * SP_NS_PER_S);

    //  The invoked qualifier: "" until set; a version, an alias, $LATEST;
    //  at most EMU_INVOCATION_QUALIFIER_MAX of [a-zA-Z0-9$_-], else
    //  refused and unchanged.
    CHECK_STR(emu_invocation_invoked_qualifier(inv), "");
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, "live"), 0);
    CHECK_STR(emu_invocation_invoked_qualifier(inv), "live");
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, "3"), 0);
    CHECK_STR(emu_invocation_invoked_qualifier(inv), "3");
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, "$LATEST"), 0);
    CHECK_STR(emu_invocation_invoked_qualifier(inv), "$LATEST");
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, "live:1"), -1);
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, "a b"), -1);
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, "l\r\nx"), -1);
    char qualifier[EMU_INVOCATION_QUALIFIER_MAX + 2];
    memset(qualifier, 'q', sizeof qualifier - 1);
    qualifier[sizeof qualifier - 1] = '\0';
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, qualifier), -1);
    CHECK_STR(emu_invocation_invoked_qualifier(inv), "$LATEST");
    qualifier[EMU_INVOCATION_QUALIFIER_MAX] = '\0';
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, qualifier), 0);
    CHECK_INT(strlen(emu_invocation_invoked_qualifier(inv)),
              EMU_INVOCATION_QUALIFIER_MAX);
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, "alias_1-x"), 0);
    CHECK_STR(emu_invocation_invoked_qualifier(inv), "alias_1-x");
    CHECK_INT(emu_invocation_set_invoked_qualifier(inv, ""), 0);
    CHECK_STR(emu_invocation_invoked_qualifier(inv), "");

    //  The log keeps the last EMU_INVOCATION_LOG_MAX bytes, in order.
    emu_invocation_log(inv, &len);
    CHECK_INT(len, 0);
    emu_invocation_log_append(inv, "START\n", 6);
    emu_invocation_log_append(inv, "hello\n", 6);
    const char *log = emu_invocation_log(inv, &len);
    CHECK_INT(len, 12);
    CHECK_TRUE(memcmp(log, "START\nhello\n", 12) == 0);
    char big[EMU_INVOCATION_LOG_MAX];
    memset(big, 'x', sizeof big);
    emu_invocation_log_append(inv, big, EMU_INVOCATION_LOG_MAX - 3);
    log = emu_invocation_log(inv, &len);
    CHECK_INT(len, EMU_INVOCATION_LOG_MAX);
    CHECK_TRUE(memcmp(log, "lo\nxxx", 6) == 0);
    emu_invocation_log_append(inv, "END\n", 4);
    log = emu_invocation_log(inv, &len);
    CHECK_INT(len, EMU_INVOCATION_LOG_MAX);
    CHECK_TRUE(memcmp(log + len - 5, "xEND\n", 5) == 0);
    memset(big, 'y', sizeof big);
    emu_invocation_log_append(inv, big, sizeof big);
    log = emu_invocation_log(inv, &len);
    CHECK_INT(len, EMU_INVOCATION_LOG_MAX);
    CHECK_TRUE(log[0] == 'y' && log[len - 1] == 'y');

    //  The environment hands it back: its pointer is nulled.
    emu_invocation_t *borrowed = inv;
    emu_invocation_complete(&borrowed, EMU_INVOCATION_OK, "{\"r\":2}", 7);
    CHECK_NULL(borrowed);
    CHECK_INT(done.calls, 1);
    CHECK_INT(done.seen, EMU_INVOCATION_OK);
    CHECK_STR(emu_invocation_payload(inv, &len), "{\"r\":2}");
    CHECK_INT(len, 7);
    emu_invocation_destroy(&inv);
    CHECK_NULL(inv);
    emu_invocation_destroy(&inv);

    //  Failures carry an AWS-shaped error; the owner may free in done.
    done = (s_done_t){.destroy = true};
    event = strdup("{}");
    inv = emu_invocation_new("caller-id", &event, 2, s_test_done, &done);
    CHECK_STR(emu_invocation_request_id(inv), "caller-id");
    CHECK_STR(emu_invocation_payload(inv, NULL), "");
    emu_invocation_fail(&inv, EMU_INVOCATION_TIMEOUT, "Sandbox.Timedout",
                        "RequestId: caller-id Error: Task timed out after 3.00 seconds");
    CHECK_NULL(inv);
    CHECK_INT(done.calls, 1);
    CHECK_INT(done.seen, EMU_INVOCATION_TIMEOUT);

    //  Handed to another owner while pending: only the new callback runs.
    done = (s_done_t){0};
    s_done_t first = {0};
    event = strdup("{}");
    inv = emu_invocation_new("x", &event, 2, s_test_done, &first);
    emu_invocation_set_done(inv, s_test_done, &done);
    borrowed = inv;
    emu_invocation_fail(&borrowed, EMU_INVOCATION_EXIT, "Runtime.ExitError",
                        "exit status 3");
    CHECK_INT(done.calls, 1);
    CHECK_STR(emu_invocation_payload(inv, NULL),
              "{\"errorMessage\":\"exit status 3\",\"errorType\":\"Runtime.ExitError\"}");
    CHECK_INT(first.calls, 0);
    CHECK_INT(done.seen, EMU_INVOCATION_EXIT);
    emu_invocation_destroy(&inv);

    CHECK_STR(emu_invocation_outcome_name(EMU_INVOCATION_PENDING), "pending");
    CHECK_STR(emu_invocation_outcome_name(EMU_INVOCATION_OK), "ok");
    CHECK_STR(emu_invocation_outcome_name(EMU_INVOCATION_FUNCTION_ERROR),
              "function_error");
    CHECK_STR(emu_invocation_outcome_name(EMU_INVOCATION_TIMEOUT), "timeout");
    CHECK_STR(emu_invocation_outcome_name(EMU_INVOCATION_EXIT), "exit");
    CHECK_STR(emu_invocation_outcome_name(EMU_INVOCATION_INIT_ERROR), "init_error");
    CHECK_STR(emu_invocation_outcome_name(EMU_INVOCATION_TOO_LARGE), "too_large");
    CHECK_STR(emu_invocation_outcome_name(EMU_INVOCATION_ABORTED), "aborted");
    (void)verbose;
}
