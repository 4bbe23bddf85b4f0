/*  emu_apigw — API Gateway REST API (payload 1.0) event and response
    mapping, and the ids both gateways use; see emu_apigw.h. */
#include "emu_apigw.h"
#include "emu_furl_map.h"
#include "sp_check.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  Longest header name carried into an event (as emu_furl).
#define S_NAME_MAX 256

//  --- ids ------------------------------------------------------------------

//  Writes `n` characters of `alphabet` derived from `salt` and `text`
//  (FNV-1a, then a 64-bit LCG), stable for the same input.
static void
s_derive(const char *salt, const char *text, const char *alphabet, char *out, size_t n)
{
    size_t size = strlen(alphabet);
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    for (const char *p = salt; *p; p++) {
        hash ^= (unsigned char)*p;
        hash *= UINT64_C(0x100000001b3);
    }
    for (const char *p = text; *p; p++) {
        hash ^= (unsigned char)*p;
        hash *= UINT64_C(0x100000001b3);
    }
    for (size_t i = 0; i < n; i++) {
        hash = hash * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        out[i] = alphabet[(hash >> 33) % size];
    }
    out[n] = '\0';
}

//  The first `n` characters of the URL id of `function` + `salt`: ids
//  in the same lowercase alphabet as every other emulated AWS id.
static void
s_api_id(const char *function, const char *salt, char *out, size_t n)
{
    char name[320];
    snprintf(name, sizeof name, "%s%s", function, salt);
    char id[33];
    emu_furl_url_id(name, id);
    memcpy(out, id, n);
    out[n] = '\0';
}

void
emu_apigw_rest_api_id(const char *function, char out[EMU_APIGW_API_ID_SIZE])
{
    assert(function);
    s_api_id(function, "#restapi", out, EMU_APIGW_API_ID_SIZE - 1);
}

void
emu_apigw_http_api_id(const char *function, char out[EMU_APIGW_API_ID_SIZE])
{
    assert(function);
    s_api_id(function, "#httpapi", out, EMU_APIGW_API_ID_SIZE - 1);
}

void
emu_apigw_gateway_id(const char *request_id, char out[EMU_APIGW_GATEWAY_ID_SIZE])
{
    assert(request_id);
    s_derive("apigw", request_id,
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", out,
             EMU_APIGW_GATEWAY_ID_SIZE - 2);
    out[EMU_APIGW_GATEWAY_ID_SIZE - 2] = '=';
    out[EMU_APIGW_GATEWAY_ID_SIZE - 1] = '\0';
}

void
emu_apigw_trace_id(const char *request_id, char out[EMU_APIGW_TRACE_ID_SIZE])
{
    assert(request_id);
    char hex[33];
    s_derive("trace", request_id, "0123456789abcdef", hex, 32);
    snprintf(out, EMU_APIGW_TRACE_ID_SIZE, "Root=1-%.8s-%.24s", hex, hex + 8);
}

//  --- errors ---------------------------------------------------------------

emu_reply_t *
emu_apigw_error(int status, const char *type, const char *body)
{
    emu_reply_t *reply = emu_reply_new(status);
    if (!reply || emu_reply_set_body(reply, body, strlen(body)) ||
        emu_reply_add_header(reply, "Content-Type", "application/json") ||
        (type && emu_reply_add_header(reply, "x-amzn-ErrorType", type)))
        emu_reply_destroy(&reply);
    return reply;
}

emu_reply_t *
emu_apigw_mapped(emu_reply_t *reply, const char *reason, emu_reply_t *(*internal)(void))
{
    if (!reason)
        return reply;
    emu_reply_destroy(&reply);
    emu_reply_t *error = internal();
    if (error)
        emu_reply_add_header(error, "X-Stampede-Error", reason);
    return error;
}

#define S_REST_INTERNAL "{\"message\": \"Internal server error\"}"

static emu_reply_t *
s_rest_internal(void)
{
    return emu_apigw_error(502, "InternalServerErrorException", S_REST_INTERNAL);
}

emu_reply_t *
emu_apigw_rest_throttle(void)
{
    return emu_apigw_error(500, "InternalServerErrorException", S_REST_INTERNAL);
}

emu_reply_t *
emu_apigw_rest_not_found(void)
{
    return emu_apigw_error(403, "MissingAuthenticationTokenException",
                           "{\"message\":\"Missing Authentication Token\"}");
}

emu_reply_t *
emu_apigw_rest_too_large(void)
{
    return emu_apigw_error(413, "BadRequestException",
                           "{\"message\": \"Request Too Long\"}");
}

emu_reply_t *
emu_apigw_rest_timeout(void)
{
    return emu_apigw_error(504, "InternalServerErrorException",
                           "{\"message\": \"Endpoint request timed out\"}");
}

//  --- REST API event -------------------------------------------------------

//  Adds the request's headers to `headers` (last value) and `multi` (every
//  value), a name repeated in any case under its first spelling.
static int
s_rest_headers(const emu_furl_request_t *request, json_t *headers, json_t *multi)
{
    json_t *spellings = json_object(); //  lower-cased name -> first spelling
    if (!spellings)
        return -1;
    int rc = -1;
    size_t count = request->header_count;
    if (count > EMU_FURL_PARAMS_MAX)
        count = EMU_FURL_PARAMS_MAX;
    for (size_t i = 0; i < count; i++) {
        const emu_furl_header_t *header = &request->headers[i];
        size_t name_len = strlen(header->name);
        if (name_len == 0 || name_len > S_NAME_MAX)
            continue;
        json_t *name = emu_furl_text(header->name, name_len);
        const char *text_value = header->value ? header->value : "";
        json_t *value = emu_furl_text(text_value, strlen(text_value));
        char lower[S_NAME_MAX * 3 + 1];
        if (name) {
            const char *text = json_string_value(name);
            size_t len = json_string_length(name);
            for (size_t c = 0; c <= len; c++)
                lower[c] = (char)tolower((unsigned char)text[c]);
        }
        json_t *spelling = name ? json_object_get(spellings, lower) : NULL;
        if (name && !spelling && json_object_set(spellings, lower, name) == 0)
            spelling = name;
        const char *key = spelling ? json_string_value(spelling) : NULL;
        json_t *values = key ? json_object_get(multi, key) : NULL;
        if (key && !values && json_object_set_new(multi, key, json_array()) == 0)
            values = json_object_get(multi, key);
        bool ok = value && values && json_array_append(values, value) == 0 &&
                  json_object_set(headers, key, value) == 0;
        json_decref(name);
        json_decref(value);
        if (!ok)
            goto out;
    }
    rc = 0;
out:
    json_decref(spellings);
    return rc;
}

typedef struct {
    json_t *single; //  key -> last value
    json_t *multi;  //  key -> [values]
} s_params_t;

static int
s_rest_param(const char *key, json_t *value, void *arg)
{
    s_params_t *params = arg;
    json_t *values = json_object_get(params->multi, key);
    if (!values) {
        if (json_object_set_new(params->multi, key, json_array()))
            return -1;
        values = json_object_get(params->multi, key);
    }
    if (!values || json_array_append(values, value))
        return -1;
    return json_object_set(params->single, key, value);
}

//  `object` when it has members, else JSON null; consumes the reference.
static json_t *
s_or_null(json_t *object)
{
    if (json_object_size(object) > 0)
        return object;
    json_decref(object);
    return json_null();
}

//  The proxy path parameter: the path without its leading "/", decoded.
static json_t *
s_proxy(const char *path, size_t len)
{
    if (len > 0 && path[0] == '/') {
        path++;
        len--;
    }
    char *decoded = malloc(len + 1);
    if (!decoded)
        return NULL;
    json_t *proxy = emu_furl_text(decoded, emu_furl_percent_decode(path, len, decoded));
    free(decoded);
    return proxy;
}

//  The identity of the caller: only its address and user agent are known.
static json_t *
s_identity(const emu_furl_request_t *r)
{
    const char *agent = emu_furl_request_header(r, "user-agent");
    return json_pack(
        "{s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:o, s:n, s:o, s:n}", "accessKey",
        "accountId", "caller", "cognitoAuthenticationProvider",
        "cognitoAuthenticationType", "cognitoIdentityId", "cognitoIdentityPoolId",
        "principalOrgId", "sourceIp", emu_furl_text(r->source_ip, strlen(r->source_ip)),
        "user", "userAgent", agent ? emu_furl_text(agent, strlen(agent)) : json_null(),
        "userArn");
}

char *
emu_apigw_rest_event(const emu_furl_request_t *r, const char *stage, size_t *len_p)
{
    assert(r && r->function && r->request_id && r->method && r->protocol && r->source_ip);
    assert(r->path || r->path_len == 0);
    char *text = NULL;
    char stage_name[EMU_APIGW_STAGE_MAX + 1];
    snprintf(stage_name, sizeof stage_name, "%s", stage ? stage : EMU_APIGW_STAGE);
    const char *path = r->path_len > 0 ? r->path : "/";
    size_t path_len = r->path_len > 0 ? r->path_len : 1;
    bool root = path_len == 1 && path[0] == '/';
    const char *resource = root ? "/" : "/{proxy+}";

    char api_id[EMU_APIGW_API_ID_SIZE], resource_id[8],
        gateway_id[EMU_APIGW_GATEWAY_ID_SIZE];
    emu_apigw_rest_api_id(r->function, api_id);
    s_api_id(r->function, root ? "#root" : "#proxy", resource_id, 6);
    emu_apigw_gateway_id(r->request_id, gateway_id);
    char domain[96];
    snprintf(domain, sizeof domain, "%s.execute-api.%s.amazonaws.com", api_id,
             EMU_FURL_REGION);
    char when[EMU_FURL_TIME_SIZE];
    emu_furl_time(r->time_ns, when);

    json_t *headers = json_object(), *multi_headers = json_object();
    s_params_t params = {json_object(), json_object()};
    json_t *event = NULL, *context = NULL;
    char *stage_path = malloc(strlen(stage_name) + path_len + 2);
    if (!headers || !multi_headers || !params.single || !params.multi || !stage_path)
        goto out;
    if (s_rest_headers(r, headers, multi_headers) ||
        emu_furl_query_foreach(r->query, r->query_len, s_rest_param, &params))
        goto out;
    int prefix = snprintf(stage_path, strlen(stage_name) + 2, "/%s", stage_name);
    memcpy(stage_path + prefix, path, path_len);
    context = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:s, s:I, s:s, "
        "s:s, s:s}",
        "accountId", EMU_FURL_ACCOUNT_ID, "apiId", api_id, "domainName", domain,
        "domainPrefix", api_id, "extendedRequestId", gateway_id, "httpMethod",
        emu_furl_text(r->method, strlen(r->method)), "identity", s_identity(r), "path",
        emu_furl_text(stage_path, (size_t)prefix + path_len), "protocol", r->protocol,
        "requestId", r->request_id, "requestTime", when, "requestTimeEpoch",
        (json_int_t)(r->time_ns / 1000000), "resourceId", resource_id, "resourcePath",
        resource, "stage", stage_name);
    json_t *proxy =
        root ? json_null() : json_pack("{s:o}", "proxy", s_proxy(path, path_len));
    bool base64 = false;
    json_t *body =
        r->body_len > 0 ? emu_furl_body(r->body, r->body_len, &base64) : json_null();
    event = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:n, s:O, s:o, s:b}", "resource",
        resource, "path", emu_furl_text(path, path_len), "httpMethod",
        emu_furl_text(r->method, strlen(r->method)), "headers",
        s_or_null(json_incref(headers)), "multiValueHeaders",
        s_or_null(json_incref(multi_headers)), "queryStringParameters",
        s_or_null(json_incref(params.single)), "multiValueQueryStringParameters",
        s_or_null(json_incref(params.multi)), "pathParameters", proxy, "stageVariables",
        "requestContext", context, "body", body, "isBase64Encoded", base64);
    if (!event)
        goto out;
    text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text && len_p)
        *len_p = strlen(text);
out:
    free(stage_path);
    json_decref(event);
    json_decref(context);
    json_decref(headers);
    json_decref(multi_headers);
    json_decref(params.single);
    json_decref(params.multi);
    return text;
}

//  --- REST API answer ------------------------------------------------------

//  True when `name: text` is among the multiValueHeaders of the answer.
static bool
s_in_multi(json_t *multi, const char *name, const char *text)
{
    const char *key;
    json_t *values;
    json_object_foreach(multi, key, values)
    {
        if (strcasecmp(key, name) != 0 || !json_is_array(values))
            continue;
        size_t i;
        json_t *value;
        json_array_foreach(values, i, value)
        {
            char other[EMU_REPLY_VALUE_MAX + 1];
            if (emu_furl_map_header_text(value, other, sizeof other) &&
                strcmp(other, text) == 0)
                return true;
        }
    }
    return false;
}

//  Adds header `name: value` unless it belongs to the connection.
static const char *
s_add_header(emu_reply_t *reply, const char *name, const char *text)
{
    if (emu_furl_map_connection_header(name))
        return NULL;
    if (emu_reply_add_header(reply, name, text))
        return "invalid header name or value, or too many headers";
    return NULL;
}

//  Maps a payload-1.0 answer `doc`; NULL on success or why it is
//  malformed.
static const char *
s_rest_map(emu_reply_t *reply, json_t *doc)
{
    if (!json_is_object(doc))
        return "the answer must be a JSON object";
    static const char *fields[] = {"statusCode", "headers",         "multiValueHeaders",
                                   "body",       "isBase64Encoded", NULL};
    const char *field;
    json_t *member;
    json_object_foreach(doc, field, member)
    {
        size_t i = 0;
        while (fields[i] && strcmp(fields[i], field) != 0)
            i++;
        if (!fields[i])
            return "the answer may only have statusCode, headers, multiValueHeaders, "
                   "body "
                   "and isBase64Encoded";
    }
    const char *reason = emu_furl_map_status(reply, doc);
    if (reason)
        return reason;

    json_t *headers = json_object_get(doc, "headers");
    json_t *multi = json_object_get(doc, "multiValueHeaders");
    if (headers && !json_is_null(headers) && !json_is_object(headers))
        return "headers must be an object";
    if (multi && !json_is_null(multi) && !json_is_object(multi))
        return "multiValueHeaders must be an object";
    //  Every value becomes a header: more than a reply holds fails anyway,
    //  and the cap keeps the merge below cheap whatever the payload.
    size_t count = json_object_size(headers);
    const char *name;
    json_t *value;
    json_object_foreach(multi, name, value) count += json_array_size(value);
    if (count > EMU_REPLY_FUNCTION_HEADERS_MAX)
        return "too many headers";
    char text[EMU_REPLY_VALUE_MAX + 1];
    json_object_foreach(headers, name, value)
    {
        if (json_is_null(value))
            continue;
        if (!emu_furl_map_header_text(value, text, sizeof text))
            return "header values must be strings, numbers or booleans";
        if (s_in_multi(multi, name, text))
            continue;
        reason = s_add_header(reply, name, text);
        if (reason)
            return reason;
    }
    json_t *values;
    json_object_foreach(multi, name, values)
    {
        if (json_is_null(values))
            continue;
        if (!json_is_array(values))
            return "multiValueHeaders values must be arrays";
        size_t i;
        json_array_foreach(values, i, value)
        {
            if (!emu_furl_map_header_text(value, text, sizeof text))
                return "header values must be strings, numbers or booleans";
            reason = s_add_header(reply, name, text);
            if (reason)
                return reason;
        }
    }
    return emu_furl_map_body(reply, doc, true);
}

emu_reply_t *
emu_apigw_rest_map_payload(const char *payload, size_t len)
{
    assert(payload || len == 0);
    emu_reply_t *reply = emu_reply_new(200);
    if (!reply)
        return NULL;
    json_t *doc = len > 0 ? json_loadb(payload, len, JSON_ALLOW_NUL, NULL) : NULL;
    const char *reason = doc ? s_rest_map(reply, doc) : "the answer is not JSON";
    json_decref(doc);
    return emu_apigw_mapped(reply, reason, s_rest_internal);
}

emu_reply_t *
emu_apigw_rest_reply(emu_invocation_t *invocation)
{
    assert(invocation);
    assert(emu_invocation_outcome(invocation) != EMU_INVOCATION_PENDING);
    const char *request_id = emu_invocation_request_id(invocation);
    size_t len = 0;
    const char *payload = emu_invocation_payload(invocation, &len);
    bool ok = emu_invocation_outcome(invocation) == EMU_INVOCATION_OK;
    emu_reply_t *reply =
        ok ? emu_apigw_rest_map_payload(payload, len) : s_rest_internal();
    if (!reply)
        return NULL;
    char gateway_id[EMU_APIGW_GATEWAY_ID_SIZE], trace_id[EMU_APIGW_TRACE_ID_SIZE];
    emu_apigw_gateway_id(request_id, gateway_id);
    emu_apigw_trace_id(request_id, trace_id);
    //  Set, not added: a function's own header of the same name gives way.
    if (emu_reply_set_header(reply, "x-amzn-RequestId", request_id) ||
        emu_reply_set_header(reply, "x-amz-apigw-id", gateway_id) ||
        (ok && emu_reply_set_header(reply, "X-Amzn-Trace-Id", trace_id)))
        emu_reply_destroy(&reply);
    return reply;
}

//  --- selftest -------------------------------------------------------------

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
}

//  A completed invocation with `outcome` and `payload`.
static emu_invocation_t *
s_invocation(emu_invocation_outcome_t outcome, const char *payload)
{
    char *event = strdup("{}");
    emu_invocation_t *invocation = emu_invocation_new(
        "11111111-2222-4333-8444-555555555555", &event, 2, s_test_done, NULL);
    CHECK_NOT_NULL(invocation);
    emu_invocation_t *borrowed = invocation;
    emu_invocation_complete(&borrowed, outcome, payload, strlen(payload));
    return invocation;
}

static void
s_check_reply(emu_reply_t *reply, int status, const char *body, const char *type)
{
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), status);
    CHECK_STR(emu_reply_body(reply, NULL), body);
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    if (type)
        CHECK_STR(emu_reply_header(reply, "x-amzn-ErrorType"), type);
    else
        CHECK_NULL(emu_reply_header(reply, "x-amzn-ErrorType"));
}

static void
s_test_ids(void)
{
    char rest[EMU_APIGW_API_ID_SIZE], http[EMU_APIGW_API_ID_SIZE],
        again[EMU_APIGW_API_ID_SIZE];
    emu_apigw_rest_api_id("demo", rest);
    emu_apigw_http_api_id("demo", http);
    CHECK_INT(strlen(rest), 10);
    CHECK_INT(strlen(http), 10);
    CHECK_TRUE(strcmp(rest, http) != 0);
    for (size_t i = 0; i < 10; i++)
        CHECK_TRUE(islower((unsigned char)rest[i]) || isdigit((unsigned char)rest[i]));
    emu_apigw_rest_api_id("demo", again);
    CHECK_STR(again, rest);
    emu_apigw_rest_api_id("demo2", again);
    CHECK_TRUE(strcmp(again, rest) != 0);

    char gateway[EMU_APIGW_GATEWAY_ID_SIZE], gateway2[EMU_APIGW_GATEWAY_ID_SIZE];
    emu_apigw_gateway_id("11111111-2222-4333-8444-555555555555", gateway);
    emu_apigw_gateway_id("11111111-2222-4333-8444-555555555555", gateway2);
    CHECK_STR(gateway, gateway2);
    CHECK_INT(strlen(gateway), 16);
    CHECK_INT(gateway[15], '=');
    for (size_t i = 0; i < 15; i++)
        CHECK_TRUE(isalnum((unsigned char)gateway[i]));
    emu_apigw_gateway_id("11111111-2222-4333-8444-555555555556", gateway2);
    CHECK_TRUE(strcmp(gateway, gateway2) != 0);

    char trace[EMU_APIGW_TRACE_ID_SIZE];
    emu_apigw_trace_id("11111111-2222-4333-8444-555555555555", trace);
    CHECK_INT(strlen(trace), 40);
    CHECK_TRUE(strncmp(trace, "Root=1-", 7) == 0);
    CHECK_INT(trace[15], '-');
    CHECK_INT(strspn(trace + 7, "0123456789abcdef"), 8);
    CHECK_INT(strspn(trace + 16, "0123456789abcdef"), 24);
}

static void
s_test_rest_event(void)
{
    emu_furl_header_t headers[] = {
        {"Host", "127.0.0.1:9000"},
        {"User-Agent", "curl/7.88.1"},
        {"X-Multi", "a"},
        {"x-multi", "b"},
        {"Cookie", "s=1; theme=dark"},
        {"X-Bin", "\xff"
                  "ok"},
    };
    emu_furl_request_t request = {
        .function = "demo",
        .request_id = "11111111-2222-4333-8444-555555555555",
        .method = "POST",
        .path = "/my/pa%20th",
        .path_len = 11,
        .query = "a=1&a=2&b=%41+c&flag",
        .query_len = 20,
        .protocol = "HTTP/1.1",
        .source_ip = "127.0.0.1",
        .time_ns = INT64_C(1583348638390123456),
        .headers = headers,
        .header_count = 6,
        .body = "Hello from client!",
        .body_len = 18,
    };
    char api_id[EMU_APIGW_API_ID_SIZE], gateway_id[EMU_APIGW_GATEWAY_ID_SIZE];
    char resource_id[7], root_id[7];
    emu_apigw_rest_api_id("demo", api_id);
    emu_apigw_gateway_id(request.request_id, gateway_id);
    s_api_id("demo", "#proxy", resource_id, 6);
    s_api_id("demo", "#root", root_id, 6);

    size_t len = 0;
    char *event = emu_apigw_rest_event(&request, NULL, &len);
    CHECK_NOT_NULL(event);
    CHECK_INT(len, strlen(event));
    char expected[4096];
    snprintf(
        expected, sizeof expected,
        "{\"resource\":\"/{proxy+}\",\"path\":\"/my/pa%%20th\",\"httpMethod\":\"POST\","
        "\"headers\":{\"Host\":\"127.0.0.1:9000\",\"User-Agent\":\"curl/7.88.1\","
        "\"X-Multi\":\"b\",\"Cookie\":\"s=1; theme=dark\",\"X-Bin\":\"\xef\xbf\xbdok\"},"
        "\"multiValueHeaders\":{\"Host\":[\"127.0.0.1:9000\"],"
        "\"User-Agent\":[\"curl/7.88.1\"],\"X-Multi\":[\"a\",\"b\"],"
        "\"Cookie\":[\"s=1; theme=dark\"],\"X-Bin\":[\"\xef\xbf\xbdok\"]},"
        "\"queryStringParameters\":{\"a\":\"2\",\"b\":\"A+c\",\"flag\":\"\"},"
        "\"multiValueQueryStringParameters\":{\"a\":[\"1\",\"2\"],\"b\":[\"A+c\"],"
        "\"flag\":[\"\"]},"
        "\"pathParameters\":{\"proxy\":\"my/pa th\"},\"stageVariables\":null,"
        "\"requestContext\":{\"accountId\":\"123456789012\",\"apiId\":\"%s\","
        "\"domainName\":\"%s.execute-api.us-east-1.amazonaws.com\","
        "\"domainPrefix\":\"%s\",\"extendedRequestId\":\"%s\",\"httpMethod\":\"POST\","
        "\"identity\":{\"accessKey\":null,\"accountId\":null,\"caller\":null,"
        "\"cognitoAuthenticationProvider\":null,\"cognitoAuthenticationType\":null,"
        "\"cognitoIdentityId\":null,\"cognitoIdentityPoolId\":null,"
        "\"principalOrgId\":null,\"sourceIp\":\"127.0.0.1\",\"user\":null,"
        "\"userAgent\":\"curl/7.88.1\",\"userArn\":null},"
        "\"path\":\"/dev/my/pa%%20th\",\"protocol\":\"HTTP/1.1\","
        "\"requestId\":\"11111111-2222-4333-8444-555555555555\","
        "\"requestTime\":\"04/Mar/2020:19:03:58 +0000\","
        "\"requestTimeEpoch\":1583348638390,\"resourceId\":\"%s\","
        "\"resourcePath\":\"/{proxy+}\",\"stage\":\"dev\"},"
        "\"body\":\"Hello from client!\",\"isBase64Encoded\":false}",
        api_id, api_id, api_id, gateway_id, resource_id);
    CHECK_STR(event, expected);
    free(event);

    //  The root, another stage, nothing but a binary body.
    request.path = "/";
    request.path_len = 1;
    request.query_len = 0;
    request.header_count = 0;
    request.body = "\x00\xff\x10";
    request.body_len = 3;
    event = emu_apigw_rest_event(&request, "prod", NULL);
    snprintf(
        expected, sizeof expected,
        "{\"resource\":\"/\",\"path\":\"/\",\"httpMethod\":\"POST\",\"headers\":null,"
        "\"multiValueHeaders\":null,\"queryStringParameters\":null,"
        "\"multiValueQueryStringParameters\":null,\"pathParameters\":null,"
        "\"stageVariables\":null,");
    CHECK_TRUE(strncmp(event, expected, strlen(expected)) == 0);
    CHECK_TRUE(strstr(event, "\"userAgent\":null,") != NULL);
    CHECK_TRUE(strstr(event, "\"path\":\"/prod/\",") != NULL);
    snprintf(expected, sizeof expected,
             "\"resourceId\":\"%s\",\"resourcePath\":\"/\",\"stage\":\"prod\"},"
             "\"body\":\"AP8Q\",\"isBase64Encoded\":true}",
             root_id);
    CHECK_TRUE(strstr(event, expected) != NULL);
    free(event);

    //  No body at all; an empty path is the root.
    request.path_len = 0;
    request.body_len = 0;
    event = emu_apigw_rest_event(&request, NULL, NULL);
    CHECK_TRUE(strstr(event, "\"body\":null,\"isBase64Encoded\":false}") != NULL);
    CHECK_TRUE(strstr(event, "\"path\":\"/dev/\",") != NULL);
    free(event);
}

static void
s_check_rest(const char *payload, int status, const char *body)
{
    emu_reply_t *reply = emu_apigw_rest_map_payload(payload, strlen(payload));
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), status);
    CHECK_STR(emu_reply_body(reply, NULL), body);
    emu_reply_destroy(&reply);
}

static void
s_test_rest_mapping(void)
{
    const char *structured =
        "{\"statusCode\":201,\"headers\":{\"Content-Type\":\"text/plain\",\"X-N\":5,"
        "\"Set-Cookie\":\"a=1\",\"Content-Length\":\"999\",\"X-Null\":null},"
        "\"multiValueHeaders\":{\"set-cookie\":[\"a=1\",\"b=2\"],\"X-M\":[\"x\",true]},"
        "\"body\":\"created\",\"isBase64Encoded\":false}";
    emu_reply_t *reply = emu_apigw_rest_map_payload(structured, strlen(structured));
    CHECK_INT(emu_reply_status(reply), 201);
    CHECK_STR(emu_reply_body(reply, NULL), "created");
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "text/plain");
    CHECK_STR(emu_reply_header(reply, "X-N"), "5");
    CHECK_STR(emu_reply_header(reply, "Set-Cookie"), "a=1");
    CHECK_NULL(emu_reply_header(reply, "Content-Length"));
    CHECK_NULL(emu_reply_header(reply, "X-Null"));
    CHECK_STR(emu_reply_header(reply, "X-M"), "x");
    //  Content-Type, X-N, set-cookie a=1 and b=2 (Set-Cookie a=1 sent once), X-M x, true
    CHECK_INT(emu_reply_header_count(reply), 6);
    emu_reply_destroy(&reply);

    s_check_rest("{\"statusCode\":204}", 204, "");
    s_check_rest("{\"statusCode\":200,\"body\":\"aGk=\",\"isBase64Encoded\":true}", 200,
                 "hi");
    s_check_rest("{\"statusCode\":200,\"body\":null,\"headers\":null,"
                 "\"multiValueHeaders\":null,\"isBase64Encoded\":null}",
                 200, "");
    reply = emu_apigw_rest_map_payload("{\"statusCode\":200}", 18);
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    emu_reply_destroy(&reply);

    //  Malformed Lambda proxy responses.
    const char *malformed[] = {
        "",
        "not json",
        "\"a string\"",
        "[1]",
        "null",
        "{}",
        "{\"request_id\":\"r\"}",
        "{\"statusCode\":\"200\"}",
        "{\"statusCode\":200.5}",
        "{\"statusCode\":99}",
        "{\"statusCode\":600}",
        "{\"statusCode\":200,\"body\":{\"k\":1}}",
        "{\"statusCode\":200,\"body\":5}",
        "{\"statusCode\":200,\"cookies\":[\"a=1\"]}",
        "{\"statusCode\":200,\"headers\":[]}",
        "{\"statusCode\":200,\"headers\":{\"X\":{}}}",
        "{\"statusCode\":200,\"headers\":{\"X\":\"a\\r\\nInjected: 1\"}}",
        "{\"statusCode\":200,\"headers\":{\"Bad Name\":\"v\"}}",
        "{\"statusCode\":200,\"multiValueHeaders\":{\"X\":\"a\"}}",
        "{\"statusCode\":200,\"multiValueHeaders\":[]}",
        "{\"statusCode\":200,\"multiValueHeaders\":{\"X\":[[1]]}}",
        "{\"statusCode\":200,\"isBase64Encoded\":\"true\"}",
        "{\"statusCode\":200,\"body\":\"***\",\"isBase64Encoded\":true}",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        reply = emu_apigw_rest_map_payload(malformed[i], strlen(malformed[i]));
        s_check_reply(reply, 502, "{\"message\": \"Internal server error\"}",
                      "InternalServerErrorException");
        CHECK_NOT_NULL(emu_reply_header(reply, "X-Stampede-Error"));
        CHECK_NULL(emu_reply_header(reply, "Injected"));
        emu_reply_destroy(&reply);
    }
    const char *object_body = "{\"statusCode\":200,\"body\":{}}";
    reply = emu_apigw_rest_map_payload(object_body, strlen(object_body));
    CHECK_STR(emu_reply_header(reply, "X-Stampede-Error"), "body must be a string");
    emu_reply_destroy(&reply);

    //  Through an invocation: the request ids, the outcomes.
    emu_invocation_t *invocation = s_invocation(
        EMU_INVOCATION_OK, "{\"statusCode\":418,\"headers\":{\"x-amzn-RequestId\":"
                           "\"mine\"},\"body\":\"teapot\"}");
    char gateway_id[EMU_APIGW_GATEWAY_ID_SIZE], trace_id[EMU_APIGW_TRACE_ID_SIZE];
    emu_apigw_gateway_id("11111111-2222-4333-8444-555555555555", gateway_id);
    emu_apigw_trace_id("11111111-2222-4333-8444-555555555555", trace_id);
    reply = emu_apigw_rest_reply(invocation);
    CHECK_INT(emu_reply_status(reply), 418);
    CHECK_STR(emu_reply_body(reply, NULL), "teapot");
    CHECK_STR(emu_reply_header(reply, "x-amzn-RequestId"),
              "11111111-2222-4333-8444-555555555555");
    CHECK_STR(emu_reply_header(reply, "x-amz-apigw-id"), gateway_id);
    CHECK_STR(emu_reply_header(reply, "X-Amzn-Trace-Id"), trace_id);
    CHECK_INT(emu_reply_header_count(reply), 4);
    emu_reply_destroy(&reply);
    emu_invocation_destroy(&invocation);

    invocation = s_invocation(EMU_INVOCATION_OK, "{\"hello\":\"world\"}");
    reply = emu_apigw_rest_reply(invocation);
    s_check_reply(reply, 502, "{\"message\": \"Internal server error\"}",
                  "InternalServerErrorException");
    CHECK_STR(emu_reply_header(reply, "x-amz-apigw-id"), gateway_id);
    emu_reply_destroy(&reply);
    emu_invocation_destroy(&invocation);

    const emu_invocation_outcome_t failures[] = {
        EMU_INVOCATION_FUNCTION_ERROR, EMU_INVOCATION_TIMEOUT,   EMU_INVOCATION_EXIT,
        EMU_INVOCATION_INIT_ERROR,     EMU_INVOCATION_TOO_LARGE, EMU_INVOCATION_ABORTED};
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        invocation = s_invocation(failures[i], "{\"statusCode\":200,\"body\":\"no\"}");
        reply = emu_apigw_rest_reply(invocation);
        s_check_reply(reply, 502, "{\"message\": \"Internal server error\"}",
                      "InternalServerErrorException");
        CHECK_STR(emu_reply_header(reply, "x-amzn-RequestId"),
                  "11111111-2222-4333-8444-555555555555");
        CHECK_STR(emu_reply_header(reply, "x-amz-apigw-id"), gateway_id);
        CHECK_NULL(emu_reply_header(reply, "X-Amzn-Trace-Id"));
        CHECK_NULL(emu_reply_header(reply, "X-Amz-Function-Error"));
        emu_reply_destroy(&reply);
        emu_invocation_destroy(&invocation);
    }

    reply = emu_apigw_rest_throttle();
    s_check_reply(reply, 500, "{\"message\": \"Internal server error\"}",
                  "InternalServerErrorException");
    CHECK_INT(emu_reply_header_count(reply), 2);
    emu_reply_destroy(&reply);
    reply = emu_apigw_rest_not_found();
    s_check_reply(reply, 403, "{\"message\":\"Missing Authentication Token\"}",
                  "MissingAuthenticationTokenException");
    emu_reply_destroy(&reply);
    reply = emu_apigw_rest_too_large();
    s_check_reply(reply, 413, "{\"message\": \"Request Too Long\"}",
                  "BadRequestException");
    emu_reply_destroy(&reply);
    reply = emu_apigw_rest_timeout();
    s_check_reply(reply, 504, "{\"message\": \"Endpoint request timed out\"}",
                  "InternalServerErrorException");
    CHECK_INT(emu_reply_header_count(reply), 2);
    emu_reply_destroy(&reply);
}

void
emu_apigw_test(bool verbose)
{
    s_test_ids();
    s_test_rest_event();
    s_test_rest_mapping();
    (void)verbose;
}
