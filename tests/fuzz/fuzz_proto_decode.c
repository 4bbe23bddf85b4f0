/*  Fuzz target: proto_decode on arbitrary frames (untrusted agent and
    controller input). Anything accepted must re-validate and re-encode. */
#include "proto_codec.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    proto_envelope_t *env = proto_decode(data, size, err, sizeof err);
    if (env) {
        zframe_t *frame = proto_encode(env);
        if (!frame)
            abort();
        zframe_destroy(&frame);
        proto_envelope_destroy(&env);
    }
    return 0;
}
