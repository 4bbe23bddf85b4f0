/*  fn_stub — scripted HTTP peer for selftests; see fn_stub.h. */
#define _GNU_SOURCE //  accept4
#include "fn_stub.h"
#include "sp_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_STEPS_MAX 32
#define S_REQUEST_MAX (8 * 1024 * 1024)
#define S_IDLE_MS 5000

typedef struct {
    char *response;   //  raw bytes to write
    bool close_after; //  close the connection afterwards
} s_step_t;

struct _fn_stub_t {
    int listen_fd;               //  listening socket, 127.0.0.1
    uint16_t port;               //  its port
    s_step_t steps[S_STEPS_MAX]; //  the script
    size_t step_count;           //  steps queued
    char *requests[S_STEPS_MAX]; //  requests received, one per step
    size_t request_count;        //  requests received
    unsigned connections;        //  connections accepted
    pthread_t thread;            //  the serving thread
    bool started;                //  thread running or joined-not-yet
};

//  Request reading state shared with the parser callbacks.
typedef struct {
    bool complete; //  a whole request was parsed
} s_read_t;

static int
s_on_complete(http_parser *parser)
{
    s_read_t *state = parser->data;
    state->complete = true;
    http_parser_pause(parser, 1);
    return 0;
}

//  Waits for `fd` to become readable; false on timeout or error.
static bool
s_wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int rc = poll(&pfd, 1, S_IDLE_MS);
    return rc == 1;
}

static int
s_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

//  Reads one whole request from `fd` into a new string. NULL on EOF,
//  timeout or a malformed request.
static char *
s_read_request(int fd)
{
    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_message_complete = s_on_complete;
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    s_read_t state = {.complete = false};
    parser.data = &state;

    char *text = NULL;
    size_t len = 0;
    while (!state.complete) {
        if (!s_wait_readable(fd))
            goto fail;
        char buf[65536];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || len + (size_t)n > S_REQUEST_MAX)
            goto fail;
        char *grown = realloc(text, len + (size_t)n + 1);
        if (!grown)
            goto fail;
        text = grown;
        memcpy(text + len, buf, (size_t)n);
        len += (size_t)n;
        text[len] = '\0';
        http_parser_execute(&parser, &settings, buf, (size_t)n);
        enum http_errno code = HTTP_PARSER_ERRNO(&parser);
        if (code != HPE_OK && code != HPE_PAUSED)
            goto fail;
    }
    return text;
fail:
    free(text);
    return NULL;
}

static void *
s_serve(void *arg)
{
    fn_stub_t *self = arg;
    int conn = -1;
    while (self->request_count < self->step_count) {
        if (conn < 0) {
            if (!s_wait_readable(self->listen_fd))
                break;
            conn = accept4(self->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (conn < 0)
                break;
            self->connections++;
        }
        char *request = s_read_request(conn);
        if (!request) {
            //  The client went away; it may come back on a new connection.
            close(conn);
            conn = -1;
            continue;
        }
        s_step_t *step = &self->steps[self->request_count];
        self->requests[self->request_count++] = request;
        if (s_write_all(conn, step->response, strlen(step->response)) != 0 ||
            step->close_after) {
            close(conn);
            conn = -1;
        }
    }
    if (conn >= 0)
        close(conn);
    return NULL;
}

fn_stub_t *
fn_stub_new(void)
{
    fn_stub_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (self->listen_fd < 0)
        goto fail;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(self->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        goto fail;
    if (listen(self->listen_fd, 16) != 0)
        goto fail;
    socklen_t addr_len = sizeof addr;
    if (getsockname(self->listen_fd, (struct sockaddr *)&addr, &addr_len) != 0)
        goto fail;
    self->port = ntohs(addr.sin_port);
    return self;
fail:
    if (self->listen_fd >= 0)
        close(self->listen_fd);
    free(self);
    return NULL;
}

void
fn_stub_destroy(fn_stub_t **self_p)
{
    assert(self_p);
    fn_stub_t *self = *self_p;
    if (!self)
        return;
    //  Closing the listener is not enough to stop a thread blocked in
    //  poll; the thread gives up by itself after its idle timeout.
    if (self->started)
        fn_stub_wait(self);
    close(self->listen_fd);
    for (size_t i = 0; i < self->step_count; i++)
        free(self->steps[i].response);
    for (size_t i = 0; i < self->request_count; i++)
        free(self->requests[i]);
    free(self);
    *self_p = NULL;
}

uint16_t
fn_stub_port(fn_stub_t *self)
{
    assert(self);
    return self->port;
}

int
fn_stub_add(fn_stub_t *self, const char *response, bool close_after)
{
    assert(self);
    assert(!self->started);
    if (self->step_count == S_STEPS_MAX)
        return -1;
    char *copy = strdup(response);
    if (!copy)
        return -1;
    self->steps[self->step_count].response = copy;
    self->steps[self->step_count].close_after = close_after;
    self->step_count++;
    return 0;
}

int
fn_stub_start(fn_stub_t *self)
{
    assert(self);
    assert(!self->started);
    if (pthread_create(&self->thread, NULL, s_serve, self) != 0)
        return -1;
    self->started = true;
    return 0;
}

size_t
fn_stub_wait(fn_stub_t *self)
{
    assert(self);
    if (self->started) {
        pthread_join(self->thread, NULL);
        self->started = false;
    }
    return self->request_count;
}

const char *
fn_stub_request(fn_stub_t *self, size_t index)
{
    assert(self);
    assert(!self->started);
    return index < self->request_count ? self->requests[index] : NULL;
}

unsigned
fn_stub_connections(fn_stub_t *self)
{
    assert(self);
    return self->connections;
}

//  A plain blocking client for the stub's own test.
static int
s_test_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_TRUE(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

static void
s_test_read_exact(int fd, const char *expected)
{
    size_t want = strlen(expected);
    char got[256] = "";
    size_t len = 0;
    while (len < want) {
        ssize_t n = recv(fd, got + len, want - len, 0);
        CHECK_TRUE(n > 0);
        len += (size_t)n;
    }
    got[len] = '\0';
    CHECK_STR(got, expected);
}

void
fn_stub_test(bool verbose)
{
    fn_stub_t *stub = fn_stub_new();
    CHECK_NOT_NULL(stub);
    CHECK_TRUE(fn_stub_port(stub) > 0);
    CHECK_INT(fn_stub_add(stub, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", false),
              0);
    CHECK_INT(fn_stub_add(stub, "HTTP/1.1 204 No Content\r\n\r\n", true), 0);
    CHECK_INT(fn_stub_start(stub), 0);

    int fd = s_test_connect(fn_stub_port(stub));
    const char *first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *second = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    CHECK_INT(s_write_all(fd, first, strlen(first)), 0);
    s_test_read_exact(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    CHECK_INT(s_write_all(fd, second, strlen(second)), 0);
    s_test_read_exact(fd, "HTTP/1.1 204 No Content\r\n\r\n");
    char byte;
    CHECK_INT(recv(fd, &byte, 1, 0), 0); //  closed after the last step
    close(fd);

    CHECK_INT(fn_stub_wait(stub), 2);
    CHECK_STR(fn_stub_request(stub, 0), first);
    CHECK_STR(fn_stub_request(stub, 1), second);
    CHECK_NULL(fn_stub_request(stub, 2));
    CHECK_INT(fn_stub_connections(stub), 1);
    fn_stub_destroy(&stub);
    CHECK_NULL(stub);
    fn_stub_destroy(&stub);

    //  The script is bounded.
    stub = fn_stub_new();
    CHECK_NOT_NULL(stub);
    for (int i = 0; i < S_STEPS_MAX; i++)
        CHECK_INT(fn_stub_add(stub, "", true), 0);
    CHECK_INT(fn_stub_add(stub, "", true), -1);
    fn_stub_destroy(&stub);
    (void)verbose;
}
