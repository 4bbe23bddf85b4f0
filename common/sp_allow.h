/*  sp_allow — the one rule of a target allow-list: which hosts a load
    generator may be pointed at. The agent enforces it on every Prepare
    (agent_config_allows); the controller's HTTP API applies the same rule
    to a target a client names, so a run the agents would refuse is
    refused before it is created.

    A host is allowed when
        the list keeps its default (loopback) and the host is loopback by
        sp_addr's rule, or
        it equals a pattern (case-insensitive; "[::1]" matched literally), or
        it matches a pattern by fnmatch(3), case-insensitive; a pattern of
        digits, dots and wildcards only ("127.*", "10.0.?.5") names IPv4
        addresses and never matches a DNS name ("127.0.0.1.evil.example").
    An empty host, a host longer than SP_ALLOW_MAX_PATTERN or one holding
    '%' (a zone id or an encoded byte) is never allowed. No state; any
    thread.
*/
#ifndef SP_ALLOW_H
#define SP_ALLOW_H

#include <stdbool.h>
#include <stddef.h>

#define SP_ALLOW_MAX_PATTERNS 64
#define SP_ALLOW_MAX_PATTERN 255

//  True when host is allowed by the rule above. loopback: the default
//  (loopback) list is in force; patterns (count of them, may be NULL when
//  count is 0) are the operator's.
bool sp_allow_match(bool loopback, const char *const *patterns, size_t count,
                    const char *host);

//  True when pattern is a valid --allow value: 1-SP_ALLOW_MAX_PATTERN
//  printable ASCII characters without spaces.
bool sp_allow_pattern_ok(const char *pattern);

void sp_allow_test(bool verbose);

#endif
