/*  emu_pool — concurrency slots of one function; see emu_pool.h. */
#include "emu_pool.h"
#include "sp_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_FREE, S_BUSY, S_IDLE } s_state_t;

typedef struct {
    s_state_t state;
    void *item;      //  caller's, borrowed
    size_t idle_pos; //  index in idle[] while idle
} s_slot_t;

struct _emu_pool_t {
    size_t cap;        //  most slots in use at once
    s_slot_t *slots;   //  slot_alloc entries
    size_t slot_alloc; //  allocated length of slots, idle, free
    size_t slot_count; //  slots ever handed out (high-water)
    size_t *idle;      //  idle slots, most recently idled last
    size_t idle_count;
    size_t *free_list; //  freed slots below slot_count
    size_t free_count;
    size_t busy_count;
};

//  Makes room for `count` slots without touching contents.
static int
s_reserve(emu_pool_t *self, size_t count)
{
    if (count <= self->slot_alloc)
        return 0;
    s_slot_t *slots = realloc(self->slots, count * sizeof *slots);
    if (!slots)
        return -1;
    self->slots = slots;
    size_t *idle = realloc(self->idle, count * sizeof *idle);
    if (!idle)
        return -1;
    self->idle = idle;
    size_t *free_list = realloc(self->free_list, count * sizeof *free_list);
    if (!free_list)
        return -1;
    self->free_list = free_list;
    memset(self->slots + self->slot_alloc, 0, (count - self->slot_alloc) * sizeof *slots);
    self->slot_alloc = count;
    return 0;
}

emu_pool_t *
emu_pool_new(size_t cap)
{
    if (cap > EMU_POOL_CAP_MAX)
        return NULL;
    emu_pool_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (emu_pool_set_cap(self, cap)) {
        emu_pool_destroy(&self);
        return NULL;
    }
    return self;
}

void
emu_pool_destroy(emu_pool_t **self_p)
{
    assert(self_p);
    emu_pool_t *self = *self_p;
    if (!self)
        return;
    free(self->slots);
    free(self->idle);
    free(self->free_list);
    free(self);
    *self_p = NULL;
}

static void
s_unidle(emu_pool_t *self, size_t slot)
{
    size_t pos = self->slots[slot].idle_pos;
    size_t last = self->idle[--self->idle_count];
    self->idle[pos] = last;
    self->slots[last].idle_pos = pos;
}

bool
emu_pool_reuse(emu_pool_t *self, size_t *slot_p)
{
    assert(self && slot_p);
    if (self->idle_count == 0)
        return false;
    size_t slot = self->idle[self->idle_count - 1];
    s_unidle(self, slot);
    self->slots[slot].state = S_BUSY;
    self->busy_count++;
    *slot_p = slot;
    return true;
}

emu_pool_grant_t
emu_pool_open(emu_pool_t *self, size_t *slot_p)
{
    assert(self && slot_p);
    if (self->busy_count + self->idle_count >= self->cap)
        return EMU_POOL_THROTTLE;
    size_t slot;
    if (self->free_count > 0)
        slot = self->free_list[--self->free_count];
    else {
        if (self->slot_count == self->slot_alloc) {
            size_t grown = self->slot_alloc ? self->slot_alloc * 2 : 16;
            if (grown > EMU_POOL_CAP_MAX)
                grown = EMU_POOL_CAP_MAX;
            if (grown <= self->slot_count || s_reserve(self, grown))
                return EMU_POOL_FAILED;
        }
        slot = self->slot_count++;
    }
    self->slots[slot] = (s_slot_t){.state = S_BUSY, .item = NULL};
    self->busy_count++;
    *slot_p = slot;
    return EMU_POOL_SPAWN;
}

emu_pool_grant_t
emu_pool_acquire(emu_pool_t *self, size_t *slot_p)
{
    assert(self && slot_p);
    if (emu_pool_reuse(self, slot_p))
        return EMU_POOL_REUSE;
    return emu_pool_open(self, slot_p);
}

void
emu_pool_set_item(emu_pool_t *self, size_t slot, void *item)
{
    assert(self && slot < self->slot_count && self->slots[slot].state != S_FREE);
    self->slots[slot].item = item;
}

void *
emu_pool_item(emu_pool_t *self, size_t slot)
{
    assert(self);
    if (slot >= self->slot_count || self->slots[slot].state == S_FREE)
        return NULL;
    return self->slots[slot].item;
}

void
emu_pool_release(emu_pool_t *self, size_t slot)
{
    assert(self && slot < self->slot_count && self->slots[slot].state == S_BUSY);
    self->slots[slot].state = S_IDLE;
    self->slots[slot].idle_pos = self->idle_count;
    self->idle[self->idle_count++] = slot;
    self->busy_count--;
}

void
emu_pool_remove(emu_pool_t *self, size_t slot)
{
    assert(self && slot < self->slot_count && self->slots[slot].state != S_FREE);
    if (self->slots[slot].state == S_IDLE)
        s_unidle(self, slot);
    else
        self->busy_count--;
    self->slots[slot] = (s_slot_t){.state = S_FREE};
    self->free_list[self->free_count++] = slot;
}

int
emu_pool_set_cap(emu_pool_t *self, size_t cap)
{
    assert(self);
    if (cap > EMU_POOL_CAP_MAX)
        return -1;
    self->cap = cap;
    return 0;
}

size_t
emu_pool_cap(emu_pool_t *self)
{
    assert(self);
    return self->cap;
}

size_t
emu_pool_size(emu_pool_t *self)
{
    assert(self);
    return self->busy_count + self->idle_count;
}

size_t
emu_pool_busy(emu_pool_t *self)
{
    assert(self);
    return self->busy_count;
}

size_t
emu_pool_idle(emu_pool_t *self)
{
    assert(self);
    return self->idle_count;
}

size_t
emu_pool_slots(emu_pool_t *self)
{
    assert(self);
    return self->slot_count;
}

bool
emu_pool_is_idle(emu_pool_t *self, size_t slot)
{
    assert(self);
    return slot < self->slot_count && self->slots[slot].state == S_IDLE;
}

//  --- selftest -----------------------------------------------------------

//  The naive reference: a state per slot and the idle order as a list.
typedef struct {
    s_state_t state[256];
    size_t idle_order[256]; //  idle slots, most recent last
    size_t idle_count;
    size_t cap;
} s_ref_t;

static size_t
s_ref_count(const s_ref_t *ref, s_state_t state)
{
    size_t count = 0;
    for (size_t i = 0; i < 256; i++)
        count += ref->state[i] == state;
    return count;
}

static void
s_ref_unidle(s_ref_t *ref, size_t slot)
{
    for (size_t i = 0; i < ref->idle_count; i++)
        if (ref->idle_order[i] == slot) {
            memmove(ref->idle_order + i, ref->idle_order + i + 1,
                    (ref->idle_count - i - 1) * sizeof ref->idle_order[0]);
            ref->idle_count--;
            return;
        }
    CHECK_TRUE(false);
}

static uint64_t
s_rand(uint64_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    return *seed;
}

//  Random operations on the pool and the reference must agree.
static void
s_differential(void)
{
    emu_pool_t *pool = emu_pool_new(5);
    s_ref_t ref = {.cap = 5};
    uint64_t seed = 0x5eed5eed;
    int items[256];
    for (int step = 0; step < 200000; step++) {
        unsigned op = (unsigned)(s_rand(&seed) % 100);
        size_t pick = (size_t)(s_rand(&seed) % 64);
        if (op < 45) {
            size_t slot = SIZE_MAX;
            emu_pool_grant_t grant = emu_pool_acquire(pool, &slot);
            size_t in_use = ref.idle_count + s_ref_count(&ref, S_BUSY);
            if (ref.idle_count > 0) {
                CHECK_INT(grant, EMU_POOL_REUSE);
                CHECK_INT(slot, ref.idle_order[ref.idle_count - 1]);
                CHECK_TRUE(emu_pool_item(pool, slot) == &items[slot]);
                ref.idle_count--;
                ref.state[slot] = S_BUSY;
            } else if (in_use < ref.cap) {
                CHECK_INT(grant, EMU_POOL_SPAWN);
                CHECK_TRUE(slot < 64);
                CHECK_INT(ref.state[slot], S_FREE);
                CHECK_NULL(emu_pool_item(pool, slot));
                emu_pool_set_item(pool, slot, &items[slot]);
                ref.state[slot] = S_BUSY;
            } else {
                CHECK_INT(grant, EMU_POOL_THROTTLE);
                CHECK_INT(slot, SIZE_MAX);
            }
        } else if (op < 75) {
            if (ref.state[pick] == S_BUSY) {
                emu_pool_release(pool, pick);
                ref.state[pick] = S_IDLE;
                ref.idle_order[ref.idle_count++] = pick;
            }
        } else if (op < 97) {
            if (ref.state[pick] != S_FREE) {
                emu_pool_remove(pool, pick);
                if (ref.state[pick] == S_IDLE)
                    s_ref_unidle(&ref, pick);
                ref.state[pick] = S_FREE;
            }
        } else {
            size_t cap = (size_t)(s_rand(&seed) % 12);
            CHECK_INT(emu_pool_set_cap(pool, cap), 0);
            ref.cap = cap;
        }
        CHECK_INT(emu_pool_busy(pool), s_ref_count(&ref, S_BUSY));
        CHECK_INT(emu_pool_idle(pool), ref.idle_count);
        CHECK_INT(emu_pool_size(pool), ref.idle_count + s_ref_count(&ref, S_BUSY));
        CHECK_INT(emu_pool_cap(pool), ref.cap);
        CHECK_INT(emu_pool_is_idle(pool, pick), ref.state[pick] == S_IDLE);
        CHECK_TRUE(emu_pool_slots(pool) <= 64);
    }
    emu_pool_destroy(&pool);
}

void
emu_pool_test(bool verbose)
{
    //  The headline: reserved concurrency 5, a burst of 100.
    emu_pool_t *pool = emu_pool_new(5);
    CHECK_NOT_NULL(pool);
    int envs[5];
    size_t slot = 0;
    int spawned = 0, throttled = 0;
    for (int i = 0; i < 100; i++) {
        emu_pool_grant_t grant = emu_pool_acquire(pool, &slot);
        if (grant == EMU_POOL_SPAWN) {
            CHECK_INT(slot, spawned);
            emu_pool_set_item(pool, slot, &envs[spawned++]);
        } else
            throttled += grant == EMU_POOL_THROTTLE;
    }
    CHECK_INT(spawned, 5);
    CHECK_INT(throttled, 95);
    CHECK_INT(emu_pool_size(pool), 5);
    CHECK_INT(emu_pool_busy(pool), 5);
    CHECK_INT(emu_pool_idle(pool), 0);
    CHECK_INT(emu_pool_slots(pool), 5);

    //  All five finish: the next wave reuses them, most recent first.
    for (size_t i = 0; i < 5; i++)
        emu_pool_release(pool, i);
    CHECK_INT(emu_pool_idle(pool), 5);
    CHECK_INT(emu_pool_busy(pool), 0);
    CHECK_TRUE(emu_pool_is_idle(pool, 2));
    CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_REUSE);
    CHECK_INT(slot, 4);
    CHECK_TRUE(emu_pool_item(pool, 4) == &envs[4]);
    CHECK_TRUE(!emu_pool_is_idle(pool, 4));

    //  An idle environment that dies frees its slot; a new one may spawn.
    emu_pool_remove(pool, 2);
    CHECK_NULL(emu_pool_item(pool, 2));
    CHECK_INT(emu_pool_size(pool), 4);
    for (int i = 0; i < 3; i++)
        CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_REUSE);
    CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_SPAWN);
    CHECK_INT(slot, 2);
    CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_THROTTLE);
    //  A busy environment that dies frees its slot too.
    emu_pool_remove(pool, 0);
    CHECK_INT(emu_pool_busy(pool), 4);
    CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_SPAWN);
    CHECK_INT(slot, 0);

    //  Lowering the cap evicts nothing but stops spawning; idle slots are
    //  still reused.
    CHECK_INT(emu_pool_set_cap(pool, 2), 0);
    CHECK_INT(emu_pool_cap(pool), 2);
    CHECK_INT(emu_pool_size(pool), 5);
    emu_pool_release(pool, 3);
    CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_REUSE);
    CHECK_INT(slot, 3);
    CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_THROTTLE);
    CHECK_INT(emu_pool_set_cap(pool, EMU_POOL_CAP_MAX + 1), -1);
    CHECK_INT(emu_pool_cap(pool), 2);
    CHECK_INT(emu_pool_set_cap(pool, 8), 0);
    CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_SPAWN);
    CHECK_INT(slot, 5);
    CHECK_INT(emu_pool_slots(pool), 6);
    CHECK_NULL(emu_pool_item(pool, 99));
    CHECK_TRUE(!emu_pool_is_idle(pool, 99));
    emu_pool_destroy(&pool);
    CHECK_NULL(pool);
    emu_pool_destroy(&pool);

    //  Reuse only takes idle slots; open ignores them (a provisioned
    //  environment is started even while others idle).
    pool = emu_pool_new(3);
    CHECK_TRUE(!emu_pool_reuse(pool, &slot));
    CHECK_INT(emu_pool_open(pool, &slot), EMU_POOL_SPAWN);
    CHECK_INT(slot, 0);
    emu_pool_set_item(pool, 0, &envs[0]);
    emu_pool_release(pool, 0);
    CHECK_INT(emu_pool_open(pool, &slot), EMU_POOL_SPAWN);
    CHECK_INT(slot, 1);
    CHECK_INT(emu_pool_idle(pool), 1);
    CHECK_TRUE(emu_pool_reuse(pool, &slot));
    CHECK_INT(slot, 0);
    CHECK_TRUE(emu_pool_item(pool, 0) == &envs[0]);
    CHECK_TRUE(!emu_pool_reuse(pool, &slot));
    CHECK_INT(emu_pool_open(pool, &slot), EMU_POOL_SPAWN);
    CHECK_INT(emu_pool_open(pool, &slot), EMU_POOL_THROTTLE);
    emu_pool_destroy(&pool);
    //  The arrays grow on demand up to the largest cap.
    pool = emu_pool_new(EMU_POOL_CAP_MAX);
    for (size_t i = 0; i < EMU_POOL_CAP_MAX; i++)
        CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_SPAWN);
    CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_THROTTLE);
    CHECK_INT(emu_pool_size(pool), EMU_POOL_CAP_MAX);
    emu_pool_destroy(&pool);

    //  Reserved concurrency 0 throttles everything.
    pool = emu_pool_new(0);
    CHECK_NOT_NULL(pool);
    CHECK_INT(emu_pool_acquire(pool, &slot), EMU_POOL_THROTTLE);
    emu_pool_destroy(&pool);
    CHECK_NULL(emu_pool_new(EMU_POOL_CAP_MAX + 1));

    s_differential();
    (void)verbose;
}
