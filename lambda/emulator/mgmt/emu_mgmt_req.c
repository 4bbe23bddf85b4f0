/*  emu_mgmt_req — one management API request; see emu_mgmt_req.h.

    The request lives on the heap (about 9 KB): the decoded segments and
    query pairs are NUL-separated copies inside it.
*/
#include "emu_mgmt_req.h"
#include "emu_route.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Page size of a list when MaxItems is not given (AWS's default).
#define REQ_PAGE_DEFAULT 50

//  botocore's patterns: as AWS prints them in messages, and as POSIX
//  extended expressions (no \d; '-' last in brackets), matched whole.
#define REQ_NAME_PATTERN                                                                 \
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?("       \
    "function:)?"                                                                        \
    "([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
#define REQ_NAME_ERE                                                                     \
    "^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-[0-9]{1}:)?([0-9]{12}:)?"   \
    "(function:)?([a-zA-Z0-9_-]+)(:(\\$LATEST|[a-zA-Z0-9_-]+))?$"
#define REQ_NSNAME_PATTERN                                                               \
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?("       \
    "function:)?"                                                                        \
    "([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
#define REQ_NSNAME_ERE                                                                   \
    "^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-[0-9]{1}:)?([0-9]{12}:)?"   \
    "(function:)?([a-zA-Z0-9_.-]+)(:(\\$LATEST|[a-zA-Z0-9_-]+))?$"
#define REQ_QUALIFIER_PATTERN "(|[a-zA-Z0-9$_-]+)"
#define REQ_QUALIFIER_ERE "^[a-zA-Z0-9$_-]*$"
#define REQ_ALIAS_PATTERN "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
#define REQ_VERSION_PATTERN "(\\$LATEST|[0-9]+)"
#define REQ_VERSION_ERE "^(\\$LATEST|[0-9]+)$"
#define REQ_REGION_PATTERN "ALL|[a-z]{2}(-gov)?-[a-z]+-\\d{1}"
#define REQ_REGION_ERE "^(ALL|[a-z]{2}(-gov)?-[a-z]+-[0-9]{1})$"

struct _emu_mgmt_req_t {
    emu_account_t *account;    //  borrowed
    const char *operation;     //  AWS's operation name, once routed
    const char *function_name; //  decoded {fn}, or NULL
    const char *alias_name;    //  decoded {alias}, or NULL
    //  the qualifier the function name carries ("" for none), once resolved
    char derived[EMU_FUNCTION_QUALIFIER_MAX + 1];
    const char *segments[EMU_MGMT_REQ_SEGMENTS_MAX];
    size_t segment_count;
    //  decoded segments, NUL-separated
    char path[EMU_MGMT_REQ_TARGET_MAX + EMU_MGMT_REQ_SEGMENTS_MAX + 1];
    const char *keys[EMU_MGMT_REQ_QUERY_MAX];
    const char *values[EMU_MGMT_REQ_QUERY_MAX];
    size_t query_count;
    //  decoded query pairs, NUL-separated
    char query[EMU_MGMT_REQ_TARGET_MAX + 2 * EMU_MGMT_REQ_QUERY_MAX + 1];
    json_t *body;         //  parsed body object, or NULL
    int violation_count;  //  constraint violations so far
    char violations[512]; //  their text, "; "-separated
    bool out_of_memory;
    emu_aws_error_t err; //  the error to answer with; status 0 = none
};

void
emu_mgmt_req_quote(const char *value, char *out, size_t size)
{
    assert(value && out && size > 4);
    size_t len = 0;
    for (const char *p = value; *p && len + 4 < size; p++) {
        if (len == EMU_MGMT_REQ_QUOTE_MAX) {
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

//  Splits the raw target into decoded segments and query pairs. -1 with
//  the request's error when a cap is exceeded.
static int
s_split(emu_mgmt_req_t *self, const char *target)
{
    if (strlen(target) > EMU_MGMT_REQ_TARGET_MAX) {
        emu_aws_error_set(&self->err, 400, "InvalidParameterValueException",
                          "The request target is longer than %d bytes.",
                          EMU_MGMT_REQ_TARGET_MAX);
        return -1;
    }
    size_t path_len = strcspn(target, "?");
    const char *query = target[path_len] == '?' ? target + path_len + 1 : NULL;
    char *out = self->path;
    const char *p = target + 1;
    const char *end = target + path_len;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        //  A trailing '/' ends the path ("/2015-03-31/functions/").
        if (stop == p && stop == end && self->segment_count > 0)
            break;
        if (self->segment_count == EMU_MGMT_REQ_SEGMENTS_MAX) {
            emu_aws_error_set(&self->err, 404, "UnknownOperationException",
                              "Unknown operation");
            return -1;
        }
        s_decode(p, (size_t)(stop - p), out, false);
        self->segments[self->segment_count++] = out;
        out += strlen(out) + 1;
        p = stop + 1;
    }
    out = self->query;
    while (query && *query) {
        size_t len = strcspn(query, "&");
        if (len > 0) {
            if (self->query_count == EMU_MGMT_REQ_QUERY_MAX) {
                emu_aws_error_set(&self->err, 400, "InvalidParameterValueException",
                                  "The request has more than %d query parameters.",
                                  EMU_MGMT_REQ_QUERY_MAX);
                return -1;
            }
            const char *eq = memchr(query, '=', len);
            size_t key_len = eq ? (size_t)(eq - query) : len;
            s_decode(query, key_len, out, true);
            self->keys[self->query_count] = out;
            out += strlen(out) + 1;
            if (eq)
                s_decode(eq + 1, len - key_len - 1, out, true);
            else
                *out = '\0';
            self->values[self->query_count++] = out;
            out += strlen(out) + 1;
        }
        query += len + (query[len] == '&');
    }
    return 0;
}

emu_mgmt_req_t *
emu_mgmt_req_new(emu_account_t *account, const char *target)
{
    assert(account && target && target[0] == '/');
    emu_mgmt_req_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->account = account;
    s_split(self, target);
    return self;
}

void
emu_mgmt_req_destroy(emu_mgmt_req_t **self_p)
{
    assert(self_p);
    emu_mgmt_req_t *self = *self_p;
    if (!self)
        return;
    json_decref(self->body);
    free(self);
    *self_p = NULL;
}

bool
emu_mgmt_req_failed(emu_mgmt_req_t *self)
{
    return self->err.status != 0;
}

size_t
emu_mgmt_req_segment_count(emu_mgmt_req_t *self)
{
    return self->segment_count;
}

const char *
emu_mgmt_req_segment(emu_mgmt_req_t *self, size_t index)
{
    assert(index < self->segment_count);
    return self->segments[index];
}

void
emu_mgmt_req_set_operation(emu_mgmt_req_t *self, const char *name, const char *function,
                           const char *alias)
{
    assert(self && name);
    self->operation = name;
    self->function_name = function;
    self->alias_name = alias;
}

//  Parses the body into self->body: an object, or none when blank. -1
//  with InvalidRequestContentException when it is not a JSON object.
static int
s_parse_body(emu_mgmt_req_t *self, const void *body, size_t body_len)
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
        char quoted[EMU_MGMT_REQ_QUOTE_MAX + 8];
        emu_mgmt_req_quote(error.text, quoted, sizeof quoted);
        emu_aws_error_set(
            &self->err, 400, "InvalidRequestContentException",
            "Could not parse request body into json: %s at line %d, column %d", quoted,
            error.line, error.column);
        return -1;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        emu_aws_error_set(
            &self->err, 400, "InvalidRequestContentException",
            "Could not parse request body into json: the body must be a JSON "
            "object");
        return -1;
    }
    self->body = doc;
    return 0;
}

emu_reply_t *
emu_mgmt_req_answer(emu_mgmt_req_t *self, emu_mgmt_op_fn *op, bool has_body,
                    const void *body, size_t body_len)
{
    assert(self && op && self->operation && (body || body_len == 0));
    if (emu_mgmt_req_failed(self))
        return emu_mgmt_req_error_reply(self);
    if (body_len > EMU_MGMT_BODY_MAX) {
        emu_aws_error_set(&self->err, 413, "RequestEntityTooLargeException",
                          "Request must be smaller than %d bytes for the %s operation",
                          EMU_MGMT_BODY_MAX, self->operation);
        return emu_mgmt_req_error_reply(self);
    }
    if (has_body && s_parse_body(self, body, body_len) != 0)
        return emu_mgmt_req_error_reply(self);
    return op(self);
}

emu_account_t *
emu_mgmt_req_account(emu_mgmt_req_t *self)
{
    return self->account;
}

const char *
emu_mgmt_req_alias_name(emu_mgmt_req_t *self)
{
    return self->alias_name;
}

const char *
emu_mgmt_req_query(emu_mgmt_req_t *self, const char *key)
{
    for (size_t i = 0; i < self->query_count; i++)
        if (strcmp(self->keys[i], key) == 0)
            return self->values[i];
    return NULL;
}

json_t *
emu_mgmt_req_member(emu_mgmt_req_t *self, const char *key)
{
    json_t *value = self->body ? json_object_get(self->body, key) : NULL;
    return value && !json_is_null(value) ? value : NULL;
}

emu_aws_error_t *
emu_mgmt_req_err(emu_mgmt_req_t *self)
{
    return &self->err;
}

int
emu_mgmt_req_type_error(emu_mgmt_req_t *self, const char *key, const char *expected)
{
    emu_aws_error_set(&self->err, 400, "InvalidRequestContentException",
                      "Could not parse request body into json: member '%s' must be %s",
                      key, expected);
    return -1;
}

int
emu_mgmt_req_body_string(emu_mgmt_req_t *self, const char *key, const char **value_p)
{
    json_t *value = emu_mgmt_req_member(self, key);
    *value_p = NULL;
    if (!value)
        return 0;
    if (!json_is_string(value))
        return emu_mgmt_req_type_error(self, key, "a string");
    *value_p = json_string_value(value);
    //  A NUL inside the string would cut it short unseen.
    if (strlen(*value_p) != json_string_length(value))
        return emu_mgmt_req_type_error(self, key, "a string without NUL characters");
    return 0;
}

int
emu_mgmt_req_body_int(emu_mgmt_req_t *self, const char *key, bool *present_p,
                      long long *value_p)
{
    json_t *value = emu_mgmt_req_member(self, key);
    *present_p = value != NULL;
    *value_p = 0;
    if (!value)
        return 0;
    if (!json_is_integer(value))
        return emu_mgmt_req_type_error(self, key, "an integer");
    json_int_t number = json_integer_value(value);
    if (number < INT32_MIN || number > INT32_MAX) {
        emu_aws_error_set(
            &self->err, 400, "InvalidRequestContentException",
            "Could not parse request body into json: Numeric value (%lld) out "
            "of range of int",
            (long long)number);
        return -1;
    }
    *value_p = number;
    return 0;
}

//  -------------------------------------------------------------------------
//  Constraint checks

void
emu_mgmt_req_violation(emu_mgmt_req_t *self, const char *format, ...)
{
    size_t used = strlen(self->violations);
    if (self->violation_count > 0 && used + 2 < sizeof self->violations) {
        memcpy(self->violations + used, "; ", 3);
        used += 2;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(self->violations + used, sizeof self->violations - used, format, args);
    va_end(args);
    self->violation_count++;
}

void
emu_mgmt_req_violation_value(emu_mgmt_req_t *self, const char *member, const char *value,
                             const char *constraint)
{
    char quoted[EMU_MGMT_REQ_QUOTE_MAX + 8];
    emu_mgmt_req_quote(value, quoted, sizeof quoted);
    emu_mgmt_req_violation(self, "Value '%s' at '%s' failed to satisfy constraint: %s",
                           quoted, member, constraint);
}

void
emu_mgmt_req_check_null(emu_mgmt_req_t *self, const char *member, bool present)
{
    if (!present)
        emu_mgmt_req_violation(
            self,
            "Value null at '%s' failed to satisfy constraint: Member must not be null",
            member);
}

//  `measure` ("length" or "value") of `shown` at `member` is `amount`,
//  which must be within [min, max].
static void
s_check_bounds(emu_mgmt_req_t *self, const char *member, const char *shown,
               const char *measure, long long amount, long long min, long long max)
{
    char constraint[96];
    if (amount < min || amount > max) {
        snprintf(constraint, sizeof constraint,
                 "Member must have %s %s than or equal to %lld", measure,
                 amount < min ? "greater" : "less", amount < min ? min : max);
        emu_mgmt_req_violation_value(self, member, shown, constraint);
    }
}

static void
s_check_length(emu_mgmt_req_t *self, const char *member, const char *value, size_t min,
               size_t max)
{
    s_check_bounds(self, member, value, "length", (long long)strlen(value),
                   (long long)min, (long long)max);
}

//  `matched`: whether `value` fits `pattern` (as AWS prints it).
static void
s_check_pattern(emu_mgmt_req_t *self, const char *member, const char *value, bool matched,
                const char *pattern)
{
    if (!matched) {
        char constraint[400];
        snprintf(constraint, sizeof constraint,
                 "Member must satisfy regular expression pattern: %s", pattern);
        emu_mgmt_req_violation_value(self, member, value, constraint);
    }
}

void
emu_mgmt_req_check_range(emu_mgmt_req_t *self, const char *member, long long value,
                         long long min, long long max)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", value);
    s_check_bounds(self, member, text, "value", value, min, max);
}

bool
emu_mgmt_req_matches(emu_mgmt_req_t *self, const char *value, const char *ere)
{
    regex_t regex;
    if (regcomp(&regex, ere, REG_EXTENDED | REG_NOSUB) != 0) {
        self->out_of_memory = true;
        return false;
    }
    bool match = regexec(&regex, value, 0, NULL, 0) == 0;
    regfree(&regex);
    return match;
}

void
emu_mgmt_req_check_function_name(emu_mgmt_req_t *self, bool namespaced)
{
    const char *name = self->function_name;
    assert(name);
    s_check_length(self, "functionName", name, 1, namespaced ? 170 : 140);
    bool matched =
        emu_mgmt_req_matches(self, name, namespaced ? REQ_NSNAME_ERE : REQ_NAME_ERE);
    s_check_pattern(self, "functionName", name, matched,
                    namespaced ? REQ_NSNAME_PATTERN : REQ_NAME_PATTERN);
}

void
emu_mgmt_req_check_qualifier(emu_mgmt_req_t *self, const char *qualifier)
{
    if (!qualifier)
        return;
    s_check_length(self, "qualifier", qualifier, 1, EMU_FUNCTION_QUALIFIER_MAX);
    s_check_pattern(self, "qualifier", qualifier,
                    emu_mgmt_req_matches(self, qualifier, REQ_QUALIFIER_ERE),
                    REQ_QUALIFIER_PATTERN);
}

void
emu_mgmt_req_check_alias(emu_mgmt_req_t *self, const char *name)
{
    s_check_length(self, "name", name, 1, EMU_FUNCTION_QUALIFIER_MAX);
    //  POSIX has no look-ahead: "not all digits" by hand.
    bool word = *name != '\0', digits = true;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            word = false;
        if (!isdigit((unsigned char)*p))
            digits = false;
    }
    s_check_pattern(self, "name", name, word && !digits, REQ_ALIAS_PATTERN);
}

void
emu_mgmt_req_check_version(emu_mgmt_req_t *self, const char *version)
{
    if (!version)
        return;
    s_check_length(self, "functionVersion", version, 1, 1024);
    s_check_pattern(self, "functionVersion", version,
                    emu_mgmt_req_matches(self, version, REQ_VERSION_ERE),
                    REQ_VERSION_PATTERN);
}

void
emu_mgmt_req_check_description(emu_mgmt_req_t *self, const char *description)
{
    if (description)
        s_check_length(self, "description", description, 0, EMU_FUNCTION_DESCRIPTION_MAX);
}

void
emu_mgmt_req_check_region(emu_mgmt_req_t *self, const char *region)
{
    s_check_pattern(self, "masterRegion", region,
                    emu_mgmt_req_matches(self, region, REQ_REGION_ERE),
                    REQ_REGION_PATTERN);
}

//  The decimal digits of `text` as a number up to `max`: 0 and *value_p,
//  or -1 (not only digits, or over max).
static int
s_digits(const char *text, unsigned long long max, unsigned long long *value_p)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (!isdigit((unsigned char)text[0]) || *end || errno == ERANGE || value > max)
        return -1;
    *value_p = value;
    return 0;
}

void
emu_mgmt_req_page(emu_mgmt_req_t *self, long long max_items, emu_mgmt_page_t *page)
{
    assert(max_items >= 1);
    *page = (emu_mgmt_page_t){0, REQ_PAGE_DEFAULT, 0, NULL};
    unsigned long long value;
    const char *items = emu_mgmt_req_query(self, "MaxItems");
    if (items && s_digits(items, LLONG_MAX, &value) != 0)
        emu_mgmt_req_violation_value(self, "maxItems", items,
                                     "Member must be an integer");
    else if (items) {
        emu_mgmt_req_check_range(self, "maxItems", (long long)value, 1, max_items);
        page->limit = value < 1                               ? 1
                      : value > (unsigned long long)max_items ? (size_t)max_items
                                                              : (size_t)value;
    }
    const char *marker = emu_mgmt_req_query(self, "Marker");
    if (marker && s_digits(marker, 1000000000ULL, &value) != 0)
        emu_mgmt_req_violation_value(self, "marker", marker,
                                     "Member must be a marker from a previous "
                                     "page (NextMarker)");
    else if (marker)
        page->start = (size_t)value;
}

bool
emu_mgmt_req_invalid(emu_mgmt_req_t *self)
{
    if (self->violation_count > 0 && !self->out_of_memory)
        emu_aws_error_set(&self->err, 400, "ValidationException",
                          "%d validation error%s detected: %s", self->violation_count,
                          self->violation_count > 1 ? "s" : "", self->violations);
    return self->violation_count > 0 || self->out_of_memory;
}

//  Operations on the function itself take no qualifier in its name;
//  those on $LATEST accept "$LATEST" (`latest_ok`).
static int
s_unqualified(emu_mgmt_req_t *self, const char *derived, bool latest_ok)
{
    if (*derived == '\0' || (latest_ok && strcmp(derived, "$LATEST") == 0))
        return 0;
    emu_aws_error_set(&self->err, 400, "InvalidParameterValueException",
                      "%s does not accept a qualified function name (qualifier '%s').",
                      self->operation, derived);
    return -1;
}

//  Resolves the function once the checks passed; the qualifier its ARN
//  carries goes to self->derived.
static emu_function_t *
s_lookup(emu_mgmt_req_t *self)
{
    self->derived[0] = '\0';
    if (emu_mgmt_req_invalid(self))
        return NULL;
    return emu_account_lookup(self->account, self->function_name, self->derived,
                              &self->err);
}

emu_function_t *
emu_mgmt_req_function(emu_mgmt_req_t *self, const char *given, const char **qualifier_p)
{
    emu_function_t *function = s_lookup(self);
    if (!function)
        return NULL;
    if (given && *self->derived && strcmp(given, self->derived) != 0) {
        emu_aws_error_set(
            &self->err, 400, "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the "
            "specified qualifier.");
        return NULL;
    }
    *qualifier_p = given ? given : self->derived;
    return function;
}

emu_function_t *
emu_mgmt_req_unqualified(emu_mgmt_req_t *self, bool latest_ok)
{
    emu_function_t *function = s_lookup(self);
    if (!function || s_unqualified(self, self->derived, latest_ok) != 0)
        return NULL;
    return function;
}

int
emu_mgmt_req_check_revision(emu_mgmt_req_t *self, const char *given, const char *current)
{
    if (!given || strcmp(given, current) == 0)
        return 0;
    emu_aws_error_set(
        &self->err, 412, "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetFunction/GetAlias API to retrieve the latest Revision Id");
    return -1;
}

emu_reply_t *
emu_mgmt_req_error_reply(emu_mgmt_req_t *self)
{
    if (self->out_of_memory)
        return NULL;
    assert(self->err.status != 0);
    return emu_aws_error_reply(&self->err);
}
