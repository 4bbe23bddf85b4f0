/*  fuzz_result — what the agent's fuzz targets share: the check that a
    Result built from untrusted input goes out as a valid protobuf batch.
    Header-only (static inline), like fuzz_emu.h. */
#ifndef FUZZ_RESULT_H
#define FUZZ_RESULT_H

#include "proto_codec.h"

#include <stdlib.h>

//  Encodes result as the only one of a ResultBatch; aborts (a finding)
//  when the codec refuses it.
static inline void
fuzz_result_encodes(Stampede__Result *result)
{
    Stampede__Result *results[] = {result};
    Stampede__ResultBatch batch = STAMPEDE__RESULT_BATCH__INIT;
    batch.run_id = 1;
    batch.seq = 1;
    batch.results = results;
    batch.n_results = 1;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &batch;
    zframe_t *frame = proto_encode(&env);
    if (!frame)
        abort();
    zframe_destroy(&frame);
}

#endif
