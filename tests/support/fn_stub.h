/*  fn_stub — a scripted HTTP/1.1 peer for the selftests of the bootstrap.

    Owns a listening socket on 127.0.0.1 (ephemeral port) and a thread that
    answers the requests it receives, in order, with canned raw responses,
    and records every request (head and body) as received. It stands in for
    the Lambda Runtime API so fn_http and fn_runtime can be tested without
    the emulator (which depends on nothing here).

    Thread model: the caller scripts the stub (fn_stub_add), starts it,
    then waits for it (fn_stub_wait joins the thread); recorded requests are
    read only after the wait, so no state is shared while the thread runs.
    The thread gives up after 5 s without progress.
*/
#ifndef FN_STUB_H
#define FN_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _fn_stub_t fn_stub_t;

//  Listens on 127.0.0.1:0. Returns NULL on a socket or memory failure.
fn_stub_t *fn_stub_new(void);

//  Stops the thread if still running, closes sockets, frees. Nulls *self_p.
void fn_stub_destroy(fn_stub_t **self_p);

//  The bound port.
uint16_t fn_stub_port(fn_stub_t *self);

//  Queues the raw bytes answering the next request. With `close_after`
//  the connection is closed after writing them; an empty `response` with
//  `close_after` drops the connection without answering. Only before
//  fn_stub_start. Returns 0, or -1 when the script is full (32 steps).
int fn_stub_add(fn_stub_t *self, const char *response, bool close_after);

//  Starts serving the script. Returns 0 or -1.
int fn_stub_start(fn_stub_t *self);

//  Waits until the script is served (or the thread gave up) and returns
//  how many requests were received.
size_t fn_stub_wait(fn_stub_t *self);

//  Raw text of request `index` (0-based) as received, NUL-terminated, or
//  NULL. Borrowed until destroy; valid after fn_stub_wait.
const char *fn_stub_request(fn_stub_t *self, size_t index);

//  Connections accepted; valid after fn_stub_wait.
unsigned fn_stub_connections(fn_stub_t *self);

void fn_stub_test(bool verbose);

#endif
