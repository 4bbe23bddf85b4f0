/*  emu_mgmt — the Lambda management API; see emu_mgmt.h.

    One request, start to end, in one s_request_t (heap, about 9 KB):
      1. the target is ours when its path starts with an API date
         ("/2015-03-31/"...) and is not an Invoke path; it is split into
         path segments (each percent-decoded on its own, so an ARN's %3A
         never splits a segment) and query pairs, within MGMT_TARGET_MAX
         bytes, MGMT_SEGMENTS_MAX segments and MGMT_QUERY_MAX pairs;
      2. s_routes names the operation from the method and the path shape
         (404 UnknownOperationException when none fits);
      3. the body (at most EMU_MGMT_BODY_MAX bytes, 413 beyond) is parsed
         as one JSON object for the operations that take one (400
         InvalidRequestContentException when it is not, or when a member
         has the wrong JSON type);
      4. every member is checked against the constraint botocore's model
         gives it (length, range, pattern); all violations are reported
         together as AWS does ("2 validation errors detected: ...; ...");
      5. the function is resolved by the account, the core does the work
         and fills an emu_aws_error_t when it refuses, which is passed
         through unchanged; otherwise the answer is shaped as the service
         shapes it.

    Lists page as the model says: MaxItems (default 50) and Marker, which
    is the decimal index of the first item of the page (NextMarker, only
    when items remain).

    Any text from the request that goes into an error message is printable
    ASCII first (s_quote), so every error answer is valid JSON and no
    message is cut inside a UTF-8 sequence.

    No state of its own; the account is borrowed for the call.
*/
#define _GNU_SOURCE //  asprintf
#include "emu_mgmt.h"
#include "emu_config.h"
#include "emu_loop.h"
#include "emu_route.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Longest request target (path and query) accepted, bytes.
#define MGMT_TARGET_MAX 4096
//  Most path segments: "2015-03-31/functions/NAME/aliases/ALIAS".
#define MGMT_SEGMENTS_MAX 8
//  Most query parameters.
#define MGMT_QUERY_MAX 16
//  Environment variables: AWS caps their JSON text at 4 KB.
#define MGMT_VARIABLES_SIZE_MAX 4096
//  Page size of a list when MaxItems is not given (AWS's default).
#define MGMT_PAGE_DEFAULT 50
//  Longest value quoted in an error message.
#define MGMT_QUOTE_MAX 200

//  The code-size limits GetAccountSettings reports (AWS's defaults).
#define MGMT_TOTAL_CODE_SIZE INT64_C(80530636800)
#define MGMT_CODE_SIZE_UNZIPPED INT64_C(262144000)
#define MGMT_CODE_SIZE_ZIPPED INT64_C(52428800)

#define MGMT_ROLE "arn:aws:iam::" EMU_AWS_ACCOUNT_ID ":role/stampede-lambda"
#define MGMT_RUNTIME "provided.al2023"

//  botocore's patterns: as AWS prints them in messages, and as POSIX
//  extended expressions (no \d; '-' last in brackets), matched whole.
#define MGMT_NAME_PATTERN                                                                \
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?("       \
    "function:)?"                                                                        \
    "([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
#define MGMT_NAME_ERE                                                                    \
    "^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-[0-9]{1}:)?([0-9]{12}:)?"   \
    "(function:)?([a-zA-Z0-9_-]+)(:(\\$LATEST|[a-zA-Z0-9_-]+))?$"
#define MGMT_NSNAME_PATTERN                                                              \
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?("       \
    "function:)?"                                                                        \
    "([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
#define MGMT_NSNAME_ERE                                                                  \
    "^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-[0-9]{1}:)?([0-9]{12}:)?"   \
    "(function:)?([a-zA-Z0-9_.-]+)(:(\\$LATEST|[a-zA-Z0-9_-]+))?$"
#define MGMT_QUALIFIER_PATTERN "(|[a-zA-Z0-9$_-]+)"
#define MGMT_QUALIFIER_ERE "^[a-zA-Z0-9$_-]*$"
#define MGMT_ALIAS_PATTERN "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
#define MGMT_VERSION_PATTERN "(\\$LATEST|[0-9]+)"
#define MGMT_VERSION_ERE "^(\\$LATEST|[0-9]+)$"
#define MGMT_REGION_PATTERN "ALL|[a-z]{2}(-gov)?-[a-z]+-\\d{1}"
#define MGMT_REGION_ERE "^(ALL|[a-z]{2}(-gov)?-[a-z]+-[0-9]{1})$"
#define MGMT_ENV_KEY_PATTERN "[a-zA-Z]([a-zA-Z0-9_])+"

typedef enum {
    OP_LIST_FUNCTIONS,
    OP_GET_FUNCTION,
    OP_GET_CONFIGURATION,
    OP_UPDATE_CONFIGURATION,
    OP_PUT_CONCURRENCY,
    OP_GET_CONCURRENCY,
    OP_DELETE_CONCURRENCY,
    OP_PUT_PROVISIONED,
    OP_GET_PROVISIONED, //  or ListProvisionedConcurrencyConfigs with ?List=
    OP_DELETE_PROVISIONED,
    OP_PUBLISH_VERSION,
    OP_LIST_VERSIONS,
    OP_CREATE_ALIAS,
    OP_LIST_ALIASES,
    OP_GET_ALIAS,
    OP_UPDATE_ALIAS,
    OP_DELETE_ALIAS,
    OP_ACCOUNT_SETTINGS,
} s_op_t;

//  One operation at its path. In `path`, "{fn}" and "{alias}" match any
//  segment; a trailing '/' on the request is ignored.
typedef struct {
    const char *method;
    const char *path;
    s_op_t op;
    const char *name; //  AWS's operation name
    bool has_body;    //  takes a JSON body
} s_route_t;

static const s_route_t s_routes[] = {
    {"GET", "/2015-03-31/functions", OP_LIST_FUNCTIONS, "ListFunctions", false},
    {"GET", "/2015-03-31/functions/{fn}", OP_GET_FUNCTION, "GetFunction", false},
    {"GET", "/2015-03-31/functions/{fn}/configuration", OP_GET_CONFIGURATION,
     "GetFunctionConfiguration", false},
    {"PUT", "/2015-03-31/functions/{fn}/configuration", OP_UPDATE_CONFIGURATION,
     "UpdateFunctionConfiguration", true},
    {"PUT", "/2017-10-31/functions/{fn}/concurrency", OP_PUT_CONCURRENCY,
     "PutFunctionConcurrency", true},
    {"GET", "/2019-09-30/functions/{fn}/concurrency", OP_GET_CONCURRENCY,
     "GetFunctionConcurrency", false},
    {"DELETE", "/2017-10-31/functions/{fn}/concurrency", OP_DELETE_CONCURRENCY,
     "DeleteFunctionConcurrency", false},
    {"PUT", "/2019-09-30/functions/{fn}/provisioned-concurrency", OP_PUT_PROVISIONED,
     "PutProvisionedConcurrencyConfig", true},
    {"GET", "/2019-09-30/functions/{fn}/provisioned-concurrency", OP_GET_PROVISIONED,
     "GetProvisionedConcurrencyConfig", false},
    {"DELETE", "/2019-09-30/functions/{fn}/provisioned-concurrency",
     OP_DELETE_PROVISIONED, "DeleteProvisionedConcurrencyConfig", false},
    {"POST", "/2015-03-31/functions/{fn}/versions", OP_PUBLISH_VERSION, "PublishVersion",
     true},
    {"GET", "/2015-03-31/functions/{fn}/versions", OP_LIST_VERSIONS,
     "ListVersionsByFunction", false},
    {"POST", "/2015-03-31/functions/{fn}/aliases", OP_CREATE_ALIAS, "CreateAlias", true},
    {"GET", "/2015-03-31/functions/{fn}/aliases", OP_LIST_ALIASES, "ListAliases", false},
    {"GET", "/2015-03-31/functions/{fn}/aliases/{alias}", OP_GET_ALIAS, "GetAlias",
     false},
    {"PUT", "/2015-03-31/functions/{fn}/aliases/{alias}", OP_UPDATE_ALIAS, "UpdateAlias",
     true},
    {"DELETE", "/2015-03-31/functions/{fn}/aliases/{alias}", OP_DELETE_ALIAS,
     "DeleteAlias", false},
    {"GET", "/2016-08-19/account-settings", OP_ACCOUNT_SETTINGS, "GetAccountSettings",
     false},
};

//  One request being answered.
typedef struct {
    emu_account_t *account; //  borrowed
    const s_route_t *route;
    const char *function_name; //  decoded {fn}, or NULL
    const char *alias_name;    //  decoded {alias}, or NULL
    const char *segments[MGMT_SEGMENTS_MAX];
    size_t segment_count;
    char
        path[MGMT_TARGET_MAX + MGMT_SEGMENTS_MAX + 1]; //  decoded segments, NUL-separated
    const char *keys[MGMT_QUERY_MAX];
    const char *values[MGMT_QUERY_MAX];
    size_t query_count;
    char query[MGMT_TARGET_MAX + 2 * MGMT_QUERY_MAX + 1]; //  decoded pairs, NUL-separated
    json_t *body;                                         //  parsed body object, or NULL
    int violation_count;                                  //  constraint violations so far
    char violations[512];                                 //  their text, "; "-separated
    bool out_of_memory;
    emu_aws_error_t err;
} s_request_t;

//  -------------------------------------------------------------------------
//  Text helpers

//  Copies `value` into `out` as printable ASCII (other bytes become '?'),
//  at most MGMT_QUOTE_MAX bytes then "...", for error messages.
static void
s_quote(const char *value, char *out, size_t size)
{
    assert(value && out && size > 4);
    size_t len = 0;
    for (const char *p = value; *p && len + 4 < size; p++) {
        if (len == MGMT_QUOTE_MAX) {
            memcpy(out + len, "...", 3);
            len += 3;
            break;
        }
        unsigned char c = (unsigned char)*p;
        out[len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[len] = '\0';
}

//  Percent-decodes `len` bytes of `in` into `out` (room for len + 1),
//  '+' as a space when `plus`. A malformed escape or %00 leaves the text
//  as sent, so that the member's pattern check rejects it.
static void
s_decode(const char *in, size_t len, char *out, bool plus)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[o++] = plus && in[i] == '+' ? ' ' : in[i];
            continue;
        }
        int byte = emu_route_percent_byte(in, len, i);
        if (byte <= 0) {
            memcpy(out, in, len);
            out[len] = '\0';
            return;
        }
        out[o++] = (char)byte;
        i += 2;
    }
    out[o] = '\0';
}

//  True when `value` matches the extended expression `ere` (anchored by
//  the expression). Sets out_of_memory when it cannot be compiled.
static bool
s_matches(s_request_t *req, const char *value, const char *ere)
{
    regex_t regex;
    if (regcomp(&regex, ere, REG_EXTENDED | REG_NOSUB) != 0) {
        req->out_of_memory = true;
        return false;
    }
    bool match = regexec(&regex, value, 0, NULL, 0) == 0;
    regfree(&regex);
    return match;
}

//  -------------------------------------------------------------------------
//  Constraint checks: each adds AWS's wording for a violation

static void s_violation(s_request_t *req, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void
s_violation(s_request_t *req, const char *format, ...)
{
    size_t used = strlen(req->violations);
    if (req->violation_count > 0 && used + 2 < sizeof req->violations) {
        memcpy(req->violations + used, "; ", 3);
        used += 2;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(req->violations + used, sizeof req->violations - used, format, args);
    va_end(args);
    req->violation_count++;
}

//  Value 'x' at 'member' failed to satisfy constraint: `constraint`.
static void
s_violation_value(s_request_t *req, const char *member, const char *value,
                  const char *constraint)
{
    char quoted[MGMT_QUOTE_MAX + 8];
    s_quote(value, quoted, sizeof quoted);
    s_violation(req, "Value '%s' at '%s' failed to satisfy constraint: %s", quoted,
                member, constraint);
}

static void
s_check_null(s_request_t *req, const char *member, bool present)
{
    if (!present)
        s_violation(
            req,
            "Value null at '%s' failed to satisfy constraint: Member must not be null",
            member);
}

static void
s_check_length(s_request_t *req, const char *member, const char *value, size_t min,
               size_t max)
{
    size_t len = strlen(value);
    char constraint[96];
    if (len < min) {
        snprintf(constraint, sizeof constraint,
                 "Member must have length greater than or equal to %zu", min);
        s_violation_value(req, member, value, constraint);
    }
    if (len > max) {
        snprintf(constraint, sizeof constraint,
                 "Member must have length less than or equal to %zu", max);
        s_violation_value(req, member, value, constraint);
    }
}

static void
s_check_pattern(s_request_t *req, const char *member, const char *value, const char *ere,
                const char *pattern)
{
    if (!s_matches(req, value, ere)) {
        char constraint[400];
        snprintf(constraint, sizeof constraint,
                 "Member must satisfy regular expression pattern: %s", pattern);
        s_violation_value(req, member, value, constraint);
    }
}

static void
s_check_range(s_request_t *req, const char *member, long long value, long long min,
              long long max)
{
    char text[24], constraint[96];
    snprintf(text, sizeof text, "%lld", value);
    if (value < min) {
        snprintf(constraint, sizeof constraint,
                 "Member must have value greater than or equal to %lld", min);
        s_violation_value(req, member, text, constraint);
    }
    if (value > max) {
        snprintf(constraint, sizeof constraint,
                 "Member must have value less than or equal to %lld", max);
        s_violation_value(req, member, text, constraint);
    }
}

//  FunctionName: `namespaced` for NamespacedFunctionName (170, with '.').
static void
s_check_function_name(s_request_t *req, const char *name, bool namespaced)
{
    s_check_length(req, "functionName", name, 1, namespaced ? 170 : 140);
    if (namespaced)
        s_check_pattern(req, "functionName", name, MGMT_NSNAME_ERE, MGMT_NSNAME_PATTERN);
    else
        s_check_pattern(req, "functionName", name, MGMT_NAME_ERE, MGMT_NAME_PATTERN);
}

//  Qualifier: 1..128 of [a-zA-Z0-9$_-]. NULL (absent) passes.
static void
s_check_qualifier(s_request_t *req, const char *qualifier)
{
    if (!qualifier)
        return;
    s_check_length(req, "qualifier", qualifier, 1, EMU_FUNCTION_QUALIFIER_MAX);
    s_check_pattern(req, "qualifier", qualifier, MGMT_QUALIFIER_ERE,
                    MGMT_QUALIFIER_PATTERN);
}

//  Alias name: 1..128 of [a-zA-Z0-9_-], not all digits.
static void
s_check_alias(s_request_t *req, const char *name)
{
    s_check_length(req, "name", name, 1, EMU_FUNCTION_QUALIFIER_MAX);
    bool word = *name != '\0', digits = true;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            word = false;
        if (!isdigit((unsigned char)*p))
            digits = false;
    }
    if (!word || digits) {
        char constraint[128];
        snprintf(constraint, sizeof constraint,
                 "Member must satisfy regular expression pattern: %s",
                 MGMT_ALIAS_PATTERN);
        s_violation_value(req, "name", name, constraint);
    }
}

//  FunctionVersion: 1..1024, $LATEST or digits. NULL passes.
static void
s_check_version(s_request_t *req, const char *version)
{
    if (!version)
        return;
    s_check_length(req, "functionVersion", version, 1, 1024);
    s_check_pattern(req, "functionVersion", version, MGMT_VERSION_ERE,
                    MGMT_VERSION_PATTERN);
}

static void
s_check_description(s_request_t *req, const char *description)
{
    if (description)
        s_check_length(req, "description", description, 0, EMU_FUNCTION_DESCRIPTION_MAX);
}

//  -------------------------------------------------------------------------
//  Request parts

//  The first value of query parameter `key`, or NULL.
static const char *
s_query(s_request_t *req, const char *key)
{
    for (size_t i = 0; i < req->query_count; i++)
        if (strcmp(req->keys[i], key) == 0)
            return req->values[i];
    return NULL;
}

//  The body's member `key` when present and not null, else NULL.
static json_t *
s_member(s_request_t *req, const char *key)
{
    json_t *value = req->body ? json_object_get(req->body, key) : NULL;
    return value && !json_is_null(value) ? value : NULL;
}

//  400 InvalidRequestContentException for a member of the wrong type.
static int
s_type_error(s_request_t *req, const char *key, const char *expected)
{
    emu_aws_error_set(&req->err, 400, "InvalidRequestContentException",
                      "Could not parse request body into json: member '%s' must be %s",
                      key, expected);
    return -1;
}

//  String member `key`: 0 and *value_p (NULL when absent), or -1.
static int
s_body_string(s_request_t *req, const char *key, const char **value_p)
{
    json_t *value = s_member(req, key);
    *value_p = NULL;
    if (!value)
        return 0;
    if (!json_is_string(value))
        return s_type_error(req, key, "a string");
    *value_p = json_string_value(value);
    //  A NUL inside the string would cut it short unseen.
    if (strlen(*value_p) != json_string_length(value))
        return s_type_error(req, key, "a string without NUL characters");
    return 0;
}

//  Integer member `key` (a Java int on AWS): 0 with *present_p and
//  *value_p, or -1.
static int
s_body_int(s_request_t *req, const char *key, bool *present_p, long long *value_p)
{
    json_t *value = s_member(req, key);
    *present_p = value != NULL;
    *value_p = 0;
    if (!value)
        return 0;
    if (!json_is_integer(value))
        return s_type_error(req, key, "an integer");
    json_int_t number = json_integer_value(value);
    if (number < INT32_MIN || number > INT32_MAX) {
        emu_aws_error_set(
            &req->err, 400, "InvalidRequestContentException",
            "Could not parse request body into json: Numeric value (%lld) out "
            "of range of int",
            (long long)number);
        return -1;
    }
    *value_p = number;
    return 0;
}

//  -------------------------------------------------------------------------
//  Replies

//  A reply of `status` with `doc` as its JSON body (doc is consumed).
//  NULL without memory.
static emu_reply_t *
s_json_reply(int status, json_t *doc)
{
    emu_reply_t *reply = doc ? emu_reply_new(status) : NULL;
    if (reply && emu_reply_set_json(reply, doc) != 0)
        emu_reply_destroy(&reply);
    json_decref(doc);
    return reply;
}

static emu_reply_t *
s_no_content(void)
{
    return emu_reply_new(204);
}

static emu_reply_t *
s_error_reply(s_request_t *req)
{
    return emu_aws_error_reply(&req->err);
}

//  The ValidationException for the violations found, or NULL when there
//  are none (sets *done_p when a reply, or its failure, is returned).
static emu_reply_t *
s_violations_reply(s_request_t *req, bool *done_p)
{
    *done_p = req->violation_count > 0 || req->out_of_memory;
    if (req->out_of_memory || req->violation_count == 0)
        return NULL;
    emu_aws_error_set(&req->err, 400, "ValidationException",
                      "%d validation error%s detected: %s", req->violation_count,
                      req->violation_count > 1 ? "s" : "", req->violations);
    return s_error_reply(req);
}

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

//  The FunctionConfiguration of `info`, FunctionArn qualified by
//  `qualifier` (NULL or "" for none). `listed`: the subset ListFunctions
//  and ListVersionsByFunction return (no State, no LastUpdateStatus).
static json_t *
s_configuration(emu_function_t *function, const emu_function_version_info_t *info,
                const char *qualifier, bool listed)
{
    const char *name = emu_function_name(function);
    char arn[EMU_AWS_ARN_MAX], modified[32], log_group[96];
    emu_aws_function_arn(name, qualifier, arn, sizeof arn);
    emu_aws_timestamp(info->last_modified_ms, modified, sizeof modified);
    snprintf(log_group, sizeof log_group, "/aws/lambda/%s", name);
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:i, s:s, s:s, s:s}", "FunctionName",
        name, "FunctionArn", arn, "Runtime", MGMT_RUNTIME, "Role", MGMT_ROLE, "Handler",
        info->handler, "CodeSize", (json_int_t)info->code_size, "Description",
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
    if (rc == 0 && !listed)
        rc = json_object_set_new(doc, "LastUpdateStatus", json_string("Successful"));
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

static json_t *
s_alias(emu_function_t *function, const emu_function_alias_info_t *info)
{
    char arn[EMU_AWS_ARN_MAX];
    emu_aws_function_arn(emu_function_name(function), info->name, arn, sizeof arn);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "AliasArn", arn, "Name", info->name,
                     "FunctionVersion", info->version, "Description", info->description,
                     "RevisionId", info->revision_id);
}

//  A provisioned concurrency config; with its FunctionArn when `listed`.
static json_t *
s_provisioned(emu_function_t *function, const emu_function_provisioned_info_t *info,
              bool listed)
{
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

//  -------------------------------------------------------------------------
//  Functions, qualifiers, pages

//  Resolves req->function_name (validated) through the account; the
//  qualifier its ARN carries goes to `derived`. NULL with the account's
//  error in req->err.
static emu_function_t *
s_lookup(s_request_t *req, char derived[EMU_FUNCTION_QUALIFIER_MAX + 1])
{
    derived[0] = '\0';
    return emu_account_lookup(req->account, req->function_name, derived, &req->err);
}

//  The qualifier an operation that takes one acts on: the Qualifier
//  parameter or the one the function name carries ("" for neither). -1
//  when both are given and differ, as AWS refuses.
static int
s_merge_qualifier(s_request_t *req, const char *derived, const char *given,
                  const char **out)
{
    if (given && *derived && strcmp(given, derived) != 0) {
        emu_aws_error_set(
            &req->err, 400, "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the "
            "specified qualifier.");
        return -1;
    }
    *out = given ? given : derived;
    return 0;
}

//  Operations on the function itself take no qualifier in its name;
//  those on $LATEST accept "$LATEST" (`latest_ok`).
static int
s_unqualified(s_request_t *req, const char *derived, bool latest_ok)
{
    if (*derived == '\0' || (latest_ok && strcmp(derived, "$LATEST") == 0))
        return 0;
    emu_aws_error_set(&req->err, 400, "InvalidParameterValueException",
                      "%s does not accept a qualified function name (qualifier '%s').",
                      req->route->name, derived);
    return -1;
}

//  Resolves req->function_name for an operation that takes no qualifier
//  in it (s_unqualified). NULL with the error in req->err.
static emu_function_t *
s_lookup_unqualified(s_request_t *req, bool latest_ok)
{
    char derived[EMU_FUNCTION_QUALIFIER_MAX + 1];
    emu_function_t *function = s_lookup(req, derived);
    if (!function || s_unqualified(req, derived, latest_ok) != 0)
        return NULL;
    return function;
}

//  RevisionId `given` (NULL when absent) must be `current`: -1 with AWS's
//  412 when it is not.
static int
s_check_revision(s_request_t *req, const char *given, const char *current)
{
    if (!given || strcmp(given, current) == 0)
        return 0;
    emu_aws_error_set(
        &req->err, 412, "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetFunction/GetAlias API to retrieve the latest Revision Id");
    return -1;
}

//  Marker and MaxItems of a list: checks them (violations) and gives the
//  first index and the page size.
static void
s_check_page(s_request_t *req, long long max_items, size_t *start_p, size_t *limit_p)
{
    *start_p = 0;
    *limit_p = MGMT_PAGE_DEFAULT;
    const char *items = s_query(req, "MaxItems");
    if (items) {
        char *end = NULL;
        errno = 0;
        long long value = strtoll(items, &end, 10);
        if (!*items || *end || errno == ERANGE || !isdigit((unsigned char)items[0]))
            s_violation_value(req, "maxItems", items, "Member must be an integer");
        else {
            s_check_range(req, "maxItems", value, 1, max_items);
            *limit_p = (size_t)(value < 1 ? 1 : value > max_items ? max_items : value);
        }
    }
    const char *marker = s_query(req, "Marker");
    if (marker) {
        char *end = NULL;
        errno = 0;
        unsigned long long value = strtoull(marker, &end, 10);
        if (!*marker || *end || errno == ERANGE || !isdigit((unsigned char)marker[0]) ||
            value > 1000000000ULL)
            s_violation_value(req, "marker", marker,
                              "Member must be a marker from a previous "
                              "page (NextMarker)");
        else
            *start_p = (size_t)value;
    }
}

//  The 200 answer of one page of a list: {`member`: list} (list consumed;
//  NULL when memory ran out), with NextMarker when items remain after
//  [start, start+limit) of `total`. NULL without memory.
static emu_reply_t *
s_page_reply(const char *member, json_t *list, size_t start, size_t limit, size_t total)
{
    json_t *doc = list ? json_pack("{s:o}", member, list) : NULL;
    if (doc && start + limit < total) {
        char marker[24];
        snprintf(marker, sizeof marker, "%zu", start + limit);
        if (json_object_set_new(doc, "NextMarker", json_string(marker)) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    }
    return s_json_reply(200, doc);
}

//  -------------------------------------------------------------------------
//  Operations

//  GetFunction and GetFunctionConfiguration.
static emu_reply_t *
s_get_function(s_request_t *req, bool whole)
{
    const char *given = s_query(req, "Qualifier");
    s_check_function_name(req, req->function_name, true);
    s_check_qualifier(req, given);
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;
    char derived[EMU_FUNCTION_QUALIFIER_MAX + 1];
    emu_function_t *function = s_lookup(req, derived);
    const char *qualifier = NULL;
    emu_function_version_info_t info;
    if (!function || s_merge_qualifier(req, derived, given, &qualifier) != 0 ||
        emu_function_version_info(function, qualifier, &info, &req->err) != 0)
        return s_error_reply(req);
    json_t *config = s_configuration(function, &info, qualifier, false);
    if (!whole)
        return s_json_reply(200, config);
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
    return s_json_reply(200, doc);
}

static emu_reply_t *
s_list_functions(s_request_t *req)
{
    const char *region = s_query(req, "MasterRegion");
    const char *version = s_query(req, "FunctionVersion");
    if (region)
        s_check_pattern(req, "masterRegion", region, MGMT_REGION_ERE,
                        MGMT_REGION_PATTERN);
    if (version && strcmp(version, "ALL") != 0)
        s_violation_value(req, "functionVersion", version,
                          "Member must satisfy enum value set: [ALL]");
    size_t start, limit;
    s_check_page(req, 10000, &start, &limit);
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;
    bool all = version != NULL;
    json_t *list = json_array();
    size_t total = 0;
    //  Lambda@Edge replicas (MasterRegion) do not exist here: none listed.
    size_t count = region ? 0 : emu_account_function_count(req->account);
    for (size_t f = 0; list && f < count; f++) {
        emu_function_t *function = emu_account_function_at(req->account, f);
        size_t versions = all ? emu_function_version_count(function) : 1;
        for (size_t v = 0; list && v < versions; v++, total++) {
            if (total < start || total >= start + limit)
                continue;
            emu_function_version_info_t info;
            emu_function_version_at(function, v, &info);
            json_t *item =
                s_configuration(function, &info, all ? info.version : NULL, true);
            if (json_array_append_new(list, item) != 0) {
                json_decref(list);
                list = NULL;
            }
        }
    }
    return s_page_reply("Functions", list, start, limit, total);
}

static emu_reply_t *
s_update_configuration(s_request_t *req)
{
    //  Members of the model the emulator does not model are refused, not
    //  ignored: a test must not believe they took effect.
    static const char *const unsupported[] = {
        "Role",          "Handler",          "VpcConfig",
        "Runtime",       "DeadLetterConfig", "KMSKeyArn",
        "TracingConfig", "Layers",           "FileSystemConfigs",
        "ImageConfig",   "EphemeralStorage", "SnapStart",
        "LoggingConfig",
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (s_member(req, unsupported[i])) {
            emu_aws_error_set(
                &req->err, 400, "InvalidParameterValueException",
                "stampede-lambda does not emulate %s; UpdateFunctionConfiguration "
                "takes Environment, Timeout, MemorySize, Description and "
                "RevisionId.",
                unsupported[i]);
            return s_error_reply(req);
        }
    emu_function_update_t update = {0};
    long long timeout = 0, memory = 0;
    const char *revision = NULL;
    json_t *environment = s_member(req, "Environment");
    json_t *variables = NULL;
    if (s_body_int(req, "Timeout", &update.has_timeout, &timeout) != 0 ||
        s_body_int(req, "MemorySize", &update.has_memory, &memory) != 0 ||
        s_body_string(req, "Description", &update.description) != 0 ||
        s_body_string(req, "RevisionId", &revision) != 0)
        return s_error_reply(req);
    if (environment) {
        if (!json_is_object(environment)) {
            s_type_error(req, "Environment", "an object");
            return s_error_reply(req);
        }
        variables = json_object_get(environment, "Variables");
        if (variables && json_is_null(variables))
            variables = NULL;
        if (variables && !json_is_object(variables)) {
            s_type_error(req, "Environment.Variables", "an object");
            return s_error_reply(req);
        }
        const char *key;
        json_t *value;
        json_object_foreach(variables, key, value)
        {
            if (!json_is_string(value)) {
                s_type_error(req, "Environment.Variables", "an object of strings");
                return s_error_reply(req);
            }
        }
    }
    s_check_function_name(req, req->function_name, false);
    if (update.has_timeout)
        s_check_range(req, "timeout", timeout, 1, EMU_CONFIG_TIMEOUT_MAX);
    if (update.has_memory)
        s_check_range(req, "memorySize", memory, 128, 10240);
    s_check_description(req, update.description);
    if (variables) {
        //  Values are sensitive: AWS names no value here.
        const char *key;
        json_t *value;
        json_object_foreach(variables, key, value)
        {
            if (strlen(key) < 2 || !s_matches(req, key, "^[a-zA-Z][a-zA-Z0-9_]+$")) {
                s_violation(
                    req, "Value at 'environment.variables' failed to satisfy "
                         "constraint: Map keys must satisfy constraint: [Member must "
                         "satisfy regular expression pattern: " MGMT_ENV_KEY_PATTERN "]");
                break;
            }
        }
    }
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;

    char **pairs = NULL;
    size_t pair_count = 0;
    if (variables) {
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
            emu_aws_error_set(
                &req->err, 400, "InvalidParameterValueException",
                "Lambda was unable to configure your environment variables "
                "because the environment variables you have provided contains "
                "reserved keys that are currently not supported for "
                "modification. Reserved keys used in this request: %s",
                used);
            return s_error_reply(req);
        }
        char *measured = json_dumps(variables, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (!measured)
            return NULL;
        size_t measured_len = strlen(measured);
        if (measured_len > MGMT_VARIABLES_SIZE_MAX) {
            emu_aws_error_set(
                &req->err, 400, "InvalidParameterValueException",
                "Lambda was unable to configure your environment variables "
                "because the environment variables you have provided exceeded "
                "the 4KB limit. String measured: %.200s...",
                measured);
            free(measured);
            return s_error_reply(req);
        }
        free(measured);
        //  Under 4 KB of JSON, so a few hundred pairs at most.
        size_t count = json_object_size(variables);
        pairs = calloc(count ? count : 1, sizeof *pairs);
        if (!pairs)
            return NULL;
        json_object_foreach(variables, key, value)
        {
            if (asprintf(&pairs[pair_count], "%s=%s", key, json_string_value(value)) < 0)
                break;
            pair_count++;
        }
        if (pair_count < count) {
            reply = NULL;
            goto out;
        }
    }
    if (environment) {
        update.has_variables = true;
        update.variables = (const char *const *)pairs;
        update.variable_count = pair_count;
    }
    update.timeout_s = (int)timeout;
    update.memory_mb = (int)memory;
    update.has_description = update.description != NULL;

    emu_function_t *function = s_lookup_unqualified(req, true);
    emu_function_version_info_t info;
    if (!function || emu_function_version_info(function, NULL, &info, &req->err) != 0) {
        reply = s_error_reply(req);
        goto out;
    }
    if (s_check_revision(req, revision, info.revision_id) != 0) {
        reply = s_error_reply(req);
        goto out;
    }
    if (emu_function_update(function, &update, &info, &req->err) != 0)
        reply = s_error_reply(req);
    else
        reply = s_json_reply(200, s_configuration(function, &info, NULL, false));
out:
    for (size_t i = 0; i < pair_count; i++)
        free(pairs[i]);
    free(pairs);
    return reply;
}

//  Put/Get/DeleteFunctionConcurrency.
static emu_reply_t *
s_concurrency(s_request_t *req)
{
    bool present = false;
    long long reserved = 0;
    if (req->route->op == OP_PUT_CONCURRENCY &&
        s_body_int(req, "ReservedConcurrentExecutions", &present, &reserved) != 0)
        return s_error_reply(req);
    s_check_function_name(req, req->function_name, false);
    if (req->route->op == OP_PUT_CONCURRENCY) {
        s_check_null(req, "reservedConcurrentExecutions", present);
        if (present)
            s_check_range(req, "reservedConcurrentExecutions", reserved, 0, INT32_MAX);
    }
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;
    emu_function_t *function = s_lookup_unqualified(req, false);
    if (!function)
        return s_error_reply(req);
    if (req->route->op == OP_DELETE_CONCURRENCY) {
        emu_function_delete_reserved(function);
        return s_no_content();
    }
    if (req->route->op == OP_PUT_CONCURRENCY &&
        emu_function_put_reserved(function, (int)reserved, &req->err) != 0)
        return s_error_reply(req);
    int now = emu_function_reserved(function);
    json_t *doc = now >= 0 ? json_pack("{s:i}", "ReservedConcurrentExecutions", now)
                           : json_object();
    return s_json_reply(200, doc);
}

static emu_reply_t *
s_list_provisioned(s_request_t *req)
{
    s_check_function_name(req, req->function_name, false);
    size_t start, limit;
    s_check_page(req, 50, &start, &limit);
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;
    emu_function_t *function = s_lookup_unqualified(req, false);
    if (!function)
        return s_error_reply(req);
    size_t total = emu_function_provisioned_count(function);
    json_t *list = json_array();
    for (size_t i = start; list && i < total && i < start + limit; i++) {
        emu_function_provisioned_info_t info;
        emu_function_provisioned_at(function, i, &info);
        if (json_array_append_new(list, s_provisioned(function, &info, true)) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return s_page_reply("ProvisionedConcurrencyConfigs", list, start, limit, total);
}

//  Put/Get/DeleteProvisionedConcurrencyConfig.
static emu_reply_t *
s_provisioned_config(s_request_t *req)
{
    s_op_t op = req->route->op;
    if (op == OP_GET_PROVISIONED && s_query(req, "List"))
        return s_list_provisioned(req);
    bool present = false;
    long long count = 0;
    if (op == OP_PUT_PROVISIONED &&
        s_body_int(req, "ProvisionedConcurrentExecutions", &present, &count) != 0)
        return s_error_reply(req);
    const char *given = s_query(req, "Qualifier");
    s_check_function_name(req, req->function_name, false);
    s_check_null(req, "qualifier", given != NULL);
    s_check_qualifier(req, given);
    if (op == OP_PUT_PROVISIONED) {
        s_check_null(req, "provisionedConcurrentExecutions", present);
        if (present)
            s_check_range(req, "provisionedConcurrentExecutions", count, 1, INT32_MAX);
    }
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;
    char derived[EMU_FUNCTION_QUALIFIER_MAX + 1];
    emu_function_t *function = s_lookup(req, derived);
    const char *qualifier = NULL;
    if (!function || s_merge_qualifier(req, derived, given, &qualifier) != 0)
        return s_error_reply(req);
    emu_function_provisioned_info_t info;
    if (op == OP_DELETE_PROVISIONED) {
        if (emu_function_delete_provisioned(function, qualifier, &req->err) != 0)
            return s_error_reply(req);
        return s_no_content();
    }
    int rc = op == OP_PUT_PROVISIONED
                 ? emu_function_put_provisioned(function, qualifier, (int)count, &info,
                                                &req->err)
                 : emu_function_provisioned(function, qualifier, &info, &req->err);
    if (rc != 0)
        return s_error_reply(req);
    return s_json_reply(op == OP_PUT_PROVISIONED ? 202 : 200,
                        s_provisioned(function, &info, false));
}

static emu_reply_t *
s_publish_version(s_request_t *req)
{
    const char *sha = NULL, *description = NULL, *revision = NULL;
    if (s_body_string(req, "CodeSha256", &sha) != 0 ||
        s_body_string(req, "Description", &description) != 0 ||
        s_body_string(req, "RevisionId", &revision) != 0)
        return s_error_reply(req);
    s_check_function_name(req, req->function_name, false);
    s_check_description(req, description);
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;
    emu_function_t *function = s_lookup_unqualified(req, true);
    emu_function_version_info_t info;
    if (!function || emu_function_version_info(function, NULL, &info, &req->err) != 0)
        return s_error_reply(req);
    if (sha && strcmp(sha, info.code_sha256) != 0) {
        char quoted[MGMT_QUOTE_MAX + 8];
        s_quote(sha, quoted, sizeof quoted);
        emu_aws_error_set(
            &req->err, 400, "InvalidParameterValueException",
            "CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST "
            "(%s). Please try again.",
            quoted, info.code_sha256);
        return s_error_reply(req);
    }
    if (s_check_revision(req, revision, info.revision_id) != 0)
        return s_error_reply(req);
    if (emu_function_publish(function, description, &info, &req->err) != 0)
        return s_error_reply(req);
    return s_json_reply(201, s_configuration(function, &info, info.version, false));
}

static emu_reply_t *
s_list_versions(s_request_t *req)
{
    s_check_function_name(req, req->function_name, true);
    size_t start, limit;
    s_check_page(req, 10000, &start, &limit);
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;
    emu_function_t *function = s_lookup_unqualified(req, false);
    if (!function)
        return s_error_reply(req);
    size_t total = emu_function_version_count(function);
    json_t *list = json_array();
    for (size_t i = start; list && i < total && i < start + limit; i++) {
        emu_function_version_info_t info;
        emu_function_version_at(function, i, &info);
        if (json_array_append_new(
                list, s_configuration(function, &info, info.version, true)) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return s_page_reply("Versions", list, start, limit, total);
}

//  RoutingConfig (weighted aliases) is not emulated: refused unless empty.
static int
s_check_routing(s_request_t *req)
{
    json_t *routing = s_member(req, "RoutingConfig");
    if (!routing)
        return 0;
    if (!json_is_object(routing))
        return s_type_error(req, "RoutingConfig", "an object");
    json_t *weights = json_object_get(routing, "AdditionalVersionWeights");
    if (!weights || json_is_null(weights) ||
        (json_is_object(weights) && json_object_size(weights) == 0))
        return 0;
    emu_aws_error_set(&req->err, 400, "InvalidParameterValueException",
                      "stampede-lambda does not emulate weighted aliases "
                      "(RoutingConfig.AdditionalVersionWeights).");
    return -1;
}

//  CreateAlias, GetAlias, UpdateAlias, DeleteAlias.
static emu_reply_t *
s_alias_op(s_request_t *req)
{
    s_op_t op = req->route->op;
    const char *name = req->alias_name, *version = NULL, *description = NULL,
               *revision = NULL;
    bool body = op == OP_CREATE_ALIAS || op == OP_UPDATE_ALIAS;
    if (body && (s_body_string(req, "FunctionVersion", &version) != 0 ||
                 s_body_string(req, "Description", &description) != 0 ||
                 s_check_routing(req) != 0))
        return s_error_reply(req);
    if (op == OP_CREATE_ALIAS && s_body_string(req, "Name", &name) != 0)
        return s_error_reply(req);
    if (op == OP_UPDATE_ALIAS && s_body_string(req, "RevisionId", &revision) != 0)
        return s_error_reply(req);
    s_check_function_name(req, req->function_name, false);
    s_check_null(req, "name", name != NULL);
    if (name)
        s_check_alias(req, name);
    if (op == OP_CREATE_ALIAS)
        s_check_null(req, "functionVersion", version != NULL);
    s_check_version(req, version);
    s_check_description(req, description);
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;
    emu_function_t *function = s_lookup_unqualified(req, false);
    if (!function)
        return s_error_reply(req);
    emu_function_alias_info_t info;
    int rc = 0;
    switch (op) {
    case OP_CREATE_ALIAS:
        rc = emu_function_create_alias(function, name, version, description, &info,
                                       &req->err);
        break;
    case OP_GET_ALIAS:
        rc = emu_function_alias(function, name, &info, &req->err);
        break;
    case OP_UPDATE_ALIAS:
        rc = emu_function_alias(function, name, &info, &req->err);
        if (rc == 0)
            rc = s_check_revision(req, revision, info.revision_id);
        if (rc == 0)
            rc = emu_function_update_alias(function, name, version, description, &info,
                                           &req->err);
        break;
    default:
        assert(op == OP_DELETE_ALIAS);
        if (emu_function_delete_alias(function, name, &req->err) != 0)
            return s_error_reply(req);
        return s_no_content();
    }
    if (rc != 0)
        return s_error_reply(req);
    return s_json_reply(op == OP_CREATE_ALIAS ? 201 : 200, s_alias(function, &info));
}

static emu_reply_t *
s_list_aliases(s_request_t *req)
{
    const char *version = s_query(req, "FunctionVersion");
    s_check_function_name(req, req->function_name, false);
    s_check_version(req, version);
    size_t start, limit;
    s_check_page(req, 10000, &start, &limit);
    bool done;
    emu_reply_t *reply = s_violations_reply(req, &done);
    if (done)
        return reply;
    emu_function_t *function = s_lookup_unqualified(req, false);
    if (!function)
        return s_error_reply(req);
    json_t *list = json_array();
    size_t total = 0;
    for (size_t i = 0; list && i < emu_function_alias_count(function); i++) {
        emu_function_alias_info_t info;
        emu_function_alias_at(function, i, &info);
        if (version && strcmp(version, info.version) != 0)
            continue;
        if (total >= start && total < start + limit &&
            json_array_append_new(list, s_alias(function, &info)) != 0) {
            json_decref(list);
            list = NULL;
        }
        total++;
    }
    return s_page_reply("Aliases", list, start, limit, total);
}

static emu_reply_t *
s_account_settings(s_request_t *req)
{
    int64_t code_size = 0;
    size_t count = emu_account_function_count(req->account);
    for (size_t f = 0; f < count; f++) {
        emu_function_t *function = emu_account_function_at(req->account, f);
        for (size_t v = 0; v < emu_function_version_count(function); v++) {
            emu_function_version_info_t info;
            emu_function_version_at(function, v, &info);
            code_size += info.code_size;
        }
    }
    json_t *doc =
        json_pack("{s:{s:I, s:I, s:I, s:i, s:i}, s:{s:I, s:I}}", "AccountLimit",
                  "TotalCodeSize", (json_int_t)MGMT_TOTAL_CODE_SIZE, "CodeSizeUnzipped",
                  (json_int_t)MGMT_CODE_SIZE_UNZIPPED, "CodeSizeZipped",
                  (json_int_t)MGMT_CODE_SIZE_ZIPPED, "ConcurrentExecutions",
                  emu_account_limit(req->account), "UnreservedConcurrentExecutions",
                  emu_account_unreserved(req->account), "AccountUsage", "TotalCodeSize",
                  (json_int_t)code_size, "FunctionCount", (json_int_t)count);
    return s_json_reply(200, doc);
}

//  -------------------------------------------------------------------------
//  Dispatch

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

//  Splits the raw target into decoded segments and query pairs. -1 with
//  req->err when a cap is exceeded.
static int
s_split(s_request_t *req, const char *target)
{
    size_t path_len = strcspn(target, "?");
    const char *query = target[path_len] == '?' ? target + path_len + 1 : NULL;
    char *out = req->path;
    const char *p = target + 1;
    const char *end = target + path_len;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        //  A trailing '/' ends the path ("/2015-03-31/functions/").
        if (stop == p && stop == end && req->segment_count > 0)
            break;
        if (req->segment_count == MGMT_SEGMENTS_MAX) {
            emu_aws_error_set(&req->err, 404, "UnknownOperationException",
                              "Unknown operation");
            return -1;
        }
        s_decode(p, (size_t)(stop - p), out, false);
        req->segments[req->segment_count++] = out;
        out += strlen(out) + 1;
        p = stop + 1;
    }
    out = req->query;
    while (query && *query) {
        size_t len = strcspn(query, "&");
        if (len > 0) {
            if (req->query_count == MGMT_QUERY_MAX) {
                emu_aws_error_set(&req->err, 400, "InvalidParameterValueException",
                                  "The request has more than %d query parameters.",
                                  MGMT_QUERY_MAX);
                return -1;
            }
            const char *eq = memchr(query, '=', len);
            size_t key_len = eq ? (size_t)(eq - query) : len;
            s_decode(query, key_len, out, true);
            req->keys[req->query_count] = out;
            out += strlen(out) + 1;
            if (eq)
                s_decode(eq + 1, len - key_len - 1, out, true);
            else
                *out = '\0';
            req->values[req->query_count++] = out;
            out += strlen(out) + 1;
        }
        query += len + (query[len] == '&');
    }
    return 0;
}

//  The route `method` and the segments name, or NULL; fills the names.
static const s_route_t *
s_route(s_request_t *req, const char *method)
{
    for (size_t r = 0; r < sizeof s_routes / sizeof s_routes[0]; r++) {
        const s_route_t *route = &s_routes[r];
        const char *p = route->path + 1;
        size_t i = 0;
        const char *fn = NULL, *alias = NULL;
        bool match = true;
        while (*p && match) {
            size_t len = strcspn(p, "/");
            if (i == req->segment_count)
                match = false;
            else if (len == 4 && strncmp(p, "{fn}", 4) == 0)
                fn = req->segments[i];
            else if (len == 7 && strncmp(p, "{alias}", 7) == 0)
                alias = req->segments[i];
            else if (strlen(req->segments[i]) != len ||
                     strncmp(p, req->segments[i], len) != 0)
                match = false;
            i++;
            p += len + (p[len] == '/');
        }
        if (!match || i != req->segment_count)
            continue;
        //  An empty name cannot be a function or an alias: no route.
        if ((fn && !*fn) || (alias && !*alias))
            continue;
        if (strcmp(route->method, method) != 0)
            continue;
        req->function_name = fn;
        req->alias_name = alias;
        return route;
    }
    return NULL;
}

//  True for the Invoke API's paths: front doors, not ours.
static bool
s_invoke_path(s_request_t *req)
{
    return req->segment_count == 4 && strcmp(req->segments[1], "functions") == 0 &&
           (strcmp(req->segments[3], "invocations") == 0 ||
            strcmp(req->segments[3], "invoke-async") == 0);
}

//  Parses the body into req->body: an object, or none when empty. -1
//  with InvalidRequestContentException when it is not a JSON object.
static int
s_parse_body(s_request_t *req, const void *body, size_t body_len)
{
    const char *text = body;
    size_t blank = 0;
    while (blank < body_len && (text[blank] == ' ' || text[blank] == '\t' ||
                                text[blank] == '\r' || text[blank] == '\n'))
        blank++;
    if (blank == body_len)
        return 0;
    json_error_t error;
    json_t *doc = json_loadb(text, body_len, 0, &error);
    if (!doc) {
        char quoted[MGMT_QUOTE_MAX + 8];
        s_quote(error.text, quoted, sizeof quoted);
        emu_aws_error_set(
            &req->err, 400, "InvalidRequestContentException",
            "Could not parse request body into json: %s at line %d, column %d", quoted,
            error.line, error.column);
        return -1;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        emu_aws_error_set(
            &req->err, 400, "InvalidRequestContentException",
            "Could not parse request body into json: the body must be a JSON "
            "object");
        return -1;
    }
    req->body = doc;
    return 0;
}

emu_reply_t *
emu_mgmt_handle(emu_account_t *account, const char *method, const char *target,
                const void *body, size_t body_len)
{
    assert(account && method && target && (body || body_len == 0));
    if (!s_api_path(target))
        return NULL;
    s_request_t *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->account = account;
    emu_reply_t *reply = NULL;
    if (strlen(target) > MGMT_TARGET_MAX) {
        emu_aws_error_set(&req->err, 400, "InvalidParameterValueException",
                          "The request target is longer than %d bytes.", MGMT_TARGET_MAX);
        reply = s_error_reply(req);
        goto out;
    }
    if (s_split(req, target) != 0) {
        reply = s_error_reply(req);
        goto out;
    }
    if (s_invoke_path(req))
        goto out;
    req->route = s_route(req, method);
    if (!req->route) {
        emu_aws_error_set(&req->err, 404, "UnknownOperationException",
                          "Unknown operation");
        reply = s_error_reply(req);
        goto out;
    }
    if (body_len > EMU_MGMT_BODY_MAX) {
        emu_aws_error_set(&req->err, 413, "RequestEntityTooLargeException",
                          "Request must be smaller than %d bytes for the %s operation",
                          EMU_MGMT_BODY_MAX, req->route->name);
        reply = s_error_reply(req);
        goto out;
    }
    if (req->route->has_body && s_parse_body(req, body, body_len) != 0) {
        reply = s_error_reply(req);
        goto out;
    }
    switch (req->route->op) {
    case OP_LIST_FUNCTIONS:
        reply = s_list_functions(req);
        break;
    case OP_GET_FUNCTION:
        reply = s_get_function(req, true);
        break;
    case OP_GET_CONFIGURATION:
        reply = s_get_function(req, false);
        break;
    case OP_UPDATE_CONFIGURATION:
        reply = s_update_configuration(req);
        break;
    case OP_PUT_CONCURRENCY:
    case OP_GET_CONCURRENCY:
    case OP_DELETE_CONCURRENCY:
        reply = s_concurrency(req);
        break;
    case OP_PUT_PROVISIONED:
    case OP_GET_PROVISIONED:
    case OP_DELETE_PROVISIONED:
        reply = s_provisioned_config(req);
        break;
    case OP_PUBLISH_VERSION:
        reply = s_publish_version(req);
        break;
    case OP_LIST_VERSIONS:
        reply = s_list_versions(req);
        break;
    case OP_CREATE_ALIAS:
    case OP_GET_ALIAS:
    case OP_UPDATE_ALIAS:
    case OP_DELETE_ALIAS:
        reply = s_alias_op(req);
        break;
    case OP_LIST_ALIASES:
        reply = s_list_aliases(req);
        break;
    case OP_ACCOUNT_SETTINGS:
        reply = s_account_settings(req);
        break;
    }
out:
    json_decref(req->body);
    free(req);
    return reply;
}

//  -------------------------------------------------------------------------
//  Selftest

//  One request. Checks the status and, for an error (`type` not NULL),
//  x-amzn-ErrorType, the {"Type","message"} body and, when `message` is
//  not NULL, the message. Returns the parsed body (caller decrefs), or
//  NULL when empty.
static json_t *
s_test_call(emu_account_t *account, const char *method, const char *target,
            const char *body, int status, const char *type, const char *message)
{
    emu_reply_t *reply =
        emu_mgmt_handle(account, method, target, body, body ? strlen(body) : 0);
    if (!reply)
        fprintf(stderr, "no reply for %s %s\n", method, target);
    CHECK_NOT_NULL(reply);
    size_t len = 0;
    const char *text = emu_reply_body(reply, &len);
    const char *got_type = emu_reply_header(reply, "x-amzn-ErrorType");
    if (emu_reply_status(reply) != status ||
        (type && (!got_type || strcmp(got_type, type) != 0)))
        fprintf(stderr, "%s %s -> %d %.*s\n", method, target, emu_reply_status(reply),
                (int)len, text);
    CHECK_INT(emu_reply_status(reply), status);
    json_t *doc = NULL;
    if (len > 0) {
        doc = json_loadb(text, len, 0, NULL);
        CHECK_NOT_NULL(doc);
        CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    }
    if (type) {
        //  AWS names the member "Message" in ResourceNotFoundException.
        const char *member =
            strcmp(type, "ResourceNotFoundException") == 0 ? "Message" : "message";
        CHECK_STR(emu_reply_header(reply, "x-amzn-ErrorType"), type);
        CHECK_INT(json_object_size(doc), 2);
        CHECK_STR(json_string_value(json_object_get(doc, "Type")), "User");
        CHECK_NOT_NULL(json_string_value(json_object_get(doc, member)));
        if (message)
            CHECK_STR(json_string_value(json_object_get(doc, member)), message);
    } else
        CHECK_NULL(emu_reply_header(reply, "x-amzn-ErrorType"));
    emu_reply_destroy(&reply);
    return doc;
}

//  The same, for an error: nothing returned.
static void
s_test_error(emu_account_t *account, const char *method, const char *target,
             const char *body, int status, const char *type, const char *message)
{
    json_t *doc = s_test_call(account, method, target, body, status, type, message);
    json_decref(doc);
}

//  Member `path` ("a.b.c", array items by index) of `doc`, or NULL.
static json_t *
s_test_node(json_t *doc, const char *path)
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s", path);
    json_t *node = doc;
    for (char *part = copy, *dot; node && part; part = dot ? dot + 1 : NULL) {
        dot = strchr(part, '.');
        if (dot)
            *dot = '\0';
        node = json_is_array(node) ? json_array_get(node, strtoul(part, NULL, 10))
                                   : json_object_get(node, part);
    }
    return node;
}

//  String member `path` of `doc`, or NULL.
static const char *
s_test_str(json_t *doc, const char *path)
{
    return json_string_value(s_test_node(doc, path));
}

//  Integer member `path` of `doc` (checked to be one).
static long long
s_test_int(json_t *doc, const char *path)
{
    json_t *node = s_test_node(doc, path);
    CHECK_TRUE(json_is_integer(node));
    return (long long)json_integer_value(node);
}

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
    json_t *doc =
        s_test_call(poll->account, "GET",
                    "/2019-09-30/functions/demo/provisioned-concurrency?Qualifier=live",
                    NULL, 200, NULL, NULL);
    poll->ready = strcmp(s_test_str(doc, "Status"), "READY") == 0;
    json_decref(doc);
    if (poll->ready || sp_clock_mono_ns() > poll->deadline_ns)
        emu_loop_stop(loop);
    else
        CHECK_NOT_NULL(emu_loop_timer_start(loop, 20 * 1000000LL, s_test_poll, poll));
}

static void
s_test_stop(emu_loop_t *loop, void *arg)
{
    emu_loop_stop(loop);
}

#define S_ARN "arn:aws:lambda:us-east-1:123456789012:function:"
#define S_FN "/2015-03-31/functions/"

void
emu_mgmt_test(bool verbose)
{
    emu_config_t *config = emu_config_new();
    CHECK_NOT_NULL(config);
    const char *argv[] = {"stampede-lambda",
                          "--function",
                          "demo=" EMU_TEST_BOOTSTRAP,
                          "--env",
                          "GREETING=hi",
                          "--function",
                          "other=" EMU_TEST_BOOTSTRAP,
                          "--reserved",
                          "5"};
    CHECK_INT(emu_config_parse(config, (int)(sizeof argv / sizeof argv[0]), (char **)argv,
                               stderr, stderr),
              EMU_CONFIG_RUN);
    emu_loop_t *loop = emu_loop_new();
    CHECK_NOT_NULL(loop);
    char reason[256] = "";
    emu_account_t *account = emu_account_new(loop, config, reason, sizeof reason);
    if (!account)
        fprintf(stderr, "emu_account_new: %s\n", reason);
    CHECK_NOT_NULL(account);
    emu_function_t *demo = emu_account_function_at(account, 0);
    emu_function_version_info_t info;
    emu_aws_error_t err;

    //  Not ours: the front doors answer these.
    CHECK_NULL(emu_mgmt_handle(account, "GET", "/url/demo/", NULL, 0));
    CHECK_NULL(emu_mgmt_handle(account, "POST", S_FN "demo/invocations", "{}", 2));
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
    s_test_error(account, "GET", "/2015-03-31/functions/a/b/c/d/e/f/g/h/i", NULL, 404,
                 "UnknownOperationException", NULL);

    //  GetFunctionConfiguration: the whole document, exactly.
    CHECK_INT(emu_function_version_info(demo, NULL, &info, &err), 0);
    char stamp[32], expected[2048];
    emu_aws_timestamp(info.last_modified_ms, stamp, sizeof stamp);
    snprintf(
        expected, sizeof expected,
        "{\"FunctionName\":\"demo\",\"FunctionArn\":\"" S_ARN "demo\","
        "\"Runtime\":\"provided.al2023\","
        "\"Role\":\"arn:aws:iam::123456789012:role/stampede-lambda\",\"Handler\":\"%s\","
        "\"CodeSize\":%lld,\"Description\":\"\",\"Timeout\":3,\"MemorySize\":128,"
        "\"LastModified\":\"%s\",\"CodeSha256\":\"%s\",\"Version\":\"$LATEST\","
        "\"Environment\":{\"Variables\":{\"GREETING\":\"hi\"}},"
        "\"TracingConfig\":{\"Mode\":\"PassThrough\"},\"RevisionId\":\"%s\","
        "\"State\":\"Active\",\"LastUpdateStatus\":\"Successful\",\"PackageType\":"
        "\"Zip\","
        "\"Architectures\":[\"x86_64\"],\"EphemeralStorage\":{\"Size\":512},"
        "\"SnapStart\":{\"ApplyOn\":\"None\",\"OptimizationStatus\":\"Off\"},"
        "\"LoggingConfig\":{\"LogFormat\":\"Text\",\"LogGroup\":\"/aws/lambda/demo\"}}",
        info.handler, (long long)info.code_size, stamp, info.code_sha256,
        info.revision_id);
    reply = emu_mgmt_handle(account, "GET", S_FN "demo/configuration", NULL, 0);
    CHECK_INT(emu_reply_status(reply), 200);
    CHECK_STR(emu_reply_body(reply, &len), expected);
    emu_reply_destroy(&reply);
    CHECK_TRUE(info.code_size > 0);
    CHECK_STR(info.handler, "bootstrap");

    //  GetFunction by name, ARN (percent-encoded) and partial ARN.
    json_t *doc = s_test_call(account, "GET", S_FN "demo", NULL, 200, NULL, NULL);
    CHECK_STR(s_test_str(doc, "Configuration.FunctionArn"), S_ARN "demo");
    CHECK_STR(s_test_str(doc, "Code.RepositoryType"), "S3");
    CHECK_NOT_NULL(s_test_str(doc, "Code.Location"));
    CHECK_NULL(json_object_get(doc, "Concurrency"));
    json_decref(doc);
    doc = s_test_call(account, "GET",
                      S_FN
                      "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aother",
                      NULL, 200, NULL, NULL);
    CHECK_STR(s_test_str(doc, "Configuration.FunctionName"), "other");
    CHECK_INT(s_test_int(doc, "Concurrency.ReservedConcurrentExecutions"), 5);
    CHECK_NULL(json_object_get(json_object_get(doc, "Configuration"), "Environment"));
    json_decref(doc);
    doc =
        s_test_call(account, "GET", S_FN "123456789012%3Afunction%3Ademo/configuration/",
                    NULL, 200, NULL, NULL);
    CHECK_STR(s_test_str(doc, "FunctionName"), "demo");
    json_decref(doc);
    doc = s_test_call(account, "GET", S_FN "demo?Qualifier=%24LATEST", NULL, 200, NULL,
                      NULL);
    CHECK_STR(s_test_str(doc, "Configuration.FunctionArn"), S_ARN "demo:$LATEST");
    json_decref(doc);

    //  Bad names and qualifiers.
    s_test_error(account, "GET", S_FN "nope", NULL, 404, "ResourceNotFoundException",
                 "Function not found: " S_ARN "nope");
    s_test_error(
        account, "GET", S_FN "bad%20name", NULL, 400, "ValidationException",
        "1 validation error detected: Value 'bad name' at 'functionName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: "
        "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
        "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?");
    s_test_error(account, "GET", S_FN "bad%ZZ", NULL, 400, "ValidationException", NULL);
    s_test_error(account, "GET", S_FN "bad%00x/configuration", NULL, 400,
                 "ValidationException", NULL);
    char long_name[400];
    snprintf(long_name, sizeof long_name, S_FN "%0171d", 0);
    s_test_error(account, "GET", long_name, NULL, 400, "ValidationException", NULL);
    s_test_error(
        account, "GET", S_FN "demo?Qualifier=a%20b", NULL, 400, "ValidationException",
        "1 validation error detected: Value 'a b' at 'qualifier' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "(|[a-zA-Z0-9$_-]+)");
    s_test_error(account, "GET", S_FN "demo?Qualifier=", NULL, 400, "ValidationException",
                 "1 validation error detected: Value '' at 'qualifier' failed to satisfy "
                 "constraint: Member must have length greater than or equal to 1");
    s_test_error(account, "GET", S_FN "demo?Qualifier=7", NULL, 404,
                 "ResourceNotFoundException", "Function not found: " S_ARN "demo:7");
    s_test_error(
        account, "GET", S_FN "demo%3A1?Qualifier=2", NULL, 400,
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified "
        "qualifier.");

    //  UpdateFunctionConfiguration: bad input first.
    const char *update = S_FN "demo/configuration";
    s_test_error(account, "PUT", update, "{\"Timeout\":0}", 400, "ValidationException",
                 "1 validation error detected: Value '0' at 'timeout' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 1");
    s_test_error(
        account, "PUT", update, "{\"Timeout\":901,\"MemorySize\":64}", 400,
        "ValidationException",
        "2 validation errors detected: Value '901' at 'timeout' failed to satisfy "
        "constraint: Member must have value less than or equal to 900; Value '64' at "
        "'memorySize' failed to satisfy constraint: Member must have value greater "
        "than or equal to 128");
    s_test_error(
        account, "PUT", update, "{\"MemorySize\":10241}", 400, "ValidationException",
        "1 validation error detected: Value '10241' at 'memorySize' failed to satisfy "
        "constraint: Member must have value less than or equal to 10240");
    s_test_error(
        account, "PUT", update, "{\"Timeout\":\"30\"}", 400,
        "InvalidRequestContentException",
        "Could not parse request body into json: member 'Timeout' must be an integer");
    s_test_error(
        account, "PUT", update, "{\"Timeout\":3000000000}", 400,
        "InvalidRequestContentException",
        "Could not parse request body into json: Numeric value (3000000000) out of "
        "range of int");
    s_test_error(account, "PUT", update, "{\"Timeout\":1.5}", 400,
                 "InvalidRequestContentException", NULL);
    s_test_error(account, "PUT", update, "{\"Description\":7}", 400,
                 "InvalidRequestContentException",
                 "Could not parse request body into json: member 'Description' must be a "
                 "string");
    s_test_error(account, "PUT", update, "{\"Timeout\":", 400,
                 "InvalidRequestContentException", NULL);
    s_test_error(
        account, "PUT", update, "[1]", 400, "InvalidRequestContentException",
        "Could not parse request body into json: the body must be a JSON object");
    s_test_error(account, "PUT", update, "{\"Environment\":[]}", 400,
                 "InvalidRequestContentException", NULL);
    s_test_error(account, "PUT", update, "{\"Environment\":{\"Variables\":{\"A1\":1}}}",
                 400, "InvalidRequestContentException", NULL);
    s_test_error(
        account, "PUT", update, "{\"Environment\":{\"Variables\":{\"1A\":\"x\"}}}", 400,
        "ValidationException",
        "1 validation error detected: Value at 'environment.variables' failed to "
        "satisfy constraint: Map keys must satisfy constraint: [Member must satisfy "
        "regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]");
    s_test_error(
        account, "PUT", update,
        "{\"Environment\":{\"Variables\":{\"AWS_REGION\":\"x\",\"OK\":\"y\","
        "\"AWS_LAMBDA_FUNCTION_NAME\":\"z\"}}}",
        400, "InvalidParameterValueException",
        "Lambda was unable to configure your environment variables because the "
        "environment variables you have provided contains reserved keys that are "
        "currently not supported for modification. Reserved keys used in this "
        "request: AWS_REGION, AWS_LAMBDA_FUNCTION_NAME");
    s_test_error(account, "PUT", update,
                 "{\"Role\":\"arn:aws:iam::123456789012:role/x\"}", 400,
                 "InvalidParameterValueException", NULL);
    s_test_error(
        account, "PUT", update, "{\"RevisionId\":\"stale\"}", 412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the "
        "GetFunction/GetAlias API to retrieve the latest Revision Id");
    s_test_error(account, "PUT", S_FN "demo%3A1/configuration", "{}", 400,
                 "InvalidParameterValueException", NULL);
    s_test_error(account, "PUT", S_FN "nope/configuration", "{\"Timeout\":5}", 404,
                 "ResourceNotFoundException", "Function not found: " S_ARN "nope");
    {
        //  4 KB of variables and over; a body over the cap.
        char *big = malloc(EMU_MGMT_BODY_MAX + 2);
        CHECK_NOT_NULL(big);
        int n = snprintf(big, 64, "{\"Environment\":{\"Variables\":{\"BIG\":\"");
        memset(big + n, 'x', 4100);
        snprintf(big + n + 4100, 16, "\"}}}");
        doc = s_test_call(account, "PUT", update, big, 400,
                          "InvalidParameterValueException", NULL);
        const char *message = s_test_str(doc, "message");
        const char *prefix =
            "Lambda was unable to configure your environment variables "
            "because the environment variables you have provided exceeded "
            "the 4KB limit. String measured: {\"BIG\":\"xxx";
        CHECK_INT(strncmp(message, prefix, strlen(prefix)), 0);
        json_decref(doc);
        memset(big, ' ', EMU_MGMT_BODY_MAX + 1);
        big[0] = '{';
        big[EMU_MGMT_BODY_MAX] = '}';
        big[EMU_MGMT_BODY_MAX + 1] = '\0';
        s_test_error(account, "PUT", update, big, 413, "RequestEntityTooLargeException",
                     "Request must be smaller than 262144 bytes for the "
                     "UpdateFunctionConfiguration operation");
        big[EMU_MGMT_BODY_MAX - 1] = '}';
        big[EMU_MGMT_BODY_MAX] = '\0';
        json_decref(s_test_call(account, "PUT", update, big, 200, NULL, NULL));
        free(big);
    }

    //  UpdateFunctionConfiguration that works, and what it changed.
    doc = s_test_call(
        account, "PUT", update,
        "{\"Timeout\":30,\"MemorySize\":256,\"Description\":\"d\\u00e9mo\","
        "\"Environment\":{\"Variables\":{\"A1\":\"v\",\"STAMPEDE_HOLD_MS\":\"0\"}}}",
        200, NULL, NULL);
    CHECK_INT(s_test_int(doc, "Timeout"), 30);
    CHECK_INT(s_test_int(doc, "MemorySize"), 256);
    CHECK_STR(s_test_str(doc, "Description"), "d\xc3\xa9mo");
    CHECK_STR(s_test_str(doc, "Environment.Variables.A1"), "v");
    CHECK_NULL(s_test_str(doc, "Environment.Variables.GREETING"));
    CHECK_STR(s_test_str(doc, "LastUpdateStatus"), "Successful");
    char revision[128];
    snprintf(revision, sizeof revision, "%s", s_test_str(doc, "RevisionId"));
    json_decref(doc);
    char body[512];
    snprintf(body, sizeof body, "{\"RevisionId\":\"%s\",\"Environment\":{}}", revision);
    doc = s_test_call(account, "PUT", update, body, 200, NULL, NULL);
    CHECK_NULL(json_object_get(doc, "Environment"));
    CHECK_INT(s_test_int(doc, "Timeout"), 30);
    json_decref(doc);
    doc = s_test_call(account, "GET", S_FN "demo/configuration", NULL, 200, NULL, NULL);
    CHECK_INT(s_test_int(doc, "MemorySize"), 256);
    CHECK_NULL(json_object_get(doc, "Environment"));
    json_decref(doc);

    //  Reserved concurrency.
    const char *put_reserved = "/2017-10-31/functions/demo/concurrency";
    doc = s_test_call(account, "GET", "/2019-09-30/functions/demo/concurrency", NULL, 200,
                      NULL, NULL);
    CHECK_INT(json_object_size(doc), 0);
    json_decref(doc);
    s_test_error(
        account, "PUT", put_reserved, "{\"ReservedConcurrentExecutions\":-1}", 400,
        "ValidationException",
        "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' "
        "failed to satisfy constraint: Member must have value greater than or equal "
        "to 0");
    s_test_error(
        account, "PUT", put_reserved, "{}", 400, "ValidationException",
        "1 validation error detected: Value null at 'reservedConcurrentExecutions' "
        "failed to satisfy constraint: Member must not be null");
    s_test_error(account, "PUT", put_reserved, "", 400, "ValidationException", NULL);
    s_test_error(account, "PUT", put_reserved, "{\"ReservedConcurrentExecutions\":true}",
                 400, "InvalidRequestContentException", NULL);
    s_test_error(account, "PUT", put_reserved, "{\"ReservedConcurrentExecutions\":950}",
                 400, "InvalidParameterValueException", NULL);
    s_test_error(account, "PUT", "/2017-10-31/functions/demo%3A1/concurrency",
                 "{\"ReservedConcurrentExecutions\":1}", 400,
                 "InvalidParameterValueException", NULL);
    doc = s_test_call(account, "PUT", put_reserved,
                      "{\"ReservedConcurrentExecutions\":10}", 200, NULL, NULL);
    CHECK_INT(s_test_int(doc, "ReservedConcurrentExecutions"), 10);
    CHECK_INT(json_object_size(doc), 1);
    json_decref(doc);
    doc = s_test_call(account, "GET", "/2019-09-30/functions/demo/concurrency", NULL, 200,
                      NULL, NULL);
    CHECK_INT(s_test_int(doc, "ReservedConcurrentExecutions"), 10);
    json_decref(doc);
    CHECK_NULL(emu_mgmt_handle(account, "DELETE",
                               "/2015-03-31/functions/demo/invocations", NULL, 0));
    doc = s_test_call(account, "DELETE", put_reserved, NULL, 204, NULL, NULL);
    CHECK_NULL(doc);
    CHECK_INT(emu_function_reserved(demo), -1);
    doc = s_test_call(account, "PUT", put_reserved,
                      "{\"ReservedConcurrentExecutions\":10}", 200, NULL, NULL);
    json_decref(doc);

    //  GetAccountSettings, with and without the trailing '/'.
    doc = s_test_call(account, "GET", "/2016-08-19/account-settings/", NULL, 200, NULL,
                      NULL);
    CHECK_INT(s_test_int(doc, "AccountLimit.TotalCodeSize"), 80530636800LL);
    CHECK_INT(s_test_int(doc, "AccountLimit.CodeSizeUnzipped"), 262144000);
    CHECK_INT(s_test_int(doc, "AccountLimit.CodeSizeZipped"), 52428800);
    CHECK_INT(s_test_int(doc, "AccountLimit.ConcurrentExecutions"), 1000);
    CHECK_INT(s_test_int(doc, "AccountLimit.UnreservedConcurrentExecutions"), 985);
    CHECK_INT(s_test_int(doc, "AccountUsage.FunctionCount"), 2);
    CHECK_INT(s_test_int(doc, "AccountUsage.TotalCodeSize"), 2 * info.code_size);
    json_decref(doc);
    doc = s_test_call(account, "GET", "/2016-08-19/account-settings", NULL, 200, NULL,
                      NULL);
    json_decref(doc);

    //  PublishVersion and ListVersionsByFunction.
    const char *versions = S_FN "demo/versions";
    s_test_error(account, "POST", versions, "{\"CodeSha256\":\"nope\"}", 400,
                 "InvalidParameterValueException", NULL);
    s_test_error(account, "POST", versions, "{\"RevisionId\":\"stale\"}", 412,
                 "PreconditionFailedException", NULL);
    char long_text[300];
    memset(long_text, 'd', 257);
    long_text[257] = '\0';
    snprintf(body, sizeof body, "{\"Description\":\"%s\"}", long_text);
    s_test_error(account, "POST", versions, body, 400, "ValidationException", NULL);
    doc = s_test_call(account, "POST", versions, "{\"Description\":\"first\"}", 201, NULL,
                      NULL);
    CHECK_STR(s_test_str(doc, "Version"), "1");
    CHECK_STR(s_test_str(doc, "FunctionArn"), S_ARN "demo:1");
    CHECK_STR(s_test_str(doc, "Description"), "first");
    CHECK_INT(s_test_int(doc, "Timeout"), 30);
    json_decref(doc);
    doc = s_test_call(account, "GET", versions, NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Versions")), 2);
    CHECK_STR(s_test_str(doc, "Versions.0.Version"), "$LATEST");
    CHECK_STR(s_test_str(doc, "Versions.0.FunctionArn"), S_ARN "demo:$LATEST");
    CHECK_STR(s_test_str(doc, "Versions.1.FunctionArn"), S_ARN "demo:1");
    CHECK_NULL(
        json_object_get(json_array_get(json_object_get(doc, "Versions"), 1), "State"));
    CHECK_NULL(json_object_get(doc, "NextMarker"));
    json_decref(doc);
    doc = s_test_call(account, "GET", S_FN "demo/versions?MaxItems=1", NULL, 200, NULL,
                      NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Versions")), 1);
    CHECK_STR(s_test_str(doc, "NextMarker"), "1");
    json_decref(doc);
    doc = s_test_call(account, "GET", S_FN "demo/versions?MaxItems=1&Marker=1", NULL, 200,
                      NULL, NULL);
    CHECK_STR(s_test_str(doc, "Versions.0.Version"), "1");
    CHECK_NULL(json_object_get(doc, "NextMarker"));
    json_decref(doc);
    s_test_error(account, "GET", S_FN "demo/versions?MaxItems=0", NULL, 400,
                 "ValidationException",
                 "1 validation error detected: Value '0' at 'maxItems' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 1");
    s_test_error(account, "GET", S_FN "demo/versions?MaxItems=x", NULL, 400,
                 "ValidationException", NULL);
    s_test_error(account, "GET", S_FN "demo/versions?Marker=-1", NULL, 400,
                 "ValidationException", NULL);
    s_test_error(account, "GET", S_FN "nope/versions", NULL, 404,
                 "ResourceNotFoundException", NULL);

    //  Aliases.
    const char *aliases = S_FN "demo/aliases";
    s_test_error(account, "POST", aliases, "{\"FunctionVersion\":\"1\"}", 400,
                 "ValidationException",
                 "1 validation error detected: Value null at 'name' failed to satisfy "
                 "constraint: Member must not be null");
    s_test_error(account, "POST", aliases, "{\"Name\":\"123\",\"FunctionVersion\":\"1\"}",
                 400, "ValidationException",
                 "1 validation error detected: Value '123' at 'name' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: "
                 "(?!^[0-9]+$)([a-zA-Z0-9-_]+)");
    s_test_error(account, "POST", aliases,
                 "{\"Name\":\"live\",\"FunctionVersion\":\"v1\"}", 400,
                 "ValidationException",
                 "1 validation error detected: Value 'v1' at 'functionVersion' failed to "
                 "satisfy constraint: Member must satisfy regular expression pattern: "
                 "(\\$LATEST|[0-9]+)");
    s_test_error(account, "POST", aliases,
                 "{\"Name\":\"live\",\"FunctionVersion\":\"1\",\"RoutingConfig\":"
                 "{\"AdditionalVersionWeights\":{\"2\":0.5}}}",
                 400, "InvalidParameterValueException", NULL);
    s_test_error(account, "POST", aliases,
                 "{\"Name\":\"live\",\"FunctionVersion\":\"9\"}", 404,
                 "ResourceNotFoundException", NULL);
    doc = s_test_call(
        account, "POST", aliases,
        "{\"Name\":\"live\",\"FunctionVersion\":\"1\",\"Description\":\"on\"}", 201, NULL,
        NULL);
    CHECK_STR(s_test_str(doc, "AliasArn"), S_ARN "demo:live");
    CHECK_STR(s_test_str(doc, "Name"), "live");
    CHECK_STR(s_test_str(doc, "FunctionVersion"), "1");
    CHECK_STR(s_test_str(doc, "Description"), "on");
    CHECK_NOT_NULL(s_test_str(doc, "RevisionId"));
    CHECK_INT(json_object_size(doc), 5);
    json_decref(doc);
    s_test_error(account, "POST", aliases,
                 "{\"Name\":\"live\",\"FunctionVersion\":\"1\"}", 409,
                 "ResourceConflictException", NULL);
    doc = s_test_call(account, "GET", S_FN "demo/aliases/live", NULL, 200, NULL, NULL);
    snprintf(revision, sizeof revision, "%s", s_test_str(doc, "RevisionId"));
    json_decref(doc);
    s_test_error(account, "PUT", S_FN "demo/aliases/live", "{\"RevisionId\":\"stale\"}",
                 412, "PreconditionFailedException", NULL);
    snprintf(body, sizeof body, "{\"RevisionId\":\"%s\",\"Description\":\"d2\"}",
             revision);
    doc = s_test_call(account, "PUT", S_FN "demo/aliases/live", body, 200, NULL, NULL);
    CHECK_STR(s_test_str(doc, "Description"), "d2");
    CHECK_STR(s_test_str(doc, "FunctionVersion"), "1");
    json_decref(doc);
    doc = s_test_call(account, "GET", aliases, NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Aliases")), 1);
    CHECK_STR(s_test_str(doc, "Aliases.0.AliasArn"), S_ARN "demo:live");
    json_decref(doc);
    doc = s_test_call(account, "GET", S_FN "demo/aliases?FunctionVersion=%24LATEST", NULL,
                      200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Aliases")), 0);
    json_decref(doc);
    doc = s_test_call(account, "GET", S_FN "demo/configuration?Qualifier=live", NULL, 200,
                      NULL, NULL);
    CHECK_STR(s_test_str(doc, "Version"), "1");
    CHECK_STR(s_test_str(doc, "FunctionArn"), S_ARN "demo:live");
    json_decref(doc);
    s_test_error(account, "GET", S_FN "demo/aliases/nope", NULL, 404,
                 "ResourceNotFoundException", NULL);
    s_test_error(account, "GET", S_FN "demo/aliases/1", NULL, 400, "ValidationException",
                 NULL);

    //  Provisioned concurrency on the alias: IN_PROGRESS, then READY.
    const char *provisioned = "/2019-09-30/functions/demo/provisioned-concurrency";
    s_test_error(
        account, "GET", provisioned, NULL, 400, "ValidationException",
        "1 validation error detected: Value null at 'qualifier' failed to satisfy "
        "constraint: Member must not be null");
    s_test_error(
        account, "PUT",
        "/2019-09-30/functions/demo/provisioned-concurrency?Qualifier=live",
        "{\"ProvisionedConcurrentExecutions\":0}", 400, "ValidationException",
        "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' "
        "failed to satisfy constraint: Member must have value greater than or equal "
        "to 1");
    s_test_error(account, "PUT",
                 "/2019-09-30/functions/demo/provisioned-concurrency?Qualifier=%24LATEST",
                 "{\"ProvisionedConcurrentExecutions\":1}", 400,
                 "InvalidParameterValueException", NULL);
    s_test_error(account, "GET",
                 "/2019-09-30/functions/demo/provisioned-concurrency?Qualifier=live",
                 NULL, 404, "ProvisionedConcurrencyConfigNotFoundException", NULL);
    doc = s_test_call(account, "PUT",
                      "/2019-09-30/functions/demo/provisioned-concurrency?Qualifier=live",
                      "{\"ProvisionedConcurrentExecutions\":2}", 202, NULL, NULL);
    CHECK_INT(s_test_int(doc, "RequestedProvisionedConcurrentExecutions"), 2);
    CHECK_STR(s_test_str(doc, "Status"), "IN_PROGRESS");
    CHECK_NULL(json_object_get(doc, "StatusReason"));
    CHECK_NULL(json_object_get(doc, "FunctionArn"));
    CHECK_NOT_NULL(s_test_str(doc, "LastModified"));
    json_decref(doc);
    s_test_poll_t poll = {account, sp_clock_mono_ns() + 15 * 1000000000LL, false};
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 0, s_test_poll, &poll));
    CHECK_INT(emu_loop_run(loop), 0);
    CHECK_TRUE(poll.ready);
    doc = s_test_call(account, "GET",
                      "/2019-09-30/functions/demo/provisioned-concurrency?Qualifier=live",
                      NULL, 200, NULL, NULL);
    CHECK_INT(s_test_int(doc, "AvailableProvisionedConcurrentExecutions"), 2);
    CHECK_INT(s_test_int(doc, "AllocatedProvisionedConcurrentExecutions"), 2);
    json_decref(doc);
    doc = s_test_call(account, "GET",
                      "/2019-09-30/functions/demo/provisioned-concurrency?List=ALL", NULL,
                      200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "ProvisionedConcurrencyConfigs")), 1);
    CHECK_STR(s_test_str(doc, "ProvisionedConcurrencyConfigs.0.FunctionArn"),
              S_ARN "demo:live");
    CHECK_STR(s_test_str(doc, "ProvisionedConcurrencyConfigs.0.Status"), "READY");
    json_decref(doc);
    s_test_error(
        account, "GET",
        "/2019-09-30/functions/demo/provisioned-concurrency?List=ALL&MaxItems=51", NULL,
        400, "ValidationException",
        "1 validation error detected: Value '51' at 'maxItems' failed to satisfy "
        "constraint: Member must have value less than or equal to 50");
    doc = s_test_call(account, "DELETE",
                      "/2019-09-30/functions/demo/provisioned-concurrency?Qualifier=live",
                      NULL, 204, NULL, NULL);
    CHECK_NULL(doc);
    //  Its environments are stopped and buried by the loop.
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 500 * 1000000LL, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(loop), 0);
    s_test_error(account, "GET",
                 "/2019-09-30/functions/demo/provisioned-concurrency?Qualifier=live",
                 NULL, 404, "ProvisionedConcurrencyConfigNotFoundException", NULL);
    doc = s_test_call(account, "GET",
                      "/2019-09-30/functions/demo/provisioned-concurrency?List=ALL", NULL,
                      200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "ProvisionedConcurrencyConfigs")), 0);
    json_decref(doc);

    //  ListFunctions: pages, every version.
    doc = s_test_call(account, "GET", S_FN, NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Functions")), 2);
    CHECK_STR(s_test_str(doc, "Functions.0.FunctionArn"), S_ARN "demo");
    CHECK_STR(s_test_str(doc, "Functions.1.FunctionName"), "other");
    CHECK_NULL(
        json_object_get(json_array_get(json_object_get(doc, "Functions"), 0), "State"));
    json_decref(doc);
    doc = s_test_call(account, "GET", S_FN "?MaxItems=1", NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Functions")), 1);
    CHECK_STR(s_test_str(doc, "NextMarker"), "1");
    json_decref(doc);
    doc = s_test_call(account, "GET", S_FN "?FunctionVersion=ALL", NULL, 200, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Functions")), 3);
    CHECK_STR(s_test_str(doc, "Functions.1.FunctionArn"), S_ARN "demo:1");
    json_decref(doc);
    s_test_error(
        account, "GET", S_FN "?FunctionVersion=SOME", NULL, 400, "ValidationException",
        "1 validation error detected: Value 'SOME' at 'functionVersion' failed to "
        "satisfy constraint: Member must satisfy enum value set: [ALL]");
    doc = s_test_call(account, "GET", S_FN "?MasterRegion=us-east-1", NULL, 200, NULL,
                      NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "Functions")), 0);
    json_decref(doc);

    //  DeleteAlias, and what is gone.
    CHECK_NULL(
        s_test_call(account, "DELETE", S_FN "demo/aliases/live", NULL, 204, NULL, NULL));
    s_test_error(account, "GET", S_FN "demo/aliases/live", NULL, 404,
                 "ResourceNotFoundException", NULL);
    s_test_error(account, "GET", S_FN "demo?Qualifier=live", NULL, 404,
                 "ResourceNotFoundException", "Function not found: " S_ARN "demo:live");

    //  Caps on the target.
    char *long_target = malloc(MGMT_TARGET_MAX + 64);
    CHECK_NOT_NULL(long_target);
    int n = snprintf(long_target, 64, S_FN "demo?x=");
    memset(long_target + n, 'a', MGMT_TARGET_MAX);
    long_target[n + MGMT_TARGET_MAX] = '\0';
    s_test_error(account, "GET", long_target, NULL, 400, "InvalidParameterValueException",
                 "The request target is longer than 4096 bytes.");
    free(long_target);
    s_test_error(account, "GET",
                 S_FN
                 "demo?a=1&a=2&a=3&a=4&a=5&a=6&a=7&a=8&a=9&a=10&a=11&a=12&a=13&a=14&a=15&"
                 "a=16&a=17",
                 NULL, 400, "InvalidParameterValueException", NULL);

    if (verbose)
        printf("every operation answered as AWS does; ");
    emu_account_destroy(&account);
    emu_loop_destroy(&loop);
    emu_config_destroy(&config);
}
