/*  ctl_server — the controller core actor; see ctl_server.h.

    The owner side (ctl_server_t) holds only the zactor and the endpoints
    the actor reported; everything else lives in s_core_t on the actor
    thread.
*/
#include "ctl_server.h"
#include "ctl_registry.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_oom.h"

#include <inttypes.h>
#include <stdarg.h>
#include <unistd.h>

#define S_ENDPOINT_MAX 256
#define S_COMMAND_MAX (PROTO_MAX_BODY + 64 * 1024) //  a run command with a full body
#define S_WARN_PER_SECOND 5
#define S_RUN_TICK_MS 100

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
    //  Rate limit of warnings about agents' input.
    int64_t warn_window_ns; //  start of the current 1 s window (mono)
    int warn_count;         //  warnings logged in it
    int warn_suppressed;    //  warnings dropped in it
} s_core_t;

//  Logs a warning about untrusted input, at most S_WARN_PER_SECOND a
//  second; the number dropped is reported when the next window opens.
static void __attribute__((format(printf, 2, 3)))
s_warn(s_core_t *self, const char *format, ...)
{
    int64_t now = sp_clock_mono_ns();
    if (now - self->warn_window_ns >= SP_NS_PER_S) {
        if (self->warn_suppressed)
            zsys_warning("server: warnings suppressed count=%d", self->warn_suppressed);
        self->warn_window_ns = now;
        self->warn_count = 0;
        self->warn_suppressed = 0;
    }
    if (self->warn_count >= S_WARN_PER_SECOND) {
        self->warn_suppressed++;
        return;
    }
    self->warn_count++;
    char text[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    zsys_warning("%s", text);
}

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
        s_warn(self,
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
        s_warn(self,
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
        s_warn(self,
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
            s_warn(self,
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
        s_warn(self, "server: unexpected message dropped agent_id=%s message=%s",
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
        s_warn(self, "server: invalid message dropped reason=\"%zu frames, expected 1\"",
               zmsg_size(msg) - 1);
        zmsg_destroy(&msg);
        return 0;
    }
    char why[256];
    proto_envelope_t *env =
        proto_decode(zframe_data(data), zframe_size(data), why, sizeof why);
    ctl_agent_t *agent = ctl_registry_find(self->registry, routing_id);
    if (!env) {
        s_warn(self, "server: invalid message dropped agent_id=%s reason=\"%s\"",
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
        ctl_run_cancel(self->run, "controller stopped", sp_clock_wall_ns());
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
    self->rows = calloc(PROTO_MAX_BATCH, sizeof *self->rows);
    if (!self->rows) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    self->router = zsock_new(ZMQ_ROUTER);
    self->command = zsock_new(ZMQ_REP);
    self->registry = ctl_registry_new(self->router, self->max_agents);
    if (!self->router || !self->command || !self->registry) {
        snprintf(err, err_size, "cannot create sockets");
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
            snprintf(err, err_size, "interrupted");
            return -1;
        }
        self->auth = zactor_new(zauth, NULL);
        if (!self->auth) {
            snprintf(err, err_size, "cannot start the ZAP handler");
            return -1;
        }
        zstr_sendx(self->auth, "CURVE", self->agents_dir, NULL);
        zsock_wait(self->auth);
        zcert_apply(self->cert, self->router);
        zsock_set_curve_server(self->router, 1);
        zsock_set_zap_domain(self->router, "stampede");
    }
    if (zsock_bind(self->router, "%s", self->listen) < 0) {
        snprintf(err, err_size, "cannot bind %s: %s", self->listen, zmq_strerror(errno));
        return -1;
    }
    char *bound = zsock_last_endpoint(self->router);
    snprintf(endpoint, S_ENDPOINT_MAX, "%s", bound ? bound : self->listen);
    freen(bound);
    snprintf(command_endpoint, S_ENDPOINT_MAX, "inproc://stampede-ctl-%ld-%p",
             (long)getpid(), (void *)self);
    if (zsock_bind(self->command, "%s", command_endpoint) < 0) {
        snprintf(err, err_size, "cannot bind %s", command_endpoint);
        return -1;
    }
    //  After the bind, so a second controller on the same endpoint fails
    //  before it touches the first one's live run; before the loop, so no
    //  agent's resend is handled against an unsettled run.
    int settled = store_runs_interrupted(self->store, CTL_SERVER_RESTART_REASON,
                                         sp_clock_wall_ns());
    if (settled < 0) {
        snprintf(err, err_size, "cannot settle the runs of a previous controller in %s",
                 self->db_path);
        return -1;
    }
    if (settled > 0)
        zsys_notice("runs of a previous controller settled as failed count=%d "
                    "reason=\"%s\"",
                    settled, CTL_SERVER_RESTART_REASON);
    self->loop = zloop_new();
    if (!self->loop) {
        snprintf(err, err_size, "out of memory");
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
        snprintf(err, err_size, "out of memory");
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
    if (!core->listen || !core->db_path || (config->agents_dir && !core->agents_dir) ||
        (config->default_url && !core->default_url) || !core->run_defaults) {
        s_core_destroy(&core);
        free(self);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    //  The actor owns core from here on, also when it fails.
    self->actor = zactor_new(s_actor, core);
    if (!self->actor) {
        snprintf(err, err_size, "cannot start the controller thread");
        free(self);
        return NULL;
    }
    char *verb = NULL, *first = NULL, *second = NULL;
    if (zstr_recvx(self->actor, &verb, &first, &second, NULL) < 2 ||
        strcmp(verb, "READY") != 0) {
        snprintf(err, err_size, "%s", first ? first : "controller thread failed");
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

//  --------------------------------------------------------------------------
//  Selftest: the real actor against fake agents on DEALER sockets over TCP.

typedef struct {
    zsock_t *dealer;
    char id[32];
} s_fake_t;

static void
s_fake_send(s_fake_t *fake, proto_envelope_t *env)
{
    zframe_t *frame = proto_encode(env);
    CHECK_NOT_NULL(frame);
    CHECK_INT(zframe_send(&frame, fake->dealer, 0), 0);
}

//  Sends msg as the envelope's body KIND (field `field` of the envelope).
#define S_FAKE_SEND(fake, KIND, field, msg)                                              \
    do {                                                                                 \
        proto_envelope_t env_ = STAMPEDE__ENVELOPE__INIT;                                \
        env_.body_case = STAMPEDE__ENVELOPE__BODY_##KIND;                                \
        env_.field = (msg);                                                              \
        s_fake_send((fake), &env_);                                                      \
    } while (0)

static void
s_fake_hello(s_fake_t *fake)
{
    Stampede__Hello hello = STAMPEDE__HELLO__INIT;
    hello.agent_id = fake->id;
    hello.host = "fakehost";
    hello.version = "test";
    hello.capacity = 1000;
    hello.protocol = STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    S_FAKE_SEND(fake, HELLO, hello, &hello);
}

//  A probe from the agent: keeps it alive in the registry.
static void
s_fake_heartbeat(s_fake_t *fake)
{
    Stampede__Heartbeat heartbeat = STAMPEDE__HEARTBEAT__INIT;
    heartbeat.sent_ns = sp_clock_wall_ns();
    S_FAKE_SEND(fake, HEARTBEAT, heartbeat, &heartbeat);
}

//  Answers the controller's clock probe.
static void
s_fake_answer(s_fake_t *fake, const Stampede__Heartbeat *probe)
{
    Stampede__Heartbeat answer = STAMPEDE__HEARTBEAT__INIT;
    answer.echo_sent_ns = probe->sent_ns;
    answer.echo_received_ns = sp_clock_wall_ns();
    answer.sent_ns = sp_clock_wall_ns();
    S_FAKE_SEND(fake, HEARTBEAT, heartbeat, &answer);
}

//  Waits (up to 5 s) for a message of kind `name`, answering the
//  controller's clock probes on the way as a real agent does.
static proto_envelope_t *
s_fake_expect(s_fake_t *fake, const char *name)
{
    int64_t deadline = sp_clock_mono_ns() + 5 * SP_NS_PER_S;
    zpoller_t *poller = zpoller_new(fake->dealer, NULL);
    proto_envelope_t *found = NULL;
    while (!found && sp_clock_mono_ns() < deadline) {
        if (zpoller_wait(poller, 50) != fake->dealer) {
            s_fake_heartbeat(fake);
            continue;
        }
        zframe_t *frame = zframe_recv(fake->dealer);
        char err[256];
        proto_envelope_t *env =
            proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
        zframe_destroy(&frame);
        CHECK_NOT_NULL(env);
        if (env->body_case == STAMPEDE__ENVELOPE__BODY_HEARTBEAT &&
            env->heartbeat->echo_sent_ns == 0)
            s_fake_answer(fake, env->heartbeat);
        if (strcmp(proto_body_name(env), name) == 0)
            found = env;
        else
            proto_envelope_destroy(&env);
    }
    zpoller_destroy(&poller);
    if (!found) {
        fprintf(stderr, "fake agent %s: no %s within 5 s\n", fake->id, name);
        abort();
    }
    return found;
}

static void
s_fake_ready(s_fake_t *fake, const Stampede__Prepare *prepare)
{
    Stampede__Ready ready = STAMPEDE__READY__INIT;
    ready.run_id = prepare->run_id;
    ready.prepared = prepare->count;
    S_FAKE_SEND(fake, READY, ready, &ready);
}

static void
s_fake_batch(s_fake_t *fake, uint64_t run_id, uint32_t seq, uint32_t first, uint32_t n)
{
    Stampede__Result results[16];
    Stampede__Result *ptrs[16];
    assert(n <= 16);
    for (uint32_t i = 0; i < n; i++) {
        stampede__result__init(&results[i]);
        results[i].index = first + i;
        results[i].outcome = (first + i) % 2 ? STAMPEDE__OUTCOME__OUTCOME_THROTTLED
                                             : STAMPEDE__OUTCOME__OUTCOME_OK;
        results[i].http_status = (first + i) % 2 ? 429 : 200;
        results[i].sent_ns = 5000000 + first + i; //  agent clock
        results[i].done_ns = 9000000 + first + i;
        results[i].invocation_count = -1;
        ptrs[i] = &results[i];
    }
    Stampede__ResultBatch batch = STAMPEDE__RESULT_BATCH__INIT;
    batch.run_id = run_id;
    batch.seq = seq;
    batch.results = ptrs;
    batch.n_results = n;
    S_FAKE_SEND(fake, RESULT_BATCH, result_batch, &batch);
}

static void
s_fake_done(s_fake_t *fake, uint64_t run_id, uint32_t results, uint32_t batches)
{
    Stampede__Done done = STAMPEDE__DONE__INIT;
    done.run_id = run_id;
    done.results = results;
    done.batches = batches;
    S_FAKE_SEND(fake, DONE, done, &done);
}

static json_t *
s_ask(ctl_server_t *server, const char *text)
{
    json_t *request = json_loads(text, 0, NULL);
    CHECK_NOT_NULL(request);
    json_t *reply = ctl_server_request(server, request);
    json_decref(request);
    CHECK_NOT_NULL(reply);
    return reply;
}

static int64_t
s_status_int(ctl_server_t *server, const char *key)
{
    json_t *status = s_ask(server, "{\"action\":\"status\"}");
    json_t *value = json_object_get(status, key);
    int64_t result = json_is_integer(value) ? json_integer_value(value) : -1;
    if (strcmp(key, "agents") == 0)
        result = (int64_t)json_array_size(value);
    json_decref(status);
    return result;
}

//  Waits (bounded) until status[key] == expected, keeping fakes alive.
static void
s_wait_status(ctl_server_t *server, const char *key, int64_t expected, s_fake_t *alive)
{
    for (int i = 0; i < 200; i++) {
        if (s_status_int(server, key) == expected)
            return;
        if (alive)
            s_fake_heartbeat(alive);
        zclock_sleep(25);
    }
    fprintf(stderr, "status %s never became %" PRId64 "\n", key, expected);
    abort();
}

static void
s_expect_error(ctl_server_t *server, const char *command, int status, const char *text)
{
    json_t *reply = s_ask(server, command);
    CHECK_INT(json_integer_value(json_object_get(reply, "status")), status);
    CHECK_STR(json_string_value(json_object_get(reply, "error")), text);
    json_decref(reply);
}

static void
s_fake_connect(s_fake_t *fake, const char *id, const char *endpoint, zcert_t *client,
               zcert_t *server_cert)
{
    memset(fake, 0, sizeof *fake);
    snprintf(fake->id, sizeof fake->id, "%s", id);
    fake->dealer = zsock_new(ZMQ_DEALER);
    if (client) {
        zcert_apply(client, fake->dealer);
        zsock_set_curve_serverkey(fake->dealer, zcert_public_txt(server_cert));
    }
    CHECK_INT(zsock_connect(fake->dealer, "%s", endpoint), 0);
    s_fake_hello(fake);
}

static void
s_test_plain(const char *db_path)
{
    char err[512];
    ctl_run_timing_t timing;
    ctl_run_timing_defaults(&timing);
    timing.min_lead_ns = 10 * SP_NS_PER_MS;
    //  Run defaults fill what a command leaves out, and only that.
    json_t *run_defaults =
        json_pack("{s:i, s:[s]}", "timeout_ms", 20000, "headers", "X-Default: 1");
    ctl_server_config_t config = {.listen = "tcp://127.0.0.1:*",
                                  .db_path = db_path,
                                  .default_url = "http://127.0.0.1:9/url/demo/",
                                  .default_requests = 6,
                                  .run_defaults = run_defaults,
                                  .heartbeat_ms = 50,
                                  .expire_ms = 400,
                                  .timing = &timing};
    //  A bad endpoint is reported.
    config.listen = "tcp://256.1.1.1:1";
    CHECK_NULL(ctl_server_new(&config, err, sizeof err));
    CHECK_TRUE(strstr(err, "cannot bind tcp://256.1.1.1:1") != NULL);
    config.listen = "tcp://127.0.0.1:*";
    ctl_server_t *server = ctl_server_new(&config, err, sizeof err);
    CHECK_NOT_NULL(server);
    json_decref(run_defaults); //  the server keeps its own copy
    CHECK_TRUE(strncmp(ctl_server_endpoint(server), "tcp://127.0.0.1:", 16) == 0);
    CHECK_TRUE(strcmp(ctl_server_endpoint(server), "tcp://127.0.0.1:*") != 0);
    CHECK_TRUE(
        strncmp(ctl_server_command_endpoint(server), "inproc://stampede-ctl-", 22) == 0);

    //  Commands: errors before any agent is there.
    s_expect_error(server, "{\"action\":\"run\"}", 503, "no agents connected");
    s_expect_error(server, "{\"action\":\"fly\"}", 400, "unknown action \"fly\"");
    s_expect_error(server, "[1,2]", 400, "command is not a JSON object");
    s_expect_error(server, "{\"act\":1}", 400, "command needs an \"action\" string");
    json_t *status = s_ask(server, "{\"action\":\"status\"}");
    CHECK_INT(json_array_size(json_object_get(status, "agents")), 0);
    CHECK_TRUE(json_is_null(json_object_get(status, "active_run")));
    CHECK_TRUE(json_is_null(json_object_get(status, "last_run")));
    CHECK_STR(json_string_value(json_object_get(status, "default_url")),
              "http://127.0.0.1:9/url/demo/");
    json_decref(status);

    //  The REP socket answers the same commands, also garbage.
    zsock_t *req = zsock_new_req(ctl_server_command_endpoint(server));
    CHECK_NOT_NULL(req);
    zstr_send(req, "not json");
    char *answer = zstr_recv(req);
    CHECK_STR(answer, "{\"error\":\"command is not a JSON object\",\"status\":400}");
    zstr_free(&answer);
    zstr_send(req, "{\"action\":\"status\"}");
    answer = zstr_recv(req);
    CHECK_TRUE(strstr(answer, "\"agents\":[]") != NULL);
    zstr_free(&answer);
    zsock_destroy(&req);

    //  Two agents say hello; garbage and a multi-frame message are dropped
    //  and the server keeps serving.
    s_fake_t one, two;
    s_fake_connect(&one, "agent-1", ctl_server_endpoint(server), NULL, NULL);
    s_fake_connect(&two, "agent-2", ctl_server_endpoint(server), NULL, NULL);
    s_wait_status(server, "agents", 2, NULL);
    zstr_send(one.dealer, "this is not protobuf");
    zstr_sendx(one.dealer, "two", "frames", NULL);
    s_wait_status(server, "agents", 2, &one);
    //  The server probes each agent's clock; the answer becomes a sample.
    proto_envelope_t *probe = s_fake_expect(&one, "heartbeat");
    CHECK_TRUE(probe->heartbeat->sent_ns > 0);
    CHECK_INT(probe->heartbeat->echo_sent_ns, 0);
    proto_envelope_destroy(&probe);
    for (int i = 0; i < 200; i++) {
        status = s_ask(server, "{\"action\":\"status\"}");
        json_t *first = json_array_get(json_object_get(status, "agents"), 0);
        int64_t samples = json_integer_value(json_object_get(first, "clock_samples"));
        json_decref(status);
        if (samples >= 1)
            break;
        CHECK_TRUE(i < 199);
        zclock_sleep(25);
    }

    //  A run with the defaults: 6 requests -> 3 + 3.
    json_t *reply = s_ask(server, "{\"action\":\"run\"}");
    CHECK_INT(json_integer_value(json_object_get(reply, "run_id")), 1);
    json_decref(reply);
    CHECK_INT(s_status_int(server, "active_run"), 1);
    s_expect_error(server, "{\"action\":\"run\"}", 409, "a run is already in progress");
    proto_envelope_t *prepare1 = s_fake_expect(&one, "prepare");
    proto_envelope_t *prepare2 = s_fake_expect(&two, "prepare");
    CHECK_INT(prepare1->prepare->first_index, 0);
    CHECK_INT(prepare1->prepare->count, 3);
    CHECK_INT(prepare2->prepare->first_index, 3);
    CHECK_INT(prepare2->prepare->count, 3);
    CHECK_STR(prepare1->prepare->target->url, "http://127.0.0.1:9/url/demo/");
    CHECK_STR(prepare1->prepare->target->method, "GET");
    CHECK_INT(prepare1->prepare->target->timeout_ms, 20000);
    CHECK_INT(prepare1->prepare->target->n_headers, 1);
    CHECK_STR(prepare1->prepare->target->headers[0]->name, "X-Default");
    s_fake_ready(&one, prepare1->prepare);
    s_fake_ready(&two, prepare2->prepare);
    proto_envelope_destroy(&prepare1);
    proto_envelope_destroy(&prepare2);
    proto_envelope_t *go = s_fake_expect(&one, "go");
    CHECK_INT(go->go->run_id, 1);
    proto_envelope_destroy(&go);
    go = s_fake_expect(&two, "go");
    proto_envelope_destroy(&go);
    //  agent-1: batch 1 twice, batch 2; agent-2: one batch. All acked.
    s_fake_batch(&one, 1, 1, 0, 2);
    s_fake_batch(&one, 1, 1, 0, 2);
    s_fake_batch(&one, 1, 2, 2, 1);
    s_fake_done(&one, 1, 3, 2);
    uint32_t seqs[3];
    for (int i = 0; i < 3; i++) {
        proto_envelope_t *ack = s_fake_expect(&one, "ack");
        CHECK_INT(ack->ack->run_id, 1);
        seqs[i] = ack->ack->seq;
        proto_envelope_destroy(&ack);
    }
    CHECK_INT(seqs[0], 1);
    CHECK_INT(seqs[1], 1);
    CHECK_INT(seqs[2], 2);
    s_fake_batch(&two, 1, 1, 3, 3);
    s_fake_done(&two, 1, 3, 1);
    proto_envelope_t *ack = s_fake_expect(&two, "ack");
    proto_envelope_destroy(&ack);
    s_wait_status(server, "active_run", -1, &one);
    status = s_ask(server, "{\"action\":\"status\"}");
    json_t *last = json_object_get(status, "last_run");
    CHECK_INT(json_integer_value(json_object_get(last, "run_id")), 1);
    CHECK_STR(json_string_value(json_object_get(last, "state")), "completed");
    json_t *agents = json_object_get(status, "agents");
    CHECK_STR(json_string_value(json_object_get(json_array_get(agents, 0), "id")),
              "agent-1");
    CHECK_STR(json_string_value(json_object_get(json_array_get(agents, 1), "host")),
              "fakehost");
    json_decref(status);
    store_t *reader = store_open(db_path, err, sizeof err);
    CHECK_NOT_NULL(reader);
    store_summary_t summary;
    CHECK_INT(store_summary(reader, 1, &summary), 0);
    CHECK_STR(summary.status, "completed");
    CHECK_INT(summary.requested, 6);
    CHECK_INT(summary.recorded, 6);
    CHECK_INT(summary.ok, 3);
    CHECK_INT(summary.throttled, 3);
    CHECK_INT(summary.lost, 0);

    //  Bad run commands.
    s_expect_error(server, "{\"action\":\"run\",\"requests\":0}", 400,
                   "requests must be an integer from 1 to 1000000");
    s_expect_error(server, "{\"action\":\"run\",\"url\":\"ftp://x/\"}", 400,
                   "URL must start with http:// or https://");
    s_expect_error(server, "{\"action\":\"run\",\"headers\":[\"bad\"]}", 400,
                   "headers[0]: header must look like 'Name: value'");
    s_expect_error(server, "{\"action\":\"run\",\"headers\":\"X: 1\"}", 400,
                   "headers must be an array of at most 64 \"Name: value\" strings");
    s_expect_error(server, "{\"action\":\"run\",\"method\":7}", 400,
                   "method must be an HTTP method token of 1-16 characters");
    s_expect_error(
        server, "{\"action\":\"run\",\"headers\":[\"X-A: a\\tb\"]}", 400,
        "headers[0]: header value longer than 8192 or holds control characters "
        "(tab included)");
    s_expect_error(server, "{\"action\":\"run\",\"url\":\"HTTP://x/\"}", 400,
                   "URL must start with http:// or https://");
    s_expect_error(server, "{\"action\":\"run\",\"start_mode\":\"soon\"}", 400,
                   "start_mode must be \"at-go\", \"last-byte\" or \"auto\"");
    s_expect_error(server, "{\"action\":\"run\",\"start_mode\":\"last-byte\"}", 400,
                   "start_mode last_byte needs a body of at least 1 byte");

    //  agent-2 goes silent mid-run: its missing results are lost, the run
    //  completes with requested = recorded + lost.
    reply = s_ask(server, "{\"action\":\"run\",\"requests\":4,\"method\":\"POST\","
                          "\"headers\":[\"X-Run: 2\"],\"body\":\"{}\"}");
    CHECK_INT(json_integer_value(json_object_get(reply, "run_id")), 2);
    json_decref(reply);
    prepare1 = s_fake_expect(&one, "prepare");
    prepare2 = s_fake_expect(&two, "prepare");
    CHECK_STR(prepare1->prepare->target->method, "POST");
    CHECK_INT(prepare1->prepare->target->n_headers, 1);
    CHECK_STR(prepare1->prepare->target->headers[0]->name, "X-Run");
    CHECK_INT(prepare1->prepare->target->body.len, 2);
    //  No start_mode is auto: a body makes it last_byte.
    CHECK_INT(prepare1->prepare->start_mode, STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    CHECK_INT(prepare2->prepare->start_mode, STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    s_fake_ready(&one, prepare1->prepare);
    s_fake_ready(&two, prepare2->prepare);
    proto_envelope_destroy(&prepare1);
    proto_envelope_destroy(&prepare2);
    go = s_fake_expect(&two, "go");
    proto_envelope_destroy(&go);
    s_fake_batch(&two, 2, 1, 2, 1); //  1 of its 2
    ack = s_fake_expect(&two, "ack");
    proto_envelope_destroy(&ack);
    zsock_destroy(&two.dealer); //  gone
    go = s_fake_expect(&one, "go");
    proto_envelope_destroy(&go);
    s_fake_batch(&one, 2, 1, 0, 2);
    s_fake_done(&one, 2, 2, 1);
    s_wait_status(server, "active_run", -1, &one);
    CHECK_INT(s_status_int(server, "agents"), 1);
    CHECK_INT(store_summary(reader, 2, &summary), 0);
    CHECK_STR(summary.status, "completed");
    CHECK_INT(summary.requested, 4);
    CHECK_INT(summary.recorded, 3);
    CHECK_INT(summary.lost, 1);
    CHECK_INT(summary.recorded + summary.lost, summary.requested);
    CHECK_STR(summary.start_mode, "last_byte");

    ack = s_fake_expect(&one, "ack");
    CHECK_INT(ack->ack->run_id, 2);
    proto_envelope_destroy(&ack);
    //  A batch of a run this server never drove is acknowledged.
    s_fake_batch(&one, 99, 1, 0, 1);
    ack = s_fake_expect(&one, "ack");
    CHECK_INT(ack->ack->run_id, 99);
    proto_envelope_destroy(&ack);

    //  Stopping mid-run records the run as failed. An explicit at-go wins
    //  over the body.
    reply = s_ask(server, "{\"action\":\"run\",\"requests\":1,\"body\":\"x\","
                          "\"start_mode\":\"at-go\"}");
    CHECK_INT(json_integer_value(json_object_get(reply, "run_id")), 3);
    json_decref(reply);
    prepare1 = s_fake_expect(&one, "prepare");
    CHECK_INT(prepare1->prepare->start_mode, STAMPEDE__START_MODE__START_MODE_AT_GO);
    proto_envelope_destroy(&prepare1);
    ctl_server_destroy(&server);
    CHECK_NULL(server);
    ctl_server_destroy(&server);
    CHECK_INT(store_summary(reader, 3, &summary), 0);
    CHECK_STR(summary.status, "failed");
    CHECK_STR(summary.start_mode, "at_go");
    store_destroy(&reader);
    zsock_destroy(&one.dealer);
}

static void
s_test_curve(const char *db_path, const char *dir)
{
    char err[512];
    char agents_dir[256];
    snprintf(agents_dir, sizeof agents_dir, "%s/agents", dir);
    CHECK_INT(zsys_dir_create("%s", agents_dir), 0);
    zcert_t *server_cert = zcert_new();
    zcert_t *admitted = zcert_new();
    zcert_t *stranger = zcert_new();
    char path[320];
    snprintf(path, sizeof path, "%s/admitted.key", agents_dir);
    CHECK_INT(zcert_save_public(admitted, path), 0);
    ctl_server_config_t config = {.listen = "tcp://127.0.0.1:*",
                                  .db_path = db_path,
                                  .cert = server_cert,
                                  .agents_dir = agents_dir,
                                  .heartbeat_ms = 50,
                                  .expire_ms = 2000};
    ctl_server_t *server = ctl_server_new(&config, err, sizeof err);
    CHECK_NOT_NULL(server);
    s_fake_t good, bad;
    s_fake_connect(&bad, "stranger", ctl_server_endpoint(server), stranger, server_cert);
    s_fake_connect(&good, "admitted", ctl_server_endpoint(server), admitted, server_cert);
    s_wait_status(server, "agents", 1, &good);
    json_t *status = s_ask(server, "{\"action\":\"status\"}");
    json_t *agents = json_object_get(status, "agents");
    CHECK_INT(json_array_size(agents), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(agents, 0), "id")),
              "admitted");
    json_decref(status);
    zsock_destroy(&good.dealer);
    zsock_destroy(&bad.dealer);
    ctl_server_destroy(&server);
    unlink(path);
    rmdir(agents_dir);
    zcert_destroy(&server_cert);
    zcert_destroy(&admitted);
    zcert_destroy(&stranger);
}

//  One request row of a run as JSON (caller owns), index order.
static json_t *
s_row(store_t *store, int64_t run_id, size_t index)
{
    json_t *run = store_run_json(store, run_id, true);
    CHECK_NOT_NULL(run);
    json_t *row = json_incref(json_array_get(json_object_get(run, "requests"), index));
    json_decref(run);
    CHECK_NOT_NULL(row);
    return row;
}

//  A controller restarted in the middle of a run: the run is settled at
//  start, the agents' resends fill in its lost rows.
static void
s_test_restart(const char *db_path)
{
    char err[512];
    const int64_t t0 = INT64_C(1700000000) * SP_NS_PER_S;
    store_summary_t summary;
    //  What the previous process left: run 1, 6 requests over agent-1
    //  [0,3) (clock 2 ms ahead) and agent-2 [3,6), running, agent-1's first
    //  result stored.
    store_t *store = store_open(db_path, err, sizeof err);
    CHECK_NOT_NULL(store);
    CHECK_INT(store_agent_upsert(store, "agent-1", "fakehost", "test", 1000, t0), 0);
    CHECK_INT(store_agent_upsert(store, "agent-2", "fakehost", "test", 1000, t0), 0);
    store_run_t spec = {.url = "http://127.0.0.1:9/url/demo/",
                        .method = "GET",
                        .requested = 6,
                        .agents = 2,
                        .created_ns = t0};
    CHECK_INT(store_run_create(store, &spec), 1);
    CHECK_INT(store_share_add(store, 1, "agent-1", 0, 3, 2000000, 500), 0);
    CHECK_INT(store_share_add(store, 1, "agent-2", 3, 3, 0, 500), 0);
    CHECK_INT(store_run_set_status(store, 1, "running", t0, 0, NULL), 0);
    store_result_t stored = {.index = 0,
                             .outcome = "ok",
                             .http_status = 200,
                             .cold_start = -1,
                             .invocation_count = -1};
    CHECK_INT(store_results_insert(store, 1, "agent-1", &stored, 1), 0);

    //  The new process settles it before it hears any agent.
    ctl_server_config_t config = {.listen = "tcp://127.0.0.1:*",
                                  .db_path = db_path,
                                  .heartbeat_ms = 50,
                                  .expire_ms = 2000};
    ctl_server_t *server = ctl_server_new(&config, err, sizeof err);
    CHECK_NOT_NULL(server);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_STR(summary.status, "failed");
    CHECK_INT(summary.recorded, 1);
    CHECK_INT(summary.lost, 5);
    json_t *run = store_run_json(store, 1, false);
    CHECK_STR(json_string_value(json_object_get(run, "error")),
              "controller restarted during the run");
    int64_t finished = json_integer_value(json_object_get(run, "finished_ns"));
    CHECK_TRUE(finished > t0);
    json_decref(run);
    json_t *row = s_row(store, 1, 2);
    CHECK_STR(json_string_value(json_object_get(row, "outcome")), "lost");
    CHECK_STR(json_string_value(json_object_get(row, "agent_id")), "agent-1");
    CHECK_STR(json_string_value(json_object_get(row, "error")),
              CTL_SERVER_RESTART_REASON);
    json_decref(row);
    //  It is not this process's run: none is active, none was driven.
    json_t *status = s_ask(server, "{\"action\":\"status\"}");
    CHECK_TRUE(json_is_null(json_object_get(status, "active_run")));
    CHECK_TRUE(json_is_null(json_object_get(status, "last_run")));
    json_decref(status);

    //  agent-1 resends its batch 2 (indices 1 and 2): stored with the
    //  share's clock offset, lost rows replaced, then acknowledged.
    s_fake_t one;
    s_fake_connect(&one, "agent-1", ctl_server_endpoint(server), NULL, NULL);
    s_wait_status(server, "agents", 1, &one);
    s_fake_batch(&one, 1, 2, 1, 2);
    proto_envelope_t *ack = s_fake_expect(&one, "ack");
    CHECK_INT(ack->ack->run_id, 1);
    CHECK_INT(ack->ack->seq, 2);
    proto_envelope_destroy(&ack);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_STR(summary.status, "failed");
    CHECK_INT(summary.recorded, 3);
    CHECK_INT(summary.lost, 3);
    CHECK_INT(summary.ok, 2);
    CHECK_INT(summary.throttled, 1);
    row = s_row(store, 1, 1);
    CHECK_STR(json_string_value(json_object_get(row, "outcome")), "throttled");
    CHECK_STR(json_string_value(json_object_get(row, "agent_id")), "agent-1");
    CHECK_INT(json_integer_value(json_object_get(row, "sent_ns")), 5000001 - 2000000);
    CHECK_INT(json_integer_value(json_object_get(row, "done_ns")), 9000001 - 2000000);
    CHECK_TRUE(json_is_null(json_object_get(row, "error")));
    json_decref(row);

    //  An index outside the share (3 is agent-2's): dropped whole, not
    //  acknowledged: the next ack is the one of the resend behind it.
    s_fake_batch(&one, 1, 3, 2, 2);
    s_fake_batch(&one, 1, 2, 1, 2);
    ack = s_fake_expect(&one, "ack");
    CHECK_INT(ack->ack->run_id, 1);
    CHECK_INT(ack->ack->seq, 2);
    proto_envelope_destroy(&ack);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_INT(summary.recorded, 3);
    CHECK_INT(summary.lost, 3);
    row = s_row(store, 1, 3);
    CHECK_STR(json_string_value(json_object_get(row, "outcome")), "lost");
    CHECK_STR(json_string_value(json_object_get(row, "agent_id")), "agent-2");
    json_decref(row);

    //  A run the store does not know: acknowledged, nothing stored. Done of
    //  a run not driven here is not answered (the ack of run 99 comes first).
    s_fake_done(&one, 1, 3, 2);
    s_fake_batch(&one, 99, 1, 0, 1);
    ack = s_fake_expect(&one, "ack");
    CHECK_INT(ack->ack->run_id, 99);
    CHECK_INT(ack->ack->seq, 1);
    proto_envelope_destroy(&ack);
    CHECK_INT(store_summary(store, 99, &summary), -1);
    CHECK_NULL(store_run_json(store, 99, true));

    //  An agent without a share in run 1: acknowledged, nothing stored.
    s_fake_t three;
    s_fake_connect(&three, "agent-3", ctl_server_endpoint(server), NULL, NULL);
    s_wait_status(server, "agents", 2, &one);
    s_fake_batch(&three, 1, 1, 3, 3);
    ack = s_fake_expect(&three, "ack");
    CHECK_INT(ack->ack->run_id, 1);
    CHECK_INT(ack->ack->seq, 1);
    proto_envelope_destroy(&ack);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_INT(summary.recorded, 3);
    CHECK_INT(summary.lost, 3);

    //  agent-2 hands over its whole share: nothing is lost any more; the
    //  run stays failed with the restart as its reason.
    s_fake_t two;
    s_fake_connect(&two, "agent-2", ctl_server_endpoint(server), NULL, NULL);
    s_wait_status(server, "agents", 3, &one);
    s_fake_batch(&two, 1, 1, 3, 3);
    ack = s_fake_expect(&two, "ack");
    CHECK_INT(ack->ack->seq, 1);
    proto_envelope_destroy(&ack);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_STR(summary.status, "failed");
    CHECK_INT(summary.recorded, 6);
    CHECK_INT(summary.lost, 0);
    CHECK_INT(summary.ok, 3);
    CHECK_INT(summary.throttled, 3);
    row = s_row(store, 1, 4);
    CHECK_INT(json_integer_value(json_object_get(row, "sent_ns")), 5000004);
    json_decref(row);
    ctl_server_destroy(&server);

    //  A second restart finds nothing left to settle.
    server = ctl_server_new(&config, err, sizeof err);
    CHECK_NOT_NULL(server);
    run = store_run_json(store, 1, false);
    CHECK_STR(json_string_value(json_object_get(run, "status")), "failed");
    CHECK_INT(json_integer_value(json_object_get(run, "finished_ns")), finished);
    json_decref(run);
    ctl_server_destroy(&server);
    zsock_destroy(&one.dealer);
    zsock_destroy(&two.dealer);
    zsock_destroy(&three.dealer);
    store_destroy(&store);
}

void
ctl_server_test(bool verbose)
{
    char dir[] = "/tmp/ctl_server_test-XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char db_path[128];
    snprintf(db_path, sizeof db_path, "%s/stampede.db", dir);
    s_test_plain(db_path);
    s_test_curve(db_path, dir);
    char restart_path[128];
    snprintf(restart_path, sizeof restart_path, "%s/restart.db", dir);
    s_test_restart(restart_path);
    char path[160];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s%s", restart_path, suffixes[i]);
        unlink(path);
    }
    CHECK_INT(rmdir(dir), 0);
    if (verbose)
        printf("(server checks done) ");
}
