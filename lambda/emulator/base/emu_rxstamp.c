/*  emu_rxstamp — kernel receive timestamps of a daemon's connections; see
    emu_rxstamp.h. */
#include "emu_rxstamp.h"
#include "emu_listener.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

//  A peek's length: more than any receive queue holds, so that it walks
//  to the newest segment. With MSG_TRUNC nothing is copied (tcp(7)).
#define S_PEEK_MAX ((size_t)INT_MAX)

//  How much older than the kernel's "last data received" (TCP_INFO, in
//  milliseconds, kept in jiffies) a stamp may be and still be that of the
//  request's last segment.
#define S_STALE_NS (20 * SP_NS_PER_MS)

typedef struct {
    int fd;        //  the connection's socket (MHD's)
    bool watched;  //  its pre-run watch is registered
    int64_t rx_ns; //  newest segment peeked, not yet taken; 0 = none
} s_conn_t;

struct _emu_rxstamp_t {
    emu_loop_t *loop;       //  borrowed
    emu_loop_mhd_t *source; //  borrowed: the daemon's loop handle; NULL = none
    emu_rxstamp_stats_t stats;
    sp_log_limit_t fallback_log; //  one line a second at most
};

emu_rxstamp_t *
emu_rxstamp_new(emu_loop_t *loop, int listen_fd)
{
    assert(loop);
    emu_rxstamp_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    sp_log_limit_init(&self->fallback_log, "front door: loop-clock stamps not logged", 1,
                      SP_NS_PER_S);
    int on = 1;
    if (setsockopt(listen_fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0)
        zsys_warning("front door: no kernel receive timestamps, requests are stamped by "
                     "the loop's clock error=\"%s\"",
                     strerror(errno));
    return self;
}

void
emu_rxstamp_destroy(emu_rxstamp_t **self_p)
{
    assert(self_p);
    emu_rxstamp_t *self = *self_p;
    if (!self)
        return;
    assert(self->stats.connections == 0);
    free(self);
    *self_p = NULL;
}

int
emu_rxstamp_drive(emu_rxstamp_t *self, emu_loop_mhd_t *source)
{
    assert(self);
    self->source = source;
    return source ? emu_loop_mhd_watch_prepare(self->loop, source) : 0;
}

//  Peeks at the whole receive queue without consuming or copying it and
//  keeps the newest segment's kernel stamp. An empty queue (MHD read it
//  already, EAGAIN), the end of the stream or an error leave the stamp.
static void
s_peek(s_conn_t *conn)
{
    struct iovec iov = {.iov_base = NULL, .iov_len = S_PEEK_MAX};
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    if (recvmsg(conn->fd, &msg, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT) <= 0)
        return;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg))
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_TIMESTAMPNS &&
            cmsg->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cmsg), sizeof ts);
            int64_t ns = (int64_t)ts.tv_sec * SP_NS_PER_S + ts.tv_nsec;
            if (ns > 0)
                conn->rx_ns = ns;
        }
}

//  Pre-run watch: segments arrived since the daemon last ran.
static void
s_arrived(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    s_peek(arg);
}

void
emu_rxstamp_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                   enum MHD_ConnectionNotificationCode code)
{
    emu_rxstamp_t *self = cls;
    s_conn_t *conn = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (!conn)
            return;
        if (conn->watched)
            emu_loop_unwatch(self->loop, conn->fd);
        self->stats.connections--;
        free(conn);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    conn = info ? calloc(1, sizeof *conn) : NULL;
    if (!conn) {
        self->stats.unwatched++;
        return;
    }
    conn->fd = info->connect_fd;
    self->stats.connections++;
    *socket_context = conn;
    //  What came with the handshake is queued already. MHD reads it in a
    //  later run, which the new watch (ready at once) precedes; the peek
    //  now holds should a version of MHD read a new connection at once.
    conn->watched =
        self->source && emu_loop_mhd_watch(self->loop, self->source, conn->fd,
                                           EPOLLIN | EPOLLET, s_arrived, conn) == 0;
    if (!conn->watched)
        self->stats.unwatched++;
    else
        s_peek(conn);
}

//  When the kernel says the connection last received data (TCP_INFO,
//  millisecond resolution), on the wall clock; 0 when it cannot tell.
static int64_t
s_last_data_ns(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof info;
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_last_data_recv) +
                  sizeof info.tcpi_last_data_recv)
        return 0;
    return sp_clock_wall_ns() - (int64_t)info.tcpi_last_data_recv * SP_NS_PER_MS;
}

int64_t
emu_rxstamp_take(emu_rxstamp_t *self, struct MHD_Connection *connection)
{
    assert(self && connection);
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    s_conn_t *conn = info ? info->socket_context : NULL;
    if (conn && conn->watched && conn->rx_ns > 0) {
        int64_t rx_ns = conn->rx_ns;
        conn->rx_ns = 0;
        //  A final segment that came after the peek and was read in the
        //  same run leaves the stamp of an earlier one (with requests
        //  written ahead, seconds earlier): the kernel's own "last data
        //  received" tells, to a few milliseconds, and is the better time.
        int64_t last_ns = s_last_data_ns(conn->fd);
        if (last_ns > 0 && rx_ns < last_ns - S_STALE_NS) {
            self->stats.coarse++;
            sp_log_warning(&self->fallback_log,
                           "front door: receive timestamp older than the last data; "
                           "request stamped by TCP_INFO (ms) coarse=%llu",
                           (unsigned long long)self->stats.coarse);
            return last_ns;
        }
        self->stats.stamped++;
        return rx_ns;
    }
    self->stats.fallbacks++;
    sp_log_warning(&self->fallback_log,
                   "front door: no receive timestamp, request stamped by the loop's "
                   "clock fallbacks=%llu",
                   (unsigned long long)self->stats.fallbacks);
    return sp_clock_wall_ns();
}

void
emu_rxstamp_stats(emu_rxstamp_t *self, emu_rxstamp_stats_t *stats)
{
    assert(self && stats);
    *stats = self->stats;
}

//  --- selftest -----------------------------------------------------------

#define S_TEST_HOLD 1    //  command: hold the loop 300 ms once the client says go
#define S_TEST_UNDRIVE 2 //  command: stop watching new connections
#define S_TEST_DONE 3    //  command: stop the loop
#define S_TEST_HOLD_MS 300
#define S_TEST_SLACK_NS (150 * SP_NS_PER_MS) //  well under the hold

typedef struct {
    emu_rxstamp_t *rx;
    uint16_t port;
    int command; //  eventfd, watched by the loop
    int ack;     //  eventfd: the loop took the command (held, or done)
    int go;      //  eventfd: the held loop may go on
} s_test_t;

typedef struct {
    int fd;
    char buf[1024];
    size_t len;
} s_test_client_t;

//  Answers a complete request with its stamp, 19 digits.
static enum MHD_Result
s_test_handler(void *cls, struct MHD_Connection *connection, const char *url,
               const char *method, const char *version, const char *upload_data,
               size_t *upload_data_size, void **req_cls)
{
    emu_rxstamp_t *rx = cls;
    if (!*req_cls) {
        *req_cls = rx;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    char body[32];
    snprintf(body, sizeof body, "%019lld", (long long)emu_rxstamp_take(rx, connection));
    struct MHD_Response *response =
        MHD_create_response_from_buffer(19, body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return rc;
}

static void
s_test_signal(int fd)
{
    uint64_t one = 1;
    CHECK_INT(write(fd, &one, sizeof one), sizeof one);
}

static void
s_test_wait(int fd)
{
    uint64_t value = 0;
    CHECK_INT(read(fd, &value, sizeof value), sizeof value);
}

static void
s_test_command(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    s_test_t *test = arg;
    uint64_t command = 0;
    CHECK_INT(read(fd, &command, sizeof command), sizeof command);
    if (command == S_TEST_HOLD) {
        s_test_signal(test->ack);
        s_test_wait(test->go);
        struct timespec hold = {.tv_nsec = S_TEST_HOLD_MS * SP_NS_PER_MS};
        while (nanosleep(&hold, &hold) != 0)
            ;
    } else if (command == S_TEST_UNDRIVE) {
        CHECK_INT(emu_rxstamp_drive(test->rx, NULL), 0);
        s_test_signal(test->ack);
    } else {
        CHECK_INT(command, S_TEST_DONE);
        emu_loop_stop(loop);
    }
}

static void
s_test_connect(s_test_t *test, s_test_client_t *client)
{
    client->len = 0;
    client->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_TRUE(client->fd >= 0);
    int on = 1;
    CHECK_INT(setsockopt(client->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on), 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(test->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(connect(client->fd, (struct sockaddr *)&addr, sizeof addr), 0);
}

//  Sends `text` in one segment; *sent_ns (when not NULL) is the wall clock
//  just before.
static void
s_test_send(s_test_client_t *client, const char *text, int64_t *sent_ns)
{
    if (sent_ns)
        *sent_ns = sp_clock_wall_ns();
    CHECK_INT(write(client->fd, text, strlen(text)), strlen(text));
}

//  The stamp of the next answer on the connection.
static int64_t
s_test_stamp(s_test_client_t *client)
{
    for (;;) {
        client->buf[client->len] = '\0';
        char *end = strstr(client->buf, "\r\n\r\n");
        if (end && client->len - (size_t)(end + 4 - client->buf) >= 19) {
            CHECK_TRUE(strncmp(client->buf, "HTTP/1.1 200 ", 13) == 0);
            char digits[20];
            memcpy(digits, end + 4, 19);
            digits[19] = '\0';
            size_t used = (size_t)(end + 4 - client->buf) + 19;
            memmove(client->buf, client->buf + used, client->len - used);
            client->len -= used;
            return strtoll(digits, NULL, 10);
        }
        CHECK_TRUE(client->len < sizeof client->buf - 1);
        ssize_t n = read(client->fd, client->buf + client->len,
                         sizeof client->buf - 1 - client->len);
        CHECK_TRUE(n > 0);
        client->len += (size_t)n;
    }
}

static void
s_test_sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * SP_NS_PER_MS};
    while (nanosleep(&pause, &pause) != 0)
        ;
}

static void *
s_test_client(void *arg)
{
    s_test_t *test = arg;
    s_test_client_t client;
    int64_t sent = 0;

    //  The last byte arrives while the loop is held: the stamp is the
    //  kernel's, near the send, not the loop's, 300 ms later.
    s_test_connect(test, &client);
    s_test_send(&client, "GET /held HTTP/1.1\r\nHost: t\r\n\r", NULL);
    s_test_sleep_ms(50);
    uint64_t hold = S_TEST_HOLD;
    CHECK_INT(write(test->command, &hold, sizeof hold), sizeof hold);
    s_test_wait(test->ack);
    s_test_send(&client, "\n", &sent);
    s_test_signal(test->go);
    int64_t stamp = s_test_stamp(&client);
    CHECK_TRUE(stamp >= sent);
    CHECK_TRUE(stamp < sent + S_TEST_SLACK_NS);
    close(client.fd);

    //  A body in two segments 200 ms apart: the second one's stamp.
    s_test_connect(test, &client);
    s_test_send(&client, "POST /split HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab",
                NULL);
    s_test_sleep_ms(200);
    s_test_send(&client, "cd", &sent);
    stamp = s_test_stamp(&client);
    CHECK_TRUE(stamp >= sent);
    CHECK_TRUE(stamp < sent + S_TEST_SLACK_NS);

    //  Keep-alive: the next request on the connection gets its own stamp.
    s_test_sleep_ms(100);
    s_test_send(&client, "GET /again HTTP/1.1\r\nHost: t\r\n\r\n", &sent);
    stamp = s_test_stamp(&client);
    CHECK_TRUE(stamp >= sent);
    CHECK_TRUE(stamp < sent + S_TEST_SLACK_NS);
    close(client.fd);

    //  Two requests pipelined in one segment: the first takes the stamp,
    //  the second gets the loop's clock (counted), never a stamp twice.
    s_test_connect(test, &client);
    s_test_send(
        &client,
        "GET /one HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n",
        &sent);
    stamp = s_test_stamp(&client);
    CHECK_TRUE(stamp >= sent);
    CHECK_TRUE(stamp < sent + S_TEST_SLACK_NS);
    CHECK_TRUE(s_test_stamp(&client) >= stamp);
    close(client.fd);

    //  A connection started while no daemon is driven is not watched: the
    //  loop's clock.
    uint64_t undrive = S_TEST_UNDRIVE;
    CHECK_INT(write(test->command, &undrive, sizeof undrive), sizeof undrive);
    s_test_wait(test->ack);
    s_test_connect(test, &client);
    s_test_send(&client, "GET /unwatched HTTP/1.1\r\nHost: t\r\n\r\n", &sent);
    CHECK_TRUE(s_test_stamp(&client) >= sent);
    close(client.fd);

    uint64_t done = S_TEST_DONE;
    CHECK_INT(write(test->command, &done, sizeof done), sizeof done);
    return NULL;
}

void
emu_rxstamp_test(bool verbose)
{
    emu_loop_t *loop = emu_loop_new();
    CHECK_NOT_NULL(loop);

    //  A descriptor that is no socket: a warning, and the stamper works
    //  on, with the loop's clock.
    int efd = eventfd(0, EFD_CLOEXEC);
    emu_rxstamp_t *rx = emu_rxstamp_new(loop, efd);
    CHECK_NOT_NULL(rx);
    emu_rxstamp_destroy(&rx);
    CHECK_NULL(rx);
    emu_rxstamp_destroy(&rx);
    close(efd);

    //  The kernel's "last data received", the reference a stale stamp is
    //  told by: within a few ms of a byte just sent, later than a stamp
    //  taken 2 s before; unknown on a descriptor that is no TCP socket.
    s_test_t test = {.port = 0};
    char err[256];
    int listen_fd = emu_listener_open("127.0.0.1:0", 16, &test.port, err, sizeof err);
    CHECK_TRUE(listen_fd >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons(test.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int peer = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_INT(connect(peer, (struct sockaddr *)&to, sizeof to), 0);
    int server = accept(listen_fd, NULL, NULL);
    CHECK_TRUE(server >= 0);
    int64_t before = sp_clock_wall_ns();
    CHECK_INT(send(peer, "x", 1, 0), 1);
    char byte;
    CHECK_INT(recv(server, &byte, 1, 0), 1);
    int64_t last = s_last_data_ns(server);
    CHECK_TRUE(last > before - S_STALE_NS && last < sp_clock_wall_ns() + S_STALE_NS);
    CHECK_TRUE(before - 2 * SP_NS_PER_S < last - S_STALE_NS); //  a 2 s old stamp is stale
    CHECK_INT(s_last_data_ns(-1), 0);
    efd = eventfd(0, EFD_CLOEXEC);
    CHECK_INT(s_last_data_ns(efd), 0);
    close(efd);
    close(server);
    close(peer);
    close(listen_fd);

    listen_fd = emu_listener_open("127.0.0.1:0", 16, &test.port, err, sizeof err);
    CHECK_TRUE(listen_fd >= 0);
    rx = emu_rxstamp_new(loop, listen_fd);
    CHECK_NOT_NULL(rx);
    test.rx = rx;
    int on = 0;
    socklen_t on_len = sizeof on;
    CHECK_INT(getsockopt(listen_fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, &on_len), 0);
    CHECK_INT(on, 1);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_EPOLL, 0, NULL, NULL, s_test_handler, rx, MHD_OPTION_LISTEN_SOCKET,
        listen_fd, MHD_OPTION_NOTIFY_CONNECTION, emu_rxstamp_notify, rx, MHD_OPTION_END);
    CHECK_NOT_NULL(daemon);
    emu_loop_mhd_t *source = emu_loop_mhd_add(loop, daemon);
    CHECK_NOT_NULL(source);
    CHECK_INT(emu_rxstamp_drive(rx, source), 0);

    test.command = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    test.ack = eventfd(0, EFD_CLOEXEC);
    test.go = eventfd(0, EFD_CLOEXEC);
    CHECK_TRUE(test.command >= 0 && test.ack >= 0 && test.go >= 0);
    CHECK_INT(emu_loop_watch(loop, test.command, EPOLLIN, s_test_command, &test), 0);
    pthread_t client;
    CHECK_INT(pthread_create(&client, NULL, s_test_client, &test), 0);
    CHECK_INT(emu_loop_run(loop), 0);
    pthread_join(client, NULL);

    emu_rxstamp_stats_t stats;
    emu_rxstamp_stats(rx, &stats);
    CHECK_INT(stats.stamped, 4);
    CHECK_INT(stats.fallbacks, 2);
    CHECK_INT(stats.unwatched, 1);
    emu_loop_unwatch(loop, test.command);
    emu_loop_mhd_remove(loop, &source);
    MHD_stop_daemon(daemon);
    emu_rxstamp_stats(rx, &stats);
    CHECK_INT(stats.connections, 0);
    emu_rxstamp_destroy(&rx);
    close(test.command);
    close(test.ack);
    close(test.go);
    emu_loop_destroy(&loop);
    (void)verbose;
}
