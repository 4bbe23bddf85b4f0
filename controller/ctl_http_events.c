/*  ctl_http_events — server-sent events; see ctl_http_events.h.
 */
#include "ctl_http_events.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <stdatomic.h>
#include <string.h>

struct _ctl_http_events_t {
    zactor_t *resumer;    //  resumes parked connections every period
    char endpoint[64];    //  its PULL socket (inproc)
    zsock_t *push;        //  to the resumer; libmicrohttpd's thread only, lazy
    atomic_bool stopping; //  streams end, nothing parks any more
    atomic_int streams;   //  open streams
};

//  One open stream.
typedef struct {
    ctl_http_events_t *events;             //  owner (outlives the daemon's responses)
    struct MHD_Connection *conn;           //  the connection it is the answer of
    ctl_http_events_snapshot_fn *snapshot; //  builds the next event's data
    void *arg;                             //  for snapshot
    char *last;                            //  the last snapshot sent
    char *pending;                         //  text not yet handed over
    size_t size, sent;                     //  of pending
    int64_t next_check_ns;                 //  monotonic: when to snapshot again
    int64_t next_keepalive_ns;             //  monotonic: when a comment is due
} s_stream_t;

//  The resumer: parked connections arrive as pointers on PULL; each
//  period, and at the end, every one is resumed once.
static void
s_resumer(zsock_t *pipe, void *args)
{
    const char *endpoint = args;
    zsock_t *pull = zsock_new(ZMQ_PULL);
    zlist_t *parked = zlist_new();
    if (!pull || !parked || zsock_bind(pull, "%s", endpoint) != 0) {
        zsys_error("http events: cannot bind %s", endpoint);
        zsock_destroy(&pull);
        zlist_destroy(&parked);
        zsock_signal(pipe, 1);
        return;
    }
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, pull, NULL);
    int64_t next = zclock_mono() + CTL_HTTP_EVENTS_PERIOD_MS;
    int64_t stop_at = 0; //  after $TERM: keep resuming until then
    while (true) {
        int64_t now = zclock_mono();
        int wait = next > now ? (int)(next - now) : 0;
        void *which = zpoller_wait(poller, wait);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool term = !command || streq(command, "$TERM");
            freen(command);
            if (term) {
                stop_at = zclock_mono() + 2 * CTL_HTTP_EVENTS_PERIOD_MS;
                next = zclock_mono();
            }
        } else if (which == pull) {
            zframe_t *frame = zframe_recv(pull);
            void *conn = NULL;
            if (frame && zframe_size(frame) == sizeof conn) {
                memcpy(&conn, zframe_data(frame), sizeof conn);
                zlist_append(parked, conn);
            }
            zframe_destroy(&frame);
        } else if (zpoller_terminated(poller))
            stop_at = stop_at ? stop_at : zclock_mono();
        if (zclock_mono() >= next) {
            for (void *conn = zlist_pop(parked); conn; conn = zlist_pop(parked))
                MHD_resume_connection(conn);
            next = zclock_mono() + (stop_at ? 10 : CTL_HTTP_EVENTS_PERIOD_MS);
            if (stop_at && zclock_mono() >= stop_at)
                break;
        }
    }
    zpoller_destroy(&poller);
    zlist_destroy(&parked);
    zsock_destroy(&pull);
}

ctl_http_events_t *
ctl_http_events_new(void)
{
    ctl_http_events_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->endpoint, sizeof self->endpoint, "inproc://ctl-http-events-%p",
             (void *)self);
    atomic_init(&self->stopping, false);
    atomic_init(&self->streams, 0);
    self->resumer = zactor_new(s_resumer, self->endpoint);
    if (!self->resumer) {
        free(self);
        return NULL;
    }
    return self;
}

void
ctl_http_events_stop(ctl_http_events_t *self)
{
    assert(self);
    atomic_store(&self->stopping, true);
    //  The actor resumes what it holds for two more periods, then ends.
    zactor_destroy(&self->resumer);
}

void
ctl_http_events_destroy(ctl_http_events_t **self_p)
{
    assert(self_p);
    ctl_http_events_t *self = *self_p;
    if (!self)
        return;
    ctl_http_events_stop(self);
    zsock_destroy(&self->push);
    free(self);
    *self_p = NULL;
}

//  Sets pending to the next text to send, if any is due; false when
//  nothing is (the caller parks the connection).
static bool
s_stream_next(s_stream_t *self)
{
    int64_t now = sp_clock_mono_ns();
    free(self->pending);
    self->pending = NULL;
    self->size = self->sent = 0;
    if (now >= self->next_check_ns) {
        self->next_check_ns = now + CTL_HTTP_EVENTS_PERIOD_MS * INT64_C(1000000);
        char *snapshot = self->snapshot(self->arg);
        if (snapshot && (!self->last || strcmp(snapshot, self->last) != 0)) {
            size_t len = strlen(snapshot);
            self->pending = malloc(len + 32);
            if (self->pending) {
                self->size = (size_t)snprintf(self->pending, len + 32,
                                              "event: progress\ndata: %s\n\n", snapshot);
                free(self->last);
                self->last = snapshot;
                snapshot = NULL;
                self->next_keepalive_ns =
                    now + CTL_HTTP_EVENTS_KEEPALIVE_MS * INT64_C(1000000);
            }
        }
        free(snapshot);
    }
    if (!self->pending && now >= self->next_keepalive_ns) {
        self->pending = strdup(": keepalive\n\n");
        self->size = self->pending ? strlen(self->pending) : 0;
        self->next_keepalive_ns = now + CTL_HTTP_EVENTS_KEEPALIVE_MS * INT64_C(1000000);
    }
    return self->pending != NULL;
}

//  Hands conn to the resumer; false when it cannot (then nothing parks).
static bool
s_park(ctl_http_events_t *events, struct MHD_Connection *conn)
{
    if (!events->push) {
        events->push = zsock_new(ZMQ_PUSH);
        if (!events->push || zsock_connect(events->push, "%s", events->endpoint) != 0) {
            zsock_destroy(&events->push);
            return false;
        }
        zsock_set_sndtimeo(events->push, 0);
    }
    zframe_t *frame = zframe_new(&conn, sizeof conn);
    if (!frame)
        return false;
    MHD_suspend_connection(conn);
    if (zframe_send(&frame, events->push, 0) != 0) {
        //  The resumer is gone or full: do not leave the connection parked.
        zframe_destroy(&frame);
        MHD_resume_connection(conn);
        return false;
    }
    return true;
}

static ssize_t
s_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    s_stream_t *self = cls;
    if (atomic_load(&self->events->stopping))
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (self->sent == self->size && !s_stream_next(self)) {
        if (!s_park(self->events, self->conn))
            return MHD_CONTENT_READER_END_OF_STREAM;
        return 0;
    }
    size_t n = self->size - self->sent;
    if (n > max)
        n = max;
    memcpy(buf, self->pending + self->sent, n);
    self->sent += n;
    return (ssize_t)n;
}

static void
s_free(void *cls)
{
    s_stream_t *self = cls;
    atomic_fetch_sub(&self->events->streams, 1);
    free(self->pending);
    free(self->last);
    free(self);
}

struct MHD_Response *
ctl_http_events_response(ctl_http_events_t *self, struct MHD_Connection *conn,
                         ctl_http_events_snapshot_fn *snapshot, void *arg)
{
    assert(self && conn && snapshot);
    if (atomic_load(&self->stopping))
        return NULL;
    if (atomic_fetch_add(&self->streams, 1) >= CTL_HTTP_EVENTS_MAX_STREAMS) {
        atomic_fetch_sub(&self->streams, 1);
        return NULL;
    }
    s_stream_t *stream = calloc(1, sizeof *stream);
    if (!stream) {
        atomic_fetch_sub(&self->streams, 1);
        return NULL;
    }
    *stream =
        (s_stream_t){.events = self, .conn = conn, .snapshot = snapshot, .arg = arg};
    //  The client is told to reconnect after a second if the stream ends.
    stream->pending = strdup("retry: 1000\n\n");
    stream->size = stream->pending ? strlen(stream->pending) : 0;
    struct MHD_Response *response =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, s_read, stream, s_free);
    if (!response)
        s_free(stream);
    return response;
}

//  A counter's text as the snapshot: changes when the test bumps it.
static char *
s_counter_snapshot(void *arg)
{
    int *counter = arg;
    char *text = malloc(32);
    if (text)
        snprintf(text, 32, "{\"n\":%d}", *counter);
    return text;
}

void
ctl_http_events_test(bool verbose)
{
    //  The whole path (daemon, suspend, resume) runs in ctl_http_test;
    //  here the stream's framing: first the retry hint, then an event on
    //  change only, a keepalive when due.
    (void)verbose;
    ctl_http_events_t *events = ctl_http_events_new();
    CHECK_NOT_NULL(events);
    int counter = 1;
    s_stream_t stream = {
        .events = events, .snapshot = s_counter_snapshot, .arg = &counter};
    CHECK_TRUE(s_stream_next(&stream));
    CHECK_STR(stream.pending, "event: progress\ndata: {\"n\":1}\n\n");
    CHECK_TRUE(!s_stream_next(&stream)); //  not due yet
    stream.next_check_ns = 0;
    CHECK_TRUE(!s_stream_next(&stream)); //  due, unchanged
    counter = 2;
    stream.next_check_ns = 0;
    CHECK_TRUE(s_stream_next(&stream));
    CHECK_STR(stream.pending, "event: progress\ndata: {\"n\":2}\n\n");
    stream.next_keepalive_ns = 0;
    CHECK_TRUE(s_stream_next(&stream));
    CHECK_STR(stream.pending, ": keepalive\n\n");
    free(stream.pending);
    free(stream.last);
    ctl_http_events_stop(events);
    ctl_http_events_stop(events);
    ctl_http_events_destroy(&events);
    CHECK_NULL(events);
    ctl_http_events_destroy(&events);
}
