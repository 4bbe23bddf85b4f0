/*  emu_function — one Lambda function: the facade over its parts, with
    the public API the front doors, the management API and the server use.

    Owns its versions and aliases (emu_versions: configuration snapshots,
    emu_snap, with the environment variables its runtimes get), its
    execution environments (emu_fleet), its provisioned concurrency
    configs (emu_provisioned), its queue of asynchronous events
    (emu_eventq) and its numbers in the concurrency rules (an
    emu_quota_member_t in the account's emu_quota, or without an account
    in a quota of its own: its cap is then its reserved concurrency, or
    EMU_CONFIG_ACCOUNT_LIMIT). An invocation goes to an idle environment
    if there is one, else to a new environment while the concurrency
    rules allow, else it is throttled at once - never queued. A new
    environment takes its slot at once and is started from the loop (see
    emu_fleet.h).

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_FUNCTION_H
#define EMU_FUNCTION_H

#include "emu_aws.h"
#include "emu_config.h"
#include "emu_eventq.h"
#include "emu_invocation.h"
#include "emu_loop.h"
#include "emu_provisioned.h"
#include "emu_quota.h"
#include "emu_snap.h"
#include "emu_versions.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Processes started per loop iteration.
#define EMU_FUNCTION_SPAWN_BATCH EMU_FLEET_SPAWN_BATCH

typedef struct _emu_function_t emu_function_t;

typedef struct {
    uint64_t invocations; //  dispatched to an environment
    uint64_t throttles;
    uint64_t spawns; //  environments started (cold starts)
    uint64_t spawn_failures;
    size_t starting;     //  waiting in the start queue
    size_t environments; //  live now (busy + idle, queued included)
    size_t idle;
    size_t cap;             //  on-demand invocations allowed at once now
    size_t queued;          //  asynchronous events waiting
    uint64_t async_done;    //  asynchronous events run to a result
    uint64_t async_dropped; //  given up: retries spent, too old, qualifier gone
} emu_function_stats_t;

//  Creates the function from `config` (borrowed for the function's life),
//  without an account: its cap is its reserved concurrency, or
//  EMU_CONFIG_ACCOUNT_LIMIT. NULL when memory runs out.
emu_function_t *emu_function_new(emu_loop_t *loop, const emu_function_config_t *config,
                                 bool verbose);

//  Destroys every environment (killing and reaping their processes;
//  invocations in flight and asynchronous events are handed back ABORTED
//  or dropped) and frees. Call it outside the loop's callbacks (the
//  function may have a deferred call queued). Nulls *self_p.
void emu_function_destroy(emu_function_t **self_p);

//  Counts a throttle answered by a front door without invoking.
void emu_function_count_throttle(emu_function_t *self);

const char *emu_function_name(emu_function_t *self);

//  The environment variables a runtime gets, "KEY=VALUE" (borrowed).
const char *const *emu_function_environment(emu_function_t *self, size_t *count_p);

void emu_function_stats(emu_function_t *self, emu_function_stats_t *stats);

//  Puts the function under an account's `quota` (borrowed; outlives the
//  function) instead of its own: the shared unreserved pool, the
//  unreserved minimum. Called by emu_account_new only. 0, or -1 when
//  memory runs out (the function keeps its own quota).
int emu_function_join(emu_function_t *self, emu_quota_t *quota);

//  On-demand invocations in flight now (every version).
int emu_function_on_demand_in_flight(emu_function_t *self);

//  Provisioned concurrency requested, all configs of the function.
int emu_function_provisioned_total(emu_function_t *self);

/*  ---------------------------------------------------------------------
    Versions, aliases, reserved and provisioned concurrency, the AWS way.

    Qualifiers: NULL, "" and "$LATEST" name $LATEST; "1", "2"... a
    published version; any other [A-Za-z0-9_-]{1,128} not all digits an
    alias. Each version has its own configuration snapshot and its own
    execution environments (AWS_LAMBDA_FUNCTION_VERSION is the version).

    Dispatch of an invocation of qualifier Q: an idle provisioned
    environment of the version Q runs first - from Q's own config, else
    from another config on the same version (a version and the aliases
    pointing to it share their provisioned environments) - and the
    invocation is recorded warm (cold=false); else an on-demand
    environment of that version runs it (an idle one reused, else a new
    one) while the concurrency rules allow; else it is throttled at once,
    never queued. The rules: a reserved function runs at most reserved -
    provisioned total on-demand invocations (so reserved counts the
    provisioned ones too); an unreserved one shares the account's
    unreserved pool (see emu_account.h). Provisioned environments are
    started ahead with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-
    concurrency, never reclaimed, and replaced when they crash or time
    out after init; on-demand ones are reclaimed after --idle-ttl idle.
    A config is READY when all its environments reached their first
    /next, FAILED (StatusReason "FUNCTION_ERROR_INIT_FAILURE: ...") when
    one died before that, IN_PROGRESS otherwise.

    Errors are filled into an emu_aws_error_t exactly as AWS sends them.
    The management API (emu_mgmt) validates each field's own constraint
    (ValidationException); the rules between objects are checked here.
    --------------------------------------------------------------------- */

#define EMU_FUNCTION_QUALIFIER_MAX EMU_VERSIONS_QUALIFIER_MAX
#define EMU_FUNCTION_DESCRIPTION_MAX 256
#define EMU_FUNCTION_VERSIONS_MAX EMU_VERSIONS_MAX
#define EMU_FUNCTION_ALIASES_MAX EMU_VERSIONS_ALIASES_MAX
#define EMU_FUNCTION_QUEUE_MAX EMU_EVENTQ_MAX
#define EMU_FUNCTION_EVENT_AGE_MAX_S EMU_EVENTQ_AGE_MAX_S
#define EMU_FUNCTION_RETRIES EMU_EVENTQ_RETRIES

//  Outcome of emu_function_dispatch.
typedef enum {
    EMU_FUNCTION_DISPATCH_OK,      //  an environment has it: completion follows
    EMU_FUNCTION_DISPATCH_REFUSED, //  throttled (429) or bad qualifier (404): see err
    EMU_FUNCTION_DISPATCH_FAILED,  //  out of memory
} emu_function_dispatch_t;

typedef emu_version_info_t emu_function_version_info_t;

typedef emu_alias_info_t emu_function_alias_info_t;

typedef emu_provisioned_info_t emu_function_provisioned_info_t;

typedef emu_snap_update_t emu_function_update_t;

//  Checks that `qualifier` names a version or alias of the function.
//  Returns 0 and the version it runs in *version_p (borrowed until the
//  next change of the function), or -1 with 404 ResourceNotFoundException
//  "Function not found: <arn>:<qualifier>" in `err`.
int emu_function_resolve(emu_function_t *self, const char *qualifier,
                         const char **version_p, emu_aws_error_t *err);

//  Would an invocation of `qualifier` be throttled now? 0 when it would
//  run, or -1 with the error it would get (429 throttle with its Reason,
//  404 bad qualifier) in `err`: lets a front door answer without building
//  the event. Counts nothing.
int emu_function_admit(emu_function_t *self, const char *qualifier, emu_aws_error_t *err);

//  Dispatches a synchronous invocation of `qualifier` (the invocation is
//  borrowed until handed back through its done callback, which never runs
//  inside this call). Sets the invocation's version and environment. A
//  throttle is counted in the stats. An environment that cannot start
//  hands it back as INIT_ERROR.
emu_function_dispatch_t emu_function_dispatch(emu_function_t *self, const char *qualifier,
                                              emu_invocation_t *invocation,
                                              emu_aws_error_t *err);

//  Accepts an asynchronous (Event) invocation of `qualifier`: takes the
//  malloc'd `*event_p` (nulled, freed on refusal too), queues it, and
//  runs it when concurrency allows: a throttled event waits (backoff from
//  100 ms doubling to 5 s) and is retried; a function error (error,
//  timeout, crash, init failure) is retried EMU_FUNCTION_RETRIES times,
//  1 s then 2 s later (AWS waits minutes); an event older than 6 h is
//  dropped. The qualifier is resolved again at each try. Returns 0, or
//  -1 with the error in `err` (404 bad qualifier; 429
//  TooManyRequestsException when EMU_FUNCTION_QUEUE_MAX wait already).
int emu_function_enqueue(emu_function_t *self, const char *qualifier,
                         const char *request_id, char **event_p, size_t event_len,
                         emu_aws_error_t *err);

//  Reserved concurrency, or -1 when the function has none.
int emu_function_reserved(emu_function_t *self);

//  PutFunctionConcurrency: 0, or -1 with the error: 400
//  InvalidParameterValueException when it would leave the account less
//  than 100 unreserved (provisioned concurrency of unreserved functions
//  counted as taken) or when below the function's provisioned total.
int emu_function_put_reserved(emu_function_t *self, int reserved, emu_aws_error_t *err);

//  DeleteFunctionConcurrency.
void emu_function_delete_reserved(emu_function_t *self);

//  The configuration of the version `qualifier` runs. 0, or -1 with 404.
int emu_function_version_info(emu_function_t *self, const char *qualifier,
                              emu_function_version_info_t *info, emu_aws_error_t *err);

//  Versions, $LATEST first then published ones in order.
size_t emu_function_version_count(emu_function_t *self);
void emu_function_version_at(emu_function_t *self, size_t index,
                             emu_function_version_info_t *info);

//  UpdateFunctionConfiguration of $LATEST. Its environments are recycled
//  as on AWS: idle ones are stopped now, busy ones when they finish, so
//  the next invocations start cold with the new configuration. 0, or -1
//  with the error.
int emu_function_update(emu_function_t *self, const emu_function_update_t *update,
                        emu_function_version_info_t *info, emu_aws_error_t *err);

//  PublishVersion: snapshots $LATEST as the next version (1, 2...), or
//  returns the newest version when $LATEST has not changed since it was
//  published. `description` may be NULL. 0, or -1 with the error.
int emu_function_publish(emu_function_t *self, const char *description,
                         emu_function_version_info_t *info, emu_aws_error_t *err);

//  CreateAlias (409 ResourceConflictException when it exists, 404 when
//  the version does not). `description` may be NULL. 0, or -1.
int emu_function_create_alias(emu_function_t *self, const char *name, const char *version,
                              const char *description, emu_function_alias_info_t *info,
                              emu_aws_error_t *err);

//  UpdateAlias: `version` and `description` may be NULL (unchanged).
//  Moving an alias that has provisioned concurrency re-allocates it on
//  the new version (IN_PROGRESS until its environments are ready; the old
//  ones are recycled). 0, or -1.
int emu_function_update_alias(emu_function_t *self, const char *name, const char *version,
                              const char *description, emu_function_alias_info_t *info,
                              emu_aws_error_t *err);

//  GetAlias: 0, or -1 with 404 ResourceNotFoundException "Alias not
//  found: <arn>:<name>".
int emu_function_alias(emu_function_t *self, const char *name,
                       emu_function_alias_info_t *info, emu_aws_error_t *err);

//  DeleteAlias (also deletes its provisioned concurrency): 0, or -1.
int emu_function_delete_alias(emu_function_t *self, const char *name,
                              emu_aws_error_t *err);

size_t emu_function_alias_count(emu_function_t *self);
void emu_function_alias_at(emu_function_t *self, size_t index,
                           emu_function_alias_info_t *info);

//  PutProvisionedConcurrencyConfig on `qualifier`: starts allocating
//  `count` environments (status IN_PROGRESS, READY when all have
//  initialised, FAILED with FUNCTION_ERROR_INIT_FAILURE when init fails);
//  a new count on an existing config grows or shrinks it. Refused as AWS
//  does: $LATEST or an alias of it (400), an unknown alias (404 "Cannot
//  find alias arn: ...") or version (404), an alias on a version with its
//  own config or a version under a provisioned alias (409), above
//  reserved concurrency, above what the unreserved pool can give (400).
//  0, or -1.
int emu_function_put_provisioned(emu_function_t *self, const char *qualifier, int count,
                                 emu_function_provisioned_info_t *info,
                                 emu_aws_error_t *err);

//  GetProvisionedConcurrencyConfig: 0, or -1 with 404
//  ProvisionedConcurrencyConfigNotFoundException.
int emu_function_provisioned(emu_function_t *self, const char *qualifier,
                             emu_function_provisioned_info_t *info, emu_aws_error_t *err);

//  DeleteProvisionedConcurrencyConfig: its environments are recycled
//  (idle ones stopped now, busy ones when they finish). Deleting a config
//  that does not exist succeeds, as on AWS. 0, or -1 ($LATEST, unknown
//  alias or version).
int emu_function_delete_provisioned(emu_function_t *self, const char *qualifier,
                                    emu_aws_error_t *err);

size_t emu_function_provisioned_count(emu_function_t *self);
void emu_function_provisioned_at(emu_function_t *self, size_t index,
                                 emu_function_provisioned_info_t *info);

void emu_function_test(bool verbose);

#endif
