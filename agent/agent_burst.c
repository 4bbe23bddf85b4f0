/*  agent_burst — the burst engine; see agent_burst.h.

    Pipe protocol (in-process only, so integers travel in host order):
      commands  "s88b": name, a, b, bytes
                PREPARE 0 0 <Envelope{Prepare}> | GO run_id start_at_ns |
                CANCEL run_id 0 (answered CANCELLED) | FLUSH max interval_ms
      events    "s844sb": name, run_id, a, b, error, bytes
                READY run_id prepared armed error int64[2]{arm_ns, path_rtt_ns} |
                BATCH run_id seq 0 "" frame |
                RELEASED run_id armed late "" int64[2]{released, end} |
                DONE run_id results batches | CANCELLED run_id 0 0

    Engine states: IDLE -> PREPARED (handles built) -> ARMED (go received,
    waiting for the instant) -> RUNNING (multi loop) -> IDLE once every
    result is batched, or at once on cancel. The multi handle is made per
    run, so no connection outlives its run and each run starts cold.

    START_MODE_LAST_BYTE puts ARMING before PREPARED: every slot connects
    (curl, CONNECT_ONLY: TCP and TLS) and writes its request but the final
    byte (agent_wire's bytes, through curl_easy_send) as soon as Prepare
    arrives, and READY goes once every slot holds only its final byte or
    has failed (or after S_ARM_LIMIT_NS, the rest counting late). So the
    write-ahead is whatever the share took, measured and reported (READY's
    arm time), never a guess. Each slot's connection lives in a curl share
    of its own: a connect-only connection is idle in its cache, and curl
    closes idle connections with unread input when another transfer of the
    same cache connects, which would take an answer away from under us. At
    the instant one tight pass writes every final byte; the answers are
    read with curl_easy_recv and parsed by agent_wire. A slot still
    connecting at the instant writes its whole request when it can.
*/
#include "agent_burst.h"
#include "agent_response.h"
#include "agent_wire.h"
#include "sp_clock.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#define S_PIPE_CHECK_MS 20           //  longest the engine goes without reading its pipe
#define S_SPIN_NS (2 * SP_NS_PER_MS) //  the last stretch before GO is a sleep
//  LAST_BYTE: READY goes at the latest this long after Prepare, below the
//  controller's 10 s wait for Ready; slots not armed by then go late.
#define S_ARM_LIMIT_NS (8 * SP_NS_PER_S)
#define S_READ_CHUNK 16384 //  bytes read from a connection at a time
#define S_EVENTS 256       //  epoll events taken at a time
#define S_RT_WRITES 256    //  final bytes written between two turns of the CPU

typedef enum { S_IDLE, S_ARMING, S_PREPARED, S_ARMED, S_RUNNING } s_state_t;

typedef struct _s_engine_t s_engine_t;

typedef struct {
    s_engine_t *engine;           //  owner
    CURL *easy;                   //  NULL once its result is taken
    agent_response_t *response;   //  what the transfer received
    int64_t sent_ns;              //  wall clock when the request went out
                                  //  (LAST_BYTE: when its final byte was written)
    int64_t first_byte_ns;        //  wall clock when the answer began
    char errbuf[CURL_ERROR_SIZE]; //  curl's text for a failure
    //  LAST_BYTE only
    CURLSH *share;           //  the slot's own connection cache
    agent_wire_t *wire;      //  reads the answer
    int fd;                  //  the connection, once connected (else -1)
    size_t written;          //  request bytes written
    bool want_out;           //  waiting for the socket to take more
    Stampede__Result *early; //  its result, when it failed before Go
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
    struct curl_slist *headers;                 //  AT_GO: shared by every easy handle
    bool last_byte;                             //  start mode LAST_BYTE
    s_slot_t *slots;                            //  count slots
    bool added;                                 //  easy handles are in the multi
    int64_t start_at_ns;                        //  GO instant, agent wall clock
    uint32_t finished;                          //  results taken
    uint32_t seq;                               //  last batch number sent
    Stampede__Result *pending[PROTO_MAX_BATCH]; //  results not yet batched
    uint32_t pending_count;
    int64_t pending_since; //  mono ns when pending became non-empty
    //  LAST_BYTE only
    char *request;        //  the bytes every slot writes
    size_t request_len;   //  >= 1
    bool head;            //  the method is HEAD
    int epfd;             //  connected slots (data: the slot), or -1
    uint32_t connecting;  //  slots whose connect is not over
    int64_t arm_begin_ns; //  mono: Prepare arrived
    bool released;        //  the final bytes may go
    int64_t next_scan_ns; //  mono: next look for timed-out slots
    int64_t path_rtt_ns;  //  the shortest handshake so far, 0 before one
    //  Real-time priority from Go to the end of the release pass
    bool rt;       //  the thread runs SCHED_FIFO now
    int rt_policy; //  what it ran as before
    struct sched_param rt_param;
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

//  Says the share is ready: prepared requests built, armed of them holding
//  only their final byte after arm_ns, the shortest handshake path_rtt_ns
//  (LAST_BYTE; AT_GO: 0, 0 and 0).
static void
s_emit_ready(s_engine_t *self, uint32_t prepared, uint32_t armed, int64_t arm_ns,
             int64_t path_rtt_ns)
{
    int64_t times[2] = {arm_ns, path_rtt_ns};
    s_emit(self, "READY", self->run_id, prepared, armed, "", times, sizeof times);
}

//  Says when the share was released: the pass that started (AT_GO) or
//  wrote the final bytes (LAST_BYTE) began at released_ns and ended at
//  end_ns, wall clock; armed of them held only their final byte then,
//  late were still connecting or writing.
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
    slot->sent_ns = sp_clock_wall_ns();
    return CURL_PREREQFUNC_OK;
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

//  Frees one slot's transfer: its connection, handles and parser.
static void
s_slot_free(s_engine_t *self, s_slot_t *slot)
{
    if (slot->fd >= 0 && self->epfd >= 0)
        epoll_ctl(self->epfd, EPOLL_CTL_DEL, slot->fd, NULL);
    slot->fd = -1;
    if (slot->easy) {
        if (self->added)
            curl_multi_remove_handle(self->multi, slot->easy);
        curl_easy_cleanup(slot->easy);
        slot->easy = NULL;
    }
    //  After its only easy handle: closes the slot's connection.
    if (slot->share)
        curl_share_cleanup(slot->share);
    slot->share = NULL;
    agent_wire_destroy(&slot->wire);
    agent_response_destroy(&slot->response);
}

static void s_realtime_leave(s_engine_t *self);

//  Frees everything of the current run and returns to IDLE (at normal
//  priority, when Go had raised it and the run ends early: a cancel).
static void
s_run_free(s_engine_t *self)
{
    s_realtime_leave(self);
    for (uint32_t i = 0; self->slots && i < self->count; i++) {
        s_slot_free(self, &self->slots[i]);
        s_result_free(&self->slots[i].early);
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
    if (self->epfd >= 0)
        close(self->epfd);
    self->epfd = -1;
    free(self->request);
    self->request = NULL;
    self->request_len = 0;
    proto_envelope_destroy(&self->prepare);
    self->state = S_IDLE;
    self->added = false;
    self->last_byte = false;
    self->released = false;
    self->head = false;
    self->count = self->finished = self->seq = self->connecting = 0;
    self->path_rtt_ns = 0;
}

//  AT_GO: the request headers of the run: the target's, plus an empty
//  Expect so a large body is not held back waiting for "100 Continue".
static int
s_headers_build(s_engine_t *self, const Stampede__Target *target)
{
    bool has_expect = false;
    for (size_t i = 0; i < target->n_headers; i++) {
        const Stampede__Header *header = target->headers[i];
        has_expect |= strcasecmp(header->name, "Expect") == 0;
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

//  The options of every slot, whatever the start mode: where, how long,
//  which CAs, no redirects, no proxy, a connection of its own.
static CURLcode
s_slot_common(s_engine_t *self, s_slot_t *slot)
{
    const Stampede__Target *target = self->prepare->prepare->target;
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
    S_SETOPT(easy, CURLOPT_PROXY, ""); //  no proxy from the environment
    S_SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    return rc;
}

//  LAST_BYTE: a connect-only handle (TCP, and TLS offering HTTP/1.1 only:
//  the bytes written are HTTP/1.1) in a connection cache of its own.
static CURLcode
s_slot_wire(s_engine_t *self, s_slot_t *slot)
{
    slot->share = curl_share_init();
    slot->wire = agent_wire_new(slot->response, self->head);
    if (!slot->share || !slot->wire ||
        curl_share_setopt(slot->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) !=
            CURLSHE_OK)
        return CURLE_OUT_OF_MEMORY;
    CURL *easy = slot->easy;
    CURLcode rc = CURLE_OK;
    S_SETOPT(easy, CURLOPT_SHARE, slot->share);
    S_SETOPT(easy, CURLOPT_CONNECT_ONLY, 1L);
    S_SETOPT(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    return rc;
}

//  AT_GO: a whole transfer, request and answer, done by curl.
static CURLcode
s_slot_transfer(s_engine_t *self, s_slot_t *slot)
{
    const Stampede__Target *target = self->prepare->prepare->target;
    CURL *easy = slot->easy;
    CURLcode rc = CURLE_OK;
    S_SETOPT(easy, CURLOPT_FORBID_REUSE, 1L);
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
    if (strcmp(method, "HEAD") == 0)
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
    return rc;
}

//  Builds one easy handle of the share into slot.
static int
s_slot_build(s_engine_t *self, s_slot_t *slot)
{
    const Stampede__Target *target = self->prepare->prepare->target;
    slot->engine = self;
    slot->fd = -1;
    slot->response = agent_response_new();
    if (slot->response)
        agent_response_set_arrival_header(slot->response, target->arrival_header);
    slot->easy = curl_easy_init();
    if (!slot->response || !slot->easy)
        return -1;
    CURLcode rc = s_slot_common(self, slot);
    if (rc == CURLE_OK)
        rc = self->last_byte ? s_slot_wire(self, slot) : s_slot_transfer(self, slot);
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
    //  The agent keeps AGENT_CONFIG_FD_RESERVE for itself: a share of its
    //  announced capacity fits exactly.
    rlim_t want = (rlim_t)count + 64;
    if (want > limit.rlim_cur)
        zsys_warning("agent burst: share needs more sockets than the open-file limit "
                     "count=%u limit=%lu",
                     count, (unsigned long)limit.rlim_cur);
    if (want >= limit.rlim_cur)
        want = limit.rlim_cur - 1;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)want);
    if (high >= 0)
        close(high);
    close(fd);
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

//  LAST_BYTE: the request bytes, the socket set, and every connect begun.
static int
s_arm_begin(s_engine_t *self, char *error, size_t error_size)
{
    const Stampede__Target *target = self->prepare->prepare->target;
    if (agent_wire_request(target, &self->request, &self->request_len, error,
                           error_size) != 0)
        return -1;
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        snprintf(error, error_size, "agent cannot poll: %s", strerror(errno));
        return -1;
    }
    self->connecting = self->count;
    self->arm_begin_ns = sp_clock_mono_ns();
    s_add_all(self);
    return 0;
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
    self->head = strcmp(prepare->target->method, "HEAD") == 0;
    self->multi = curl_multi_init();
    self->slots = calloc(prepare->count, sizeof *self->slots);
    self->count = self->slots ? prepare->count : 0;
    int rc = self->multi && self->slots ? 0 : -1;
    if (rc == 0)
        rc = curl_multi_setopt(self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L) == CURLM_OK
                 ? 0
                 : -1;
    if (rc == 0 && !self->last_byte)
        rc = s_headers_build(self, prepare->target);
    for (uint32_t i = 0; rc == 0 && i < self->count; i++)
        rc = s_slot_build(self, &self->slots[i]);
    if (rc != 0)
        snprintf(error, sizeof error,
                 "agent could not build %u requests (out of memory or bad option)",
                 prepare->count);
    if (rc == 0) {
        s_reserve_fds(self->count);
        if (self->last_byte)
            rc = s_arm_begin(self, error, sizeof error);
    }
    if (rc != 0) {
        zsys_warning("agent burst: prepare failed run_id=%" PRIu64 " count=%u "
                     "reason=\"%s\"",
                     prepare->run_id, prepare->count, error);
        s_emit(self, "READY", self->run_id, 0, 0, error, NULL, 0);
        s_run_free(self);
        return;
    }
    self->state = self->last_byte ? S_ARMING : S_PREPARED;
    zsys_info("agent burst: prepared run_id=%" PRIu64 " count=%u first_index=%u "
              "start_mode=%s",
              self->run_id, self->count, self->first_index,
              proto_start_mode_name(prepare->start_mode));
    if (!self->last_byte)
        s_emit_ready(self, self->count, 0, 0, 0);
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

static void s_pend(s_engine_t *self, Stampede__Result *result);

//  Turns a slot's exchange into a pending Result (curl_code and its text,
//  the answer's status) and frees the slot's transfer.
static void
s_take(s_engine_t *self, s_slot_t *slot, int curl_code, const char *error, long status,
       uint64_t bytes)
{
    Stampede__Result *result = malloc(sizeof *result);
    assert(result);
    agent_response_result_init(result,
                               self->first_index + (uint32_t)(slot - self->slots));
    result->scheduled_ns = self->start_at_ns;
    result->sent_ns = slot->sent_ns;
    result->first_byte_ns = slot->first_byte_ns;
    result->done_ns = sp_clock_wall_ns();
    result->bytes_received = bytes;
    agent_response_finish(slot->response, result, self->prepare->prepare->target->door,
                          curl_code, error, status);
    s_slot_free(self, slot);
    self->finished++;
    if (self->state == S_ARMING || self->state == S_PREPARED) {
        //  LAST_BYTE, before Go: kept until the instant is known.
        slot->early = result;
        return;
    }
    s_pend(self, result);
}

//  Queues a result for the next batch.
static void
s_pend(s_engine_t *self, Stampede__Result *result)
{

    if (self->pending_count == 0)
        self->pending_since = sp_clock_mono_ns();
    self->pending[self->pending_count++] = result;
    if (self->pending_count >= self->flush_max)
        s_flush(self);
}

//  AT_GO: one finished transfer from the multi handle.
static void
s_take_transfer(s_engine_t *self, CURL *easy, CURLcode code)
{
    char *private = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &private);
    s_slot_t *slot = (s_slot_t *)private;
    assert(slot && slot->easy == easy);
    curl_off_t downloaded = 0;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &downloaded);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    s_take(self, slot, code, slot->errbuf, status,
           downloaded > 0 ? (uint64_t)downloaded : 0);
}

//  LAST_BYTE: the slot's exchange is over (answered or failed).
static void
s_take_wire(s_engine_t *self, s_slot_t *slot)
{
    agent_wire_t *wire = slot->wire;
    s_take(self, slot, agent_wire_code(wire), agent_wire_error(wire),
           agent_wire_status(wire), agent_response_body_size(slot->response));
}

//  From Go to the end of the release pass the engine runs as a real-time
//  thread (SCHED_FIFO) where the agent may (root, CAP_SYS_NICE or
//  RLIMIT_RTPRIO): it then wakes for the instant even on a busy host (it
//  mostly sleeps until then) and is not preempted by ordinary processes
//  during its pass. Entering only 2 ms before the instant was too late: a
//  thread at normal priority on a busy host can get there 70 ms late. Every
//  S_RT_WRITES final bytes the pass yields to the other real-time threads
//  of its priority, so agents sharing the CPUs take turns instead of one
//  long pass keeping another from waking (4 agents x 2,500 on 2 cores: two
//  of them started 29 ms late without it). s_realtime_leave puts the
//  thread back after the pass. Without the right it runs as it is, said
//  once.
static void
s_realtime_enter(s_engine_t *self)
{
    static bool said;
    if (self->rt ||
        pthread_getschedparam(pthread_self(), &self->rt_policy, &self->rt_param) != 0)
        return;
    struct sched_param fifo = {.sched_priority = sched_get_priority_min(SCHED_FIFO) + 9};
    int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo);
    if (rc != 0 && !said) {
        zsys_info("agent burst: release runs without real-time priority (%s)",
                  strerror(rc));
        said = true;
    }
    self->rt = rc == 0;
}

static void
s_realtime_leave(s_engine_t *self)
{
    if (self->rt &&
        pthread_setschedparam(pthread_self(), self->rt_policy, &self->rt_param) != 0)
        zsys_error("agent burst: cannot leave real-time priority");
    self->rt = false;
}

//  AT_GO: every transfer starts at the instant.
static void
s_fire(s_engine_t *self)
{
    sp_clock_sleep_until(self->start_at_ns);
    int64_t released_ns = sp_clock_wall_ns();
    s_add_all(self);
    s_realtime_leave(self);
    self->state = S_RUNNING;
    int64_t end_ns = sp_clock_wall_ns();
    s_emit_released(self, released_ns, end_ns, 0, 0);
    zsys_info("agent burst: fired run_id=%" PRIu64 " count=%u late_ns=%" PRId64,
              self->run_id, self->count, released_ns - self->start_at_ns);
}

//  --------------------------------------------------------------------------
//  LAST_BYTE: connections written and read by the engine itself

//  Watches the slot's socket for input, and for room to write when want_out.
static void
s_wire_watch(s_engine_t *self, s_slot_t *slot, int op)
{
    struct epoll_event event = {.events = EPOLLIN | (slot->want_out ? EPOLLOUT : 0u),
                                .data.ptr = slot};
    if (epoll_ctl(self->epfd, op, slot->fd, &event) != 0)
        zsys_error("agent burst: cannot watch a connection run_id=%" PRIu64 " index=%u "
                   "error=\"%s\"",
                   self->run_id, self->first_index + (uint32_t)(slot - self->slots),
                   strerror(errno));
}

//  The bytes the slot may write now: all but the final one until the release.
static size_t
s_wire_limit(s_engine_t *self)
{
    return self->released ? self->request_len : self->request_len - 1;
}

//  Writes what the slot may write. Returns -1 when the exchange failed
//  (the slot is then a result).
static int
s_wire_write(s_engine_t *self, s_slot_t *slot)
{
    size_t limit = s_wire_limit(self);
    while (slot->written < limit) {
        size_t n = 0;
        //  Sent: just before the write that can complete the request (on
        //  loopback the target may read it before the write returns).
        int64_t now = limit == self->request_len ? sp_clock_wall_ns() : 0;
        CURLcode rc = curl_easy_send(slot->easy, self->request + slot->written,
                                     limit - slot->written, &n);
        if (rc == CURLE_AGAIN)
            break;
        if (rc != CURLE_OK) {
            agent_wire_fail(slot->wire, CURLE_SEND_ERROR, curl_easy_strerror(rc));
            s_take_wire(self, slot);
            return -1;
        }
        slot->written += n;
        if (slot->written == self->request_len)
            slot->sent_ns = now;
    }
    bool want_out = slot->written < limit;
    if (want_out != slot->want_out) {
        slot->want_out = want_out;
        s_wire_watch(self, slot, EPOLL_CTL_MOD);
    }
    return 0;
}

//  Reads what the connection has. Answered, failed or closed: a result.
static void
s_wire_read(s_engine_t *self, s_slot_t *slot)
{
    char buffer[S_READ_CHUNK];
    for (;;) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(slot->easy, buffer, sizeof buffer, &n);
        if (rc == CURLE_AGAIN)
            return;
        agent_wire_state_t state;
        if (rc != CURLE_OK)
            state = agent_wire_fail(slot->wire, CURLE_RECV_ERROR, curl_easy_strerror(rc));
        else if (n == 0)
            state = agent_wire_eof(slot->wire);
        else {
            if (slot->first_byte_ns == 0)
                slot->first_byte_ns = sp_clock_wall_ns();
            state = agent_wire_feed(slot->wire, buffer, n);
        }
        if (state != AGENT_WIRE_MORE) {
            s_take_wire(self, slot);
            return;
        }
    }
}

//  A connect is over: failed (a result), or the slot starts writing.
static void
s_wire_connected(s_engine_t *self, CURL *easy, CURLcode code)
{
    char *private = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &private);
    s_slot_t *slot = (s_slot_t *)private;
    assert(slot && slot->easy == easy);
    self->connecting--;
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (code == CURLE_OK &&
        (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
         fd == CURL_SOCKET_BAD))
        code = CURLE_COULDNT_CONNECT;
    if (code != CURLE_OK) {
        agent_wire_fail(slot->wire, code,
                        slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(code));
        s_take_wire(self, slot);
        return;
    }
    //  The handshake alone (name lookup excluded): the least of the share
    //  is the round trip to whatever accepts the connections.
    curl_off_t lookup_us = 0, connect_us = 0;
    if (curl_easy_getinfo(easy, CURLINFO_NAMELOOKUP_TIME_T, &lookup_us) == CURLE_OK &&
        curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us) == CURLE_OK &&
        connect_us > lookup_us) {
        int64_t rtt_ns = (int64_t)(connect_us - lookup_us) * 1000;
        if (self->path_rtt_ns == 0 || rtt_ns < self->path_rtt_ns)
            self->path_rtt_ns = rtt_ns;
    }
    slot->fd = fd;
    s_wire_watch(self, slot, EPOLL_CTL_ADD);
    s_wire_write(self, slot);
}

//  The slots past their timeout (counted from the instant) fail.
static void
s_wire_timeouts(s_engine_t *self)
{
    int64_t now = sp_clock_mono_ns();
    if (self->state != S_RUNNING || now < self->next_scan_ns)
        return;
    self->next_scan_ns = now + 10 * SP_NS_PER_MS;
    int64_t timeout_ms = self->prepare->prepare->target->timeout_ms;
    int64_t overdue = sp_clock_wall_ns() - self->start_at_ns - timeout_ms * SP_NS_PER_MS;
    if (overdue < 0)
        return;
    char text[CURL_ERROR_SIZE];
    snprintf(text, sizeof text, "Operation timed out after %" PRId64 " milliseconds",
             timeout_ms);
    for (uint32_t i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->easy)
            continue;
        if (slot->fd < 0)
            self->connecting--; //  curl's connect is abandoned with the handle
        agent_wire_fail(slot->wire, CURLE_OPERATION_TIMEDOUT, text);
        s_take_wire(self, slot);
    }
}

//  Slots holding only their final byte (or done), and whether all are.
static uint32_t
s_wire_armed(s_engine_t *self, bool *all)
{
    uint32_t armed = 0;
    *all = true;
    for (uint32_t i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->easy)
            continue;
        if (slot->fd >= 0 && slot->written == self->request_len - 1)
            armed++;
        else
            *all = false;
    }
    return armed;
}

//  ARMING: READY once every slot is armed or a result, or at the limit.
static void
s_wire_check_ready(s_engine_t *self)
{
    if (self->state != S_ARMING)
        return;
    bool all = false;
    uint32_t armed = s_wire_armed(self, &all);
    int64_t arm_ns = sp_clock_mono_ns() - self->arm_begin_ns;
    if (!all && arm_ns < S_ARM_LIMIT_NS)
        return;
    self->state = S_PREPARED;
    zsys_info("agent burst: armed run_id=%" PRIu64 " armed=%u failed=%u count=%u "
              "arm_ms=%.1f",
              self->run_id, armed, self->finished, self->count, (double)arm_ns / 1e6);
    s_emit_ready(self, self->count, armed, arm_ns, self->path_rtt_ns);
}

//  At the instant, every held final byte goes in one pass.
static void
s_wire_release(s_engine_t *self)
{
    sp_clock_sleep_until(self->start_at_ns);
    int64_t released_ns = sp_clock_wall_ns();
    self->released = true;
    uint32_t armed = 0, late = 0;
    const char *last = self->request + self->request_len - 1;
    for (uint32_t i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->easy)
            continue; //  already a result
        if (slot->fd < 0 || slot->written != self->request_len - 1) {
            late++;
            continue;
        }
        size_t n = 0;
        int64_t now = sp_clock_wall_ns();
        if (curl_easy_send(slot->easy, last, 1, &n) == CURLE_OK && n == 1) {
            slot->written++;
            slot->sent_ns = now;
        }
        //  Every S_RT_WRITES bytes the CPU goes round the real-time
        //  threads of the same priority that are waiting (other agents on
        //  this host waking at the instant); alone, it carries straight on.
        if (++armed % S_RT_WRITES == 0 && self->rt)
            sched_yield();
    }
    int64_t end_ns = sp_clock_wall_ns();
    s_realtime_leave(self);
    self->state = S_RUNNING;
    s_emit_released(self, released_ns, end_ns, armed, late);
    //  The rest (late ones, and a final byte the socket did not take) as
    //  the sockets allow.
    for (uint32_t i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->easy && slot->fd >= 0 && slot->written < self->request_len)
            s_wire_write(self, slot);
    }
    int64_t late_ns = released_ns - self->start_at_ns;
    if (late > 0)
        zsys_warning("agent burst: released before every request was written "
                     "run_id=%" PRIu64 " armed=%u late=%u count=%u late_ns=%" PRId64,
                     self->run_id, armed, late, self->count, late_ns);
    else
        zsys_info("agent burst: released run_id=%" PRIu64 " armed=%u count=%u "
                  "late_ns=%" PRId64 " pass_us=%.1f",
                  self->run_id, armed, self->count, late_ns,
                  (double)(end_ns - released_ns) / 1e3);
}

//  Flushes what is due, and ends the run once every result is batched.
//  Returns true when the run is over.
static bool
s_run_settle(s_engine_t *self)
{
    int64_t now = sp_clock_mono_ns();
    if (self->pending_count > 0 && now - self->pending_since >= self->flush_ns)
        s_flush(self);
    if (self->finished < self->count)
        return false;
    if (self->state == S_ARMING || self->state == S_PREPARED || self->state == S_ARMED) {
        //  LAST_BYTE: everything failed before the instant. Ready, and
        //  released, are owed all the same, in their order.
        if (self->state == S_ARMING)
            s_wire_check_ready(self);
        if (self->state != S_ARMED)
            return false; //  the results go once Go has come
    }
    s_flush(self);
    zsys_info("agent burst: run complete run_id=%" PRIu64 " results=%u batches=%u",
              self->run_id, self->finished, self->seq);
    s_emit(self, "DONE", self->run_id, self->finished, self->seq, "", NULL, 0);
    s_run_free(self);
    return true;
}

//  How long the loop may wait for the next batch to be due.
static int64_t
s_flush_wait_ms(s_engine_t *self, int64_t max_wait_ms)
{
    if (self->pending_count == 0)
        return max_wait_ms;
    int64_t flush_in =
        (self->pending_since + self->flush_ns - sp_clock_mono_ns()) / SP_NS_PER_MS;
    return flush_in < max_wait_ms ? (flush_in > 0 ? flush_in : 0) : max_wait_ms;
}

//  Drives the multi handle and hands every transfer it finished (a whole
//  exchange in AT_GO, a connect in LAST_BYTE) to on_done.
static void
s_multi_turn(s_engine_t *self, void (*on_done)(s_engine_t *, CURL *, CURLcode))
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
            on_done(self, msg->easy_handle, msg->data.result);
    }
}

//  Waits at most max_wait_ms (less when a batch falls due) for curl, for
//  `extra` (a descriptor, or -1) and for the pipe: a command (Go above
//  all) is taken at once, not after the wait. ZMQ_FD only says the
//  socket's state may have changed, so a command already queued makes
//  the wait zero.
static void
s_poll(s_engine_t *self, int extra, int64_t max_wait_ms)
{
    struct curl_waitfd fds[2] = {
        {.fd = zsock_fd(self->pipe), .events = CURL_WAIT_POLLIN},
        {.fd = extra, .events = CURL_WAIT_POLLIN},
    };
    int64_t wait_ms =
        zsock_events(self->pipe) & ZMQ_POLLIN ? 0 : s_flush_wait_ms(self, max_wait_ms);
    curl_multi_poll(self->multi, fds, extra >= 0 ? 2 : 1, (int)wait_ms, NULL);
}

//  LAST_BYTE: one turn: connects, writes, reads, timeouts, batches; then
//  wait for curl or the sockets at most max_wait_ms.
static void
s_wire_step(s_engine_t *self, int64_t max_wait_ms)
{
    if (self->connecting > 0)
        s_multi_turn(self, s_wire_connected);
    struct epoll_event events[S_EVENTS];
    int ready;
    do {
        ready = epoll_wait(self->epfd, events, S_EVENTS, 0);
        for (int i = 0; i < ready; i++) {
            s_slot_t *slot = events[i].data.ptr;
            if (!slot->easy)
                continue; //  a result earlier in this batch
            if ((events[i].events & EPOLLOUT) && s_wire_write(self, slot) != 0)
                continue;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                s_wire_read(self, slot);
        }
    } while (ready == S_EVENTS);
    s_wire_timeouts(self);
    s_wire_check_ready(self);
    if (s_run_settle(self))
        return;
    s_poll(self, self->epfd, max_wait_ms);
}

//  AT_GO: one turn of the multi loop: drive transfers, take finished ones,
//  flush, then wait for curl at most max_wait_ms.
static void
s_run_step(s_engine_t *self, int64_t max_wait_ms)
{
    s_multi_turn(self, s_take_transfer);
    if (s_run_settle(self))
        return;
    s_poll(self, -1, max_wait_ms);
}

//  Go: the results of the slots that failed before it are due now, with
//  the instant they were scheduled for.
static void
s_pend_early(s_engine_t *self)
{
    for (uint32_t i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->early) {
            slot->early->scheduled_ns = self->start_at_ns;
            s_pend(self, slot->early);
            slot->early = NULL;
        }
    }
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
            s_realtime_enter(self);
            s_pend_early(self);
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

//  ARMED: waits for the instant (LAST_BYTE: driving the connections
//  meanwhile), then fires or releases.
static void
s_armed_step(s_engine_t *self)
{
    int64_t until = self->start_at_ns - S_SPIN_NS - sp_clock_wall_ns();
    if (until <= 0) {
        if (self->last_byte)
            s_wire_release(self);
        else
            s_fire(self);
        return;
    }
    int64_t wait_ms =
        until / SP_NS_PER_MS < S_PIPE_CHECK_MS ? until / SP_NS_PER_MS : S_PIPE_CHECK_MS;
    if (self->last_byte) {
        s_wait_command(self, 0);
        if (self->state == S_ARMED && !self->terminated)
            s_wire_step(self, wait_ms);
    } else
        s_wait_command(self, (long)wait_ms);
}

static void
s_engine_actor(zsock_t *pipe, void *args)
{
    s_engine_t *self = calloc(1, sizeof *self);
    assert(self);
    self->pipe = pipe;
    self->epfd = -1;
    self->flush_max = AGENT_BURST_FLUSH_MAX;
    self->flush_ns = AGENT_BURST_FLUSH_MS * SP_NS_PER_MS;
    zsock_signal(pipe, 0);
    while (!self->terminated) {
        if (self->state == S_ARMED)
            s_armed_step(self);
        else if (self->state == S_IDLE || (self->state == S_PREPARED && !self->last_byte))
            s_wait_command(self, -1);
        else {
            //  ARMING, PREPARED (LAST_BYTE) and RUNNING drive the transfers.
            s_wait_command(self, 0);
            if (self->state == S_IDLE || self->terminated || self->state == S_ARMED)
                continue;
            if (self->last_byte)
                s_wire_step(self, S_PIPE_CHECK_MS);
            else
                s_run_step(self, S_PIPE_CHECK_MS);
        }
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
        if (streq(name, "READY")) {
            event->type = AGENT_BURST_READY;
            event->armed = event->batches;
            int64_t times[2] = {0, 0};
            if (event->frame && zframe_size(event->frame) == sizeof times)
                memcpy(times, zframe_data(event->frame), sizeof times);
            event->arm_ns = times[0];
            event->path_rtt_ns = times[1];
        } else if (streq(name, "BATCH"))
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
