/*  agent_spool — result batches the controller has not acknowledged yet.

    Each entry is one encoded ResultBatch frame keyed (run_id, seq), kept in
    the order it was put. An entry is "unsent" until a send of it succeeds;
    agent_spool_flush() sends unsent entries in order and stops at the first
    the socket will not take (so nothing is lost when the link is down or
    its queue is full), agent_spool_rewind() marks everything unsent again
    (after a re-Hello), and agent_spool_ack() forgets an entry for good.

    With a directory attached (agent_spool_attach, the agent's --spool),
    every batch is also a file there until it is acknowledged or dropped,
    so an agent that is killed and started again with the same directory
    sends what the controller never acknowledged. The directory is bounded:
    past its byte limit a batch is kept in memory only (said, at most once a
    minute). Files are written to a temporary name, flushed with fdatasync
    and renamed, so a crash leaves either the whole batch or none; a file
    that does not decode as the batch its name says is set aside as
    *.corrupt, never sent.

    Workload: one run at a time, up to share/flush-size entries (a few
    thousand), acks mostly in order, so a list with linear search is enough.
    Owned and used by one thread (the link's).
*/
#ifndef AGENT_SPOOL_H
#define AGENT_SPOOL_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _agent_spool_t agent_spool_t;

//  An empty spool, or NULL when out of memory.
agent_spool_t *agent_spool_new(void);

//  Frees every entry; safe on NULL and twice; nulls *self_p.
void agent_spool_destroy(agent_spool_t **self_p);

//  Default byte limit of an attached directory.
#define AGENT_SPOOL_DEFAULT_MAX_BYTES (UINT64_C(256) * 1024 * 1024)

//  Attaches directory dir (created, mode 0700, when missing) holding at
//  most max_bytes of batches, and loads the batches already there, oldest
//  run and sequence first, as unsent entries. Returns how many it loaded,
//  or -1 with a reason in err.
int agent_spool_attach(agent_spool_t *self, const char *dir, uint64_t max_bytes,
                       char *err, size_t err_size);

//  Bytes of batches in the attached directory (0 without one).
uint64_t agent_spool_disk_bytes(agent_spool_t *self);

//  Keeps *frame_p (taken over and nulled) as batch seq of run_id, unsent.
//  Returns 0, or -1 when that batch is already held (the frame is then
//  destroyed and the held one kept).
int agent_spool_put(agent_spool_t *self, uint64_t run_id, uint32_t seq,
                    zframe_t **frame_p);

//  Sends every unsent entry, oldest first, without blocking; stops at the
//  first send that fails. Entries stay held until acked. Returns how many
//  were sent.
size_t agent_spool_flush(agent_spool_t *self, zsock_t *dest);

//  Marks every entry unsent, so the next flush sends them all again.
void agent_spool_rewind(agent_spool_t *self);

//  Marks unsent again every entry sent at least its wait before now_ns
//  (monotonic) and still unacked — the controller could not store it (a
//  full disk) or it was lost on the way. The first wait is first_wait_ns;
//  each resend doubles it, up to max_wait_ns. Returns how many.
size_t agent_spool_rewind_stale(agent_spool_t *self, int64_t now_ns,
                                int64_t first_wait_ns, int64_t max_wait_ns);

//  Forgets batch seq of run_id. Returns 0, or -1 when it was not held
//  (a duplicate or unknown ack).
int agent_spool_ack(agent_spool_t *self, uint64_t run_id, uint32_t seq);

//  Forgets every batch of run_id; returns how many.
size_t agent_spool_drop(agent_spool_t *self, uint64_t run_id);

//  Batches of run_id held (sent or not).
size_t agent_spool_count(agent_spool_t *self, uint64_t run_id);

//  Entries held in total, and of those not sent since put or rewind.
size_t agent_spool_size(agent_spool_t *self);
size_t agent_spool_unsent(agent_spool_t *self);

void agent_spool_test(bool verbose);

#endif
