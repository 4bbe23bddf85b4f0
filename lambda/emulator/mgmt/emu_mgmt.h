/*  emu_mgmt — the Lambda management API at AWS's paths and JSON shapes,
    so that the AWS CLI (--endpoint-url) drives the emulator:
    GetFunction, GetFunctionConfiguration, ListFunctions,
    UpdateFunctionConfiguration, Put/Get/DeleteFunctionConcurrency,
    Put/Get/Delete/ListProvisionedConcurrencyConfig(s), PublishVersion,
    ListVersionsByFunction, Create/Get/Update/Delete/ListAlias(es),
    GetAccountSettings. (Invoke is a front door: emu_frontdoor.)

    Each request is answered at once from the account's state; bad input
    gets AWS's error (status, x-amzn-ErrorType, {"Type", message} body;
    see emu_aws.h).

    Pure request -> reply over a borrowed account; no state of its own.
    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_MGMT_H
#define EMU_MGMT_H

#include "emu_account.h"
#include "emu_mgmt_req.h"
#include "emu_reply.h"

#include <stdbool.h>
#include <stddef.h>

//  Answers one management API request: `method` ("GET"...), `target` the
//  raw request target as sent (path and query, not decoded), `body` the
//  request body. Returns the reply (caller destroys), or NULL when
//  `target` is not a management API path (the caller answers it): one
//  that does not start with an API date ("/2015-03-31/"...), or an Invoke
//  path (.../functions/NAME/invocations, .../invoke-async). Never NULL
//  for a management path, even on bad input (an unknown one is 404
//  UnknownOperationException); NULL also when memory runs out. A body
//  over EMU_MGMT_BODY_MAX is answered 413 RequestEntityTooLargeException.
emu_reply_t *emu_mgmt_handle(emu_account_t *account, const char *method,
                             const char *target, const void *body, size_t body_len);

void emu_mgmt_test(bool verbose);

#endif
