/*  emu_aws — the facts of the emulated AWS account shared by every part
    of the emulator: account id, region, ARNs, AWS-shaped error answers,
    and base64 as AWS carries binary in JSON and headers (the standard
    alphabet, padded).

    An emu_aws_error_t is a value: the HTTP status, the error type sent in
    x-amzn-ErrorType, the message and, for throttles, the Reason. The core
    (emu_account, emu_function) fills one when it refuses an operation;
    the front doors and the management API turn it into the answer AWS
    would send:

      HTTP/1.1 <status>
      x-amzn-ErrorType: <type>
      Content-Type: application/json
      {"Type":"User","message":"<message>"}            (status < 500)
      {"Type":"Service","message":"<message>"}         (status >= 500)
      {"Reason":"<reason>","Type":"User","message":"Rate Exceeded."}  (throttle)

    with the member named as botocore's model names it for the type:
    "Message" for ResourceNotFoundException and ServiceException
    ({"Type":"User","Message":"Function not found: arn:..."}), "message"
    for the others.

    Pure functions and plain values; callable from any thread.
*/
#ifndef EMU_AWS_H
#define EMU_AWS_H

#include "emu_reply.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define EMU_AWS_ACCOUNT_ID "123456789012"
#define EMU_AWS_REGION "us-east-1"
//  Longest ARN we build: prefix, 64-character name, 128-character qualifier.
#define EMU_AWS_ARN_MAX 256

typedef struct {
    int status;        //  HTTP status; 0 = no error
    char type[64];     //  x-amzn-ErrorType, e.g. "ResourceNotFoundException"
    char message[512]; //  the message, as AWS words it
    char reason[64];   //  "Reason" of a throttle, "" otherwise
} emu_aws_error_t;

//  Sets `err` to `status`, `type` and the printf-formatted message.
void emu_aws_error_set(emu_aws_error_t *err, int status, const char *type,
                       const char *format, ...) __attribute__((format(printf, 4, 5)));

//  Clears `err` (status 0).
void emu_aws_error_clear(emu_aws_error_t *err);

//  404 ResourceNotFoundException "Function not found: <arn>", the ARN
//  qualified when `qualifier` is neither NULL nor empty.
void emu_aws_error_function_not_found(emu_aws_error_t *err, const char *function,
                                      const char *qualifier);

//  429 TooManyRequestsException "Rate Exceeded." with `reason`.
void emu_aws_error_throttle(emu_aws_error_t *err, const char *reason);

//  The answer for `err` (status != 0), as above. NULL without memory.
emu_reply_t *emu_aws_error_reply(const emu_aws_error_t *err);

//  Writes the function's ARN, with ":qualifier" when `qualifier` is
//  neither NULL nor empty, into `out` (truncated to `size`).
void emu_aws_function_arn(const char *function, const char *qualifier, char *out,
                          size_t size);

//  Writes the ARN of the runtime version `runtime` ("provided.al2023")
//  runs on, as function configurations carry it in RuntimeVersionConfig:
//  "arn:aws:lambda:<region>::runtime:<64 hex>", the hex being the SHA-256
//  of the runtime's name, so one runtime always has one version here.
//  Into `out` (truncated to `size`; EMU_AWS_ARN_MAX is enough).
void emu_aws_runtime_version_arn(const char *runtime, char *out, size_t size);

//  ISO 8601 time AWS uses in LastModified ("2026-11-26T17:40:01.123+0000")
//  for `epoch_ms`, into `out` (at least 32 bytes).
void emu_aws_timestamp(int64_t epoch_ms, char *out, size_t size);

//  Decodes base64 `text` (`len` bytes: standard alphabet, a multiple of 4,
//  '=' only as the last one or two) into `out` (at least len / 4 * 3
//  bytes). Returns the decoded length, or -1 when `text` is not such
//  base64 (whitespace, line breaks and stray '=' included).
ssize_t emu_aws_base64_decode(const char *text, size_t len, unsigned char *out);

//  The base64 of `len` bytes of `data` (standard alphabet, padded, one
//  line). Caller frees; NULL without memory.
char *emu_aws_base64_encode(const void *data, size_t len);

void emu_aws_test(bool verbose);

#endif
