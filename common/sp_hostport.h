/*  sp_hostport — the one HOST:PORT parser.

    Owns the grammar every binary uses for an address given on the command
    line or in the environment:

        A.B.C.D:PORT      an IPv4 literal
        [IPv6]:PORT       an IPv6 literal, always bracketed
        NAME:PORT         a DNS name (letters, digits, '.', '-', '_'),
                          only when the caller passes SP_HOSTPORT_NAMES

    PORT is decimal digits only, 1..65535, or 0..65535 with
    SP_HOSTPORT_PORT0 (0 = "pick an ephemeral port"). The host is at most
    SP_HOSTPORT_HOST_MAX bytes. Without SP_HOSTPORT_NAMES a host must be
    numeric: an unbracketed host must be IPv4, a bracketed one IPv6.

    The parse result is a plain value (sp_hostport_t) the caller keeps on
    its stack; there is nothing to free. No state; any thread.

    Failures come back as a kind (form, host, port) and a reason written
    through sp_err_set, so a boundary module can either show the reason or
    word its own message per kind.
*/
#ifndef SP_HOSTPORT_H
#define SP_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SP_HOSTPORT_HOST_MAX 255

//  Flags for sp_hostport_parse.
#define SP_HOSTPORT_NAMES 1 //  a DNS name is an acceptable host
#define SP_HOSTPORT_PORT0 2 //  port 0 is acceptable

//  What was wrong; 0 means nothing.
typedef enum {
    SP_HOSTPORT_OK = 0,
    SP_HOSTPORT_EFORM = -1, //  empty, no ":PORT", or a bad [IPv6] form
    SP_HOSTPORT_EHOST = -2, //  host empty, too long or not allowed
    SP_HOSTPORT_EPORT = -3, //  port not digits or out of range
} sp_hostport_error_t;

//  A parsed address (a value; copy freely).
typedef struct {
    char host[SP_HOSTPORT_HOST_MAX + 1]; //  without brackets
    bool ipv6;                           //  the host was given as [IPv6]
    uint16_t port;                       //  the port
} sp_hostport_t;

//  Parses `text` under `flags` into *out. Returns SP_HOSTPORT_OK, or a
//  negative sp_hostport_error_t with a reason in `err` ("address is empty",
//  "expected HOST:PORT", "expected [IPv6]:PORT", "host is empty or too
//  long", "host must be a numeric IPv4 address or [IPv6]", "host must be a
//  name, an IPv4 address or a bracketed IPv6 address", "port must be
//  0..65535" / "port must be 1..65535"). *out is unspecified on failure.
sp_hostport_error_t sp_hostport_parse(const char *text, int flags, sp_hostport_t *out,
                                      char *err, size_t err_size);

//  Fills a socket address for a numeric `self` (parsed without
//  SP_HOSTPORT_NAMES, or holding a literal). Returns 0, or -1 when the host
//  is not a numeric address.
int sp_hostport_sockaddr(const sp_hostport_t *self, struct sockaddr_storage *addr,
                         socklen_t *addr_len);

//  Writes "HOST:PORT" ("[IPv6]:PORT") for `self` with its port replaced by
//  `port` into `out`. Returns 0, or -1 when it does not fit.
int sp_hostport_format(const sp_hostport_t *self, uint16_t port, char *out, size_t size);

void sp_hostport_test(bool verbose);

#endif
