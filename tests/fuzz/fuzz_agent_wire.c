/*  Fuzz target: agent_wire's answer parser on arbitrary bytes from a target
    (the answers to last-byte requests, read by the agent itself). Byte 0
    picks HEAD or not, whether the connection ends after the bytes, and the
    size of the pieces they are fed in; the rest is the answer. Whatever
    comes in, the state is one of the three and the Result must encode as a
    valid protobuf. */
#include "agent_wire.h"
#include "fuzz_result.h"

#include <stdlib.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool head = data[0] & 1;
    bool eof = data[0] & 2;
    size_t step = 1 + (data[0] >> 2) * 13u;
    const uint8_t *answer = data + 1;
    size_t len = size - 1;

    agent_response_t *response = agent_response_new();
    agent_wire_t *wire = response ? agent_wire_new(response, head) : NULL;
    if (!wire) {
        agent_response_destroy(&response);
        return 0;
    }
    agent_wire_state_t state = AGENT_WIRE_MORE;
    for (size_t at = 0; at < len && state == AGENT_WIRE_MORE; at += step)
        state = agent_wire_feed(wire, answer + at, len - at < step ? len - at : step);
    if (eof)
        state = agent_wire_eof(wire);
    if (state != AGENT_WIRE_MORE && state != AGENT_WIRE_DONE &&
        state != AGENT_WIRE_FAILED)
        abort();
    if (agent_wire_received(wire) > len)
        abort();

    Stampede__Result result;
    agent_response_result_init(&result, 1);
    agent_response_finish(response, &result, STAMPEDE__DOOR__DOOR_FUNCTION_URL,
                          agent_wire_code(wire), agent_wire_error(wire),
                          agent_wire_status(wire));
    fuzz_result_encodes(&result);
    agent_response_result_clear(&result);
    agent_wire_destroy(&wire);
    agent_response_destroy(&response);
    return 0;
}
