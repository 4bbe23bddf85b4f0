/*  ctl_http_request — the HTTP API's request checks; see ctl_http_request.h.
 */
#include "ctl_http_request.h"
#include "ctl_runspec.h"
#include "proto_codec.h"
#include "sp_check.h"
#include "sp_err.h"
#include "store_rows.h"
#include "store_views.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
ctl_http_printable(char *dst, size_t dst_size, const char *src)
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
    if (strcmp(path, "/api/events") == 0) {
        out->route = CTL_HTTP_ROUTE_EVENTS;
        return 0;
    }
    if (s_has_prefix(path, "/api/runs/")) {
        const char *id = path + strlen("/api/runs/");
        size_t id_len = strlen(id);
        static const struct {
            const char *suffix;
            ctl_http_route_t route;
        } parts[] = {{"/rows", CTL_HTTP_ROUTE_ROWS},
                     {"/charts", CTL_HTTP_ROUTE_CHARTS},
                     {"/requests.csv", CTL_HTTP_ROUTE_CSV}};
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            size_t len = strlen(parts[i].suffix);
            if (id_len > len && strcmp(id + id_len - len, parts[i].suffix) == 0) {
                if (!s_parse_id(id, id_len - len, &out->run_id)) {
                    sp_err_set(err, err_size, "run id must be a positive integer");
                    return 400;
                }
                out->route = parts[i].route;
                return 0;
            }
        }
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
static const char *const s_run_fields[] = {"url",
                                           "requests",
                                           "method",
                                           "headers",
                                           "body",
                                           "start_mode",
                                           "door",
                                           "arrival_header",
                                           "ca_pem",
                                           "label",
                                           "reserved_configured",
                                           "compensate_path"};

//  Checks one field of the run command: a field the API takes, by the
//  run specification's rules; returns false with err set.
static bool
s_run_field(const char *key, json_t *value, char *err, size_t err_size)
{
    //  The original demo's name for the count.
    if (strcmp(key, "num_requests") == 0)
        key = "requests";
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
            ctl_http_printable(text, sizeof text, error.text);
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
    json_t *seed_count = json_object_get(given, "num_requests");
    if (seed_count) {
        if (json_object_get(given, "requests")) {
            sp_err_set(err, err_size, "give requests or num_requests, not both");
            goto out;
        }
        if (json_object_set(given, "requests", seed_count) != 0 ||
            json_object_del(given, "num_requests") != 0) {
            sp_err_set(err, err_size, "out of memory");
            goto out;
        }
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

//  A decimal of 1..digits digits only, value in [min, max].
static bool
s_parse_range(const char *text, int digits, int64_t min, int64_t max, int64_t *value)
{
    size_t len = strlen(text);
    if (len == 0 || len > (size_t)digits)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        int digit = text[i] - '0';
        if (v > (INT64_MAX - digit) / 10)
            return false; //  past INT64_MAX
        v = v * 10 + digit;
    }
    if (v < min || v > max)
        return false;
    *value = v;
    return true;
}

//  ?q=: at most STORE_ROWS_FILTER_MAX printable ASCII bytes; "" is none.
static int
s_text_filter(const ctl_http_input_t *in, ctl_http_request_t *out, char *err,
              size_t err_size)
{
    if (in->q) {
        size_t len = strlen(in->q);
        bool printable = len <= STORE_ROWS_FILTER_MAX;
        for (size_t i = 0; printable && i < len; i++)
            printable = (unsigned char)in->q[i] >= 0x20 && (unsigned char)in->q[i] < 0x7f;
        if (!printable) {
            sp_err_set(err, err_size, "q must be at most %d printable ASCII characters",
                       STORE_ROWS_FILTER_MAX);
            return 400;
        }
    }
    out->q = in->q && in->q[0] ? in->q : NULL;
    return 0;
}

//  The rows page's query: every parameter optional, each checked.
static int
s_rows_query(const ctl_http_input_t *in, ctl_http_request_t *out, char *err,
             size_t err_size)
{
    int64_t value = 0;
    out->offset = 0;
    out->limit = CTL_HTTP_ROWS_LIMIT_DEFAULT;
    if (in->offset) {
        if (!s_parse_range(in->offset, 7, 0, CTL_HTTP_ROWS_OFFSET_MAX, &value)) {
            sp_err_set(err, err_size, "offset must be an integer from 0 to %d",
                       CTL_HTTP_ROWS_OFFSET_MAX);
            return 400;
        }
        out->offset = value;
    }
    if (in->limit) {
        if (!s_parse_range(in->limit, 4, 1, STORE_ROWS_PAGE_MAX, &value)) {
            sp_err_set(err, err_size, "limit must be an integer from 1 to %d",
                       STORE_ROWS_PAGE_MAX);
            return 400;
        }
        out->limit = (int)value;
    }
    if (in->sort && !store_rows_sort_ok(in->sort)) {
        sp_err_set(err, err_size,
                   "sort must be index, agent, outcome, status, latency, environment, "
                   "cold_start, init_type, sent or arrival");
        return 400;
    }
    out->sort = in->sort;
    if (in->order && strcmp(in->order, "asc") != 0 && strcmp(in->order, "desc") != 0) {
        sp_err_set(err, err_size, "order must be asc or desc");
        return 400;
    }
    out->desc = in->order && strcmp(in->order, "desc") == 0;
    if (in->outcome && in->outcome[0] && !store_rows_outcome_ok(in->outcome)) {
        sp_err_set(err, err_size, "outcome must be ok, throttled, error or lost");
        return 400;
    }
    out->outcome = in->outcome && in->outcome[0] ? in->outcome : NULL;
    return s_text_filter(in, out, err, err_size);
}

//  The run list's query: limit, outcome, q, since, until; each optional.
static int
s_runs_query(const ctl_http_input_t *in, ctl_http_request_t *out, char *err,
             size_t err_size)
{
    int status = ctl_http_limit_parse(in->limit, &out->limit, err, err_size);
    if (status)
        return status;
    if (in->outcome && in->outcome[0] && !store_runs_outcome_ok(in->outcome)) {
        sp_err_set(err, err_size,
                   "outcome must be completed, completed_with_losses, mis_started, "
                   "interrupted, failed, pending or running");
        return 400;
    }
    out->outcome = in->outcome && in->outcome[0] ? in->outcome : NULL;
    const char *names[] = {"since", "until"};
    const char *values[] = {in->since, in->until};
    int64_t *slots[] = {&out->since_ns, &out->until_ns};
    for (size_t i = 0; i < 2; i++) {
        *slots[i] = 0;
        if (values[i] && !s_parse_range(values[i], 19, 0, INT64_MAX, slots[i])) {
            sp_err_set(err, err_size,
                       "%s must be an instant in ns since the epoch (0 to %" PRId64 ")",
                       names[i], INT64_MAX);
            return 400;
        }
    }
    return s_text_filter(in, out, err, err_size);
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
        status = s_runs_query(in, out, err, err_size);
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
    if (out->route == CTL_HTTP_ROUTE_ROWS) {
        status = s_rows_query(in, out, err, err_size);
        if (status)
            return status;
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
