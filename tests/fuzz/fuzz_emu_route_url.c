/*  Fuzz target: front-door request targets (emu_route_parse_url) and the
    percent-decoder. Every door's route names a function (a valid name in
    the path doors, a non-empty decoded FunctionName without NUL in the
    Invoke API), and every pointer it returns lies inside the input: path
    (starting with '/'), query and qualifier. A path door's qualifier is
    valid; BAD_NAME says which door it was meant for and names nothing. */
#include "emu_route.h"
#include "fuzz_emu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void
s_inside(const char *target, size_t len, const char *part, size_t part_len)
{
    if (part_len > 0 && (part < target || part + part_len > target + len))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *target = fuzz_emu_text(data, size);
    if (!target)
        return 0;
    size_t len = strlen(target);
    emu_route_url_t route;
    emu_route_door_t door = emu_route_parse_url(target, &route);
    if (door != route.door)
        abort();
    switch (door) {
    case EMU_ROUTE_FUNCTION_URL:
    case EMU_ROUTE_REST_API:
    case EMU_ROUTE_HTTP_API:
        if (!emu_route_valid_name(route.function, strlen(route.function)))
            abort();
        if (route.has_qualifier &&
            !emu_route_valid_qualifier(route.qualifier, route.qualifier_len))
            abort();
        if (route.named != door)
            abort();
        break;
    case EMU_ROUTE_INVOKE: {
        size_t name_len = strlen(route.function);
        if (name_len == 0 || name_len > EMU_ROUTE_TARGET_NAME_MAX || route.named != door)
            abort();
        if (route.path_len != 1 || strcmp(route.path, "/") != 0)
            abort();
        break;
    }
    case EMU_ROUTE_BAD_NAME:
        if (route.named == EMU_ROUTE_NONE || route.named == EMU_ROUTE_BAD_NAME ||
            route.function[0] != '\0')
            abort();
        break;
    case EMU_ROUTE_NONE:
        if (route.named != EMU_ROUTE_NONE || route.function[0] != '\0')
            abort();
        break;
    }
    if (route.path_len == 0 || route.path[0] != '/')
        abort();
    bool path_default = route.path_len == 1 && strcmp(route.path, "/") == 0;
    if (!path_default)
        s_inside(target, len, route.path, route.path_len);
    s_inside(target, len, route.query, route.query_len);
    s_inside(target, len, route.qualifier, route.qualifier_len);
    if (!route.has_qualifier && route.qualifier_len != 0)
        abort();

    //  The decoder never writes past its buffer and never yields a NUL.
    char out[64];
    ssize_t decoded = emu_route_percent_decode(target, len, out, sizeof out);
    if (decoded >= (ssize_t)sizeof out ||
        (decoded >= 0 && strlen(out) != (size_t)decoded))
        abort();
    if (decoded < 0 && out[0] != '\0')
        abort();
    free(target);
    return 0;
}
