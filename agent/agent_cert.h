/*  agent_cert — the agent's CurveZMQ credentials: its own certificate
    (public + secret key) and the controller's pinned public key.

    Loaded once at start-up from the files named by --key and --server-key
    (czmq zcert format: FILE holds the public key, FILE_secret both), applied
    to the DEALER before it connects, and able to write a fresh certificate
    pair for --keygen. Keys are never logged; only the public key may be.
    Owned by the main thread.
*/
#ifndef AGENT_CERT_H
#define AGENT_CERT_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _agent_cert_t agent_cert_t;

//  Loads the controller's public certificate (server_key_path) and this
//  agent's certificate (key_path; key_path_secret must exist, since the
//  agent needs its secret key). Returns the credentials, or NULL with a
//  one-line reason in err.
agent_cert_t *agent_cert_load(const char *server_key_path, const char *key_path,
                              char *err, size_t err_size);

//  Frees self; safe on NULL and twice; nulls *self_p.
void agent_cert_destroy(agent_cert_t **self_p);

//  Makes sock a CURVE client of the pinned controller. Call before connect.
void agent_cert_apply(agent_cert_t *self, zsock_t *sock);

//  This agent's public key, Z85 text (borrowed while self lives).
const char *agent_cert_public_txt(agent_cert_t *self);

//  Writes a new certificate: path (public key) and path_secret (secret,
//  mode 0600). Refuses to overwrite either file. Returns 0, or -1 with a
//  one-line reason in err.
int agent_cert_keygen(const char *path, char *err, size_t err_size);

void agent_cert_test(bool verbose);

#endif
