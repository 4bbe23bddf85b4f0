/*  emu_eventq — one function's asynchronous (Event) invocations: the
    queue of events waiting and their retries.

    Owns every event from emu_eventq_push until it ran to a result or was
    dropped: waiting ones in the queue (FIFO), running ones through their
    invocation's done callback. An event runs when the owner's dispatch
    callback takes it; a throttled event waits (backoff from 100 ms
    doubling to 5 s) and is retried, holding back those behind it; a
    function error (error, timeout, crash, init failure) is retried
    EMU_EVENTQ_RETRIES times, 1 s then 2 s later (AWS waits minutes); an
    event older than EMU_EVENTQ_AGE_MAX_S is dropped, and so is one whose
    qualifier no longer resolves (the dispatch callback answers a non-429
    refusal).

    Teardown: emu_eventq_close before the environments go (their
    invocations come back ABORTED and their events are freed quietly),
    emu_eventq_destroy after.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_EVENTQ_H
#define EMU_EVENTQ_H

#include "emu_aws.h"
#include "emu_invocation.h"
#include "emu_loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Events waiting per function; over it, 429.
#define EMU_EVENTQ_MAX 10000
//  Events older than this are dropped (AWS's MaximumEventAgeInSeconds
//  default, 6 h).
#define EMU_EVENTQ_AGE_MAX_S 21600
//  Retries of an event whose function failed (AWS's MaximumRetryAttempts
//  default), after 1 s then 2 s.
#define EMU_EVENTQ_RETRIES 2

typedef struct _emu_eventq_t emu_eventq_t;

//  Runs `invocation` (handed over: its done callback follows, never
//  inside this call) of `qualifier`: 0 when running, 1 when refused with
//  `err` filled (429: throttled, try later; any other: drop the event),
//  -1 when memory ran out (try later).
typedef int(emu_eventq_dispatch_t)(void *arg, const char *qualifier,
                                   emu_invocation_t *invocation, emu_aws_error_t *err);

typedef struct {
    size_t waiting;   //  in the queue
    uint64_t done;    //  run to a result
    uint64_t dropped; //  given up: retries spent, too old, qualifier gone
} emu_eventq_stats_t;

//  The queue of function `name` (borrowed for the queue's life), which
//  runs events through `dispatch` with `arg`. NULL when memory runs out.
emu_eventq_t *emu_eventq_new(emu_loop_t *loop, const char *name,
                             emu_eventq_dispatch_t *dispatch, void *arg);

//  Stops running events and frees those waiting; events running are
//  freed when their invocations come back. Safe twice.
void emu_eventq_close(emu_eventq_t *self);

//  Closes the queue if open and frees it; every running event must have
//  come back. Nulls *self_p.
void emu_eventq_destroy(emu_eventq_t **self_p);

//  Queues the malloc'd `*event_p` (taken and nulled, freed on refusal
//  too) of `qualifier` (may be NULL) with `request_id`, to run from the
//  loop. 0, or -1 with 429 TooManyRequestsException when EMU_EVENTQ_MAX
//  wait already, or 500 when memory runs out.
int emu_eventq_push(emu_eventq_t *self, const char *qualifier, const char *request_id,
                    char **event_p, size_t event_len, emu_aws_error_t *err);

//  Room may have opened: tries the waiting events soon.
void emu_eventq_kick(emu_eventq_t *self);

void emu_eventq_stats(emu_eventq_t *self, emu_eventq_stats_t *stats);

void emu_eventq_test(bool verbose);

#endif
