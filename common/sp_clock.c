/*  sp_clock — clock helpers; see sp_clock.h. */
#include "sp_clock.h"
#include "sp_check.h"

#include <errno.h>
#include <time.h>

static int64_t
s_read(clockid_t id)
{
    struct timespec ts;
    int rc = clock_gettime(id, &ts);
    assert(rc == 0);
    return (int64_t)ts.tv_sec * SP_NS_PER_S + ts.tv_nsec;
}

int64_t
sp_clock_wall_ns(void)
{
    return s_read(CLOCK_REALTIME);
}

int64_t
sp_clock_mono_ns(void)
{
    return s_read(CLOCK_MONOTONIC);
}

int
sp_clock_sleep_until(int64_t wall_ns)
{
    struct timespec ts = {.tv_sec = wall_ns / SP_NS_PER_S,
                          .tv_nsec = wall_ns % SP_NS_PER_S};
    for (;;) {
        int rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
        if (rc == 0)
            return 0;
        if (rc != EINTR)
            return -1;
    }
}

void
sp_clock_test(bool verbose)
{
    int64_t a = sp_clock_wall_ns();
    CHECK_INT(a > INT64_C(1600000000) * SP_NS_PER_S, 1);
    int64_t m0 = sp_clock_mono_ns();
    CHECK_INT(sp_clock_sleep_until(sp_clock_wall_ns() + 2 * SP_NS_PER_MS), 0);
    CHECK_INT(sp_clock_mono_ns() - m0 >= SP_NS_PER_MS, 1);
    //  An instant in the past returns at once.
    CHECK_INT(sp_clock_sleep_until(a - SP_NS_PER_S), 0);
}
