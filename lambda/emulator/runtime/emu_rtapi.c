/*  emu_rtapi — an environment's Runtime API endpoint; see emu_rtapi.h. */
#include "emu_rtapi.h"
#include "emu_aws.h"
#include "emu_envlog.h"
#include "emu_limits.h"
#include "emu_listener.h"
#include "emu_proc.h" //  the selftest's client process
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_err.h"
#include "sp_oom.h"

#include <czmq.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_BACKLOG 16
//  MHD's own complaints (garbage on a Runtime API connection) logged a
//  second per environment.
#define S_MHD_LOG_RATE 10
//  Bytes of request head (line and headers) one connection may use.
#define S_HEAD_MAX 32768

//  One Runtime API request in progress.
struct _emu_rtapi_call_t {
    emu_rtapi_t *rtapi;                //  its daemon's
    struct MHD_Connection *connection; //  its connection
    emu_route_rt_t route;              //  what it asks for
    char *body;                        //  request body, capped at EMU_LIMIT_PAYLOAD_MAX
    size_t body_len;                   //  bytes in body
    size_t body_cap;                   //  bytes allocated
    bool too_large;                    //  the body went over the cap
    bool parked;                       //  suspended as the /next long-poll
    bool superseded;                   //  parked, then replaced by a newer /next
};

struct _emu_rtapi_t {
    emu_loop_t *loop;                 //  borrowed
    const char *name;                 //  the environment's, borrowed
    const emu_rtapi_events_t *events; //  the owner's callbacks
    void *events_arg;                 //  their argument
    uint16_t port;                    //  endpoint port
    struct MHD_Daemon *daemon;        //  the endpoint
    emu_loop_mhd_t *source;           //  the daemon in the loop
    unsigned connections;             //  open on the daemon
    emu_timer_t *rearm_timer;         //  runs the daemon after a close at the cap
    bool closing;                     //  being destroyed
    bool refusing;                    //  answer every call 500 Runtime.Shutdown
    emu_rtapi_call_t *next_call;      //  the parked /next while suspended
    emu_envlog_limit_t mhd_limit;     //  MHD's messages forwarded to our log
};

static void s_log_mhd(void *cls, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));

static void
s_log_mhd(void *cls, const char *format, va_list args)
{
    emu_rtapi_t *self = cls;
    if (!emu_envlog_limit_take(&self->mhd_limit, S_MHD_LOG_RATE, S_MHD_LOG_RATE,
                               sp_clock_mono_ns()))
        return;
    char text[256];
    vsnprintf(text, sizeof text, format, args);
    text[strcspn(text, "\n")] = '\0';
    zsys_warning("runtime api: %s env=%s", text, self->name);
}

//  Queues `response` (consumed) with `status`; 0 or -1.
static int
s_queue(emu_rtapi_call_t *call, unsigned status, struct MHD_Response *response)
{
    if (!response)
        return -1;
    enum MHD_Result rc = MHD_queue_response(call->connection, status, response);
    MHD_destroy_response(response);
    return rc == MHD_YES ? 0 : -1;
}

int
emu_rtapi_error(emu_rtapi_call_t *call, unsigned status, const char *type,
                const char *message)
{
    assert(call && type && message);
    json_t *doc = json_pack("{s:s, s:s}", "errorMessage", message, "errorType", type);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!text)
        return -1;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(text);
        return -1;
    }
    MHD_add_response_header(response, "Content-Type", "application/json");
    return s_queue(call, status, response);
}

int
emu_rtapi_accept(emu_rtapi_call_t *call)
{
    assert(call);
    static const char body[] = "{\"status\":\"OK\"}";
    struct MHD_Response *response = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (response)
        MHD_add_response_header(response, "Content-Type", "application/json");
    return s_queue(call, 202, response);
}

void
emu_rtapi_trace_id(const char *request_id, int64_t start_epoch_s, char *out, size_t size)
{
    assert(request_id && out && size > 0);
    char hex[40];
    size_t h = 0;
    for (const char *p = request_id; *p && h < 32; p++)
        if (*p != '-')
            hex[h++] = *p;
    hex[h] = '\0';
    snprintf(out, size, "Root=1-%08llx-%.24s;Parent=%.16s;Sampled=0",
             (unsigned long long)start_epoch_s, hex, h > 16 ? hex + h - 16 : hex);
}

int
emu_rtapi_deliver(emu_rtapi_call_t *call, emu_invocation_t *invocation,
                  const char *function, int64_t deadline_ms)
{
    assert(call && invocation && function);
    size_t len = 0;
    const char *event = emu_invocation_event(invocation, &len);
    const char *id = emu_invocation_request_id(invocation);
    char deadline[32], arn[EMU_AWS_ARN_MAX], trace[128];
    snprintf(deadline, sizeof deadline, "%lld", (long long)deadline_ms);
    emu_aws_function_arn(function, emu_invocation_invoked_qualifier(invocation), arn,
                         sizeof arn);
    emu_rtapi_trace_id(id, emu_invocation_received_ns(invocation) / SP_NS_PER_S, trace,
                       sizeof trace);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, (void *)event, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return -1;
    MHD_add_response_header(response, "Content-Type", "application/json");
    MHD_add_response_header(response, "Lambda-Runtime-Aws-Request-Id", id);
    MHD_add_response_header(response, "Lambda-Runtime-Deadline-Ms", deadline);
    MHD_add_response_header(response, "Lambda-Runtime-Invoked-Function-Arn", arn);
    MHD_add_response_header(response, "Lambda-Runtime-Trace-Id", trace);
    const char *context = emu_invocation_client_context(invocation);
    if (context && MHD_add_response_header(response, "Lambda-Runtime-Client-Context",
                                           context) != MHD_YES)
        zsys_warning("client context not sent env=%s request_id=%s", call->rtapi->name,
                     id);
    return s_queue(call, 200, response);
}

void
emu_rtapi_wake(emu_rtapi_t *self)
{
    assert(self);
    if (!self->next_call)
        return;
    //  From now on it is no longer ours to resume (MHD forbids resuming
    //  twice).
    MHD_resume_connection(self->next_call->connection);
    self->next_call = NULL;
    if (self->source)
        emu_loop_mhd_kick(self->loop, self->source);
}

int
emu_rtapi_park(emu_rtapi_call_t *call)
{
    assert(call && call->route.call == EMU_ROUTE_RT_NEXT);
    emu_rtapi_t *self = call->rtapi;
    //  A /next still parked (its connection lost on the runtime's side)
    //  is replaced.
    if (self->next_call && self->next_call != call) {
        self->next_call->superseded = true;
        emu_rtapi_wake(self);
    }
    call->parked = true;
    self->next_call = call;
    MHD_suspend_connection(call->connection);
    return 0;
}

void
emu_rtapi_refuse(emu_rtapi_t *self)
{
    assert(self);
    self->refusing = true;
}

//  Collects `len` bytes of body; over the cap only the fact is kept.
static int
s_take_body(emu_rtapi_call_t *call, const char *data, size_t len)
{
    if (call->too_large || call->body_len + len > EMU_LIMIT_PAYLOAD_MAX) {
        call->too_large = true;
        return 0;
    }
    if (call->body_len + len + 1 > call->body_cap) {
        size_t cap = call->body_cap ? call->body_cap : 4096;
        while (cap < call->body_len + len + 1)
            cap *= 2;
        char *grown = realloc(call->body, cap);
        if (!grown)
            return -1;
        call->body = grown;
        call->body_cap = cap;
    }
    memcpy(call->body + call->body_len, data, len);
    call->body_len += len;
    call->body[call->body_len] = '\0';
    return 0;
}

//  The call as the owner's callbacks see it.
static void
s_request(emu_rtapi_call_t *call, emu_rtapi_request_t *request)
{
    *request = (emu_rtapi_request_t){
        .call = call->route.call,
        .request_id = call->route.request_id,
        .body = call->body ? call->body : "",
        .body_len = call->body_len,
        .too_large = call->too_large,
        .error_type = MHD_lookup_connection_value(call->connection, MHD_HEADER_KIND,
                                                  "Lambda-Runtime-Function-Error-Type"),
    };
}

static int
s_dispatch(emu_rtapi_t *self, emu_rtapi_call_t *call)
{
    //  The environment is going away: the Runtime API's "container
    //  error, non-recoverable" answer tells a runtime to exit.
    if (self->closing || self->refusing)
        return emu_rtapi_error(call, 500, "Runtime.Shutdown",
                               "the execution environment is shutting down");
    emu_rtapi_request_t request;
    switch (call->route.call) {
    case EMU_ROUTE_RT_NEXT:
        if (call->parked) {
            //  Woken: work arrived, or a newer /next replaced this one.
            call->parked = false;
            if (call->superseded)
                return emu_rtapi_error(call, 409, "InvalidStateTransition",
                                       "replaced by a newer /next");
            return self->events->next(call, true, self->events_arg);
        }
        return self->events->next(call, false, self->events_arg);
    case EMU_ROUTE_RT_RESPONSE:
    case EMU_ROUTE_RT_ERROR:
        s_request(call, &request);
        return self->events->result(call, &request, self->events_arg);
    case EMU_ROUTE_RT_INIT_ERROR:
        s_request(call, &request);
        return self->events->init_error(call, &request, self->events_arg);
    case EMU_ROUTE_RT_BAD_METHOD:
        return emu_rtapi_error(call, 405, "MethodNotAllowed", "method not allowed");
    case EMU_ROUTE_RT_NOT_FOUND:
        break;
    }
    return emu_rtapi_error(call, 404, "NotFound", "no such Runtime API resource");
}

static enum MHD_Result
s_handle(void *cls, struct MHD_Connection *connection, const char *url,
         const char *method, const char *version, const char *upload_data,
         size_t *upload_data_size, void **req_cls)
{
    emu_rtapi_t *self = cls;
    emu_rtapi_call_t *call = *req_cls;
    if (!call) {
        call = calloc(1, sizeof *call);
        if (!call)
            return MHD_NO;
        call->rtapi = self;
        emu_route_parse_runtime(method, url, &call->route);
        *req_cls = call;
        return MHD_YES;
    }
    call->connection = connection;
    if (*upload_data_size > 0) {
        size_t len = *upload_data_size;
        *upload_data_size = 0;
        return s_take_body(call, upload_data, len) == 0 ? MHD_YES : MHD_NO;
    }
    return s_dispatch(self, call) == 0 ? MHD_YES : MHD_NO;
}

static void
s_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
            enum MHD_RequestTerminationCode toe)
{
    emu_rtapi_t *self = cls;
    emu_rtapi_call_t *call = *req_cls;
    if (!call)
        return;
    if (self->next_call == call)
        self->next_call = NULL;
    free(call->body);
    free(call);
    *req_cls = NULL;
}

//  At its connection cap MHD takes the listening socket out of its epoll
//  set and puts it back only at the start of a later MHD_run; with
//  nothing else ready that run never comes, and new connections (the
//  runtime's own next call) would wait in the backlog for good. So a
//  close at the cap runs the daemon once more, from a timer: the loop's
//  own schedule is rewritten when the current run ends.
static void
s_rearm(emu_loop_t *loop, void *arg)
{
    emu_rtapi_t *self = arg;
    self->rearm_timer = NULL;
    if (self->source)
        emu_loop_mhd_kick(loop, self->source);
}

static void
s_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
             enum MHD_ConnectionNotificationCode code)
{
    emu_rtapi_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        self->connections++;
        return;
    }
    bool at_cap = self->connections >= EMU_RTAPI_CONNECTIONS;
    if (self->connections > 0)
        self->connections--;
    if (at_cap && !self->closing && !self->rearm_timer)
        self->rearm_timer =
            SP_OOM_CHECK(emu_loop_timer_start(self->loop, 0, s_rearm, self),
                         "runtime api rearm timer");
}

emu_rtapi_t *
emu_rtapi_new(emu_loop_t *loop, const char *name, const emu_rtapi_events_t *events,
              void *arg, char *err, size_t err_size)
{
    assert(loop && name && events && events->next && events->result &&
           events->init_error);
    emu_rtapi_t *self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->name = name;
    self->events = events;
    self->events_arg = arg;
    emu_envlog_limit_init(&self->mhd_limit, S_MHD_LOG_RATE, sp_clock_mono_ns());
    int listen_fd =
        emu_listener_open("127.0.0.1:0", S_BACKLOG, &self->port, err, err_size);
    if (listen_fd < 0)
        goto fail;
    self->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_handle, self, MHD_OPTION_EXTERNAL_LOGGER, s_log_mhd, self,
        MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
        self, MHD_OPTION_NOTIFY_CONNECTION, s_connection, self,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)EMU_RTAPI_CONNECTIONS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)S_HEAD_MAX, MHD_OPTION_END);
    if (!self->daemon) {
        close(listen_fd);
        sp_err_set(err, err_size, "cannot start the Runtime API daemon");
        goto fail;
    }
    self->source = emu_loop_mhd_add(loop, self->daemon);
    if (!self->source) {
        sp_err_set(err, err_size, "cannot drive the Runtime API daemon");
        goto fail;
    }
    return self;
fail:
    emu_rtapi_destroy(&self);
    return NULL;
}

void
emu_rtapi_destroy(emu_rtapi_t **self_p)
{
    assert(self_p);
    emu_rtapi_t *self = *self_p;
    if (!self)
        return;
    self->closing = true;
    if (self->daemon) {
        //  MHD must not be stopped with suspended connections: wake the
        //  parked /next and let one run close it.
        emu_loop_mhd_remove(self->loop, &self->source);
        emu_rtapi_wake(self);
        MHD_run(self->daemon);
        MHD_stop_daemon(self->daemon);
    }
    emu_loop_timer_cancel(self->loop, &self->rearm_timer);
    free(self);
    *self_p = NULL;
}

uint16_t
emu_rtapi_port(emu_rtapi_t *self)
{
    assert(self);
    return self->port;
}

//  --- selftest -----------------------------------------------------------

typedef struct {
    emu_loop_t *loop;
    emu_rtapi_t *rtapi;
    emu_invocation_t *invocation;
    emu_timer_t *wake_timer;
    int nexts;         //  /next calls, fresh ones
    int woken;         //  /next calls woken
    int results;       //  response and error calls
    int init_errors;   //  init error calls
    char seen[4][160]; //  "call request_id body error_type" per result
    bool exited;
} s_test_t;

static void
s_test_wake(emu_loop_t *loop, void *arg)
{
    s_test_t *test = arg;
    test->wake_timer = NULL;
    emu_rtapi_wake(test->rtapi);
}

static int
s_test_next(emu_rtapi_call_t *call, bool woken, void *arg)
{
    s_test_t *test = arg;
    if (woken) {
        test->woken++;
        return emu_rtapi_deliver(call, test->invocation, "demo", 1234);
    }
    //  The second /next replaces the first (answered 409); the wake
    //  then goes to the second.
    if (++test->nexts == 2)
        test->wake_timer =
            emu_loop_timer_start(test->loop, 50 * SP_NS_PER_MS, s_test_wake, test);
    return emu_rtapi_park(call);
}

static int
s_test_result(emu_rtapi_call_t *call, const emu_rtapi_request_t *request, void *arg)
{
    s_test_t *test = arg;
    CHECK_TRUE(test->results < 4);
    snprintf(test->seen[test->results++], sizeof test->seen[0], "%d %s %s %s %d",
             (int)request->call, request->request_id, request->body,
             request->error_type ? request->error_type : "-", (int)request->too_large);
    if (request->call == EMU_ROUTE_RT_RESPONSE)
        return emu_rtapi_accept(call);
    return emu_rtapi_error(call, 403, "InvalidStateTransition", "not now");
}

static int
s_test_init_error(emu_rtapi_call_t *call, const emu_rtapi_request_t *request, void *arg)
{
    s_test_t *test = arg;
    test->init_errors++;
    CHECK_STR(request->body, "{\"errorType\":\"E\"}");
    emu_rtapi_refuse(test->rtapi);
    return emu_rtapi_accept(call);
}

static void
s_test_exited(emu_proc_t *proc, int status, int wait_errno, void *arg)
{
    s_test_t *test = arg;
    test->exited = true;
    CHECK_INT(wait_errno, 0);
    emu_loop_stop(test->loop);
}

static void
s_test_expired(emu_loop_t *loop, void *arg)
{
    fprintf(stderr, "emu_rtapi test: timed out waiting\n");
    abort();
}

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    (void)invocation;
    (void)arg;
}

//  A bash client: `req FD REQUEST` sends a request on a new connection
//  FD and prints the answer's status line, Lambda-Runtime-* headers and
//  body.
#define S_TEST_CLIENT                                                                    \
    "#!/bin/bash\n"                                                                      \
    "api=$AWS_LAMBDA_RUNTIME_API; host=${api%:*}; port=${api#*:}\n"                      \
    "send() { exec {fd}<>/dev/tcp/$host/$port; printf \"$1\" >&$fd; }\n"                 \
    "show() { IFS= read -r status <&$fd; echo \"${status%$'\\r'}\"; len=0\n"             \
    "  while IFS= read -r line <&$fd; do line=${line%$'\\r'}; [ -z \"$line\" ] && "      \
    "break\n"                                                                            \
    "    case $line in Lambda-Runtime-*) echo \"$line\" ;;\n"                            \
    "      Content-Length:*) len=${line#*: } ;; esac; done\n"                            \
    "  [ \"$len\" -gt 0 ] && IFS= read -r -N \"$len\" body <&$fd && echo \"$body\"\n"    \
    "  exec {fd}<&-; }\n"                                                                \
    "P=/2018-06-01/runtime; H='HTTP/1.1\\r\\nHost: x\\r\\n'\n"                           \
    "send \"GET $P/invocation/next $H\\r\\n\"; first=$fd; sleep 0.3\n"                   \
    "send \"GET $P/invocation/next $H\\r\\n\"; second=$fd\n"                             \
    "fd=$first; show; fd=$second; show\n"                                                \
    "send \"POST $P/invocation/ID1/response ${H}Content-Length: "                        \
    "7\\r\\n\\r\\n{\\\"r\\\":1}\"; show\n"                                               \
    "send \"POST $P/invocation/ID2/error ${H}Lambda-Runtime-Function-Error-Type: "       \
    "My.Err\\r\\n"                                                                       \
    "Content-Length: 1\\r\\n\\r\\nx\"; show\n"                                           \
    "send \"GET $P/nope $H\\r\\n\"; show\n"                                              \
    "send \"POST $P/invocation/next ${H}Content-Length: 0\\r\\n\\r\\n\"; show\n"         \
    "send \"POST $P/init/error ${H}Content-Length: "                                     \
    "17\\r\\n\\r\\n{\\\"errorType\\\":\\\"E\\\"}\"; show\n"                              \
    "send \"GET $P/invocation/next $H\\r\\n\"; show\n"

void
emu_rtapi_test(bool verbose)
{
    (void)verbose;
    //  The X-Ray id: the start time in epoch seconds, then the request
    //  id's hex digits.
    char trace[128];
    emu_rtapi_trace_id("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", 1700000000, trace,
                       sizeof trace);
    CHECK_STR(trace, "Root=1-6553f100-aaaaaaaabbbb4ccc8dddeeee;Parent=8dddeeeeeeeeeeee;"
                     "Sampled=0");
    emu_rtapi_trace_id("caller-id", 1, trace, sizeof trace);
    CHECK_STR(trace, "Root=1-00000001-callerid;Parent=callerid;Sampled=0");

    s_test_t test = {.loop = emu_loop_new()};
    CHECK_NOT_NULL(test.loop);
    static const emu_rtapi_events_t events = {
        .next = s_test_next, .result = s_test_result, .init_error = s_test_init_error};
    char err[256];
    test.rtapi = emu_rtapi_new(test.loop, "demo#1", &events, &test, err, sizeof err);
    CHECK_NOT_NULL(test.rtapi);
    CHECK_TRUE(emu_rtapi_port(test.rtapi) > 0);

    char *event = strdup("{\"hello\":1}");
    test.invocation = emu_invocation_new("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", &event,
                                         11, s_test_done, NULL);
    CHECK_NOT_NULL(test.invocation);
    CHECK_INT(emu_invocation_set_invoked_qualifier(test.invocation, "live"), 0);
    emu_invocation_set_received_ns(test.invocation,
                                   INT64_C(1700000000) * SP_NS_PER_S + 999999999);

    char dir[] = "/tmp/emu_rtapi_testXXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/client", dir);
    FILE *file = fopen(path, "w");
    CHECK_NOT_NULL(file);
    fputs(S_TEST_CLIENT, file);
    fclose(file);
    CHECK_INT(chmod(path, 0755), 0);
    emu_proc_spec_t spec = {
        .path = path, .runtime_api = emu_rtapi_port(test.rtapi), .version = "$LATEST"};
    int fd = -1;
    emu_proc_t *proc =
        emu_proc_new(test.loop, &spec, s_test_exited, &test, &fd, err, sizeof err);
    CHECK_NOT_NULL(proc);
    emu_timer_t *guard =
        emu_loop_timer_start(test.loop, 20 * SP_NS_PER_S, s_test_expired, &test);
    CHECK_NOT_NULL(guard);
    CHECK_INT(emu_loop_run(test.loop), 0);
    emu_loop_timer_cancel(test.loop, &guard);
    CHECK_TRUE(test.exited);

    char out[4096];
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    ssize_t n = read(fd, out, sizeof out - 1);
    CHECK_TRUE(n > 0);
    out[n] = '\0';
    close(fd);
    //  Headers in the order they were added.
    CHECK_STR(
        out,
        "HTTP/1.1 409 Conflict\n"
        "{\"errorMessage\":\"replaced by a newer /next\","
        "\"errorType\":\"InvalidStateTransition\"}\n"
        "HTTP/1.1 200 OK\n"
        "Lambda-Runtime-Aws-Request-Id: aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\n"
        "Lambda-Runtime-Deadline-Ms: 1234\n"
        "Lambda-Runtime-Invoked-Function-Arn: "
        "arn:aws:lambda:us-east-1:123456789012:function:demo:live\n"
        "Lambda-Runtime-Trace-Id: Root=1-6553f100-aaaaaaaabbbb4ccc8dddeeee;"
        "Parent=8dddeeeeeeeeeeee;Sampled=0\n"
        "{\"hello\":1}\n"
        "HTTP/1.1 202 Accepted\n{\"status\":\"OK\"}\n"
        "HTTP/1.1 403 Forbidden\n"
        "{\"errorMessage\":\"not now\",\"errorType\":\"InvalidStateTransition\"}\n"
        "HTTP/1.1 404 Not Found\n"
        "{\"errorMessage\":\"no such Runtime API resource\","
        "\"errorType\":\"NotFound\"}\n"
        "HTTP/1.1 405 Method Not Allowed\n"
        "{\"errorMessage\":\"method not allowed\",\"errorType\":\"MethodNotAllowed\"}\n"
        "HTTP/1.1 202 Accepted\n{\"status\":\"OK\"}\n"
        "HTTP/1.1 500 Internal Server Error\n"
        "{\"errorMessage\":\"the execution environment is shutting down\","
        "\"errorType\":\"Runtime.Shutdown\"}\n");
    CHECK_INT(test.nexts, 2);
    CHECK_INT(test.woken, 1);
    CHECK_INT(test.results, 2);
    CHECK_INT(test.init_errors, 1);
    char expected[160];
    snprintf(expected, sizeof expected, "%d ID1 {\"r\":1} - 0",
             (int)EMU_ROUTE_RT_RESPONSE);
    CHECK_STR(test.seen[0], expected);
    snprintf(expected, sizeof expected, "%d ID2 x My.Err 0", (int)EMU_ROUTE_RT_ERROR);
    CHECK_STR(test.seen[1], expected);

    emu_proc_destroy(&proc);
    emu_invocation_destroy(&test.invocation);
    emu_rtapi_destroy(&test.rtapi);
    CHECK_NULL(test.rtapi);
    emu_rtapi_destroy(&test.rtapi);
    CHECK_INT(emu_loop_watch_count(test.loop), 0);
    CHECK_INT(emu_loop_timer_count(test.loop), 0);
    unlink(path);
    rmdir(dir);
    emu_loop_destroy(&test.loop);
}
