/*  emu_snap — one version's configuration at one time: what an
    execution environment starts with.

    Owns the description, timeout, memory size, the user's environment
    variables and the two environment lists runtimes get (on-demand and
    provisioned-concurrency), built from the function's configuration:
    _HANDLER, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_INITIALIZATION_TYPE,
    AWS_REGION, AWS_DEFAULT_REGION, LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR
    (directory of the executable), AWS_LAMBDA_LOG_GROUP_NAME, TZ=:UTC,
    LANG, PATH; then the user's variables, which override.

    Reference-counted and never changed once made: an update makes a new
    snapshot, and a running environment keeps the one it started with.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_SNAP_H
#define EMU_SNAP_H

#include "emu_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _emu_snap_t emu_snap_t;

//  Fields of an UpdateFunctionConfiguration; each applies only when its
//  has_ flag is set. Values already validated by the caller.
typedef struct {
    bool has_timeout;
    int timeout_s;
    bool has_memory;
    int memory_mb;
    bool has_description;
    const char *description;
    bool has_variables;           //  replaces every user variable
    const char *const *variables; //  "KEY=VALUE"
    size_t variable_count;
} emu_snap_update_t;

//  A new snapshot named `version` (one reference, the caller's): a copy
//  of `from` (or of `config` when NULL) with `update` applied (may be
//  NULL: then the copy keeps `from`'s RevisionId and LastModified).
//  `config` is borrowed for the snapshot's life; `handler` is copied;
//  `change` is the counter of $LATEST updates it was taken at. NULL when
//  memory runs out.
emu_snap_t *emu_snap_new(const emu_function_config_t *config, const char *handler,
                         const char *version, const emu_snap_t *from,
                         const emu_snap_update_t *update, uint64_t change);

//  Takes one more reference; returns `self`.
emu_snap_t *emu_snap_ref(emu_snap_t *self);

//  Drops one reference (freeing on the last). Nulls *self_p.
void emu_snap_unref(emu_snap_t **self_p);

//  Accessors; strings borrowed for the snapshot's life.
const char *emu_snap_version(const emu_snap_t *self);
const char *emu_snap_description(const emu_snap_t *self);
int emu_snap_timeout_s(const emu_snap_t *self);
int emu_snap_memory_mb(const emu_snap_t *self);
const char *emu_snap_revision_id(const emu_snap_t *self);
int64_t emu_snap_last_modified_ms(const emu_snap_t *self);
uint64_t emu_snap_change(const emu_snap_t *self);

//  The user's variables, "KEY=VALUE".
const char *const *emu_snap_variables(const emu_snap_t *self, size_t *count_p);

//  What a runtime gets, "KEY=VALUE": the on-demand list, or the
//  provisioned-concurrency one.
const char *const *emu_snap_env(const emu_snap_t *self, bool provisioned,
                                size_t *count_p);

void emu_snap_test(bool verbose);

#endif
