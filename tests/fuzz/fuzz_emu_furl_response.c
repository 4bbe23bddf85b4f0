/*  Fuzz target: the Function URL mapping of a function's payload
    (emu_furl_map_payload) - untrusted output of user code. Whatever the
    payload, the answer is a valid HTTP reply: a status 100..599, headers
    that cannot split the response, a body within its cap. */
#include "emu_furl_map.h"
#include "fuzz_emu.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    emu_reply_t *reply = emu_furl_map_payload((const char *)data, size);
    fuzz_emu_check_reply(reply);
    emu_reply_destroy(&reply);
    return 0;
}
