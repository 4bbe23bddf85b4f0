/*  proto_fixture — protocol frames the selftests and fuzz targets build
    alike: a ResultBatch of one Result, encoded as it would go to the
    controller (so "this Result can be sent" is one check everywhere).

    Stateless; any thread.
*/
#ifndef PROTO_FIXTURE_H
#define PROTO_FIXTURE_H

#include "proto_codec.h"

#include <stdbool.h>
#include <stdint.h>

//  Batch seq of run_id holding result alone, encoded; NULL when the codec
//  refuses it (the Result is not valid).
zframe_t *proto_fixture_batch(uint64_t run_id, uint32_t seq, Stampede__Result *result);

void proto_fixture_test(bool verbose);

#endif
