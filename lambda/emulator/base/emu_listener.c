/*  emu_listener — listening sockets; see emu_listener.h. */
#include "emu_listener.h"
#include "sp_check.h"
#include "sp_err.h"
#include "sp_hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
emu_listener_parse(const char *hostport, struct sockaddr_storage *addr,
                   socklen_t *addr_len, char *err, size_t err_size)
{
    assert(addr && addr_len);
    sp_hostport_t parsed;
    memset(addr, 0, sizeof *addr);
    if (sp_hostport_parse(hostport, SP_HOSTPORT_PORT0, &parsed, err, err_size))
        return -1;
    return sp_hostport_sockaddr(&parsed, addr, addr_len);
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
        sp_err_set(err, err_size, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
        sp_err_set(err, err_size, "bind %s: %s", hostport, strerror(errno));
        goto fail;
    }
    if (listen(fd, backlog) != 0) {
        sp_err_set(err, err_size, "listen %s: %s", hostport, strerror(errno));
        goto fail;
    }
    addr_len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) != 0) {
        sp_err_set(err, err_size, "getsockname: %s", strerror(errno));
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
    sp_hostport_t parsed;
    if (sp_hostport_parse(hostport, SP_HOSTPORT_PORT0, &parsed, NULL, 0))
        return -1;
    return sp_hostport_format(&parsed, port, out, size);
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
