/*  emu_mgmt_conc — the management operations on concurrency and the
    account: Put/Get/DeleteFunctionConcurrency (reserved),
    Put/Get/DeleteProvisionedConcurrencyConfig,
    ListProvisionedConcurrencyConfigs, GetAccountSettings.

    Each is an emu_mgmt_op_fn (see emu_mgmt_req.h). No state of its own.
    Thread model: the emulator loop's thread.
*/
#ifndef EMU_MGMT_CONC_H
#define EMU_MGMT_CONC_H

#include "emu_mgmt_req.h"

//  PUT /2017-10-31/functions/{fn}/concurrency: ReservedConcurrentExecutions.
emu_reply_t *emu_mgmt_conc_put_reserved(emu_mgmt_req_t *req);

//  GET /2019-09-30/functions/{fn}/concurrency: {} when none is reserved.
emu_reply_t *emu_mgmt_conc_get_reserved(emu_mgmt_req_t *req);

//  DELETE /2017-10-31/functions/{fn}/concurrency. 204.
emu_reply_t *emu_mgmt_conc_delete_reserved(emu_mgmt_req_t *req);

//  PUT /2019-09-30/functions/{fn}/provisioned-concurrency?Qualifier=:
//  ProvisionedConcurrentExecutions. 202, IN_PROGRESS.
emu_reply_t *emu_mgmt_conc_put_provisioned(emu_mgmt_req_t *req);

//  GET /2019-09-30/functions/{fn}/provisioned-concurrency?Qualifier=, or
//  with ?List=ALL ListProvisionedConcurrencyConfigs (Marker, MaxItems
//  up to 50).
emu_reply_t *emu_mgmt_conc_get_provisioned(emu_mgmt_req_t *req);

//  DELETE /2019-09-30/functions/{fn}/provisioned-concurrency?Qualifier=. 204.
emu_reply_t *emu_mgmt_conc_delete_provisioned(emu_mgmt_req_t *req);

//  GET /2016-08-19/account-settings: AccountLimit (AWS's code-size
//  limits, the account's concurrency) and AccountUsage.
emu_reply_t *emu_mgmt_conc_account_settings(emu_mgmt_req_t *req);

void emu_mgmt_conc_test(bool verbose);

#endif
