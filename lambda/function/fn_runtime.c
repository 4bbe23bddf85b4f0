/*  fn_runtime — Lambda Runtime API client; see fn_runtime.h. */
#include "fn_runtime.h"
#include "fn_http.h"
#include "fn_stub.h"
#include "sp_check.h"
#include "sp_err.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BASE "/2018-06-01"

struct _fn_runtime_t {
    fn_http_t *http;                        //  connection to the API
    char request_id[FN_RUNTIME_ID_MAX + 1]; //  of the last invocation
    char error[512];                        //  last failure
};

static void s_set_error(fn_runtime_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void
s_set_error(fn_runtime_t *self, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(self->error, sizeof self->error, format, args);
    va_end(args);
}

fn_runtime_t *
fn_runtime_new(const char *api, char *err, size_t err_size)
{
    if (!api || !*api) {
        sp_err_set(err, err_size, "AWS_LAMBDA_RUNTIME_API is not set");
        return NULL;
    }
    fn_runtime_t *self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    char reason[128];
    self->http = fn_http_new(api, reason, sizeof reason);
    if (!self->http) {
        sp_err_set(err, err_size, "AWS_LAMBDA_RUNTIME_API is invalid: %s", reason);
        free(self);
        return NULL;
    }
    return self;
}

void
fn_runtime_destroy(fn_runtime_t **self_p)
{
    assert(self_p);
    fn_runtime_t *self = *self_p;
    if (!self)
        return;
    fn_http_destroy(&self->http);
    free(self);
    *self_p = NULL;
}

//  Request ids go into URL paths: accept only what ids are made of.
static bool
s_valid_id(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > FN_RUNTIME_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

int
fn_runtime_next(fn_runtime_t *self, fn_runtime_invocation_t *inv)
{
    assert(self && inv);
    self->error[0] = '\0';
    int status = fn_http_request(self->http, "GET", S_BASE "/runtime/invocation/next",
                                 NULL, NULL, 0);
    if (status < 0) {
        s_set_error(self, "next: %s", fn_http_error(self->http));
        return -1;
    }
    if (status != 200) {
        s_set_error(self, "next: status %d", status);
        return -1;
    }
    const char *id = fn_http_header(self->http, "Lambda-Runtime-Aws-Request-Id");
    if (!s_valid_id(id)) {
        s_set_error(self, "next: missing or invalid Lambda-Runtime-Aws-Request-Id");
        return -1;
    }
    snprintf(self->request_id, sizeof self->request_id, "%s", id);
    int64_t deadline = 0;
    const char *deadline_text = fn_http_header(self->http, "Lambda-Runtime-Deadline-Ms");
    if (deadline_text) {
        char *end = NULL;
        errno = 0;
        long long value = strtoll(deadline_text, &end, 10);
        if (errno || end == deadline_text || *end || value < 0) {
            s_set_error(self, "next: invalid Lambda-Runtime-Deadline-Ms");
            return -1;
        }
        deadline = value;
    }
    const char *arn = fn_http_header(self->http, "Lambda-Runtime-Invoked-Function-Arn");
    const char *trace = fn_http_header(self->http, "Lambda-Runtime-Trace-Id");
    inv->request_id = self->request_id;
    inv->deadline_ms = deadline;
    inv->function_arn = arn ? arn : "";
    inv->trace_id = trace ? trace : "";
    inv->event = fn_http_body(self->http, &inv->event_len);
    return 0;
}

//  POSTs `body` to `path`; 0 when the API answers 202.
static int
s_post(fn_runtime_t *self, const char *path, const char *const *headers, const char *body,
       size_t body_len)
{
    self->error[0] = '\0';
    int status = fn_http_request(self->http, "POST", path, headers, body, body_len);
    if (status < 0) {
        s_set_error(self, "POST %s: %s", path, fn_http_error(self->http));
        return -1;
    }
    if (status != 202) {
        size_t len = 0;
        const char *answer = fn_http_body(self->http, &len);
        s_set_error(self, "POST %s: status %d: %.200s", path, status, answer);
        return -1;
    }
    return 0;
}

int
fn_runtime_respond(fn_runtime_t *self, const char *request_id, const char *body,
                   size_t body_len)
{
    assert(self && body);
    if (!s_valid_id(request_id)) {
        s_set_error(self, "respond: invalid request id");
        return -1;
    }
    char path[FN_RUNTIME_ID_MAX + 64];
    snprintf(path, sizeof path, S_BASE "/runtime/invocation/%s/response", request_id);
    const char *headers[] = {"Content-Type", "application/json", NULL};
    return s_post(self, path, headers, body, body_len);
}

//  Posts {"errorMessage", "errorType"} with the error type header.
static int
s_post_error(fn_runtime_t *self, const char *path, const char *type, const char *message)
{
    json_t *doc = json_pack("{s:s, s:s}", "errorMessage", message, "errorType", type);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body) {
        s_set_error(self, "error report: cannot encode (invalid UTF-8 or no memory)");
        return -1;
    }
    const char *headers[] = {"Content-Type", "application/json",
                             "Lambda-Runtime-Function-Error-Type", type, NULL};
    int rc = s_post(self, path, headers, body, strlen(body));
    free(body);
    return rc;
}

int
fn_runtime_fail(fn_runtime_t *self, const char *request_id, const char *type,
                const char *message)
{
    assert(self && type && message);
    if (!s_valid_id(request_id)) {
        s_set_error(self, "fail: invalid request id");
        return -1;
    }
    char path[FN_RUNTIME_ID_MAX + 64];
    snprintf(path, sizeof path, S_BASE "/runtime/invocation/%s/error", request_id);
    return s_post_error(self, path, type, message);
}

int
fn_runtime_init_error(fn_runtime_t *self, const char *type, const char *message)
{
    assert(self && type && message);
    return s_post_error(self, S_BASE "/runtime/init/error", type, message);
}

const char *
fn_runtime_error(fn_runtime_t *self)
{
    assert(self);
    return self->error;
}

//  Checks that request `index` of `stub` starts with `line` and ends with
//  `body`.
static void
s_test_request(fn_stub_t *stub, size_t index, const char *line, const char *body)
{
    const char *request = fn_stub_request(stub, index);
    CHECK_NOT_NULL(request);
    CHECK_TRUE(strncmp(request, line, strlen(line)) == 0);
    size_t len = strlen(request), body_len = strlen(body);
    CHECK_TRUE(len >= body_len);
    CHECK_STR(request + len - body_len, body);
}

void
fn_runtime_test(bool verbose)
{
    char err[256];
    CHECK_NULL(fn_runtime_new(NULL, err, sizeof err));
    CHECK_STR(err, "AWS_LAMBDA_RUNTIME_API is not set");
    CHECK_NULL(fn_runtime_new("", err, sizeof err));
    CHECK_NULL(fn_runtime_new("example.com:80", err, sizeof err));
    CHECK_STR(err,
              "AWS_LAMBDA_RUNTIME_API is invalid: host must be a numeric IP address");

    fn_stub_t *stub = fn_stub_new();
    CHECK_NOT_NULL(stub);
    fn_stub_add(
        stub,
        "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: 8f5e-01\r\n"
        "Lambda-Runtime-Deadline-Ms: 1700000003000\r\n"
        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:1:function:f\r\n"
        "Lambda-Runtime-Trace-Id: Root=1-2-3\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        false);
    fn_stub_add(stub,
                "HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}",
                false);
    fn_stub_add(stub, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", false);
    fn_stub_add(stub, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", false);
    //  Invalid answers: wrong status, missing id, bad id, bad deadline.
    fn_stub_add(stub, "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope", false);
    fn_stub_add(stub, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", false);
    fn_stub_add(stub, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false);
    fn_stub_add(stub,
                "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: ../x\r\n"
                "Content-Length: 0\r\n\r\n",
                false);
    fn_stub_add(stub,
                "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: ok\r\n"
                "Lambda-Runtime-Deadline-Ms: soon\r\nContent-Length: 0\r\n\r\n",
                false);
    fn_stub_add(stub,
                "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: min\r\n"
                "Content-Length: 0\r\n\r\n",
                true);
    CHECK_INT(fn_stub_start(stub), 0);

    char api[32];
    snprintf(api, sizeof api, "127.0.0.1:%u", fn_stub_port(stub));
    fn_runtime_t *runtime = fn_runtime_new(api, err, sizeof err);
    CHECK_NOT_NULL(runtime);
    fn_runtime_invocation_t inv;
    CHECK_INT(fn_runtime_next(runtime, &inv), 0);
    CHECK_STR(inv.request_id, "8f5e-01");
    CHECK_INT(inv.deadline_ms, INT64_C(1700000003000));
    CHECK_STR(inv.function_arn, "arn:aws:lambda:us-east-1:1:function:f");
    CHECK_STR(inv.trace_id, "Root=1-2-3");
    CHECK_STR(inv.event, "{\"a\":1}");
    CHECK_INT(inv.event_len, 7);
    CHECK_STR(fn_runtime_error(runtime), "");
    CHECK_INT(fn_runtime_respond(runtime, inv.request_id, "{\"ok\":true}", 11), 0);
    CHECK_INT(fn_runtime_fail(runtime, "8f5e-01", "Handler.Failed", "it \"broke\""), 0);
    CHECK_INT(fn_runtime_init_error(runtime, "Runtime.InvalidConfig", "bad"), 0);
    CHECK_INT(fn_runtime_respond(runtime, "8f5e-01", "{}", 2), -1);
    CHECK_STR(fn_runtime_error(runtime),
              "POST /2018-06-01/runtime/invocation/8f5e-01/response: status 403: nope");
    CHECK_INT(fn_runtime_next(runtime, &inv), -1);
    CHECK_STR(fn_runtime_error(runtime), "next: status 500");
    CHECK_INT(fn_runtime_next(runtime, &inv), -1);
    CHECK_STR(fn_runtime_error(runtime),
              "next: missing or invalid Lambda-Runtime-Aws-Request-Id");
    CHECK_INT(fn_runtime_next(runtime, &inv), -1);
    CHECK_INT(fn_runtime_next(runtime, &inv), -1);
    CHECK_STR(fn_runtime_error(runtime), "next: invalid Lambda-Runtime-Deadline-Ms");
    CHECK_INT(fn_runtime_next(runtime, &inv), 0);
    CHECK_STR(inv.request_id, "min");
    CHECK_INT(inv.deadline_ms, 0);
    CHECK_STR(inv.function_arn, "");
    CHECK_STR(inv.trace_id, "");
    CHECK_INT(inv.event_len, 0);
    //  Nothing is sent for an id that could escape the path.
    CHECK_INT(fn_runtime_respond(runtime, "a/b", "{}", 2), -1);
    CHECK_STR(fn_runtime_error(runtime), "respond: invalid request id");
    CHECK_INT(fn_runtime_fail(runtime, "", "T", "m"), -1);
    CHECK_INT(fn_stub_wait(stub), 10);

    s_test_request(stub, 0, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n",
                   "\r\n\r\n");
    s_test_request(stub, 1,
                   "POST /2018-06-01/runtime/invocation/8f5e-01/response HTTP/1.1\r\n",
                   "\r\n\r\n{\"ok\":true}");
    s_test_request(stub, 2,
                   "POST /2018-06-01/runtime/invocation/8f5e-01/error HTTP/1.1\r\n",
                   "\r\n\r\n{\"errorMessage\":\"it "
                   "\\\"broke\\\"\",\"errorType\":\"Handler.Failed\"}");
    CHECK_TRUE(strstr(fn_stub_request(stub, 2),
                      "\r\nLambda-Runtime-Function-Error-Type: Handler.Failed\r\n") !=
               NULL);
    s_test_request(stub, 3, "POST /2018-06-01/runtime/init/error HTTP/1.1\r\n",
                   "{\"errorMessage\":\"bad\",\"errorType\":\"Runtime.InvalidConfig\"}");
    CHECK_TRUE(
        strstr(fn_stub_request(stub, 3),
               "\r\nLambda-Runtime-Function-Error-Type: Runtime.InvalidConfig\r\n") !=
        NULL);
    fn_stub_destroy(&stub);

    //  The API gone: errors, never a hang.
    CHECK_INT(fn_runtime_next(runtime, &inv), -1);
    CHECK_TRUE(strncmp(fn_runtime_error(runtime), "next: connect", 13) == 0);
    CHECK_INT(fn_runtime_init_error(runtime, "T", "m"), -1);
    fn_runtime_destroy(&runtime);
    CHECK_NULL(runtime);
    fn_runtime_destroy(&runtime);
    (void)verbose;
}
