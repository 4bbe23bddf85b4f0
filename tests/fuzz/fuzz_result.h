/*  fuzz_result — what the agent's fuzz targets share: the check that a
    Result built from untrusted input goes out as a valid protobuf batch.
    Header-only (static inline), like fuzz_emu.h. */
#ifndef FUZZ_RESULT_H
#define FUZZ_RESULT_H

#include "proto_fixture.h"

#include <stdlib.h>

//  Encodes result as the only one of a ResultBatch; aborts (a finding)
//  when the codec refuses it.
static inline void
fuzz_result_encodes(Stampede__Result *result)
{
    zframe_t *frame = proto_fixture_batch(1, 1, result);
    if (!frame)
        abort();
    zframe_destroy(&frame);
}

#endif
