/*  Fuzz target: agent_response on arbitrary target answers (untrusted
    Lambda/HTTP responses). Input layout: byte 0 picks curl's verdict, bytes
    1-2 the HTTP status, byte 0 also the front door, then a header block up to the first
   blank line (fed line by line, as curl does) and the body (fed in uneven chunks).
    Whatever comes in, the Result must encode as a valid protobuf. */
#include "agent_response.h"
#include "fuzz_result.h"

#include <curl/curl.h>
#include <string.h>

static const int s_codes[] = {
    CURLE_OK,        CURLE_OK, CURLE_OK, CURLE_OPERATION_TIMEDOUT, CURLE_COULDNT_CONNECT,
    CURLE_RECV_ERROR};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int code = s_codes[data[0] % (sizeof s_codes / sizeof s_codes[0])];
    long status = ((long)data[1] << 8 | data[2]) % 1100;
    const char *text = (const char *)data + 3;
    size_t len = size - 3;

    int64_t ns;
    agent_response_parse_received_ns(text, len, &ns);

    agent_response_t *response = agent_response_new();
    if (!response)
        return 0;
    size_t pos = 0;
    //  Header lines until an empty line.
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t line = nl ? (size_t)(nl - (text + pos)) + 1 : len - pos;
        agent_response_header(response, text + pos, line);
        pos += line;
        if (line <= 2 && (text[pos - 1] == '\n'))
            break;
    }
    //  Body in chunks whose sizes come from the data itself.
    while (pos < len) {
        size_t chunk = 1 + (unsigned char)text[pos] * 7u;
        if (chunk > len - pos)
            chunk = len - pos;
        agent_response_body(response, text + pos, chunk);
        pos += chunk;
    }
    //  The door from byte 0 too: every door's rules see every answer.
    Stampede__Door door = (Stampede__Door)((data[0] / 6u) % 6u);
    Stampede__Result result;
    agent_response_result_init(&result, 1);
    agent_response_finish(response, &result, door, code, code ? "fuzz error" : NULL,
                          status);

    fuzz_result_encodes(&result);

    //  The body alone through the JSON parser, too.
    agent_response_result_clear(&result);
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_OK;
    agent_response_parse_lambda(&result, text, len);
    fuzz_result_encodes(&result);
    agent_response_result_clear(&result);
    agent_response_destroy(&response);
    return 0;
}
