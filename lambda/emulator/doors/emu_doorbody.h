/*  emu_doorbody — one request body as a front door reads it: kept up to
    the door's limit, and past it drained (read and thrown away) so that
    the client, still writing, gets the door's 413 instead of a reset
    connection (Node.js and Python clients report EPIPE / ECONNRESET when
    the server answers and closes while they write).

    Draining is bounded twice: at most EMU_DOORBODY_DRAIN_MAX bytes in
    all (a body declared or sent beyond that is answered at once, unread,
    and the connection closed), and at most EMU_DOORBODY_DRAIN_S seconds
    from the first byte over the limit (the front door also lowers the
    connection's idle timeout to that while draining, so a client that
    stalls is dropped).

    Owns the kept bytes. One request's object: the emulator loop's
    thread only.
*/
#ifndef EMU_DOORBODY_H
#define EMU_DOORBODY_H

#include "emu_limits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Most bytes of one request body read in all, kept or drained.
#define EMU_DOORBODY_DRAIN_MAX ((size_t)4 * EMU_LIMIT_PAYLOAD_MAX)
//  Longest time spent draining one body, seconds.
#define EMU_DOORBODY_DRAIN_S 10

typedef struct _emu_doorbody_t emu_doorbody_t;

typedef enum {
    EMU_DOORBODY_READ,   //  keep reading (kept, or drained past the limit)
    EMU_DOORBODY_REFUSE, //  over a drain bound: answer 413 now, unread
    EMU_DOORBODY_FAILED, //  out of memory
} emu_doorbody_verdict_t;

//  A body that keeps up to `max` bytes. NULL when memory runs out.
emu_doorbody_t *emu_doorbody_new(size_t max);

//  Frees the body. Nulls *self_p; safe twice.
void emu_doorbody_destroy(emu_doorbody_t **self_p);

//  The request's Content-Length header (`declared`, NULL when none): a
//  declared length over the limit starts draining at once; one over
//  EMU_DOORBODY_DRAIN_MAX is refused. `now_ns` is CLOCK_MONOTONIC.
emu_doorbody_verdict_t emu_doorbody_declare(emu_doorbody_t *self, const char *declared,
                                            int64_t now_ns);

//  `len` more bytes of body at `now_ns` (CLOCK_MONOTONIC): kept while
//  within the limit; past it, everything kept is dropped and the rest
//  drained until a bound says refuse.
emu_doorbody_verdict_t emu_doorbody_append(emu_doorbody_t *self, const char *data,
                                           size_t len, int64_t now_ns);

//  True once the body is over the limit (declared or sent).
bool emu_doorbody_too_large(emu_doorbody_t *self);

//  The body kept ("" when none or too large), its length in *len_p.
//  Borrowed until the body is destroyed.
const char *emu_doorbody_data(emu_doorbody_t *self, size_t *len_p);

//  Bytes received so far, kept or drained; for a body refused on its
//  declared length, that length.
size_t emu_doorbody_length(emu_doorbody_t *self);

void emu_doorbody_test(bool verbose);

#endif
