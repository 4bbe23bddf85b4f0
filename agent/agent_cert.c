/*  agent_cert — CurveZMQ credentials; see agent_cert.h. */
#include "agent_cert.h"
#include "sp_check.h"
#include "sp_err.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_NO_SECRET "0000000000000000000000000000000000000000"

struct _agent_cert_t {
    zcert_t *own;           //  our certificate, secret key included
    char server_public[41]; //  controller's public key, Z85
};

static bool
s_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

agent_cert_t *
agent_cert_load(const char *server_key_path, const char *key_path, char *err,
                size_t err_size)
{
    assert(server_key_path && key_path);
    agent_cert_t *self = NULL;
    zcert_t *server = NULL;
    char secret_path[4200];
    snprintf(secret_path, sizeof secret_path, "%s_secret", key_path);
    if (!zsys_has_curve()) {
        sp_err_set(err, err_size, "this libzmq was built without CURVE support");
        goto fail;
    }
    server = zcert_load(server_key_path);
    if (!server) {
        sp_err_set(err, err_size, "--server-key %s: not a readable certificate file",
                   server_key_path);
        goto fail;
    }
    if (!s_exists(secret_path)) {
        sp_err_set(err, err_size,
                   "--key %s: %s not found (the agent needs its secret key; make a "
                   "pair with --keygen)",
                   key_path, secret_path);
        goto fail;
    }
    self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    self->own = zcert_load(key_path);
    if (!self->own || streq(zcert_secret_txt(self->own), S_NO_SECRET)) {
        sp_err_set(err, err_size, "--key %s: no secret key in %s", key_path, secret_path);
        goto fail;
    }
    snprintf(self->server_public, sizeof self->server_public, "%s",
             zcert_public_txt(server));
    zcert_destroy(&server);
    return self;
fail:
    zcert_destroy(&server);
    agent_cert_destroy(&self);
    return NULL;
}

void
agent_cert_destroy(agent_cert_t **self_p)
{
    assert(self_p);
    agent_cert_t *self = *self_p;
    if (self) {
        zcert_destroy(&self->own);
        free(self);
        *self_p = NULL;
    }
}

void
agent_cert_apply(agent_cert_t *self, zsock_t *sock)
{
    assert(self);
    assert(sock);
    zcert_apply(self->own, sock);
    zsock_set_curve_serverkey(sock, self->server_public);
}

const char *
agent_cert_public_txt(agent_cert_t *self)
{
    assert(self);
    return zcert_public_txt(self->own);
}

int
agent_cert_keygen(const char *path, char *err, size_t err_size)
{
    assert(path);
    char secret_path[4200];
    snprintf(secret_path, sizeof secret_path, "%s_secret", path);
    if (s_exists(path) || s_exists(secret_path)) {
        sp_err_set(err, err_size, "%s or %s already exists; refusing to overwrite", path,
                   secret_path);
        return -1;
    }
    zcert_t *cert = zcert_new();
    if (!cert) {
        sp_err_set(err, err_size, "cannot create a certificate (no CURVE support?)");
        return -1;
    }
    zcert_set_meta(cert, "role", "stampede-agent");
    int rc = zcert_save(cert, path);
    zcert_destroy(&cert);
    if (rc != 0 || chmod(secret_path, 0600) != 0) {
        sp_err_set(err, err_size, "cannot write %s / %s: %s", path, secret_path,
                   strerror(errno));
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest

void
agent_cert_test(bool verbose)
{
    char dir[] = "/tmp/agent_cert_test.XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char agent_path[256], server_path[256], path[300], err[512];
    snprintf(agent_path, sizeof agent_path, "%s/agent.key", dir);
    snprintf(server_path, sizeof server_path, "%s/controller.key", dir);

    //  Keygen writes both files, the secret private; never overwrites.
    CHECK_INT(agent_cert_keygen(agent_path, err, sizeof err), 0);
    CHECK_INT(agent_cert_keygen(server_path, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s_secret", agent_path);
    struct stat st;
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK_INT(agent_cert_keygen(agent_path, err, sizeof err), -1);
    CHECK_TRUE(strstr(err, "refusing to overwrite") != NULL);

    //  Load: both keys good.
    agent_cert_t *cert = agent_cert_load(server_path, agent_path, err, sizeof err);
    CHECK_NOT_NULL(cert);
    CHECK_INT(strlen(agent_cert_public_txt(cert)), 40);

    //  Errors: missing server key, missing secret, public key given as --key.
    snprintf(path, sizeof path, "%s/missing.key", dir);
    CHECK_NULL(agent_cert_load(path, agent_path, err, sizeof err));
    snprintf(path, sizeof path,
             "--server-key %s/missing.key: not a readable certificate file", dir);
    CHECK_STR(err, path);
    char public_only[256];
    snprintf(public_only, sizeof public_only, "%s/public-only.key", dir);
    zcert_t *tmp = zcert_load(server_path);
    CHECK_INT(zcert_save_public(tmp, public_only), 0);
    zcert_destroy(&tmp);
    CHECK_NULL(agent_cert_load(server_path, public_only, err, sizeof err));
    CHECK_TRUE(strstr(err, "public-only.key_secret not found") != NULL);

    //  A CURVE handshake with a controller holding the server certificate.
    zcert_t *server_cert = zcert_load(server_path);
    CHECK_NOT_NULL(server_cert);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zcert_apply(server_cert, router);
    zsock_set_curve_server(router, 1);
    zsock_set_rcvtimeo(router, 5000);
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    CHECK_TRUE(port > 0);
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    agent_cert_apply(cert, dealer);
    snprintf(path, sizeof path, "tcp://127.0.0.1:%d", port);
    CHECK_INT(zsock_connect(dealer, "%s", path), 0);
    CHECK_INT(zstr_send(dealer, "hello over curve"), 0);
    zframe_t *identity = zframe_recv(router);
    CHECK_NOT_NULL(identity);
    char *text = zstr_recv(router);
    CHECK_STR(text, "hello over curve");
    zstr_free(&text);
    zframe_destroy(&identity);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
    zcert_destroy(&server_cert);

    agent_cert_destroy(&cert);
    agent_cert_destroy(&cert);
    CHECK_NULL(cert);
    //  Clean up the temporary directory.
    const char *names[] = {"agent.key", "agent.key_secret", "controller.key",
                           "controller.key_secret", "public-only.key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        CHECK_INT(unlink(path), 0);
    }
    CHECK_INT(rmdir(dir), 0);
    if (verbose)
        printf("(cert checks done) ");
}
