/*  agent_link — controller connection and run protocol; see agent_link.h.

    Run states: IDLE -> PREPARING (engine building) -> PREPARED -> RUNNING
    (Go forwarded) -> FINISHED (engine said DONE; Done and unacked batches
    still to deliver) -> IDLE. Cancel, a failed prepare or the prepared-run
    TTL return to IDLE from anywhere.

    Timers run on the monotonic clock; protocol timestamps are wall clock.
*/
#include "agent_link.h"
#include "agent_burst.h"
#include "agent_spool.h"
#include "agent_testserver.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_log.h"
#include "sp_url.h"

#include <unistd.h>

#define S_REJECT_WINDOW_NS (10 * SP_NS_PER_S) //  rejected-input log window
#define S_REJECT_LOGS 5                       //  logged per window
#define S_DRAIN_MAX 256                       //  messages handled per wakeup
#define S_RETRY_MS 10                         //  wait when sends are pending

typedef enum { S_IDLE, S_PREPARING, S_PREPARED, S_RUNNING, S_FINISHED } s_state_t;

struct _agent_link_t {
    const agent_config_t *config;  //  borrowed
    zsock_t *dealer;               //  to the controller
    agent_cert_t *cert;            //  borrowed: CURVE keys, or NULL
    int64_t reconnect_after_ns;    //  silence that rebuilds the socket (backs off)
    agent_burst_t *burst;          //  the engine thread
    agent_spool_t *spool;          //  unacked result batches
    zpoller_t *poller;             //  dealer + engine events
    char host[PROTO_MAX_HOST + 1]; //  our hostname, for Hello
    //  Timers (monotonic ns)
    int64_t heartbeat_ns;   //  heartbeat interval
    int64_t silence_ns;     //  silence that triggers a Hello
    int64_t last_rx;        //  last frame from the controller
    int64_t last_hello;     //  last Hello attempt
    int64_t next_heartbeat; //  when the next Heartbeat is due
    bool hello_failed;      //  last Hello could not be sent: retry soon
    bool silent;            //  we are in a silence
    int64_t silence_said;   //  when the silence was last logged (monotonic)
    int64_t last_reconnect; //  when the socket was last rebuilt (monotonic)
    //  The current run
    s_state_t state;
    uint64_t run_id;
    uint32_t count;            //  requests in the share
    agent_burst_event_t ready; //  the engine's READY, for a resend
    int64_t prepared_at;       //  mono ns when Ready went out
    uint32_t done_results;     //  from the engine's DONE
    uint32_t done_batches;
    Stampede__Released released; //  from the engine's RELEASED (run_id 0: none yet)
    bool done_pending;           //  Done must be (re)sent
    bool done_sent;              //  Done went out since the last Hello
    sp_log_limit_t reject_log;   //  budget for logging rejected input
};

//  --------------------------------------------------------------------------
//  Sending

//  Encodes and sends env without blocking. Returns 0 or -1.
static int
s_send(agent_link_t *self, proto_envelope_t *env)
{
    zframe_t *frame = proto_encode(env);
    if (!frame)
        return -1;
    if (zframe_send(&frame, self->dealer, ZFRAME_DONTWAIT) != 0) {
        zframe_destroy(&frame);
        return -1;
    }
    return 0;
}

//  Ready for run_id: the engine's READY (armed, arming time, path), or a
//  refusal (ready NULL, error not empty).
static void
s_send_ready(agent_link_t *self, uint64_t run_id, const agent_burst_event_t *event,
             const char *error)
{
    Stampede__Ready ready = STAMPEDE__READY__INIT;
    ready.run_id = run_id;
    if (event) {
        ready.prepared = event->prepared;
        ready.armed = event->armed;
        ready.arm_ns = event->arm_ns;
        ready.path_rtt_ns = event->path_rtt_ns;
    }
    ready.error = (char *)error;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_READY;
    env.ready = &ready;
    if (s_send(self, &env) != 0)
        zsys_warning("agent: ready not sent run_id=%" PRIu64, run_id);
    if (error[0])
        zsys_warning("agent: prepare refused run_id=%" PRIu64 " reason=\"%s\"", run_id,
                     error);
}

//  Says when the share was released, as soon as it was; Done repeats it.
static void
s_send_released(agent_link_t *self, const agent_burst_event_t *event)
{
    Stampede__Released released = STAMPEDE__RELEASED__INIT;
    released.run_id = event->run_id;
    released.released_ns = event->released_ns;
    released.release_end_ns = event->release_end_ns;
    released.armed = event->armed;
    released.late = event->late;
    released.count = self->count;
    self->released = released;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_RELEASED;
    env.released = &released;
    if (s_send(self, &env) != 0)
        zsys_warning("agent: released not sent (Done repeats it) run_id=%" PRIu64,
                     event->run_id);
}

static void
s_send_heartbeat(agent_link_t *self, int64_t echo_sent, int64_t echo_received)
{
    Stampede__Heartbeat heartbeat = STAMPEDE__HEARTBEAT__INIT;
    heartbeat.echo_sent_ns = echo_sent;
    heartbeat.echo_received_ns = echo_received;
    heartbeat.sent_ns = sp_clock_wall_ns();
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &heartbeat;
    s_send(self, &env); //  a lost heartbeat is replaced by the next
}

//  Sends Hello; on success everything unacknowledged goes again.
static void
s_hello(agent_link_t *self)
{
    Stampede__Hello hello = STAMPEDE__HELLO__INIT;
    hello.agent_id = (char *)self->config->id;
    hello.host = self->host;
    hello.version = STAMPEDE_VERSION;
    hello.capacity = self->config->capacity;
    hello.protocol = STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    self->last_hello = sp_clock_mono_ns();
    self->hello_failed = s_send(self, &env) != 0;
    if (self->hello_failed)
        return;
    agent_spool_rewind(self->spool);
    if (self->state == S_FINISHED && (self->done_sent || self->done_pending)) {
        self->done_pending = true;
        self->done_sent = false;
    }
}

//  Sends what is waiting: spooled batches in order, then Done once every
//  batch of the run is out. Forgets the run when all is delivered.
static void
s_deliver(agent_link_t *self)
{
    agent_spool_flush(self->spool, self->dealer);
    if (self->state != S_FINISHED)
        return;
    if (self->done_pending && agent_spool_unsent(self->spool) == 0) {
        Stampede__Done done = STAMPEDE__DONE__INIT;
        done.run_id = self->run_id;
        done.results = self->done_results;
        done.batches = self->done_batches;
        if (self->released.run_id == self->run_id)
            done.released = &self->released;
        proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
        env.body_case = STAMPEDE__ENVELOPE__BODY_DONE;
        env.done = &done;
        if (s_send(self, &env) == 0) {
            self->done_pending = false;
            self->done_sent = true;
        }
    }
    if (self->done_sent && agent_spool_count(self->spool, self->run_id) == 0) {
        zsys_notice("agent: run delivered run_id=%" PRIu64 " results=%u batches=%u",
                    self->run_id, self->done_results, self->done_batches);
        self->state = S_IDLE;
    }
}

//  --------------------------------------------------------------------------
//  From the controller

//  Logs rejected input, at most S_REJECT_LOGS lines per window.
static void
s_reject(agent_link_t *self, const char *reason)
{
    sp_log_warning(&self->reject_log,
                   "agent: message from controller dropped reason=\"%s\"", reason);
}

//  Drops the current run whatever its state.
static void
s_abandon(agent_link_t *self, const char *why)
{
    if (self->state == S_PREPARING || self->state == S_PREPARED ||
        self->state == S_RUNNING)
        agent_burst_cancel(self->burst, self->run_id);
    size_t dropped = agent_spool_drop(self->spool, self->run_id);
    zsys_notice("agent: run abandoned run_id=%" PRIu64 " reason=\"%s\" unacked=%zu",
                self->run_id, why, dropped);
    self->state = S_IDLE;
}

static void
s_on_prepare(agent_link_t *self, const Stampede__Prepare *prepare)
{
    char error[PROTO_MAX_ERROR + 1] = "";
    sp_url_t target;
    if (self->run_id == prepare->run_id && self->state == S_PREPARED) {
        s_send_ready(self, self->run_id, &self->ready, ""); //  a resend
        return;
    }
    if (self->run_id == prepare->run_id && self->state == S_PREPARING)
        return; //  Ready follows when the engine is done
    if (self->state == S_PREPARED) {
        //  A controller prepares a new run on an agent only after it gave up
        //  on the old one (or restarted and never knew it): a share that was
        //  never fired holds no results, so it yields at once instead of
        //  blocking the agent until the prepared-run limit.
        char why[64];
        snprintf(why, sizeof why, "superseded by run %" PRIu64, prepare->run_id);
        s_abandon(self, why);
    }
    if (self->state != S_IDLE)
        snprintf(error, sizeof error, "agent is busy with run %" PRIu64, self->run_id);
    else if (sp_url_parse(prepare->target->url, &target, NULL, 0) != 0)
        snprintf(error, sizeof error, "target url has no host the agent can read");
    else if (!agent_config_allows(self->config, target.host))
        snprintf(error, sizeof error, "target host %s is not in the agent's allow-list",
                 target.host);
    else if (prepare->count > self->config->capacity)
        snprintf(error, sizeof error,
                 "share of %u requests exceeds the agent's capacity of %u",
                 prepare->count, self->config->capacity);
    else if (agent_burst_prepare(self->burst, prepare) != 0)
        snprintf(error, sizeof error, "agent could not start preparing");
    if (error[0]) {
        s_send_ready(self, prepare->run_id, NULL, error);
        return;
    }
    self->state = S_PREPARING;
    self->run_id = prepare->run_id;
    self->count = prepare->count;
    self->done_pending = self->done_sent = false;
    zsys_notice("agent: preparing run_id=%" PRIu64 " count=%u first_index=%u host=%s",
                prepare->run_id, prepare->count, prepare->first_index, target.host);
}

static void
s_on_go(agent_link_t *self, const Stampede__Go *go)
{
    if (self->run_id != go->run_id || self->state == S_IDLE) {
        zsys_warning("agent: go for a run not prepared here run_id=%" PRIu64, go->run_id);
        return;
    }
    if (self->state != S_PREPARING && self->state != S_PREPARED)
        return; //  a repeated Go
    if (agent_burst_go(self->burst, go->run_id, go->start_at_ns) != 0) {
        zsys_error("agent: go not passed to the engine run_id=%" PRIu64, go->run_id);
        return;
    }
    self->state = S_RUNNING;
    zsys_notice("agent: run armed run_id=%" PRIu64 " start_in_ms=%" PRId64, go->run_id,
                (go->start_at_ns - sp_clock_wall_ns()) / SP_NS_PER_MS);
}

static void
s_on_cancel(agent_link_t *self, const Stampede__Cancel *cancel)
{
    if (self->state != S_IDLE && self->run_id == cancel->run_id)
        s_abandon(self,
                  cancel->reason && cancel->reason[0] ? cancel->reason : "cancelled");
    else
        agent_spool_drop(self->spool, cancel->run_id);
}

static void
s_on_frame(agent_link_t *self, zframe_t *frame, int64_t received_wall)
{
    char reason[256];
    proto_envelope_t *env =
        proto_decode(zframe_data(frame), zframe_size(frame), reason, sizeof reason);
    if (!env) {
        s_reject(self, reason);
        return;
    }
    switch (env->body_case) {
    case STAMPEDE__ENVELOPE__BODY_HEARTBEAT:
        if (env->heartbeat->echo_sent_ns == 0 && env->heartbeat->sent_ns > 0)
            s_send_heartbeat(self, env->heartbeat->sent_ns, received_wall);
        break;
    case STAMPEDE__ENVELOPE__BODY_PREPARE:
        s_on_prepare(self, env->prepare);
        break;
    case STAMPEDE__ENVELOPE__BODY_GO:
        s_on_go(self, env->go);
        break;
    case STAMPEDE__ENVELOPE__BODY_ACK:
        //  An ack for a batch not held is a harmless duplicate.
        agent_spool_ack(self->spool, env->ack->run_id, env->ack->seq);
        s_deliver(self); //  the last ack frees us for a Prepare right behind it
        break;
    case STAMPEDE__ENVELOPE__BODY_CANCEL:
        s_on_cancel(self, env->cancel);
        break;
    default:
        snprintf(reason, sizeof reason, "unexpected %s from the controller",
                 proto_body_name(env));
        s_reject(self, reason);
        break;
    }
    proto_envelope_destroy(&env);
}

static void
s_on_dealer(agent_link_t *self)
{
    for (int i = 0; i < S_DRAIN_MAX && (zsock_events(self->dealer) & ZMQ_POLLIN); i++) {
        zframe_t *frame = zframe_recv(self->dealer);
        int64_t received_wall = sp_clock_wall_ns();
        if (!frame)
            return;
        self->last_rx = sp_clock_mono_ns();
        if (self->silent) {
            zsys_notice("agent: controller heard again");
            self->silent = false;
        }
        self->reconnect_after_ns = AGENT_LINK_RECONNECT_MIN_MS * SP_NS_PER_MS;
        if (zframe_more(frame)) {
            //  One frame per message: drop the whole multipart message.
            while (zframe_more(frame)) {
                zframe_destroy(&frame);
                frame = zframe_recv(self->dealer);
                if (!frame)
                    return;
            }
            s_reject(self, "multipart message");
        } else
            s_on_frame(self, frame, received_wall);
        zframe_destroy(&frame);
    }
}

//  --------------------------------------------------------------------------
//  From the engine

static void
s_on_engine(agent_link_t *self)
{
    for (int i = 0;
         i < S_DRAIN_MAX && (zsock_events(agent_burst_sock(self->burst)) & ZMQ_POLLIN);
         i++) {
        agent_burst_event_t event;
        if (agent_burst_recv(self->burst, &event) != 0)
            return;
        bool current = self->state != S_IDLE && event.run_id == self->run_id;
        if (event.type == AGENT_BURST_READY && current &&
            (self->state == S_PREPARING || self->state == S_RUNNING)) {
            s_send_ready(self, event.run_id, &event, event.error);
            self->ready = event;
            if (event.error[0])
                self->state = S_IDLE;
            else if (self->state == S_PREPARING) {
                self->state = S_PREPARED;
                self->prepared_at = sp_clock_mono_ns();
            }
        } else if (event.type == AGENT_BURST_BATCH && current &&
                   self->state == S_RUNNING) {
            agent_spool_put(self->spool, event.run_id, event.seq, &event.frame);
        } else if (event.type == AGENT_BURST_RELEASED && current &&
                   self->state == S_RUNNING) {
            s_send_released(self, &event);
        } else if (event.type == AGENT_BURST_DONE && current &&
                   self->state == S_RUNNING) {
            self->state = S_FINISHED;
            self->done_results = event.results;
            self->done_batches = event.batches;
            self->done_pending = true;
        }
        zframe_destroy(&event.frame);
    }
}

//  --------------------------------------------------------------------------
//  Timers and the loop

static int s_dealer_open(agent_link_t *self);

static void
s_timers(agent_link_t *self)
{
    int64_t now = sp_clock_mono_ns();
    if (now >= self->next_heartbeat) {
        s_send_heartbeat(self, 0, 0);
        self->next_heartbeat = now + self->heartbeat_ns;
    }
    //  Silence is logged on its own clock (the hello may be retried every
    //  AGENT_LINK_HELLO_RETRY_MS while the socket has no peer): once, then
    //  every AGENT_LINK_SILENCE_REPEAT_MS, since an agent whose key the
    //  controller has not admitted hears nothing at all.
    bool unanswered = now - self->last_rx >= self->silence_ns;
    bool repeat_due =
        now - self->silence_said >= AGENT_LINK_SILENCE_REPEAT_MS * SP_NS_PER_MS;
    if (unanswered && (!self->silent || repeat_due)) {
        if (!self->silent)
            zsys_warning(
                "agent: controller silent, saying hello again silent_ms=%" PRId64,
                (now - self->last_rx) / SP_NS_PER_MS);
        else
            zsys_warning(
                "agent: still no answer from the controller after %" PRId64 " s%s",
                (now - self->last_rx) / SP_NS_PER_S,
                self->config->insecure ? ""
                                       : "; the controller is unreachable, or it has not "
                                         "admitted this agent's key (keys/agents/)");
        self->silence_said = now;
        self->silent = true;
    }
    //  A connection the controller refused in its handshake (a key not
    //  admitted) is never retried by ZeroMQ: after a longer silence the
    //  socket is built anew, backing off up to AGENT_LINK_RECONNECT_MAX_MS.
    if (now - self->last_rx >= self->reconnect_after_ns &&
        now - self->last_reconnect >= self->reconnect_after_ns) {
        zsys_info("agent: reconnecting to the controller silent_ms=%" PRId64,
                  (now - self->last_rx) / SP_NS_PER_MS);
        self->last_reconnect = now;
        self->reconnect_after_ns *= 2;
        if (self->reconnect_after_ns > AGENT_LINK_RECONNECT_MAX_MS * SP_NS_PER_MS)
            self->reconnect_after_ns = AGENT_LINK_RECONNECT_MAX_MS * SP_NS_PER_MS;
        if (s_dealer_open(self) == 0)
            s_hello(self);
    }
    if (unanswered && now - self->last_hello >= self->silence_ns)
        s_hello(self);
    else if (self->hello_failed &&
             now - self->last_hello >= AGENT_LINK_HELLO_RETRY_MS * SP_NS_PER_MS)
        s_hello(self);
    size_t stale =
        agent_spool_rewind_stale(self->spool, now, AGENT_LINK_RESEND_MS * SP_NS_PER_MS,
                                 AGENT_LINK_RESEND_MAX_MS * SP_NS_PER_MS);
    if (stale > 0) {
        zsys_info("agent: unacknowledged batches sent again count=%zu", stale);
        s_deliver(self);
    }
    if (self->state == S_PREPARED &&
        now - self->prepared_at >= AGENT_LINK_PREPARED_TTL_MS * SP_NS_PER_MS)
        s_abandon(self, "no go within the prepared-run time limit");
}

//  Milliseconds until the next timer is due (0 when one is due now).
static int
s_next_timer_ms(agent_link_t *self)
{
    int64_t now = sp_clock_mono_ns();
    int64_t due = self->next_heartbeat;
    int64_t silence =
        (self->last_rx > self->last_hello ? self->last_rx : self->last_hello) +
        self->silence_ns;
    if (silence < due)
        due = silence;
    if (self->hello_failed &&
        self->last_hello + AGENT_LINK_HELLO_RETRY_MS * SP_NS_PER_MS < due)
        due = self->last_hello + AGENT_LINK_HELLO_RETRY_MS * SP_NS_PER_MS;
    int64_t ms = (due - now + SP_NS_PER_MS - 1) / SP_NS_PER_MS;
    if (agent_spool_unsent(self->spool) > 0 || self->done_pending)
        ms = ms < S_RETRY_MS ? ms : S_RETRY_MS;
    return ms < 0 ? 0 : (int)ms;
}

int
agent_link_step(agent_link_t *self, int timeout_ms)
{
    assert(self);
    int wait = s_next_timer_ms(self);
    if (timeout_ms >= 0 && timeout_ms < wait)
        wait = timeout_ms;
    void *which = zpoller_wait(self->poller, wait);
    if (!which && zpoller_terminated(self->poller))
        return -1;
    if (which == self->dealer)
        s_on_dealer(self);
    else if (which == agent_burst_sock(self->burst))
        s_on_engine(self);
    s_timers(self);
    s_deliver(self);
    return 0;
}

int
agent_link_run(agent_link_t *self)
{
    assert(self);
    while (agent_link_step(self, 1000) == 0) {
    }
    zsys_notice("agent: shutting down id=%s", self->config->id);
    return 0;
}

void
agent_link_set_timing(agent_link_t *self, int heartbeat_ms, int silence_ms)
{
    assert(self);
    self->heartbeat_ns = (int64_t)heartbeat_ms * SP_NS_PER_MS;
    self->silence_ns = (int64_t)silence_ms * SP_NS_PER_MS;
    self->next_heartbeat = sp_clock_mono_ns() + self->heartbeat_ns;
}

void
agent_link_set_flush(agent_link_t *self, uint32_t max_results, uint32_t interval_ms)
{
    assert(self);
    agent_burst_set_flush(self->burst, max_results, interval_ms);
}

//  (Re)creates the socket to the controller and the poller over it and the
//  engine. Returns 0, or -1 (logged).
static int
s_dealer_open(agent_link_t *self)
{
    zpoller_destroy(&self->poller);
    if (self->dealer)
        zsock_set_linger(self->dealer, 0); //  what it queued is stale or spooled
    zsock_destroy(&self->dealer);
    self->dealer = zsock_new(ZMQ_DEALER);
    if (!self->dealer) {
        zsys_error("agent: cannot create the controller socket");
        return -1;
    }
    zsock_set_maxmsgsize(self->dealer, PROTO_MAX_FRAME);
    zsock_set_linger(self->dealer, AGENT_LINK_LINGER_MS);
    zsock_set_immediate(self->dealer, 1);
    zsock_set_sndtimeo(self->dealer, 0);
    zsock_set_heartbeat_ivl(self->dealer, AGENT_LINK_HEARTBEAT_MS);
    zsock_set_heartbeat_timeout(self->dealer, AGENT_LINK_SILENCE_MS);
    if (self->config->controller_host[0] == '[')
        zsock_set_ipv6(self->dealer, 1);
    if (self->cert)
        agent_cert_apply(self->cert, self->dealer);
    if (zsock_connect(self->dealer, "%s", self->config->controller) != 0) {
        zsys_error("agent: cannot connect controller=%s", self->config->controller);
        return -1;
    }
    self->poller = zpoller_new(self->dealer, agent_burst_sock(self->burst), NULL);
    return self->poller ? 0 : -1;
}

agent_link_t *
agent_link_new(const agent_config_t *config, agent_cert_t *cert)
{
    assert(config);
    agent_link_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    if (gethostname(self->host, sizeof self->host) != 0)
        snprintf(self->host, sizeof self->host, "unknown");
    self->host[sizeof self->host - 1] = '\0';
    for (char *p = self->host; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    self->heartbeat_ns = AGENT_LINK_HEARTBEAT_MS * SP_NS_PER_MS;
    self->silence_ns = AGENT_LINK_SILENCE_MS * SP_NS_PER_MS;

    self->burst = agent_burst_new();
    self->spool = agent_spool_new();
    self->cert = cert;
    self->reconnect_after_ns = AGENT_LINK_RECONNECT_MIN_MS * SP_NS_PER_MS;
    if (!self->burst || !self->spool) {
        zsys_error("agent: cannot start (engine or spool)");
        goto fail;
    }
    if (config->spool[0]) {
        //  What a killed agent had not had acknowledged goes out again
        //  after the first Hello (the controller stores a batch once).
        char err[AGENT_CONFIG_MAX_PATH + 128];
        int loaded = agent_spool_attach(self->spool, config->spool,
                                        AGENT_SPOOL_DEFAULT_MAX_BYTES, err, sizeof err);
        if (loaded < 0) {
            zsys_error("agent: cannot start: %s", err);
            goto fail;
        }
        zsys_notice("agent: spool dir=%s batches_to_resend=%d", config->spool, loaded);
    }
    if (s_dealer_open(self))
        goto fail;
    zsys_notice("agent: connecting controller=%s id=%s capacity=%u secure=%s",
                config->controller, config->id, config->capacity, cert ? "curve" : "no");
    int64_t now = sp_clock_mono_ns();
    self->last_rx = now;
    self->next_heartbeat = now + self->heartbeat_ns;
    sp_log_limit_init(&self->reject_log, "agent: rejected messages not logged",
                      S_REJECT_LOGS, S_REJECT_WINDOW_NS);
    s_hello(self);
    return self;
fail:
    agent_link_destroy(&self);
    return NULL;
}

void
agent_link_destroy(agent_link_t **self_p)
{
    assert(self_p);
    agent_link_t *self = *self_p;
    if (self) {
        zpoller_destroy(&self->poller);
        zsock_destroy(&self->dealer);
        agent_burst_destroy(&self->burst);
        agent_spool_destroy(&self->spool);
        free(self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Selftest: an in-process ROUTER plays the controller.

typedef struct {
    agent_link_t *link;
    zsock_t *router;
    zframe_t *identity; //  the agent's routing id, once seen
} s_ctl_t;

//  Sends env to the agent.
static void
s_ctl_send(s_ctl_t *ctl, proto_envelope_t *env)
{
    zframe_t *frame = proto_encode(env);
    CHECK_NOT_NULL(frame);
    zframe_t *identity = zframe_dup(ctl->identity);
    CHECK_INT(zframe_send(&identity, ctl->router, ZFRAME_MORE), 0);
    CHECK_INT(zframe_send(&frame, ctl->router, 0), 0);
}

//  Drives the link until the controller receives a message of type `want`
//  (10 s at most), skipping periodic heartbeats (echo_sent_ns == 0) unless
//  heartbeats are wanted. Returns the message (caller frees); its raw frame
//  into *raw when raw is not NULL.
static proto_envelope_t *
s_ctl_expect(s_ctl_t *ctl, Stampede__Envelope__BodyCase want, zframe_t **raw)
{
    int64_t deadline = sp_clock_mono_ns() + 10 * SP_NS_PER_S;
    while (sp_clock_mono_ns() < deadline) {
        CHECK_INT(agent_link_step(ctl->link, 5), 0);
        while (zsock_events(ctl->router) & ZMQ_POLLIN) {
            zframe_t *identity = zframe_recv(ctl->router);
            zframe_t *frame = zframe_recv(ctl->router);
            CHECK_NOT_NULL(frame);
            if (!ctl->identity)
                ctl->identity = zframe_dup(identity);
            zframe_destroy(&identity);
            char err[256];
            proto_envelope_t *env =
                proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
            CHECK_NOT_NULL(env);
            bool periodic = env->body_case == STAMPEDE__ENVELOPE__BODY_HEARTBEAT &&
                            env->heartbeat->echo_sent_ns == 0;
            if (env->body_case == want) {
                if (raw)
                    *raw = frame;
                else
                    zframe_destroy(&frame);
                return env;
            }
            if (!periodic) {
                fprintf(stderr, "controller got %s while waiting\n",
                        proto_body_name(env));
                abort();
            }
            proto_envelope_destroy(&env);
            zframe_destroy(&frame);
        }
    }
    fprintf(stderr, "timed out waiting for message type %d\n", (int)want);
    abort();
}

static void
s_ctl_prepare(s_ctl_t *ctl, uint64_t run_id, uint32_t count, const char *url)
{
    Stampede__Target target = STAMPEDE__TARGET__INIT;
    target.url = (char *)url;
    target.method = "GET";
    target.timeout_ms = 5000;
    Stampede__Prepare prepare = STAMPEDE__PREPARE__INIT;
    prepare.run_id = run_id;
    prepare.first_index = 0;
    prepare.count = count;
    prepare.target = &target;
    prepare.start_mode = STAMPEDE__START_MODE__START_MODE_AT_GO;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_PREPARE;
    env.prepare = &prepare;
    s_ctl_send(ctl, &env);
}

//  Sends Prepare and checks the Ready that comes back.
static void
s_ctl_expect_ready(s_ctl_t *ctl, uint64_t run_id, uint32_t count, const char *url,
                   uint32_t prepared, const char *error)
{
    s_ctl_prepare(ctl, run_id, count, url);
    proto_envelope_t *env = s_ctl_expect(ctl, STAMPEDE__ENVELOPE__BODY_READY, NULL);
    CHECK_INT(env->ready->run_id, run_id);
    CHECK_INT(env->ready->prepared, prepared);
    CHECK_STR(env->ready->error, error);
    proto_envelope_destroy(&env);
}

static void
s_ctl_simple(s_ctl_t *ctl, Stampede__Envelope__BodyCase which, uint64_t run_id,
             uint32_t seq)
{
    Stampede__Ack ack = STAMPEDE__ACK__INIT;
    Stampede__Cancel cancel = STAMPEDE__CANCEL__INIT;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = which;
    if (which == STAMPEDE__ENVELOPE__BODY_ACK) {
        ack.run_id = run_id;
        ack.seq = seq;
        env.ack = &ack;
    } else {
        cancel.run_id = run_id;
        cancel.reason = "test";
        env.cancel = &cancel;
    }
    s_ctl_send(ctl, &env);
}

static void
s_check_hello(proto_envelope_t *env, const char *id, uint32_t capacity)
{
    char host[256] = "";
    gethostname(host, sizeof host);
    CHECK_STR(env->hello->agent_id, id);
    CHECK_STR(env->hello->host, host);
    CHECK_STR(env->hello->version, STAMPEDE_VERSION);
    CHECK_INT(env->hello->capacity, capacity);
    CHECK_INT(env->hello->protocol, STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
}

void
agent_link_test(bool verbose)
{
    agent_testserver_t *server = agent_testserver_new();
    CHECK_NOT_NULL(server);
    s_ctl_t ctl = {NULL, NULL, NULL};
    ctl.router = zsock_new(ZMQ_ROUTER);
    CHECK_NOT_NULL(ctl.router);
    int port = zsock_bind(ctl.router, "tcp://127.0.0.1:*");
    CHECK_TRUE(port > 0);

    agent_config_t config;
    agent_config_defaults(&config);
    snprintf(config.controller, sizeof config.controller, "tcp://127.0.0.1:%d", port);
    snprintf(config.controller_host, sizeof config.controller_host, "127.0.0.1");
    snprintf(config.id, sizeof config.id, "test-agent");
    config.insecure = true;
    config.capacity = 50;
    ctl.link = agent_link_new(&config, NULL);
    CHECK_NOT_NULL(ctl.link);
    agent_link_set_timing(ctl.link, 100, 3000);
    agent_link_set_flush(ctl.link, 8, 60000);

    //  Hello, then periodic heartbeats.
    proto_envelope_t *env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_HELLO, NULL);
    s_check_hello(env, "test-agent", 50);
    proto_envelope_destroy(&env);
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_HEARTBEAT, NULL);
    CHECK_TRUE(env->heartbeat->sent_ns > 0);
    CHECK_INT(env->heartbeat->echo_sent_ns, 0);
    CHECK_INT(env->heartbeat->echo_received_ns, 0);
    proto_envelope_destroy(&env);

    //  A clock probe is echoed at once with the four timestamps.
    Stampede__Heartbeat probe = STAMPEDE__HEARTBEAT__INIT;
    probe.sent_ns = 12345;
    proto_envelope_t probe_env = STAMPEDE__ENVELOPE__INIT;
    probe_env.body_case = STAMPEDE__ENVELOPE__BODY_HEARTBEAT;
    probe_env.heartbeat = &probe;
    int64_t before = sp_clock_wall_ns();
    s_ctl_send(&ctl, &probe_env);
    for (;;) {
        env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_HEARTBEAT, NULL);
        if (env->heartbeat->echo_sent_ns != 0)
            break;
        proto_envelope_destroy(&env);
    }
    CHECK_INT(env->heartbeat->echo_sent_ns, 12345);
    CHECK_TRUE(env->heartbeat->echo_received_ns >= before);
    CHECK_TRUE(env->heartbeat->sent_ns >= env->heartbeat->echo_received_ns);
    proto_envelope_destroy(&env);

    //  Refusals: allow-list, capacity, unreadable host.
    s_ctl_expect_ready(&ctl, 5, 10, "http://10.1.2.3:8080/x", 0,
                       "target host 10.1.2.3 is not in the agent's allow-list");
    s_ctl_expect_ready(&ctl, 5, 10, "http://127.0.0.1%2eevil.example/x", 0,
                       "target host 127.0.0.1.evil.example is not in the agent's "
                       "allow-list");
    //  curl normalises 0x7f.1 to 127.0.0.1: allowed, then over capacity.
    s_ctl_expect_ready(&ctl, 5, 51, "http://0x7f.1:1/x", 0,
                       "share of 51 requests exceeds the agent's capacity of 50");
    s_ctl_expect_ready(&ctl, 6, 51, "http://127.0.0.1:1/x", 0,
                       "share of 51 requests exceeds the agent's capacity of 50");

    //  Garbage, a multipart message and a message meant for the controller
    //  are dropped; the link keeps serving.
    zframe_t *identity = zframe_dup(ctl.identity);
    zframe_send(&identity, ctl.router, ZFRAME_MORE);
    zstr_send(ctl.router, "not a protobuf");
    identity = zframe_dup(ctl.identity);
    zframe_send(&identity, ctl.router, ZFRAME_MORE);
    zstr_sendm(ctl.router, "part one");
    zstr_send(ctl.router, "part two");
    Stampede__Done stray = STAMPEDE__DONE__INIT;
    stray.run_id = 1;
    proto_envelope_t stray_env = STAMPEDE__ENVELOPE__INIT;
    stray_env.body_case = STAMPEDE__ENVELOPE__BODY_DONE;
    stray_env.done = &stray;
    s_ctl_send(&ctl, &stray_env);

    //  Prepare -> Ready; a second run is refused; a repeat is answered.
    char url[256];
    agent_testserver_url(server, "/ok", url, sizeof url);
    s_ctl_expect_ready(&ctl, 7, 10, url, 10, "");
    s_ctl_expect_ready(&ctl, 7, 10, url, 10, "");
    //  A new run supersedes a prepared one that was never fired (a
    //  restarted controller), and the old one can be prepared again.
    s_ctl_expect_ready(&ctl, 8, 10, url, 10, "");
    s_ctl_expect_ready(&ctl, 7, 10, url, 10, "");

    //  Go -> batches of 8 and 2 -> Done.
    Stampede__Go go = STAMPEDE__GO__INIT;
    go.run_id = 7;
    go.start_at_ns = sp_clock_wall_ns() + 20 * SP_NS_PER_MS;
    proto_envelope_t go_env = STAMPEDE__ENVELOPE__INIT;
    go_env.body_case = STAMPEDE__ENVELOPE__BODY_GO;
    go_env.go = &go;
    s_ctl_send(&ctl, &go_env);
    //  Released at (or just after) the instant, before the results.
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_RELEASED, NULL);
    CHECK_INT(env->released->run_id, 7);
    CHECK_INT(env->released->count, 10);
    CHECK_INT(env->released->armed + env->released->late, 0); //  at-go
    CHECK_TRUE(env->released->released_ns >= go.start_at_ns);
    int64_t released_ns = env->released->released_ns;
    proto_envelope_destroy(&env);
    zframe_t *batch_frames[2];
    for (uint32_t seq = 1; seq <= 2; seq++) {
        env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_RESULT_BATCH,
                           &batch_frames[seq - 1]);
        CHECK_INT(env->result_batch->run_id, 7);
        CHECK_INT(env->result_batch->seq, seq);
        CHECK_INT(env->result_batch->n_results, seq == 1 ? 8 : 2);
        CHECK_STR(proto_outcome_name(env->result_batch->results[0]->outcome), "ok");
        CHECK_STR(env->result_batch->results[0]->request_id, AGENT_TESTSERVER_REQUEST_ID);
        CHECK_INT(env->result_batch->results[0]->scheduled_ns, go.start_at_ns);
        proto_envelope_destroy(&env);
    }
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_DONE, NULL);
    CHECK_INT(env->done->run_id, 7);
    CHECK_INT(env->done->results, 10);
    CHECK_INT(env->done->batches, 2);
    CHECK_NOT_NULL(env->done->released); //  repeated in Done
    CHECK_INT(env->done->released->released_ns, released_ns);
    proto_envelope_destroy(&env);
    //  A repeated Go changes nothing.
    s_ctl_send(&ctl, &go_env);

    //  Ack batch 1 only, then fall silent: the agent says hello again and
    //  resends exactly batch 2 (byte for byte) and Done.
    s_ctl_simple(&ctl, STAMPEDE__ENVELOPE__BODY_ACK, 7, 1);
    s_ctl_simple(&ctl, STAMPEDE__ENVELOPE__BODY_ACK, 7, 1); //  duplicate: ignored
    agent_link_set_timing(ctl.link, 100, 300);
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_HELLO, NULL);
    s_check_hello(env, "test-agent", 50);
    proto_envelope_destroy(&env);
    zframe_t *again = NULL;
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_RESULT_BATCH, &again);
    CHECK_INT(env->result_batch->seq, 2);
    CHECK_TRUE(zframe_eq(again, batch_frames[1]));
    proto_envelope_destroy(&env);
    zframe_destroy(&again);
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_DONE, NULL);
    CHECK_INT(env->done->batches, 2);
    proto_envelope_destroy(&env);
    //  Silence goes on: hello, batch 2 and Done again.
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_HELLO, NULL);
    proto_envelope_destroy(&env);
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_RESULT_BATCH, NULL);
    CHECK_INT(env->result_batch->seq, 2);
    proto_envelope_destroy(&env);
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_DONE, NULL);
    proto_envelope_destroy(&env);
    agent_link_set_timing(ctl.link, 100, 3000);

    //  The last ack frees the agent for the next run.
    s_ctl_simple(&ctl, STAMPEDE__ENVELOPE__BODY_ACK, 7, 2);
    s_ctl_expect_ready(&ctl, 9, 4, url, 4, "");
    //  Cancel frees it too, even mid-burst.
    agent_testserver_url(server, "/hang", url, sizeof url);
    s_ctl_simple(&ctl, STAMPEDE__ENVELOPE__BODY_CANCEL, 9, 0);
    s_ctl_expect_ready(&ctl, 10, 3, url, 3, "");
    go.run_id = 10;
    go.start_at_ns = sp_clock_wall_ns();
    s_ctl_send(&ctl, &go_env);
    env = s_ctl_expect(&ctl, STAMPEDE__ENVELOPE__BODY_RELEASED, NULL);
    CHECK_INT(env->released->run_id, 10);
    proto_envelope_destroy(&env);
    s_ctl_expect_ready(&ctl, 11, 3, url, 0, "agent is busy with run 10");
    s_ctl_simple(&ctl, STAMPEDE__ENVELOPE__BODY_CANCEL, 10, 0);
    s_ctl_simple(&ctl, STAMPEDE__ENVELOPE__BODY_CANCEL, 99, 0); //  unknown: harmless
    s_ctl_expect_ready(&ctl, 11, 3, url, 3, "");

    zframe_destroy(&batch_frames[0]);
    zframe_destroy(&batch_frames[1]);
    agent_link_destroy(&ctl.link);
    agent_link_destroy(&ctl.link);
    CHECK_NULL(ctl.link);
    zframe_destroy(&ctl.identity);

    //  Over CURVE: the agent pins the controller's key and says hello.
    char dir[] = "/tmp/agent_link_test.XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char agent_key[256], server_key[256], err[256], path[300];
    snprintf(agent_key, sizeof agent_key, "%s/agent.key", dir);
    snprintf(server_key, sizeof server_key, "%s/controller.key", dir);
    CHECK_INT(agent_cert_keygen(agent_key, err, sizeof err), 0);
    CHECK_INT(agent_cert_keygen(server_key, err, sizeof err), 0);
    agent_cert_t *cert = agent_cert_load(server_key, agent_key, err, sizeof err);
    CHECK_NOT_NULL(cert);
    zcert_t *server_cert = zcert_load(server_key);
    zsock_t *secure = zsock_new(ZMQ_ROUTER);
    zcert_apply(server_cert, secure);
    zsock_set_curve_server(secure, 1);
    port = zsock_bind(secure, "tcp://127.0.0.1:*");
    CHECK_TRUE(port > 0);
    snprintf(config.controller, sizeof config.controller, "tcp://127.0.0.1:%d", port);
    config.insecure = false;
    s_ctl_t secure_ctl = {agent_link_new(&config, cert), secure, NULL};
    CHECK_NOT_NULL(secure_ctl.link);
    env = s_ctl_expect(&secure_ctl, STAMPEDE__ENVELOPE__BODY_HELLO, NULL);
    s_check_hello(env, "test-agent", 50);
    proto_envelope_destroy(&env);
    agent_link_destroy(&secure_ctl.link);
    zframe_destroy(&secure_ctl.identity);
    zsock_destroy(&secure);
    zcert_destroy(&server_cert);
    agent_cert_destroy(&cert);
    const char *names[] = {"agent.key", "agent.key_secret", "controller.key",
                           "controller.key_secret"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        CHECK_INT(unlink(path), 0);
    }
    CHECK_INT(rmdir(dir), 0);

    zsock_destroy(&ctl.router);
    agent_testserver_destroy(&server);
    if (verbose)
        printf("(link checks done) ");
}
