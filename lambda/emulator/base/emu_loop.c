/*  emu_loop — single-threaded epoll loop with timers, deferred calls and
    libmicrohttpd glue; see emu_loop.h. */
#include "emu_loop.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define S_EVENTS_MAX 256

typedef struct _s_watch_t s_watch_t;
struct _s_watch_t {
    int fd;             //  the watched descriptor
    emu_loop_fd_fn *fn; //  callback
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

int
emu_loop_watch(emu_loop_t *self, int fd, uint32_t events, emu_loop_fd_fn *fn, void *arg)
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
    watch->fn = fn;
    watch->arg = arg;
    struct epoll_event ev = {.events = events, .data.ptr = watch};
    if (epoll_ctl(self->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(watch);
        return -1;
    }
    self->watches[fd] = watch;
    self->watch_count++;
    return 0;
}

void
emu_loop_unwatch(emu_loop_t *self, int fd)
{
    assert(self);
    if (fd < 0 || (size_t)fd >= self->watch_slots || !self->watches[fd])
        return;
    s_watch_t *watch = self->watches[fd];
    epoll_ctl(self->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    self->watches[fd] = NULL;
    self->watch_count--;
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

//  Runs the daemon once. It runs again at once when it was kicked meanwhile
//  (a resume from inside a handler) or when connections closed: at its
//  connection limit MHD takes the listening socket out of its epoll set and
//  puts it back only at the start of a later MHD_run, which nothing else
//  would trigger while the remaining connections are quiet.
static void
s_mhd_run(emu_loop_t *self, emu_loop_mhd_t *source)
{
    unsigned before = s_mhd_connections(source);
    source->running = true;
    source->kicked = false;
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

void
emu_loop_mhd_remove(emu_loop_t *self, emu_loop_mhd_t **source_p)
{
    assert(self && source_p);
    emu_loop_mhd_t *source = *source_p;
    if (!source)
        return;
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

//  --- selftest -----------------------------------------------------------

typedef struct {
    emu_loop_t *loop;
    int order[16]; //  callback ids in firing order
    int fired;
    emu_timer_t *victim; //  cancelled by another callback
    int efd;             //  eventfd watched in the test
    int reads;
    uint16_t port;                 //  MHD test daemon
    struct MHD_Connection *parked; //  suspended connection
    emu_loop_mhd_t *source;
    char reply[256];  //  what the client thread read
    char second[256]; //  what the second client read (connection limit test)
} s_test_t;

typedef struct {
    s_test_t *test;
    int id;
} s_tick_t;

static void
s_test_tick(emu_loop_t *loop, void *arg)
{
    s_tick_t *tick = arg;
    tick->test->order[tick->test->fired++] = tick->id;
}

static void
s_test_cancel_victim(emu_loop_t *loop, void *arg)
{
    s_test_t *test = arg;
    test->order[test->fired++] = 99;
    emu_loop_timer_cancel(loop, &test->victim);
}

static void
s_test_stop(emu_loop_t *loop, void *arg)
{
    emu_loop_stop(loop);
}

static void
s_test_readable(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    s_test_t *test = arg;
    uint64_t value = 0;
    CHECK_INT(read(fd, &value, sizeof value), sizeof value);
    test->reads++;
    //  Removing our own watch from inside the callback is allowed.
    emu_loop_unwatch(loop, fd);
    emu_loop_stop(loop);
}

static void
s_test_defer_chain(emu_loop_t *loop, void *arg)
{
    s_test_t *test = arg;
    int id = 51 + test->fired;
    test->order[test->fired++] = id;
    if (test->fired < 3)
        CHECK_INT(emu_loop_defer(loop, s_test_defer_chain, test), 0);
}

//  MHD handler: suspends the request, a timer resumes it 20 ms later.
static void
s_test_resume(emu_loop_t *loop, void *arg)
{
    s_test_t *test = arg;
    MHD_resume_connection(test->parked);
    emu_loop_mhd_kick(loop, test->source);
}

static enum MHD_Result
s_test_handler(void *cls, struct MHD_Connection *connection, const char *url,
               const char *method, const char *version, const char *upload_data,
               size_t *upload_data_size, void **req_cls)
{
    s_test_t *test = cls;
    if (!*req_cls) {
        *req_cls = test;
        return MHD_YES;
    }
    if (!test->parked) {
        test->parked = connection;
        MHD_suspend_connection(connection);
        CHECK_NOT_NULL(
            emu_loop_timer_start(test->loop, 20 * SP_NS_PER_MS, s_test_resume, test));
        return MHD_YES;
    }
    struct MHD_Response *response =
        MHD_create_response_from_buffer(5, (void *)"hello", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return rc;
}

static void *
s_test_client(void *arg)
{
    s_test_t *test = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(test->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    const char *request = "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK_INT(write(fd, request, strlen(request)), strlen(request));
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, test->reply + len, sizeof test->reply - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    test->reply[len] = '\0';
    close(fd);
    uint64_t one = 1;
    CHECK_INT(write(test->efd, &one, sizeof one), sizeof one);
    return NULL;
}

//  Reads what `fd` sends until it closes or 3 s pass, into `out`.
static void
s_test_read_all(int fd, char *out, size_t size)
{
    struct timeval limit = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, out + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
}

//  Two clients against a daemon limited to one connection: the second
//  waits in the backlog until the first is closed.
static void *
s_test_client_pair(void *arg)
{
    s_test_t *test = arg;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(test->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char *request = "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int first = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_INT(connect(first, (struct sockaddr *)&addr, sizeof addr), 0);
    int second = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_INT(connect(second, (struct sockaddr *)&addr, sizeof addr), 0);
    CHECK_INT(write(first, request, strlen(request)), strlen(request));
    CHECK_INT(write(second, request, strlen(request)), strlen(request));
    s_test_read_all(first, test->reply, sizeof test->reply);
    close(first);
    s_test_read_all(second, test->second, sizeof test->second);
    close(second);
    uint64_t one = 1;
    CHECK_INT(write(test->efd, &one, sizeof one), sizeof one);
    return NULL;
}

void
emu_loop_test(bool verbose)
{
    s_test_t test = {.fired = 0};
    emu_loop_t *loop = emu_loop_new();
    CHECK_NOT_NULL(loop);
    test.loop = loop;

    //  Timers fire in deadline order, ties in start order; a cancelled
    //  timer never fires, even when cancelled by a timer due at the same
    //  instant. The delays are 100 ms apart so that the time it takes to
    //  start the timers (long under the sanitizers) cannot reorder them.
    s_tick_t t1 = {&test, 1}, t2 = {&test, 2}, t3 = {&test, 3}, t4 = {&test, 4};
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 300 * SP_NS_PER_MS, s_test_tick, &t3));
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 100 * SP_NS_PER_MS, s_test_tick, &t1));
    CHECK_NOT_NULL(
        emu_loop_timer_start(loop, 200 * SP_NS_PER_MS, s_test_cancel_victim, &test));
    test.victim = emu_loop_timer_start(loop, 200 * SP_NS_PER_MS, s_test_tick, &t2);
    emu_timer_t *cancelled = emu_loop_timer_start(loop, 1, s_test_tick, &t4);
    CHECK_INT(emu_loop_timer_count(loop), 5);
    emu_loop_timer_cancel(loop, &cancelled);
    CHECK_NULL(cancelled);
    emu_loop_timer_cancel(loop, &cancelled);
    CHECK_INT(emu_loop_timer_count(loop), 4);
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 400 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(loop), 0);
    CHECK_INT(test.fired, 3);
    CHECK_INT(test.order[0], 1);
    CHECK_INT(test.order[1], 99);
    CHECK_INT(test.order[2], 3);
    CHECK_NULL(test.victim);
    CHECK_INT(emu_loop_timer_count(loop), 0);

    //  Deferred calls run in order, chained ones in the same drain, all
    //  before run returns.
    test.fired = 0;
    CHECK_INT(emu_loop_defer(loop, s_test_defer_chain, &test), 0);
    CHECK_INT(emu_loop_defer(loop, s_test_stop, NULL), 0);
    CHECK_INT(emu_loop_run(loop), 0);
    CHECK_INT(test.fired, 3);
    CHECK_INT(test.order[0], 51);
    CHECK_INT(test.order[1], 52);
    CHECK_INT(test.order[2], 53);

    //  Watches: readiness calls back; one watch per fd.
    test.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    CHECK_TRUE(test.efd >= 0);
    CHECK_INT(emu_loop_watch(loop, test.efd, EPOLLIN, s_test_readable, &test), 0);
    CHECK_INT(emu_loop_watch(loop, test.efd, EPOLLIN, s_test_readable, &test), -1);
    CHECK_INT(emu_loop_watch_count(loop), 1);
    uint64_t one = 1;
    CHECK_INT(write(test.efd, &one, sizeof one), sizeof one);
    CHECK_INT(emu_loop_run(loop), 0);
    CHECK_INT(test.reads, 1);
    CHECK_INT(emu_loop_watch_count(loop), 0);
    emu_loop_unwatch(loop, test.efd); //  no-op when unwatched
    emu_loop_unwatch(loop, 100000);

    //  An MHD daemon in external epoll mode, with suspend and resume.
    struct sockaddr_in bind_addr = {.sin_family = AF_INET, .sin_port = 0};
    bind_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, s_test_handler, &test,
        MHD_OPTION_SOCK_ADDR, &bind_addr, MHD_OPTION_END);
    CHECK_NOT_NULL(daemon);
    test.port = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    test.source = emu_loop_mhd_add(loop, daemon);
    CHECK_NOT_NULL(test.source);
    CHECK_INT(emu_loop_watch(loop, test.efd, EPOLLIN, s_test_readable, &test), 0);
    pthread_t client;
    CHECK_INT(pthread_create(&client, NULL, s_test_client, &test), 0);
    CHECK_INT(emu_loop_run(loop), 0);
    pthread_join(client, NULL);
    CHECK_TRUE(strncmp(test.reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK_TRUE(strstr(test.reply, "\r\n\r\nhello") != NULL);
    CHECK_NOT_NULL(test.parked);
    emu_loop_mhd_remove(loop, &test.source);
    CHECK_NULL(test.source);
    emu_loop_mhd_remove(loop, &test.source);
    MHD_stop_daemon(daemon);

    //  At its connection limit MHD stops accepting; once the connection it
    //  holds is closed, the next one in the backlog is served without any
    //  other event arriving.
    memset(test.reply, 0, sizeof test.reply);
    daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
                              s_test_handler, &test, MHD_OPTION_SOCK_ADDR, &bind_addr,
                              MHD_OPTION_CONNECTION_LIMIT, 1u, MHD_OPTION_END);
    CHECK_NOT_NULL(daemon);
    test.port = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    test.source = emu_loop_mhd_add(loop, daemon);
    CHECK_NOT_NULL(test.source);
    CHECK_INT(emu_loop_watch(loop, test.efd, EPOLLIN, s_test_readable, &test), 0);
    CHECK_INT(pthread_create(&client, NULL, s_test_client_pair, &test), 0);
    CHECK_INT(emu_loop_run(loop), 0);
    pthread_join(client, NULL);
    CHECK_TRUE(strncmp(test.reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK_TRUE(strncmp(test.second, "HTTP/1.1 200 OK\r\n", 17) == 0);
    emu_loop_mhd_remove(loop, &test.source);
    MHD_stop_daemon(daemon);
    close(test.efd);

    //  Leftovers are released by destroy.
    CHECK_NOT_NULL(emu_loop_timer_start(loop, SP_NS_PER_S, s_test_stop, NULL));
    CHECK_INT(emu_loop_defer(loop, s_test_stop, NULL), 0);
    emu_loop_destroy(&loop);
    CHECK_NULL(loop);
    emu_loop_destroy(&loop);
    (void)verbose;
}
