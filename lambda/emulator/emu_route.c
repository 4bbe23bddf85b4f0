/*  emu_route — request path parsing; see emu_route.h. */
#include "emu_route.h"
#include "sp_check.h"

#include <string.h>

#define S_RT_BASE "/2018-06-01/runtime/"

bool
emu_route_valid_name(const char *name, size_t len)
{
    if (!name || len == 0 || len > EMU_ROUTE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

emu_route_door_t
emu_route_parse_url(const char *target, emu_route_url_t *route)
{
    assert(route);
    memset(route, 0, sizeof *route);
    route->door = EMU_ROUTE_NONE;
    route->path = "/";
    route->path_len = 1;
    route->query = "";
    size_t prefix = strlen(EMU_ROUTE_PREFIX_URL);
    if (!target || strncmp(target, EMU_ROUTE_PREFIX_URL, prefix) != 0)
        return route->door;

    const char *name = target + prefix;
    size_t name_len = strcspn(name, "/?#");
    const char *rest = name + name_len;
    if (!emu_route_valid_name(name, name_len)) {
        route->door = EMU_ROUTE_BAD_NAME;
        return route->door;
    }
    memcpy(route->function, name, name_len);
    route->function[name_len] = '\0';

    size_t path_len = strcspn(rest, "?#");
    if (path_len > 0) {
        route->path = rest;
        route->path_len = path_len;
    }
    if (rest[path_len] == '?') {
        route->query = rest + path_len + 1;
        route->query_len = strcspn(route->query, "#");
    }
    route->door = EMU_ROUTE_FUNCTION_URL;
    return route->door;
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
    if (door != EMU_ROUTE_FUNCTION_URL)
        return;
    CHECK_STR(route.function, function);
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)route.path_len, route.path);
    CHECK_STR(buf, path);
    snprintf(buf, sizeof buf, "%.*s", (int)route.query_len, route.query);
    CHECK_STR(buf, query);
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

    s_check_url("/url/demo/", EMU_ROUTE_FUNCTION_URL, "demo", "/", "");
    s_check_url("/url/demo", EMU_ROUTE_FUNCTION_URL, "demo", "/", "");
    s_check_url("/url/demo?x=1", EMU_ROUTE_FUNCTION_URL, "demo", "/", "x=1");
    s_check_url("/url/demo/a/b%20c?x=1&y=%41#frag", EMU_ROUTE_FUNCTION_URL, "demo",
                "/a/b%20c", "x=1&y=%41");
    s_check_url("/url/demo/path?", EMU_ROUTE_FUNCTION_URL, "demo", "/path", "");
    s_check_url("/url/demo//double", EMU_ROUTE_FUNCTION_URL, "demo", "//double", "");
    s_check_url("/url/demo/q?a=/b?c", EMU_ROUTE_FUNCTION_URL, "demo", "/q", "a=/b?c");
    s_check_url("/url/", EMU_ROUTE_BAD_NAME, NULL, NULL, NULL);
    s_check_url("/url//x", EMU_ROUTE_BAD_NAME, NULL, NULL, NULL);
    s_check_url("/url/de.mo/", EMU_ROUTE_BAD_NAME, NULL, NULL, NULL);
    s_check_url("/url/%64emo/", EMU_ROUTE_BAD_NAME, NULL, NULL, NULL);
    s_check_url("/", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url(NULL, EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("/urls/demo", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("http://host/url/demo", EMU_ROUTE_NONE, NULL, NULL, NULL);
    s_check_url("*", EMU_ROUTE_NONE, NULL, NULL, NULL);
    emu_route_url_t route;
    emu_route_parse_url("/nothing", &route);
    CHECK_INT(route.path_len, 1);
    CHECK_STR(route.path, "/");
    CHECK_STR(route.query, "");

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
