/*  ctl_http_guard — Host, Origin and target checks; see ctl_http_guard.h.
 */
#include "ctl_http_guard.h"
#include "ctl_http_request.h"
#include "sp_allow.h"
#include "sp_check.h"
#include "sp_err.h"
#include "sp_url.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

//  "host[:port]" or "[v6][:port]" (len bytes) -> host (brackets kept) and
//  port (-1 when absent). Only the characters a host name or an address
//  literal can hold.
static bool
s_split(const char *text, size_t len, char *host, size_t host_size, int *port)
{
    if (len == 0 || len > CTL_HTTP_GUARD_MAX_NAME + 6)
        return false;
    size_t host_len;
    if (text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (!close)
            return false;
        host_len = (size_t)(close - text) + 1;
        for (size_t i = 1; i + 1 < host_len; i++)
            if (!strchr("0123456789abcdefABCDEF:.", text[i]))
                return false;
    } else {
        const char *colon = memchr(text, ':', len);
        host_len = colon ? (size_t)(colon - text) : len;
        for (size_t i = 0; i < host_len; i++) {
            char c = text[i];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
            if (!ok)
                return false;
        }
    }
    if (host_len == 0 || host_len >= host_size || host_len > CTL_HTTP_GUARD_MAX_NAME)
        return false;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    *port = -1;
    if (host_len == len)
        return true;
    if (text[host_len] != ':' || len - host_len - 1 < 1 || len - host_len - 1 > 5)
        return false;
    int value = 0;
    for (size_t i = host_len + 1; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        value = value * 10 + (text[i] - '0');
    }
    if (value < 1 || value > 65535)
        return false;
    *port = value;
    return true;
}

//  0.0.0.0 or :: (any spelling): an address to listen on, never a name.
static bool
s_wildcard(const char *host)
{
    char bare[64];
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof bare) {
        memcpy(bare, host + 1, len - 2);
        bare[len - 2] = '\0';
        host = bare;
    }
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return v4.s_addr == htonl(INADDR_ANY);
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return memcmp(&v6, &in6addr_any, sizeof v6) == 0;
    return false;
}

static bool
s_same(const char *configured, const char *host)
{
    return configured && configured[0] && !s_wildcard(configured) &&
           strcasecmp(configured, host) == 0;
}

//  True when host with port (-1: none, meaning default_port) names the
//  server; only the public host when public_only.
static bool
s_names_server(const ctl_http_names_t *names, const char *host, int port,
               int default_port, bool public_only)
{
    int effective = port < 0 ? default_port : port;
    if (!public_only && effective == names->port &&
        (s_same(names->listen_host, host) || s_same(names->local_host, host) ||
         (names->local_loopback && strcasecmp(host, "localhost") == 0)))
        return true;
    if (!names->public_host)
        return false;
    char public_name[CTL_HTTP_GUARD_MAX_NAME + 1];
    int public_port;
    if (!s_split(names->public_host, strlen(names->public_host), public_name,
                 sizeof public_name, &public_port) ||
        strcasecmp(public_name, host) != 0)
        return false;
    if (public_port >= 0)
        return effective == public_port;
    return port < 0 || port == names->port;
}

int
ctl_http_host_check(const ctl_http_names_t *names, const char *host, char *err,
                    size_t err_size)
{
    assert(names);
    char name[CTL_HTTP_GUARD_MAX_NAME + 1];
    int port;
    if (!host || !*host) {
        sp_err_set(err, err_size, "a Host header is required");
        return 421;
    }
    if (s_split(host, strlen(host), name, sizeof name, &port) &&
        s_names_server(names, name, port, 80, false))
        return 0;
    char shown[64];
    ctl_http_printable(shown, sizeof shown, host);
    sp_err_set(err, err_size,
               "Host \"%s\" does not name this server (use the address it listens on, "
               "or start it with --public-host)",
               shown);
    return 421;
}

int
ctl_http_origin_check(const ctl_http_names_t *names, const char *origin, char *err,
                      size_t err_size)
{
    assert(names);
    if (!origin)
        return 0;
    bool https = strncasecmp(origin, "https://", 8) == 0;
    bool http = strncasecmp(origin, "http://", 7) == 0;
    const char *authority = origin + (https ? 8 : 7);
    char name[CTL_HTTP_GUARD_MAX_NAME + 1];
    int port;
    if ((http || https) &&
        s_split(authority, strlen(authority), name, sizeof name, &port) &&
        s_names_server(names, name, port, https ? 443 : 80, https))
        return 0;
    char shown[64];
    ctl_http_printable(shown, sizeof shown, origin);
    sp_err_set(err, err_size, "cross-origin request refused (Origin \"%s\")", shown);
    return 403;
}

int
ctl_http_target_check(const json_t *command, bool loopback, const char *const *patterns,
                      size_t count, char *err, size_t err_size)
{
    const char *url = json_string_value(json_object_get(command, "url"));
    if (!url)
        return 0;
    sp_url_t parsed;
    char why[256];
    if (sp_url_parse(url, &parsed, why, sizeof why) != 0) {
        sp_err_set(err, err_size, "%s", why);
        return 400;
    }
    if (sp_allow_match(loopback, patterns, count, parsed.host))
        return 0;
    char shown[128];
    ctl_http_printable(shown, sizeof shown, parsed.host);
    if (count == 0)
        sp_err_set(err, err_size,
                   "target host %s is not in the agents' allow-list (loopback only; "
                   "give the agents and stampede serve --allow PATTERN)",
                   shown);
    else
        sp_err_set(err, err_size,
                   "target host %s is not in the agents' allow-list (stampede serve "
                   "--allow)",
                   shown);
    return 400;
}

bool
ctl_http_public_host_ok(const char *public_host)
{
    char name[CTL_HTTP_GUARD_MAX_NAME + 1];
    int port;
    return public_host &&
           s_split(public_host, strlen(public_host), name, sizeof name, &port) &&
           !s_wildcard(name);
}

void
ctl_http_guard_test(bool verbose)
{
    (void)verbose;
    char err[512];
    ctl_http_names_t names = {.listen_host = "127.0.0.1",
                              .local_host = "127.0.0.1",
                              .local_loopback = true,
                              .port = 5000};
    //  Host.
    const char *hosts_ok[] = {"127.0.0.1:5000", "localhost:5000", "LOCALHOST:5000"};
    for (size_t i = 0; i < sizeof hosts_ok / sizeof hosts_ok[0]; i++)
        CHECK_INT(ctl_http_host_check(&names, hosts_ok[i], err, sizeof err), 0);
    const char *hosts_bad[] = {"evil.example:5000", "127.0.0.1:5001",  "127.0.0.1",
                               "localhost",         "127.0.0.1:",      "127.0.0.1:0",
                               "127.0.0.1:99999",   "a b:5000",        "[::1:5000",
                               "0.0.0.0:5000",      "127.0.0.1:5000/x"};
    for (size_t i = 0; i < sizeof hosts_bad / sizeof hosts_bad[0]; i++)
        CHECK_INT(ctl_http_host_check(&names, hosts_bad[i], err, sizeof err), 421);
    CHECK_STR(err, "Host \"127.0.0.1:5000/x\" does not name this server (use the "
                   "address it listens on, or start it with --public-host)");
    CHECK_INT(ctl_http_host_check(&names, NULL, err, sizeof err), 421);
    CHECK_STR(err, "a Host header is required");
    CHECK_INT(ctl_http_host_check(&names, "", err, sizeof err), 421);

    //  A wildcard listener: the connection's local address names it.
    ctl_http_names_t any = {.listen_host = "0.0.0.0",
                            .local_host = "192.0.2.7",
                            .local_loopback = false,
                            .port = 80,
                            .public_host = "dash.example.com"};
    CHECK_INT(ctl_http_host_check(&any, "192.0.2.7", err, sizeof err), 0);
    CHECK_INT(ctl_http_host_check(&any, "192.0.2.7:80", err, sizeof err), 0);
    CHECK_INT(ctl_http_host_check(&any, "0.0.0.0", err, sizeof err), 421);
    CHECK_INT(ctl_http_host_check(&any, "localhost", err, sizeof err), 421);
    CHECK_INT(ctl_http_host_check(&any, "Dash.Example.com", err, sizeof err), 0);
    CHECK_INT(ctl_http_host_check(&any, "dash.example.com:80", err, sizeof err), 0);
    CHECK_INT(ctl_http_host_check(&any, "dash.example.com:81", err, sizeof err), 421);
    CHECK_INT(ctl_http_host_check(&any, "evil.dash.example.com", err, sizeof err), 421);
    ctl_http_names_t v6 = {.listen_host = "[::1]",
                           .local_host = "[::1]",
                           .local_loopback = true,
                           .port = 8080,
                           .public_host = "dash.example.com:8443"};
    CHECK_INT(ctl_http_host_check(&v6, "[::1]:8080", err, sizeof err), 0);
    CHECK_INT(ctl_http_host_check(&v6, "[::1]", err, sizeof err), 421);
    CHECK_INT(ctl_http_host_check(&v6, "dash.example.com:8443", err, sizeof err), 0);
    CHECK_INT(ctl_http_host_check(&v6, "dash.example.com:8080", err, sizeof err), 421);
    CHECK_INT(ctl_http_host_check(&v6, "dash.example.com", err, sizeof err), 421);

    //  Origin.
    CHECK_INT(ctl_http_origin_check(&names, NULL, err, sizeof err), 0);
    CHECK_INT(ctl_http_origin_check(&names, "http://127.0.0.1:5000", err, sizeof err), 0);
    CHECK_INT(ctl_http_origin_check(&names, "http://localhost:5000", err, sizeof err), 0);
    const char *origins_bad[] = {"null",
                                 "http://evil.example",
                                 "http://127.0.0.1:5001",
                                 "https://127.0.0.1:5000",
                                 "http://127.0.0.1:5000/",
                                 "ftp://127.0.0.1:5000",
                                 ""};
    for (size_t i = 0; i < sizeof origins_bad / sizeof origins_bad[0]; i++)
        CHECK_INT(ctl_http_origin_check(&names, origins_bad[i], err, sizeof err), 403);
    CHECK_INT(ctl_http_origin_check(&names, "http://evil.example", err, sizeof err), 403);
    CHECK_STR(err, "cross-origin request refused (Origin \"http://evil.example\")");
    CHECK_INT(ctl_http_origin_check(&any, "https://dash.example.com", err, sizeof err),
              0);
    CHECK_INT(ctl_http_origin_check(&any, "http://dash.example.com", err, sizeof err), 0);
    CHECK_INT(ctl_http_origin_check(&any, "https://192.0.2.7", err, sizeof err), 403);
    CHECK_INT(
        ctl_http_origin_check(&v6, "https://dash.example.com:8443", err, sizeof err), 0);

    //  Targets.
    json_t *command = json_pack("{s:s}", "url", "http://127.0.0.1:9000/url/demo/");
    CHECK_INT(ctl_http_target_check(command, true, NULL, 0, err, sizeof err), 0);
    json_decref(command);
    command = json_pack("{s:s}", "url", "https://example.com/");
    CHECK_INT(ctl_http_target_check(command, true, NULL, 0, err, sizeof err), 400);
    CHECK_STR(err, "target host example.com is not in the agents' allow-list (loopback "
                   "only; give the agents and stampede serve --allow PATTERN)");
    const char *patterns[] = {"*.example.com"};
    CHECK_INT(ctl_http_target_check(command, false, patterns, 1, err, sizeof err), 400);
    CHECK_STR(err, "target host example.com is not in the agents' allow-list (stampede "
                   "serve --allow)");
    json_decref(command);
    command = json_pack("{s:s}", "url", "https://abc.example.com/");
    CHECK_INT(ctl_http_target_check(command, false, patterns, 1, err, sizeof err), 0);
    json_decref(command);
    command = json_pack("{s:n}", "url");
    CHECK_INT(ctl_http_target_check(command, true, NULL, 0, err, sizeof err), 0);
    json_decref(command);
    command = json_pack("{s:s}", "url", "http://0x7f.1:9/");
    CHECK_INT(ctl_http_target_check(command, true, NULL, 0, err, sizeof err), 0);
    json_decref(command);

    //  --public-host.
    CHECK_TRUE(ctl_http_public_host_ok("dash.example.com"));
    CHECK_TRUE(ctl_http_public_host_ok("dash.example.com:8443"));
    CHECK_TRUE(ctl_http_public_host_ok("[2001:db8::1]:80"));
    CHECK_TRUE(!ctl_http_public_host_ok("0.0.0.0"));
    CHECK_TRUE(!ctl_http_public_host_ok("http://dash.example.com"));
    CHECK_TRUE(!ctl_http_public_host_ok(""));
    CHECK_TRUE(!ctl_http_public_host_ok(NULL));
}
