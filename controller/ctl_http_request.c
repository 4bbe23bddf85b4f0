/*  ctl_http_request — the HTTP API's request checks; see ctl_http_request.h.
 */
#include "ctl_http_request.h"
#include "ctl_runspec.h"
#include "proto_codec.h"
#include "sp_check.h"
#include "sp_err.h"

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
static const char *const s_run_fields[] = {"url",     "requests",       "method",
                                           "headers", "body",           "start_mode",
                                           "door",    "arrival_header", "ca_pem"};

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
//  Selftest

//  Exact-value checks of the pure request parsers.
void
ctl_http_request_test(bool verbose)
{
    char err[256];
    ctl_http_request_t req;

    //  Text for logs and clients.
    char safe[16];
    ctl_http_printable(safe, sizeof safe,
                       "GET /a\x01"
                       "b\xff");
    CHECK_STR(safe, "GET /a?b?");
    ctl_http_printable(safe, sizeof safe, "0123456789abcdefghij");
    CHECK_STR(safe, "0123456789ab...");
    ctl_http_printable(safe, sizeof safe, NULL);
    CHECK_STR(safe, "");

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
        {"{\"door\":\"apigw-rest\"}", "{\"action\":\"run\",\"door\":\"apigw-rest\"}",
         NULL},
        {"{\"door\":\"alb\"}", NULL, CTL_RUNSPEC_DOOR_ERROR},
        {"{\"arrival_header\":\"X-Received-At\"}",
         "{\"action\":\"run\",\"arrival_header\":\"X-Received-At\"}", NULL},
        {"{\"arrival_header\":\"X Received\"}", NULL, CTL_RUNSPEC_ARRIVAL_HEADER_ERROR},
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
            char *text = json_dumps(command, JSON_COMPACT);
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
    int prefix = snprintf(big, 64, "{\"url\":\"http://h/");
    size_t url_fill = CTL_HTTP_MAX_URL - strlen("http://h/");
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
