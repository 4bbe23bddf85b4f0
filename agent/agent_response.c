/*  agent_response — HTTP exchange to Result; see agent_response.h.

    The body buffer grows by doubling up to AGENT_RESPONSE_MAX_BODY and never
    beyond; a body that overflowed it is not parsed (a cut JSON document is
    not JSON). jansson bounds nesting depth and validates UTF-8 itself; this
    file bounds lengths and types.
*/
#include "agent_response.h"
#include "agent_door.h"
#include "proto_fixture.h"
#include "sp_check.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct _agent_response_t {
    char *body;                 //  kept body bytes, NUL-terminated when allocated
    size_t body_kept;           //  bytes in body
    size_t body_alloc;          //  allocated size of body
    uint64_t body_seen;         //  every body byte fed, kept or counted
    bool function_error;        //  X-Amz-Function-Error present
    bool rest_api;              //  x-amz-apigw-id present
    bool http_api;              //  apigw-requestid present
    bool has_received_ns;       //  a valid X-Stampede-Received-Ns arrived
    int64_t received_ns;        //  its value
    const char *arrival_header; //  the header holding it (borrowed)
    char error_type[AGENT_DOOR_ERROR_TYPE_MAX + 1]; //  x-amzn-ErrorType, or ""
};

#define S_ARRIVAL_HEADER "X-Stampede-Received-Ns"

agent_response_t *
agent_response_new(void)
{
    agent_response_t *self = calloc(1, sizeof *self);
    if (self)
        self->arrival_header = S_ARRIVAL_HEADER;
    return self;
}

void
agent_response_set_arrival_header(agent_response_t *self, const char *name)
{
    assert(self);
    self->arrival_header = name && *name ? name : S_ARRIVAL_HEADER;
}

void
agent_response_destroy(agent_response_t **self_p)
{
    assert(self_p);
    agent_response_t *self = *self_p;
    if (self) {
        free(self->body);
        free(self);
        *self_p = NULL;
    }
}

static void
s_reset_headers(agent_response_t *self)
{
    self->function_error = false;
    self->rest_api = false;
    self->http_api = false;
    self->has_received_ns = false;
    self->received_ns = 0;
    self->error_type[0] = '\0';
}

void
agent_response_reset(agent_response_t *self)
{
    assert(self);
    free(self->body);
    self->body = NULL;
    self->body_kept = 0;
    self->body_alloc = 0;
    self->body_seen = 0;
    s_reset_headers(self);
}

static bool
s_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

//  Narrows [*start, *end) to drop blanks on both sides.
static void
s_trim(const char **start, const char **end)
{
    while (*start < *end && s_blank(**start))
        (*start)++;
    while (*end > *start && s_blank((*end)[-1]))
        (*end)--;
}

static bool
s_name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

void
agent_response_header(agent_response_t *self, const char *line, size_t size)
{
    assert(self);
    if (!line)
        return;
    if (size >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        s_reset_headers(self);
        return;
    }
    const char *colon = memchr(line, ':', size);
    if (!colon || colon == line || s_blank(line[0]))
        return; //  blank line, folded continuation or garbage
    const char *name = line, *name_end = colon;
    s_trim(&name, &name_end);
    const char *value = colon + 1, *value_end = line + size;
    s_trim(&value, &value_end);
    size_t name_len = (size_t)(name_end - name);
    size_t value_len = (size_t)(value_end - value);
    if (s_name_is(name, name_len, "X-Amz-Function-Error"))
        self->function_error = true;
    else if (s_name_is(name, name_len, "x-amz-apigw-id"))
        self->rest_api = true;
    else if (s_name_is(name, name_len, "apigw-requestid"))
        self->http_api = true;
    else if (s_name_is(name, name_len, "x-amzn-ErrorType")) {
        //  "Type" or "Type:http://…": the type alone, printable, capped.
        size_t len = 0;
        while (len < value_len && len < AGENT_DOOR_ERROR_TYPE_MAX && value[len] != ':' &&
               value[len] > 0x20 && value[len] < 0x7f)
            len++;
        memcpy(self->error_type, value, len);
        self->error_type[len] = '\0';
    } else if (s_name_is(name, name_len, self->arrival_header)) {
        int64_t ns;
        if (agent_response_parse_received_ns(value, value_len, &ns)) {
            self->received_ns = ns;
            self->has_received_ns = true;
        }
    }
}

void
agent_response_body(agent_response_t *self, const void *data, size_t size)
{
    assert(self);
    self->body_seen += size;
    if (self->body_kept >= AGENT_RESPONSE_MAX_BODY || size == 0)
        return;
    size_t room = AGENT_RESPONSE_MAX_BODY - self->body_kept;
    size_t take = size < room ? size : room;
    size_t need = self->body_kept + take + 1;
    if (need > self->body_alloc) {
        size_t alloc = self->body_alloc ? self->body_alloc : 1024;
        while (alloc < need)
            alloc *= 2;
        if (alloc > AGENT_RESPONSE_MAX_BODY + 1)
            alloc = AGENT_RESPONSE_MAX_BODY + 1;
        char *grown = realloc(self->body, alloc);
        if (!grown)
            return; //  out of memory: the body is only counted
        self->body = grown;
        self->body_alloc = alloc;
    }
    memcpy(self->body + self->body_kept, data, take);
    self->body_kept += take;
    self->body[self->body_kept] = '\0';
}

uint64_t
agent_response_body_size(agent_response_t *self)
{
    assert(self);
    return self->body_seen;
}

//  Stores a printable ASCII copy of text, at most PROTO_MAX_ERROR bytes.
static void
s_set_error(Stampede__Result *result, const char *text)
{
    size_t len = strnlen(text, PROTO_MAX_ERROR);
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        copy[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    copy[len] = '\0';
    result->error = copy;
}

//  The JSON object in body, or NULL when it is none (not JSON, not an
//  object). JSON_ALLOW_NUL: a "\u0000" inside one string drops that field
//  (see s_field_copy), not the whole document.
static json_t *
s_load_object(const char *body, size_t size)
{
    if (!body || size == 0 || size > AGENT_RESPONSE_MAX_BODY)
        return NULL;
    //  Only a JSON object is worth parsing; skip anything else cheaply.
    size_t first = 0;
    while (first < size && s_blank(body[first]))
        first++;
    if (first == size || body[first] != '{')
        return NULL;
    json_error_t error;
    json_t *root =
        json_loadb(body, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static void s_take_lambda(Stampede__Result *result, json_t *root);
static void s_take_string(char **dest, json_t *object, const char *key);

void
agent_response_finish(agent_response_t *self, Stampede__Result *result,
                      Stampede__Door door, int curl_code, const char *curl_error,
                      long http_status)
{
    assert(self);
    assert(result);
    json_t *root = NULL;
    if (self->body && self->body_seen == self->body_kept)
        root = s_load_object(self->body, self->body_kept);
    const char *message = json_string_value(json_object_get(root, "message"));
    if (!message)
        message = json_string_value(json_object_get(root, "Message"));
    agent_door_answer_t answer = {
        .function_error = self->function_error,
        .rest_api = self->rest_api,
        .http_api = self->http_api,
        .error_type = self->error_type[0] ? self->error_type : NULL,
        .message = message,
    };
    agent_door_verdict_t verdict =
        agent_door_classify(door, curl_code, http_status, &answer);
    result->outcome = verdict.outcome;
    result->door = verdict.door;
    result->throttle_source = verdict.source;
    result->http_status =
        http_status > 0 && http_status <= 999 ? (uint32_t)http_status : 0;
    result->received_ns = self->has_received_ns ? self->received_ns : 0;
    if (curl_code != CURLE_OK) {
        char fallback[64];
        snprintf(fallback, sizeof fallback, "curl error %d", curl_code);
        s_set_error(result, curl_error && curl_error[0] ? curl_error : fallback);
    }
    if (verdict.outcome == STAMPEDE__OUTCOME__OUTCOME_THROTTLED)
        s_take_string(&result->throttle_reason, root, "Reason");
    s_take_lambda(result, root);
    json_decref(root);
    free(self->body);
    self->body = NULL;
    self->body_kept = 0;
    self->body_alloc = 0;
}

bool
agent_response_parse_received_ns(const char *value, size_t size, int64_t *ns)
{
    assert(ns);
    if (!value)
        return false;
    const char *start = value, *end = value + size;
    s_trim(&start, &end);
    size_t digits = (size_t)(end - start);
    if (digits < 1 || digits > AGENT_RESPONSE_MAX_RECEIVED_DIGITS)
        return false;
    int64_t n = 0;
    for (const char *p = start; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *ns = n;
    return true;
}

//  A JSON string we may put in a Result: 1..PROTO_MAX_FIELD bytes, no NUL,
//  no C0 or C1 control character, no DEL. Returns a heap copy or NULL.
static char *
s_field_copy(json_t *value)
{
    if (!json_is_string(value))
        return NULL;
    const char *s = json_string_value(value);
    size_t len = json_string_length(value);
    if (len == 0 || len > PROTO_MAX_FIELD || strlen(s) != len)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return NULL;
        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return NULL; //  U+0080..U+009F
    }
    return strdup(s);
}

static void
s_take_string(char **dest, json_t *object, const char *key)
{
    char *copy = s_field_copy(json_object_get(object, key));
    if (copy) {
        if (*dest && *dest != protobuf_c_empty_string)
            free(*dest);
        *dest = copy;
    }
}

//  Integer >= 0 under key; false otherwise.
static bool
s_take_count(json_t *object, const char *key, int64_t *out)
{
    json_t *value = json_object_get(object, key);
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return false;
    *out = (int64_t)json_integer_value(value);
    return true;
}

//  The Lambda fields of root: its own, or when root is a Lambda proxy
//  answer ({"statusCode": …, "body": "…"}, as the Invoke API passes it
//  through) those of the JSON object in its body.
static void
s_take_lambda(Stampede__Result *result, json_t *root)
{
    json_t *inner = NULL;
    json_t *body = json_object_get(root, "body");
    if (json_is_integer(json_object_get(root, "statusCode")) && json_is_string(body)) {
        inner = s_load_object(json_string_value(body), json_string_length(body));
        if (!inner)
            return;
        root = inner;
    }
    if (!json_is_object(root))
        return;
    s_take_string(&result->request_id, root, "request_id");
    s_take_string(&result->environment_id, root, "environment_id");
    s_take_string(&result->initialization_type, root, "initialization_type");
    json_t *cold = json_object_get(root, "cold_start");
    if (json_is_boolean(cold)) {
        result->has_cold_start = true;
        result->cold_start = json_is_true(cold);
    }
    json_t *cold_time = json_object_get(root, "cold_start_time");
    if (json_is_number(cold_time)) {
        double seconds = json_number_value(cold_time);
        if (isfinite(seconds) && seconds >= 0)
            result->cold_start_time = seconds;
    }
    int64_t n;
    if (s_take_count(root, "invocation_count", &n))
        result->invocation_count = n;
    if (s_take_count(root, "started_at_ns", &n))
        result->function_started_ns = n;
    if (s_take_count(root, "finished_at_ns", &n))
        result->function_finished_ns = n;
    json_decref(inner);
}

void
agent_response_parse_lambda(Stampede__Result *result, const char *body, size_t size)
{
    assert(result);
    json_t *root = s_load_object(body, size);
    s_take_lambda(result, root);
    json_decref(root);
}

void
agent_response_result_init(Stampede__Result *result, uint32_t index)
{
    assert(result);
    Stampede__Result empty = STAMPEDE__RESULT__INIT;
    *result = empty;
    result->index = index;
    result->invocation_count = -1;
}

static void
s_free_string(char *s)
{
    if (s && s != protobuf_c_empty_string)
        free(s);
}

void
agent_response_result_clear(Stampede__Result *result)
{
    assert(result);
    s_free_string(result->request_id);
    s_free_string(result->environment_id);
    s_free_string(result->initialization_type);
    s_free_string(result->error);
    s_free_string(result->throttle_reason);
    agent_response_result_init(result, result->index);
}

//  --------------------------------------------------------------------------
//  Selftest

//  Feeds a header block ("Name: v\r\n" lines) line by line, like curl.
static void
s_feed_headers(agent_response_t *self, const char *block)
{
    const char *p = block;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        agent_response_header(self, p, len);
        p += len;
    }
}

//  The result must be sendable: a batch holding it encodes.
static void
s_check_encodes(Stampede__Result *result)
{
    zframe_t *frame = proto_fixture_batch(1, 1, result);
    CHECK_NOT_NULL(frame);
    zframe_destroy(&frame);
}

void
agent_response_test(bool verbose)
{
    //  X-Stampede-Received-Ns values.
    int64_t ns = 42;
    CHECK_TRUE(agent_response_parse_received_ns("1700000000123456789", 19, &ns));
    CHECK_INT(ns, INT64_C(1700000000123456789));
    CHECK_TRUE(agent_response_parse_received_ns(" 7\r\n", 4, &ns));
    CHECK_INT(ns, 7);
    CHECK_TRUE(agent_response_parse_received_ns("9223372036854775807", 19, &ns));
    CHECK_INT(ns, INT64_MAX);
    ns = 42;
    CHECK_TRUE(!agent_response_parse_received_ns("9223372036854775808", 19, &ns));
    CHECK_TRUE(!agent_response_parse_received_ns("12345678901234567890", 20, &ns));
    CHECK_TRUE(!agent_response_parse_received_ns("-5", 2, &ns));
    CHECK_TRUE(!agent_response_parse_received_ns("+5", 2, &ns));
    CHECK_TRUE(!agent_response_parse_received_ns("5 5", 3, &ns));
    CHECK_TRUE(!agent_response_parse_received_ns("0x10", 4, &ns));
    CHECK_TRUE(!agent_response_parse_received_ns("", 0, &ns));
    CHECK_TRUE(!agent_response_parse_received_ns("  ", 2, &ns));
    CHECK_TRUE(!agent_response_parse_received_ns(NULL, 0, &ns));
    CHECK_INT(ns, 42);
    //  Only `size` bytes are read: no terminator needed.
    CHECK_TRUE(agent_response_parse_received_ns("123xyz", 3, &ns));
    CHECK_INT(ns, 123);

    //  A full Lambda success as the emulator answers it.
    agent_response_t *response = agent_response_new();
    CHECK_NOT_NULL(response);
    Stampede__Result result;
    agent_response_result_init(&result, 17);
    CHECK_INT(result.invocation_count, -1);
    s_feed_headers(response, "HTTP/1.1 200 OK\r\n"
                             "Content-Type: application/json\r\n"
                             "x-stampede-received-ns:   1700000000000000555 \r\n"
                             "\r\n");
    const char *body = "{\"request_id\":\"8c1e-41\",\"environment_id\":\"env-3\","
                       "\"cold_start\":true,\"cold_start_time\":0.125,"
                       "\"initialization_type\":\"on-demand\",\"invocation_count\":1,"
                       "\"started_at_ns\":1700000000000000600,"
                       "\"finished_at_ns\":1700000002000000600}";
    agent_response_body(response, body, 10);
    agent_response_body(response, body + 10, strlen(body) - 10);
    CHECK_INT(agent_response_body_size(response), strlen(body));
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_FUNCTION_URL, CURLE_OK,
                          "", 200);
    CHECK_INT(result.index, 17);
    CHECK_STR(proto_outcome_name(result.outcome), "ok");
    CHECK_INT(result.http_status, 200);
    CHECK_INT(result.received_ns, INT64_C(1700000000000000555));
    CHECK_STR(result.request_id, "8c1e-41");
    CHECK_STR(result.environment_id, "env-3");
    CHECK_INT(result.has_cold_start, true);
    CHECK_INT(result.cold_start, true);
    CHECK_TRUE(result.cold_start_time == 0.125);
    CHECK_STR(result.initialization_type, "on-demand");
    CHECK_INT(result.invocation_count, 1);
    CHECK_INT(result.function_started_ns, INT64_C(1700000000000000600));
    CHECK_INT(result.function_finished_ns, INT64_C(1700000002000000600));
    CHECK_STR(result.error, "");
    s_check_encodes(&result);
    agent_response_result_clear(&result);
    CHECK_INT(result.index, 17);
    CHECK_STR(result.request_id, "");
    CHECK_INT(result.invocation_count, -1);

    //  A throttle: 429 with the Invoke API body; no Lambda fields in it.
    agent_response_reset(response);
    s_feed_headers(response, "HTTP/1.1 429 Too Many Requests\r\n"
                             "x-amzn-ErrorType: TooManyRequestsException\r\n"
                             "X-Stampede-Received-Ns: 99\r\n\r\n");
    body = "{\"Reason\":\"ReservedFunctionConcurrentInvocationLimitExceeded\","
           "\"Type\":\"User\",\"message\":\"Rate Exceeded.\"}";
    agent_response_body(response, body, strlen(body));
    agent_response_result_init(&result, 3);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_INVOKE, CURLE_OK, NULL,
                          429);
    CHECK_STR(proto_outcome_name(result.outcome), "throttled");
    CHECK_STR(proto_door_name(result.door), "invoke");
    CHECK_STR(proto_throttle_source_name(result.throttle_source), "lambda");
    CHECK_STR(result.throttle_reason,
              "ReservedFunctionConcurrentInvocationLimitExceeded");
    CHECK_INT(result.http_status, 429);
    CHECK_INT(result.received_ns, 99);
    CHECK_STR(result.request_id, "");
    CHECK_INT(result.has_cold_start, false);
    CHECK_INT(result.invocation_count, -1);
    s_check_encodes(&result);
    agent_response_result_clear(&result);
    CHECK_STR(result.throttle_reason, "");

    //  A Lambda throttle behind an execute-api host: the REST API's 500,
    //  told by its x-amz-apigw-id and x-amzn-ErrorType (with a suffix).
    agent_response_reset(response);
    s_feed_headers(response,
                   "HTTP/1.1 500 Internal Server Error\r\n"
                   "x-amz-apigw-id: Ab3dEfGhIjKlMnO=\r\n"
                   "x-amzn-ErrorType: InternalServerErrorException:http://"
                   "internal.amazon.com/coral/com.amazon.coral.service/\r\n\r\n");
    body = "{\"message\": \"Internal server error\"}";
    agent_response_body(response, body, strlen(body));
    agent_response_result_init(&result, 3);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_APIGW, CURLE_OK, NULL,
                          500);
    CHECK_STR(proto_outcome_name(result.outcome), "throttled");
    CHECK_STR(proto_door_name(result.door), "apigw_rest");
    CHECK_STR(proto_throttle_source_name(result.throttle_source), "lambda_via_gateway");
    CHECK_STR(result.throttle_reason, "");
    s_check_encodes(&result);
    agent_response_result_clear(&result);
    //  The same 500 at a server that is no door is an error.
    agent_response_reset(response);
    agent_response_body(response, body, strlen(body));
    agent_response_result_init(&result, 3);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_HTTP, CURLE_OK, NULL,
                          500);
    CHECK_STR(proto_outcome_name(result.outcome), "http_error");
    CHECK_INT(result.throttle_source, STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE);
    s_check_encodes(&result);
    agent_response_result_clear(&result);

    //  The Invoke API passes a proxy answer through: the Lambda fields are
    //  those of the object in its body.
    agent_response_reset(response);
    s_feed_headers(response, "HTTP/1.1 200 OK\r\n\r\n");
    body = "{\"statusCode\":200,\"headers\":{\"Content-Type\":\"application/json\"},"
           "\"body\":\"{\\\"request_id\\\":\\\"r-9\\\",\\\"cold_start\\\":false,"
           "\\\"invocation_count\\\":4}\"}";
    agent_response_body(response, body, strlen(body));
    agent_response_result_init(&result, 2);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_INVOKE, CURLE_OK, NULL,
                          200);
    CHECK_STR(proto_outcome_name(result.outcome), "ok");
    CHECK_STR(result.request_id, "r-9");
    CHECK_INT(result.has_cold_start, true);
    CHECK_INT(result.cold_start, false);
    CHECK_INT(result.invocation_count, 4);
    agent_response_result_clear(&result);
    //  A proxy answer whose body is no JSON object gives no fields.
    const char *proxy_text =
        "{\"statusCode\":200,\"body\":\"hello\",\"request_id\":\"x\"}";
    agent_response_result_init(&result, 2);
    agent_response_parse_lambda(&result, proxy_text, strlen(proxy_text));
    CHECK_STR(result.request_id, "");
    agent_response_result_clear(&result);

    //  Function error; an interim 100 Continue's headers are forgotten.
    agent_response_reset(response);
    s_feed_headers(response,
                   "HTTP/1.1 100 Continue\r\nX-Stampede-Received-Ns: 5\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nX-Amz-Function-Error: Unhandled\r\n\r\n");
    agent_response_result_init(&result, 4);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_FUNCTION_URL, CURLE_OK,
                          NULL, 200);
    CHECK_STR(proto_outcome_name(result.outcome), "function_error");
    CHECK_INT(result.received_ns, 0);
    agent_response_result_clear(&result);

    //  Transport failures carry curl's text, made printable and capped.
    agent_response_reset(response);
    agent_response_result_init(&result, 5);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_FUNCTION_URL,
                          CURLE_COULDNT_CONNECT, "Failed to connect\tto 127.0.0.1 port 9",
                          0);
    CHECK_STR(proto_outcome_name(result.outcome), "connect_error");
    CHECK_INT(result.http_status, 0);
    CHECK_STR(result.error, "Failed to connect?to 127.0.0.1 port 9");
    agent_response_result_clear(&result);
    agent_response_result_init(&result, 6);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_FUNCTION_URL,
                          CURLE_SEND_ERROR, "", 0);
    CHECK_STR(proto_outcome_name(result.outcome), "other_error");
    CHECK_STR(result.error, "curl error 55");
    agent_response_result_clear(&result);
    char long_error[PROTO_MAX_ERROR + 100];
    memset(long_error, 'e', sizeof long_error - 1);
    long_error[sizeof long_error - 1] = '\0';
    agent_response_result_init(&result, 7);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_FUNCTION_URL,
                          CURLE_OPERATION_TIMEDOUT, long_error, 0);
    CHECK_STR(proto_outcome_name(result.outcome), "timeout");
    CHECK_INT(strlen(result.error), PROTO_MAX_ERROR);
    s_check_encodes(&result);
    agent_response_result_clear(&result);

    //  Hostile JSON: each bad field is dropped, the good ones stay.
    char field_129[PROTO_MAX_FIELD + 2];
    memset(field_129, 'x', sizeof field_129 - 1);
    field_129[sizeof field_129 - 1] = '\0';
    char hostile[1024];
    snprintf(hostile, sizeof hostile,
             "{\"request_id\":\"%s\",\"environment_id\":\"a\\u0001b\","
             "\"initialization_type\":\"ok-type\",\"cold_start\":\"yes\","
             "\"cold_start_time\":-1,\"invocation_count\":-3,"
             "\"started_at_ns\":1.5,\"finished_at_ns\":\"12\"}",
             field_129);
    agent_response_result_init(&result, 8);
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_OK;
    agent_response_parse_lambda(&result, hostile, strlen(hostile));
    CHECK_STR(result.request_id, "");
    CHECK_STR(result.environment_id, "");
    CHECK_STR(result.initialization_type, "ok-type");
    CHECK_INT(result.has_cold_start, false);
    CHECK_TRUE(result.cold_start_time == 0);
    CHECK_INT(result.invocation_count, -1);
    CHECK_INT(result.function_started_ns, 0);
    CHECK_INT(result.function_finished_ns, 0);
    s_check_encodes(&result);
    agent_response_result_clear(&result);
    //  Exactly PROTO_MAX_FIELD bytes is accepted; C1 controls and NUL are not.
    field_129[PROTO_MAX_FIELD] = '\0';
    snprintf(hostile, sizeof hostile,
             "{\"request_id\":\"%s\",\"environment_id\":\"a\\u0085b\","
             "\"initialization_type\":\"a\\u0000b\",\"cold_start\":false,"
             "\"cold_start_time\":3,\"invocation_count\":0}",
             field_129);
    agent_response_result_init(&result, 9);
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_OK;
    agent_response_parse_lambda(&result, hostile, strlen(hostile));
    CHECK_INT(strlen(result.request_id), PROTO_MAX_FIELD);
    CHECK_STR(result.environment_id, "");
    CHECK_STR(result.initialization_type, "");
    CHECK_INT(result.has_cold_start, true);
    CHECK_INT(result.cold_start, false);
    CHECK_TRUE(result.cold_start_time == 3.0);
    CHECK_INT(result.invocation_count, 0);
    s_check_encodes(&result);
    agent_response_result_clear(&result);
    //  Not an object, not JSON, duplicate keys, deep nesting: nothing taken.
    const char *not_lambda[] = {"[1,2]",
                                "\"request_id\"",
                                "{\"request_id\":",
                                "{\"request_id\":\"a\",\"request_id\":\"b\"}",
                                "<html>request_id</html>",
                                "   "};
    for (size_t i = 0; i < sizeof not_lambda / sizeof not_lambda[0]; i++) {
        agent_response_result_init(&result, 10);
        agent_response_parse_lambda(&result, not_lambda[i], strlen(not_lambda[i]));
        CHECK_STR(result.request_id, "");
        agent_response_result_clear(&result);
    }
    char *deep = malloc(200001);
    CHECK_NOT_NULL(deep);
    deep[0] = '{';
    memcpy(deep + 1, "\"a\":", 4);
    memset(deep + 5, '[', 199995);
    deep[200000] = '\0';
    agent_response_result_init(&result, 11);
    agent_response_parse_lambda(&result, deep, 200000);
    CHECK_STR(result.request_id, "");
    free(deep);

    //  The body cap: 1 MiB kept, the rest counted; a cut body is not parsed.
    agent_response_reset(response);
    body = "{\"request_id\":\"big\",\"pad\":\"";
    agent_response_body(response, body, strlen(body));
    char chunk[65536];
    memset(chunk, 'p', sizeof chunk);
    for (int i = 0; i < 20; i++)
        agent_response_body(response, chunk, sizeof chunk);
    agent_response_body(response, "\"}", 2);
    CHECK_INT(agent_response_body_size(response), strlen(body) + 20 * 65536 + 2);
    agent_response_result_init(&result, 12);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_FUNCTION_URL, CURLE_OK,
                          NULL, 200);
    CHECK_STR(result.request_id, "");
    CHECK_STR(proto_outcome_name(result.outcome), "ok");
    agent_response_result_clear(&result);
    //  Just under the cap it parses.
    agent_response_reset(response);
    agent_response_body(response, body, strlen(body));
    for (int i = 0; i < 15; i++)
        agent_response_body(response, chunk, sizeof chunk);
    agent_response_body(response, "\"}", 2);
    agent_response_result_init(&result, 13);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_FUNCTION_URL, CURLE_OK,
                          NULL, 201);
    CHECK_STR(result.request_id, "big");
    CHECK_INT(result.http_status, 201);
    agent_response_result_clear(&result);

    //  A run's own arrival header replaces X-Stampede-Received-Ns.
    agent_response_reset(response);
    agent_response_set_arrival_header(response, "X-Received-At");
    s_feed_headers(response, "HTTP/1.1 200 OK\r\nX-Stampede-Received-Ns: 5\r\n"
                             "x-received-at: 1700000000000000042\r\n\r\n");
    agent_response_result_init(&result, 15);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_HTTP, CURLE_OK, NULL,
                          200);
    CHECK_INT(result.received_ns, INT64_C(1700000000000000042));
    agent_response_result_clear(&result);
    agent_response_set_arrival_header(response, NULL);

    //  Header lines that are not headers are ignored.
    agent_response_reset(response);
    agent_response_header(response, "garbage", 7);
    agent_response_header(response, ": no name\r\n", 11);
    agent_response_header(response, " X-Amz-Function-Error: folded\r\n", 31);
    agent_response_header(response, NULL, 0);
    agent_response_header(response, "X-Stampede-Received-Ns: 12a\r\n", 29);
    agent_response_result_init(&result, 14);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_FUNCTION_URL, CURLE_OK,
                          NULL, 1000);
    CHECK_STR(proto_outcome_name(result.outcome), "http_error");
    CHECK_INT(result.http_status, 0);
    CHECK_INT(result.received_ns, 0);
    agent_response_result_clear(&result);

    agent_response_destroy(&response);
    agent_response_destroy(&response);
    CHECK_NULL(response);
    if (verbose)
        printf("(response checks done) ");
}
