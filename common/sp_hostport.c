/*  sp_hostport — HOST:PORT parsing; see sp_hostport.h. */
#include "sp_hostport.h"
#include "sp_check.h"
#include "sp_err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

//  True when `host` is a DNS name as the grammar allows it.
static bool
s_name(const char *host)
{
    for (const char *p = host; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!isalnum(c) && c != '.' && c != '-' && c != '_')
            return false;
    }
    return true;
}

//  Parses the port text after the colon into *port.
static sp_hostport_error_t
s_port(const char *text, int flags, uint16_t *port, char *err, size_t err_size)
{
    long min = (flags & SP_HOSTPORT_PORT0) ? 0 : 1;
    char *end = NULL;
    errno = 0;
    long value = isdigit((unsigned char)text[0]) ? strtol(text, &end, 10) : -1;
    if (value < min || value > 65535 || errno != 0 || !end || *end != '\0') {
        sp_err_set(err, err_size, "port must be %ld..65535", min);
        return SP_HOSTPORT_EPORT;
    }
    *port = (uint16_t)value;
    return SP_HOSTPORT_OK;
}

sp_hostport_error_t
sp_hostport_parse(const char *text, int flags, sp_hostport_t *out, char *err,
                  size_t err_size)
{
    assert(out);
    memset(out, 0, sizeof *out);
    if (!text || !*text) {
        sp_err_set(err, err_size, "address is empty");
        return SP_HOSTPORT_EFORM;
    }
    const char *start = text;
    const char *end;
    const char *port_text;
    out->ipv6 = text[0] == '[';
    if (out->ipv6) {
        start++;
        end = strchr(start, ']');
        if (!end || end[1] != ':') {
            sp_err_set(err, err_size, "expected [IPv6]:PORT");
            return SP_HOSTPORT_EFORM;
        }
        port_text = end + 2;
    } else {
        end = strrchr(text, ':');
        if (!end) {
            sp_err_set(err, err_size, "expected HOST:PORT");
            return SP_HOSTPORT_EFORM;
        }
        port_text = end + 1;
    }
    size_t len = (size_t)(end - start);
    if (len == 0 || len > SP_HOSTPORT_HOST_MAX) {
        sp_err_set(err, err_size, "host is empty or too long");
        return SP_HOSTPORT_EHOST;
    }
    memcpy(out->host, start, len);
    out->host[len] = '\0';

    struct in6_addr in6;
    struct in_addr in4;
    bool ok = out->ipv6 ? inet_pton(AF_INET6, out->host, &in6) == 1
                        : inet_pton(AF_INET, out->host, &in4) == 1 ||
                              ((flags & SP_HOSTPORT_NAMES) && s_name(out->host));
    if (!ok) {
        sp_err_set(
            err, err_size, "%s",
            (flags & SP_HOSTPORT_NAMES)
                ? "host must be a name, an IPv4 address or a bracketed IPv6 address"
                : "host must be a numeric IPv4 address or [IPv6]");
        return SP_HOSTPORT_EHOST;
    }
    return s_port(port_text, flags, &out->port, err, err_size);
}

int
sp_hostport_sockaddr(const sp_hostport_t *self, struct sockaddr_storage *addr,
                     socklen_t *addr_len)
{
    assert(self && addr && addr_len);
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
    if (!self->ipv6 && inet_pton(AF_INET, self->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(self->port);
        *addr_len = sizeof *in4;
        return 0;
    }
    if (self->ipv6 && inet_pton(AF_INET6, self->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(self->port);
        *addr_len = sizeof *in6;
        return 0;
    }
    return -1;
}

int
sp_hostport_format(const sp_hostport_t *self, uint16_t port, char *out, size_t size)
{
    assert(self && out);
    int n = snprintf(out, size, self->ipv6 ? "[%s]:%u" : "%s:%u", self->host, port);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

//  Parses `text` and expects failure `kind` with reason `reason`.
static void
s_expect_fail(const char *text, int flags, sp_hostport_error_t kind, const char *reason)
{
    sp_hostport_t hp;
    char err[128] = "";
    CHECK_INT(sp_hostport_parse(text, flags, &hp, err, sizeof err), kind);
    CHECK_STR(err, reason);
}

void
sp_hostport_test(bool verbose)
{
    sp_hostport_t hp;
    char err[128];
    struct sockaddr_storage addr;
    socklen_t len;
    char text[300];

    CHECK_INT(sp_hostport_parse("127.0.0.1:9000", 0, &hp, err, sizeof err), 0);
    CHECK_STR(hp.host, "127.0.0.1");
    CHECK_INT(hp.port, 9000);
    CHECK_INT(hp.ipv6, false);
    CHECK_INT(sp_hostport_sockaddr(&hp, &addr, &len), 0);
    CHECK_INT(addr.ss_family, AF_INET);
    CHECK_INT(len, sizeof(struct sockaddr_in));
    CHECK_INT(ntohs(((struct sockaddr_in *)&addr)->sin_port), 9000);

    CHECK_INT(sp_hostport_parse("[::1]:65535", 0, &hp, err, sizeof err), 0);
    CHECK_STR(hp.host, "::1");
    CHECK_INT(hp.ipv6, true);
    CHECK_INT(sp_hostport_sockaddr(&hp, &addr, &len), 0);
    CHECK_INT(addr.ss_family, AF_INET6);
    CHECK_INT(len, sizeof(struct sockaddr_in6));
    CHECK_INT(sp_hostport_format(&hp, 5, text, sizeof text), 0);
    CHECK_STR(text, "[::1]:5");
    CHECK_INT(sp_hostport_format(&hp, 65535, text, 8), -1);

    //  Port 0 only when asked for.
    CHECK_INT(sp_hostport_parse("0.0.0.0:0", SP_HOSTPORT_PORT0, &hp, err, sizeof err), 0);
    CHECK_INT(hp.port, 0);
    s_expect_fail("0.0.0.0:0", 0, SP_HOSTPORT_EPORT, "port must be 1..65535");
    s_expect_fail("127.0.0.1:65536", SP_HOSTPORT_PORT0, SP_HOSTPORT_EPORT,
                  "port must be 0..65535");
    s_expect_fail("127.0.0.1:-1", 0, SP_HOSTPORT_EPORT, "port must be 1..65535");
    s_expect_fail("127.0.0.1:+1", 0, SP_HOSTPORT_EPORT, "port must be 1..65535");
    s_expect_fail("127.0.0.1:", 0, SP_HOSTPORT_EPORT, "port must be 1..65535");
    s_expect_fail("127.0.0.1:80a", 0, SP_HOSTPORT_EPORT, "port must be 1..65535");
    s_expect_fail("127.0.0.1:99999999999999999999", 0, SP_HOSTPORT_EPORT,
                  "port must be 1..65535");

    //  Form errors.
    s_expect_fail("", 0, SP_HOSTPORT_EFORM, "address is empty");
    s_expect_fail(NULL, 0, SP_HOSTPORT_EFORM, "address is empty");
    s_expect_fail("9000", 0, SP_HOSTPORT_EFORM, "expected HOST:PORT");
    s_expect_fail("[::1]80", 0, SP_HOSTPORT_EFORM, "expected [IPv6]:PORT");
    s_expect_fail("[::1", 0, SP_HOSTPORT_EFORM, "expected [IPv6]:PORT");

    //  Host errors: numeric only by default, IPv6 only in brackets.
    s_expect_fail(":9000", 0, SP_HOSTPORT_EHOST, "host is empty or too long");
    s_expect_fail("[]:9000", SP_HOSTPORT_NAMES, SP_HOSTPORT_EHOST,
                  "host is empty or too long");
    s_expect_fail("localhost:80", 0, SP_HOSTPORT_EHOST,
                  "host must be a numeric IPv4 address or [IPv6]");
    s_expect_fail("::1:80", 0, SP_HOSTPORT_EHOST,
                  "host must be a numeric IPv4 address or [IPv6]");
    s_expect_fail("[127.0.0.1]:80", 0, SP_HOSTPORT_EHOST,
                  "host must be a numeric IPv4 address or [IPv6]");
    s_expect_fail("[example.com]:80", SP_HOSTPORT_NAMES, SP_HOSTPORT_EHOST,
                  "host must be a name, an IPv4 address or a bracketed IPv6 address");
    s_expect_fail("eth0;10.0.0.1:5555", SP_HOSTPORT_NAMES, SP_HOSTPORT_EHOST,
                  "host must be a name, an IPv4 address or a bracketed IPv6 address");

    //  Names when asked for; a name has no socket address.
    CHECK_INT(sp_hostport_parse("ctl-1.example_net:5555", SP_HOSTPORT_NAMES, &hp, err,
                                sizeof err),
              0);
    CHECK_STR(hp.host, "ctl-1.example_net");
    CHECK_INT(hp.port, 5555);
    CHECK_INT(sp_hostport_sockaddr(&hp, &addr, &len), -1);
    CHECK_INT(sp_hostport_format(&hp, 1, text, sizeof text), 0);
    CHECK_STR(text, "ctl-1.example_net:1");

    //  The host length cap, exactly.
    memset(text, 'a', SP_HOSTPORT_HOST_MAX);
    snprintf(text + SP_HOSTPORT_HOST_MAX, sizeof text - SP_HOSTPORT_HOST_MAX, ":1");
    CHECK_INT(sp_hostport_parse(text, SP_HOSTPORT_NAMES, &hp, err, sizeof err), 0);
    CHECK_INT(strlen(hp.host), SP_HOSTPORT_HOST_MAX);
    memset(text, 'a', SP_HOSTPORT_HOST_MAX + 1);
    snprintf(text + SP_HOSTPORT_HOST_MAX + 1, sizeof text - SP_HOSTPORT_HOST_MAX - 1,
             ":1");
    s_expect_fail(text, SP_HOSTPORT_NAMES, SP_HOSTPORT_EHOST,
                  "host is empty or too long");

    //  A NULL err is allowed.
    CHECK_INT(sp_hostport_parse("x", 0, &hp, NULL, 0), SP_HOSTPORT_EFORM);
    (void)verbose;
}
