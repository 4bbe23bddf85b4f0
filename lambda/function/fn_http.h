/*  fn_http — one HTTP/1.1 client connection to a numeric host:port.

    Owns a TCP socket and the last response read on it (status, headers,
    body). Built on plain POSIX sockets and libhttp-parser so the bootstrap
    links statically; no name resolution (the Lambda Runtime API address is
    always numeric). The connection is kept alive between requests; when a
    kept-alive connection turns out closed before any response byte, the
    request is sent once more on a fresh connection.

    Caps on everything read from the peer: FN_HTTP_HEADERS_MAX headers,
    names up to FN_HTTP_NAME_MAX and values up to FN_HTTP_VALUE_MAX bytes,
    a body up to FN_HTTP_BODY_MAX bytes. A response over a cap is an error.

    Thread model: one fn_http_t belongs to one thread. Calls block.
*/
#ifndef FN_HTTP_H
#define FN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define FN_HTTP_HEADERS_MAX 64
#define FN_HTTP_NAME_MAX 256
#define FN_HTTP_VALUE_MAX 8192
#define FN_HTTP_BODY_MAX (6 * 1024 * 1024)

typedef struct _fn_http_t fn_http_t;

//  Parses "A.B.C.D:PORT" or "[IPv6]:PORT" (sp_hostport, numeric, port 1..65535)
//  into `addr`. Returns 0, or -1 with a reason in `err`.
int fn_http_parse_address(const char *hostport, struct sockaddr_storage *addr,
                          socklen_t *addr_len, char *err, size_t err_size);

//  Creates a client for `hostport` (see fn_http_parse_address). Does not
//  connect yet. Returns NULL with a reason in `err` when the address is
//  invalid or memory runs out.
fn_http_t *fn_http_new(const char *hostport, char *err, size_t err_size);

//  Closes the connection and frees the client. Safe on NULL; nulls *self_p.
void fn_http_destroy(fn_http_t **self_p);

//  Sends one request and reads its whole response. `headers` is NULL or a
//  NULL-terminated list of name, value pairs (no CR/LF allowed); Host and
//  Content-Length are added. Returns the HTTP status, or -1 on a transport
//  or protocol error (fn_http_error says which). The response stays
//  readable through the getters below until the next request.
int fn_http_request(fn_http_t *self, const char *method, const char *path,
                    const char *const *headers, const void *body, size_t body_len);

//  Value of response header `name` (case-insensitive, first match), or
//  NULL. Borrowed until the next request.
const char *fn_http_header(fn_http_t *self, const char *name);

//  Response body (NUL-terminated for convenience; may contain NULs).
//  Borrowed until the next request.
const char *fn_http_body(fn_http_t *self, size_t *len_p);

//  Text of the last error; "" when there was none.
const char *fn_http_error(fn_http_t *self);

//  Number of TCP connections opened so far (tests check reuse with it).
unsigned fn_http_connects(fn_http_t *self);

void fn_http_test(bool verbose);

#endif
