/*  emu_env — one execution environment; see emu_env.h. */
#define _GNU_SOURCE //  asprintf
#include "emu_env.h"
#include "emu_envlog.h"
#include "emu_envrun.h"
#include "emu_proc.h"
#include "emu_route.h"
#include "emu_rtapi.h"
#include "sp_clock.h"
#include "sp_err.h"

#include <czmq.h>
#include <errno.h>
#include <libgen.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Memory Size when the environment does not say (AWS's default), and
//  the range AWS allows.
#define S_MEMORY_DEFAULT 128
#define S_MEMORY_MIN 128
#define S_MEMORY_MAX 10240

struct _emu_env_t {
    emu_loop_t *loop;                   //  borrowed
    emu_env_spec_t spec;                //  borrowed strings
    const emu_env_events_t *events;     //  the owner's
    void *events_arg;                   //  their argument
    char name[EMU_ROUTE_NAME_MAX + 16]; //  "NAME#serial"
    size_t tag;                         //  owner's
    emu_env_state_t state;              //  see the lifecycle in emu_env.h
    emu_rtapi_t *rtapi;                 //  its Runtime API endpoint
    emu_envlog_t *log;                  //  its output and the invocation's log
    emu_proc_t *proc;                   //  the runtime
    emu_envrun_t *run;                  //  the invocation it serves
    emu_timer_t *init_timer;            //  init limit
    int64_t init_ns;                    //  spawn to first /next
    uint64_t invocations;               //  delivered so far
    unsigned memory_mb;                 //  AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    const char *version;                //  AWS_LAMBDA_FUNCTION_VERSION, or $LATEST
    char death[96];                     //  why it died, for our log
};

static const char *
s_spec_value(const emu_env_spec_t *spec, const char *key)
{
    return emu_proc_env_value(spec->env, spec->env_count, key);
}

static unsigned
s_memory_mb(const emu_env_spec_t *spec)
{
    const char *text = s_spec_value(spec, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    if (!text || *text < '0' || *text > '9')
        return S_MEMORY_DEFAULT;
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || value < S_MEMORY_MIN || value > S_MEMORY_MAX)
        return S_MEMORY_DEFAULT;
    return (unsigned)value;
}

//  Kills the whole process group and marks the environment dying: from
//  now on the Runtime API refuses every call; the process's exit follows.
static void
s_kill(emu_env_t *self, const char *why)
{
    if (self->state == EMU_ENV_DYING || self->state == EMU_ENV_GONE)
        return;
    snprintf(self->death, sizeof self->death, "%s", why);
    self->state = EMU_ENV_DYING;
    emu_loop_timer_cancel(self->loop, &self->init_timer);
    emu_rtapi_refuse(self->rtapi);
    emu_proc_kill(self->proc);
}

//  The invocation's deadline passed (it is handed back).
static void
s_deadline_expired(void *arg)
{
    s_kill(arg, "invocation timed out");
}

static void
s_init_expired(emu_loop_t *loop, void *arg)
{
    emu_env_t *self = arg;
    self->init_timer = NULL;
    emu_envrun_init_timed_out(self->run, self->spec.init_timeout_ns,
                              emu_proc_spawned_ns(self->proc));
    s_kill(self, "init timed out");
}

static void
s_exited(emu_proc_t *proc, int status, int wait_errno, void *arg)
{
    emu_env_t *self = arg;
    //  Keep what it said last.
    emu_envlog_drain(self->log);
    if (wait_errno)
        snprintf(self->death, sizeof self->death, "waitpid: %s", strerror(wait_errno));
    else {
        char how[64];
        emu_proc_describe(status, how, sizeof how);
        int pid = (int)emu_proc_pid(proc);
        if (self->state == EMU_ENV_DYING)
            zsys_info("environment stopped function=%s env=%s pid=%d reason=\"%s\"",
                      self->spec.function, self->name, pid, self->death);
        else
            zsys_warning("environment exited function=%s env=%s pid=%d how=\"%s\"",
                         self->spec.function, self->name, pid, how);
        bool init = !emu_envrun_delivered(self->run) && self->init_ns == 0;
        emu_envrun_exited(self->run, how, init, emu_proc_spawned_ns(proc));
    }
    emu_loop_timer_cancel(self->loop, &self->init_timer);
    emu_envlog_report_dropped(self->log);
    self->state = EMU_ENV_GONE;
    emu_rtapi_refuse(self->rtapi);
    self->events->gone(self, self->events_arg);
}

//  --- Runtime API calls --------------------------------------------------

//  True when an invocation waits for its event to go out.
static bool
s_waiting(emu_env_t *self)
{
    return emu_envrun_invocation(self->run) && !emu_envrun_delivered(self->run);
}

//  Answers /next with the assigned invocation's event.
static int
s_deliver(emu_env_t *self, emu_rtapi_call_t *call)
{
    emu_invocation_t *inv = emu_envrun_invocation(self->run);
    self->state = EMU_ENV_RUNNING;
    self->invocations++;
    int64_t deadline_ms = emu_envrun_deliver(self->run, self->init_ns);
    int rc = emu_rtapi_deliver(call, inv, self->spec.function, deadline_ms);
    if (self->spec.verbose)
        zsys_debug("invocation delivered env=%s request_id=%s", self->name,
                   emu_invocation_request_id(inv));
    return rc;
}

static int
s_next(emu_rtapi_call_t *call, bool woken, void *arg)
{
    emu_env_t *self = arg;
    if (woken) {
        //  Work arrived (or it went away again before this ran).
        if (s_waiting(self))
            return s_deliver(self, call);
        return emu_rtapi_park(call);
    }
    if (self->state == EMU_ENV_RUNNING) {
        char message[256];
        snprintf(message, sizeof message,
                 "invocation %s is in progress; post its response or error first",
                 emu_invocation_request_id(emu_envrun_invocation(self->run)));
        return emu_rtapi_error(call, 403, "InvalidStateTransition", message);
    }
    if (self->state == EMU_ENV_STARTING) {
        self->init_ns = sp_clock_mono_ns() - emu_proc_spawned_ns(self->proc);
        emu_loop_timer_cancel(self->loop, &self->init_timer);
        zsys_info("environment ready function=%s env=%s init_ms=%.1f",
                  self->spec.function, self->name, (double)self->init_ns / SP_NS_PER_MS);
    }
    if (s_waiting(self))
        return s_deliver(self, call);
    //  Nothing to do: park the long-poll.
    int rc = emu_rtapi_park(call);
    bool was_idle = self->state == EMU_ENV_IDLE;
    self->state = EMU_ENV_IDLE;
    if (!was_idle)
        self->events->idle(self, self->events_arg);
    return rc;
}

//  POST .../invocation/ID/response and .../ID/error.
static int
s_result(emu_rtapi_call_t *call, const emu_rtapi_request_t *request, void *arg)
{
    emu_env_t *self = arg;
    emu_invocation_t *inv = emu_envrun_invocation(self->run);
    if (self->state != EMU_ENV_RUNNING || !inv)
        return emu_rtapi_error(call, 403, "InvalidStateTransition",
                               "no invocation in progress");
    if (strcmp(request->request_id, emu_invocation_request_id(inv)) != 0) {
        char message[EMU_ROUTE_ID_MAX + 64];
        snprintf(message, sizeof message, "invalid request id %s", request->request_id);
        return emu_rtapi_error(call, 400, "InvalidRequestID", message);
    }
    self->state = EMU_ENV_FINISHING;
    emu_envrun_finish(self->run, request);
    if (request->too_large) {
        char message[64];
        snprintf(message, sizeof message, "payload over %d bytes", EMU_LIMIT_PAYLOAD_MAX);
        return emu_rtapi_error(call, 413, "RequestEntityTooLarge", message);
    }
    return emu_rtapi_accept(call);
}

static int
s_init_error(emu_rtapi_call_t *call, const emu_rtapi_request_t *request, void *arg)
{
    emu_env_t *self = arg;
    if (self->state != EMU_ENV_STARTING)
        return emu_rtapi_error(call, 403, "InvalidStateTransition",
                               "init already finished");
    zsys_warning("environment init failed function=%s env=%s", self->spec.function,
                 self->name);
    emu_envrun_init_failed(self->run, request, emu_proc_spawned_ns(self->proc));
    int rc = emu_rtapi_accept(call);
    s_kill(self, "init error");
    return rc;
}

static const emu_rtapi_events_t s_rtapi_events = {
    .next = s_next, .result = s_result, .init_error = s_init_error};

//  --- the environment ----------------------------------------------------

emu_env_t *
emu_env_new(emu_loop_t *loop, const emu_env_spec_t *spec, unsigned serial, size_t tag,
            const emu_env_events_t *events, void *arg, char *err, size_t err_size)
{
    assert(loop && spec && spec->function && spec->path && events && events->idle &&
           events->gone);
    emu_env_t *self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->spec = *spec;
    self->events = events;
    self->events_arg = arg;
    self->tag = tag;
    self->state = EMU_ENV_STARTING;
    snprintf(self->name, sizeof self->name, "%s#%u", spec->function, serial);
    self->memory_mb = s_memory_mb(spec);
    const char *version = s_spec_value(spec, "AWS_LAMBDA_FUNCTION_VERSION");
    self->version = version && *version ? version : "$LATEST";

    self->rtapi = emu_rtapi_new(loop, self->name, &s_rtapi_events, self, err, err_size);
    if (!self->rtapi)
        goto fail;
    self->log = emu_envlog_new(loop, self->name, self->version);
    if (!self->log) {
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    emu_proc_spec_t proc_spec = {
        .path = spec->path,
        .env = spec->env,
        .env_count = spec->env_count,
        .runtime_api = emu_rtapi_port(self->rtapi),
        .version = self->version,
    };
    int output_fd = -1;
    self->proc =
        emu_proc_new(loop, &proc_spec, s_exited, self, &output_fd, err, err_size);
    if (!self->proc)
        goto fail;
    if (emu_envlog_watch(self->log, output_fd)) {
        sp_err_set(err, err_size, "cannot watch the process");
        goto fail;
    }
    emu_envrun_spec_t run_spec = {.function = spec->function,
                                  .name = self->name,
                                  .timeout_ns = spec->timeout_ns,
                                  .memory_mb = self->memory_mb,
                                  .verbose = spec->verbose};
    self->run =
        emu_envrun_new(loop, &run_spec, self->log, self->proc, s_deadline_expired, self);
    self->init_timer =
        emu_loop_timer_start(loop, spec->init_timeout_ns, s_init_expired, self);
    if (!self->run || !self->init_timer) {
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    zsys_info("environment started function=%s env=%s pid=%d runtime_api=127.0.0.1:%u",
              spec->function, self->name, (int)emu_proc_pid(self->proc),
              emu_rtapi_port(self->rtapi));
    return self;
fail:
    emu_env_destroy(&self);
    return NULL;
}

void
emu_env_destroy(emu_env_t **self_p)
{
    assert(self_p);
    emu_env_t *self = *self_p;
    if (!self)
        return;
    if (self->rtapi)
        emu_rtapi_refuse(self->rtapi);
    emu_loop_timer_cancel(self->loop, &self->init_timer);
    emu_envrun_destroy(&self->run);
    emu_proc_destroy(&self->proc);
    emu_envlog_destroy(&self->log);
    emu_rtapi_destroy(&self->rtapi);
    free(self);
    *self_p = NULL;
}

void
emu_env_assign(emu_env_t *self, emu_invocation_t *invocation)
{
    assert(self && invocation && !emu_envrun_invocation(self->run));
    assert(self->state == EMU_ENV_STARTING || self->state == EMU_ENV_IDLE);
    emu_envrun_assign(self->run, invocation, self->state == EMU_ENV_STARTING);
    emu_rtapi_wake(self->rtapi);
}

emu_env_state_t
emu_env_state(emu_env_t *self)
{
    assert(self);
    return self->state;
}

const char *
emu_env_name(emu_env_t *self)
{
    assert(self);
    return self->name;
}

size_t
emu_env_tag(emu_env_t *self)
{
    assert(self);
    return self->tag;
}

pid_t
emu_env_pid(emu_env_t *self)
{
    assert(self);
    return emu_proc_pid(self->proc);
}

uint16_t
emu_env_port(emu_env_t *self)
{
    assert(self);
    return emu_rtapi_port(self->rtapi);
}

int64_t
emu_env_init_ns(emu_env_t *self)
{
    assert(self);
    return self->init_ns;
}

uint64_t
emu_env_invocations(emu_env_t *self)
{
    assert(self);
    return self->invocations;
}

uint64_t
emu_env_output_lines(emu_env_t *self)
{
    assert(self);
    return emu_envlog_lines(self->log);
}

uint64_t
emu_env_output_dropped(emu_env_t *self)
{
    assert(self);
    return emu_envlog_lines_dropped(self->log);
}

unsigned
emu_env_memory_mb(emu_env_t *self)
{
    assert(self);
    return self->memory_mb;
}
