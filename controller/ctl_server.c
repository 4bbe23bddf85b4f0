/*  ctl_server — the controller core actor; see ctl_server.h.

    The owner side (ctl_server_t) holds only the zactor and the endpoints
    the actor reported; everything else lives in s_core_t on the actor
    thread.
*/
#include "ctl_server.h"
#include "ctl_registry.h"
#include "sp_clock.h"
#include "sp_err.h"
#include "sp_log.h"
#include "sp_oom.h"
#include "store_lock.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <unistd.h>

#define S_ENDPOINT_MAX 256
#define S_COMMAND_MAX (PROTO_MAX_BODY + 64 * 1024) //  a run command with a full body
#define S_WARN_PER_SECOND 5 //  warnings about agents' input, per second
#define S_RUN_TICK_MS 100
//  Probes of a clock not ready yet, spaced so that the ring of kept
//  samples spans the drift window (8 × 300 ms > CTL_CLOCK_DRIFT_SPAN_NS).
#define CTL_SERVER_PROBE_GAP_NS (INT64_C(300) * 1000000)

struct _ctl_server_t {
    zactor_t *actor;                       //  the core's thread
    char endpoint[S_ENDPOINT_MAX];         //  agents' endpoint as bound
    char command_endpoint[S_ENDPOINT_MAX]; //  inproc REP for ctl_http
};

//  Everything the actor thread owns.
typedef struct {
    zsock_t *pipe;            //  to the owner
    zloop_t *loop;            //  the reactor
    zsock_t *router;          //  agents connect here
    zsock_t *command;         //  REP for ctl_http
    zactor_t *auth;           //  zauth (CURVE) or NULL
    store_t *store;           //  the writer connection
    store_lock_t *lock;       //  one writer per database file
    ctl_registry_t *registry; //  connected agents
    ctl_run_t *run;           //  the active run, or NULL
    ctl_run_t *last_run;      //  the previous run (late batches), or NULL
    store_result_t *rows;     //  scratch for a batch of a run not driven here
    //  Configuration, copied.
    char *listen;
    char *db_path;
    zcert_t *cert; //  borrowed from the owner's config
    char *agents_dir;
    char *default_url;
    uint32_t default_requests;
    json_t *run_defaults; //  fields a "run" command may omit; never NULL
    int heartbeat_ms;
    int expire_ms;
    ctl_run_timing_t timing;
    size_t max_agents;
    sp_log_limit_t warnings; //  budget of warnings about agents' input
} s_core_t;

//  The run a message names: the active one or the previous one.
static ctl_run_t *
s_run_for(s_core_t *self, uint64_t run_id)
{
    if (self->run && (uint64_t)ctl_run_id(self->run) == run_id)
        return self->run;
    if (self->last_run && (uint64_t)ctl_run_id(self->last_run) == run_id)
        return self->last_run;
    return NULL;
}

//  Retires the active run once it finished.
static void
s_settle(s_core_t *self)
{
    if (self->run && ctl_run_finished(self->run)) {
        ctl_run_destroy(&self->last_run);
        self->last_run = self->run;
        self->run = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Agents' messages

static void
s_on_hello(s_core_t *self, zframe_t *routing_id, const Stampede__Hello *hello)
{
    bool is_new, replaced;
    ctl_agent_t *agent =
        ctl_registry_hello(self->registry, routing_id, hello, sp_clock_mono_ns(),
                           sp_clock_wall_ns(), &is_new, &replaced);
    if (!agent) {
        sp_log_warning(
            &self->warnings,
            "server: hello refused agent_id=%s reason=\"%zu agents registered, "
            "the limit\"",
            hello->agent_id, self->max_agents);
        return;
    }
    if (is_new || replaced)
        zsys_notice("agent %s agent_id=%s host=%s version=%s capacity=%u",
                    replaced ? "reconnected" : "joined", agent->id, agent->host,
                    agent->version, agent->capacity);
    if (store_agent_upsert(self->store, agent->id, agent->host, agent->version,
                           agent->capacity, sp_clock_wall_ns()))
        zsys_error("server: cannot record agent agent_id=%s", agent->id);
    //  A first clock sample right away, so a run can start with an estimate.
    ctl_registry_probe(self->registry, agent);
}

static void
s_send_ack(s_core_t *self, ctl_agent_t *agent, uint64_t run_id, uint32_t seq)
{
    Stampede__Ack ack = STAMPEDE__ACK__INIT;
    ack.run_id = run_id;
    ack.seq = seq;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    //  A lost ack costs a resend, which is handled the same way again.
    ctl_registry_send(self->registry, agent->id, &env);
}

//  A batch of a run this process does not drive: typically resent after a
//  restart of the controller, whose run was settled as failed at start.
//  Stored against the share the store recorded and then acknowledged,
//  exactly as the live run would; never acknowledged unless stored, except
//  when there is no share to store it in (the agent must forget it).
static void
s_on_foreign_batch(s_core_t *self, ctl_agent_t *agent, const Stampede__ResultBatch *batch)
{
    uint32_t first = 0, count = 0;
    int64_t offset = 0;
    int found = batch->run_id > INT64_MAX
                    ? 1
                    : store_share_get(self->store, (int64_t)batch->run_id, agent->id,
                                      &first, &count, &offset);
    if (found > 0) {
        sp_log_warning(
            &self->warnings,
            "server: batch acknowledged without storing agent_id=%s run_id=%" PRIu64
            " seq=%u reason=\"no share of this agent in that run\"",
            agent->id, batch->run_id, batch->seq);
        s_send_ack(self, agent, batch->run_id, batch->seq);
        return;
    }
    //  The offset the previous process converted Go and the share's other
    //  batches with: the share's instants stay on one timeline, and it is
    //  there before the first clock probe of this process is answered.
    char why[128];
    int rc = found < 0 ? -1
                       : ctl_run_store_batch(self->store, (int64_t)batch->run_id,
                                             agent->id, first, count, offset, batch,
                                             self->rows, why, sizeof why);
    if (rc > 0) {
        sp_log_warning(
            &self->warnings,
            "server: batch of a previous run dropped agent_id=%s run_id=%" PRIu64
            " seq=%u reason=\"%s\"",
            agent->id, batch->run_id, batch->seq, why);
        return;
    }
    if (rc < 0) {
        zsys_error("server: batch of a previous run not stored, the agent will resend "
                   "agent_id=%s run_id=%" PRIu64 " seq=%u",
                   agent->id, batch->run_id, batch->seq);
        return;
    }
    zsys_debug("server: batch of a previous run stored agent_id=%s run_id=%" PRIu64
               " seq=%u results=%zu",
               agent->id, batch->run_id, batch->seq, batch->n_results);
    s_send_ack(self, agent, batch->run_id, batch->seq);
}

static void
s_on_message(s_core_t *self, ctl_agent_t *agent, const proto_envelope_t *env,
             int64_t now_wall)
{
    ctl_run_t *run = NULL;
    switch (env->body_case) {
    case STAMPEDE__ENVELOPE__BODY_HEARTBEAT:
        //  A refused clock sample leaves the estimate as it was.
        ctl_registry_heartbeat(self->registry, agent, env->heartbeat, now_wall);
        break;
    case STAMPEDE__ENVELOPE__BODY_READY:
        run = s_run_for(self, env->ready->run_id);
        if (run)
            ctl_run_on_ready(run, agent->id, env->ready, now_wall);
        else
            sp_log_warning(&self->warnings,
                           "server: ready for an unknown run dropped agent_id=%s "
                           "run_id=%" PRIu64,
                           agent->id, env->ready->run_id);
        break;
    case STAMPEDE__ENVELOPE__BODY_RESULT_BATCH:
        run = s_run_for(self, env->result_batch->run_id);
        if (run)
            ctl_run_on_batch(run, agent->id, env->result_batch, now_wall);
        else
            s_on_foreign_batch(self, agent, env->result_batch);
        break;
    case STAMPEDE__ENVELOPE__BODY_RELEASED:
        run = s_run_for(self, env->released->run_id);
        if (run)
            ctl_run_on_released(run, agent->id, env->released, now_wall);
        else
            zsys_debug("server: released of a run not driven here agent_id=%s "
                       "run_id=%" PRIu64,
                       agent->id, env->released->run_id);
        break;
    case STAMPEDE__ENVELOPE__BODY_DONE:
        run = s_run_for(self, env->done->run_id);
        if (run)
            ctl_run_on_done(run, agent->id, env->done, now_wall);
        else
            //  Nothing to answer: the agent forgets a run once Done went
            //  out and every batch is acknowledged.
            zsys_debug("server: done of a run not driven here agent_id=%s "
                       "run_id=%" PRIu64,
                       agent->id, env->done->run_id);
        break;
    default:
        sp_log_warning(&self->warnings,
                       "server: unexpected message dropped agent_id=%s message=%s",
                       agent->id, proto_body_name(env));
    }
}

static int
s_on_router(zloop_t *loop, zsock_t *router, void *arg)
{
    s_core_t *self = (s_core_t *)arg;
    zmsg_t *msg = zmsg_recv(router);
    if (!msg)
        return 0; //  interrupted
    int64_t now_wall = sp_clock_wall_ns();
    zframe_t *routing_id = zmsg_first(msg);
    zframe_t *data = zmsg_next(msg);
    if (zmsg_size(msg) != 2) {
        sp_log_warning(
            &self->warnings,
            "server: invalid message dropped reason=\"%zu frames, expected 1\"",
            zmsg_size(msg) - 1);
        zmsg_destroy(&msg);
        return 0;
    }
    char why[256];
    proto_envelope_t *env =
        proto_decode(zframe_data(data), zframe_size(data), why, sizeof why);
    ctl_agent_t *agent = ctl_registry_find(self->registry, routing_id);
    if (!env) {
        sp_log_warning(&self->warnings,
                       "server: invalid message dropped agent_id=%s reason=\"%s\"",
                       agent ? agent->id : "(unknown)", why);
        zmsg_destroy(&msg);
        return 0;
    }
    if (env->body_case == STAMPEDE__ENVELOPE__BODY_HELLO)
        s_on_hello(self, routing_id, env->hello);
    else if (agent) {
        ctl_registry_touch(self->registry, agent, sp_clock_mono_ns());
        s_on_message(self, agent, env, now_wall);
    }
    //  Anything else from an unregistered connection is dropped: the agent
    //  says Hello again after 3 s without an answer.
    proto_envelope_destroy(&env);
    zmsg_destroy(&msg);
    s_settle(self);
    return 0;
}

static int
s_on_heartbeat(zloop_t *loop, int timer_id, void *arg)
{
    s_core_t *self = (s_core_t *)arg;
    zlist_t *expired = SP_OOM_CHECK(zlist_new(), "expired agent list");
    zlist_autofree(expired);
    ctl_registry_expire(self->registry, sp_clock_mono_ns(),
                        (int64_t)self->expire_ms * SP_NS_PER_MS, expired);
    for (char *id = (char *)zlist_first(expired); id; id = (char *)zlist_next(expired)) {
        zsys_notice("agent expired agent_id=%s silent_ms=%d", id, self->expire_ms);
        if (self->run)
            ctl_run_on_agent_expired(self->run, id, sp_clock_wall_ns());
    }
    zlist_destroy(&expired);
    ctl_registry_probe_all(self->registry);
    s_settle(self);
    return 0;
}

static int
s_on_run_tick(zloop_t *loop, int timer_id, void *arg)
{
    s_core_t *self = (s_core_t *)arg;
    //  Agents that joined lately are probed every tick until their clock
    //  is known well enough for a run to go.
    ctl_registry_probe_new(self->registry, self->timing.clock_min_samples,
                           self->timing.clock_max_age_ns, CTL_SERVER_PROBE_GAP_NS);
    if (self->run)
        ctl_run_tick(self->run, sp_clock_wall_ns());
    s_settle(self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Commands (JSON), from the owner's pipe or the REP socket

static json_t *s_error(int status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static json_t *
s_error(int status, const char *format, ...)
{
    char text[512];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    return json_pack("{s:s, s:i}", "error", text, "status", status);
}

static json_t *
s_command_run_spec(s_core_t *self, json_t *request)
{
    if (self->run)
        return s_error(409, "a run is already in progress");
    if (ctl_registry_size(self->registry) == 0)
        return s_error(503, "no agents connected");
    ctl_runspec_t spec;
    ctl_runspec_defaults(&spec);
    spec.url = self->default_url;
    spec.requests = self->default_requests;
    const char *headers[PROTO_MAX_HEADERS];
    char err[512];
    if (ctl_runspec_from_json(request, &spec, headers, err, sizeof err))
        return s_error(400, "%s", err);
    if (!spec.url)
        return s_error(400, "url is required (no default target is configured)");
    int status;
    self->run = ctl_run_new(&spec, &self->timing, self->store, self->registry,
                            sp_clock_wall_ns(), err, sizeof err, &status);
    if (!self->run)
        return s_error(status, "%s", err);
    int64_t run_id = ctl_run_id(self->run);
    s_settle(self); //  a run whose Prepare could not be sent has failed already
    return json_pack("{s:I}", "run_id", (json_int_t)run_id);
}

//  Starts a run from a "run" command, the server's run defaults filling
//  the fields the command leaves out.
static json_t *
s_command_run(s_core_t *self, json_t *request)
{
    json_t *merged = json_deep_copy(self->run_defaults);
    if (!merged || json_object_update(merged, request)) {
        json_decref(merged);
        return s_error(500, "out of memory");
    }
    json_t *reply = s_command_run_spec(self, merged);
    json_decref(merged);
    return reply;
}

//  Ends the live run as interrupted with the command's "reason" (printable,
//  at most 256 bytes): its agents are told to stop, every request without
//  a result is marked lost.
static json_t *
s_command_interrupt(s_core_t *self, json_t *request)
{
    json_t *member = json_object_get(request, "reason");
    const char *reason = json_string_value(member);
    if (!reason || json_string_length(member) > 256 || !proto_is_printable(reason, 256) ||
        !*reason)
        return s_error(400, "interrupt needs a \"reason\": 1-256 printable bytes");
    if (!self->run)
        return s_error(409, "no run is in progress");
    int64_t run_id = ctl_run_id(self->run);
    ctl_run_interrupt(self->run, reason, sp_clock_wall_ns());
    s_settle(self);
    return json_pack("{s:I}", "run_id", (json_int_t)run_id);
}

static json_t *
s_command_status(s_core_t *self)
{
    json_t *last = json_null();
    if (self->last_run)
        last = json_pack(
            "{s:I, s:s, s:s}", "run_id", (json_int_t)ctl_run_id(self->last_run), "state",
            ctl_run_state(self->last_run), "error", ctl_run_error(self->last_run));
    return json_pack(
        "{s:o, s:o, s:o, s:o}", "agents", ctl_registry_json(self->registry), "active_run",
        self->run ? json_integer(ctl_run_id(self->run)) : json_null(), "default_url",
        self->default_url ? json_string(self->default_url) : json_null(), "last_run",
        last);
}

//  Answers one command given as text (not NUL-terminated, size bytes).
static char *
s_command(s_core_t *self, const char *text, size_t size)
{
    json_t *reply = NULL;
    json_error_t error;
    json_t *request = NULL;
    if (size > S_COMMAND_MAX)
        reply = s_error(400, "command larger than %d bytes", S_COMMAND_MAX);
    else {
        request = json_loadb(text, size, JSON_REJECT_DUPLICATES, &error);
        json_t *member = request ? json_object_get(request, "action") : NULL;
        const char *action = json_string_value(member); //  NULL unless a string
        if (!request || !json_is_object(request))
            reply = s_error(400, "command is not a JSON object");
        else if (!action || json_string_length(member) > 32 ||
                 strlen(action) != json_string_length(member))
            reply = s_error(400, "command needs an \"action\" string");
        else if (strcmp(action, "run") == 0)
            reply = s_command_run(self, request);
        else if (strcmp(action, "status") == 0)
            reply = s_command_status(self);
        else if (strcmp(action, "interrupt") == 0)
            reply = s_command_interrupt(self, request);
        else
            reply = s_error(400, "unknown action \"%.32s\"", action);
    }
    json_decref(request);
    char *answer = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    json_decref(reply);
    //  The REP socket must answer; with no memory for that, give up.
    return answer ? answer
                  : SP_OOM_CHECK(strdup("{\"error\":\"out of memory\",\"status\":500}"),
                                 "command answer");
}

static int
s_on_command(zloop_t *loop, zsock_t *command, void *arg)
{
    s_core_t *self = (s_core_t *)arg;
    zmsg_t *msg = zmsg_recv(command);
    if (!msg)
        return 0;
    char *answer;
    zframe_t *frame = zmsg_first(msg);
    if (zmsg_size(msg) != 1)
        answer =
            SP_OOM_CHECK(strdup("{\"error\":\"a command is one frame\",\"status\":400}"),
                         "command answer");
    else
        answer = s_command(self, (const char *)zframe_data(frame), zframe_size(frame));
    zmsg_destroy(&msg);
    zstr_send(command, answer);
    free(answer);
    return 0;
}

static int
s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    s_core_t *self = (s_core_t *)arg;
    zmsg_t *msg = zmsg_recv(pipe);
    if (!msg)
        return -1;
    char *verb = zmsg_popstr(msg);
    int rc = 0;
    if (!verb || strcmp(verb, "$TERM") == 0)
        rc = -1;
    else if (strcmp(verb, "REQUEST") == 0) {
        zframe_t *frame = zmsg_first(msg);
        char *answer =
            frame ? s_command(self, (const char *)zframe_data(frame), zframe_size(frame))
                  : SP_OOM_CHECK(strdup("{\"error\":\"empty request\",\"status\":400}"),
                                 "command answer");
        zstr_send(pipe, answer);
        free(answer);
    }
    freen(verb);
    zmsg_destroy(&msg);
    return rc;
}

//  --------------------------------------------------------------------------
//  Actor life

static void
s_core_destroy(s_core_t **self_p)
{
    s_core_t *self = *self_p;
    if (!self)
        return;
    if (self->run) {
        ctl_run_interrupt(self->run, "controller stopped", sp_clock_wall_ns());
        ctl_run_destroy(&self->run);
    }
    ctl_run_destroy(&self->last_run);
    zloop_destroy(&self->loop);
    ctl_registry_destroy(&self->registry);
    if (self->router)
        zsock_set_linger(self->router, 0);
    zsock_destroy(&self->router);
    zsock_destroy(&self->command);
    zactor_destroy(&self->auth);
    store_destroy(&self->store);
    store_lock_release(&self->lock);
    free(self->rows);
    free(self->listen);
    free(self->db_path);
    free(self->agents_dir);
    free(self->default_url);
    json_decref(self->run_defaults);
    free(self);
    *self_p = NULL;
}

//  Opens the store and binds both sockets. Returns 0, or -1 with err.
static int
s_core_start(s_core_t *self, char *endpoint, char *command_endpoint, char *err,
             size_t err_size)
{
    self->store = store_open(self->db_path, err, err_size);
    if (!self->store)
        return -1;
    //  Before anything is written: a second controller on the file would
    //  settle the first one's live run as if it had died.
    self->lock = store_lock_take(self->db_path, err, err_size);
    if (!self->lock)
        return -1;
    self->rows = calloc(PROTO_MAX_BATCH, sizeof *self->rows);
    if (!self->rows) {
        sp_err_set(err, err_size, "out of memory");
        return -1;
    }
    self->router = zsock_new(ZMQ_ROUTER);
    self->command = zsock_new(ZMQ_REP);
    self->registry = ctl_registry_new(self->router, self->max_agents);
    if (!self->router || !self->command || !self->registry) {
        sp_err_set(err, err_size, "cannot create sockets");
        return -1;
    }
    zsock_set_router_mandatory(self->router, 1);
    zsock_set_maxmsgsize(self->router, PROTO_MAX_FRAME + 1024);
    zsock_set_sndhwm(self->router, 100000);
    zsock_set_rcvhwm(self->router, 100000);
    if (self->cert) {
        //  zauth stops at an interrupt like any czmq poller; started after
        //  one, its exit signal would be taken for the CURVE command's reply
        //  and it could never be stopped.
        if (zsys_interrupted) {
            sp_err_set(err, err_size, "interrupted");
            return -1;
        }
        self->auth = zactor_new(zauth, NULL);
        if (!self->auth) {
            sp_err_set(err, err_size, "cannot start the ZAP handler");
            return -1;
        }
        zstr_sendx(self->auth, "CURVE", self->agents_dir, NULL);
        zsock_wait(self->auth);
        zcert_apply(self->cert, self->router);
        zsock_set_curve_server(self->router, 1);
        zsock_set_zap_domain(self->router, "stampede");
    }
    if (zsock_bind(self->router, "%s", self->listen) < 0) {
        sp_err_set(err, err_size, "cannot bind %s: %s", self->listen,
                   zmq_strerror(errno));
        return -1;
    }
    char *bound = zsock_last_endpoint(self->router);
    snprintf(endpoint, S_ENDPOINT_MAX, "%s", bound ? bound : self->listen);
    freen(bound);
    snprintf(command_endpoint, S_ENDPOINT_MAX, "inproc://stampede-ctl-%ld-%p",
             (long)getpid(), (void *)self);
    if (zsock_bind(self->command, "%s", command_endpoint) < 0) {
        sp_err_set(err, err_size, "cannot bind %s", command_endpoint);
        return -1;
    }
    //  After the bind, so a second controller on the same endpoint fails
    //  before it touches the first one's live run; before the loop, so no
    //  agent's resend is handled against an unsettled run.
    int settled = store_runs_interrupted(self->store, CTL_SERVER_RESTART_REASON,
                                         sp_clock_wall_ns());
    if (settled < 0) {
        sp_err_set(err, err_size, "cannot settle the runs of a previous controller in %s",
                   self->db_path);
        return -1;
    }
    if (settled > 0)
        zsys_notice("runs of a previous controller settled as failed count=%d "
                    "reason=\"%s\"",
                    settled, CTL_SERVER_RESTART_REASON);
    self->loop = zloop_new();
    if (!self->loop) {
        sp_err_set(err, err_size, "out of memory");
        return -1;
    }
    //  Only $TERM from the owner ends the loop, not SIGINT: the owner
    //  decides how to shut down (and still needs answers meanwhile).
    zloop_set_nonstop(self->loop, true);
    zloop_reader(self->loop, self->pipe, s_on_pipe, self);
    zloop_reader(self->loop, self->router, s_on_router, self);
    zloop_reader(self->loop, self->command, s_on_command, self);
    zloop_timer(self->loop, (size_t)self->heartbeat_ms, 0, s_on_heartbeat, self);
    zloop_timer(self->loop, S_RUN_TICK_MS, 0, s_on_run_tick, self);
    return 0;
}

static void
s_actor(zsock_t *pipe, void *args)
{
    s_core_t *self = (s_core_t *)args;
    self->pipe = pipe;
    zsock_signal(pipe, 0);
    char endpoint[S_ENDPOINT_MAX] = "", command_endpoint[S_ENDPOINT_MAX] = "";
    char err[512] = "";
    if (s_core_start(self, endpoint, command_endpoint, err, sizeof err)) {
        zstr_sendx(pipe, "ERROR", err, NULL);
        s_core_destroy(&self);
        return;
    }
    zstr_sendx(pipe, "READY", endpoint, command_endpoint, NULL);
    zsys_notice("controller listening endpoint=%s security=%s", endpoint,
                self->cert ? "curve" : "none");
    zloop_start(self->loop);
    s_core_destroy(&self);
}

static char *
s_strdup_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

ctl_server_t *
ctl_server_new(const ctl_server_config_t *config, char *err, size_t err_size)
{
    assert(config && config->listen && config->db_path);
    assert(!config->cert || config->agents_dir);
    s_core_t *core = calloc(1, sizeof *core);
    ctl_server_t *self = calloc(1, sizeof *self);
    if (!core || !self) {
        free(core);
        free(self);
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    core->listen = strdup(config->listen);
    core->db_path = strdup(config->db_path);
    core->cert = config->cert;
    core->agents_dir = s_strdup_or_null(config->agents_dir);
    core->default_url = s_strdup_or_null(config->default_url);
    core->default_requests = config->default_requests ? config->default_requests : 100;
    core->run_defaults =
        config->run_defaults ? json_deep_copy(config->run_defaults) : json_object();
    core->heartbeat_ms = config->heartbeat_ms > 0 ? config->heartbeat_ms : 1000;
    core->expire_ms = config->expire_ms > 0 ? config->expire_ms : 5000;
    if (config->timing)
        core->timing = *config->timing;
    else
        ctl_run_timing_defaults(&core->timing);
    core->max_agents = config->max_agents ? config->max_agents : 1024;
    sp_log_limit_init(&core->warnings, "server: warnings about agents' input not logged",
                      S_WARN_PER_SECOND, SP_NS_PER_S);
    if (!core->listen || !core->db_path || (config->agents_dir && !core->agents_dir) ||
        (config->default_url && !core->default_url) || !core->run_defaults) {
        s_core_destroy(&core);
        free(self);
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    //  The actor owns core from here on, also when it fails.
    self->actor = zactor_new(s_actor, core);
    if (!self->actor) {
        sp_err_set(err, err_size, "cannot start the controller thread");
        free(self);
        return NULL;
    }
    char *verb = NULL, *first = NULL, *second = NULL;
    if (zstr_recvx(self->actor, &verb, &first, &second, NULL) < 2 ||
        strcmp(verb, "READY") != 0) {
        sp_err_set(err, err_size, "%s", first ? first : "controller thread failed");
        zstr_free(&verb);
        zstr_free(&first);
        zstr_free(&second);
        ctl_server_destroy(&self);
        return NULL;
    }
    snprintf(self->endpoint, sizeof self->endpoint, "%s", first);
    snprintf(self->command_endpoint, sizeof self->command_endpoint, "%s",
             second ? second : "");
    zstr_free(&verb);
    zstr_free(&first);
    zstr_free(&second);
    return self;
}

void
ctl_server_destroy(ctl_server_t **self_p)
{
    assert(self_p);
    ctl_server_t *self = *self_p;
    if (self) {
        zactor_destroy(&self->actor);
        free(self);
        *self_p = NULL;
    }
}

const char *
ctl_server_endpoint(ctl_server_t *self)
{
    assert(self);
    return self->endpoint;
}

const char *
ctl_server_command_endpoint(ctl_server_t *self)
{
    assert(self);
    return self->command_endpoint;
}

json_t *
ctl_server_request(ctl_server_t *self, json_t *request)
{
    assert(self && request);
    char *text = json_dumps(request, JSON_COMPACT);
    if (!text)
        return NULL;
    int rc = zstr_sendx(self->actor, "REQUEST", text, NULL);
    free(text);
    if (rc)
        return NULL;
    char *answer = zstr_recv(self->actor);
    if (!answer)
        return NULL;
    json_t *reply = json_loads(answer, 0, NULL);
    zstr_free(&answer);
    return reply;
}
