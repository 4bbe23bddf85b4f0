/*  agent_spool — unacknowledged result batches; see agent_spool.h.

    Invariant: unsent == number of entries with sent == false.
*/
#include "agent_spool.h"
#include "sp_check.h"
#include "sp_clock.h"

typedef struct {
    uint64_t run_id; //  run the batch belongs to
    uint32_t seq;    //  its number within the run
    bool sent;       //  a send succeeded since put/rewind
    int64_t sent_ns; //  when (monotonic)
    int64_t wait_ns; //  unacked this long after a send, it is sent again
    zframe_t *frame; //  the encoded Envelope{ResultBatch}
} s_entry_t;

struct _agent_spool_t {
    zlistx_t *entries; //  s_entry_t *, in put order
    size_t unsent;     //  entries with sent == false
};

static void
s_entry_destroy(void **item)
{
    s_entry_t *entry = (s_entry_t *)*item;
    if (entry) {
        zframe_destroy(&entry->frame);
        free(entry);
        *item = NULL;
    }
}

agent_spool_t *
agent_spool_new(void)
{
    agent_spool_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->entries = zlistx_new();
    if (!self->entries) {
        free(self);
        return NULL;
    }
    zlistx_set_destructor(self->entries, s_entry_destroy);
    return self;
}

void
agent_spool_destroy(agent_spool_t **self_p)
{
    assert(self_p);
    agent_spool_t *self = *self_p;
    if (self) {
        zlistx_destroy(&self->entries);
        free(self);
        *self_p = NULL;
    }
}

//  The list handle of (run_id, seq), or NULL.
static void *
s_find(agent_spool_t *self, uint64_t run_id, uint32_t seq)
{
    for (s_entry_t *entry = zlistx_first(self->entries); entry;
         entry = zlistx_next(self->entries))
        if (entry->run_id == run_id && entry->seq == seq)
            return zlistx_cursor(self->entries);
    return NULL;
}

int
agent_spool_put(agent_spool_t *self, uint64_t run_id, uint32_t seq, zframe_t **frame_p)
{
    assert(self);
    assert(frame_p && *frame_p);
    if (s_find(self, run_id, seq)) {
        zframe_destroy(frame_p);
        return -1;
    }
    s_entry_t *entry = calloc(1, sizeof *entry);
    if (!entry) {
        zframe_destroy(frame_p);
        return -1;
    }
    entry->run_id = run_id;
    entry->seq = seq;
    entry->frame = *frame_p;
    *frame_p = NULL;
    zlistx_add_end(self->entries, entry);
    self->unsent++;
    return 0;
}

size_t
agent_spool_flush(agent_spool_t *self, zsock_t *dest)
{
    assert(self);
    assert(dest);
    size_t sent = 0;
    for (s_entry_t *entry = zlistx_first(self->entries); entry && self->unsent > 0;
         entry = zlistx_next(self->entries)) {
        if (entry->sent)
            continue;
        if (zframe_send(&entry->frame, dest, ZFRAME_REUSE | ZFRAME_DONTWAIT) != 0)
            break;
        entry->sent = true;
        entry->sent_ns = sp_clock_mono_ns();
        self->unsent--;
        sent++;
    }
    return sent;
}

void
agent_spool_rewind(agent_spool_t *self)
{
    assert(self);
    for (s_entry_t *entry = zlistx_first(self->entries); entry;
         entry = zlistx_next(self->entries))
        entry->sent = false;
    self->unsent = zlistx_size(self->entries);
}

size_t
agent_spool_rewind_stale(agent_spool_t *self, int64_t now_ns, int64_t first_wait_ns,
                         int64_t max_wait_ns)
{
    assert(self);
    size_t stale = 0;
    for (s_entry_t *entry = zlistx_first(self->entries); entry;
         entry = zlistx_next(self->entries)) {
        if (!entry->sent)
            continue;
        int64_t wait = entry->wait_ns ? entry->wait_ns : first_wait_ns;
        if (now_ns - entry->sent_ns < wait)
            continue;
        entry->sent = false;
        entry->wait_ns = wait * 2 < max_wait_ns ? wait * 2 : max_wait_ns;
        self->unsent++;
        stale++;
    }
    return stale;
}

int
agent_spool_ack(agent_spool_t *self, uint64_t run_id, uint32_t seq)
{
    assert(self);
    void *handle = s_find(self, run_id, seq);
    if (!handle)
        return -1;
    s_entry_t *entry = zlistx_handle_item(handle);
    if (!entry->sent)
        self->unsent--;
    zlistx_delete(self->entries, handle);
    return 0;
}

size_t
agent_spool_drop(agent_spool_t *self, uint64_t run_id)
{
    assert(self);
    size_t dropped = 0;
    s_entry_t *entry = zlistx_first(self->entries);
    while (entry) {
        void *handle = zlistx_cursor(self->entries);
        entry = zlistx_next(self->entries);
        s_entry_t *held = zlistx_handle_item(handle);
        if (held->run_id == run_id) {
            if (!held->sent)
                self->unsent--;
            zlistx_delete(self->entries, handle);
            dropped++;
        }
    }
    return dropped;
}

size_t
agent_spool_count(agent_spool_t *self, uint64_t run_id)
{
    assert(self);
    size_t count = 0;
    for (s_entry_t *entry = zlistx_first(self->entries); entry;
         entry = zlistx_next(self->entries))
        count += entry->run_id == run_id;
    return count;
}

size_t
agent_spool_size(agent_spool_t *self)
{
    assert(self);
    return zlistx_size(self->entries);
}

size_t
agent_spool_unsent(agent_spool_t *self)
{
    assert(self);
    return self->unsent;
}

//  --------------------------------------------------------------------------
//  Selftest

static zframe_t *
s_frame(const char *text)
{
    return zframe_new(text, strlen(text));
}

//  Receives one frame from sock and checks its text.
static void
s_expect(zsock_t *sock, const char *text)
{
    zframe_t *frame = zframe_recv(sock);
    CHECK_NOT_NULL(frame);
    char *got = zframe_strdup(frame);
    CHECK_STR(got, text);
    free(got);
    zframe_destroy(&frame);
}

//  Receives and drops n frames from sink.
static void
s_drain(zsock_t *sink, int n)
{
    for (int i = 0; i < n; i++) {
        zframe_t *frame = zframe_recv(sink);
        CHECK_NOT_NULL(frame);
        zframe_destroy(&frame);
    }
}

void
agent_spool_test(bool verbose)
{
    zsock_t *sink = zsock_new_pull("inproc://agent_spool_test");
    zsock_t *source = zsock_new_push("inproc://agent_spool_test");
    CHECK_NOT_NULL(sink);
    CHECK_NOT_NULL(source);
    zsock_set_rcvtimeo(sink, 2000);

    agent_spool_t *spool = agent_spool_new();
    CHECK_NOT_NULL(spool);
    CHECK_INT(agent_spool_size(spool), 0);
    CHECK_INT(agent_spool_flush(spool, source), 0);

    zframe_t *frame = s_frame("r7-1");
    CHECK_INT(agent_spool_put(spool, 7, 1, &frame), 0);
    CHECK_NULL(frame);
    frame = s_frame("r7-2");
    CHECK_INT(agent_spool_put(spool, 7, 2, &frame), 0);
    frame = s_frame("r7-3");
    CHECK_INT(agent_spool_put(spool, 7, 3, &frame), 0);
    frame = s_frame("r9-1");
    CHECK_INT(agent_spool_put(spool, 9, 1, &frame), 0);
    //  A duplicate is refused and the held frame kept.
    frame = s_frame("r7-2 again");
    CHECK_INT(agent_spool_put(spool, 7, 2, &frame), -1);
    CHECK_NULL(frame);
    CHECK_INT(agent_spool_size(spool), 4);
    CHECK_INT(agent_spool_unsent(spool), 4);
    CHECK_INT(agent_spool_count(spool, 7), 3);
    CHECK_INT(agent_spool_count(spool, 9), 1);
    CHECK_INT(agent_spool_count(spool, 8), 0);

    //  Flush sends in put order, once.
    CHECK_INT(agent_spool_flush(spool, source), 4);
    s_expect(sink, "r7-1");
    s_expect(sink, "r7-2");
    s_expect(sink, "r7-3");
    s_expect(sink, "r9-1");
    CHECK_INT(agent_spool_unsent(spool), 0);
    CHECK_INT(agent_spool_flush(spool, source), 0);

    //  Unacked for a while: sent again, each time after twice the wait.
    int64_t now = sp_clock_mono_ns();
    const int64_t second = SP_NS_PER_S;
    CHECK_INT(agent_spool_rewind_stale(spool, now, 2 * second, 5 * second), 0);
    CHECK_INT(agent_spool_rewind_stale(spool, now + 2 * second, 2 * second, 5 * second),
              4);
    CHECK_INT(agent_spool_unsent(spool), 4);
    CHECK_INT(agent_spool_flush(spool, source), 4);
    s_expect(sink, "r7-1");
    s_expect(sink, "r7-2");
    s_expect(sink, "r7-3");
    s_expect(sink, "r9-1");
    now = sp_clock_mono_ns();
    CHECK_INT(agent_spool_rewind_stale(spool, now + 3 * second, 2 * second, 5 * second),
              0); //  now 4 s
    CHECK_INT(agent_spool_rewind_stale(spool, now + 4 * second, 2 * second, 5 * second),
              4);
    CHECK_INT(agent_spool_flush(spool, source), 4);
    s_drain(sink, 4);
    now = sp_clock_mono_ns();
    CHECK_INT(agent_spool_rewind_stale(spool, now + 4 * second, 2 * second, 5 * second),
              0); //  capped at 5 s
    CHECK_INT(agent_spool_rewind_stale(spool, now + 5 * second, 2 * second, 5 * second),
              4);
    CHECK_INT(agent_spool_flush(spool, source), 4);
    s_drain(sink, 4);

    //  Acks forget; duplicates and unknown acks are refused.
    CHECK_INT(agent_spool_ack(spool, 7, 2), 0);
    CHECK_INT(agent_spool_ack(spool, 7, 2), -1);
    CHECK_INT(agent_spool_ack(spool, 8, 1), -1);
    CHECK_INT(agent_spool_size(spool), 3);

    //  A new batch is unsent; flush sends only it.
    frame = s_frame("r7-4");
    CHECK_INT(agent_spool_put(spool, 7, 4, &frame), 0);
    CHECK_INT(agent_spool_unsent(spool), 1);
    CHECK_INT(agent_spool_flush(spool, source), 1);
    s_expect(sink, "r7-4");

    //  Rewind: everything unacked goes again, in order.
    agent_spool_rewind(spool);
    CHECK_INT(agent_spool_unsent(spool), 4);
    CHECK_INT(agent_spool_flush(spool, source), 4);
    s_expect(sink, "r7-1");
    s_expect(sink, "r7-3");
    s_expect(sink, "r9-1");
    s_expect(sink, "r7-4");

    //  Ack of an unsent entry keeps the unsent count right.
    agent_spool_rewind(spool);
    CHECK_INT(agent_spool_ack(spool, 7, 1), 0);
    CHECK_INT(agent_spool_unsent(spool), 3);

    //  A socket that will not take the message: nothing sent, nothing lost.
    zsock_t *nowhere = zsock_new(ZMQ_PUSH);
    CHECK_NOT_NULL(nowhere);
    CHECK_INT(agent_spool_flush(spool, nowhere), 0);
    CHECK_INT(agent_spool_unsent(spool), 3);
    zsock_destroy(&nowhere);

    //  Drop forgets a run (cancel).
    CHECK_INT(agent_spool_drop(spool, 7), 2);
    CHECK_INT(agent_spool_drop(spool, 7), 0);
    CHECK_INT(agent_spool_size(spool), 1);
    CHECK_INT(agent_spool_unsent(spool), 1);
    CHECK_INT(agent_spool_flush(spool, source), 1);
    s_expect(sink, "r9-1");
    CHECK_INT(agent_spool_ack(spool, 9, 1), 0);
    CHECK_INT(agent_spool_size(spool), 0);

    //  Destroy frees what is still held.
    frame = s_frame("left over");
    CHECK_INT(agent_spool_put(spool, 11, 1, &frame), 0);
    agent_spool_destroy(&spool);
    agent_spool_destroy(&spool);
    CHECK_NULL(spool);
    zsock_destroy(&source);
    zsock_destroy(&sink);
    if (verbose)
        printf("(spool checks done) ");
}
