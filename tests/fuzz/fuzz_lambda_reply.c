/*  Fuzz target: ctl_lambda_parse_reply on arbitrary answers of a Lambda
    management endpoint (untrusted: any URL the user names). Input layout:
    bytes 0-1 the HTTP status, then an x-amzn-ErrorType value up to the
    first newline, then the body.

    Invariants: an accepted answer is a 200 whose reserved concurrency is
    -1..CTL_LAMBDA_MAX_RESERVED; a refused one has a non-empty message of
    printable ASCII that fits the buffer. */
#include "ctl_lambda.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = ((long)data[0] << 8 | data[1]) % 600;
    const char *rest = (const char *)data + 2;
    size_t len = size - 2;
    const char *newline = memchr(rest, '\n', len);
    size_t type_len = newline ? (size_t)(newline - rest) : 0;
    char *type = malloc(type_len + 1);
    if (!type)
        return 0;
    memcpy(type, rest, type_len);
    type[type_len] = '\0';
    const char *body = newline ? newline + 1 : rest;
    size_t body_size = len - (size_t)(body - rest);

    char err[512];
    int32_t reserved = -7;
    int rc =
        ctl_lambda_parse_reply("GetFunctionConcurrency", status, type_len ? type : NULL,
                               body, body_size, &reserved, err, sizeof err);
    if (rc == 0) {
        if (status != 200 || reserved < CTL_LAMBDA_UNRESERVED ||
            reserved > CTL_LAMBDA_MAX_RESERVED)
            abort();
    } else {
        if (rc != -1 || err[0] == '\0' || strlen(err) >= sizeof err)
            abort();
        for (const char *c = err; *c; c++)
            if (*c < 0x20 || *c >= 0x7f)
                abort();
    }
    free(type);
    return 0;
}
