/*  proto_fixture — see proto_fixture.h. */
#include "proto_fixture.h"
#include "sp_check.h"

zframe_t *
proto_fixture_batch(uint64_t run_id, uint32_t seq, Stampede__Result *result)
{
    Stampede__Result *results[] = {result};
    Stampede__ResultBatch batch = STAMPEDE__RESULT_BATCH__INIT;
    batch.run_id = run_id;
    batch.seq = seq;
    batch.results = results;
    batch.n_results = 1;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &batch;
    return proto_encode(&env);
}

void
proto_fixture_test(bool verbose)
{
    Stampede__Result result = STAMPEDE__RESULT__INIT;
    result.index = 3;
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_OK;
    result.invocation_count = -1;
    zframe_t *frame = proto_fixture_batch(7, 2, &result);
    CHECK_NOT_NULL(frame);
    char err[256];
    proto_envelope_t *env =
        proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
    CHECK_NOT_NULL(env);
    CHECK_INT(env->result_batch->run_id, 7);
    CHECK_INT(env->result_batch->seq, 2);
    CHECK_INT(env->result_batch->n_results, 1);
    CHECK_INT(env->result_batch->results[0]->index, 3);
    proto_envelope_destroy(&env);
    zframe_destroy(&frame);
    //  A Result the codec refuses: no frame.
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_UNSPECIFIED;
    CHECK_NULL(proto_fixture_batch(7, 3, &result));
    if (verbose)
        printf("(proto fixture checks done) ");
}
