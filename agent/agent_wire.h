/*  agent_wire — one HTTP/1.1 exchange written and read by the agent itself
    over a connection libcurl has set up (CURLOPT_CONNECT_ONLY: TCP, and for
    https the TLS handshake with curl's certificate checks). The burst
    engine uses it in START_MODE_LAST_BYTE, where every request of a share
    is written ahead of the instant except its final byte.

    agent_wire_request() serialises a Target into the bytes curl itself
    would send for it (request line, Host, User-Agent, Accept, the target's
    headers, Content-Length when there is a body or the method is POST,
    then the body); agent_wire_t parses the answer with libhttp-parser and
    feeds it, header line by header line and body chunk by body chunk, into
    an agent_response_t, so classification stays in one place.

    Everything read here is untrusted input from the target: the parser
    bounds header sizes (libhttp-parser's own limit) and never allocates
    more than the header block it keeps for one answer; a malformed answer
    is a failed exchange with a reason, never a crash. No I/O, no libcurl
    transfers: pure functions over bytes (a fuzz target drives the parser).

    Thread model: an agent_wire_t belongs to the thread that owns its
    transfer (the burst engine).
*/
#ifndef AGENT_WIRE_H
#define AGENT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_response.h"
#include "proto_codec.h"

//  The request bytes for `target`, heap-allocated into *out (caller frees)
//  with their length in *size. The target's own Expect, Content-Length,
//  Transfer-Encoding and Connection headers are left out: the request is
//  written whole, with its exact length, on a connection of its own.
//  Returns 0, or -1 with a reason in err (URL that does not parse, out of
//  memory).
int agent_wire_request(const Stampede__Target *target, char **out, size_t *size,
                       char *err, size_t err_size);

typedef struct _agent_wire_t agent_wire_t;

typedef enum {
    AGENT_WIRE_MORE = 0, //  the answer is not complete yet
    AGENT_WIRE_DONE,     //  the answer is complete
    AGENT_WIRE_FAILED    //  the exchange failed: see agent_wire_code/_error
} agent_wire_state_t;

//  A parser feeding `response` (borrowed; must outlive self). head: the
//  request was a HEAD, so the answer has no body whatever it says. NULL when
//  out of memory.
agent_wire_t *agent_wire_new(agent_response_t *response, bool head);

//  Frees self; safe on NULL and twice; nulls *self_p.
void agent_wire_destroy(agent_wire_t **self_p);

//  Feeds bytes received from the target. Bytes after a complete answer
//  are ignored.
agent_wire_state_t agent_wire_feed(agent_wire_t *self, const void *data, size_t size);

//  The target closed the connection: completes an answer whose body runs
//  to the end of the connection, else fails the exchange ("Empty reply from
//  server" when nothing came, else "connection closed before the answer was
//  complete").
agent_wire_state_t agent_wire_eof(agent_wire_t *self);

//  Fails the exchange with a CURLcode and text (timeouts, I/O errors seen
//  by the caller). A complete exchange stays complete.
agent_wire_state_t agent_wire_fail(agent_wire_t *self, int curl_code, const char *text);

//  The state so far.
agent_wire_state_t agent_wire_state(agent_wire_t *self);

//  The answer's status (0 before its headers were complete).
long agent_wire_status(agent_wire_t *self);

//  Bytes received so far.
uint64_t agent_wire_received(agent_wire_t *self);

//  CURLE_OK unless failed; then a CURLcode and its text (never NULL).
int agent_wire_code(agent_wire_t *self);
const char *agent_wire_error(agent_wire_t *self);

void agent_wire_test(bool verbose);

#endif
