/*  agent_testserver — canned HTTP answers for selftests; see the header.

    The actor polls its pipe and every socket with zmq_poll (which takes
    plain file descriptors next to ZeroMQ sockets). A connection reads until
    the request is complete, is answered by s_route, writes its answer and
    is closed.
*/
#include "agent_testserver.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_MAX_CONNS 1024
#define S_MAX_REQUEST (64 * 1024)

typedef struct {
    int fd;              //  -1 when the slot is free
    char *in;            //  request bytes, NUL-terminated
    size_t in_len;       //  bytes in `in`
    int64_t first_ns;    //  wall clock when its first byte was read
    int64_t received_ns; //  wall clock when the request was complete
    char *out;           //  answer to write, NULL while there is none
    size_t out_len;      //  its length
    size_t out_off;      //  bytes written
    bool complete;       //  request fully read
    unsigned gather;     //  N of /gather/N, 0 otherwise
} s_conn_t;

typedef struct {
    zsock_t *pipe;               //  actor pipe
    int listen_fd;               //  owned
    s_conn_t conns[S_MAX_CONNS]; //  open connections
    uint32_t requests;           //  complete requests received
    bool terminated;             //  $TERM seen
} s_server_t;

struct _agent_testserver_t {
    zactor_t *actor; //  the server thread
    int port;        //  its port
};

static void
s_conn_close(s_conn_t *conn)
{
    if (conn->fd >= 0)
        close(conn->fd);
    free(conn->in);
    free(conn->out);
    memset(conn, 0, sizeof *conn);
    conn->fd = -1;
}

//  Queues an answer with the standard headers plus `extra` ("" or lines
//  ending in \r\n).
static void
s_answer(s_conn_t *conn, int status, const char *reason, const char *extra,
         const char *body, size_t body_len)
{
    char head[1024];
    int head_len =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\nX-Stampede-Received-Ns: %" PRId64 "\r\n%s\r\n",
                 status, reason, body_len, conn->received_ns, extra);
    assert(head_len > 0 && (size_t)head_len < sizeof head);
    conn->out = malloc((size_t)head_len + body_len);
    assert(conn->out);
    memcpy(conn->out, head, (size_t)head_len);
    if (body_len)
        memcpy(conn->out + head_len, body, body_len);
    conn->out_len = (size_t)head_len + body_len;
    conn->out_off = 0;
}

static void
s_answer_text(s_conn_t *conn, int status, const char *reason, const char *extra,
              const char *body)
{
    s_answer(conn, status, reason, extra, body, strlen(body));
}

//  Value of header `name` in the request head, copied into value ("" when
//  absent).
static void
s_header(const char *head, const char *name, char *value, size_t value_size)
{
    value[0] = '\0';
    size_t name_len = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, name_len) == 0 && start[name_len] == ':') {
            const char *v = start + name_len + 1;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t len = end ? (size_t)(end - v) : strlen(v);
            if (len >= value_size)
                len = value_size - 1;
            memcpy(value, v, len);
            value[len] = '\0';
            return;
        }
    }
}

//  Writes text[0..len) into out as the inside of a JSON string; stops
//  (truncating) when out is full.
static void
s_json_escape(char *out, size_t out_size, const char *text, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 7 < out_size; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20)
            o += (size_t)snprintf(out + o, out_size - o, "\\u%04x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

//  Answers every /gather connection once N of them are waiting.
static void
s_gather_release(s_server_t *server, unsigned n)
{
    unsigned waiting = 0;
    for (int i = 0; i < S_MAX_CONNS; i++)
        waiting += server->conns[i].fd >= 0 && server->conns[i].gather == n &&
                   !server->conns[i].out;
    if (waiting < n)
        return;
    char body[64];
    snprintf(body, sizeof body, "{\"invocation_count\":%u}", n);
    for (int i = 0; i < S_MAX_CONNS; i++) {
        s_conn_t *conn = &server->conns[i];
        if (conn->fd >= 0 && conn->gather == n && !conn->out)
            s_answer_text(conn, 200, "OK", "Content-Type: application/json\r\n", body);
    }
}

static void
s_route(s_server_t *server, s_conn_t *conn, const char *method, const char *path,
        const char *body, size_t body_len)
{
    if (strcmp(path, "/ok") == 0) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"request_id\":\"%s\",\"environment_id\":\"%s\","
                 "\"cold_start\":true,\"cold_start_time\":0.125,"
                 "\"initialization_type\":\"on-demand\",\"invocation_count\":3,"
                 "\"started_at_ns\":%" PRId64 ",\"finished_at_ns\":%" PRId64 "}",
                 AGENT_TESTSERVER_REQUEST_ID, AGENT_TESTSERVER_ENVIRONMENT_ID,
                 AGENT_TESTSERVER_STARTED_NS, AGENT_TESTSERVER_FINISHED_NS);
        s_answer_text(conn, 200, "OK", "Content-Type: application/json\r\n", json);
    } else if (strcmp(path, "/throttle") == 0)
        s_answer_text(conn, 429, "Too Many Requests",
                      "x-amzn-ErrorType: TooManyRequestsException\r\n",
                      "{\"Reason\":\"ReservedFunctionConcurrentInvocationLimitExceeded\","
                      "\"Type\":\"User\",\"message\":\"Rate Exceeded.\"}");
    else if (strcmp(path, "/error") == 0)
        s_answer_text(conn, 500, "Internal Server Error", "",
                      "{\"message\":\"Internal server error\"}");
    else if (strcmp(path, "/function-error") == 0)
        s_answer_text(conn, 200, "OK", "X-Amz-Function-Error: Unhandled\r\n",
                      "{\"errorMessage\":\"boom\",\"errorType\":\"Error\"}");
    else if (strcmp(path, "/redirect") == 0)
        s_answer_text(conn, 302, "Found", "Location: /ok\r\n", "");
    else if (strcmp(path, "/big") == 0) {
        char *big = malloc(AGENT_TESTSERVER_BIG_SIZE);
        assert(big);
        memset(big, 'x', AGENT_TESTSERVER_BIG_SIZE);
        s_answer(conn, 200, "OK", "", big, AGENT_TESTSERVER_BIG_SIZE);
        free(big);
    } else if (strcmp(path, "/echo") == 0) {
        char test_header[65];
        s_header(conn->in, "X-Test", test_header, sizeof test_header);
        //  Up to 64 bytes of body verbatim, else its first and last 32.
        char sample[64];
        if (body_len <= 64)
            memcpy(sample, body, body_len);
        else {
            memcpy(sample, body, 32);
            memcpy(sample + 32, body + body_len - 32, 32);
        }
        char escaped[64 * 6 + 1];
        s_json_escape(escaped, sizeof escaped, sample, body_len <= 64 ? body_len : 64);
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"request_id\":\"%s\",\"environment_id\":\"%s\","
                 "\"initialization_type\":\"%s\",\"invocation_count\":%zu,"
                 "\"started_at_ns\":%" PRId64 ",\"finished_at_ns\":%" PRId64 "}",
                 method, test_header, escaped, body_len, conn->first_ns,
                 conn->received_ns);
        s_answer_text(conn, 200, "OK", "", json);
    } else if (strncmp(path, "/gather/", 8) == 0) {
        char *end = NULL;
        long n = strtol(path + 8, &end, 10);
        if (n < 1 || n > S_MAX_CONNS || !end || *end) {
            s_answer_text(conn, 400, "Bad Request", "", "bad gather count");
            return;
        }
        conn->gather = (unsigned)n;
        s_gather_release(server, (unsigned)n);
    } else if (strcmp(path, "/hang") == 0) {
        //  never answered
    } else
        s_answer_text(conn, 404, "Not Found", "", "not found");
}

//  Called when bytes arrived: answers once the request is complete.
static void
s_request_check(s_server_t *server, s_conn_t *conn)
{
    char *head_end = strstr(conn->in, "\r\n\r\n");
    if (!head_end)
        return;
    size_t head_len = (size_t)(head_end - conn->in) + 4;
    char length[32];
    s_header(conn->in, "Content-Length", length, sizeof length);
    char *end = NULL;
    long body_len = length[0] ? strtol(length, &end, 10) : 0;
    if (body_len < 0 || body_len > S_MAX_REQUEST || (end && *end)) {
        conn->complete = true;
        s_answer_text(conn, 400, "Bad Request", "", "bad content-length");
        return;
    }
    if (conn->in_len < head_len + (size_t)body_len)
        return;
    conn->complete = true;
    conn->received_ns = sp_clock_wall_ns();
    server->requests++;
    char method[17] = "", path[256] = "";
    const char *space = strchr(conn->in, ' ');
    const char *space2 = space ? strchr(space + 1, ' ') : NULL;
    if (!space || !space2 || (size_t)(space - conn->in) >= sizeof method ||
        (size_t)(space2 - space - 1) >= sizeof path) {
        s_answer_text(conn, 400, "Bad Request", "", "bad request line");
        return;
    }
    memcpy(method, conn->in, (size_t)(space - conn->in));
    memcpy(path, space + 1, (size_t)(space2 - space - 1));
    s_route(server, conn, method, path, conn->in + head_len, (size_t)body_len);
}

static void
s_on_readable(s_server_t *server, s_conn_t *conn)
{
    char buf[16384];
    ssize_t got = read(conn->fd, buf, sizeof buf);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        s_conn_close(conn); //  the client went away (e.g. /hang timed out)
        return;
    }
    if (conn->complete)
        return; //  bytes after the request: ignored
    if (conn->in_len == 0)
        conn->first_ns = sp_clock_wall_ns();
    if (conn->in_len + (size_t)got > S_MAX_REQUEST) {
        s_answer_text(conn, 400, "Bad Request", "", "request too large");
        conn->complete = true;
        return;
    }
    char *grown = realloc(conn->in, conn->in_len + (size_t)got + 1);
    assert(grown);
    conn->in = grown;
    memcpy(conn->in + conn->in_len, buf, (size_t)got);
    conn->in_len += (size_t)got;
    conn->in[conn->in_len] = '\0';
    s_request_check(server, conn);
}

static void
s_on_writable(s_conn_t *conn)
{
    ssize_t put =
        write(conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off);
    if (put < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (put < 0) {
        s_conn_close(conn);
        return;
    }
    conn->out_off += (size_t)put;
    if (conn->out_off == conn->out_len)
        s_conn_close(conn);
}

static void
s_on_accept(s_server_t *server)
{
    for (;;) {
        int fd = accept(server->listen_fd, NULL, NULL);
        if (fd < 0)
            return;
        int slot = -1;
        for (int i = 0; i < S_MAX_CONNS && slot < 0; i++)
            if (server->conns[i].fd < 0)
                slot = i;
        if (slot < 0) {
            close(fd); //  over the cap
            continue;
        }
        int flags = fcntl(fd, F_GETFL, 0);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        server->conns[slot].fd = fd;
    }
}

static void
s_on_pipe(s_server_t *server)
{
    char *command = zstr_recv(server->pipe);
    if (!command || streq(command, "$TERM"))
        server->terminated = true;
    else if (streq(command, "REQUESTS"))
        zsock_send(server->pipe, "4", server->requests);
    zstr_free(&command);
}

static void
s_server_actor(zsock_t *pipe, void *args)
{
    s_server_t *server = calloc(1, sizeof *server);
    assert(server);
    server->pipe = pipe;
    server->listen_fd = *(int *)args;
    for (int i = 0; i < S_MAX_CONNS; i++)
        server->conns[i].fd = -1;
    zmq_pollitem_t *items = calloc(S_MAX_CONNS + 2, sizeof *items);
    int *index = calloc(S_MAX_CONNS + 2, sizeof *index);
    assert(items && index);
    zsock_signal(pipe, 0);

    while (!server->terminated) {
        int n = 0;
        items[n++] = (zmq_pollitem_t){zsock_resolve(pipe), 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){NULL, server->listen_fd, ZMQ_POLLIN, 0};
        for (int i = 0; i < S_MAX_CONNS; i++) {
            s_conn_t *conn = &server->conns[i];
            if (conn->fd < 0)
                continue;
            index[n] = i;
            items[n++] = (zmq_pollitem_t){
                NULL, conn->fd, (short)(conn->out ? ZMQ_POLLOUT : ZMQ_POLLIN), 0};
        }
        if (zmq_poll(items, n, 500) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_on_pipe(server);
        if (items[1].revents & ZMQ_POLLIN)
            s_on_accept(server);
        for (int k = 2; k < n; k++) {
            s_conn_t *conn = &server->conns[index[k]];
            if (conn->fd != items[k].fd)
                continue; //  closed meanwhile
            if (items[k].revents & ZMQ_POLLOUT)
                s_on_writable(conn);
            else if (items[k].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
                s_on_readable(server, conn);
        }
    }
    for (int i = 0; i < S_MAX_CONNS; i++)
        if (server->conns[i].fd >= 0)
            s_conn_close(&server->conns[i]);
    close(server->listen_fd);
    free(items);
    free(index);
    free(server);
}

agent_testserver_t *
agent_testserver_new(void)
{
    agent_testserver_t *self = calloc(1, sizeof *self);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (!self || fd < 0)
        goto fail;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(fd, S_MAX_CONNS) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        goto fail;
    self->port = ntohs(addr.sin_port);
    //  The actor reads the fd before it signals, so a stack copy is enough.
    self->actor = zactor_new(s_server_actor, &fd);
    if (!self->actor)
        goto fail;
    return self;
fail:
    if (fd >= 0)
        close(fd);
    free(self);
    return NULL;
}

void
agent_testserver_destroy(agent_testserver_t **self_p)
{
    assert(self_p);
    agent_testserver_t *self = *self_p;
    if (self) {
        zactor_destroy(&self->actor);
        free(self);
        *self_p = NULL;
    }
}

int
agent_testserver_port(agent_testserver_t *self)
{
    assert(self);
    return self->port;
}

void
agent_testserver_url(agent_testserver_t *self, const char *path, char *url,
                     size_t url_size)
{
    assert(self);
    snprintf(url, url_size, "http://127.0.0.1:%d%s", self->port, path);
}

uint32_t
agent_testserver_requests(agent_testserver_t *self)
{
    assert(self);
    uint32_t requests = 0;
    if (zstr_send(self->actor, "REQUESTS") == 0)
        zsock_recv(self->actor, "4", &requests);
    return requests;
}

//  --------------------------------------------------------------------------
//  Selftest

static size_t
s_collect(char *data, size_t size, size_t count, void *user)
{
    zchunk_t *chunk = user;
    zchunk_extend(chunk, data, size * count);
    return size * count;
}

//  One blocking GET; returns the status, the body into chunk.
static long
s_get(agent_testserver_t *server, const char *path, zchunk_t *chunk)
{
    char url[128];
    agent_testserver_url(server, path, url, sizeof url);
    CURL *easy = curl_easy_init();
    assert(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, chunk);
    long status = 0;
    CHECK_INT(curl_easy_perform(easy), CURLE_OK);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    return status;
}

void
agent_testserver_test(bool verbose)
{
    CHECK_INT(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    agent_testserver_t *server = agent_testserver_new();
    CHECK_NOT_NULL(server);
    CHECK_TRUE(agent_testserver_port(server) > 0);
    char url[128];
    agent_testserver_url(server, "/ok", url, sizeof url);
    char want[128];
    snprintf(want, sizeof want, "http://127.0.0.1:%d/ok", agent_testserver_port(server));
    CHECK_STR(url, want);

    zchunk_t *chunk = zchunk_new(NULL, 0);
    CHECK_INT(s_get(server, "/ok", chunk), 200);
    CHECK_TRUE(zchunk_size(chunk) > 0);
    zchunk_extend(chunk, "", 1);
    CHECK_TRUE(strstr((char *)zchunk_data(chunk), "\"request_id\":\"req-ok\"") != NULL);
    zchunk_destroy(&chunk);
    chunk = zchunk_new(NULL, 0);
    CHECK_INT(s_get(server, "/throttle", chunk), 429);
    CHECK_INT(s_get(server, "/nope", chunk), 404);
    CHECK_INT(s_get(server, "/gather/1", chunk), 200);
    zchunk_destroy(&chunk);
    CHECK_INT(agent_testserver_requests(server), 4);

    agent_testserver_destroy(&server);
    agent_testserver_destroy(&server);
    CHECK_NULL(server);
    curl_global_cleanup();
    if (verbose)
        printf("(test server checks done) ");
}
