/*  emu_invoke — the Invoke API's request options and answers; see
    emu_invoke.h. */
#include "emu_invoke.h"
#include "emu_function.h"
#include "emu_loop.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Longest piece of untrusted text echoed in a message.
#define S_ECHO_MAX 160

//  Copies at most S_ECHO_MAX bytes of `text` into `out` with every byte
//  that is not printable ASCII replaced by '?', so that a message stays
//  valid UTF-8 and one line.
static void
s_echo(const char *text, size_t len, char out[S_ECHO_MAX + 1])
{
    if (len > S_ECHO_MAX)
        len = S_ECHO_MAX;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[len] = '\0';
}

//  400 InvalidParameterValueException for a header outside its enum.
static int
s_bad_enum(emu_aws_error_t *err, const char *value, const char *member, const char *set)
{
    char echo[S_ECHO_MAX + 1];
    s_echo(value, strlen(value), echo);
    emu_aws_error_set(err, 400, "InvalidParameterValueException",
                      "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                      "constraint: Member must satisfy enum value set: [%s]",
                      echo, member, set);
    return -1;
}

static bool
s_valid_client_context(const char *text, size_t len)
{
    unsigned char decoded[EMU_INVOKE_CLIENT_CONTEXT_MAX / 4 * 3 + 3];
    ssize_t decoded_len = emu_aws_base64_decode(text, len, decoded);
    if (decoded_len < 0)
        return false;
    json_t *doc = json_loadb((const char *)decoded, (size_t)decoded_len, 0, NULL);
    bool valid = json_is_object(doc);
    json_decref(doc);
    return valid;
}

int
emu_invoke_parse_options(const char *invocation_type, const char *log_type,
                         const char *client_context, emu_invoke_options_t *options,
                         emu_aws_error_t *err)
{
    assert(options && err);
    memset(options, 0, sizeof *options);
    emu_aws_error_clear(err);
    if (!invocation_type || strcmp(invocation_type, "RequestResponse") == 0)
        options->type = EMU_INVOKE_REQUEST_RESPONSE;
    else if (strcmp(invocation_type, "Event") == 0)
        options->type = EMU_INVOKE_EVENT;
    else if (strcmp(invocation_type, "DryRun") == 0)
        options->type = EMU_INVOKE_DRY_RUN;
    else
        return s_bad_enum(err, invocation_type, "invocationType",
                          "Event, RequestResponse, DryRun");
    if (log_type && strcmp(log_type, "Tail") == 0)
        options->tail = true;
    else if (log_type && strcmp(log_type, "None") != 0)
        return s_bad_enum(err, log_type, "logType", "Tail, None");
    if (client_context && *client_context) {
        size_t len = strlen(client_context);
        if (len > EMU_INVOKE_CLIENT_CONTEXT_MAX ||
            !s_valid_client_context(client_context, len)) {
            emu_aws_error_set(
                err, 400, "InvalidRequestContentException",
                "Client context must be a valid Base64-encoded JSON object.");
            return -1;
        }
        memcpy(options->client_context, client_context, len + 1);
    }
    return 0;
}

static_assert(EMU_INVOKE_CLIENT_CONTEXT_MAX / 4 * 3 <= EMU_INVOCATION_CLIENT_CONTEXT_MAX,
              "a decoded client context fits an invocation's");

size_t
emu_invoke_client_context(const emu_invoke_options_t *options,
                          char out[EMU_INVOCATION_CLIENT_CONTEXT_MAX + 1])
{
    assert(options && out);
    const char *base64 = options->client_context;
    ssize_t used = emu_aws_base64_decode(base64, strlen(base64), (unsigned char *)out);
    assert(used >= 0);
    for (ssize_t i = 0; i < used; i++)
        if (out[i] == '\r' || out[i] == '\n' || out[i] == '\t')
            out[i] = ' ';
    out[used] = '\0';
    return (size_t)used;
}

//  [a-zA-Z0-9$_-]*
static bool
s_qualifier_pattern(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '$' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

int
emu_invoke_qualifier(const char *derived, const char *raw, size_t raw_len, bool present,
                     char out[EMU_ROUTE_QUALIFIER_MAX + 1], emu_aws_error_t *err)
{
    assert(derived && strlen(derived) <= EMU_ROUTE_QUALIFIER_MAX);
    assert((raw || raw_len == 0) && out && err);
    emu_aws_error_clear(err);
    out[0] = '\0';
    char given[2 * EMU_ROUTE_QUALIFIER_MAX + 1] = "";
    if (present) {
        ssize_t len = emu_route_percent_decode(raw, raw_len, given, sizeof given);
        char echo[S_ECHO_MAX + 1];
        if (len < 0 || !s_qualifier_pattern(given, (size_t)len)) {
            s_echo(len < 0 ? raw : given, len < 0 ? raw_len : (size_t)len, echo);
            emu_aws_error_set(err, 400, "ValidationException",
                              "1 validation error detected: Value '%s' at 'qualifier' "
                              "failed to satisfy constraint: Member must satisfy regular "
                              "expression pattern: (|[a-zA-Z0-9$_-]+)",
                              echo);
            return -1;
        }
        if (len > EMU_ROUTE_QUALIFIER_MAX) {
            s_echo(given, (size_t)len, echo);
            emu_aws_error_set(
                err, 400, "ValidationException",
                "1 validation error detected: Value '%s' at 'qualifier' "
                "failed to satisfy constraint: Member must have length less "
                "than or equal to 128",
                echo);
            return -1;
        }
    }
    if (*given && *derived && strcmp(given, derived) != 0) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "The derived qualifier from the function name does not match "
                          "the specified qualifier.");
        return -1;
    }
    const char *qualifier = *given ? given : derived;
    size_t len = strlen(qualifier);
    memcpy(out, qualifier, len + 1);
    return 0;
}

//  True when the payload is empty or only JSON whitespace.
static bool
s_blank(const char *body, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\n", body[i]) || body[i] == '\0')
            return false;
    return true;
}

int
emu_invoke_too_large(emu_invoke_type_t type, size_t len, emu_aws_error_t *err)
{
    assert(err);
    if (type == EMU_INVOKE_EVENT)
        emu_aws_error_set(err, 413, "RequestEntityTooLargeException",
                          "%zu byte payload is too large for the Event invocation type "
                          "(limit %d bytes)",
                          len, EMU_LIMIT_EVENT_PAYLOAD_MAX);
    else
        emu_aws_error_set(err, 413, "RequestEntityTooLargeException",
                          "Request must be smaller than %d bytes for the InvokeFunction "
                          "operation",
                          EMU_LIMIT_PAYLOAD_MAX);
    return -1;
}

#define S_STREAMING_PREFIX "/2021-11-15/functions/"
#define S_STREAMING_SUFFIX "/response-streaming-invocations"

bool
emu_invoke_streaming_path(const char *target)
{
    assert(target);
    if (strncmp(target, S_STREAMING_PREFIX, strlen(S_STREAMING_PREFIX)) != 0)
        return false;
    size_t len = strcspn(target, "?");
    size_t suffix = strlen(S_STREAMING_SUFFIX);
    return len > strlen(S_STREAMING_PREFIX) + suffix &&
           strncmp(target + len - suffix, S_STREAMING_SUFFIX, suffix) == 0;
}

int
emu_invoke_streaming_refused(emu_aws_error_t *err)
{
    assert(err);
    emu_aws_error_set(err, 400, "InvalidRequestContentException",
                      "InvokeWithResponseStream (response streaming) is not emulated by "
                      "stampede-lambda: use Invoke");
    return -1;
}

int
emu_invoke_check_payload(emu_invoke_type_t type, const void *body, size_t len,
                         emu_aws_error_t *err)
{
    assert((body || len == 0) && err);
    emu_aws_error_clear(err);
    size_t limit =
        type == EMU_INVOKE_EVENT ? EMU_LIMIT_EVENT_PAYLOAD_MAX : EMU_LIMIT_PAYLOAD_MAX;
    if (len > limit)
        return emu_invoke_too_large(type, len, err);
    if (s_blank(body, len))
        return 0;
    json_error_t error;
    json_t *doc = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (doc) {
        json_decref(doc);
        return 0;
    }
    char echo[S_ECHO_MAX + 1];
    s_echo(error.text, strlen(error.text), echo);
    emu_aws_error_set(err, 400, "InvalidRequestContentException",
                      "Could not parse request body into json: Could not parse payload "
                      "into json: %s at [line: %d, column: %d]",
                      echo, error.line, error.column);
    return -1;
}

char *
emu_invoke_event(const void *body, size_t len, size_t *len_p)
{
    assert((body || len == 0) && len_p);
    if (s_blank(body, len)) {
        body = "{}";
        len = 2;
    }
    char *event = malloc(len + 1);
    if (!event)
        return NULL;
    memcpy(event, body, len);
    event[len] = '\0';
    *len_p = len;
    return event;
}

//  200 with `payload`, Content-Type application/json, the executed version,
//  and the log tail when asked.
static emu_reply_t *
s_answer(emu_invocation_t *invocation, bool tail, const char *payload, size_t len,
         bool function_error)
{
    emu_reply_t *reply = emu_reply_new(200);
    if (!reply)
        return NULL;
    int rc = emu_reply_set_body(reply, payload, len);
    if (rc == 0)
        rc = emu_reply_set_header(reply, "Content-Type", "application/json");
    const char *version = emu_invocation_version(invocation);
    if (rc == 0 && *version)
        rc = emu_reply_set_header(reply, "X-Amz-Executed-Version", version);
    if (rc == 0 && function_error)
        rc = emu_reply_set_header(reply, "X-Amz-Function-Error", "Unhandled");
    if (rc == 0 && tail) {
        size_t log_len = 0;
        const char *log = emu_invocation_log(invocation, &log_len);
        char *encoded = emu_aws_base64_encode(log, log_len);
        rc = encoded ? emu_reply_set_header(reply, "X-Amz-Log-Result", encoded) : -1;
        free(encoded);
    }
    if (rc != 0)
        emu_reply_destroy(&reply);
    return reply;
}

emu_reply_t *
emu_invoke_reply(emu_invocation_t *invocation, bool tail)
{
    assert(invocation);
    size_t len = 0;
    const char *payload = emu_invocation_payload(invocation, &len);
    emu_invocation_outcome_t outcome = emu_invocation_outcome(invocation);
    if (outcome == EMU_INVOCATION_OK && len > EMU_LIMIT_RESPONSE_MAX)
        outcome = EMU_INVOCATION_TOO_LARGE;
    switch (outcome) {
    case EMU_INVOCATION_OK:
        return s_answer(invocation, tail, payload, len, false);
    case EMU_INVOCATION_TOO_LARGE: {
        //  AWS's words, whatever the environment wrote.
        char text[192];
        int n = snprintf(text, sizeof text,
                         "{\"errorMessage\":\"Response payload size exceeded maximum "
                         "allowed payload size (%d bytes).\",\"errorType\":\"Function."
                         "ResponseSizeTooLarge\"}",
                         EMU_LIMIT_RESPONSE_MAX);
        return s_answer(invocation, tail, text, (size_t)n, true);
    }
    case EMU_INVOCATION_FUNCTION_ERROR:
    case EMU_INVOCATION_TIMEOUT:
    case EMU_INVOCATION_EXIT:
    case EMU_INVOCATION_INIT_ERROR:
        return s_answer(invocation, tail, payload, len, true);
    case EMU_INVOCATION_ABORTED: {
        emu_aws_error_t err;
        emu_aws_error_set(&err, 500, "ServiceException",
                          "The emulator is shutting down.");
        return emu_aws_error_reply(&err);
    }
    case EMU_INVOCATION_PENDING:
        break;
    }
    assert(false);
    return NULL;
}

emu_reply_t *
emu_invoke_accepted(void)
{
    return emu_reply_new(202);
}

emu_reply_t *
emu_invoke_dry_run(void)
{
    return emu_reply_new(204);
}

//  --- selftest -----------------------------------------------------------

static void
s_check_error(const emu_aws_error_t *err, int status, const char *type,
              const char *message)
{
    CHECK_INT(err->status, status);
    CHECK_STR(err->type, type);
    CHECK_STR(err->message, message);
    emu_reply_t *reply = emu_aws_error_reply(err);
    CHECK_NOT_NULL(reply);
    emu_reply_destroy(&reply);
}

static void
s_test_options(void)
{
    emu_invoke_options_t options;
    emu_aws_error_t err;
    CHECK_INT(emu_invoke_parse_options(NULL, NULL, NULL, &options, &err), 0);
    CHECK_INT(options.type, EMU_INVOKE_REQUEST_RESPONSE);
    CHECK_TRUE(!options.tail);
    CHECK_STR(options.client_context, "");
    CHECK_INT(err.status, 0);
    CHECK_INT(emu_invoke_parse_options("RequestResponse", "None", "", &options, &err), 0);
    CHECK_INT(options.type, EMU_INVOKE_REQUEST_RESPONSE);
    CHECK_INT(emu_invoke_parse_options("Event", "Tail", NULL, &options, &err), 0);
    CHECK_INT(options.type, EMU_INVOKE_EVENT);
    CHECK_TRUE(options.tail);
    CHECK_INT(emu_invoke_parse_options("DryRun", NULL, NULL, &options, &err), 0);
    CHECK_INT(options.type, EMU_INVOKE_DRY_RUN);

    CHECK_INT(emu_invoke_parse_options("event", NULL, NULL, &options, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "1 validation error detected: Value 'event' at 'invocationType' failed "
                  "to satisfy constraint: Member must satisfy enum value set: [Event, "
                  "RequestResponse, DryRun]");
    CHECK_INT(emu_invoke_parse_options("", NULL, NULL, &options, &err), -1);
    CHECK_INT(err.status, 400);
    CHECK_INT(emu_invoke_parse_options(NULL, "tail", NULL, &options, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "1 validation error detected: Value 'tail' at 'logType' failed to "
                  "satisfy constraint: Member must satisfy enum value set: [Tail, None]");
    //  Bytes that are not printable ASCII are not echoed.
    CHECK_INT(emu_invoke_parse_options("\xff\x01x", NULL, NULL, &options, &err), -1);
    CHECK_TRUE(strstr(err.message, "Value '??x' at") != NULL);

    //  {"custom":{"a":1}} and {"x":"\u00e9"}
    const char *context = "eyJjdXN0b20iOnsiYSI6MX19";
    CHECK_INT(emu_invoke_parse_options(NULL, NULL, context, &options, &err), 0);
    CHECK_STR(options.client_context, context);
    char decoded[EMU_INVOCATION_CLIENT_CONTEXT_MAX + 1];
    CHECK_INT(emu_invoke_client_context(&options, decoded), 18);
    CHECK_STR(decoded, "{\"custom\":{\"a\":1}}");
    //  On one line for the runtime.
    CHECK_INT(emu_invoke_parse_options(NULL, NULL, "ewoJImEiOjENfQ==", &options, &err),
              0);
    CHECK_INT(emu_invoke_client_context(&options, decoded), 10);
    CHECK_STR(decoded, "{  \"a\":1 }");
    CHECK_INT(emu_invoke_parse_options(NULL, NULL, NULL, &options, &err), 0);
    CHECK_INT(emu_invoke_client_context(&options, decoded), 0);
    CHECK_STR(decoded, "");
    CHECK_INT(
        emu_invoke_parse_options(NULL, NULL, "eyJ4IjoiXHUwMGU5In0=", &options, &err), 0);
    const char *bad[] = {"e30",      "e30==", "=e30", "W10=", /* [] */
                         "bm9wZQ==",                          /* nope */
                         "e30=e30=", "e3!=",  "YQ"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(emu_invoke_parse_options(NULL, NULL, bad[i], &options, &err), -1);
        s_check_error(&err, 400, "InvalidRequestContentException",
                      "Client context must be a valid Base64-encoded JSON object.");
    }
    CHECK_INT(emu_invoke_parse_options(NULL, NULL, "e30=", &options, &err), 0);
    //  At most 3583 bytes: {"k":"xx..."} of 2685 bytes is 3580 of base64,
    //  the longest padded text under the limit; 2688 bytes are 3584.
    size_t sizes[] = {2685, 2688};
    for (size_t i = 0; i < 2; i++) {
        char json[2688];
        memset(json, 'x', sizes[i]);
        memcpy(json, "{\"k\":\"", 6);
        memcpy(json + sizes[i] - 2, "\"}", 2);
        char *encoded = emu_aws_base64_encode(json, sizes[i]);
        CHECK_NOT_NULL(encoded);
        CHECK_INT(strlen(encoded), i == 0 ? 3580 : 3584);
        CHECK_INT(emu_invoke_parse_options(NULL, NULL, encoded, &options, &err),
                  i == 0 ? 0 : -1);
        if (i == 0)
            CHECK_STR(options.client_context, encoded);
        else
            CHECK_STR(err.type, "InvalidRequestContentException");
        free(encoded);
    }
}

static void
s_test_qualifier(void)
{
    char out[EMU_ROUTE_QUALIFIER_MAX + 1];
    emu_aws_error_t err;
    CHECK_INT(emu_invoke_qualifier("", "", 0, false, out, &err), 0);
    CHECK_STR(out, "");
    CHECK_INT(emu_invoke_qualifier("", "", 0, true, out, &err), 0);
    CHECK_STR(out, "");
    CHECK_INT(emu_invoke_qualifier("live", "", 0, true, out, &err), 0);
    CHECK_STR(out, "live");
    CHECK_INT(emu_invoke_qualifier("", "%24LATEST", 9, true, out, &err), 0);
    CHECK_STR(out, "$LATEST");
    CHECK_INT(emu_invoke_qualifier("7", "7&x", 1, true, out, &err), 0);
    CHECK_STR(out, "7");
    CHECK_INT(emu_invoke_qualifier("live", "prod", 4, true, out, &err), -1);
    s_check_error(&err, 400, "InvalidParameterValueException",
                  "The derived qualifier from the function name does not match the "
                  "specified qualifier.");
    CHECK_STR(out, "");
    CHECK_INT(emu_invoke_qualifier("", "a%2Fb", 5, true, out, &err), -1);
    s_check_error(&err, 400, "ValidationException",
                  "1 validation error detected: Value 'a/b' at 'qualifier' failed to "
                  "satisfy constraint: Member must satisfy regular expression pattern: "
                  "(|[a-zA-Z0-9$_-]+)");
    CHECK_INT(emu_invoke_qualifier("", "a%zz", 4, true, out, &err), -1);
    CHECK_TRUE(strstr(err.message, "Value 'a%zz' at 'qualifier'") != NULL);
    CHECK_INT(emu_invoke_qualifier("", "%FF", 3, true, out, &err), -1);
    CHECK_TRUE(strstr(err.message, "Value '?' at 'qualifier'") != NULL);
    char long_q[EMU_ROUTE_QUALIFIER_MAX + 2];
    memset(long_q, 'q', sizeof long_q);
    CHECK_INT(emu_invoke_qualifier("", long_q, EMU_ROUTE_QUALIFIER_MAX, true, out, &err),
              0);
    CHECK_INT(strlen(out), EMU_ROUTE_QUALIFIER_MAX);
    CHECK_INT(
        emu_invoke_qualifier("", long_q, EMU_ROUTE_QUALIFIER_MAX + 1, true, out, &err),
        -1);
    CHECK_TRUE(strstr(err.message, "Member must have length less than or equal to 128"));
}

static void
s_test_payload(void)
{
    emu_aws_error_t err;
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, "", 0, &err), 0);
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, " \n", 2, &err), 0);
    CHECK_INT(
        emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, "{\"a\":[1]}", 9, &err), 0);
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_EVENT, "\"text\"", 6, &err), 0);
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, "42", 2, &err), 0);
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, "null", 4, &err), 0);
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, "nope", 4, &err), -1);
    CHECK_INT(err.status, 400);
    CHECK_STR(err.type, "InvalidRequestContentException");
    const char *prefix =
        "Could not parse request body into json: Could not parse payload into json: ";
    CHECK_TRUE(strncmp(err.message, prefix, strlen(prefix)) == 0);
    CHECK_TRUE(strstr(err.message, " at [line: 1, column: ") != NULL);
    //  A NUL byte in the middle is not whitespace.
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, " \0", 2, &err), -1);
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, "{} {}", 5, &err),
              -1);
    CHECK_INT(
        emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, "{\"\xff\":1}", 7, &err),
        -1);
    emu_reply_t *reply = emu_aws_error_reply(&err);
    CHECK_NOT_NULL(reply);
    emu_reply_destroy(&reply);

    //  Sizes: checked before the content.
    size_t big = EMU_LIMIT_PAYLOAD_MAX + 1;
    char sync_message[128], event_message[128];
    snprintf(sync_message, sizeof sync_message,
             "Request must be smaller than %d bytes for the InvokeFunction operation",
             EMU_LIMIT_PAYLOAD_MAX);
    snprintf(event_message, sizeof event_message,
             "%d byte payload is too large for the Event invocation type (limit %d "
             "bytes)",
             EMU_LIMIT_EVENT_PAYLOAD_MAX + 1, EMU_LIMIT_EVENT_PAYLOAD_MAX);
    char *payload = malloc(big);
    CHECK_NOT_NULL(payload);
    memset(payload, ' ', big);
    payload[0] = '"';
    payload[EMU_LIMIT_PAYLOAD_MAX - 1] = '"';
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, payload,
                                       EMU_LIMIT_PAYLOAD_MAX, &err),
              0);
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_REQUEST_RESPONSE, payload, big, &err),
              -1);
    s_check_error(&err, 413, "RequestEntityTooLargeException", sync_message);
    CHECK_INT(emu_invoke_check_payload(EMU_INVOKE_EVENT, payload,
                                       EMU_LIMIT_EVENT_PAYLOAD_MAX + 1, &err),
              -1);
    s_check_error(&err, 413, "RequestEntityTooLargeException", event_message);
    free(payload);
    CHECK_INT(emu_invoke_too_large(EMU_INVOKE_DRY_RUN, big, &err), -1);
    s_check_error(&err, 413, "RequestEntityTooLargeException", sync_message);

    //  Response streaming is refused, never served.
    CHECK_TRUE(emu_invoke_streaming_path(
        "/2021-11-15/functions/demo/response-streaming-invocations"));
    CHECK_TRUE(emu_invoke_streaming_path(
        "/2021-11-15/functions/demo/response-streaming-invocations?Qualifier=1"));
    CHECK_TRUE(!emu_invoke_streaming_path(
        "/2021-11-15/functions/response-streaming-invocations"));
    CHECK_TRUE(!emu_invoke_streaming_path("/2015-03-31/functions/demo/invocations"));
    CHECK_INT(emu_invoke_streaming_refused(&err), -1);
    s_check_error(&err, 400, "InvalidRequestContentException",
                  "InvokeWithResponseStream (response streaming) is not emulated by "
                  "stampede-lambda: use Invoke");

    size_t len = 0;
    char *event = emu_invoke_event("", 0, &len);
    CHECK_STR(event, "{}");
    CHECK_INT(len, 2);
    free(event);
    event = emu_invoke_event("\t\r\n ", 4, &len);
    CHECK_STR(event, "{}");
    free(event);
    event = emu_invoke_event("[1, 2]", 6, &len);
    CHECK_STR(event, "[1, 2]");
    CHECK_INT(len, 6);
    free(event);
}

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    (void)invocation;
    (void)arg;
}

//  An invocation completed with `outcome` and `payload`, version "$LATEST"
//  and a log.
static emu_invocation_t *
s_test_invocation(emu_invocation_outcome_t outcome, const char *payload)
{
    char *event = strdup("{}");
    emu_invocation_t *invocation = emu_invocation_new(
        "11111111-2222-4333-8444-555555555555", &event, 2, s_test_done, NULL);
    CHECK_NOT_NULL(invocation);
    emu_invocation_set_version(invocation, "$LATEST");
    const char *log = "START RequestId: 1 Version: $LATEST\nEND RequestId: 1\n";
    emu_invocation_log_append(invocation, log, strlen(log));
    emu_invocation_t *borrowed = invocation;
    emu_invocation_complete(&borrowed, outcome, payload, strlen(payload));
    CHECK_NULL(borrowed);
    return invocation;
}

static void
s_check_reply(emu_reply_t *reply, int status, const char *function_error,
              const char *body)
{
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), status);
    const char *header = emu_reply_header(reply, "X-Amz-Function-Error");
    if (function_error)
        CHECK_STR(header, function_error);
    else
        CHECK_NULL(header);
    size_t len = 0;
    CHECK_STR(emu_reply_body(reply, &len), body);
    CHECK_INT(len, strlen(body));
}

static void
s_test_reply(void)
{
    emu_invocation_t *invocation = s_test_invocation(EMU_INVOCATION_OK, "{\"ok\":1}");
    emu_reply_t *reply = emu_invoke_reply(invocation, false);
    s_check_reply(reply, 200, NULL, "{\"ok\":1}");
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    CHECK_STR(emu_reply_header(reply, "X-Amz-Executed-Version"), "$LATEST");
    CHECK_NULL(emu_reply_header(reply, "X-Amz-Log-Result"));
    emu_reply_destroy(&reply);
    reply = emu_invoke_reply(invocation, true);
    CHECK_STR(emu_reply_header(reply, "X-Amz-Log-Result"),
              "U1RBUlQgUmVxdWVzdElkOiAxIFZlcnNpb246ICRMQVRFU1QKRU5EIFJlcXVlc3RJZDogMQo=");
    emu_reply_destroy(&reply);
    emu_invocation_destroy(&invocation);

    const char *error = "{\"errorMessage\":\"boom\",\"errorType\":\"TestError\"}";
    emu_invocation_outcome_t failures[] = {EMU_INVOCATION_FUNCTION_ERROR,
                                           EMU_INVOCATION_TIMEOUT, EMU_INVOCATION_EXIT,
                                           EMU_INVOCATION_INIT_ERROR};
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        invocation = s_test_invocation(failures[i], error);
        reply = emu_invoke_reply(invocation, false);
        s_check_reply(reply, 200, "Unhandled", error);
        CHECK_STR(emu_reply_header(reply, "X-Amz-Executed-Version"), "$LATEST");
        CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
        emu_reply_destroy(&reply);
        emu_invocation_destroy(&invocation);
    }
    invocation = s_test_invocation(EMU_INVOCATION_TOO_LARGE, error);
    reply = emu_invoke_reply(invocation, false);
    char too_large[192];
    snprintf(too_large, sizeof too_large,
             "{\"errorMessage\":\"Response payload size exceeded maximum allowed "
             "payload size (%d bytes).\",\"errorType\":\"Function."
             "ResponseSizeTooLarge\"}",
             EMU_LIMIT_RESPONSE_MAX);
    s_check_reply(reply, 200, "Unhandled", too_large);
    emu_reply_destroy(&reply);
    emu_invocation_destroy(&invocation);
    invocation = s_test_invocation(EMU_INVOCATION_ABORTED, error);
    reply = emu_invoke_reply(invocation, true);
    CHECK_INT(emu_reply_status(reply), 500);
    CHECK_STR(emu_reply_header(reply, "x-amzn-ErrorType"), "ServiceException");
    emu_reply_destroy(&reply);
    emu_invocation_destroy(&invocation);

    reply = emu_invoke_accepted();
    s_check_reply(reply, 202, NULL, "");
    CHECK_INT(emu_reply_header_count(reply), 0);
    emu_reply_destroy(&reply);
    reply = emu_invoke_dry_run();
    s_check_reply(reply, 204, NULL, "");
    emu_reply_destroy(&reply);
}

//  A bash runtime that answers each invocation with the
//  Lambda-Runtime-Client-Context it got, or "none".
#define S_TEST_CONTEXT_RUNTIME                                                           \
    "#!/bin/bash\n"                                                                      \
    "export LC_ALL=C\n"                                                                  \
    "api=$AWS_LAMBDA_RUNTIME_API; host=${api%:*}; port=${api#*:}\n"                      \
    "while :; do\n"                                                                      \
    "  exec 3<>/dev/tcp/$host/$port\n"                                                   \
    "  printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: "             \
    "x\\r\\n\\r\\n' "                                                                    \
    ">&3\n"                                                                              \
    "  context=none; len=0\n"                                                            \
    "  while IFS= read -r line <&3; do\n"                                                \
    "    line=${line%$'\\r'}\n"                                                          \
    "    [ -z \"$line\" ] && break\n"                                                    \
    "    case $line in Lambda-Runtime-Aws-Request-Id:*) id=${line#*: } ;;\n"             \
    "      Lambda-Runtime-Client-Context:*) context=${line#*: } ;;\n"                    \
    "      Content-Length:*) len=${line#*: } ;; esac\n"                                  \
    "  done\n"                                                                           \
    "  [ \"$len\" -gt 0 ] && read -r -N \"$len\" event <&3\n"                            \
    "  exec 3<&-\n"                                                                      \
    "  exec 4<>/dev/tcp/$host/$port\n"                                                   \
    "  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\nHost: "     \
    "x\\r\\nContent-Length: %d\\r\\n\\r\\n%s' \"$id\" ${#context} \"$context\" >&4\n"    \
    "  IFS= read -r status <&4\n"                                                        \
    "  exec 4<&-\n"                                                                      \
    "done\n"

static void
s_test_context_done(emu_invocation_t *invocation, void *arg)
{
    emu_loop_stop(arg);
}

static void
s_test_stop(emu_loop_t *loop, void *arg)
{
    emu_loop_stop(loop);
}

//  Runs `invocation` in `function`: the one environment takes work once
//  its runtime is back in /next, so throttles are retried while the loop
//  runs. Returns when the invocation completed.
static void
s_test_run(emu_loop_t *loop, emu_function_t *function, emu_invocation_t *invocation)
{
    for (int i = 0;; i++) {
        CHECK_TRUE(i < 800);
        emu_aws_error_t err;
        emu_function_dispatch_t rc =
            emu_function_dispatch(function, "", invocation, &err);
        if (rc == EMU_FUNCTION_DISPATCH_OK)
            break;
        CHECK_INT(rc, EMU_FUNCTION_DISPATCH_REFUSED);
        CHECK_INT(err.status, 429);
        CHECK_NOT_NULL(emu_loop_timer_start(loop, 5 * SP_NS_PER_MS, s_test_stop, NULL));
        CHECK_INT(emu_loop_run(loop), 0);
    }
    CHECK_INT(emu_loop_run(loop), 0);
}

//  X-Amz-Client-Context reaches the runtime decoded, on one line; without
//  it the runtime gets no client context.
static void
s_test_client_context_handoff(bool verbose)
{
    emu_loop_t *loop = emu_loop_new();
    CHECK_NOT_NULL(loop);
    char dir[] = "/tmp/emu_invoke_testXXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char script[64];
    snprintf(script, sizeof script, "%s/bootstrap", dir);
    FILE *file = fopen(script, "w");
    CHECK_NOT_NULL(file);
    CHECK_TRUE(fputs(S_TEST_CONTEXT_RUNTIME, file) >= 0);
    CHECK_INT(fclose(file), 0);
    CHECK_INT(chmod(script, 0755), 0);
    emu_function_config_t config = {
        .name = "context", .path = script, .reserved = 1, .timeout_s = 3};
    emu_function_t *function = emu_function_new(loop, &config, verbose);
    CHECK_NOT_NULL(function);
    //  {"custom":{"k":"v"},\n"env":{"a":1}}, then none
    const char *sent[] = {"eyJjdXN0b20iOnsiayI6InYifSwKImVudiI6eyJhIjoxfX0=", NULL};
    const char *seen[] = {"{\"custom\":{\"k\":\"v\"}, \"env\":{\"a\":1}}", "none"};
    for (size_t i = 0; i < 2; i++) {
        emu_invoke_options_t options;
        emu_aws_error_t err;
        CHECK_INT(emu_invoke_parse_options(NULL, NULL, sent[i], &options, &err), 0);
        char context[EMU_INVOCATION_CLIENT_CONTEXT_MAX + 1];
        size_t context_len = emu_invoke_client_context(&options, context);
        char *event = strdup("{}");
        char id[EMU_INVOCATION_ID_SIZE];
        emu_invocation_new_id(id);
        emu_invocation_t *invocation =
            emu_invocation_new(id, &event, 2, s_test_context_done, loop);
        CHECK_NOT_NULL(invocation);
        if (context_len)
            CHECK_INT(emu_invocation_set_client_context(invocation, context, context_len),
                      0);
        s_test_run(loop, function, invocation);
        emu_reply_t *reply = emu_invoke_reply(invocation, false);
        CHECK_INT(emu_reply_status(reply), 200);
        CHECK_STR(emu_reply_body(reply, NULL), seen[i]);
        emu_reply_destroy(&reply);
        emu_invocation_destroy(&invocation);
    }
    emu_function_destroy(&function);
    emu_loop_destroy(&loop);
    CHECK_INT(unlink(script), 0);
    CHECK_INT(rmdir(dir), 0);
}

void
emu_invoke_test(bool verbose)
{
    s_test_options();
    s_test_qualifier();
    s_test_payload();
    s_test_reply();
    s_test_client_context_handoff(verbose);
}
