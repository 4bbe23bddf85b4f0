/*  Fuzz target: the Function URL mapping of a function's payload
    (emu_furl_map_payload) - untrusted output of user code. Whatever the
    payload, the answer is a valid HTTP reply: a status 100..599, headers
    that cannot split the response, a body within its cap. */
#include "emu_furl.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    emu_reply_t *reply = emu_furl_map_payload((const char *)data, size);
    if (!reply)
        abort();
    int status = emu_reply_status(reply);
    if (status < 100 || status > 599)
        abort();
    size_t len = 0;
    emu_reply_body(reply, &len);
    if (len > EMU_REPLY_BODY_MAX)
        abort();
    if (!emu_reply_header(reply, "Content-Type"))
        abort();
    struct MHD_Response *response = emu_reply_to_mhd(reply);
    if (!response)
        abort();
    MHD_destroy_response(response);
    emu_reply_destroy(&reply);
    return 0;
}
