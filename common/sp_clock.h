/*  sp_clock — the clocks every stampede process reads.

    Wall-clock instants that cross process or host boundaries (start
    instants, emulator receive times, request timings) are CLOCK_REALTIME
    nanoseconds since the Unix epoch in an int64_t. Durations measured
    inside one process use CLOCK_MONOTONIC. Thread-safe: no state.
*/
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define SP_NS_PER_MS INT64_C(1000000)
#define SP_NS_PER_S INT64_C(1000000000)

//  CLOCK_REALTIME now, in nanoseconds since the epoch.
int64_t sp_clock_wall_ns(void);

//  CLOCK_MONOTONIC now, in nanoseconds.
int64_t sp_clock_mono_ns(void);

//  Sleeps until the CLOCK_REALTIME instant `wall_ns`; returns at once when
//  it has passed. Restarts after signals. Returns 0, or -1 on a clock error.
int sp_clock_sleep_until(int64_t wall_ns);

void sp_clock_test(bool verbose);

#endif
