/*  emu_mgmt_shape — the management API's JSON documents; see
    emu_mgmt_shape.h. Members are added in the order AWS sends them.
*/
#include "emu_mgmt_shape.h"
#include "emu_aws.h"
#include "emu_mgmt_selftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHAPE_ROLE "arn:aws:iam::" EMU_AWS_ACCOUNT_ID ":role/stampede-lambda"

//  A JSON string of `value`; printable ASCII in its place when `value` is
//  not UTF-8 (--env values are bytes). NULL without memory.
static json_t *
s_string(const char *value, size_t len)
{
    json_t *string = json_stringn(value, len);
    if (string)
        return string;
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        copy[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    string = json_stringn(copy, len);
    free(copy);
    return string;
}

//  {"KEY":"VALUE"...} of "KEY=VALUE" pairs. NULL without memory.
static json_t *
s_variables(const char *const *pairs, size_t count)
{
    json_t *map = json_object();
    for (size_t i = 0; map && i < count; i++) {
        const char *eq = strchr(pairs[i], '=');
        size_t key_len = eq ? (size_t)(eq - pairs[i]) : strlen(pairs[i]);
        const char *value = eq ? eq + 1 : "";
        char *key = strndup(pairs[i], key_len);
        json_t *string = s_string(value, strlen(value));
        json_t *key_string = key ? s_string(key, key_len) : NULL;
        if (!string || !key_string ||
            json_object_set_new(map, json_string_value(key_string), string) != 0) {
            json_decref(string);
            json_decref(map);
            map = NULL;
        }
        json_decref(key_string);
        free(key);
    }
    return map;
}

json_t *
emu_mgmt_shape_configuration(emu_function_t *function,
                             const emu_function_version_info_t *info,
                             const char *qualifier, emu_mgmt_shape_view_t view)
{
    assert(function && info);
    bool listed = view == EMU_MGMT_SHAPE_LISTED;
    const char *name = emu_function_name(function);
    char arn[EMU_AWS_ARN_MAX], modified[32], log_group[96], runtime[EMU_AWS_ARN_MAX];
    emu_aws_function_arn(name, qualifier, arn, sizeof arn);
    emu_aws_timestamp(info->last_modified_ms, modified, sizeof modified);
    emu_aws_runtime_version_arn(EMU_MGMT_SHAPE_RUNTIME, runtime, sizeof runtime);
    snprintf(log_group, sizeof log_group, "/aws/lambda/%s", name);
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:i, s:s, s:s, s:s}", "FunctionName",
        name, "FunctionArn", arn, "Runtime", EMU_MGMT_SHAPE_RUNTIME, "Role", SHAPE_ROLE,
        "Handler", info->handler, "CodeSize", (json_int_t)info->code_size, "Description",
        info->description, "Timeout", info->timeout_s, "MemorySize", info->memory_mb,
        "LastModified", modified, "CodeSha256", info->code_sha256, "Version",
        info->version);
    int rc = doc ? 0 : -1;
    if (rc == 0 && info->variable_count > 0) {
        json_t *variables = s_variables(info->variables, info->variable_count);
        rc = variables ? json_object_set_new(doc, "Environment",
                                             json_pack("{s:o}", "Variables", variables))
                       : -1;
    }
    if (rc == 0)
        rc = json_object_set_new(doc, "TracingConfig",
                                 json_pack("{s:s}", "Mode", "PassThrough"));
    if (rc == 0)
        rc = json_object_set_new(doc, "RevisionId", json_string(info->revision_id));
    if (rc == 0 && !listed)
        rc = json_object_set_new(doc, "State", json_string("Active"));
    if (rc == 0 && view == EMU_MGMT_SHAPE_CURRENT)
        rc = json_object_set_new(doc, "LastUpdateStatus", json_string("Successful"));
    if (rc == 0 && view == EMU_MGMT_SHAPE_UPDATING)
        rc = json_object_update_new(
            doc, json_pack("{s:s, s:s, s:s}", "LastUpdateStatus", "InProgress",
                           "LastUpdateStatusReason", "The function is being created.",
                           "LastUpdateStatusReasonCode", "Creating"));
    if (rc == 0)
        rc = json_object_set_new(doc, "PackageType", json_string("Zip"));
    if (rc == 0)
        rc = json_object_set_new(doc, "Architectures", json_pack("[s]", "x86_64"));
    if (rc == 0)
        rc =
            json_object_set_new(doc, "EphemeralStorage", json_pack("{s:i}", "Size", 512));
    if (rc == 0)
        rc = json_object_set_new(
            doc, "SnapStart",
            json_pack("{s:s, s:s}", "ApplyOn", "None", "OptimizationStatus", "Off"));
    if (rc == 0 && !listed)
        rc = json_object_set_new(doc, "RuntimeVersionConfig",
                                 json_pack("{s:s}", "RuntimeVersionArn", runtime));
    if (rc == 0)
        rc = json_object_set_new(
            doc, "LoggingConfig",
            json_pack("{s:s, s:s}", "LogFormat", "Text", "LogGroup", log_group));
    if (rc != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

json_t *
emu_mgmt_shape_alias(emu_function_t *function, const emu_function_alias_info_t *info)
{
    assert(function && info);
    char arn[EMU_AWS_ARN_MAX];
    emu_aws_function_arn(emu_function_name(function), info->name, arn, sizeof arn);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "AliasArn", arn, "Name", info->name,
                     "FunctionVersion", info->version, "Description", info->description,
                     "RevisionId", info->revision_id);
}

json_t *
emu_mgmt_shape_provisioned(emu_function_t *function,
                           const emu_function_provisioned_info_t *info, bool listed)
{
    assert(function && info);
    json_t *doc = json_object();
    int rc = doc ? 0 : -1;
    if (rc == 0 && listed) {
        char arn[EMU_AWS_ARN_MAX];
        emu_aws_function_arn(emu_function_name(function), info->qualifier, arn,
                             sizeof arn);
        rc = json_object_set_new(doc, "FunctionArn", json_string(arn));
    }
    char modified[32];
    emu_aws_timestamp(info->last_modified_ms, modified, sizeof modified);
    if (rc == 0)
        rc = json_object_set_new(doc, "RequestedProvisionedConcurrentExecutions",
                                 json_integer(info->requested));
    if (rc == 0)
        rc = json_object_set_new(doc, "AvailableProvisionedConcurrentExecutions",
                                 json_integer(info->available));
    if (rc == 0)
        rc = json_object_set_new(doc, "AllocatedProvisionedConcurrentExecutions",
                                 json_integer(info->allocated));
    if (rc == 0)
        rc = json_object_set_new(doc, "Status", json_string(info->status));
    if (rc == 0 && strcmp(info->status, "FAILED") == 0)
        rc = json_object_set_new(doc, "StatusReason", json_string(info->status_reason));
    if (rc == 0)
        rc = json_object_set_new(doc, "LastModified", json_string(modified));
    if (rc != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

emu_reply_t *
emu_mgmt_shape_reply(int status, json_t *doc)
{
    emu_reply_t *reply = doc ? emu_reply_new(status) : NULL;
    if (reply && emu_reply_set_json(reply, doc) != 0)
        emu_reply_destroy(&reply);
    json_decref(doc);
    return reply;
}

bool
emu_mgmt_shape_page_next(emu_mgmt_page_t *page)
{
    assert(page);
    size_t index = page->total++;
    return page->list && index >= page->start && index - page->start < page->limit;
}

void
emu_mgmt_shape_page_add(emu_mgmt_page_t *page, json_t *item)
{
    assert(page);
    if (json_array_append_new(page->list, item) != 0) {
        json_decref(page->list);
        page->list = NULL;
    }
}

emu_reply_t *
emu_mgmt_shape_page_reply(emu_mgmt_page_t *page, const char *member)
{
    assert(page && member);
    json_t *doc = page->list ? json_pack("{s:o}", member, page->list) : NULL;
    page->list = NULL;
    if (doc && page->start + page->limit < page->total) {
        char marker[24];
        snprintf(marker, sizeof marker, "%zu", page->start + page->limit);
        if (json_object_set_new(doc, "NextMarker", json_string(marker)) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    }
    return emu_mgmt_shape_reply(200, doc);
}

//  -------------------------------------------------------------------------
//  Selftest

//  GetFunctionConfiguration's document of the fixture's "demo": the ARN's
//  qualifier, handler, code size, LastModified, CodeSha256, RevisionId,
//  the status members and RuntimeVersionConfig go in.
#define S_EXPECTED                                                                       \
    "{\"FunctionName\":\"demo\",\"FunctionArn\":\"" EMU_MGMT_TEST_ARN "demo%s\","        \
    "\"Runtime\":\"provided.al2023\","                                                   \
    "\"Role\":\"arn:aws:iam::123456789012:role/stampede-lambda\",\"Handler\":\"%s\","    \
    "\"CodeSize\":%lld,\"Description\":\"\",\"Timeout\":3,\"MemorySize\":128,"           \
    "\"LastModified\":\"%s\",\"CodeSha256\":\"%s\",\"Version\":\"$LATEST\","             \
    "\"Environment\":{\"Variables\":{\"GREETING\":\"hi\"}},"                             \
    "\"TracingConfig\":{\"Mode\":\"PassThrough\"},\"RevisionId\":\"%s\","                \
    "%s\"PackageType\":\"Zip\","                                                         \
    "\"Architectures\":[\"x86_64\"],\"EphemeralStorage\":{\"Size\":512},"                \
    "\"SnapStart\":{\"ApplyOn\":\"None\",\"OptimizationStatus\":\"Off\"},%s"             \
    "\"LoggingConfig\":{\"LogFormat\":\"Text\",\"LogGroup\":\"/aws/lambda/demo\"}}"

void
emu_mgmt_shape_test(bool verbose)
{
    emu_mgmt_fixture_t *fixture = emu_mgmt_fixture_new();
    emu_function_t *demo = emu_account_function_at(fixture->account, 0);
    emu_function_version_info_t info;
    emu_aws_error_t err;
    CHECK_INT(emu_function_version_info(demo, NULL, &info, &err), 0);
    CHECK_TRUE(info.code_size > 0);
    CHECK_STR(info.handler, "bootstrap");

    //  GetFunctionConfiguration's document, exactly; the runtime version
    //  is the SHA-256 of "provided.al2023".
    char stamp[32], expected[2048];
    emu_aws_timestamp(info.last_modified_ms, stamp, sizeof stamp);
    const char *runtime =
        "\"RuntimeVersionConfig\":{\"RuntimeVersionArn\":\"arn:aws:lambda:us-east-1::"
        "runtime:0c7a6b68ae8de5940afe217dbb81f77b9fcad26466e440a79ad48af42a49669c\"},";
    const struct {
        emu_mgmt_shape_view_t view;
        const char *qualifier;
        const char *status; //  State and LastUpdateStatus members
        const char *runtime;
    } views[] = {
        {EMU_MGMT_SHAPE_CURRENT, NULL,
         "\"State\":\"Active\",\"LastUpdateStatus\":\"Successful\",", runtime},
        {EMU_MGMT_SHAPE_UPDATING, "",
         "\"State\":\"Active\",\"LastUpdateStatus\":\"InProgress\","
         "\"LastUpdateStatusReason\":\"The function is being created.\","
         "\"LastUpdateStatusReasonCode\":\"Creating\",",
         runtime},
        {EMU_MGMT_SHAPE_LISTED, "$LATEST", "", ""},
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        const char *qualifier = views[i].qualifier;
        snprintf(expected, sizeof expected, S_EXPECTED,
                 qualifier && *qualifier ? ":$LATEST" : "", info.handler,
                 (long long)info.code_size, stamp, info.code_sha256, info.revision_id,
                 views[i].status, views[i].runtime);
        json_t *doc = emu_mgmt_shape_configuration(demo, &info, qualifier, views[i].view);
        char *text = json_dumps(doc, JSON_COMPACT);
        CHECK_STR(text, expected);
        free(text);
        json_decref(doc);
    }

    //  An alias, and a reply carrying it.
    emu_function_alias_info_t alias;
    CHECK_INT(emu_function_publish(demo, "first", &info, &err), 0);
    CHECK_INT(emu_function_create_alias(demo, "live", "1", "on", &alias, &err), 0);
    json_t *doc = emu_mgmt_shape_alias(demo, &alias);
    CHECK_STR(emu_mgmt_test_str(doc, "AliasArn"), EMU_MGMT_TEST_ARN "demo:live");
    CHECK_STR(emu_mgmt_test_str(doc, "FunctionVersion"), "1");
    CHECK_STR(emu_mgmt_test_str(doc, "Description"), "on");
    CHECK_STR(emu_mgmt_test_str(doc, "RevisionId"), alias.revision_id);
    CHECK_INT(json_object_size(doc), 5);
    emu_reply_t *reply = emu_mgmt_shape_reply(201, doc);
    CHECK_INT(emu_reply_status(reply), 201);
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    emu_reply_destroy(&reply);
    CHECK_NULL(emu_mgmt_shape_reply(200, NULL));

    //  Provisioned concurrency configs: listed ones name their function.
    emu_function_provisioned_info_t provisioned = {
        "live", 2, 1, 2, "FAILED", "FUNCTION_ERROR_INIT_FAILURE: x", 0};
    doc = emu_mgmt_shape_provisioned(demo, &provisioned, true);
    char *text = json_dumps(doc, JSON_COMPACT);
    CHECK_STR(text,
              "{\"FunctionArn\":\"" EMU_MGMT_TEST_ARN "demo:live\","
              "\"RequestedProvisionedConcurrentExecutions\":2,"
              "\"AvailableProvisionedConcurrentExecutions\":1,"
              "\"AllocatedProvisionedConcurrentExecutions\":2,\"Status\":\"FAILED\","
              "\"StatusReason\":\"FUNCTION_ERROR_INIT_FAILURE: x\","
              "\"LastModified\":\"1970-01-01T00:00:00.000+0000\"}");
    free(text);
    json_decref(doc);
    provisioned.status = "READY";
    doc = emu_mgmt_shape_provisioned(demo, &provisioned, false);
    CHECK_NULL(json_object_get(doc, "FunctionArn"));
    CHECK_NULL(json_object_get(doc, "StatusReason"));
    CHECK_INT(json_object_size(doc), 5);
    json_decref(doc);

    //  A page of items 1 and 2 of 4: NextMarker 3; the last page has none.
    emu_mgmt_page_t page = {1, 2, 0, json_array()};
    for (int i = 0; i < 4; i++)
        if (emu_mgmt_shape_page_next(&page))
            emu_mgmt_shape_page_add(&page, json_integer(i));
    reply = emu_mgmt_shape_page_reply(&page, "Items");
    size_t len;
    CHECK_STR(emu_reply_body(reply, &len), "{\"Items\":[1,2],\"NextMarker\":\"3\"}");
    CHECK_NULL(page.list);
    emu_reply_destroy(&reply);
    page = (emu_mgmt_page_t){2, 50, 0, json_array()};
    for (int i = 0; i < 4; i++)
        if (emu_mgmt_shape_page_next(&page))
            emu_mgmt_shape_page_add(&page, json_integer(i));
    reply = emu_mgmt_shape_page_reply(&page, "Items");
    CHECK_STR(emu_reply_body(reply, &len), "{\"Items\":[2,3]}");
    emu_reply_destroy(&reply);

    if (verbose)
        printf("documents as AWS shapes them; ");
    emu_mgmt_fixture_destroy(&fixture);
}
