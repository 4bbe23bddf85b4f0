/*  agent_burst — the burst engine; see agent_burst.h.

    Pipe protocol (in-process only, so integers travel in host order):
      commands  "s88b": name, a, b, bytes
                PREPARE 0 0 <Envelope{Prepare}> | GO run_id start_at_ns |
                CANCEL run_id 0 (answered CANCELLED) | FLUSH max interval_ms
      events    "s844sb": name, run_id, a, b, error, bytes
                READY run_id prepared 0 error | BATCH run_id seq 0 "" frame |
                RELEASED run_id armed late "" int64[2]{released, end} |
                DONE run_id results batches | CANCELLED run_id 0 0

    Engine states: IDLE -> PREPARED (handles built) -> ARMED (go received,
    waiting for the instant) -> RUNNING (multi loop) -> IDLE once every
    result is batched, or at once on cancel. The multi handle is made per
    run, so no connection outlives its run and each run starts cold.

    START_MODE_LAST_BYTE puts HOLDING between ARMED and RUNNING: the
    transfers are added S_HOLD_LEAD_NS before the instant (at once when Go
    leaves less) and driven while each connects, writes its head and every
    body byte but the last, and pauses in its read callback. At the instant
    one tight pass unpauses them all; the multi loop then writes every last
    byte in its next turn. A transfer that fails meanwhile is a result like
    any other; one still connecting at the instant sends its whole request
    as soon as it can.
*/
#include "agent_burst.h"
#include "agent_response.h"
#include "agent_testserver.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_PIPE_CHECK_MS 20           //  longest the engine goes without reading its pipe
#define S_SPIN_NS (2 * SP_NS_PER_MS) //  the last stretch before GO is a sleep
//  LAST_BYTE: how long before the instant the transfers start, so that
//  connecting and writing all but the last byte are over by then. The
//  controller's Go comes at least 250 ms ahead, so this is normally all
//  there; a nearer instant starts them at once.
#define S_HOLD_LEAD_NS (200 * SP_NS_PER_MS)

typedef enum { S_IDLE, S_PREPARED, S_ARMED, S_HOLDING, S_RUNNING } s_state_t;

typedef struct _s_engine_t s_engine_t;

typedef struct {
    s_engine_t *engine;           //  owner, for the run's body
    CURL *easy;                   //  NULL once its result is taken
    agent_response_t *response;   //  what the transfer received
    int64_t sent_ns;              //  wall clock when the request went out
                                  //  (LAST_BYTE: when its last byte was released)
    int64_t first_byte_ns;        //  wall clock when the answer began
    size_t body_off;              //  LAST_BYTE: body bytes handed to curl
    bool held;                    //  LAST_BYTE: paused with only the last byte left
    bool released;                //  LAST_BYTE: the last byte may go
    char errbuf[CURL_ERROR_SIZE]; //  curl's text for a failure
} s_slot_t;

struct _s_engine_t {
    zsock_t *pipe;      //  actor pipe
    bool terminated;    //  $TERM received
    uint32_t flush_max; //  results that force a batch out
    int64_t flush_ns;   //  longest a finished result waits
    //  The run (state != S_IDLE)
    s_state_t state;
    uint64_t run_id;
    uint32_t first_index;                       //  index of slots[0]
    uint32_t count;                             //  slots
    proto_envelope_t *prepare;                  //  the Prepare: owns URL, method and body
    CURLM *multi;                               //  per run
    struct curl_slist *headers;                 //  shared by every easy handle of the run
    bool last_byte;                             //  start mode LAST_BYTE
    const uint8_t *body;                        //  the target's body (owned by prepare)
    size_t body_len;                            //  its length
    s_slot_t *slots;                            //  count slots
    bool added;                                 //  easy handles are in the multi
    int64_t start_at_ns;                        //  GO instant, agent wall clock
    uint32_t finished;                          //  results taken from curl
    uint32_t seq;                               //  last batch number sent
    Stampede__Result *pending[PROTO_MAX_BATCH]; //  results not yet batched
    uint32_t pending_count;
    int64_t pending_since; //  mono ns when pending became non-empty
};

struct _agent_burst_t {
    zactor_t *actor; //  the engine thread
};

//  --------------------------------------------------------------------------
//  Engine (runs on the actor thread)

static void
s_emit(s_engine_t *self, const char *name, uint64_t run_id, uint32_t a, uint32_t b,
       const char *error, const void *data, size_t size)
{
    if (zsock_send(self->pipe, "s844sb", name, run_id, a, b, error ? error : "", data,
                   size) != 0)
        zsys_error("agent burst: event lost event=%s run_id=%" PRIu64, name, run_id);
}

//  Says when the share was released: the pass that started (AT_GO) or
//  unpaused (LAST_BYTE) its transfers began at released_ns and ended at
//  end_ns, wall clock; armed of them held only their last byte then, late
//  were still connecting or writing.
static void
s_emit_released(s_engine_t *self, int64_t released_ns, int64_t end_ns, uint32_t armed,
                uint32_t late)
{
    int64_t times[2] = {released_ns, end_ns};
    s_emit(self, "RELEASED", self->run_id, armed, late, "", times, sizeof times);
}

//  curl calls this once connected, right before the request is sent: the
//  one instant of the transfer we can read on the wall clock directly.
static int
s_on_prereq(void *user, char *primary_ip, char *local_ip, int primary_port,
            int local_port)
{
    s_slot_t *slot = user;
    if (!slot->engine->last_byte)
        slot->sent_ns = sp_clock_wall_ns();
    return CURL_PREREQFUNC_OK;
}

//  LAST_BYTE: curl pulls the body through here. Until the slot is released
//  it gets every byte but the last, then the transfer pauses; afterwards
//  the rest. A transfer that only gets here after the release (it was
//  still connecting) is stamped sent when its last byte is handed out.
static size_t
s_on_read(char *buffer, size_t size, size_t count, void *user)
{
    s_slot_t *slot = user;
    s_engine_t *self = slot->engine;
    size_t limit = slot->released ? self->body_len : self->body_len - 1;
    if (slot->body_off >= limit) {
        if (slot->released)
            return 0;
        slot->held = true;
        return CURL_READFUNC_PAUSE;
    }
    size_t n = size * count;
    if (n > limit - slot->body_off)
        n = limit - slot->body_off;
    memcpy(buffer, self->body + slot->body_off, n);
    slot->body_off += n;
    if (slot->body_off == self->body_len && slot->sent_ns == 0)
        slot->sent_ns = sp_clock_wall_ns();
    return n;
}

//  LAST_BYTE: lets curl rewind the body (it only ever asks for the start).
static int
s_on_seek(void *user, curl_off_t offset, int origin)
{
    s_slot_t *slot = user;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > slot->engine->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    slot->body_off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t
s_on_header(char *data, size_t size, size_t count, void *user)
{
    s_slot_t *slot = user;
    if (slot->first_byte_ns == 0)
        slot->first_byte_ns = sp_clock_wall_ns();
    agent_response_header(slot->response, data, size * count);
    return size * count;
}

static size_t
s_on_body(char *data, size_t size, size_t count, void *user)
{
    agent_response_body(user, data, size * count);
    return size * count;
}

static void
s_result_free(Stampede__Result **result_p)
{
    if (*result_p) {
        agent_response_result_clear(*result_p);
        free(*result_p);
        *result_p = NULL;
    }
}

//  Frees everything of the current run and returns to IDLE.
static void
s_run_free(s_engine_t *self)
{
    for (uint32_t i = 0; self->slots && i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->easy) {
            if (self->added)
                curl_multi_remove_handle(self->multi, slot->easy);
            curl_easy_cleanup(slot->easy);
        }
        agent_response_destroy(&slot->response);
    }
    free(self->slots);
    self->slots = NULL;
    for (uint32_t i = 0; i < self->pending_count; i++)
        s_result_free(&self->pending[i]);
    self->pending_count = 0;
    curl_slist_free_all(self->headers);
    self->headers = NULL;
    if (self->multi)
        curl_multi_cleanup(self->multi);
    self->multi = NULL;
    proto_envelope_destroy(&self->prepare);
    self->state = S_IDLE;
    self->added = false;
    self->last_byte = false;
    self->body = NULL;
    self->body_len = 0;
    self->count = self->finished = self->seq = 0;
}

//  The request headers of the run: the target's, plus an empty Expect so a
//  large body is not held back waiting for "100 Continue". LAST_BYTE drops
//  the target's own Expect too: a request waiting for 100 Continue could
//  not be written ahead of the instant.
static int
s_headers_build(s_engine_t *self, const Stampede__Target *target)
{
    bool has_expect = false;
    for (size_t i = 0; i < target->n_headers; i++) {
        const Stampede__Header *header = target->headers[i];
        bool expect = strcasecmp(header->name, "Expect") == 0;
        if (expect && self->last_byte)
            continue;
        has_expect |= expect;
        //  "Name;" is curl's spelling of a header with an empty value.
        char *line = header->value[0]
                         ? zsys_sprintf("%s: %s", header->name, header->value)
                         : zsys_sprintf("%s;", header->name);
        struct curl_slist *grown = line ? curl_slist_append(self->headers, line) : NULL;
        zstr_free(&line);
        if (!grown)
            return -1;
        self->headers = grown;
    }
    if (!has_expect) {
        struct curl_slist *grown = curl_slist_append(self->headers, "Expect:");
        if (!grown)
            return -1;
        self->headers = grown;
    }
    return 0;
}

#define S_SETOPT(easy, option, value)                                                    \
    do {                                                                                 \
        if (rc == CURLE_OK)                                                              \
            rc = curl_easy_setopt(easy, option, value);                                  \
    } while (0)

//  Builds one easy handle of the share into slot.
static int
s_slot_build(s_engine_t *self, s_slot_t *slot)
{
    const Stampede__Target *target = self->prepare->prepare->target;
    slot->engine = self;
    slot->response = agent_response_new();
    if (slot->response)
        agent_response_set_arrival_header(slot->response, target->arrival_header);
    slot->easy = curl_easy_init();
    if (!slot->response || !slot->easy)
        return -1;
    CURL *easy = slot->easy;
    CURLcode rc = CURLE_OK;
    S_SETOPT(easy, CURLOPT_URL, target->url);
    S_SETOPT(easy, CURLOPT_PRIVATE, (void *)slot);
    S_SETOPT(easy, CURLOPT_ERRORBUFFER, slot->errbuf);
    S_SETOPT(easy, CURLOPT_NOSIGNAL, 1L);
    S_SETOPT(easy, CURLOPT_TIMEOUT_MS, (long)target->timeout_ms);
    if (target->ca_pem.len > 0) {
        //  The run's CAs instead of the host's bundle; the Prepare holding
        //  the PEM outlives every handle of the run.
        struct curl_blob ca = {.data = target->ca_pem.data,
                               .len = target->ca_pem.len,
                               .flags = CURL_BLOB_NOCOPY};
        S_SETOPT(easy, CURLOPT_CAINFO_BLOB, &ca);
    }
    S_SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)target->timeout_ms);
    S_SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L);
    //  Every request of a burst gets its own connection (they start
    //  together, so none could reuse another's anyway). Saying so up front
    //  skips curl's search of the connection cache, which is linear in the
    //  open connections, so the first curl_multi_perform of a share grows
    //  quadratically without it: 2000 requests took 124 ms to get out of it
    //  before, 60 ms after.
    S_SETOPT(easy, CURLOPT_FRESH_CONNECT, 1L);
    S_SETOPT(easy, CURLOPT_FORBID_REUSE, 1L);
    S_SETOPT(easy, CURLOPT_PROXY, ""); //  no proxy from the environment
    S_SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    S_SETOPT(easy, CURLOPT_USERAGENT, "stampede-agent/" STAMPEDE_VERSION);
    S_SETOPT(easy, CURLOPT_HTTPHEADER, self->headers);
    S_SETOPT(easy, CURLOPT_HEADERFUNCTION, s_on_header);
    S_SETOPT(easy, CURLOPT_HEADERDATA, (void *)slot);
    S_SETOPT(easy, CURLOPT_WRITEFUNCTION, s_on_body);
    S_SETOPT(easy, CURLOPT_WRITEDATA, (void *)slot->response);
    S_SETOPT(easy, CURLOPT_PREREQFUNCTION, s_on_prereq);
    S_SETOPT(easy, CURLOPT_PREREQDATA, (void *)slot);
    const char *method = target->method;
    bool has_body = target->body.len > 0 || strcmp(method, "POST") == 0;
    if (self->last_byte) {
        //  The codec guarantees a body of >= 1 byte and no HEAD. A POST
        //  whose body comes from the read callback, with its length known
        //  (Content-Length, not chunked), under the target's method.
        S_SETOPT(easy, CURLOPT_POST, 1L);
        S_SETOPT(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)target->body.len);
        S_SETOPT(easy, CURLOPT_READFUNCTION, s_on_read);
        S_SETOPT(easy, CURLOPT_READDATA, (void *)slot);
        S_SETOPT(easy, CURLOPT_SEEKFUNCTION, s_on_seek);
        S_SETOPT(easy, CURLOPT_SEEKDATA, (void *)slot);
        if (strcmp(method, "POST") != 0)
            S_SETOPT(easy, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "HEAD") == 0)
        S_SETOPT(easy, CURLOPT_NOBODY, 1L); //  a HEAD never carries a body
    else {
        if (has_body) {
            //  The run holds one copy of the body for every handle, instead
            //  of each handle copying it (up to 6 MiB × count).
            S_SETOPT(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)target->body.len);
            S_SETOPT(easy, CURLOPT_POSTFIELDS,
                     target->body.len ? (const char *)target->body.data : "");
        }
        if (strcmp(method, has_body ? "POST" : "GET") != 0)
            S_SETOPT(easy, CURLOPT_CUSTOMREQUEST, method);
    }
    return rc == CURLE_OK ? 0 : -1;
}

//  Grows the process's file descriptor table now to fit `count` more
//  sockets. In a multi-threaded process every growth of that table waits
//  for an RCU grace period; left to the burst, the doublings from 64 to
//  2048 cost ~30 ms inside the first curl_multi_perform of a 2000-request
//  share, all of it delaying the requests. Best effort.
static void
s_reserve_fds(uint32_t count)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    rlim_t want = (rlim_t)count + 64;
    if (want >= limit.rlim_cur) {
        zsys_warning("agent burst: share needs more sockets than the open-file limit "
                     "count=%u limit=%lu",
                     count, (unsigned long)limit.rlim_cur);
        want = limit.rlim_cur - 1;
    }
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)want);
    if (high >= 0)
        close(high);
    close(fd);
}

static void
s_on_prepare(s_engine_t *self, zframe_t *frame)
{
    char error[PROTO_MAX_ERROR + 1] = "";
    char reason[256];
    proto_envelope_t *env =
        proto_decode(zframe_data(frame), zframe_size(frame), reason, sizeof reason);
    assert(env && env->body_case == STAMPEDE__ENVELOPE__BODY_PREPARE);
    const Stampede__Prepare *prepare = env->prepare;
    if (self->state != S_IDLE) {
        snprintf(error, sizeof error, "agent is busy with run %" PRIu64, self->run_id);
        s_emit(self, "READY", prepare->run_id, 0, 0, error, NULL, 0);
        proto_envelope_destroy(&env);
        return;
    }
    self->run_id = prepare->run_id;
    self->first_index = prepare->first_index;
    self->prepare = env;
    self->last_byte = prepare->start_mode == STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    self->body = prepare->target->body.data;
    self->body_len = prepare->target->body.len;
    self->multi = curl_multi_init();
    self->slots = calloc(prepare->count, sizeof *self->slots);
    self->count = self->slots ? prepare->count : 0;
    int rc = self->multi && self->slots ? 0 : -1;
    if (rc == 0)
        rc = curl_multi_setopt(self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L) == CURLM_OK
                 ? 0
                 : -1;
    if (rc == 0)
        rc = s_headers_build(self, prepare->target);
    for (uint32_t i = 0; rc == 0 && i < self->count; i++)
        rc = s_slot_build(self, &self->slots[i]);
    if (rc != 0) {
        snprintf(error, sizeof error,
                 "agent could not build %u requests (out of memory or bad option)",
                 prepare->count);
        zsys_warning("agent burst: prepare failed run_id=%" PRIu64 " count=%u",
                     prepare->run_id, prepare->count);
        s_emit(self, "READY", self->run_id, 0, 0, error, NULL, 0);
        s_run_free(self);
        return;
    }
    s_reserve_fds(self->count);
    self->state = S_PREPARED;
    zsys_info("agent burst: prepared run_id=%" PRIu64 " count=%u first_index=%u "
              "start_mode=%s",
              self->run_id, self->count, self->first_index,
              proto_start_mode_name(prepare->start_mode));
    s_emit(self, "READY", self->run_id, self->count, 0, "", NULL, 0);
}

//  Sends the pending results as the next batch of the run.
static void
s_flush(s_engine_t *self)
{
    if (self->pending_count == 0)
        return;
    Stampede__ResultBatch batch = STAMPEDE__RESULT_BATCH__INIT;
    batch.run_id = self->run_id;
    batch.seq = self->seq + 1;
    batch.results = self->pending;
    batch.n_results = self->pending_count;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &batch;
    zframe_t *frame = proto_encode(&env);
    if (!frame) {
        //  agent_response guarantees valid fields, so this is our bug; keep
        //  the outcomes and timings rather than lose the results.
        for (uint32_t i = 0; i < self->pending_count; i++) {
            uint32_t index = self->pending[i]->index;
            Stampede__Outcome outcome = self->pending[i]->outcome;
            agent_response_result_clear(self->pending[i]);
            self->pending[i]->index = index;
            self->pending[i]->outcome = outcome;
        }
        frame = proto_encode(&env);
        assert(frame);
    }
    self->seq++;
    s_emit(self, "BATCH", self->run_id, self->seq, 0, "", zframe_data(frame),
           zframe_size(frame));
    zframe_destroy(&frame);
    for (uint32_t i = 0; i < self->pending_count; i++)
        s_result_free(&self->pending[i]);
    self->pending_count = 0;
}

//  Turns one finished transfer into a pending Result and frees its handle.
static void
s_take_result(s_engine_t *self, CURL *easy, CURLcode code)
{
    char *private = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &private);
    s_slot_t *slot = (s_slot_t *)private;
    assert(slot && slot->easy == easy);
    Stampede__Result *result = malloc(sizeof *result);
    assert(result);
    agent_response_result_init(result,
                               self->first_index + (uint32_t)(slot - self->slots));
    curl_off_t downloaded = 0;
    long status = 0, connects = 0;
    curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &downloaded);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    result->scheduled_ns = self->start_at_ns;
    result->sent_ns = slot->sent_ns;
    result->first_byte_ns = slot->first_byte_ns;
    result->done_ns = sp_clock_wall_ns();
    result->bytes_received = downloaded > 0 ? (uint64_t)downloaded : 0;
    result->connection_reused = connects == 0 && slot->sent_ns > 0;
    agent_response_finish(slot->response, result, self->prepare->prepare->target->door,
                          code, slot->errbuf, status);
    curl_multi_remove_handle(self->multi, easy);
    curl_easy_cleanup(easy);
    slot->easy = NULL;
    agent_response_destroy(&slot->response);

    if (self->pending_count == 0)
        self->pending_since = sp_clock_mono_ns();
    self->pending[self->pending_count++] = result;
    self->finished++;
    if (self->pending_count >= self->flush_max)
        s_flush(self);
}

static void
s_add_all(s_engine_t *self)
{
    for (uint32_t i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (curl_multi_add_handle(self->multi, slot->easy) != CURLM_OK)
            zsys_error("agent burst: cannot add transfer run_id=%" PRIu64 " index=%u",
                       self->run_id, self->first_index + i);
    }
    self->added = true;
}

//  AT_GO: every transfer starts at the instant.
static void
s_fire(s_engine_t *self)
{
    sp_clock_sleep_until(self->start_at_ns);
    int64_t released_ns = sp_clock_wall_ns();
    s_add_all(self);
    self->state = S_RUNNING;
    int64_t end_ns = sp_clock_wall_ns();
    s_emit_released(self, released_ns, end_ns, 0, 0);
    zsys_info("agent burst: fired run_id=%" PRIu64 " count=%u late_ns=%" PRId64,
              self->run_id, self->count, released_ns - self->start_at_ns);
}

//  LAST_BYTE: starts every transfer ahead of the instant. The time left
//  until the instant is added to each timeout, so a request gets the
//  target's timeout_ms from the instant on, as in AT_GO.
static void
s_hold(s_engine_t *self)
{
    int64_t ahead_ms = (self->start_at_ns - sp_clock_wall_ns()) / SP_NS_PER_MS;
    if (ahead_ms < 0)
        ahead_ms = 0;
    long timeout_ms = (long)self->prepare->prepare->target->timeout_ms + (long)ahead_ms;
    for (uint32_t i = 0; i < self->count; i++)
        if (curl_easy_setopt(self->slots[i].easy, CURLOPT_TIMEOUT_MS, timeout_ms) !=
            CURLE_OK)
            zsys_error("agent burst: cannot set the timeout run_id=%" PRIu64 " index=%u",
                       self->run_id, self->first_index + i);
    s_add_all(self);
    self->state = S_HOLDING;
    zsys_info("agent burst: writing ahead run_id=%" PRIu64 " count=%u ahead_ms=%" PRId64,
              self->run_id, self->count, ahead_ms);
}

//  LAST_BYTE: at the instant, lets every held last byte go in one pass;
//  the next multi-loop turn writes them.
static void
s_release(s_engine_t *self)
{
    sp_clock_sleep_until(self->start_at_ns);
    int64_t released_ns = sp_clock_wall_ns();
    uint32_t held = 0, live = 0;
    for (uint32_t i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->easy)
            continue; //  already a result
        live++;
        slot->released = true;
        if (slot->held) {
            held++;
            slot->sent_ns = sp_clock_wall_ns();
            if (curl_easy_pause(slot->easy, CURLPAUSE_CONT) != CURLE_OK)
                zsys_error("agent burst: cannot release run_id=%" PRIu64 " index=%u",
                           self->run_id, self->first_index + i);
        }
    }
    self->state = S_RUNNING;
    s_emit_released(self, released_ns, sp_clock_wall_ns(), held, live - held);
    int64_t late_ns = released_ns - self->start_at_ns;
    if (held < live)
        zsys_warning("agent burst: released before every request was written "
                     "run_id=%" PRIu64 " held=%u live=%u count=%u late_ns=%" PRId64,
                     self->run_id, held, live, self->count, late_ns);
    else
        zsys_info("agent burst: released run_id=%" PRIu64
                  " held=%u count=%u late_ns=%" PRId64,
                  self->run_id, held, self->count, late_ns);
}

//  One turn of the multi loop: drive transfers, take finished ones, flush,
//  then wait for curl at most max_wait_ms.
static void
s_run_step(s_engine_t *self, int64_t max_wait_ms)
{
    int running = 0;
    if (curl_multi_perform(self->multi, &running) != CURLM_OK)
        zsys_error("agent burst: curl_multi_perform failed run_id=%" PRIu64,
                   self->run_id);
    for (;;) {
        int left = 0;
        CURLMsg *msg = curl_multi_info_read(self->multi, &left);
        if (!msg)
            break;
        if (msg->msg == CURLMSG_DONE)
            s_take_result(self, msg->easy_handle, msg->data.result);
    }
    int64_t now = sp_clock_mono_ns();
    if (self->pending_count > 0 && now - self->pending_since >= self->flush_ns)
        s_flush(self);
    if (self->finished == self->count) {
        s_flush(self);
        zsys_info("agent burst: run complete run_id=%" PRIu64 " results=%u batches=%u",
                  self->run_id, self->finished, self->seq);
        s_emit(self, "DONE", self->run_id, self->finished, self->seq, "", NULL, 0);
        s_run_free(self);
        return;
    }
    int64_t wait_ms = max_wait_ms;
    if (self->pending_count > 0) {
        int64_t flush_in = (self->pending_since + self->flush_ns - now) / SP_NS_PER_MS;
        wait_ms = flush_in < wait_ms ? (flush_in > 0 ? flush_in : 0) : wait_ms;
    }
    curl_multi_poll(self->multi, NULL, 0, (int)wait_ms, NULL);
}

//  LAST_BYTE, HOLDING: drives the transfers until shortly before the
//  instant, then releases.
static void
s_hold_step(s_engine_t *self)
{
    int64_t left = self->start_at_ns - sp_clock_wall_ns() - S_SPIN_NS;
    if (left < SP_NS_PER_MS) {
        s_release(self);
        return;
    }
    int64_t wait_ms = left / SP_NS_PER_MS;
    s_run_step(self, wait_ms < S_PIPE_CHECK_MS ? wait_ms : S_PIPE_CHECK_MS);
}

static void
s_on_command(s_engine_t *self)
{
    char *name = NULL;
    uint64_t a = 0, b = 0;
    zframe_t *frame = NULL;
    if (zsock_recv(self->pipe, "s88f", &name, &a, &b, &frame) != 0)
        return; //  interrupted; the command is still queued
    if (name && streq(name, "$TERM"))
        self->terminated = true;
    else if (name && streq(name, "PREPARE"))
        s_on_prepare(self, frame);
    else if (name && streq(name, "GO")) {
        if (self->state == S_PREPARED && self->run_id == a) {
            self->start_at_ns = (int64_t)b;
            self->state = S_ARMED;
        } else
            zsys_warning("agent burst: go ignored run_id=%" PRIu64 " state=%d", a,
                         (int)self->state);
    } else if (name && streq(name, "CANCEL")) {
        if (self->state != S_IDLE && self->run_id == a) {
            zsys_notice("agent burst: run cancelled run_id=%" PRIu64 " finished=%u/%u", a,
                        self->finished, self->count);
            s_run_free(self);
        }
        s_emit(self, "CANCELLED", a, 0, 0, "", NULL, 0);
    } else if (name && streq(name, "FLUSH")) {
        self->flush_max = a < 1 ? 1 : a > PROTO_MAX_BATCH ? PROTO_MAX_BATCH : (uint32_t)a;
        self->flush_ns = (int64_t)b * SP_NS_PER_MS;
    }
    zstr_free(&name);
    zframe_destroy(&frame);
}

//  Waits up to timeout_ms for a command (-1: forever) and handles it.
static void
s_wait_command(s_engine_t *self, long timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve(self->pipe), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) > 0 && (item.revents & ZMQ_POLLIN))
        s_on_command(self);
}

static void
s_engine_actor(zsock_t *pipe, void *args)
{
    s_engine_t *self = calloc(1, sizeof *self);
    assert(self);
    self->pipe = pipe;
    self->flush_max = AGENT_BURST_FLUSH_MAX;
    self->flush_ns = AGENT_BURST_FLUSH_MS * SP_NS_PER_MS;
    zsock_signal(pipe, 0);
    while (!self->terminated) {
        if (self->state == S_ARMED) {
            int64_t fire_at = self->last_byte ? self->start_at_ns - S_HOLD_LEAD_NS
                                              : self->start_at_ns - S_SPIN_NS;
            int64_t until = fire_at - sp_clock_wall_ns();
            if (until > 0)
                s_wait_command(self, (long)(until / SP_NS_PER_MS) < S_PIPE_CHECK_MS
                                         ? (long)(until / SP_NS_PER_MS)
                                         : S_PIPE_CHECK_MS);
            else if (self->last_byte)
                s_hold(self);
            else
                s_fire(self);
        } else if (self->state == S_HOLDING) {
            s_wait_command(self, 0);
            if (self->state == S_HOLDING && !self->terminated)
                s_hold_step(self);
        } else if (self->state == S_RUNNING) {
            s_wait_command(self, 0);
            if (self->state == S_RUNNING && !self->terminated)
                s_run_step(self, S_PIPE_CHECK_MS);
        } else
            s_wait_command(self, -1);
    }
    s_run_free(self);
    free(self);
}

//  --------------------------------------------------------------------------
//  Owner side

agent_burst_t *
agent_burst_new(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    agent_burst_t *self = calloc(1, sizeof *self);
    if (self)
        self->actor = zactor_new(s_engine_actor, NULL);
    if (!self || !self->actor) {
        free(self);
        curl_global_cleanup();
        return NULL;
    }
    return self;
}

void
agent_burst_destroy(agent_burst_t **self_p)
{
    assert(self_p);
    agent_burst_t *self = *self_p;
    if (self) {
        zactor_destroy(&self->actor);
        free(self);
        curl_global_cleanup();
        *self_p = NULL;
    }
}

int
agent_burst_prepare(agent_burst_t *self, const Stampede__Prepare *prepare)
{
    assert(self);
    assert(prepare);
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_PREPARE;
    env.prepare = (Stampede__Prepare *)prepare;
    zframe_t *frame = proto_encode(&env);
    if (!frame)
        return -1;
    int rc = zsock_send(self->actor, "s88b", "PREPARE", (uint64_t)0, (uint64_t)0,
                        zframe_data(frame), zframe_size(frame));
    zframe_destroy(&frame);
    return rc;
}

int
agent_burst_go(agent_burst_t *self, uint64_t run_id, int64_t start_at_ns)
{
    assert(self);
    return zsock_send(self->actor, "s88b", "GO", run_id, (uint64_t)start_at_ns, NULL,
                      (size_t)0);
}

int
agent_burst_set_flush(agent_burst_t *self, uint32_t max_results, uint32_t interval_ms)
{
    assert(self);
    return zsock_send(self->actor, "s88b", "FLUSH", (uint64_t)max_results,
                      (uint64_t)interval_ms, NULL, (size_t)0);
}

zsock_t *
agent_burst_sock(agent_burst_t *self)
{
    assert(self);
    return zactor_sock(self->actor);
}

//  Reads one raw event; name is the caller's to free.
static int
s_recv_raw(agent_burst_t *self, char **name, agent_burst_event_t *event)
{
    char *error = NULL;
    uint32_t a = 0, b = 0;
    memset(event, 0, sizeof *event);
    if (zsock_recv(self->actor, "s844sf", name, &event->run_id, &a, &b, &error,
                   &event->frame) != 0 ||
        !*name)
        return -1;
    snprintf(event->error, sizeof event->error, "%s", error ? error : "");
    zstr_free(&error);
    event->prepared = event->seq = event->results = a;
    event->batches = b;
    return 0;
}

int
agent_burst_cancel(agent_burst_t *self, uint64_t run_id)
{
    assert(self);
    if (zsock_send(self->actor, "s88b", "CANCEL", run_id, (uint64_t)0, NULL, (size_t)0) !=
        0)
        return -1;
    //  Everything the engine said before CANCELLED is stale for this run.
    for (;;) {
        char *name = NULL;
        agent_burst_event_t event;
        if (s_recv_raw(self, &name, &event) != 0)
            return -1;
        bool cancelled = streq(name, "CANCELLED") && event.run_id == run_id;
        zstr_free(&name);
        zframe_destroy(&event.frame);
        if (cancelled)
            return 0;
    }
}

int
agent_burst_recv(agent_burst_t *self, agent_burst_event_t *event)
{
    assert(self);
    assert(event);
    for (;;) {
        char *name = NULL;
        if (s_recv_raw(self, &name, event) != 0)
            return -1;
        int rc = 0;
        if (streq(name, "READY"))
            event->type = AGENT_BURST_READY;
        else if (streq(name, "BATCH"))
            event->type = AGENT_BURST_BATCH;
        else if (streq(name, "DONE"))
            event->type = AGENT_BURST_DONE;
        else if (streq(name, "RELEASED") && event->frame &&
                 zframe_size(event->frame) == 2 * sizeof(int64_t)) {
            event->type = AGENT_BURST_RELEASED;
            int64_t times[2];
            memcpy(times, zframe_data(event->frame), sizeof times);
            event->released_ns = times[0];
            event->release_end_ns = times[1];
            event->armed = event->seq;
            event->late = event->batches;
        } else
            rc = 1; //  a late CANCELLED: nothing to report
        zstr_free(&name);
        if (event->type != AGENT_BURST_BATCH)
            zframe_destroy(&event->frame);
        if (rc == 0)
            return 0;
    }
}

//  --------------------------------------------------------------------------
//  Selftest

//  Next event (10 s at most).
static void
s_next_event(agent_burst_t *burst, agent_burst_event_t *event)
{
    zpoller_t *poller = zpoller_new(agent_burst_sock(burst), NULL);
    CHECK_TRUE(zpoller_wait(poller, 10000) != NULL);
    zpoller_destroy(&poller);
    CHECK_INT(agent_burst_recv(burst, event), 0);
}

//  Next event, which must be of type `type`.
static void
s_expect_event(agent_burst_t *burst, agent_burst_event_type_t type,
               agent_burst_event_t *event)
{
    s_next_event(burst, event);
    CHECK_INT(event->type, type);
}

typedef struct {
    Stampede__Target target;
    Stampede__Prepare prepare;
    Stampede__Header header;
    Stampede__Header *headers[1];
    char url[256];
    int64_t lead_ns; //  how far ahead of the instant s_run sends Go
} s_share_t;

static void
s_share_init(s_share_t *share, uint64_t run_id, uint32_t first_index, uint32_t count,
             const char *url, uint32_t timeout_ms)
{
    Stampede__Target target = STAMPEDE__TARGET__INIT;
    Stampede__Prepare prepare = STAMPEDE__PREPARE__INIT;
    Stampede__Header header = STAMPEDE__HEADER__INIT;
    share->target = target;
    share->prepare = prepare;
    share->header = header;
    snprintf(share->url, sizeof share->url, "%s", url);
    share->target.url = share->url;
    share->target.method = "GET";
    share->target.timeout_ms = timeout_ms;
    share->prepare.run_id = run_id;
    share->prepare.first_index = first_index;
    share->prepare.count = count;
    share->prepare.target = &share->target;
    share->prepare.start_mode = STAMPEDE__START_MODE__START_MODE_AT_GO;
    share->lead_ns = 20 * SP_NS_PER_MS;
}

//  Prepares, fires now and collects every result of the run into results
//  (indexed by index - first_index; caller frees with stampede__envelope__
//  free_unpacked on each batch kept in batches[]). Returns the batch count.
typedef struct {
    proto_envelope_t *batches[64];
    uint32_t batch_count;
    Stampede__Result *results[64];
    uint32_t result_count;
    int64_t start_at_ns;
    agent_burst_event_t released; //  the RELEASED event
} s_outcome_t;

static void
s_run(agent_burst_t *burst, s_share_t *share, s_outcome_t *out)
{
    memset(out, 0, sizeof *out);
    agent_burst_event_t event;
    CHECK_INT(agent_burst_prepare(burst, &share->prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_INT(event.run_id, share->prepare.run_id);
    CHECK_STR(event.error, "");
    CHECK_INT(event.prepared, share->prepare.count);
    out->start_at_ns = sp_clock_wall_ns() + share->lead_ns;
    CHECK_INT(agent_burst_go(burst, share->prepare.run_id, out->start_at_ns), 0);
    //  Released at most once, at or after the instant; results may come
    //  before it (those that failed before the instant), and when every
    //  request failed before it nothing is released.
    bool released = false;
    for (;;) {
        s_next_event(burst, &event);
        CHECK_INT(event.run_id, share->prepare.run_id);
        if (event.type == AGENT_BURST_RELEASED) {
            CHECK_TRUE(!released);
            released = true;
            out->released = event;
            continue;
        }
        if (event.type == AGENT_BURST_DONE)
            break;
        CHECK_INT(event.type, AGENT_BURST_BATCH);
        CHECK_INT(event.seq, out->batch_count + 1);
        char err[256];
        proto_envelope_t *env = proto_decode(zframe_data(event.frame),
                                             zframe_size(event.frame), err, sizeof err);
        zframe_destroy(&event.frame);
        CHECK_NOT_NULL(env);
        CHECK_INT(env->result_batch->seq, event.seq);
        CHECK_INT(env->result_batch->run_id, share->prepare.run_id);
        out->batches[out->batch_count++] = env;
        for (size_t i = 0; i < env->result_batch->n_results; i++) {
            Stampede__Result *result = env->result_batch->results[i];
            uint32_t slot = result->index - share->prepare.first_index;
            CHECK_TRUE(slot < share->prepare.count);
            CHECK_NULL(out->results[slot]); //  each index exactly once
            out->results[slot] = result;
            out->result_count++;
        }
    }
    CHECK_INT(out->result_count, share->prepare.count);
    if (released) {
        CHECK_TRUE(out->released.released_ns >= out->start_at_ns);
        CHECK_TRUE(out->released.release_end_ns >= out->released.released_ns);
        CHECK_TRUE(out->released.armed + out->released.late <= share->prepare.count);
    }
    if (share->prepare.start_mode == STAMPEDE__START_MODE__START_MODE_AT_GO) {
        CHECK_TRUE(released);
        CHECK_INT(out->released.armed + out->released.late, 0);
    }
    CHECK_INT(event.results, share->prepare.count);
    CHECK_INT(event.batches, out->batch_count);
}

static void
s_outcome_free(s_outcome_t *out)
{
    for (uint32_t i = 0; i < out->batch_count; i++)
        proto_envelope_destroy(&out->batches[i]);
}

//  Timings hang together: scheduled = GO instant, sent <= first <= done.
static void
s_check_times(const Stampede__Result *result, int64_t start_at_ns)
{
    CHECK_INT(result->scheduled_ns, start_at_ns);
    CHECK_TRUE(result->sent_ns >= start_at_ns);
    CHECK_TRUE(result->first_byte_ns >= result->sent_ns);
    CHECK_TRUE(result->done_ns >= result->first_byte_ns);
}

//  A loopback port nobody listens on (bound, then closed).
static int
s_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    CHECK_INT(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    CHECK_INT(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

void
agent_burst_test(bool verbose)
{
    agent_testserver_t *server = agent_testserver_new();
    CHECK_NOT_NULL(server);
    agent_burst_t *burst = agent_burst_new();
    CHECK_NOT_NULL(burst);
    //  Batches by count only, so their sizes are exact.
    CHECK_INT(agent_burst_set_flush(burst, 8, 60000), 0);
    char url[256];
    s_share_t share;
    s_outcome_t out;
    agent_burst_event_t event;

    //  200 with Lambda fields: every field exact.
    agent_testserver_url(server, "/ok", url, sizeof url);
    s_share_init(&share, 1, 40, 3, url, 5000);
    s_run(burst, &share, &out);
    CHECK_INT(out.batch_count, 1);
    for (uint32_t i = 0; i < 3; i++) {
        Stampede__Result *r = out.results[i];
        CHECK_INT(r->index, 40 + i);
        CHECK_STR(proto_outcome_name(r->outcome), "ok");
        CHECK_INT(r->http_status, 200);
        CHECK_STR(r->request_id, AGENT_TESTSERVER_REQUEST_ID);
        CHECK_STR(r->environment_id, AGENT_TESTSERVER_ENVIRONMENT_ID);
        CHECK_INT(r->has_cold_start, true);
        CHECK_INT(r->cold_start, true);
        CHECK_TRUE(r->cold_start_time == 0.125);
        CHECK_STR(r->initialization_type, "on-demand");
        CHECK_INT(r->invocation_count, 3);
        CHECK_INT(r->function_started_ns, AGENT_TESTSERVER_STARTED_NS);
        CHECK_INT(r->function_finished_ns, AGENT_TESTSERVER_FINISHED_NS);
        //  Same host, same clock: the target got it between send and done.
        CHECK_TRUE(r->received_ns >= r->sent_ns && r->received_ns <= r->first_byte_ns);
        CHECK_INT(r->connection_reused, false);
        CHECK_STR(r->error, "");
        CHECK_INT(r->bytes_received, 218);
        s_check_times(r, out.start_at_ns);
    }
    s_outcome_free(&out);

    //  One run per answer kind; outcome and status exact.
    struct {
        const char *path;
        const char *outcome;
        uint32_t status;
        uint32_t timeout_ms;
    } kinds[] = {
        {"/throttle", "throttled", 429, 5000},
        {"/error", "http_error", 500, 5000},
        {"/function-error", "function_error", 200, 5000},
        {"/redirect", "http_error", 302, 5000},
        {"/hang", "timeout", 0, 300},
        {"/big", "ok", 200, 5000},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        agent_testserver_url(server, kinds[k].path, url, sizeof url);
        s_share_init(&share, 10 + k, 0, 2, url, kinds[k].timeout_ms);
        s_run(burst, &share, &out);
        for (uint32_t i = 0; i < 2; i++) {
            CHECK_STR(proto_outcome_name(out.results[i]->outcome), kinds[k].outcome);
            CHECK_INT(out.results[i]->http_status, kinds[k].status);
            CHECK_INT(out.results[i]->invocation_count, -1);
        }
        if (streq(kinds[k].path, "/hang")) {
            CHECK_TRUE(strstr(out.results[0]->error, "timed out") != NULL);
            CHECK_INT(out.results[0]->first_byte_ns, 0);
        } else if (streq(kinds[k].path, "/big"))
            CHECK_INT(out.results[0]->bytes_received, AGENT_TESTSERVER_BIG_SIZE);
        else
            CHECK_STR(out.results[0]->error, "");
        s_outcome_free(&out);
    }

    //  Connection refused.
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", s_closed_port());
    s_share_init(&share, 20, 0, 2, url, 5000);
    s_run(burst, &share, &out);
    CHECK_STR(proto_outcome_name(out.results[0]->outcome), "connect_error");
    CHECK_INT(out.results[0]->http_status, 0);
    CHECK_INT(out.results[0]->sent_ns, 0);
    CHECK_INT(out.results[0]->connection_reused, false);
    CHECK_TRUE(strstr(out.results[0]->error, "onnect") != NULL);
    s_outcome_free(&out);

    //  Method, header and body reach the target.
    agent_testserver_url(server, "/echo", url, sizeof url);
    s_share_init(&share, 21, 0, 1, url, 5000);
    share.target.method = "PUT";
    share.header.name = "X-Test";
    share.header.value = "abc";
    share.headers[0] = &share.header;
    share.target.headers = share.headers;
    share.target.n_headers = 1;
    share.target.body.data = (uint8_t *)"hello";
    share.target.body.len = 5;
    s_run(burst, &share, &out);
    CHECK_STR(out.results[0]->request_id, "PUT");
    CHECK_STR(out.results[0]->environment_id, "abc");
    CHECK_STR(out.results[0]->initialization_type, "hello");
    CHECK_INT(out.results[0]->invocation_count, 5);
    s_outcome_free(&out);
    share.target.method = "POST";
    share.target.body.len = 0;
    share.prepare.run_id = 22;
    s_run(burst, &share, &out);
    CHECK_STR(out.results[0]->request_id, "POST");
    CHECK_INT(out.results[0]->invocation_count, 0);
    s_outcome_free(&out);

    //  LAST_BYTE, 300 ms ahead: every request reached the server before the
    //  instant (its first byte was read then) and completed at or after it
    //  (its last byte was held until then), all with the exact body.
    struct {
        const char *method;
        const char *body;
        uint32_t count;
    } holds[] = {
        {"POST", "{\"burst\":1}", 20}, //  the demo's body
        {"PUT", "x", 3},               //  one byte: held from the first read
    };
    for (size_t h = 0; h < sizeof holds / sizeof holds[0]; h++) {
        agent_testserver_url(server, "/echo", url, sizeof url);
        s_share_init(&share, 23 + h, 10, holds[h].count, url, 5000);
        share.prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
        share.lead_ns = 300 * SP_NS_PER_MS;
        share.target.method = (char *)holds[h].method;
        share.target.body.data = (uint8_t *)holds[h].body;
        share.target.body.len = strlen(holds[h].body);
        s_run(burst, &share, &out);
        CHECK_INT(out.released.armed, holds[h].count);
        CHECK_INT(out.released.late, 0);
        for (uint32_t i = 0; i < holds[h].count; i++) {
            Stampede__Result *r = out.results[i];
            CHECK_STR(proto_outcome_name(r->outcome), "ok");
            CHECK_INT(r->http_status, 200);
            CHECK_STR(r->request_id, holds[h].method);
            CHECK_STR(r->initialization_type, holds[h].body);
            CHECK_INT(r->invocation_count, (int64_t)strlen(holds[h].body));
            CHECK_TRUE(r->function_started_ns > 0);
            CHECK_TRUE(r->function_started_ns < out.start_at_ns);
            CHECK_TRUE(r->received_ns >= out.start_at_ns);
            CHECK_INT(r->function_finished_ns, r->received_ns);
            //  sent = the release, at or after the instant; the server
            //  completed the request after it.
            s_check_times(r, out.start_at_ns);
            CHECK_TRUE(r->received_ns >= r->sent_ns);
        }
        s_outcome_free(&out);
    }
    //  A body larger than one read (48 KiB, PATCH), and a target's own
    //  "Expect: 100-continue", which would hold the body back: dropped.
    static char big_body[48 * 1024 + 1];
    for (size_t i = 0; i < sizeof big_body - 1; i++)
        big_body[i] = (char)('a' + i % 26);
    agent_testserver_url(server, "/echo", url, sizeof url);
    s_share_init(&share, 25, 0, 2, url, 5000);
    share.prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    share.lead_ns = 300 * SP_NS_PER_MS;
    share.target.method = "PATCH";
    share.target.body.data = (uint8_t *)big_body;
    share.target.body.len = sizeof big_body - 1;
    share.header.name = "Expect";
    share.header.value = "100-continue";
    share.headers[0] = &share.header;
    share.target.headers = share.headers;
    share.target.n_headers = 1;
    s_run(burst, &share, &out);
    char sample[65];
    memcpy(sample, big_body, 32);
    memcpy(sample + 32, big_body + sizeof big_body - 1 - 32, 32);
    sample[64] = '\0';
    for (uint32_t i = 0; i < 2; i++) {
        Stampede__Result *r = out.results[i];
        CHECK_STR(proto_outcome_name(r->outcome), "ok");
        CHECK_STR(r->request_id, "PATCH");
        CHECK_INT(r->invocation_count, 48 * 1024);
        CHECK_STR(r->initialization_type, sample);
        CHECK_TRUE(r->function_started_ns < out.start_at_ns);
        CHECK_TRUE(r->received_ns >= out.start_at_ns);
        s_check_times(r, out.start_at_ns);
    }
    s_outcome_free(&out);
    //  A request that cannot connect is a result before the instant.
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", s_closed_port());
    s_share_init(&share, 26, 0, 2, url, 5000);
    share.prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    share.lead_ns = 300 * SP_NS_PER_MS;
    share.target.method = "POST";
    share.target.body.data = (uint8_t *)"{}";
    share.target.body.len = 2;
    s_run(burst, &share, &out);
    CHECK_INT(out.released.run_id, 0); //  both had failed: nothing released
    for (uint32_t i = 0; i < 2; i++) {
        CHECK_STR(proto_outcome_name(out.results[i]->outcome), "connect_error");
        CHECK_INT(out.results[i]->sent_ns, 0);
        CHECK_INT(out.results[i]->scheduled_ns, out.start_at_ns);
        CHECK_TRUE(out.results[i]->done_ns < out.start_at_ns);
    }
    s_outcome_free(&out);

    //  20 requests that the server answers only once all 20 are open: they
    //  went out in parallel. Batches of 8: exactly 8, 8, 4.
    agent_testserver_url(server, "/gather/20", url, sizeof url);
    s_share_init(&share, 30, 100, 20, url, 10000);
    s_run(burst, &share, &out);
    CHECK_INT(out.batch_count, 3);
    CHECK_INT(out.batches[0]->result_batch->n_results, 8);
    CHECK_INT(out.batches[1]->result_batch->n_results, 8);
    CHECK_INT(out.batches[2]->result_batch->n_results, 4);
    for (uint32_t i = 0; i < 20; i++) {
        CHECK_INT(out.results[i]->index, 100 + i);
        CHECK_STR(proto_outcome_name(out.results[i]->outcome), "ok");
        CHECK_INT(out.results[i]->invocation_count, 20);
    }
    s_outcome_free(&out);

    //  One run at a time; cancel frees the engine.
    agent_testserver_url(server, "/hang", url, sizeof url);
    s_share_init(&share, 40, 0, 5, url, 10000);
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_STR(event.error, "");
    share.prepare.run_id = 41;
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_INT(event.run_id, 41);
    CHECK_INT(event.prepared, 0);
    CHECK_STR(event.error, "agent is busy with run 40");
    //  A go for another run is ignored; the real one fires; cancel mid-burst.
    CHECK_INT(agent_burst_go(burst, 41, sp_clock_wall_ns()), 0);
    CHECK_INT(agent_burst_go(burst, 40, sp_clock_wall_ns()), 0);
    CHECK_INT(agent_burst_cancel(burst, 40), 0);
    CHECK_INT(zsock_events(agent_burst_sock(burst)) & ZMQ_POLLIN, 0);
    //  A go far in the future is cancellable too.
    share.prepare.run_id = 42;
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_STR(event.error, "");
    CHECK_INT(agent_burst_go(burst, 42, sp_clock_wall_ns() + 3600 * SP_NS_PER_S), 0);
    CHECK_INT(agent_burst_cancel(burst, 42), 0);
    CHECK_INT(agent_burst_cancel(burst, 999), 0); //  unknown: confirmed anyway
    //  LAST_BYTE: cancelled while holding its last bytes.
    agent_testserver_url(server, "/echo", url, sizeof url);
    s_share_init(&share, 45, 0, 4, url, 10000);
    share.prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    share.target.method = "POST";
    share.target.body.data = (uint8_t *)"{}";
    share.target.body.len = 2;
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_STR(event.error, "");
    //  An instant nearer than the lead: the engine writes ahead at once.
    uint32_t before = agent_testserver_requests(server);
    CHECK_INT(agent_burst_go(burst, 45, sp_clock_wall_ns() + 150 * SP_NS_PER_MS), 0);
    zclock_sleep(50);
    CHECK_INT(agent_burst_cancel(burst, 45), 0);
    CHECK_INT(zsock_events(agent_burst_sock(burst)) & ZMQ_POLLIN, 0);
    zclock_sleep(150); //  past the instant: no last byte ever went out
    CHECK_INT(agent_testserver_requests(server), before);

    //  The engine is free again.
    agent_testserver_url(server, "/throttle", url, sizeof url);
    s_share_init(&share, 43, 0, 1, url, 5000);
    s_run(burst, &share, &out);
    CHECK_STR(proto_outcome_name(out.results[0]->outcome), "throttled");
    s_outcome_free(&out);

    //  Shutdown with a run in flight.
    agent_testserver_url(server, "/hang", url, sizeof url);
    s_share_init(&share, 44, 0, 3, url, 10000);
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_INT(agent_burst_go(burst, 44, sp_clock_wall_ns()), 0);
    agent_burst_destroy(&burst);
    agent_burst_destroy(&burst);
    CHECK_NULL(burst);
    agent_testserver_destroy(&server);
    if (verbose)
        printf("(burst checks done) ");
}
