/*  emu_reply — one HTTP response under construction: status, headers and
    body, validated as they are added so that nothing a function returns
    can split or smuggle a response. Converted to a libmicrohttpd response
    at the end.

    Owns copies of every header and of the body. Caps: EMU_REPLY_HEADERS_MAX
    headers, names are HTTP tokens up to 256 bytes, values up to 8 KiB
    without CR, LF or NUL, body up to EMU_REPLY_BODY_MAX bytes.

    Thread model: owned by one thread (the emulator loop).
*/
#ifndef EMU_REPLY_H
#define EMU_REPLY_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#define EMU_REPLY_HEADERS_MAX 128
//  Headers a function's answer may set through a front door; the rest of
//  EMU_REPLY_HEADERS_MAX is room for the emulator's own (request id,
//  received time, gateway ids, Content-Type, error markers).
#define EMU_REPLY_FUNCTION_HEADERS_MAX (EMU_REPLY_HEADERS_MAX - 16)
#define EMU_REPLY_NAME_MAX 256
#define EMU_REPLY_VALUE_MAX 8192
#define EMU_REPLY_BODY_MAX (8 * 1024 * 1024)

typedef struct _emu_reply_t emu_reply_t;

//  Creates a reply with `status` (100..599), no headers, empty body. NULL
//  when memory runs out.
emu_reply_t *emu_reply_new(int status);

//  Frees the reply. Safe on NULL; nulls *self_p.
void emu_reply_destroy(emu_reply_t **self_p);

//  Status code.
int emu_reply_status(emu_reply_t *self);
void emu_reply_set_status(emu_reply_t *self, int status);

//  True when `name` is a valid header name / `value` a valid value.
bool emu_reply_valid_name(const char *name);
bool emu_reply_valid_value(const char *value);

//  Appends a header (duplicates allowed, e.g. Set-Cookie). Returns 0, or
//  -1 when the name or value is invalid or the cap is reached.
int emu_reply_add_header(emu_reply_t *self, const char *name, const char *value);

//  Replaces every header `name` (case-insensitive) with one. Returns 0/-1.
int emu_reply_set_header(emu_reply_t *self, const char *name, const char *value);

//  First value of header `name` (case-insensitive) or NULL. Borrowed.
const char *emu_reply_header(emu_reply_t *self, const char *name);

//  Number of headers.
size_t emu_reply_header_count(emu_reply_t *self);

//  Replaces the body with a copy of `data`. Returns 0, or -1 over the cap
//  or without memory.
int emu_reply_set_body(emu_reply_t *self, const void *data, size_t len);

//  Sets the body to the compact JSON text of `doc` and Content-Type to
//  application/json. Returns 0/-1.
int emu_reply_set_json(emu_reply_t *self, const json_t *doc);

//  The body; borrowed until changed.
const char *emu_reply_body(emu_reply_t *self, size_t *len_p);

//  A new libmicrohttpd response carrying the headers (except those with
//  an empty value, which MHD cannot send) and a copy of the body (caller
//  destroys it), or NULL on failure.
struct MHD_Response *emu_reply_to_mhd(emu_reply_t *self);

//  Queues the reply on `connection`; returns what MHD_queue_response does.
enum MHD_Result emu_reply_queue(emu_reply_t *self, struct MHD_Connection *connection);

void emu_reply_test(bool verbose);

#endif
