/*  Fuzz target: building the API Gateway events from an untrusted request
    (emu_apigw_rest_event, payload 1.0; emu_apigw_http_event, payload 2.0).
    The input is split into a method line, a path line, a query line,
    header lines "name: value" up to an empty line, and the body. Each
    event must be a JSON object of its payload format. */
#include "emu_apigw_http.h"
#include "fuzz_emu.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
    char *text = fuzz_emu_text(data, size);
    if (!text)
        return 0;
    char *end = text + size, *cursor = text;
    char *method = fuzz_emu_line(&cursor, end);
    emu_furl_header_t headers[FUZZ_EMU_HEADERS_MAX];
    emu_furl_request_t request = fuzz_emu_request(&cursor, end, method, headers);

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
