/*  emu_route — request path parsing; see emu_route.h. */
#include "emu_route.h"
#include "sp_check.h"

#include <string.h>

#define S_RT_BASE "/2018-06-01/runtime/"

//  True when `len` bytes of `text` are 1.. of [A-Za-z0-9_-].
static bool
s_valid_chars(const char *text, size_t len)
{
    if (!text || len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

bool
emu_route_valid_name(const char *name, size_t len)
{
    return len <= EMU_ROUTE_NAME_MAX && s_valid_chars(name, len);
}

bool
emu_route_valid_qualifier(const char *qualifier, size_t len)
{
    if (qualifier && len == 7 && memcmp(qualifier, "$LATEST", 7) == 0)
        return true;
    return len <= EMU_ROUTE_QUALIFIER_MAX && s_valid_chars(qualifier, len);
}

static int
s_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
emu_route_percent_byte(const char *in, size_t len, size_t i)
{
    assert(in && i < len);
    if (in[i] != '%' || len - i < 3)
        return -1;
    int hi = s_hex(in[i + 1]);
    int lo = s_hex(in[i + 2]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

ssize_t
emu_route_percent_decode(const char *in, size_t len, char *out, size_t size)
{
    assert(in || len == 0);
    assert(out || size == 0);
    size_t used = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int byte = emu_route_percent_byte(in, len, i);
            if (byte < 0)
                goto fail;
            c = (char)byte;
            i += 2;
        }
        if (c == '\0' || used + 1 >= size)
            goto fail;
        out[used++] = c;
    }
    if (size > 0)
        out[used] = '\0';
    return (ssize_t)used;
fail:
    if (size > 0)
        out[0] = '\0';
    return -1;
}

//  Splits the rest of a target after its path or query starts at `rest`.
static void
s_split_rest(const char *rest, emu_route_url_t *route)
{
    size_t path_len = strcspn(rest, "?#");
    if (path_len > 0) {
        route->path = rest;
        route->path_len = path_len;
    }
    if (rest[path_len] == '?') {
        route->query = rest + path_len + 1;
        route->query_len = strcspn(route->query, "#");
    }
}

//  A path door: FN[:Q] then the rest.
static emu_route_door_t
s_parse_path_door(const char *name, emu_route_door_t door, emu_route_url_t *route)
{
    size_t segment_len = strcspn(name, "/?#");
    const char *colon = memchr(name, ':', segment_len);
    size_t name_len = colon ? (size_t)(colon - name) : segment_len;
    route->named = door;
    route->door = EMU_ROUTE_BAD_NAME;
    if (!emu_route_valid_name(name, name_len))
        return route->door;
    if (colon) {
        const char *qualifier = colon + 1;
        size_t qualifier_len = segment_len - name_len - 1;
        if (!emu_route_valid_qualifier(qualifier, qualifier_len))
            return route->door;
        route->qualifier = qualifier;
        route->qualifier_len = qualifier_len;
        route->has_qualifier = true;
    }
    memcpy(route->function, name, name_len);
    route->function[name_len] = '\0';
    s_split_rest(name + segment_len, route);
    route->door = door;
    return route->door;
}

//  The Invoke API: FN/invocations, then an optional query.
static emu_route_door_t
s_parse_invoke(const char *name, emu_route_url_t *route)
{
    size_t segment_len = strcspn(name, "/?#");
    const char *rest = name + segment_len;
    const char *suffix = "/invocations";
    size_t suffix_len = strlen(suffix);
    if (strncmp(rest, suffix, suffix_len) != 0 || strchr("?#", rest[suffix_len]) == NULL)
        return route->door; //  another resource: the management API's
    route->named = EMU_ROUTE_INVOKE;
    route->door = EMU_ROUTE_BAD_NAME;
    if (segment_len == 0 || emu_route_percent_decode(name, segment_len, route->function,
                                                     sizeof route->function) <= 0)
        return route->door;
    s_split_rest(rest + suffix_len, route);
    //  The first Qualifier parameter, raw.
    const char *param = route->query;
    const char *end = route->query + route->query_len;
    while (param < end) {
        size_t param_len = (size_t)(end - param);
        const char *amp = memchr(param, '&', param_len);
        if (amp)
            param_len = (size_t)(amp - param);
        if (param_len >= 10 && memcmp(param, "Qualifier=", 10) == 0) {
            route->qualifier = param + 10;
            route->qualifier_len = param_len - 10;
            route->has_qualifier = true;
            break;
        }
        param += param_len + 1;
    }
    route->door = EMU_ROUTE_INVOKE;
    return route->door;
}

emu_route_door_t
emu_route_parse_url(const char *target, emu_route_url_t *route)
{
    assert(route);
    memset(route, 0, sizeof *route);
    route->door = route->named = EMU_ROUTE_NONE;
    route->path = "/";
    route->path_len = 1;
    route->query = "";
    route->qualifier = "";
    if (!target)
        return route->door;
    static const struct {
        const char *prefix;
        emu_route_door_t door;
    } doors[] = {{EMU_ROUTE_PREFIX_URL, EMU_ROUTE_FUNCTION_URL},
                 {EMU_ROUTE_PREFIX_REST, EMU_ROUTE_REST_API},
                 {EMU_ROUTE_PREFIX_HTTP, EMU_ROUTE_HTTP_API}};
    for (size_t i = 0; i < sizeof doors / sizeof doors[0]; i++) {
        size_t prefix = strlen(doors[i].prefix);
        if (strncmp(target, doors[i].prefix, prefix) == 0)
            return s_parse_path_door(target + prefix, doors[i].door, route);
    }
    size_t prefix = strlen(EMU_ROUTE_PREFIX_INVOKE);
    if (strncmp(target, EMU_ROUTE_PREFIX_INVOKE, prefix) == 0)
        return s_parse_invoke(target + prefix, route);
    return route->door;
}

const char *
emu_route_door_name(emu_route_door_t door)
{
    switch (door) {
    case EMU_ROUTE_FUNCTION_URL:
        return "url";
    case EMU_ROUTE_REST_API:
        return "restapi";
    case EMU_ROUTE_HTTP_API:
        return "httpapi";
    case EMU_ROUTE_INVOKE:
        return "invoke";
    case EMU_ROUTE_NONE:
    case EMU_ROUTE_BAD_NAME:
        break;
    }
    return "mgmt";
}

emu_route_rt_call_t
emu_route_parse_runtime(const char *method, const char *path, emu_route_rt_t *route)
{
    assert(route);
    memset(route, 0, sizeof *route);
    route->call = EMU_ROUTE_RT_NOT_FOUND;
    size_t base = strlen(S_RT_BASE);
    if (!method || !path || strncmp(path, S_RT_BASE, base) != 0)
        return route->call;
    const char *rest = path + base;
    bool get = strcmp(method, "GET") == 0;
    bool post = strcmp(method, "POST") == 0;

    if (strcmp(rest, "invocation/next") == 0) {
        route->call = get ? EMU_ROUTE_RT_NEXT : EMU_ROUTE_RT_BAD_METHOD;
        return route->call;
    }
    if (strcmp(rest, "init/error") == 0) {
        route->call = post ? EMU_ROUTE_RT_INIT_ERROR : EMU_ROUTE_RT_BAD_METHOD;
        return route->call;
    }
    const char *invocation = "invocation/";
    size_t invocation_len = strlen(invocation);
    if (strncmp(rest, invocation, invocation_len) != 0)
        return route->call;
    const char *id = rest + invocation_len;
    size_t id_len = strcspn(id, "/");
    if (id_len == 0 || id_len > EMU_ROUTE_ID_MAX || id[id_len] != '/')
        return route->call;
    const char *action = id + id_len + 1;
    emu_route_rt_call_t call;
    if (strcmp(action, "response") == 0)
        call = EMU_ROUTE_RT_RESPONSE;
    else if (strcmp(action, "error") == 0)
        call = EMU_ROUTE_RT_ERROR;
    else
        return route->call;
    memcpy(route->request_id, id, id_len);
    route->request_id[id_len] = '\0';
    route->call = post ? call : EMU_ROUTE_RT_BAD_METHOD;
    return route->call;
}

static void
s_check_url(const char *target, emu_route_door_t door, const char *function,
            const char *path, const char *query)
{
    emu_route_url_t route;
    CHECK_INT(emu_route_parse_url(target, &route), door);
    CHECK_INT(route.door, door);
    if (door == EMU_ROUTE_NONE || door == EMU_ROUTE_BAD_NAME)
        return;
    CHECK_INT(route.named, door);
    CHECK_STR(route.function, function);
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)route.path_len, route.path);
    CHECK_STR(buf, path);
    snprintf(buf, sizeof buf, "%.*s", (int)route.query_len, route.query);
    CHECK_STR(buf, query);
}

//  The qualifier `target` carries: NULL when none.
static void
s_check_qualifier(const char *target, emu_route_door_t door, const char *qualifier)
{
    emu_route_url_t route;
    CHECK_INT(emu_route_parse_url(target, &route), door);
    CHECK_TRUE(route.has_qualifier == (qualifier != NULL));
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)route.qualifier_len, route.qualifier);
    CHECK_STR(buf, qualifier ? qualifier : "");
}

static void
s_check_bad(const char *target, emu_route_door_t named)
{
    emu_route_url_t route;
    CHECK_INT(emu_route_parse_url(target, &route), EMU_ROUTE_BAD_NAME);
    CHECK_INT(route.named, named);
    CHECK_STR(route.function, "");
}

static void
s_test_decode(void)
{
    CHECK_INT(emu_route_percent_byte("%3A", 3, 0), 0x3a);
    CHECK_INT(emu_route_percent_byte("%2f", 3, 0), 0x2f);
    CHECK_INT(emu_route_percent_byte("a%FF", 4, 1), 0xff);
    CHECK_INT(emu_route_percent_byte("%00", 3, 0), 0);
    CHECK_INT(emu_route_percent_byte("a%41", 4, 0), -1);
    CHECK_INT(emu_route_percent_byte("%41", 2, 0), -1);
    CHECK_INT(emu_route_percent_byte("%4g", 3, 0), -1);
    CHECK_INT(emu_route_percent_byte("%g4", 3, 0), -1);
    char out[16];
    CHECK_INT(emu_route_percent_decode("a%3Ab%2fc+d", 11, out, sizeof out), 7);
    CHECK_STR(out, "a:b/c+d");
    CHECK_INT(emu_route_percent_decode("", 0, out, sizeof out), 0);
    CHECK_STR(out, "");
    CHECK_INT(emu_route_percent_decode("%", 1, out, sizeof out), -1);
    CHECK_INT(emu_route_percent_decode("%4", 2, out, sizeof out), -1);
    CHECK_INT(emu_route_percent_decode("%4g", 3, out, sizeof out), -1);
    CHECK_INT(emu_route_percent_decode("%00", 3, out, sizeof out), -1);
    CHECK_STR(out, "");
    //  Only `len` bytes are read, and the result must fit with its NUL.
    CHECK_INT(emu_route_percent_decode("ab%41", 2, out, sizeof out), 2);
    CHECK_STR(out, "ab");
    CHECK_INT(emu_route_percent_decode("0123456789abcdef", 16, out, sizeof out), -1);
    CHECK_INT(emu_route_percent_decode("0123456789abcde", 15, out, sizeof out), 15);
    CHECK_INT(emu_route_percent_decode("%41%42", 6, out, 3), 2);
    CHECK_STR(out, "AB");
}

static void
s_test_doors(void)
{
    s_check_url("/url/demo/", EMU_ROUTE_FUNCTION_URL, "demo", "/", "");
    s_check_url("/url/demo", EMU_ROUTE_FUNCTION_URL, "demo", "/", "");
    s_check_url("/url/demo?x=1", EMU_ROUTE_FUNCTION_URL, "demo", "/", "x=1");
    s_check_url("/url/demo/a/b%20c?x=1&y=%41#frag", EMU_ROUTE_FUNCTION_URL, "demo",
                "/a/b%20c", "x=1&y=%41");
    s_check_url("/url/demo/path?", EMU_ROUTE_FUNCTION_URL, "demo", "/path", "");
    s_check_url("/url/demo//double", EMU_ROUTE_FUNCTION_URL, "demo", "//double", "");
    s_check_url("/url/demo/q?a=/b?c", EMU_ROUTE_FUNCTION_URL, "demo", "/q", "a=/b?c");
    s_check_url("/url/demo:live/x?y", EMU_ROUTE_FUNCTION_URL, "demo", "/x", "y");
    s_check_url("/restapi/demo/items/7?x=1", EMU_ROUTE_REST_API, "demo", "/items/7",
                "x=1");
    s_check_url("/restapi/demo", EMU_ROUTE_REST_API, "demo", "/", "");
    s_check_url("/httpapi/demo:3/a", EMU_ROUTE_HTTP_API, "demo", "/a", "");
    s_check_url("/httpapi/demo?", EMU_ROUTE_HTTP_API, "demo", "/", "");

    s_check_qualifier("/url/demo/x:y", EMU_ROUTE_FUNCTION_URL, NULL);
    s_check_qualifier("/url/demo:live/x", EMU_ROUTE_FUNCTION_URL, "live");
    s_check_qualifier("/url/demo:$LATEST", EMU_ROUTE_FUNCTION_URL, "$LATEST");
    s_check_qualifier("/restapi/demo:12?q", EMU_ROUTE_REST_API, "12");
    s_check_bad("/url/", EMU_ROUTE_FUNCTION_URL);
    s_check_bad("/url//x", EMU_ROUTE_FUNCTION_URL);
    s_check_bad("/url/de.mo/", EMU_ROUTE_FUNCTION_URL);
    s_check_bad("/url/%64emo/", EMU_ROUTE_FUNCTION_URL);
    s_check_bad("/url/demo:/x", EMU_ROUTE_FUNCTION_URL);
    s_check_bad("/url/demo:a:b/x", EMU_ROUTE_FUNCTION_URL);
    s_check_bad("/url/demo:$latest", EMU_ROUTE_FUNCTION_URL);
    s_check_bad("/url/:live", EMU_ROUTE_FUNCTION_URL);
    s_check_bad("/restapi/", EMU_ROUTE_REST_API);
    s_check_bad("/httpapi/a b", EMU_ROUTE_HTTP_API);
    char target[512];
    char long_part[200];
    memset(long_part, 'q', sizeof long_part);
    snprintf(target, sizeof target, "/url/demo:%.128s/", long_part);
    char expected[200];
    snprintf(expected, sizeof expected, "%.128s", long_part);
    s_check_qualifier(target, EMU_ROUTE_FUNCTION_URL, expected);
    snprintf(target, sizeof target, "/url/demo:%.129s/", long_part);
    s_check_bad(target, EMU_ROUTE_FUNCTION_URL);

    s_check_url("/", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url(NULL, EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("/urls/demo", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("/restapi", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("http://host/url/demo", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("*", EMU_ROUTE_NONE, NULL, NULL, NULL);
    emu_route_url_t route;
    emu_route_parse_url("/nothing", &route);
    CHECK_INT(route.named, EMU_ROUTE_NONE);
    CHECK_INT(route.path_len, 1);
    CHECK_STR(route.path, "/");
    CHECK_STR(route.query, "");
    CHECK_STR(route.qualifier, "");
}

static void
s_test_invoke(void)
{
    const char *base = "/2015-03-31/functions/";
    char target[640];
    s_check_url("/2015-03-31/functions/demo/invocations", EMU_ROUTE_INVOKE, "demo", "/",
                "");
    snprintf(target, sizeof target, "%sdemo/invocations?Qualifier=live", base);
    s_check_url(target, EMU_ROUTE_INVOKE, "demo", "/", "Qualifier=live");
    s_check_qualifier(target, EMU_ROUTE_INVOKE, "live");
    s_check_qualifier("/2015-03-31/functions/demo/invocations", EMU_ROUTE_INVOKE, NULL);
    s_check_qualifier(
        "/2015-03-31/functions/demo/invocations?Qualifier=", EMU_ROUTE_INVOKE, "");
    s_check_qualifier("/2015-03-31/functions/demo/invocations?x=1&Qualifier=%24LATEST&"
                      "Qualifier=2#f",
                      EMU_ROUTE_INVOKE, "%24LATEST");
    s_check_qualifier("/2015-03-31/functions/demo/invocations?qualifier=1&XQualifier=2",
                      EMU_ROUTE_INVOKE, NULL);
    //  ARNs come percent-encoded and are decoded, not validated.
    s_check_url("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3A"
                "function%3Ademo%3Alive/invocations",
                EMU_ROUTE_INVOKE,
                "arn:aws:lambda:us-east-1:123456789012:function:demo:live", "/", "");
    s_check_url("/2015-03-31/functions/123456789012:function:demo/invocations?",
                EMU_ROUTE_INVOKE, "123456789012:function:demo", "/", "");
    s_check_url("/2015-03-31/functions/a.b%20c/invocations", EMU_ROUTE_INVOKE, "a.b c",
                "/", "");
    s_check_bad("/2015-03-31/functions//invocations", EMU_ROUTE_INVOKE);
    s_check_bad("/2015-03-31/functions/a%00b/invocations", EMU_ROUTE_INVOKE);
    s_check_bad("/2015-03-31/functions/a%zzb/invocations", EMU_ROUTE_INVOKE);
    char long_name[300];
    memset(long_name, 'n', sizeof long_name);
    snprintf(target, sizeof target, "%s%.256s/invocations", base, long_name);
    char expected[300];
    snprintf(expected, sizeof expected, "%.256s", long_name);
    s_check_url(target, EMU_ROUTE_INVOKE, expected, "/", "");
    snprintf(target, sizeof target, "%s%.257s/invocations", base, long_name);
    s_check_bad(target, EMU_ROUTE_INVOKE);
    //  Other resources under the prefix are the management API's.
    s_check_url("/2015-03-31/functions/demo", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("/2015-03-31/functions/demo/invocationsx", EMU_ROUTE_NONE, NULL, NULL,
                NULL);
    s_check_url("/2015-03-31/functions/demo/invocations/", EMU_ROUTE_NONE, NULL, NULL,
                NULL);
    s_check_url("/2015-03-31/functions/demo/configuration", EMU_ROUTE_NONE, NULL, NULL,
                NULL);
    s_check_url("/2015-03-31/functions/", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("/2015-03-31/functions", EMU_ROUTE_NONE, NULL, NULL, NULL);

    CHECK_STR(emu_route_door_name(EMU_ROUTE_FUNCTION_URL), "url");
    CHECK_STR(emu_route_door_name(EMU_ROUTE_REST_API), "restapi");
    CHECK_STR(emu_route_door_name(EMU_ROUTE_HTTP_API), "httpapi");
    CHECK_STR(emu_route_door_name(EMU_ROUTE_INVOKE), "invoke");
    CHECK_STR(emu_route_door_name(EMU_ROUTE_NONE), "mgmt");
}

static void
s_check_rt(const char *method, const char *path, emu_route_rt_call_t call, const char *id)
{
    emu_route_rt_t route;
    CHECK_INT(emu_route_parse_runtime(method, path, &route), call);
    CHECK_INT(route.call, call);
    CHECK_STR(route.request_id, id);
}

void
emu_route_test(bool verbose)
{
    CHECK_TRUE(emu_route_valid_name("demo", 4));
    CHECK_TRUE(emu_route_valid_name("My_Func-2", 9));
    CHECK_TRUE(!emu_route_valid_name("", 0));
    CHECK_TRUE(!emu_route_valid_name(NULL, 3));
    CHECK_TRUE(!emu_route_valid_name("a.b", 3));
    CHECK_TRUE(!emu_route_valid_name("a b", 3));
    char long_name[80];
    memset(long_name, 'x', sizeof long_name);
    CHECK_TRUE(emu_route_valid_name(long_name, 64));
    CHECK_TRUE(!emu_route_valid_name(long_name, 65));
    CHECK_TRUE(emu_route_valid_qualifier("$LATEST", 7));
    CHECK_TRUE(emu_route_valid_qualifier("live_2-b", 8));
    CHECK_TRUE(emu_route_valid_qualifier("17", 2));
    CHECK_TRUE(!emu_route_valid_qualifier("", 0));
    CHECK_TRUE(!emu_route_valid_qualifier(NULL, 0));
    CHECK_TRUE(!emu_route_valid_qualifier("$LATES", 6));
    CHECK_TRUE(!emu_route_valid_qualifier("$other", 6));
    CHECK_TRUE(!emu_route_valid_qualifier("a:b", 3));

    s_test_decode();
    s_test_doors();
    s_test_invoke();

    s_check_rt("GET", "/2018-06-01/runtime/invocation/next", EMU_ROUTE_RT_NEXT, "");
    s_check_rt("POST", "/2018-06-01/runtime/invocation/next", EMU_ROUTE_RT_BAD_METHOD,
               "");
    s_check_rt("POST", "/2018-06-01/runtime/invocation/abc-1/response",
               EMU_ROUTE_RT_RESPONSE, "abc-1");
    s_check_rt("POST", "/2018-06-01/runtime/invocation/abc-1/error", EMU_ROUTE_RT_ERROR,
               "abc-1");
    s_check_rt("GET", "/2018-06-01/runtime/invocation/abc-1/error",
               EMU_ROUTE_RT_BAD_METHOD, "abc-1");
    s_check_rt("POST", "/2018-06-01/runtime/init/error", EMU_ROUTE_RT_INIT_ERROR, "");
    s_check_rt("PUT", "/2018-06-01/runtime/init/error", EMU_ROUTE_RT_BAD_METHOD, "");
    s_check_rt("POST", "/2018-06-01/runtime/invocation//response", EMU_ROUTE_RT_NOT_FOUND,
               "");
    s_check_rt("POST", "/2018-06-01/runtime/invocation/a/b/response",
               EMU_ROUTE_RT_NOT_FOUND, "");
    s_check_rt("POST", "/2018-06-01/runtime/invocation/abc/responses",
               EMU_ROUTE_RT_NOT_FOUND, "");
    s_check_rt("POST", "/2018-06-01/runtime/invocation/abc", EMU_ROUTE_RT_NOT_FOUND, "");
    s_check_rt("GET", "/2018-06-01/runtime/invocation/next/", EMU_ROUTE_RT_NOT_FOUND, "");
    s_check_rt("GET", "/2020-01-01/runtime/invocation/next", EMU_ROUTE_RT_NOT_FOUND, "");
    s_check_rt("GET", "/", EMU_ROUTE_RT_NOT_FOUND, "");
    s_check_rt(NULL, "/", EMU_ROUTE_RT_NOT_FOUND, "");
    s_check_rt("GET", NULL, EMU_ROUTE_RT_NOT_FOUND, "");
    char path[512];
    char id[EMU_ROUTE_ID_MAX + 2];
    memset(id, 'i', sizeof id);
    id[EMU_ROUTE_ID_MAX] = '\0';
    snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/response", id);
    s_check_rt("POST", path, EMU_ROUTE_RT_RESPONSE, id);
    id[EMU_ROUTE_ID_MAX] = 'i';
    id[EMU_ROUTE_ID_MAX + 1] = '\0';
    snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/response", id);
    s_check_rt("POST", path, EMU_ROUTE_RT_NOT_FOUND, "");
    (void)verbose;
}
