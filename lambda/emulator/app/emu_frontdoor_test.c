/*  emu_frontdoor_test — emu_frontdoor's selftest, in a file of its own (built into the
    selftest runner only) so the module stays one screenful of product
    code; it uses the public API only.
*/
#include "emu_apigw_http.h"
#include "emu_doorbody.h"
#include "emu_doorevent.h"
#include "emu_doorlog.h"
#include "emu_doormap.h"
#include "emu_frontdoor.h"
#include "emu_invoke.h"
#include "emu_listener.h"
#include "emu_mgmt.h"
#include "emu_probe.h"
#include "emu_reply.h"
#include "emu_route.h"
#include "fn_answer.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_err.h"
#include "sp_log.h"
#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_TEST_ANSWERS_MAX 2048

typedef struct {
    uint16_t port;
    int efd;        //  written when the client is done
    char ok_id[64]; //  request id of the first 200
    struct {
        int status;
        const char *function; //  NULL when none
        const char *door;
        char request_id[64];
        bool left; //  the client left before the answer: it may be undelivered
    } answers[S_TEST_ANSWERS_MAX]; //  what the access log must say, in order
    size_t answer_count;
} s_test_t;

//  Checks the headers every answer has and notes the line the access log
//  must hold for it.
static void
s_test_note(s_test_t *test, emu_probe_t *probe, const char *function, const char *door)
{
    CHECK_NOT_NULL(probe);
    char value[128];
    CHECK_NOT_NULL(
        emu_probe_header(probe, "X-Stampede-Received-Ns", value, sizeof value));
    CHECK_TRUE(strtoll(value, NULL, 10) > INT64_C(1600000000) * SP_NS_PER_S);
    CHECK_NOT_NULL(emu_probe_header(probe, "x-amzn-RequestId", value, sizeof value));
    CHECK_INT(strlen(value), 36);
    CHECK_TRUE(test->answer_count < S_TEST_ANSWERS_MAX);
    test->answers[test->answer_count].status = emu_probe_status(probe);
    test->answers[test->answer_count].function = function;
    test->answers[test->answer_count].door = door;
    snprintf(test->answers[test->answer_count].request_id, 64, "%.36s", value);
    test->answer_count++;
}

static void
s_test_check(emu_probe_t *probe, int status, const char *error_type, const char *body)
{
    CHECK_NOT_NULL(probe);
    CHECK_INT(emu_probe_status(probe), status);
    char value[128];
    if (error_type)
        CHECK_STR(emu_probe_header(probe, "x-amzn-ErrorType", value, sizeof value),
                  error_type);
    if (body)
        CHECK_STR(emu_probe_body(probe), body);
}

//  One request with `headers` (each line ending "\r\n") and `body`.
static emu_probe_t *
s_test_send(s_test_t *test, const char *method, const char *target, const char *headers,
            const char *body)
{
    char request[1024];
    int len = snprintf(request, sizeof request,
                       "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s"
                       "Content-Length: %zu\r\n\r\n%s",
                       method, target, headers, strlen(body), body);
    CHECK_TRUE(len > 0 && (size_t)len < sizeof request);
    return emu_probe_send(test->port, request, (size_t)len);
}

//  One request that must get `status` (and, unless NULL, `error_type` and
//  body `answer`) from `door` for `function` (NULL: none): checked, noted.
static void
s_test_expect(s_test_t *test, const char *method, const char *target, const char *headers,
              const char *body, const char *function, const char *door, int status,
              const char *error_type, const char *answer)
{
    emu_probe_t *probe = s_test_send(test, method, target, headers, body);
    s_test_note(test, probe, function, door);
    s_test_check(probe, status, error_type, answer);
    emu_probe_destroy(&probe);
}

//  A request to `function` (reserved 1): its one environment takes work
//  again once its runtime is back in /next, a moment after it answered;
//  until then it is throttled. Retries the throttles (each noted) until
//  served.
static emu_probe_t *
s_test_served(s_test_t *test, const char *function, const char *method,
              const char *target, const char *headers, const char *body, const char *door,
              int throttle_status)
{
    for (int i = 0; i < 800; i++) {
        emu_probe_t *probe = s_test_send(test, method, target, headers, body);
        s_test_note(test, probe, function, door);
        if (emu_probe_status(probe) != throttle_status)
            return probe;
        emu_probe_destroy(&probe);
        usleep(5000);
    }
    CHECK_TRUE(false);
    return NULL;
}

static emu_probe_t *
s_test_demo(s_test_t *test, const char *method, const char *target, const char *headers,
            const char *body, const char *door, int throttle_status)
{
    return s_test_served(test, "demo", method, target, headers, body, door,
                         throttle_status);
}

static void
s_test_function_url(s_test_t *test)
{
    s_test_expect(test, "GET", "/nothing", "", "", NULL, "mgmt", 404,
                  "ResourceNotFoundException", "{\"Message\":\"Not Found\"}");
    s_test_expect(test, "GET", "/url/missing/", "", "", NULL, "url", 404,
                  "ResourceNotFoundException", "{\"Message\":\"Function not found\"}");
    s_test_expect(test, "GET", "/url/bad.name/x", "", "", NULL, "url", 404,
                  "ResourceNotFoundException", NULL);
    s_test_expect(test, "GET", "/url/closed/", "", "", "closed", "url", 429,
                  "TooManyRequestsException", "{\"Message\":\"Rate Exceeded.\"}");

    //  Declared past the drain cap: refused before the body is sent.
    const char *big = "POST /url/demo/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Length: 100000000\r\n\r\n";
    emu_probe_t *probe = emu_probe_send(test->port, big, strlen(big));
    s_test_note(test, probe, "demo", "url");
    char expected_413[160];
    snprintf(expected_413, sizeof expected_413,
             "{\"Message\":\"Request must be smaller than %d bytes for the "
             "InvokeFunction operation\"}",
             EMU_LIMIT_PAYLOAD_MAX);
    s_test_check(probe, 413, "RequestEntityTooLargeException", expected_413);
    emu_probe_destroy(&probe);
    //  Malformed requests get MHD's 400 or a closed connection, and the
    //  door keeps serving; they leave no access-log line.
    const char *malformed = "GET / HTTP/1.1\r\nBad Header Line\r\n\r\n";
    probe = emu_probe_send(test->port, malformed, strlen(malformed));
    CHECK_NOT_NULL(probe);
    CHECK_INT(emu_probe_status(probe), 400);
    emu_probe_destroy(&probe);
    probe = emu_probe_send(test->port, "GARBAGE\r\n\r\n", 11);
    CHECK_NOT_NULL(probe);
    CHECK_INT(emu_probe_status(probe), 0);
    emu_probe_destroy(&probe);

    //  The function answers through the Function URL mapping.
    probe = emu_probe_request(test->port, "POST", "/url/demo/a/b?x=1", "{\"k\":1}");
    s_test_note(test, probe, "demo", "url");
    CHECK_INT(emu_probe_status(probe), 200);
    char id[64], type[64];
    CHECK_NOT_NULL(emu_probe_header(probe, "x-amzn-RequestId", id, sizeof id));
    snprintf(test->ok_id, sizeof test->ok_id, "%s", id);
    CHECK_STR(emu_probe_header(probe, "Content-Type", type, sizeof type),
              "application/json");
    //  The door unwrapped the bootstrap's proxy response: the facts.
    fn_answer_t answer;
    CHECK_INT(fn_answer_facts(emu_probe_body(probe), &answer), 0);
    CHECK_STR(answer.request_id, id);
    CHECK_INT(answer.cold_start, true);
    CHECK_INT(answer.invocation_count, 1);
    emu_probe_destroy(&probe);
    probe = s_test_demo(test, "GET", "/url/demo", "", "", "url", 429);
    CHECK_INT(emu_probe_status(probe), 200);
    CHECK_INT(fn_answer_facts(emu_probe_body(probe), &answer), 0);
    CHECK_INT(answer.cold_start, false);
    CHECK_INT(answer.invocation_count, 2);
    emu_probe_destroy(&probe);
    //  A qualifier the function does not have.
    s_test_expect(test, "GET", "/url/demo:nope/", "", "", "demo", "url", 404,
                  "ResourceNotFoundException", "{\"Message\":\"Function not found\"}");
}

static void
s_test_invoke_api(s_test_t *test)
{
    const char *path = "/2015-03-31/functions/demo/invocations";
    emu_probe_t *probe = s_test_demo(test, "POST", path, "", "{\"k\":1}", "invoke", 429);
    CHECK_INT(emu_probe_status(probe), 200);
    char value[256], id[64];
    CHECK_STR(emu_probe_header(probe, "X-Amz-Executed-Version", value, sizeof value),
              "$LATEST");
    CHECK_STR(emu_probe_header(probe, "Content-Type", value, sizeof value),
              "application/json");
    CHECK_NULL(emu_probe_header(probe, "X-Amz-Function-Error", value, sizeof value));
    CHECK_NULL(emu_probe_header(probe, "X-Amz-Log-Result", value, sizeof value));
    CHECK_NOT_NULL(emu_probe_header(probe, "x-amzn-RequestId", id, sizeof id));
    //  The Invoke API passes the bootstrap's proxy response through whole.
    fn_answer_t answer;
    CHECK_INT(fn_answer_proxy(emu_probe_body(probe), &answer), 0);
    CHECK_STR(answer.request_id, id);
    CHECK_INT(answer.cold_start, false);
    CHECK_INT(answer.invocation_count, 3);
    emu_probe_destroy(&probe);
    //  With the log tail, by ARN and an explicit $LATEST.
    probe = s_test_demo(
        test, "POST", "/2015-03-31/functions/demo/invocations?Qualifier=%24LATEST",
        "X-Amz-Log-Type: Tail\r\nX-Amz-Invocation-Type: RequestResponse\r\n", "",
        "invoke", 429);
    CHECK_INT(emu_probe_status(probe), 200);
    CHECK_NOT_NULL(emu_probe_header(probe, "X-Amz-Log-Result", value, sizeof value));
    CHECK_INT(fn_answer_proxy(emu_probe_body(probe), &answer), 0);
    CHECK_INT(answer.invocation_count, 4);
    emu_probe_destroy(&probe);

    s_test_expect(test, "POST", path, "X-Amz-Invocation-Type: DryRun\r\n", "", "demo",
                  "invoke", 204, NULL, "");
    s_test_expect(test, "POST", path, "X-Amz-Invocation-Type: Later\r\n", "", NULL,
                  "invoke", 400, "InvalidParameterValueException",
                  "{\"Type\":\"User\",\"message\":\"1 validation error detected: Value "
                  "'Later' at 'invocationType' failed to satisfy constraint: Member must "
                  "satisfy enum value set: [Event, RequestResponse, DryRun]\"}");
    probe = s_test_send(test, "POST", path, "", "not json");
    s_test_note(test, probe, "demo", "invoke");
    s_test_check(probe, 400, "InvalidRequestContentException", NULL);
    CHECK_TRUE(strstr(emu_probe_body(probe),
                      "\"message\":\"Could not parse request body into json: ") != NULL);
    emu_probe_destroy(&probe);
    s_test_expect(test, "POST", "/2015-03-31/functions/nope/invocations", "", "{}", NULL,
                  "invoke", 404, "ResourceNotFoundException",
                  "{\"Type\":\"User\",\"Message\":\"Function not found: "
                  "arn:aws:lambda:us-east-1:123456789012:function:nope\"}");
    s_test_expect(test, "POST", "/2015-03-31/functions/demo/invocations?Qualifier=7", "",
                  "{}", "demo", "invoke", 404, "ResourceNotFoundException",
                  "{\"Type\":\"User\",\"Message\":\"Function not found: "
                  "arn:aws:lambda:us-east-1:123456789012:function:demo:7\"}");
    s_test_expect(test, "POST", "/2015-03-31/functions/closed/invocations", "", "",
                  "closed", "invoke", 429, "TooManyRequestsException",
                  "{\"Reason\":\"ReservedFunctionConcurrentInvocationLimitExceeded\","
                  "\"Type\":\"User\",\"message\":\"Rate Exceeded.\"}");
    //  Another method on the path is the management API's (none here).
    s_test_expect(test, "GET", path, "", "", NULL, "mgmt", 404,
                  "ResourceNotFoundException", "{\"Message\":\"Not Found\"}");
    const char *big =
        "POST /2015-03-31/functions/demo/invocations HTTP/1.1\r\nHost: x\r\n"
        "Connection: close\r\nContent-Length: 100000000\r\n\r\n";
    probe = emu_probe_send(test->port, big, strlen(big));
    s_test_note(test, probe, NULL, "invoke");
    char expected_413[160];
    snprintf(expected_413, sizeof expected_413,
             "{\"Type\":\"User\",\"message\":\"Request must be smaller than %d "
             "bytes for the InvokeFunction operation\"}",
             EMU_LIMIT_PAYLOAD_MAX);
    s_test_check(probe, 413, "RequestEntityTooLargeException", expected_413);
    emu_probe_destroy(&probe);
}

//  Function "bare" answers every invocation with S_TEST_BARE_ANSWER, a
//  JSON object without statusCode (a bash runtime: the bootstrap always
//  answers in the proxy shape).
#define S_TEST_BARE_ANSWER "{\"hello\":\"world\"}"
#define S_TEST_BARE_RUNTIME                                                              \
    "#!/bin/bash\n"                                                                      \
    "export LC_ALL=C\n"                                                                  \
    "api=$AWS_LAMBDA_RUNTIME_API; host=${api%:*}; port=${api#*:}\n"                      \
    "answer='" S_TEST_BARE_ANSWER "'\n"                                                  \
    "while :; do\n"                                                                      \
    "  exec 3<>/dev/tcp/$host/$port\n"                                                   \
    "  printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: "             \
    "x\\r\\n\\r\\n' >&3\n"                                                               \
    "  len=0\n"                                                                          \
    "  while IFS= read -r line <&3; do\n"                                                \
    "    line=${line%$'\\r'}\n"                                                          \
    "    [ -z \"$line\" ] && break\n"                                                    \
    "    case $line in Lambda-Runtime-Aws-Request-Id:*) id=${line#*: } ;;\n"             \
    "      Content-Length:*) len=${line#*: } ;; esac\n"                                  \
    "  done\n"                                                                           \
    "  [ \"$len\" -gt 0 ] && read -r -N \"$len\" event <&3\n"                            \
    "  exec 3<&-\n"                                                                      \
    "  exec 4<>/dev/tcp/$host/$port\n"                                                   \
    "  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\nHost: "     \
    "x\\r\\nContent-Length: %d\\r\\n\\r\\n%s' \"$id\" ${#answer} \"$answer\" >&4\n"      \
    "  IFS= read -r status <&4\n"                                                        \
    "  exec 4<&-\n"                                                                      \
    "done\n"

static void
s_test_gateways(s_test_t *test)
{
    //  The bootstrap's proxy response, unwrapped by both gateways: the
    //  facts as the body.
    emu_probe_t *probe =
        s_test_demo(test, "GET", "/restapi/demo/items", "", "", "restapi", 500);
    CHECK_INT(emu_probe_status(probe), 200);
    char value[128], id[64];
    CHECK_STR(emu_probe_header(probe, "Content-Type", value, sizeof value),
              "application/json");
    CHECK_NOT_NULL(emu_probe_header(probe, "x-amzn-RequestId", id, sizeof id));
    fn_answer_t answer;
    CHECK_INT(fn_answer_facts(emu_probe_body(probe), &answer), 0);
    CHECK_STR(answer.request_id, id);
    CHECK_INT(answer.invocation_count, 5);
    emu_probe_destroy(&probe);
    probe = s_test_demo(test, "GET", "/httpapi/demo/items?x=1", "", "", "httpapi", 500);
    CHECK_INT(emu_probe_status(probe), 200);
    CHECK_STR(emu_probe_header(probe, "Content-Type", value, sizeof value),
              "application/json");
    CHECK_NOT_NULL(emu_probe_header(probe, "x-amzn-RequestId", id, sizeof id));
    CHECK_INT(fn_answer_facts(emu_probe_body(probe), &answer), 0);
    CHECK_STR(answer.request_id, id);
    CHECK_INT(answer.invocation_count, 6);
    emu_probe_destroy(&probe);

    //  An answer without statusCode: a malformed proxy answer for a REST
    //  API, a plain JSON body for an HTTP API.
    probe =
        s_test_served(test, "bare", "GET", "/restapi/bare/items", "", "", "restapi", 500);
    s_test_check(probe, 502, "InternalServerErrorException",
                 "{\"message\": \"Internal server error\"}");
    emu_probe_destroy(&probe);
    probe =
        s_test_served(test, "bare", "GET", "/httpapi/bare/items", "", "", "httpapi", 500);
    s_test_check(probe, 200, NULL, S_TEST_BARE_ANSWER);
    CHECK_STR(emu_probe_header(probe, "Content-Type", value, sizeof value),
              "application/json");
    emu_probe_destroy(&probe);

    s_test_expect(test, "GET", "/restapi/closed/", "", "", "closed", "restapi", 500,
                  "InternalServerErrorException",
                  "{\"message\": \"Internal server error\"}");
    s_test_expect(test, "GET", "/httpapi/closed/", "", "", "closed", "httpapi", 500, NULL,
                  "{\"message\":\"Internal Server Error\"}");
    s_test_expect(test, "GET", "/restapi/nope/", "", "", NULL, "restapi", 403, NULL,
                  "{\"message\":\"Missing Authentication Token\"}");
    s_test_expect(test, "GET", "/httpapi/nope/", "", "", NULL, "httpapi", 404, NULL,
                  "{\"message\":\"Not Found\"}");
}

//  Function "slow" holds each invocation S_TEST_HOLD_MS, longer than the
//  door's integration timeouts (S_TEST_REST_TIMEOUT_MS, _HTTP_): the API
//  Gateway doors answer at their timeout, the others wait for the function.
#define S_TEST_HOLD_MS 1000
#define S_TEST_REST_TIMEOUT_MS 200
#define S_TEST_HTTP_TIMEOUT_MS 300

static void
s_test_timeouts(s_test_t *test)
{
    int64_t start = sp_clock_mono_ns();
    emu_probe_t *probe = emu_probe_request(test->port, "GET", "/restapi/slow/x", NULL);
    int64_t waited_ms = (sp_clock_mono_ns() - start) / SP_NS_PER_MS;
    s_test_note(test, probe, "slow", "restapi");
    s_test_check(probe, 504, "InternalServerErrorException",
                 "{\"message\": \"Endpoint request timed out\"}");
    CHECK_TRUE(waited_ms >= S_TEST_REST_TIMEOUT_MS && waited_ms < S_TEST_HOLD_MS - 100);
    char value[128], id[64], expected[EMU_APIGW_GATEWAY_ID_SIZE];
    CHECK_NOT_NULL(emu_probe_header(probe, "x-amzn-RequestId", id, sizeof id));
    emu_apigw_gateway_id(id, expected);
    CHECK_STR(emu_probe_header(probe, "x-amz-apigw-id", value, sizeof value), expected);
    CHECK_STR(emu_probe_header(probe, "Content-Type", value, sizeof value),
              "application/json");
    CHECK_NULL(emu_probe_header(probe, "X-Amzn-Trace-Id", value, sizeof value));
    emu_probe_destroy(&probe);

    //  The function still runs in its one environment: the HTTP API is
    //  throttled until it is over.
    start = sp_clock_mono_ns();
    probe = s_test_served(test, "slow", "GET", "/httpapi/slow/x", "", "", "httpapi", 500);
    waited_ms = (sp_clock_mono_ns() - start) / SP_NS_PER_MS;
    s_test_check(probe, 503, NULL, "{\"message\":\"Service Unavailable\"}");
    CHECK_NULL(emu_probe_header(probe, "x-amzn-ErrorType", value, sizeof value));
    CHECK_NOT_NULL(emu_probe_header(probe, "x-amzn-RequestId", id, sizeof id));
    emu_apigw_gateway_id(id, expected);
    CHECK_STR(emu_probe_header(probe, "Apigw-Requestid", value, sizeof value), expected);
    CHECK_TRUE(waited_ms >= S_TEST_HTTP_TIMEOUT_MS);
    emu_probe_destroy(&probe);

    //  The Function URL and the Invoke API wait for the function: past both
    //  timeouts, in the same environment (not killed: still one spawn).
    start = sp_clock_mono_ns();
    probe = s_test_served(test, "slow", "GET", "/url/slow/x", "", "", "url", 429);
    CHECK_INT(emu_probe_status(probe), 200);
    fn_answer_t answer;
    CHECK_INT(fn_answer_facts(emu_probe_body(probe), &answer), 0);
    CHECK_INT(answer.cold_start, false);
    CHECK_INT(answer.invocation_count, 3);
    emu_probe_destroy(&probe);
    const char *path = "/2015-03-31/functions/slow/invocations";
    int64_t served = sp_clock_mono_ns();
    probe = s_test_served(test, "slow", "POST", path, "", "{}", "invoke", 429);
    waited_ms = (sp_clock_mono_ns() - served) / SP_NS_PER_MS;
    CHECK_INT(emu_probe_status(probe), 200);
    CHECK_INT(fn_answer_proxy(emu_probe_body(probe), &answer), 0);
    CHECK_INT(answer.invocation_count, 4);
    CHECK_TRUE(waited_ms >= S_TEST_HOLD_MS);
    emu_probe_destroy(&probe);

    //  A client that leaves (reset) while its REST API request waits: the
    //  timeout answer goes nowhere, and still leaves one access-log line
    //  when the timer fires - with "delivered":false when MHD sees the
    //  reset before it asks for the answer (which of the two comes first
    //  is MHD's affair). A throttle (the environment not yet back in
    //  /next) comes at once; a request that waits was dispatched.
    for (int i = 0;; i++) {
        CHECK_TRUE(i < 800);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons(test->port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
        const char *request = "GET /restapi/slow/left HTTP/1.1\r\nHost: x\r\n\r\n";
        CHECK_INT(write(fd, request, strlen(request)), strlen(request));
        struct pollfd ready = {.fd = fd, .events = POLLIN};
        bool answered = poll(&ready, 1, 100) == 1;
        struct linger reset = {.l_onoff = 1, .l_linger = 0};
        CHECK_INT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
        close(fd);
        CHECK_TRUE(test->answer_count < S_TEST_ANSWERS_MAX);
        size_t note = test->answer_count++;
        test->answers[note].status = answered ? 500 : 504;
        test->answers[note].function = "slow";
        test->answers[note].door = "restapi";
        test->answers[note].request_id[0] = '\0'; //  not read: not checked
        test->answers[note].left = !answered;
        if (!answered)
            break;
        usleep(5000);
    }
    usleep((S_TEST_REST_TIMEOUT_MS + 300) * 1000);
}

static void *
s_test_client(void *arg)
{
    s_test_t *test = arg;
    s_test_function_url(test);
    s_test_invoke_api(test);
    s_test_gateways(test);
    s_test_timeouts(test);
    uint64_t one = 1;
    CHECK_INT(write(test->efd, &one, sizeof one), sizeof one);
    return NULL;
}

//  Checks access-log line `text` against the answer expected: exact
//  fields in order, status, function, request id and door. Counts the
//  lines that say "delivered":false in *undelivered.
static void
s_test_log_line(const char *text, s_test_t *test, size_t index, uint64_t *undelivered)
{
    CHECK_TRUE(strncmp(text, "{\"received_ns\":", 15) == 0);
    CHECK_TRUE(strstr(text, ",\"answered_ns\":") < strstr(text, ",\"status\":"));
    CHECK_TRUE(strstr(text, ",\"status\":") < strstr(text, ",\"function\":"));
    CHECK_TRUE(strstr(text, ",\"function\":") < strstr(text, ",\"request_id\":"));
    CHECK_TRUE(strstr(text, ",\"request_id\":") < strstr(text, ",\"door\":"));
    CHECK_INT(text[strlen(text) - 1], '\n');
    json_error_t error;
    json_t *doc = json_loads(text, 0, &error);
    CHECK_NOT_NULL(doc);
    json_int_t received = 0, answered = 0;
    int status = 0;
    json_t *function = NULL;
    const char *request_id = NULL, *door = NULL;
    int delivered = 1;
    if (test->answers[index].left && strstr(text, ",\"delivered\":"))
        CHECK_INT(json_unpack(doc, "{s:I,s:I,s:i,s:o,s:s,s:s,s:b!}", "received_ns",
                              &received, "answered_ns", &answered, "status", &status,
                              "function", &function, "request_id", &request_id, "door",
                              &door, "delivered", &delivered),
                  0);
    else
        CHECK_INT(json_unpack(doc, "{s:I,s:I,s:i,s:o,s:s,s:s!}", "received_ns", &received,
                              "answered_ns", &answered, "status", &status, "function",
                              &function, "request_id", &request_id, "door", &door),
                  0);
    CHECK_TRUE(delivered || test->answers[index].left);
    *undelivered += !delivered;
    CHECK_TRUE(received > INT64_C(1600000000) * SP_NS_PER_S);
    CHECK_TRUE(answered >= received);
    CHECK_INT(status, test->answers[index].status);
    if (test->answers[index].function)
        CHECK_STR(json_string_value(function), test->answers[index].function);
    else
        CHECK_TRUE(json_is_null(function));
    if (test->answers[index].request_id[0])
        CHECK_STR(request_id, test->answers[index].request_id);
    else
        CHECK_INT(strlen(request_id), 36);
    CHECK_STR(door, test->answers[index].door);
    json_decref(doc);
}

static void
s_test_finished(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    emu_loop_stop(loop);
}

void
emu_frontdoor_test(bool verbose)
{
    emu_loop_t *loop = emu_loop_new();
    char err[256];
    CHECK_NULL(emu_frontdoor_new(loop, "localhost:0", verbose, err, sizeof err));
    CHECK_STR(err, "host must be a numeric IPv4 address or [IPv6]");
    emu_frontdoor_t *door =
        emu_frontdoor_new(loop, "127.0.0.1:0", verbose, err, sizeof err);
    CHECK_NOT_NULL(door);
    CHECK_TRUE(emu_frontdoor_port(door) > 0);

    const char *pairs[] = {"STAMPEDE_HOLD_MS=0"};
    emu_function_config_t demo = {.name = "demo",
                                  .path = EMU_TEST_BOOTSTRAP,
                                  .reserved = 1,
                                  .env = pairs,
                                  .env_count = 1,
                                  .timeout_s = 3};
    emu_function_config_t closed = {
        .name = "closed", .path = EMU_TEST_BOOTSTRAP, .reserved = 0, .timeout_s = 3};
    char hold[32];
    snprintf(hold, sizeof hold, "STAMPEDE_HOLD_MS=%d", S_TEST_HOLD_MS);
    const char *slow_pairs[] = {hold};
    emu_function_config_t slow = {.name = "slow",
                                  .path = EMU_TEST_BOOTSTRAP,
                                  .reserved = 1,
                                  .env = slow_pairs,
                                  .env_count = 1,
                                  .timeout_s = 3};
    char bare_dir[] = "/tmp/emu_frontdoor_testXXXXXX";
    CHECK_NOT_NULL(mkdtemp(bare_dir));
    char bare_path[64];
    snprintf(bare_path, sizeof bare_path, "%s/bootstrap", bare_dir);
    FILE *script = fopen(bare_path, "w");
    CHECK_NOT_NULL(script);
    CHECK_TRUE(fputs(S_TEST_BARE_RUNTIME, script) >= 0);
    CHECK_INT(fclose(script), 0);
    CHECK_INT(chmod(bare_path, 0755), 0);
    emu_function_config_t bare = {
        .name = "bare", .path = bare_path, .reserved = 1, .timeout_s = 3};
    emu_function_t *functions[4] = {
        emu_function_new(loop, &demo, verbose), emu_function_new(loop, &closed, verbose),
        emu_function_new(loop, &slow, verbose), emu_function_new(loop, &bare, verbose)};
    for (size_t i = 0; i < 4; i++)
        CHECK_INT(emu_frontdoor_add_function(door, functions[i]), 0);
    emu_frontdoor_set_gateway_timeouts(door, S_TEST_REST_TIMEOUT_MS * SP_NS_PER_MS,
                                       S_TEST_HTTP_TIMEOUT_MS * SP_NS_PER_MS);

    FILE *access_log = tmpfile();
    CHECK_NOT_NULL(access_log);
    emu_frontdoor_set_access_log(door, access_log);

    s_test_t *test = calloc(1, sizeof *test);
    CHECK_NOT_NULL(test);
    test->port = emu_frontdoor_port(door);
    test->efd = eventfd(0, EFD_CLOEXEC);
    CHECK_INT(emu_loop_watch(loop, test->efd, EPOLLIN, s_test_finished, NULL), 0);
    pthread_t client;
    CHECK_INT(pthread_create(&client, NULL, s_test_client, test), 0);
    CHECK_INT(emu_loop_run(loop), 0);
    pthread_join(client, NULL);

    //  Every answer counted by kind; MHD answered the malformed requests
    //  itself.
    emu_frontdoor_stats_t stats;
    emu_frontdoor_stats(door, &stats);
    CHECK_INT(stats.requests, test->answer_count);
    uint64_t ok = 0, throttled = 0;
    for (size_t i = 0; i < test->answer_count; i++) {
        int status = test->answers[i].status;
        ok += status >= 200 && status < 300;
        throttled += status == 429 || (status == 500 && test->answers[i].function);
    }
    CHECK_INT(stats.ok, ok);
    CHECK_INT(stats.throttled, throttled);
    CHECK_INT(stats.errors, stats.requests - ok - throttled);
    CHECK_INT(stats.waiting, 0);
    CHECK_INT(stats.log_errors, 0);
    CHECK_TRUE(stats.undelivered <= 1);
    CHECK_INT(stats.timeouts, 3);
    //  The last timed-out invocation still runs when the client is done.
    CHECK_INT(stats.abandoned, 1);
    emu_function_stats_t demo_stats;
    emu_function_stats(functions[0], &demo_stats);
    CHECK_INT(demo_stats.spawns, 1);
    emu_function_stats(functions[2], &demo_stats);
    CHECK_INT(demo_stats.spawns, 1);
    CHECK_INT(demo_stats.invocations, 5);
    emu_function_stats(functions[3], &demo_stats);
    CHECK_INT(demo_stats.spawns, 1);
    CHECK_INT(demo_stats.invocations, 2);

    //  One line per answer, in order; MHD's own 400 and the dropped
    //  garbage request left none.
    CHECK_INT(fflush(access_log), 0);
    rewind(access_log);
    char text[1024];
    size_t lines = 0;
    uint64_t undelivered = 0;
    while (fgets(text, sizeof text, access_log)) {
        CHECK_TRUE(lines < test->answer_count);
        s_test_log_line(text, test, lines, &undelivered);
        if (lines == 0)
            CHECK_STR(test->answers[lines].door, "mgmt");
        lines++;
    }
    CHECK_INT(lines, test->answer_count);
    CHECK_INT(undelivered, stats.undelivered);
    CHECK_STR(test->answers[5].request_id, test->ok_id);
    emu_frontdoor_set_access_log(door, NULL);
    fclose(access_log);
    emu_loop_unwatch(loop, test->efd);
    close(test->efd);
    free(test);
    //  Destroying its function hands the abandoned invocation back.
    for (size_t i = 0; i < 4; i++)
        emu_function_destroy(&functions[i]);
    CHECK_INT(unlink(bare_path), 0);
    CHECK_INT(rmdir(bare_dir), 0);
    emu_frontdoor_stats(door, &stats);
    CHECK_INT(stats.abandoned, 0);
    emu_frontdoor_destroy(&door);
    CHECK_NULL(door);
    emu_frontdoor_destroy(&door);
    emu_loop_destroy(&loop);
}
