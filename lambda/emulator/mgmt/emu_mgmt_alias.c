/*  emu_mgmt_alias — management operations on aliases; see
    emu_mgmt_alias.h.
*/
#include "emu_mgmt_alias.h"
#include "emu_mgmt_selftest.h"

#include <stdio.h>
#include <string.h>

typedef enum { S_CREATE, S_GET, S_UPDATE, S_DELETE } s_verb_t;

//  RoutingConfig (weighted aliases) is not emulated: refused unless empty.
static int
s_check_routing(emu_mgmt_req_t *req)
{
    json_t *routing = emu_mgmt_req_member(req, "RoutingConfig");
    if (!routing)
        return 0;
    if (!json_is_object(routing))
        return emu_mgmt_req_type_error(req, "RoutingConfig", "an object");
    json_t *weights = json_object_get(routing, "AdditionalVersionWeights");
    if (!weights || json_is_null(weights) ||
        (json_is_object(weights) && json_object_size(weights) == 0))
        return 0;
    emu_aws_error_set(emu_mgmt_req_err(req), 400, "InvalidParameterValueException",
                      "stampede-lambda does not emulate weighted aliases "
                      "(RoutingConfig.AdditionalVersionWeights).");
    return -1;
}

//  One alias operation; the checks in the order AWS makes them.
static emu_reply_t *
s_alias(emu_mgmt_req_t *req, s_verb_t verb)
{
    const char *name = emu_mgmt_req_alias_name(req), *version = NULL, *description = NULL,
               *revision = NULL;
    bool body = verb == S_CREATE || verb == S_UPDATE;
    if (body && (emu_mgmt_req_body_string(req, "FunctionVersion", &version) != 0 ||
                 emu_mgmt_req_body_string(req, "Description", &description) != 0 ||
                 s_check_routing(req) != 0))
        return emu_mgmt_req_error_reply(req);
    if (verb == S_CREATE && emu_mgmt_req_body_string(req, "Name", &name) != 0)
        return emu_mgmt_req_error_reply(req);
    if (verb == S_UPDATE && emu_mgmt_req_body_string(req, "RevisionId", &revision) != 0)
        return emu_mgmt_req_error_reply(req);
    emu_mgmt_req_check_function_name(req, false);
    emu_mgmt_req_check_null(req, "name", name != NULL);
    if (name)
        emu_mgmt_req_check_alias(req, name);
    if (verb == S_CREATE)
        emu_mgmt_req_check_null(req, "functionVersion", version != NULL);
    emu_mgmt_req_check_version(req, version);
    emu_mgmt_req_check_description(req, description);
    emu_function_t *function = emu_mgmt_req_unqualified(req, false);
    if (!function)
        return emu_mgmt_req_error_reply(req);
    emu_aws_error_t *err = emu_mgmt_req_err(req);
    emu_function_alias_info_t info;
    int rc = 0;
    switch (verb) {
    case S_CREATE:
        rc = emu_function_create_alias(function, name, version, description, &info, err);
        break;
    case S_GET:
        rc = emu_function_alias(function, name, &info, err);
        break;
    case S_UPDATE:
        rc = emu_function_alias(function, name, &info, err);
        if (rc == 0)
            rc = emu_mgmt_req_check_revision(req, revision, info.revision_id);
        if (rc == 0)
            rc = emu_function_update_alias(function, name, version, description, &info,
                                           err);
        break;
    case S_DELETE:
        if (emu_function_delete_alias(function, name, err) != 0)
            return emu_mgmt_req_error_reply(req);
        return emu_reply_new(204);
    }
    if (rc != 0)
        return emu_mgmt_req_error_reply(req);
    return emu_mgmt_shape_reply(verb == S_CREATE ? 201 : 200,
                                emu_mgmt_shape_alias(function, &info));
}

emu_reply_t *
emu_mgmt_alias_create(emu_mgmt_req_t *req)
{
    return s_alias(req, S_CREATE);
}

emu_reply_t *
emu_mgmt_alias_get(emu_mgmt_req_t *req)
{
    return s_alias(req, S_GET);
}

emu_reply_t *
emu_mgmt_alias_update(emu_mgmt_req_t *req)
{
    return s_alias(req, S_UPDATE);
}

emu_reply_t *
emu_mgmt_alias_delete(emu_mgmt_req_t *req)
{
    return s_alias(req, S_DELETE);
}

emu_reply_t *
emu_mgmt_alias_list(emu_mgmt_req_t *req)
{
    const char *version = emu_mgmt_req_query(req, "FunctionVersion");
    emu_mgmt_req_check_function_name(req, false);
    emu_mgmt_req_check_version(req, version);
    emu_mgmt_page_t page;
    emu_mgmt_req_page(req, 10000, &page);
    emu_function_t *function = emu_mgmt_req_unqualified(req, false);
    if (!function)
        return emu_mgmt_req_error_reply(req);
    page.list = json_array();
    for (size_t i = 0; i < emu_function_alias_count(function); i++) {
        emu_function_alias_info_t info;
        emu_function_alias_at(function, i, &info);
        if (version && strcmp(version, info.version) != 0)
            continue;
        if (emu_mgmt_shape_page_next(&page))
            emu_mgmt_shape_page_add(&page, emu_mgmt_shape_alias(function, &info));
    }
    return emu_mgmt_shape_page_reply(&page, "Aliases");
}

//  -------------------------------------------------------------------------
//  Selftest

#define S_ARN EMU_MGMT_TEST_ARN
#define S_FN EMU_MGMT_TEST_FN

static json_t *
s_test(emu_account_t *account, emu_mgmt_op_fn *op, const char *target, const char *body,
       int status, const char *type, const char *message)
{
    const char *name = op == emu_mgmt_alias_create   ? "CreateAlias"
                       : op == emu_mgmt_alias_get    ? "GetAlias"
                       : op == emu_mgmt_alias_update ? "UpdateAlias"
                       : op == emu_mgmt_alias_delete ? "DeleteAlias"
                                                     : "ListAliases";
    return emu_mgmt_test_op(account, op, name, target, body, status, type, message);
}

//  The same, for an error: nothing returned.
#define S_TEST_ERROR(...) json_decref(s_test(__VA_ARGS__))

void
emu_mgmt_alias_test(bool verbose)
{
    emu_mgmt_fixture_t *fixture = emu_mgmt_fixture_new();
    emu_account_t *account = fixture->account;
    emu_function_t *demo = emu_account_function_at(account, 0);
    emu_function_version_info_t version;
    emu_aws_error_t err;
    CHECK_INT(emu_function_publish(demo, "first", &version, &err), 0);
    emu_mgmt_op_fn *create = emu_mgmt_alias_create, *get = emu_mgmt_alias_get,
                   *update = emu_mgmt_alias_update, *delete = emu_mgmt_alias_delete,
                   *list = emu_mgmt_alias_list;

    const char *aliases = S_FN "demo/aliases";
    S_TEST_ERROR(account, create, aliases, "{\"FunctionVersion\":\"1\"}", 400,
                 "ValidationException",
                 "1 validation error detected: Value null at 'name' failed to satisfy "
                 "constraint: Member must not be null");
    S_TEST_ERROR(account, create, aliases, "{\"Name\":\"123\",\"FunctionVersion\":\"1\"}",
                 400, "ValidationException",
                 "1 validation error detected: Value '123' at 'name' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: "
                 "(?!^[0-9]+$)([a-zA-Z0-9-_]+)");
    S_TEST_ERROR(account, create, aliases,
                 "{\"Name\":\"live\",\"FunctionVersion\":\"v1\"}", 400,
                 "ValidationException",
                 "1 validation error detected: Value 'v1' at 'functionVersion' failed to "
                 "satisfy constraint: Member must satisfy regular expression pattern: "
                 "(\\$LATEST|[0-9]+)");
    S_TEST_ERROR(account, create, aliases,
                 "{\"Name\":\"live\",\"FunctionVersion\":\"1\",\"RoutingConfig\":"
                 "{\"AdditionalVersionWeights\":{\"2\":0.5}}}",
                 400, "InvalidParameterValueException", NULL);
    S_TEST_ERROR(account, create, aliases,
                 "{\"Name\":\"live\",\"FunctionVersion\":\"9\"}", 404,
                 "ResourceNotFoundException", NULL);
    json_t *doc =
        s_test(account, create, aliases,
               "{\"Name\":\"live\",\"FunctionVersion\":\"1\",\"Description\":\"on\"}",
               201, NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "AliasArn"), S_ARN "demo:live");
    CHECK_STR(emu_mgmt_test_str(doc, "Name"), "live");
    CHECK_STR(emu_mgmt_test_str(doc, "FunctionVersion"), "1");
    CHECK_STR(emu_mgmt_test_str(doc, "Description"), "on");
    CHECK_NOT_NULL(emu_mgmt_test_str(doc, "RevisionId"));
    CHECK_INT(json_object_size(doc), 5);
    json_decref(doc);
    S_TEST_ERROR(account, create, aliases,
                 "{\"Name\":\"live\",\"FunctionVersion\":\"1\"}", 409,
                 "ResourceConflictException", NULL);
    doc = s_test(account, get, S_FN "demo/aliases/live", NULL, 200, NULL, NULL);
    char revision[128], body[512];
    snprintf(revision, sizeof revision, "%s", emu_mgmt_test_str(doc, "RevisionId"));
    json_decref(doc);
    S_TEST_ERROR(account, update, S_FN "demo/aliases/live", "{\"RevisionId\":\"stale\"}",
                 412, "PreconditionFailedException", NULL);
    snprintf(body, sizeof body, "{\"RevisionId\":\"%s\",\"Description\":\"d2\"}",
             revision);
    doc = s_test(account, update, S_FN "demo/aliases/live", body, 200, NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "Description"), "d2");
    CHECK_STR(emu_mgmt_test_str(doc, "FunctionVersion"), "1");
    json_decref(doc);
    doc = s_test(account, list, aliases, NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Aliases")), 1);
    CHECK_STR(emu_mgmt_test_str(doc, "Aliases.0.AliasArn"), S_ARN "demo:live");
    json_decref(doc);
    doc = s_test(account, list, S_FN "demo/aliases?FunctionVersion=%24LATEST", NULL, 200,
                 NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Aliases")), 0);
    json_decref(doc);
    emu_function_alias_info_t canary;
    CHECK_INT(emu_function_create_alias(demo, "canary", "1", NULL, &canary, &err), 0);
    doc = s_test(account, list, S_FN "demo/aliases?FunctionVersion=1&MaxItems=1", NULL,
                 200, NULL, NULL);
    CHECK_STR(emu_mgmt_test_str(doc, "Aliases.0.Name"), "live");
    CHECK_STR(emu_mgmt_test_str(doc, "NextMarker"), "1");
    json_decref(doc);
    S_TEST_ERROR(account, get, S_FN "demo/aliases/nope", NULL, 404,
                 "ResourceNotFoundException", NULL);
    S_TEST_ERROR(account, get, S_FN "demo/aliases/1", NULL, 400, "ValidationException",
                 NULL);

    //  DeleteAlias, and what is gone.
    CHECK_NULL(s_test(account, delete, S_FN "demo/aliases/live", NULL, 204, NULL, NULL));
    S_TEST_ERROR(account, get, S_FN "demo/aliases/live", NULL, 404,
                 "ResourceNotFoundException", NULL);
    S_TEST_ERROR(account, delete, S_FN "demo/aliases/live", NULL, 404,
                 "ResourceNotFoundException", NULL);

    if (verbose)
        printf("aliases answered as AWS does; ");
    emu_mgmt_fixture_destroy(&fixture);
}
