/*  fuzz_emu — what the emulator's fuzz targets share: the input as text,
    the front-door request a target reads from it, and the check that a
    reply can be sent. Header-only (static inline): each target is one
    source file linked with replay_main.c or libFuzzer, nothing else. */
#ifndef FUZZ_EMU_H
#define FUZZ_EMU_H

#include "emu_furl.h"
#include "emu_reply.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

//  Most headers a request read by fuzz_emu_request carries.
#define FUZZ_EMU_HEADERS_MAX 16

//  A NUL-terminated copy of the `size` bytes of input (caller frees), or
//  NULL without memory.
static inline char *
fuzz_emu_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return NULL;
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

//  Next line of the text at *cursor (up to '\n' or `end`), NUL-terminated
//  in place; "" at the end.
static inline char *
fuzz_emu_line(char **cursor, char *end)
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

//  The request `method` read from the text at *cursor (up to `end`, where
//  it is NUL-terminated): a path line, a query line, header lines
//  "name: value" (at most FUZZ_EMU_HEADERS_MAX, into `headers`) up to an
//  empty line, and the body. Its strings point into the text.
static inline emu_furl_request_t
fuzz_emu_request(char **cursor, char *end, const char *method,
                 emu_furl_header_t headers[FUZZ_EMU_HEADERS_MAX])
{
    char *path = fuzz_emu_line(cursor, end);
    char *query = fuzz_emu_line(cursor, end);
    size_t count = 0;
    while (*cursor < end && count < FUZZ_EMU_HEADERS_MAX) {
        char *line = fuzz_emu_line(cursor, end);
        if (!*line)
            break;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        headers[count++] = (emu_furl_header_t){.name = line, .value = colon + 1};
    }
    return (emu_furl_request_t){
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
        .body = *cursor,
        .body_len = (size_t)(end - *cursor),
    };
}

//  Aborts unless `reply` can be sent: a status 100..599, a body within
//  its cap, a Content-Type, and headers libmicrohttpd takes.
static inline void
fuzz_emu_check_reply(emu_reply_t *reply)
{
    if (!reply)
        abort();
    int status = emu_reply_status(reply);
    if (status < 100 || status > 599)
        abort();
    size_t len = 0;
    emu_reply_body(reply, &len);
    if (len > EMU_REPLY_BODY_MAX || !emu_reply_header(reply, "Content-Type"))
        abort();
    struct MHD_Response *response = emu_reply_to_mhd(reply);
    if (!response)
        abort();
    MHD_destroy_response(response);
}

#endif
