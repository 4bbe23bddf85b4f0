/*  emu_loop — single-threaded epoll loop with timers, deferred calls and
    libmicrohttpd glue; see emu_loop.h. */
#include "emu_loop.h"
#include "sp_clock.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define S_EVENTS_MAX 256

typedef struct _s_watch_t s_watch_t;
struct _s_watch_t {
    int fd;                 //  the watched descriptor
    int set_fd;             //  the epoll instance it is in: the loop's or a pre-run set
    emu_loop_mhd_t *source; //  pre-run watch: the daemon it runs before; else NULL
    emu_loop_fd_fn *fn;     //  callback
    void *arg;
    bool removed;            //  unwatched; freed at the end of the iteration
    s_watch_t *next_garbage; //  garbage list link
};

struct _emu_timer_t {
    int64_t deadline_ns; //  CLOCK_MONOTONIC
    uint64_t seq;        //  ties: earlier timers first
    emu_loop_fn *fn;
    void *arg;
    size_t index; //  position in the heap
};

typedef struct {
    emu_loop_fn *fn;
    void *arg;
} s_call_t;

struct _emu_loop_mhd_t {
    struct MHD_Daemon *daemon; //  borrowed
    int epoll_fd;              //  the daemon's epoll fd (watched)
    emu_timer_t *timer;        //  MHD_get_timeout deadline or a kick
    bool running;              //  inside MHD_run
    bool kicked;               //  kicked while running: run again at once
    bool removed;              //  removed while running: free after
    int pre_fd;                //  epoll set of the pre-run watches; -1 until needed
    size_t pre_count;          //  live pre-run watches
};

struct _emu_loop_t {
    int epoll_fd;
    s_watch_t **watches; //  indexed by fd
    size_t watch_slots;  //  length of watches
    size_t watch_count;  //  live watches
    s_watch_t *garbage;  //  removed watches of this iteration
    emu_timer_t **heap;  //  min-heap on (deadline, seq)
    size_t heap_count;
    size_t heap_cap;
    uint64_t timer_seq; //  next timer sequence number
    s_call_t *calls;    //  deferred calls, FIFO
    size_t call_count;
    size_t call_cap;
    bool stopping; //  emu_loop_stop was called
};

emu_loop_t *
emu_loop_new(void)
{
    emu_loop_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epoll_fd < 0) {
        free(self);
        return NULL;
    }
    return self;
}

static void
s_free_garbage(emu_loop_t *self)
{
    while (self->garbage) {
        s_watch_t *next = self->garbage->next_garbage;
        free(self->garbage);
        self->garbage = next;
    }
}

void
emu_loop_destroy(emu_loop_t **self_p)
{
    assert(self_p);
    emu_loop_t *self = *self_p;
    if (!self)
        return;
    for (size_t fd = 0; fd < self->watch_slots; fd++)
        free(self->watches[fd]);
    free(self->watches);
    s_free_garbage(self);
    for (size_t i = 0; i < self->heap_count; i++)
        free(self->heap[i]);
    free(self->heap);
    free(self->calls);
    close(self->epoll_fd);
    free(self);
    *self_p = NULL;
}

//  Registers a watch of `fd` in the epoll set `set_fd` (the loop's, or
//  `source`'s pre-run set).
static int
s_watch_add(emu_loop_t *self, int set_fd, emu_loop_mhd_t *source, int fd, uint32_t events,
            emu_loop_fd_fn *fn, void *arg)
{
    assert(self && fd >= 0 && fn);
    if ((size_t)fd >= self->watch_slots) {
        size_t slots = self->watch_slots ? self->watch_slots : 64;
        while (slots <= (size_t)fd)
            slots *= 2;
        s_watch_t **grown = realloc(self->watches, slots * sizeof *grown);
        if (!grown)
            return -1;
        memset(grown + self->watch_slots, 0, (slots - self->watch_slots) * sizeof *grown);
        self->watches = grown;
        self->watch_slots = slots;
    }
    if (self->watches[fd])
        return -1;
    s_watch_t *watch = calloc(1, sizeof *watch);
    if (!watch)
        return -1;
    watch->fd = fd;
    watch->set_fd = set_fd;
    watch->source = source;
    watch->fn = fn;
    watch->arg = arg;
    struct epoll_event ev = {.events = events, .data.ptr = watch};
    if (epoll_ctl(set_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(watch);
        return -1;
    }
    self->watches[fd] = watch;
    self->watch_count++;
    if (source)
        source->pre_count++;
    return 0;
}

int
emu_loop_watch(emu_loop_t *self, int fd, uint32_t events, emu_loop_fd_fn *fn, void *arg)
{
    assert(self);
    return s_watch_add(self, self->epoll_fd, NULL, fd, events, fn, arg);
}

void
emu_loop_unwatch(emu_loop_t *self, int fd)
{
    assert(self);
    if (fd < 0 || (size_t)fd >= self->watch_slots || !self->watches[fd])
        return;
    s_watch_t *watch = self->watches[fd];
    epoll_ctl(watch->set_fd, EPOLL_CTL_DEL, fd, NULL);
    self->watches[fd] = NULL;
    self->watch_count--;
    if (watch->source)
        watch->source->pre_count--;
    watch->removed = true;
    watch->next_garbage = self->garbage;
    self->garbage = watch;
}

//  --- timer heap ---------------------------------------------------------

static bool
s_before(const emu_timer_t *a, const emu_timer_t *b)
{
    return a->deadline_ns < b->deadline_ns ||
           (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static void
s_heap_place(emu_loop_t *self, size_t index, emu_timer_t *timer)
{
    self->heap[index] = timer;
    timer->index = index;
}

static void
s_sift_up(emu_loop_t *self, size_t index)
{
    emu_timer_t *timer = self->heap[index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (!s_before(timer, self->heap[parent]))
            break;
        s_heap_place(self, index, self->heap[parent]);
        index = parent;
    }
    s_heap_place(self, index, timer);
}

static void
s_sift_down(emu_loop_t *self, size_t index)
{
    emu_timer_t *timer = self->heap[index];
    for (;;) {
        size_t child = 2 * index + 1;
        if (child >= self->heap_count)
            break;
        if (child + 1 < self->heap_count &&
            s_before(self->heap[child + 1], self->heap[child]))
            child++;
        if (!s_before(self->heap[child], timer))
            break;
        s_heap_place(self, index, self->heap[child]);
        index = child;
    }
    s_heap_place(self, index, timer);
}

static int
s_heap_push(emu_loop_t *self, emu_timer_t *timer)
{
    if (self->heap_count == self->heap_cap) {
        size_t cap = self->heap_cap ? self->heap_cap * 2 : 64;
        emu_timer_t **grown = realloc(self->heap, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->heap = grown;
        self->heap_cap = cap;
    }
    s_heap_place(self, self->heap_count++, timer);
    s_sift_up(self, timer->index);
    return 0;
}

static void
s_heap_remove(emu_loop_t *self, emu_timer_t *timer)
{
    size_t index = timer->index;
    assert(index < self->heap_count && self->heap[index] == timer);
    emu_timer_t *last = self->heap[--self->heap_count];
    if (last != timer) {
        s_heap_place(self, index, last);
        s_sift_down(self, index);
        s_sift_up(self, last->index);
    }
}

emu_timer_t *
emu_loop_timer_start(emu_loop_t *self, int64_t delay_ns, emu_loop_fn *fn, void *arg)
{
    assert(self && fn);
    emu_timer_t *timer = calloc(1, sizeof *timer);
    if (!timer)
        return NULL;
    timer->deadline_ns = sp_clock_mono_ns() + (delay_ns > 0 ? delay_ns : 0);
    timer->seq = self->timer_seq++;
    timer->fn = fn;
    timer->arg = arg;
    if (s_heap_push(self, timer)) {
        free(timer);
        return NULL;
    }
    return timer;
}

void
emu_loop_timer_cancel(emu_loop_t *self, emu_timer_t **timer_p)
{
    assert(self && timer_p);
    if (!*timer_p)
        return;
    s_heap_remove(self, *timer_p);
    free(*timer_p);
    *timer_p = NULL;
}

//  Fires the timers due at `now`; at most those present on entry, so a
//  timer re-armed from its own callback waits for the next iteration.
static void
s_fire_timers(emu_loop_t *self, int64_t now)
{
    size_t budget = self->heap_count;
    while (budget-- > 0 && self->heap_count > 0 && self->heap[0]->deadline_ns <= now) {
        emu_timer_t *timer = self->heap[0];
        s_heap_remove(self, timer);
        timer->fn(self, timer->arg);
        free(timer);
    }
}

//  --- deferred calls -----------------------------------------------------

int
emu_loop_defer(emu_loop_t *self, emu_loop_fn *fn, void *arg)
{
    assert(self && fn);
    if (self->call_count == self->call_cap) {
        size_t cap = self->call_cap ? self->call_cap * 2 : 16;
        s_call_t *grown = realloc(self->calls, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->calls = grown;
        self->call_cap = cap;
    }
    self->calls[self->call_count++] = (s_call_t){.fn = fn, .arg = arg};
    return 0;
}

static void
s_run_deferred(emu_loop_t *self)
{
    //  Calls queued while draining run in the same drain.
    for (size_t i = 0; i < self->call_count; i++) {
        s_call_t call = self->calls[i];
        call.fn(self, call.arg);
    }
    self->call_count = 0;
}

//  --- libmicrohttpd glue -------------------------------------------------

static void s_mhd_timer(emu_loop_t *loop, void *arg);

//  Re-arms the daemon's timer from MHD_get_timeout.
static void
s_mhd_schedule(emu_loop_t *self, emu_loop_mhd_t *source)
{
    emu_loop_timer_cancel(self, &source->timer);
    MHD_UNSIGNED_LONG_LONG timeout_ms = 0;
    if (MHD_get_timeout(source->daemon, &timeout_ms) == MHD_YES) {
        int64_t delay = (int64_t)timeout_ms * SP_NS_PER_MS;
        source->timer = emu_loop_timer_start(self, delay, s_mhd_timer, source);
        assert(source->timer);
    }
}

static unsigned
s_mhd_connections(emu_loop_mhd_t *source)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(source->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

//  Calls the daemon's pre-run watches whose descriptors became ready since
//  it last ran, without waiting: what the daemon is about to read is seen
//  first. At most one round per S_EVENTS_MAX live watches, so that fds
//  turning ready meanwhile cannot hold the daemon back.
static void
s_mhd_pre_run(emu_loop_t *self, emu_loop_mhd_t *source)
{
    struct epoll_event events[S_EVENTS_MAX];
    size_t rounds = source->pre_count / S_EVENTS_MAX + 1;
    while (source->pre_count > 0 && rounds-- > 0) {
        int count = epoll_wait(source->pre_fd, events, S_EVENTS_MAX, 0);
        for (int i = 0; i < count; i++) {
            s_watch_t *watch = events[i].data.ptr;
            if (!watch->removed)
                watch->fn(self, watch->fd, events[i].events, watch->arg);
        }
        if (count < S_EVENTS_MAX)
            break;
    }
}

//  Runs the daemon once, its ready pre-run watches first. It runs again
//  at once when it was kicked meanwhile (a resume from inside a handler) or
//  when connections closed: at its connection limit MHD takes the listening
//  socket out of its epoll set and puts it back only at the start of a
//  later MHD_run, which nothing else would trigger while the remaining
//  connections are quiet.
static void
s_mhd_run(emu_loop_t *self, emu_loop_mhd_t *source)
{
    unsigned before = s_mhd_connections(source);
    source->running = true;
    source->kicked = false;
    s_mhd_pre_run(self, source);
    if (!source->removed)
        MHD_run(source->daemon);
    source->running = false;
    if (source->removed) {
        free(source);
        return;
    }
    if (source->kicked || s_mhd_connections(source) < before) {
        source->kicked = false;
        emu_loop_timer_cancel(self, &source->timer);
        source->timer = emu_loop_timer_start(self, 0, s_mhd_timer, source);
        assert(source->timer);
        return;
    }
    s_mhd_schedule(self, source);
}

static void
s_mhd_timer(emu_loop_t *loop, void *arg)
{
    emu_loop_mhd_t *source = arg;
    source->timer = NULL;
    s_mhd_run(loop, source);
}

static void
s_mhd_ready(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    s_mhd_run(loop, arg);
}

emu_loop_mhd_t *
emu_loop_mhd_add(emu_loop_t *self, struct MHD_Daemon *daemon)
{
    assert(self && daemon);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info || info->epoll_fd < 0)
        return NULL;
    emu_loop_mhd_t *source = calloc(1, sizeof *source);
    if (!source)
        return NULL;
    source->daemon = daemon;
    source->epoll_fd = info->epoll_fd;
    source->pre_fd = -1;
    if (emu_loop_watch(self, source->epoll_fd, EPOLLIN, s_mhd_ready, source)) {
        free(source);
        return NULL;
    }
    s_mhd_schedule(self, source);
    return source;
}

void
emu_loop_mhd_kick(emu_loop_t *self, emu_loop_mhd_t *source)
{
    assert(self && source && !source->removed);
    if (source->running) {
        source->kicked = true; //  s_mhd_run re-arms when MHD_run returns
        return;
    }
    emu_loop_timer_cancel(self, &source->timer);
    source->timer = emu_loop_timer_start(self, 0, s_mhd_timer, source);
    assert(source->timer);
}

int
emu_loop_mhd_watch_prepare(emu_loop_t *self, emu_loop_mhd_t *source)
{
    assert(self && source && !source->removed);
    if (source->pre_fd < 0)
        source->pre_fd = epoll_create1(EPOLL_CLOEXEC);
    return source->pre_fd < 0 ? -1 : 0;
}

int
emu_loop_mhd_watch(emu_loop_t *self, emu_loop_mhd_t *source, int fd, uint32_t events,
                   emu_loop_fd_fn *fn, void *arg)
{
    if (emu_loop_mhd_watch_prepare(self, source))
        return -1;
    return s_watch_add(self, source->pre_fd, source, fd, events, fn, arg);
}

void
emu_loop_mhd_remove(emu_loop_t *self, emu_loop_mhd_t **source_p)
{
    assert(self && source_p);
    emu_loop_mhd_t *source = *source_p;
    if (!source)
        return;
    for (size_t fd = 0; source->pre_count > 0 && fd < self->watch_slots; fd++)
        if (self->watches[fd] && self->watches[fd]->source == source)
            emu_loop_unwatch(self, (int)fd);
    if (source->pre_fd >= 0)
        close(source->pre_fd);
    source->pre_fd = -1;
    emu_loop_unwatch(self, source->epoll_fd);
    emu_loop_timer_cancel(self, &source->timer);
    if (source->running)
        source->removed = true;
    else
        free(source);
    *source_p = NULL;
}

//  --- running ------------------------------------------------------------

static int
s_wait_ms(emu_loop_t *self)
{
    if (self->call_count > 0 || self->stopping)
        return 0;
    if (self->heap_count == 0)
        return -1;
    int64_t delay = self->heap[0]->deadline_ns - sp_clock_mono_ns();
    if (delay <= 0)
        return 0;
    int64_t ms = (delay + SP_NS_PER_MS - 1) / SP_NS_PER_MS;
    return ms > 60000 ? 60000 : (int)ms;
}

int
emu_loop_run(emu_loop_t *self)
{
    assert(self);
    struct epoll_event events[S_EVENTS_MAX];
    int result = 0;
    self->stopping = false;
    while (!self->stopping) {
        s_run_deferred(self);
        int count = epoll_wait(self->epoll_fd, events, S_EVENTS_MAX, s_wait_ms(self));
        if (count < 0 && errno != EINTR) {
            result = -1;
            break;
        }
        for (int i = 0; i < count; i++) {
            s_watch_t *watch = events[i].data.ptr;
            if (!watch->removed)
                watch->fn(self, watch->fd, events[i].events, watch->arg);
        }
        s_fire_timers(self, sp_clock_mono_ns());
        s_run_deferred(self);
        s_free_garbage(self);
    }
    s_run_deferred(self);
    s_free_garbage(self);
    return result;
}

void
emu_loop_stop(emu_loop_t *self)
{
    assert(self);
    self->stopping = true;
}

size_t
emu_loop_watch_count(emu_loop_t *self)
{
    assert(self);
    return self->watch_count;
}

size_t
emu_loop_timer_count(emu_loop_t *self)
{
    assert(self);
    return self->heap_count;
}
