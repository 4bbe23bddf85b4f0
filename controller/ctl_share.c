/*  ctl_share — one agent's share of a run; see ctl_share.h.

    Stored batches are a bitmap over 1..count, allocated on the first
    stored batch, so a share never holds more than count / 8 bytes whatever
    sequence numbers an agent sends.
*/
#include "ctl_share.h"
#include "proto_codec.h"
#include "sp_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _ctl_share_t {
    char agent_id[PROTO_MAX_ID + 1]; //  the agent firing this share
    uint32_t first;                  //  first request index
    uint32_t count;                  //  requests in the share (>= 1)
    int64_t offset_ns;               //  agent clock minus controller clock at the instant
    int64_t bound_ns;                //  its error bound
    int64_t rtt_ns;                  //  rtt of that estimate
    int64_t path_rtt_ns;             //  shortest handshake while arming, 0 unknown
    int64_t shift_ns;                //  --compensate-path: the instant's shift
    bool ready;                      //  Ready without error received
    uint8_t *stored;                 //  bit seq-1 set when batch seq is stored
    uint32_t stored_count;           //  bits set in stored
    bool done;                       //  Done received
    uint32_t done_results;           //  Done.results
    uint32_t done_batches;           //  Done.batches
    char *abandoned;                 //  reason when the agent went away, or NULL
    bool released;                   //  a release report is recorded
    int64_t released_ns;             //  when the release pass began, agent's clock
    int64_t release_end_ns;          //  when it ended
    uint32_t armed;                  //  requests holding their last byte then
    uint32_t late;                   //  requests still connecting then
};

void
ctl_share_split(uint32_t n, size_t agents, uint32_t *first, uint32_t *count)
{
    int fits = ctl_share_split_fit(n, agents, NULL, first, count);
    assert(fits == 0);
    (void)fits;
}

int
ctl_share_split_fit(uint32_t n, size_t agents, const uint32_t *capacity, uint32_t *first,
                    uint32_t *count)
{
    assert(agents >= 1 && first && count);
    //  Smallest capacity first, agent order among equals (a stable
    //  insertion sort: a run has few agents); each takes the ceiling of an
    //  equal part of what is left, or its capacity when that is less.
    size_t *order = malloc(agents * sizeof *order);
    if (!order)
        return -1;
    for (size_t i = 0; i < agents; i++) {
        size_t j = i;
        while (capacity && j > 0 && capacity[order[j - 1]] > capacity[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    uint64_t remaining = n;
    for (size_t k = 0; k < agents; k++) {
        size_t i = order[k];
        uint64_t left = agents - k;
        uint64_t part = (remaining + left - 1) / left;
        if (capacity && part > capacity[i])
            part = capacity[i];
        count[i] = (uint32_t)part;
        remaining -= part;
    }
    free(order);
    uint32_t next = 0;
    for (size_t i = 0; i < agents; i++) {
        first[i] = next;
        next += count[i];
    }
    return remaining == 0 ? 0 : -1;
}

ctl_share_t *
ctl_share_new(const char *agent_id, uint32_t first_index, uint32_t count,
              int64_t clock_offset_ns, int64_t clock_rtt_ns)
{
    assert(agent_id);
    if (count == 0 || strlen(agent_id) > PROTO_MAX_ID)
        return NULL;
    ctl_share_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->agent_id, sizeof self->agent_id, "%s", agent_id);
    self->first = first_index;
    self->count = count;
    self->offset_ns = clock_offset_ns;
    self->rtt_ns = clock_rtt_ns;
    return self;
}

void
ctl_share_destroy(ctl_share_t **self_p)
{
    assert(self_p);
    ctl_share_t *self = *self_p;
    if (self) {
        free(self->stored);
        free(self->abandoned);
        free(self);
        *self_p = NULL;
    }
}

const char *
ctl_share_agent_id(ctl_share_t *self)
{
    assert(self);
    return self->agent_id;
}

uint32_t
ctl_share_first(ctl_share_t *self)
{
    assert(self);
    return self->first;
}

uint32_t
ctl_share_count(ctl_share_t *self)
{
    assert(self);
    return self->count;
}

void
ctl_share_set_clock(ctl_share_t *self, int64_t offset_ns, int64_t bound_ns)
{
    assert(self);
    self->offset_ns = offset_ns;
    self->bound_ns = bound_ns;
}

int64_t
ctl_share_bound_ns(ctl_share_t *self)
{
    assert(self);
    return self->bound_ns;
}

int64_t
ctl_share_offset_ns(ctl_share_t *self)
{
    assert(self);
    return self->offset_ns;
}

void
ctl_share_set_path(ctl_share_t *self, int64_t path_rtt_ns)
{
    assert(self && path_rtt_ns >= 0);
    self->path_rtt_ns = path_rtt_ns;
}

int64_t
ctl_share_path_rtt_ns(ctl_share_t *self)
{
    assert(self);
    return self->path_rtt_ns;
}

void
ctl_share_set_shift(ctl_share_t *self, int64_t shift_ns)
{
    assert(self && shift_ns >= 0);
    self->shift_ns = shift_ns;
}

int64_t
ctl_share_shift_ns(ctl_share_t *self)
{
    assert(self);
    return self->shift_ns;
}

int64_t
ctl_share_instant_ns(ctl_share_t *self, int64_t start_ns)
{
    assert(self);
    return start_ns + self->shift_ns + self->offset_ns;
}

int64_t
ctl_share_rtt_ns(ctl_share_t *self)
{
    assert(self);
    return self->rtt_ns;
}

bool
ctl_share_contains(ctl_share_t *self, uint32_t index)
{
    assert(self);
    return index >= self->first && index - self->first < self->count;
}

void
ctl_share_set_ready(ctl_share_t *self)
{
    assert(self);
    self->ready = true;
}

bool
ctl_share_ready(ctl_share_t *self)
{
    assert(self);
    return self->ready;
}

bool
ctl_share_batch_seen(ctl_share_t *self, uint32_t seq)
{
    assert(self);
    if (seq < 1 || seq > self->count || !self->stored)
        return false;
    uint32_t bit = seq - 1;
    return (self->stored[bit / 8] >> (bit % 8)) & 1;
}

int
ctl_share_batch_stored(ctl_share_t *self, uint32_t seq)
{
    assert(self);
    if (seq < 1 || seq > self->count)
        return -1;
    if (!self->stored) {
        self->stored = calloc((self->count + 7) / 8, 1);
        if (!self->stored)
            return -1;
    }
    if (ctl_share_batch_seen(self, seq))
        return 0;
    uint32_t bit = seq - 1;
    self->stored[bit / 8] |= (uint8_t)(1u << (bit % 8));
    self->stored_count++;
    return 1;
}

int
ctl_share_set_done(ctl_share_t *self, uint32_t results, uint32_t batches)
{
    assert(self);
    if (results > self->count || batches > self->count || (batches == 0 && results > 0) ||
        batches > results)
        return -1;
    self->done = true;
    self->done_results = results;
    self->done_batches = batches;
    return 0;
}

uint32_t
ctl_share_done_results(ctl_share_t *self)
{
    assert(self);
    return self->done_results;
}

bool
ctl_share_complete(ctl_share_t *self)
{
    assert(self);
    if (!self->done)
        return false;
    //  Every stored seq is <= count; complete when 1..batches are all in.
    for (uint32_t seq = 1; seq <= self->done_batches; seq++)
        if (!ctl_share_batch_seen(self, seq))
            return false;
    return true;
}

void
ctl_share_abandon(ctl_share_t *self, const char *reason)
{
    assert(self && reason);
    if (!self->abandoned)
        self->abandoned = strdup(reason);
}

const char *
ctl_share_abandoned(ctl_share_t *self)
{
    assert(self);
    return self->abandoned;
}

int
ctl_share_set_released(ctl_share_t *self, int64_t released_ns, int64_t end_ns,
                       uint32_t armed, uint32_t late)
{
    assert(self);
    if (released_ns <= 0 || end_ns < released_ns || (uint64_t)armed + late > self->count)
        return -1;
    if (self->released)
        return 0;
    self->released = true;
    self->released_ns = released_ns;
    self->release_end_ns = end_ns;
    self->armed = armed;
    self->late = late;
    return 1;
}

bool
ctl_share_released(ctl_share_t *self)
{
    assert(self);
    return self->released;
}

int64_t
ctl_share_released_ns(ctl_share_t *self)
{
    assert(self);
    return self->released_ns;
}

int64_t
ctl_share_release_span_ns(ctl_share_t *self)
{
    assert(self);
    return self->release_end_ns - self->released_ns;
}

uint32_t
ctl_share_armed(ctl_share_t *self)
{
    assert(self);
    return self->armed;
}

uint32_t
ctl_share_late(ctl_share_t *self)
{
    assert(self);
    return self->late;
}

int64_t
ctl_share_start_error_ns(ctl_share_t *self, int64_t start_at_ns)
{
    assert(self && self->released);
    return self->released_ns - start_at_ns;
}

bool
ctl_share_mis_started(ctl_share_t *self, int64_t start_at_ns, int64_t tolerance_ns,
                      char *reason, size_t size)
{
    assert(self && self->released && reason);
    int64_t error = ctl_share_start_error_ns(self, start_at_ns);
    int64_t allowed = self->bound_ns + tolerance_ns;
    if (error > allowed || error < -allowed) {
        snprintf(reason, size,
                 "agent %s released %.3f ms %s the instant, outside its bound of"
                 " %.3f ms + %.3f ms tolerance",
                 self->agent_id, (double)(error < 0 ? -error : error) / 1e6,
                 error < 0 ? "before" : "after", (double)self->bound_ns / 1e6,
                 (double)tolerance_ns / 1e6);
        return true;
    }
    if (self->late > 0) {
        snprintf(reason, size,
                 "agent %s: %u of %u requests were still connecting or writing at the"
                 " instant and went late",
                 self->agent_id, self->late, self->count);
        return true;
    }
    return false;
}

void
ctl_share_test(bool verbose)
{
    //  The split rule: equal parts, remainder over the first agents.
    uint32_t first[8], count[8];
    ctl_share_split(100, 4, first, count);
    for (int i = 0; i < 4; i++) {
        CHECK_INT(first[i], 25 * i);
        CHECK_INT(count[i], 25);
    }
    ctl_share_split(10, 3, first, count);
    CHECK_INT(count[0], 4);
    CHECK_INT(count[1], 3);
    CHECK_INT(count[2], 3);
    CHECK_INT(first[0], 0);
    CHECK_INT(first[1], 4);
    CHECK_INT(first[2], 7);
    ctl_share_split(20, 3, first, count);
    CHECK_INT(count[0], 7);
    CHECK_INT(count[1], 7);
    CHECK_INT(count[2], 6);
    CHECK_INT(first[2], 14);
    ctl_share_split(2, 3, first, count);
    CHECK_INT(count[0], 1);
    CHECK_INT(count[1], 1);
    CHECK_INT(count[2], 0);
    ctl_share_split(7, 1, first, count);
    CHECK_INT(first[0], 0);
    CHECK_INT(count[0], 7);
    //  Differential check against the naive rule: deal requests one by
    //  one round-robin, then count.
    for (uint32_t n = 0; n < 40; n++)
        for (size_t k = 1; k <= 8; k++) {
            uint32_t dealt[8] = {0};
            for (uint32_t r = 0; r < n; r++)
                dealt[r % k]++;
            ctl_share_split(n, k, first, count);
            uint32_t next = 0;
            for (size_t i = 0; i < k; i++) {
                CHECK_INT(count[i], dealt[i]);
                CHECK_INT(first[i], next);
                next += count[i];
            }
            CHECK_INT(next, n);
        }

    //  With capacities: equal while every part fits; what an agent cannot
    //  hold goes equally to the others; -1 when all together are too few.
    uint32_t roomy[3] = {1000, 1000, 1000};
    CHECK_INT(ctl_share_split_fit(10, 3, roomy, first, count), 0);
    CHECK_INT(count[0], 4);
    CHECK_INT(count[1], 3);
    CHECK_INT(count[2], 3);
    uint32_t one_small[3] = {100, 10, 100};
    CHECK_INT(ctl_share_split_fit(100, 3, one_small, first, count), 0);
    CHECK_INT(count[0], 45);
    CHECK_INT(count[1], 10);
    CHECK_INT(count[2], 45);
    CHECK_INT(first[1], 45);
    CHECK_INT(first[2], 55);
    uint32_t two_small[4] = {5, 50, 7, 1000};
    CHECK_INT(ctl_share_split_fit(100, 4, two_small, first, count), 0);
    CHECK_INT(count[0], 5);
    CHECK_INT(count[1], 44);
    CHECK_INT(count[2], 7);
    CHECK_INT(count[3], 44);
    CHECK_INT(ctl_share_split_fit(62, 4, two_small, first, count), 0);
    CHECK_INT(count[0], 5);
    CHECK_INT(count[1], 25);
    CHECK_INT(count[2], 7);
    CHECK_INT(count[3], 25);
    uint32_t full[2] = {136, 136};
    CHECK_INT(ctl_share_split_fit(272, 2, full, first, count), 0);
    CHECK_INT(ctl_share_split_fit(273, 2, full, first, count), -1);
    CHECK_INT(count[0] + count[1], 272);
    //  Differential: never above a capacity, sums to n whenever the
    //  capacities allow, and no share can take from a larger one and leave
    //  both more equal (max-min fair).
    uint32_t caps[6];
    for (uint32_t seed = 1; seed < 400; seed++) {
        size_t k = 1 + seed % 6;
        for (size_t i = 0; i < k; i++)
            caps[i] = (seed * 7 + (uint32_t)i * 13) % 23;
        uint32_t n = (seed * 11) % 80, total = 0;
        for (size_t i = 0; i < k; i++)
            total += caps[i];
        int rc = ctl_share_split_fit(n, k, caps, first, count);
        CHECK_INT(rc, n <= total ? 0 : -1);
        uint32_t sum = 0, next = 0;
        for (size_t i = 0; i < k; i++) {
            CHECK_TRUE(count[i] <= caps[i]);
            CHECK_INT(first[i], next);
            next += count[i];
            sum += count[i];
        }
        CHECK_INT(sum, n <= total ? n : total);
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                CHECK_TRUE(!(count[i] + 1 < count[j] && count[i] < caps[i]));
    }

    //  A share's life: ready, batches (one resent), done, complete.
    CHECK_NULL(ctl_share_new("a", 0, 0, 0, 0));
    ctl_share_t *share = ctl_share_new("agent-2", 25, 25, -3000, 800);
    CHECK_NOT_NULL(share);
    CHECK_STR(ctl_share_agent_id(share), "agent-2");
    CHECK_INT(ctl_share_first(share), 25);
    CHECK_INT(ctl_share_count(share), 25);
    CHECK_INT(ctl_share_offset_ns(share), -3000);
    ctl_share_set_clock(share, 4500, 700);
    CHECK_INT(ctl_share_offset_ns(share), 4500);
    CHECK_INT(ctl_share_bound_ns(share), 700);
    CHECK_INT(ctl_share_rtt_ns(share), 800);
    CHECK_TRUE(ctl_share_contains(share, 25));
    CHECK_TRUE(ctl_share_contains(share, 49));
    CHECK_TRUE(!ctl_share_contains(share, 24));
    CHECK_TRUE(!ctl_share_contains(share, 50));
    CHECK_TRUE(!ctl_share_ready(share));
    ctl_share_set_ready(share);
    CHECK_TRUE(ctl_share_ready(share));
    CHECK_TRUE(!ctl_share_batch_seen(share, 1));
    CHECK_INT(ctl_share_batch_stored(share, 1), 1);
    CHECK_INT(ctl_share_batch_stored(share, 1), 0);
    CHECK_INT(ctl_share_batch_stored(share, 0), -1);
    CHECK_INT(ctl_share_batch_stored(share, 26), -1);
    CHECK_TRUE(ctl_share_batch_seen(share, 1));
    CHECK_TRUE(!ctl_share_complete(share));
    CHECK_INT(ctl_share_set_done(share, 26, 2), -1);
    CHECK_INT(ctl_share_set_done(share, 25, 26), -1);
    CHECK_INT(ctl_share_set_done(share, 5, 0), -1);
    CHECK_INT(ctl_share_set_done(share, 25, 2), 0);
    CHECK_INT(ctl_share_done_results(share), 25);
    CHECK_TRUE(!ctl_share_complete(share)); //  batch 2 missing
    CHECK_INT(ctl_share_batch_stored(share, 2), 1);
    CHECK_TRUE(ctl_share_complete(share));
    CHECK_NULL(ctl_share_abandoned(share));
    ctl_share_abandon(share, "agent agent-2 disconnected");
    ctl_share_abandon(share, "second reason is ignored");
    CHECK_STR(ctl_share_abandoned(share), "agent agent-2 disconnected");
    ctl_share_destroy(&share);
    CHECK_NULL(share);
    ctl_share_destroy(&share);

    //  A share sent in no batch at all: Done{0, 0} completes it at once.
    share = ctl_share_new("agent-3", 0, 3, 0, 0);
    CHECK_INT(ctl_share_set_done(share, 0, 0), 0);
    CHECK_TRUE(ctl_share_complete(share));
    ctl_share_destroy(&share);

    //  The start rule: |release - instant| <= bound + tolerance, none late.
    char reason[256];
    share = ctl_share_new("agent-4", 0, 10, 0, 0);
    ctl_share_set_clock(share, 0, 300 * 1000); //  ±0.3 ms
    CHECK_TRUE(!ctl_share_released(share));
    CHECK_INT(ctl_share_set_released(share, 0, 5, 0, 0), -1);     //  no start
    CHECK_INT(ctl_share_set_released(share, 100, 99, 0, 0), -1);  //  ends before
    CHECK_INT(ctl_share_set_released(share, 100, 100, 6, 5), -1); //  11 of 10
    CHECK_INT(
        ctl_share_set_released(share, 1000000000 + 2300000, 1000000000 + 2400000, 10, 0),
        1);
    CHECK_INT(ctl_share_set_released(share, 7, 8, 0, 0), 0); //  a repeat: kept
    CHECK_INT(ctl_share_release_span_ns(share), 100000);
    CHECK_INT(ctl_share_start_error_ns(share, 1000000000), 2300000);
    //  2.3 ms late: inside 0.3 + 2 ms, outside 0.3 + 1.9 ms.
    CHECK_TRUE(!ctl_share_mis_started(share, 1000000000, 2000000, reason, sizeof reason));
    CHECK_TRUE(ctl_share_mis_started(share, 1000000000, 1900000, reason, sizeof reason));
    CHECK_STR(reason, "agent agent-4 released 2.300 ms after the instant, outside its "
                      "bound of 0.300 ms + 1.900 ms tolerance");
    //  Early counts as much as late.
    CHECK_TRUE(ctl_share_mis_started(share, 1000000000 + 5000000, 1000000, reason,
                                     sizeof reason));
    CHECK_STR(reason, "agent agent-4 released 2.700 ms before the instant, outside its "
                      "bound of 0.300 ms + 1.000 ms tolerance");
    ctl_share_destroy(&share);
    //  On time, but two requests were not armed at the instant.
    share = ctl_share_new("agent-5", 0, 10, 0, 0);
    CHECK_INT(ctl_share_set_released(share, 1000, 2000, 8, 2), 1);
    CHECK_INT(ctl_share_armed(share), 8);
    CHECK_INT(ctl_share_late(share), 2);
    CHECK_TRUE(ctl_share_mis_started(share, 1000, 2000000, reason, sizeof reason));
    CHECK_STR(reason, "agent agent-5: 2 of 10 requests were still connecting or writing "
                      "at the instant and went late");
    ctl_share_destroy(&share);
    if (verbose)
        printf("(share checks done) ");
}
