/*  ctl_http_guard — who may talk to the HTTP API and what it may point the
    agents at: the Host a request names (against DNS rebinding), the Origin
    of a state-changing request (against cross-site requests), and the
    target of a run command (against the agents' allow-list), each decided
    before anything acts on the request.

    Rules:
      - Host must name the server: the host of --http as configured, the
        local address the connection arrived on, "localhost" when that
        address is loopback — each with the bound port (no port = 80) — or
        the operator's --public-host (with its own port if it has one,
        else no port or the bound port). Wildcard addresses (0.0.0.0, ::)
        never name the server. Anything else: 421.
      - Origin, when a POST carries one, must be http:// + a name the Host
        rule accepts (https:// too for the public host). "null" or any other
        origin: 403. A request without Origin is not from a browser's
        cross-site context (browsers send it on every POST) and passes.
      - A run command's url must name a host the allow-list admits
        (sp_allow: loopback by default, the operator's --allow patterns
        otherwise), the same rule the agents enforce: 400 with the reason.

    Untrusted input: the Host and Origin headers and the run command;
    lengths capped at CTL_HTTP_GUARD_MAX_NAME. Pure functions, any thread;
    each returns 0 when accepted, or the HTTP status with a message in err.
*/
#ifndef CTL_HTTP_GUARD_H
#define CTL_HTTP_GUARD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CTL_HTTP_GUARD_MAX_NAME 255 //  a host name in Host, Origin, --public-host

//  The names this server answers to, for one connection.
typedef struct {
    const char *listen_host; //  host of --http as given ("127.0.0.1", "[::1]", a name)
    const char
        *local_host;     //  the connection's local address ("[::1]" bracketed), or NULL
    bool local_loopback; //  local_host is loopback: "localhost" names it too
    int port;            //  the bound port
    const char *public_host; //  --public-host "name[:port]", or NULL
} ctl_http_names_t;

//  Host header (NULL when absent) -> 0 or 421.
int ctl_http_host_check(const ctl_http_names_t *names, const char *host, char *err,
                        size_t err_size);

//  Origin header (NULL when absent) of a state-changing request -> 0 or 403.
int ctl_http_origin_check(const ctl_http_names_t *names, const char *origin, char *err,
                          size_t err_size);

//  The run command's "url" (absent or null: the server's default, not
//  checked here) against the allow-list: loopback kept when `loopback`,
//  plus count patterns. -> 0 or 400.
int ctl_http_target_check(const json_t *command, bool loopback,
                          const char *const *patterns, size_t count, char *err,
                          size_t err_size);

//  True when public_host is a valid --public-host: "name" or "name:port",
//  a name of 1-CTL_HTTP_GUARD_MAX_NAME letters, digits, '.', '-' (or a
//  bracketed IPv6 literal), a port 1-65535.
bool ctl_http_public_host_ok(const char *public_host);

void ctl_http_guard_test(bool verbose);

#endif
