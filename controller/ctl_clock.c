/*  ctl_clock — clock offset and rtt estimate; see ctl_clock.h.

    The samples live in a ring of CTL_CLOCK_SAMPLES; the estimate is
    recomputed on each accepted sample, so the getters are plain reads.
*/
#include "ctl_clock.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <stdlib.h>

typedef struct {
    int64_t offset_ns;
    int64_t rtt_ns;
} s_sample_t;

struct _ctl_clock_t {
    s_sample_t ring[CTL_CLOCK_SAMPLES]; //  the last accepted samples
    size_t count;                       //  samples in ring (<= CTL_CLOCK_SAMPLES)
    size_t next;                        //  slot the next sample overwrites
    int64_t offset_ns;                  //  estimate: offset of the min-rtt sample
    int64_t rtt_ns;                     //  estimate: that sample's rtt
};

ctl_clock_t *
ctl_clock_new(void)
{
    return calloc(1, sizeof(ctl_clock_t));
}

void
ctl_clock_destroy(ctl_clock_t **self_p)
{
    assert(self_p);
    free(*self_p);
    *self_p = NULL;
}

int
ctl_clock_sample(ctl_clock_t *self, int64_t t1, int64_t t2, int64_t t3, int64_t t4)
{
    assert(self);
    if (t1 <= 0 || t2 <= 0 || t3 <= 0 || t4 < t1 || t4 - t1 > CTL_CLOCK_MAX_RTT_NS ||
        t3 < t2)
        return -1;
    //  Bound each difference before adding, so the sum cannot overflow.
    int64_t forward = t2 - t1;
    int64_t back = t3 - t4;
    if (forward > CTL_CLOCK_MAX_OFFSET_NS || forward < -CTL_CLOCK_MAX_OFFSET_NS ||
        back > CTL_CLOCK_MAX_OFFSET_NS || back < -CTL_CLOCK_MAX_OFFSET_NS)
        return -1;
    int64_t agent_busy = t3 - t2;
    if (agent_busy > CTL_CLOCK_MAX_RTT_NS)
        return -1;
    int64_t rtt = (t4 - t1) - agent_busy;
    if (rtt < 0)
        return -1;
    self->ring[self->next] =
        (s_sample_t){.offset_ns = (forward + back) / 2, .rtt_ns = rtt};
    self->next = (self->next + 1) % CTL_CLOCK_SAMPLES;
    if (self->count < CTL_CLOCK_SAMPLES)
        self->count++;
    size_t best = 0;
    for (size_t i = 1; i < self->count; i++)
        if (self->ring[i].rtt_ns < self->ring[best].rtt_ns)
            best = i;
    self->offset_ns = self->ring[best].offset_ns;
    self->rtt_ns = self->ring[best].rtt_ns;
    return 0;
}

size_t
ctl_clock_samples(ctl_clock_t *self)
{
    assert(self);
    return self->count;
}

int64_t
ctl_clock_offset_ns(ctl_clock_t *self)
{
    assert(self);
    return self->offset_ns;
}

int64_t
ctl_clock_rtt_ns(ctl_clock_t *self)
{
    assert(self);
    return self->rtt_ns;
}

int64_t
ctl_clock_error_ns(ctl_clock_t *self)
{
    assert(self);
    return self->rtt_ns / 2;
}

void
ctl_clock_test(bool verbose)
{
    const int64_t base = INT64_C(1700000000) * INT64_C(1000000000);
    ctl_clock_t *clock = ctl_clock_new();
    CHECK_NOT_NULL(clock);
    CHECK_INT(ctl_clock_samples(clock), 0);
    CHECK_INT(ctl_clock_offset_ns(clock), 0);
    CHECK_INT(ctl_clock_rtt_ns(clock), 0);
    CHECK_INT(ctl_clock_error_ns(clock), 0);

    //  Agent 5 ms ahead, 1 ms each way, 100 us inside the agent:
    //  t1 = 0, t2 = 0 + 1 ms + 5 ms, t3 = t2 + 0.1 ms, t4 = 2.1 ms.
    int64_t t1 = base, t2 = base + 6000000, t3 = base + 6100000, t4 = base + 2100000;
    CHECK_INT(ctl_clock_sample(clock, t1, t2, t3, t4), 0);
    CHECK_INT(ctl_clock_offset_ns(clock), 5000000);
    CHECK_INT(ctl_clock_rtt_ns(clock), 2000000);
    CHECK_INT(ctl_clock_error_ns(clock), 1000000);

    //  A slower exchange (3 ms out, 1 ms back) does not replace it...
    t1 = base + SP_NS_PER_S;
    CHECK_INT(ctl_clock_sample(clock, t1, t1 + 8000000, t1 + 8000000, t1 + 4000000), 0);
    CHECK_INT(ctl_clock_samples(clock), 2);
    CHECK_INT(ctl_clock_offset_ns(clock), 5000000);
    CHECK_INT(ctl_clock_rtt_ns(clock), 2000000);
    //  ...a faster one does: agent 4 ms behind, 200 us each way.
    t1 = base + 2 * SP_NS_PER_S;
    CHECK_INT(ctl_clock_sample(clock, t1, t1 - 3800000, t1 - 3800000, t1 + 400000), 0);
    CHECK_INT(ctl_clock_offset_ns(clock), -4000000);
    CHECK_INT(ctl_clock_rtt_ns(clock), 400000);
    CHECK_INT(ctl_clock_error_ns(clock), 200000);

    //  The min-rtt sample ages out after 8 newer ones.
    for (int i = 0; i < CTL_CLOCK_SAMPLES; i++) {
        t1 = base + (3 + i) * SP_NS_PER_S;
        //  offset +1 ms, rtt 1 ms + i us
        int64_t half = 500000 + i * 500;
        CHECK_INT(ctl_clock_sample(clock, t1, t1 + half + 1000000, t1 + half + 1000000,
                                   t1 + 2 * half),
                  0);
    }
    CHECK_INT(ctl_clock_samples(clock), CTL_CLOCK_SAMPLES);
    CHECK_INT(ctl_clock_offset_ns(clock), 1000000);
    CHECK_INT(ctl_clock_rtt_ns(clock), 1000000);

    //  Refused samples leave the estimate alone.
    t1 = base + 20 * SP_NS_PER_S;
    CHECK_INT(ctl_clock_sample(clock, t1, t1, t1, t1 - 1), -1);                //  t4 < t1
    CHECK_INT(ctl_clock_sample(clock, t1, t1 + 5, t1 + 4, t1 + 10), -1);       //  t3 < t2
    CHECK_INT(ctl_clock_sample(clock, t1, t1, t1 + 100, t1 + 50), -1);         //  rtt < 0
    CHECK_INT(ctl_clock_sample(clock, t1, t1, t1, t1 + 11 * SP_NS_PER_S), -1); //  stale
    CHECK_INT(ctl_clock_sample(clock, t1, INT64_MAX, INT64_MAX, t1 + 10), -1); //  absurd
    CHECK_INT(ctl_clock_sample(clock, 0, 1, 1, 10), -1);
    CHECK_INT(ctl_clock_samples(clock), CTL_CLOCK_SAMPLES);
    CHECK_INT(ctl_clock_offset_ns(clock), 1000000);

    ctl_clock_destroy(&clock);
    CHECK_NULL(clock);
    ctl_clock_destroy(&clock);
    if (verbose)
        printf("(clock checks done) ");
}
