/*  emu_env — one execution environment; see emu_env.h. */
#define _GNU_SOURCE //  pipe2, posix_spawn_file_actions_addchdir_np
#include "emu_env.h"
#include "emu_furl.h"
#include "emu_listener.h"
#include "emu_route.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_BACKLOG 16
#define S_CONNECTIONS 16

//  One Runtime API request in progress.
typedef struct {
    emu_env_t *env;
    emu_route_rt_t route;
    char *body; //  request body, capped at EMU_ENV_BODY_MAX
    size_t body_len;
    size_t body_cap;
    bool too_large;  //  the body went over the cap
    bool parked;     //  suspended as the /next long-poll
    bool superseded; //  parked, then replaced by a newer /next
} s_call_t;

struct _emu_env_t {
    emu_loop_t *loop;    //  borrowed
    emu_env_spec_t spec; //  borrowed strings
    const emu_env_events_t *events;
    void *events_arg;
    char name[EMU_ROUTE_NAME_MAX + 16]; //  "NAME#serial"
    size_t tag;                         //  owner's
    emu_env_state_t state;
    pid_t pid;                       //  the runtime, leader of its process group
    bool reaped;                     //  waited for
    int pidfd;                       //  readable when the process exits
    int out_fd;                      //  read end of its stdout+stderr pipe
    char line[EMU_ENV_LINE_MAX + 1]; //  partial output line
    size_t line_len;
    bool line_cut;                          //  dropping the rest of an overlong line
    uint16_t port;                          //  Runtime API endpoint port
    struct MHD_Daemon *daemon;              //  Runtime API endpoint
    emu_loop_mhd_t *source;                 //  the daemon in the loop
    bool closing;                           //  being destroyed: refuse every call
    s_call_t *next_call;                    //  the parked /next while suspended
    struct MHD_Connection *next_connection; //  its connection
    emu_invocation_t *invocation;           //  borrowed while served
    bool delivered;                         //  its event went out on /next
    emu_timer_t *init_timer;                //  init limit
    emu_timer_t *deadline_timer;            //  invocation timeout
    int64_t spawned_ns;                     //  CLOCK_MONOTONIC at spawn
    int64_t init_ns;                        //  spawn to first /next
    uint64_t invocations;                   //  delivered so far
    char death[96];                         //  why it died, for the invocation error
};

//  --- helpers ------------------------------------------------------------

static void s_log_mhd(void *cls, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));

static void
s_log_mhd(void *cls, const char *format, va_list args)
{
    emu_env_t *self = cls;
    char text[256];
    vsnprintf(text, sizeof text, format, args);
    text[strcspn(text, "\n")] = '\0';
    zsys_warning("runtime api: %s env=%s", text, self->name);
}

//  Queues a JSON {"errorMessage", "errorType"} answer.
static enum MHD_Result
s_queue_error(struct MHD_Connection *connection, unsigned status, const char *type,
              const char *message)
{
    json_t *doc = json_pack("{s:s, s:s}", "errorMessage", message, "errorType", type);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!text)
        return MHD_NO;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(response, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return rc;
}

static enum MHD_Result
s_queue_accepted(struct MHD_Connection *connection)
{
    static const char body[] = "{\"status\":\"OK\"}";
    struct MHD_Response *response = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(connection, 202, response);
    MHD_destroy_response(response);
    return rc;
}

//  Sends SIGKILL to the whole process group (the runtime and anything it
//  started) and marks the environment dying; the pidfd reports the exit.
static void
s_kill(emu_env_t *self, const char *why)
{
    if (self->state == EMU_ENV_DYING || self->state == EMU_ENV_GONE)
        return;
    snprintf(self->death, sizeof self->death, "%s", why);
    self->state = EMU_ENV_DYING;
    emu_loop_timer_cancel(self->loop, &self->init_timer);
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    if (!self->reaped)
        kill(-self->pid, SIGKILL);
}

//  Wakes the parked /next, if any; from then on it is no longer ours to
//  resume (MHD forbids resuming twice).
static void
s_wake_next(emu_env_t *self)
{
    if (!self->next_connection)
        return;
    MHD_resume_connection(self->next_connection);
    self->next_call = NULL;
    self->next_connection = NULL;
    if (self->source)
        emu_loop_mhd_kick(self->loop, self->source);
}

//  Parks `call` as the /next long-poll.
static void
s_park(emu_env_t *self, struct MHD_Connection *connection, s_call_t *call)
{
    call->parked = true;
    self->next_call = call;
    self->next_connection = connection;
    MHD_suspend_connection(connection);
}

//  Hands the invocation back as a failure.
static void
s_fail(emu_env_t *self, emu_invocation_outcome_t outcome, const char *type,
       const char *message)
{
    if (!self->invocation)
        return;
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    zsys_info("invocation failed function=%s env=%s request_id=%s outcome=%s type=%s",
              self->spec.function, self->name,
              emu_invocation_request_id(self->invocation),
              emu_invocation_outcome_name(outcome), type);
    emu_invocation_fail(&self->invocation, outcome, type, message);
}

//  --- the child's output -------------------------------------------------

static void
s_emit_line(emu_env_t *self, bool cut)
{
    self->line[self->line_len] = '\0';
    zsys_info("function output env=%s%s | %s", self->name, cut ? " truncated=1" : "",
              self->line);
    self->line_len = 0;
}

static void
s_output(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    emu_env_t *self = arg;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (self->line_len > 0)
            s_emit_line(self, false);
        emu_loop_unwatch(loop, fd);
        close(fd);
        self->out_fd = -1;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\n') {
            if (self->line_cut)
                self->line_cut = false;
            else
                s_emit_line(self, false);
            continue;
        }
        if (self->line_cut)
            continue;
        if (self->line_len == EMU_ENV_LINE_MAX) {
            s_emit_line(self, true);
            self->line_cut = true;
            continue;
        }
        self->line[self->line_len++] = c == '\r' ? ' ' : c;
    }
}

//  --- process exit -------------------------------------------------------

static void
s_reaped(emu_env_t *self, int status)
{
    self->reaped = true;
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "signal: %s", strsignal(WTERMSIG(status)));
    else
        snprintf(how, sizeof how, "status %d", status);
    bool expected = self->state == EMU_ENV_DYING;
    if (expected)
        zsys_info("environment stopped function=%s env=%s pid=%d reason=\"%s\"",
                  self->spec.function, self->name, (int)self->pid, self->death);
    else
        zsys_warning("environment exited function=%s env=%s pid=%d how=\"%s\"",
                     self->spec.function, self->name, (int)self->pid, how);
    if (self->invocation) {
        char message[256];
        snprintf(message, sizeof message,
                 "RequestId: %s Error: Runtime exited with error: %s",
                 emu_invocation_request_id(self->invocation), how);
        bool init = !self->delivered && self->init_ns == 0;
        s_fail(self, init ? EMU_INVOCATION_INIT_ERROR : EMU_INVOCATION_EXIT,
               "Runtime.ExitError", message);
    }
}

static void
s_exited(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    emu_env_t *self = arg;
    int status = 0;
    pid_t pid = waitpid(self->pid, &status, WNOHANG);
    if (pid == 0)
        return;
    emu_loop_unwatch(loop, self->pidfd);
    close(self->pidfd);
    self->pidfd = -1;
    //  Keep what it said last.
    if (self->out_fd >= 0)
        s_output(loop, self->out_fd, EPOLLIN, self);
    if (pid < 0) {
        self->reaped = true;
        snprintf(self->death, sizeof self->death, "waitpid: %s", strerror(errno));
    } else
        s_reaped(self, status);
    kill(-self->pid, SIGKILL); //  whatever it left behind in its group
    emu_loop_timer_cancel(loop, &self->init_timer);
    emu_loop_timer_cancel(loop, &self->deadline_timer);
    self->state = EMU_ENV_GONE;
    self->events->gone(self, self->events_arg);
}

//  --- timers -------------------------------------------------------------

static void
s_init_expired(emu_loop_t *loop, void *arg)
{
    emu_env_t *self = arg;
    self->init_timer = NULL;
    char message[256];
    snprintf(message, sizeof message,
             "RequestId: %s Error: Init timed out after %.2f seconds",
             self->invocation ? emu_invocation_request_id(self->invocation) : "-",
             (double)self->spec.init_timeout_ns / SP_NS_PER_S);
    s_fail(self, EMU_INVOCATION_INIT_ERROR, "Sandbox.Timedout", message);
    s_kill(self, "init timed out");
}

static void
s_deadline_expired(emu_loop_t *loop, void *arg)
{
    emu_env_t *self = arg;
    self->deadline_timer = NULL;
    char message[256];
    snprintf(message, sizeof message,
             "RequestId: %s Error: Task timed out after %.2f seconds",
             self->invocation ? emu_invocation_request_id(self->invocation) : "-",
             (double)self->spec.timeout_ns / SP_NS_PER_S);
    s_fail(self, EMU_INVOCATION_TIMEOUT, "Sandbox.Timedout", message);
    s_kill(self, "invocation timed out");
}

//  --- Runtime API --------------------------------------------------------

//  Answers /next with the assigned invocation's event.
static enum MHD_Result
s_deliver(emu_env_t *self, struct MHD_Connection *connection)
{
    emu_invocation_t *inv = self->invocation;
    size_t len = 0;
    const char *event = emu_invocation_event(inv, &len);
    const char *id = emu_invocation_request_id(inv);
    self->delivered = true;
    self->state = EMU_ENV_RUNNING;
    self->invocations++;
    emu_invocation_set_environment(inv, self->name, self->invocations == 1,
                                   self->init_ns);

    int64_t deadline_ms = (sp_clock_wall_ns() + self->spec.timeout_ns) / SP_NS_PER_MS;
    char deadline[32], arn[160], trace[128], hex[40] = "";
    snprintf(deadline, sizeof deadline, "%lld", (long long)deadline_ms);
    snprintf(arn, sizeof arn, "arn:aws:lambda:%s:%s:function:%s", EMU_FURL_REGION,
             EMU_FURL_ACCOUNT_ID, self->spec.function);
    size_t h = 0;
    for (const char *p = id; *p && h < 32; p++)
        if (*p != '-')
            hex[h++] = *p;
    hex[h] = '\0';
    snprintf(trace, sizeof trace, "Root=1-%08llx-%.24s;Parent=%.16s;Sampled=0",
             (unsigned long long)(deadline_ms / 1000), hex, h > 16 ? hex + h - 16 : hex);
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    self->deadline_timer =
        emu_loop_timer_start(self->loop, self->spec.timeout_ns, s_deadline_expired, self);
    assert(self->deadline_timer);

    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, (void *)event, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", "application/json");
    MHD_add_response_header(response, "Lambda-Runtime-Aws-Request-Id", id);
    MHD_add_response_header(response, "Lambda-Runtime-Deadline-Ms", deadline);
    MHD_add_response_header(response, "Lambda-Runtime-Invoked-Function-Arn", arn);
    MHD_add_response_header(response, "Lambda-Runtime-Trace-Id", trace);
    enum MHD_Result rc = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    if (self->spec.verbose)
        zsys_debug("invocation delivered env=%s request_id=%s", self->name, id);
    return rc;
}

static enum MHD_Result
s_next(emu_env_t *self, struct MHD_Connection *connection, s_call_t *call)
{
    if (call->parked) {
        //  Woken: work arrived, or a newer /next replaced this one.
        call->parked = false;
        if (call->superseded)
            return s_queue_error(connection, 409, "InvalidStateTransition",
                                 "replaced by a newer /next");
        if (self->invocation && !self->delivered)
            return s_deliver(self, connection);
        s_park(self, connection, call);
        return MHD_YES;
    }
    if (self->state == EMU_ENV_RUNNING) {
        char message[256];
        snprintf(message, sizeof message,
                 "invocation %s is in progress; post its response or error first",
                 emu_invocation_request_id(self->invocation));
        return s_queue_error(connection, 403, "InvalidStateTransition", message);
    }
    if (self->state == EMU_ENV_STARTING) {
        self->init_ns = sp_clock_mono_ns() - self->spawned_ns;
        emu_loop_timer_cancel(self->loop, &self->init_timer);
        zsys_info("environment ready function=%s env=%s init_ms=%.1f",
                  self->spec.function, self->name, (double)self->init_ns / SP_NS_PER_MS);
    }
    if (self->invocation && !self->delivered)
        return s_deliver(self, connection);

    //  Nothing to do: park the long-poll. A /next still parked (its
    //  connection lost on the runtime's side) is replaced.
    if (self->next_call) {
        self->next_call->superseded = true;
        s_wake_next(self);
    }
    s_park(self, connection, call);
    bool was_idle = self->state == EMU_ENV_IDLE;
    self->state = EMU_ENV_IDLE;
    if (!was_idle)
        self->events->idle(self, self->events_arg);
    return MHD_YES;
}

//  POST .../invocation/ID/response and .../ID/error.
static enum MHD_Result
s_result(emu_env_t *self, struct MHD_Connection *connection, s_call_t *call)
{
    if (self->state != EMU_ENV_RUNNING || !self->invocation)
        return s_queue_error(connection, 403, "InvalidStateTransition",
                             "no invocation in progress");
    const char *id = emu_invocation_request_id(self->invocation);
    if (strcmp(call->route.request_id, id) != 0) {
        char message[EMU_ROUTE_ID_MAX + 64];
        snprintf(message, sizeof message, "invalid request id %s",
                 call->route.request_id);
        return s_queue_error(connection, 400, "InvalidRequestID", message);
    }
    self->state = EMU_ENV_FINISHING;
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    if (call->too_large) {
        s_fail(self, EMU_INVOCATION_TOO_LARGE, "Function.ResponseSizeTooLarge",
               "Response payload size exceeded maximum allowed payload size (6291456 "
               "bytes).");
        return s_queue_error(connection, 413, "RequestEntityTooLarge",
                             "payload over 6291456 bytes");
    }
    const char *body = call->body ? call->body : "";
    if (call->route.call == EMU_ROUTE_RT_RESPONSE) {
        if (self->spec.verbose)
            zsys_debug("invocation done env=%s request_id=%s", self->name, id);
        emu_invocation_complete(&self->invocation, EMU_INVOCATION_OK, body,
                                call->body_len);
        return s_queue_accepted(connection);
    }
    //  An error: the runtime's payload, or one made from its error type.
    json_t *doc = call->body_len > 0 ? json_loadb(body, call->body_len, 0, NULL) : NULL;
    bool object = json_is_object(doc);
    json_decref(doc);
    if (object) {
        zsys_info(
            "invocation failed function=%s env=%s request_id=%s outcome=function_error",
            self->spec.function, self->name, id);
        emu_invocation_complete(&self->invocation, EMU_INVOCATION_FUNCTION_ERROR, body,
                                call->body_len);
    } else {
        const char *type = MHD_lookup_connection_value(
            connection, MHD_HEADER_KIND, "Lambda-Runtime-Function-Error-Type");
        char safe_type[128];
        snprintf(safe_type, sizeof safe_type, "%s", type ? type : "Unhandled");
        s_fail(self, EMU_INVOCATION_FUNCTION_ERROR, safe_type,
               "the function reported an error");
    }
    return s_queue_accepted(connection);
}

static enum MHD_Result
s_init_error(emu_env_t *self, struct MHD_Connection *connection, s_call_t *call)
{
    if (self->state != EMU_ENV_STARTING)
        return s_queue_error(connection, 403, "InvalidStateTransition",
                             "init already finished");
    zsys_warning("environment init failed function=%s env=%s", self->spec.function,
                 self->name);
    json_t *doc =
        call->body_len > 0 ? json_loadb(call->body, call->body_len, 0, NULL) : NULL;
    bool object = json_is_object(doc);
    json_decref(doc);
    if (self->invocation && object) {
        emu_loop_timer_cancel(self->loop, &self->deadline_timer);
        emu_invocation_complete(&self->invocation, EMU_INVOCATION_INIT_ERROR, call->body,
                                call->body_len);
    } else
        s_fail(self, EMU_INVOCATION_INIT_ERROR, "Runtime.InitError", "init failed");
    enum MHD_Result rc = s_queue_accepted(connection);
    s_kill(self, "init error");
    return rc;
}

static enum MHD_Result
s_handle(void *cls, struct MHD_Connection *connection, const char *url,
         const char *method, const char *version, const char *upload_data,
         size_t *upload_data_size, void **req_cls)
{
    emu_env_t *self = cls;
    s_call_t *call = *req_cls;
    if (!call) {
        call = calloc(1, sizeof *call);
        if (!call)
            return MHD_NO;
        call->env = self;
        emu_route_parse_runtime(method, url, &call->route);
        *req_cls = call;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t len = *upload_data_size;
        *upload_data_size = 0;
        if (call->too_large || call->body_len + len > EMU_ENV_BODY_MAX) {
            call->too_large = true;
            return MHD_YES;
        }
        if (call->body_len + len + 1 > call->body_cap) {
            size_t cap = call->body_cap ? call->body_cap : 4096;
            while (cap < call->body_len + len + 1)
                cap *= 2;
            char *grown = realloc(call->body, cap);
            if (!grown)
                return MHD_NO;
            call->body = grown;
            call->body_cap = cap;
        }
        memcpy(call->body + call->body_len, upload_data, len);
        call->body_len += len;
        call->body[call->body_len] = '\0';
        return MHD_YES;
    }
    //  The environment is going away: the Runtime API's "container
    //  error, non-recoverable" answer tells a runtime to exit.
    if (self->closing || self->state == EMU_ENV_DYING || self->state == EMU_ENV_GONE)
        return s_queue_error(connection, 500, "Runtime.Shutdown",
                             "the execution environment is shutting down");
    switch (call->route.call) {
    case EMU_ROUTE_RT_NEXT:
        return s_next(self, connection, call);
    case EMU_ROUTE_RT_RESPONSE:
    case EMU_ROUTE_RT_ERROR:
        return s_result(self, connection, call);
    case EMU_ROUTE_RT_INIT_ERROR:
        return s_init_error(self, connection, call);
    case EMU_ROUTE_RT_BAD_METHOD:
        return s_queue_error(connection, 405, "MethodNotAllowed", "method not allowed");
    case EMU_ROUTE_RT_NOT_FOUND:
        break;
    }
    return s_queue_error(connection, 404, "NotFound", "no such Runtime API resource");
}

static void
s_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
            enum MHD_RequestTerminationCode toe)
{
    emu_env_t *self = cls;
    s_call_t *call = *req_cls;
    if (!call)
        return;
    if (self->next_call == call) {
        self->next_call = NULL;
        self->next_connection = NULL;
    }
    free(call->body);
    free(call);
    *req_cls = NULL;
}

//  --- spawning -----------------------------------------------------------

static bool
s_has_key(const emu_env_spec_t *spec, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i < spec->env_count; i++)
        if (strncmp(spec->env[i], key, len) == 0 && spec->env[i][len] == '=')
            return true;
    return false;
}

static int
s_spawn(emu_env_t *self, char *err, size_t err_size)
{
    int result = -1;
    int pipe_fds[2] = {-1, -1};
    char api[64], stream[128];
    snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", self->port);
    char day[16], id[EMU_INVOCATION_ID_SIZE], hex[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y/%m/%d", &tm);
    emu_invocation_new_id(id);
    size_t h = 0;
    for (const char *p = id; *p; p++)
        if (*p != '-')
            hex[h++] = *p;
    hex[h] = '\0';
    snprintf(stream, sizeof stream, "AWS_LAMBDA_LOG_STREAM_NAME=%s/[$LATEST]%s", day,
             hex);

    const char **envp = calloc(self->spec.env_count + 3, sizeof *envp);
    char *task_root = strdup(self->spec.path);
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    bool have_actions = false, have_attr = false;
    if (!envp || !task_root) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < self->spec.env_count; i++)
        envp[n++] = self->spec.env[i];
    envp[n++] = api;
    if (!s_has_key(&self->spec, "AWS_LAMBDA_LOG_STREAM_NAME"))
        envp[n++] = stream;
    envp[n] = NULL;

    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        snprintf(err, err_size, "pipe: %s", strerror(errno));
        goto out;
    }
    fcntl(pipe_fds[0], F_SETFL, fcntl(pipe_fds[0], F_GETFL) | O_NONBLOCK);
    have_actions = posix_spawn_file_actions_init(&actions) == 0;
    have_attr = posix_spawnattr_init(&attr) == 0;
    if (!have_actions || !have_attr) {
        snprintf(err, err_size, "posix_spawn setup failed");
        goto out;
    }
    //  stdin from /dev/null, stdout and stderr into our pipe, cwd
    //  LAMBDA_TASK_ROOT, its own process group, default signals.
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    rc = rc ? rc : posix_spawn_file_actions_addchdir_np(&actions, dirname(task_root));
    rc = rc ? rc
            : posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                                  POSIX_SPAWN_SETSIGMASK |
                                                  POSIX_SPAWN_SETSIGDEF);
    rc = rc ? rc : posix_spawnattr_setpgroup(&attr, 0);
    rc = rc ? rc : posix_spawnattr_setsigmask(&attr, &none);
    rc = rc ? rc : posix_spawnattr_setsigdefault(&attr, &all);
    if (rc) {
        snprintf(err, err_size, "posix_spawn setup: %s", strerror(rc));
        goto out;
    }
    char *argv[] = {(char *)self->spec.path, NULL};
    rc = posix_spawn(&self->pid, self->spec.path, &actions, &attr, argv, (char **)envp);
    if (rc) {
        snprintf(err, err_size, "cannot start %s: %s", self->spec.path, strerror(rc));
        goto out;
    }
    self->spawned_ns = sp_clock_mono_ns();
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    self->out_fd = pipe_fds[0];
    pipe_fds[0] = -1;
    self->pidfd = (int)syscall(SYS_pidfd_open, self->pid, 0);
    if (self->pidfd < 0) {
        snprintf(err, err_size, "pidfd_open: %s", strerror(errno));
        goto out;
    }
    if (emu_loop_watch(self->loop, self->pidfd, EPOLLIN, s_exited, self) ||
        emu_loop_watch(self->loop, self->out_fd, EPOLLIN, s_output, self)) {
        snprintf(err, err_size, "cannot watch the process");
        goto out;
    }
    result = 0;
out:
    if (have_actions)
        posix_spawn_file_actions_destroy(&actions);
    if (have_attr)
        posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 2; i++)
        if (pipe_fds[i] >= 0)
            close(pipe_fds[i]);
    free(envp);
    free(task_root);
    return result;
}

emu_env_t *
emu_env_new(emu_loop_t *loop, const emu_env_spec_t *spec, unsigned serial, size_t tag,
            const emu_env_events_t *events, void *arg, char *err, size_t err_size)
{
    assert(loop && spec && spec->function && spec->path && events && events->idle &&
           events->gone);
    emu_env_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->spec = *spec;
    self->events = events;
    self->events_arg = arg;
    self->tag = tag;
    self->pidfd = self->out_fd = -1;
    self->pid = -1;
    self->state = EMU_ENV_STARTING;
    snprintf(self->name, sizeof self->name, "%s#%u", spec->function, serial);

    int listen_fd =
        emu_listener_open("127.0.0.1:0", S_BACKLOG, &self->port, err, err_size);
    if (listen_fd < 0)
        goto fail;
    self->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_handle, self, MHD_OPTION_EXTERNAL_LOGGER, s_log_mhd, self,
        MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
        self, MHD_OPTION_CONNECTION_LIMIT, (unsigned)S_CONNECTIONS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_END);
    if (!self->daemon) {
        close(listen_fd);
        snprintf(err, err_size, "cannot start the Runtime API daemon");
        goto fail;
    }
    self->source = emu_loop_mhd_add(loop, self->daemon);
    if (!self->source) {
        snprintf(err, err_size, "cannot drive the Runtime API daemon");
        goto fail;
    }
    if (s_spawn(self, err, err_size))
        goto fail;
    self->init_timer =
        emu_loop_timer_start(loop, spec->init_timeout_ns, s_init_expired, self);
    assert(self->init_timer);
    zsys_info("environment started function=%s env=%s pid=%d runtime_api=127.0.0.1:%u",
              spec->function, self->name, (int)self->pid, self->port);
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
    self->closing = true;
    emu_loop_timer_cancel(self->loop, &self->init_timer);
    emu_loop_timer_cancel(self->loop, &self->deadline_timer);
    if (self->invocation)
        emu_invocation_fail(&self->invocation, EMU_INVOCATION_ABORTED, "ServiceException",
                            "the execution environment was shut down");
    if (self->pid > 0 && !self->reaped) {
        kill(-self->pid, SIGKILL);
        int status;
        while (waitpid(self->pid, &status, 0) < 0 && errno == EINTR) {
        }
        self->reaped = true;
    }
    if (self->pidfd >= 0) {
        emu_loop_unwatch(self->loop, self->pidfd);
        close(self->pidfd);
    }
    if (self->out_fd >= 0) {
        emu_loop_unwatch(self->loop, self->out_fd);
        close(self->out_fd);
    }
    if (self->daemon) {
        //  MHD must not be stopped with suspended connections: wake the
        //  parked /next and let one run close it.
        emu_loop_mhd_remove(self->loop, &self->source);
        s_wake_next(self);
        MHD_run(self->daemon);
        MHD_stop_daemon(self->daemon);
    }
    free(self);
    *self_p = NULL;
}

void
emu_env_assign(emu_env_t *self, emu_invocation_t *invocation)
{
    assert(self && invocation && !self->invocation);
    assert(self->state == EMU_ENV_STARTING || self->state == EMU_ENV_IDLE);
    self->invocation = invocation;
    self->delivered = false;
    s_wake_next(self);
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
    return self->pid;
}

uint16_t
emu_env_port(emu_env_t *self)
{
    assert(self);
    return self->port;
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

//  --- selftest -----------------------------------------------------------

typedef struct {
    emu_loop_t *loop;
    int idles;
    int gones;
    int dones;
    emu_invocation_outcome_t outcome;
    char payload[1024];
    bool stop_on_idle;
    bool stop_on_gone;
} s_test_t;

static void
s_test_idle(emu_env_t *env, void *arg)
{
    s_test_t *test = arg;
    test->idles++;
    if (test->stop_on_idle)
        emu_loop_stop(test->loop);
}

static void
s_test_gone(emu_env_t *env, void *arg)
{
    s_test_t *test = arg;
    test->gones++;
    if (test->stop_on_gone)
        emu_loop_stop(test->loop);
}

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    s_test_t *test = arg;
    test->dones++;
    test->outcome = emu_invocation_outcome(invocation);
    snprintf(test->payload, sizeof test->payload, "%s",
             emu_invocation_payload(invocation, NULL));
}

static void
s_test_expired(emu_loop_t *loop, void *arg)
{
    fprintf(stderr, "emu_env test: timed out waiting\n");
    abort();
}

static const emu_env_events_t s_test_events = {.idle = s_test_idle, .gone = s_test_gone};

//  Runs the loop until a callback stops it (20 s at most).
static void
s_test_run(s_test_t *test)
{
    emu_timer_t *guard =
        emu_loop_timer_start(test->loop, 20 * SP_NS_PER_S, s_test_expired, test);
    CHECK_INT(emu_loop_run(test->loop), 0);
    emu_loop_timer_cancel(test->loop, &guard);
}

static emu_invocation_t *
s_test_invocation(s_test_t *test, const char *id)
{
    char *event = strdup("{\"hello\":1}");
    return emu_invocation_new(id, &event, strlen("{\"hello\":1}"), s_test_done, test);
}

//  A script runtime in a fresh temporary directory.
static char *
s_test_script(const char *text)
{
    char dir[] = "/tmp/emu_env_testXXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char *path = NULL;
    CHECK_TRUE(asprintf(&path, "%s/bootstrap", dir) > 0);
    FILE *file = fopen(path, "w");
    CHECK_NOT_NULL(file);
    fputs(text, file);
    fclose(file);
    CHECK_INT(chmod(path, 0755), 0);
    return path;
}

static void
s_test_remove_script(char *path)
{
    unlink(path);
    rmdir(dirname(path));
    free(path);
}

static bool
s_test_alive(pid_t pid)
{
    return kill(pid, 0) == 0;
}

void
emu_env_test(bool verbose)
{
    s_test_t test = {.loop = emu_loop_new()};
    CHECK_NOT_NULL(test.loop);
    const char *env_ok[] = {"STAMPEDE_HOLD_MS=0", "AWS_LAMBDA_FUNCTION_NAME=demo"};
    emu_env_spec_t spec = {
        .function = "demo",
        .path = EMU_TEST_BOOTSTRAP,
        .env = env_ok,
        .env_count = 2,
        .timeout_ns = 3 * SP_NS_PER_S,
        .init_timeout_ns = EMU_ENV_INIT_TIMEOUT_NS,
        .verbose = verbose,
    };
    char err[256];

    //  The bootstrap: a cold invocation, then a warm one.
    emu_env_t *env =
        emu_env_new(test.loop, &spec, 1, 7, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    CHECK_STR(emu_env_name(env), "demo#1");
    CHECK_INT(emu_env_tag(env), 7);
    CHECK_INT(emu_env_state(env), EMU_ENV_STARTING);
    CHECK_TRUE(emu_env_pid(env) > 0);
    CHECK_TRUE(emu_env_port(env) > 0);
    CHECK_INT(emu_env_init_ns(env), 0);
    emu_invocation_t *inv =
        s_test_invocation(&test, "11111111-1111-4111-8111-111111111111");
    emu_env_assign(env, inv);
    test.stop_on_idle = true;
    s_test_run(&test);
    CHECK_INT(test.dones, 1);
    CHECK_INT(test.idles, 1);
    CHECK_INT(test.outcome, EMU_INVOCATION_OK);
    CHECK_TRUE(strstr(test.payload,
                      "\"request_id\":\"11111111-1111-4111-8111-111111111111\"") != NULL);
    CHECK_TRUE(strstr(test.payload, "\"cold_start\":true") != NULL);
    CHECK_TRUE(emu_invocation_cold(inv));
    CHECK_STR(emu_invocation_environment(inv), "demo#1");
    CHECK_TRUE(emu_env_init_ns(env) > 0);
    CHECK_INT(emu_env_state(env), EMU_ENV_IDLE);
    CHECK_INT(emu_env_invocations(env), 1);
    emu_invocation_destroy(&inv);

    inv = s_test_invocation(&test, "22222222-2222-4222-8222-222222222222");
    emu_env_assign(env, inv);
    s_test_run(&test);
    CHECK_INT(test.dones, 2);
    CHECK_INT(test.outcome, EMU_INVOCATION_OK);
    CHECK_TRUE(strstr(test.payload, "\"cold_start\":false") != NULL);
    CHECK_TRUE(strstr(test.payload, "\"invocation_count\":2") != NULL);
    CHECK_TRUE(!emu_invocation_cold(inv));
    CHECK_INT(emu_env_invocations(env), 2);
    emu_invocation_destroy(&inv);
    pid_t pid = emu_env_pid(env);
    emu_env_destroy(&env);
    CHECK_NULL(env);
    emu_env_destroy(&env);
    CHECK_TRUE(!s_test_alive(pid));
    CHECK_INT(test.gones, 0);

    //  Timeout: the invocation fails as Sandbox.Timedout, the process dies.
    const char *env_slow[] = {"STAMPEDE_HOLD_MS=5000"};
    spec.env = env_slow;
    spec.env_count = 1;
    spec.timeout_ns = 200 * SP_NS_PER_MS;
    test = (s_test_t){.loop = test.loop, .stop_on_gone = true};
    env = emu_env_new(test.loop, &spec, 2, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    inv = s_test_invocation(&test, "33333333-3333-4333-8333-333333333333");
    emu_env_assign(env, inv);
    s_test_run(&test);
    CHECK_INT(test.dones, 1);
    CHECK_INT(test.gones, 1);
    CHECK_INT(test.outcome, EMU_INVOCATION_TIMEOUT);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 33333333-3333-4333-8333-333333333333 "
              "Error: Task timed out after 0.20 seconds\","
              "\"errorType\":\"Sandbox.Timedout\"}");
    CHECK_INT(emu_env_state(env), EMU_ENV_GONE);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);

    //  Init error reported by the runtime (invalid STAMPEDE_HOLD_MS).
    const char *env_bad[] = {"STAMPEDE_HOLD_MS=soon"};
    spec.env = env_bad;
    spec.timeout_ns = 3 * SP_NS_PER_S;
    test = (s_test_t){.loop = test.loop, .stop_on_gone = true};
    env = emu_env_new(test.loop, &spec, 3, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    inv = s_test_invocation(&test, "44444444-4444-4444-8444-444444444444");
    emu_env_assign(env, inv);
    s_test_run(&test);
    CHECK_INT(test.outcome, EMU_INVOCATION_INIT_ERROR);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"STAMPEDE_HOLD_MS must be an integer 0..900000, "
              "got \\\"soon\\\"\",\"errorType\":\"Runtime.InvalidConfig\"}");
    CHECK_INT(test.gones, 1);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);

    //  A runtime that exits at once: Runtime.ExitError with its status.
    char *script = s_test_script("#!/bin/sh\necho starting\necho oops >&2\nexit 3\n");
    spec.path = script;
    spec.env_count = 0;
    test = (s_test_t){.loop = test.loop, .stop_on_gone = true};
    env = emu_env_new(test.loop, &spec, 4, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    inv = s_test_invocation(&test, "55555555-5555-4555-8555-555555555555");
    emu_env_assign(env, inv);
    s_test_run(&test);
    CHECK_INT(test.outcome, EMU_INVOCATION_INIT_ERROR);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 55555555-5555-4555-8555-555555555555 "
              "Error: Runtime exited with error: exit status 3\","
              "\"errorType\":\"Runtime.ExitError\"}");
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);

    //  Init that never reaches /next: the init limit kills it.
    s_test_remove_script(script);
    script = s_test_script("#!/bin/sh\nexec sleep 30\n");
    spec.path = script;
    spec.init_timeout_ns = 200 * SP_NS_PER_MS;
    test = (s_test_t){.loop = test.loop, .stop_on_gone = true};
    env = emu_env_new(test.loop, &spec, 5, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    inv = s_test_invocation(&test, "66666666-6666-4666-8666-666666666666");
    emu_env_assign(env, inv);
    s_test_run(&test);
    CHECK_INT(test.outcome, EMU_INVOCATION_INIT_ERROR);
    CHECK_TRUE(strstr(test.payload, "Init timed out after 0.20 seconds") != NULL);
    CHECK_TRUE(strstr(test.payload, "\"errorType\":\"Sandbox.Timedout\"") != NULL);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);

    //  Destroy hands a held invocation back as ABORTED and reaps.
    env = emu_env_new(test.loop, &spec, 6, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    test.dones = 0;
    inv = s_test_invocation(&test, "77777777-7777-4777-8777-777777777777");
    emu_env_assign(env, inv);
    pid = emu_env_pid(env);
    emu_env_destroy(&env);
    CHECK_INT(test.dones, 1);
    CHECK_INT(test.outcome, EMU_INVOCATION_ABORTED);
    CHECK_TRUE(!s_test_alive(pid));
    emu_invocation_destroy(&inv);
    s_test_remove_script(script);

    //  A path that cannot run.
    spec.path = "/nonexistent/bootstrap";
    env = emu_env_new(test.loop, &spec, 7, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NULL(env);
    CHECK_STR(err, "cannot start /nonexistent/bootstrap: No such file or directory");
    CHECK_INT(emu_loop_watch_count(test.loop), 0);
    CHECK_INT(emu_loop_timer_count(test.loop), 0);
    emu_loop_destroy(&test.loop);
}
