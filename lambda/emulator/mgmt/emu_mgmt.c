/*  emu_mgmt — the Lambda management API; see emu_mgmt.h.

    Routing only: a target is ours when its path starts with an API date
    ("/2015-03-31/"...) and is not an Invoke path; s_routes then names the
    operation from the method and the path shape (404
    UnknownOperationException when none fits), and the request
    (emu_mgmt_req) is answered by the operation's module: emu_mgmt_fn
    (functions, versions), emu_mgmt_alias, emu_mgmt_conc (reserved and
    provisioned concurrency, account settings).

    No state of its own; the account is borrowed for the call.
*/
#include "emu_mgmt.h"
#include "emu_mgmt_alias.h"
#include "emu_mgmt_conc.h"
#include "emu_mgmt_fn.h"
#include "emu_mgmt_selftest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  One operation at its path. In `path`, "{fn}" and "{alias}" match any
//  non-empty segment; a trailing '/' on the request is ignored.
typedef struct {
    const char *method;
    const char *path;
    const char *name; //  AWS's operation name
    bool has_body;    //  takes a JSON body
    emu_mgmt_op_fn *op;
} s_route_t;

static const s_route_t s_routes[] = {
    {"GET", "/2015-03-31/functions", "ListFunctions", false, emu_mgmt_fn_list},
    {"GET", "/2015-03-31/functions/{fn}", "GetFunction", false, emu_mgmt_fn_get},
    {"GET", "/2015-03-31/functions/{fn}/configuration", "GetFunctionConfiguration", false,
     emu_mgmt_fn_get_configuration},
    {"PUT", "/2015-03-31/functions/{fn}/configuration", "UpdateFunctionConfiguration",
     true, emu_mgmt_fn_update_configuration},
    {"PUT", "/2017-10-31/functions/{fn}/concurrency", "PutFunctionConcurrency", true,
     emu_mgmt_conc_put_reserved},
    {"GET", "/2019-09-30/functions/{fn}/concurrency", "GetFunctionConcurrency", false,
     emu_mgmt_conc_get_reserved},
    {"DELETE", "/2017-10-31/functions/{fn}/concurrency", "DeleteFunctionConcurrency",
     false, emu_mgmt_conc_delete_reserved},
    {"PUT", "/2019-09-30/functions/{fn}/provisioned-concurrency",
     "PutProvisionedConcurrencyConfig", true, emu_mgmt_conc_put_provisioned},
    //  ?List=ALL makes it ListProvisionedConcurrencyConfigs.
    {"GET", "/2019-09-30/functions/{fn}/provisioned-concurrency",
     "GetProvisionedConcurrencyConfig", false, emu_mgmt_conc_get_provisioned},
    {"DELETE", "/2019-09-30/functions/{fn}/provisioned-concurrency",
     "DeleteProvisionedConcurrencyConfig", false, emu_mgmt_conc_delete_provisioned},
    {"POST", "/2015-03-31/functions/{fn}/versions", "PublishVersion", true,
     emu_mgmt_fn_publish_version},
    {"GET", "/2015-03-31/functions/{fn}/versions", "ListVersionsByFunction", false,
     emu_mgmt_fn_list_versions},
    {"POST", "/2015-03-31/functions/{fn}/aliases", "CreateAlias", true,
     emu_mgmt_alias_create},
    {"GET", "/2015-03-31/functions/{fn}/aliases", "ListAliases", false,
     emu_mgmt_alias_list},
    {"GET", "/2015-03-31/functions/{fn}/aliases/{alias}", "GetAlias", false,
     emu_mgmt_alias_get},
    {"PUT", "/2015-03-31/functions/{fn}/aliases/{alias}", "UpdateAlias", true,
     emu_mgmt_alias_update},
    {"DELETE", "/2015-03-31/functions/{fn}/aliases/{alias}", "DeleteAlias", false,
     emu_mgmt_alias_delete},
    {"GET", "/2016-08-19/account-settings", "GetAccountSettings", false,
     emu_mgmt_conc_account_settings},
};

//  True when `target` starts with "/YYYY-MM-DD/", as every Lambda API path.
static bool
s_api_path(const char *target)
{
    static const char shape[] = "/9999-99-99/";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        char c = target[i];
        if (shape[i] == '9' ? !isdigit((unsigned char)c) : c != shape[i])
            return false;
    }
    return true;
}

//  True for the Invoke API's paths: front doors, not ours.
static bool
s_invoke_path(emu_mgmt_req_t *req)
{
    return emu_mgmt_req_segment_count(req) == 4 &&
           strcmp(emu_mgmt_req_segment(req, 1), "functions") == 0 &&
           (strcmp(emu_mgmt_req_segment(req, 3), "invocations") == 0 ||
            strcmp(emu_mgmt_req_segment(req, 3), "invoke-async") == 0);
}

//  The route `method` and the request's segments name, or NULL; names
//  the operation, the function and the alias on the request.
static const s_route_t *
s_route(emu_mgmt_req_t *req, const char *method)
{
    size_t count = emu_mgmt_req_segment_count(req);
    for (size_t r = 0; r < sizeof s_routes / sizeof s_routes[0]; r++) {
        const s_route_t *route = &s_routes[r];
        const char *p = route->path + 1;
        size_t i = 0;
        const char *fn = NULL, *alias = NULL;
        bool match = true;
        while (*p && match) {
            size_t len = strcspn(p, "/");
            const char *segment = i < count ? emu_mgmt_req_segment(req, i) : NULL;
            if (!segment)
                match = false;
            else if (len == 4 && strncmp(p, "{fn}", 4) == 0)
                fn = segment;
            else if (len == 7 && strncmp(p, "{alias}", 7) == 0)
                alias = segment;
            else if (strlen(segment) != len || strncmp(p, segment, len) != 0)
                match = false;
            i++;
            p += len + (p[len] == '/');
        }
        if (!match || i != count)
            continue;
        //  An empty name cannot be a function or an alias: no route.
        if ((fn && !*fn) || (alias && !*alias))
            continue;
        if (strcmp(route->method, method) != 0)
            continue;
        emu_mgmt_req_set_operation(req, route->name, fn, alias);
        return route;
    }
    return NULL;
}

//  Answers an unknown operation.
static emu_reply_t *
s_unknown(emu_mgmt_req_t *req)
{
    emu_aws_error_set(emu_mgmt_req_err(req), 404, "UnknownOperationException",
                      "Unknown operation");
    return emu_mgmt_req_error_reply(req);
}

emu_reply_t *
emu_mgmt_handle(emu_account_t *account, const char *method, const char *target,
                const void *body, size_t body_len)
{
    assert(account && method && target && (body || body_len == 0));
    if (!s_api_path(target))
        return NULL;
    emu_mgmt_req_t *req = emu_mgmt_req_new(account, target);
    if (!req)
        return NULL;
    emu_reply_t *reply = NULL;
    const s_route_t *route = NULL;
    if (emu_mgmt_req_failed(req))
        reply = emu_mgmt_req_error_reply(req);
    else if (s_invoke_path(req))
        reply = NULL;
    else if (!(route = s_route(req, method)))
        reply = s_unknown(req);
    else
        reply = emu_mgmt_req_answer(req, route->op, route->has_body, body, body_len);
    emu_mgmt_req_destroy(&req);
    return reply;
}

//  -------------------------------------------------------------------------
//  Selftest

#define S_FN EMU_MGMT_TEST_FN

static void
s_test_error(emu_account_t *account, const char *method, const char *target,
             const char *body, int status, const char *type, const char *message)
{
    emu_reply_t *reply =
        emu_mgmt_handle(account, method, target, body, body ? strlen(body) : 0);
    json_decref(emu_mgmt_test_check(reply, target, status, type, message));
}

void
emu_mgmt_test(bool verbose)
{
    emu_mgmt_fixture_t *fixture = emu_mgmt_fixture_new();
    emu_account_t *account = fixture->account;

    //  Not ours: the front doors answer these.
    CHECK_NULL(emu_mgmt_handle(account, "GET", "/url/demo/", NULL, 0));
    CHECK_NULL(emu_mgmt_handle(account, "POST", S_FN "demo/invocations", "{}", 2));
    CHECK_NULL(emu_mgmt_handle(account, "DELETE", S_FN "demo/invocations", NULL, 0));
    CHECK_NULL(emu_mgmt_handle(account, "POST", S_FN "demo/invoke-async", "{}", 2));
    CHECK_NULL(emu_mgmt_handle(account, "GET", "/", NULL, 0));
    CHECK_NULL(emu_mgmt_handle(account, "GET", "/2015-03-3x/functions", NULL, 0));

    //  Unknown operations, in AWS's error shape exactly.
    emu_reply_t *reply = emu_mgmt_handle(account, "GET", "/2015-03-31/nothing", NULL, 0);
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), 404);
    CHECK_STR(emu_reply_header(reply, "x-amzn-ErrorType"), "UnknownOperationException");
    size_t len;
    CHECK_STR(emu_reply_body(reply, &len),
              "{\"Type\":\"User\",\"message\":\"Unknown operation\"}");
    emu_reply_destroy(&reply);
    s_test_error(account, "PATCH", S_FN "demo", NULL, 404, "UnknownOperationException",
                 NULL);
    s_test_error(account, "DELETE", S_FN "demo/configuration", NULL, 404,
                 "UnknownOperationException", NULL);
    s_test_error(account, "GET", S_FN "demo//configuration", NULL, 404,
                 "UnknownOperationException", NULL);
    s_test_error(account, "GET", S_FN "demo/aliases/", NULL, 200, NULL, NULL);
    s_test_error(account, "GET", "/2015-03-31/functions/a/b/c/d/e/f/g/h/i", NULL, 404,
                 "UnknownOperationException", NULL);

    //  Every operation at its path (with and without a trailing '/'),
    //  answered by its module: the errors tell which one ran.
    s_test_error(account, "GET", S_FN, NULL, 200, NULL, NULL);
    s_test_error(account, "GET", S_FN "nope", NULL, 404, "ResourceNotFoundException",
                 "Function not found: " EMU_MGMT_TEST_ARN "nope");
    s_test_error(account, "GET", S_FN "demo/configuration/", NULL, 200, NULL, NULL);
    s_test_error(account, "PUT", S_FN "demo/configuration", "{\"Timeout\":0}", 400,
                 "ValidationException", NULL);
    s_test_error(
        account, "PUT", "/2017-10-31/functions/demo/concurrency", "{}", 400,
        "ValidationException",
        "1 validation error detected: Value null at 'reservedConcurrentExecutions' "
        "failed to satisfy constraint: Member must not be null");
    s_test_error(account, "GET", "/2019-09-30/functions/demo/concurrency", NULL, 200,
                 NULL, NULL);
    s_test_error(account, "DELETE", "/2017-10-31/functions/demo/concurrency", NULL, 204,
                 NULL, NULL);
    const char *provisioned = "/2019-09-30/functions/demo/provisioned-concurrency";
    s_test_error(account, "PUT", provisioned, "{\"ProvisionedConcurrentExecutions\":1}",
                 400, "ValidationException", NULL);
    s_test_error(account, "GET", provisioned, NULL, 400, "ValidationException", NULL);
    s_test_error(account, "GET",
                 "/2019-09-30/functions/demo/provisioned-concurrency?List=ALL", NULL, 200,
                 NULL, NULL);
    s_test_error(account, "DELETE", provisioned, NULL, 400, "ValidationException", NULL);
    s_test_error(account, "POST", S_FN "demo/versions", "{\"CodeSha256\":\"x\"}", 400,
                 "InvalidParameterValueException", NULL);
    s_test_error(account, "GET", S_FN "demo/versions", NULL, 200, NULL, NULL);
    s_test_error(account, "POST", S_FN "demo/aliases", "{}", 400, "ValidationException",
                 NULL);
    s_test_error(account, "GET", S_FN "demo/aliases", NULL, 200, NULL, NULL);
    s_test_error(account, "GET", S_FN "demo/aliases/live", NULL, 404,
                 "ResourceNotFoundException", NULL);
    s_test_error(account, "PUT", S_FN "demo/aliases/live", "{}", 404,
                 "ResourceNotFoundException", NULL);
    s_test_error(account, "DELETE", S_FN "demo/aliases/live", NULL, 404,
                 "ResourceNotFoundException", NULL);
    s_test_error(account, "GET", "/2016-08-19/account-settings/", NULL, 200, NULL, NULL);
    s_test_error(account, "GET", "/2016-08-19/account-settings", NULL, 200, NULL, NULL);

    //  Caps on the target and the body.
    char *big = malloc(EMU_MGMT_BODY_MAX + 64);
    CHECK_NOT_NULL(big);
    int n = snprintf(big, 64, S_FN "demo?x=");
    memset(big + n, 'a', EMU_MGMT_REQ_TARGET_MAX);
    big[n + EMU_MGMT_REQ_TARGET_MAX] = '\0';
    s_test_error(account, "GET", big, NULL, 400, "InvalidParameterValueException",
                 "The request target is longer than 4096 bytes.");
    s_test_error(account, "GET",
                 S_FN
                 "demo?a=1&a=2&a=3&a=4&a=5&a=6&a=7&a=8&a=9&a=10&a=11&a=12&a=13&a=14&a=15&"
                 "a=16&a=17",
                 NULL, 400, "InvalidParameterValueException",
                 "The request has more than 16 query parameters.");
    const char *update = S_FN "demo/configuration";
    memset(big, ' ', EMU_MGMT_BODY_MAX + 1);
    big[0] = '{';
    big[EMU_MGMT_BODY_MAX] = '}';
    big[EMU_MGMT_BODY_MAX + 1] = '\0';
    s_test_error(account, "PUT", update, big, 413, "RequestEntityTooLargeException",
                 "Request must be smaller than 262144 bytes for the "
                 "UpdateFunctionConfiguration operation");
    big[EMU_MGMT_BODY_MAX - 1] = '}';
    big[EMU_MGMT_BODY_MAX] = '\0';
    s_test_error(account, "PUT", update, big, 200, NULL, NULL);
    free(big);

    if (verbose)
        printf("every operation routed as AWS does; ");
    emu_mgmt_fixture_destroy(&fixture);
}
