/*  sp_log — the one rate-limited warning logger.

    Untrusted input (a bad message from the network, a malformed HTTP
    request) is logged, but a flood of it must not flood the log. Each call
    site that logs such input owns one sp_log_limit_t, a budget of
    `per_window` lines per `window_ns`: lines within the budget go to
    zsys_warning; the rest are counted, and when the next window opens one
    line "<what> suppressed=K" says how many were dropped.

    The budget is a plain value embedded in the owning object (no
    allocation, nothing to destroy); it is used by that object's thread
    only. Windows run on CLOCK_MONOTONIC (sp_clock_mono_ns).
*/
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stdbool.h>
#include <stdint.h>

//  One call site's budget. Set up with sp_log_limit_init; fields are
//  private to sp_log.
typedef struct {
    const char *what;     //  subject of the suppressed line (static text)
    unsigned per_window;  //  lines allowed per window
    int64_t window_ns;    //  window length
    int64_t window_start; //  mono ns the current window opened; 0 = none yet
    unsigned logged;      //  lines logged in the current window
    unsigned suppressed;  //  lines dropped in the current window
    unsigned reported;    //  K of the last "suppressed=K" line
} sp_log_limit_t;

//  Sets up `self`: `per_window` lines per `window_ns`; `what` (static
//  text, borrowed for the budget's life) starts the suppressed line, e.g.
//  "agent: rejected messages not logged".
void sp_log_limit_init(sp_log_limit_t *self, const char *what, unsigned per_window,
                       int64_t window_ns);

//  Spends one line of the budget at mono instant `now_ns`. Opens a new
//  window when the current one has run out, first logging the suppressed
//  line when lines were dropped in it. Returns true when the caller may
//  log its line, false when the line is counted as suppressed.
bool sp_log_limit_take(sp_log_limit_t *self, int64_t now_ns);

//  Logs the formatted line through zsys_warning when the budget allows
//  (sp_log_limit_take at the current mono time). Lines are cut at 1 KiB.
void sp_log_warning(sp_log_limit_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

//  K of the most recent "suppressed=K" line (0 before any).
unsigned sp_log_limit_reported(const sp_log_limit_t *self);

void sp_log_test(bool verbose);

#endif
