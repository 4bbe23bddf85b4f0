/*  emu_listener — listening sockets; see emu_listener.h. */
#include "emu_listener.h"
#include "sp_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Splits `hostport` into a host copy and the port text. Returns 0/-1.
static int
s_split(const char *hostport, char *host, size_t host_size, const char **port_text,
        bool *v6, char *err, size_t err_size)
{
    if (!hostport || !*hostport) {
        snprintf(err, err_size, "address is empty");
        return -1;
    }
    const char *end;
    const char *start = hostport;
    *v6 = hostport[0] == '[';
    if (*v6) {
        start++;
        end = strchr(start, ']');
        if (!end || end[1] != ':') {
            snprintf(err, err_size, "expected [IPv6]:PORT");
            return -1;
        }
        *port_text = end + 2;
    } else {
        end = strrchr(hostport, ':');
        if (!end) {
            snprintf(err, err_size, "expected HOST:PORT");
            return -1;
        }
        *port_text = end + 1;
    }
    size_t len = (size_t)(end - start);
    if (len == 0 || len >= host_size) {
        snprintf(err, err_size, "host is empty or too long");
        return -1;
    }
    memcpy(host, start, len);
    host[len] = '\0';
    return 0;
}

int
emu_listener_parse(const char *hostport, struct sockaddr_storage *addr,
                   socklen_t *addr_len, char *err, size_t err_size)
{
    assert(addr && addr_len);
    char host[64];
    const char *port_text;
    bool v6;
    memset(addr, 0, sizeof *addr);
    if (s_split(hostport, host, sizeof host, &port_text, &v6, err, err_size))
        return -1;
    char *end = NULL;
    errno = 0;
    long port = strtol(port_text, &end, 10);
    bool digits = port_text[0] >= '0' && port_text[0] <= '9';
    if (!digits || errno || *end || port > 65535) {
        snprintf(err, err_size, "port must be 0..65535");
        return -1;
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
    if (!v6 && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *addr_len = sizeof *in4;
        return 0;
    }
    if (v6 && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *addr_len = sizeof *in6;
        return 0;
    }
    snprintf(err, err_size, "host must be a numeric IPv4 address or [IPv6]");
    return -1;
}

int
emu_listener_open(const char *hostport, int backlog, uint16_t *port_p, char *err,
                  size_t err_size)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (emu_listener_parse(hostport, &addr, &addr_len, err, err_size))
        return -1;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_size, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
        snprintf(err, err_size, "bind %s: %s", hostport, strerror(errno));
        goto fail;
    }
    if (listen(fd, backlog) != 0) {
        snprintf(err, err_size, "listen %s: %s", hostport, strerror(errno));
        goto fail;
    }
    addr_len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) != 0) {
        snprintf(err, err_size, "getsockname: %s", strerror(errno));
        goto fail;
    }
    if (port_p)
        *port_p =
            ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                             : ((struct sockaddr_in *)&addr)->sin_port);
    return fd;
fail:
    close(fd);
    return -1;
}

int
emu_listener_format(const char *hostport, uint16_t port, char *out, size_t size)
{
    char host[64], err[64];
    const char *port_text;
    bool v6;
    if (s_split(hostport, host, sizeof host, &port_text, &v6, err, sizeof err))
        return -1;
    int n = snprintf(out, size, v6 ? "[%s]:%u" : "%s:%u", host, port);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

void
emu_listener_test(bool verbose)
{
    struct sockaddr_storage addr;
    socklen_t len;
    char err[128];
    CHECK_INT(emu_listener_parse("127.0.0.1:9000", &addr, &len, err, sizeof err), 0);
    CHECK_INT(addr.ss_family, AF_INET);
    CHECK_INT(ntohs(((struct sockaddr_in *)&addr)->sin_port), 9000);
    CHECK_INT(emu_listener_parse("0.0.0.0:0", &addr, &len, err, sizeof err), 0);
    CHECK_INT(emu_listener_parse("[::1]:65535", &addr, &len, err, sizeof err), 0);
    CHECK_INT(addr.ss_family, AF_INET6);
    CHECK_INT(len, sizeof(struct sockaddr_in6));
    CHECK_INT(emu_listener_parse("", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "address is empty");
    CHECK_INT(emu_listener_parse(NULL, &addr, &len, err, sizeof err), -1);
    CHECK_INT(emu_listener_parse("9000", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "expected HOST:PORT");
    CHECK_INT(emu_listener_parse(":9000", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "host is empty or too long");
    CHECK_INT(emu_listener_parse("127.0.0.1:65536", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "port must be 0..65535");
    CHECK_INT(emu_listener_parse("127.0.0.1:-1", &addr, &len, err, sizeof err), -1);
    CHECK_INT(emu_listener_parse("127.0.0.1:", &addr, &len, err, sizeof err), -1);
    CHECK_INT(emu_listener_parse("127.0.0.1:80a", &addr, &len, err, sizeof err), -1);
    CHECK_INT(emu_listener_parse("localhost:80", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "host must be a numeric IPv4 address or [IPv6]");
    CHECK_INT(emu_listener_parse("::1:80", &addr, &len, err, sizeof err), -1);
    CHECK_INT(emu_listener_parse("[::1]80", &addr, &len, err, sizeof err), -1);
    CHECK_STR(err, "expected [IPv6]:PORT");
    CHECK_INT(emu_listener_parse("[127.0.0.1]:80", &addr, &len, err, sizeof err), -1);

    uint16_t port = 0;
    int fd = emu_listener_open("127.0.0.1:0", 16, &port, err, sizeof err);
    CHECK_TRUE(fd >= 0);
    CHECK_TRUE(port > 0);
    char hostport[64];
    CHECK_INT(emu_listener_format("127.0.0.1:0", port, hostport, sizeof hostport), 0);
    //  The same port again cannot be bound while in use.
    CHECK_INT(emu_listener_open(hostport, 16, NULL, err, sizeof err), -1);
    CHECK_TRUE(strncmp(err, "bind 127.0.0.1:", 15) == 0);
    close(fd);
    CHECK_INT(emu_listener_open("nope", 16, NULL, err, sizeof err), -1);
    CHECK_STR(err, "expected HOST:PORT");

    CHECK_INT(emu_listener_format("127.0.0.1:0", 8080, hostport, sizeof hostport), 0);
    CHECK_STR(hostport, "127.0.0.1:8080");
    CHECK_INT(emu_listener_format("[::1]:0", 5, hostport, sizeof hostport), 0);
    CHECK_STR(hostport, "[::1]:5");
    CHECK_INT(emu_listener_format("bad", 5, hostport, sizeof hostport), -1);
    CHECK_INT(emu_listener_format("127.0.0.1:0", 65535, hostport, 8), -1);
    (void)verbose;
}
