/*  emu_listener — listening TCP sockets for the emulator's HTTP daemons
    (the front door on --listen, one Runtime API endpoint per execution
    environment on 127.0.0.1:0).

    Addresses are numeric only, parsed by sp_hostport: "A.B.C.D:PORT" or
    "[IPv6]:PORT", port 0..65535 (0 = ephemeral). Sockets are non-blocking, close-on-exec
   and SO_REUSEADDR. No state; callable from any thread.
*/
#ifndef EMU_LISTENER_H
#define EMU_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

//  Parses `hostport`. Returns 0, or -1 with a reason in `err`.
int emu_listener_parse(const char *hostport, struct sockaddr_storage *addr,
                       socklen_t *addr_len, char *err, size_t err_size);

//  Binds and listens on `hostport` with `backlog`. Returns the socket and
//  the bound port in *port_p, or -1 with a reason in `err`.
int emu_listener_open(const char *hostport, int backlog, uint16_t *port_p, char *err,
                      size_t err_size);

//  Writes "HOST:PORT" for `hostport` with its port replaced by `port`
//  ("[::1]:PORT" for IPv6) into `out`. Returns 0, or -1 when it does not
//  parse or fit.
int emu_listener_format(const char *hostport, uint16_t port, char *out, size_t size);

void emu_listener_test(bool verbose);

#endif
