/*  emu_loop_test — emu_loop's selftest, in a file of its own (built into the
    selftest runner only) so the module stays one screenful of product
    code; it uses the public API only.
*/
#include "emu_loop.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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
    int pre_calls;    //  pre-run watch callbacks
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

//  Pre-run watch: counts its calls and leaves the eventfd's count unread,
//  as a peek leaves the bytes, so that only a new write makes a new edge.
static void
s_test_pre(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    s_test_t *test = arg;
    CHECK_TRUE((events & EPOLLIN) != 0);
    test->pre_calls++;
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

    //  A pre-run watch is called only when its daemon runs: not while the
    //  daemon, holding no connection, has nothing to do, however long its
    //  fd is ready; at a kick, before the run, once per edge (EPOLLET).
    //  Removing the daemon removes it.
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 20 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(loop), 0); //  the daemon's last re-run, if one is due
    int pre = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    CHECK_TRUE(pre >= 0);
    size_t watches = emu_loop_watch_count(loop);
    CHECK_INT(emu_loop_mhd_watch_prepare(loop, test.source), 0);
    CHECK_INT(emu_loop_mhd_watch_prepare(loop, test.source), 0); //  opens once
    CHECK_INT(emu_loop_watch_count(loop), watches);
    CHECK_INT(
        emu_loop_mhd_watch(loop, test.source, pre, EPOLLIN | EPOLLET, s_test_pre, &test),
        0);
    CHECK_INT(emu_loop_mhd_watch(loop, test.source, pre, EPOLLIN, s_test_pre, &test), -1);
    CHECK_INT(emu_loop_watch(loop, pre, EPOLLIN, s_test_readable, &test), -1);
    CHECK_INT(emu_loop_watch_count(loop), watches + 1);
    CHECK_INT(write(pre, &one, sizeof one), sizeof one);
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 50 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(loop), 0);
    CHECK_INT(test.pre_calls, 0);
    emu_loop_mhd_kick(loop, test.source);
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 20 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(loop), 0);
    CHECK_INT(test.pre_calls, 1);
    emu_loop_mhd_kick(loop, test.source); //  no new edge: not called
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 20 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(loop), 0);
    CHECK_INT(test.pre_calls, 1);
    CHECK_INT(write(pre, &one, sizeof one), sizeof one);
    emu_loop_mhd_kick(loop, test.source);
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 20 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(loop), 0);
    CHECK_INT(test.pre_calls, 2);
    emu_loop_mhd_remove(loop, &test.source);
    CHECK_NULL(test.source);
    CHECK_INT(emu_loop_watch_count(loop),
              watches - 1);      //  its epoll fd and the pre-run watch
    emu_loop_unwatch(loop, pre); //  gone with the daemon: a no-op
    emu_loop_mhd_remove(loop, &test.source);
    MHD_stop_daemon(daemon);
    close(pre);

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
