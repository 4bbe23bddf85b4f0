/*  sp_allow — the target allow-list rule; see sp_allow.h.
 */
#include "sp_allow.h"
#include "sp_addr.h"
#include "sp_check.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <string.h>

//  Lower-cases src into dest; false when it does not fit.
static bool
s_lower(char *dest, size_t dest_size, const char *src)
{
    size_t len = strlen(src);
    if (len >= dest_size)
        return false;
    for (size_t i = 0; i <= len; i++)
        dest[i] = (char)tolower((unsigned char)src[i]);
    return true;
}

//  Digits, dots and wildcards only: a pattern of IPv4 addresses.
static bool
s_address_pattern(const char *pattern)
{
    return strspn(pattern, "0123456789.*?") == strlen(pattern);
}

bool
sp_allow_match(bool loopback, const char *const *patterns, size_t count, const char *host)
{
    char lower_host[SP_ALLOW_MAX_PATTERN + 1];
    if (!host || !host[0] || strchr(host, '%') ||
        !s_lower(lower_host, sizeof lower_host, host))
        return false;
    if (loopback && sp_addr_is_loopback(lower_host))
        return true;
    struct in_addr ipv4;
    bool is_ipv4 = inet_pton(AF_INET, lower_host, &ipv4) == 1;
    for (size_t i = 0; i < count; i++) {
        char pattern[SP_ALLOW_MAX_PATTERN + 1];
        if (!patterns[i] || !s_lower(pattern, sizeof pattern, patterns[i]))
            continue;
        //  A literal match first: "[::1]" is a bracket expression to fnmatch.
        if (strcmp(pattern, lower_host) == 0)
            return true;
        if (s_address_pattern(pattern) && !is_ipv4)
            continue;
        if (fnmatch(pattern, lower_host, 0) == 0)
            return true;
    }
    return false;
}

bool
sp_allow_pattern_ok(const char *pattern)
{
    size_t len = pattern ? strlen(pattern) : 0;
    bool valid = len >= 1 && len <= SP_ALLOW_MAX_PATTERN;
    for (size_t i = 0; valid && i < len; i++)
        valid = pattern[i] > 0x20 && pattern[i] < 0x7f;
    return valid;
}

void
sp_allow_test(bool verbose)
{
    (void)verbose;
    //  The default list: loopback only.
    const char *loopback_yes[] = {"127.0.0.1", "127.10.20.30", "LOCALHOST", "[::1]",
                                  "::1"};
    for (size_t i = 0; i < sizeof loopback_yes / sizeof loopback_yes[0]; i++)
        CHECK_TRUE(sp_allow_match(true, NULL, 0, loopback_yes[i]));
    const char *loopback_no[] = {
        "10.0.0.1",         "127.0.0.1%2eevil.com", "127.0.0.1.evil.example",
        "127.evil.example", "127.0.0.1.1",          "",
        "example.com"};
    for (size_t i = 0; i < sizeof loopback_no / sizeof loopback_no[0]; i++)
        CHECK_TRUE(!sp_allow_match(true, NULL, 0, loopback_no[i]));
    CHECK_TRUE(!sp_allow_match(true, NULL, 0, NULL));

    //  Operator patterns replace the default.
    const char *patterns[] = {"*.lambda-url.*.on.aws", "api.example.com", "10.0.?.5",
                              "[::1]"};
    CHECK_TRUE(sp_allow_match(false, patterns, 4, "abc.lambda-url.us-east-1.on.aws"));
    CHECK_TRUE(sp_allow_match(false, patterns, 4, "API.Example.COM"));
    CHECK_TRUE(sp_allow_match(false, patterns, 4, "10.0.7.5"));
    CHECK_TRUE(sp_allow_match(false, patterns, 4, "[::1]"));
    CHECK_TRUE(!sp_allow_match(false, patterns, 4, "127.0.0.1"));
    CHECK_TRUE(!sp_allow_match(false, patterns, 4, "evil.com"));
    CHECK_TRUE(!sp_allow_match(false, patterns, 4, "10.0.7.5.evil.example"));
    CHECK_TRUE(!sp_allow_match(false, patterns, 4, "abc.lambda-url.x.on.aws%00"));
    //  Both: loopback kept beside the patterns.
    CHECK_TRUE(sp_allow_match(true, patterns, 4, "127.0.0.1"));

    //  Pattern syntax.
    CHECK_TRUE(sp_allow_pattern_ok("*.example.com"));
    CHECK_TRUE(!sp_allow_pattern_ok(""));
    CHECK_TRUE(!sp_allow_pattern_ok(NULL));
    CHECK_TRUE(!sp_allow_pattern_ok("a b"));
    CHECK_TRUE(!sp_allow_pattern_ok("a\tb"));
    char long_pattern[SP_ALLOW_MAX_PATTERN + 2];
    memset(long_pattern, 'a', sizeof long_pattern - 1);
    long_pattern[sizeof long_pattern - 1] = '\0';
    CHECK_TRUE(!sp_allow_pattern_ok(long_pattern));
    long_pattern[SP_ALLOW_MAX_PATTERN] = '\0';
    CHECK_TRUE(sp_allow_pattern_ok(long_pattern));
}
