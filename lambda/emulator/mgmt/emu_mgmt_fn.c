/*  emu_mgmt_fn — management operations on functions and versions; see
    emu_mgmt_fn.h.
*/
#define _GNU_SOURCE //  asprintf
#include "emu_mgmt_fn.h"
#include "emu_config.h"
#include "emu_mgmt_selftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Environment variables: AWS caps their JSON text at 4 KB.
#define FN_VARIABLES_SIZE_MAX 4096
#define FN_ENV_KEY_PATTERN "[a-zA-Z]([a-zA-Z0-9_])+"
#define FN_ENV_KEY_ERE "^[a-zA-Z][a-zA-Z0-9_]+$"

//  GetFunction (`whole`) and GetFunctionConfiguration.
static emu_reply_t *
s_get(emu_mgmt_req_t *req, bool whole)
{
    const char *given = emu_mgmt_req_query(req, "Qualifier");
    emu_mgmt_req_check_function_name(req, true);
    emu_mgmt_req_check_qualifier(req, given);
    const char *qualifier = NULL;
    emu_function_t *function = emu_mgmt_req_function(req, given, &qualifier);
    emu_function_version_info_t info;
    if (!function ||
        emu_function_version_info(function, qualifier, &info, emu_mgmt_req_err(req)) != 0)
        return emu_mgmt_req_error_reply(req);
    json_t *config =
        emu_mgmt_shape_configuration(function, &info, qualifier, EMU_MGMT_SHAPE_CURRENT);
    if (!whole)
        return emu_mgmt_shape_reply(200, config);
    char location[512];
    snprintf(location, sizeof location,
             "https://awslambda-%s-tasks.s3.%s.amazonaws.com/snapshots/%s/%s-%s",
             EMU_AWS_REGION, EMU_AWS_REGION, EMU_AWS_ACCOUNT_ID,
             emu_function_name(function), info.revision_id);
    json_t *doc = config ? json_pack("{s:o, s:{s:s, s:s}}", "Configuration", config,
                                     "Code", "RepositoryType", "S3", "Location", location)
                         : NULL;
    int reserved = emu_function_reserved(function);
    if (doc && reserved >= 0 &&
        json_object_set_new(
            doc, "Concurrency",
            json_pack("{s:i}", "ReservedConcurrentExecutions", reserved)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return emu_mgmt_shape_reply(200, doc);
}

emu_reply_t *
emu_mgmt_fn_get(emu_mgmt_req_t *req)
{
    return s_get(req, true);
}

emu_reply_t *
emu_mgmt_fn_get_configuration(emu_mgmt_req_t *req)
{
    return s_get(req, false);
}

emu_reply_t *
emu_mgmt_fn_list(emu_mgmt_req_t *req)
{
    const char *region = emu_mgmt_req_query(req, "MasterRegion");
    const char *version = emu_mgmt_req_query(req, "FunctionVersion");
    if (region)
        emu_mgmt_req_check_region(req, region);
    if (version && strcmp(version, "ALL") != 0)
        emu_mgmt_req_violation_value(req, "functionVersion", version,
                                     "Member must satisfy enum value set: [ALL]");
    emu_mgmt_page_t page;
    emu_mgmt_req_page(req, 10000, &page);
    if (emu_mgmt_req_invalid(req))
        return emu_mgmt_req_error_reply(req);
    bool all = version != NULL;
    emu_account_t *account = emu_mgmt_req_account(req);
    page.list = json_array();
    //  Lambda@Edge replicas (MasterRegion) do not exist here: none listed.
    size_t count = region ? 0 : emu_account_function_count(account);
    for (size_t f = 0; f < count; f++) {
        emu_function_t *function = emu_account_function_at(account, f);
        size_t versions = all ? emu_function_version_count(function) : 1;
        for (size_t v = 0; v < versions; v++) {
            if (!emu_mgmt_shape_page_next(&page))
                continue;
            emu_function_version_info_t info;
            emu_function_version_at(function, v, &info);
            emu_mgmt_shape_page_add(&page, emu_mgmt_shape_configuration(
                                               function, &info, all ? info.version : NULL,
                                               EMU_MGMT_SHAPE_LISTED));
        }
    }
    return emu_mgmt_shape_page_reply(&page, "Functions");
}

//  Members of UpdateFunctionConfiguration's model the emulator does not
//  model are refused, not ignored: a test must not believe they took
//  effect. -1 with the error when one is present.
static int
s_refuse_unsupported(emu_mgmt_req_t *req)
{
    static const char *const unsupported[] = {
        "Role",          "Handler",          "VpcConfig",
        "Runtime",       "DeadLetterConfig", "KMSKeyArn",
        "TracingConfig", "Layers",           "FileSystemConfigs",
        "ImageConfig",   "EphemeralStorage", "SnapStart",
        "LoggingConfig",
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (emu_mgmt_req_member(req, unsupported[i])) {
            emu_aws_error_set(
                emu_mgmt_req_err(req), 400, "InvalidParameterValueException",
                "stampede-lambda does not emulate %s; UpdateFunctionConfiguration "
                "takes Environment, Timeout, MemorySize, Description and "
                "RevisionId.",
                unsupported[i]);
            return -1;
        }
    return 0;
}

//  Environment.Variables of the body: 0 and *variables_p (NULL when
//  absent or null), or -1 when a part has the wrong JSON type.
static int
s_read_variables(emu_mgmt_req_t *req, json_t *environment, json_t **variables_p)
{
    *variables_p = NULL;
    if (!environment)
        return 0;
    if (!json_is_object(environment))
        return emu_mgmt_req_type_error(req, "Environment", "an object");
    json_t *variables = json_object_get(environment, "Variables");
    if (!variables || json_is_null(variables))
        return 0;
    if (!json_is_object(variables))
        return emu_mgmt_req_type_error(req, "Environment.Variables", "an object");
    const char *key;
    json_t *value;
    json_object_foreach(variables, key, value)
    {
        if (!json_is_string(value))
            return emu_mgmt_req_type_error(req, "Environment.Variables",
                                           "an object of strings");
    }
    *variables_p = variables;
    return 0;
}

//  The service's own refusals of `variables` (checked ones): reserved
//  keys, over 4 KB of JSON. -1 with the error (or without memory, the
//  error unset).
static int
s_refuse_variables(emu_mgmt_req_t *req, json_t *variables)
{
    //  AWS's reserved keys (the runtime's own variables).
    static const char *const reserved[] = {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    };
    char used[400] = "";
    const char *key;
    json_t *value;
    json_object_foreach(variables, key, value)
    {
        for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
            if (strcmp(key, reserved[r]) == 0) {
                size_t len = strlen(used);
                snprintf(used + len, sizeof used - len, "%s%s", len ? ", " : "", key);
            }
    }
    if (used[0]) {
        emu_aws_error_set(emu_mgmt_req_err(req), 400, "InvalidParameterValueException",
                          "Lambda was unable to configure your environment variables "
                          "because the environment variables you have provided contains "
                          "reserved keys that are currently not supported for "
                          "modification. Reserved keys used in this request: %s",
                          used);
        return -1;
    }
    char *measured = json_dumps(variables, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!measured)
        return -1;
    int rc = 0;
    if (strlen(measured) > FN_VARIABLES_SIZE_MAX) {
        emu_aws_error_set(emu_mgmt_req_err(req), 400, "InvalidParameterValueException",
                          "Lambda was unable to configure your environment variables "
                          "because the environment variables you have provided exceeded "
                          "the 4KB limit. String measured: %.200s...",
                          measured);
        rc = -1;
    }
    free(measured);
    return rc;
}

//  "KEY=VALUE" of each of `variables` into *pairs_p (count *count_p;
//  caller frees each and the array). -1 without memory.
static int
s_pairs(json_t *variables, char ***pairs_p, size_t *count_p)
{
    //  Under 4 KB of JSON, so a few hundred pairs at most.
    size_t count = json_object_size(variables);
    char **pairs = calloc(count ? count : 1, sizeof *pairs);
    size_t made = 0;
    const char *key;
    json_t *value;
    json_object_foreach(variables, key, value)
    {
        if (!pairs || asprintf(&pairs[made], "%s=%s", key, json_string_value(value)) < 0)
            break;
        made++;
    }
    *pairs_p = pairs;
    *count_p = made;
    return pairs && made == count ? 0 : -1;
}

emu_reply_t *
emu_mgmt_fn_update_configuration(emu_mgmt_req_t *req)
{
    emu_function_update_t update = {0};
    long long timeout = 0, memory = 0;
    const char *revision = NULL;
    json_t *environment = emu_mgmt_req_member(req, "Environment");
    json_t *variables = NULL;
    if (s_refuse_unsupported(req) != 0 ||
        emu_mgmt_req_body_int(req, "Timeout", &update.has_timeout, &timeout) != 0 ||
        emu_mgmt_req_body_int(req, "MemorySize", &update.has_memory, &memory) != 0 ||
        emu_mgmt_req_body_string(req, "Description", &update.description) != 0 ||
        emu_mgmt_req_body_string(req, "RevisionId", &revision) != 0 ||
        s_read_variables(req, environment, &variables) != 0)
        return emu_mgmt_req_error_reply(req);
    emu_mgmt_req_check_function_name(req, false);
    if (update.has_timeout)
        emu_mgmt_req_check_range(req, "timeout", timeout, 1, EMU_CONFIG_TIMEOUT_MAX);
    if (update.has_memory)
        emu_mgmt_req_check_range(req, "memorySize", memory, 128, 10240);
    emu_mgmt_req_check_description(req, update.description);
    const char *key;
    json_t *value;
    json_object_foreach(variables, key, value)
    {
        //  Values are sensitive: AWS names no value here.
        if (strlen(key) < 2 || !emu_mgmt_req_matches(req, key, FN_ENV_KEY_ERE)) {
            emu_mgmt_req_violation(
                req, "Value at 'environment.variables' failed to satisfy "
                     "constraint: Map keys must satisfy constraint: [Member must "
                     "satisfy regular expression pattern: " FN_ENV_KEY_PATTERN "]");
            break;
        }
    }
    if (emu_mgmt_req_invalid(req))
        return emu_mgmt_req_error_reply(req);
    if (variables && s_refuse_variables(req, variables) != 0)
        return emu_mgmt_req_failed(req) ? emu_mgmt_req_error_reply(req) : NULL;

    emu_reply_t *reply = NULL;
    char **pairs = NULL;
    size_t pair_count = 0;
    if (variables && s_pairs(variables, &pairs, &pair_count) != 0)
        goto out;
    if (environment) {
        update.has_variables = true;
        update.variables = (const char *const *)pairs;
        update.variable_count = pair_count;
    }
    update.timeout_s = (int)timeout;
    update.memory_mb = (int)memory;
    update.has_description = update.description != NULL;

    emu_function_t *function = emu_mgmt_req_unqualified(req, true);
    emu_function_version_info_t info;
    if (!function ||
        emu_function_version_info(function, NULL, &info, emu_mgmt_req_err(req)) != 0 ||
        emu_mgmt_req_check_revision(req, revision, info.revision_id) != 0 ||
        emu_function_update(function, &update, &info, emu_mgmt_req_err(req)) != 0)
        reply = emu_mgmt_req_error_reply(req);
    else
        reply = emu_mgmt_shape_reply(
            200,
            emu_mgmt_shape_configuration(function, &info, NULL, EMU_MGMT_SHAPE_UPDATING));
out:
    for (size_t i = 0; i < pair_count; i++)
        free(pairs[i]);
    free(pairs);
    return reply;
}

emu_reply_t *
emu_mgmt_fn_publish_version(emu_mgmt_req_t *req)
{
    const char *sha = NULL, *description = NULL, *revision = NULL;
    if (emu_mgmt_req_body_string(req, "CodeSha256", &sha) != 0 ||
        emu_mgmt_req_body_string(req, "Description", &description) != 0 ||
        emu_mgmt_req_body_string(req, "RevisionId", &revision) != 0)
        return emu_mgmt_req_error_reply(req);
    emu_mgmt_req_check_function_name(req, false);
    emu_mgmt_req_check_description(req, description);
    emu_function_t *function = emu_mgmt_req_unqualified(req, true);
    emu_aws_error_t *err = emu_mgmt_req_err(req);
    emu_function_version_info_t info;
    if (!function || emu_function_version_info(function, NULL, &info, err) != 0)
        return emu_mgmt_req_error_reply(req);
    if (sha && strcmp(sha, info.code_sha256) != 0) {
        char quoted[EMU_MGMT_REQ_QUOTE_MAX + 8];
        emu_mgmt_req_quote(sha, quoted, sizeof quoted);
        emu_aws_error_set(
            err, 400, "InvalidParameterValueException",
            "CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST "
            "(%s). Please try again.",
            quoted, info.code_sha256);
        return emu_mgmt_req_error_reply(req);
    }
    if (emu_mgmt_req_check_revision(req, revision, info.revision_id) != 0 ||
        emu_function_publish(function, description, &info, err) != 0)
        return emu_mgmt_req_error_reply(req);
    return emu_mgmt_shape_reply(
        201, emu_mgmt_shape_configuration(function, &info, info.version,
                                          EMU_MGMT_SHAPE_CURRENT));
}

emu_reply_t *
emu_mgmt_fn_list_versions(emu_mgmt_req_t *req)
{
    emu_mgmt_req_check_function_name(req, true);
    emu_mgmt_page_t page;
    emu_mgmt_req_page(req, 10000, &page);
    emu_function_t *function = emu_mgmt_req_unqualified(req, false);
    if (!function)
        return emu_mgmt_req_error_reply(req);
    page.list = json_array();
    for (size_t i = 0; i < emu_function_version_count(function); i++) {
        if (!emu_mgmt_shape_page_next(&page))
            continue;
        emu_function_version_info_t info;
        emu_function_version_at(function, i, &info);
        emu_mgmt_shape_page_add(
            &page, emu_mgmt_shape_configuration(function, &info, info.version,
                                                EMU_MGMT_SHAPE_LISTED));
    }
    return emu_mgmt_shape_page_reply(&page, "Versions");
}

//  -------------------------------------------------------------------------
//  Selftest

#define S_ARN EMU_MGMT_TEST_ARN
#define S_FN EMU_MGMT_TEST_FN

//  The operation at `target`, as the router names it.
static json_t *
s_test(emu_account_t *account, emu_mgmt_op_fn *op, const char *target, const char *body,
       int status, const char *type, const char *message)
{
    const char *name = op == emu_mgmt_fn_get                 ? "GetFunction"
                       : op == emu_mgmt_fn_get_configuration ? "GetFunctionConfiguration"
                       : op == emu_mgmt_fn_list              ? "ListFunctions"
                       : op == emu_mgmt_fn_update_configuration
                           ? "UpdateFunctionConfiguration"
                       : op == emu_mgmt_fn_publish_version ? "PublishVersion"
                                                           : "ListVersionsByFunction";
    return emu_mgmt_test_op(account, op, name, target, body, status, type, message);
}

//  The same, for an error: nothing returned.
#define S_TEST_ERROR(...) json_decref(s_test(__VA_ARGS__))

void
emu_mgmt_fn_test(bool verbose)
{
    emu_mgmt_fixture_t *fixture = emu_mgmt_fixture_new();
    emu_account_t *account = fixture->account;
    emu_mgmt_op_fn *get = emu_mgmt_fn_get, *config = emu_mgmt_fn_get_configuration,
                   *update_op = emu_mgmt_fn_update_configuration,
                   *publish = emu_mgmt_fn_publish_version,
                   *versions_op = emu_mgmt_fn_list_versions, *list = emu_mgmt_fn_list;

    //  GetFunction by name, ARN (percent-encoded) and partial ARN.
    json_t *doc = s_test(account, get, S_FN "demo", NULL, 200, NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "Configuration.FunctionArn"), S_ARN "demo");
    CHECK_STR(emu_mgmt_test_str(doc, "Configuration.LastUpdateStatus"), "Successful");
    CHECK_STR(
        emu_mgmt_test_str(doc, "Configuration.RuntimeVersionConfig.RuntimeVersionArn"),
        "arn:aws:lambda:us-east-1::runtime:"
        "0c7a6b68ae8de5940afe217dbb81f77b9fcad26466e440a79ad48af42a49669c");
    CHECK_STR(emu_mgmt_test_str(doc, "Code.RepositoryType"), "S3");
    CHECK_NOT_NULL(emu_mgmt_test_str(doc, "Code.Location"));
    CHECK_NULL(json_object_get(doc, "Concurrency"));
    json_decref(doc);
    doc = s_test(account, get,
                 S_FN "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aother",
                 NULL, 200, NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "Configuration.FunctionName"), "other");
    CHECK_INT(emu_mgmt_test_int(doc, "Concurrency.ReservedConcurrentExecutions"), 5);
    CHECK_NULL(json_object_get(json_object_get(doc, "Configuration"), "Environment"));
    json_decref(doc);
    doc = s_test(account, config, S_FN "123456789012%3Afunction%3Ademo/configuration/",
                 NULL, 200, NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "FunctionName"), "demo");
    json_decref(doc);
    doc = s_test(account, get, S_FN "demo?Qualifier=%24LATEST", NULL, 200, NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "Configuration.FunctionArn"), S_ARN "demo:$LATEST");
    json_decref(doc);

    //  Bad names and qualifiers.
    S_TEST_ERROR(account, get, S_FN "nope", NULL, 404, "ResourceNotFoundException",
                 "Function not found: " S_ARN "nope");
    S_TEST_ERROR(
        account, get, S_FN "bad%20name", NULL, 400, "ValidationException",
        "1 validation error detected: Value 'bad name' at 'functionName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: "
        "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
        "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?");
    S_TEST_ERROR(account, get, S_FN "bad%ZZ", NULL, 400, "ValidationException", NULL);
    S_TEST_ERROR(account, config, S_FN "bad%00x/configuration", NULL, 400,
                 "ValidationException", NULL);
    char long_name[400];
    snprintf(long_name, sizeof long_name, S_FN "%0171d", 0);
    S_TEST_ERROR(account, get, long_name, NULL, 400, "ValidationException", NULL);
    S_TEST_ERROR(account, get, S_FN "demo?Qualifier=a%20b", NULL, 400,
                 "ValidationException",
                 "1 validation error detected: Value 'a b' at 'qualifier' failed to "
                 "satisfy constraint: Member must satisfy regular expression pattern: "
                 "(|[a-zA-Z0-9$_-]+)");
    S_TEST_ERROR(account, get, S_FN "demo?Qualifier=", NULL, 400, "ValidationException",
                 "1 validation error detected: Value '' at 'qualifier' failed to satisfy "
                 "constraint: Member must have length greater than or equal to 1");
    S_TEST_ERROR(account, get, S_FN "demo?Qualifier=7", NULL, 404,
                 "ResourceNotFoundException", "Function not found: " S_ARN "demo:7");
    S_TEST_ERROR(account, get, S_FN "demo%3A1?Qualifier=2", NULL, 400,
                 "InvalidParameterValueException",
                 "The derived qualifier from the function name does not match the "
                 "specified qualifier.");

    //  UpdateFunctionConfiguration: bad input first.
    const char *update = S_FN "demo/configuration";
    S_TEST_ERROR(account, update_op, update, "{\"Timeout\":0}", 400,
                 "ValidationException",
                 "1 validation error detected: Value '0' at 'timeout' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 1");
    S_TEST_ERROR(
        account, update_op, update, "{\"Timeout\":901,\"MemorySize\":64}", 400,
        "ValidationException",
        "2 validation errors detected: Value '901' at 'timeout' failed to satisfy "
        "constraint: Member must have value less than or equal to 900; Value '64' at "
        "'memorySize' failed to satisfy constraint: Member must have value greater "
        "than or equal to 128");
    S_TEST_ERROR(
        account, update_op, update, "{\"MemorySize\":10241}", 400, "ValidationException",
        "1 validation error detected: Value '10241' at 'memorySize' failed to satisfy "
        "constraint: Member must have value less than or equal to 10240");
    S_TEST_ERROR(
        account, update_op, update, "{\"Timeout\":\"30\"}", 400,
        "InvalidRequestContentException",
        "Could not parse request body into json: member 'Timeout' must be an integer");
    S_TEST_ERROR(account, update_op, update, "{\"Timeout\":3000000000}", 400,
                 "InvalidRequestContentException",
                 "Could not parse request body into json: Numeric value (3000000000) out "
                 "of range of int");
    S_TEST_ERROR(account, update_op, update, "{\"Timeout\":1.5}", 400,
                 "InvalidRequestContentException", NULL);
    S_TEST_ERROR(account, update_op, update, "{\"Description\":7}", 400,
                 "InvalidRequestContentException",
                 "Could not parse request body into json: member 'Description' must be a "
                 "string");
    S_TEST_ERROR(account, update_op, update, "{\"Timeout\":", 400,
                 "InvalidRequestContentException", NULL);
    S_TEST_ERROR(
        account, update_op, update, "[1]", 400, "InvalidRequestContentException",
        "Could not parse request body into json: the body must be a JSON object");
    S_TEST_ERROR(account, update_op, update, "{\"Environment\":[]}", 400,
                 "InvalidRequestContentException", NULL);
    S_TEST_ERROR(account, update_op, update,
                 "{\"Environment\":{\"Variables\":{\"A1\":1}}}", 400,
                 "InvalidRequestContentException", NULL);
    S_TEST_ERROR(
        account, update_op, update, "{\"Environment\":{\"Variables\":{\"1A\":\"x\"}}}",
        400, "ValidationException",
        "1 validation error detected: Value at 'environment.variables' failed to "
        "satisfy constraint: Map keys must satisfy constraint: [Member must "
        "satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]");
    S_TEST_ERROR(
        account, update_op, update,
        "{\"Environment\":{\"Variables\":{\"AWS_REGION\":\"x\",\"OK\":\"y\","
        "\"AWS_LAMBDA_FUNCTION_NAME\":\"z\"}}}",
        400, "InvalidParameterValueException",
        "Lambda was unable to configure your environment variables because the "
        "environment variables you have provided contains reserved keys that are "
        "currently not supported for modification. Reserved keys used in this "
        "request: AWS_REGION, AWS_LAMBDA_FUNCTION_NAME");
    S_TEST_ERROR(account, update_op, update,
                 "{\"Role\":\"arn:aws:iam::123456789012:role/x\"}", 400,
                 "InvalidParameterValueException", NULL);
    S_TEST_ERROR(
        account, update_op, update, "{\"RevisionId\":\"stale\"}", 412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the "
        "GetFunction/GetAlias API to retrieve the latest Revision Id");
    S_TEST_ERROR(account, update_op, S_FN "demo%3A1/configuration", "{}", 400,
                 "InvalidParameterValueException", NULL);
    S_TEST_ERROR(account, update_op, S_FN "nope/configuration", "{\"Timeout\":5}", 404,
                 "ResourceNotFoundException", "Function not found: " S_ARN "nope");
    {
        //  4 KB of variables and over.
        char *big = malloc(8192);
        CHECK_NOT_NULL(big);
        int n = snprintf(big, 64, "{\"Environment\":{\"Variables\":{\"BIG\":\"");
        memset(big + n, 'x', 4100);
        snprintf(big + n + 4100, 16, "\"}}}");
        doc = s_test(account, update_op, update, big, 400,
                     "InvalidParameterValueException", NULL);
        const char *message = emu_mgmt_test_str(doc, "message");
        const char *prefix =
            "Lambda was unable to configure your environment variables "
            "because the environment variables you have provided exceeded "
            "the 4KB limit. String measured: {\"BIG\":\"xxx";
        CHECK_INT(strncmp(message, prefix, strlen(prefix)), 0);
        json_decref(doc);
        free(big);
    }

    //  UpdateFunctionConfiguration that works: InProgress in its answer,
    //  Successful for the next read, as `aws lambda wait function-updated`
    //  expects.
    doc = s_test(
        account, update_op, update,
        "{\"Timeout\":30,\"MemorySize\":256,\"Description\":\"d\\u00e9mo\","
        "\"Environment\":{\"Variables\":{\"A1\":\"v\",\"STAMPEDE_HOLD_MS\":\"0\"}}}",
        200, NULL, NULL);
    CHECK_INT(emu_mgmt_test_int(doc, "Timeout"), 30);
    CHECK_INT(emu_mgmt_test_int(doc, "MemorySize"), 256);
    CHECK_STR(emu_mgmt_test_str(doc, "Description"), "d\xc3\xa9mo");
    CHECK_STR(emu_mgmt_test_str(doc, "Environment.Variables.A1"), "v");
    CHECK_NULL(emu_mgmt_test_str(doc, "Environment.Variables.GREETING"));
    CHECK_STR(emu_mgmt_test_str(doc, "State"), "Active");
    CHECK_STR(emu_mgmt_test_str(doc, "LastUpdateStatus"), "InProgress");
    CHECK_STR(emu_mgmt_test_str(doc, "LastUpdateStatusReason"),
              "The function is being created.");
    CHECK_STR(emu_mgmt_test_str(doc, "LastUpdateStatusReasonCode"), "Creating");
    CHECK_NOT_NULL(emu_mgmt_test_str(doc, "RuntimeVersionConfig.RuntimeVersionArn"));
    char revision[128];
    snprintf(revision, sizeof revision, "%s", emu_mgmt_test_str(doc, "RevisionId"));
    json_decref(doc);
    doc = s_test(account, config, update, NULL, 200, NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "LastUpdateStatus"), "Successful");
    CHECK_NULL(json_object_get(doc, "LastUpdateStatusReason"));
    CHECK_NULL(json_object_get(doc, "LastUpdateStatusReasonCode"));
    CHECK_STR(emu_mgmt_test_str(doc, "RevisionId"), revision);
    json_decref(doc);
    char body[512];
    snprintf(body, sizeof body, "{\"RevisionId\":\"%s\",\"Environment\":{}}", revision);
    doc = s_test(account, update_op, update, body, 200, NULL, NULL);
    CHECK_NULL(json_object_get(doc, "Environment"));
    CHECK_INT(emu_mgmt_test_int(doc, "Timeout"), 30);
    json_decref(doc);
    doc = s_test(account, config, S_FN "demo/configuration", NULL, 200, NULL, NULL);
    CHECK_INT(emu_mgmt_test_int(doc, "MemorySize"), 256);
    CHECK_NULL(json_object_get(doc, "Environment"));
    json_decref(doc);

    //  PublishVersion and ListVersionsByFunction.
    const char *versions = S_FN "demo/versions";
    S_TEST_ERROR(account, publish, versions, "{\"CodeSha256\":\"nope\"}", 400,
                 "InvalidParameterValueException", NULL);
    S_TEST_ERROR(account, publish, versions, "{\"RevisionId\":\"stale\"}", 412,
                 "PreconditionFailedException", NULL);
    char long_text[300];
    memset(long_text, 'd', 257);
    long_text[257] = '\0';
    snprintf(body, sizeof body, "{\"Description\":\"%s\"}", long_text);
    S_TEST_ERROR(account, publish, versions, body, 400, "ValidationException", NULL);
    doc = s_test(account, publish, versions, "{\"Description\":\"first\"}", 201, NULL,
                 NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "Version"), "1");
    CHECK_STR(emu_mgmt_test_str(doc, "FunctionArn"), S_ARN "demo:1");
    CHECK_STR(emu_mgmt_test_str(doc, "Description"), "first");
    CHECK_NOT_NULL(emu_mgmt_test_str(doc, "RuntimeVersionConfig.RuntimeVersionArn"));
    CHECK_STR(emu_mgmt_test_str(doc, "LastUpdateStatus"), "Successful");
    CHECK_INT(emu_mgmt_test_int(doc, "Timeout"), 30);
    json_decref(doc);
    doc = s_test(account, versions_op, versions, NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Versions")), 2);
    CHECK_STR(emu_mgmt_test_str(doc, "Versions.0.Version"), "$LATEST");
    CHECK_STR(emu_mgmt_test_str(doc, "Versions.0.FunctionArn"), S_ARN "demo:$LATEST");
    CHECK_STR(emu_mgmt_test_str(doc, "Versions.1.FunctionArn"), S_ARN "demo:1");
    json_t *listed = json_array_get(json_object_get(doc, "Versions"), 1);
    CHECK_NULL(json_object_get(listed, "State"));
    CHECK_NULL(json_object_get(listed, "RuntimeVersionConfig"));
    CHECK_NULL(json_object_get(doc, "NextMarker"));
    json_decref(doc);
    doc = s_test(account, versions_op, S_FN "demo/versions?MaxItems=1", NULL, 200, NULL,
                 NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Versions")), 1);
    CHECK_STR(emu_mgmt_test_str(doc, "NextMarker"), "1");
    json_decref(doc);
    doc = s_test(account, versions_op, S_FN "demo/versions?MaxItems=1&Marker=1", NULL,
                 200, NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "Versions.0.Version"), "1");
    CHECK_NULL(json_object_get(doc, "NextMarker"));
    json_decref(doc);
    S_TEST_ERROR(account, versions_op, S_FN "demo/versions?MaxItems=0", NULL, 400,
                 "ValidationException",
                 "1 validation error detected: Value '0' at 'maxItems' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 1");
    S_TEST_ERROR(account, versions_op, S_FN "demo/versions?MaxItems=x", NULL, 400,
                 "ValidationException", NULL);
    S_TEST_ERROR(account, versions_op, S_FN "demo/versions?Marker=-1", NULL, 400,
                 "ValidationException", NULL);
    S_TEST_ERROR(account, versions_op, S_FN "nope/versions", NULL, 404,
                 "ResourceNotFoundException", NULL);

    //  A qualifier naming an alias, and one that is gone.
    emu_function_t *demo = emu_account_function_at(account, 0);
    emu_function_alias_info_t alias;
    emu_aws_error_t err;
    CHECK_INT(emu_function_create_alias(demo, "live", "1", NULL, &alias, &err), 0);
    doc = s_test(account, config, S_FN "demo/configuration?Qualifier=live", NULL, 200,
                 NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "Version"), "1");
    CHECK_STR(emu_mgmt_test_str(doc, "FunctionArn"), S_ARN "demo:live");
    json_decref(doc);
    CHECK_INT(emu_function_delete_alias(demo, "live", &err), 0);
    S_TEST_ERROR(account, get, S_FN "demo?Qualifier=live", NULL, 404,
                 "ResourceNotFoundException", "Function not found: " S_ARN "demo:live");

    //  ListFunctions: pages, every version.
    doc = s_test(account, list, S_FN, NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Functions")), 2);
    CHECK_STR(emu_mgmt_test_str(doc, "Functions.0.FunctionArn"), S_ARN "demo");
    CHECK_STR(emu_mgmt_test_str(doc, "Functions.1.FunctionName"), "other");
    listed = json_array_get(json_object_get(doc, "Functions"), 0);
    CHECK_NULL(json_object_get(listed, "State"));
    CHECK_NULL(json_object_get(listed, "LastUpdateStatus"));
    CHECK_NULL(json_object_get(listed, "RuntimeVersionConfig"));
    json_decref(doc);
    doc = s_test(account, list, S_FN "?MaxItems=1", NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Functions")), 1);
    CHECK_STR(emu_mgmt_test_str(doc, "NextMarker"), "1");
    json_decref(doc);
    doc = s_test(account, list, S_FN "?FunctionVersion=ALL", NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Functions")), 3);
    CHECK_STR(emu_mgmt_test_str(doc, "Functions.1.FunctionArn"), S_ARN "demo:1");
    json_decref(doc);
    S_TEST_ERROR(
        account, list, S_FN "?FunctionVersion=SOME", NULL, 400, "ValidationException",
        "1 validation error detected: Value 'SOME' at 'functionVersion' failed to "
        "satisfy constraint: Member must satisfy enum value set: [ALL]");
    doc = s_test(account, list, S_FN "?MasterRegion=us-east-1", NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Functions")), 0);
    json_decref(doc);
    S_TEST_ERROR(account, list, S_FN "?MasterRegion=mars", NULL, 400,
                 "ValidationException",
                 "1 validation error detected: Value 'mars' at 'masterRegion' failed to "
                 "satisfy constraint: Member must satisfy regular expression pattern: "
                 "ALL|[a-z]{2}(-gov)?-[a-z]+-\\d{1}");

    if (verbose)
        printf("functions and versions answered as AWS does; ");
    emu_mgmt_fixture_destroy(&fixture);
}
