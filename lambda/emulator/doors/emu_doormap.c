/*  emu_doormap — each door's answer to an outcome; see emu_doormap.h. */
#include "emu_doormap.h"
#include "emu_apigw_http.h"
#include "emu_furl_map.h"
#include "emu_limits.h"
#include "sp_check.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

emu_reply_t *
emu_doormap_aws(const emu_aws_error_t *err)
{
    assert(err);
    emu_reply_t *reply = emu_aws_error_reply(err);
    if (reply)
        return reply;
    emu_aws_error_t safe = *err;
    for (char *c = safe.message; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    return emu_aws_error_reply(&safe);
}

emu_reply_t *
emu_doormap_not_found(emu_route_door_t door)
{
    switch (door) {
    case EMU_ROUTE_REST_API:
        return emu_apigw_rest_not_found();
    case EMU_ROUTE_HTTP_API:
        return emu_apigw_http_not_found();
    case EMU_ROUTE_FUNCTION_URL:
        return emu_furl_map_error(404, "ResourceNotFoundException", "Function not found");
    case EMU_ROUTE_INVOKE: {
        //  The FunctionName fits none of AWS's forms.
        emu_aws_error_t err;
        emu_aws_error_set(
            &err, 400, "ValidationException",
            "1 validation error detected: Value at 'functionName' failed "
            "to satisfy constraint: Member must satisfy regular expression "
            "pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+"
            "-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST"
            "|[a-zA-Z0-9-_]+))?");
        return emu_doormap_aws(&err);
    }
    case EMU_ROUTE_NONE:
    case EMU_ROUTE_BAD_NAME:
        break;
    }
    return emu_furl_map_error(404, "ResourceNotFoundException", "Not Found");
}

emu_reply_t *
emu_doormap_too_large(emu_route_door_t door, emu_invoke_type_t type, size_t len)
{
    emu_aws_error_t err;
    switch (door) {
    case EMU_ROUTE_REST_API:
        return emu_apigw_rest_too_large();
    case EMU_ROUTE_HTTP_API:
        return emu_apigw_http_too_large();
    case EMU_ROUTE_FUNCTION_URL: {
        char message[128];
        snprintf(message, sizeof message,
                 "Request must be smaller than %d bytes for the InvokeFunction operation",
                 EMU_LIMIT_PAYLOAD_MAX);
        return emu_furl_map_error(413, "RequestEntityTooLargeException", message);
    }
    case EMU_ROUTE_INVOKE:
        emu_invoke_too_large(type, len, &err);
        return emu_doormap_aws(&err);
    case EMU_ROUTE_NONE:
    case EMU_ROUTE_BAD_NAME:
        break;
    }
    assert(false);
    return NULL;
}

emu_reply_t *
emu_doormap_refused(emu_route_door_t door, const emu_aws_error_t *err,
                    int httpapi_throttle_status, bool *throttled_p)
{
    assert(err && throttled_p);
    if (err->status != 429)
        return door == EMU_ROUTE_INVOKE ? emu_doormap_aws(err)
                                        : emu_doormap_not_found(door);
    *throttled_p = true;
    switch (door) {
    case EMU_ROUTE_REST_API:
        return emu_apigw_rest_throttle();
    case EMU_ROUTE_HTTP_API:
        return emu_apigw_http_throttle(httpapi_throttle_status);
    case EMU_ROUTE_FUNCTION_URL:
        return emu_furl_map_throttle();
    default:
        return emu_doormap_aws(err);
    }
}

emu_reply_t *
emu_doormap_reply(emu_route_door_t door, emu_invocation_t *invocation, bool tail)
{
    assert(invocation);
    switch (door) {
    case EMU_ROUTE_REST_API:
        return emu_apigw_rest_reply(invocation);
    case EMU_ROUTE_HTTP_API:
        return emu_apigw_http_reply(invocation);
    case EMU_ROUTE_INVOKE:
        return emu_invoke_reply(invocation, tail);
    default:
        return emu_furl_map_reply(invocation);
    }
}

emu_reply_t *
emu_doormap_timeout(emu_route_door_t door, const char *request_id)
{
    assert(request_id);
    assert(door == EMU_ROUTE_REST_API || door == EMU_ROUTE_HTTP_API);
    char gateway_id[EMU_APIGW_GATEWAY_ID_SIZE];
    emu_apigw_gateway_id(request_id, gateway_id);
    bool rest = door == EMU_ROUTE_REST_API;
    emu_reply_t *reply = rest ? emu_apigw_rest_timeout() : emu_apigw_http_timeout();
    if (reply && emu_reply_set_header(reply, rest ? "x-amz-apigw-id" : "Apigw-Requestid",
                                      gateway_id))
        emu_reply_destroy(&reply);
    return reply;
}

//  --- selftest -----------------------------------------------------------

static void
s_check(emu_reply_t *reply, int status, const char *type, const char *body)
{
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), status);
    if (type)
        CHECK_STR(emu_reply_header(reply, "x-amzn-ErrorType"), type);
    else
        CHECK_NULL(emu_reply_header(reply, "x-amzn-ErrorType"));
    CHECK_STR(emu_reply_body(reply, NULL), body);
    emu_reply_destroy(&reply);
}

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
}

void
emu_doormap_test(bool verbose)
{
    (void)verbose;
    s_check(emu_doormap_not_found(EMU_ROUTE_NONE), 404, "ResourceNotFoundException",
            "{\"Message\":\"Not Found\"}");
    s_check(emu_doormap_not_found(EMU_ROUTE_BAD_NAME), 404, "ResourceNotFoundException",
            "{\"Message\":\"Not Found\"}");
    s_check(emu_doormap_not_found(EMU_ROUTE_FUNCTION_URL), 404,
            "ResourceNotFoundException", "{\"Message\":\"Function not found\"}");
    s_check(emu_doormap_not_found(EMU_ROUTE_REST_API), 403,
            "MissingAuthenticationTokenException",
            "{\"message\":\"Missing Authentication Token\"}");
    s_check(emu_doormap_not_found(EMU_ROUTE_HTTP_API), 404, NULL,
            "{\"message\":\"Not Found\"}");
    emu_reply_t *reply = emu_doormap_not_found(EMU_ROUTE_INVOKE);
    CHECK_TRUE(strstr(emu_reply_body(reply, NULL), "failed to satisfy constraint") !=
               NULL);
    s_check(reply, 400, "ValidationException", emu_reply_body(reply, NULL));

    //  Too large, each door in its words; the limits named from emu_limits.
    char expected[256];
    snprintf(expected, sizeof expected,
             "{\"Message\":\"Request must be smaller than %d bytes for the "
             "InvokeFunction operation\"}",
             EMU_LIMIT_PAYLOAD_MAX);
    s_check(emu_doormap_too_large(EMU_ROUTE_FUNCTION_URL, EMU_INVOKE_REQUEST_RESPONSE, 7),
            413, "RequestEntityTooLargeException", expected);
    snprintf(expected, sizeof expected,
             "{\"Type\":\"User\",\"message\":\"Request must be smaller than %d bytes for "
             "the InvokeFunction operation\"}",
             EMU_LIMIT_PAYLOAD_MAX);
    s_check(emu_doormap_too_large(EMU_ROUTE_INVOKE, EMU_INVOKE_REQUEST_RESPONSE, 7), 413,
            "RequestEntityTooLargeException", expected);
    snprintf(expected, sizeof expected,
             "{\"Type\":\"User\",\"message\":\"7000000 byte payload is too large for the "
             "Event invocation type (limit %d bytes)\"}",
             EMU_LIMIT_EVENT_PAYLOAD_MAX);
    s_check(emu_doormap_too_large(EMU_ROUTE_INVOKE, EMU_INVOKE_EVENT, 7000000), 413,
            "RequestEntityTooLargeException", expected);
    s_check(emu_doormap_too_large(EMU_ROUTE_REST_API, EMU_INVOKE_REQUEST_RESPONSE, 7),
            413, "BadRequestException", "{\"message\": \"Request Too Long\"}");
    s_check(emu_doormap_too_large(EMU_ROUTE_HTTP_API, EMU_INVOKE_REQUEST_RESPONSE, 7),
            413, NULL, "{\"message\":\"Request Entity Too Large\"}");

    //  Throttles and unknown qualifiers.
    emu_aws_error_t throttle, missing;
    emu_aws_error_set(&throttle, 429, "TooManyRequestsException", "Rate Exceeded.");
    emu_aws_error_function_not_found(&missing, "demo", "7");
    bool throttled = false;
    s_check(emu_doormap_refused(EMU_ROUTE_FUNCTION_URL, &missing, 500, &throttled), 404,
            "ResourceNotFoundException", "{\"Message\":\"Function not found\"}");
    CHECK_TRUE(!throttled);
    reply = emu_doormap_refused(EMU_ROUTE_INVOKE, &missing, 500, &throttled);
    CHECK_INT(emu_reply_status(reply), 404);
    CHECK_TRUE(!throttled);
    emu_reply_destroy(&reply);
    s_check(emu_doormap_refused(EMU_ROUTE_FUNCTION_URL, &throttle, 500, &throttled), 429,
            "TooManyRequestsException", "{\"Message\":\"Rate Exceeded.\"}");
    CHECK_TRUE(throttled);
    s_check(emu_doormap_refused(EMU_ROUTE_REST_API, &throttle, 500, &throttled), 500,
            "InternalServerErrorException", "{\"message\": \"Internal server error\"}");
    s_check(emu_doormap_refused(EMU_ROUTE_HTTP_API, &throttle, 500, &throttled), 500,
            NULL, "{\"message\":\"Internal Server Error\"}");
    s_check(emu_doormap_refused(EMU_ROUTE_HTTP_API, &throttle, 429, &throttled), 429,
            NULL, "{\"message\":\"Too Many Requests\"}");
    s_check(emu_doormap_refused(EMU_ROUTE_INVOKE, &throttle, 500, &throttled), 429,
            "TooManyRequestsException",
            "{\"Type\":\"User\",\"message\":\"Rate Exceeded.\"}");

    //  A message that is not UTF-8 still gets an answer.
    emu_aws_error_t bad;
    emu_aws_error_set(&bad, 400, "InvalidParameterValueException", "bad \xff name");
    s_check(emu_doormap_aws(&bad), 400, "InvalidParameterValueException",
            "{\"Type\":\"User\",\"message\":\"bad ? name\"}");

    //  Gateway timeouts carry the gateway's request id.
    const char *id = "11111111-2222-4333-8444-555555555555";
    char gateway_id[EMU_APIGW_GATEWAY_ID_SIZE];
    emu_apigw_gateway_id(id, gateway_id);
    reply = emu_doormap_timeout(EMU_ROUTE_REST_API, id);
    CHECK_STR(emu_reply_header(reply, "x-amz-apigw-id"), gateway_id);
    s_check(reply, 504, "InternalServerErrorException",
            "{\"message\": \"Endpoint request timed out\"}");
    reply = emu_doormap_timeout(EMU_ROUTE_HTTP_API, id);
    CHECK_STR(emu_reply_header(reply, "Apigw-Requestid"), gateway_id);
    s_check(reply, 503, NULL, "{\"message\":\"Service Unavailable\"}");

    //  A function error, door by door.
    emu_route_door_t doors[] = {EMU_ROUTE_FUNCTION_URL, EMU_ROUTE_REST_API,
                                EMU_ROUTE_HTTP_API, EMU_ROUTE_INVOKE};
    int statuses[] = {502, 502, 500, 200};
    const char *bodies[] = {"Internal Server Error",
                            "{\"message\": \"Internal server error\"}",
                            "{\"message\":\"Internal Server Error\"}",
                            "{\"errorMessage\":\"boom\",\"errorType\":\"E\"}"};
    for (size_t i = 0; i < 4; i++) {
        char *event = strdup("{}");
        emu_invocation_t *invocation =
            emu_invocation_new(id, &event, 2, s_test_done, NULL);
        CHECK_NOT_NULL(invocation);
        emu_invocation_t *borrowed = invocation;
        emu_invocation_fail(&borrowed, EMU_INVOCATION_FUNCTION_ERROR, "E", "boom");
        reply = emu_doormap_reply(doors[i], invocation, false);
        CHECK_INT(emu_reply_status(reply), statuses[i]);
        CHECK_STR(emu_reply_body(reply, NULL), bodies[i]);
        emu_reply_destroy(&reply);
        emu_invocation_destroy(&invocation);
    }
}
