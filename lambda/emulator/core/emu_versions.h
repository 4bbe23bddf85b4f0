/*  emu_versions — one function's versions and aliases, and the
    resolution of a qualifier to the version it runs.

    Owns $LATEST and the published versions (each its current
    configuration snapshot, emu_snap, and the fleet group of its
    on-demand environments), the aliases, and what every version shares:
    the handler name and the SHA-256 and size of the executable.

    Qualifiers: NULL, "" and "$LATEST" name $LATEST; "1", "2"... a
    published version; any other [A-Za-z0-9_-]{1,128} not all digits an
    alias. Errors are filled into an emu_aws_error_t exactly as AWS sends
    them.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_VERSIONS_H
#define EMU_VERSIONS_H

#include "emu_aws.h"
#include "emu_config.h"
#include "emu_fleet.h"
#include "emu_snap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_VERSIONS_QUALIFIER_MAX 128
#define EMU_VERSIONS_MAX 1000
#define EMU_VERSIONS_ALIASES_MAX 100

typedef struct _emu_versions_t emu_versions_t;
typedef struct _emu_version_t emu_version_t;

//  One version's configuration, as GetFunctionConfiguration shows it.
//  Strings borrowed until the next change of the function.
typedef struct {
    const char *version;          //  "$LATEST", "1"...
    const char *description;      //  "" when none
    int timeout_s;                //  1..900
    int memory_mb;                //  128..10240
    const char *const *variables; //  the user's environment variables, "KEY=VALUE"
    size_t variable_count;        //  (--env and updates; not AWS_* ones)
    const char *handler;          //  the executable's file name
    const char *code_sha256;      //  base64 SHA-256 of the executable
    int64_t code_size;            //  its size in bytes
    int64_t last_modified_ms;     //  epoch ms of the last change
    const char *revision_id;      //  changes with every update (UUID form)
} emu_version_info_t;

//  One alias. Strings borrowed until the next change of the function.
typedef struct {
    const char *name;
    const char *version;     //  the version it points to
    const char *description; //  "" when none
    const char *revision_id;
} emu_alias_info_t;

//  Asked by emu_versions_update_alias before an alias moves from `from`
//  to `to`: 0 lets it, -1 (with `err` filled) refuses.
typedef int(emu_versions_move_check_t)(void *arg, const char *alias, emu_version_t *from,
                                       emu_version_t *to, emu_aws_error_t *err);

//  $LATEST of the function `config` describes (borrowed for the
//  versions' life), its on-demand group in `fleet` (borrowed likewise).
//  NULL when memory runs out. An unreadable executable is not an error
//  here: it fails at its first start, as on AWS.
emu_versions_t *emu_versions_new(const emu_function_config_t *config, emu_fleet_t *fleet);

//  Frees versions and aliases (the fleet keeps its groups). Nulls *self_p.
void emu_versions_destroy(emu_versions_t **self_p);

//  True for the qualifiers that name $LATEST: NULL, "" and "$LATEST".
bool emu_versions_is_latest(const char *qualifier);

//  True for a non-empty all-digit text (a version, never an alias).
bool emu_versions_is_number(const char *text);

//  The version `qualifier` runs, or NULL. The alias's name, when it is
//  one, in *alias_p (may be NULL), borrowed like the version.
emu_version_t *emu_versions_resolve(emu_versions_t *self, const char *qualifier,
                                    const char **alias_p);

//  "$LATEST" (or NULL, "") or a published version number; NULL otherwise.
emu_version_t *emu_versions_find(emu_versions_t *self, const char *name);

emu_version_t *emu_versions_latest(emu_versions_t *self);
size_t emu_versions_count(emu_versions_t *self);
emu_version_t *emu_versions_at(emu_versions_t *self, size_t index);

//  A version's current snapshot, on-demand group and name ("$LATEST",
//  "1"...); borrowed until the next change of the function.
emu_snap_t *emu_version_snap(emu_version_t *version);
emu_fleet_group_t *emu_version_group(emu_version_t *version);
const char *emu_version_name(emu_version_t *version);

void emu_versions_info(emu_versions_t *self, emu_version_t *version,
                       emu_version_info_t *info);

//  UpdateFunctionConfiguration of $LATEST: a new snapshot; its on-demand
//  environments are recycled. 0, or -1 with 500 ServiceException.
int emu_versions_update(emu_versions_t *self, const emu_snap_update_t *update,
                        emu_aws_error_t *err);

//  PublishVersion: the newest version again when $LATEST has not changed
//  since, else a new one. The version, or NULL with the error (400 over
//  EMU_VERSIONS_MAX, 500 out of memory).
emu_version_t *emu_versions_publish(emu_versions_t *self, const char *description,
                                    emu_aws_error_t *err);

//  CreateAlias: 0, or -1 with 400 ValidationException (name),
//  409 ResourceConflictException (exists), 404 (no such version), 400
//  (over EMU_VERSIONS_ALIASES_MAX) or 500.
int emu_versions_create_alias(emu_versions_t *self, const char *name, const char *version,
                              const char *description, emu_alias_info_t *info,
                              emu_aws_error_t *err);

//  UpdateAlias: `version` and `description` apply when not NULL. Errors
//  in this order: 404 alias, 404 version, what `check` (may be NULL)
//  says when the alias would move, 500. 0, or -1.
int emu_versions_update_alias(emu_versions_t *self, const char *name, const char *version,
                              const char *description, emu_versions_move_check_t *check,
                              void *arg, emu_alias_info_t *info, emu_aws_error_t *err);

//  GetAlias: 0, or -1 with 404 "Alias not found: <arn>".
int emu_versions_alias(emu_versions_t *self, const char *name, emu_alias_info_t *info,
                       emu_aws_error_t *err);

//  DeleteAlias: 0, or -1 with 404 "Alias not found: <arn>".
int emu_versions_delete_alias(emu_versions_t *self, const char *name,
                              emu_aws_error_t *err);

size_t emu_versions_alias_count(emu_versions_t *self);
void emu_versions_alias_at(emu_versions_t *self, size_t index, emu_alias_info_t *info);

//  The version alias `name` points to, or NULL when no such alias.
emu_version_t *emu_versions_alias_version(emu_versions_t *self, const char *name);

void emu_versions_test(bool verbose);

#endif
