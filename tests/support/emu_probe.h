/*  emu_probe — a blocking one-shot HTTP client for the emulator's
    selftests: sends raw request bytes to 127.0.0.1:PORT on a new
    connection and reads the answer until the server closes it (requests
    carry "Connection: close"). It lets a test thread talk to a daemon that
    the test's main thread drives through emu_loop.

    Owns the answer it read (status, raw head, body). No shared state;
    each probe belongs to the thread that made it.
*/
#ifndef EMU_PROBE_H
#define EMU_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _emu_probe_t emu_probe_t;

//  Sends `request` (`len` bytes) to 127.0.0.1:`port` and reads the answer
//  (at most 16 MiB, 30 s). Returns the probe (status 0 when no valid
//  answer came), or NULL when it could not connect.
emu_probe_t *emu_probe_send(uint16_t port, const char *request, size_t len);

//  Like emu_probe_send with "METHOD TARGET HTTP/1.1", Host, Connection:
//  close and, when `body` is not NULL, the body with its Content-Length.
emu_probe_t *emu_probe_request(uint16_t port, const char *method, const char *target,
                               const char *body);

void emu_probe_destroy(emu_probe_t **self_p);

//  HTTP status of the answer, 0 if none.
int emu_probe_status(emu_probe_t *self);

//  Value of header `name` (case-insensitive), copied into `out`; NULL
//  when absent.
const char *emu_probe_header(emu_probe_t *self, const char *name, char *out, size_t size);

//  The body (NUL-terminated).
const char *emu_probe_body(emu_probe_t *self);

void emu_probe_test(bool verbose);

#endif
