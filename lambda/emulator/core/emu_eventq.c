/*  emu_eventq — asynchronous invocations and their retries; see
    emu_eventq.h.

    Invariant: an event is in the queue, or running (its invocation's
    done callback owns it), never both; `running` counts the latter.
*/
#include "emu_eventq.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  First throttle backoff of an event; doubles up to the cap.
#define S_BACKOFF_NS (100 * SP_NS_PER_MS)
#define S_BACKOFF_MAX_NS (5 * SP_NS_PER_S)
#define S_RETRY_DELAY_NS SP_NS_PER_S
#define S_QUALIFIER_MAX 128

//  One asynchronous event.
typedef struct {
    emu_eventq_t *queue;
    char qualifier[S_QUALIFIER_MAX + 1];
    char request_id[EMU_INVOCATION_ID_SIZE];
    char *event;
    size_t len;
    int64_t enqueued_ns; //  CLOCK_MONOTONIC
    int64_t received_ns; //  CLOCK_REALTIME, when the request arrived
    int64_t due_ns;      //  not before
    int retries;         //  function-error retries made
    int throttles;       //  in a row
} s_event_t;

struct _emu_eventq_t {
    emu_loop_t *loop; //  borrowed
    const char *name; //  borrowed: the function's
    emu_eventq_dispatch_t *dispatch;
    void *arg;
    bool closed;
    s_event_t **queue; //  events waiting, FIFO
    size_t count;
    size_t running; //  events whose invocation is out
    emu_timer_t *pump_timer;
    int64_t pump_at_ns;
    uint64_t done;
    uint64_t dropped;
};

static void s_pump(emu_loop_t *loop, void *arg);

static void
s_event_free(s_event_t **event_p)
{
    s_event_t *event = *event_p;
    if (event) {
        free(event->event);
        free(event);
    }
    *event_p = NULL;
}

static int
s_push(emu_eventq_t *self, s_event_t *event)
{
    if (self->count >= EMU_EVENTQ_MAX)
        return -1;
    if ((self->count & (self->count - 1)) == 0) {
        size_t cap = self->count ? self->count * 2 : 16;
        s_event_t **grown = realloc(self->queue, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->queue = grown;
    }
    self->queue[self->count++] = event;
    return 0;
}

static void
s_pump_soon(emu_eventq_t *self, int64_t delay_ns)
{
    if (self->closed)
        return;
    int64_t at = sp_clock_mono_ns() + delay_ns;
    if (self->pump_timer) {
        if (self->pump_at_ns <= at)
            return;
        emu_loop_timer_cancel(self->loop, &self->pump_timer);
    }
    //  Without the timer the events wait until the next kick.
    self->pump_timer = emu_loop_timer_start(self->loop, delay_ns, s_pump, self);
    self->pump_at_ns = at;
}

static void
s_event_done(emu_invocation_t *invocation, void *arg)
{
    s_event_t *event = arg;
    emu_eventq_t *self = event->queue;
    emu_invocation_outcome_t outcome = emu_invocation_outcome(invocation);
    emu_invocation_destroy(&invocation);
    self->running--;
    if (self->closed || outcome == EMU_INVOCATION_ABORTED) {
        s_event_free(&event);
        return;
    }
    if (outcome == EMU_INVOCATION_OK) {
        self->done++;
        s_event_free(&event);
        return;
    }
    if (event->retries < EMU_EVENTQ_RETRIES) {
        event->retries++;
        int64_t delay = S_RETRY_DELAY_NS * event->retries;
        event->due_ns = sp_clock_mono_ns() + delay;
        zsys_info("async event retried function=%s request_id=%s outcome=%s retry=%d",
                  self->name, event->request_id, emu_invocation_outcome_name(outcome),
                  event->retries);
        if (s_push(self, event) == 0) {
            s_pump_soon(self, delay);
            return;
        }
    }
    zsys_warning("async event dropped function=%s request_id=%s outcome=%s retries=%d",
                 self->name, event->request_id, emu_invocation_outcome_name(outcome),
                 event->retries);
    self->dropped++;
    s_event_free(&event);
}

//  Tries to run one event: 0 running, 1 throttled (try later), -1 dropped.
static int
s_event_run(emu_eventq_t *self, s_event_t *event, int64_t now)
{
    char *copy = malloc(event->len + 1);
    if (copy) {
        memcpy(copy, event->event, event->len);
        copy[event->len] = '\0';
    }
    emu_invocation_t *invocation =
        copy ? emu_invocation_new(event->request_id, &copy, event->len, s_event_done,
                                  event)
             : NULL;
    if (invocation)
        emu_invocation_set_received_ns(invocation, event->received_ns);
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    int rc =
        invocation ? self->dispatch(self->arg, event->qualifier, invocation, &err) : -1;
    if (rc == 0) {
        self->running++;
        event->throttles = 0;
        return 0;
    }
    emu_invocation_destroy(&invocation);
    if (rc == 1 && err.status != 429) {
        zsys_warning("async event dropped function=%s request_id=%s error=\"%s\"",
                     self->name, event->request_id, err.message);
        return -1;
    }
    int64_t backoff = S_BACKOFF_NS << (event->throttles < 6 ? event->throttles : 6);
    event->throttles++;
    event->due_ns = now + (backoff < S_BACKOFF_MAX_NS ? backoff : S_BACKOFF_MAX_NS);
    return 1;
}

static void
s_pump(emu_loop_t *loop, void *arg)
{
    emu_eventq_t *self = arg;
    self->pump_timer = NULL;
    int64_t now = sp_clock_mono_ns();
    int64_t next = INT64_MAX;
    bool blocked = false; //  throttled: the others wait for room
    size_t kept = 0;
    //  Running an event may complete nothing synchronously (done
    //  callbacks never run inside a dispatch), so the queue only shrinks.
    size_t count = self->count;
    for (size_t i = 0; i < count; i++) {
        s_event_t *event = self->queue[i];
        if (now - event->enqueued_ns > (int64_t)EMU_EVENTQ_AGE_MAX_S * SP_NS_PER_S) {
            zsys_warning("async event dropped function=%s request_id=%s reason=too_old",
                         self->name, event->request_id);
            self->dropped++;
            s_event_free(&event);
            continue;
        }
        if (event->due_ns > now || blocked) {
            if (event->due_ns > now && event->due_ns < next)
                next = event->due_ns;
            self->queue[kept++] = event;
            continue;
        }
        int rc = s_event_run(self, event, now);
        if (rc == 1) {
            blocked = true;
            if (event->due_ns < next)
                next = event->due_ns;
            self->queue[kept++] = event;
        } else if (rc < 0) {
            self->dropped++;
            s_event_free(&event);
        }
    }
    assert(self->count == count);
    self->count = kept;
    if (kept > 0 && next != INT64_MAX)
        s_pump_soon(self, next > now ? next - now : 0);
}

emu_eventq_t *
emu_eventq_new(emu_loop_t *loop, const char *name, emu_eventq_dispatch_t *dispatch,
               void *arg)
{
    assert(loop && name && dispatch);
    emu_eventq_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    *self = (emu_eventq_t){.loop = loop, .name = name, .dispatch = dispatch, .arg = arg};
    return self;
}

void
emu_eventq_close(emu_eventq_t *self)
{
    assert(self);
    self->closed = true;
    emu_loop_timer_cancel(self->loop, &self->pump_timer);
    for (size_t i = 0; i < self->count; i++)
        s_event_free(&self->queue[i]);
    self->count = 0;
}

void
emu_eventq_destroy(emu_eventq_t **self_p)
{
    assert(self_p);
    emu_eventq_t *self = *self_p;
    if (!self)
        return;
    emu_eventq_close(self);
    assert(self->running == 0);
    free(self->queue);
    free(self);
    *self_p = NULL;
}

int
emu_eventq_push(emu_eventq_t *self, const char *qualifier, const char *request_id,
                char **event_p, size_t event_len, emu_aws_error_t *err)
{
    assert(self && request_id && event_p && *event_p && err);
    char *body = *event_p;
    *event_p = NULL;
    s_event_t *event = calloc(1, sizeof *event);
    if (!event) {
        free(body);
        emu_aws_error_set(err, 500, "ServiceException",
                          "The emulator ran out of memory.");
        return -1;
    }
    *event = (s_event_t){.queue = self, .event = body, .len = event_len};
    snprintf(event->qualifier, sizeof event->qualifier, "%s", qualifier ? qualifier : "");
    snprintf(event->request_id, sizeof event->request_id, "%s", request_id);
    event->enqueued_ns = event->due_ns = sp_clock_mono_ns();
    event->received_ns = sp_clock_wall_ns();
    if (self->closed || s_push(self, event)) {
        s_event_free(&event);
        emu_aws_error_set(err, 429, "TooManyRequestsException", "Rate Exceeded.");
        return -1;
    }
    s_pump_soon(self, 0);
    return 0;
}

void
emu_eventq_kick(emu_eventq_t *self)
{
    assert(self);
    if (self->count > 0)
        s_pump_soon(self, 0);
}

void
emu_eventq_stats(emu_eventq_t *self, emu_eventq_stats_t *stats)
{
    assert(self && stats);
    *stats = (emu_eventq_stats_t){
        .waiting = self->count, .done = self->done, .dropped = self->dropped};
}

//  --- selftest -----------------------------------------------------------

//  A fake dispatcher: refuses the first `refusals` calls with
//  `refusal`, then runs the first `errors` invocations to a timeout and
//  the others to `outcome`, from a deferred call (never inside the
//  dispatch).
typedef struct {
    emu_loop_t *loop;
    int calls;
    int refusals;
    int refusal; //  status of the refusals
    int errors;
    emu_invocation_outcome_t outcome;
    char qualifier[S_QUALIFIER_MAX + 1]; //  of the last call
    emu_invocation_t *pending;
    emu_eventq_t *queue; //  stop the loop once it is idle
} s_fake_t;

static void
s_fake_complete(emu_loop_t *loop, void *arg)
{
    s_fake_t *fake = arg;
    emu_invocation_outcome_t outcome = fake->outcome;
    if (fake->errors > 0) {
        fake->errors--;
        outcome = EMU_INVOCATION_TIMEOUT;
    }
    emu_invocation_complete(&fake->pending, outcome, "{}", 2);
}

static int
s_fake_dispatch(void *arg, const char *qualifier, emu_invocation_t *invocation,
                emu_aws_error_t *err)
{
    s_fake_t *fake = arg;
    fake->calls++;
    snprintf(fake->qualifier, sizeof fake->qualifier, "%s", qualifier);
    if (fake->refusals > 0) {
        fake->refusals--;
        emu_aws_error_set(err, fake->refusal, "Refused", "refused by the test");
        return 1;
    }
    assert(!fake->pending);
    fake->pending = invocation;
    CHECK_INT(emu_loop_defer(fake->loop, s_fake_complete, fake), 0);
    return 0;
}

static void
s_fake_stop(emu_loop_t *loop, void *arg)
{
    emu_loop_stop(loop);
}

static void
s_fake_poll(emu_loop_t *loop, void *arg)
{
    s_fake_t *fake = arg;
    emu_eventq_stats_t stats;
    emu_eventq_stats(fake->queue, &stats);
    if (stats.waiting == 0 && !fake->pending && fake->queue->running == 0)
        emu_loop_stop(loop);
    else
        CHECK_NOT_NULL(emu_loop_timer_start(loop, 10 * SP_NS_PER_MS, s_fake_poll, fake));
}

//  Pushes one event of `qualifier`, runs the loop until the queue is
//  idle (at most 10 s) and checks the stats.
static void
s_fake_run(s_fake_t *fake, const char *qualifier, int calls, uint64_t done,
           uint64_t dropped)
{
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    char *event = strdup("{\"n\":1}");
    CHECK_NOT_NULL(event);
    fake->calls = 0;
    CHECK_INT(emu_eventq_push(fake->queue, qualifier, "req-1", &event, 7, &err), 0);
    CHECK_NULL(event);
    CHECK_NOT_NULL(
        emu_loop_timer_start(fake->loop, 10 * SP_NS_PER_MS, s_fake_poll, fake));
    int64_t start = sp_clock_mono_ns();
    emu_loop_run(fake->loop);
    CHECK_TRUE(sp_clock_mono_ns() - start < 10 * SP_NS_PER_S);
    CHECK_INT(fake->calls, calls);
    CHECK_STR(fake->qualifier, qualifier ? qualifier : "");
    emu_eventq_stats_t stats;
    emu_eventq_stats(fake->queue, &stats);
    CHECK_INT(stats.waiting, 0);
    CHECK_INT(stats.done, done);
    CHECK_INT(stats.dropped, dropped);
}

void
emu_eventq_test(bool verbose)
{
    emu_loop_t *loop = emu_loop_new();
    CHECK_NOT_NULL(loop);
    s_fake_t fake = {.loop = loop, .outcome = EMU_INVOCATION_OK};
    fake.queue = emu_eventq_new(loop, "fn", s_fake_dispatch, &fake);
    CHECK_NOT_NULL(fake.queue);

    //  A success runs once, with its qualifier.
    s_fake_run(&fake, "live", 1, 1, 0);
    s_fake_run(&fake, NULL, 1, 2, 0);
    //  Throttled twice (100 ms, 200 ms backoff), then run.
    fake.refusals = 2;
    fake.refusal = 429;
    int64_t start = sp_clock_mono_ns();
    s_fake_run(&fake, "7", 3, 3, 0);
    CHECK_TRUE(sp_clock_mono_ns() - start >= 300 * SP_NS_PER_MS);
    //  A refusal other than 429 (qualifier gone) drops the event at once.
    fake.refusals = 1;
    fake.refusal = 404;
    s_fake_run(&fake, "gone", 1, 3, 1);
    //  A function error is retried EMU_EVENTQ_RETRIES times (1 s, then
    //  2 s later), then dropped.
    fake.outcome = EMU_INVOCATION_FUNCTION_ERROR;
    start = sp_clock_mono_ns();
    s_fake_run(&fake, "live", 1 + EMU_EVENTQ_RETRIES, 3, 2);
    CHECK_TRUE(sp_clock_mono_ns() - start >= 3 * SP_NS_PER_S);
    //  A timeout then a success: one retry, done.
    fake.outcome = EMU_INVOCATION_OK;
    fake.errors = 1;
    s_fake_run(&fake, "live", 2, 4, 2);

    //  Throttled without end: one pump tries the first event only, the
    //  others wait behind it, none is lost.
    fake.refusals = 1000;
    fake.refusal = 429;
    fake.calls = 0;
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    for (int i = 0; i < 3; i++) {
        char *event = strdup("{}");
        CHECK_NOT_NULL(event);
        CHECK_INT(emu_eventq_push(fake.queue, NULL, "req-held", &event, 2, &err), 0);
    }
    CHECK_NOT_NULL(emu_loop_timer_start(loop, 20 * SP_NS_PER_MS, s_fake_stop, NULL));
    CHECK_INT(emu_loop_run(loop), 0);
    CHECK_INT(fake.calls, 1);
    emu_eventq_stats_t stats;
    emu_eventq_stats(fake.queue, &stats);
    CHECK_INT(stats.waiting, 3);
    CHECK_INT(stats.dropped, 2);
    emu_eventq_close(fake.queue);
    emu_eventq_destroy(&fake.queue);
    fake.refusals = 0;
    fake.queue = emu_eventq_new(loop, "fn", s_fake_dispatch, &fake);
    CHECK_NOT_NULL(fake.queue);
    fake.calls = 0;

    //  The full queue: nothing runs while the loop is not driven.
    char *event = NULL;
    for (size_t i = 0; i < EMU_EVENTQ_MAX; i++) {
        event = strdup("{}");
        CHECK_NOT_NULL(event);
        CHECK_INT(emu_eventq_push(fake.queue, NULL, "req-full", &event, 2, &err), 0);
    }
    event = strdup("{}");
    CHECK_NOT_NULL(event);
    CHECK_INT(emu_eventq_push(fake.queue, NULL, "req-over", &event, 2, &err), -1);
    CHECK_NULL(event);
    CHECK_INT(err.status, 429);
    CHECK_STR(err.type, "TooManyRequestsException");
    emu_eventq_stats(fake.queue, &stats);
    CHECK_INT(stats.waiting, EMU_EVENTQ_MAX);
    //  Closing frees those waiting and refuses new ones.
    emu_eventq_close(fake.queue);
    emu_eventq_close(fake.queue);
    emu_eventq_stats(fake.queue, &stats);
    CHECK_INT(stats.waiting, 0);
    emu_aws_error_clear(&err);
    event = strdup("{}");
    CHECK_NOT_NULL(event);
    CHECK_INT(emu_eventq_push(fake.queue, NULL, "req-late", &event, 2, &err), -1);
    CHECK_INT(err.status, 429);
    CHECK_INT(fake.calls, 0);

    emu_eventq_destroy(&fake.queue);
    CHECK_NULL(fake.queue);
    emu_loop_destroy(&loop);
}
