/*  Fuzz target: building the API Gateway events from an untrusted request
    (emu_apigw_rest_event, payload 1.0; emu_apigw_http_event, payload 2.0).
    The input is split into a method line, a path line, a query line,
    header lines "name: value" up to an empty line, and the body. Each
    event must be a JSON object of its payload format. */
#include "emu_apigw.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

//  Next line of `text` (up to '\n' or the end), NUL-terminated in place.
static char *
s_line(char **cursor, char *end)
{
    char *line = *cursor;
    char *newline = memchr(line, '\n', (size_t)(end - line));
    if (newline) {
        *newline = '\0';
        *cursor = newline + 1;
    } else {
        *cursor = end;
    }
    return line;
}

//  The parsed event; aborts unless it is an object with a requestContext.
static json_t *
s_parse(char *event, size_t len)
{
    if (!event)
        abort();
    json_t *doc = json_loadb(event, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(doc) || !json_is_object(json_object_get(doc, "requestContext")) ||
        !json_is_boolean(json_object_get(doc, "isBase64Encoded")))
        abort();
    free(event);
    return doc;
}

//  Aborts unless `value` is null or an object whose members pass `check`.
static void
s_null_or_object(json_t *value, int (*check)(const json_t *))
{
    if (json_is_null(value))
        return;
    if (!json_is_object(value) || json_object_size(value) == 0)
        abort();
    const char *key;
    json_t *member;
    json_object_foreach(value, key, member)
    {
        if (!check(member))
            abort();
    }
}

static int
s_is_string(const json_t *value)
{
    return json_is_string(value);
}

static int
s_is_strings(const json_t *value)
{
    size_t i;
    json_t *item;
    if (!json_is_array(value) || json_array_size(value) == 0)
        return 0;
    json_array_foreach((json_t *)value, i, item)
    {
        if (!json_is_string(item))
            return 0;
    }
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *end = text + size, *cursor = text;

    char *method = s_line(&cursor, end);
    char *path = cursor < end ? s_line(&cursor, end) : "";
    char *query = cursor < end ? s_line(&cursor, end) : "";
    emu_furl_header_t headers[16];
    size_t count = 0;
    while (cursor < end && count < 16) {
        char *line = s_line(&cursor, end);
        if (!*line)
            break;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        headers[count++] = (emu_furl_header_t){.name = line, .value = colon + 1};
    }
    emu_furl_request_t request = {
        .function = "fuzz",
        .request_id = "00000000-0000-4000-8000-000000000000",
        .method = method,
        .path = path,
        .path_len = strlen(path),
        .query = query,
        .query_len = strlen(query),
        .protocol = "HTTP/1.1",
        .source_ip = "127.0.0.1",
        .time_ns = INT64_C(1700000000000000000),
        .headers = headers,
        .header_count = count,
        .body = cursor,
        .body_len = (size_t)(end - cursor),
    };

    size_t len = 0;
    char *event = emu_apigw_rest_event(&request, NULL, &len);
    json_t *rest = s_parse(event, len);
    s_null_or_object(json_object_get(rest, "headers"), s_is_string);
    s_null_or_object(json_object_get(rest, "multiValueHeaders"), s_is_strings);
    s_null_or_object(json_object_get(rest, "queryStringParameters"), s_is_string);
    s_null_or_object(json_object_get(rest, "multiValueQueryStringParameters"),
                     s_is_strings);
    s_null_or_object(json_object_get(rest, "pathParameters"), s_is_string);
    if (json_object_size(json_object_get(rest, "headers")) !=
            json_object_size(json_object_get(rest, "multiValueHeaders")) ||
        json_object_size(json_object_get(rest, "queryStringParameters")) !=
            json_object_size(json_object_get(rest, "multiValueQueryStringParameters")))
        abort();
    json_t *body = json_object_get(rest, "body");
    if (!(json_is_null(body) ? request.body_len == 0 : json_is_string(body)))
        abort();
    json_decref(rest);

    event = emu_apigw_http_event(&request, &len);
    json_t *http = s_parse(event, len);
    if (!json_is_string(json_object_get(http, "rawPath")) ||
        !json_is_object(json_object_get(http, "headers")))
        abort();
    json_decref(http);
    free(text);
    return 0;
}
