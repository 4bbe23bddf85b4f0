/*  ctl_http_testlib — what the HTTP API's selftests share: a stand-in for
    the controller core's command socket, a raw HTTP client on loopback,
    exact checks of an answer, and runs written straight into a store.
    Selftest code only: built into the controller's selftest runner, never
    into the library stampede ships. Every helper aborts through sp_check
    on a failure.
*/
#ifndef CTL_HTTP_TESTLIB_H
#define CTL_HTTP_TESTLIB_H

#include "store_api.h"

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int status;
    char head[8192]; //  status line and headers
    char *body;      //  NUL-terminated; caller frees
    size_t body_size;
} ctl_http_tl_response_t;

//  The actor body of the fake controller bound at args (an endpoint):
//  answers "status", and "run" by the url's path (busy, noagents, garbage,
//  nostatus, slow: never answered; else run 7). Pipe "LAST" returns the
//  last command received ("" before any).
void ctl_http_tl_fake_controller(zsock_t *pipe, void *args);
char *ctl_http_tl_fake_last(zactor_t *fake);

//  Sends raw bytes to 127.0.0.1:port, reads the whole answer. 0 or -1.
int ctl_http_tl_raw(int port, const char *request, size_t size,
                    ctl_http_tl_response_t *out);
//  GET / POST with Host 127.0.0.1:port; token and content_type may be NULL.
void ctl_http_tl_get(int port, const char *path, const char *token,
                     ctl_http_tl_response_t *out);
void ctl_http_tl_post(int port, const char *path, const char *content_type,
                      const char *body, const char *token, ctl_http_tl_response_t *out);
//  POST /api/test with a chunked body of `chunks` chunks of 16 KiB of
//  blanks, then the last chunk.
void ctl_http_tl_post_chunked(int port, size_t chunks, ctl_http_tl_response_t *out);
//  A request with exactly the given head lines (each ending CRLF) and body.
void ctl_http_tl_request(int port, const char *method, const char *path, const char *head,
                         const char *body, ctl_http_tl_response_t *out);
//  Header name's value in response ("" when absent).
const char *ctl_http_tl_header(ctl_http_tl_response_t *response, const char *name,
                               char *value, size_t value_size);
//  Checks status, body (when not NULL) and the security headers; frees
//  the body.
void ctl_http_tl_check(ctl_http_tl_response_t *response, int status, const char *body);
void ctl_http_tl_expect_get(int port, const char *path, const char *token, int status,
                            const char *body);
//  A completed run of requested rows, the first ok of them ok (env-<i>,
//  cold), the rest throttled. Returns its id.
int64_t ctl_http_tl_add_run(store_t *store, int64_t created_ns, uint32_t requested,
                            uint32_t ok);
//  Reads fd until text is in buf or timeout_ms passed; true when it is.
bool ctl_http_tl_read_until(int fd, char *buf, size_t size, size_t *have,
                            const char *text, int timeout_ms);
//  What every daemon test starts from: a temp directory holding the
//  database path (not yet created) and the fake controller bound at an
//  inproc endpoint named after the test.
typedef struct {
    char dir[64];
    char db_path[128];
    char endpoint[96];
    zactor_t *fake;
} ctl_http_tl_fixture_t;

void ctl_http_tl_fixture_start(ctl_http_tl_fixture_t *self, const char *name);
//  Stops the fake controller; removes the database, its WAL, shared-memory
//  and lock files, then the directory.
void ctl_http_tl_fixture_stop(ctl_http_tl_fixture_t *self);

//  The parts of ctl_http_test in ctl_http_safety_test.c.
void ctl_http_test_guard(void);
void ctl_http_test_events(void);

#endif
