/*  ctl_http — HTTP API and dashboard on libmicrohttpd; see ctl_http.h.

    One request is an "exchange": the first call of the access handler sees
    the headers and runs every check that needs no body
    (ctl_http_request_check), answering at once when one fails, so an
    unauthorised or oversized POST is refused before its body is read. The
    body is then collected up to CTL_HTTP_MAX_BODY (beyond it, dropped and
    answered with 413 once it ends; a client that keeps sending past
    S_MAX_DISCARD is disconnected), and the final call acts: it reads the
    store or forwards a command to the controller core and answers with
    JSON. Before any of it, ctl_http_guard checks the Host (and a POST's
    Origin); a run command's target is checked against the allow-list
    before it is forwarded.

    Every response carries the same security headers; the page's strict
    Content-Security-Policy is what lets it show run data safely.
*/
#include "ctl_http.h"
#include "ctl_config.h"
#include "ctl_http_events.h"
#include "ctl_http_guard.h"
#include "ctl_http_views.h"
#include "proto_codec.h"
#include "sp_addr.h"
#include "sp_allow.h"
#include "sp_err.h"
#include "sp_hostport.h"
#include "sp_log.h"
#include "store_api.h"

#include "sp_clock.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_CSP                                                                            \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "    \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
//  Body bytes dropped past the cap before we hang up. libmicrohttpd 0.9.75
//  takes no answer while a body is still arriving (MHD_queue_response fails
//  until the request is complete), so a chunked body past the cap is read
//  and dropped, never stored, and answered 413 at its end; one past this
//  ceiling is cut off.
#define S_MAX_DISCARD (16 * 1024 * 1024)
#define S_MAX_REPLY (4 * 1024 * 1024) //  a controller reply, bytes
#define S_MAX_CONNECTIONS 128
#define S_CONNECTION_TIMEOUT_S 30
#define S_LOG_WINDOW_NS (10 * SP_NS_PER_S)
#define S_LOG_PER_WINDOW 10 //  rejected-request warnings per window

struct _ctl_http_t {
    struct MHD_Daemon *daemon; //  libmicrohttpd; its internal thread runs s_handle
    store_t *store;            //  read connection on the results db; daemon thread only
    zsock_t *command;          //  REQ to the controller; daemon thread only; NULL
                               //  until first use and after a timeout
    char *token;               //  bearer token every /api/ request needs, or NULL
    char *command_endpoint;    //  the controller's command socket, or NULL
    char *listen_host;         //  host of the listen address as given ("[::1]" bracketed)
    char *public_host;         //  --public-host, or NULL
    char **allow;              //  target allow-list patterns, allow_count of them
    size_t allow_count;        //  0: loopback targets only
    int port;                  //  bound TCP port
    sp_log_limit_t rejected;   //  budget of rejected-request warnings
    ctl_http_events_t *events; //  server-sent event streams
    char *snapshot;            //  the last event snapshot; daemon thread only
    int64_t snapshot_ns;       //  monotonic time it was built
    int64_t status_retry_ns;   //  monotonic: no status command for snapshots before
    ctl_lambda_t lambda;       //  the function behind the runs, when has_lambda
    bool has_lambda;
};

#define S_STATUS_BACKOFF_NS (10 * SP_NS_PER_S) //  after the core failed to answer one

#define S_SNAPSHOT_REUSE_NS (200 * SP_NS_PER_MS) //  streams share a snapshot this long

//  One request in flight, from its first handler call to completion.
typedef struct {
    ctl_http_request_t request; //  what the header checks decided
    int status;                 //  non-zero: answer this error once the body is in
    char error[256];            //  message for that status
    char *body;                 //  received body, at most CTL_HTTP_MAX_BODY bytes
    size_t body_size;
    size_t discarded; //  body bytes past the cap, dropped
    bool responded;   //  a response is queued
} s_exchange_t;

//  ---------------------------------------------------------------------
//  Responses

//  Logs a rejected request, at most S_LOG_PER_WINDOW per window.
static void
s_log_rejected(ctl_http_t *self, int status, const char *method, const char *path,
               const char *reason)
{
    if (!sp_log_limit_take(&self->rejected, sp_clock_mono_ns()))
        return;
    char safe_method[24], safe_path[128], safe_reason[256];
    ctl_http_printable(safe_method, sizeof safe_method, method);
    ctl_http_printable(safe_path, sizeof safe_path, path);
    ctl_http_printable(safe_reason, sizeof safe_reason, reason);
    zsys_warning("http request rejected status=%d method=%s path=%s reason=\"%s\"",
                 status, safe_method, safe_path, safe_reason);
}

static enum MHD_Result
s_queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *response,
        const char *content_type, const char *allow)
{
    if (!response)
        return MHD_NO;
    bool ok =
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) &&
        MHD_add_response_header(response, "Content-Security-Policy", S_CSP) &&
        MHD_add_response_header(response, "X-Content-Type-Options", "nosniff") &&
        MHD_add_response_header(response, "Referrer-Policy", "no-referrer") &&
        MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (ok && allow)
        ok = MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    if (ok && status == MHD_HTTP_UNAUTHORIZED)
        ok =
            MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result result = ok ? MHD_queue_response(conn, status, response) : MHD_NO;
    MHD_destroy_response(response);
    return result;
}

//  Answers with body serialised; takes the reference.
static enum MHD_Result
s_respond_json(struct MHD_Connection *conn, unsigned status, json_t *body,
               const char *allow)
{
    char *text = body ? json_dumps(body, CTL_HTTP_JSON_FLAGS) : NULL;
    json_decref(body);
    if (!text) {
        static const char fallback[] = "{\"error\":\"internal error\"}";
        return s_queue(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                       MHD_create_response_from_buffer(strlen(fallback), (void *)fallback,
                                                       MHD_RESPMEM_PERSISTENT),
                       CTL_HTTP_JSON_TYPE, NULL);
    }
    return s_queue(
        conn, status,
        MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free),
        CTL_HTTP_JSON_TYPE, allow);
}

static enum MHD_Result
s_respond_error(ctl_http_t *self, struct MHD_Connection *conn, unsigned status,
                const char *message, const char *allow, const char *method,
                const char *path)
{
    s_log_rejected(self, (int)status, method, path, message);
    return s_respond_json(conn, status, json_pack("{s:s}", "error", message), allow);
}

//  ---------------------------------------------------------------------
//  The controller's command socket

//  Sends command (borrowed) and waits for the reply. Returns 0 with
//  *reply (caller owns), or the status to answer with and a message.
static int
s_command(ctl_http_t *self, json_t *command, json_t **reply, char *err, size_t err_size)
{
    *reply = NULL;
    if (!self->command_endpoint) {
        sp_err_set(err, err_size, "no controller to send commands to");
        return 503;
    }
    if (!self->command) {
        self->command = zsock_new(ZMQ_REQ);
        if (!self->command) {
            sp_err_set(err, err_size, "cannot reach the controller");
            return 503;
        }
        zsock_set_sndtimeo(self->command, CTL_HTTP_COMMAND_TIMEOUT_MS);
        zsock_set_rcvtimeo(self->command, CTL_HTTP_COMMAND_TIMEOUT_MS);
        zsock_set_linger(self->command, 0);
        if (zsock_connect(self->command, "%s", self->command_endpoint) != 0) {
            zsys_warning("http cannot connect to the controller endpoint=%s",
                         self->command_endpoint);
            zsock_destroy(&self->command);
            sp_err_set(err, err_size, "cannot reach the controller");
            return 503;
        }
    }
    int status = 502;
    zmsg_t *msg = NULL;
    char *text = json_dumps(command, JSON_COMPACT);
    if (!text) {
        sp_err_set(err, err_size, "out of memory");
        return 500;
    }
    if (zstr_send(self->command, text) != 0) {
        sp_err_set(err, err_size, "the controller did not take the command within %d ms",
                   CTL_HTTP_COMMAND_TIMEOUT_MS);
        status = 504;
        goto stuck;
    }
    msg = zmsg_recv(self->command);
    if (!msg) {
        sp_err_set(err, err_size, "the controller did not answer within %d ms",
                   CTL_HTTP_COMMAND_TIMEOUT_MS);
        status = 504;
        goto stuck;
    }
    zframe_t *frame = zmsg_first(msg);
    json_error_t error;
    if (zmsg_size(msg) == 1 && zframe_size(frame) <= S_MAX_REPLY)
        *reply =
            json_loadb((const char *)zframe_data(frame), zframe_size(frame), 0, &error);
    if (!json_is_object(*reply)) {
        json_decref(*reply);
        *reply = NULL;
        zsys_warning("http invalid reply from the controller");
        sp_err_set(err, err_size, "the controller sent an invalid reply");
        status = 502;
        goto out;
    }
    status = 0;
    goto out;
stuck:
    //  A REQ socket that missed its reply cannot send again: start afresh.
    zsys_warning("http controller command timed out; reconnecting endpoint=%s",
                 self->command_endpoint);
    zsock_destroy(&self->command);
out:
    zmsg_destroy(&msg);
    free(text);
    return status;
}

//  The controller's {"error": "...", "status": 4xx/5xx} as a response.
static enum MHD_Result
s_respond_controller_error(ctl_http_t *self, struct MHD_Connection *conn, json_t *reply,
                           const char *method, const char *path)
{
    json_int_t status = json_integer_value(json_object_get(reply, "status"));
    const char *message = json_string_value(json_object_get(reply, "error"));
    if (status < 400 || status > 599)
        status = 500;
    return s_respond_error(self, conn, (unsigned)status,
                           message ? message : "the controller refused the command", NULL,
                           method, path);
}

//  ---------------------------------------------------------------------
//  Endpoints

//  With serve --function, the function's reserved concurrency now, into a
//  run command that does not give one.
static void
s_add_reserved(ctl_http_t *self, json_t *command)
{
    if (!self->has_lambda || json_object_get(command, "reserved_configured"))
        return;
    int32_t reserved;
    char err[512];
    if (ctl_lambda_get_reserved(&self->lambda, &reserved, err, sizeof err) == 0)
        json_object_set_new(command, "reserved_configured", json_integer(reserved));
    else
        zsys_warning("http: the run goes without the function's reserved concurrency: %s",
                     err);
}

//  A read-only route, answered from the store (ctl_http_views).
static enum MHD_Result
s_serve_view(ctl_http_t *self, struct MHD_Connection *conn, ctl_http_request_t *request,
             const char *method, const char *path)
{
    char err[256];
    json_t *body = NULL;
    int64_t stream_run_id = 0;
    int status = ctl_http_views_answer(self->store, request, &body, &stream_run_id, err,
                                       sizeof err);
    if (status != MHD_HTTP_OK)
        return s_respond_error(self, conn, (unsigned)status, err, NULL, method, path);
    if (request->route == CTL_HTTP_ROUTE_CSV)
        return s_queue(conn, MHD_HTTP_OK, ctl_http_views_csv(self->store, stream_run_id),
                       CTL_HTTP_VIEWS_CSV_TYPE, NULL);
    if (stream_run_id)
        return s_queue(conn, MHD_HTTP_OK,
                       ctl_http_views_stream(self->store, stream_run_id, &body),
                       CTL_HTTP_JSON_TYPE, NULL);
    return s_respond_json(conn, MHD_HTTP_OK, body, NULL);
}

//  The live picture every event stream sends: the controller's status
//  (agents, active and last run; null when it cannot be asked) and the
//  progress and original metrics of the active run, else the newest one.
//  Built at most once per S_SNAPSHOT_REUSE_NS for all streams.
static char *
s_snapshot(void *arg)
{
    ctl_http_t *self = arg;
    int64_t now = sp_clock_mono_ns();
    if (self->snapshot && now - self->snapshot_ns < S_SNAPSHOT_REUSE_NS)
        return strdup(self->snapshot);
    json_t *status = NULL, *command = NULL;
    char err[256];
    //  A core that did not answer is not asked again for a while: every
    //  snapshot would otherwise hold this thread for the whole timeout.
    if (now >= self->status_retry_ns) {
        command = json_pack("{s:s}", "action", "status");
        int failed = command ? s_command(self, command, &status, err, sizeof err) : 500;
        if (failed == 504)
            self->status_retry_ns = sp_clock_mono_ns() + S_STATUS_BACKOFF_NS;
    }
    if (!status || json_object_get(status, "error")) {
        json_decref(status);
        status = json_null();
    }
    json_decref(command);
    json_int_t run_id = json_integer_value(json_object_get(status, "active_run"));
    if (run_id <= 0)
        run_id = store_latest_run(self->store);
    json_t *run = json_null();
    if (run_id > 0) {
        json_t *progress =
            store_rows_progress_json(self->store, run_id, sp_clock_wall_ns());
        json_t *metrics = store_rows_original_json(self->store, run_id);
        if (progress && metrics && json_object_set_new(progress, "metrics", metrics) == 0)
            run = progress;
        else {
            json_decref(progress);
            json_decref(metrics);
        }
    }
    json_t *snapshot = json_pack("{s:o, s:o}", "status", status, "run", run);
    char *text = snapshot ? json_dumps(snapshot, CTL_HTTP_JSON_FLAGS) : NULL;
    json_decref(snapshot);
    if (text) {
        free(self->snapshot);
        self->snapshot = strdup(text);
        self->snapshot_ns = now;
    }
    return text;
}

static enum MHD_Result
s_dispatch(ctl_http_t *self, struct MHD_Connection *conn, s_exchange_t *ex,
           const char *method, const char *path)
{
    ctl_http_request_t *request = &ex->request;
    char err[256];
    json_t *reply = NULL;
    int status;
    switch (request->route) {
    case CTL_HTTP_ROUTE_ASSET:
        return s_queue(conn, MHD_HTTP_OK,
                       MHD_create_response_from_buffer(request->asset->size,
                                                       (void *)request->asset->data,
                                                       MHD_RESPMEM_PERSISTENT),
                       request->asset->content_type, NULL);
    case CTL_HTTP_ROUTE_RUNS:
    case CTL_HTTP_ROUTE_RUN:
    case CTL_HTTP_ROUTE_FILE:
    case CTL_HTTP_ROUTE_RESULTS:
    case CTL_HTTP_ROUTE_FILES:
    case CTL_HTTP_ROUTE_ROWS:
    case CTL_HTTP_ROUTE_CHARTS:
    case CTL_HTTP_ROUTE_CSV:
        return s_serve_view(self, conn, request, method, path);
    case CTL_HTTP_ROUTE_STATUS: {
        json_t *command = json_pack("{s:s}", "action", "status");
        if (!command)
            return s_respond_error(self, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "out of memory", NULL, method, path);
        status = s_command(self, command, &reply, err, sizeof err);
        json_decref(command);
        if (status)
            return s_respond_error(self, conn, (unsigned)status, err, NULL, method, path);
        if (json_object_get(reply, "error")) {
            enum MHD_Result result =
                s_respond_controller_error(self, conn, reply, method, path);
            json_decref(reply);
            return result;
        }
        return s_respond_json(conn, MHD_HTTP_OK, reply, NULL);
    }
    case CTL_HTTP_ROUTE_TEST: {
        s_add_reserved(self, request->command);
        status = s_command(self, request->command, &reply, err, sizeof err);
        if (status)
            return s_respond_error(self, conn, (unsigned)status, err, NULL, method, path);
        json_t *run_id = json_object_get(reply, "run_id");
        enum MHD_Result result;
        if (json_is_integer(run_id) && json_integer_value(run_id) >= 1) {
            zsys_notice("http run requested run_id=%" JSON_INTEGER_FORMAT,
                        json_integer_value(run_id));
            result = s_respond_json(conn, MHD_HTTP_ACCEPTED,
                                    json_pack("{s:O}", "run_id", run_id), NULL);
        } else if (json_object_get(reply, "error"))
            result = s_respond_controller_error(self, conn, reply, method, path);
        else
            result = s_respond_error(self, conn, MHD_HTTP_BAD_GATEWAY,
                                     "the controller sent an invalid reply", NULL, method,
                                     path);
        json_decref(reply);
        return result;
    }
    case CTL_HTTP_ROUTE_EVENTS: {
        struct MHD_Response *response =
            ctl_http_events_response(self->events, conn, s_snapshot, self);
        if (!response)
            return s_respond_error(self, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                   "too many event streams", NULL, method, path);
        return s_queue(conn, MHD_HTTP_OK, response, "text/event-stream", NULL);
    }
    case CTL_HTTP_ROUTE_NONE:
        break;
    }
    return s_respond_error(self, conn, MHD_HTTP_NOT_FOUND, "not found", NULL, method,
                           path);
}

//  ---------------------------------------------------------------------
//  libmicrohttpd callbacks (daemon thread)

static enum MHD_Result
s_sum_argument(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    size_t *sum = cls;
    *sum += strlen(key) + (value ? strlen(value) : 0) + 2;
    return MHD_YES;
}

static void
s_input(struct MHD_Connection *conn, const char *url, const char *method,
        ctl_http_input_t *in)
{
    memset(in, 0, sizeof *in);
    in->method = method;
    in->path = url;
    in->url_size = strlen(url);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, s_sum_argument, &in->url_size);
    in->limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    in->requests = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "requests");
    in->content_type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    in->authorization =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    in->offset = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "offset");
    in->sort = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sort");
    in->order = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "order");
    in->outcome = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "outcome");
    in->q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "q");
    in->since = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since");
    in->until = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "until");
}

//  True when the client announced a body larger than the cap.
static bool
s_announced_too_large(struct MHD_Connection *conn)
{
    const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!length)
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(length, &end, 10);
    //  libmicrohttpd has already refused a malformed length.
    return end != length && (errno == ERANGE || value > CTL_HTTP_MAX_BODY);
}

//  The connection's local address as a Host would name it ("[::1]"
//  bracketed) into out; false when it cannot be read.
static bool
s_local_host(struct MHD_Connection *conn, char *out, size_t out_size, bool *loopback)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (!info || getsockname(info->connect_fd, (struct sockaddr *)&addr, &len) != 0)
        return false;
    char text[INET6_ADDRSTRLEN];
    if (addr.ss_family == AF_INET) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&addr;
        if (!inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text))
            return false;
        snprintf(out, out_size, "%s", text);
    } else if (addr.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text))
            return false;
        snprintf(out, out_size, "[%s]", text);
    } else
        return false;
    *loopback = sp_addr_is_loopback(out);
    return true;
}

//  Host on every request (421), Origin on a POST (403): ctl_http_guard.
static int
s_guard(ctl_http_t *self, struct MHD_Connection *conn, const char *method, char *err,
        size_t err_size)
{
    char local[INET6_ADDRSTRLEN + 2] = "";
    bool loopback = false;
    ctl_http_names_t names = {.listen_host = self->listen_host,
                              .port = self->port,
                              .public_host = self->public_host};
    if (s_local_host(conn, local, sizeof local, &loopback)) {
        names.local_host = local;
        names.local_loopback = loopback;
    }
    const char *host =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    int status = ctl_http_host_check(&names, host, err, err_size);
    if (status == 0 && strcmp(method, "GET") != 0) {
        const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
        status = ctl_http_origin_check(&names, origin, err, err_size);
    }
    return status;
}

static enum MHD_Result
s_handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size,
         void **con_cls)
{
    ctl_http_t *self = cls;
    s_exchange_t *ex = *con_cls;
    if (!ex) {
        //  Headers are in, the body (if any) is not: decide what we can.
        ex = calloc(1, sizeof *ex);
        if (!ex)
            return MHD_NO;
        *con_cls = ex;
        ctl_http_input_t in;
        s_input(conn, url, method, &in);
        int status = s_guard(self, conn, method, ex->error, sizeof ex->error);
        if (status == 0)
            status = ctl_http_request_check(&in, self->token, &ex->request, ex->error,
                                            sizeof ex->error);
        if (status == 0 && s_announced_too_large(conn)) {
            status = MHD_HTTP_CONTENT_TOO_LARGE;
            snprintf(ex->error, sizeof ex->error, "request body larger than %d bytes",
                     CTL_HTTP_MAX_BODY);
        }
        if (status == 0)
            return MHD_YES;
        ex->responded = true;
        return s_respond_error(self, conn, (unsigned)status, ex->error, ex->request.allow,
                               method, url);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (ex->responded)
            return MHD_YES;
        if (ex->status == 0 && ex->body_size + n <= CTL_HTTP_MAX_BODY) {
            char *grown = realloc(ex->body, ex->body_size + n);
            if (!grown)
                return MHD_NO;
            ex->body = grown;
            memcpy(ex->body + ex->body_size, upload_data, n);
            ex->body_size += n;
            return MHD_YES;
        }
        ex->status = MHD_HTTP_CONTENT_TOO_LARGE;
        snprintf(ex->error, sizeof ex->error, "request body larger than %d bytes",
                 CTL_HTTP_MAX_BODY);
        ex->discarded += n;
        //  A client that keeps streaming past the cap is cut off.
        return ex->discarded > S_MAX_DISCARD ? MHD_NO : MHD_YES;
    }
    if (ex->responded)
        return MHD_YES;
    ex->responded = true;
    if (ex->status)
        return s_respond_error(self, conn, (unsigned)ex->status, ex->error, NULL, method,
                               url);
    if (ex->request.route == CTL_HTTP_ROUTE_TEST) {
        ex->request.command =
            ctl_http_run_command(ex->body, ex->body_size, ex->error, sizeof ex->error);
        if (!ex->request.command ||
            ctl_http_target_check(ex->request.command, self->allow_count == 0,
                                  (const char *const *)self->allow, self->allow_count,
                                  ex->error, sizeof ex->error) != 0)
            return s_respond_error(self, conn, MHD_HTTP_BAD_REQUEST, ex->error, NULL,
                                   method, url);
    }
    return s_dispatch(self, conn, ex, method, url);
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode code)
{
    s_exchange_t *ex = *con_cls;
    if (!ex)
        return;
    ctl_http_request_reset(&ex->request);
    free(ex->body);
    free(ex);
    *con_cls = NULL;
}

static void __attribute__((format(printf, 2, 0)))
s_mhd_log(void *cls, const char *format, va_list args)
{
    char line[256];
    vsnprintf(line, sizeof line, format, args);
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    zsys_warning("http daemon message=\"%s\"", line);
}

//  ---------------------------------------------------------------------
//  Lifecycle

//  "host:port" or "[v6]:port" (sp_hostport, names allowed, port 0 for an
//  ephemeral one) -> socket address. Sets *loopback by sp_addr's rule.
static int
s_parse_listen(const char *listen, struct sockaddr_storage *addr, bool *loopback,
               char *err, size_t err_size)
{
    sp_hostport_t hostport;
    char why[128];
    sp_hostport_error_t parsed = sp_hostport_parse(
        listen, SP_HOSTPORT_NAMES | SP_HOSTPORT_PORT0, &hostport, why, sizeof why);
    if (parsed == SP_HOSTPORT_EPORT) {
        const char *colon = strrchr(listen, ':');
        sp_err_set(err, err_size, "listen port must be 0..65535, got \"%s\"",
                   colon ? colon + 1 : "");
        return -1;
    }
    if (parsed != SP_HOSTPORT_OK) {
        bool v6 = listen && listen[0] == '[';
        sp_err_set(err, err_size, "listen address must be %s, got \"%s\"",
                   v6 ? "[ipv6]:port" : "host:port", listen ? listen : "");
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(hostport.host, NULL, &hints, &found);
    if (rc != 0 || !found) {
        sp_err_set(err, err_size, "cannot resolve listen host \"%s\": %s", hostport.host,
                   gai_strerror(rc));
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    if (addr->ss_family == AF_INET) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
        in4->sin_port = htons(hostport.port);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
        in6->sin6_port = htons(hostport.port);
    }
    *loopback = sp_addr_is_loopback(hostport.host);
    return 0;
}

ctl_http_t *
ctl_http_new(const ctl_http_config_t *config, char *err, size_t err_size)
{
    assert(config);
    struct sockaddr_storage addr;
    bool loopback = false;
    ctl_http_t *self = NULL;
    if (s_parse_listen(config->listen, &addr, &loopback, err, err_size) != 0)
        goto fail;
    if (config->token && config->token[0] == '\0') {
        sp_err_set(err, err_size, "the HTTP token must not be empty");
        goto fail;
    }
    if (!loopback && !config->token) {
        sp_err_set(err, err_size,
                   "listening on %s (not loopback) needs a token for the HTTP API",
                   config->listen);
        goto fail;
    }
    if (!config->db_path) {
        sp_err_set(err, err_size, "no database path");
        goto fail;
    }
    self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    sp_log_limit_init(&self->rejected, "http rejected requests not logged",
                      S_LOG_PER_WINDOW, S_LOG_WINDOW_NS);
    self->token = config->token ? strdup(config->token) : NULL;
    self->command_endpoint =
        config->command_endpoint ? strdup(config->command_endpoint) : NULL;
    if ((config->token && !self->token) ||
        (config->command_endpoint && !self->command_endpoint)) {
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    if (config->lambda) {
        self->lambda = *config->lambda;
        self->has_lambda = true;
    }
    if (config->public_host && !ctl_http_public_host_ok(config->public_host)) {
        sp_err_set(err, err_size,
                   "public host must be NAME or NAME:PORT (a host name, not a URL)");
        goto fail;
    }
    sp_hostport_t listen_parts;
    if (sp_hostport_parse(config->listen, SP_HOSTPORT_NAMES | SP_HOSTPORT_PORT0,
                          &listen_parts, NULL, 0) != SP_HOSTPORT_OK) {
        sp_err_set(err, err_size, "listen address must be host:port");
        goto fail;
    }
    bool v6_literal = strchr(listen_parts.host, ':') != NULL;
    char listen_host[sizeof listen_parts.host + 2];
    snprintf(listen_host, sizeof listen_host, v6_literal ? "[%s]" : "%s",
             listen_parts.host);
    self->listen_host = strdup(listen_host);
    self->public_host = config->public_host ? strdup(config->public_host) : NULL;
    if (!self->listen_host || (config->public_host && !self->public_host)) {
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    if (config->allow_count > SP_ALLOW_MAX_PATTERNS) {
        sp_err_set(err, err_size, "at most %d allow patterns", SP_ALLOW_MAX_PATTERNS);
        goto fail;
    }
    if (config->allow_count) {
        self->allow = calloc(config->allow_count, sizeof *self->allow);
        if (!self->allow) {
            sp_err_set(err, err_size, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < config->allow_count; i++) {
        if (!sp_allow_pattern_ok(config->allow[i])) {
            sp_err_set(err, err_size,
                       "allow pattern must be 1-%d printable characters without spaces",
                       SP_ALLOW_MAX_PATTERN);
            goto fail;
        }
        self->allow[i] = strdup(config->allow[i]);
        if (!self->allow[i]) {
            sp_err_set(err, err_size, "out of memory");
            goto fail;
        }
        self->allow_count = i + 1;
    }
    char store_err[256] = "";
    self->store = store_open(config->db_path, store_err, sizeof store_err);
    if (!self->store) {
        sp_err_set(err, err_size, "cannot open the results database: %s", store_err);
        goto fail;
    }
    self->events = ctl_http_events_new();
    if (!self->events) {
        sp_err_set(err, err_size, "cannot start the event streams");
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    //  The logger first, so every daemon message goes through it.
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_handle, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
        s_completed, self, MHD_OPTION_CONNECTION_LIMIT, (unsigned)S_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)S_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (!self->daemon) {
        sp_err_set(err, err_size, "cannot listen on %s: %s", config->listen,
                   strerror(errno));
        goto fail;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    zsys_notice("http listening address=%s port=%d token=%s", config->listen, self->port,
                self->token ? "required" : "none");
    return self;
fail:
    ctl_http_destroy(&self);
    return NULL;
}

void
ctl_http_destroy(ctl_http_t **self_p)
{
    assert(self_p);
    ctl_http_t *self = *self_p;
    if (!self)
        return;
    //  Joins the daemon thread: afterwards nothing else touches the store
    //  or the command socket.
    //  Event streams end and parked connections are resumed first:
    //  libmicrohttpd will not stop with a suspended connection.
    if (self->events)
        ctl_http_events_stop(self->events);
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    ctl_http_events_destroy(&self->events);
    free(self->snapshot);
    zsock_destroy(&self->command);
    store_destroy(&self->store);
    free(self->token);
    free(self->command_endpoint);
    free(self->listen_host);
    free(self->public_host);
    for (size_t i = 0; i < self->allow_count; i++)
        free(self->allow[i]);
    free(self->allow);
    free(self);
    *self_p = NULL;
}

int
ctl_http_port(ctl_http_t *self)
{
    assert(self);
    return self->port;
}
