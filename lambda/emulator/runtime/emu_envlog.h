/*  emu_envlog — what an execution environment's runtime writes, and the
    invocation's log as CloudWatch shows it for a custom runtime.

    Owns the read end of the runtime's stdout+stderr pipe (watched in the
    emulator loop), the partial output line, the output not yet in the
    invocation's log, the line counters and the token bucket that limits
    output forwarded to our own log. Borrows the invocation it writes to
    between attach and detach.

    Output: at most EMU_ENVLOG_READ_MAX bytes are read per loop wake-up (a
    flooding runtime blocks on its own pipe while everything else is
    served); lines are cut at EMU_ENVLOG_LINE_MAX (CR becomes a space); at
    most EMU_ENVLOG_RATE lines a second (bursts of EMU_ENVLOG_BURST) go to
    our log, the rest are counted and the count logged; the attached
    invocation's log keeps its tail (EMU_INVOCATION_LOG_MAX).

    The invocation's log; numbers are "%.2f" milliseconds, Billed Duration
    is rounded up to 1 ms and includes a shown Init Duration (custom
    runtimes are billed for init), memory is MB:

      START RequestId: <id> Version: <version>
      <every line the runtime writes while it holds the invocation>
      END RequestId: <id>
      REPORT RequestId: <id>\tDuration: 1.23 ms\tBilled Duration: 2 ms\t
        Memory Size: 128 MB\tMax Memory Used: 9 MB\t[Init Duration: 4.56 ms\t]
        [Status: timeout | Status: error\tError Type: <type>]\n

    A timeout adds "<2026-11-26T17:40:01.123Z> <id> Task timed out after
    3.00 seconds" before END; a failed init writes, before START,
    "INIT_REPORT Init Duration: 1.23 ms\tPhase: init\tStatus: error\t
    Error Type: <type>" (Status: timeout past the init limit).

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_ENVLOG_H
#define EMU_ENVLOG_H

#include "emu_invocation.h"
#include "emu_loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Longest output line forwarded; the rest of a longer line is dropped.
#define EMU_ENVLOG_LINE_MAX 4096
//  Output bytes read from a runtime per loop wake-up.
#define EMU_ENVLOG_READ_MAX 65536
//  Output lines a second, and in a burst, forwarded to our log.
#define EMU_ENVLOG_RATE 100
#define EMU_ENVLOG_BURST 200

typedef struct _emu_envlog_t emu_envlog_t;

//  A token bucket: what may be logged now, and what was not. Plain data,
//  for any module of the runtime folder that rate-limits a log.
typedef struct {
    int64_t refill_ns; //  CLOCK_MONOTONIC of the last whole token earned
    unsigned tokens;   //  tokens left
    uint64_t dropped;  //  refused since the last report
} emu_envlog_limit_t;

//  Fills the bucket with `burst` tokens at `now` (CLOCK_MONOTONIC).
void emu_envlog_limit_init(emu_envlog_limit_t *limit, unsigned burst, int64_t now);

//  Takes a token if there is one (earned at `rate` a second, at most
//  `burst` kept) and returns true; otherwise counts the refusal.
bool emu_envlog_limit_take(emu_envlog_limit_t *limit, unsigned rate, unsigned burst,
                           int64_t now);

//  One REPORT line's figures.
typedef struct {
    const char *status;     //  NULL (answered), "timeout" or "error"
    const char *error_type; //  with a status, or NULL
    int64_t duration_ns;    //  Duration
    int64_t init_ns;        //  Init Duration, shown and billed when > 0
    unsigned memory_mb;     //  Memory Size
    unsigned max_memory_mb; //  Max Memory Used
} emu_envlog_report_t;

//  A log for the environment `name`, START lines naming `version` when
//  the invocation has none. Both strings are borrowed for its life. NULL
//  when memory runs out.
emu_envlog_t *emu_envlog_new(emu_loop_t *loop, const char *name, const char *version);

//  Stops watching and closes the output pipe, logs the count of lines
//  over the rate limit. Safe on NULL; nulls *self_p.
void emu_envlog_destroy(emu_envlog_t **self_p);

//  Takes ownership of `fd` (the non-blocking read end of the runtime's
//  output) and watches it. Returns 0, or -1 (fd closed) when it cannot be
//  watched.
int emu_envlog_watch(emu_envlog_t *self, int fd);

//  Reads what the runtime already wrote (EMU_ENVLOG_READ_MAX bytes at
//  most), so that its lines come before ours. At end of file, closes the
//  pipe.
void emu_envlog_drain(emu_envlog_t *self);

//  Writes to `invocation`'s log (borrowed until detach) from now on;
//  output staged before is dropped.
void emu_envlog_attach(emu_envlog_t *self, emu_invocation_t *invocation);

//  Stops writing to the attached invocation (call before handing it back).
void emu_envlog_detach(emu_envlog_t *self);

//  The START line, once per attached invocation.
void emu_envlog_start(emu_envlog_t *self);

//  Appends one formatted line (or lines) to the attached invocation's
//  log, after the output staged so far; at most 511 bytes.
void emu_envlog_printf(emu_envlog_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

//  The "<time stamp> <id> Task timed out after N.NN seconds" line, after
//  what the runtime wrote.
void emu_envlog_timed_out(emu_envlog_t *self, double seconds);

//  INIT_REPORT for a failed init that began at `spawned_ns`
//  (CLOCK_MONOTONIC), after what the runtime wrote; only before START.
void emu_envlog_init_failed(emu_envlog_t *self, int64_t spawned_ns, const char *status,
                            const char *error_type);

//  END and REPORT of the attached invocation (START first if missing).
void emu_envlog_end(emu_envlog_t *self, const emu_envlog_report_t *report);

//  Logs, once, how many output lines went over the rate limit.
void emu_envlog_report_dropped(emu_envlog_t *self);

//  Output lines read so far, and those not forwarded to our log.
uint64_t emu_envlog_lines(emu_envlog_t *self);
uint64_t emu_envlog_lines_dropped(emu_envlog_t *self);

void emu_envlog_test(bool verbose);

#endif
