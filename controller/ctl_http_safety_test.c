/*  ctl_http_safety_test — the parts of ctl_http's selftest about who may
    talk to the API and how it pushes: Host, Origin, the target allow-list,
    a chunked body far past the cap, the original demo's request body, and
    server-sent events, each against a real daemon. Built into the
    selftest runner only.
*/
#include "ctl_http.h"
#include "ctl_http_testlib.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

//  Safe by default: Host, Origin, the target allow-list, a chunked body
//  far past the cap, the original demo's request body.
void
ctl_http_test_guard(void)
{
    ctl_http_tl_fixture_t fx;
    ctl_http_tl_fixture_start(&fx, "guard");
    char err[256] = "";
    ctl_http_config_t config = {.listen = "127.0.0.1:0",
                                .db_path = fx.db_path,
                                .command_endpoint = fx.endpoint,
                                .public_host = "dash.example.com"};
    ctl_http_t *http = ctl_http_new(&config, err, sizeof err);
    CHECK_NOT_NULL(http);
    int port = ctl_http_port(http);
    ctl_http_tl_response_t r;
    char head[512];

    //  Host: the listen address, localhost on loopback, the public host.
    char hosts_ok[4][64];
    snprintf(hosts_ok[0], sizeof hosts_ok[0], "127.0.0.1:%d", port);
    snprintf(hosts_ok[1], sizeof hosts_ok[1], "localhost:%d", port);
    snprintf(hosts_ok[2], sizeof hosts_ok[2], "dash.example.com");
    snprintf(hosts_ok[3], sizeof hosts_ok[3], "dash.example.com:%d", port);
    for (size_t i = 0; i < 4; i++) {
        snprintf(head, sizeof head, "Host: %s\r\n", hosts_ok[i]);
        ctl_http_tl_request(port, "GET", "/api/runs", head, NULL, &r);
        ctl_http_tl_check(&r, 200, "[]");
    }
    char hosts_bad[4][64];
    snprintf(hosts_bad[0], sizeof hosts_bad[0], "evil.example:%d", port);
    snprintf(hosts_bad[1], sizeof hosts_bad[1], "127.0.0.1:1");
    snprintf(hosts_bad[2], sizeof hosts_bad[2], "127.0.0.1");
    snprintf(hosts_bad[3], sizeof hosts_bad[3], "dash.example.com:1");
    for (size_t i = 0; i < 4; i++) {
        char expected[512];
        snprintf(head, sizeof head, "Host: %s\r\n", hosts_bad[i]);
        snprintf(expected, sizeof expected,
                 "{\"error\":\"Host \\\"%s\\\" does not name this server (use the "
                 "address it listens on, or start it with --public-host)\"}",
                 hosts_bad[i]);
        ctl_http_tl_request(port, "GET", "/", head, NULL, &r);
        ctl_http_tl_check(&r, 421, expected);
    }
    ctl_http_tl_request(port, "GET", "/api/runs", "", NULL, &r);
    ctl_http_tl_check(&r, 421, "{\"error\":\"a Host header is required\"}");

    //  Origin on a POST: this server's own, or none (not a browser).
    snprintf(head, sizeof head,
             "Host: 127.0.0.1:%d\r\nOrigin: http://evil.example\r\n"
             "Content-Type: application/json\r\n",
             port);
    ctl_http_tl_request(port, "POST", "/api/test", head, "{}", &r);
    ctl_http_tl_check(&r, 403,
                      "{\"error\":\"cross-origin request refused (Origin "
                      "\\\"http://evil.example\\\")\"}");
    snprintf(head, sizeof head,
             "Host: 127.0.0.1:%d\r\nOrigin: null\r\nContent-Type: application/json\r\n",
             port);
    ctl_http_tl_request(port, "POST", "/api/test", head, "{}", &r);
    ctl_http_tl_check(
        &r, 403, "{\"error\":\"cross-origin request refused (Origin \\\"null\\\")\"}");
    char *last = ctl_http_tl_fake_last(fx.fake);
    CHECK_STR(last, ""); //  nothing reached the controller
    free(last);
    snprintf(head, sizeof head,
             "Host: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\n"
             "Content-Type: application/json\r\n",
             port, port);
    ctl_http_tl_request(port, "POST", "/api/test", head,
                        "{\"url\":\"http://127.0.0.1:9/url/demo/\",\"num_requests\":100}",
                        &r);
    ctl_http_tl_check(&r, 202, "{\"run_id\":7}");
    last = ctl_http_tl_fake_last(fx.fake);
    CHECK_STR(last, "{\"action\":\"run\",\"url\":\"http://127.0.0.1:9/url/demo/\","
                    "\"requests\":100}");
    free(last);

    //  A target the agents would refuse never reaches the controller.
    ctl_http_tl_post(port, "/api/test", "application/json",
                     "{\"url\":\"https://example.com/\",\"requests\":5}", NULL, &r);
    ctl_http_tl_check(&r, 400,
                      "{\"error\":\"target host example.com is not in the agents' "
                      "allow-list (loopback only; give the agents and stampede serve "
                      "--allow PATTERN)\"}");
    last = ctl_http_tl_fake_last(fx.fake);
    CHECK_STR(last, "{\"action\":\"run\",\"url\":\"http://127.0.0.1:9/url/demo/\","
                    "\"requests\":100}");
    free(last);

    //  2 MiB chunked: refused with 413 once past the cap, not read to its end.
    ctl_http_tl_post_chunked(port, 2 * 1024 * 1024 / 0x4000, &r);
    ctl_http_tl_check(&r, 413, "{\"error\":\"request body larger than 65536 bytes\"}");

    ctl_http_destroy(&http);

    //  An operator allow-list replaces loopback.
    const char *allow[] = {"*.example.com"};
    config.allow = allow;
    config.allow_count = 1;
    http = ctl_http_new(&config, err, sizeof err);
    CHECK_NOT_NULL(http);
    port = ctl_http_port(http);
    ctl_http_tl_post(port, "/api/test", "application/json",
                     "{\"url\":\"https://a.example.com/\"}", NULL, &r);
    ctl_http_tl_check(&r, 202, "{\"run_id\":7}");
    ctl_http_tl_post(port, "/api/test", "application/json",
                     "{\"url\":\"http://127.0.0.1:9/\"}", NULL, &r);
    ctl_http_tl_check(&r, 400,
                      "{\"error\":\"target host 127.0.0.1 is not in the agents' "
                      "allow-list (stampede serve --allow)\"}");
    ctl_http_destroy(&http);

    //  Configurations refused.
    ctl_http_config_t bad = {.listen = "127.0.0.1:0",
                             .db_path = fx.db_path,
                             .public_host = "http://dash.example.com/"};
    CHECK_NULL(ctl_http_new(&bad, err, sizeof err));
    CHECK_STR(err, "public host must be NAME or NAME:PORT (a host name, not a URL)");
    const char *bad_allow[] = {"a b"};
    bad = (ctl_http_config_t){.listen = "127.0.0.1:0",
                              .db_path = fx.db_path,
                              .allow = bad_allow,
                              .allow_count = 1};
    CHECK_NULL(ctl_http_new(&bad, err, sizeof err));
    CHECK_STR(err, "allow pattern must be 1-255 printable characters without spaces");

    ctl_http_tl_fixture_stop(&fx);
}

//  Server-sent events: the stream opens with the current picture, sends a
//  new event when a run appears, and ends when the daemon stops.
void
ctl_http_test_events(void)
{
    ctl_http_tl_fixture_t fx;
    ctl_http_tl_fixture_start(&fx, "events");
    char err[256] = "";
    ctl_http_config_t config = {
        .listen = "127.0.0.1:0", .db_path = fx.db_path, .command_endpoint = fx.endpoint};
    ctl_http_t *http = ctl_http_new(&config, err, sizeof err);
    CHECK_NOT_NULL(http);
    int port = ctl_http_port(http);
    store_t *store = store_open(fx.db_path, err, sizeof err);
    CHECK_NOT_NULL(store);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_TRUE(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    char request[128];
    int n = snprintf(request, sizeof request,
                     "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port);
    CHECK_INT(send(fd, request, (size_t)n, MSG_NOSIGNAL), n);
    static char buf[65536];
    size_t have = 0;
    buf[0] = '\0';
    CHECK_TRUE(
        ctl_http_tl_read_until(fd, buf, sizeof buf, &have, "\"run\":null}\n\n", 5000));
    CHECK_TRUE(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK_TRUE(strstr(buf, "Content-Type: text/event-stream\r\n") != NULL);
    CHECK_TRUE(strstr(buf, "retry: 1000\n\n") != NULL);
    CHECK_TRUE(strstr(buf, "event: progress\ndata: {\"status\":{\"agents\":[{\"id\":"
                           "\"agent-1\"") != NULL);
    //  A run appears: the next event names it, with the original's metrics.
    have = 0;
    buf[0] = '\0';
    ctl_http_tl_add_run(store, INT64_C(1700000000000000000), 10, 2);
    CHECK_TRUE(ctl_http_tl_read_until(fd, buf, sizeof buf, &have,
                                      "\"cold_start_time\":0.0}}}\n\n", 5000));
    CHECK_TRUE(strstr(buf, "\"run\":{\"run_id\":1,\"status\":\"completed\"") != NULL);
    CHECK_TRUE(strstr(buf, "\"counts\":{\"ok\":2,\"throttled\":8,\"errors\":0,"
                           "\"lost\":0,\"recorded\":10,\"pending\":0}") != NULL);
    CHECK_TRUE(strstr(buf, "\"success_rate\":20.0") != NULL);
    //  The rest of the API works while the stream is parked.
    ctl_http_tl_expect_get(port, "/api/runs?limit=1", NULL, 200, NULL);
    //  Stopping the daemon ends the stream.
    int64_t before = sp_clock_mono_ns();
    ctl_http_destroy(&http);
    CHECK_TRUE(sp_clock_mono_ns() - before < 3 * SP_NS_PER_S);
    have = 0;
    buf[0] = '\0';
    ctl_http_tl_read_until(fd, buf, sizeof buf, &have, "never", 2000);
    CHECK_INT(recv(fd, buf, 1, MSG_DONTWAIT), 0);
    close(fd);
    store_destroy(&store);
    ctl_http_tl_fixture_stop(&fx);
}
