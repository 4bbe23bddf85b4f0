/*  floor — how close together one thread can make N requests arrive.

    The reference of the arrival benchmark (tests/bench/arrival_bench.py):
    connects N sockets to the target (127.0.0.0/8 only), writes on each
    every byte of its request but the last, waits until the peer has
    acknowledged all of them (SIOCOUTQ is 0) and --settle-ms more, then
    writes the N last bytes in one tight loop, and then reads the N
    answers. At the target, the requests complete as fast as one thread can
    hand the kernel one byte per socket: the practical floor of the arrival
    spread, with no clock, no agent and no library between.

    The request is the one stampede's agent sends (curl's head, User-Agent
    stampede-agent/VERSION, Accept of any type, the --header lines,
    Content-Length for a body): GET, the last byte of the head held back;
    POST, the last byte of the body. TCP_NODELAY, as curl sets it, so each
    last byte leaves at once.

    Prints one JSON object on stdout: counts of every stage, the release
    loop's start and end (CLOCK_REALTIME ns) and its duration. Exit 0 when
    all N answered 200, 3 when some did not (the counts say where they were
    lost), 1 on a system failure, 2 on bad usage. Every stage is bounded by
    --max-seconds. Test code: never shipped.
*/
#define _GNU_SOURCE
#include "benchtool.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <http_parser.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef STAMPEDE_VERSION
#define STAMPEDE_VERSION "0"
#endif

#define S_MAX_N 100000
#define S_MAX_HEADERS 16
#define S_MAX_REQUEST 65536 //  bytes of one request
#define S_MAX_SECONDS 600

typedef struct {
    char host[64];                      //  --host (127.0.0.0/8)
    int port;                           //  --port
    const char *path;                   //  --path
    long n;                             //  -n
    const char *method;                 //  --method GET|POST
    const char *data;                   //  --data (POST body)
    const char *headers[S_MAX_HEADERS]; //  --header 'K: V'
    int header_count;
    long settle_ms; //  --settle-ms: pause after every head is acknowledged
    long max_s;     //  --max-seconds
} s_config_t;

typedef struct {
    int fd;             //  -1 once closed
    http_parser parser; //  the answer
    bool done;          //  the answer is complete
    bool ok;            //  and its status is 200
} s_conn_t;

typedef struct {
    long connected, prewritten, released, answered, ok;
    int64_t connect_ns, acked_ns;             //  monotonic durations of the stages
    int64_t release_start_ns, release_end_ns; //  CLOCK_REALTIME around the loop
    bool acked;                               //  every head acknowledged in time
} s_figures_t;

static int
s_usage(const char *message)
{
    if (message)
        fprintf(stderr, "floor: %s\n", message);
    fprintf(
        stderr,
        "usage: floor --port P -n N [--host 127.0.0.1] [--path /] [--method GET|POST]\n"
        "             [--data BODY] [--header 'K: V']... [--settle-ms 200]\n"
        "             [--max-seconds 60]\n");
    return 2;
}

static int
s_config_parse(s_config_t *config, int argc, char **argv)
{
    static const struct option options[] = {{"host", required_argument, NULL, 'H'},
                                            {"port", required_argument, NULL, 'p'},
                                            {"path", required_argument, NULL, 'P'},
                                            {"requests", required_argument, NULL, 'n'},
                                            {"method", required_argument, NULL, 'm'},
                                            {"data", required_argument, NULL, 'd'},
                                            {"header", required_argument, NULL, 'h'},
                                            {"settle-ms", required_argument, NULL, 's'},
                                            {"max-seconds", required_argument, NULL, 'x'},
                                            {"help", no_argument, NULL, '?'},
                                            {NULL, 0, NULL, 0}};
    *config = (s_config_t){
        .host = "127.0.0.1", .path = "/", .method = "GET", .settle_ms = 200, .max_s = 60};
    long port = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "n:", options, NULL)) != -1) {
        switch (opt) {
        case 'H':
            if (strlen(optarg) >= sizeof config->host)
                return s_usage("--host is too long");
            snprintf(config->host, sizeof config->host, "%s", optarg);
            break;
        case 'p':
            if (!bench_parse_long(optarg, 1, 65535, &port))
                return s_usage("--port must be 1..65535");
            config->port = (int)port;
            break;
        case 'P':
            if (optarg[0] != '/' || strpbrk(optarg, " \r\n"))
                return s_usage("--path must start with / and hold no space");
            config->path = optarg;
            break;
        case 'n':
            if (!bench_parse_long(optarg, 1, S_MAX_N, &config->n))
                return s_usage("-n must be 1..100000");
            break;
        case 'm':
            if (strcmp(optarg, "GET") != 0 && strcmp(optarg, "POST") != 0)
                return s_usage("--method must be GET or POST");
            config->method = optarg;
            break;
        case 'd':
            config->data = optarg;
            break;
        case 'h':
            if (config->header_count == S_MAX_HEADERS || !strchr(optarg, ':') ||
                strpbrk(optarg, "\r\n"))
                return s_usage("--header must be 'Name: value' (up to 16)");
            config->headers[config->header_count++] = optarg;
            break;
        case 's':
            if (!bench_parse_long(optarg, 0, 10000, &config->settle_ms))
                return s_usage("--settle-ms must be 0..10000");
            break;
        case 'x':
            if (!bench_parse_long(optarg, 1, S_MAX_SECONDS, &config->max_s))
                return s_usage("--max-seconds must be 1..600");
            break;
        default:
            return s_usage(NULL);
        }
    }
    if (optind < argc)
        return s_usage("unexpected argument");
    if (!config->port || !config->n)
        return s_usage("--port and -n are required");
    struct in_addr host;
    if (inet_pton(AF_INET, config->host, &host) != 1 || (ntohl(host.s_addr) >> 24) != 127)
        return s_usage("--host must be an address in 127.0.0.0/8");
    if (config->data && strcmp(config->method, "POST") != 0)
        return s_usage("--data needs --method POST");
    return 0;
}

//  Appends to out[size] at *len. Returns false when it does not fit.
__attribute__((format(printf, 4, 5))) static bool
s_append(char *out, size_t size, size_t *len, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int wrote = vsnprintf(out + *len, size - *len, format, args);
    va_end(args);
    if (wrote < 0 || (size_t)wrote >= size - *len)
        return false;
    *len += (size_t)wrote;
    return true;
}

//  The request as curl writes it for stampede's agent. Returns its length,
//  or 0 when it does not fit in `size`.
static size_t
s_request_build(const s_config_t *config, char *out, size_t size)
{
    size_t len = 0;
    bool fits = s_append(out, size, &len,
                         "%s %s HTTP/1.1\r\nHost: %s:%d\r\n"
                         "User-Agent: stampede-agent/" STAMPEDE_VERSION "\r\n"
                         "Accept: */*\r\n",
                         config->method, config->path, config->host, config->port);
    for (int i = 0; fits && i < config->header_count; i++)
        fits = s_append(out, size, &len, "%s\r\n", config->headers[i]);
    if (fits && strcmp(config->method, "POST") == 0)
        fits = s_append(out, size, &len, "Content-Length: %zu\r\n\r\n%s",
                        config->data ? strlen(config->data) : 0,
                        config->data ? config->data : "");
    else if (fits)
        fits = s_append(out, size, &len, "\r\n");
    return fits ? len : 0;
}

static int
s_on_message_complete(http_parser *parser)
{
    s_conn_t *conn = parser->data;
    conn->done = true;
    conn->ok = parser->status_code == 200;
    return 1; //  one answer per connection
}

//  Connects and pre-writes every socket. Returns -1 on a system failure;
//  a socket that fails to connect or write is counted, not fatal.
static int
s_connect_all(const s_config_t *config, s_conn_t *conns, const char *request,
              size_t head_len, int64_t deadline, s_figures_t *fig)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(config->port)};
    if (inet_pton(AF_INET, config->host, &addr.sin_addr) != 1)
        return -1; //  checked by s_config_parse
    int64_t started = sp_clock_mono_ns();
    for (long i = 0; i < config->n; i++) {
        int64_t left = deadline - sp_clock_mono_ns();
        if (left <= 0)
            break;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            fprintf(stderr, "floor: socket %ld: %s\n", i, strerror(errno));
            break;
        }
        int one = 1;
        struct timeval timeout = {.tv_sec = left / 1000000000LL,
                                  .tv_usec = (left % 1000000000LL) / 1000};
        conns[i].fd = fd;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0 ||
            connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
            continue;
        fig->connected++;
        if (send(fd, request, head_len, MSG_NOSIGNAL) == (ssize_t)head_len)
            fig->prewritten++;
    }
    fig->connect_ns = sp_clock_mono_ns() - started;
    return 0;
}

//  Waits until every pre-written socket's send queue is empty (the target
//  holds every head), then --settle-ms more.
static void
s_wait_acked(const s_config_t *config, s_conn_t *conns, int64_t deadline,
             s_figures_t *fig)
{
    int64_t started = sp_clock_mono_ns();
    long next = 0;
    while (next < config->n && sp_clock_mono_ns() < deadline) {
        int queued = 0;
        if (conns[next].fd >= 0 && ioctl(conns[next].fd, SIOCOUTQ, &queued) == 0 &&
            queued > 0) {
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000000};
            nanosleep(&pause, NULL);
            continue;
        }
        next++;
    }
    fig->acked = next == config->n;
    fig->acked_ns = sp_clock_mono_ns() - started;
    struct timespec settle = {.tv_sec = config->settle_ms / 1000,
                              .tv_nsec = (config->settle_ms % 1000) * 1000000L};
    nanosleep(&settle, NULL);
}

//  The measured part: one byte per socket, nothing else in the loop.
static void
s_release_all(const s_config_t *config, s_conn_t *conns, char last, s_figures_t *fig)
{
    long released = 0;
    fig->release_start_ns = sp_clock_wall_ns();
    for (long i = 0; i < config->n; i++)
        if (conns[i].fd >= 0 && send(conns[i].fd, &last, 1, MSG_NOSIGNAL) == 1)
            released++;
    fig->release_end_ns = sp_clock_wall_ns();
    fig->released = released;
}

//  Reads every answer, until all are in or the deadline.
static int
s_read_all(const s_config_t *config, s_conn_t *conns, int64_t deadline, s_figures_t *fig)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -1;
    long waiting = 0;
    for (long i = 0; i < config->n; i++) {
        if (conns[i].fd < 0)
            continue;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        int flags = fcntl(conns[i].fd, F_GETFL);
        if (flags < 0 || fcntl(conns[i].fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
            epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0) {
            close(epfd);
            return -1;
        }
        waiting++;
    }
    http_parser_settings settings = {.on_message_complete = s_on_message_complete};
    struct epoll_event events[256];
    char data[4096];
    while (waiting > 0) {
        int64_t left = deadline - sp_clock_mono_ns();
        if (left <= 0)
            break;
        int ready = epoll_wait(epfd, events, 256, (int)(left / 1000000) + 1);
        if (ready < 0 && errno != EINTR)
            break;
        for (int e = 0; e < ready; e++) {
            s_conn_t *conn = &conns[events[e].data.u64];
            ssize_t got = recv(conn->fd, data, sizeof data, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (got > 0)
                http_parser_execute(&conn->parser, &settings, data, (size_t)got);
            if (got > 0 && !conn->done && !HTTP_PARSER_ERRNO(&conn->parser))
                continue;
            fig->answered += conn->done;
            fig->ok += conn->done && conn->ok;
            close(conn->fd);
            conn->fd = -1;
            waiting--;
        }
    }
    close(epfd);
    return 0;
}

int
main(int argc, char **argv)
{
    s_config_t config;
    int status = s_config_parse(&config, argc, argv);
    if (status != 0)
        return status;
    static char request[S_MAX_REQUEST];
    size_t len = s_request_build(&config, request, sizeof request);
    if (len < 2)
        return s_usage("the request does not fit in 64 KiB");

    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    s_conn_t *conns = calloc((size_t)config.n, sizeof *conns);
    if (!conns)
        return 1;
    for (long i = 0; i < config.n; i++) {
        conns[i].fd = -1;
        http_parser_init(&conns[i].parser, HTTP_RESPONSE);
        conns[i].parser.data = &conns[i];
    }
    int64_t deadline = sp_clock_mono_ns() + config.max_s * 1000000000LL;
    s_figures_t fig = {0};
    status = 1;
    if (s_connect_all(&config, conns, request, len - 1, deadline, &fig) != 0)
        goto out;
    s_wait_acked(&config, conns, deadline, &fig);
    s_release_all(&config, conns, request[len - 1], &fig);
    if (s_read_all(&config, conns, deadline, &fig) != 0)
        goto out;
    status = fig.ok == config.n ? 0 : 3;
    printf("{\"tool\":\"floor\",\"method\":\"%s\",\"n\":%ld,\"request_bytes\":%zu,"
           "\"connected\":%ld,\"prewritten\":%ld,\"acked\":%s,\"released\":%ld,"
           "\"answered\":%ld,\"ok\":%ld,\"connect_ms\":%.3f,\"ack_wait_ms\":%.3f,"
           "\"release_start_ns\":%" PRId64 ",\"release_end_ns\":%" PRId64
           ",\"release_ms\":%.3f}\n",
           config.method, config.n, len, fig.connected, fig.prewritten,
           fig.acked ? "true" : "false", fig.released, fig.answered, fig.ok,
           fig.connect_ns / 1e6, fig.acked_ns / 1e6, fig.release_start_ns,
           fig.release_end_ns, (fig.release_end_ns - fig.release_start_ns) / 1e6);
out:
    for (long i = 0; i < config.n; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    free(conns);
    return status;
}
