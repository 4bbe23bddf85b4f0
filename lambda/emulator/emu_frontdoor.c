/*  emu_frontdoor — Function URL front door; see emu_frontdoor.h. */
#include "emu_frontdoor.h"
#include "emu_furl.h"
#include "emu_listener.h"
#include "emu_probe.h"
#include "emu_reply.h"
#include "emu_route.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define S_BACKLOG 4096
#define S_MEMORY_LIMIT ((size_t)32768)
#define S_IDLE_TIMEOUT_S 300u
#define S_LOG_PER_S 10u
//  One access-log line: five fields, the longest a 36-byte request id and a
//  64-byte function name, JSON-escaped. Far more than enough.
#define S_ACCESS_LINE_MAX 512

typedef struct _s_request_t s_request_t;
struct _s_request_t {
    emu_frontdoor_t *door;
    struct MHD_Connection *connection;
    char *target;             //  raw request target, as on the request line
    bool started;             //  headers seen
    emu_route_url_t route;    //  target split (points into target) once started
    emu_function_t *function; //  borrowed: the served function the route names, or NULL
    char *body;               //  capped at EMU_FURL_PAYLOAD_MAX
    size_t body_len;
    size_t body_cap;
    bool too_large;
    int64_t received_ns; //  complete request held, CLOCK_REALTIME
    char request_id[EMU_INVOCATION_ID_SIZE];
    emu_invocation_t *invocation; //  owned; lent to an environment while waiting
    emu_reply_t *reply;           //  ready after the invocation completed
    bool waiting;                 //  suspended on the invocation
    s_request_t *prev, *next;     //  list of waiting requests
};

struct _emu_frontdoor_t {
    emu_loop_t *loop; //  borrowed
    bool verbose;
    uint16_t port;
    struct MHD_Daemon *daemon;
    emu_loop_mhd_t *source;
    emu_function_t *functions[EMU_CONFIG_FUNCTIONS_MAX]; //  borrowed
    size_t function_count;
    emu_account_t *account;      //  borrowed; NULL until set
    int httpapi_throttle_status; //  500 or 429
    s_request_t *waiting; //  suspended requests
    FILE *access_log;     //  borrowed; NULL when not logging
    emu_frontdoor_stats_t stats;
    int64_t log_second; //  rate limit of MHD's messages
    unsigned log_count;
    unsigned log_suppressed;
};

//  MHD's complaints about malformed requests, at most S_LOG_PER_S a
//  second: bad input must not flood the log.
static void s_log_mhd(void *cls, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));

static void
s_log_mhd(void *cls, const char *format, va_list args)
{
    emu_frontdoor_t *self = cls;
    int64_t second = sp_clock_mono_ns() / SP_NS_PER_S;
    if (second != self->log_second) {
        if (self->log_suppressed > 0)
            zsys_warning("front door: messages suppressed count=%u",
                         self->log_suppressed);
        self->log_second = second;
        self->log_count = self->log_suppressed = 0;
    }
    if (self->log_count++ >= S_LOG_PER_S) {
        self->log_suppressed++;
        return;
    }
    char text[256];
    vsnprintf(text, sizeof text, format, args);
    text[strcspn(text, "\n")] = '\0';
    zsys_warning("front door: %s", text);
}

static emu_function_t *
s_lookup(emu_frontdoor_t *self, const char *name)
{
    for (size_t i = 0; i < self->function_count; i++)
        if (strcmp(emu_function_name(self->functions[i]), name) == 0)
            return self->functions[i];
    return NULL;
}

//  One access-log line for the answer `status` to `req`, written with one
//  fwrite so that lines stay whole. An answer that could not be delivered
//  says so in a sixth field.
static void
s_access_log(emu_frontdoor_t *self, s_request_t *req, int status, int64_t answered_ns,
             bool delivered)
{
    json_t *line =
        json_pack("{s:I,s:I,s:i,s:s?,s:s}", "received_ns", (json_int_t)req->received_ns,
                  "answered_ns", (json_int_t)answered_ns, "status", status, "function",
                  req->function ? emu_function_name(req->function) : NULL, "request_id",
                  req->request_id);
    if (line && !delivered && json_object_set_new(line, "delivered", json_false())) {
        json_decref(line);
        line = NULL;
    }
    char text[S_ACCESS_LINE_MAX];
    size_t len =
        line ? json_dumpb(line, text, sizeof text - 1, JSON_COMPACT | JSON_PRESERVE_ORDER)
             : 0;
    json_decref(line);
    bool written = false;
    if (len > 0 && len < sizeof text - 1) {
        text[len++] = '\n';
        written = fwrite(text, 1, len, self->access_log) == len;
    }
    if (!written && self->stats.log_errors++ == 0)
        zsys_warning("access log: cannot write a line (further failures only counted) "
                     "error=\"%s\"",
                     strerror(errno));
}

//  Queues `*reply_p` (consumed) with the headers every answer carries.
//  The single answering path: every answer the door gives passes here.
static enum MHD_Result
s_answer(s_request_t *req, emu_reply_t **reply_p)
{
    emu_frontdoor_t *self = req->door;
    emu_reply_t *reply = *reply_p;
    *reply_p = NULL;
    if (!reply)
        return MHD_NO;
    if (req->received_ns == 0)
        req->received_ns = sp_clock_wall_ns();
    if (!req->request_id[0])
        emu_invocation_new_id(req->request_id);
    char received[32];
    snprintf(received, sizeof received, "%lld", (long long)req->received_ns);
    emu_reply_set_header(reply, "X-Stampede-Received-Ns", received);
    emu_reply_set_header(reply, "x-amzn-RequestId", req->request_id);
    int status = emu_reply_status(reply);
    self->stats.requests++;
    if (status >= 200 && status < 300)
        self->stats.ok++;
    else if (status == 429)
        self->stats.throttled++;
    else
        self->stats.errors++;
    if (self->verbose)
        zsys_debug("request answered request_id=%s status=%d", req->request_id, status);
    if (self->access_log)
        s_access_log(self, req, status, sp_clock_wall_ns(), true);
    enum MHD_Result rc = emu_reply_queue(reply, req->connection);
    emu_reply_destroy(&reply);
    return rc;
}

static void
s_unlink(emu_frontdoor_t *self, s_request_t *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        self->waiting = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    req->waiting = false;
    self->stats.waiting--;
}

//  The invocation is over: map it, wake the connection.
static void
s_invocation_done(emu_invocation_t *invocation, void *arg)
{
    s_request_t *req = arg;
    emu_frontdoor_t *self = req->door;
    req->reply = emu_furl_reply(invocation);
    emu_invocation_destroy(&req->invocation);
    s_unlink(self, req);
    MHD_resume_connection(req->connection);
    emu_loop_mhd_kick(self->loop, self->source);
}

typedef struct {
    emu_furl_header_t *headers;
    size_t count;
} s_headers_t;

static enum MHD_Result
s_collect_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                 const char *value, size_t value_size)
{
    s_headers_t *collected = cls;
    if (collected->count == EMU_FURL_PARAMS_MAX)
        return MHD_NO;
    collected->headers[collected->count++] =
        (emu_furl_header_t){.name = key, .value = value ? value : ""};
    return MHD_YES;
}

static enum MHD_Result
s_dispatch(emu_frontdoor_t *self, s_request_t *req, const char *method,
           const char *version)
{
    struct MHD_Connection *connection = req->connection;
    const emu_route_url_t *route = &req->route;
    if (route->door == EMU_ROUTE_NONE) {
        emu_reply_t *reply =
            emu_furl_error(404, "ResourceNotFoundException", "Not Found");
        return s_answer(req, &reply);
    }
    emu_function_t *function = req->function;
    if (!function) {
        emu_reply_t *reply =
            emu_furl_error(404, "ResourceNotFoundException", "Function not found");
        return s_answer(req, &reply);
    }
    if (req->too_large) {
        emu_reply_t *reply = emu_furl_error(
            413, "RequestTooLargeException",
            "Request must be smaller than 6291456 bytes for the InvokeFunction "
            "operation");
        return s_answer(req, &reply);
    }
    //  A throttle is decided before any work on the event: in a burst
    //  most requests are throttled, and they are answered at once.
    if (emu_function_saturated(function)) {
        emu_function_count_throttle(function);
        emu_reply_t *reply = emu_furl_throttle();
        return s_answer(req, &reply);
    }
    emu_invocation_new_id(req->request_id);

    s_headers_t collected = {.headers =
                                 calloc(EMU_FURL_PARAMS_MAX, sizeof(emu_furl_header_t))};
    if (!collected.headers)
        return MHD_NO;
    MHD_get_connection_values_n(connection, MHD_HEADER_KIND, s_collect_header,
                                &collected);
    char source_ip[INET6_ADDRSTRLEN] = "127.0.0.1";
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info && info->client_addr) {
        const struct sockaddr *sa = info->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, source_ip,
                      sizeof source_ip);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, source_ip,
                      sizeof source_ip);
    }
    emu_furl_request_t request = {
        .function = route->function,
        .request_id = req->request_id,
        .method = method,
        .path = route->path,
        .path_len = route->path_len,
        .query = route->query,
        .query_len = route->query_len,
        .protocol = version,
        .source_ip = source_ip,
        .time_ns = req->received_ns,
        .headers = collected.headers,
        .header_count = collected.count,
        .body = req->body ? req->body : "",
        .body_len = req->body_len,
    };
    size_t event_len = 0;
    char *event = emu_furl_event(&request, &event_len);
    free(collected.headers);
    emu_reply_t *reply = NULL;
    if (!event)
        reply = emu_furl_error(500, "ServiceException", "Could not build the event");
    else if (event_len > EMU_FURL_PAYLOAD_MAX) {
        free(event);
        reply = emu_furl_error(413, "RequestTooLargeException",
                               "Request must be smaller than 6291456 bytes for the "
                               "InvokeFunction operation");
    }
    if (reply)
        return s_answer(req, &reply);

    emu_invocation_t *invocation =
        emu_invocation_new(req->request_id, &event, event_len, s_invocation_done, req);
    if (!invocation)
        return MHD_NO;
    switch (emu_function_invoke(function, invocation)) {
    case EMU_FUNCTION_THROTTLED:
        emu_invocation_destroy(&invocation);
        reply = emu_furl_throttle();
        return s_answer(req, &reply);
    case EMU_FUNCTION_FAILED:
        emu_invocation_destroy(&invocation);
        reply = emu_furl_error(500, "ServiceException", "Out of memory");
        return s_answer(req, &reply);
    case EMU_FUNCTION_DISPATCHED:
        break;
    }
    req->invocation = invocation;
    req->waiting = true;
    req->next = self->waiting;
    if (self->waiting)
        self->waiting->prev = req;
    self->waiting = req;
    self->stats.waiting++;
    MHD_suspend_connection(connection);
    return MHD_YES;
}

//  Appends upload data, keeping at most the payload limit.
static int
s_append(s_request_t *req, const char *data, size_t len)
{
    if (req->too_large || req->body_len + len > EMU_FURL_PAYLOAD_MAX) {
        req->too_large = true;
        free(req->body);
        req->body = NULL;
        req->body_len = req->body_cap = 0;
        return 0;
    }
    if (req->body_len + len > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 4096;
        while (cap < req->body_len + len)
            cap *= 2;
        char *grown = realloc(req->body, cap);
        if (!grown)
            return -1;
        req->body = grown;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    return 0;
}

static enum MHD_Result
s_handle(void *cls, struct MHD_Connection *connection, const char *url,
         const char *method, const char *version, const char *upload_data,
         size_t *upload_data_size, void **req_cls)
{
    emu_frontdoor_t *self = cls;
    s_request_t *req = *req_cls;
    if (!req)
        return MHD_NO;
    if (!req->started) {
        req->started = true;
        req->connection = connection;
        emu_route_parse_url(req->target, &req->route);
        if (req->route.door == EMU_ROUTE_FUNCTION_URL)
            req->function = s_lookup(self, req->route.function);
        //  A declared body over the limit is refused before it is read.
        const char *length =
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Content-Length");
        if (length) {
            char *end = NULL;
            errno = 0;
            unsigned long long declared = strtoull(length, &end, 10);
            if (!errno && end != length && !*end && declared > EMU_FURL_PAYLOAD_MAX) {
                req->too_large = true;
                emu_reply_t *reply =
                    emu_furl_error(413, "RequestTooLargeException",
                                   "Request must be smaller than 6291456 bytes for the "
                                   "InvokeFunction operation");
                return s_answer(req, &reply);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t len = *upload_data_size;
        *upload_data_size = 0;
        return s_append(req, upload_data, len) == 0 ? MHD_YES : MHD_NO;
    }
    if (req->reply)
        return s_answer(req, &req->reply);
    if (req->waiting || req->invocation)
        return MHD_NO; //  resumed without an answer: only at shutdown
    req->received_ns = sp_clock_wall_ns();
    return s_dispatch(self, req, method, version);
}

static void *
s_request_new(void *cls, const char *uri, struct MHD_Connection *connection)
{
    s_request_t *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->door = cls;
    req->connection = connection;
    req->target = strdup(uri ? uri : "");
    if (!req->target) {
        free(req);
        return NULL;
    }
    return req;
}

static void
s_request_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
                    enum MHD_RequestTerminationCode toe)
{
    s_request_t *req = *req_cls;
    if (!req)
        return;
    //  An environment may still hold the invocation only if the door is
    //  destroyed before the functions, which the contract forbids.
    assert(!req->invocation);
    if (req->waiting)
        s_unlink(req->door, req);
    //  The function answered, but the client had left while it ran: MHD
    //  ends the resumed request without asking for the answer. The request
    //  did arrive and was served, so the access log still gets its line.
    if (req->reply) {
        emu_frontdoor_t *self = req->door;
        self->stats.undelivered++;
        if (self->access_log)
            s_access_log(self, req, emu_reply_status(req->reply), sp_clock_wall_ns(),
                         false);
    }
    emu_reply_destroy(&req->reply);
    free(req->target);
    free(req->body);
    free(req);
    *req_cls = NULL;
}

emu_frontdoor_t *
emu_frontdoor_new(emu_loop_t *loop, const char *listen, bool verbose, char *err,
                  size_t err_size)
{
    assert(loop && listen);
    emu_frontdoor_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->verbose = verbose;
    self->httpapi_throttle_status = 500;
    int fd = emu_listener_open(listen, S_BACKLOG, &self->port, err, err_size);
    if (fd < 0)
        goto fail;
    self->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_handle, self, MHD_OPTION_EXTERNAL_LOGGER, s_log_mhd, self,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_URI_LOG_CALLBACK, s_request_new, self,
        MHD_OPTION_NOTIFY_COMPLETED, s_request_completed, self,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)EMU_FRONTDOOR_CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, S_MEMORY_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        S_IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (!self->daemon) {
        close(fd);
        snprintf(err, err_size, "cannot start the front door daemon");
        goto fail;
    }
    self->source = emu_loop_mhd_add(loop, self->daemon);
    if (!self->source) {
        snprintf(err, err_size, "cannot drive the front door daemon");
        goto fail;
    }
    return self;
fail:
    emu_frontdoor_destroy(&self);
    return NULL;
}

void
emu_frontdoor_destroy(emu_frontdoor_t **self_p)
{
    assert(self_p);
    emu_frontdoor_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon) {
        //  Nothing may stay suspended when MHD stops.
        assert(!self->waiting);
        emu_loop_mhd_remove(self->loop, &self->source);
        MHD_run(self->daemon);
        MHD_stop_daemon(self->daemon);
    }
    free(self);
    *self_p = NULL;
}

int
emu_frontdoor_add_function(emu_frontdoor_t *self, emu_function_t *function)
{
    assert(self && function);
    if (self->function_count == EMU_CONFIG_FUNCTIONS_MAX)
        return -1;
    self->functions[self->function_count++] = function;
    return 0;
}

void
emu_frontdoor_set_account(emu_frontdoor_t *self, emu_account_t *account)
{
    assert(self && account);
    self->account = account;
}

void
emu_frontdoor_set_httpapi_throttle_status(emu_frontdoor_t *self, int status)
{
    assert(self && (status == 500 || status == 429));
    self->httpapi_throttle_status = status;
}

void
emu_frontdoor_set_access_log(emu_frontdoor_t *self, FILE *log)
{
    assert(self);
    self->access_log = log;
}

uint16_t
emu_frontdoor_port(emu_frontdoor_t *self)
{
    assert(self);
    return self->port;
}

void
emu_frontdoor_stats(emu_frontdoor_t *self, emu_frontdoor_stats_t *stats)
{
    assert(self && stats);
    *stats = self->stats;
}

//  --- selftest -----------------------------------------------------------

typedef struct {
    uint16_t port;
    int efd;        //  written when the client is done
    char ok_id[64]; //  request id of the first 200
} s_test_t;

static void
s_test_check(emu_probe_t *probe, int status, const char *error_type, const char *body)
{
    CHECK_NOT_NULL(probe);
    CHECK_INT(emu_probe_status(probe), status);
    char value[128];
    if (error_type)
        CHECK_STR(emu_probe_header(probe, "x-amzn-ErrorType", value, sizeof value),
                  error_type);
    if (body)
        CHECK_STR(emu_probe_body(probe), body);
    CHECK_NOT_NULL(
        emu_probe_header(probe, "X-Stampede-Received-Ns", value, sizeof value));
    CHECK_TRUE(strtoll(value, NULL, 10) > INT64_C(1600000000) * SP_NS_PER_S);
    CHECK_NOT_NULL(emu_probe_header(probe, "x-amzn-RequestId", value, sizeof value));
    CHECK_INT(strlen(value), 36);
}

static void *
s_test_client(void *arg)
{
    s_test_t *test = arg;
    emu_probe_t *probe = emu_probe_request(test->port, "GET", "/nothing", NULL);
    s_test_check(probe, 404, "ResourceNotFoundException", "{\"Message\":\"Not Found\"}");
    emu_probe_destroy(&probe);
    probe = emu_probe_request(test->port, "GET", "/url/missing/", NULL);
    s_test_check(probe, 404, "ResourceNotFoundException",
                 "{\"Message\":\"Function not found\"}");
    emu_probe_destroy(&probe);
    probe = emu_probe_request(test->port, "GET", "/url/bad.name/x", NULL);
    s_test_check(probe, 404, "ResourceNotFoundException", NULL);
    emu_probe_destroy(&probe);
    probe = emu_probe_request(test->port, "GET", "/url/closed/", NULL);
    s_test_check(probe, 429, "TooManyRequestsException",
                 "{\"Message\":\"Rate Exceeded.\"}");
    emu_probe_destroy(&probe);

    //  Declared too large: refused before the body is sent.
    const char *big = "POST /url/demo/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Length: 7000000\r\n\r\n";
    probe = emu_probe_send(test->port, big, strlen(big));
    s_test_check(probe, 413, "RequestTooLargeException", NULL);
    emu_probe_destroy(&probe);
    //  Malformed requests get MHD's 400 or a closed connection, and the
    //  door keeps serving.
    const char *malformed = "GET / HTTP/1.1\r\nBad Header Line\r\n\r\n";
    probe = emu_probe_send(test->port, malformed, strlen(malformed));
    CHECK_NOT_NULL(probe);
    CHECK_INT(emu_probe_status(probe), 400);
    emu_probe_destroy(&probe);
    probe = emu_probe_send(test->port, "GARBAGE\r\n\r\n", 11);
    CHECK_NOT_NULL(probe);
    CHECK_INT(emu_probe_status(probe), 0);
    emu_probe_destroy(&probe);

    //  The function answers through the Function URL mapping.
    probe = emu_probe_request(test->port, "POST", "/url/demo/a/b?x=1", "{\"k\":1}");
    CHECK_NOT_NULL(probe);
    CHECK_INT(emu_probe_status(probe), 200);
    char id[64], type[64];
    CHECK_NOT_NULL(emu_probe_header(probe, "x-amzn-RequestId", id, sizeof id));
    snprintf(test->ok_id, sizeof test->ok_id, "%s", id);
    CHECK_STR(emu_probe_header(probe, "Content-Type", type, sizeof type),
              "application/json");
    char expected[128];
    snprintf(expected, sizeof expected, "{\"request_id\":\"%s\",", id);
    CHECK_TRUE(strncmp(emu_probe_body(probe), expected, strlen(expected)) == 0);
    CHECK_TRUE(strstr(emu_probe_body(probe), "\"cold_start\":true") != NULL);
    emu_probe_destroy(&probe);
    //  The environment takes work again once its runtime is back in
    //  /next, a moment after it answered; until then reserved 1 throttles.
    for (int i = 0; i < 200; i++) {
        probe = emu_probe_request(test->port, "GET", "/url/demo", NULL);
        if (emu_probe_status(probe) != 429)
            break;
        emu_probe_destroy(&probe);
        usleep(5000);
    }
    CHECK_INT(emu_probe_status(probe), 200);
    CHECK_TRUE(strstr(emu_probe_body(probe), "\"cold_start\":false") != NULL);
    emu_probe_destroy(&probe);

    uint64_t one = 1;
    CHECK_INT(write(test->efd, &one, sizeof one), sizeof one);
    return NULL;
}

//  Checks access-log line `text`: exact fields in order, the status and
//  function expected; returns its request id (borrowed until `*doc_p` is
//  released by the caller).
static const char *
s_test_log_line(const char *text, int status, const char *function, json_t **doc_p)
{
    CHECK_TRUE(strncmp(text, "{\"received_ns\":", 15) == 0);
    CHECK_TRUE(strstr(text, ",\"answered_ns\":") < strstr(text, ",\"status\":"));
    CHECK_TRUE(strstr(text, ",\"status\":") < strstr(text, ",\"function\":"));
    CHECK_TRUE(strstr(text, ",\"function\":") < strstr(text, ",\"request_id\":"));
    CHECK_INT(text[strlen(text) - 1], '\n');
    json_error_t error;
    json_t *doc = json_loads(text, 0, &error);
    CHECK_NOT_NULL(doc);
    json_int_t received = 0, answered = 0;
    int logged_status = 0;
    json_t *logged_function = NULL;
    const char *request_id = NULL;
    CHECK_INT(json_unpack(doc, "{s:I,s:I,s:i,s:o,s:s!}", "received_ns", &received,
                          "answered_ns", &answered, "status", &logged_status, "function",
                          &logged_function, "request_id", &request_id),
              0);
    CHECK_TRUE(received > INT64_C(1600000000) * SP_NS_PER_S);
    CHECK_TRUE(answered >= received);
    CHECK_INT(logged_status, status);
    if (function)
        CHECK_STR(json_string_value(logged_function), function);
    else
        CHECK_TRUE(json_is_null(logged_function));
    CHECK_INT(strlen(request_id), 36);
    *doc_p = doc;
    return request_id;
}

static void
s_test_finished(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    emu_loop_stop(loop);
}

void
emu_frontdoor_test(bool verbose)
{
    emu_loop_t *loop = emu_loop_new();
    char err[256];
    CHECK_NULL(emu_frontdoor_new(loop, "localhost:0", verbose, err, sizeof err));
    CHECK_STR(err, "host must be a numeric IPv4 address or [IPv6]");
    emu_frontdoor_t *door =
        emu_frontdoor_new(loop, "127.0.0.1:0", verbose, err, sizeof err);
    CHECK_NOT_NULL(door);
    CHECK_TRUE(emu_frontdoor_port(door) > 0);

    const char *pairs[] = {"STAMPEDE_HOLD_MS=0"};
    emu_function_config_t demo = {.name = "demo",
                                  .path = EMU_TEST_BOOTSTRAP,
                                  .reserved = 1,
                                  .env = pairs,
                                  .env_count = 1,
                                  .timeout_s = 3};
    emu_function_config_t closed = {
        .name = "closed", .path = EMU_TEST_BOOTSTRAP, .reserved = 0, .timeout_s = 3};
    emu_function_t *functions[2] = {emu_function_new(loop, &demo, verbose),
                                    emu_function_new(loop, &closed, verbose)};
    CHECK_INT(emu_frontdoor_add_function(door, functions[0]), 0);
    CHECK_INT(emu_frontdoor_add_function(door, functions[1]), 0);

    FILE *access_log = tmpfile();
    CHECK_NOT_NULL(access_log);
    emu_frontdoor_set_access_log(door, access_log);

    s_test_t test = {.port = emu_frontdoor_port(door), .efd = eventfd(0, EFD_CLOEXEC)};
    CHECK_INT(emu_loop_watch(loop, test.efd, EPOLLIN, s_test_finished, NULL), 0);
    pthread_t client;
    CHECK_INT(pthread_create(&client, NULL, s_test_client, &test), 0);
    CHECK_INT(emu_loop_run(loop), 0);
    pthread_join(client, NULL);

    emu_frontdoor_stats_t stats;
    emu_frontdoor_stats(door, &stats);
    //  MHD answered the malformed requests itself.
    CHECK_INT(stats.requests, 7 + (stats.throttled - 1));
    CHECK_INT(stats.ok, 2);
    CHECK_TRUE(stats.throttled >= 1);
    CHECK_INT(stats.errors, 4);
    CHECK_INT(stats.waiting, 0);
    CHECK_INT(stats.log_errors, 0);
    CHECK_INT(stats.undelivered, 0);

    //  One line per answer, in order; MHD's own 400 and the dropped
    //  garbage request left none.
    struct {
        int status;
        const char *function;
    } expected[] = {{404, NULL},     {404, NULL},   {404, NULL},
                    {429, "closed"}, {413, "demo"}, {200, "demo"}};
    size_t count = sizeof expected / sizeof expected[0];
    CHECK_INT(fflush(access_log), 0);
    rewind(access_log);
    char text[1024];
    size_t lines = 0;
    while (fgets(text, sizeof text, access_log)) {
        json_t *doc = NULL;
        const char *request_id = NULL;
        if (lines < count) {
            request_id = s_test_log_line(text, expected[lines].status,
                                         expected[lines].function, &doc);
            if (expected[lines].status == 200)
                CHECK_STR(request_id, test.ok_id);
        } else if (lines + 1 < stats.requests) //  the retries throttled
            s_test_log_line(text, 429, "demo", &doc);
        else //  and the warm invocation
            s_test_log_line(text, 200, "demo", &doc);
        json_decref(doc);
        lines++;
    }
    CHECK_INT(lines, stats.requests);
    emu_frontdoor_set_access_log(door, NULL);
    fclose(access_log);
    emu_loop_unwatch(loop, test.efd);
    close(test.efd);
    emu_function_destroy(&functions[0]);
    emu_function_destroy(&functions[1]);
    emu_frontdoor_destroy(&door);
    CHECK_NULL(door);
    emu_frontdoor_destroy(&door);
    emu_loop_destroy(&loop);
}
