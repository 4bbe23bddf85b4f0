/*  sp_oom — the one place a process gives up when memory runs out.

    Policy: where a module cannot go on without an allocation it could not
    get (a timer, a small bookkeeping record, a libmicrohttpd response the
    caller must queue), it calls sp_oom() instead of asserting. sp_oom logs
    one line naming what could not be had and where, then aborts, so the
    failure is visible in every build type (assert would vanish under
    NDEBUG and hide the cause). Where a failure can be reported to a caller
    (an HTTP 500, a NACK, -1 up the stack), modules do that instead; sp_oom
    is only for the places with no honest way back. Any thread.
*/
#ifndef SP_OOM_H
#define SP_OOM_H

#include <stdbool.h>

//  Logs "out of memory: WHAT at FILE:LINE" to stderr and aborts.
_Noreturn void sp_oom_at(const char *what, const char *file, int line);

#define sp_oom(what) sp_oom_at((what), __FILE__, __LINE__)

//  Returns `pointer` unchanged, or calls sp_oom(what) when it is NULL:
//  `timer = SP_OOM_CHECK(emu_loop_timer_start(...), "deadline timer");`.
#define SP_OOM_CHECK(pointer, what) sp_oom_check_at((pointer), (what), __FILE__, __LINE__)
void *sp_oom_check_at(void *pointer, const char *what, const char *file, int line);

void sp_oom_test(bool verbose);

#endif
