/*  emu_probe — one-shot HTTP client for selftests; see emu_probe.h. */
#define _GNU_SOURCE //  memmem, strcasestr
#include "emu_probe.h"
#include "sp_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_ANSWER_MAX (16 * 1024 * 1024)
#define S_WAIT_MS 30000

struct _emu_probe_t {
    char *answer; //  raw bytes read, NUL-terminated
    size_t len;
    int status;
    const char *body; //  into answer
};

emu_probe_t *
emu_probe_send(uint16_t port, const char *request, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return NULL;
    }
    emu_probe_t *self = calloc(1, sizeof *self);
    size_t cap = 65536;
    char *answer = malloc(cap);
    if (!self || !answer)
        goto fail;
    for (size_t sent = 0; sent < len;) {
        ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; //  the server may answer before taking everything
        sent += (size_t)n;
    }
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, S_WAIT_MS) != 1)
            break;
        if (self->len + 1 == cap) {
            if (cap >= S_ANSWER_MAX)
                break;
            char *grown = realloc(answer, cap * 2);
            if (!grown)
                break;
            answer = grown;
            cap *= 2;
        }
        ssize_t n = recv(fd, answer + self->len, cap - 1 - self->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        self->len += (size_t)n;
    }
    close(fd);
    answer[self->len] = '\0';
    self->answer = answer;
    int status = 0;
    if (sscanf(answer, "HTTP/1.%*d %3d", &status) == 1)
        self->status = status;
    char *end = strstr(answer, "\r\n\r\n");
    self->body = end ? end + 4 : answer + self->len;
    return self;
fail:
    close(fd);
    free(answer);
    free(self);
    return NULL;
}

emu_probe_t *
emu_probe_request(uint16_t port, const char *method, const char *target, const char *body)
{
    char *request = NULL;
    int len =
        body ? asprintf(&request,
                        "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                        "Content-Length: %zu\r\n\r\n%s",
                        method, target, strlen(body), body)
             : asprintf(&request,
                        "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                        method, target);
    if (len < 0)
        return NULL;
    emu_probe_t *probe = emu_probe_send(port, request, (size_t)len);
    free(request);
    return probe;
}

void
emu_probe_destroy(emu_probe_t **self_p)
{
    assert(self_p);
    emu_probe_t *self = *self_p;
    if (!self)
        return;
    free(self->answer);
    free(self);
    *self_p = NULL;
}

int
emu_probe_status(emu_probe_t *self)
{
    assert(self);
    return self->status;
}

const char *
emu_probe_header(emu_probe_t *self, const char *name, char *out, size_t size)
{
    assert(self && name && out && size > 0);
    size_t name_len = strlen(name);
    const char *line = strstr(self->answer, "\r\n");
    while (line && line + 2 < self->body) {
        line += 2;
        if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            const char *value = line + name_len + 1;
            value += strspn(value, " ");
            size_t value_len = strcspn(value, "\r\n");
            snprintf(out, size, "%.*s", (int)value_len, value);
            return out;
        }
        line = strstr(line, "\r\n");
    }
    return NULL;
}

const char *
emu_probe_body(emu_probe_t *self)
{
    assert(self);
    return self->body;
}

//  A canned one-answer server for the probe's own test.
typedef struct {
    int listen_fd;
    char request[512];
} s_server_t;

static void *
s_serve(void *arg)
{
    s_server_t *server = arg;
    int fd = accept(server->listen_fd, NULL, NULL);
    CHECK_TRUE(fd >= 0);
    size_t len = 0;
    while (!strstr(server->request, "\r\n\r\nbody")) {
        ssize_t n = recv(fd, server->request + len, sizeof server->request - 1 - len, 0);
        CHECK_TRUE(n > 0);
        len += (size_t)n;
        server->request[len] = '\0';
    }
    const char *answer =
        "HTTP/1.1 429 Too Many Requests\r\nX-Amzn-ErrorType: Throttled\r\n"
        "Content-Length: 4\r\n\r\nslow";
    CHECK_INT(send(fd, answer, strlen(answer), 0), strlen(answer));
    close(fd);
    return NULL;
}

void
emu_probe_test(bool verbose)
{
    s_server_t server = {.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(bind(server.listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    CHECK_INT(listen(server.listen_fd, 4), 0);
    socklen_t addr_len = sizeof addr;
    CHECK_INT(getsockname(server.listen_fd, (struct sockaddr *)&addr, &addr_len), 0);
    uint16_t port = ntohs(addr.sin_port);
    pthread_t thread;
    CHECK_INT(pthread_create(&thread, NULL, s_serve, &server), 0);
    emu_probe_t *probe = emu_probe_request(port, "POST", "/url/x?a=1", "body");
    pthread_join(thread, NULL);
    CHECK_NOT_NULL(probe);
    CHECK_STR(server.request,
              "POST /url/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
              "Content-Length: 4\r\n\r\nbody");
    CHECK_INT(emu_probe_status(probe), 429);
    char value[64];
    CHECK_STR(emu_probe_header(probe, "x-amzn-errortype", value, sizeof value),
              "Throttled");
    CHECK_STR(emu_probe_header(probe, "Content-Length", value, sizeof value), "4");
    CHECK_NULL(emu_probe_header(probe, "Missing", value, sizeof value));
    CHECK_STR(emu_probe_body(probe), "slow");
    emu_probe_destroy(&probe);
    CHECK_NULL(probe);
    emu_probe_destroy(&probe);
    close(server.listen_fd);
    //  Nobody listening: no probe.
    CHECK_NULL(emu_probe_request(port, "GET", "/", NULL));
    (void)verbose;
}
