/*  emu_server — stampede-lambda as one object: the event loop, the
    account with its functions and their execution environments, the front
    door, and the signals that stop it.

    Owns the loop, the account (every function), the front door, the --access-log file
    (opened for appending, line-buffered, close-on-exec) and a signalfd for
    SIGINT and SIGTERM (blocked while the server exists, so they arrive as
    events; the previous mask is restored by destroy). Raises the open-file
    limit to its hard maximum (thousands of connections and environments).
    Children get a clean signal mask and default dispositions.

    Thread model: created, run and destroyed on one thread, which must be
    the only thread with SIGINT/SIGTERM unblocked (or the only thread).
*/
#ifndef EMU_SERVER_H
#define EMU_SERVER_H

#include "emu_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _emu_server_t emu_server_t;

//  Builds everything `config` (borrowed for the server's life) describes
//  and binds the front door. NULL with a reason in `err`.
emu_server_t *emu_server_new(emu_config_t *config, char *err, size_t err_size);

//  Kills and reaps every execution environment, closes everything, frees.
//  Nulls *self_p.
void emu_server_destroy(emu_server_t **self_p);

//  "http://HOST:PORT" of the front door, with the real bound port.
const char *emu_server_url(emu_server_t *self);

uint16_t emu_server_port(emu_server_t *self);

//  Serves until SIGINT or SIGTERM. Returns 0, or -1 on a loop failure.
int emu_server_run(emu_server_t *self);

void emu_server_test(bool verbose);

#endif
