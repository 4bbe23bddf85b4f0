/*  emu_account — the emulated AWS account: its concurrency limit, its
    functions, and the pool of unreserved concurrency they share.

    Owns every emu_function_t, created from the configuration (one per
    --function, in order) and destroyed with the account.

    Concurrency (AWS's rules, see docs/lambda-fidelity.md):
      - limit: --account-concurrency (default 1000).
      - UnreservedConcurrentExecutions = limit - sum of reserved
        concurrency; it never drops below EMU_LIMIT_UNRESERVED_MIN (100):
        a reservation that would take it lower is refused (400
        InvalidParameterValueException "Specified ReservedConcurrentExecutions
        for function decreases account's UnreservedConcurrentExecution below
        its minimum value of [100].").
      - A function with reserved concurrency R runs at most R invocations at
        once, provisioned ones included; over it, a synchronous invoke is
        throttled with Reason ReservedFunctionConcurrentInvocationLimitExceeded.
        R = 0 throttles every synchronous invoke.
      - Functions without reserved concurrency share the unreserved pool:
        their on-demand invocations in flight, all functions together, stay
        below the unreserved pool minus their provisioned concurrency; over
        it, Reason ConcurrentInvocationLimitExceeded.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_ACCOUNT_H
#define EMU_ACCOUNT_H

#include "emu_aws.h"
#include "emu_config.h"
#include "emu_function.h"
#include "emu_loop.h"
#include "emu_quota.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _emu_account_t emu_account_t;

//  Creates the account and every function `config` (borrowed for the
//  account's life) describes, with the limit, idle TTL and timeouts it
//  gives. NULL with a reason in `err` when the functions' reservations
//  break the account's rules or memory runs out.
emu_account_t *emu_account_new(emu_loop_t *loop, const emu_config_t *config, char *err,
                               size_t err_size);

//  Destroys every function (their environments are killed and reaped;
//  invocations in flight are handed back ABORTED) and frees. Nulls *self_p.
void emu_account_destroy(emu_account_t **self_p);

size_t emu_account_function_count(emu_account_t *self);

//  Function `index` (0..count-1), in configuration order. Borrowed for
//  the account's life.
emu_function_t *emu_account_function_at(emu_account_t *self, size_t index);

//  Finds a function by the FunctionName the AWS API accepts: a name
//  ("demo"), a full ARN ("arn:aws:lambda:us-east-1:123456789012:function:
//  demo") or a partial ARN ("123456789012:function:demo"), each optionally
//  followed by ":QUALIFIER". `name` is already percent-decoded. Writes the
//  ARN's qualifier, or "" when it has none, into `qualifier` (at least
//  EMU_FUNCTION_QUALIFIER_MAX + 1 bytes). NULL with 404
//  ResourceNotFoundException ("Function not found: <arn>") in `err` when
//  no such function, or 400 ValidationException when the text fits none
//  of the forms.
emu_function_t *emu_account_lookup(emu_account_t *self, const char *name, char *qualifier,
                                   emu_aws_error_t *err);

//  ConcurrentExecutions: the account limit.
int emu_account_limit(emu_account_t *self);

//  UnreservedConcurrentExecutions: the limit minus every reservation.
int emu_account_unreserved(emu_account_t *self);

//  On-demand invocations of unreserved functions in flight now.
int emu_account_unreserved_in_flight(emu_account_t *self);

void emu_account_test(bool verbose);

#endif
