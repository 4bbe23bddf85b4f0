/*  Fuzz target: front-door request targets (emu_route_parse_url). A
    Function URL route names a valid function and points inside the input
    with a path starting with '/'. */
#include "emu_route.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *target = malloc(size + 1);
    if (!target)
        return 0;
    memcpy(target, data, size);
    target[size] = '\0';
    emu_route_url_t route;
    emu_route_door_t door = emu_route_parse_url(target, &route);
    if (door != route.door)
        abort();
    if (door == EMU_ROUTE_FUNCTION_URL) {
        if (!emu_route_valid_name(route.function, strlen(route.function)))
            abort();
        if (route.path_len == 0 || route.path[0] != '/')
            abort();
        size_t len = strlen(target);
        bool path_inside =
            route.path >= target && route.path + route.path_len <= target + len;
        bool path_default = route.path_len == 1 && strcmp(route.path, "/") == 0;
        if (!path_inside && !path_default)
            abort();
        if (route.query_len > 0 &&
            (route.query < target || route.query + route.query_len > target + len))
            abort();
    }
    free(target);
    return 0;
}
