/*  ctl_http_test — the selftest of ctl_http: every endpoint and every
    error against a real daemon on an ephemeral port, a temp database and a
    stand-in for the controller core's command socket. Its own file because
    it is as long as the daemon it tests; the pure request checks are
    tested in ctl_http_request.
*/
#include "ctl_http.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "store_api.h"

#include <arpa/inet.h>
#include <czmq.h>
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
static void
s_fake_controller(zsock_t *pipe, void *args)
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

typedef struct {
    int status;
    char head[8192]; //  status line and headers
    char *body;      //  NUL-terminated; caller frees
    size_t body_size;
} s_response_t;

//  Sends raw bytes to 127.0.0.1:port and reads the whole response (the
//  server closes an HTTP/1.0 connection). Returns 0 or -1.
static int
s_http_raw(int port, const char *request, size_t size, s_response_t *out)
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
static void
s_get(int port, const char *path, const char *token, s_response_t *out)
{
    char request[16384];
    char auth[256] = "";
    if (token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\n%s\r\n", path, auth);
    CHECK_TRUE(n > 0 && (size_t)n < sizeof request);
    CHECK_INT(s_http_raw(port, request, (size_t)n, out), 0);
}

//  POST body to path with content_type (NULL: no header); token may be NULL.
static void
s_post(int port, const char *path, const char *content_type, const char *body,
       const char *token, s_response_t *out)
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
    int n = snprintf(request, cap, "POST %s HTTP/1.0\r\n%s%sContent-Length: %zu\r\n\r\n",
                     path, type, auth, body_size);
    CHECK_TRUE(n > 0 && (size_t)n + body_size < cap);
    memcpy(request + n, body, body_size);
    CHECK_INT(s_http_raw(port, request, (size_t)n + body_size, out), 0);
    free(request);
}

//  The value of header name in response (case-insensitive name), or "".
static const char *
s_header(s_response_t *response, const char *name, char *value, size_t value_size)
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

static void
s_check_response(s_response_t *response, int status, const char *body)
{
    if (response->status != status || (body && strcmp(response->body, body) != 0))
        fprintf(stderr, "\nunexpected response:\n%s\n%s\n", response->head,
                response->body ? response->body : "");
    CHECK_INT(response->status, status);
    if (body)
        CHECK_STR(response->body, body);
    char value[512];
    if (response->body_size > 0 && status != 200)
        CHECK_STR(s_header(response, "Content-Type", value, sizeof value),
                  CTL_HTTP_JSON_TYPE);
    CHECK_STR(s_header(response, "X-Content-Type-Options", value, sizeof value),
              "nosniff");
    CHECK_STR(s_header(response, "Cache-Control", value, sizeof value), "no-store");
    free(response->body);
    response->body = NULL;
}

//  GET path (token may be NULL) answers status and, when body is not NULL,
//  exactly body.
static void
s_expect_get(int port, const char *path, const char *token, int status, const char *body)
{
    s_response_t r;
    s_get(port, path, token, &r);
    s_check_response(&r, status, body);
}

//  A run of `requested` requests, the first `ok` of them ok and the rest
//  throttled, from one agent. Returns its id.
static int64_t
s_add_run(store_t *store, int64_t created_ns, uint32_t requested, uint32_t ok)
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

//  The body GET should return for a run: the store's own JSON.
static char *
s_run_text(store_t *store, int64_t run_id, bool with_requests)
{
    json_t *run = store_run_json(store, run_id, with_requests);
    CHECK_NOT_NULL(run);
    char *text = json_dumps(run, CTL_HTTP_JSON_FLAGS);
    json_decref(run);
    return text;
}

static char *
s_fake_last(zactor_t *fake)
{
    zstr_send(fake, "LAST");
    return zstr_recv(fake);
}

//  Every endpoint and every error, against a real daemon on an ephemeral
//  port, a temp database and the fake controller.
static void
s_test_daemon(bool verbose)
{
    char dir[] = "/tmp/ctl_http_test.XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char db_path[128];
    snprintf(db_path, sizeof db_path, "%s/s.db", dir);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://ctl-http-test-%d", (int)getpid());
    zactor_t *fake = zactor_new(s_fake_controller, endpoint);
    CHECK_NOT_NULL(fake);

    char err[256] = "";
    ctl_http_config_t config = {.listen = "127.0.0.1:0",
                                .db_path = db_path,
                                .token = NULL,
                                .command_endpoint = endpoint};
    ctl_http_t *http = ctl_http_new(&config, err, sizeof err);
    if (!http)
        fprintf(stderr, "ctl_http_new: %s\n", err);
    CHECK_NOT_NULL(http);
    int port = ctl_http_port(http);
    CHECK_TRUE(port > 0 && port <= 65535);
    s_response_t r;
    char value[512];

    //  An empty database.
    s_expect_get(port, "/api/results", NULL, 404, "{\"error\":\"no runs yet\"}");
    s_expect_get(port, "/api/runs", NULL, 200, "[]");
    s_expect_get(port, "/api/results/files", NULL, 200, "{\"files\":[]}");
    s_expect_get(port, "/api/runs/1", NULL, 404, "{\"error\":\"no run 1\"}");

    //  Two runs written by another connection, as the controller does.
    store_t *store = store_open(db_path, err, sizeof err);
    CHECK_NOT_NULL(store);
    int64_t first = s_add_run(store, INT64_C(1700000000000000000), 3, 1);
    int64_t second = s_add_run(store, INT64_C(1700000001000000000), 100, 5);
    CHECK_INT(first, 1);
    CHECK_INT(second, 2);

    //  The page and its files, with the security headers.
    const char *pages[][2] = {{"/", "/index.html"},
                              {"/index.html", "/index.html"},
                              {"/app.js", "/app.js"},
                              {"/style.css", "/style.css"}};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        const web_asset_t *asset = web_asset_find(pages[i][1]);
        s_get(port, pages[i][0], NULL, &r);
        CHECK_INT(r.status, 200);
        CHECK_INT(r.body_size, asset->size);
        CHECK_TRUE(memcmp(r.body, asset->data, asset->size) == 0);
        CHECK_STR(s_header(&r, "Content-Type", value, sizeof value), asset->content_type);
        CHECK_STR(
            s_header(&r, "Content-Security-Policy", value, sizeof value),
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' "
            "data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'");
        CHECK_STR(s_header(&r, "Referrer-Policy", value, sizeof value), "no-referrer");
        s_check_response(&r, 200, NULL);
    }
    s_expect_get(port, "/nope", NULL, 404, "{\"error\":\"not found\"}");
    s_expect_get(port, "/api/nope", NULL, 404, "{\"error\":\"not found\"}");

    //  Runs.
    s_get(port, "/api/runs", NULL, &r);
    CHECK_STR(s_header(&r, "Content-Type", value, sizeof value), "application/json");
    json_t *runs = store_runs_json(store, 50);
    char *expected = json_dumps(runs, CTL_HTTP_JSON_FLAGS);
    json_decref(runs);
    s_check_response(&r, 200, expected);
    free(expected);
    s_get(port, "/api/runs?limit=1", NULL, &r);
    runs = json_loads(r.body, 0, NULL);
    CHECK_INT(json_array_size(runs), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(runs, 0), "run_id")), 2);
    json_decref(runs);
    s_check_response(&r, 200, NULL);
    const char *bad_limits[] = {"/api/runs?limit=0", "/api/runs?limit=501",
                                "/api/runs?limit=abc", "/api/runs?limit="};
    for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++) {
        s_expect_get(port, bad_limits[i], NULL, 400,
                     "{\"error\":\"limit must be an integer from 1 to 500\"}");
    }
    expected = s_run_text(store, 2, true);
    s_expect_get(port, "/api/runs/2", NULL, 200, expected);
    s_expect_get(port, "/api/runs/2?requests=1", NULL, 200, expected);
    free(expected);
    expected = s_run_text(store, 2, false);
    s_get(port, "/api/runs/2?requests=0", NULL, &r);
    json_t *run = json_loads(r.body, 0, NULL);
    json_t *summary = json_object_get(run, "summary");
    CHECK_INT(json_integer_value(json_object_get(run, "requested")), 100);
    CHECK_INT(json_integer_value(json_object_get(summary, "ok")), 5);
    CHECK_INT(json_integer_value(json_object_get(summary, "throttled")), 95);
    CHECK_NULL(json_object_get(run, "requests"));
    json_decref(run);
    s_check_response(&r, 200, expected);
    free(expected);
    s_expect_get(port, "/api/runs/2?requests=2", NULL, 400,
                 "{\"error\":\"requests must be 0 or 1\"}");
    s_expect_get(port, "/api/runs/999", NULL, 404, "{\"error\":\"no run 999\"}");
    s_expect_get(port, "/api/runs/abc", NULL, 400,
                 "{\"error\":\"run id must be a positive integer\"}");
    s_expect_get(port, "/api/runs/0", NULL, 400,
                 "{\"error\":\"run id must be a positive integer\"}");

    //  The original demo's results API.
    expected = s_run_text(store, 2, true);
    s_expect_get(port, "/api/results", NULL, 200, expected);
    free(expected);
    s_expect_get(port, "/api/results/files", NULL, 200,
                 "{\"files\":[{\"name\":\"run-2.json\",\"run_id\":2,"
                 "\"created_ns\":1700000001000000000,\"requested\":100,"
                 "\"status\":\"completed\"},{\"name\":\"run-1.json\",\"run_id\":1,"
                 "\"created_ns\":1700000000000000000,\"requested\":3,"
                 "\"status\":\"completed\"}]}");
    expected = s_run_text(store, 1, true);
    s_expect_get(port, "/api/results/file/run-1.json", NULL, 200, expected);
    s_expect_get(port, "/api/results/file/1", NULL, 200, expected);
    free(expected);
    s_expect_get(port, "/api/results/file/run-9.json", NULL, 404,
                 "{\"error\":\"no run 9\"}");
    s_expect_get(port, "/api/results/file/run-x.json", NULL, 400,
                 "{\"error\":\"file name must be run-<id>.json or <id>\"}");
    s_expect_get(port, "/api/results/file/..%2F..%2Fetc%2Fpasswd", NULL, 400,
                 "{\"error\":\"file name must be run-<id>.json or <id>\"}");

    //  Commands to the controller.
    s_expect_get(port, "/api/status", NULL, 200,
                 "{\"agents\":[{\"id\":\"agent-1\",\"host\":\"h1\",\"capacity\":4,"
                 "\"clock_offset_ns\":-12,\"rtt_ns\":3400}],\"active_run\":null,"
                 "\"default_url\":\"http://127.0.0.1:9/url/demo/\"}");
    char *last = s_fake_last(fake);
    CHECK_STR(last, "{\"action\":\"status\"}");
    free(last);
    s_post(
        port, "/api/test", "application/json",
        "{\"url\":\"http://127.0.0.1:9/url/demo/\",\"requests\":100,\"method\":\"GET\"}",
        NULL, &r);
    s_check_response(&r, 202, "{\"run_id\":7}");
    last = s_fake_last(fake);
    CHECK_STR(last, "{\"action\":\"run\",\"url\":\"http://127.0.0.1:9/url/demo/\","
                    "\"requests\":100,\"method\":\"GET\"}");
    free(last);
    s_post(port, "/api/test", "application/json; charset=utf-8", "", NULL, &r);
    s_check_response(&r, 202, "{\"run_id\":7}");
    last = s_fake_last(fake);
    CHECK_STR(last, "{\"action\":\"run\"}");
    free(last);
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://busy/\"}", NULL, &r);
    s_check_response(&r, 409, "{\"error\":\"a run is already in progress\"}");
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://noagents/\"}", NULL,
           &r);
    s_check_response(&r, 503, "{\"error\":\"no agents connected\"}");
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://garbage/\"}", NULL,
           &r);
    s_check_response(&r, 502, "{\"error\":\"the controller sent an invalid reply\"}");
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://nostatus/\"}", NULL,
           &r);
    s_check_response(&r, 500, "{\"error\":\"broken\"}");

    //  Bad POSTs, each refused without reaching the controller.
    s_post(port, "/api/test", NULL, "{}", NULL, &r);
    s_check_response(&r, 415, "{\"error\":\"Content-Type must be application/json\"}");
    s_post(port, "/api/test", "application/x-www-form-urlencoded", "requests=5", NULL,
           &r);
    s_check_response(&r, 415, "{\"error\":\"Content-Type must be application/json\"}");
    s_post(port, "/api/test", "text/plain", "{}", NULL, &r);
    s_check_response(&r, 415, "{\"error\":\"Content-Type must be application/json\"}");
    s_post(port, "/api/test", "application/json", "{\"requests\":", NULL, &r);
    s_check_response(
        &r, 400,
        "{\"error\":\"invalid JSON: unexpected token near end of file (line 1, "
        "column 12, position 12)\"}");
    s_post(port, "/api/test", "application/json", "{\"requests\":0}", NULL, &r);
    s_check_response(&r, 400,
                     "{\"error\":\"requests must be an integer from 1 to 1000000\"}");
    s_post(port, "/api/test", "application/json", "{\"requests\":1000001}", NULL, &r);
    s_check_response(&r, 400,
                     "{\"error\":\"requests must be an integer from 1 to 1000000\"}");
    s_post(port, "/api/test", "application/json", "{\"requests\":\"5\"}", NULL, &r);
    s_check_response(&r, 400,
                     "{\"error\":\"requests must be an integer from 1 to 1000000\"}");
    s_post(port, "/api/test", "application/json", "{\"bogus\":1}", NULL, &r);
    s_check_response(&r, 400, "{\"error\":\"unknown field \\\"bogus\\\"\"}");
    last = s_fake_last(fake);
    CHECK_STR(last, "{\"action\":\"run\",\"url\":\"http://nostatus/\"}");
    free(last);
    //  Too large: announced by Content-Length (refused before the body) and
    //  streamed in chunks with no length (refused after the cap).
    char *huge = malloc(CTL_HTTP_MAX_BODY + 2);
    CHECK_NOT_NULL(huge);
    memset(huge, ' ', CTL_HTTP_MAX_BODY + 1);
    huge[0] = '{';
    huge[CTL_HTTP_MAX_BODY] = '}';
    huge[CTL_HTTP_MAX_BODY + 1] = '\0';
    s_post(port, "/api/test", "application/json", huge, NULL, &r);
    s_check_response(&r, 413, "{\"error\":\"request body larger than 65536 bytes\"}");
    huge[CTL_HTTP_MAX_BODY - 1] = '}';
    huge[CTL_HTTP_MAX_BODY] = '\0';
    s_post(port, "/api/test", "application/json", huge, NULL, &r);
    s_check_response(&r, 202, "{\"run_id\":7}");
    free(huge);
    size_t chunked_cap = 2 * CTL_HTTP_MAX_BODY + 1024;
    char *chunked = malloc(chunked_cap);
    CHECK_NOT_NULL(chunked);
    int n =
        snprintf(chunked, chunked_cap,
                 "POST /api/test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 5; i++) {
        n += snprintf(chunked + n, chunked_cap - (size_t)n, "4000\r\n");
        memset(chunked + n, ' ', 0x4000);
        n += 0x4000;
        n += snprintf(chunked + n, chunked_cap - (size_t)n, "\r\n");
    }
    n += snprintf(chunked + n, chunked_cap - (size_t)n, "0\r\n\r\n");
    CHECK_INT(s_http_raw(port, chunked, (size_t)n, &r), 0);
    s_check_response(&r, 413, "{\"error\":\"request body larger than 65536 bytes\"}");
    free(chunked);

    //  Methods.
    s_get(port, "/api/test", NULL, &r);
    CHECK_STR(s_header(&r, "Allow", value, sizeof value), "POST");
    s_check_response(&r, 405, "{\"error\":\"method not allowed; use POST\"}");
    s_post(port, "/api/runs", "application/json", "{}", NULL, &r);
    CHECK_STR(s_header(&r, "Allow", value, sizeof value), "GET");
    s_check_response(&r, 405, "{\"error\":\"method not allowed; use GET\"}");
    const char put[] = "PUT /api/runs HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}";
    CHECK_INT(s_http_raw(port, put, strlen(put), &r), 0);
    CHECK_STR(s_header(&r, "Allow", value, sizeof value), "GET, POST");
    s_check_response(&r, 405, "{\"error\":\"method not allowed; use GET or POST\"}");
    const char del[] = "DELETE /api/runs/1 HTTP/1.0\r\n\r\n";
    CHECK_INT(s_http_raw(port, del, strlen(del), &r), 0);
    s_check_response(&r, 405, "{\"error\":\"method not allowed; use GET or POST\"}");

    //  Caps on the URL, and garbage that libmicrohttpd refuses itself.
    char *long_path = malloc(CTL_HTTP_MAX_URL + 64);
    CHECK_NOT_NULL(long_path);
    memcpy(long_path, "/api/runs?x=", 12);
    memset(long_path + 12, 'a', CTL_HTTP_MAX_URL);
    long_path[12 + CTL_HTTP_MAX_URL] = '\0';
    s_expect_get(port, long_path, NULL, 414,
                 "{\"error\":\"URL longer than 8192 bytes\"}");
    free(long_path);
    const char garbage[] = "\x01\x02 not http at all\r\n\r\n";
    s_http_raw(port, garbage, strlen(garbage), &r);
    CHECK_TRUE(r.status == 0 || r.status == 400);
    free(r.body);
    s_expect_get(port, "/api/runs?limit=1", NULL, 200, NULL);

    //  A controller that does not answer: 504, then the next command works
    //  on a fresh socket.
    s_post(port, "/api/test", "application/json", "{\"url\":\"http://slow/\"}", NULL, &r);
    s_check_response(&r, 504,
                     "{\"error\":\"the controller did not answer within 5000 ms\"}");
    s_expect_get(port, "/api/status", NULL, 200, NULL);

    ctl_http_destroy(&http);
    CHECK_NULL(http);
    ctl_http_destroy(&http);

    //  With a token: every /api/ request needs it, the page does not.
    config.token = "s3cret";
    http = ctl_http_new(&config, err, sizeof err);
    CHECK_NOT_NULL(http);
    port = ctl_http_port(http);
    s_get(port, "/api/runs", NULL, &r);
    CHECK_STR(s_header(&r, "WWW-Authenticate", value, sizeof value), "Bearer");
    s_check_response(&r, 401, "{\"error\":\"missing or wrong bearer token\"}");
    s_expect_get(port, "/api/runs", "wrong", 401,
                 "{\"error\":\"missing or wrong bearer token\"}");
    s_expect_get(port, "/api/nope", NULL, 401,
                 "{\"error\":\"missing or wrong bearer token\"}");
    s_post(port, "/api/test", "application/json", "{}", NULL, &r);
    s_check_response(&r, 401, "{\"error\":\"missing or wrong bearer token\"}");
    s_post(port, "/api/test", "application/json", "{}", "s3cret", &r);
    s_check_response(&r, 202, "{\"run_id\":7}");
    s_expect_get(port, "/api/runs?limit=1", "s3cret", 200, NULL);
    s_expect_get(port, "/", NULL, 200, NULL);
    ctl_http_destroy(&http);

    //  No controller endpoint: the store endpoints still work.
    config.token = NULL;
    config.command_endpoint = NULL;
    http = ctl_http_new(&config, err, sizeof err);
    CHECK_NOT_NULL(http);
    port = ctl_http_port(http);
    s_expect_get(port, "/api/status", NULL, 503,
                 "{\"error\":\"no controller to send commands to\"}");
    s_expect_get(port, "/api/results/file/2", NULL, 200, NULL);
    ctl_http_destroy(&http);

    //  Configurations that cannot start.
    static const struct {
        const char *listen;
        const char *token;
        const char *message;
    } bad[] = {
        {"nonsense", NULL, "listen address must be host:port, got \"nonsense\""},
        {":80", NULL, "listen address must be host:port, got \":80\""},
        {"127.0.0.1:99999", NULL, "listen port must be 0..65535, got \"99999\""},
        {"127.0.0.1:", NULL, "listen port must be 0..65535, got \"\""},
        {"127.0.0.1:5x", NULL, "listen port must be 0..65535, got \"5x\""},
        {"[::1:0", NULL, "listen address must be [ipv6]:port, got \"[::1:0\""},
        {"0.0.0.0:0", NULL,
         "listening on 0.0.0.0:0 (not loopback) needs a token for the HTTP API"},
        {"127.0.0.1:0", "", "the HTTP token must not be empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctl_http_config_t c = {
            .listen = bad[i].listen, .db_path = db_path, .token = bad[i].token};
        err[0] = '\0';
        CHECK_NULL(ctl_http_new(&c, err, sizeof err));
        CHECK_STR(err, bad[i].message);
    }
    ctl_http_config_t no_db = {.listen = "127.0.0.1:0", .db_path = "/proc/nope/s.db"};
    CHECK_NULL(ctl_http_new(&no_db, err, sizeof err));
    const char *db_prefix = "cannot open the results database: ";
    CHECK_TRUE(strncmp(err, db_prefix, strlen(db_prefix)) == 0);

    //  IPv6 loopback, when the machine has it.
    ctl_http_config_t v6 = {.listen = "[::1]:0", .db_path = db_path};
    http = ctl_http_new(&v6, err, sizeof err);
    if (http) {
        CHECK_TRUE(ctl_http_port(http) > 0);
        ctl_http_destroy(&http);
    } else if (verbose)
        printf("(no IPv6 loopback: %s) ", err);

    store_destroy(&store);
    zactor_destroy(&fake);
    char path[160];
    const char *suffixes[] = {"", "-wal", "-shm", ".lock"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        unlink(path);
    }
    rmdir(dir);
}

void
ctl_http_test(bool verbose)
{
    s_test_daemon(verbose);
}
