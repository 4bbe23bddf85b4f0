/*  rx_server — the target of the arrival benchmark (tests/bench/arrival_bench.py).

    A minimal HTTP/1.1 server that records, for every complete request, the
    instant the kernel received the segment that completed it: each
    connection is read with recvmsg() and SO_TIMESTAMPNS, so every read
    carries the CLOCK_REALTIME stamp of the newest segment it returned, and
    libhttp-parser finds where each request ends. A request completed by a
    read is stamped with that read's stamp: for a request written ahead but
    for its last byte, the stamp of the segment carrying that byte.

    Every request is answered 200 with `X-Stampede-Received-Ns: <stamp>`
    (the header stampede reads its arrival spread from) and a 3-byte body;
    the connection stays open when the request allows keep-alive. With
    --hold the answers wait until --expect requests are complete, so a tool
    that sends again as soon as it is answered (wrk) sends exactly one
    request per connection in the burst.

    The stamps (one line per request: stamp_ns METHOD connection user_ns,
    user_ns being when this process parsed it) are written to --out when
    --expect requests have been answered, on SIGTERM/SIGINT, or when
    --max-seconds is over (then exit 3). The first line on stdout is the
    port; a summary goes to stderr.

    One thread, one epoll loop, level-triggered. Bounded: every connection
    has a fixed output buffer (a connection whose answers do not fit is
    closed and counted), the records have a ceiling, the process a
    deadline. Listens on 127.0.0.0/8 only. Test code: never shipped.
*/
#define _GNU_SOURCE
#include "benchtool.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <http_parser.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_READ_SIZE 65536        //  bytes one recvmsg may return
#define S_OUT_CAP 2048           //  answers a connection may have unsent
#define S_MAX_RECORDS 2000000    //  requests recorded at most
#define S_MAX_EVENTS 1024        //  epoll events per turn
#define S_ACCEPTS_PER_TURN 4096  //  connections accepted per wake-up
#define S_LINGER_NS 1000000000LL //  serving on after the stamps are written
#define S_MAX_EXPECT 1000000
#define S_MAX_SECONDS 3600

typedef struct {
    char host[64];   //  --listen host (127.0.0.0/8)
    int port;        //  --listen port (0: any)
    long expect;     //  --expect: requests that complete the run (0: none)
    long max_s;      //  --max-seconds
    const char *out; //  --out: the stamps file
    bool hold;       //  --hold: answers wait for --expect requests
} s_config_t;

typedef struct {
    int64_t stamp_ns; //  kernel receive time of the completing segment
    int64_t user_ns;  //  when this process parsed the request
    uint32_t conn;    //  connection number, in accept order
    uint8_t method;   //  enum http_method
} s_record_t;

typedef struct _s_server_t s_server_t;

typedef struct {
    s_server_t *server;  //  owner
    int fd;              //  the socket, -1 once closed
    uint32_t id;         //  accept order
    http_parser parser;  //  request framing
    char out[S_OUT_CAP]; //  answers not yet sent
    size_t out_len;      //  bytes in out
    size_t out_off;      //  of which sent
    uint32_t out_count;  //  answers in out
    bool close_after;    //  close once out is sent (no keep-alive)
    bool broken;         //  parse error or overflow: close now
    bool want_out;       //  EPOLLOUT is on
} s_conn_t;

struct _s_server_t {
    s_config_t config;
    int epfd;            //  the loop
    int listen_fd;       //  listener
    int signal_fd;       //  SIGTERM, SIGINT
    s_conn_t **conns;    //  by file descriptor
    size_t conns_cap;    //  slots in conns
    uint32_t next_id;    //  connections accepted so far
    uint32_t open;       //  connections open
    s_record_t *records; //  complete requests, in parse order
    size_t records_len, records_cap;
    uint64_t answered;        //  answers handed to the kernel whole
    uint64_t unstamped_reads; //  reads without a timestamp (user time used)
    uint64_t bad_requests;    //  parse errors
    uint64_t overflows;       //  connections closed with answers not fitting
    uint64_t dropped_records; //  requests past S_MAX_RECORDS
    uint64_t accept_errors;   //  accept failures other than EAGAIN
    bool released;            //  --hold: answers may go
    bool written;             //  the stamps are in --out
    int64_t linger_until;     //  monotonic ns: stop after writing
    int64_t read_stamp_ns;    //  stamp of the read being parsed
    http_parser_settings settings;
};

static int
s_usage(const char *message)
{
    if (message)
        fprintf(stderr, "rx_server: %s\n", message);
    fprintf(stderr,
            "usage: rx_server --out FILE [--listen 127.0.0.1:0] [--expect N] [--hold]\n"
            "                 [--max-seconds S]\n"
            "  --out FILE         the stamps: stamp_ns METHOD connection user_ns\n"
            "  --listen HOST:PORT on 127.0.0.0/8 (127.0.0.1:0)\n"
            "  --expect N         write the stamps once N requests are answered\n"
            "  --hold             hold every answer until N requests are complete\n"
            "  --max-seconds S    write the stamps and exit 3 after S s (60)\n");
    return 2;
}

//  Returns 0, or 2 after printing the usage.
static int
s_config_parse(s_config_t *config, int argc, char **argv)
{
    static const struct option options[] = {{"listen", required_argument, NULL, 'l'},
                                            {"expect", required_argument, NULL, 'e'},
                                            {"max-seconds", required_argument, NULL, 'm'},
                                            {"out", required_argument, NULL, 'o'},
                                            {"hold", no_argument, NULL, 'H'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    *config = (s_config_t){.host = "127.0.0.1", .port = 0, .expect = 0, .max_s = 60};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        long port = 0;
        const char *colon = NULL;
        switch (opt) {
        case 'l':
            colon = strrchr(optarg, ':');
            if (!colon || (size_t)(colon - optarg) >= sizeof config->host ||
                !bench_parse_long(colon + 1, 0, 65535, &port))
                return s_usage("--listen must be HOST:PORT");
            memcpy(config->host, optarg, (size_t)(colon - optarg));
            config->host[colon - optarg] = '\0';
            config->port = (int)port;
            break;
        case 'e':
            if (!bench_parse_long(optarg, 1, S_MAX_EXPECT, &config->expect))
                return s_usage("--expect must be 1..1000000");
            break;
        case 'm':
            if (!bench_parse_long(optarg, 1, S_MAX_SECONDS, &config->max_s))
                return s_usage("--max-seconds must be 1..3600");
            break;
        case 'o':
            config->out = optarg;
            break;
        case 'H':
            config->hold = true;
            break;
        case 'h':
            s_usage(NULL);
            exit(0);
        default:
            return s_usage(NULL);
        }
    }
    if (optind < argc)
        return s_usage("unexpected argument");
    struct in_addr host;
    if (inet_pton(AF_INET, config->host, &host) != 1 || (ntohl(host.s_addr) >> 24) != 127)
        return s_usage("--listen must be an address in 127.0.0.0/8");
    if (!config->out)
        return s_usage("--out is required");
    if (config->hold && !config->expect)
        return s_usage("--hold needs --expect");
    return 0;
}

//  --- connections -----------------------------------------------------------

static void
s_conn_close(s_conn_t **conn_p)
{
    s_conn_t *conn = *conn_p;
    if (!conn)
        return;
    s_server_t *server = conn->server;
    if (conn->fd >= 0) {
        server->conns[conn->fd] = NULL;
        close(conn->fd);
        server->open--;
    }
    free(conn);
    *conn_p = NULL;
}

//  Sends what out holds. Returns 0, or -1 when the connection is to be
//  closed (peer gone, or done without keep-alive).
static int
s_conn_flush(s_conn_t *conn)
{
    s_server_t *server = conn->server;
    if (server->config.hold && !server->released)
        return 0;
    while (conn->out_off < conn->out_len) {
        ssize_t sent = send(conn->fd, conn->out + conn->out_off,
                            conn->out_len - conn->out_off, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!conn->want_out) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT,
                                         .data.fd = conn->fd};
                if (epoll_ctl(server->epfd, EPOLL_CTL_MOD, conn->fd, &ev) != 0)
                    return -1;
                conn->want_out = true;
            }
            return 0;
        }
        if (sent <= 0)
            return -1;
        conn->out_off += (size_t)sent;
    }
    server->answered += conn->out_count;
    conn->out_len = conn->out_off = 0;
    conn->out_count = 0;
    if (conn->want_out) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = conn->fd};
        if (epoll_ctl(server->epfd, EPOLL_CTL_MOD, conn->fd, &ev) != 0)
            return -1;
        conn->want_out = false;
    }
    return conn->close_after ? -1 : 0;
}

static int
s_on_message_complete(http_parser *parser)
{
    s_conn_t *conn = parser->data;
    s_server_t *server = conn->server;
    if (server->records_len < S_MAX_RECORDS) {
        if (server->records_len == server->records_cap) {
            size_t cap = server->records_cap ? server->records_cap * 2 : 4096;
            if (cap > S_MAX_RECORDS)
                cap = S_MAX_RECORDS;
            s_record_t *grown = realloc(server->records, cap * sizeof *grown);
            if (!grown) {
                server->dropped_records++;
                goto answer;
            }
            server->records = grown;
            server->records_cap = cap;
        }
        server->records[server->records_len++] =
            (s_record_t){.stamp_ns = server->read_stamp_ns,
                         .user_ns = sp_clock_wall_ns(),
                         .conn = conn->id,
                         .method = (uint8_t)parser->method};
    } else
        server->dropped_records++;
answer:;
    bool keep_alive = http_should_keep_alive(parser);
    int len = snprintf(conn->out + conn->out_len, S_OUT_CAP - conn->out_len,
                       "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/plain\r\n"
                       "Content-Length: 3\r\n"
                       "X-Stampede-Received-Ns: %" PRId64 "\r\n"
                       "%s"
                       "\r\n"
                       "ok\n",
                       server->read_stamp_ns, keep_alive ? "" : "Connection: close\r\n");
    if (len < 0 || (size_t)len >= S_OUT_CAP - conn->out_len) {
        server->overflows++;
        conn->broken = true;
        return 1; //  stops the parser
    }
    conn->out_len += (size_t)len;
    conn->out_count++;
    if (!keep_alive) {
        conn->close_after = true;
        return 1; //  nothing after this request is read
    }
    return 0;
}

//  One read of a readable connection. Returns -1 when it is to be closed.
static int
s_conn_read(s_conn_t *conn)
{
    s_server_t *server = conn->server;
    char data[S_READ_SIZE];
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t got = recvmsg(conn->fd, &msg, 0);
    if (got < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    if (got == 0)
        return -1;
    if (conn->close_after)
        return 0; //  past the last request: read and ignored
    bool stamped = false;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg;
         cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cmsg), sizeof ts);
            server->read_stamp_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
            stamped = true;
        }
    }
    if (!stamped) {
        server->unstamped_reads++;
        server->read_stamp_ns = sp_clock_wall_ns();
    }
    size_t parsed =
        http_parser_execute(&conn->parser, &server->settings, data, (size_t)got);
    if (conn->broken)
        return -1;
    if (!conn->close_after &&
        (parsed != (size_t)got || HTTP_PARSER_ERRNO(&conn->parser))) {
        server->bad_requests++;
        return -1;
    }
    return s_conn_flush(conn);
}

static void
s_accept(s_server_t *server)
{
    for (int i = 0; i < S_ACCEPTS_PER_TURN; i++) {
        int fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED && server->accept_errors++ == 0)
                fprintf(stderr, "rx_server: accept failed: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        s_conn_t *conn = (size_t)fd < server->conns_cap ? calloc(1, sizeof *conn) : NULL;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (!conn || setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
            epoll_ctl(server->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            if (server->accept_errors++ == 0)
                fprintf(stderr, "rx_server: could not take a connection: %s\n",
                        strerror(errno));
            free(conn);
            close(fd);
            continue;
        }
        conn->server = server;
        conn->fd = fd;
        conn->id = server->next_id++;
        http_parser_init(&conn->parser, HTTP_REQUEST);
        conn->parser.data = conn;
        server->conns[fd] = conn;
        server->open++;
    }
}

//  --- stamps ----------------------------------------------------------------

//  Writes the records to --out through a temporary file renamed into
//  place, so a reader sees the whole file or none.
static int
s_write_stamps(s_server_t *server)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", server->config.out) >= (int)sizeof tmp)
        return -1;
    FILE *file = fopen(tmp, "w");
    if (!file)
        return -1;
    for (size_t i = 0; i < server->records_len; i++) {
        const s_record_t *r = &server->records[i];
        fprintf(file, "%" PRId64 " %s %" PRIu32 " %" PRId64 "\n", r->stamp_ns,
                http_method_str((enum http_method)r->method), r->conn, r->user_ns);
    }
    int rc = ferror(file) ? -1 : 0;
    if (fclose(file) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, server->config.out) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "rx_server: could not write %s: %s\n", server->config.out,
                strerror(errno));
    server->written = true;
    return rc;
}

//  --- the loop --------------------------------------------------------------

static int
s_server_open(s_server_t *server)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons(server->config.port)};
    if (inet_pton(AF_INET, server->config.host, &addr.sin_addr) != 1)
        return -1; //  checked by s_config_parse
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return -1;
    server->conns_cap = limit.rlim_cur > (1u << 20) ? (1u << 20) : (size_t)limit.rlim_cur;
    server->conns = calloc(server->conns_cap, sizeof *server->conns);
    if (!server->conns)
        return -1;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    server->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    server->epfd = epoll_create1(EPOLL_CLOEXEC);
    server->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (server->signal_fd < 0 || server->epfd < 0 || server->listen_fd < 0)
        return -1;
    int one = 1;
    //  Set on the listener, inherited by every accepted socket (and set
    //  again there): the stamp is taken when a segment is received, before
    //  this process has accepted its connection.
    if (setsockopt(server->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(server->listen_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) !=
            0 ||
        bind(server->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(server->listen_fd, 65535) != 0)
        return -1;
    socklen_t len = sizeof addr;
    if (getsockname(server->listen_fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = server->listen_fd};
    if (epoll_ctl(server->epfd, EPOLL_CTL_ADD, server->listen_fd, &ev) != 0)
        return -1;
    ev.data.fd = server->signal_fd;
    if (epoll_ctl(server->epfd, EPOLL_CTL_ADD, server->signal_fd, &ev) != 0)
        return -1;
    server->settings.on_message_complete = s_on_message_complete;
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    return 0;
}

static void
s_release(s_server_t *server)
{
    server->released = true;
    for (size_t fd = 0; fd < server->conns_cap; fd++) {
        s_conn_t *conn = server->conns[fd];
        if (conn && s_conn_flush(conn) != 0)
            s_conn_close(&conn);
    }
}

//  Runs until the stamps are written and the linger is over, a signal, or
//  the deadline. Returns the exit status.
static int
s_server_run(s_server_t *server)
{
    int64_t deadline = sp_clock_mono_ns() + server->config.max_s * 1000000000LL;
    struct epoll_event events[S_MAX_EVENTS];
    const char *reason = "deadline";
    int status = 3;
    for (;;) {
        int64_t now = sp_clock_mono_ns();
        if (server->written && (server->open == 0 || now >= server->linger_until)) {
            reason = "expected requests answered";
            status = 0;
            break;
        }
        if (now >= deadline)
            break;
        int64_t until = server->written ? server->linger_until : deadline;
        int wait_ms = (int)((until - now) / 1000000) + 1;
        int ready = epoll_wait(server->epfd, events, S_MAX_EVENTS, wait_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0) {
            reason = "epoll failed";
            status = 1;
            break;
        }
        bool stop = false;
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd == server->listen_fd)
                s_accept(server);
            else if (fd == server->signal_fd) {
                reason = "signal";
                status = 0;
                stop = true;
            } else if (fd >= 0 && (size_t)fd < server->conns_cap && server->conns[fd]) {
                s_conn_t *conn = server->conns[fd];
                int rc = 0;
                if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    rc = s_conn_read(conn);
                if (rc == 0 && (events[i].events & EPOLLOUT))
                    rc = s_conn_flush(conn);
                if (rc != 0)
                    s_conn_close(&conn);
            }
        }
        if (stop)
            break;
        long expect = server->config.expect;
        if (server->config.hold && !server->released &&
            server->records_len + server->dropped_records >= (uint64_t)expect)
            s_release(server);
        if (expect && !server->written && server->answered >= (uint64_t)expect) {
            s_write_stamps(server);
            server->linger_until = sp_clock_mono_ns() + S_LINGER_NS;
        }
    }
    if (!server->written && s_write_stamps(server) != 0)
        status = 1;
    fprintf(stderr,
            "rx_server: stopped reason=%s requests=%zu answered=%" PRIu64
            " connections=%" PRIu32 " unstamped_reads=%" PRIu64 " bad_requests=%" PRIu64
            " overflows=%" PRIu64 " dropped_records=%" PRIu64 " accept_errors=%" PRIu64
            "\n",
            reason, server->records_len, server->answered, server->next_id,
            server->unstamped_reads, server->bad_requests, server->overflows,
            server->dropped_records, server->accept_errors);
    return status;
}

static void
s_server_close(s_server_t *server)
{
    for (size_t fd = 0; server->conns && fd < server->conns_cap; fd++) {
        s_conn_t *conn = server->conns[fd];
        s_conn_close(&conn);
    }
    free(server->conns);
    free(server->records);
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    if (server->signal_fd >= 0)
        close(server->signal_fd);
    if (server->epfd >= 0)
        close(server->epfd);
}

int
main(int argc, char **argv)
{
    s_server_t server = {.epfd = -1, .listen_fd = -1, .signal_fd = -1};
    int status = s_config_parse(&server.config, argc, argv);
    if (status != 0)
        return status;
    if (s_server_open(&server) != 0) {
        fprintf(stderr, "rx_server: could not start: %s\n", strerror(errno));
        status = 1;
    } else
        status = s_server_run(&server);
    s_server_close(&server);
    return status;
}
