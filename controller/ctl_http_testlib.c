/*  ctl_http_testlib — the HTTP API selftests' helpers; see
    ctl_http_testlib.h.
*/
#include "ctl_http_testlib.h"
#include "ctl_http.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

//  A stand-in for the controller core's command socket. ROUTER speaks to
//  REQ like REP does, but may leave a request unanswered, which is how the
//  test makes the HTTP thread time out. Pipe command "LAST" returns the
//  last command received.
void
ctl_http_tl_fake_controller(zsock_t *pipe, void *args)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    CHECK_NOT_NULL(router);
    int rc = zsock_bind(router, "%s", (const char *)args);
    CHECK_TRUE(rc == 0);
    zpoller_t *poller = zpoller_new(pipe, router, NULL);
    char *last = strdup("");
    zsock_signal(pipe, 0);
    while (true) {
        void *which = zpoller_wait(poller, -1);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool term = !command || strcmp(command, "$TERM") == 0;
            if (!term)
                zstr_send(pipe, last);
            free(command);
            if (term)
                break;
            continue;
        }
        if (which != router)
            break;
        zmsg_t *msg = zmsg_recv(router);
        zframe_t *identity = zmsg_pop(msg);
        zframe_t *empty = zmsg_pop(msg);
        char *text = zmsg_popstr(msg);
        json_t *command = text ? json_loads(text, 0, NULL) : NULL;
        const char *action = json_string_value(json_object_get(command, "action"));
        const char *url = json_string_value(json_object_get(command, "url"));
        const char *reply = NULL;
        if (action && strcmp(action, "status") == 0)
            reply = "{\"agents\":[{\"id\":\"agent-1\",\"host\":\"h1\",\"capacity\":4,"
                    "\"clock_offset_ns\":-12,\"rtt_ns\":3400}],\"active_run\":null,"
                    "\"default_url\":\"http://127.0.0.1:9/url/demo/\"}";
        else if (url && strstr(url, "busy"))
            reply = "{\"error\":\"a run is already in progress\",\"status\":409}";
        else if (url && strstr(url, "noagents"))
            reply = "{\"error\":\"no agents connected\",\"status\":503}";
        else if (url && strstr(url, "garbage"))
            reply = "this is not json";
        else if (url && strstr(url, "nostatus"))
            reply = "{\"error\":\"broken\"}";
        else if (url && strstr(url, "slow"))
            reply = NULL; //  never answered
        else
            reply = "{\"run_id\":7}";
        if (text) {
            free(last);
            last = text;
            text = NULL;
        }
        if (reply) {
            zmsg_t *out = zmsg_new();
            zmsg_append(out, &identity);
            zmsg_append(out, &empty);
            zmsg_addstr(out, reply);
            zmsg_send(&out, router);
        }
        json_decref(command);
        free(text);
        zframe_destroy(&identity);
        zframe_destroy(&empty);
        zmsg_destroy(&msg);
    }
    free(last);
    zpoller_destroy(&poller);
    zsock_destroy(&router);
}

//  Sends raw bytes to 127.0.0.1:port and reads the whole response (the
//  server closes an HTTP/1.0 connection). Returns 0 or -1.
int
ctl_http_tl_raw(int port, const char *request, size_t size, ctl_http_tl_response_t *out)
{
    memset(out, 0, sizeof *out);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_TRUE(fd >= 0);
    struct timeval timeout = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int result = -1;
    char *data = NULL;
    size_t have = 0, cap = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        goto out;
    //  The server may answer and close before it has read everything (an
    //  early 4xx): stop writing then, and read the answer.
    for (size_t sent = 0; sent < size;) {
        ssize_t n = send(fd, request + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    for (;;) {
        if (have + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            CHECK_TRUE(cap <= 64 * 1024 * 1024);
            data = realloc(data, cap);
            CHECK_NOT_NULL(data);
        }
        ssize_t n = recv(fd, data + have, cap - have - 1, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    if (!data)
        goto out;
    data[have] = '\0';
    char *end = strstr(data, "\r\n\r\n");
    if (!end || sscanf(data, "HTTP/1.%*c %d", &out->status) != 1)
        goto out;
    size_t head = (size_t)(end - data);
    if (head >= sizeof out->head)
        goto out;
    memcpy(out->head, data, head + 2);
    out->head[head + 2] = '\0';
    out->body_size = have - head - 4;
    out->body = malloc(out->body_size + 1);
    CHECK_NOT_NULL(out->body);
    memcpy(out->body, end + 4, out->body_size);
    out->body[out->body_size] = '\0';
    result = 0;
out:
    free(data);
    close(fd);
    return result;
}

//  GET path; token may be NULL.
void
ctl_http_tl_get(int port, const char *path, const char *token,
                ctl_http_tl_response_t *out)
{
    char request[16384];
    char auth[256] = "";
    if (token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n%s\r\n", path, port, auth);
    CHECK_TRUE(n > 0 && (size_t)n < sizeof request);
    CHECK_INT(ctl_http_tl_raw(port, request, (size_t)n, out), 0);
}

//  POST body to path with content_type (NULL: no header); token may be NULL.
void
ctl_http_tl_post(int port, const char *path, const char *content_type, const char *body,
                 const char *token, ctl_http_tl_response_t *out)
{
    size_t body_size = strlen(body);
    size_t cap = body_size + 1024;
    char *request = malloc(cap);
    CHECK_NOT_NULL(request);
    char type[128] = "", auth[256] = "";
    if (content_type)
        snprintf(type, sizeof type, "Content-Type: %s\r\n", content_type);
    if (token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    int n = snprintf(request, cap,
                     "POST %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n%s%sContent-Length: "
                     "%zu\r\n\r\n",
                     path, port, type, auth, body_size);
    CHECK_TRUE(n > 0 && (size_t)n + body_size < cap);
    memcpy(request + n, body, body_size);
    CHECK_INT(ctl_http_tl_raw(port, request, (size_t)n + body_size, out), 0);
    free(request);
}

//  The value of header name in response (case-insensitive name), or "".
const char *
ctl_http_tl_header(ctl_http_tl_response_t *response, const char *name, char *value,
                   size_t value_size)
{
    value[0] = '\0';
    size_t len = strlen(name);
    for (const char *line = strstr(response->head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, len) == 0 && start[len] == ':') {
            const char *v = start + len + 1;
            while (*v == ' ')
                v++;
            const char *stop = strstr(v, "\r\n");
            size_t n = stop ? (size_t)(stop - v) : strlen(v);
            if (n >= value_size)
                n = value_size - 1;
            memcpy(value, v, n);
            value[n] = '\0';
            break;
        }
    }
    return value;
}

void
ctl_http_tl_check(ctl_http_tl_response_t *response, int status, const char *body)
{
    if (response->status != status || (body && strcmp(response->body, body) != 0))
        fprintf(stderr, "\nunexpected response:\n%s\n%s\n", response->head,
                response->body ? response->body : "");
    CHECK_INT(response->status, status);
    if (body)
        CHECK_STR(response->body, body);
    char value[512];
    if (response->body_size > 0 && status != 200)
        CHECK_STR(ctl_http_tl_header(response, "Content-Type", value, sizeof value),
                  CTL_HTTP_JSON_TYPE);
    CHECK_STR(ctl_http_tl_header(response, "X-Content-Type-Options", value, sizeof value),
              "nosniff");
    CHECK_STR(ctl_http_tl_header(response, "Cache-Control", value, sizeof value),
              "no-store");
    free(response->body);
    response->body = NULL;
}

//  GET path (token may be NULL) answers status and, when body is not NULL,
//  exactly body.
void
ctl_http_tl_expect_get(int port, const char *path, const char *token, int status,
                       const char *body)
{
    ctl_http_tl_response_t r;
    ctl_http_tl_get(port, path, token, &r);
    ctl_http_tl_check(&r, status, body);
}

//  A run of `requested` requests, the first `ok` of them ok and the rest
//  throttled, from one agent. Returns its id.
int64_t
ctl_http_tl_add_run(store_t *store, int64_t created_ns, uint32_t requested, uint32_t ok)
{
    store_run_t run = {.url = "http://127.0.0.1:9/url/demo/",
                       .method = "GET",
                       .requested = requested,
                       .agents = 1,
                       .created_ns = created_ns};
    int64_t id = store_run_create(store, &run);
    CHECK_TRUE(id >= 1);
    store_result_t *rows = calloc(requested, sizeof *rows);
    CHECK_NOT_NULL(rows);
    char(*envs)[16] = calloc(requested, sizeof *envs);
    CHECK_NOT_NULL(envs);
    for (uint32_t i = 0; i < requested; i++) {
        bool success = i < ok;
        snprintf(envs[i], sizeof envs[i], "env-%u", i);
        rows[i] = (store_result_t){.index = i,
                                   .outcome = success ? "ok" : "throttled",
                                   .http_status = success ? 200 : 429,
                                   .scheduled_ns = created_ns,
                                   .sent_ns = created_ns + 1000,
                                   .first_byte_ns = created_ns + 2000000,
                                   .done_ns = created_ns + 2000000 + i * 1000,
                                   .bytes = 100,
                                   .environment_id = success ? envs[i] : NULL,
                                   .cold_start = success ? 1 : -1,
                                   .invocation_count = -1};
    }
    CHECK_INT(store_results_insert(store, id, "agent-1", rows, requested), 0);
    CHECK_INT(store_run_set_status(store, id, "completed", created_ns,
                                   created_ns + SP_NS_PER_S, NULL),
              0);
    free(envs);
    free(rows);
    return id;
}

char *
ctl_http_tl_fake_last(zactor_t *fake)
{
    zstr_send(fake, "LAST");
    return zstr_recv(fake);
}

//  A request with the given head lines (each ending "\r\n", Host
//  included or not) and body.
void
ctl_http_tl_request(int port, const char *method, const char *path, const char *head,
                    const char *body, ctl_http_tl_response_t *out)
{
    size_t body_size = body ? strlen(body) : 0;
    size_t cap = body_size + 2048;
    char *request = malloc(cap);
    CHECK_NOT_NULL(request);
    int n = snprintf(request, cap, "%s %s HTTP/1.0\r\n%sContent-Length: %zu\r\n\r\n",
                     method, path, head, body_size);
    CHECK_TRUE(n > 0 && (size_t)n + body_size < cap);
    if (body_size)
        memcpy(request + n, body, body_size);
    CHECK_INT(ctl_http_tl_raw(port, request, (size_t)n + body_size, out), 0);
    free(request);
}

//  Reads from fd until text appears in what arrived (kept in buf), or
//  timeout_ms passes. Returns true when it appeared.
bool
ctl_http_tl_read_until(int fd, char *buf, size_t size, size_t *have, const char *text,
                       int timeout_ms)
{
    int64_t deadline = sp_clock_mono_ns() + (int64_t)timeout_ms * SP_NS_PER_MS;
    while (!strstr(buf, text) && sp_clock_mono_ns() < deadline && *have + 1 < size) {
        struct timeval tv = {.tv_usec = 100000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = recv(fd, buf + *have, size - *have - 1, 0);
        if (n == 0)
            break;
        if (n > 0) {
            *have += (size_t)n;
            buf[*have] = '\0';
        }
    }
    return strstr(buf, text) != NULL;
}

void
ctl_http_tl_post_chunked(int port, size_t chunks, ctl_http_tl_response_t *out)
{
    size_t cap = chunks * (0x4000 + 16) + 1024;
    char *chunked = malloc(cap);
    CHECK_NOT_NULL(chunked);
    int n =
        snprintf(chunked, cap,
                 "POST /api/test HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                 port);
    for (size_t i = 0; i < chunks; i++) {
        n += snprintf(chunked + n, cap - (size_t)n, "4000\r\n");
        memset(chunked + n, ' ', 0x4000);
        n += 0x4000;
        n += snprintf(chunked + n, cap - (size_t)n, "\r\n");
    }
    n += snprintf(chunked + n, cap - (size_t)n, "0\r\n\r\n");
    CHECK_INT(ctl_http_tl_raw(port, chunked, (size_t)n, out), 0);
    free(chunked);
}

void
ctl_http_tl_fixture_start(ctl_http_tl_fixture_t *self, const char *name)
{
    snprintf(self->dir, sizeof self->dir, "/tmp/ctl_http_%s.XXXXXX", name);
    CHECK_NOT_NULL(mkdtemp(self->dir));
    snprintf(self->db_path, sizeof self->db_path, "%s/s.db", self->dir);
    snprintf(self->endpoint, sizeof self->endpoint, "inproc://ctl-http-%s-%d", name,
             (int)getpid());
    self->fake = zactor_new(ctl_http_tl_fake_controller, self->endpoint);
    CHECK_NOT_NULL(self->fake);
}

void
ctl_http_tl_fixture_stop(ctl_http_tl_fixture_t *self)
{
    zactor_destroy(&self->fake);
    char path[256];
    const char *suffixes[] = {"", "-wal", "-shm", ".lock"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", self->db_path, suffixes[i]);
        unlink(path);
    }
    rmdir(self->dir);
}
