/*  sp_addr — the one definition of "loopback".

    A host is loopback when it is
        an IPv4 literal in 127.0.0.0/8 (dotted quad, as inet_pton reads it),
        the IPv6 loopback ::1 (any spelling inet_pton accepts, bracketed
        "[::1]" as in a URL or bare "::1"), or
        the name "localhost" (any case; exactly that name, not a
        subdomain — RFC 6761 reserves it for loopback and every system
        this project runs on resolves it there).
    Anything else — other names, "127.0.0.1.evil.example", IPv4-mapped
    ::ffff:127.0.0.1, zone ids — is not. No state; any thread.
*/
#ifndef SP_ADDR_H
#define SP_ADDR_H

#include <stdbool.h>

//  True when `host` (a host as written in HOST:PORT or a URL, brackets
//  allowed around IPv6) is loopback by the rule above. NULL is not.
bool sp_addr_is_loopback(const char *host);

void sp_addr_test(bool verbose);

#endif
