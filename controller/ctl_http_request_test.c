/*  ctl_http_request_test — the selftest of ctl_http_request: every route,
    query and body rule, and whole requests through each check in order.
    Its own file because it is as long as the module; built into the
    selftest runner only.
*/
#include "ctl_http_request.h"
#include "ctl_runspec.h"
#include "sp_check.h"

#include <stdlib.h>
#include <string.h>

//  Exact-value checks of the pure request parsers.
void
ctl_http_request_test(bool verbose)
{
    char err[256];
    ctl_http_request_t req;

    //  Text for logs and clients.
    char safe[16];
    ctl_http_printable(safe, sizeof safe,
                       "GET /a\x01"
                       "b\xff");
    CHECK_STR(safe, "GET /a?b?");
    ctl_http_printable(safe, sizeof safe, "0123456789abcdefghij");
    CHECK_STR(safe, "0123456789ab...");
    ctl_http_printable(safe, sizeof safe, NULL);
    CHECK_STR(safe, "");

    //  Routes.
    memset(&req, 0, sizeof req);
    CHECK_INT(ctl_http_route_parse("/", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_ASSET);
    CHECK_STR(req.asset->path, "/index.html");
    CHECK_INT(ctl_http_route_parse("/index.html", &req, err, sizeof err), 0);
    CHECK_STR(req.asset->path, "/index.html");
    CHECK_INT(ctl_http_route_parse("/app.js", &req, err, sizeof err), 0);
    CHECK_STR(req.asset->content_type, "text/javascript; charset=utf-8");
    CHECK_INT(ctl_http_route_parse("/style.css", &req, err, sizeof err), 0);
    CHECK_STR(req.asset->content_type, "text/css; charset=utf-8");
    CHECK_INT(ctl_http_route_parse("/api/runs", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_RUNS);
    CHECK_INT(ctl_http_route_parse("/api/runs/42", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_RUN);
    CHECK_INT(req.run_id, 42);
    CHECK_INT(
        ctl_http_route_parse("/api/runs/9223372036854775807", &req, err, sizeof err), 0);
    CHECK_INT(req.run_id, INT64_MAX);
    CHECK_INT(ctl_http_route_parse("/api/test", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_TEST);
    CHECK_INT(ctl_http_route_parse("/api/results", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_RESULTS);
    CHECK_INT(ctl_http_route_parse("/api/results/files", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_FILES);
    CHECK_INT(ctl_http_route_parse("/api/results/file/run-7.json", &req, err, sizeof err),
              0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_FILE);
    CHECK_INT(req.run_id, 7);
    CHECK_INT(ctl_http_route_parse("/api/results/file/12", &req, err, sizeof err), 0);
    CHECK_INT(req.run_id, 12);
    CHECK_INT(ctl_http_route_parse("/api/status", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_STATUS);

    const char *bad_ids[] = {"/api/runs/",
                             "/api/runs/abc",
                             "/api/runs/0",
                             "/api/runs/-1",
                             "/api/runs/+1",
                             "/api/runs/1x",
                             "/api/runs/ 1",
                             "/api/runs/1/2",
                             "/api/runs/9223372036854775808",
                             "/api/runs/12345678901234567890"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        CHECK_INT(ctl_http_route_parse(bad_ids[i], &req, err, sizeof err), 400);
        CHECK_STR(err, "run id must be a positive integer");
        CHECK_INT(req.route, CTL_HTTP_ROUTE_NONE);
    }
    const char *bad_files[] = {
        "/api/results/file/",           "/api/results/file/run-.json",
        "/api/results/file/run-x.json", "/api/results/file/run-1.jso",
        "/api/results/file/run-1",      "/api/results/file/1.json",
        "/api/results/file/../etc",     "/api/results/file/run-0.json"};
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        CHECK_INT(ctl_http_route_parse(bad_files[i], &req, err, sizeof err), 400);
        CHECK_STR(err, "file name must be run-<id>.json or <id>");
    }
    const char *unknown[] = {"/nope",      "/api",      "/api/",        "/api/runs2",
                             "/index.htm", "/API/runs", "/api/status/", "//",
                             "",           "app.js"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_INT(ctl_http_route_parse(unknown[i], &req, err, sizeof err), 404);
        CHECK_STR(err, "not found");
    }
    CHECK_INT(ctl_http_route_parse(NULL, &req, err, sizeof err), 404);

    //  ?limit=
    int limit = -1;
    CHECK_INT(ctl_http_limit_parse(NULL, &limit, err, sizeof err), 0);
    CHECK_INT(limit, 50);
    CHECK_INT(ctl_http_limit_parse("1", &limit, err, sizeof err), 0);
    CHECK_INT(limit, 1);
    CHECK_INT(ctl_http_limit_parse("500", &limit, err, sizeof err), 0);
    CHECK_INT(limit, 500);
    CHECK_INT(ctl_http_limit_parse("0007", &limit, err, sizeof err), 0);
    CHECK_INT(limit, 7);
    const char *bad_limits[] = {"0",  "501", "",    "-1",  "+5",
                                " 5", "5 ",  "abc", "1e2", "99999999999999999999",
                                "5.0"};
    for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++) {
        limit = -1;
        CHECK_INT(ctl_http_limit_parse(bad_limits[i], &limit, err, sizeof err), 400);
        CHECK_STR(err, "limit must be an integer from 1 to 500");
        CHECK_INT(limit, -1);
    }

    //  Bearer token.
    CHECK_TRUE(ctl_http_token_ok("Bearer s3cret", "s3cret"));
    CHECK_TRUE(ctl_http_token_ok("bearer s3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer s3cre", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer s3crett", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer S3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer  s3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Basic s3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("s3cret", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer ", "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer ", ""));
    CHECK_TRUE(!ctl_http_token_ok(NULL, "s3cret"));
    CHECK_TRUE(!ctl_http_token_ok("Bearer s3cret", NULL));

    //  Content-Type.
    CHECK_TRUE(ctl_http_is_json("application/json"));
    CHECK_TRUE(ctl_http_is_json("application/json; charset=utf-8"));
    CHECK_TRUE(ctl_http_is_json("Application/JSON"));
    CHECK_TRUE(!ctl_http_is_json("application/jsonp"));
    CHECK_TRUE(!ctl_http_is_json("text/plain"));
    CHECK_TRUE(!ctl_http_is_json("application/x-www-form-urlencoded"));
    CHECK_TRUE(!ctl_http_is_json("multipart/form-data; boundary=x"));
    CHECK_TRUE(!ctl_http_is_json(""));
    CHECK_TRUE(!ctl_http_is_json(NULL));

    //  Run commands.
    static const struct {
        const char *body;
        const char *command; //  NULL: rejected with message
        const char *message;
    } cases[] = {
        {"", "{\"action\":\"run\"}", NULL},
        {"{}", "{\"action\":\"run\"}", NULL},
        {" {\"requests\": 100} ", "{\"action\":\"run\",\"requests\":100}", NULL},
        {"{\"method\":\"POST\",\"requests\":3,\"url\":\"https://example.test/x?a=1\"}",
         "{\"action\":\"run\",\"url\":\"https://example.test/x?a=1\",\"requests\":3,"
         "\"method\":\"POST\"}",
         NULL},
        {"{\"headers\":[\"X-A: 1\",\"Content-Type:\\ttext/plain\"],\"body\":\"hi\"}",
         "{\"action\":\"run\",\"headers\":[\"X-A: 1\",\"Content-Type:\\ttext/plain\"],"
         "\"body\":\"hi\"}",
         NULL},
        {"{\"requests\":1000000}", "{\"action\":\"run\",\"requests\":1000000}", NULL},
        {"{\"url\":\"http://127.0.0.1:9/\",\"num_requests\":100}",
         "{\"action\":\"run\",\"url\":\"http://127.0.0.1:9/\",\"requests\":100}", NULL},
        {"{\"num_requests\":0}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"num_requests\":5,\"requests\":5}", NULL,
         "give requests or num_requests, not both"},
        {"{\"url\":\"HTTP://h/\"}", NULL, "URL must start with http:// or https://"},
        {"{\"headers\":[\"X-A: a\\tb\"]}", NULL,
         "headers[0]: header value longer than 8192 or holds control characters (tab "
         "included)"},
        {"{\"url\":null}", "{\"action\":\"run\",\"url\":null}", NULL},
        {"{\"start_mode\":\"last-byte\",\"body\":\"{}\"}",
         "{\"action\":\"run\",\"body\":\"{}\",\"start_mode\":\"last-byte\"}", NULL},
        {"{\"start_mode\":\"at-go\"}", "{\"action\":\"run\",\"start_mode\":\"at-go\"}",
         NULL},
        {"{\"start_mode\":\"auto\"}", "{\"action\":\"run\",\"start_mode\":\"auto\"}",
         NULL},
        {"{\"start_mode\":\"sideways\"}", NULL,
         "start_mode must be \"at-go\", \"last-byte\" or \"auto\""},
        {"{\"start_mode\":2}", NULL,
         "start_mode must be \"at-go\", \"last-byte\" or \"auto\""},
        {"{\"door\":\"apigw-rest\"}", "{\"action\":\"run\",\"door\":\"apigw-rest\"}",
         NULL},
        {"{\"door\":\"alb\"}", NULL, CTL_RUNSPEC_DOOR_ERROR},
        {"{\"arrival_header\":\"X-Received-At\"}",
         "{\"action\":\"run\",\"arrival_header\":\"X-Received-At\"}", NULL},
        {"{\"arrival_header\":\"X Received\"}", NULL, CTL_RUNSPEC_ARRIVAL_HEADER_ERROR},
        {"{\"requests\":0}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"requests\":1000001}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"requests\":\"100\"}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"requests\":10.0}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"requests\":true}", NULL, "requests must be an integer from 1 to 1000000"},
        {"{\"url\":\"ftp://x/\"}", NULL, "URL must start with http:// or https://"},
        {"{\"url\":\"http://\"}", NULL, "URL has no host"},
        {"{\"url\":\"http://a b/\"}", NULL, "URL holds a space or control character"},
        {"{\"url\":\"http://a/\\n\"}", NULL, "URL holds a space or control character"},
        {"{\"url\":7}", NULL, "url must be a string of 1-8192 bytes"},
        {"{\"method\":\"GE T\"}", NULL,
         "method must be an HTTP method token of 1-16 characters"},
        {"{\"method\":\"\"}", NULL,
         "method must be an HTTP method token of 1-16 characters"},
        {"{\"method\":\"ABCDEFGHIJKLMNOPQ\"}", NULL,
         "method must be an HTTP method token of 1-16 characters"},
        {"{\"headers\":[\"NoColon\"]}", NULL,
         "headers[0]: header must look like 'Name: value'"},
        {"{\"headers\":[\"X-A: 1\\r\\nX-B: 2\"]}", NULL,
         "headers[0]: header value longer than 8192 or holds control "
         "characters (tab included)"},
        {"{\"headers\":[\": v\"]}", NULL,
         "headers[0]: header name must be a token of 1-256 characters"},
        {"{\"headers\":\"X-A: 1\"}", NULL,
         "headers must be an array of at most 64 \"Name: value\" strings"},
        {"{\"headers\":[1]}", NULL, "headers[0] must be a \"Name: value\" string"},
        {"{\"body\":{}}", NULL,
         "body must be a string of at most 6291456 bytes without NUL characters"},
        {"{\"label\":\"nightly\",\"reserved_configured\":-1}",
         "{\"action\":\"run\",\"label\":\"nightly\",\"reserved_configured\":-1}", NULL},
        {"{\"reserved_configured\":-2}", NULL,
         "reserved_configured must be an integer from -1 (unreserved) to 100000"},
        {"{\"action\":\"stop\"}", NULL, "unknown field \"action\""},
        {"{\"reqests\":5}", NULL, "unknown field \"reqests\""},
        {"{\"a\\\"b\":5}", NULL, "unknown field in the request body"},
        {"[]", NULL, "request body must be a JSON object"},
        {"100", NULL,
         "invalid JSON: '[' or '{' expected near '100' (line 1, column 3, position 3)"},
        {"{\"requests\":1,\"requests\":2}", NULL,
         "invalid JSON: duplicate object key near '\"requests\"' (line 1, column 24, "
         "position 24)"},
        {"{\"requests\":", NULL,
         "invalid JSON: unexpected token near end of file (line 1, column 12, position "
         "12)"},
        {"{\"url\":\"\\u0000\"}", NULL,
         "invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near "
         "'\"\\u0000\"' (line 1, column 15, position 15)"},
        {"{\"a\xff\":1}", NULL,
         "invalid JSON: unable to decode byte 0xff near '\"a' (line 1, column 3, "
         "position 3)"},
        {"not json", NULL,
         "invalid JSON: '[' or '{' expected near 'not' (line 1, column 3, position 3)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        json_t *command =
            ctl_http_run_command(cases[i].body, strlen(cases[i].body), err, sizeof err);
        if (cases[i].command) {
            CHECK_NOT_NULL(command);
            char *text = json_dumps(command, JSON_COMPACT);
            CHECK_STR(text, cases[i].command);
            free(text);
            json_decref(command);
        } else {
            CHECK_NULL(command);
            CHECK_STR(err, cases[i].message);
        }
    }
    //  A URL of exactly the cap is accepted, one byte more is not.
    char *big = malloc(CTL_HTTP_MAX_URL + 64);
    CHECK_NOT_NULL(big);
    int prefix = snprintf(big, 64, "{\"url\":\"http://h/");
    size_t url_fill = CTL_HTTP_MAX_URL - strlen("http://h/");
    memset(big + prefix, 'a', url_fill);
    snprintf(big + prefix + url_fill, 8, "\"}");
    json_t *command = ctl_http_run_command(big, strlen(big), err, sizeof err);
    CHECK_NOT_NULL(command);
    json_decref(command);
    snprintf(big + prefix + url_fill, 8, "a\"}");
    CHECK_NULL(ctl_http_run_command(big, strlen(big), err, sizeof err));
    free(big);

    //  Whole requests: each rule, in order.
    static const char token[] = "s3cret";
    static const struct {
        ctl_http_input_t in;
        const char *token;
        int status;
        const char *message;    //  for a rejection
        const char *allow;      //  for a 405
        ctl_http_route_t route; //  for an acceptance
    } requests[] = {
        {{.method = "GET", .path = "/", .url_size = 1},
         NULL,
         0,
         NULL,
         NULL,
         CTL_HTTP_ROUTE_ASSET},
        {{.method = "GET", .path = "/", .url_size = CTL_HTTP_MAX_URL + 1},
         NULL,
         414,
         "URL longer than 8192 bytes",
         NULL,
         0},
        {{.method = "PUT", .path = "/api/runs"},
         NULL,
         405,
         "method not allowed; use GET or POST",
         "GET, POST",
         0},
        {{.method = "HEAD", .path = "/"},
         NULL,
         405,
         "method not allowed; use GET or POST",
         "GET, POST",
         0},
        {{.method = "GET", .path = "/api/runs"},
         token,
         401,
         "missing or wrong bearer token",
         NULL,
         0},
        {{.method = "GET", .path = "/api/nope"},
         token,
         401,
         "missing or wrong bearer token",
         NULL,
         0},
        {{.method = "GET", .path = "/api/runs", .authorization = "Bearer nope"},
         token,
         401,
         "missing or wrong bearer token",
         NULL,
         0},
        {{.method = "GET", .path = "/api/runs", .authorization = "Bearer s3cret"},
         token,
         0,
         NULL,
         NULL,
         CTL_HTTP_ROUTE_RUNS},
        {{.method = "GET", .path = "/app.js"},
         token,
         0,
         NULL,
         NULL,
         CTL_HTTP_ROUTE_ASSET},
        {{.method = "GET", .path = "/nope"}, token, 404, "not found", NULL, 0},
        {{.method = "GET", .path = "/api/runs/x"},
         NULL,
         400,
         "run id must be a positive integer",
         NULL,
         0},
        {{.method = "POST", .path = "/api/runs", .content_type = "application/json"},
         NULL,
         405,
         "method not allowed; use GET",
         "GET",
         0},
        {{.method = "GET", .path = "/api/test"},
         NULL,
         405,
         "method not allowed; use POST",
         "POST",
         0},
        {{.method = "POST", .path = "/"},
         NULL,
         405,
         "method not allowed; use GET",
         "GET",
         0},
        {{.method = "GET", .path = "/api/runs", .limit = "0"},
         NULL,
         400,
         "limit must be an integer from 1 to 500",
         NULL,
         0},
        {{.method = "GET", .path = "/api/runs/3", .requests = "no"},
         NULL,
         400,
         "requests must be 0 or 1",
         NULL,
         0},
        {{.method = "POST", .path = "/api/test"},
         NULL,
         415,
         "Content-Type must be application/json",
         NULL,
         0},
        {{.method = "POST", .path = "/api/test", .content_type = "text/plain"},
         NULL,
         415,
         "Content-Type must be application/json",
         NULL,
         0},
        {{.method = "POST",
          .path = "/api/test",
          .content_type = "application/json",
          .body = "{",
          .body_size = 1},
         NULL,
         400,
         "invalid JSON: string or '}' expected near end of file (line 1, column 1, "
         "position 1)",
         NULL,
         0},
        {{.method = "POST",
          .path = "/api/test",
          .content_type = "application/json",
          .body = "{}",
          .body_size = CTL_HTTP_MAX_BODY + 1},
         NULL,
         413,
         "request body larger than 65536 bytes",
         NULL,
         0},
        {{.method = "POST",
          .path = "/api/test",
          .content_type = "application/json",
          .authorization = "Bearer s3cret",
          .body = "{}",
          .body_size = 2},
         token,
         0,
         NULL,
         NULL,
         CTL_HTTP_ROUTE_TEST},
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        memset(&req, 0, sizeof req);
        err[0] = '\0';
        int status = ctl_http_request_parse(&requests[i].in, requests[i].token, &req, err,
                                            sizeof err);
        CHECK_INT(status, requests[i].status);
        if (status) {
            CHECK_STR(err, requests[i].message);
            if (requests[i].allow)
                CHECK_STR(req.allow, requests[i].allow);
            else
                CHECK_NULL(req.allow);
        } else
            CHECK_INT(req.route, requests[i].route);
        CHECK_TRUE((req.command != NULL) ==
                   (status == 0 && req.route == CTL_HTTP_ROUTE_TEST));
        ctl_http_request_reset(&req);
        CHECK_NULL(req.command);
    }
    //  Query defaults.
    memset(&req, 0, sizeof req);
    ctl_http_input_t in = {.method = "GET", .path = "/api/runs/3"};
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 0);
    CHECK_TRUE(req.with_requests);
    in.requests = "0";
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 0);
    CHECK_TRUE(!req.with_requests);
    memset(&req, 0, sizeof req);
    in = (ctl_http_input_t){.method = "GET", .path = "/api/runs", .limit = "5"};
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 0);
    CHECK_INT(req.limit, 5);
    ctl_http_request_reset(NULL);

    //  The rows of a run: route, defaults, every parameter.
    CHECK_INT(ctl_http_route_parse("/api/runs/12/rows", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_ROWS);
    CHECK_INT(req.run_id, 12);
    CHECK_INT(ctl_http_route_parse("/api/runs/0/rows", &req, err, sizeof err), 400);
    CHECK_STR(err, "run id must be a positive integer");
    CHECK_INT(ctl_http_route_parse("/api/runs//rows", &req, err, sizeof err), 400);
    CHECK_INT(ctl_http_route_parse("/api/runs/rows", &req, err, sizeof err), 400);
    CHECK_INT(ctl_http_route_parse("/api/runs/7/charts", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_CHARTS);
    CHECK_INT(req.run_id, 7);
    CHECK_INT(ctl_http_route_parse("/api/runs/x/charts", &req, err, sizeof err), 400);
    CHECK_INT(ctl_http_route_parse("/api/runs/8/requests.csv", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_CSV);
    CHECK_INT(req.run_id, 8);
    CHECK_INT(ctl_http_route_parse("/api/runs/8/requests.tsv", &req, err, sizeof err),
              400);
    in = (ctl_http_input_t){.method = "POST",
                            .path = "/api/runs/8/requests.csv",
                            .content_type = "application/json"};
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 405);
    CHECK_STR(req.allow, "GET");
    CHECK_INT(ctl_http_route_parse("/api/events", &req, err, sizeof err), 0);
    CHECK_INT(req.route, CTL_HTTP_ROUTE_EVENTS);
    memset(&req, 0, sizeof req);
    in = (ctl_http_input_t){.method = "GET", .path = "/api/runs/3/rows"};
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 0);
    CHECK_INT(req.offset, 0);
    CHECK_INT(req.limit, 100);
    CHECK_NULL(req.sort);
    CHECK_TRUE(!req.desc);
    CHECK_NULL(req.outcome);
    CHECK_NULL(req.q);
    in = (ctl_http_input_t){.method = "GET",
                            .path = "/api/runs/3/rows",
                            .offset = "1000000",
                            .limit = "1000",
                            .sort = "latency",
                            .order = "desc",
                            .outcome = "throttled",
                            .q = "env-1"};
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 0);
    CHECK_INT(req.offset, 1000000);
    CHECK_INT(req.limit, 1000);
    CHECK_STR(req.sort, "latency");
    CHECK_TRUE(req.desc);
    CHECK_STR(req.outcome, "throttled");
    CHECK_STR(req.q, "env-1");
    in.outcome = "";
    in.q = "";
    CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 0);
    CHECK_NULL(req.outcome);
    CHECK_NULL(req.q);
    static const struct {
        ctl_http_input_t in;
        const char *message;
    } bad_rows[] = {
        {{.offset = "-1"}, "offset must be an integer from 0 to 1000000"},
        {{.offset = "1000001"}, "offset must be an integer from 0 to 1000000"},
        {{.offset = "1e3"}, "offset must be an integer from 0 to 1000000"},
        {{.limit = "0"}, "limit must be an integer from 1 to 1000"},
        {{.limit = "1001"}, "limit must be an integer from 1 to 1000"},
        {{.sort = "request_index"},
         "sort must be index, agent, outcome, status, latency, environment, cold_start, "
         "init_type, sent or arrival"},
        {{.order = "up"}, "order must be asc or desc"},
        {{.outcome = "http_error"}, "outcome must be ok, throttled, error or lost"},
        {{.q = "a\tb"}, "q must be at most 128 printable ASCII characters"},
    };
    for (size_t i = 0; i < sizeof bad_rows / sizeof bad_rows[0]; i++) {
        in = bad_rows[i].in;
        in.method = "GET";
        in.path = "/api/runs/3/rows";
        memset(&req, 0, sizeof req);
        CHECK_INT(ctl_http_request_check(&in, NULL, &req, err, sizeof err), 400);
        CHECK_STR(err, bad_rows[i].message);
    }
}
