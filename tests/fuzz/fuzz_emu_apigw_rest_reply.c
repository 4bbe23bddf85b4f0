/*  Fuzz target: the API Gateway mapping of a function's payload - untrusted
    output of user code - through a REST API (emu_apigw_rest_reply, payload
    1.0) and an HTTP API (emu_apigw_http_reply, payload 2.0), both on an
    invocation that completed OK. Whatever the payload, the answer is a
    valid HTTP reply: a status 100..599, headers that cannot split the
    response, a body within its cap, and the gateway's request ids. */
#include "emu_apigw_http.h"
#include "fuzz_emu.h"

#include <stdlib.h>
#include <string.h>

static void
s_done(emu_invocation_t *invocation, void *arg)
{
    (void)invocation;
    (void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *event = strdup("{}");
    emu_invocation_t *invocation = emu_invocation_new(
        "00000000-0000-4000-8000-000000000000", &event, 2, s_done, NULL);
    if (!invocation)
        abort();
    emu_invocation_t *borrowed = invocation;
    emu_invocation_complete(&borrowed, EMU_INVOCATION_OK, data, size);

    emu_reply_t *reply = emu_apigw_rest_reply(invocation);
    fuzz_emu_check_reply(reply);
    if (strcmp(emu_reply_header(reply, "x-amzn-RequestId"),
               "00000000-0000-4000-8000-000000000000") != 0 ||
        !emu_reply_header(reply, "x-amz-apigw-id"))
        abort();
    emu_reply_destroy(&reply);

    reply = emu_apigw_http_reply(invocation);
    fuzz_emu_check_reply(reply);
    if (!emu_reply_header(reply, "Apigw-Requestid"))
        abort();
    emu_reply_destroy(&reply);

    emu_invocation_destroy(&invocation);
    return 0;
}
