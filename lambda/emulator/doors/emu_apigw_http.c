/*  emu_apigw_http — API Gateway HTTP API (payload 2.0) event and response
    mapping; see emu_apigw_http.h. */
#include "emu_apigw_http.h"
#include "emu_furl_map.h"
#include "sp_check.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HTTP_INTERNAL "{\"message\":\"Internal Server Error\"}"

static emu_reply_t *
s_http_internal(void)
{
    return emu_apigw_error(500, NULL, S_HTTP_INTERNAL);
}

emu_reply_t *
emu_apigw_http_throttle(int status)
{
    if (status == 429)
        return emu_apigw_error(429, NULL, "{\"message\":\"Too Many Requests\"}");
    return emu_apigw_error(500, NULL, S_HTTP_INTERNAL);
}

emu_reply_t *
emu_apigw_http_not_found(void)
{
    return emu_apigw_error(404, NULL, "{\"message\":\"Not Found\"}");
}

emu_reply_t *
emu_apigw_http_too_large(void)
{
    return emu_apigw_error(413, NULL, "{\"message\":\"Request Entity Too Large\"}");
}

emu_reply_t *
emu_apigw_http_timeout(void)
{
    return emu_apigw_error(503, NULL, "{\"message\":\"Service Unavailable\"}");
}

char *
emu_apigw_http_event(const emu_furl_request_t *request, size_t *len_p)
{
    assert(request && request->function && request->request_id);
    char api_id[EMU_APIGW_API_ID_SIZE], gateway_id[EMU_APIGW_GATEWAY_ID_SIZE];
    emu_apigw_http_api_id(request->function, api_id);
    emu_apigw_gateway_id(request->request_id, gateway_id);
    char domain[96];
    snprintf(domain, sizeof domain, "%s.execute-api.%s.amazonaws.com", api_id,
             EMU_FURL_REGION);
    emu_furl_context_t context = {
        .api_id = api_id,
        .domain_name = domain,
        .request_id = gateway_id,
        .decode_path = true,
    };
    return emu_furl_event_for(request, &context, len_p);
}

emu_reply_t *
emu_apigw_http_map_payload(const char *payload, size_t len)
{
    assert(payload || len == 0);
    json_t *doc =
        len > 0 ? json_loadb(payload, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    if (!doc)
        return emu_apigw_mapped(NULL, "the answer is not JSON", s_http_internal);
    emu_reply_t *reply = emu_reply_new(200);
    const char *reason =
        reply ? emu_furl_map_answer(reply, doc, payload, len) : "out of memory";
    json_decref(doc);
    return emu_apigw_mapped(reply, reason, s_http_internal);
}

emu_reply_t *
emu_apigw_http_reply(emu_invocation_t *invocation)
{
    assert(invocation);
    assert(emu_invocation_outcome(invocation) != EMU_INVOCATION_PENDING);
    size_t len = 0;
    const char *payload = emu_invocation_payload(invocation, &len);
    emu_reply_t *reply = emu_invocation_outcome(invocation) == EMU_INVOCATION_OK
                             ? emu_apigw_http_map_payload(payload, len)
                             : s_http_internal();
    if (!reply)
        return NULL;
    char gateway_id[EMU_APIGW_GATEWAY_ID_SIZE];
    emu_apigw_gateway_id(emu_invocation_request_id(invocation), gateway_id);
    if (emu_reply_set_header(reply, "Apigw-Requestid", gateway_id))
        emu_reply_destroy(&reply);
    return reply;
}

//  --- selftest -------------------------------------------------------------

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
}

//  An HTTP API answer: `status`, JSON `body`, never an x-amzn-ErrorType;
//  consumed.
static void
s_check(emu_reply_t *reply, int status, const char *body)
{
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), status);
    CHECK_STR(emu_reply_body(reply, NULL), body);
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    CHECK_NULL(emu_reply_header(reply, "x-amzn-ErrorType"));
    emu_reply_destroy(&reply);
}

static void
s_test_http(void)
{
    emu_furl_header_t headers[] = {{"User-Agent", "curl/7.88.1"}, {"Cookie", "s=1"}};
    emu_furl_request_t request = {
        .function = "demo",
        .request_id = "11111111-2222-4333-8444-555555555555",
        .method = "GET",
        .path = "/a%2Fb%20c",
        .path_len = 10,
        .query = "x=1&x=2",
        .query_len = 7,
        .protocol = "HTTP/1.1",
        .source_ip = "127.0.0.1",
        .time_ns = INT64_C(1583348638390123456),
        .headers = headers,
        .header_count = 2,
    };
    char api_id[EMU_APIGW_API_ID_SIZE], gateway_id[EMU_APIGW_GATEWAY_ID_SIZE];
    emu_apigw_http_api_id("demo", api_id);
    emu_apigw_gateway_id(request.request_id, gateway_id);
    size_t len = 0;
    char *event = emu_apigw_http_event(&request, &len);
    CHECK_NOT_NULL(event);
    CHECK_INT(len, strlen(event));
    char expected[4096];
    snprintf(
        expected, sizeof expected,
        "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":\"/a/b c\","
        "\"rawQueryString\":\"x=1&x=2\",\"cookies\":[\"s=1\"],"
        "\"headers\":{\"user-agent\":\"curl/7.88.1\"},"
        "\"queryStringParameters\":{\"x\":\"1,2\"},"
        "\"requestContext\":{\"accountId\":\"123456789012\",\"apiId\":\"%s\","
        "\"domainName\":\"%s.execute-api.us-east-1.amazonaws.com\","
        "\"domainPrefix\":\"%s\",\"http\":{\"method\":\"GET\",\"path\":\"/a/b c\","
        "\"protocol\":\"HTTP/1.1\",\"sourceIp\":\"127.0.0.1\","
        "\"userAgent\":\"curl/7.88.1\"},\"requestId\":\"%s\",\"routeKey\":\"$default\","
        "\"stage\":\"$default\",\"time\":\"04/Mar/2020:19:03:58 +0000\","
        "\"timeEpoch\":1583348638390},\"isBase64Encoded\":false}",
        api_id, api_id, api_id, gateway_id);
    CHECK_STR(event, expected);
    free(event);

    //  Mapping: structured, plain JSON, and what is not valid.
    const char *structured = "{\"statusCode\":201,\"headers\":{\"X-A\":\"1\"},"
                             "\"cookies\":[\"a=1\"],\"body\":\"made\"}";
    emu_reply_t *reply = emu_apigw_http_map_payload(structured, strlen(structured));
    CHECK_INT(emu_reply_status(reply), 201);
    CHECK_STR(emu_reply_body(reply, NULL), "made");
    CHECK_STR(emu_reply_header(reply, "X-A"), "1");
    CHECK_STR(emu_reply_header(reply, "Set-Cookie"), "a=1");
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    emu_reply_destroy(&reply);
    const char *plain[] = {"{\"hello\":\"world\"}", "\"text\"", "[1,2]", "42", "null",
                           "{\"status\":201}"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        s_check(emu_apigw_http_map_payload(plain[i], strlen(plain[i])), 200, plain[i]);
    }
    const char *invalid[] = {
        "", "not json", "{\"statusCode\":\"200\"}", "{\"statusCode\":200,\"headers\":[]}",
        "{\"statusCode\":200,\"body\":\"*\",\"isBase64Encoded\":true}"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        reply = emu_apigw_http_map_payload(invalid[i], strlen(invalid[i]));
        CHECK_NOT_NULL(emu_reply_header(reply, "X-Stampede-Error"));
        s_check(reply, 500, S_HTTP_INTERNAL);
    }

    //  Completed invocations: the function's answer, or 500 for any other
    //  outcome; Apigw-Requestid on each.
    const struct {
        emu_invocation_outcome_t outcome;
        int status;
    } outcomes[] = {
        {EMU_INVOCATION_OK, 202},         {EMU_INVOCATION_FUNCTION_ERROR, 500},
        {EMU_INVOCATION_TIMEOUT, 500},    {EMU_INVOCATION_EXIT, 500},
        {EMU_INVOCATION_INIT_ERROR, 500}, {EMU_INVOCATION_TOO_LARGE, 500},
        {EMU_INVOCATION_ABORTED, 500}};
    const char *payload = "{\"statusCode\":202}";
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
        char *copy = strdup("{}");
        emu_invocation_t *invocation =
            emu_invocation_new(request.request_id, &copy, 2, s_test_done, NULL);
        CHECK_NOT_NULL(invocation);
        emu_invocation_t *lent = invocation;
        emu_invocation_complete(&lent, outcomes[i].outcome, payload, strlen(payload));
        reply = emu_apigw_http_reply(invocation);
        emu_invocation_destroy(&invocation);
        CHECK_NOT_NULL(reply);
        CHECK_STR(emu_reply_header(reply, "Apigw-Requestid"), gateway_id);
        if (outcomes[i].status == 202) {
            CHECK_INT(emu_reply_status(reply), 202);
            emu_reply_destroy(&reply);
            continue;
        }
        CHECK_INT(emu_reply_header_count(reply), 2);
        s_check(reply, 500, S_HTTP_INTERNAL);
    }

    reply = emu_apigw_http_throttle(500);
    CHECK_INT(emu_reply_header_count(reply), 1);
    s_check(reply, 500, S_HTTP_INTERNAL);
    s_check(emu_apigw_http_throttle(429), 429, "{\"message\":\"Too Many Requests\"}");
    s_check(emu_apigw_http_not_found(), 404, "{\"message\":\"Not Found\"}");
    s_check(emu_apigw_http_too_large(), 413,
            "{\"message\":\"Request Entity Too Large\"}");
    s_check(emu_apigw_http_timeout(), 503, "{\"message\":\"Service Unavailable\"}");
}

void
emu_apigw_http_test(bool verbose)
{
    (void)verbose;
    s_test_http();
}
