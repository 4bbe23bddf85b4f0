/*  agent_wire — a request's bytes and its answer's parser; see agent_wire.h.

    The answer goes to agent_response the way curl's callbacks would hand it
    over: the status line first ("HTTP/1.1 200 OK\r\n", rebuilt from what
    the parser read), then one "Name: value\r\n" per header, the blank line,
    then body chunks. An interim 1xx answer is passed on like any other (its
    status line makes agent_response forget it) and parsing goes on to the
    final answer.
*/
#include "agent_wire.h"
#include "sp_check.h"
#include "sp_url.h"

#include <curl/curl.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_REASON_MAX 128 //  bytes of a status line's reason phrase kept

struct _agent_wire_t {
    http_parser parser;
    agent_response_t *response; //  borrowed
    bool head;                  //  answer to a HEAD: no body
    agent_wire_state_t state;
    int code; //  CURLcode when FAILED
    char error[CURL_ERROR_SIZE];
    uint64_t received; //  bytes fed
    long status;       //  the final answer's status, once its headers are in
    bool status_sent;  //  the status line went to response
    char reason[S_REASON_MAX + 1];
    size_t reason_len;
    char *line; //  the header line being read
    size_t line_len;
    size_t line_alloc;
    bool in_value; //  the line has its ": " already
};

//  --------------------------------------------------------------------------
//  The request

//  Appends printf-style text to a heap string; -1 when out of memory.
static int
s_append(char **buf, size_t *len, size_t *alloc, const char *data, size_t size)
{
    if (*len + size + 1 > *alloc) {
        size_t want = *alloc ? *alloc : 256;
        while (want < *len + size + 1)
            want *= 2;
        char *grown = realloc(*buf, want);
        if (!grown)
            return -1;
        *buf = grown;
        *alloc = want;
    }
    memcpy(*buf + *len, data, size);
    *len += size;
    (*buf)[*len] = '\0';
    return 0;
}

static int
s_append_str(char **buf, size_t *len, size_t *alloc, const char *text)
{
    return s_append(buf, len, alloc, text, strlen(text));
}

//  A header the request carries itself, whatever the target says.
static bool
s_header_dropped(const char *name)
{
    return strcasecmp(name, "Expect") == 0 || strcasecmp(name, "Content-Length") == 0 ||
           strcasecmp(name, "Transfer-Encoding") == 0 ||
           strcasecmp(name, "Connection") == 0;
}

static bool
s_target_has(const Stampede__Target *target, const char *name)
{
    for (size_t i = 0; i < target->n_headers; i++)
        if (strcasecmp(target->headers[i]->name, name) == 0)
            return true;
    return false;
}

//  The request target (path and query, as curl would write them).
static int
s_request_path(const char *url, char **path, char *err, size_t err_size)
{
    CURLU *handle = curl_url();
    char *url_path = NULL, *query = NULL;
    int rc = -1;
    if (handle && curl_url_set(handle, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(handle, CURLUPART_PATH, &url_path, 0) == CURLUE_OK) {
        if (curl_url_get(handle, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
            query = NULL;
        *path = query ? zsys_sprintf("%s?%s", url_path, query) : strdup(url_path);
        rc = *path ? 0 : -1;
        if (rc != 0)
            snprintf(err, err_size, "out of memory");
    } else
        snprintf(err, err_size, "URL does not parse");
    curl_free(url_path);
    curl_free(query);
    curl_url_cleanup(handle);
    return rc;
}

int
agent_wire_request(const Stampede__Target *target, char **out, size_t *size, char *err,
                   size_t err_size)
{
    assert(target && out && size);
    *out = NULL;
    *size = 0;
    sp_url_t url;
    if (sp_url_parse(target->url, &url, err, err_size) != 0)
        return -1;
    char *path = NULL;
    if (s_request_path(target->url, &path, err, err_size) != 0)
        return -1;
    char *buf = NULL;
    size_t len = 0, alloc = 0;
    int rc = 0;
    char line[SP_URL_HOST_MAX + 64];
    rc |= s_append_str(&buf, &len, &alloc, target->method);
    rc |= s_append_str(&buf, &len, &alloc, " ");
    rc |= s_append_str(&buf, &len, &alloc, path);
    rc |= s_append_str(&buf, &len, &alloc, " HTTP/1.1\r\n");
    free(path);
    if (!s_target_has(target, "Host")) {
        //  curl's rule: the port only when it is not the scheme's own.
        if (url.port == (url.https ? 443 : 80))
            snprintf(line, sizeof line, "Host: %s\r\n", url.host);
        else
            snprintf(line, sizeof line, "Host: %s:%u\r\n", url.host, url.port);
        rc |= s_append_str(&buf, &len, &alloc, line);
    }
    if (!s_target_has(target, "User-Agent"))
        rc |= s_append_str(&buf, &len, &alloc,
                           "User-Agent: stampede-agent/" STAMPEDE_VERSION "\r\n");
    if (!s_target_has(target, "Accept"))
        rc |= s_append_str(&buf, &len, &alloc, "Accept: */*\r\n");
    for (size_t i = 0; i < target->n_headers; i++) {
        const Stampede__Header *header = target->headers[i];
        if (s_header_dropped(header->name))
            continue;
        rc |= s_append_str(&buf, &len, &alloc, header->name);
        rc |= s_append_str(&buf, &len, &alloc, ": ");
        rc |= s_append_str(&buf, &len, &alloc, header->value);
        rc |= s_append_str(&buf, &len, &alloc, "\r\n");
    }
    //  curl's rule: a body, or a POST, says its length.
    if (target->body.len > 0 || strcmp(target->method, "POST") == 0) {
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", target->body.len);
        rc |= s_append_str(&buf, &len, &alloc, line);
    }
    rc |= s_append_str(&buf, &len, &alloc, "\r\n");
    if (target->body.len > 0)
        rc |= s_append(&buf, &len, &alloc, (const char *)target->body.data,
                       target->body.len);
    if (rc != 0) {
        free(buf);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    *out = buf;
    *size = len;
    return 0;
}

//  --------------------------------------------------------------------------
//  The answer

static agent_wire_t *
s_self(http_parser *parser)
{
    return (agent_wire_t *)parser->data;
}

static void
s_fail(agent_wire_t *self, int code, const char *text)
{
    if (self->state != AGENT_WIRE_MORE)
        return;
    self->state = AGENT_WIRE_FAILED;
    self->code = code;
    snprintf(self->error, sizeof self->error, "%s", text);
}

//  Hands the status line to the response, once per answer.
static void
s_send_status(agent_wire_t *self)
{
    if (self->status_sent)
        return;
    char line[S_REASON_MAX + 32];
    int n = snprintf(line, sizeof line, "HTTP/%u.%u %u %.*s\r\n", self->parser.http_major,
                     self->parser.http_minor, self->parser.status_code,
                     (int)self->reason_len, self->reason);
    agent_response_header(self->response, line, (size_t)n);
    self->status_sent = true;
}

//  Hands the header line being read to the response.
static int
s_send_line(agent_wire_t *self)
{
    if (self->line_len == 0)
        return 0;
    if (s_append(&self->line, &self->line_len, &self->line_alloc, "\r\n", 2) != 0)
        return -1;
    agent_response_header(self->response, self->line, self->line_len);
    self->line_len = 0;
    self->in_value = false;
    return 0;
}

static int
s_on_message_begin(http_parser *parser)
{
    agent_wire_t *self = s_self(parser);
    self->status_sent = false;
    self->reason_len = 0;
    self->line_len = 0;
    self->in_value = false;
    return 0;
}

static int
s_on_status(http_parser *parser, const char *at, size_t size)
{
    agent_wire_t *self = s_self(parser);
    size_t room = S_REASON_MAX - self->reason_len;
    size_t n = size < room ? size : room;
    memcpy(self->reason + self->reason_len, at, n);
    self->reason_len += n;
    return 0;
}

static int
s_on_header_field(http_parser *parser, const char *at, size_t size)
{
    agent_wire_t *self = s_self(parser);
    s_send_status(self);
    if (self->in_value && s_send_line(self) != 0)
        return -1;
    return s_append(&self->line, &self->line_len, &self->line_alloc, at, size);
}

static int
s_on_header_value(http_parser *parser, const char *at, size_t size)
{
    agent_wire_t *self = s_self(parser);
    if (!self->in_value) {
        if (s_append(&self->line, &self->line_len, &self->line_alloc, ": ", 2) != 0)
            return -1;
        self->in_value = true;
    }
    return s_append(&self->line, &self->line_len, &self->line_alloc, at, size);
}

static int
s_on_headers_complete(http_parser *parser)
{
    agent_wire_t *self = s_self(parser);
    s_send_status(self);
    if (s_send_line(self) != 0)
        return -1;
    agent_response_header(self->response, "\r\n", 2);
    if (parser->status_code / 100 != 1 || parser->status_code == 101)
        self->status = parser->status_code;
    //  1: an answer to HEAD has no body, whatever its Content-Length says.
    return self->head && self->status != 0 ? 1 : 0;
}

static int
s_on_body(http_parser *parser, const char *at, size_t size)
{
    agent_response_body(s_self(parser)->response, at, size);
    return 0;
}

static int
s_on_message_complete(http_parser *parser)
{
    agent_wire_t *self = s_self(parser);
    if (self->status != 0 && self->state == AGENT_WIRE_MORE) {
        self->state = AGENT_WIRE_DONE;
        //  Whatever follows is not ours to read.
        http_parser_pause(parser, 1);
    }
    return 0;
}

static const http_parser_settings s_settings = {
    .on_message_begin = s_on_message_begin,
    .on_status = s_on_status,
    .on_header_field = s_on_header_field,
    .on_header_value = s_on_header_value,
    .on_headers_complete = s_on_headers_complete,
    .on_body = s_on_body,
    .on_message_complete = s_on_message_complete,
};

agent_wire_t *
agent_wire_new(agent_response_t *response, bool head)
{
    assert(response);
    agent_wire_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    http_parser_init(&self->parser, HTTP_RESPONSE);
    self->parser.data = self;
    self->response = response;
    self->head = head;
    self->state = AGENT_WIRE_MORE;
    return self;
}

void
agent_wire_destroy(agent_wire_t **self_p)
{
    assert(self_p);
    agent_wire_t *self = *self_p;
    if (self) {
        free(self->line);
        free(self);
        *self_p = NULL;
    }
}

//  Judges the parser after a call of http_parser_execute.
static void
s_after_execute(agent_wire_t *self)
{
    enum http_errno error = HTTP_PARSER_ERRNO(&self->parser);
    if (self->state != AGENT_WIRE_MORE || error == HPE_OK || error == HPE_PAUSED)
        return;
    char text[CURL_ERROR_SIZE];
    snprintf(text, sizeof text, "malformed answer from the server: %s",
             http_errno_description(error));
    s_fail(self, CURLE_WEIRD_SERVER_REPLY, text);
}

agent_wire_state_t
agent_wire_feed(agent_wire_t *self, const void *data, size_t size)
{
    assert(self);
    if (self->state != AGENT_WIRE_MORE || size == 0)
        return self->state;
    self->received += size;
    http_parser_execute(&self->parser, &s_settings, data, size);
    s_after_execute(self);
    return self->state;
}

agent_wire_state_t
agent_wire_eof(agent_wire_t *self)
{
    assert(self);
    if (self->state != AGENT_WIRE_MORE)
        return self->state;
    //  Zero bytes tell the parser the connection ended.
    http_parser_execute(&self->parser, &s_settings, NULL, 0);
    if (HTTP_PARSER_ERRNO(&self->parser) != HPE_INVALID_EOF_STATE)
        s_after_execute(self);
    if (self->state == AGENT_WIRE_MORE)
        s_fail(self, self->received ? CURLE_PARTIAL_FILE : CURLE_GOT_NOTHING,
               self->received ? "connection closed before the answer was complete"
                              : "Empty reply from server");
    return self->state;
}

agent_wire_state_t
agent_wire_fail(agent_wire_t *self, int curl_code, const char *text)
{
    assert(self && text);
    s_fail(self, curl_code, text);
    return self->state;
}

agent_wire_state_t
agent_wire_state(agent_wire_t *self)
{
    assert(self);
    return self->state;
}

long
agent_wire_status(agent_wire_t *self)
{
    assert(self);
    return self->status;
}

uint64_t
agent_wire_received(agent_wire_t *self)
{
    assert(self);
    return self->received;
}

int
agent_wire_code(agent_wire_t *self)
{
    assert(self);
    return self->state == AGENT_WIRE_FAILED ? self->code : CURLE_OK;
}

const char *
agent_wire_error(agent_wire_t *self)
{
    assert(self);
    return self->state == AGENT_WIRE_FAILED ? self->error : "";
}

//  --------------------------------------------------------------------------
//  Selftest

//  The request bytes for a target of method, url, body and one header.
static char *
s_request(const char *method, const char *url, const char *body, const char *name,
          const char *value, size_t *size)
{
    Stampede__Target target = STAMPEDE__TARGET__INIT;
    Stampede__Header header = STAMPEDE__HEADER__INIT;
    Stampede__Header *headers[1] = {&header};
    target.url = (char *)url;
    target.method = (char *)method;
    if (body) {
        target.body.data = (uint8_t *)body;
        target.body.len = strlen(body);
    }
    if (name) {
        header.name = (char *)name;
        header.value = (char *)value;
        target.headers = headers;
        target.n_headers = 1;
    }
    char *bytes = NULL, err[128];
    CHECK_INT(agent_wire_request(&target, &bytes, size, err, sizeof err), 0);
    CHECK_INT(strlen(bytes), *size);
    return bytes;
}

//  Parses `answer` fed in pieces of `step` bytes (then EOF when eof) and
//  finishes the result.
static agent_wire_state_t
s_parse(const char *answer, size_t step, bool head, bool eof, Stampede__Result *result)
{
    agent_response_t *response = agent_response_new();
    agent_wire_t *wire = agent_wire_new(response, head);
    CHECK_NOT_NULL(wire);
    size_t size = strlen(answer);
    agent_wire_state_t state = AGENT_WIRE_MORE;
    for (size_t at = 0; at < size && state == AGENT_WIRE_MORE; at += step)
        state = agent_wire_feed(wire, answer + at, size - at < step ? size - at : step);
    if (eof)
        state = agent_wire_eof(wire);
    agent_response_result_init(result, 7);
    agent_response_finish(response, result, STAMPEDE__DOOR__DOOR_FUNCTION_URL,
                          agent_wire_code(wire), agent_wire_error(wire),
                          agent_wire_status(wire));
    agent_wire_destroy(&wire);
    agent_wire_destroy(&wire);
    CHECK_NULL(wire);
    agent_response_destroy(&response);
    return state;
}

void
agent_wire_test(bool verbose)
{
    size_t size;
    char *bytes =
        s_request("GET", "http://127.0.0.1:8080/a/b?x=1#frag", NULL, NULL, NULL, &size);
    CHECK_STR(bytes, "GET /a/b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                     "User-Agent: stampede-agent/" STAMPEDE_VERSION "\r\n"
                     "Accept: */*\r\n\r\n");
    free(bytes);
    //  The scheme's own port is left out; the body's length is said; the
    //  target's Expect is dropped, its Accept replaces ours.
    bytes = s_request("POST", "https://Example.com:443", "{\"burst\":1}", "Expect",
                      "100-continue", &size);
    CHECK_STR(bytes, "POST / HTTP/1.1\r\nHost: Example.com\r\n"
                     "User-Agent: stampede-agent/" STAMPEDE_VERSION "\r\n"
                     "Accept: */*\r\nContent-Length: 11\r\n\r\n{\"burst\":1}");
    free(bytes);
    bytes = s_request("POST", "http://[::1]:9/p", NULL, "Accept", "text/plain", &size);
    CHECK_STR(bytes, "POST /p HTTP/1.1\r\nHost: [::1]:9\r\n"
                     "User-Agent: stampede-agent/" STAMPEDE_VERSION "\r\n"
                     "Accept: text/plain\r\nContent-Length: 0\r\n\r\n");
    free(bytes);
    bytes = s_request("DELETE", "http://h/", NULL, "X-Empty", "", &size);
    CHECK_STR(bytes, "DELETE / HTTP/1.1\r\nHost: h\r\n"
                     "User-Agent: stampede-agent/" STAMPEDE_VERSION "\r\n"
                     "Accept: */*\r\nX-Empty: \r\n\r\n");
    free(bytes);
    Stampede__Target bad = STAMPEDE__TARGET__INIT;
    bad.url = "ftp://h/";
    bad.method = "GET";
    char err[128];
    CHECK_INT(agent_wire_request(&bad, &bytes, &size, err, sizeof err), -1);
    CHECK_STR(err, "URL must start with http:// or https://");
    CHECK_NULL(bytes);

    //  An answer in any split: a throttle, its headers, its body.
    const char *throttle = "HTTP/1.1 429 Too Many Requests\r\n"
                           "Content-Type: application/json\r\n"
                           "X-Stampede-Received-Ns: 1234567\r\n"
                           "Content-Length: 28\r\n\r\n"
                           "{\"Reason\":\"ReservedFunction\"}";
    for (size_t step = 1; step <= strlen(throttle); step += 7) {
        Stampede__Result result;
        CHECK_INT(s_parse(throttle, step, false, false, &result), AGENT_WIRE_DONE);
        CHECK_STR(proto_outcome_name(result.outcome), "throttled");
        CHECK_INT(result.http_status, 429);
        CHECK_INT(result.received_ns, 1234567);
        CHECK_STR(result.error, "");
        agent_response_result_clear(&result);
    }
    //  An interim 100 Continue, then chunked; then bytes that are not ours.
    Stampede__Result result;
    CHECK_INT(s_parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "4\r\n{\"in\r\n6\r\nvocati\r\n0\r\n\r\nGARBAGE",
                      5, false, false, &result),
              AGENT_WIRE_DONE);
    CHECK_STR(proto_outcome_name(result.outcome), "ok");
    CHECK_INT(result.http_status, 200);
    agent_response_result_clear(&result);
    //  A body that runs to the end of the connection.
    CHECK_INT(s_parse("HTTP/1.0 200 OK\r\n\r\n{\"invocation_count\":4}", 3, false, true,
                      &result),
              AGENT_WIRE_DONE);
    CHECK_INT(result.invocation_count, 4);
    agent_response_result_clear(&result);
    //  HEAD: a length but no body.
    CHECK_INT(
        s_parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 4, true, false, &result),
        AGENT_WIRE_DONE);
    agent_response_result_clear(&result);
    //  Closed early, closed before anything, nonsense.
    CHECK_INT(s_parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nab", 4, false, true,
                      &result),
              AGENT_WIRE_FAILED);
    CHECK_STR(result.error, "connection closed before the answer was complete");
    agent_response_result_clear(&result);
    CHECK_INT(s_parse("", 1, false, true, &result), AGENT_WIRE_FAILED);
    CHECK_STR(result.error, "Empty reply from server");
    CHECK_INT(result.http_status, 0);
    agent_response_result_clear(&result);
    CHECK_INT(s_parse("SSH-2.0-OpenSSH\r\n", 4, false, false, &result),
              AGENT_WIRE_FAILED);
    CHECK_TRUE(strncmp(result.error, "malformed answer from the server: ", 34) == 0);
    agent_response_result_clear(&result);
    //  A failure the caller saw; a complete answer stays complete.
    agent_response_t *response = agent_response_new();
    agent_wire_t *wire = agent_wire_new(response, false);
    CHECK_INT(agent_wire_feed(wire, "HTTP/1.1 204 No Content\r\n\r\n", 27),
              AGENT_WIRE_DONE);
    CHECK_INT(agent_wire_fail(wire, CURLE_OPERATION_TIMEDOUT, "timed out"),
              AGENT_WIRE_DONE);
    CHECK_INT(agent_wire_code(wire), CURLE_OK);
    CHECK_INT(agent_wire_status(wire), 204);
    CHECK_INT(agent_wire_received(wire), 27);
    agent_wire_destroy(&wire);
    wire = agent_wire_new(response, false);
    CHECK_INT(agent_wire_fail(wire, CURLE_OPERATION_TIMEDOUT, "timed out"),
              AGENT_WIRE_FAILED);
    CHECK_INT(agent_wire_code(wire), CURLE_OPERATION_TIMEDOUT);
    CHECK_STR(agent_wire_error(wire), "timed out");
    CHECK_INT(agent_wire_feed(wire, "HTTP/1.1 200 OK\r\n\r\n", 19), AGENT_WIRE_FAILED);
    agent_wire_destroy(&wire);
    agent_response_destroy(&response);
    if (verbose)
        printf("(wire checks done) ");
}
