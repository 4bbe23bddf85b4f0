/*  emu_versions — one function's versions and aliases; see emu_versions.h.

    Invariants: versions[0] is $LATEST and versions[n] is published
    version n; an alias points to a version of this function; a version's
    snapshot is replaced, never changed, so running environments keep the
    one they started with.
*/
#include "emu_versions.h"
#include "sp_clock.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _emu_version_t {
    emu_snap_t *snap;            //  current configuration
    emu_fleet_group_t *ondemand; //  its on-demand environments (the fleet's)
};

typedef struct {
    char name[EMU_VERSIONS_QUALIFIER_MAX + 1];
    emu_version_t *version;
    char *description;
    char revision_id[EMU_INVOCATION_ID_SIZE];
} s_alias_t;

struct _emu_versions_t {
    const emu_function_config_t *config; //  borrowed
    emu_fleet_t *fleet;                  //  borrowed
    char *handler;                       //  the executable's file name
    char code_sha256[48];
    int64_t code_size;
    uint64_t change;          //  updates of $LATEST so far
    emu_version_t **versions; //  [0] is $LATEST
    size_t version_count;
    s_alias_t **aliases;
    size_t alias_count;
};

//  --- helpers ------------------------------------------------------------

bool
emu_versions_is_latest(const char *qualifier)
{
    return !qualifier || !*qualifier || strcmp(qualifier, "$LATEST") == 0;
}

bool
emu_versions_is_number(const char *text)
{
    if (!text || !*text)
        return false;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

//  SHA-256 of the file at `path`, base64, and its size.
static int
s_code_digest(const char *path, char *out, size_t size, int64_t *size_p)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : -1;
    int64_t total = 0;
    unsigned char buf[65536];
    while (rc == 0) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -1;
        if (n <= 0)
            break;
        total += n;
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            rc = -1;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (rc == 0 && EVP_DigestFinal_ex(ctx, digest, &len) != 1)
        rc = -1;
    EVP_MD_CTX_free(ctx);
    close(fd);
    if (rc == 0) {
        assert(size >= 45 && len == 32);
        EVP_EncodeBlock((unsigned char *)out, digest, (int)len);
        *size_p = total;
    }
    return rc;
}

static void
s_out_of_memory(emu_aws_error_t *err)
{
    emu_aws_error_set(err, 500, "ServiceException", "The emulator ran out of memory.");
}

static emu_version_t *
s_version_new(emu_versions_t *self, emu_snap_t *snap)
{
    emu_version_t **grown =
        realloc(self->versions, (self->version_count + 1) * sizeof *self->versions);
    if (!grown)
        return NULL;
    self->versions = grown;
    emu_version_t *version = calloc(1, sizeof *version);
    if (!version)
        return NULL;
    version->snap = snap;
    version->ondemand = emu_fleet_group_new(self->fleet, NULL);
    if (!version->ondemand) {
        free(version);
        return NULL;
    }
    self->versions[self->version_count++] = version;
    return version;
}

static s_alias_t *
s_alias_find(emu_versions_t *self, const char *name)
{
    for (size_t i = 0; i < self->alias_count; i++)
        if (strcmp(self->aliases[i]->name, name) == 0)
            return self->aliases[i];
    return NULL;
}

static void
s_alias_info(s_alias_t *alias, emu_alias_info_t *info)
{
    *info = (emu_alias_info_t){
        .name = alias->name,
        .version = emu_snap_version(alias->version->snap),
        .description = alias->description,
        .revision_id = alias->revision_id,
    };
}

static void
s_alias_not_found(emu_versions_t *self, const char *name, emu_aws_error_t *err)
{
    char arn[EMU_AWS_ARN_MAX];
    emu_aws_function_arn(self->config->name, name, arn, sizeof arn);
    emu_aws_error_set(err, 404, "ResourceNotFoundException", "Alias not found: %s", arn);
}

//  The version an alias may point to: "$LATEST" or a published one.
static emu_version_t *
s_alias_target(emu_versions_t *self, const char *version, emu_aws_error_t *err)
{
    emu_version_t *found = emu_versions_find(self, version);
    if (!found)
        emu_aws_error_function_not_found(err, self->config->name, version);
    return found;
}

static bool
s_valid_alias_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > EMU_VERSIONS_QUALIFIER_MAX || emu_versions_is_number(name))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

//  --- versions -----------------------------------------------------------

emu_versions_t *
emu_versions_new(const emu_function_config_t *config, emu_fleet_t *fleet)
{
    assert(config && fleet);
    emu_versions_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    self->fleet = fleet;
    char *file = strdup(config->path);
    self->handler = file ? strdup(basename(file)) : NULL;
    free(file);
    //  An unreadable executable fails at its first start, as on AWS.
    if (s_code_digest(config->path, self->code_sha256, sizeof self->code_sha256,
                      &self->code_size)) {
        self->code_sha256[0] = '\0';
        self->code_size = 0;
    }
    emu_snap_t *snap = self->handler
                           ? emu_snap_new(config, self->handler, "$LATEST", NULL, NULL, 0)
                           : NULL;
    if (!snap || !s_version_new(self, snap)) {
        emu_snap_unref(&snap);
        emu_versions_destroy(&self);
        return NULL;
    }
    return self;
}

void
emu_versions_destroy(emu_versions_t **self_p)
{
    assert(self_p);
    emu_versions_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->alias_count; i++) {
        free(self->aliases[i]->description);
        free(self->aliases[i]);
    }
    free(self->aliases);
    for (size_t i = 0; i < self->version_count; i++) {
        emu_snap_unref(&self->versions[i]->snap);
        free(self->versions[i]);
    }
    free(self->versions);
    free(self->handler);
    free(self);
    *self_p = NULL;
}

emu_version_t *
emu_versions_find(emu_versions_t *self, const char *name)
{
    assert(self);
    if (emu_versions_is_latest(name))
        return self->versions[0];
    if (!emu_versions_is_number(name) || name[0] == '0' || strlen(name) > 9)
        return NULL;
    size_t number = (size_t)strtoul(name, NULL, 10);
    return number < self->version_count ? self->versions[number] : NULL;
}

emu_version_t *
emu_versions_resolve(emu_versions_t *self, const char *qualifier, const char **alias_p)
{
    assert(self);
    if (alias_p)
        *alias_p = NULL;
    if (emu_versions_is_latest(qualifier) || emu_versions_is_number(qualifier))
        return emu_versions_find(self, qualifier);
    s_alias_t *alias = s_alias_find(self, qualifier);
    if (alias && alias_p)
        *alias_p = alias->name;
    return alias ? alias->version : NULL;
}

emu_version_t *
emu_versions_latest(emu_versions_t *self)
{
    assert(self);
    return self->versions[0];
}

size_t
emu_versions_count(emu_versions_t *self)
{
    assert(self);
    return self->version_count;
}

emu_version_t *
emu_versions_at(emu_versions_t *self, size_t index)
{
    assert(self && index < self->version_count);
    return self->versions[index];
}

emu_snap_t *
emu_version_snap(emu_version_t *version)
{
    assert(version);
    return version->snap;
}

emu_fleet_group_t *
emu_version_group(emu_version_t *version)
{
    assert(version);
    return version->ondemand;
}

const char *
emu_version_name(emu_version_t *version)
{
    assert(version);
    return emu_snap_version(version->snap);
}

void
emu_versions_info(emu_versions_t *self, emu_version_t *version, emu_version_info_t *info)
{
    assert(self && version && info);
    emu_snap_t *snap = version->snap;
    size_t variable_count = 0;
    const char *const *variables = emu_snap_variables(snap, &variable_count);
    *info = (emu_version_info_t){
        .version = emu_snap_version(snap),
        .description = emu_snap_description(snap),
        .timeout_s = emu_snap_timeout_s(snap),
        .memory_mb = emu_snap_memory_mb(snap),
        .variables = variables,
        .variable_count = variable_count,
        .handler = self->handler,
        .code_sha256 = self->code_sha256,
        .code_size = self->code_size,
        .last_modified_ms = emu_snap_last_modified_ms(snap),
        .revision_id = emu_snap_revision_id(snap),
    };
}

int
emu_versions_update(emu_versions_t *self, const emu_snap_update_t *update,
                    emu_aws_error_t *err)
{
    assert(self && update && err);
    emu_version_t *latest = self->versions[0];
    emu_snap_t *snap = emu_snap_new(self->config, self->handler, "$LATEST", latest->snap,
                                    update, self->change + 1);
    if (!snap) {
        s_out_of_memory(err);
        return -1;
    }
    self->change++;
    emu_snap_unref(&latest->snap);
    latest->snap = snap;
    //  The next invocations start cold with the new configuration.
    emu_fleet_recycle(latest->ondemand);
    zsys_notice("function updated name=%s timeout_s=%d memory_mb=%d", self->config->name,
                emu_snap_timeout_s(snap), emu_snap_memory_mb(snap));
    return 0;
}

emu_version_t *
emu_versions_publish(emu_versions_t *self, const char *description, emu_aws_error_t *err)
{
    assert(self && err);
    emu_version_t *newest =
        self->version_count > 1 ? self->versions[self->version_count - 1] : NULL;
    if (newest && emu_snap_change(newest->snap) == self->change)
        return newest;
    if (self->version_count > EMU_VERSIONS_MAX) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "The function already has %d published versions, the most the "
                          "emulator keeps.",
                          EMU_VERSIONS_MAX);
        return NULL;
    }
    char name[16];
    snprintf(name, sizeof name, "%zu", self->version_count);
    //  A new RevisionId and LastModified; the description may change.
    emu_snap_update_t change = {.has_description = description != NULL,
                                .description = description};
    emu_snap_t *snap = emu_snap_new(self->config, self->handler, name,
                                    self->versions[0]->snap, &change, self->change);
    emu_version_t *version = snap ? s_version_new(self, snap) : NULL;
    if (!version) {
        emu_snap_unref(&snap);
        s_out_of_memory(err);
        return NULL;
    }
    zsys_notice("version published function=%s version=%s", self->config->name, name);
    return version;
}

//  --- aliases ------------------------------------------------------------

int
emu_versions_create_alias(emu_versions_t *self, const char *name, const char *version,
                          const char *description, emu_alias_info_t *info,
                          emu_aws_error_t *err)
{
    assert(self && name && version && err);
    if (!s_valid_alias_name(name)) {
        emu_aws_error_set(
            err, 400, "ValidationException",
            "1 validation error detected: Value '%.128s' at 'name' failed to "
            "satisfy constraint: Member must satisfy regular expression "
            "pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
            name);
        return -1;
    }
    if (s_alias_find(self, name)) {
        char arn[EMU_AWS_ARN_MAX];
        emu_aws_function_arn(self->config->name, name, arn, sizeof arn);
        emu_aws_error_set(err, 409, "ResourceConflictException",
                          "Alias already exists: %s", arn);
        return -1;
    }
    emu_version_t *target = s_alias_target(self, version, err);
    if (!target)
        return -1;
    if (self->alias_count >= EMU_VERSIONS_ALIASES_MAX) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "The function already has %d aliases, the most the emulator "
                          "keeps.",
                          EMU_VERSIONS_ALIASES_MAX);
        return -1;
    }
    s_alias_t **grown =
        realloc(self->aliases, (self->alias_count + 1) * sizeof *self->aliases);
    if (grown)
        self->aliases = grown;
    s_alias_t *alias = grown ? calloc(1, sizeof *alias) : NULL;
    char *text = alias ? strdup(description ? description : "") : NULL;
    if (!text) {
        free(alias);
        s_out_of_memory(err);
        return -1;
    }
    snprintf(alias->name, sizeof alias->name, "%s", name);
    alias->version = target;
    alias->description = text;
    emu_invocation_new_id(alias->revision_id);
    self->aliases[self->alias_count++] = alias;
    if (info)
        s_alias_info(alias, info);
    return 0;
}

int
emu_versions_update_alias(emu_versions_t *self, const char *name, const char *version,
                          const char *description, emu_versions_move_check_t *check,
                          void *arg, emu_alias_info_t *info, emu_aws_error_t *err)
{
    assert(self && name && err);
    s_alias_t *alias = s_alias_find(self, name);
    if (!alias) {
        s_alias_not_found(self, name, err);
        return -1;
    }
    emu_version_t *target = alias->version;
    if (version) {
        target = s_alias_target(self, version, err);
        if (!target)
            return -1;
    }
    if (check && target != alias->version &&
        check(arg, name, alias->version, target, err))
        return -1;
    if (description) {
        char *text = strdup(description);
        if (!text) {
            s_out_of_memory(err);
            return -1;
        }
        free(alias->description);
        alias->description = text;
    }
    if (target != alias->version) {
        alias->version = target;
        zsys_notice("alias moved function=%s alias=%s version=%s", self->config->name,
                    name, emu_snap_version(target->snap));
    }
    emu_invocation_new_id(alias->revision_id);
    if (info)
        s_alias_info(alias, info);
    return 0;
}

int
emu_versions_alias(emu_versions_t *self, const char *name, emu_alias_info_t *info,
                   emu_aws_error_t *err)
{
    assert(self && name && info && err);
    s_alias_t *alias = s_alias_find(self, name);
    if (!alias) {
        s_alias_not_found(self, name, err);
        return -1;
    }
    s_alias_info(alias, info);
    return 0;
}

int
emu_versions_delete_alias(emu_versions_t *self, const char *name, emu_aws_error_t *err)
{
    assert(self && name && err);
    s_alias_t *alias = s_alias_find(self, name);
    if (!alias) {
        s_alias_not_found(self, name, err);
        return -1;
    }
    for (size_t i = 0; i < self->alias_count; i++)
        if (self->aliases[i] == alias) {
            memmove(self->aliases + i, self->aliases + i + 1,
                    (self->alias_count - i - 1) * sizeof *self->aliases);
            self->alias_count--;
            break;
        }
    free(alias->description);
    free(alias);
    return 0;
}

size_t
emu_versions_alias_count(emu_versions_t *self)
{
    assert(self);
    return self->alias_count;
}

void
emu_versions_alias_at(emu_versions_t *self, size_t index, emu_alias_info_t *info)
{
    assert(self && index < self->alias_count && info);
    s_alias_info(self->aliases[index], info);
}

emu_version_t *
emu_versions_alias_version(emu_versions_t *self, const char *name)
{
    assert(self && name);
    s_alias_t *alias = s_alias_find(self, name);
    return alias ? alias->version : NULL;
}
