/*  Fuzz target: Runtime API paths from a function's runtime
    (emu_route_parse_runtime). Input: METHOD '\n' PATH. A request id is
    1..128 characters without '/', only for response and error calls. */
#include "emu_route.h"
#include "fuzz_emu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_emu_text(data, size);
    if (!text)
        return 0;
    char *path = strchr(text, '\n');
    if (path)
        *path++ = '\0';
    else
        path = text + strlen(text);
    emu_route_rt_t route;
    emu_route_rt_call_t call = emu_route_parse_runtime(text, path, &route);
    size_t id_len = strlen(route.request_id);
    bool has_id = call == EMU_ROUTE_RT_RESPONSE || call == EMU_ROUTE_RT_ERROR;
    if (call != route.call || id_len > EMU_ROUTE_ID_MAX || strchr(route.request_id, '/'))
        abort();
    if (has_id && id_len == 0)
        abort();
    if ((call == EMU_ROUTE_RT_NEXT || call == EMU_ROUTE_RT_INIT_ERROR) && id_len != 0)
        abort();
    free(text);
    return 0;
}
