/*  emu_pool — the concurrency slots of one function: which execution
    environments exist, which are busy, which are idle, and whether one
    more may be created.

    Owns an array of slots, each free, busy or idle, and an opaque item
    pointer per slot (the caller's environment; never dereferenced here).
    A pure data structure: no processes, no I/O; the slot arrays grow on
    demand (doubling, never beyond the cap), every operation amortised
    O(1). A pool with a large cap that stays small costs little.

    Invariants: size = busy + idle, counting every environment from the
    moment its slot is taken (a spawning environment counts). Acquire
    reuses an idle slot whenever there is one (the most recently idled
    first, so warm environments stay warm); otherwise it opens a new slot
    only while size < cap; otherwise the request is throttled - never
    queued. Lowering the cap never evicts: existing slots stay until
    removed.

    Thread model: owned by one thread (the emulator loop).
*/
#ifndef EMU_POOL_H
#define EMU_POOL_H

#include <stdbool.h>
#include <stddef.h>

//  Highest cap accepted.
#define EMU_POOL_CAP_MAX 10000

typedef struct _emu_pool_t emu_pool_t;

typedef enum {
    EMU_POOL_REUSE,    //  an idle slot, now busy
    EMU_POOL_SPAWN,    //  a new slot, busy, item NULL: create it
    EMU_POOL_THROTTLE, //  no idle slot and size >= cap
    EMU_POOL_FAILED,   //  memory ran out growing the slot arrays
} emu_pool_grant_t;

//  Creates a pool allowing `cap` (0..EMU_POOL_CAP_MAX) slots. NULL when
//  memory runs out or cap is out of range.
emu_pool_t *emu_pool_new(size_t cap);

//  Frees the pool (not the items). Safe on NULL; nulls *self_p.
void emu_pool_destroy(emu_pool_t **self_p);

//  Takes a slot for one invocation; sets *slot_p unless throttled.
emu_pool_grant_t emu_pool_acquire(emu_pool_t *self, size_t *slot_p);

//  Takes the most recently idled slot, if any: true and *slot_p, now
//  busy. Never opens a new slot.
bool emu_pool_reuse(emu_pool_t *self, size_t *slot_p);

//  Opens a new busy slot (item NULL) even when idle slots exist, while
//  size < cap: EMU_POOL_SPAWN, EMU_POOL_THROTTLE or EMU_POOL_FAILED.
emu_pool_grant_t emu_pool_open(emu_pool_t *self, size_t *slot_p);

//  Attaches the caller's item to an in-use slot.
void emu_pool_set_item(emu_pool_t *self, size_t slot, void *item);

//  The item of `slot`, or NULL for a free or out-of-range slot.
void *emu_pool_item(emu_pool_t *self, size_t slot);

//  A busy slot's environment is waiting for work again: busy -> idle.
void emu_pool_release(emu_pool_t *self, size_t slot);

//  The slot's environment is gone: busy or idle -> free.
void emu_pool_remove(emu_pool_t *self, size_t slot);

//  Changes the cap (0..EMU_POOL_CAP_MAX). Returns 0, or -1 when out of
//  range or memory runs out (the cap is then unchanged).
int emu_pool_set_cap(emu_pool_t *self, size_t cap);

size_t emu_pool_cap(emu_pool_t *self);
//  Slots in use (busy + idle).
size_t emu_pool_size(emu_pool_t *self);
size_t emu_pool_busy(emu_pool_t *self);
size_t emu_pool_idle(emu_pool_t *self);
//  One past the highest slot index ever handed out (for iterating).
size_t emu_pool_slots(emu_pool_t *self);
bool emu_pool_is_idle(emu_pool_t *self, size_t slot);

void emu_pool_test(bool verbose);

#endif
