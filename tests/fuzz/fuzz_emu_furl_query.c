/*  Fuzz target: building the Function URL event from an untrusted request
    (emu_furl_event, emu_furl_query_parameters). The input is split into a
    path line, a query line, header lines "name: value" up to an empty line,
    and the body. The event must always be a JSON object. */
#include "emu_furl.h"

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *end = text + size, *cursor = text;

    json_t *params = emu_furl_query_parameters(text, size);
    if (params && !json_is_object(params))
        abort();
    json_decref(params);

    char *path = s_line(&cursor, end);
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
        .method = "POST",
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
    char *event = emu_furl_event(&request, &len);
    if (!event)
        abort();
    json_t *doc = json_loadb(event, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(doc) || !json_is_object(json_object_get(doc, "requestContext")))
        abort();
    json_decref(doc);
    free(event);
    free(text);
    return 0;
}
