/*  emu_furl_map — a Function URL's answer; see emu_furl_map.h. */
#include "emu_furl_map.h"
#include "emu_aws.h"
#include "sp_check.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

emu_reply_t *
emu_furl_map_error(int status, const char *type, const char *message)
{
    emu_reply_t *reply = emu_reply_new(status);
    json_t *doc = json_pack("{s:s}", "Message", message);
    if (!reply || !doc || emu_reply_set_json(reply, doc) ||
        (type && emu_reply_add_header(reply, "x-amzn-ErrorType", type))) {
        json_decref(doc);
        emu_reply_destroy(&reply);
        return NULL;
    }
    json_decref(doc);
    return reply;
}

emu_reply_t *
emu_furl_map_throttle(void)
{
    return emu_furl_map_error(429, "TooManyRequestsException", "Rate Exceeded.");
}

bool
emu_furl_map_connection_header(const char *name)
{
    static const char *names[] = {
        "connection", "content-length", "transfer-encoding", "keep-alive",
        "upgrade",    "date",           "trailer",           NULL};
    for (int i = 0; names[i]; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

//  The answer to a structured response that is not valid.
static emu_reply_t *
s_invalid(const char *reason)
{
    emu_reply_t *reply = emu_furl_map_error(502, NULL, "Internal Server Error");
    if (reply)
        emu_reply_add_header(reply, "X-Stampede-Error", reason);
    return reply;
}

bool
emu_furl_map_header_text(json_t *value, char *out, size_t size)
{
    if (json_is_string(value)) {
        if (json_string_length(value) >= size ||
            strlen(json_string_value(value)) != json_string_length(value))
            return false;
        snprintf(out, size, "%s", json_string_value(value));
        return true;
    }
    if (json_is_integer(value))
        return snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value)) >
               0;
    if (json_is_real(value))
        return snprintf(out, size, "%.17g", json_real_value(value)) > 0;
    if (json_is_boolean(value))
        return snprintf(out, size, "%s", json_is_true(value) ? "true" : "false") > 0;
    return false;
}

//  Sets the reply body from a structured response's "body" (absent, null,
//  a string, base64 text when `base64`, or any other JSON dumped as text).
//  NULL on success, else why it is invalid.
static const char *
s_set_body(emu_reply_t *reply, json_t *body, bool base64)
{
    if (!body || json_is_null(body))
        return emu_reply_set_body(reply, NULL, 0) ? "out of memory" : NULL;
    if (!json_is_string(body)) {
        if (base64)
            return "isBase64Encoded with a body that is not a string";
        char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        int rc = text ? emu_reply_set_body(reply, text, strlen(text)) : -1;
        free(text);
        return rc ? "body too large" : NULL;
    }
    const char *text = json_string_value(body);
    size_t len = json_string_length(body);
    if (!base64)
        return emu_reply_set_body(reply, text, len) ? "body too large" : NULL;
    unsigned char *decoded = malloc(len / 4 * 3 + 1);
    if (!decoded)
        return "out of memory";
    ssize_t decoded_len = emu_aws_base64_decode(text, len, decoded);
    const char *reason = NULL;
    if (decoded_len < 0)
        reason = "body is not valid base64";
    else if (emu_reply_set_body(reply, decoded, (size_t)decoded_len))
        reason = "body too large";
    free(decoded);
    return reason;
}

const char *
emu_furl_map_status(emu_reply_t *reply, json_t *doc)
{
    json_t *status = json_object_get(doc, "statusCode");
    if (!json_is_integer(status) || json_integer_value(status) < 100 ||
        json_integer_value(status) > 599)
        return "statusCode must be an integer 100..599";
    emu_reply_set_status(reply, (int)json_integer_value(status));
    return NULL;
}

const char *
emu_furl_map_body(emu_reply_t *reply, json_t *doc, bool string_body)
{
    json_t *base64 = json_object_get(doc, "isBase64Encoded");
    if (base64 && !json_is_boolean(base64) && !json_is_null(base64))
        return "isBase64Encoded must be a boolean";
    json_t *body = json_object_get(doc, "body");
    if (string_body && body && !json_is_null(body) && !json_is_string(body))
        return "body must be a string";
    const char *reason = s_set_body(reply, body, json_is_true(base64));
    if (reason)
        return reason;
    if (!emu_reply_header(reply, "Content-Type") &&
        emu_reply_add_header(reply, "Content-Type", "application/json"))
        return "too many headers";
    return NULL;
}

//  Maps a structured payload-2.0 answer `doc` (an object with statusCode)
//  onto `reply`: status, headers, cookies, body, and Content-Type
//  application/json unless set. NULL on success, else why it is invalid
//  (the reply is then half-built: discard it).
static const char *
s_map_structured(emu_reply_t *reply, json_t *doc)
{
    const char *reason = emu_furl_map_status(reply, doc);
    if (reason)
        return reason;

    json_t *headers = json_object_get(doc, "headers");
    json_t *cookies = json_object_get(doc, "cookies");
    //  Room must stay for the emulator's own headers.
    if (json_object_size(headers) + json_array_size(cookies) >
        EMU_REPLY_FUNCTION_HEADERS_MAX)
        return "too many headers";
    if (headers && !json_is_null(headers)) {
        if (!json_is_object(headers))
            return "headers must be an object";
        const char *name;
        json_t *value;
        json_object_foreach(headers, name, value)
        {
            char text[EMU_REPLY_VALUE_MAX + 1];
            if (!emu_furl_map_header_text(value, text, sizeof text))
                return "header values must be strings, numbers or booleans";
            if (emu_furl_map_connection_header(name))
                continue;
            if (emu_reply_add_header(reply, name, text))
                return "invalid header name or value, or too many headers";
        }
    }
    if (cookies && !json_is_null(cookies)) {
        if (!json_is_array(cookies))
            return "cookies must be an array";
        size_t i;
        json_t *cookie;
        json_array_foreach(cookies, i, cookie)
        {
            char text[EMU_REPLY_VALUE_MAX + 1];
            if (!json_is_string(cookie) ||
                !emu_furl_map_header_text(cookie, text, sizeof text) ||
                emu_reply_add_header(reply, "Set-Cookie", text))
                return "cookies must be valid header values";
        }
    }
    return emu_furl_map_body(reply, doc, false);
}

const char *
emu_furl_map_answer(emu_reply_t *reply, json_t *doc, const char *payload, size_t len)
{
    assert(payload || len == 0);
    if (json_is_object(doc) && json_object_get(doc, "statusCode"))
        return s_map_structured(reply, doc);
    if (emu_reply_set_body(reply, payload, len) ||
        emu_reply_add_header(reply, "Content-Type", "application/json"))
        return "response too large";
    return NULL;
}

emu_reply_t *
emu_furl_map_payload(const char *payload, size_t len)
{
    assert(payload || len == 0);
    emu_reply_t *reply = emu_reply_new(200);
    if (!reply)
        return NULL;
    json_t *doc = len > 0 ? json_loadb(payload, len, 0, NULL) : NULL;
    const char *reason = emu_furl_map_answer(reply, doc, payload, len);
    json_decref(doc);
    if (reason) {
        emu_reply_destroy(&reply);
        return s_invalid(reason);
    }
    return reply;
}

//  A Function URL's answer to a function error, timeout or crash: 502
//  with this plain body (not JSON, though sent as application/json).
#define S_FUNCTION_ERROR "Internal Server Error"

emu_reply_t *
emu_furl_map_reply(emu_invocation_t *invocation)
{
    assert(invocation);
    switch (emu_invocation_outcome(invocation)) {
    case EMU_INVOCATION_OK: {
        size_t len = 0;
        const char *payload = emu_invocation_payload(invocation, &len);
        return emu_furl_map_payload(payload, len);
    }
    case EMU_INVOCATION_ABORTED:
        return emu_furl_map_error(503, "ServiceException",
                                  "The emulator is shutting down.");
    case EMU_INVOCATION_PENDING:
        assert(false);
        return NULL;
    default:
        break;
    }
    //  AWS's words, whatever the function's error said.
    emu_reply_t *reply = emu_reply_new(502);
    if (!reply)
        return NULL;
    if (emu_reply_set_body(reply, S_FUNCTION_ERROR, strlen(S_FUNCTION_ERROR)) ||
        emu_reply_add_header(reply, "Content-Type", "application/json"))
        emu_reply_destroy(&reply);
    return reply;
}

//  --- selftest -----------------------------------------------------------

static void
s_check_map(const char *payload, int status, const char *body, const char *content_type)
{
    emu_reply_t *reply = emu_furl_map_payload(payload, strlen(payload));
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), status);
    CHECK_STR(emu_reply_body(reply, NULL), body);
    if (content_type)
        CHECK_STR(emu_reply_header(reply, "Content-Type"), content_type);
    emu_reply_destroy(&reply);
}

//  The pieces of the mapping the other front doors share.
static void
s_test_pieces(void)
{
    emu_reply_t *reply = emu_reply_new(200);
    json_t *doc = json_pack("{s:i, s:{s:i}}", "statusCode", 201, "body", "k", 1);
    CHECK_NULL(emu_furl_map_status(reply, doc));
    CHECK_INT(emu_reply_status(reply), 201);
    CHECK_STR(emu_furl_map_body(reply, doc, true), "body must be a string");
    CHECK_NULL(emu_furl_map_body(reply, doc, false));
    CHECK_STR(emu_reply_body(reply, NULL), "{\"k\":1}");
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    json_decref(doc);
    doc = json_pack("{s:s}", "statusCode", "200");
    CHECK_STR(emu_furl_map_status(reply, doc), "statusCode must be an integer 100..599");
    CHECK_STR(emu_furl_map_answer(reply, doc, "{}", 2),
              "statusCode must be an integer 100..599");
    json_decref(doc);
    emu_reply_destroy(&reply);

    reply = emu_reply_new(200);
    CHECK_NULL(emu_furl_map_answer(reply, NULL, "plain", 5));
    CHECK_INT(emu_reply_status(reply), 200);
    CHECK_STR(emu_reply_body(reply, NULL), "plain");
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    emu_reply_destroy(&reply);
}

static void
s_test_mapping(void)
{
    //  Not structured: the payload is the body of a 200 JSON answer.
    s_check_map("{\"request_id\":\"r\",\"cold_start\":true}", 200,
                "{\"request_id\":\"r\",\"cold_start\":true}", "application/json");
    s_check_map("\"just a string\"", 200, "\"just a string\"", "application/json");
    s_check_map("not json at all", 200, "not json at all", "application/json");
    s_check_map("", 200, "", "application/json");
    s_check_map("[1,2]", 200, "[1,2]", "application/json");
    s_check_map("{\"status\":201}", 200, "{\"status\":201}", "application/json");

    //  Structured.
    const char *structured =
        "{\"statusCode\":201,\"headers\":{\"Content-Type\":\"text/plain\",\"X-N\":5,"
        "\"X-B\":true,\"Content-Length\":\"999\"},\"cookies\":[\"a=1\",\"b=2; Secure\"],"
        "\"body\":\"created\"}";
    emu_reply_t *reply = emu_furl_map_payload(structured, strlen(structured));
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), 201);
    CHECK_STR(emu_reply_body(reply, NULL), "created");
    CHECK_STR(emu_reply_header(reply, "content-type"), "text/plain");
    CHECK_STR(emu_reply_header(reply, "X-N"), "5");
    CHECK_STR(emu_reply_header(reply, "X-B"), "true");
    CHECK_NULL(emu_reply_header(reply, "Content-Length"));
    CHECK_STR(emu_reply_header(reply, "Set-Cookie"), "a=1");
    CHECK_INT(emu_reply_header_count(reply), 5);
    emu_reply_destroy(&reply);
    s_check_map("{\"statusCode\":204}", 204, "", "application/json");
    s_check_map("{\"statusCode\":200,\"body\":{\"k\":[1]}}", 200, "{\"k\":[1]}", NULL);
    s_check_map("{\"statusCode\":200,\"body\":\"aGk=\",\"isBase64Encoded\":true}", 200,
                "hi", NULL);
    s_check_map("{\"statusCode\":200,\"body\":\"aGk=\",\"isBase64Encoded\":false}", 200,
                "aGk=", NULL);
    s_check_map("{\"statusCode\":200,\"body\":null,\"headers\":null,\"cookies\":null}",
                200, "", NULL);

    //  Invalid structured answers: 502 with the reason in a header.
    const char *invalid[] = {
        "{\"statusCode\":\"200\"}",
        "{\"statusCode\":99}",
        "{\"statusCode\":600}",
        "{\"statusCode\":200.5}",
        "{\"statusCode\":200,\"headers\":[]}",
        "{\"statusCode\":200,\"headers\":{\"X-A\":{}}}",
        "{\"statusCode\":200,\"headers\":{\"X-A\":\"a\\r\\nInjected: 1\"}}",
        "{\"statusCode\":200,\"headers\":{\"Bad Name\":\"v\"}}",
        "{\"statusCode\":200,\"cookies\":\"a=1\"}",
        "{\"statusCode\":200,\"cookies\":[1]}",
        "{\"statusCode\":200,\"isBase64Encoded\":\"yes\"}",
        "{\"statusCode\":200,\"body\":\"***\",\"isBase64Encoded\":true}",
        "{\"statusCode\":200,\"body\":\"aGk\",\"isBase64Encoded\":true}",
        "{\"statusCode\":200,\"body\":{},\"isBase64Encoded\":true}",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        reply = emu_furl_map_payload(invalid[i], strlen(invalid[i]));
        CHECK_NOT_NULL(reply);
        CHECK_INT(emu_reply_status(reply), 502);
        CHECK_STR(emu_reply_body(reply, NULL), "{\"Message\":\"Internal Server Error\"}");
        CHECK_NOT_NULL(emu_reply_header(reply, "X-Stampede-Error"));
        CHECK_NULL(emu_reply_header(reply, "Injected"));
        emu_reply_destroy(&reply);
    }
    reply = emu_furl_map_payload(invalid[0], strlen(invalid[0]));
    CHECK_STR(emu_reply_header(reply, "X-Stampede-Error"),
              "statusCode must be an integer 100..599");
    emu_reply_destroy(&reply);
}

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
}

static void
s_test_outcomes(void)
{
    emu_reply_t *reply = emu_furl_map_throttle();
    CHECK_INT(emu_reply_status(reply), 429);
    CHECK_STR(emu_reply_header(reply, "x-amzn-ErrorType"), "TooManyRequestsException");
    CHECK_STR(emu_reply_body(reply, NULL), "{\"Message\":\"Rate Exceeded.\"}");
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    emu_reply_destroy(&reply);
    reply = emu_furl_map_error(404, NULL, "Not Found");
    CHECK_INT(emu_reply_status(reply), 404);
    CHECK_NULL(emu_reply_header(reply, "x-amzn-ErrorType"));
    CHECK_STR(emu_reply_body(reply, NULL), "{\"Message\":\"Not Found\"}");
    emu_reply_destroy(&reply);

    char *event = strdup("{}");
    emu_invocation_t *inv = emu_invocation_new("id", &event, 2, s_test_done, NULL);
    emu_invocation_t *borrowed = inv;
    emu_invocation_complete(&borrowed, EMU_INVOCATION_OK, "{\"statusCode\":418}", 18);
    reply = emu_furl_map_reply(inv);
    CHECK_INT(emu_reply_status(reply), 418);
    emu_reply_destroy(&reply);
    emu_invocation_destroy(&inv);

    const emu_invocation_outcome_t failures[] = {
        EMU_INVOCATION_FUNCTION_ERROR, EMU_INVOCATION_TIMEOUT, EMU_INVOCATION_EXIT,
        EMU_INVOCATION_INIT_ERROR, EMU_INVOCATION_TOO_LARGE};
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        event = strdup("{}");
        inv = emu_invocation_new("id", &event, 2, s_test_done, NULL);
        borrowed = inv;
        emu_invocation_fail(&borrowed, failures[i], "Sandbox.Timedout", "too slow");
        reply = emu_furl_map_reply(inv);
        CHECK_INT(emu_reply_status(reply), 502);
        CHECK_NULL(emu_reply_header(reply, "X-Amz-Function-Error"));
        CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
        CHECK_STR(emu_reply_body(reply, NULL), "Internal Server Error");
        CHECK_INT(emu_reply_header_count(reply), 1);
        emu_reply_destroy(&reply);
        emu_invocation_destroy(&inv);
    }
    event = strdup("{}");
    inv = emu_invocation_new("id", &event, 2, s_test_done, NULL);
    borrowed = inv;
    emu_invocation_fail(&borrowed, EMU_INVOCATION_ABORTED, "x", "y");
    reply = emu_furl_map_reply(inv);
    CHECK_INT(emu_reply_status(reply), 503);
    emu_reply_destroy(&reply);
    emu_invocation_destroy(&inv);
}

static void
s_test_header_text(void)
{
    char value[8];
    json_t *number = json_integer(42);
    CHECK_TRUE(emu_furl_map_header_text(number, value, sizeof value));
    CHECK_STR(value, "42");
    json_decref(number);
    json_t *long_text = json_string("12345678");
    CHECK_TRUE(!emu_furl_map_header_text(long_text, value, sizeof value));
    json_decref(long_text);
    CHECK_TRUE(emu_furl_map_connection_header("Transfer-Encoding"));
    CHECK_TRUE(!emu_furl_map_connection_header("X-Custom"));
}

void
emu_furl_map_test(bool verbose)
{
    (void)verbose;
    s_test_header_text();
    s_test_pieces();
    s_test_mapping();
    s_test_outcomes();
}
