/*  agent_link — the agent's end of the controller connection: one ZeroMQ
    DEALER, the protocol state of the current run, and the burst engine and
    result spool it drives.

    What it does (docs/protocol.md is the contract):
    - Hello on connect, again whenever the controller has been silent for
      silence_ms (3 s), each time followed by a resend of every
      unacknowledged result batch and of Done; ZeroMQ re-establishes the TCP
      link itself, so this is how a restarted controller learns about us.
    - A Heartbeat every heartbeat_ms (1 s); a probe (echo_sent_ns == 0) is
      answered at once with the four-timestamp echo.
    - Prepare: allow-list, capacity and one-run-at-a-time checks here, the
      share is then built by the burst engine; Ready answers either way. A
      repeated Prepare of the run being held is answered again, not refused.
    - Go fires the prepared run; result batches stream out as the engine
      emits them and stay in the spool until acked; Done follows the last
      batch. A run is forgotten once Done was sent and every batch acked.
    - Cancel abandons the run and its unacked batches.
    - A prepared run that never gets its Go is dropped after 5 minutes,
      so a controller that died between Prepare and Go cannot wedge us.
    - Anything invalid from the controller is logged (rate-limited) and
      dropped; the link keeps serving.

    Sends never block: the socket has ZMQ_IMMEDIATE and no send timeout, so
    while the controller is unreachable a send just fails and is retried
    (Hello every 100 ms, batches from the spool). Owned by the main thread;
    the burst engine runs on its own thread behind agent_burst.
*/
#ifndef AGENT_LINK_H
#define AGENT_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "agent_cert.h"
#include "agent_config.h"

#define AGENT_LINK_HEARTBEAT_MS 1000
#define AGENT_LINK_SILENCE_MS 3000
#define AGENT_LINK_HELLO_RETRY_MS 100
//  While the controller stays silent, the agent says so this often.
#define AGENT_LINK_SILENCE_REPEAT_MS 10000
//  Silence after which the socket is built anew (a handshake the controller
//  refused is never retried on the old one), doubling up to the maximum.
#define AGENT_LINK_RECONNECT_MIN_MS 5000
#define AGENT_LINK_RECONNECT_MAX_MS 60000
//  A batch the controller has not acknowledged this long after it went out
//  (it could not store it: a full disk) is sent again, the wait doubling up
//  to the maximum; the controller stores each batch once.
#define AGENT_LINK_RESEND_MS 5000
#define AGENT_LINK_RESEND_MAX_MS 30000
#define AGENT_LINK_PREPARED_TTL_MS (5 * 60 * 1000)
#define AGENT_LINK_LINGER_MS 500

typedef struct _agent_link_t agent_link_t;

//  Starts the burst engine and connects to config->controller: CURVE with
//  cert, or plain TCP when cert is NULL (config->insecure). config and cert
//  are borrowed and must outlive the link. Returns NULL on failure (logged).
agent_link_t *agent_link_new(const agent_config_t *config, agent_cert_t *cert);

//  Abandons any run, closes the socket (lingering at most
//  AGENT_LINK_LINGER_MS) and stops the engine; safe on NULL and twice.
void agent_link_destroy(agent_link_t **self_p);

//  Handles what arrives from the controller and the engine, and every timer
//  due, waiting at most timeout_ms. Returns 0, or -1 once interrupted
//  (SIGINT/SIGTERM).
int agent_link_step(agent_link_t *self, int timeout_ms);

//  Serves until interrupted. Returns 0.
int agent_link_run(agent_link_t *self);

//  Overrides the heartbeat and silence intervals (tests).
void agent_link_set_timing(agent_link_t *self, int heartbeat_ms, int silence_ms);

//  Overrides the engine's batch flush rules (see agent_burst_set_flush).
void agent_link_set_flush(agent_link_t *self, uint32_t max_results, uint32_t interval_ms);

void agent_link_test(bool verbose);

#endif
