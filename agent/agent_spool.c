/*  agent_spool — unacknowledged result batches; see agent_spool.h.

    Invariant: unsent == number of entries with sent == false.
*/
#include "agent_spool.h"
#include "proto_codec.h"
#include "proto_fixture.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_NAME_MAX 64 //  "<run_id>-<seq>.batch", zero-padded

typedef struct {
    uint64_t run_id; //  run the batch belongs to
    uint32_t seq;    //  its number within the run
    bool sent;       //  a send succeeded since put/rewind
    int64_t sent_ns; //  when (monotonic)
    int64_t wait_ns; //  unacked this long after a send, it is sent again
    zframe_t *frame; //  the encoded Envelope{ResultBatch}
    bool on_disk;    //  its file is in the attached directory
} s_entry_t;

struct _agent_spool_t {
    zlistx_t *entries;   //  s_entry_t *, in put order
    size_t unsent;       //  entries with sent == false
    char *dir;           //  attached directory, or NULL
    uint64_t max_bytes;  //  its limit
    uint64_t disk_bytes; //  bytes of the entries on disk
    sp_log_limit_t full; //  "directory full" said at most once a minute
};

//  The file name of a batch: sorts by run, then sequence.
static void
s_file_name(uint64_t run_id, uint32_t seq, char *name, size_t size)
{
    snprintf(name, size, "%020" PRIu64 "-%010" PRIu32 ".batch", run_id, seq);
}

//  Removes the entry's file; its bytes leave the directory's count.
static void
s_unlink(agent_spool_t *self, s_entry_t *entry)
{
    if (!entry->on_disk)
        return;
    char name[S_NAME_MAX];
    s_file_name(entry->run_id, entry->seq, name, sizeof name);
    char *path = zsys_sprintf("%s/%s", self->dir, name);
    if (path && unlink(path) != 0 && errno != ENOENT)
        zsys_warning("agent spool: cannot remove %s: %s", path, strerror(errno));
    zstr_free(&path);
    self->disk_bytes -= zframe_size(entry->frame);
    entry->on_disk = false;
}

//  Writes the entry's file: a temporary name, fdatasync, rename. Returns 0,
//  or -1 (the batch stays in memory only).
static int
s_write(agent_spool_t *self, s_entry_t *entry)
{
    size_t size = zframe_size(entry->frame);
    if (self->disk_bytes + size > self->max_bytes) {
        sp_log_warning(&self->full,
                       "agent spool: %s holds its limit of %" PRIu64
                       " bytes; batches wait in memory only",
                       self->dir, self->max_bytes);
        return -1;
    }
    char name[S_NAME_MAX];
    s_file_name(entry->run_id, entry->seq, name, sizeof name);
    char *path = zsys_sprintf("%s/%s", self->dir, name);
    char *temp = zsys_sprintf("%s/.%s.tmp", self->dir, name);
    int rc = -1;
    int fd = temp ? open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (fd >= 0 && path) {
        ssize_t n = write(fd, zframe_data(entry->frame), size);
        rc = n == (ssize_t)size && fdatasync(fd) == 0 ? 0 : -1;
        close(fd);
        if (rc == 0)
            rc = rename(temp, path);
    }
    if (rc != 0) {
        zsys_warning("agent spool: cannot write %s: %s", path ? path : name,
                     strerror(errno));
        if (temp)
            unlink(temp);
    } else {
        entry->on_disk = true;
        self->disk_bytes += size;
    }
    zstr_free(&path);
    zstr_free(&temp);
    return rc;
}

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
    sp_log_limit_init(&self->full, "agent spool: directory-full lines not logged", 1,
                      60 * SP_NS_PER_S);
    return self;
}

void
agent_spool_destroy(agent_spool_t **self_p)
{
    assert(self_p);
    agent_spool_t *self = *self_p;
    if (self) {
        zlistx_destroy(&self->entries);
        free(self->dir);
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
    if (self->dir)
        s_write(self, entry);
    zlistx_add_end(self->entries, entry);
    self->unsent++;
    return 0;
}

//  Loads one file of the directory as an unsent entry. A file that does not
//  decode as the batch its name says is renamed *.corrupt. Returns 1 when
//  loaded, 0 when set aside or skipped.
static int
s_load(agent_spool_t *self, const char *name)
{
    uint64_t run_id = 0;
    uint32_t seq = 0;
    char expect[S_NAME_MAX];
    if (sscanf(name, "%" SCNu64 "-%" SCNu32 ".batch", &run_id, &seq) != 2)
        return 0;
    s_file_name(run_id, seq, expect, sizeof expect);
    if (strcmp(expect, name) != 0)
        return 0; //  not a name we write
    char *path = zsys_sprintf("%s/%s", self->dir, name);
    zfile_t *file = path ? zfile_new(self->dir, name) : NULL;
    zchunk_t *chunk = NULL;
    if (file && zfile_input(file) == 0)
        chunk = zfile_read(file, PROTO_MAX_FRAME + 1, 0);
    zfile_destroy(&file);
    char reason[256] = "cannot be read";
    proto_envelope_t *env =
        chunk && zchunk_size(chunk) <= PROTO_MAX_FRAME
            ? proto_decode(zchunk_data(chunk), zchunk_size(chunk), reason, sizeof reason)
            : NULL;
    bool ok = env && env->body_case == STAMPEDE__ENVELOPE__BODY_RESULT_BATCH &&
              env->result_batch->run_id == run_id && env->result_batch->seq == seq &&
              !s_find(self, run_id, seq);
    if (env && !ok)
        snprintf(reason, sizeof reason, "not batch %" PRIu32 " of run %" PRIu64, seq,
                 run_id);
    proto_envelope_destroy(&env);
    s_entry_t *entry = ok ? calloc(1, sizeof *entry) : NULL;
    if (entry) {
        entry->run_id = run_id;
        entry->seq = seq;
        entry->frame = zframe_new(zchunk_data(chunk), zchunk_size(chunk));
        entry->on_disk = true;
        self->disk_bytes += zchunk_size(chunk);
        zlistx_add_end(self->entries, entry);
        self->unsent++;
    } else if (path) {
        char *aside = zsys_sprintf("%s.corrupt", path);
        zsys_warning("agent spool: %s set aside: %s", path, reason);
        if (aside && rename(path, aside) != 0)
            zsys_warning("agent spool: cannot set %s aside: %s", path, strerror(errno));
        zstr_free(&aside);
    }
    zchunk_destroy(&chunk);
    zstr_free(&path);
    return entry ? 1 : 0;
}

static int
s_by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int
agent_spool_attach(agent_spool_t *self, const char *dir, uint64_t max_bytes, char *err,
                   size_t err_size)
{
    assert(self && dir && !self->dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "--spool %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, s_by_name);
    if (n < 0) {
        snprintf(err, err_size, "--spool %s: %s", dir, strerror(errno));
        return -1;
    }
    self->dir = strdup(dir);
    self->max_bytes = max_bytes;
    int loaded = 0;
    for (int i = 0; i < n; i++) {
        if (self->dir)
            loaded += s_load(self, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    if (!self->dir) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return loaded;
}

uint64_t
agent_spool_disk_bytes(agent_spool_t *self)
{
    assert(self);
    return self->disk_bytes;
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
    s_unlink(self, entry);
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
            s_unlink(self, held);
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

//  An encoded ResultBatch of one result: batch seq of run_id.
static zframe_t *
s_batch_frame(uint64_t run_id, uint32_t seq)
{
    Stampede__Result result = STAMPEDE__RESULT__INIT;
    result.index = seq;
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_OK;
    result.invocation_count = -1;
    zframe_t *frame = proto_fixture_batch(run_id, seq, &result);
    CHECK_NOT_NULL(frame);
    return frame;
}

//  Files in dir whose name ends with suffix.
static int
s_files(const char *dir, const char *suffix)
{
    int count = 0;
    DIR *handle = opendir(dir);
    CHECK_NOT_NULL(handle);
    for (struct dirent *e = readdir(handle); e; e = readdir(handle)) {
        size_t len = strlen(e->d_name), suffix_len = strlen(suffix);
        count += len > suffix_len && strcmp(e->d_name + len - suffix_len, suffix) == 0;
    }
    closedir(handle);
    return count;
}

//  The directory part: batches written before they go out, removed on ack
//  or drop, loaded again by a spool attached later (an agent restarted), a
//  file that is not its batch set aside, and the byte limit kept.
static void
s_test_directory(void)
{
    char dir[64], err[256], corrupt[128], aside[160], notes[128];
    snprintf(dir, sizeof dir, "/tmp/agent_spool_test-%ld", (long)getpid());
    snprintf(corrupt, sizeof corrupt, "%s/00000000000000000007-0000000003.batch", dir);
    snprintf(aside, sizeof aside, "%s.corrupt", corrupt);
    snprintf(notes, sizeof notes, "%s/notes.txt", dir);
    agent_spool_t *spool = agent_spool_new();
    CHECK_INT(
        agent_spool_attach(spool, dir, AGENT_SPOOL_DEFAULT_MAX_BYTES, err, sizeof err),
        0);
    zframe_t *frame = s_batch_frame(7, 1);
    size_t one = zframe_size(frame);
    CHECK_INT(agent_spool_put(spool, 7, 1, &frame), 0);
    frame = s_batch_frame(7, 2);
    CHECK_INT(agent_spool_put(spool, 7, 2, &frame), 0);
    frame = s_batch_frame(8, 1);
    CHECK_INT(agent_spool_put(spool, 8, 1, &frame), 0);
    CHECK_INT(s_files(dir, ".batch"), 3);
    CHECK_INT(agent_spool_disk_bytes(spool), 3 * one);
    CHECK_INT(agent_spool_ack(spool, 7, 1), 0);
    CHECK_INT(agent_spool_drop(spool, 8), 1);
    CHECK_INT(s_files(dir, ".batch"), 1);
    CHECK_INT(agent_spool_disk_bytes(spool), one);
    agent_spool_destroy(&spool); //  the agent is killed

    //  A file that is not what its name says, and one of another name.
    FILE *bad = fopen(corrupt, "w");
    CHECK_NOT_NULL(bad);
    fputs("not a batch", bad);
    fclose(bad);
    bad = fopen(notes, "w");
    CHECK_NOT_NULL(bad);
    fclose(bad);
    spool = agent_spool_new();
    CHECK_INT(
        agent_spool_attach(spool, dir, AGENT_SPOOL_DEFAULT_MAX_BYTES, err, sizeof err),
        1);
    CHECK_INT(agent_spool_count(spool, 7), 1);
    CHECK_INT(agent_spool_unsent(spool), 1);
    CHECK_INT(s_files(dir, ".corrupt"), 1);
    CHECK_INT(agent_spool_ack(spool, 7, 2), 0);
    CHECK_INT(s_files(dir, ".batch"), 0);
    agent_spool_destroy(&spool);

    //  At its byte limit a batch is held in memory only.
    spool = agent_spool_new();
    CHECK_INT(agent_spool_attach(spool, dir, one, err, sizeof err), 0);
    frame = s_batch_frame(9, 1);
    CHECK_INT(agent_spool_put(spool, 9, 1, &frame), 0);
    frame = s_batch_frame(9, 2);
    CHECK_INT(agent_spool_put(spool, 9, 2, &frame), 0);
    CHECK_INT(s_files(dir, ".batch"), 1);
    CHECK_INT(agent_spool_size(spool), 2);
    CHECK_INT(agent_spool_ack(spool, 9, 2), 0);
    CHECK_INT(agent_spool_ack(spool, 9, 1), 0);
    CHECK_INT(s_files(dir, ".batch"), 0);
    agent_spool_destroy(&spool);

    //  A directory that cannot be made.
    spool = agent_spool_new();
    CHECK_INT(agent_spool_attach(spool, "/proc/no-such-dir", 1, err, sizeof err), -1);
    CHECK_TRUE(strncmp(err, "--spool /proc/no-such-dir: ", 27) == 0);
    agent_spool_destroy(&spool);
    CHECK_INT(unlink(notes), 0);
    CHECK_INT(unlink(aside), 0);
    CHECK_INT(rmdir(dir), 0);
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
    s_test_directory();
    if (verbose)
        printf("(spool checks done) ");
}
