/*  emu_mgmt_fn — the management operations on functions and their
    versions: GetFunction, GetFunctionConfiguration, ListFunctions,
    UpdateFunctionConfiguration, PublishVersion, ListVersionsByFunction.

    Each is an emu_mgmt_op_fn: it checks the request as botocore's model
    does, lets the core act, and answers with AWS's shapes
    (emu_mgmt_shape). No state of its own. Thread model: the emulator
    loop's thread.
*/
#ifndef EMU_MGMT_FN_H
#define EMU_MGMT_FN_H

#include "emu_mgmt_req.h"

//  GET /2015-03-31/functions/{fn}[?Qualifier=]: configuration, code
//  location and reserved concurrency.
emu_reply_t *emu_mgmt_fn_get(emu_mgmt_req_t *req);

//  GET /2015-03-31/functions/{fn}/configuration[?Qualifier=].
emu_reply_t *emu_mgmt_fn_get_configuration(emu_mgmt_req_t *req);

//  GET /2015-03-31/functions/[?FunctionVersion=ALL&MasterRegion=&Marker=&MaxItems=].
emu_reply_t *emu_mgmt_fn_list(emu_mgmt_req_t *req);

//  PUT /2015-03-31/functions/{fn}/configuration: Environment, Timeout,
//  MemorySize, Description, RevisionId; other members of the model are
//  refused (not emulated). Answers LastUpdateStatus InProgress.
emu_reply_t *emu_mgmt_fn_update_configuration(emu_mgmt_req_t *req);

//  POST /2015-03-31/functions/{fn}/versions: CodeSha256, Description,
//  RevisionId. 201.
emu_reply_t *emu_mgmt_fn_publish_version(emu_mgmt_req_t *req);

//  GET /2015-03-31/functions/{fn}/versions[?Marker=&MaxItems=].
emu_reply_t *emu_mgmt_fn_list_versions(emu_mgmt_req_t *req);

void emu_mgmt_fn_test(bool verbose);

#endif
