/*  agent_burst — the burst engine: fires one share of a run at the start
    instant over libcurl and turns every transfer into a Result.

    A zactor thread owns the libcurl multi handle and every easy handle of
    the share; nothing curl-related ever leaves that thread. The owner (the
    link, on the main thread) talks to it only through the calls below,
    which send commands over the actor pipe; answers come back as events on
    agent_burst_sock(), read with agent_burst_recv():

      prepare  -> READY   the share is built (or refused with an error)
      go       -> BATCH…  encoded ResultBatch frames, seq 1, 2, … as results
                 DONE     complete (flushed every flush_ms or flush_max
                          results), then DONE once every result is batched

    One run at a time: a prepare while a run is held is refused. Prepare
    builds `count` easy handles (URL, method, headers, body, timeout, no
    redirects, no proxy, a fresh connection each, closed after its request).
    How go fires them depends on the Prepare's start mode:

      AT_GO      sleep until start_at_ns, add them all, run the multi loop.
      LAST_BYTE  add them all 200 ms before start_at_ns (at once when go
                 leaves less) with the body pulled through a read callback
                 that hands out all but the last byte and then pauses; drive
                 the multi loop meanwhile (connect, write head and body);
                 sleep until start_at_ns and unpause every transfer in one
                 pass; run the multi loop. The target's Expect header is
                 replaced by an empty one; each timeout counts from the
                 instant, as in AT_GO.

    The multi handle has no per-host connection limit. The thread checks its
    pipe at least every 20 ms, so cancel and shutdown are prompt even
    mid-burst, while holding, or while waiting for the start instant.

    Timings in a Result are the agent's CLOCK_REALTIME, each read on the
    engine thread at the moment it describes: scheduled = start_at_ns;
    sent = curl's prereq callback (connected, request about to be written),
    or for LAST_BYTE the moment its last byte was released (unpaused; for a
    transfer not yet holding at the instant, when curl took the last byte);
    first byte = first header line of the answer; done = when the finished
    transfer is collected from the multi handle (at most one multi-loop
    turn late). 0 when the point was never reached (no connection, no
    answer). curl's own PRETRANSFER/STARTTRANSFER/TOTAL offsets are not
    used: PRETRANSFER is stamped when the transfer enters its PERFORMING
    state, which can be after the request went out, so times derived from it
    contradicted the target's own receive stamp.
*/
#ifndef AGENT_BURST_H
#define AGENT_BURST_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto_codec.h"

#define AGENT_BURST_FLUSH_MAX 256 //  results that force a batch out
#define AGENT_BURST_FLUSH_MS 50   //  longest a finished result waits

typedef enum {
    AGENT_BURST_READY = 1, //  run_id, prepared, error
    AGENT_BURST_BATCH,     //  run_id, seq, frame
    AGENT_BURST_DONE,      //  run_id, results, batches
    AGENT_BURST_RELEASED   //  run_id, released_ns, release_end_ns, armed, late
} agent_burst_event_type_t;

typedef struct {
    agent_burst_event_type_t type;
    uint64_t run_id;
    uint32_t prepared;               //  READY: requests built (0 on error)
    int64_t arm_ns;                  //  READY: LAST_BYTE: how long connecting and
                                     //  writing ahead took; AT_GO: 0
    int64_t path_rtt_ns;             //  READY: LAST_BYTE: the shortest TCP handshake
                                     //  of the share; 0 when none (or AT_GO)
    char error[PROTO_MAX_ERROR + 1]; //  READY: "" or why the share was refused
    uint32_t seq;                    //  BATCH: batch number, from 1
    zframe_t *frame;                 //  BATCH: Envelope{ResultBatch}; caller owns
    uint32_t results;                //  DONE: results sent in all batches
    uint32_t batches;                //  DONE: last seq
    int64_t released_ns;             //  RELEASED: the release pass began (wall)
    int64_t release_end_ns;          //  RELEASED: it ended (wall)
    uint32_t armed;                  //  READY, RELEASED: LAST_BYTE requests holding
                                     //  only their final byte then; AT_GO: 0
    uint32_t late;                   //  RELEASED: LAST_BYTE requests still
                                     //  connecting or writing then; AT_GO: 0
} agent_burst_event_t;

typedef struct _agent_burst_t agent_burst_t;

//  Starts the engine thread, or NULL on failure. Initialises libcurl.
agent_burst_t *agent_burst_new(void);

//  Stops the thread (abandoning any run) and frees everything; safe on
//  NULL and twice; nulls *self_p.
void agent_burst_destroy(agent_burst_t **self_p);

//  Asks the engine to build the share described by prepare (a validated
//  message; copied). The answer is a READY event. Returns 0, or -1 when the
//  command could not be sent.
int agent_burst_prepare(agent_burst_t *self, const Stampede__Prepare *prepare);

//  Fires the prepared run run_id at start_at_ns (agent wall clock); an
//  instant in the past fires at once. Ignored unless run_id is prepared.
//  Returns 0, or -1 when the command could not be sent.
int agent_burst_go(agent_burst_t *self, uint64_t run_id, int64_t start_at_ns);

//  Abandons run_id: transfers stop, unsent results are dropped. Waits for
//  the engine to confirm, discarding every event queued before the
//  confirmation, so no event of run_id arrives afterwards (one run at a
//  time: nothing else can be queued). Returns 0, or -1 when interrupted.
int agent_burst_cancel(agent_burst_t *self, uint64_t run_id);

//  Sets the batch flush rules (for tests; defaults AGENT_BURST_FLUSH_MAX,
//  AGENT_BURST_FLUSH_MS). max_results is clamped to 1..PROTO_MAX_BATCH.
int agent_burst_set_flush(agent_burst_t *self, uint32_t max_results,
                          uint32_t interval_ms);

//  The socket to poll for events.
zsock_t *agent_burst_sock(agent_burst_t *self);

//  Reads one event (blocking). On return of 0 *event is filled; a BATCH
//  frame then belongs to the caller. Returns -1 when interrupted.
int agent_burst_recv(agent_burst_t *self, agent_burst_event_t *event);

void agent_burst_test(bool verbose);

#endif
