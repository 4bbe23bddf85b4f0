/*  emu_furl — Function URL event and response mapping; see emu_furl.h. */
#include "emu_furl.h"
#include "emu_route.h"
#include "sp_check.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

//  Length of the valid UTF-8 sequence at `s`, or 0 when it is invalid.
static size_t
s_utf8_sequence(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
        return 0;
    return n;
}

json_t *
emu_furl_text(const char *text, size_t len)
{
    json_t *string = json_stringn(text, len);
    if (string)
        return string;
    char *lossy = malloc(len * 3 + 1);
    if (!lossy)
        return NULL;
    size_t out = 0;
    const unsigned char *in = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t n = s_utf8_sequence(in + i, len - i);
        if (n == 0) {
            memcpy(lossy + out, "\xef\xbf\xbd", 3);
            out += 3;
            i++;
        } else {
            memcpy(lossy + out, in + i, n);
            out += n;
            i += n;
        }
    }
    string = json_stringn(lossy, out);
    free(lossy);
    return string;
}

static json_t *
s_cstr(const char *text)
{
    return emu_furl_text(text ? text : "", text ? strlen(text) : 0);
}

void
emu_furl_url_id(const char *function, char out[33])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    for (const char *p = function; *p; p++) {
        hash ^= (unsigned char)*p;
        hash *= UINT64_C(0x100000001b3);
    }
    for (int i = 0; i < 32; i++) {
        hash = hash * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        out[i] = alphabet[(hash >> 33) % 36];
    }
    out[32] = '\0';
}

size_t
emu_furl_percent_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int byte = emu_route_percent_byte(in, len, i);
        if (byte >= 0) {
            out[o++] = (char)byte;
            i += 2;
        } else
            out[o++] = in[i];
    }
    return o;
}

//  Sets key to value in `object`, joining repeats with ",".
static int
s_join(json_t *object, const char *key, json_t *value)
{
    json_t *existing = json_object_get(object, key);
    if (!existing)
        return json_object_set_new(object, key, value);
    size_t a = json_string_length(existing), b = json_string_length(value);
    char *joined = malloc(a + b + 2);
    if (!joined) {
        json_decref(value);
        return -1;
    }
    memcpy(joined, json_string_value(existing), a);
    joined[a] = ',';
    memcpy(joined + a + 1, json_string_value(value), b);
    json_decref(value);
    int rc = json_object_set_new(object, key, json_stringn(joined, a + b + 1));
    free(joined);
    return rc;
}

int
emu_furl_query_foreach(const char *query, size_t len, emu_furl_param_fn *fn, void *arg)
{
    assert(fn);
    int rc = -1;
    char *key = malloc(len + 1), *value = malloc(len + 1);
    if (!key || !value)
        goto out;
    size_t count = 0;
    for (size_t start = 0; start < len && count < EMU_FURL_PARAMS_MAX;) {
        const char *piece = query + start;
        const char *amp = memchr(piece, '&', len - start);
        size_t piece_len = amp ? (size_t)(amp - piece) : len - start;
        start += piece_len + 1;
        if (piece_len == 0)
            continue;
        const char *eq = memchr(piece, '=', piece_len);
        size_t key_len = eq ? (size_t)(eq - piece) : piece_len;
        size_t key_out = emu_furl_percent_decode(piece, key_len, key);
        size_t value_out =
            eq ? emu_furl_percent_decode(eq + 1, piece_len - key_len - 1, value) : 0;
        json_t *key_json = emu_furl_text(key, key_out);
        json_t *value_json = emu_furl_text(value, value_out);
        //  Keys are C strings in jansson: one with a NUL cannot be a key.
        bool usable = key_json && value_json &&
                      strlen(json_string_value(key_json)) == json_string_length(key_json);
        if (usable && fn(json_string_value(key_json), value_json, arg))
            usable = false;
        json_decref(key_json);
        json_decref(value_json);
        count += usable;
    }
    rc = 0;
out:
    free(key);
    free(value);
    return rc;
}

static int
s_join_param(const char *key, json_t *value, void *arg)
{
    return s_join((json_t *)arg, key, json_incref(value));
}

json_t *
emu_furl_query_parameters(const char *query, size_t len)
{
    json_t *params = json_object();
    if (!params || emu_furl_query_foreach(query, len, s_join_param, params) ||
        json_object_size(params) == 0) {
        json_decref(params);
        return NULL;
    }
    return params;
}

//  Adds the headers (lower-cased) to `headers` and the cookies to
//  `cookies`.
static int
s_add_headers(const emu_furl_request_t *request, json_t *headers, json_t *cookies)
{
    size_t count = request->header_count;
    if (count > EMU_FURL_PARAMS_MAX)
        count = EMU_FURL_PARAMS_MAX;
    for (size_t i = 0; i < count; i++) {
        const emu_furl_header_t *header = &request->headers[i];
        char name[257];
        size_t name_len = strlen(header->name);
        if (name_len == 0 || name_len >= sizeof name)
            continue;
        for (size_t c = 0; c <= name_len; c++)
            name[c] = (char)tolower((unsigned char)header->name[c]);
        if (strcmp(name, "cookie") == 0) {
            //  "a=1; b=2" -> ["a=1", "b=2"]
            const char *at = header->value;
            while (*at) {
                at += strspn(at, " ;");
                size_t piece = strcspn(at, ";");
                size_t trimmed = piece;
                while (trimmed > 0 && at[trimmed - 1] == ' ')
                    trimmed--;
                if (trimmed > 0 &&
                    json_array_append_new(cookies, emu_furl_text(at, trimmed)))
                    return -1;
                at += piece;
            }
            continue;
        }
        json_t *value = s_cstr(header->value);
        json_t *key = s_cstr(name);
        int rc = value && key ? s_join(headers, json_string_value(key), value) : -1;
        if (!key || !value)
            json_decref(value);
        json_decref(key);
        if (rc)
            return -1;
    }
    return 0;
}

const char *
emu_furl_request_header(const emu_furl_request_t *request, const char *name)
{
    for (size_t i = 0; i < request->header_count; i++)
        if (strcasecmp(request->headers[i].name, name) == 0)
            return request->headers[i].value;
    return NULL;
}

json_t *
emu_furl_body(const void *body, size_t len, bool *base64_p)
{
    assert(body || len == 0);
    json_t *text = json_stringn(len ? body : "", len);
    if (base64_p)
        *base64_p = !text;
    if (text)
        return text;
    char *encoded = emu_aws_base64_encode(body, len);
    text = encoded ? json_string(encoded) : NULL;
    free(encoded);
    return text;
}

void
emu_furl_time(int64_t time_ns, char out[EMU_FURL_TIME_SIZE])
{
    time_t seconds = (time_t)(time_ns / 1000000000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(out, EMU_FURL_TIME_SIZE, "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

char *
emu_furl_event(const emu_furl_request_t *request, size_t *len_p)
{
    assert(request && request->function);
    char url_id[33];
    emu_furl_url_id(request->function, url_id);
    char domain[96];
    snprintf(domain, sizeof domain, "%s.lambda-url.%s.on.aws", url_id, EMU_FURL_REGION);
    emu_furl_context_t context = {.api_id = url_id, .domain_name = domain};
    return emu_furl_event_for(request, &context, len_p);
}

char *
emu_furl_event_for(const emu_furl_request_t *r, const emu_furl_context_t *c,
                   size_t *len_p)
{
    assert(r && r->function && r->request_id && r->method && r->protocol && r->source_ip);
    assert(c && c->api_id && c->domain_name);
    char *text = NULL;
    char when[EMU_FURL_TIME_SIZE];
    emu_furl_time(r->time_ns, when);
    const char *agent = emu_furl_request_header(r, "user-agent");

    json_t *headers = json_object();
    json_t *cookies = json_array();
    json_t *event = NULL, *context = NULL, *path = NULL;
    char *decoded = NULL;
    if (!headers || !cookies || s_add_headers(r, headers, cookies))
        goto out;
    if (c->decode_path) {
        decoded = malloc(r->path_len + 1);
        path = decoded
                   ? emu_furl_text(decoded,
                                   emu_furl_percent_decode(r->path, r->path_len, decoded))
                   : NULL;
    } else
        path = emu_furl_text(r->path, r->path_len);
    if (!path)
        goto out;
    json_t *http = json_pack("{s:o, s:O, s:s, s:s, s:o}", "method", s_cstr(r->method),
                             "path", path, "protocol", r->protocol, "sourceIp",
                             r->source_ip, "userAgent", s_cstr(agent));
    context = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:I}", "accountId",
                        EMU_FURL_ACCOUNT_ID, "apiId", c->api_id, "domainName",
                        c->domain_name, "domainPrefix", c->api_id, "http", http,
                        "requestId", c->request_id ? c->request_id : r->request_id,
                        "routeKey", "$default", "stage", "$default", "time", when,
                        "timeEpoch", (json_int_t)(r->time_ns / 1000000));
    event = json_pack("{s:s, s:s, s:O, s:o}", "version", "2.0", "routeKey", "$default",
                      "rawPath", path, "rawQueryString",
                      emu_furl_text(r->query, r->query_len));
    if (!context || !event)
        goto out;
    if (json_array_size(cookies) > 0 && json_object_set(event, "cookies", cookies))
        goto out;
    if (json_object_set(event, "headers", headers))
        goto out;
    json_t *params = emu_furl_query_parameters(r->query, r->query_len);
    if (params && json_object_set_new(event, "queryStringParameters", params))
        goto out;
    if (json_object_set_new(event, "requestContext", context))
        goto out;
    context = NULL;
    bool base64 = false;
    if (r->body_len > 0) {
        json_t *body = emu_furl_body(r->body, r->body_len, &base64);
        if (!body || json_object_set_new(event, "body", body))
            goto out;
    }
    if (json_object_set_new(event, "isBase64Encoded", json_boolean(base64)))
        goto out;
    text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text && len_p)
        *len_p = strlen(text);
out:
    free(decoded);
    json_decref(path);
    json_decref(context);
    json_decref(event);
    json_decref(headers);
    json_decref(cookies);
    return text;
}

//  --- selftest -----------------------------------------------------------

static void
s_check_params(const char *query, const char *expected)
{
    json_t *params = emu_furl_query_parameters(query, strlen(query));
    if (!expected) {
        CHECK_NULL(params);
        return;
    }
    CHECK_NOT_NULL(params);
    char *text = json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK_STR(text, expected);
    free(text);
    json_decref(params);
}

static void
s_test_event(void)
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
        .path = "/my/path",
        .path_len = 8,
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
    char url_id[33];
    emu_furl_url_id("demo", url_id);
    CHECK_INT(strlen(url_id), 32);
    char again[33];
    emu_furl_url_id("demo", again);
    CHECK_STR(again, url_id);
    emu_furl_url_id("demo2", again);
    CHECK_TRUE(strcmp(again, url_id) != 0);

    size_t len = 0;
    char *event = emu_furl_event(&request, &len);
    CHECK_NOT_NULL(event);
    CHECK_INT(len, strlen(event));
    char expected[4096];
    snprintf(
        expected, sizeof expected,
        "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":\"/my/path\","
        "\"rawQueryString\":\"a=1&a=2&b=%%41+c&flag\","
        "\"cookies\":[\"s=1\",\"theme=dark\"],"
        "\"headers\":{\"host\":\"127.0.0.1:9000\",\"user-agent\":\"curl/7.88.1\","
        "\"x-multi\":\"a,b\",\"x-bin\":\"\xef\xbf\xbdok\"},"
        "\"queryStringParameters\":{\"a\":\"1,2\",\"b\":\"A+c\",\"flag\":\"\"},"
        "\"requestContext\":{\"accountId\":\"123456789012\",\"apiId\":\"%s\","
        "\"domainName\":\"%s.lambda-url.us-east-1.on.aws\",\"domainPrefix\":\"%s\","
        "\"http\":{\"method\":\"POST\",\"path\":\"/my/path\",\"protocol\":\"HTTP/1.1\","
        "\"sourceIp\":\"127.0.0.1\",\"userAgent\":\"curl/7.88.1\"},"
        "\"requestId\":\"11111111-2222-4333-8444-555555555555\",\"routeKey\":\"$"
        "default\","
        "\"stage\":\"$default\",\"time\":\"04/Mar/2020:19:03:58 +0000\","
        "\"timeEpoch\":1583348638390},"
        "\"body\":\"Hello from client!\",\"isBase64Encoded\":false}",
        url_id, url_id, url_id);
    CHECK_STR(event, expected);
    free(event);

    //  A binary body is base64; absent parts are left out.
    request.body = "\x00\xff\x10";
    request.body_len = 3;
    request.query_len = 0;
    request.header_count = 0;
    event = emu_furl_event(&request, NULL);
    CHECK_TRUE(strstr(event, "\"body\":\"AP8Q\",\"isBase64Encoded\":true}") != NULL);
    CHECK_TRUE(strstr(event, "\"headers\":{},\"requestContext\"") != NULL);
    CHECK_TRUE(strstr(event, "cookies") == NULL);
    CHECK_TRUE(strstr(event, "queryStringParameters") == NULL);
    CHECK_TRUE(strstr(event, "\"userAgent\":\"\"") != NULL);
    free(event);
    request.body_len = 0;
    event = emu_furl_event(&request, NULL);
    CHECK_TRUE(strstr(event, "\"body\"") == NULL);
    CHECK_TRUE(strstr(event, "\"isBase64Encoded\":false}") != NULL);
    free(event);
}

static int
s_collect_param(const char *key, json_t *value, void *arg)
{
    //  "key=value;" for each parameter, in order
    char *out = arg;
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, "%s=%s;", key, json_string_value(value));
    return 0;
}

static void
s_test_helpers(void)
{
    char seen[256] = "";
    CHECK_INT(emu_furl_query_foreach("a=1&&b&a=%32&%00=x", 18, s_collect_param, seen), 0);
    CHECK_STR(seen, "a=1;b=;a=2;");

    char decoded[16];
    CHECK_INT(emu_furl_percent_decode("/a%20b+%zz", 10, decoded), 8);
    CHECK_TRUE(memcmp(decoded, "/a b+%zz", 8) == 0);

    json_t *text = emu_furl_text("ok\xff", 3);
    CHECK_STR(json_string_value(text), "ok\xef\xbf\xbd");
    json_decref(text);

    bool base64 = true;
    json_t *body = emu_furl_body("hi", 2, &base64);
    CHECK_STR(json_string_value(body), "hi");
    CHECK_TRUE(!base64);
    json_decref(body);
    body = emu_furl_body("\x00\xff\x10", 3, &base64);
    CHECK_STR(json_string_value(body), "AP8Q");
    CHECK_TRUE(base64);
    json_decref(body);

    char when[EMU_FURL_TIME_SIZE];
    emu_furl_time(INT64_C(1583348638390123456), when);
    CHECK_STR(when, "04/Mar/2020:19:03:58 +0000");

    //  The builder through another front door's eyes: its ids, a decoded path.
    emu_furl_header_t headers[] = {{"User-Agent", "ua"}};
    emu_furl_request_t request = {
        .function = "demo",
        .request_id = "11111111-2222-4333-8444-555555555555",
        .method = "GET",
        .path = "/a%20b",
        .path_len = 6,
        .query = "",
        .protocol = "HTTP/1.1",
        .source_ip = "10.0.0.1",
        .time_ns = INT64_C(1583348638390123456),
        .headers = headers,
        .header_count = 1,
    };
    CHECK_STR(emu_furl_request_header(&request, "user-agent"), "ua");
    CHECK_NULL(emu_furl_request_header(&request, "host"));
    emu_furl_context_t context = {.api_id = "abcdefghij",
                                  .domain_name = "abcdefghij.example",
                                  .request_id = "Zm9vYmFyYmF6cXV4=",
                                  .decode_path = true};
    char *event = emu_furl_event_for(&request, &context, NULL);
    CHECK_STR(
        event,
        "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":\"/a b\","
        "\"rawQueryString\":\"\",\"headers\":{\"user-agent\":\"ua\"},"
        "\"requestContext\":{\"accountId\":\"123456789012\",\"apiId\":\"abcdefghij\","
        "\"domainName\":\"abcdefghij.example\",\"domainPrefix\":\"abcdefghij\","
        "\"http\":{\"method\":\"GET\",\"path\":\"/a b\",\"protocol\":\"HTTP/1.1\","
        "\"sourceIp\":\"10.0.0.1\",\"userAgent\":\"ua\"},"
        "\"requestId\":\"Zm9vYmFyYmF6cXV4=\",\"routeKey\":\"$default\","
        "\"stage\":\"$default\",\"time\":\"04/Mar/2020:19:03:58 +0000\","
        "\"timeEpoch\":1583348638390},\"isBase64Encoded\":false}");
    free(event);
}

void
emu_furl_test(bool verbose)
{
    s_check_params("", NULL);
    s_check_params("&&", NULL);
    s_check_params("a=1", "{\"a\":\"1\"}");
    s_check_params("a=1&a=2&a=", "{\"a\":\"1,2,\"}");
    s_check_params("k%20ey=v%2Fal%zz%4", "{\"k ey\":\"v/al%zz%4\"}");
    s_check_params("x=%ff", "{\"x\":\"\xef\xbf\xbd\"}");
    s_check_params("=v", "{\"\":\"v\"}");
    s_check_params("%00=v&ok=1", "{\"ok\":\"1\"}");
    s_check_params("a=b=c", "{\"a\":\"b=c\"}");
    s_check_params("plus+sign=a+b", "{\"plus+sign\":\"a+b\"}");
    s_test_helpers();
    s_test_event();
    (void)verbose;
}
