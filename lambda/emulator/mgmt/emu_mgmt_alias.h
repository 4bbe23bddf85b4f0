/*  emu_mgmt_alias — the management operations on aliases: CreateAlias,
    GetAlias, UpdateAlias, DeleteAlias, ListAliases. Weighted aliases
    (RoutingConfig.AdditionalVersionWeights) are refused, not emulated.

    Each is an emu_mgmt_op_fn (see emu_mgmt_req.h). No state of its own.
    Thread model: the emulator loop's thread.
*/
#ifndef EMU_MGMT_ALIAS_H
#define EMU_MGMT_ALIAS_H

#include "emu_mgmt_req.h"

//  POST /2015-03-31/functions/{fn}/aliases: Name, FunctionVersion,
//  Description, RoutingConfig. 201.
emu_reply_t *emu_mgmt_alias_create(emu_mgmt_req_t *req);

//  GET /2015-03-31/functions/{fn}/aliases/{alias}.
emu_reply_t *emu_mgmt_alias_get(emu_mgmt_req_t *req);

//  PUT /2015-03-31/functions/{fn}/aliases/{alias}: FunctionVersion,
//  Description, RoutingConfig, RevisionId.
emu_reply_t *emu_mgmt_alias_update(emu_mgmt_req_t *req);

//  DELETE /2015-03-31/functions/{fn}/aliases/{alias}. 204.
emu_reply_t *emu_mgmt_alias_delete(emu_mgmt_req_t *req);

//  GET /2015-03-31/functions/{fn}/aliases[?FunctionVersion=&Marker=&MaxItems=].
emu_reply_t *emu_mgmt_alias_list(emu_mgmt_req_t *req);

void emu_mgmt_alias_test(bool verbose);

#endif
