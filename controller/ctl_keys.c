/*  ctl_keys — CurveZMQ key directory; see ctl_keys.h. */
#include "ctl_keys.h"
#include "sp_check.h"
#include "sp_err.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PATH 4200

struct _ctl_keys_t {
    zcert_t *cert;            //  the controller certificate
    char public_path[S_PATH]; //  DIR/controller.key
    char agents_dir[S_PATH];  //  DIR/agents
    char private_dir[S_PATH]; //  temp dir for local agents' secrets, or ""
    zlist_t *issued;          //  paths (owned strings) to remove at destroy
    zlist_t *issued_paths;    //  --key paths handed out (owned strings)
};

//  mkdir -p with mode for the last component; 0 when it exists or was made.
static int
s_make_dir(const char *path, mode_t mode)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -1;
    char parent[S_PATH];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (s_make_dir(parent, 0755))
            return -1;
    }
    if (mkdir(path, mode) && errno != EEXIST)
        return -1;
    return chmod(path, mode);
}

static bool
s_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

ctl_keys_t *
ctl_keys_new(const char *dir, char *err, size_t err_size)
{
    assert(dir);
    ctl_keys_t *self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    char secret_path[S_PATH + 8];
    self->issued = zlist_new();
    self->issued_paths = zlist_new();
    if (!self->issued || !self->issued_paths) {
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    zlist_autofree(self->issued);
    zlist_autofree(self->issued_paths);
    if (strlen(dir) > 4000) {
        sp_err_set(err, err_size, "key directory path is too long");
        goto fail;
    }
    snprintf(self->public_path, sizeof self->public_path, "%s/controller.key", dir);
    snprintf(self->agents_dir, sizeof self->agents_dir, "%s/agents", dir);
    snprintf(secret_path, sizeof secret_path, "%s_secret", self->public_path);
    if (s_make_dir(dir, 0700) || s_make_dir(self->agents_dir, 0700)) {
        sp_err_set(err, err_size, "cannot create key directory %s: %s", dir,
                   strerror(errno));
        goto fail;
    }
    struct stat st;
    if (stat(dir, &st) == 0 && (st.st_mode & 077))
        zsys_warning("keys: directory is accessible by other users dir=%s", dir);
    if (s_exists(secret_path)) {
        self->cert = zcert_load(self->public_path);
        if (!self->cert) {
            sp_err_set(err, err_size, "cannot load the controller certificate %s",
                       secret_path);
            goto fail;
        }
    } else if (s_exists(self->public_path)) {
        sp_err_set(err, err_size, "%s exists but its secret %s is missing",
                   self->public_path, secret_path);
        goto fail;
    } else {
        self->cert = zcert_new();
        if (!self->cert || zcert_save(self->cert, self->public_path) ||
            chmod(secret_path, 0600)) {
            sp_err_set(err, err_size, "cannot write the controller certificate %s",
                       self->public_path);
            goto fail;
        }
        zsys_notice("keys: created the controller certificate path=%s",
                    self->public_path);
    }
    return self;
fail:
    ctl_keys_destroy(&self);
    return NULL;
}

void
ctl_keys_destroy(ctl_keys_t **self_p)
{
    assert(self_p);
    ctl_keys_t *self = *self_p;
    if (self) {
        if (self->issued)
            for (char *path = (char *)zlist_first(self->issued); path;
                 path = (char *)zlist_next(self->issued))
                unlink(path);
        if (self->private_dir[0])
            rmdir(self->private_dir);
        zlist_destroy(&self->issued);
        zlist_destroy(&self->issued_paths);
        zcert_destroy(&self->cert);
        free(self);
        *self_p = NULL;
    }
}

zcert_t *
ctl_keys_cert(ctl_keys_t *self)
{
    assert(self);
    return self->cert;
}

const char *
ctl_keys_public_path(ctl_keys_t *self)
{
    assert(self);
    return self->public_path;
}

const char *
ctl_keys_agents_dir(ctl_keys_t *self)
{
    assert(self);
    return self->agents_dir;
}

static bool
s_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return name[0] != '.';
}

const char *
ctl_keys_issue_local(ctl_keys_t *self, const char *name, char *err, size_t err_size)
{
    assert(self && name);
    if (!s_valid_name(name)) {
        sp_err_set(err, err_size, "invalid local agent name");
        return NULL;
    }
    if (!self->private_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(self->private_dir, sizeof self->private_dir, "%s/stampede-keys-XXXXXX",
                 tmp && *tmp && strlen(tmp) < 1000 ? tmp : "/tmp");
        if (!mkdtemp(self->private_dir)) {
            sp_err_set(err, err_size, "cannot create a private key directory: %s",
                       strerror(errno));
            self->private_dir[0] = '\0';
            return NULL;
        }
    }
    char private_path[S_PATH + 80], secret_path[S_PATH + 90], public_path[S_PATH + 90];
    snprintf(private_path, sizeof private_path, "%s/%s.key", self->private_dir, name);
    snprintf(secret_path, sizeof secret_path, "%s_secret", private_path);
    snprintf(public_path, sizeof public_path, "%s/local-%ld-%s.key", self->agents_dir,
             (long)getpid(), name);
    zcert_t *cert = zcert_new();
    if (!cert) {
        sp_err_set(err, err_size, "cannot generate a certificate");
        return NULL;
    }
    zcert_set_meta(cert, "name", "%s", name);
    int rc = zcert_save(cert, private_path);
    //  The private directory is 0700 already; the secret is 0600 too.
    if (rc == 0)
        rc = chmod(secret_path, 0600);
    zlist_append(self->issued, private_path);
    zlist_append(self->issued, secret_path);
    if (rc == 0) {
        rc = zcert_save_public(cert, public_path);
        zlist_append(self->issued, public_path);
    }
    zcert_destroy(&cert);
    if (rc) {
        sp_err_set(err, err_size, "cannot write the certificate of local agent %s", name);
        return NULL;
    }
    zlist_append(self->issued_paths, private_path);
    return (const char *)zlist_last(self->issued_paths);
}

void
ctl_keys_test(bool verbose)
{
    char err[256];
    char base[] = "/tmp/ctl_keys_test-XXXXXX";
    CHECK_NOT_NULL(mkdtemp(base));
    char dir[128];
    snprintf(dir, sizeof dir, "%s/nested/keys", base);

    //  First use creates the certificate with private permissions.
    ctl_keys_t *keys = ctl_keys_new(dir, err, sizeof err);
    CHECK_NOT_NULL(keys);
    char expect[256];
    snprintf(expect, sizeof expect, "%s/controller.key", dir);
    CHECK_STR(ctl_keys_public_path(keys), expect);
    snprintf(expect, sizeof expect, "%s/agents", dir);
    CHECK_STR(ctl_keys_agents_dir(keys), expect);
    struct stat st;
    CHECK_INT(stat(dir, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0700);
    CHECK_INT(stat(ctl_keys_agents_dir(keys), &st), 0);
    CHECK_INT(st.st_mode & 0777, 0700);
    snprintf(expect, sizeof expect, "%s/controller.key_secret", dir);
    CHECK_INT(stat(expect, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    char public_txt[41];
    snprintf(public_txt, sizeof public_txt, "%s", zcert_public_txt(ctl_keys_cert(keys)));

    //  A local agent's certificate: public admitted, secret private.
    const char *key_path = ctl_keys_issue_local(keys, "local-1", err, sizeof err);
    CHECK_NOT_NULL(key_path);
    zcert_t *agent = zcert_load(key_path);
    CHECK_NOT_NULL(agent);
    CHECK_STR(zcert_meta(agent, "name"), "local-1");
    CHECK_TRUE(
        strcmp(zcert_secret_txt(agent), "0000000000000000000000000000000000000000") != 0);
    char admitted[S_PATH + 100];
    snprintf(admitted, sizeof admitted, "%s/local-%ld-local-1.key",
             ctl_keys_agents_dir(keys), (long)getpid());
    zcert_t *pub = zcert_load(admitted);
    CHECK_NOT_NULL(pub);
    CHECK_STR(zcert_public_txt(pub), zcert_public_txt(agent));
    zcert_destroy(&pub);
    zcert_destroy(&agent);
    CHECK_NULL(ctl_keys_issue_local(keys, "../escape", err, sizeof err));
    CHECK_STR(err, "invalid local agent name");
    char key_copy[S_PATH + 80];
    snprintf(key_copy, sizeof key_copy, "%s", key_path);
    ctl_keys_destroy(&keys);
    CHECK_NULL(keys);
    ctl_keys_destroy(&keys);
    //  Issued files are gone; the controller certificate stays.
    CHECK_TRUE(!s_exists(admitted));
    CHECK_TRUE(!s_exists(key_copy));
    CHECK_TRUE(s_exists(expect));

    //  Second use loads the same certificate.
    keys = ctl_keys_new(dir, err, sizeof err);
    CHECK_NOT_NULL(keys);
    CHECK_STR(zcert_public_txt(ctl_keys_cert(keys)), public_txt);
    ctl_keys_destroy(&keys);

    //  A public certificate without its secret is refused.
    CHECK_INT(unlink(expect), 0);
    CHECK_NULL(ctl_keys_new(dir, err, sizeof err));
    CHECK_TRUE(strstr(err, "secret") != NULL);

    char cleanup[256];
    snprintf(cleanup, sizeof cleanup, "%s/controller.key", dir);
    unlink(cleanup);
    snprintf(cleanup, sizeof cleanup, "%s/agents", dir);
    rmdir(cleanup);
    rmdir(dir);
    snprintf(cleanup, sizeof cleanup, "%s/nested", base);
    rmdir(cleanup);
    CHECK_INT(rmdir(base), 0);
    if (verbose)
        printf("(keys checks done) ");
}
