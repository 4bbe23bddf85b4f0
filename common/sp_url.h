/*  sp_url — the one check of a target URL, through libcurl's URL API
    (curl_url), so the host we check is the host curl will connect to.

    A URL is accepted when curl_url parses it, its scheme is http or https
    (any case: curl normalises it), and it names a host. No hand parsing:
    userinfo, percent-encoding, IPv6 brackets and numeric shorthands
    ("0x7f.1") are curl's business, and the host is reported the way curl
    normalises it ("[::1]" with brackets, "127.0.0.1" for "0x7f.1"; the
    case of a name is kept). curl_url is not the transfer engine and needs
    no curl_global_init. No state; any thread.
*/
#ifndef SP_URL_H
#define SP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_URL_HOST_MAX 255
#define SP_URL_PATH_HEAD 64 //  bytes of the path kept, with the NUL

//  A checked URL's parts (a value; copy freely).
typedef struct {
    bool https;                       //  scheme is https (else http)
    char host[SP_URL_HOST_MAX + 1];   //  as curl normalises it, [IPv6] kept
    uint16_t port;                    //  explicit, or 80 / 443 by scheme
    char path_head[SP_URL_PATH_HEAD]; //  the path's first bytes, as curl has
                                      //  it ("/" at least), enough to tell
                                      //  a route by its prefix
} sp_url_t;

//  Checks `url` and fills *out. Returns 0, or -1 with a reason in `err`:
//  "URL is empty", "URL does not parse: <curl's reason>", "URL must start
//  with http:// or https://", "URL has no host", "URL host is too long".
int sp_url_parse(const char *url, sp_url_t *out, char *err, size_t err_size);

void sp_url_test(bool verbose);

#endif
