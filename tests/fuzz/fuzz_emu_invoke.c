/*  Fuzz target: the Invoke API's request options (emu_invoke). The input
    is four lines - X-Amz-Invocation-Type, X-Amz-Log-Type,
    X-Amz-Client-Context, the raw Qualifier parameter ("-" = absent) - then
    the payload. Every refusal is a 4xx whose AWS answer can be built (its
    message printable ASCII), every acceptance is consistent: a qualifier
    of the allowed alphabet and length, an event that is the payload or
    {}. */
#include "emu_invoke.h"
#include "fuzz_emu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void
s_check_refusal(const emu_aws_error_t *err)
{
    if (err->status < 400 || err->status > 499)
        abort();
    for (const char *c = err->message; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            abort();
    emu_reply_t *reply = emu_aws_error_reply(err);
    if (!reply)
        abort();
    emu_reply_destroy(&reply);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *input = fuzz_emu_text(data, size);
    if (!input)
        return 0;
    char *fields[4] = {NULL, NULL, NULL, NULL};
    char *rest = input;
    size_t rest_len = size;
    for (int i = 0; i < 4; i++) {
        char *newline = memchr(rest, '\n', rest_len);
        if (!newline)
            break;
        *newline = '\0';
        fields[i] = strcmp(rest, "-") == 0 ? NULL : rest;
        rest_len -= (size_t)(newline + 1 - rest);
        rest = newline + 1;
    }

    emu_invoke_options_t options;
    emu_aws_error_t err;
    int rc = emu_invoke_parse_options(fields[0], fields[1], fields[2], &options, &err);
    if (rc == 0) {
        if (err.status != 0 || options.type > EMU_INVOKE_DRY_RUN)
            abort();
        if (strlen(options.client_context) > EMU_INVOKE_CLIENT_CONTEXT_MAX)
            abort();
    } else
        s_check_refusal(&err);

    char qualifier[EMU_ROUTE_QUALIFIER_MAX + 1];
    const char *raw = fields[3] ? fields[3] : "";
    rc = emu_invoke_qualifier(fields[1] && strlen(fields[1]) <= 128 ? fields[1] : "", raw,
                              strlen(raw), fields[3] != NULL, qualifier, &err);
    if (rc == 0) {
        if (err.status != 0 || strlen(qualifier) > EMU_ROUTE_QUALIFIER_MAX)
            abort();
    } else
        s_check_refusal(&err);

    emu_invoke_type_t type =
        size > 0 && data[0] == 'E' ? EMU_INVOKE_EVENT : EMU_INVOKE_REQUEST_RESPONSE;
    rc = emu_invoke_check_payload(type, rest, rest_len, &err);
    if (rc == 0) {
        size_t event_len = 0;
        char *event = emu_invoke_event(rest, rest_len, &event_len);
        if (!event)
            abort();
        bool same = event_len == rest_len && memcmp(event, rest, rest_len) == 0;
        if (!same && strcmp(event, "{}") != 0)
            abort();
        free(event);
    } else
        s_check_refusal(&err);
    free(input);
    return 0;
}
