/*  emu_frontdoor — every front door on one listener; see emu_frontdoor.h. */
#include "emu_frontdoor.h"
#include "emu_apigw_http.h"
#include "emu_doorbody.h"
#include "emu_doorevent.h"
#include "emu_doorlog.h"
#include "emu_doormap.h"
#include "emu_invoke.h"
#include "emu_listener.h"
#include "emu_mgmt.h"
#include "emu_reply.h"
#include "emu_route.h"
#include "emu_rxstamp.h"
#include "sp_clock.h"
#include "sp_err.h"
#include "sp_log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_BACKLOG 4096
#define S_MEMORY_LIMIT ((size_t)32768)
#define S_IDLE_TIMEOUT_S 300u
#define S_LOG_PER_S 10u

typedef struct _s_request_t s_request_t;
struct _s_request_t {
    emu_frontdoor_t *door;
    struct MHD_Connection *connection;
    char *target;          //  raw request target, as on the request line
    bool started;          //  headers seen
    emu_route_url_t route; //  target split (points into target) once started
    //  The door answering: route.named, except that an Invoke API path
    //  asked with another method than POST is the management API's.
    emu_route_door_t kind;
    emu_function_t *function; //  borrowed: the function named, once known
    char qualifier[EMU_ROUTE_QUALIFIER_MAX + 1]; //  the one invoked; "" = $LATEST
    bool tail;                                   //  Invoke API: X-Amz-Log-Type Tail
    emu_invoke_type_t type; //  Invoke API: the invocation type asked (for its 413)
    emu_doorbody_t *body;   //  owned: kept up to the door's limit, then drained
    bool answered;          //  an answer is queued (drained bytes still may come)
    bool throttled;         //  the answer is a throttle
    int64_t received_ns;    //  CLOCK_REALTIME: emu_rxstamp's, once complete
    char request_id[EMU_INVOCATION_ID_SIZE];
    emu_invocation_t *invocation; //  owned; lent to an environment while waiting
    emu_timer_t *timer;           //  API Gateway integration timeout, while waiting
    emu_reply_t *reply;           //  ready after the invocation completed
    bool completed;               //  the invocation completed (reply NULL: no memory)
    bool waiting;                 //  suspended on the invocation
    s_request_t *prev, *next;     //  list of waiting requests
};

struct _emu_frontdoor_t {
    emu_loop_t *loop; //  borrowed
    bool verbose;
    uint16_t port;
    struct MHD_Daemon *daemon;
    emu_loop_mhd_t *source;
    emu_rxstamp_t *rxstamp; //  receive times of the daemon's connections
    emu_function_t *functions[EMU_CONFIG_FUNCTIONS_MAX]; //  borrowed, without an account
    size_t function_count;
    emu_account_t *account;      //  borrowed; NULL until set
    int httpapi_throttle_status; //  500 or 429
    int64_t rest_timeout_ns;     //  REST API integration timeout
    int64_t http_timeout_ns;     //  HTTP API integration timeout
    s_request_t *waiting;        //  suspended requests
    FILE *access_log;            //  borrowed; NULL when not logging
    emu_frontdoor_stats_t stats;
    sp_log_limit_t mhd_log; //  rate limit of MHD's messages
};

//  MHD's complaints about malformed requests, at most S_LOG_PER_S a
//  second: bad input must not flood the log.
static void s_log_mhd(void *cls, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));

static void
s_log_mhd(void *cls, const char *format, va_list args)
{
    emu_frontdoor_t *self = cls;
    char text[256];
    vsnprintf(text, sizeof text, format, args);
    text[strcspn(text, "\n")] = '\0';
    sp_log_warning(&self->mhd_log, "front door: %s", text);
}

//  The served function called `name` (a valid plain name), or NULL.
static emu_function_t *
s_lookup(emu_frontdoor_t *self, const char *name)
{
    if (self->account) {
        size_t count = emu_account_function_count(self->account);
        for (size_t i = 0; i < count; i++) {
            emu_function_t *function = emu_account_function_at(self->account, i);
            if (strcmp(emu_function_name(function), name) == 0)
                return function;
        }
        return NULL;
    }
    for (size_t i = 0; i < self->function_count; i++)
        if (strcmp(emu_function_name(self->functions[i]), name) == 0)
            return self->functions[i];
    return NULL;
}

//  The access-log line for the answer `status` to `req`; a line that
//  cannot be written is counted, and logged the first time.
static void
s_access_log(emu_frontdoor_t *self, s_request_t *req, int status, int64_t answered_ns,
             bool delivered)
{
    emu_doorlog_line_t line = {
        .received_ns = req->received_ns,
        .answered_ns = answered_ns,
        .status = status,
        .function = req->function ? emu_function_name(req->function) : NULL,
        .request_id = req->request_id,
        .door = emu_route_door_name(req->kind),
        .delivered = delivered,
    };
    errno = 0;
    if (emu_doorlog_write(self->access_log, &line) && self->stats.log_errors++ == 0)
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
    if (req->throttled)
        self->stats.throttled++;
    else if (status >= 200 && status < 300)
        self->stats.ok++;
    else
        self->stats.errors++;
    if (self->verbose)
        zsys_debug("request answered request_id=%s door=%s status=%d", req->request_id,
                   emu_route_door_name(req->kind), status);
    if (self->access_log)
        s_access_log(self, req, status, sp_clock_wall_ns(), true);
    req->answered = true;
    if (req->body && emu_doorbody_too_large(req->body))
        MHD_set_connection_option(req->connection, MHD_CONNECTION_OPTION_TIMEOUT,
                                  S_IDLE_TIMEOUT_S);
    enum MHD_Result rc = emu_reply_queue(reply, req->connection);
    emu_reply_destroy(&reply);
    return rc;
}

//  The door's answer to a request body over its limit: a function door's
//  (emu_doormap), or the management API's.
static emu_reply_t *
s_too_large(s_request_t *req)
{
    if (req->kind != EMU_ROUTE_NONE)
        return emu_doormap_too_large(req->kind, req->type,
                                     emu_doorbody_length(req->body));
    emu_aws_error_t err;
    emu_aws_error_set(&err, 413, "RequestEntityTooLargeException",
                      "Request must be smaller than %d bytes", EMU_MGMT_BODY_MAX);
    return emu_doormap_aws(&err);
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

//  The answer is ready in req->reply (NULL: out of memory): wake the
//  connection. MHD then asks for it (s_handle), or, when it sees first
//  that the client left, ends the request (s_request_completed logs the
//  answer as undelivered). Either way the request gets one log line.
static void
s_wake(emu_frontdoor_t *self, s_request_t *req)
{
    emu_loop_timer_cancel(self->loop, &req->timer);
    req->completed = true;
    s_unlink(self, req);
    MHD_resume_connection(req->connection);
    emu_loop_mhd_kick(self->loop, self->source);
}

//  The invocation is over: map it as its door does, wake the connection.
static void
s_invocation_done(emu_invocation_t *invocation, void *arg)
{
    s_request_t *req = arg;
    emu_frontdoor_t *self = req->door;
    req->reply = emu_doormap_reply(req->kind, invocation, req->tail);
    emu_invocation_destroy(&req->invocation);
    s_wake(self, req);
}

//  The late end of an invocation whose client got the gateway's timeout
//  answer: nobody waits for it any more.
static void
s_abandoned_done(emu_invocation_t *invocation, void *arg)
{
    emu_frontdoor_t *self = arg;
    assert(self->stats.abandoned > 0);
    self->stats.abandoned--;
    if (self->verbose)
        zsys_debug("late answer dropped request_id=%s outcome=%s",
                   emu_invocation_request_id(invocation),
                   emu_invocation_outcome_name(emu_invocation_outcome(invocation)));
    emu_invocation_destroy(&invocation);
}

//  An API Gateway door waited its integration timeout: the client gets
//  the gateway's answer now, through the same wake-up as a function's
//  answer. The function runs on to its own end (its environment is not
//  touched); the invocation is handed to s_abandoned_done, which drops
//  its answer.
static void
s_gateway_timeout(emu_loop_t *loop, void *arg)
{
    s_request_t *req = arg;
    emu_frontdoor_t *self = req->door;
    req->timer = NULL;
    assert(req->waiting && req->invocation);
    emu_invocation_set_done(req->invocation, s_abandoned_done, self);
    req->invocation = NULL;
    self->stats.abandoned++;
    self->stats.timeouts++;
    if (self->verbose)
        zsys_debug("integration timed out request_id=%s door=%s", req->request_id,
                   emu_route_door_name(req->kind));
    req->reply = emu_doormap_timeout(req->kind, req->request_id);
    s_wake(self, req);
}

//  Dispatches the invocation of `*event_p` (consumed), with the client
//  context `client_context` (NULL when none), to the request's function
//  and qualifier: suspends the connection until it completes, or answers
//  the refusal at once.
static enum MHD_Result
s_invoke(emu_frontdoor_t *self, s_request_t *req, char **event_p, size_t event_len,
         const char *client_context, size_t client_context_len)
{
    emu_invocation_t *invocation =
        emu_invocation_new(req->request_id, event_p, event_len, s_invocation_done, req);
    if (!invocation)
        return MHD_NO;
    emu_invocation_set_received_ns(invocation, req->received_ns);
    if (client_context && emu_invocation_set_client_context(invocation, client_context,
                                                            client_context_len)) {
        emu_invocation_destroy(&invocation);
        return MHD_NO;
    }
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    switch (emu_function_dispatch(req->function, req->qualifier, invocation, &err)) {
    case EMU_FUNCTION_DISPATCH_OK:
        break;
    case EMU_FUNCTION_DISPATCH_REFUSED: {
        emu_invocation_destroy(&invocation);
        emu_reply_t *reply = emu_doormap_refused(
            req->kind, &err, self->httpapi_throttle_status, &req->throttled);
        return s_answer(req, &reply);
    }
    case EMU_FUNCTION_DISPATCH_FAILED: {
        emu_invocation_destroy(&invocation);
        emu_aws_error_set(&err, 500, "ServiceException", "Out of memory");
        emu_reply_t *reply = emu_doormap_aws(&err);
        return s_answer(req, &reply);
    }
    }
    req->invocation = invocation;
    req->waiting = true;
    req->next = self->waiting;
    if (self->waiting)
        self->waiting->prev = req;
    self->waiting = req;
    self->stats.waiting++;
    if (req->kind == EMU_ROUTE_REST_API || req->kind == EMU_ROUTE_HTTP_API) {
        int64_t timeout_ns = req->kind == EMU_ROUTE_REST_API ? self->rest_timeout_ns
                                                             : self->http_timeout_ns;
        req->timer = emu_loop_timer_start(self->loop, timeout_ns, s_gateway_timeout, req);
        if (!req->timer)
            zsys_warning("no integration timeout: out of memory request_id=%s",
                         req->request_id);
    }
    MHD_suspend_connection(req->connection);
    return MHD_YES;
}

//  Would the function run an invocation now? A throttle is decided before
//  any work on the event: in a burst most requests are throttled, and
//  they are answered at once. Returns 0, or -1 with `*reply_p` set.
static int
s_admit(s_request_t *req, emu_reply_t **reply_p)
{
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    if (emu_function_admit(req->function, req->qualifier, &err) == 0)
        return 0;
    if (err.status == 429)
        emu_function_count_throttle(req->function);
    *reply_p = emu_doormap_refused(req->kind, &err, req->door->httpapi_throttle_status,
                                   &req->throttled);
    return -1;
}

//  Function URL, REST API and HTTP API: an HTTP request becomes the event
//  of the door's payload format.
static enum MHD_Result
s_dispatch_http(emu_frontdoor_t *self, s_request_t *req, const char *method,
                const char *version)
{
    emu_reply_t *reply = NULL;
    if (!req->function)
        reply = emu_doormap_not_found(req->kind);
    else if (emu_doorbody_too_large(req->body))
        reply = s_too_large(req);
    if (reply || s_admit(req, &reply) != 0)
        return s_answer(req, &reply);
    emu_invocation_new_id(req->request_id);

    emu_doorevent_request_t request = {.route = &req->route,
                                       .method = method,
                                       .version = version,
                                       .request_id = req->request_id,
                                       .received_ns = req->received_ns};
    request.body = emu_doorbody_data(req->body, &request.body_len);
    size_t event_len = 0;
    char *event = emu_doorevent_read(req->kind, req->connection, &request, &event_len);
    if (!event)
        return MHD_NO;
    if (event_len > EMU_LIMIT_PAYLOAD_MAX) {
        free(event);
        reply = s_too_large(req);
        return s_answer(req, &reply);
    }
    return s_invoke(self, req, &event, event_len, NULL, 0);
}

//  The function an Invoke API request names and the qualifier it invokes.
//  0, or -1 with the error.
static int
s_invoke_target(emu_frontdoor_t *self, s_request_t *req, emu_aws_error_t *err)
{
    const emu_route_url_t *route = &req->route;
    char derived[EMU_FUNCTION_QUALIFIER_MAX + 1] = "";
    if (self->account)
        req->function = emu_account_lookup(self->account, route->function, derived, err);
    else {
        //  Functions added one by one answer to their plain names only.
        size_t len = strlen(route->function);
        req->function = emu_route_valid_name(route->function, len)
                            ? s_lookup(self, route->function)
                            : NULL;
        if (!req->function)
            emu_aws_error_function_not_found(
                err, emu_route_valid_name(route->function, len) ? route->function : "-",
                NULL);
    }
    if (!req->function)
        return -1;
    if (emu_invoke_qualifier(derived, route->qualifier, route->qualifier_len,
                             route->has_qualifier, req->qualifier, err))
        return -1;
    const char *version = NULL;
    return emu_function_resolve(req->function, req->qualifier, &version, err);
}

//  The Invoke API: the body is the event.
static enum MHD_Result
s_dispatch_invoke(emu_frontdoor_t *self, s_request_t *req)
{
    struct MHD_Connection *connection = req->connection;
    emu_invoke_options_t options;
    emu_aws_error_t err;
    emu_reply_t *reply = NULL;
    size_t body_len = 0;
    const char *body = emu_doorbody_data(req->body, &body_len);
    if (emu_invoke_parse_options(
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                        "X-Amz-Invocation-Type"),
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Amz-Log-Type"),
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                        "X-Amz-Client-Context"),
            &options, &err) ||
        s_invoke_target(self, req, &err))
        reply = emu_doormap_aws(&err);
    else if (options.type == EMU_INVOKE_DRY_RUN)
        reply = emu_invoke_dry_run();
    else if (emu_doorbody_too_large(req->body))
        reply = s_too_large(req);
    else if (emu_invoke_check_payload(options.type, body, body_len, &err))
        reply = emu_doormap_aws(&err);
    if (reply)
        return s_answer(req, &reply);

    emu_invocation_new_id(req->request_id);
    size_t event_len = 0;
    if (options.type == EMU_INVOKE_EVENT) {
        char *event = emu_invoke_event(body, body_len, &event_len);
        if (!event)
            return MHD_NO;
        if (emu_function_enqueue(req->function, req->qualifier, req->request_id, &event,
                                 event_len, &err) == 0)
            reply = emu_invoke_accepted();
        else
            reply = emu_doormap_aws(&err);
        free(event); //  NULL once the function took it
        return s_answer(req, &reply);
    }
    req->tail = options.tail;
    if (s_admit(req, &reply) != 0)
        return s_answer(req, &reply);
    char *event = emu_invoke_event(body, body_len, &event_len);
    if (!event)
        return MHD_NO;
    char context[EMU_INVOCATION_CLIENT_CONTEXT_MAX + 1];
    size_t context_len = emu_invoke_client_context(&options, context);
    return s_invoke(self, req, &event, event_len, context_len ? context : NULL,
                    context_len);
}

//  The management API, or nobody's.
static enum MHD_Result
s_dispatch_mgmt(emu_frontdoor_t *self, s_request_t *req, const char *method)
{
    emu_reply_t *reply = NULL;
    size_t body_len = 0;
    const char *body = emu_doorbody_data(req->body, &body_len);
    if (emu_doorbody_too_large(req->body))
        reply = s_too_large(req);
    else if (self->account)
        reply = emu_mgmt_handle(self->account, method, req->target, body, body_len);
    if (!reply)
        reply = emu_doormap_not_found(req->kind);
    return s_answer(req, &reply);
}

static enum MHD_Result
s_dispatch(emu_frontdoor_t *self, s_request_t *req, const char *method,
           const char *version)
{
    if (req->route.door == EMU_ROUTE_BAD_NAME && req->kind != EMU_ROUTE_NONE) {
        emu_reply_t *reply = emu_doormap_not_found(req->kind);
        return s_answer(req, &reply);
    }
    switch (req->kind) {
    case EMU_ROUTE_FUNCTION_URL:
    case EMU_ROUTE_REST_API:
    case EMU_ROUTE_HTTP_API:
        return s_dispatch_http(self, req, method, version);
    case EMU_ROUTE_INVOKE:
        return s_dispatch_invoke(self, req);
    case EMU_ROUTE_NONE:
    case EMU_ROUTE_BAD_NAME:
        break;
    }
    if (strcmp(method, "POST") == 0 && emu_invoke_streaming_path(req->target)) {
        emu_aws_error_t err;
        emu_invoke_streaming_refused(&err);
        emu_reply_t *reply = emu_doormap_aws(&err);
        return s_answer(req, &reply);
    }
    return s_dispatch_mgmt(self, req, method);
}

//  The request body is over a drain bound (or declared far over its
//  limit): the 413 now, unread; MHD closes the connection after it.
static enum MHD_Result
s_refuse_body(s_request_t *req)
{
    emu_reply_t *reply = s_too_large(req);
    return s_answer(req, &reply);
}

//  Draining has started: a client that stalls is dropped after the drain
//  time instead of the idle timeout (restored once answered).
static void
s_bound_drain(s_request_t *req)
{
    MHD_set_connection_option(req->connection, MHD_CONNECTION_OPTION_TIMEOUT,
                              (unsigned)EMU_DOORBODY_DRAIN_S);
}

//  Headers seen: which door, which function, how much body it may keep.
//  Returns MHD_YES to read the body (kept, or drained when over the
//  limit), or the answer to a declared body past the drain cap, refused
//  before it is read.
static enum MHD_Result
s_start(emu_frontdoor_t *self, s_request_t *req, const char *method)
{
    emu_route_parse_url(req->target, &req->route);
    req->kind = req->route.named;
    if (req->kind == EMU_ROUTE_INVOKE && strcmp(method, "POST") != 0)
        req->kind = EMU_ROUTE_NONE;
    req->body = emu_doorbody_new(req->kind == EMU_ROUTE_NONE ? EMU_MGMT_BODY_MAX
                                                             : EMU_LIMIT_PAYLOAD_MAX);
    if (!req->body)
        return MHD_NO;
    const char *type = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                   "X-Amz-Invocation-Type");
    req->type = type && strcmp(type, "Event") == 0 ? EMU_INVOKE_EVENT
                                                   : EMU_INVOKE_REQUEST_RESPONSE;
    bool path_door = req->kind == EMU_ROUTE_FUNCTION_URL ||
                     req->kind == EMU_ROUTE_REST_API || req->kind == EMU_ROUTE_HTTP_API;
    if (path_door && req->route.door != EMU_ROUTE_BAD_NAME) {
        req->function = s_lookup(self, req->route.function);
        snprintf(req->qualifier, sizeof req->qualifier, "%.*s",
                 (int)req->route.qualifier_len, req->route.qualifier);
    }
    const char *length =
        MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "Content-Length");
    if (emu_doorbody_declare(req->body, length, sp_clock_mono_ns()) ==
        EMU_DOORBODY_REFUSE)
        return s_refuse_body(req);
    if (emu_doorbody_too_large(req->body))
        s_bound_drain(req);
    return MHD_YES;
}

//  `len` bytes of request body: kept, drained, or over a drain bound.
static enum MHD_Result
s_receive(s_request_t *req, const char *data, size_t len)
{
    if (req->answered)
        return MHD_YES; //  refused already: MHD discards the rest
    bool draining = emu_doorbody_too_large(req->body);
    switch (emu_doorbody_append(req->body, data, len, sp_clock_mono_ns())) {
    case EMU_DOORBODY_READ:
        break;
    case EMU_DOORBODY_REFUSE:
        return s_refuse_body(req);
    case EMU_DOORBODY_FAILED:
        return MHD_NO;
    }
    if (!draining && emu_doorbody_too_large(req->body))
        s_bound_drain(req);
    return MHD_YES;
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
        return s_start(self, req, method);
    }
    if (*upload_data_size > 0) {
        size_t len = *upload_data_size;
        *upload_data_size = 0;
        return s_receive(req, upload_data, len);
    }
    if (req->answered && !req->reply)
        return MHD_YES;
    if (req->reply)
        return s_answer(req, &req->reply);
    if (req->waiting || req->invocation || req->completed)
        return MHD_NO; //  resumed without an answer: shutdown, or out of memory
    req->received_ns = emu_rxstamp_take(self->rxstamp, connection);
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
    emu_loop_timer_cancel(req->door->loop, &req->timer);
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
    emu_doorbody_destroy(&req->body);
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
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    sp_log_limit_init(&self->mhd_log, "front door: messages not logged", S_LOG_PER_S,
                      SP_NS_PER_S);
    self->loop = loop;
    self->verbose = verbose;
    self->httpapi_throttle_status = 500;
    self->rest_timeout_ns = (int64_t)EMU_CONFIG_APIGW_TIMEOUT_DEFAULT * SP_NS_PER_S;
    self->http_timeout_ns = (int64_t)EMU_CONFIG_HTTPAPI_TIMEOUT_DEFAULT * SP_NS_PER_S;
    int fd = emu_listener_open(listen, S_BACKLOG, &self->port, err, err_size);
    if (fd < 0)
        goto fail;
    self->rxstamp = emu_rxstamp_new(loop, fd);
    if (!self->rxstamp) {
        close(fd);
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    self->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_handle, self, MHD_OPTION_EXTERNAL_LOGGER, s_log_mhd, self,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_URI_LOG_CALLBACK, s_request_new, self,
        MHD_OPTION_NOTIFY_COMPLETED, s_request_completed, self,
        MHD_OPTION_NOTIFY_CONNECTION, emu_rxstamp_notify, self->rxstamp,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)EMU_FRONTDOOR_CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, S_MEMORY_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        S_IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (!self->daemon) {
        close(fd);
        sp_err_set(err, err_size, "cannot start the front door daemon");
        goto fail;
    }
    self->source = emu_loop_mhd_add(loop, self->daemon);
    if (!self->source || emu_rxstamp_drive(self->rxstamp, self->source)) {
        sp_err_set(err, err_size, "cannot drive the front door daemon");
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
        //  Nothing may stay suspended when MHD stops, nor run on unowned.
        assert(!self->waiting && self->stats.abandoned == 0);
        emu_rxstamp_drive(self->rxstamp, NULL);
        emu_loop_mhd_remove(self->loop, &self->source);
        MHD_run(self->daemon);
        MHD_stop_daemon(self->daemon);
    }
    emu_rxstamp_destroy(&self->rxstamp);
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
emu_frontdoor_set_gateway_timeouts(emu_frontdoor_t *self, int64_t rest_ns,
                                   int64_t http_ns)
{
    assert(self && rest_ns > 0 && http_ns > 0);
    self->rest_timeout_ns = rest_ns;
    self->http_timeout_ns = http_ns;
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
    emu_rxstamp_stats_t rx;
    emu_rxstamp_stats(self->rxstamp, &rx);
    stats->rx_kernel = rx.stamped;
    stats->rx_coarse = rx.coarse;
    stats->rx_loop = rx.fallbacks;
}
