/*  ctl_http — HTTP API and dashboard on libmicrohttpd; see ctl_http.h.

    One request is an "exchange": the first call of the access handler sees
    the headers and runs every check that needs no body
    (ctl_http_request_check), answering at once when one fails, so an
    unauthorised or oversized POST is refused before its body is read. The
    body is then collected up to CTL_HTTP_MAX_BODY (beyond it, dropped and
    answered with 413; a client that keeps sending past S_MAX_DISCARD is
    disconnected), and the final call acts: it reads the store or forwards
    a command to the controller core and answers with JSON.

    Every response carries the same security headers; the page's strict
    Content-Security-Policy is what lets it show run data safely.
*/
#include "ctl_http.h"
#include "ctl_config.h"
#include "ctl_runspec.h"
#include "proto_codec.h"
#include "sp_err.h"
#include "store.h"

#include "sp_check.h"
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
#define S_JSON_TYPE "application/json"
#define S_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
#define S_MAX_DISCARD (1024 * 1024) //  body bytes dropped past the cap before we hang up
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
    int port;                  //  bound TCP port
    int64_t log_window_ns;     //  start of the current rejected-request log window
    unsigned log_count;        //  warnings logged in that window
    unsigned log_suppressed;   //  rejections not logged in that window
};

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
//  Pure parsing and validation

//  Copies src into dst for a log line or a message to a client: printable ASCII only,
//  truncated.
static void
s_printable(char *dst, size_t dst_size, const char *src)
{
    assert(dst_size > 4);
    const unsigned char *p = (const unsigned char *)(src ? src : "");
    size_t n = 0;
    for (; *p && n + 4 < dst_size; p++)
        dst[n++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
    if (*p) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = '\0';
}

//  A run id: 1..19 decimal digits, no sign or spaces, value >= 1.
static bool
s_parse_id(const char *text, size_t len, int64_t *id)
{
    if (len == 0 || len > 19)
        return false;
    char digits[20];
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        digits[i] = text[i];
    }
    digits[len] = '\0';
    errno = 0;
    char *end = NULL;
    long long value = strtoll(digits, &end, 10);
    if (errno != 0 || end != digits + len || value < 1)
        return false;
    *id = (int64_t)value;
    return true;
}

static bool
s_has_prefix(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

static const struct {
    const char *path;
    ctl_http_route_t route;
} s_exact_routes[] = {
    {"/api/runs", CTL_HTTP_ROUTE_RUNS},
    {"/api/test", CTL_HTTP_ROUTE_TEST},
    {"/api/results", CTL_HTTP_ROUTE_RESULTS},
    {"/api/results/files", CTL_HTTP_ROUTE_FILES},
    {"/api/status", CTL_HTTP_ROUTE_STATUS},
};

int
ctl_http_route_parse(const char *path, ctl_http_request_t *out, char *err,
                     size_t err_size)
{
    assert(out);
    out->route = CTL_HTTP_ROUTE_NONE;
    out->asset = NULL;
    out->run_id = 0;
    if (!path || path[0] != '/') {
        sp_err_set(err, err_size, "not found");
        return 404;
    }
    for (size_t i = 0; i < sizeof s_exact_routes / sizeof s_exact_routes[0]; i++)
        if (strcmp(path, s_exact_routes[i].path) == 0) {
            out->route = s_exact_routes[i].route;
            return 0;
        }
    if (s_has_prefix(path, "/api/runs/")) {
        const char *id = path + strlen("/api/runs/");
        if (!s_parse_id(id, strlen(id), &out->run_id)) {
            sp_err_set(err, err_size, "run id must be a positive integer");
            return 400;
        }
        out->route = CTL_HTTP_ROUTE_RUN;
        return 0;
    }
    if (s_has_prefix(path, "/api/results/file/")) {
        const char *name = path + strlen("/api/results/file/");
        size_t len = strlen(name);
        const char *prefix = "run-", *suffix = ".json";
        size_t plen = strlen(prefix), slen = strlen(suffix);
        bool ok = false;
        if (len > plen + slen && s_has_prefix(name, prefix) &&
            strcmp(name + len - slen, suffix) == 0)
            ok = s_parse_id(name + plen, len - plen - slen, &out->run_id);
        else
            ok = s_parse_id(name, len, &out->run_id);
        if (!ok) {
            sp_err_set(err, err_size, "file name must be run-<id>.json or <id>");
            return 400;
        }
        out->route = CTL_HTTP_ROUTE_FILE;
        return 0;
    }
    const web_asset_t *asset =
        web_asset_find(strcmp(path, "/") == 0 ? "/index.html" : path);
    if (asset) {
        out->route = CTL_HTTP_ROUTE_ASSET;
        out->asset = asset;
        return 0;
    }
    sp_err_set(err, err_size, "not found");
    return 404;
}

int
ctl_http_limit_parse(const char *text, int *limit, char *err, size_t err_size)
{
    assert(limit);
    if (!text) {
        *limit = CTL_HTTP_RUNS_LIMIT_DEFAULT;
        return 0;
    }
    //  Digits only: strtol alone would take " 5", "+5" and "5 ".
    size_t len = strlen(text);
    bool digits = len > 0 && len <= 6;
    for (size_t i = 0; digits && i < len; i++)
        digits = text[i] >= '0' && text[i] <= '9';
    char *end = NULL;
    long value = digits ? strtol(text, &end, 10) : 0;
    if (!digits || end != text + len || value < 1 || value > CTL_HTTP_RUNS_LIMIT_MAX) {
        sp_err_set(err, err_size, "limit must be an integer from 1 to %d",
                   CTL_HTTP_RUNS_LIMIT_MAX);
        return 400;
    }
    *limit = (int)value;
    return 0;
}

bool
ctl_http_token_ok(const char *authorization, const char *token)
{
    if (!authorization || !token)
        return false;
    const char *scheme = "Bearer ";
    size_t slen = strlen(scheme);
    if (strncasecmp(authorization, scheme, slen) != 0)
        return false;
    const unsigned char *given = (const unsigned char *)authorization + slen;
    const unsigned char *want = (const unsigned char *)token;
    size_t given_len = strlen((const char *)given), want_len = strlen(token);
    //  Always walks the whole expected token; a length mismatch counts as a
    //  difference without ending the loop early.
    unsigned diff = given_len != want_len;
    for (size_t i = 0; i < want_len; i++)
        diff |= (unsigned)(want[i] ^ (i < given_len ? given[i] : 0));
    return diff == 0 && want_len > 0;
}

bool
ctl_http_is_json(const char *content_type)
{
    if (!content_type)
        return false;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    const char *type = "application/json";
    size_t len = strlen(type);
    if (strncasecmp(content_type, type, len) != 0)
        return false;
    char next = content_type[len];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

//  The fields of a run command the API takes, in the order it forwards them.
static const char *const s_run_fields[] = {"url",     "requests", "method",
                                           "headers", "body",     "start_mode"};

//  Checks one field of the run command: a field the API takes, by the
//  run specification's rules; returns false with err set.
static bool
s_run_field(const char *key, json_t *value, char *err, size_t err_size)
{
    bool takes = false;
    for (size_t i = 0; i < sizeof s_run_fields / sizeof s_run_fields[0]; i++)
        takes = takes || strcmp(key, s_run_fields[i]) == 0;
    if (takes)
        return ctl_runspec_json_field(key, value, err, err_size) == 0;
    //  Echo the name only when it is short printable ASCII.
    bool echo = strlen(key) <= 32;
    for (const unsigned char *p = (const unsigned char *)key; echo && *p; p++)
        echo = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
    if (echo)
        sp_err_set(err, err_size, "unknown field \"%s\"", key);
    else
        sp_err_set(err, err_size, "unknown field in the request body");
    return false;
}

json_t *
ctl_http_run_command(const char *body, size_t size, char *err, size_t err_size)
{
    json_t *given = NULL, *command = NULL;
    if (size == 0)
        given = json_object();
    else {
        json_error_t error;
        given = json_loadb(body, size, JSON_REJECT_DUPLICATES, &error);
        if (!given) {
            //  The parser quotes the input near the error: keep only
            //  printable ASCII, so the message is safe to log and valid
            //  UTF-8 in the JSON answer.
            char text[sizeof error.text];
            s_printable(text, sizeof text, error.text);
            sp_err_set(err, err_size,
                       "invalid JSON: %s (line %d, column %d, position %d)", text,
                       error.line, error.column, error.position);
            goto out;
        }
    }
    if (!json_is_object(given)) {
        sp_err_set(err, err_size, "request body must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *value;
    json_object_foreach(given, key, value)
    {
        if (!s_run_field(key, value, err, err_size))
            goto out;
    }
    //  A fixed field order, so the controller (and a test) sees one shape.
    command = json_pack("{s:s}", "action", "run");
    if (!command) {
        sp_err_set(err, err_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < sizeof s_run_fields / sizeof s_run_fields[0]; i++) {
        value = json_object_get(given, s_run_fields[i]);
        if (value && json_object_set(command, s_run_fields[i], value) != 0) {
            json_decref(command);
            command = NULL;
            sp_err_set(err, err_size, "out of memory");
            goto out;
        }
    }
out:
    json_decref(given);
    return command;
}

static const char *
s_route_method(ctl_http_route_t route)
{
    return route == CTL_HTTP_ROUTE_TEST ? "POST" : "GET";
}

int
ctl_http_request_check(const ctl_http_input_t *in, const char *token,
                       ctl_http_request_t *out, char *err, size_t err_size)
{
    assert(in);
    assert(out);
    const char *path = in->path ? in->path : "";
    const char *method = in->method ? in->method : "";
    if (in->url_size > CTL_HTTP_MAX_URL || strlen(path) > CTL_HTTP_MAX_URL) {
        sp_err_set(err, err_size, "URL longer than %d bytes", CTL_HTTP_MAX_URL);
        return 414;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        out->allow = "GET, POST";
        sp_err_set(err, err_size, "method not allowed; use GET or POST");
        return 405;
    }
    bool api = s_has_prefix(path, "/api/") || strcmp(path, "/api") == 0;
    if (api && token && !ctl_http_token_ok(in->authorization, token)) {
        sp_err_set(err, err_size, "missing or wrong bearer token");
        return 401;
    }
    int status = ctl_http_route_parse(path, out, err, err_size);
    if (status)
        return status;
    const char *allowed = s_route_method(out->route);
    if (strcmp(method, allowed) != 0) {
        out->allow = allowed;
        sp_err_set(err, err_size, "method not allowed; use %s", allowed);
        return 405;
    }
    out->with_requests = true;
    if (out->route == CTL_HTTP_ROUTE_RUNS) {
        status = ctl_http_limit_parse(in->limit, &out->limit, err, err_size);
        if (status)
            return status;
    }
    if (out->route == CTL_HTTP_ROUTE_RUN && in->requests) {
        if (strcmp(in->requests, "0") != 0 && strcmp(in->requests, "1") != 0) {
            sp_err_set(err, err_size, "requests must be 0 or 1");
            return 400;
        }
        out->with_requests = in->requests[0] == '1';
    }
    if (strcmp(method, "POST") == 0 && !ctl_http_is_json(in->content_type)) {
        sp_err_set(err, err_size, "Content-Type must be application/json");
        return 415;
    }
    return 0;
}

int
ctl_http_request_parse(const ctl_http_input_t *in, const char *token,
                       ctl_http_request_t *out, char *err, size_t err_size)
{
    int status = ctl_http_request_check(in, token, out, err, err_size);
    if (status)
        return status;
    if (in->body_size > CTL_HTTP_MAX_BODY) {
        sp_err_set(err, err_size, "request body larger than %d bytes", CTL_HTTP_MAX_BODY);
        return 413;
    }
    if (out->route == CTL_HTTP_ROUTE_TEST) {
        out->command = ctl_http_run_command(in->body, in->body_size, err, err_size);
        if (!out->command)
            return 400;
    }
    return 0;
}

void
ctl_http_request_reset(ctl_http_request_t *request)
{
    if (!request)
        return;
    json_decref(request->command);
    memset(request, 0, sizeof *request);
}

//  ---------------------------------------------------------------------
//  Responses

//  Logs a rejected request, at most S_LOG_PER_WINDOW per window.
static void
s_log_rejected(ctl_http_t *self, int status, const char *method, const char *path,
               const char *reason)
{
    int64_t now = sp_clock_mono_ns();
    if (now - self->log_window_ns >= S_LOG_WINDOW_NS) {
        if (self->log_suppressed)
            zsys_warning("http rejected requests not logged count=%u",
                         self->log_suppressed);
        self->log_window_ns = now;
        self->log_count = 0;
        self->log_suppressed = 0;
    }
    if (self->log_count >= S_LOG_PER_WINDOW) {
        self->log_suppressed++;
        return;
    }
    self->log_count++;
    char safe_method[24], safe_path[128], safe_reason[256];
    s_printable(safe_method, sizeof safe_method, method);
    s_printable(safe_path, sizeof safe_path, path);
    s_printable(safe_reason, sizeof safe_reason, reason);
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
    char *text = body ? json_dumps(body, S_JSON_FLAGS) : NULL;
    json_decref(body);
    if (!text) {
        static const char fallback[] = "{\"error\":\"internal error\"}";
        return s_queue(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                       MHD_create_response_from_buffer(strlen(fallback), (void *)fallback,
                                                       MHD_RESPMEM_PERSISTENT),
                       S_JSON_TYPE, NULL);
    }
    return s_queue(
        conn, status,
        MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free),
        S_JSON_TYPE, allow);
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

static enum MHD_Result
s_serve_run(ctl_http_t *self, struct MHD_Connection *conn, int64_t run_id,
            bool with_requests, const char *method, const char *path)
{
    json_t *run = store_run_json(self->store, run_id, with_requests);
    if (!run) {
        char message[64];
        snprintf(message, sizeof message, "no run %" PRId64, run_id);
        return s_respond_error(self, conn, MHD_HTTP_NOT_FOUND, message, NULL, method,
                               path);
    }
    return s_respond_json(conn, MHD_HTTP_OK, run, NULL);
}

//  {"files":[{"name":"run-<id>.json","run_id","created_ns","requested","status"}]}
static json_t *
s_files_json(store_t *store)
{
    static const char *const copied[] = {"run_id", "created_ns", "requested", "status"};
    json_t *runs = store_runs_json(store, CTL_HTTP_RUNS_LIMIT_MAX);
    json_t *files = json_array();
    json_t *result = NULL;
    if (!runs || !files)
        goto out;
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        char name[48];
        snprintf(name, sizeof name, "run-%" JSON_INTEGER_FORMAT ".json",
                 json_integer_value(json_object_get(run, "run_id")));
        json_t *file = json_pack("{s:s}", "name", name);
        if (!file || json_array_append_new(files, file) != 0)
            goto out;
        for (size_t f = 0; f < sizeof copied / sizeof copied[0]; f++) {
            json_t *value = json_object_get(run, copied[f]);
            if (json_object_set(file, copied[f], value ? value : json_null()) != 0)
                goto out;
        }
    }
    result = json_pack("{s:O}", "files", files);
out:
    json_decref(files);
    json_decref(runs);
    return result;
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
    case CTL_HTTP_ROUTE_RUNS: {
        json_t *runs = store_runs_json(self->store, request->limit);
        if (!runs)
            return s_respond_error(self, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "cannot read the results database", NULL, method,
                                   path);
        return s_respond_json(conn, MHD_HTTP_OK, runs, NULL);
    }
    case CTL_HTTP_ROUTE_RUN:
    case CTL_HTTP_ROUTE_FILE:
        return s_serve_run(self, conn, request->run_id, request->with_requests, method,
                           path);
    case CTL_HTTP_ROUTE_RESULTS: {
        int64_t latest = store_latest_run(self->store);
        if (latest < 0)
            return s_respond_error(self, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "cannot read the results database", NULL, method,
                                   path);
        if (latest == 0)
            return s_respond_error(self, conn, MHD_HTTP_NOT_FOUND, "no runs yet", NULL,
                                   method, path);
        return s_serve_run(self, conn, latest, true, method, path);
    }
    case CTL_HTTP_ROUTE_FILES: {
        json_t *files = s_files_json(self->store);
        if (!files)
            return s_respond_error(self, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "cannot read the results database", NULL, method,
                                   path);
        return s_respond_json(conn, MHD_HTTP_OK, files, NULL);
    }
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
        int status = ctl_http_request_check(&in, self->token, &ex->request, ex->error,
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
        if (!ex->request.command)
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

//  "host:port" or "[v6]:port" -> socket address. Sets *loopback.
static int
s_parse_listen(const char *listen, struct sockaddr_storage *addr, bool *loopback,
               char *err, size_t err_size)
{
    char host[256];
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        sp_err_set(err, err_size, "listen address must be host:port, got \"%s\"",
                   listen ? listen : "");
        return -1;
    }
    size_t host_len = (size_t)(colon - listen);
    const char *host_start = listen;
    if (listen[0] == '[') {
        if (host_len < 3 || listen[host_len - 1] != ']') {
            sp_err_set(err, err_size, "listen address must be [ipv6]:port, got \"%s\"",
                       listen);
            return -1;
        }
        host_start++;
        host_len -= 2;
    }
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    const char *port_text = colon + 1;
    char *end = NULL;
    errno = 0;
    long port = strtol(port_text, &end, 10);
    if (*port_text == '\0' || *end != '\0' || errno != 0 || port < 0 || port > 65535) {
        sp_err_set(err, err_size, "listen port must be 0..65535, got \"%s\"", port_text);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &found);
    if (rc != 0 || !found) {
        sp_err_set(err, err_size, "cannot resolve listen host \"%s\": %s", host,
                   gai_strerror(rc));
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    if (addr->ss_family == AF_INET) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
        in4->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
        in6->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
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
    self->token = config->token ? strdup(config->token) : NULL;
    self->command_endpoint =
        config->command_endpoint ? strdup(config->command_endpoint) : NULL;
    if ((config->token && !self->token) ||
        (config->command_endpoint && !self->command_endpoint)) {
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    char store_err[256] = "";
    self->store = store_open(config->db_path, store_err, sizeof store_err);
    if (!self->store) {
        sp_err_set(err, err_size, "cannot open the results database: %s", store_err);
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
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
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    zsock_destroy(&self->command);
    store_destroy(&self->store);
    free(self->token);
    free(self->command_endpoint);
    free(self);
    *self_p = NULL;
}

int
ctl_http_port(ctl_http_t *self)
{
    assert(self);
    return self->port;
}

//  ---------------------------------------------------------------------
//  Selftest

//  Exact-value checks of the pure request parsers.
static void
s_test_parsers(void)
{
    char err[256];
    ctl_http_request_t req;

    //  Routes.
    memset(&req, 0, sizeof req);
    CHECK_INT(ctl_http_route_parse("/", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_ASSET);
    CHECK_STR(req.asset->path, "/index.html");
    CHECK_INT(ctl_http_route_parse("/index.html", &req, err, sizeof err), 0);
    CHECK_STR(req.asset->path, "/index.html");
    CHECK_INT(ctl_http_route_parse("/app.js", &req, err, sizeof err), 0);
    CHECK_STR(req.asset->content_type, "text/javascript; charset=utf-8");
    CHECK_INT(ctl_http_route_parse("/style.css", &req, err, sizeof err), 0);
    CHECK_STR(req.asset->content_type, "text/css; charset=utf-8");
    CHECK_INT(ctl_http_route_parse("/api/runs", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_RUNS);
    CHECK_INT(ctl_http_route_parse("/api/runs/42", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_RUN);
    CHECK_INT(req.run_id, 42);
    CHECK_INT(
        ctl_http_route_parse("/api/runs/9223372036854775807", &req, err, sizeof err), 0);
    CHECK_INT(req.run_id, INT64_MAX);
    CHECK_INT(ctl_http_route_parse("/api/test", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_TEST);
    CHECK_INT(ctl_http_route_parse("/api/results", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_RESULTS);
    CHECK_INT(ctl_http_route_parse("/api/results/files", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_FILES);
    CHECK_INT(ctl_http_route_parse("/api/results/file/run-7.json", &req, err, sizeof err),
              0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_FILE);
    CHECK_INT(req.run_id, 7);
    CHECK_INT(ctl_http_route_parse("/api/results/file/12", &req, err, sizeof err), 0);
    CHECK_INT(req.run_id, 12);
    CHECK_INT(ctl_http_route_parse("/api/status", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_STATUS);

    const char *bad_ids[] = {"/api/runs/",
                             "/api/runs/abc",
                             "/api/runs/0",
                             "/api/runs/-1",
                             "/api/runs/+1",
                             "/api/runs/1x",
                             "/api/runs/ 1",
                             "/api/runs/1/2",
                             "/api/runs/9223372036854775808",
                             "/api/runs/12345678901234567890"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        CHECK_INT(ctl_http_route_parse(bad_ids[i], &req, err, sizeof err), 400);
        CHECK_STR(err, "run id must be a positive integer");
        CHECK_INT(req.route, CTL_HTTP_ROUTE_NONE);
    }
    const char *bad_files[] = {
        "/api/results/file/",           "/api/results/file/run-.json",
        "/api/results/file/run-x.json", "/api/results/file/run-1.jso",
        "/api/results/file/run-1",      "/api/results/file/1.json",
        "/api/results/file/../etc",     "/api/results/file/run-0.json"};
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        CHECK_INT(ctl_http_route_parse(bad_files[i], &req, err, sizeof err), 400);
        CHECK_STR(err, "file name must be run-<id>.json or <id>");
    }
    const char *unknown[] = {"/nope",      "/api",      "/api/",        "/api/runs2",
                             "/index.htm", "/API/runs", "/api/status/", "//",
                             "",           "app.js"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_INT(ctl_http_route_parse(unknown[i], &req, err, sizeof err), 404);
        CHECK_STR(err, "not found");
    }
    CHECK_INT(ctl_http_route_parse(NULL, &req, err, sizeof err), 404);

    //  ?limit=
    int limit = -1;
    CHECK_INT(ctl_http_limit_parse(NULL, &limit, err, sizeof err), 0);
    CHECK_INT(limit, 50);
    CHECK_INT(ctl_http_limit_parse("1", &limit, err, sizeof err), 0);
    CHECK_INT(limit, 1);
    CHECK_INT(ctl_http_limit_parse("500", &limit, err, sizeof err), 0);
    CHECK_INT(limit, 500);
    CHECK_INT(ctl_http_limit_parse("0007", &limit, err, sizeof err), 0);
    CHECK_INT(limit, 7);
    const char *bad_limits[] = {"0",  "501", "",    "-1",  "+5",
                                " 5", "5 ",  "abc", "1e2", "99999999999999999999",
                                "5.0"};
    for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++) {
        limit = -1;
        CHECK_INT(ctl_http_limit_parse(bad_limits[i], &limit, err, sizeof err), 400);
        CHECK_STR(err, "limit must be an integer from 1 to 500");
        CHECK_INT(limit, -1);
    }

    //  Bearer token.
    CHECK_TRUE(ctl_http_token_ok("Bearer s3cret", "s3cret"));
    CHECK_TRUE(ctl_http_token_ok("bearer s3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer s3cre", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer s3crett", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer S3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer  s3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Basic s3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("s3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer ", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer ", ""));
    CHECK_TRUE(!ctl_http_token_ok(NULL, "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer s3cret", NULL));

    //  Content-Type.
    CHECK_TRUE(ctl_http_is_json("application/json"));
    CHECK_TRUE(ctl_http_is_json("application/json; charset=utf-8"));
    CHECK_TRUE(ctl_http_is_json("Application/JSON"));
    CHECK_TRUE(!ctl_http_is_json("application/jsonp"));
    CHECK_TRUE(!ctl_http_is_json("text/plain"));
    CHECK_TRUE(!ctl_http_is_json("application/x-www-form-urlencoded"));
    CHECK_TRUE(!ctl_http_is_json("multipart/form-data; boundary=x"));
    CHECK_TRUE(!ctl_http_is_json(""));
    CHECK_TRUE(!ctl_http_is_json(NULL));

    //  Run commands.
    static const struct {
        const char *body;
        const char *command; //  NULL: rejected with message
        const char *message;
    } cases[] = {
        {"", "{\"action\":\"run\"}", NULL},
        {"{}", "{\"action\":\"run\"}", NULL},
        {" {\"requests\": 100} ", "{\"action\":\"run\",\"requests\":100}", NULL},
        {"{\"method\":\"POST\",\"requests\":3,\"url\":\"https://example.test/x?a=1\"}",
         "{\"action\":\"run\",\"url\":\"https://example.test/x?a=1\",\"requests\":3,"
         "\"method\":\"POST\"}",
         NULL},
        {"{\"headers\":[\"X-A: 1\",\"Content-Type:\\ttext/plain\"],\"body\":\"hi\"}",
         "{\"action\":\"run\",\"headers\":[\"X-A: 1\",\"Content-Type:\\ttext/plain\"],"
         "\"body\":\"hi\"}",
         NULL},
        {"{\"requests\":1000000}", "{\"action\":\"run\",\"requests\":1000000}", NULL},
        {"{\"url\":\"HTTP://h/\"}", NULL, "URL must start with http:// or https://"},
        {"{\"headers\":[\"X-A: a\\tb\"]}", NULL,
         "headers[0]: header value longer than 8192 or holds control characters (tab "
         "included)"},
        {"{\"url\":null}", "{\"action\":\"run\",\"url\":null}", NULL},
        {"{\"start_mode\":\"last-byte\",\"body\":\"{}\"}",
         "{\"action\":\"run\",\"body\":\"{}\",\"start_mode\":\"last-byte\"}", NULL},
        {"{\"start_mode\":\"at-go\"}", "{\"action\":\"run\",\"start_mode\":\"at-go\"}",
         NULL},
        {"{\"start_mode\":\"auto\"}", "{\"action\":\"run\",\"start_mode\":\"auto\"}",
         NULL},
        {"{\"start_mode\":\"sideways\"}", NULL,
         "start_mode must be \"at-go\", \"last-byte\" or \"auto\""},
        {"{\"start_mode\":2}", NULL,
         "start_mode must be \"at-go\", \"last-byte\" or \"auto\""},
        {"{\"requests\":0}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"requests\":1000001}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"requests\":\"100\"}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"requests\":10.0}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"requests\":true}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"url\":\"ftp://x/\"}", NULL, "URL must start with http:// or https://"},
        {"{\"url\":\"http://\"}", NULL, "URL has no host"},
        {"{\"url\":\"http://a b/\"}", NULL, "URL holds a space or control character"},
        {"{\"url\":\"http://a/\\n\"}", NULL, "URL holds a space or control character"},
        {"{\"url\":7}", NULL, "url must be a string of 1-8192 bytes"},
        {"{\"method\":\"GE T\"}", NULL,
         "method must be an HTTP method token of 1-16 characters"},
        {"{\"method\":\"\"}", NULL,
         "method must be an HTTP method token of 1-16 characters"},
        {"{\"method\":\"ABCDEFGHIJKLMNOPQ\"}", NULL,
         "method must be an HTTP method token of 1-16 characters"},
        {"{\"headers\":[\"NoColon\"]}", NULL,
         "headers[0]: header must look like 'Name: value'"},
        {"{\"headers\":[\"X-A: 1\\r\\nX-B: 2\"]}", NULL,
         "headers[0]: header value longer than 8192 or holds control "
         "characters (tab included)"},
        {"{\"headers\":[\": v\"]}", NULL,
         "headers[0]: header name must be a token of 1-256 characters"},
        {"{\"headers\":\"X-A: 1\"}", NULL,
         "headers must be an array of at most 64 \"Name: value\" strings"},
        {"{\"headers\":[1]}", NULL, "headers[0] must be a \"Name: value\" string"},
        {"{\"body\":{}}", NULL,
         "body must be a string of at most 6291456 bytes without NUL characters"},
        {"{\"action\":\"stop\"}", NULL, "unknown field \"action\""},
        {"{\"reqests\":5}", NULL, "unknown field \"reqests\""},
        {"{\"a\\\"b\":5}", NULL, "unknown field in the request body"},
        {"[]", NULL, "request body must be a JSON object"},
        {"100", NULL,
         "invalid JSON: '[' or '{' expected near '100' (line 1, column 3, position 3)"},
        {"{\"requests\":1,\"requests\":2}", NULL,
         "invalid JSON: duplicate object key near '\"requests\"' (line 1, column 24, "
         "position 24)"},
        {"{\"requests\":", NULL,
         "invalid JSON: unexpected token near end of file (line 1, column 12, position "
         "12)"},
        {"{\"url\":\"\\u0000\"}", NULL,
         "invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near "
         "'\"\\u0000\"' (line 1, column 15, position 15)"},
        {"{\"a\xff\":1}", NULL,
         "invalid JSON: unable to decode byte 0xff near '\"a' (line 1, column 3, "
         "position 3)"},
        {"not json", NULL,
         "invalid JSON: '[' or '{' expected near 'not' (line 1, column 3, position 3)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        json_t *command =
            ctl_http_run_command(cases[i].body, strlen(cases[i].body), err, sizeof err);
        if (cases[i].command) {
            CHECK_NOT_NULL(command);
            char *text = json_dumps(command, S_JSON_FLAGS);
            CHECK_STR(text, cases[i].command);
            free(text);
            json_decref(command);
        } else {
            CHECK_NULL(command);
            CHECK_STR(err, cases[i].message);
        }
    }
    //  A URL of exactly the cap is accepted, one byte more is not.
    char *big = malloc(CTL_HTTP_MAX_URL + 64);
    CHECK_NOT_NULL(big);
    int prefix = snprintf(big, 64, "{\"url\":\"http://");
    size_t url_fill = CTL_HTTP_MAX_URL - strlen("http://");
    memset(big + prefix, 'a', url_fill);
    snprintf(big + prefix + url_fill, 8, "\"}");
    json_t *command = ctl_http_run_command(big, strlen(big), err, sizeof err);
    CHECK_NOT_NULL(command);
    json_decref(command);
    snprintf(big + prefix + url_fill, 8, "a\"}");
    CHECK_NULL(ctl_http_run_command(big, strlen(big), err, sizeof err));
    free(big);

    //  Whole requests: each rule, in order.
    static const char token[] = "s3cret";
    static const struct {
        ctl_http_input_t in;
        const char *token;
        int status;
        const char *message;    //  for a rejection
        const char *allow;      //  for a 405
        ctl_http_route_t route; //  for an acceptance
    } requests[] = {
        {{.method = "GET", .path = "/", .url_size = 1},
         NULL,
         0,
         NULL,
         NULL,
         CTL_HTTP_ROUTE_ASSET},
        {{.method = "GET", .path = "/", .url_size = CTL_HTTP_MAX_URL + 1},
         NULL,
         414,
         "URL longer than 8192 bytes",
         NULL,
         0},
        {{.method = "PUT", .path = "/api/runs"},
         NULL,
         405,
         "method not allowed; use GET or POST",
         "GET, POST",
         0},
        {{.method = "HEAD", .path = "/"},
         NULL,
         405,
         "method not allowed; use GET or POST",
         "GET, POST",
         0},
        {{.method = "GET", .path = "/api/runs"},
         token,
         401,
         "missing or wrong bearer token",
         NULL,
         0},
        {{.method = "GET", .path = "/api/nope"},
         token,
         401,
         "missing or wrong bearer token",
         NULL,
         0},
        {{.method = "GET", .path = "/api/runs", .authorization = "Bearer nope"},
         token,
         401,
         "missing or wrong bearer token",
         NULL,
         0},
        {{.method = "GET", .path = "/api/runs", .authorization = "Bearer s3cret"},
         token,
         0,
         NULL,
         NULL,
         CTL_HTTP_ROUTE_RUNS},
        {{.method = "GET", .path = "/app.js"},
         token,
         0,
         NULL,
         NULL,
         CTL_HTTP_ROUTE_ASSET},
        {{.method = "GET", .path = "/nope"}, token, 404, "not found", NULL, 0},
        {{.method = "GET", .path = "/api/runs/x"},
         NULL,
         400,
         "run id must be a positive integer",
         NULL,
         0},
        {{.method = "POST", .path = "/api/runs", .content_type = "application/json"},
         NULL,
         405,
         "method not allowed; use GET",
         "GET",
         0},
        {{.method = "GET", .path = "/api/test"},
         NULL,
         405,
         "method not allowed; use POST",
         "POST",
         0},
        {{.method = "POST", .path = "/"},
         NULL,
         405,
         "method not allowed; use GET",
         "GET",
         0},
        {{.method = "GET", .path = "/api/runs", .limit = "0"},
         NULL,
         400,
         "limit must be an integer from 1 to 500",
         NULL,
         0},
        {{.method = "GET", .path = "/api/runs/3", .requests = "no"},
         NULL,
         400,
         "requests must be 0 or 1",
         NULL,
         0},
        {{.method = "POST", .path = "/api/test"},
         NULL,
         415,
         "Content-Type must be application/json",
         NULL,
         0},
        {{.method = "POST", .path = "/api/test", .content_type = "text/plain"},
         NULL,
         415,
         "Content-Type must be application/json",
         NULL,
         0},
        {{.method = "POST",
          .path = "/api/test",
          .content_type = "application/json",
          .body = "{",
          .body_size = 1},
         NULL,
         400,
         "invalid JSON: string or '}' expected near end of file (line 1, column 1, "
         "position 1)",
         NULL,
         0},
        {{.method = "POST",
          .path = "/api/test",
          .content_type = "application/json",
          .body = "{}",
          .body_size = CTL_HTTP_MAX_BODY + 1},
         NULL,
         413,
         "request body larger than 65536 bytes",
         NULL,
         0},
        {{.method = "POST",
          .path = "/api/test",
          .content_type = "application/json",
          .authorization = "Bearer s3cret",
          .body = "{}",
          .body_size = 2},
         token,
         0,
         NULL,
         NULL,
         CTL_HTTP_ROUTE_TEST},
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        memset(&req, 0, sizeof req);
        err[0] = '\0';
        int status = ctl_http_request_parse(&requests[i].in, requests[i].token, &req, err,
                                            sizeof err);
        CHECK_INT(status, requests[i].status);
        if (status) {
            CHECK_STR(err, requests[i].message);
            if (requests[i].allow)
                CHECK_STR(req.allow, requests[i].allow);
            else
                CHECK_NULL(req.allow);
        } else
            CHECK_INT(req.route, requests[i].route);
        CHECK_TRUE((req.command != NULL) ==
                   (status == 0 && req.route == CTL_HTTP_ROUTE_TEST));
        ctl_http_request_reset(&req);
        CHECK_NULL(req.command);
    }
    //  Query defaults.
    memset(&req, 0, sizeof req);
    ctl_http_input_t in = {.method = "GET", .path = "/api/runs/3"};
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 0);
    CHECK_TRUE(req.with_requests);
    in.requests = "0";
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 0);
    CHECK_TRUE(!req.with_requests);
    memset(&req, 0, sizeof req);
    in = (ctl_http_input_t){.method = "GET", .path = "/api/runs", .limit = "5"};
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 0);
    CHECK_INT(req.limit, 5);
    ctl_http_request_reset(NULL);
}

//  A stand-in for the controller core's command socket. ROUTER speaks to
//  REQ like REP does, but may leave a request unanswered, which is how the
//  test makes the HTTP thread time out. Pipe command "LAST" returns the
//  last command received.
static void
s_fake_controller(zsock_t *pipe, void *args)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    assert(router);
    int rc = zsock_bind(router, "%s", (const char *)args);
    assert(rc == 0);
    zpoller_t *poller = zpoller_new(pipe, router, NULL);
    char *last = strdup("");
    zsock_signal(pipe, 0);
    while (true) {
        void *which = zpoller_wait(poller, -1);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool term = !command || strcmp(command, "$TERM") == 0;
            if (!term)
                zstr_send(pipe, last);
            free(command);
            if (term)
                break;
            continue;
        }
        if (which != router)
            break;
        zmsg_t *msg = zmsg_recv(router);
        zframe_t *identity = zmsg_pop(msg);
        zframe_t *empty = zmsg_pop(msg);
        char *text = zmsg_popstr(msg);
        json_t *command = text ? json_loads(text, 0, NULL) : NULL;
        const char *action = json_string_value(json_object_get(command, "action"));
        const char *url = json_string_value(json_object_get(command, "url"));
        const char *reply = NULL;
        if (action && strcmp(action, "status") == 0)
            reply = "{\"agents\":[{\"id\":\"agent-1\",\"host\":\"h1\",\"capacity\":4,"
                    "\"clock_offset_ns\":-12,\"rtt_ns\":3400}],\"active_run\":null,"
                    "\"default_url\":\"http://127.0.0.1:9/url/demo/\"}";
        else if (url && strstr(url, "busy"))
            reply = "{\"error\":\"a run is already in progress\",\"status\":409}";
        else if (url && strstr(url, "noagents"))
            reply = "{\"error\":\"no agents connected\",\"status\":503}";
        else if (url && strstr(url, "garbage"))
            reply = "this is not json";
        else if (url && strstr(url, "nostatus"))
            reply = "{\"error\":\"broken\"}";
        else if (url && strstr(url, "slow"))
            reply = NULL; //  never answered
        else
            reply = "{\"run_id\":7}";
        if (text) {
            free(last);
            last = text;
            text = NULL;
        }
        if (reply) {
            zmsg_t *out = zmsg_new();
            zmsg_append(out, &identity);
            zmsg_append(out, &empty);
            zmsg_addstr(out, reply);
            zmsg_send(&out, router);
        }
        json_decref(command);
        free(text);
        zframe_destroy(&identity);
        zframe_destroy(&empty);
        zmsg_destroy(&msg);
    }
    free(last);
    zpoller_destroy(&poller);
    zsock_destroy(&router);
}

typedef struct {
    int status;
    char head[8192]; //  status line and headers
    char *body;      //  NUL-terminated; caller frees
    size_t body_size;
} s_response_t;

//  Sends raw bytes to 127.0.0.1:port and reads the whole response (the
//  server closes an HTTP/1.0 connection). Returns 0 or -1.
static int
s_http_raw(int port, const char *request, size_t size, s_response_t *out)
{
    memset(out, 0, sizeof *out);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert(fd >= 0);
    struct timeval timeout = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int result = -1;
    char *data = NULL;
    size_t have = 0, cap = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        goto out;
    //  The server may answer and close before it has read everything (an
    //  early 4xx): stop writing then, and read the answer.
    for (size_t sent = 0; sent < size;) {
        ssize_t n = send(fd, request + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    for (;;) {
        if (have + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            assert(cap <= 64 * 1024 * 1024);
            data = realloc(data, cap);
            assert(data);
        }
        ssize_t n = recv(fd, data + have, cap - have - 1, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    if (!data)
        goto out;
    data[have] = '\0';
    char *end = strstr(data, "\r\n\r\n");
    if (!end || sscanf(data, "HTTP/1.%*c %d", &out->status) != 1)
        goto out;
    size_t head = (size_t)(end - data);
    if (head >= sizeof out->head)
        goto out;
    memcpy(out->head, data, head + 2);
    out->head[head + 2] = '\0';
    out->body_size = have - head - 4;
    out->body = malloc(out->body_size + 1);
    assert(out->body);
    memcpy(out->body, end + 4, out->body_size);
    out->body[out->body_size] = '\0';
    result = 0;
out:
    free(data);
    close(fd);
    return result;
}

//  GET path; token may be NULL.
static void
s_get(int port, const char *path, const char *token, s_response_t *out)
{
    char request[16384];
    char auth[256] = "";
    if (token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\n%s\r\n", path, auth);
    assert(n > 0 && (size_t)n < sizeof request);
    CHECK_INT(s_http_raw(port, request, (size_t)n, out), 0);
}

//  POST body to path with content_type (NULL: no header); token may be NULL.
static void
s_post(int port, const char *path, const char *content_type, const char *body,
       const char *token, s_response_t *out)
{
    size_t body_size = strlen(body);
    size_t cap = body_size + 1024;
    char *request = malloc(cap);
    assert(request);
    char type[128] = "", auth[256] = "";
    if (content_type)
        snprintf(type, sizeof type, "Content-Type: %s\r\n", content_type);
    if (token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    int n = snprintf(request, cap, "POST %s HTTP/1.0\r\n%s%sContent-Length: %zu\r\n\r\n",
                     path, type, auth, body_size);
    assert(n > 0 && (size_t)n + body_size < cap);
    memcpy(request + n, body, body_size);
    CHECK_INT(s_http_raw(port, request, (size_t)n + body_size, out), 0);
    free(request);
}

//  The value of header name in response (case-insensitive name), or "".
static const char *
s_header(s_response_t *response, const char *name, char *value, size_t value_size)
{
    value[0] = '\0';
    size_t len = strlen(name);
    for (const char *line = strstr(response->head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, len) == 0 && start[len] == ':') {
            const char *v = start + len + 1;
            while (*v == ' ')
                v++;
            const char *stop = strstr(v, "\r\n");
            size_t n = stop ? (size_t)(stop - v) : strlen(v);
            if (n >= value_size)
                n = value_size - 1;
            memcpy(value, v, n);
            value[n] = '\0';
            break;
        }
    }
    return value;
}

static void
s_check_response(s_response_t *response, int status, const char *body)
{
    if (response->status != status || (body && strcmp(response->body, body) != 0))
        fprintf(stderr, "\nunexpected response:\n%s\n%s\n", response->head,
                response->body ? response->body : "");
    CHECK_INT(response->status, status);
    if (body)
        CHECK_STR(response->body, body);
    char value[512];
    if (response->body_size > 0 && status != 200)
        CHECK_STR(s_header(response, "Content-Type", value, sizeof value), S_JSON_TYPE);
    CHECK_STR(s_header(response, "X-Content-Type-Options", value, sizeof value),
              "nosniff");
    CHECK_STR(s_header(response, "Cache-Control", value, sizeof value), "no-store");
    free(response->body);
    response->body = NULL;
}

//  A run of `requested` requests, the first `ok` of them ok and the rest
//  throttled, from one agent. Returns its id.
static int64_t
s_add_run(store_t *store, int64_t created_ns, uint32_t requested, uint32_t ok)
{
    store_run_t run = {.url = "http://127.0.0.1:9/url/demo/",
                       .method = "GET",
                       .requested = requested,
                       .agents = 1,
                       .created_ns = created_ns};
    int64_t id = store_run_create(store, &run);
    CHECK_TRUE(id >= 1);
    store_result_t *rows = calloc(requested, sizeof *rows);
    assert(rows);
    char(*envs)[16] = calloc(requested, sizeof *envs);
    assert(envs);
    for (uint32_t i = 0; i < requested; i++) {
        bool success = i < ok;
        snprintf(envs[i], sizeof envs[i], "env-%u", i);
        rows[i] = (store_result_t){.index = i,
                                   .outcome = success ? "ok" : "throttled",
                                   .http_status = success ? 200 : 429,
                                   .scheduled_ns = created_ns,
                                   .sent_ns = created_ns + 1000,
                                   .first_byte_ns = created_ns + 2000000,
                                   .done_ns = created_ns + 2000000 + i * 1000,
                                   .bytes = 100,
                                   .environment_id = success ? envs[i] : NULL,
                                   .cold_start = success ? 1 : -1,
                                   .invocation_count = -1};
    }
    CHECK_INT(store_results_insert(store, id, "agent-1", rows, requested), 0);
    CHECK_INT(store_run_set_status(store, id, "completed", created_ns,
                                   created_ns + SP_NS_PER_S, NULL),
              0);
    free(envs);
    free(rows);
    return id;
}

//  The body GET should return for a run: the store's own JSON.
static char *
s_run_text(store_t *store, int64_t run_id, bool with_requests)
{
    json_t *run = store_run_json(store, run_id, with_requests);
    CHECK_NOT_NULL(run);
    char *text = json_dumps(run, S_JSON_FLAGS);
    json_decref(run);
    return text;
}

static char *
s_fake_last(zactor_t *fake)
{
    zstr_send(fake, "LAST");
    return zstr_recv(fake);
}

//  Every endpoint and every error, against a real daemon on an ephemeral
//  port, a temp database and the fake controller.
static void
s_test_daemon(bool verbose)
{
    char dir[] = "/tmp/ctl_http_test.XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char db_path[128];
    snprintf(db_path, sizeof db_path, "%s/s.db", dir);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://ctl-http-test-%d", (int)getpid());
    zactor_t *fake = zactor_new(s_fake_controller, endpoint);
    CHECK_NOT_NULL(fake);

    char err[256] = "";
    ctl_http_config_t config = {.listen = "127.0.0.1:0",
                                .db_path = db_path,
                                .token = NULL,
                                .command_endpoint = endpoint};
    ctl_http_t *http = ctl_http_new(&config, err, sizeof err);
    if (!http)
        fprintf(stderr, "ctl_http_new: %s\n", err);
    CHECK_NOT_NULL(http);
    int port = ctl_http_port(http);
    CHECK_TRUE(port > 0 && port <= 65535);
    s_response_t r;
    char value[512];

    //  An empty database.
    s_get(port, "/api/results", NULL, &r);
    s_check_response(&r, 404, "{\"error\":\"no runs yet\"}");
    s_get(port, "/api/runs", NULL, &r);
    s_check_response(&r, 200, "[]");
    s_get(port, "/api/results/files", NULL, &r);
    s_check_response(&r, 200, "{\"files\":[]}");
    s_get(port, "/api/runs/1", NULL, &r);
    s_check_response(&r, 404, "{\"error\":\"no run 1\"}");

    //  Two runs written by another connection, as the controller does.
    store_t *store = store_open(db_path, err, sizeof err);
    CHECK_NOT_NULL(store);
    int64_t first = s_add_run(store, INT64_C(1700000000000000000), 3, 1);
    int64_t second = s_add_run(store, INT64_C(1700000001000000000), 100, 5);
    CHECK_INT(first, 1);
    CHECK_INT(second, 2);

    //  The page and its files, with the security headers.
    const char *pages[][2] = {{"/", "/index.html"},
                              {"/index.html", "/index.html"},
                              {"/app.js", "/app.js"},
                              {"/style.css", "/style.css"}};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        const web_asset_t *asset = web_asset_find(pages[i][1]);
        s_get(port, pages[i][0], NULL, &r);
        CHECK_INT(r.status, 200);
        CHECK_INT(r.body_size, asset->size);
        CHECK_TRUE(memcmp(r.body, asset->data, asset->size) == 0);
        CHECK_STR(s_header(&r, "Content-Type", value, sizeof value), asset->content_type);
        CHECK_STR(
            s_header(&r, "Content-Security-Policy", value, sizeof value),
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' "
            "data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'");
        CHECK_STR(s_header(&r, "Referrer-Policy", value, sizeof value), "no-referrer");
        s_check_response(&r, 200, NULL);
    }
    s_get(port, "/nope", NULL, &r);
    s_check_response(&r, 404, "{\"error\":\"not found\"}");
    s_get(port, "/api/nope", NULL, &r);
    s_check_response(&r, 404, "{\"error\":\"not found\"}");

    //  Runs.
    s_get(port, "/api/runs", NULL, &r);
    CHECK_STR(s_header(&r, "Content-Type", value, sizeof value), "application/json");
    json_t *runs = store_runs_json(store, 50);
    char *expected = json_dumps(runs, S_JSON_FLAGS);
    json_decref(runs);
    s_check_response(&r, 200, expected);
    free(expected);
    s_get(port, "/api/runs?limit=1", NULL, &r);
    runs = json_loads(r.body, 0, NULL);
    CHECK_INT(json_array_size(runs), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(runs, 0), "run_id")), 2);
    json_decref(runs);
    s_check_response(&r, 200, NULL);
    const char *bad_limits[] = {"/api/runs?limit=0", "/api/runs?limit=501",
                                "/api/runs?limit=abc", "/api/runs?limit="};
    for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++) {
        s_get(port, bad_limits[i], NULL, &r);
        s_check_response(&r, 400,
                         "{\"error\":\"limit must be an integer from 1 to 500\"}");
    }
    expected = s_run_text(store, 2, true);
    s_get(port, "/api/runs/2", NULL, &r);
    s_check_response(&r, 200, expected);
    s_get(port, "/api/runs/2?requests=1", NULL, &r);
    s_check_response(&r, 200, expected);
    free(expected);
    expected = s_run_text(store, 2, false);
    s_get(port, "/api/runs/2?requests=0", NULL, &r);
    json_t *run = json_loads(r.body, 0, NULL);
    json_t *summary = json_object_get(run, "summary");
    CHECK_INT(json_integer_value(json_object_get(run, "requested")), 100);
    CHECK_INT(json_integer_value(json_object_get(summary, "ok")), 5);
    CHECK_INT(json_integer_value(json_object_get(summary, "throttled")), 95);
    CHECK_NULL(json_object_get(run, "requests"));
    json_decref(run);
    s_check_response(&r, 200, expected);
    free(expected);
    s_get(port, "/api/runs/2?requests=2", NULL, &r);
    s_check_response(&r, 400, "{\"error\":\"requests must be 0 or 1\"}");
    s_get(port, "/api/runs/999", NULL, &r);
    s_check_response(&r, 404, "{\"error\":\"no run 999\"}");
    s_get(port, "/api/runs/abc", NULL, &r);
    s_check_response(&r, 400, "{\"error\":\"run id must be a positive integer\"}");
    s_get(port, "/api/runs/0", NULL, &r);
    s_check_response(&r, 400, "{\"error\":\"run id must be a positive integer\"}");

    //  The original demo's results API.
    expected = s_run_text(store, 2, true);
    s_get(port, "/api/results", NULL, &r);
    s_check_response(&r, 200, expected);
    free(expected);
    s_get(port, "/api/results/files", NULL, &r);
    s_check_response(&r, 200,
                     "{\"files\":[{\"name\":\"run-2.json\",\"run_id\":2,"
                     "\"created_ns\":1700000001000000000,\"requested\":100,"
                     "\"status\":\"completed\"},{\"name\":\"run-1.json\",\"run_id\":1,"
                     "\"created_ns\":1700000000000000000,\"requested\":3,"
                     "\"status\":\"completed\"}]}");
    expected = s_run_text(store, 1, true);
    s_get(port, "/api/results/file/run-1.json", NULL, &r);
    s_check_response(&r, 200, expected);
    s_get(port, "/api/results/file/1", NULL, &r);
    s_check_response(&r, 200, expected);
    free(expected);
    s_get(port, "/api/results/file/run-9.json", NULL, &r);
    s_check_response(&r, 404, "{\"error\":\"no run 9\"}");
    s_get(port, "/api/results/file/run-x.json", NULL, &r);
    s_check_response(&r, 400, "{\"error\":\"file name must be run-<id>.json or <id>\"}");
    s_get(port, "/api/results/file/..%2F..%2Fetc%2Fpasswd", NULL, &r);
    s_check_response(&r, 400, "{\"error\":\"file name must be run-<id>.json or <id>\"}");

    //  Commands to the controller.
    s_get(port, "/api/status", NULL, &r);
    s_check_response(&r, 200,
                     "{\"agents\":[{\"id\":\"agent-1\",\"host\":\"h1\",\"capacity\":4,"
                     "\"clock_offset_ns\":-12,\"rtt_ns\":3400}],\"active_run\":null,"
                     "\"default_url\":\"http://127.0.0.1:9/url/demo/\"}");
    char *last = s_fake_last(fake);
    CHECK_STR(last, "{\"action\":\"status\"}");
    free(last);
    s_post(
        port, "/api/test", "application/json",
        "{\"url\":\"http://127.0.0.1:9/url/demo/\",\"requests\":100,\"method\":\"GET\"}",
        NULL, &r);
    s_check_response(&r, 202, "{\"run_id\":7}");
    last = s_fake_last(fake);
    CHECK_STR(last, "{\"action\":\"run\",\"url\":\"http://127.0.0.1:9/url/demo/\","
                    "\"requests\":100,\"method\":\"GET\"}");
    free(last);
    s_post(port, "/api/test", "application/json; charset=utf-8", "", NULL, &r);
    s_check_response(&r, 202, "{\"run_id\":7}");
    last = s_fake_last(fake);
    CHECK_STR(last, "{\"action\":\"run\"}");
    free(last);
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://busy/\"}", NULL, &r);
    s_check_response(&r, 409, "{\"error\":\"a run is already in progress\"}");
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://noagents/\"}", NULL,
           &r);
    s_check_response(&r, 503, "{\"error\":\"no agents connected\"}");
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://garbage/\"}", NULL,
           &r);
    s_check_response(&r, 502, "{\"error\":\"the controller sent an invalid reply\"}");
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://nostatus/\"}", NULL,
           &r);
    s_check_response(&r, 500, "{\"error\":\"broken\"}");

    //  Bad POSTs, each refused without reaching the controller.
    s_post(port, "/api/test", NULL, "{}", NULL, &r);
    s_check_response(&r, 415, "{\"error\":\"Content-Type must be application/json\"}");
    s_post(port, "/api/test", "application/x-www-form-urlencoded", "requests=5", NULL,
           &r);
    s_check_response(&r, 415, "{\"error\":\"Content-Type must be application/json\"}");
    s_post(port, "/api/test", "text/plain", "{}", NULL, &r);
    s_check_response(&r, 415, "{\"error\":\"Content-Type must be application/json\"}");
    s_post(port, "/api/test", "application/json", "{\"requests\":", NULL, &r);
    s_check_response(
        &r, 400,
        "{\"error\":\"invalid JSON: unexpected token near end of file (line 1, "
        "column 12, position 12)\"}");
    s_post(port, "/api/test", "application/json", "{\"requests\":0}", NULL, &r);
    s_check_response(&r, 400,
                     "{\"error\":\"requests must be an integer from 1 to 1000000\"}");
    s_post(port, "/api/test", "application/json", "{\"requests\":1000001}", NULL, &r);
    s_check_response(&r, 400,
                     "{\"error\":\"requests must be an integer from 1 to 1000000\"}");
    s_post(port, "/api/test", "application/json", "{\"requests\":\"5\"}", NULL, &r);
    s_check_response(&r, 400,
                     "{\"error\":\"requests must be an integer from 1 to 1000000\"}");
    s_post(port, "/api/test", "application/json", "{\"bogus\":1}", NULL, &r);
    s_check_response(&r, 400, "{\"error\":\"unknown field \\\"bogus\\\"\"}");
    last = s_fake_last(fake);
    CHECK_STR(last, "{\"action\":\"run\",\"url\":\"http://nostatus/\"}");
    free(last);
    //  Too large: announced by Content-Length (refused before the body) and
    //  streamed in chunks with no length (refused after the cap).
    char *huge = malloc(CTL_HTTP_MAX_BODY + 2);
    assert(huge);
    memset(huge, ' ', CTL_HTTP_MAX_BODY + 1);
    huge[0] = '{';
    huge[CTL_HTTP_MAX_BODY] = '}';
    huge[CTL_HTTP_MAX_BODY + 1] = '\0';
    s_post(port, "/api/test", "application/json", huge, NULL, &r);
    s_check_response(&r, 413, "{\"error\":\"request body larger than 65536 bytes\"}");
    huge[CTL_HTTP_MAX_BODY - 1] = '}';
    huge[CTL_HTTP_MAX_BODY] = '\0';
    s_post(port, "/api/test", "application/json", huge, NULL, &r);
    s_check_response(&r, 202, "{\"run_id\":7}");
    free(huge);
    size_t chunked_cap = 2 * CTL_HTTP_MAX_BODY + 1024;
    char *chunked = malloc(chunked_cap);
    assert(chunked);
    int n =
        snprintf(chunked, chunked_cap,
                 "POST /api/test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 5; i++) {
        n += snprintf(chunked + n, chunked_cap - (size_t)n, "4000\r\n");
        memset(chunked + n, ' ', 0x4000);
        n += 0x4000;
        n += snprintf(chunked + n, chunked_cap - (size_t)n, "\r\n");
    }
    n += snprintf(chunked + n, chunked_cap - (size_t)n, "0\r\n\r\n");
    CHECK_INT(s_http_raw(port, chunked, (size_t)n, &r), 0);
    s_check_response(&r, 413, "{\"error\":\"request body larger than 65536 bytes\"}");
    free(chunked);

    //  Methods.
    s_get(port, "/api/test", NULL, &r);
    CHECK_STR(s_header(&r, "Allow", value, sizeof value), "POST");
    s_check_response(&r, 405, "{\"error\":\"method not allowed; use POST\"}");
    s_post(port, "/api/runs", "application/json", "{}", NULL, &r);
    CHECK_STR(s_header(&r, "Allow", value, sizeof value), "GET");
    s_check_response(&r, 405, "{\"error\":\"method not allowed; use GET\"}");
    const char put[] = "PUT /api/runs HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}";
    CHECK_INT(s_http_raw(port, put, strlen(put), &r), 0);
    CHECK_STR(s_header(&r, "Allow", value, sizeof value), "GET, POST");
    s_check_response(&r, 405, "{\"error\":\"method not allowed; use GET or POST\"}");
    const char del[] = "DELETE /api/runs/1 HTTP/1.0\r\n\r\n";
    CHECK_INT(s_http_raw(port, del, strlen(del), &r), 0);
    s_check_response(&r, 405, "{\"error\":\"method not allowed; use GET or POST\"}");

    //  Caps on the URL, and garbage that libmicrohttpd refuses itself.
    char *long_path = malloc(CTL_HTTP_MAX_URL + 64);
    assert(long_path);
    memcpy(long_path, "/api/runs?x=", 12);
    memset(long_path + 12, 'a', CTL_HTTP_MAX_URL);
    long_path[12 + CTL_HTTP_MAX_URL] = '\0';
    s_get(port, long_path, NULL, &r);
    s_check_response(&r, 414, "{\"error\":\"URL longer than 8192 bytes\"}");
    free(long_path);
    const char garbage[] = "\x01\x02 not http at all\r\n\r\n";
    s_http_raw(port, garbage, strlen(garbage), &r);
    CHECK_TRUE(r.status == 0 || r.status == 400);
    free(r.body);
    s_get(port, "/api/runs?limit=1", NULL, &r);
    s_check_response(&r, 200, NULL);

    //  A controller that does not answer: 504, then the next command works
    //  on a fresh socket.
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://slow/\"}", NULL, &r);
    s_check_response(&r, 504,
                     "{\"error\":\"the controller did not answer within 5000 ms\"}");
    s_get(port, "/api/status", NULL, &r);
    s_check_response(&r, 200, NULL);

    ctl_http_destroy(&http);
    CHECK_NULL(http);
    ctl_http_destroy(&http);

    //  With a token: every /api/ request needs it, the page does not.
    config.token = "s3cret";
    http = ctl_http_new(&config, err, sizeof err);
    CHECK_NOT_NULL(http);
    port = ctl_http_port(http);
    s_get(port, "/api/runs", NULL, &r);
    CHECK_STR(s_header(&r, "WWW-Authenticate", value, sizeof value), "Bearer");
    s_check_response(&r, 401, "{\"error\":\"missing or wrong bearer token\"}");
    s_get(port, "/api/runs", "wrong", &r);
    s_check_response(&r, 401, "{\"error\":\"missing or wrong bearer token\"}");
    s_get(port, "/api/nope", NULL, &r);
    s_check_response(&r, 401, "{\"error\":\"missing or wrong bearer token\"}");
    s_post(port, "/api/test", "application/json", "{}", NULL, &r);
    s_check_response(&r, 401, "{\"error\":\"missing or wrong bearer token\"}");
    s_post(port, "/api/test", "application/json", "{}", "s3cret", &r);
    s_check_response(&r, 202, "{\"run_id\":7}");
    s_get(port, "/api/runs?limit=1", "s3cret", &r);
    s_check_response(&r, 200, NULL);
    s_get(port, "/", NULL, &r);
    s_check_response(&r, 200, NULL);
    ctl_http_destroy(&http);

    //  No controller endpoint: the store endpoints still work.
    config.token = NULL;
    config.command_endpoint = NULL;
    http = ctl_http_new(&config, err, sizeof err);
    CHECK_NOT_NULL(http);
    port = ctl_http_port(http);
    s_get(port, "/api/status", NULL, &r);
    s_check_response(&r, 503, "{\"error\":\"no controller to send commands to\"}");
    s_get(port, "/api/results/file/2", NULL, &r);
    s_check_response(&r, 200, NULL);
    ctl_http_destroy(&http);

    //  Configurations that cannot start.
    static const struct {
        const char *listen;
        const char *token;
        const char *message;
    } bad[] = {
        {"nonsense", NULL, "listen address must be host:port, got \"nonsense\""},
        {":80", NULL, "listen address must be host:port, got \":80\""},
        {"127.0.0.1:99999", NULL, "listen port must be 0..65535, got \"99999\""},
        {"127.0.0.1:", NULL, "listen port must be 0..65535, got \"\""},
        {"127.0.0.1:5x", NULL, "listen port must be 0..65535, got \"5x\""},
        {"[::1:0", NULL, "listen address must be [ipv6]:port, got \"[::1:0\""},
        {"0.0.0.0:0", NULL,
         "listening on 0.0.0.0:0 (not loopback) needs a token for the HTTP API"},
        {"127.0.0.1:0", "", "the HTTP token must not be empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctl_http_config_t c = {
            .listen = bad[i].listen, .db_path = db_path, .token = bad[i].token};
        err[0] = '\0';
        CHECK_NULL(ctl_http_new(&c, err, sizeof err));
        CHECK_STR(err, bad[i].message);
    }
    ctl_http_config_t no_db = {.listen = "127.0.0.1:0", .db_path = "/proc/nope/s.db"};
    CHECK_NULL(ctl_http_new(&no_db, err, sizeof err));
    const char *db_prefix = "cannot open the results database: ";
    CHECK_TRUE(strncmp(err, db_prefix, strlen(db_prefix)) == 0);

    //  IPv6 loopback, when the machine has it.
    ctl_http_config_t v6 = {.listen = "[::1]:0", .db_path = db_path};
    http = ctl_http_new(&v6, err, sizeof err);
    if (http) {
        CHECK_TRUE(ctl_http_port(http) > 0);
        ctl_http_destroy(&http);
    } else if (verbose)
        printf("(no IPv6 loopback: %s) ", err);

    store_destroy(&store);
    zactor_destroy(&fake);
    char path[160];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        unlink(path);
    }
    rmdir(dir);
}

void
ctl_http_test(bool verbose)
{
    s_test_parsers();
    s_test_daemon(verbose);
}
