/*  fn_procage — how long this process has existed: the runtime's init
    duration, measured from the moment the execution environment created
    the process (fork), not from main().

    Lambda's init phase starts when the environment starts the runtime
    process; everything before main() (the exec, loading the image, being
    scheduled on a busy host) is init time the first request waits for,
    and is what stampede-lambda measures as the environment's init
    (spawn to first /next). A clock read at main() misses it.

    Linux keeps the process's creation time, but exposes it only in clock
    ticks (/proc/self/stat field 22, starttime, 10 ms at the usual 100 Hz),
    which is coarser than the init it should measure (2-15 ms). The
    scheduler's accounting is exact: /proc/self/schedstat gives the
    nanoseconds the task has run plus waited on a run queue since it was
    created, which is its age as long as it never slept — and a runtime's
    init does not sleep unless it blocks on I/O. Both are lower bounds of
    the true age (starttime is rounded down, so age > now - starttime - one
    tick); the estimate is the larger of the two, and never more than
    now - starttime.

    Thread model: no state; call from any thread (schedstat is that of the
    calling thread: call it from the main thread, which init runs on).
*/
#ifndef FN_PROCAGE_H
#define FN_PROCAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The process's age in nanoseconds (see above), or -1 when /proc is not
//  readable (then the caller measures from main()).
int64_t fn_procage_ns(void);

//  Field 22 (starttime, clock ticks since boot) of a /proc/PID/stat line.
//  The command name (field 2) may hold spaces and parentheses: fields
//  are counted after its last ')'. Returns 0, or -1 when the text does
//  not hold a well-formed field 22.
int fn_procage_parse_stat(const char *text, uint64_t *starttime_ticks);

//  The first two numbers of a /proc/PID/schedstat line (ns on the CPU,
//  ns waiting on a run queue), summed. Returns 0, or -1 when malformed.
int fn_procage_parse_schedstat(const char *text, uint64_t *runnable_ns);

//  The age estimate from CLOCK_BOOTTIME `boot_ns`, starttime in ticks of
//  `tick_hz`, and `runnable_ns` from schedstat (0 when unknown): the larger
//  of the two lower bounds, capped by now - starttime; without schedstat,
//  the middle of the tick the process started in. Never negative; -1 when
//  starttime lies after `boot_ns` or `tick_hz` is not positive.
int64_t fn_procage_estimate(int64_t boot_ns, uint64_t starttime_ticks, long tick_hz,
                            uint64_t runnable_ns);

void fn_procage_test(bool verbose);

#endif
