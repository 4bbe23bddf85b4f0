/*  ctl_keys — the controller's CurveZMQ key directory.

    Layout of DIR (default results/keys, mode 0700):
        DIR/controller.key          the controller's public certificate
                                    (agents pin it with --server-key)
        DIR/controller.key_secret   its secret pair (mode 0600)
        DIR/agents/                 public certificates of admitted agents;
                                    the ZAP handler (zauth) reads this
                                    directory and rereads it when it changes
    The controller certificate is created on first use and loaded after.

    Local agents (spawned by `stampede run` / `demo`) get a certificate
    issued here: its public half goes into DIR/agents/ under a name unique
    to this process, its secret pair into a private temporary directory
    (mode 0700) passed to the agent with --key. Both are removed again when
    the object is destroyed, so local runs leave no admitted keys behind.

    Thread model: created, used and destroyed by one thread; the zcert_t it
    lends out is read-only and may be read by another thread while this
    object lives.
*/
#ifndef CTL_KEYS_H
#define CTL_KEYS_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _ctl_keys_t ctl_keys_t;

//  Opens DIR, creating it, DIR/agents and the controller certificate when
//  missing. Returns NULL with the reason in err (unreadable or half-present
//  certificate, no permission, …).
ctl_keys_t *ctl_keys_new(const char *dir, char *err, size_t err_size);

//  Removes the certificates issued to local agents and frees; safe on NULL
//  and twice; nulls *self_p.
void ctl_keys_destroy(ctl_keys_t **self_p);

//  The controller certificate (borrowed until destroy).
zcert_t *ctl_keys_cert(ctl_keys_t *self);

//  Paths: DIR/controller.key and DIR/agents (borrowed until destroy).
const char *ctl_keys_public_path(ctl_keys_t *self);
const char *ctl_keys_agents_dir(ctl_keys_t *self);

//  Issues a certificate for the local agent `name` ([A-Za-z0-9._-]) and
//  admits its public key. Returns the path of its secret certificate for
//  the agent's --key (borrowed until destroy), or NULL with err.
const char *ctl_keys_issue_local(ctl_keys_t *self, const char *name, char *err,
                                 size_t err_size);

//  Enrolment of agents whose keys were made on their own hosts
//  (`stampede agents admit|revoke|list`), working on DIR/agents directly:
//  the controller's ZAP handler rereads the directory, so a running
//  controller needs no restart. Names are [A-Za-z0-9._-], 1-64, not
//  starting with '.'.

//  Admits agent name with its public key: 40 characters of Z85, or the
//  path of a certificate file holding one (what `stampede-agent --keygen`
//  writes). Writes DIR/agents/NAME.key (via a temporary file and a
//  rename, so the controller never reads half of it), creating the
//  directories (0700) when missing. The same key already admitted under
//  the name: nothing changes, returns 1; another key: refused unless
//  replace. Returns 0 when admitted, 1 when it already was, -1 with err.
int ctl_keys_admit(const char *dir, const char *name, const char *key, bool replace,
                   char *err, size_t err_size);

//  Removes agent name's certificate. Returns 0, or -1 with err (not
//  admitted, or it cannot be removed).
int ctl_keys_revoke(const char *dir, const char *name, char *err, size_t err_size);

//  One line per admitted agent, "NAME KEY", sorted by name; certificates
//  of local agents (local-PID-NAME) included. Returns the number listed,
//  or -1 with err when DIR/agents cannot be read.
int ctl_keys_list(const char *dir, FILE *out, char *err, size_t err_size);

void ctl_keys_test(bool verbose);

#endif
