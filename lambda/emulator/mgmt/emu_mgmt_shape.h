/*  emu_mgmt_shape — the JSON documents of the Lambda management API as
    the service shapes them (botocore's model): a function's
    configuration (FunctionConfiguration), an alias (AliasConfiguration),
    a provisioned concurrency config, and one page of a list.

    A configuration comes in three views, as AWS answers:
      LISTED    ListFunctions, ListVersionsByFunction: no State,
                LastUpdateStatus nor RuntimeVersionConfig;
      CURRENT   GetFunction(Configuration), PublishVersion: State Active,
                LastUpdateStatus Successful;
      UPDATING  UpdateFunctionConfiguration's answer: LastUpdateStatus
                InProgress with AWS's reason ("The function is being
                created.", code Creating). The emulator applies an update
                at once, so the next read is CURRENT again; that is what
                `aws lambda wait function-updated` polls for.

    RuntimeVersionConfig names the runtime version AWS would run the
    function on (a managed runtime has versions): one per runtime here,
    see emu_aws_runtime_version_arn.

    Pure functions over the core's info structs (borrowed for the call);
    every document is a new json_t the caller owns, NULL without memory.
    Thread model: the emulator loop's thread (the core's).
*/
#ifndef EMU_MGMT_SHAPE_H
#define EMU_MGMT_SHAPE_H

#include "emu_function.h"
#include "emu_reply.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  The runtime every function reports (its RuntimeVersionConfig follows).
#define EMU_MGMT_SHAPE_RUNTIME "provided.al2023"

typedef enum {
    EMU_MGMT_SHAPE_LISTED,
    EMU_MGMT_SHAPE_CURRENT,
    EMU_MGMT_SHAPE_UPDATING,
} emu_mgmt_shape_view_t;

//  One page of a list being filled: items [start, start + limit) of all
//  the items counted. A value; emu_mgmt_req_page sets it up.
typedef struct {
    size_t start; //  index of the page's first item (Marker)
    size_t limit; //  page size (MaxItems)
    size_t total; //  items counted so far
    json_t *list; //  the page's items; NULL once memory ran out
} emu_mgmt_page_t;

//  The FunctionConfiguration of `info`, its FunctionArn qualified by
//  `qualifier` (NULL or "" for none), in `view`.
json_t *emu_mgmt_shape_configuration(emu_function_t *function,
                                     const emu_function_version_info_t *info,
                                     const char *qualifier, emu_mgmt_shape_view_t view);

//  The AliasConfiguration of `info`.
json_t *emu_mgmt_shape_alias(emu_function_t *function,
                             const emu_function_alias_info_t *info);

//  A provisioned concurrency config; with its FunctionArn when `listed`
//  (ListProvisionedConcurrencyConfigs), StatusReason only when FAILED.
json_t *emu_mgmt_shape_provisioned(emu_function_t *function,
                                   const emu_function_provisioned_info_t *info,
                                   bool listed);

//  A reply of `status` with `doc` as its JSON body; consumes doc (NULL
//  gives NULL). NULL without memory.
emu_reply_t *emu_mgmt_shape_reply(int status, json_t *doc);

//  Counts one more item of the list; true when it falls on the page (the
//  caller then builds it and hands it to emu_mgmt_shape_page_add).
bool emu_mgmt_shape_page_next(emu_mgmt_page_t *page);

//  Appends `item` (consumed) to the page; on failure drops the list.
void emu_mgmt_shape_page_add(emu_mgmt_page_t *page, json_t *item);

//  The 200 answer of the page: {`member`: [...]} with NextMarker when
//  items remain after it. Consumes page->list. NULL without memory.
emu_reply_t *emu_mgmt_shape_page_reply(emu_mgmt_page_t *page, const char *member);

void emu_mgmt_shape_test(bool verbose);

#endif
