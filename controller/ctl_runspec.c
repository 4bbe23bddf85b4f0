/*  ctl_runspec — a run's specification and its rules; see ctl_runspec.h.

    The field checks state the protocol's rules with messages for people;
    ctl_runspec_check ends with proto_validate on the Prepare the spec
    makes, so the two cannot drift apart unnoticed: a spec the first
    checks pass and the protocol refuses still fails here, with the
    protocol's own words.
*/
#include "ctl_runspec.h"
#include "ctl_door.h"
#include "sp_check.h"
#include "sp_err.h"
#include "sp_url.h"

#include <stdlib.h>
#include <string.h>

void
ctl_runspec_defaults(ctl_runspec_t *spec)
{
    assert(spec);
    memset(spec, 0, sizeof *spec);
    spec->timeout_ms = CTL_RUNSPEC_DEFAULT_TIMEOUT_MS;
    spec->start_mode = CTL_START_MODE_AUTO;
    spec->door = CTL_DOOR_AUTO;
}

int
ctl_runspec_check_url(const char *url, char *err, size_t err_size)
{
    size_t n = url ? strlen(url) : 0;
    if (n == 0 || n > PROTO_MAX_URL) {
        sp_err_set(err, err_size, "URL must be 1-%d bytes", PROTO_MAX_URL);
        return -1;
    }
    //  Lowercase only: the protocol compares the scheme as it is.
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        sp_err_set(err, err_size, "URL must start with http:// or https://");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f) {
            sp_err_set(err, err_size, "URL holds a space or control character");
            return -1;
        }
    //  The host as curl will see it: the one check of a target URL.
    sp_url_t parsed;
    if (sp_url_parse(url, &parsed, err, err_size))
        return -1;
    return 0;
}

int
ctl_runspec_check_method(const char *method, char *err, size_t err_size)
{
    if (method && proto_is_token(method, strlen(method), PROTO_MAX_METHOD))
        return 0;
    sp_err_set(err, err_size, "method must be a 1-%d character token", PROTO_MAX_METHOD);
    return -1;
}

int
ctl_runspec_split_header(const char *header, char *name, size_t name_size,
                         const char **value, char *err, size_t err_size)
{
    const char *colon = header ? strchr(header, ':') : NULL;
    if (!colon) {
        sp_err_set(err, err_size, "header must look like 'Name: value'");
        return -1;
    }
    size_t name_len = (size_t)(colon - header);
    if (!proto_is_token(header, name_len, PROTO_MAX_HEADER_NAME) ||
        name_len >= name_size) {
        sp_err_set(err, err_size, "header name must be a token of 1-%d characters",
                   PROTO_MAX_HEADER_NAME);
        return -1;
    }
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!proto_is_printable(v, PROTO_MAX_HEADER_VALUE)) {
        sp_err_set(err, err_size,
                   "header value longer than %d or holds control characters (tab "
                   "included)",
                   PROTO_MAX_HEADER_VALUE);
        return -1;
    }
    memcpy(name, header, name_len);
    name[name_len] = '\0';
    *value = v;
    return 0;
}

int
ctl_runspec_start_mode_parse(const char *text, ctl_start_mode_t *mode)
{
    assert(mode);
    if (!text)
        return -1;
    if (strcmp(text, "auto") == 0)
        *mode = CTL_START_MODE_AUTO;
    else if (strcmp(text, "at-go") == 0 || strcmp(text, "at_go") == 0)
        *mode = CTL_START_MODE_AT_GO;
    else if (strcmp(text, "last-byte") == 0 || strcmp(text, "last_byte") == 0)
        *mode = CTL_START_MODE_LAST_BYTE;
    else
        return -1;
    return 0;
}

const char *
ctl_runspec_start_mode_name(ctl_start_mode_t mode)
{
    switch (mode) {
    case CTL_START_MODE_AT_GO:
        return "at-go";
    case CTL_START_MODE_LAST_BYTE:
        return "last-byte";
    default:
        return "auto";
    }
}

Stampede__StartMode
ctl_runspec_start_mode(const ctl_runspec_t *spec)
{
    assert(spec);
    switch (spec->start_mode) {
    case CTL_START_MODE_AT_GO:
        return STAMPEDE__START_MODE__START_MODE_AT_GO;
    case CTL_START_MODE_LAST_BYTE:
        return STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    default:
        //  auto: every method can hold its final byte (protocol 4).
        return STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    }
}

int
ctl_runspec_target(const ctl_runspec_t *spec, Stampede__Target *target,
                   Stampede__Header *headers, Stampede__Header **header_ptrs,
                   char (*names)[PROTO_MAX_HEADER_NAME + 1], char *err, size_t err_size)
{
    assert(spec && target && headers && header_ptrs && names);
    stampede__target__init(target);
    target->url = (char *)spec->url;
    target->method = (char *)(spec->method ? spec->method : "GET");
    target->timeout_ms =
        spec->timeout_ms ? spec->timeout_ms : CTL_RUNSPEC_DEFAULT_TIMEOUT_MS;
    target->body.data = (uint8_t *)spec->body;
    target->body.len = spec->body ? spec->body_size : 0;
    target->door = ctl_door_resolve(spec->door, spec->url);
    target->arrival_header = (char *)(spec->arrival_header ? spec->arrival_header : "");
    target->ca_pem.data = (uint8_t *)spec->ca_pem;
    target->ca_pem.len = spec->ca_pem ? spec->ca_pem_size : 0;
    for (size_t i = 0; i < spec->n_headers; i++) {
        const char *value;
        if (ctl_runspec_split_header(spec->headers[i], names[i], sizeof names[i], &value,
                                     err, err_size))
            return -1;
        stampede__header__init(&headers[i]);
        headers[i].name = names[i];
        headers[i].value = (char *)value;
        header_ptrs[i] = &headers[i];
    }
    target->headers = header_ptrs;
    target->n_headers = spec->n_headers;
    return 0;
}

int
ctl_runspec_check(const ctl_runspec_t *spec, char *err, size_t err_size)
{
    assert(spec);
    if (spec->requests < 1 || spec->requests > CTL_RUNSPEC_MAX_REQUESTS) {
        sp_err_set(err, err_size, "requests must be 1-%d", CTL_RUNSPEC_MAX_REQUESTS);
        return -1;
    }
    if (ctl_runspec_check_url(spec->url, err, err_size))
        return -1;
    if (spec->n_headers > PROTO_MAX_HEADERS) {
        sp_err_set(err, err_size, "at most %d headers", PROTO_MAX_HEADERS);
        return -1;
    }
    if (spec->body && spec->body_size > PROTO_MAX_BODY) {
        sp_err_set(err, err_size, "body longer than %d bytes", PROTO_MAX_BODY);
        return -1;
    }
    if (spec->label && strlen(spec->label) > CTL_RUNSPEC_MAX_LABEL) {
        sp_err_set(err, err_size, "label longer than %d bytes", CTL_RUNSPEC_MAX_LABEL);
        return -1;
    }
    if (spec->compensate_path &&
        ctl_runspec_start_mode(spec) != STAMPEDE__START_MODE__START_MODE_LAST_BYTE) {
        sp_err_set(err, err_size, "%s", CTL_RUNSPEC_COMPENSATE_ERROR);
        return -1;
    }
    //  The rest is exactly what the agent will check: let the codec say it.
    Stampede__Target target;
    Stampede__Header headers[PROTO_MAX_HEADERS];
    Stampede__Header *header_ptrs[PROTO_MAX_HEADERS];
    char(*names)[PROTO_MAX_HEADER_NAME + 1] = calloc(PROTO_MAX_HEADERS, sizeof *names);
    if (!names) {
        sp_err_set(err, err_size, "out of memory");
        return -1;
    }
    int rc = -1;
    if (ctl_runspec_target(spec, &target, headers, header_ptrs, names, err, err_size))
        goto out;
    Stampede__Prepare prepare = STAMPEDE__PREPARE__INIT;
    prepare.run_id = 1;
    prepare.count = 1;
    prepare.target = &target;
    prepare.start_mode = ctl_runspec_start_mode(spec);
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_PREPARE;
    env.prepare = &prepare;
    char why[256];
    if (proto_validate(&env, why, sizeof why)) {
        //  "prepare: method must be…" -> "method must be…"
        const char *text = strncmp(why, "prepare: ", 9) == 0 ? why + 9 : why;
        sp_err_set(err, err_size, "%s", text);
        goto out;
    }
    rc = 0;
out:
    free(names);
    return rc;
}

//  A JSON string without embedded NULs (the C string would be shorter) of
//  at most max bytes.
static bool
s_json_string_ok(json_t *value, size_t max)
{
    return json_is_string(value) && json_string_length(value) <= max &&
           strlen(json_string_value(value)) == json_string_length(value);
}

static bool
s_json_uint_ok(json_t *value, long long min, long long max)
{
    return json_is_integer(value) && json_integer_value(value) >= min &&
           json_integer_value(value) <= max;
}

int
ctl_runspec_json_field(const char *key, json_t *value, char *err, size_t err_size)
{
    assert(key);
    bool known = true;
    if (!value || json_is_null(value))
        known = strcmp(key, "url") == 0 || strcmp(key, "requests") == 0 ||
                strcmp(key, "timeout_ms") == 0 || strcmp(key, "method") == 0 ||
                strcmp(key, "headers") == 0 || strcmp(key, "body") == 0 ||
                strcmp(key, "label") == 0 || strcmp(key, "start_mode") == 0 ||
                strcmp(key, "door") == 0 || strcmp(key, "arrival_header") == 0 ||
                strcmp(key, "ca_pem") == 0 || strcmp(key, "reserved_configured") == 0 ||
                strcmp(key, "compensate_path") == 0;
    else if (strcmp(key, "url") == 0) {
        if (!s_json_string_ok(value, PROTO_MAX_URL)) {
            sp_err_set(err, err_size, "url must be a string of 1-%d bytes",
                       PROTO_MAX_URL);
            return -1;
        }
        if (ctl_runspec_check_url(json_string_value(value), err, err_size))
            return -1;
    } else if (strcmp(key, "requests") == 0) {
        if (!s_json_uint_ok(value, 1, CTL_RUNSPEC_MAX_REQUESTS)) {
            sp_err_set(err, err_size, "requests must be an integer from 1 to %d",
                       CTL_RUNSPEC_MAX_REQUESTS);
            return -1;
        }
    } else if (strcmp(key, "timeout_ms") == 0) {
        if (!s_json_uint_ok(value, 1, PROTO_MAX_TIMEOUT_MS)) {
            sp_err_set(err, err_size, "timeout_ms must be an integer from 1 to %d",
                       PROTO_MAX_TIMEOUT_MS);
            return -1;
        }
    } else if (strcmp(key, "method") == 0) {
        if (!s_json_string_ok(value, PROTO_MAX_METHOD) ||
            ctl_runspec_check_method(json_string_value(value), err, err_size)) {
            sp_err_set(err, err_size,
                       "method must be an HTTP method token of 1-%d characters",
                       PROTO_MAX_METHOD);
            return -1;
        }
    } else if (strcmp(key, "headers") == 0) {
        if (!json_is_array(value) || json_array_size(value) > PROTO_MAX_HEADERS) {
            sp_err_set(err, err_size,
                       "headers must be an array of at most %d \"Name: value\" strings",
                       PROTO_MAX_HEADERS);
            return -1;
        }
        size_t i;
        json_t *header;
        json_array_foreach(value, i, header)
        {
            char name[PROTO_MAX_HEADER_NAME + 1], why[160];
            const char *unused;
            if (!s_json_string_ok(header,
                                  PROTO_MAX_HEADER_NAME + 2 + PROTO_MAX_HEADER_VALUE)) {
                sp_err_set(err, err_size, "headers[%zu] must be a \"Name: value\" string",
                           i);
                return -1;
            }
            if (ctl_runspec_split_header(json_string_value(header), name, sizeof name,
                                         &unused, why, sizeof why)) {
                sp_err_set(err, err_size, "headers[%zu]: %s", i, why);
                return -1;
            }
        }
    } else if (strcmp(key, "body") == 0) {
        if (!s_json_string_ok(value, PROTO_MAX_BODY)) {
            sp_err_set(err, err_size,
                       "body must be a string of at most %d bytes without NUL characters",
                       PROTO_MAX_BODY);
            return -1;
        }
    } else if (strcmp(key, "label") == 0) {
        if (!s_json_string_ok(value, CTL_RUNSPEC_MAX_LABEL)) {
            sp_err_set(err, err_size, "label must be a string of at most %d bytes",
                       CTL_RUNSPEC_MAX_LABEL);
            return -1;
        }
    } else if (strcmp(key, "start_mode") == 0) {
        ctl_start_mode_t mode;
        if (!json_is_string(value) ||
            ctl_runspec_start_mode_parse(json_string_value(value), &mode)) {
            sp_err_set(err, err_size,
                       "start_mode must be \"at-go\", \"last-byte\" or \"auto\"");
            return -1;
        }
    } else if (strcmp(key, "door") == 0) {
        int door;
        if (!json_is_string(value) || ctl_door_parse(json_string_value(value), &door)) {
            sp_err_set(err, err_size, "%s", CTL_RUNSPEC_DOOR_ERROR);
            return -1;
        }
    } else if (strcmp(key, "arrival_header") == 0) {
        if (!s_json_string_ok(value, PROTO_MAX_HEADER_NAME) ||
            !proto_is_token(json_string_value(value), json_string_length(value),
                            PROTO_MAX_HEADER_NAME)) {
            sp_err_set(err, err_size, "%s", CTL_RUNSPEC_ARRIVAL_HEADER_ERROR);
            return -1;
        }
    } else if (strcmp(key, "ca_pem") == 0) {
        if (!s_json_string_ok(value, PROTO_MAX_CA_PEM) ||
            !proto_is_pem((const uint8_t *)json_string_value(value),
                          json_string_length(value))) {
            sp_err_set(err, err_size, "%s", CTL_RUNSPEC_CA_PEM_ERROR);
            return -1;
        }
    } else if (strcmp(key, "reserved_configured") == 0) {
        if (!json_is_integer(value) || json_integer_value(value) < -1 ||
            json_integer_value(value) > CTL_RUNSPEC_MAX_RESERVED) {
            sp_err_set(err, err_size, "%s", CTL_RUNSPEC_RESERVED_ERROR);
            return -1;
        }
    } else if (strcmp(key, "compensate_path") == 0) {
        if (!json_is_boolean(value)) {
            sp_err_set(err, err_size, "compensate_path must be true or false");
            return -1;
        }
    } else
        known = false;
    return known ? 0 : 1;
}

int
ctl_runspec_from_json(json_t *command, ctl_runspec_t *spec, const char **headers,
                      char *err, size_t err_size)
{
    assert(spec && headers);
    if (!json_is_object(command)) {
        sp_err_set(err, err_size, "a run command must be a JSON object");
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(command, key, value)
    {
        if (ctl_runspec_json_field(key, value, err, err_size) < 0)
            return -1;
        if (json_is_null(value))
            continue;
        if (strcmp(key, "url") == 0)
            spec->url = json_string_value(value);
        else if (strcmp(key, "requests") == 0)
            spec->requests = (uint32_t)json_integer_value(value);
        else if (strcmp(key, "timeout_ms") == 0)
            spec->timeout_ms = (uint32_t)json_integer_value(value);
        else if (strcmp(key, "method") == 0)
            spec->method = json_string_value(value);
        else if (strcmp(key, "body") == 0) {
            spec->body = json_string_value(value);
            spec->body_size = json_string_length(value);
        } else if (strcmp(key, "label") == 0)
            spec->label = json_string_value(value);
        else if (strcmp(key, "start_mode") == 0)
            ctl_runspec_start_mode_parse(json_string_value(value), &spec->start_mode);
        else if (strcmp(key, "door") == 0)
            ctl_door_parse(json_string_value(value), &spec->door);
        else if (strcmp(key, "arrival_header") == 0)
            spec->arrival_header = json_string_value(value);
        else if (strcmp(key, "ca_pem") == 0) {
            spec->ca_pem = json_string_value(value);
            spec->ca_pem_size = json_string_length(value);
        } else if (strcmp(key, "reserved_configured") == 0) {
            spec->reserved_known = true;
            spec->reserved_configured = (int32_t)json_integer_value(value);
        } else if (strcmp(key, "compensate_path") == 0)
            spec->compensate_path = json_is_true(value);
        else if (strcmp(key, "headers") == 0) {
            for (size_t i = 0; i < json_array_size(value); i++)
                headers[i] = json_string_value(json_array_get(value, i));
            spec->headers = headers;
            spec->n_headers = json_array_size(value);
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Selftest

//  ctl_runspec_json_field on the JSON text of one value.
static int
s_field(const char *key, const char *value_json, char *err, size_t err_size)
{
    json_t *value = json_loads(value_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK_TRUE(value != NULL);
    int rc = ctl_runspec_json_field(key, value, err, err_size);
    json_decref(value);
    return rc;
}

void
ctl_runspec_test(bool verbose)
{
    char err[512];
    ctl_runspec_t spec;
    ctl_runspec_defaults(&spec);
    CHECK_INT(spec.timeout_ms, 30000);
    CHECK_INT(spec.requests, 0);
    CHECK_INT(spec.start_mode, CTL_START_MODE_AUTO);
    CHECK_INT(CTL_RUNSPEC_MAX_REQUESTS, 1000000);

    //  URLs.
    CHECK_INT(ctl_runspec_check_url("http://127.0.0.1:9000/url/demo/", err, sizeof err),
              0);
    CHECK_INT(ctl_runspec_check_url("https://example.test/x?a=1", err, sizeof err), 0);
    CHECK_INT(ctl_runspec_check_url("", err, sizeof err), -1);
    CHECK_TRUE(strstr(err, "1-8192") != NULL);
    CHECK_INT(ctl_runspec_check_url(NULL, err, sizeof err), -1);
    CHECK_INT(ctl_runspec_check_url("HTTP://h/", err, sizeof err), -1);
    CHECK_STR(err, "URL must start with http:// or https://");
    CHECK_INT(ctl_runspec_check_url("ftp://h/", err, sizeof err), -1);
    CHECK_INT(ctl_runspec_check_url("http://", err, sizeof err), -1);
    CHECK_STR(err, "URL has no host");
    //  curl reads extra slashes before the host as one: host x.
    CHECK_INT(ctl_runspec_check_url("http:///x", err, sizeof err), 0);
    //  A host curl cannot take (sp_url's reasons).
    CHECK_INT(ctl_runspec_check_url("http://[::1/", err, sizeof err), -1);
    CHECK_TRUE(strncmp(err, "URL does not parse: ", 20) == 0);
    char long_host[300] = "http://";
    memset(long_host + 7, 'a', 256);
    long_host[7 + 256] = '/';
    long_host[7 + 257] = '\0';
    CHECK_INT(ctl_runspec_check_url(long_host, err, sizeof err), -1);
    CHECK_INT(ctl_runspec_check_url("http://a b/", err, sizeof err), -1);
    CHECK_STR(err, "URL holds a space or control character");
    CHECK_INT(ctl_runspec_check_url("http://a/\x7f", err, sizeof err), -1);

    //  Methods.
    CHECK_INT(ctl_runspec_check_method("POST", err, sizeof err), 0);
    CHECK_INT(ctl_runspec_check_method("ABCDEFGHIJKLMNOP", err, sizeof err), 0);
    CHECK_INT(ctl_runspec_check_method("ABCDEFGHIJKLMNOPQ", err, sizeof err), -1);
    CHECK_STR(err, "method must be a 1-16 character token");
    CHECK_INT(ctl_runspec_check_method("G ET", err, sizeof err), -1);
    CHECK_INT(ctl_runspec_check_method("", err, sizeof err), -1);
    CHECK_INT(ctl_runspec_check_method(NULL, err, sizeof err), -1);

    //  Headers: blanks after the colon are skipped, a tab inside the value
    //  is refused like any control character.
    char name[PROTO_MAX_HEADER_NAME + 1];
    const char *value = NULL;
    CHECK_INT(ctl_runspec_split_header("X-Trace:  abc", name, sizeof name, &value, err,
                                       sizeof err),
              0);
    CHECK_STR(name, "X-Trace");
    CHECK_STR(value, "abc");
    CHECK_INT(ctl_runspec_split_header("Content-Type:\ttext/plain", name, sizeof name,
                                       &value, err, sizeof err),
              0);
    CHECK_STR(value, "text/plain");
    CHECK_INT(
        ctl_runspec_split_header("X-A: a\tb", name, sizeof name, &value, err, sizeof err),
        -1);
    CHECK_STR(err, "header value longer than 8192 or holds control characters (tab "
                   "included)");
    CHECK_INT(ctl_runspec_split_header(": v", name, sizeof name, &value, err, sizeof err),
              -1);
    CHECK_TRUE(strstr(err, "header name") != NULL);
    CHECK_INT(
        ctl_runspec_split_header("NoColon", name, sizeof name, &value, err, sizeof err),
        -1);
    CHECK_STR(err, "header must look like 'Name: value'");

    //  Start modes.
    ctl_start_mode_t mode = CTL_START_MODE_AUTO;
    CHECK_INT(ctl_runspec_start_mode_parse("at-go", &mode), 0);
    CHECK_INT(mode, CTL_START_MODE_AT_GO);
    CHECK_INT(ctl_runspec_start_mode_parse("last_byte", &mode), 0);
    CHECK_INT(mode, CTL_START_MODE_LAST_BYTE);
    CHECK_INT(ctl_runspec_start_mode_parse("auto", &mode), 0);
    CHECK_INT(mode, CTL_START_MODE_AUTO);
    CHECK_INT(ctl_runspec_start_mode_parse("AT-GO", &mode), -1);
    CHECK_INT(ctl_runspec_start_mode_parse(NULL, &mode), -1);
    CHECK_INT(mode, CTL_START_MODE_AUTO); //  left as it was
    CHECK_STR(ctl_runspec_start_mode_name(CTL_START_MODE_AUTO), "auto");
    CHECK_STR(ctl_runspec_start_mode_name(CTL_START_MODE_AT_GO), "at-go");
    CHECK_STR(ctl_runspec_start_mode_name(CTL_START_MODE_LAST_BYTE), "last-byte");

    //  Whole specs.
    const char *headers[] = {"Content-Type: application/json", "X-Bad Name: 1"};
    spec = (ctl_runspec_t){.url = "http://127.0.0.1:9000/url/demo/", .requests = 10};
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);
    spec.headers = headers;
    spec.n_headers = 1;
    spec.method = "POST";
    spec.body = "{}";
    spec.body_size = 2;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);
    spec.n_headers = 2;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), -1);
    CHECK_STR(err, "header name must be a token of 1-256 characters");
    spec.n_headers = 1;
    spec.method = "G ET";
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), -1);
    CHECK_STR(err, "method must be a 1-16 character token");
    spec.method = NULL;
    spec.requests = 0;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), -1);
    CHECK_STR(err, "requests must be 1-1000000");
    spec.requests = 1000001;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), -1);
    CHECK_STR(err, "requests must be 1-1000000");
    spec.requests = 1000000;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);
    spec.requests = 10;
    spec.url = "gopher://x/";
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), -1);
    CHECK_STR(err, "URL must start with http:// or https://");
    spec.url = "http://127.0.0.1:9000/url/demo/";
    spec.timeout_ms = PROTO_MAX_TIMEOUT_MS + 1;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), -1);
    CHECK_STR(err, "timeout_ms must be 1-900000");
    spec.timeout_ms = 0;
    spec.label = "x";
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);
    spec.label = NULL;

    //  Start modes: auto is last_byte for every method, with a body or not;
    //  at-go only when asked for.
    CHECK_INT(ctl_runspec_start_mode(&spec), STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    spec.method = "HEAD";
    CHECK_INT(ctl_runspec_start_mode(&spec), STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    spec.start_mode = CTL_START_MODE_LAST_BYTE;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);
    spec.method = NULL;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);
    spec.start_mode = CTL_START_MODE_AT_GO;
    CHECK_INT(ctl_runspec_start_mode(&spec), STAMPEDE__START_MODE__START_MODE_AT_GO);
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);
    //  The path is measured while arming: at-go cannot compensate it.
    spec.compensate_path = true;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), -1);
    CHECK_STR(err, CTL_RUNSPEC_COMPENSATE_ERROR);
    spec.compensate_path = false;
    spec.body_size = 0;
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);
    spec.start_mode = CTL_START_MODE_AUTO;
    CHECK_INT(ctl_runspec_start_mode(&spec), STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    spec.body = NULL;
    CHECK_INT(ctl_runspec_start_mode(&spec), STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    spec.start_mode = CTL_START_MODE_LAST_BYTE;
    CHECK_INT(ctl_runspec_start_mode(&spec), STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);

    //  The target a spec makes: defaults filled in.
    Stampede__Target target;
    Stampede__Header hdrs[PROTO_MAX_HEADERS];
    Stampede__Header *hdr_ptrs[PROTO_MAX_HEADERS];
    char names[PROTO_MAX_HEADERS][PROTO_MAX_HEADER_NAME + 1];
    spec = (ctl_runspec_t){
        .url = "http://h/", .requests = 1, .headers = headers, .n_headers = 1};
    CHECK_INT(ctl_runspec_target(&spec, &target, hdrs, hdr_ptrs, names, err, sizeof err),
              0);
    CHECK_STR(target.method, "GET");
    CHECK_INT(target.timeout_ms, 30000);
    CHECK_INT(target.n_headers, 1);
    CHECK_STR(target.headers[0]->name, "Content-Type");
    CHECK_STR(target.headers[0]->value, "application/json");

    //  JSON fields: one message per field, the same for the HTTP API and
    //  the controller core.
    CHECK_INT(s_field("requests", "1000000", err, sizeof err), 0);
    CHECK_INT(s_field("requests", "1000001", err, sizeof err), -1);
    CHECK_STR(err, "requests must be an integer from 1 to 1000000");
    CHECK_INT(s_field("requests", "0", err, sizeof err), -1);
    CHECK_INT(s_field("requests", "\"100\"", err, sizeof err), -1);
    CHECK_INT(s_field("requests", "null", err, sizeof err), 0);
    CHECK_INT(s_field("timeout_ms", "900001", err, sizeof err), -1);
    CHECK_STR(err, "timeout_ms must be an integer from 1 to 900000");
    CHECK_INT(s_field("url", "\"HTTP://h/\"", err, sizeof err), -1);
    CHECK_STR(err, "URL must start with http:// or https://");
    CHECK_INT(s_field("url", "7", err, sizeof err), -1);
    CHECK_STR(err, "url must be a string of 1-8192 bytes");
    CHECK_INT(s_field("method", "\"GE T\"", err, sizeof err), -1);
    CHECK_STR(err, "method must be an HTTP method token of 1-16 characters");
    CHECK_INT(s_field("headers", "[\"X-A: 1\", \"Content-Type:\\ttext/plain\"]", err,
                      sizeof err),
              0);
    CHECK_INT(s_field("headers", "[\"X-A: 1\\t2\"]", err, sizeof err), -1);
    CHECK_STR(err,
              "headers[0]: header value longer than 8192 or holds control characters "
              "(tab included)");
    CHECK_INT(s_field("headers", "[1]", err, sizeof err), -1);
    CHECK_STR(err, "headers[0] must be a \"Name: value\" string");
    CHECK_INT(s_field("headers", "\"X-A: 1\"", err, sizeof err), -1);
    CHECK_STR(err, "headers must be an array of at most 64 \"Name: value\" strings");
    CHECK_INT(s_field("body", "{}", err, sizeof err), -1);
    CHECK_STR(err,
              "body must be a string of at most 6291456 bytes without NUL characters");
    CHECK_INT(s_field("body", "\"a\\u0000b\"", err, sizeof err), -1);
    CHECK_INT(s_field("label", "\"nightly\"", err, sizeof err), 0);
    CHECK_INT(s_field("compensate_path", "true", err, sizeof err), 0);
    CHECK_INT(s_field("compensate_path", "1", err, sizeof err), -1);
    CHECK_STR(err, "compensate_path must be true or false");
    CHECK_INT(s_field("start_mode", "\"soon\"", err, sizeof err), -1);
    CHECK_STR(err, "start_mode must be \"at-go\", \"last-byte\" or \"auto\"");
    CHECK_INT(s_field("action", "\"run\"", err, sizeof err), 1);
    CHECK_INT(s_field("reserved_configured", "-1", err, sizeof err), 0);
    CHECK_INT(s_field("reserved_configured", "100000", err, sizeof err), 0);
    const char *bad_reserved[] = {"-2", "100001", "5.0", "\"5\"", "true"};
    for (size_t i = 0; i < sizeof bad_reserved / sizeof bad_reserved[0]; i++) {
        CHECK_INT(s_field("reserved_configured", bad_reserved[i], err, sizeof err), -1);
        CHECK_STR(err, "reserved_configured must be an integer from -1 (unreserved) to "
                       "100000");
    }

    //  A whole command over defaults.
    json_t *command =
        json_loads("{\"action\":\"run\",\"url\":\"http://h/\",\"requests\":7,"
                   "\"timeout_ms\":500,\"method\":\"POST\",\"body\":\"{}\","
                   "\"headers\":[\"X-A: 1\"],\"label\":\"l\","
                   "\"start_mode\":\"at-go\",\"method\":null,"
                   "\"reserved_configured\":-1}",
                   0, NULL);
    CHECK_TRUE(command != NULL);
    const char *room[PROTO_MAX_HEADERS];
    ctl_runspec_defaults(&spec);
    spec.method = "GET";
    CHECK_INT(ctl_runspec_from_json(command, &spec, room, err, sizeof err), 0);
    CHECK_STR(spec.url, "http://h/");
    CHECK_INT(spec.requests, 7);
    CHECK_INT(spec.timeout_ms, 500);
    CHECK_STR(spec.method, "GET"); //  null leaves the default
    CHECK_STR(spec.body, "{}");
    CHECK_INT(spec.body_size, 2);
    CHECK_INT(spec.n_headers, 1);
    CHECK_STR(spec.headers[0], "X-A: 1");
    CHECK_STR(spec.label, "l");
    CHECK_INT(spec.start_mode, CTL_START_MODE_AT_GO);
    CHECK_TRUE(spec.reserved_known);
    CHECK_INT(spec.reserved_configured, -1);
    CHECK_INT(ctl_runspec_check(&spec, err, sizeof err), 0);
    json_object_set_new(command, "requests", json_integer(0));
    CHECK_INT(ctl_runspec_from_json(command, &spec, room, err, sizeof err), -1);
    CHECK_STR(err, "requests must be an integer from 1 to 1000000");
    json_decref(command);
    command = json_array();
    CHECK_INT(ctl_runspec_from_json(command, &spec, room, err, sizeof err), -1);
    CHECK_STR(err, "a run command must be a JSON object");
    json_decref(command);
    if (verbose)
        printf("(runspec checks done) ");
}
