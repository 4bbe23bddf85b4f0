/*  emu_loop — the emulator's single event loop.

    Owns one epoll instance, the file descriptor watches registered on it,
    a heap of one-shot timers (CLOCK_MONOTONIC), a queue of deferred calls
    and the glue that drives libmicrohttpd daemons in external epoll mode
    (each daemon's epoll fd is watched; MHD_run is called when it is ready,
    when MHD_get_timeout says so, or when kicked after a resume). It does
    not own the daemons or the watched descriptors.

    A daemon may have pre-run watches (emu_loop_mhd_watch), typically on
    its connections' sockets: they live in an epoll set of that daemon's
    own, which the loop polls without waiting right before every run of
    the daemon - from a ready event, a timer, a kick or a re-run alike -
    calling the ready ones first. So a pre-run callback sees what arrived
    on a socket (MSG_PEEK) before the daemon reads it. Ordering the
    callbacks of one epoll batch would not be enough: the daemon also runs
    from timers and kicks, and it reads every connection it has marked
    ready, not only those of the batch.

    Thread model: one thread. Every call, and every callback, happens on
    the thread running emu_loop_run; no locks anywhere.

    Invariants: a callback may add or remove any registration, its own
    included; a removed watch or cancelled timer is never called again,
    even with events already pending in the current batch (its memory is
    released at the end of the iteration). Deferred calls run after the
    current batch of events and timers, in the order they were queued, and
    all of them before emu_loop_run returns. Pre-run watches are called
    only right before their daemon runs, never from the loop's own epoll
    batch, and every one ready then is called before MHD_run; removing the
    daemon removes them.

    Expected workload: thousands of watched descriptors and timers (one
    Runtime API daemon, one pidfd, one output pipe and up to two timers per
    execution environment), a few MHD daemons ready per wake-up.
*/
#ifndef EMU_LOOP_H
#define EMU_LOOP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _emu_loop_t emu_loop_t;
typedef struct _emu_timer_t emu_timer_t;
typedef struct _emu_loop_mhd_t emu_loop_mhd_t;

//  Called with the epoll events (EPOLLIN, EPOLLHUP...) of a watched fd.
typedef void(emu_loop_fd_fn)(emu_loop_t *loop, int fd, uint32_t events, void *arg);
//  Called once when a timer expires, or for a deferred call.
typedef void(emu_loop_fn)(emu_loop_t *loop, void *arg);

//  Creates a loop. NULL when epoll or memory fails.
emu_loop_t *emu_loop_new(void);

//  Frees the loop and whatever registrations remain (watched fds are not
//  closed; pending deferred calls are dropped). Nulls *self_p.
void emu_loop_destroy(emu_loop_t **self_p);

//  Watches `fd` for `events` (EPOLLIN, EPOLLOUT; level-triggered). One
//  watch per fd. Returns 0, or -1 (fd already watched, epoll failure).
int emu_loop_watch(emu_loop_t *self, int fd, uint32_t events, emu_loop_fd_fn *fn,
                   void *arg);

//  Stops watching `fd`, a plain or a pre-run watch (call it before closing
//  the fd). No-op if unwatched.
void emu_loop_unwatch(emu_loop_t *self, int fd);

//  Starts a one-shot timer firing `delay_ns` from now. The timer belongs
//  to the loop: it is freed after its callback returns, so the callback
//  must forget the pointer. NULL when memory runs out.
emu_timer_t *emu_loop_timer_start(emu_loop_t *self, int64_t delay_ns, emu_loop_fn *fn,
                                  void *arg);

//  Cancels a pending timer and nulls *timer_p. Safe on a NULL *timer_p.
void emu_loop_timer_cancel(emu_loop_t *self, emu_timer_t **timer_p);

//  Queues `fn(arg)` to run after the current batch of events. Used to
//  destroy objects whose own callbacks are still on the stack. Returns 0,
//  or -1 when memory runs out.
int emu_loop_defer(emu_loop_t *self, emu_loop_fn *fn, void *arg);

//  Drives `daemon` (started with MHD_USE_EPOLL and no internal thread)
//  from this loop. Returns a handle, or NULL on failure.
emu_loop_mhd_t *emu_loop_mhd_add(emu_loop_t *self, struct MHD_Daemon *daemon);

//  Watches `fd` for `events` (EPOLLIN, EPOLLET...) as a pre-run watch of
//  the daemon (see the header): `fn` is called right before a run of the
//  daemon whenever `fd` became ready since, and at no other time. One
//  watch per fd across the loop; removed by emu_loop_unwatch (before `fd`
//  is closed) or with the daemon. Returns 0, or -1 (fd already watched,
//  epoll failure).
int emu_loop_mhd_watch(emu_loop_t *self, emu_loop_mhd_t *source, int fd, uint32_t events,
                       emu_loop_fd_fn *fn, void *arg);

//  Opens the daemon's pre-run set now (one epoll descriptor, else opened
//  by the first emu_loop_mhd_watch), so that the descriptors the loop
//  holds do not change at the daemon's first connection. Returns 0, or -1
//  when epoll fails.
int emu_loop_mhd_watch_prepare(emu_loop_t *self, emu_loop_mhd_t *source);

//  Makes the loop run the daemon before it next waits; call it after
//  MHD_resume_connection.
void emu_loop_mhd_kick(emu_loop_t *self, emu_loop_mhd_t *source);

//  Stops driving the daemon (before MHD_stop_daemon), removes its pre-run
//  watches and nulls *source_p. May be called from the daemon's own
//  callbacks.
void emu_loop_mhd_remove(emu_loop_t *self, emu_loop_mhd_t **source_p);

//  Runs until emu_loop_stop. Returns 0, or -1 when epoll fails.
int emu_loop_run(emu_loop_t *self);

//  Makes emu_loop_run return after the current iteration.
void emu_loop_stop(emu_loop_t *self);

//  Live registrations (watches: plain and pre-run), for tests and
//  statistics.
size_t emu_loop_watch_count(emu_loop_t *self);
size_t emu_loop_timer_count(emu_loop_t *self);

void emu_loop_test(bool verbose);

#endif
