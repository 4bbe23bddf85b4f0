/*  agent_door — throttles by front door; see agent_door.h. The gateway
    words compared here are AWS's, as the emulator's doors answer them
    (lambda/emulator/doors/emu_apigw*.c; sources in
    docs/lambda-fidelity.md). */
#include "agent_door.h"
#include "sp_check.h"

#include <curl/curl.h>
#include <string.h>

#define S_REST_INTERNAL "Internal server error"
#define S_HTTP_INTERNAL "Internal Server Error"
#define S_GATEWAY_THROTTLE "Too Many Requests"

static bool
s_is(const char *text, const char *want)
{
    return text && strcmp(text, want) == 0;
}

//  DOOR_APIGW made concrete by the answer's marks, when it has one.
static Stampede__Door
s_resolve(Stampede__Door door, const agent_door_answer_t *answer)
{
    if (door != STAMPEDE__DOOR__DOOR_APIGW)
        return door;
    if (answer->rest_api)
        return STAMPEDE__DOOR__DOOR_APIGW_REST;
    if (answer->http_api)
        return STAMPEDE__DOOR__DOOR_APIGW_HTTP;
    return door;
}

//  The throttle source of a `status` answer through `door`, or NONE.
static Stampede__ThrottleSource
s_throttle(Stampede__Door door, long status, const agent_door_answer_t *answer)
{
    bool rest = door == STAMPEDE__DOOR__DOOR_APIGW_REST;
    bool http = door == STAMPEDE__DOOR__DOOR_APIGW_HTTP;
    bool gateway = rest || http || door == STAMPEDE__DOOR__DOOR_APIGW;
    if (gateway && status == 429)
        return s_is(answer->message, S_GATEWAY_THROTTLE)
                   ? STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_GATEWAY
                   : STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE;
    if (gateway && status == 500) {
        bool rest_words = s_is(answer->error_type, "InternalServerErrorException") ||
                          s_is(answer->message, S_REST_INTERNAL);
        bool http_words = s_is(answer->message, S_HTTP_INTERNAL);
        bool words = rest ? rest_words : http ? http_words : rest_words || http_words;
        return words ? STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_LAMBDA_VIA_GATEWAY
                     : STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE;
    }
    if (status != 429)
        return STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE;
    if (door == STAMPEDE__DOOR__DOOR_FUNCTION_URL || door == STAMPEDE__DOOR__DOOR_INVOKE)
        return STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_LAMBDA;
    return STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_HTTP;
}

agent_door_verdict_t
agent_door_classify(Stampede__Door door, int curl_code, long http_status,
                    const agent_door_answer_t *answer)
{
    assert(answer);
    agent_door_verdict_t verdict = {.outcome = STAMPEDE__OUTCOME__OUTCOME_OTHER_ERROR,
                                    .door = s_resolve(door, answer),
                                    .source =
                                        STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE};
    switch (curl_code) {
    case CURLE_OK:
        break;
    case CURLE_OPERATION_TIMEDOUT:
        verdict.outcome = STAMPEDE__OUTCOME__OUTCOME_TIMEOUT;
        return verdict;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        verdict.outcome = STAMPEDE__OUTCOME__OUTCOME_CONNECT_ERROR;
        return verdict;
    default:
        return verdict;
    }
    if (answer->function_error) {
        verdict.outcome = STAMPEDE__OUTCOME__OUTCOME_FUNCTION_ERROR;
        return verdict;
    }
    verdict.source = s_throttle(verdict.door, http_status, answer);
    if (verdict.source != STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE)
        verdict.outcome = STAMPEDE__OUTCOME__OUTCOME_THROTTLED;
    else if (http_status >= 200 && http_status <= 299)
        verdict.outcome = STAMPEDE__OUTCOME__OUTCOME_OK;
    else
        verdict.outcome = STAMPEDE__OUTCOME__OUTCOME_HTTP_ERROR;
    return verdict;
}

//  --------------------------------------------------------------------------
//  Selftest

typedef struct {
    Stampede__Door door;
    int curl_code;
    long status;
    agent_door_answer_t answer;
    const char *outcome;
    Stampede__Door door_out;
    const char *source; //  NULL: none
} s_case_t;

void
agent_door_test(bool verbose)
{
    const Stampede__Door url = STAMPEDE__DOOR__DOOR_FUNCTION_URL,
                         invoke = STAMPEDE__DOOR__DOOR_INVOKE,
                         rest = STAMPEDE__DOOR__DOOR_APIGW_REST,
                         hapi = STAMPEDE__DOOR__DOOR_APIGW_HTTP,
                         apigw = STAMPEDE__DOOR__DOOR_APIGW,
                         http = STAMPEDE__DOOR__DOOR_HTTP;
    const agent_door_answer_t none = {0};
    const agent_door_answer_t rest_500 = {.rest_api = true,
                                          .error_type = "InternalServerErrorException",
                                          .message = "Internal server error"};
    const agent_door_answer_t rest_500_bare = {.message = "Internal server error"};
    const agent_door_answer_t http_500 = {.http_api = true,
                                          .message = "Internal Server Error"};
    const agent_door_answer_t stage_429 = {.message = "Too Many Requests"};
    const agent_door_answer_t rest_stage_429 = {.rest_api = true,
                                                .message = "Too Many Requests"};
    const agent_door_answer_t own_500 = {.http_api = true, .message = "boom"};
    const agent_door_answer_t fn_error = {.function_error = true};
    const s_case_t cases[] = {
        //  Lambda's own doors.
        {url, CURLE_OK, 429, none, "throttled", url, "lambda"},
        {invoke, CURLE_OK, 429, none, "throttled", invoke, "lambda"},
        {url, CURLE_OK, 500, none, "http_error", url, NULL},
        {invoke, CURLE_OK, 200, none, "ok", invoke, NULL},
        {invoke, CURLE_OK, 200, fn_error, "function_error", invoke, NULL},
        {invoke, CURLE_OK, 429, fn_error, "function_error", invoke, NULL},
        //  REST API: 500 is the integration failure, 502 a function error.
        {rest, CURLE_OK, 500, rest_500, "throttled", rest, "lambda_via_gateway"},
        {rest, CURLE_OK, 500, rest_500_bare, "throttled", rest, "lambda_via_gateway"},
        {rest, CURLE_OK, 500, http_500, "http_error", rest, NULL},
        {rest, CURLE_OK, 502, rest_500, "http_error", rest, NULL},
        {rest, CURLE_OK, 429, stage_429, "throttled", rest, "gateway"},
        {rest, CURLE_OK, 429, none, "http_error", rest, NULL},
        {rest, CURLE_OK, 200, none, "ok", rest, NULL},
        //  HTTP API: 500 with its words; the function's own 500 is not.
        {hapi, CURLE_OK, 500, http_500, "throttled", hapi, "lambda_via_gateway"},
        {hapi, CURLE_OK, 500, rest_500, "http_error", hapi, NULL},
        {hapi, CURLE_OK, 500, own_500, "http_error", hapi, NULL},
        {hapi, CURLE_OK, 429, stage_429, "throttled", hapi, "gateway"},
        //  execute-api, flavour from the answer's marks.
        {apigw, CURLE_OK, 500, rest_500, "throttled", rest, "lambda_via_gateway"},
        {apigw, CURLE_OK, 500, http_500, "throttled", hapi, "lambda_via_gateway"},
        {apigw, CURLE_OK, 500, rest_500_bare, "throttled", apigw, "lambda_via_gateway"},
        {apigw, CURLE_OK, 429, rest_stage_429, "throttled", rest, "gateway"},
        {apigw, CURLE_OK, 503, none, "http_error", apigw, NULL},
        //  Any other server: 429 is a throttle, 500 an error.
        {http, CURLE_OK, 429, none, "throttled", http, "http"},
        {http, CURLE_OK, 500, rest_500, "http_error", http, NULL},
        {http, CURLE_OK, 204, none, "ok", http, NULL},
        {http, CURLE_OK, 302, none, "http_error", http, NULL},
        {http, CURLE_OK, 199, none, "http_error", http, NULL},
        //  Transport failures first.
        {rest, CURLE_OPERATION_TIMEDOUT, 500, rest_500, "timeout", rest, NULL},
        {url, CURLE_COULDNT_CONNECT, 0, none, "connect_error", url, NULL},
        {url, CURLE_COULDNT_RESOLVE_HOST, 0, none, "connect_error", url, NULL},
        {url, CURLE_RECV_ERROR, 0, none, "other_error", url, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const s_case_t *c = &cases[i];
        agent_door_verdict_t v =
            agent_door_classify(c->door, c->curl_code, c->status, &c->answer);
        if (verbose)
            printf("(case %zu) ", i);
        CHECK_STR(proto_outcome_name(v.outcome), c->outcome);
        CHECK_INT(v.door, c->door_out);
        if (c->source)
            CHECK_STR(proto_throttle_source_name(v.source), c->source);
        else
            CHECK_INT(v.source, STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE);
    }
}
