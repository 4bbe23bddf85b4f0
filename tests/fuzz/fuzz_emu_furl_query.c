/*  Fuzz target: building the Function URL event from an untrusted request
    (emu_furl_event, emu_furl_query_parameters). The input is split into a
    path line, a query line, header lines "name: value" up to an empty line,
    and the body. The event must always be a JSON object. */
#include "emu_furl.h"
#include "fuzz_emu.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_emu_text(data, size);
    if (!text)
        return 0;
    char *end = text + size, *cursor = text;

    json_t *params = emu_furl_query_parameters(text, size);
    if (params && !json_is_object(params))
        abort();
    json_decref(params);

    emu_furl_header_t headers[FUZZ_EMU_HEADERS_MAX];
    emu_furl_request_t request = fuzz_emu_request(&cursor, end, "POST", headers);
    size_t len = 0;
    char *event = emu_furl_event(&request, &len);
    if (!event)
        abort();
    json_t *doc = json_loadb(event, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(doc) || !json_is_object(json_object_get(doc, "requestContext")))
        abort();
    json_decref(doc);
    free(event);
    free(text);
    return 0;
}
