/*  sp_addr — the loopback rule; see sp_addr.h. */
#include "sp_addr.h"
#include "sp_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

bool
sp_addr_is_loopback(const char *host)
{
    if (!host)
        return false;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr in4;
    if (inet_pton(AF_INET, host, &in4) == 1)
        return (ntohl(in4.s_addr) >> 24) == 127;
    char bare[INET6_ADDRSTRLEN];
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len >= sizeof bare)
        return false;
    memcpy(bare, host, len);
    bare[len] = '\0';
    struct in6_addr in6;
    return inet_pton(AF_INET6, bare, &in6) == 1 && IN6_IS_ADDR_LOOPBACK(&in6);
}

void
sp_addr_test(bool verbose)
{
    const char *loopback[] = {"127.0.0.1", "127.255.255.254", "127.1.2.3",
                              "::1",       "[::1]",           "0:0:0:0:0:0:0:1",
                              "[0::1]",    "localhost",       "LocalHost"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
        if (verbose)
            printf("loopback: %s\n", loopback[i]);
        CHECK_TRUE(sp_addr_is_loopback(loopback[i]));
    }
    const char *other[] = {"10.0.0.1",
                           "128.0.0.1",
                           "126.255.255.255",
                           "0.0.0.0",
                           "::",
                           "::2",
                           "::ffff:127.0.0.1",
                           "[::1",
                           "::1]",
                           "[[::1]]",
                           "127.0.0.1.evil.example",
                           "127.",
                           "127.0.0.1:80",
                           "localhost.example",
                           "a.localhost",
                           "",
                           "example.com"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        if (verbose)
            printf("not loopback: %s\n", other[i]);
        CHECK_TRUE(!sp_addr_is_loopback(other[i]));
    }
    CHECK_TRUE(!sp_addr_is_loopback(NULL));
}
