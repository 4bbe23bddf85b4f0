/*  ctl_lambda — the Lambda management API as stampede uses it: read and set
    a function's reserved concurrency (GetFunctionConcurrency,
    PutFunctionConcurrency, DeleteFunctionConcurrency), for `stampede sweep`
    and for a run that records what the function was configured with.

    Against AWS the requests are signed with SigV4 (libcurl's
    CURLOPT_AWS_SIGV4) with the credentials of the environment:
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the
    region is the flag's, else AWS_REGION, else AWS_DEFAULT_REGION. The
    endpoint defaults to https://lambda.REGION.amazonaws.com. An endpoint on
    a loopback host (the emulator) may go unsigned when there are no
    credentials; any other endpoint needs them, and https://.

    Untrusted input: the endpoint's answers. A body is parsed only as the
    JSON the operation returns; an error answer becomes one line naming
    the operation, the status, x-amzn-ErrorType and the service's message
    (printable ASCII, truncated). Each call waits at most
    CTL_LAMBDA_TIMEOUT_MS. No state besides the settings; any thread.
*/
#ifndef CTL_LAMBDA_H
#define CTL_LAMBDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_LAMBDA_TIMEOUT_MS 10000
#define CTL_LAMBDA_UNRESERVED (-1) //  no reserved concurrency set
#define CTL_LAMBDA_MAX_RESERVED 100000
#define CTL_LAMBDA_MAX_FUNCTION 170 //  a function name, ARN or partial ARN

typedef struct {
    char endpoint[1024]; //  base URL, no trailing '/'
    char function[CTL_LAMBDA_MAX_FUNCTION + 1];
    char region[64];      //  SigV4 region; "" when unsigned
    char access_key[129]; //  "" when unsigned
    char secret_key[129];
    char session_token[4097]; //  "" when none
} ctl_lambda_t;

//  The environment ctl_lambda_init reads (getenv by default; a selftest
//  passes its own).
typedef const char *(*ctl_lambda_getenv_t)(const char *name);

//  Settles self from --lambda-endpoint (NULL: AWS's for the region),
//  --function and --region (NULL: the environment's). Returns 0, or -1
//  with the reason in err (no region for AWS's endpoint, credentials
//  missing for an endpoint that is not loopback, a malformed endpoint or
//  function name).
int ctl_lambda_init(ctl_lambda_t *self, const char *endpoint, const char *function,
                    const char *region, ctl_lambda_getenv_t getenv_fn, char *err,
                    size_t err_size);

//  The function's reserved concurrency into *reserved (CTL_LAMBDA_UNRESERVED
//  when none is set). Returns 0, or -1 with the reason in err.
int ctl_lambda_get_reserved(const ctl_lambda_t *self, int32_t *reserved, char *err,
                            size_t err_size);

//  Sets it (0..CTL_LAMBDA_MAX_RESERVED), or removes it
//  (CTL_LAMBDA_UNRESERVED). Returns 0, or -1 with the reason in err.
int ctl_lambda_set_reserved(const ctl_lambda_t *self, int32_t reserved, char *err,
                            size_t err_size);

//  The answer of GetFunctionConcurrency / PutFunctionConcurrency (status
//  200: {"ReservedConcurrentExecutions": N} or {}) into *reserved; any
//  other status (error_type the x-amzn-ErrorType header, may be NULL)
//  into an error line "OPERATION: STATUS TYPE: message". Returns 0 or -1.
//  Exposed for the selftest and the fuzz target.
int ctl_lambda_parse_reply(const char *operation, long status, const char *error_type,
                           const char *body, size_t body_size, int32_t *reserved,
                           char *err, size_t err_size);

//  "none", "unreserved" -> CTL_LAMBDA_UNRESERVED; a decimal
//  0..CTL_LAMBDA_MAX_RESERVED. Returns 0 or -1.
int ctl_lambda_parse_reserved(const char *text, int32_t *reserved);

//  "unreserved" or the decimal, into buf.
const char *ctl_lambda_reserved_name(int32_t reserved, char *buf, size_t size);

void ctl_lambda_test(bool verbose);

#endif
