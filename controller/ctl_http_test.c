/*  ctl_http_test — the selftest of ctl_http: every endpoint and every
    error against a real daemon on an ephemeral port, a temp database and a
    stand-in for the controller core's command socket. Its own file because
    it is as long as the daemon it tests; the pure request checks are
    tested in ctl_http_request, the safety rules and the event stream in
    ctl_http_safety_test.c, the helpers are in ctl_http_testlib.
*/
#include "ctl_http.h"
#include "ctl_http_testlib.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "store_api.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

//  The body GET should return for a run: the store's own JSON, the
//  original demo's metrics beside it, the rows last.
static char *
s_run_text(store_t *store, int64_t run_id, bool with_requests)
{
    json_t *run = store_run_json(store, run_id, false);
    CHECK_NOT_NULL(run);
    json_t *original = store_rows_original_json(store, run_id);
    CHECK_INT(json_object_update(run, original), 0);
    json_decref(original);
    if (with_requests) {
        json_t *whole = store_run_json(store, run_id, true);
        CHECK_INT(json_object_set(run, "requests", json_object_get(whole, "requests")),
                  0);
        json_decref(whole);
    }
    char *text = json_dumps(run, CTL_HTTP_JSON_FLAGS);
    json_decref(run);
    return text;
}

//  Every endpoint and every error, against a real daemon on an ephemeral
//  port, a temp database and the fake controller.
static void
s_test_daemon(bool verbose)
{
    ctl_http_tl_fixture_t fx;
    ctl_http_tl_fixture_start(&fx, "test");

    char err[256] = "";
    ctl_http_config_t config = {.listen = "127.0.0.1:0",
                                .db_path = fx.db_path,
                                .token = NULL,
                                .command_endpoint = fx.endpoint};
    ctl_http_t *http = ctl_http_new(&config, err, sizeof err);
    if (!http)
        fprintf(stderr, "ctl_http_new: %s\n", err);
    CHECK_NOT_NULL(http);
    int port = ctl_http_port(http);
    CHECK_TRUE(port > 0 && port <= 65535);
    ctl_http_tl_response_t r;
    char value[512];

    //  An empty database.
    ctl_http_tl_expect_get(port, "/api/results", NULL, 404,
                           "{\"error\":\"no runs yet\"}");
    ctl_http_tl_expect_get(port, "/api/runs", NULL, 200, "[]");
    ctl_http_tl_expect_get(port, "/api/results/files", NULL, 200, "{\"files\":[]}");
    ctl_http_tl_expect_get(port, "/api/runs/1", NULL, 404, "{\"error\":\"no run 1\"}");

    //  Two runs written by another connection, as the controller does.
    store_t *store = store_open(fx.db_path, err, sizeof err);
    CHECK_NOT_NULL(store);
    int64_t first = ctl_http_tl_add_run(store, INT64_C(1700000000000000000), 3, 1);
    int64_t second = ctl_http_tl_add_run(store, INT64_C(1700000001000000000), 100, 5);
    CHECK_INT(first, 1);
    CHECK_INT(second, 2);

    //  The page and its files, with the security headers.
    const char *pages[][2] = {{"/", "/index.html"},
                              {"/index.html", "/index.html"},
                              {"/app.js", "/app.js"},
                              {"/style.css", "/style.css"}};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        const web_asset_t *asset = web_asset_find(pages[i][1]);
        ctl_http_tl_get(port, pages[i][0], NULL, &r);
        CHECK_INT(r.status, 200);
        CHECK_INT(r.body_size, asset->size);
        CHECK_TRUE(memcmp(r.body, asset->data, asset->size) == 0);
        CHECK_STR(ctl_http_tl_header(&r, "Content-Type", value, sizeof value),
                  asset->content_type);
        CHECK_STR(
            ctl_http_tl_header(&r, "Content-Security-Policy", value, sizeof value),
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' "
            "data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'");
        CHECK_STR(ctl_http_tl_header(&r, "Referrer-Policy", value, sizeof value),
                  "no-referrer");
        ctl_http_tl_check(&r, 200, NULL);
    }
    ctl_http_tl_expect_get(port, "/nope", NULL, 404, "{\"error\":\"not found\"}");
    ctl_http_tl_expect_get(port, "/api/nope", NULL, 404, "{\"error\":\"not found\"}");

    //  Runs.
    ctl_http_tl_get(port, "/api/runs", NULL, &r);
    CHECK_STR(ctl_http_tl_header(&r, "Content-Type", value, sizeof value),
              "application/json");
    json_t *runs = store_runs_json(store, 50);
    char *expected = json_dumps(runs, CTL_HTTP_JSON_FLAGS);
    json_decref(runs);
    ctl_http_tl_check(&r, 200, expected);
    free(expected);
    ctl_http_tl_get(port, "/api/runs?limit=1", NULL, &r);
    runs = json_loads(r.body, 0, NULL);
    CHECK_INT(json_array_size(runs), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(runs, 0), "run_id")), 2);
    json_decref(runs);
    ctl_http_tl_check(&r, 200, NULL);
    const char *bad_limits[] = {"/api/runs?limit=0", "/api/runs?limit=501",
                                "/api/runs?limit=abc", "/api/runs?limit="};
    for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++) {
        ctl_http_tl_expect_get(port, bad_limits[i], NULL, 400,
                               "{\"error\":\"limit must be an integer from 1 to 500\"}");
    }
    //  The run list's filters.
    const struct {
        const char *path;
        const char *ids;
    } filters[] = {{"/api/runs?outcome=completed", "2,1"},
                   {"/api/runs?outcome=failed", ""},
                   {"/api/runs?since=1700000001000000000", "2"},
                   {"/api/runs?until=1700000001000000000", "1"},
                   {"/api/runs?q=URL%2FDEMO&limit=1", "2"},
                   {"/api/runs?q=nomatch", ""},
                   {"/api/runs?outcome=&q=", "2,1"}};
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        ctl_http_tl_get(port, filters[i].path, NULL, &r);
        runs = json_loads(r.body, 0, NULL);
        char ids[64] = "";
        for (size_t k = 0; k < json_array_size(runs); k++)
            snprintf(
                ids + strlen(ids), sizeof ids - strlen(ids), "%s%" JSON_INTEGER_FORMAT,
                k ? "," : "",
                json_integer_value(json_object_get(json_array_get(runs, k), "run_id")));
        json_decref(runs);
        ctl_http_tl_check(&r, 200, NULL);
        CHECK_STR(ids, filters[i].ids);
    }
    const struct {
        const char *path;
        const char *error;
    } bad_filters[] = {
        {"/api/runs?outcome=ok",
         "{\"error\":\"outcome must be completed, completed_with_losses, mis_started, "
         "interrupted, failed, pending or running\"}"},
        {"/api/runs?since=-1", "{\"error\":\"since must be an instant in ns since the "
                               "epoch (0 to 9223372036854775807)\"}"},
        {"/api/runs?until=9999999999999999999", "{\"error\":\"until must be an instant "
                                                "in ns since the epoch (0 to "
                                                "9223372036854775807)\"}"},
        {"/api/runs?q=%01",
         "{\"error\":\"q must be at most 128 printable ASCII characters\"}"}};
    for (size_t i = 0; i < sizeof bad_filters / sizeof bad_filters[0]; i++)
        ctl_http_tl_expect_get(port, bad_filters[i].path, NULL, 400,
                               bad_filters[i].error);
    expected = s_run_text(store, 2, true);
    ctl_http_tl_expect_get(port, "/api/runs/2", NULL, 200, expected);
    ctl_http_tl_expect_get(port, "/api/runs/2?requests=1", NULL, 200, expected);
    free(expected);
    expected = s_run_text(store, 2, false);
    ctl_http_tl_get(port, "/api/runs/2?requests=0", NULL, &r);
    json_t *run = json_loads(r.body, 0, NULL);
    json_t *summary = json_object_get(run, "summary");
    CHECK_INT(json_integer_value(json_object_get(run, "requested")), 100);
    CHECK_INT(json_integer_value(json_object_get(summary, "ok")), 5);
    CHECK_INT(json_integer_value(json_object_get(summary, "throttled")), 95);
    CHECK_NULL(json_object_get(run, "requests"));
    json_decref(run);
    ctl_http_tl_check(&r, 200, expected);
    free(expected);
    ctl_http_tl_expect_get(port, "/api/runs/2?requests=2", NULL, 400,
                           "{\"error\":\"requests must be 0 or 1\"}");
    ctl_http_tl_expect_get(port, "/api/runs/999", NULL, 404,
                           "{\"error\":\"no run 999\"}");
    ctl_http_tl_expect_get(port, "/api/runs/abc", NULL, 400,
                           "{\"error\":\"run id must be a positive integer\"}");
    ctl_http_tl_expect_get(port, "/api/runs/0", NULL, 400,
                           "{\"error\":\"run id must be a positive integer\"}");

    //  The original demo's results API.
    expected = s_run_text(store, 2, true);
    ctl_http_tl_expect_get(port, "/api/results", NULL, 200, expected);
    free(expected);
    //  ... with the original's field names beside ours.
    ctl_http_tl_get(port, "/api/results", NULL, &r);
    json_t *results = json_loads(r.body, 0, NULL);
    CHECK_NOT_NULL(results);
    json_t *original = json_pack(
        "{s:I, s:I, s:I, s:f, s:I, s:f, s:I, s:f}", "total_requests", (json_int_t)100,
        "successful", (json_int_t)5, "throttled", (json_int_t)95, "success_rate", 5.0,
        "reserved_concurrency", (json_int_t)5, "avg_response_time", 2.001, "cold_starts",
        (json_int_t)5, "cold_start_time", 0.0);
    const char *key;
    json_t *want;
    json_object_foreach(original, key, want)
    {
        json_t *got = json_object_get(results, key);
        if (!json_equal(got, want) &&
            !(json_is_real(want) && json_is_real(got) &&
              fabs(json_real_value(got) - json_real_value(want)) < 1e-9))
            fprintf(stderr, "field %s differs: %.300s\n", key, r.body);
        CHECK_TRUE(json_equal(got, want) ||
                   (json_is_real(got) &&
                    fabs(json_real_value(got) - json_real_value(want)) < 1e-9));
    }
    json_decref(original);
    CHECK_INT(json_array_size(json_object_get(results, "requests")), 100);
    CHECK_INT(
        json_integer_value(json_object_get(json_object_get(results, "summary"), "ok")),
        5);
    json_decref(results);
    ctl_http_tl_check(&r, 200, NULL);

    //  A page of a run's rows.
    ctl_http_tl_get(port, "/api/runs/2/rows?limit=2&sort=latency&order=desc&outcome=ok",
                    NULL, &r);
    json_t *page = json_loads(r.body, 0, NULL);
    CHECK_INT(json_integer_value(json_object_get(page, "total")), 5);
    json_t *rows = json_object_get(page, "rows");
    CHECK_INT(json_array_size(rows), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(rows, 0), "index")), 4);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(rows, 1), "index")), 3);
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(rows, 0), "environment_id")),
        "env-4");
    json_decref(page);
    ctl_http_tl_check(&r, 200, NULL);
    ctl_http_tl_expect_get(port, "/api/runs/2/rows?q=env-3", NULL, 200, NULL);
    ctl_http_tl_expect_get(port, "/api/runs/9/rows", NULL, 404,
                           "{\"error\":\"no run 9\"}");
    json_t *charts = store_rows_charts_json(store, 2);
    CHECK_INT(json_object_set_new(charts, "agents", json_array()), 0); //  no shares
    char *charts_text = json_dumps(charts, CTL_HTTP_JSON_FLAGS);
    json_decref(charts);
    ctl_http_tl_expect_get(port, "/api/runs/2/charts", NULL, 200, charts_text);
    free(charts_text);
    ctl_http_tl_expect_get(port, "/api/runs/9/charts", NULL, 404,
                           "{\"error\":\"no run 9\"}");
    //  A run as CSV, to download.
    ctl_http_tl_get(port, "/api/runs/1/requests.csv", NULL, &r);
    CHECK_STR(ctl_http_tl_header(&r, "Content-Type", value, sizeof value),
              "text/csv; charset=utf-8; header=present");
    CHECK_STR(ctl_http_tl_header(&r, "Content-Disposition", value, sizeof value),
              "attachment; filename=\"run-1.csv\"");
    ctl_http_tl_check(
        &r, 200,
        "index,agent_id,outcome,http_status,scheduled_ns,sent_ns,first_byte_ns,done_ns,"
        "received_ns,bytes,reused,request_id,environment_id,cold_start,cold_start_time,"
        "initialization_type,invocation_count,function_started_ns,function_finished_ns,"
        "error,door,throttle_source,throttle_reason,latency_ms\r\n"
        "0,agent-1,ok,200,1700000000000000000,1700000000000001000,1700000000002000000,"
        "1700000000002000000,0,100,false,,env-0,true,0.0,,,0,0,,,,,1.999\r\n"
        "1,agent-1,throttled,429,1700000000000000000,1700000000000001000,"
        "1700000000002000000,1700000000002001000,0,100,false,,,,0.0,,,0,0,,,,,2.0\r\n"
        "2,agent-1,throttled,429,1700000000000000000,1700000000000001000,"
        "1700000000002000000,1700000000002002000,0,100,false,,,,0.0,,,0,0,,,,,2.001\r\n");
    ctl_http_tl_expect_get(port, "/api/runs/9/requests.csv", NULL, 404,
                           "{\"error\":\"no run 9\"}");
    ctl_http_tl_expect_get(port, "/api/runs/x/requests.csv", NULL, 400,
                           "{\"error\":\"run id must be a positive integer\"}");
    ctl_http_tl_expect_get(
        port, "/api/runs/2/rows?sort=bogus", NULL, 400,
        "{\"error\":\"sort must be index, agent, outcome, status, latency, "
        "environment, cold_start, init_type, sent or arrival\"}");
    ctl_http_tl_expect_get(
        port, "/api/results/files", NULL, 200,
        "{\"files\":[{\"name\":\"run-2.json\",\"run_id\":2,"
        "\"created_ns\":1700000001000000000,\"requested\":100,"
        "\"status\":\"completed\"},{\"name\":\"run-1.json\",\"run_id\":1,"
        "\"created_ns\":1700000000000000000,\"requested\":3,"
        "\"status\":\"completed\"}]}");
    expected = s_run_text(store, 1, true);
    ctl_http_tl_expect_get(port, "/api/results/file/run-1.json", NULL, 200, expected);
    ctl_http_tl_expect_get(port, "/api/results/file/1", NULL, 200, expected);
    free(expected);
    ctl_http_tl_expect_get(port, "/api/results/file/run-9.json", NULL, 404,
                           "{\"error\":\"no run 9\"}");
    ctl_http_tl_expect_get(port, "/api/results/file/run-x.json", NULL, 400,
                           "{\"error\":\"file name must be run-<id>.json or <id>\"}");
    ctl_http_tl_expect_get(port, "/api/results/file/..%2F..%2Fetc%2Fpasswd", NULL, 400,
                           "{\"error\":\"file name must be run-<id>.json or <id>\"}");

    //  Commands to the controller.
    ctl_http_tl_expect_get(
        port, "/api/status", NULL, 200,
        "{\"agents\":[{\"id\":\"agent-1\",\"host\":\"h1\",\"capacity\":4,"
        "\"clock_offset_ns\":-12,\"rtt_ns\":3400}],\"active_run\":null,"
        "\"default_url\":\"http://127.0.0.1:9/url/demo/\"}");
    char *last = ctl_http_tl_fake_last(fx.fake);
    CHECK_STR(last, "{\"action\":\"status\"}");
    free(last);
    ctl_http_tl_post(
        port, "/api/test", "application/json",
        "{\"url\":\"http://127.0.0.1:9/url/demo/\",\"requests\":100,\"method\":\"GET\"}",
        NULL, &r);
    ctl_http_tl_check(&r, 202, "{\"run_id\":7}");
    last = ctl_http_tl_fake_last(fx.fake);
    CHECK_STR(last, "{\"action\":\"run\",\"url\":\"http://127.0.0.1:9/url/demo/\","
                    "\"requests\":100,\"method\":\"GET\"}");
    free(last);
    ctl_http_tl_post(port, "/api/test", "application/json; charset=utf-8", "", NULL, &r);
    ctl_http_tl_check(&r, 202, "{\"run_id\":7}");
    last = ctl_http_tl_fake_last(fx.fake);
    CHECK_STR(last, "{\"action\":\"run\"}");
    free(last);
    ctl_http_tl_post(port, "/api/test", "application/json",
                     "{\"url\":\"http://127.0.0.1:9/busy/\"}", NULL, &r);
    ctl_http_tl_check(&r, 409, "{\"error\":\"a run is already in progress\"}");
    ctl_http_tl_post(port, "/api/test", "application/json",
                     "{\"url\":\"http://127.0.0.1:9/noagents/\"}", NULL, &r);
    ctl_http_tl_check(&r, 503, "{\"error\":\"no agents connected\"}");
    ctl_http_tl_post(port, "/api/test", "application/json",
                     "{\"url\":\"http://127.0.0.1:9/garbage/\"}", NULL, &r);
    ctl_http_tl_check(&r, 502, "{\"error\":\"the controller sent an invalid reply\"}");
    ctl_http_tl_post(port, "/api/test", "application/json",
                     "{\"url\":\"http://127.0.0.1:9/nostatus/\"}", NULL, &r);
    ctl_http_tl_check(&r, 500, "{\"error\":\"broken\"}");

    //  Bad POSTs, each refused without reaching the controller.
    ctl_http_tl_post(port, "/api/test", NULL, "{}", NULL, &r);
    ctl_http_tl_check(&r, 415, "{\"error\":\"Content-Type must be application/json\"}");
    ctl_http_tl_post(port, "/api/test", "application/x-www-form-urlencoded", "requests=5",
                     NULL, &r);
    ctl_http_tl_check(&r, 415, "{\"error\":\"Content-Type must be application/json\"}");
    ctl_http_tl_post(port, "/api/test", "text/plain", "{}", NULL, &r);
    ctl_http_tl_check(&r, 415, "{\"error\":\"Content-Type must be application/json\"}");
    ctl_http_tl_post(port, "/api/test", "application/json", "{\"requests\":", NULL, &r);
    ctl_http_tl_check(
        &r, 400,
        "{\"error\":\"invalid JSON: unexpected token near end of file (line 1, "
        "column 12, position 12)\"}");
    ctl_http_tl_post(port, "/api/test", "application/json", "{\"requests\":0}", NULL, &r);
    ctl_http_tl_check(&r, 400,
                      "{\"error\":\"requests must be an integer from 1 to 1000000\"}");
    ctl_http_tl_post(port, "/api/test", "application/json", "{\"requests\":1000001}",
                     NULL, &r);
    ctl_http_tl_check(&r, 400,
                      "{\"error\":\"requests must be an integer from 1 to 1000000\"}");
    ctl_http_tl_post(port, "/api/test", "application/json", "{\"requests\":\"5\"}", NULL,
                     &r);
    ctl_http_tl_check(&r, 400,
                      "{\"error\":\"requests must be an integer from 1 to 1000000\"}");
    ctl_http_tl_post(port, "/api/test", "application/json", "{\"bogus\":1}", NULL, &r);
    ctl_http_tl_check(&r, 400, "{\"error\":\"unknown field \\\"bogus\\\"\"}");
    last = ctl_http_tl_fake_last(fx.fake);
    CHECK_STR(last, "{\"action\":\"run\",\"url\":\"http://127.0.0.1:9/nostatus/\"}");
    free(last);
    //  Too large: announced by Content-Length (refused before the body) and
    //  streamed in chunks with no length (refused after the cap).
    char *huge = malloc(CTL_HTTP_MAX_BODY + 2);
    CHECK_NOT_NULL(huge);
    memset(huge, ' ', CTL_HTTP_MAX_BODY + 1);
    huge[0] = '{';
    huge[CTL_HTTP_MAX_BODY] = '}';
    huge[CTL_HTTP_MAX_BODY + 1] = '\0';
    ctl_http_tl_post(port, "/api/test", "application/json", huge, NULL, &r);
    ctl_http_tl_check(&r, 413, "{\"error\":\"request body larger than 65536 bytes\"}");
    huge[CTL_HTTP_MAX_BODY - 1] = '}';
    huge[CTL_HTTP_MAX_BODY] = '\0';
    ctl_http_tl_post(port, "/api/test", "application/json", huge, NULL, &r);
    ctl_http_tl_check(&r, 202, "{\"run_id\":7}");
    free(huge);
    ctl_http_tl_post_chunked(port, 5, &r);
    ctl_http_tl_check(&r, 413, "{\"error\":\"request body larger than 65536 bytes\"}");

    //  Methods.
    ctl_http_tl_get(port, "/api/test", NULL, &r);
    CHECK_STR(ctl_http_tl_header(&r, "Allow", value, sizeof value), "POST");
    ctl_http_tl_check(&r, 405, "{\"error\":\"method not allowed; use POST\"}");
    ctl_http_tl_post(port, "/api/runs", "application/json", "{}", NULL, &r);
    CHECK_STR(ctl_http_tl_header(&r, "Allow", value, sizeof value), "GET");
    ctl_http_tl_check(&r, 405, "{\"error\":\"method not allowed; use GET\"}");
    char put[128];
    snprintf(
        put, sizeof put,
        "PUT /api/runs HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nContent-Length: 2\r\n\r\n{}",
        port);
    CHECK_INT(ctl_http_tl_raw(port, put, strlen(put), &r), 0);
    CHECK_STR(ctl_http_tl_header(&r, "Allow", value, sizeof value), "GET, POST");
    ctl_http_tl_check(&r, 405, "{\"error\":\"method not allowed; use GET or POST\"}");
    char del[128];
    snprintf(del, sizeof del, "DELETE /api/runs/1 HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n",
             port);
    CHECK_INT(ctl_http_tl_raw(port, del, strlen(del), &r), 0);
    ctl_http_tl_check(&r, 405, "{\"error\":\"method not allowed; use GET or POST\"}");

    //  Caps on the URL, and garbage that libmicrohttpd refuses itself.
    char *long_path = malloc(CTL_HTTP_MAX_URL + 64);
    CHECK_NOT_NULL(long_path);
    memcpy(long_path, "/api/runs?x=", 12);
    memset(long_path + 12, 'a', CTL_HTTP_MAX_URL);
    long_path[12 + CTL_HTTP_MAX_URL] = '\0';
    ctl_http_tl_expect_get(port, long_path, NULL, 414,
                           "{\"error\":\"URL longer than 8192 bytes\"}");
    free(long_path);
    const char garbage[] = "\x01\x02 not http at all\r\n\r\n";
    ctl_http_tl_raw(port, garbage, strlen(garbage), &r);
    CHECK_TRUE(r.status == 0 || r.status == 400);
    free(r.body);
    ctl_http_tl_expect_get(port, "/api/runs?limit=1", NULL, 200, NULL);

    //  A controller that does not answer: 504, then the next command works
    //  on a fresh socket.
    ctl_http_tl_post(port, "/api/test", "application/json",
                     "{\"url\":\"http://127.0.0.1:9/slow/\"}", NULL, &r);
    ctl_http_tl_check(&r, 504,
                      "{\"error\":\"the controller did not answer within 5000 ms\"}");
    ctl_http_tl_expect_get(port, "/api/status", NULL, 200, NULL);

    ctl_http_destroy(&http);
    CHECK_NULL(http);
    ctl_http_destroy(&http);

    //  With a token: every /api/ request needs it, the page does not.
    config.token = "s3cret";
    http = ctl_http_new(&config, err, sizeof err);
    CHECK_NOT_NULL(http);
    port = ctl_http_port(http);
    ctl_http_tl_get(port, "/api/runs", NULL, &r);
    CHECK_STR(ctl_http_tl_header(&r, "WWW-Authenticate", value, sizeof value), "Bearer");
    ctl_http_tl_check(&r, 401, "{\"error\":\"missing or wrong bearer token\"}");
    ctl_http_tl_expect_get(port, "/api/runs", "wrong", 401,
                           "{\"error\":\"missing or wrong bearer token\"}");
    ctl_http_tl_expect_get(port, "/api/nope", NULL, 401,
                           "{\"error\":\"missing or wrong bearer token\"}");
    ctl_http_tl_post(port, "/api/test", "application/json", "{}", NULL, &r);
    ctl_http_tl_check(&r, 401, "{\"error\":\"missing or wrong bearer token\"}");
    ctl_http_tl_post(port, "/api/test", "application/json", "{}", "s3cret", &r);
    ctl_http_tl_check(&r, 202, "{\"run_id\":7}");
    ctl_http_tl_expect_get(port, "/api/runs?limit=1", "s3cret", 200, NULL);
    ctl_http_tl_expect_get(port, "/", NULL, 200, NULL);
    ctl_http_destroy(&http);

    //  No controller endpoint: the store endpoints still work.
    config.token = NULL;
    config.command_endpoint = NULL;
    http = ctl_http_new(&config, err, sizeof err);
    CHECK_NOT_NULL(http);
    port = ctl_http_port(http);
    ctl_http_tl_expect_get(port, "/api/status", NULL, 503,
                           "{\"error\":\"no controller to send commands to\"}");
    ctl_http_tl_expect_get(port, "/api/results/file/2", NULL, 200, NULL);
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
            .listen = bad[i].listen, .db_path = fx.db_path, .token = bad[i].token};
        err[0] = '\0';
        CHECK_NULL(ctl_http_new(&c, err, sizeof err));
        CHECK_STR(err, bad[i].message);
    }
    ctl_http_config_t no_db = {.listen = "127.0.0.1:0", .db_path = "/proc/nope/s.db"};
    CHECK_NULL(ctl_http_new(&no_db, err, sizeof err));
    const char *db_prefix = "cannot open the results database: ";
    CHECK_TRUE(strncmp(err, db_prefix, strlen(db_prefix)) == 0);

    //  IPv6 loopback, when the machine has it.
    ctl_http_config_t v6 = {.listen = "[::1]:0", .db_path = fx.db_path};
    http = ctl_http_new(&v6, err, sizeof err);
    if (http) {
        CHECK_TRUE(ctl_http_port(http) > 0);
        ctl_http_destroy(&http);
    } else if (verbose)
        printf("(no IPv6 loopback: %s) ", err);

    store_destroy(&store);
    ctl_http_tl_fixture_stop(&fx);
}

void
ctl_http_test(bool verbose)
{
    ctl_http_test_events();
    s_test_daemon(verbose);
    ctl_http_test_guard();
}
