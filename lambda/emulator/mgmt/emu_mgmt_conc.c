/*  emu_mgmt_conc — management operations on concurrency and the account;
    see emu_mgmt_conc.h.
*/
#include "emu_mgmt_conc.h"
#include "emu_mgmt_selftest.h"
#include "sp_clock.h"

#include <stdio.h>
#include <string.h>

//  The code-size limits GetAccountSettings reports (AWS's defaults).
#define CONC_TOTAL_CODE_SIZE INT64_C(80530636800)
#define CONC_CODE_SIZE_UNZIPPED INT64_C(262144000)
#define CONC_CODE_SIZE_ZIPPED INT64_C(52428800)

typedef enum { S_PUT, S_GET, S_DELETE } s_verb_t;

//  Put/Get/DeleteFunctionConcurrency.
static emu_reply_t *
s_reserved(emu_mgmt_req_t *req, s_verb_t verb)
{
    bool present = false;
    long long reserved = 0;
    if (verb == S_PUT && emu_mgmt_req_body_int(req, "ReservedConcurrentExecutions",
                                               &present, &reserved) != 0)
        return emu_mgmt_req_error_reply(req);
    emu_mgmt_req_check_function_name(req, false);
    if (verb == S_PUT) {
        emu_mgmt_req_check_null(req, "reservedConcurrentExecutions", present);
        if (present)
            emu_mgmt_req_check_range(req, "reservedConcurrentExecutions", reserved, 0,
                                     INT32_MAX);
    }
    emu_function_t *function = emu_mgmt_req_unqualified(req, false);
    if (!function)
        return emu_mgmt_req_error_reply(req);
    if (verb == S_DELETE) {
        emu_function_delete_reserved(function);
        return emu_reply_new(204);
    }
    if (verb == S_PUT &&
        emu_function_put_reserved(function, (int)reserved, emu_mgmt_req_err(req)) != 0)
        return emu_mgmt_req_error_reply(req);
    int now = emu_function_reserved(function);
    json_t *doc = now >= 0 ? json_pack("{s:i}", "ReservedConcurrentExecutions", now)
                           : json_object();
    return emu_mgmt_shape_reply(200, doc);
}

emu_reply_t *
emu_mgmt_conc_put_reserved(emu_mgmt_req_t *req)
{
    return s_reserved(req, S_PUT);
}

emu_reply_t *
emu_mgmt_conc_get_reserved(emu_mgmt_req_t *req)
{
    return s_reserved(req, S_GET);
}

emu_reply_t *
emu_mgmt_conc_delete_reserved(emu_mgmt_req_t *req)
{
    return s_reserved(req, S_DELETE);
}

static emu_reply_t *
s_list_provisioned(emu_mgmt_req_t *req)
{
    emu_mgmt_req_check_function_name(req, false);
    emu_mgmt_page_t page;
    emu_mgmt_req_page(req, 50, &page);
    emu_function_t *function = emu_mgmt_req_unqualified(req, false);
    if (!function)
        return emu_mgmt_req_error_reply(req);
    page.list = json_array();
    for (size_t i = 0; i < emu_function_provisioned_count(function); i++) {
        if (!emu_mgmt_shape_page_next(&page))
            continue;
        emu_function_provisioned_info_t info;
        emu_function_provisioned_at(function, i, &info);
        emu_mgmt_shape_page_add(&page, emu_mgmt_shape_provisioned(function, &info, true));
    }
    return emu_mgmt_shape_page_reply(&page, "ProvisionedConcurrencyConfigs");
}

//  Put/Get/DeleteProvisionedConcurrencyConfig.
static emu_reply_t *
s_provisioned(emu_mgmt_req_t *req, s_verb_t verb)
{
    bool present = false;
    long long count = 0;
    if (verb == S_PUT && emu_mgmt_req_body_int(req, "ProvisionedConcurrentExecutions",
                                               &present, &count) != 0)
        return emu_mgmt_req_error_reply(req);
    const char *given = emu_mgmt_req_query(req, "Qualifier");
    emu_mgmt_req_check_function_name(req, false);
    emu_mgmt_req_check_null(req, "qualifier", given != NULL);
    emu_mgmt_req_check_qualifier(req, given);
    if (verb == S_PUT) {
        emu_mgmt_req_check_null(req, "provisionedConcurrentExecutions", present);
        if (present)
            emu_mgmt_req_check_range(req, "provisionedConcurrentExecutions", count, 1,
                                     INT32_MAX);
    }
    const char *qualifier = NULL;
    emu_function_t *function = emu_mgmt_req_function(req, given, &qualifier);
    if (!function)
        return emu_mgmt_req_error_reply(req);
    emu_aws_error_t *err = emu_mgmt_req_err(req);
    emu_function_provisioned_info_t info;
    int rc = 0;
    switch (verb) {
    case S_DELETE:
        if (emu_function_delete_provisioned(function, qualifier, err) != 0)
            return emu_mgmt_req_error_reply(req);
        return emu_reply_new(204);
    case S_PUT:
        rc = emu_function_put_provisioned(function, qualifier, (int)count, &info, err);
        break;
    case S_GET:
        rc = emu_function_provisioned(function, qualifier, &info, err);
        break;
    }
    if (rc != 0)
        return emu_mgmt_req_error_reply(req);
    return emu_mgmt_shape_reply(verb == S_PUT ? 202 : 200,
                                emu_mgmt_shape_provisioned(function, &info, false));
}

emu_reply_t *
emu_mgmt_conc_put_provisioned(emu_mgmt_req_t *req)
{
    return s_provisioned(req, S_PUT);
}

emu_reply_t *
emu_mgmt_conc_get_provisioned(emu_mgmt_req_t *req)
{
    if (emu_mgmt_req_query(req, "List"))
        return s_list_provisioned(req);
    return s_provisioned(req, S_GET);
}

emu_reply_t *
emu_mgmt_conc_delete_provisioned(emu_mgmt_req_t *req)
{
    return s_provisioned(req, S_DELETE);
}

emu_reply_t *
emu_mgmt_conc_account_settings(emu_mgmt_req_t *req)
{
    emu_account_t *account = emu_mgmt_req_account(req);
    int64_t code_size = 0;
    size_t count = emu_account_function_count(account);
    for (size_t f = 0; f < count; f++) {
        emu_function_t *function = emu_account_function_at(account, f);
        for (size_t v = 0; v < emu_function_version_count(function); v++) {
            emu_function_version_info_t info;
            emu_function_version_at(function, v, &info);
            code_size += info.code_size;
        }
    }
    json_t *doc =
        json_pack("{s:{s:I, s:I, s:I, s:i, s:i}, s:{s:I, s:I}}", "AccountLimit",
                  "TotalCodeSize", (json_int_t)CONC_TOTAL_CODE_SIZE, "CodeSizeUnzipped",
                  (json_int_t)CONC_CODE_SIZE_UNZIPPED, "CodeSizeZipped",
                  (json_int_t)CONC_CODE_SIZE_ZIPPED, "ConcurrentExecutions",
                  emu_account_limit(account), "UnreservedConcurrentExecutions",
                  emu_account_unreserved(account), "AccountUsage", "TotalCodeSize",
                  (json_int_t)code_size, "FunctionCount", (json_int_t)count);
    return emu_mgmt_shape_reply(200, doc);
}

//  -------------------------------------------------------------------------
//  Selftest

#define S_PROVISIONED "/2019-09-30/functions/demo/provisioned-concurrency"

static json_t *
s_test(emu_account_t *account, emu_mgmt_op_fn *op, const char *target, const char *body,
       int status, const char *type, const char *message)
{
    const char *name =
        op == emu_mgmt_conc_put_reserved         ? "PutFunctionConcurrency"
        : op == emu_mgmt_conc_get_reserved       ? "GetFunctionConcurrency"
        : op == emu_mgmt_conc_delete_reserved    ? "DeleteFunctionConcurrency"
        : op == emu_mgmt_conc_put_provisioned    ? "PutProvisionedConcurrencyConfig"
        : op == emu_mgmt_conc_get_provisioned    ? "GetProvisionedConcurrencyConfig"
        : op == emu_mgmt_conc_delete_provisioned ? "DeleteProvisionedConcurrencyConfig"
                                                 : "GetAccountSettings";
    return emu_mgmt_test_op(account, op, name, target, body, status, type, message);
}

//  The same, for an error: nothing returned.
#define S_TEST_ERROR(...) json_decref(s_test(__VA_ARGS__))

typedef struct {
    emu_account_t *account;
    int64_t deadline_ns;
    bool ready;
} s_test_poll_t;

//  Polls GetProvisionedConcurrencyConfig until READY or the deadline.
static void
s_test_poll(emu_loop_t *loop, void *arg)
{
    s_test_poll_t *poll = arg;
    json_t *doc = s_test(poll->account, emu_mgmt_conc_get_provisioned,
                         S_PROVISIONED "?Qualifier=live", NULL, 200, NULL, NULL);
    poll->ready = strcmp(emu_mgmt_test_str(doc, "Status"), "READY") == 0;
    json_decref(doc);
    if (poll->ready || sp_clock_mono_ns() > poll->deadline_ns)
        emu_loop_stop(loop);
    else
        CHECK_NOT_NULL(emu_loop_timer_start(loop, 20 * 1000000LL, s_test_poll, poll));
}

static void
s_test_stop(emu_loop_t *loop, void *arg)
{
    (void)arg;
    emu_loop_stop(loop);
}

void
emu_mgmt_conc_test(bool verbose)
{
    emu_mgmt_fixture_t *fixture = emu_mgmt_fixture_new();
    emu_account_t *account = fixture->account;
    emu_function_t *demo = emu_account_function_at(account, 0);
    emu_mgmt_op_fn *put = emu_mgmt_conc_put_reserved, *get = emu_mgmt_conc_get_reserved,
                   *delete = emu_mgmt_conc_delete_reserved,
                   *put_pc = emu_mgmt_conc_put_provisioned,
                   *get_pc = emu_mgmt_conc_get_provisioned,
                   *delete_pc = emu_mgmt_conc_delete_provisioned;

    //  Reserved concurrency.
    const char *reserved = "/2017-10-31/functions/demo/concurrency";
    json_t *doc = s_test(account, get, "/2019-09-30/functions/demo/concurrency", NULL,
                         200, NULL, NULL);
    CHECK_INT(json_object_size(doc), 0);
    json_decref(doc);
    S_TEST_ERROR(
        account, put, reserved, "{\"ReservedConcurrentExecutions\":-1}", 400,
        "ValidationException",
        "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' "
        "failed to satisfy constraint: Member must have value greater than or "
        "equal to 0");
    S_TEST_ERROR(
        account, put, reserved, "{}", 400, "ValidationException",
        "1 validation error detected: Value null at 'reservedConcurrentExecutions' "
        "failed to satisfy constraint: Member must not be null");
    S_TEST_ERROR(account, put, reserved, "", 400, "ValidationException", NULL);
    S_TEST_ERROR(account, put, reserved, "{\"ReservedConcurrentExecutions\":true}", 400,
                 "InvalidRequestContentException", NULL);
    S_TEST_ERROR(account, put, reserved, "{\"ReservedConcurrentExecutions\":950}", 400,
                 "InvalidParameterValueException", NULL);
    S_TEST_ERROR(account, put, "/2017-10-31/functions/demo%3A1/concurrency",
                 "{\"ReservedConcurrentExecutions\":1}", 400,
                 "InvalidParameterValueException", NULL);
    doc = s_test(account, put, reserved, "{\"ReservedConcurrentExecutions\":10}", 200,
                 NULL, NULL);
    CHECK_INT(emu_mgmt_test_int(doc, "ReservedConcurrentExecutions"), 10);
    CHECK_INT(json_object_size(doc), 1);
    json_decref(doc);
    doc = s_test(account, get, "/2019-09-30/functions/demo/concurrency", NULL, 200, NULL,
                 NULL);
    CHECK_INT(emu_mgmt_test_int(doc, "ReservedConcurrentExecutions"), 10);
    json_decref(doc);
    CHECK_NULL(s_test(account, delete, reserved, NULL, 204, NULL, NULL));
    CHECK_INT(emu_function_reserved(demo), -1);
    doc = s_test(account, put, reserved, "{\"ReservedConcurrentExecutions\":10}", 200,
                 NULL, NULL);
    json_decref(doc);

    //  GetAccountSettings.
    emu_function_version_info_t info;
    emu_aws_error_t err;
    CHECK_INT(emu_function_version_info(demo, NULL, &info, &err), 0);
    doc = s_test(account, emu_mgmt_conc_account_settings, "/2016-08-19/account-settings",
                 NULL, 200, NULL, NULL);
    CHECK_INT(emu_mgmt_test_int(doc, "AccountLimit.TotalCodeSize"), 80530636800LL);
    CHECK_INT(emu_mgmt_test_int(doc, "AccountLimit.CodeSizeUnzipped"), 262144000);
    CHECK_INT(emu_mgmt_test_int(doc, "AccountLimit.CodeSizeZipped"), 52428800);
    CHECK_INT(emu_mgmt_test_int(doc, "AccountLimit.ConcurrentExecutions"), 1000);
    CHECK_INT(emu_mgmt_test_int(doc, "AccountLimit.UnreservedConcurrentExecutions"), 985);
    CHECK_INT(emu_mgmt_test_int(doc, "AccountUsage.FunctionCount"), 2);
    CHECK_INT(emu_mgmt_test_int(doc, "AccountUsage.TotalCodeSize"), 2 * info.code_size);
    json_decref(doc);

    //  Provisioned concurrency on an alias: IN_PROGRESS, then READY.
    emu_function_alias_info_t alias;
    CHECK_INT(emu_function_publish(demo, NULL, &info, &err), 0);
    CHECK_INT(emu_function_create_alias(demo, "live", "1", NULL, &alias, &err), 0);
    S_TEST_ERROR(
        account, get_pc, S_PROVISIONED, NULL, 400, "ValidationException",
        "1 validation error detected: Value null at 'qualifier' failed to satisfy "
        "constraint: Member must not be null");
    S_TEST_ERROR(account, put_pc, S_PROVISIONED "?Qualifier=live",
                 "{\"ProvisionedConcurrentExecutions\":0}", 400, "ValidationException",
                 "1 validation error detected: Value '0' at "
                 "'provisionedConcurrentExecutions' failed to satisfy constraint: Member "
                 "must have value greater than or equal to 1");
    S_TEST_ERROR(account, put_pc, S_PROVISIONED "?Qualifier=%24LATEST",
                 "{\"ProvisionedConcurrentExecutions\":1}", 400,
                 "InvalidParameterValueException", NULL);
    S_TEST_ERROR(account, get_pc, S_PROVISIONED "?Qualifier=live", NULL, 404,
                 "ProvisionedConcurrencyConfigNotFoundException", NULL);
    doc = s_test(account, put_pc, S_PROVISIONED "?Qualifier=live",
                 "{\"ProvisionedConcurrentExecutions\":2}", 202, NULL, NULL);
    CHECK_INT(emu_mgmt_test_int(doc, "RequestedProvisionedConcurrentExecutions"), 2);
    CHECK_STR(emu_mgmt_test_str(doc, "Status"), "IN_PROGRESS");
    CHECK_NULL(json_object_get(doc, "StatusReason"));
    CHECK_NULL(json_object_get(doc, "FunctionArn"));
    CHECK_NOT_NULL(emu_mgmt_test_str(doc, "LastModified"));
    json_decref(doc);
    s_test_poll_t poll = {account, sp_clock_mono_ns() + 15 * 1000000000LL, false};
    CHECK_NOT_NULL(emu_loop_timer_start(fixture->loop, 0, s_test_poll, &poll));
    CHECK_INT(emu_loop_run(fixture->loop), 0);
    CHECK_TRUE(poll.ready);
    doc = s_test(account, get_pc, S_PROVISIONED "?Qualifier=live", NULL, 200, NULL, NULL);
    CHECK_INT(emu_mgmt_test_int(doc, "AvailableProvisionedConcurrentExecutions"), 2);
    CHECK_INT(emu_mgmt_test_int(doc, "AllocatedProvisionedConcurrentExecutions"), 2);
    json_decref(doc);
    doc = s_test(account, get_pc, S_PROVISIONED "?List=ALL", NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "ProvisionedConcurrencyConfigs")), 1);
    CHECK_STR(emu_mgmt_test_str(doc, "ProvisionedConcurrencyConfigs.0.FunctionArn"),
              EMU_MGMT_TEST_ARN "demo:live");
    CHECK_STR(emu_mgmt_test_str(doc, "ProvisionedConcurrencyConfigs.0.Status"), "READY");
    json_decref(doc);
    S_TEST_ERROR(
        account, get_pc, S_PROVISIONED "?List=ALL&MaxItems=51", NULL, 400,
        "ValidationException",
        "1 validation error detected: Value '51' at 'maxItems' failed to satisfy "
        "constraint: Member must have value less than or equal to 50");
    CHECK_NULL(s_test(account, delete_pc, S_PROVISIONED "?Qualifier=live", NULL, 204,
                      NULL, NULL));
    //  Its environments are stopped and buried by the loop.
    CHECK_NOT_NULL(
        emu_loop_timer_start(fixture->loop, 500 * 1000000LL, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(fixture->loop), 0);
    S_TEST_ERROR(account, get_pc, S_PROVISIONED "?Qualifier=live", NULL, 404,
                 "ProvisionedConcurrencyConfigNotFoundException", NULL);
    doc = s_test(account, get_pc, S_PROVISIONED "?List=ALL", NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "ProvisionedConcurrencyConfigs")), 0);
    json_decref(doc);

    if (verbose)
        printf("concurrency and account answered as AWS does; ");
    emu_mgmt_fixture_destroy(&fixture);
}
