/*  emu_provisioned — one function's provisioned concurrency configs.

    Owns the configs, each on an alias or a published version, each with
    one current fleet group of provisioned environments started ahead
    with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency, never
    reclaimed, replaced when they crash or time out after init. When its
    alias moves or the config is deleted, the group is detached: the
    fleet recycles it. A config is READY when all its environments reached
    their first /next, FAILED (StatusReason "FUNCTION_ERROR_INIT_FAILURE:
    ...") when one died before that, IN_PROGRESS otherwise.

    Keeps `provisioned` of the function's quota member equal to the sum
    of the configs' requested concurrency. Errors are filled into an
    emu_aws_error_t exactly as AWS sends them.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_PROVISIONED_H
#define EMU_PROVISIONED_H

#include "emu_aws.h"
#include "emu_fleet.h"
#include "emu_quota.h"
#include "emu_versions.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _emu_provisioned_t emu_provisioned_t;

//  One provisioned concurrency config. Strings borrowed until the next
//  change of the function.
typedef struct {
    const char *qualifier;     //  the alias or version it is on
    int requested;             //  RequestedProvisionedConcurrentExecutions
    int available;             //  environments initialised and not recycling
    int allocated;             //  environments allocated (started or ready)
    const char *status;        //  "IN_PROGRESS", "READY" or "FAILED"
    const char *status_reason; //  "" unless FAILED ("FUNCTION_ERROR_INIT_FAILURE: ...")
    int64_t last_modified_ms;
} emu_provisioned_info_t;

//  The configs of function `name`; every argument borrowed for the
//  object's life. NULL when memory runs out.
emu_provisioned_t *emu_provisioned_new(const char *name, emu_fleet_t *fleet,
                                       emu_versions_t *versions,
                                       emu_quota_member_t *member);

//  Frees the configs (the fleet frees their groups). Nulls *self_p.
void emu_provisioned_destroy(emu_provisioned_t **self_p);

//  Provisioned concurrency requested, all configs.
int emu_provisioned_total(emu_provisioned_t *self);

//  A group of `version` with an idle environment: the config on
//  `qualifier` first, then any other on the same version (a version and
//  the aliases pointing to it share their provisioned environments).
//  NULL when none.
emu_fleet_group_t *emu_provisioned_idle(emu_provisioned_t *self, const char *qualifier,
                                        emu_version_t *version);

//  PutProvisionedConcurrencyConfig under `quota`'s rules. Errors in this
//  order: 400 ValidationException (count < 1), 400 for $LATEST or an
//  alias of it, 404 unknown alias or version, 409 a version with its own
//  config or a version under a provisioned alias, 400 above reserved
//  concurrency or what the unreserved pool can give, 500. 0, or -1.
int emu_provisioned_put(emu_provisioned_t *self, emu_quota_t *quota,
                        const char *qualifier, int count, emu_provisioned_info_t *info,
                        emu_aws_error_t *err);

//  GetProvisionedConcurrencyConfig: 0, or -1 with 404
//  ProvisionedConcurrencyConfigNotFoundException.
int emu_provisioned_get(emu_provisioned_t *self, const char *qualifier,
                        emu_provisioned_info_t *info, emu_aws_error_t *err);

//  DeleteProvisionedConcurrencyConfig; a config that does not exist
//  succeeds, as on AWS. 0, or -1 ($LATEST, unknown alias or version).
int emu_provisioned_delete(emu_provisioned_t *self, const char *qualifier,
                           emu_aws_error_t *err);

size_t emu_provisioned_count(emu_provisioned_t *self);
void emu_provisioned_at(emu_provisioned_t *self, size_t index,
                        emu_provisioned_info_t *info);

//  An emu_versions_move_check_t (arg: this object): may alias `alias`
//  move from `from` to `to`? Refuses a provisioned alias onto $LATEST
//  (400) or onto a version with its own config (409).
int emu_provisioned_move_check(void *arg, const char *alias, emu_version_t *from,
                               emu_version_t *to, emu_aws_error_t *err);

//  Alias `alias` now points to `to`: its config, if any, is allocated
//  there and the old environments recycled.
void emu_provisioned_moved(emu_provisioned_t *self, const char *alias, emu_version_t *to);

//  Removes the config on `qualifier` (an alias being deleted), if any.
void emu_provisioned_drop(emu_provisioned_t *self, const char *qualifier);

//  Fleet events for a group this object owns (`owner`): an environment
//  died while meant to stay, or could not start.
void emu_provisioned_lost(emu_provisioned_t *self, void *owner, bool init_failed,
                          const char *version);
void emu_provisioned_start_failed(emu_provisioned_t *self, void *owner, const char *why);

void emu_provisioned_test(bool verbose);

#endif
