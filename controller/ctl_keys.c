/*  ctl_keys — CurveZMQ key directory; see ctl_keys.h. */
#include "ctl_keys.h"
#include "sp_check.h"
#include "sp_err.h"

#include <dirent.h>
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

//  The Z85 public key of key: itself when it is 40 characters of Z85,
//  else the public key of the certificate file it names. False with err.
static bool
s_public_key(const char *key, char *z85, char *err, size_t err_size)
{
    uint8_t bytes[32];
    if (strlen(key) == 40 && zmq_z85_decode(bytes, key)) {
        memcpy(z85, key, 41);
    } else {
        zcert_t *cert = s_exists(key) ? zcert_load(key) : NULL;
        if (!cert) {
            sp_err_set(err, err_size,
                       "the key must be the agent's public key (40 characters of Z85) or "
                       "its certificate file; %.64s is neither",
                       key);
            return false;
        }
        memcpy(z85, zcert_public_txt(cert), 41);
        zcert_destroy(&cert);
        if (!zmq_z85_decode(bytes, z85)) {
            sp_err_set(err, err_size, "%.200s holds no public key", key);
            return false;
        }
    }
    bool zero = true;
    for (size_t i = 0; i < sizeof bytes; i++)
        zero = zero && bytes[i] == 0;
    if (zero) {
        sp_err_set(err, err_size, "the all-zero key cannot be admitted");
        return false;
    }
    return true;
}

//  DIR/agents/NAME.key into path; false with err for a bad name or path.
static bool
s_agent_path(const char *dir, const char *name, char *path, size_t size, char *err,
             size_t err_size)
{
    if (!s_valid_name(name)) {
        sp_err_set(err, err_size,
                   "the agent name must be 1-64 letters, digits, '.', '_' or '-', not "
                   "starting with '.'");
        return false;
    }
    if (strlen(dir) > 4000) {
        sp_err_set(err, err_size, "key directory path is too long");
        return false;
    }
    snprintf(path, size, "%s/agents/%s.key", dir, name);
    return true;
}

int
ctl_keys_admit(const char *dir, const char *name, const char *key, bool replace,
               char *err, size_t err_size)
{
    assert(dir && name && key);
    char path[S_PATH], agents[S_PATH], tmp[S_PATH + 32], z85[41];
    if (!s_agent_path(dir, name, path, sizeof path, err, err_size) ||
        !s_public_key(key, z85, err, err_size))
        return -1;
    zcert_t *old = s_exists(path) ? zcert_load(path) : NULL;
    if (old) {
        bool same = strcmp(zcert_public_txt(old), z85) == 0;
        zcert_destroy(&old);
        if (same)
            return 1;
        if (!replace) {
            sp_err_set(err, err_size,
                       "agent %s is admitted with another key; revoke it first or give "
                       "--replace",
                       name);
            return -1;
        }
    }
    snprintf(agents, sizeof agents, "%s/agents", dir);
    if (s_make_dir(dir, 0700) || s_make_dir(agents, 0700)) {
        sp_err_set(err, err_size, "cannot create key directory %s: %s", agents,
                   strerror(errno));
        return -1;
    }
    uint8_t public_key[32], no_secret[32] = {0};
    zmq_z85_decode(public_key, z85);
    zcert_t *cert = zcert_new_from(public_key, no_secret);
    if (!cert) {
        sp_err_set(err, err_size, "out of memory");
        return -1;
    }
    zcert_set_meta(cert, "name", "%s", name);
    //  Outside agents/, so the ZAP handler never reads a half-written file.
    snprintf(tmp, sizeof tmp, "%s/.admit-%ld-%s.key", dir, (long)getpid(), name);
    int rc = zcert_save_public(cert, tmp);
    zcert_destroy(&cert);
    if (rc || rename(tmp, path)) {
        sp_err_set(err, err_size, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int
ctl_keys_revoke(const char *dir, const char *name, char *err, size_t err_size)
{
    assert(dir && name);
    char path[S_PATH];
    if (!s_agent_path(dir, name, path, sizeof path, err, err_size))
        return -1;
    if (unlink(path) != 0) {
        if (errno == ENOENT)
            sp_err_set(err, err_size, "agent %s is not admitted (no %s)", name, path);
        else
            sp_err_set(err, err_size, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int
s_compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
ctl_keys_list(const char *dir, FILE *out, char *err, size_t err_size)
{
    assert(dir && out);
    char agents[S_PATH];
    if (strlen(dir) > 4000) {
        sp_err_set(err, err_size, "key directory path is too long");
        return -1;
    }
    snprintf(agents, sizeof agents, "%s/agents", dir);
    DIR *listing = opendir(agents);
    if (!listing) {
        sp_err_set(err, err_size, "cannot read %s: %s", agents, strerror(errno));
        return -1;
    }
    enum { S_LIST_MAX = 4096 };
    char **names = calloc(S_LIST_MAX, sizeof *names);
    size_t n = 0;
    struct dirent *entry;
    while (names && n < S_LIST_MAX && (entry = readdir(listing))) {
        size_t len = strlen(entry->d_name);
        if (len > 4 && strcmp(entry->d_name + len - 4, ".key") == 0 &&
            entry->d_name[0] != '.')
            names[n++] = strndup(entry->d_name, len - 4);
    }
    closedir(listing);
    if (!names) {
        sp_err_set(err, err_size, "out of memory");
        return -1;
    }
    qsort(names, n, sizeof *names, s_compare_names);
    int listed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[S_PATH + 80];
        snprintf(path, sizeof path, "%s/%s.key", agents, names[i] ? names[i] : "");
        zcert_t *cert = names[i] ? zcert_load(path) : NULL;
        if (cert) {
            fprintf(out, "%s %s\n", names[i], zcert_public_txt(cert));
            listed++;
        }
        zcert_destroy(&cert);
        free(names[i]);
    }
    free(names);
    return listed;
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

    char cleanup_secret[300];
    //  Enrolment: by key, by certificate file, idempotent, refused with
    //  another key unless replaced; listed by name; revoked.
    zcert_t *one = zcert_new(), *two = zcert_new();
    CHECK_NOT_NULL(one);
    CHECK_NOT_NULL(two);
    char one_txt[41], two_txt[41], two_path[256], listing[1024];
    snprintf(one_txt, sizeof one_txt, "%s", zcert_public_txt(one));
    snprintf(two_txt, sizeof two_txt, "%s", zcert_public_txt(two));
    snprintf(two_path, sizeof two_path, "%s/two.cert", base);
    CHECK_INT(zcert_save(two, two_path), 0); //  secret pair and public file
    CHECK_INT(ctl_keys_admit(dir, "web-1", one_txt, false, err, sizeof err), 0);
    CHECK_INT(ctl_keys_admit(dir, "web-1", one_txt, false, err, sizeof err), 1);
    CHECK_INT(ctl_keys_admit(dir, "web-1", two_txt, false, err, sizeof err), -1);
    CHECK_STR(err, "agent web-1 is admitted with another key; revoke it first or give "
                   "--replace");
    CHECK_INT(ctl_keys_admit(dir, "web-2", two_path, false, err, sizeof err), 0);
    snprintf(admitted, sizeof admitted, "%s/agents/web-2.key", dir);
    pub = zcert_load(admitted);
    CHECK_NOT_NULL(pub);
    CHECK_STR(zcert_public_txt(pub), two_txt);
    CHECK_STR(zcert_meta(pub, "name"), "web-2");
    CHECK_STR(zcert_secret_txt(pub), "0000000000000000000000000000000000000000");
    zcert_destroy(&pub);
    char *text = NULL;
    size_t text_size = 0;
    FILE *out = open_memstream(&text, &text_size);
    CHECK_NOT_NULL(out);
    CHECK_INT(ctl_keys_list(dir, out, err, sizeof err), 2);
    fclose(out);
    snprintf(listing, sizeof listing, "web-1 %s\nweb-2 %s\n", one_txt, two_txt);
    CHECK_STR(text, listing);
    free(text);
    CHECK_INT(ctl_keys_admit(dir, "web-1", two_path, true, err, sizeof err), 0);
    CHECK_INT(ctl_keys_admit(dir, "web-1", two_txt, false, err, sizeof err), 1);
    CHECK_INT(ctl_keys_revoke(dir, "web-1", err, sizeof err), 0);
    CHECK_INT(ctl_keys_revoke(dir, "web-1", err, sizeof err), -1);
    snprintf(expect, sizeof expect,
             "agent web-1 is not admitted (no %s/agents/web-1.key)", dir);
    CHECK_STR(err, expect);
    CHECK_INT(ctl_keys_revoke(dir, "web-2", err, sizeof err), 0);
    const char *bad_names[] = {"", ".hidden", "a/b", "../x"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        CHECK_INT(ctl_keys_admit(dir, bad_names[i], one_txt, false, err, sizeof err), -1);
        CHECK_STR(err, "the agent name must be 1-64 letters, digits, '.', '_' or '-', "
                       "not starting with '.'");
    }
    CHECK_INT(ctl_keys_admit(dir, "web-3", "not-a-key", false, err, sizeof err), -1);
    CHECK_STR(err, "the key must be the agent's public key (40 characters of Z85) or its "
                   "certificate file; not-a-key is neither");
    CHECK_INT(ctl_keys_admit(dir, "web-3", "0000000000000000000000000000000000000000",
                             false, err, sizeof err),
              -1);
    CHECK_STR(err, "the all-zero key cannot be admitted");
    zcert_destroy(&one);
    zcert_destroy(&two);
    unlink(two_path);
    snprintf(cleanup_secret, sizeof cleanup_secret, "%s_secret", two_path);
    unlink(cleanup_secret);

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
