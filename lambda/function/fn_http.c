/*  fn_http — HTTP/1.1 client connection; see fn_http.h. */
#include "fn_http.h"
#include "fn_stub.h"
#include "sp_check.h"
#include "sp_err.h"
#include "sp_hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#define S_HEAD_MAX 16384
#define S_READ_CHUNK 65536

typedef struct {
    char name[FN_HTTP_NAME_MAX + 1];   //  as received, NUL-terminated
    char value[FN_HTTP_VALUE_MAX + 1]; //  as received, NUL-terminated
    size_t name_len;
    size_t value_len;
} s_header_t;

struct _fn_http_t {
    struct sockaddr_storage addr; //  the peer
    socklen_t addr_len;
    char host[64];       //  Host header value (the hostport given)
    int fd;              //  connected socket or -1
    unsigned connects;   //  connections opened
    http_parser parser;  //  response parser of the current request
    int status;          //  status of the last response
    s_header_t *headers; //  FN_HTTP_HEADERS_MAX slots
    size_t header_count; //  headers of the last response
    bool in_value;       //  parser is inside a header value
    char *body;          //  body of the last response, NUL-terminated
    size_t body_len;
    size_t body_cap;
    bool complete;   //  whole response parsed
    bool received;   //  some response byte arrived
    char error[256]; //  last error text
};

static void s_set_error(fn_http_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void
s_set_error(fn_http_t *self, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(self->error, sizeof self->error, format, args);
    va_end(args);
}

int
fn_http_parse_address(const char *hostport, struct sockaddr_storage *addr,
                      socklen_t *addr_len, char *err, size_t err_size)
{
    assert(addr && addr_len);
    sp_hostport_t parsed;
    memset(addr, 0, sizeof *addr);
    sp_hostport_error_t rc = sp_hostport_parse(hostport, 0, &parsed, err, err_size);
    if (rc == SP_HOSTPORT_EHOST)
        sp_err_set(err, err_size, "host must be a numeric IP address");
    if (rc)
        return -1;
    return sp_hostport_sockaddr(&parsed, addr, addr_len);
}

fn_http_t *
fn_http_new(const char *hostport, char *err, size_t err_size)
{
    fn_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->fd = -1;
    self->headers = calloc(FN_HTTP_HEADERS_MAX, sizeof *self->headers);
    if (!self->headers) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    if (fn_http_parse_address(hostport, &self->addr, &self->addr_len, err, err_size))
        goto fail;
    if (strlen(hostport) >= sizeof self->host) {
        snprintf(err, err_size, "address too long");
        goto fail;
    }
    snprintf(self->host, sizeof self->host, "%s", hostport);
    return self;
fail:
    free(self->headers);
    free(self);
    return NULL;
}

static void
s_disconnect(fn_http_t *self)
{
    if (self->fd >= 0)
        close(self->fd);
    self->fd = -1;
}

void
fn_http_destroy(fn_http_t **self_p)
{
    assert(self_p);
    fn_http_t *self = *self_p;
    if (!self)
        return;
    s_disconnect(self);
    free(self->headers);
    free(self->body);
    free(self);
    *self_p = NULL;
}

static int
s_connect(fn_http_t *self)
{
    self->fd = socket(self->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (self->fd < 0) {
        s_set_error(self, "socket: %s", strerror(errno));
        return -1;
    }
    int rc;
    do
        rc = connect(self->fd, (struct sockaddr *)&self->addr, self->addr_len);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        s_set_error(self, "connect %s: %s", self->host, strerror(errno));
        s_disconnect(self);
        return -1;
    }
    int one = 1;
    setsockopt(self->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    self->connects++;
    return 0;
}

static int
s_send_all(fn_http_t *self, struct iovec *iov, int count)
{
    while (count > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)count};
        ssize_t n = sendmsg(self->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s_set_error(self, "send: %s", strerror(errno));
            return -1;
        }
        size_t left = (size_t)n;
        while (count > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

static int
s_on_header_field(http_parser *parser, const char *at, size_t length)
{
    fn_http_t *self = parser->data;
    if (self->in_value || self->header_count == 0) {
        if (self->header_count == FN_HTTP_HEADERS_MAX) {
            s_set_error(self, "more than %d response headers", FN_HTTP_HEADERS_MAX);
            return -1;
        }
        s_header_t *fresh = &self->headers[self->header_count++];
        fresh->name_len = fresh->value_len = 0;
        fresh->name[0] = fresh->value[0] = '\0';
        self->in_value = false;
    }
    s_header_t *header = &self->headers[self->header_count - 1];
    if (header->name_len + length > FN_HTTP_NAME_MAX) {
        s_set_error(self, "response header name over %d bytes", FN_HTTP_NAME_MAX);
        return -1;
    }
    memcpy(header->name + header->name_len, at, length);
    header->name_len += length;
    header->name[header->name_len] = '\0';
    return 0;
}

static int
s_on_header_value(http_parser *parser, const char *at, size_t length)
{
    fn_http_t *self = parser->data;
    assert(self->header_count > 0);
    self->in_value = true;
    s_header_t *header = &self->headers[self->header_count - 1];
    if (header->value_len + length > FN_HTTP_VALUE_MAX) {
        s_set_error(self, "response header value over %d bytes", FN_HTTP_VALUE_MAX);
        return -1;
    }
    memcpy(header->value + header->value_len, at, length);
    header->value_len += length;
    header->value[header->value_len] = '\0';
    return 0;
}

static int
s_on_body(http_parser *parser, const char *at, size_t length)
{
    fn_http_t *self = parser->data;
    if (self->body_len + length > FN_HTTP_BODY_MAX) {
        s_set_error(self, "response body over %d bytes", FN_HTTP_BODY_MAX);
        return -1;
    }
    if (self->body_len + length + 1 > self->body_cap) {
        size_t cap = self->body_cap ? self->body_cap : 4096;
        while (cap < self->body_len + length + 1)
            cap *= 2;
        if (cap > FN_HTTP_BODY_MAX + 1)
            cap = FN_HTTP_BODY_MAX + 1;
        char *grown = realloc(self->body, cap);
        if (!grown) {
            s_set_error(self, "out of memory for the response body");
            return -1;
        }
        self->body = grown;
        self->body_cap = cap;
    }
    memcpy(self->body + self->body_len, at, length);
    self->body_len += length;
    self->body[self->body_len] = '\0';
    return 0;
}

static int
s_on_headers_complete(http_parser *parser)
{
    fn_http_t *self = parser->data;
    //  content_length is ULLONG_MAX when the header is absent.
    if (parser->content_length != UINT64_MAX &&
        parser->content_length > FN_HTTP_BODY_MAX) {
        s_set_error(self, "response body over %d bytes", FN_HTTP_BODY_MAX);
        return -1;
    }
    return 0;
}

static int
s_on_complete(http_parser *parser)
{
    fn_http_t *self = parser->data;
    self->complete = true;
    //  Stop at the end of this response; bytes after it are a protocol
    //  error on a connection without pipelining.
    http_parser_pause(parser, 1);
    return 0;
}

static const http_parser_settings s_settings = {
    .on_header_field = s_on_header_field,
    .on_header_value = s_on_header_value,
    .on_headers_complete = s_on_headers_complete,
    .on_body = s_on_body,
    .on_message_complete = s_on_complete,
};

static void
s_reset_response(fn_http_t *self)
{
    http_parser_init(&self->parser, HTTP_RESPONSE);
    self->parser.data = self;
    self->status = 0;
    self->header_count = 0;
    self->in_value = false;
    self->body_len = 0;
    if (self->body)
        self->body[0] = '\0';
    self->complete = false;
    self->received = false;
    self->error[0] = '\0';
}

//  Feeds `len` bytes (0 = end of stream) to the parser. Returns 0 while
//  more is expected or when complete, -1 on a parse error.
static int
s_feed(fn_http_t *self, const char *data, size_t len)
{
    size_t used = http_parser_execute(&self->parser, &s_settings, data, len);
    enum http_errno code = HTTP_PARSER_ERRNO(&self->parser);
    if (code == HPE_PAUSED) {
        if (used < len) {
            s_set_error(self, "unexpected bytes after the response");
            return -1;
        }
        return 0;
    }
    if (code != HPE_OK) {
        if (!self->error[0])
            s_set_error(self, "bad response: %s", http_errno_description(code));
        return -1;
    }
    return 0;
}

static int
s_read_response(fn_http_t *self)
{
    char *buf = malloc(S_READ_CHUNK);
    if (!buf) {
        s_set_error(self, "out of memory");
        return -1;
    }
    int result = -1;
    while (!self->complete) {
        ssize_t n = recv(self->fd, buf, S_READ_CHUNK, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s_set_error(self, "recv: %s", strerror(errno));
            goto out;
        }
        if (n == 0) {
            //  End of stream completes a response delimited by close.
            if (self->received && s_feed(self, NULL, 0) == 0 && self->complete)
                break;
            if (!self->error[0])
                s_set_error(self, "connection closed by the peer");
            goto out;
        }
        self->received = true;
        if (s_feed(self, buf, (size_t)n))
            goto out;
    }
    self->status = (int)self->parser.status_code;
    result = 0;
out:
    free(buf);
    return result;
}

static bool
s_has_crlf(const char *text)
{
    return strpbrk(text, "\r\n") != NULL;
}

//  One attempt on the current (or a new) connection.
static int
s_attempt(fn_http_t *self, const char *head, size_t head_len, const void *body,
          size_t body_len)
{
    if (self->fd < 0 && s_connect(self))
        return -1;
    struct iovec iov[2] = {{.iov_base = (void *)head, .iov_len = head_len},
                           {.iov_base = (void *)body, .iov_len = body_len}};
    s_reset_response(self);
    if (s_send_all(self, iov, body_len ? 2 : 1) || s_read_response(self)) {
        s_disconnect(self);
        return -1;
    }
    if (!http_should_keep_alive(&self->parser))
        s_disconnect(self);
    return self->status;
}

int
fn_http_request(fn_http_t *self, const char *method, const char *path,
                const char *const *headers, const void *body, size_t body_len)
{
    assert(self && method && path);
    char head[S_HEAD_MAX];
    int len = snprintf(head, sizeof head,
                       "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n", method,
                       path, self->host, body_len);
    if (len < 0 || (size_t)len >= sizeof head || s_has_crlf(path)) {
        s_set_error(self, "request line invalid or too long");
        return -1;
    }
    for (size_t i = 0; headers && headers[i]; i += 2) {
        const char *name = headers[i], *value = headers[i + 1];
        assert(value);
        if (s_has_crlf(name) || s_has_crlf(value)) {
            s_set_error(self, "header %s contains CR or LF", name);
            return -1;
        }
        int added =
            snprintf(head + len, sizeof head - (size_t)len, "%s: %s\r\n", name, value);
        if (added < 0 || (size_t)added >= sizeof head - (size_t)len) {
            s_set_error(self, "request headers too long");
            return -1;
        }
        len += added;
    }
    if ((size_t)len + 2 >= sizeof head) {
        s_set_error(self, "request headers too long");
        return -1;
    }
    memcpy(head + len, "\r\n", 3);
    len += 2;

    bool reused = self->fd >= 0;
    int status = s_attempt(self, head, (size_t)len, body, body_len);
    //  A kept-alive connection the peer closed meanwhile: try once afresh.
    if (status < 0 && reused && !self->received)
        status = s_attempt(self, head, (size_t)len, body, body_len);
    return status;
}

const char *
fn_http_header(fn_http_t *self, const char *name)
{
    assert(self && name);
    for (size_t i = 0; i < self->header_count; i++)
        if (strcasecmp(self->headers[i].name, name) == 0)
            return self->headers[i].value;
    return NULL;
}

const char *
fn_http_body(fn_http_t *self, size_t *len_p)
{
    assert(self);
    if (len_p)
        *len_p = self->body_len;
    return self->body ? self->body : "";
}

const char *
fn_http_error(fn_http_t *self)
{
    assert(self);
    return self->error;
}

unsigned
fn_http_connects(fn_http_t *self)
{
    assert(self);
    return self->connects;
}

static void
s_test_addresses(void)
{
    struct sockaddr_storage addr;
    socklen_t len = 0;
    char err[128];
    CHECK_INT(fn_http_parse_address("127.0.0.1:9001", &addr, &len, err, sizeof err), 0);
    CHECK_INT(addr.ss_family, AF_INET);
    CHECK_INT(len, sizeof(struct sockaddr_in));
    CHECK_INT(ntohs(((struct sockaddr_in *)&addr)->sin_port), 9001);
    CHECK_INT(fn_http_parse_address("[::1]:80", &addr, &len, err, sizeof err), 0);
    CHECK_INT(addr.ss_family, AF_INET6);
    CHECK_INT(ntohs(((struct sockaddr_in6 *)&addr)->sin6_port), 80);

    CHECK_INT(fn_http_parse_address("", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "address is empty");
    CHECK_INT(fn_http_parse_address(NULL, &addr, &len, err, sizeof err), -1);
    CHECK_INT(fn_http_parse_address("127.0.0.1", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "expected HOST:PORT");
    CHECK_INT(fn_http_parse_address(":80", &addr, &len, err, sizeof err), -1);
    CHECK_INT(fn_http_parse_address("127.0.0.1:0", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "port must be 1..65535");
    CHECK_INT(fn_http_parse_address("127.0.0.1:65536", &addr, &len, err, sizeof err), -1);
    CHECK_INT(fn_http_parse_address("127.0.0.1:80x", &addr, &len, err, sizeof err), -1);
    CHECK_INT(fn_http_parse_address("127.0.0.1:", &addr, &len, err, sizeof err), -1);
    CHECK_INT(fn_http_parse_address("localhost:80", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "host must be a numeric IP address");
    CHECK_INT(fn_http_parse_address("[::1:80", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "expected [IPv6]:PORT");
    CHECK_INT(fn_http_parse_address("[]:80", &addr, &len, err, sizeof err), -1);
}

static fn_http_t *
s_test_client(fn_stub_t *stub)
{
    char hostport[32], err[128];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%u", fn_stub_port(stub));
    fn_http_t *http = fn_http_new(hostport, err, sizeof err);
    CHECK_NOT_NULL(http);
    return http;
}

void
fn_http_test(bool verbose)
{
    s_test_addresses();
    char err[128];
    CHECK_NULL(fn_http_new("nope", err, sizeof err));
    CHECK_STR(err, "expected HOST:PORT");

    //  Keep-alive, headers, bodies, chunked and close-delimited responses,
    //  and a retry when a kept-alive connection was dropped.
    fn_stub_t *stub = fn_stub_new();
    CHECK_NOT_NULL(stub);
    fn_stub_add(stub,
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Thing: one\r\n"
                "x-thing: two\r\n\r\nhello",
                false);
    fn_stub_add(stub,
                "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                false);
    fn_stub_add(stub, "", true); //  dropped: the client must retry
    fn_stub_add(stub, "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\ngone", true);
    CHECK_INT(fn_stub_start(stub), 0);

    fn_http_t *http = s_test_client(stub);
    const char *headers[] = {"Content-Type", "application/json", NULL};
    CHECK_INT(fn_http_request(http, "GET", "/one", NULL, NULL, 0), 200);
    CHECK_STR(fn_http_header(http, "x-thing"), "one");
    CHECK_STR(fn_http_header(http, "CONTENT-LENGTH"), "5");
    CHECK_NULL(fn_http_header(http, "missing"));
    size_t len = 0;
    CHECK_STR(fn_http_body(http, &len), "hello");
    CHECK_INT(len, 5);
    CHECK_STR(fn_http_error(http), "");
    CHECK_INT(fn_http_request(http, "POST", "/two", headers, "{}", 2), 202);
    CHECK_STR(fn_http_body(http, &len), "abcde");
    CHECK_INT(fn_http_connects(http), 1);
    CHECK_INT(fn_http_request(http, "POST", "/three", NULL, "x", 1), 404);
    CHECK_STR(fn_http_body(http, &len), "gone");
    CHECK_INT(fn_http_connects(http), 2);
    CHECK_INT(fn_stub_wait(stub), 4);
    char expected[256];
    snprintf(expected, sizeof expected,
             "GET /one HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: 0\r\n\r\n",
             fn_stub_port(stub));
    CHECK_STR(fn_stub_request(stub, 0), expected);
    snprintf(expected, sizeof expected,
             "POST /two HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: 2\r\n"
             "Content-Type: application/json\r\n\r\n{}",
             fn_stub_port(stub));
    CHECK_STR(fn_stub_request(stub, 1), expected);
    CHECK_STR(fn_stub_request(stub, 2), fn_stub_request(stub, 3));
    CHECK_INT(fn_stub_connections(stub), 2);
    fn_stub_destroy(&stub);

    //  Refused connection, caps and malformed responses are errors.
    CHECK_INT(fn_http_request(http, "GET", "/", NULL, NULL, 0), -1);
    CHECK_TRUE(strstr(fn_http_error(http), "connect") != NULL);
    const char *bad_headers[] = {"X-Evil", "a\r\nb", NULL};
    CHECK_INT(fn_http_request(http, "GET", "/", bad_headers, NULL, 0), -1);
    CHECK_STR(fn_http_error(http), "header X-Evil contains CR or LF");
    CHECK_INT(fn_http_request(http, "GET", "/a\r\nb", NULL, NULL, 0), -1);
    fn_http_destroy(&http);

    stub = fn_stub_new();
    CHECK_NOT_NULL(stub);
    char *big = malloc(FN_HTTP_VALUE_MAX + 200);
    CHECK_NOT_NULL(big);
    int at = snprintf(big, 64, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(big + at, 'v', FN_HTTP_VALUE_MAX + 1);
    snprintf(big + at + FN_HTTP_VALUE_MAX + 1, 64, "\r\nContent-Length: 0\r\n\r\n");
    fn_stub_add(stub, big, true);
    free(big);
    fn_stub_add(stub, "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", true);
    fn_stub_add(stub, "garbage\r\n\r\n", true);
    fn_stub_add(stub, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true);
    fn_stub_add(stub, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", true);
    CHECK_INT(fn_stub_start(stub), 0);
    http = s_test_client(stub);
    CHECK_INT(fn_http_request(http, "GET", "/", NULL, NULL, 0), -1);
    CHECK_STR(fn_http_error(http), "response header value over 8192 bytes");
    CHECK_INT(fn_http_request(http, "GET", "/", NULL, NULL, 0), -1);
    CHECK_STR(fn_http_error(http), "response body over 6291456 bytes");
    CHECK_INT(fn_http_request(http, "GET", "/", NULL, NULL, 0), -1);
    CHECK_TRUE(strncmp(fn_http_error(http), "bad response", 12) == 0);
    CHECK_INT(fn_http_request(http, "GET", "/", NULL, NULL, 0), -1);
    CHECK_STR(fn_http_error(http), "bad response: stream ended at an unexpected time");
    CHECK_INT(fn_http_request(http, "GET", "/", NULL, NULL, 0), -1);
    CHECK_STR(fn_http_error(http), "unexpected bytes after the response");
    CHECK_INT(fn_stub_wait(stub), 5);
    fn_stub_destroy(&stub);
    fn_http_destroy(&http);
    CHECK_NULL(http);
    fn_http_destroy(&http);
    (void)verbose;
}
