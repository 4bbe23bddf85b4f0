/*  emu_env — one execution environment; see emu_env.h. */
#define _GNU_SOURCE //  pipe2, posix_spawn_file_actions_addchdir_np
#include "emu_env.h"
#include "emu_aws.h"
#include "emu_listener.h"
#include "emu_route.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_BACKLOG 16
//  Memory Size when the environment does not say (AWS's default), and
//  the range AWS allows.
#define S_MEMORY_DEFAULT 128
#define S_MEMORY_MIN 128
#define S_MEMORY_MAX 10240
//  MHD's own complaints (garbage on a Runtime API connection) logged a
//  second per environment.
#define S_MHD_LOG_RATE 10

//  A token bucket: what may be logged now, and what was not.
typedef struct {
    int64_t refill_ns; //  CLOCK_MONOTONIC of the last whole token earned
    unsigned tokens;
    uint64_t dropped; //  refused since the last report
} s_limit_t;

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
    long maxrss_kb;                  //  its peak resident memory, once reaped
    int pidfd;                       //  readable when the process exits
    int out_fd;                      //  read end of its stdout+stderr pipe
    char line[EMU_ENV_LINE_MAX + 1]; //  partial output line
    size_t line_len;
    bool line_cut;                          //  dropping the rest of an overlong line
    uint64_t lines;                         //  output lines read
    uint64_t lines_dropped;                 //  of those, not forwarded (rate limit)
    s_limit_t output_limit;                 //  output lines forwarded to our log
    s_limit_t mhd_limit;                    //  MHD's messages forwarded to our log
    char stage[2 * EMU_INVOCATION_LOG_MAX]; //  output not yet in the invocation's log
    size_t stage_len;
    uint16_t port;                          //  Runtime API endpoint port
    struct MHD_Daemon *daemon;              //  Runtime API endpoint
    emu_loop_mhd_t *source;                 //  the daemon in the loop
    unsigned connections;                   //  open on the daemon
    emu_timer_t *rearm_timer;               //  runs the daemon after a close at the cap
    bool closing;                           //  being destroyed: refuse every call
    s_call_t *next_call;                    //  the parked /next while suspended
    struct MHD_Connection *next_connection; //  its connection
    emu_invocation_t *invocation;           //  borrowed while served
    bool delivered;                         //  its event went out on /next
    bool cold;                              //  it was assigned while starting
    bool logged_start;                      //  its START line is written
    int64_t assigned_ns;                    //  CLOCK_MONOTONIC when assigned
    int64_t delivered_ns;                   //  CLOCK_MONOTONIC when delivered
    emu_timer_t *init_timer;                //  init limit
    emu_timer_t *deadline_timer;            //  invocation timeout
    int64_t spawned_ns;                     //  CLOCK_MONOTONIC at spawn
    int64_t init_ns;                        //  spawn to first /next
    uint64_t invocations;                   //  delivered so far
    unsigned memory_mb;                     //  AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    const char *version;                    //  AWS_LAMBDA_FUNCTION_VERSION, or $LATEST
    char death[96];                         //  why it died, for the invocation error
};

//  --- helpers ------------------------------------------------------------

static void
s_limit_init(s_limit_t *limit, unsigned burst, int64_t now)
{
    *limit = (s_limit_t){.refill_ns = now, .tokens = burst};
}

//  Takes a token if there is one (earned at `rate` a second, at most
//  `burst` kept); otherwise counts the refusal.
static bool
s_limit_take(s_limit_t *limit, unsigned rate, unsigned burst, int64_t now)
{
    int64_t period = SP_NS_PER_S / rate;
    int64_t earned = (now - limit->refill_ns) / period;
    if (earned > 0) {
        if (earned >= (int64_t)(burst - limit->tokens)) {
            limit->tokens = burst;
            limit->refill_ns = now;
        } else {
            limit->tokens += (unsigned)earned;
            limit->refill_ns += earned * period;
        }
    }
    if (limit->tokens == 0) {
        limit->dropped++;
        return false;
    }
    limit->tokens--;
    return true;
}

//  The value of `key` in the spec's environment (the last one wins), or NULL.
static const char *
s_spec_value(const emu_env_spec_t *spec, const char *key)
{
    size_t len = strlen(key);
    const char *value = NULL;
    for (size_t i = 0; i < spec->env_count; i++)
        if (strncmp(spec->env[i], key, len) == 0 && spec->env[i][len] == '=')
            value = spec->env[i] + len + 1;
    return value;
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

static void s_log_mhd(void *cls, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));

static void
s_log_mhd(void *cls, const char *format, va_list args)
{
    emu_env_t *self = cls;
    if (!s_limit_take(&self->mhd_limit, S_MHD_LOG_RATE, S_MHD_LOG_RATE,
                      sp_clock_mono_ns()))
        return;
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

//  --- the invocation's log -----------------------------------------------

//  Keeps `len` (<= EMU_INVOCATION_LOG_MAX) bytes of output for the
//  invocation's log. Only the tail survives, so the staging buffer drops
//  what can no longer matter instead of growing: each byte is moved at
//  most once, whatever the flood.
static void
s_stage(emu_env_t *self, const char *data, size_t len)
{
    assert(len <= EMU_INVOCATION_LOG_MAX);
    if (self->stage_len + len > sizeof self->stage) {
        size_t keep = EMU_INVOCATION_LOG_MAX - len;
        memmove(self->stage, self->stage + self->stage_len - keep, keep);
        self->stage_len = keep;
    }
    memcpy(self->stage + self->stage_len, data, len);
    self->stage_len += len;
}

//  Moves the staged output into the invocation's log.
static void
s_stage_flush(emu_env_t *self)
{
    if (self->invocation && self->stage_len > 0)
        emu_invocation_log_append(self->invocation, self->stage, self->stage_len);
    self->stage_len = 0;
}

static void s_log(emu_env_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

//  Appends one formatted line (or lines) to the invocation's log, after
//  the output staged so far.
static void
s_log(emu_env_t *self, const char *format, ...)
{
    if (!self->invocation)
        return;
    s_stage_flush(self);
    char text[512];
    va_list args;
    va_start(args, format);
    int len = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if (len < 0)
        return;
    emu_invocation_log_append(self->invocation, text,
                              (size_t)len < sizeof text ? (size_t)len : sizeof text - 1);
}

//  The version the invocation runs, for its START line.
static const char *
s_version(emu_env_t *self)
{
    const char *version = emu_invocation_version(self->invocation);
    return *version ? version : self->version;
}

static void
s_log_start(emu_env_t *self)
{
    if (!self->invocation || self->logged_start)
        return;
    self->logged_start = true;
    s_log(self, "START RequestId: %s Version: %s\n",
          emu_invocation_request_id(self->invocation), s_version(self));
}

//  The runtime's peak resident memory in MB, rounded up: VmHWM while it
//  runs, its rusage once reaped.
static unsigned
s_max_memory_mb(emu_env_t *self)
{
    long kb = self->maxrss_kb;
    if (!self->reaped) {
        char path[64], text[2048];
        snprintf(path, sizeof path, "/proc/%d/status", (int)self->pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
        if (fd >= 0)
            close(fd);
        const char *hwm = NULL;
        if (n > 0) {
            text[n] = '\0';
            hwm = strstr(text, "\nVmHWM:");
        }
        if (hwm)
            kb = strtol(hwm + 7, NULL, 10);
    }
    return kb > 0 ? (unsigned)((kb + 1023) / 1024) : 0;
}

//  "2026-11-26T17:40:01.123Z", the time stamp of Lambda's own log lines.
static void
s_timestamp(char *out, size_t size)
{
    int64_t now_ns = sp_clock_wall_ns();
    time_t seconds = (time_t)(now_ns / SP_NS_PER_S);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03dZ", day, (int)(now_ns % SP_NS_PER_S / SP_NS_PER_MS));
}

static void s_output(emu_loop_t *loop, int fd, uint32_t events, void *arg);

//  Reads what the runtime already wrote (it wrote it before the call or
//  the exit being handled), so that its lines come before ours.
static void
s_drain(emu_env_t *self)
{
    if (self->out_fd >= 0)
        s_output(self->loop, self->out_fd, EPOLLIN, self);
}

//  Ends the invocation's log: START if the event never went out, END and
//  REPORT. `status` is NULL for an invocation that ran to its answer,
//  else "timeout" or "error" (with `error_type`).
static void
s_log_end(emu_env_t *self, const char *status, const char *error_type)
{
    if (!self->invocation)
        return;
    s_drain(self);
    s_log_start(self);
    const char *id = emu_invocation_request_id(self->invocation);
    int64_t now = sp_clock_mono_ns();
    int64_t duration_ns =
        now - (self->delivered ? self->delivered_ns : self->assigned_ns);
    //  A timed-out invocation lasted its timeout, not the timer's lateness.
    if (status && strcmp(status, "timeout") == 0 && self->delivered &&
        duration_ns > self->spec.timeout_ns)
        duration_ns = self->spec.timeout_ns;
    bool init_shown = self->cold && self->delivered && self->init_ns > 0;
    int64_t billed_ns = duration_ns + (init_shown ? self->init_ns : 0);
    long long billed_ms = (long long)((billed_ns + SP_NS_PER_MS - 1) / SP_NS_PER_MS);
    char init[64] = "", tail[128] = "";
    if (init_shown)
        snprintf(init, sizeof init, "Init Duration: %.2f ms\t",
                 (double)self->init_ns / SP_NS_PER_MS);
    if (status && error_type)
        snprintf(tail, sizeof tail, "Status: %s\tError Type: %s", status, error_type);
    else if (status)
        snprintf(tail, sizeof tail, "Status: %s", status);
    s_log(self,
          "END RequestId: %s\n"
          "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %lld ms\t"
          "Memory Size: %u MB\tMax Memory Used: %u MB\t%s%s\n",
          id, id, (double)duration_ns / SP_NS_PER_MS, billed_ms, self->memory_mb,
          s_max_memory_mb(self), init, tail);
}

//  A failed init, before the invocation's START (Lambda's INIT_REPORT).
static void
s_log_init_failed(emu_env_t *self, const char *status, const char *error_type)
{
    if (!self->invocation || self->logged_start)
        return;
    s_drain(self);
    char tail[128];
    if (error_type)
        snprintf(tail, sizeof tail, "Status: %s\tError Type: %s", status, error_type);
    else
        snprintf(tail, sizeof tail, "Status: %s", status);
    s_log(self, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\t%s\n",
          (double)(sp_clock_mono_ns() - self->spawned_ns) / SP_NS_PER_MS, tail);
}

//  --- the child's output -------------------------------------------------

static void
s_report_dropped(emu_env_t *self)
{
    if (self->output_limit.dropped == 0)
        return;
    zsys_warning("function output dropped env=%s lines=%llu (over %d lines/s)",
                 self->name, (unsigned long long)self->output_limit.dropped,
                 EMU_ENV_LOG_RATE);
    self->output_limit.dropped = 0;
}

//  One whole (or cut) output line: to our log within the rate limit, and
//  to the invocation's log.
static void
s_line(emu_env_t *self, bool cut, int64_t now)
{
    self->lines++;
    self->line[self->line_len] = '\0';
    if (s_limit_take(&self->output_limit, EMU_ENV_LOG_RATE, EMU_ENV_LOG_BURST, now)) {
        s_report_dropped(self);
        zsys_info("function output env=%s%s | %s", self->name, cut ? " truncated=1" : "",
                  self->line);
    } else
        self->lines_dropped++;
    if (self->invocation) {
        s_stage(self, self->line, self->line_len);
        s_stage(self, "\n", 1);
    }
    self->line_len = 0;
}

//  Splits `data` into lines.
static void
s_take_output(emu_env_t *self, const char *data, size_t len, int64_t now)
{
    while (len > 0) {
        const char *newline = memchr(data, '\n', len);
        size_t part = newline ? (size_t)(newline - data) : len;
        if (!self->line_cut) {
            size_t room = EMU_ENV_LINE_MAX - self->line_len;
            size_t take = part < room ? part : room;
            char *to = self->line + self->line_len;
            memcpy(to, data, take);
            for (char *cr = memchr(to, '\r', take); cr;
                 cr = memchr(cr + 1, '\r', (size_t)(to + take - cr - 1)))
                *cr = ' ';
            self->line_len += take;
            if (part > room) {
                s_line(self, true, now);
                self->line_cut = true;
            }
        }
        if (newline) {
            if (self->line_cut)
                self->line_cut = false;
            else
                s_line(self, false, now);
            part++;
        }
        data += part;
        len -= part;
    }
}

//  Reads what the runtime wrote, EMU_ENV_READ_MAX bytes at most: the loop
//  is level-triggered, so the rest waits for the next wake-up and a
//  flooding runtime cannot keep the loop from everything else.
static void
s_output(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    emu_env_t *self = arg;
    char buf[EMU_ENV_READ_MAX];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        s_take_output(self, buf, (size_t)n, sp_clock_mono_ns());
        s_stage_flush(self);
        return;
    }
    if (self->line_len > 0)
        s_line(self, false, sp_clock_mono_ns());
    s_stage_flush(self);
    s_report_dropped(self);
    emu_loop_unwatch(loop, fd);
    close(fd);
    self->out_fd = -1;
}

//  --- process exit -------------------------------------------------------

//  How it ended, worded like Lambda (Go's os.ProcessState): "exit status
//  3", "signal: killed".
static void
s_how(int status, char *out, size_t size)
{
    static const char *const names[] = {
        [SIGHUP] = "hangup",
        [SIGINT] = "interrupt",
        [SIGQUIT] = "quit",
        [SIGILL] = "illegal instruction",
        [SIGTRAP] = "trace/breakpoint trap",
        [SIGABRT] = "aborted",
        [SIGBUS] = "bus error",
        [SIGFPE] = "floating point exception",
        [SIGKILL] = "killed",
        [SIGUSR1] = "user defined signal 1",
        [SIGSEGV] = "segmentation fault",
        [SIGUSR2] = "user defined signal 2",
        [SIGPIPE] = "broken pipe",
        [SIGALRM] = "alarm clock",
        [SIGTERM] = "terminated",
    };
    if (WIFEXITED(status))
        snprintf(out, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        size_t count = sizeof names / sizeof names[0];
        if (sig > 0 && (size_t)sig < count && names[sig])
            snprintf(out, size, "signal: %s", names[sig]);
        else
            snprintf(out, size, "signal: signal %d", sig);
    } else
        snprintf(out, size, "status %d", status);
}

static void
s_reaped(emu_env_t *self, int status)
{
    self->reaped = true;
    char how[64];
    s_how(status, how, sizeof how);
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
        s_drain(self);
        if (init)
            s_log_init_failed(self, "error", "Runtime.ExitError");
        s_log_start(self);
        s_log(self, "%s\nRuntime.ExitError\n", message);
        s_log_end(self, "error", "Runtime.ExitError");
        s_fail(self, init ? EMU_INVOCATION_INIT_ERROR : EMU_INVOCATION_EXIT,
               "Runtime.ExitError", message);
    }
}

static void
s_exited(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    emu_env_t *self = arg;
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    pid_t pid = wait4(self->pid, &status, WNOHANG, &usage);
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
    } else {
        self->maxrss_kb = usage.ru_maxrss;
        s_reaped(self, status);
    }
    kill(-self->pid, SIGKILL); //  whatever it left behind in its group
    emu_loop_timer_cancel(loop, &self->init_timer);
    emu_loop_timer_cancel(loop, &self->deadline_timer);
    s_report_dropped(self);
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
    s_log_init_failed(self, "timeout", NULL);
    s_log_end(self, "timeout", NULL);
    s_fail(self, EMU_INVOCATION_INIT_ERROR, "Sandbox.Timedout", message);
    s_kill(self, "init timed out");
}

static void
s_deadline_expired(emu_loop_t *loop, void *arg)
{
    emu_env_t *self = arg;
    self->deadline_timer = NULL;
    //  The answer is the one Lambda sends now; its log keeps the older
    //  "<time> <id> Task timed out" line.
    const char *id = self->invocation ? emu_invocation_request_id(self->invocation) : "-";
    double seconds = (double)self->spec.timeout_ns / SP_NS_PER_S;
    char message[256], stamp[40];
    snprintf(message, sizeof message,
             "RequestId: %s Error: Task timed out after %.2f seconds", id, seconds);
    s_timestamp(stamp, sizeof stamp);
    s_drain(self);
    s_log(self, "%s %s Task timed out after %.2f seconds\n", stamp, id, seconds);
    s_log_end(self, "timeout", NULL);
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
    self->delivered_ns = sp_clock_mono_ns();
    self->state = EMU_ENV_RUNNING;
    self->invocations++;
    emu_invocation_set_environment(inv, self->name, self->cold,
                                   self->cold ? self->init_ns : 0);
    s_log_start(self);

    int64_t deadline_ms = (sp_clock_wall_ns() + self->spec.timeout_ns) / SP_NS_PER_MS;
    char deadline[32], arn[EMU_AWS_ARN_MAX], trace[128], hex[40] = "";
    snprintf(deadline, sizeof deadline, "%lld", (long long)deadline_ms);
    emu_aws_function_arn(self->spec.function, NULL, arn, sizeof arn);
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
    const char *context = emu_invocation_client_context(inv);
    if (context && MHD_add_response_header(response, "Lambda-Runtime-Client-Context",
                                           context) != MHD_YES)
        zsys_warning("client context not sent env=%s request_id=%s", self->name, id);
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
        s_log_end(self, NULL, NULL);
        s_fail(self, EMU_INVOCATION_TOO_LARGE, "Function.ResponseSizeTooLarge",
               "Response payload size exceeded maximum allowed payload size (6291556 "
               "bytes).");
        return s_queue_error(connection, 413, "RequestEntityTooLarge",
                             "payload over 6291456 bytes");
    }
    const char *body = call->body ? call->body : "";
    s_log_end(self, NULL, NULL);
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

//  The errorType of an init error: the payload's, else the header's,
//  else Runtime.InitError; printable ASCII only, for the log line.
static void
s_init_error_type(struct MHD_Connection *connection, json_t *doc, char *out, size_t size)
{
    const char *type = json_string_value(json_object_get(doc, "errorType"));
    if (!type || !*type)
        type = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                           "Lambda-Runtime-Function-Error-Type");
    if (!type || !*type)
        type = "Runtime.InitError";
    snprintf(out, size, "%s", type);
    for (char *c = out; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            *c = '?';
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
    char type[64];
    s_init_error_type(connection, doc, type, sizeof type);
    json_decref(doc);
    s_log_init_failed(self, "error", type);
    s_log_end(self, "error", type);
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

//  At its connection cap MHD takes the listening socket out of its epoll
//  set and puts it back only at the start of a later MHD_run; with
//  nothing else ready that run never comes, and new connections (the
//  runtime's own next call) would wait in the backlog for good. So a
//  close at the cap runs the daemon once more, from a timer: the loop's
//  own schedule is rewritten when the current run ends.
static void
s_rearm(emu_loop_t *loop, void *arg)
{
    emu_env_t *self = arg;
    self->rearm_timer = NULL;
    if (self->source)
        emu_loop_mhd_kick(loop, self->source);
}

static void
s_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
             enum MHD_ConnectionNotificationCode code)
{
    emu_env_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        self->connections++;
        return;
    }
    bool at_cap = self->connections >= EMU_ENV_CONNECTIONS;
    if (self->connections > 0)
        self->connections--;
    if (at_cap && !self->closing && !self->rearm_timer)
        self->rearm_timer = emu_loop_timer_start(self->loop, 0, s_rearm, self);
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
    snprintf(stream, sizeof stream, "AWS_LAMBDA_LOG_STREAM_NAME=%s/[%s]%s", day,
             self->version, hex);

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
    if (!s_spec_value(&self->spec, "AWS_LAMBDA_LOG_STREAM_NAME"))
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
    self->memory_mb = s_memory_mb(spec);
    const char *version = s_spec_value(spec, "AWS_LAMBDA_FUNCTION_VERSION");
    self->version = version && *version ? version : "$LATEST";
    int64_t now = sp_clock_mono_ns();
    s_limit_init(&self->output_limit, EMU_ENV_LOG_BURST, now);
    s_limit_init(&self->mhd_limit, S_MHD_LOG_RATE, now);

    int listen_fd =
        emu_listener_open("127.0.0.1:0", S_BACKLOG, &self->port, err, err_size);
    if (listen_fd < 0)
        goto fail;
    self->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_handle, self, MHD_OPTION_EXTERNAL_LOGGER, s_log_mhd, self,
        MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
        self, MHD_OPTION_NOTIFY_CONNECTION, s_connection, self,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)EMU_ENV_CONNECTIONS,
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
    s_report_dropped(self);
    if (self->daemon) {
        //  MHD must not be stopped with suspended connections: wake the
        //  parked /next and let one run close it.
        emu_loop_mhd_remove(self->loop, &self->source);
        s_wake_next(self);
        MHD_run(self->daemon);
        MHD_stop_daemon(self->daemon);
    }
    emu_loop_timer_cancel(self->loop, &self->rearm_timer);
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
    self->logged_start = false;
    self->cold = self->state == EMU_ENV_STARTING;
    self->assigned_ns = sp_clock_mono_ns();
    self->stage_len = 0;
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

uint64_t
emu_env_output_lines(emu_env_t *self)
{
    assert(self);
    return self->lines;
}

uint64_t
emu_env_output_dropped(emu_env_t *self)
{
    assert(self);
    return self->lines_dropped;
}

unsigned
emu_env_memory_mb(emu_env_t *self)
{
    assert(self);
    return self->memory_mb;
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
    bool stop_on_done;
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
    if (test->stop_on_done)
        emu_loop_stop(test->loop);
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

//  Checks that the whole log of `inv` matches the extended regular
//  expression `pattern` (anchor it); fills up to 4 sub-matches as numbers.
static void
s_test_log(emu_invocation_t *inv, const char *pattern, double numbers[4])
{
    size_t len = 0;
    const char *log = emu_invocation_log(inv, &len);
    char text[EMU_INVOCATION_LOG_MAX + 1];
    memcpy(text, log, len);
    text[len] = '\0';
    regex_t regex;
    CHECK_INT(regcomp(&regex, pattern, REG_EXTENDED), 0);
    regmatch_t match[5];
    int rc = regexec(&regex, text, 5, match, 0);
    if (rc != 0)
        fprintf(stderr,
                "emu_env test: log does not match\n--- log:\n%s\n--- pattern:\n%s\n",
                text, pattern);
    CHECK_INT(rc, 0);
    for (int i = 0; numbers && i < 4; i++)
        numbers[i] =
            match[i + 1].rm_so >= 0 ? strtod(text + match[i + 1].rm_so, NULL) : -1;
    regfree(&regex);
}

//  The REPORT line's fields after "Memory Size" and before Status.
#define S_TEST_NUM "([0-9]+\\.[0-9]{2})"
#define S_TEST_INT "([0-9]+)"
#define S_TEST_REPORT(id, memory)                                                        \
    "END RequestId: " id "\nREPORT RequestId: " id "\tDuration: " S_TEST_NUM             \
    " ms\tBilled Duration: " S_TEST_INT " ms\tMemory Size: " memory                      \
    " MB\tMax Memory Used: " S_TEST_INT " MB\t"
#define S_TEST_INIT "Init Duration: " S_TEST_NUM " ms\t"
#define S_TEST_STAMP "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

//  A bash runtime: takes one invocation and runs `body` with $id set.
#define S_TEST_BASH_NEXT                                                                 \
    "#!/bin/bash\n"                                                                      \
    "api=$AWS_LAMBDA_RUNTIME_API; host=${api%:*}; port=${api#*:}\n"                      \
    "exec 3<>/dev/tcp/$host/$port\n"                                                     \
    "printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: "               \
    "x\\r\\n\\r\\n' >&3\n"                                                               \
    "IFS= read -r status <&3\n"                                                          \
    "while IFS= read -r line <&3; do\n"                                                  \
    "    line=${line%$'\\r'}\n"                                                          \
    "    [ -z \"$line\" ] && break\n"                                                    \
    "    case $line in Lambda-Runtime-Aws-Request-Id:*) id=${line#*: } ;;\n"             \
    "        Lambda-Runtime-Client-Context:*) context=${line#*: } ;; esac\n"             \
    "done\n"

void
emu_env_test(bool verbose)
{
    s_test_t test = {.loop = emu_loop_new()};
    CHECK_NOT_NULL(test.loop);
    const char *env_ok[] = {"STAMPEDE_HOLD_MS=0", "AWS_LAMBDA_FUNCTION_NAME=demo",
                            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"};
    emu_env_spec_t spec = {
        .function = "demo",
        .path = EMU_TEST_BOOTSTRAP,
        .env = env_ok,
        .env_count = 3,
        .timeout_ns = 3 * SP_NS_PER_S,
        .init_timeout_ns = EMU_ENV_INIT_TIMEOUT_NS,
        .verbose = verbose,
    };
    char err[256];
    double n[4];

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
    CHECK_INT(emu_env_memory_mb(env), 256);
    emu_invocation_t *inv =
        s_test_invocation(&test, "11111111-1111-4111-8111-111111111111");
    emu_invocation_set_version(inv, "7");
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
    CHECK_INT(emu_invocation_init_ns(inv), emu_env_init_ns(env));
    CHECK_INT(emu_env_state(env), EMU_ENV_IDLE);
    CHECK_INT(emu_env_invocations(env), 1);
    //  Cold: Init Duration, billed with the invocation (a custom runtime).
    s_test_log(inv,
               "^START RequestId: 11111111-1111-4111-8111-111111111111 Version: "
               "7\n" S_TEST_REPORT("11111111-1111-4111-8111-111111111111", "256")
                   S_TEST_INIT "\n$",
               n);
    double init_ms = (double)emu_env_init_ns(env) / SP_NS_PER_MS;
    CHECK_TRUE(n[3] > init_ms - 0.01 && n[3] < init_ms + 0.01);
    CHECK_TRUE(n[1] >= n[0] + n[3] && n[1] <= n[0] + n[3] + 1.02);
    CHECK_TRUE(n[2] >= 1 && n[2] < 256);
    emu_invocation_destroy(&inv);

    inv = s_test_invocation(&test, "22222222-2222-4222-8222-222222222222");
    emu_env_assign(env, inv);
    s_test_run(&test);
    CHECK_INT(test.dones, 2);
    CHECK_INT(test.outcome, EMU_INVOCATION_OK);
    CHECK_TRUE(strstr(test.payload, "\"cold_start\":false") != NULL);
    CHECK_TRUE(strstr(test.payload, "\"invocation_count\":2") != NULL);
    CHECK_TRUE(!emu_invocation_cold(inv));
    CHECK_INT(emu_invocation_init_ns(inv), 0);
    CHECK_INT(emu_env_invocations(env), 2);
    //  Warm: no Init Duration; no version set: $LATEST.
    s_test_log(
        inv,
        "^START RequestId: 22222222-2222-4222-8222-222222222222 Version: "
        "\\$LATEST\n" S_TEST_REPORT("22222222-2222-4222-8222-222222222222", "256") "\n$",
        n);
    CHECK_TRUE(n[1] >= n[0] && n[1] <= n[0] + 1);
    emu_invocation_destroy(&inv);
    pid_t pid = emu_env_pid(env);
    emu_env_destroy(&env);
    CHECK_NULL(env);
    emu_env_destroy(&env);
    CHECK_TRUE(!s_test_alive(pid));
    CHECK_INT(test.gones, 0);

    //  Timeout: the invocation fails as Sandbox.Timedout with Lambda's
    //  message, the log says so, the process dies.
    const char *env_slow[] = {"STAMPEDE_HOLD_MS=5000", "AWS_LAMBDA_FUNCTION_VERSION=3",
                              "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=64"};
    spec.env = env_slow;
    spec.env_count = 3;
    spec.timeout_ns = 200 * SP_NS_PER_MS;
    test = (s_test_t){.loop = test.loop, .stop_on_gone = true};
    env = emu_env_new(test.loop, &spec, 2, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    CHECK_INT(emu_env_memory_mb(env), 128); //  below AWS's minimum: the default
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
    s_test_log(
        inv,
        "^START RequestId: 33333333-3333-4333-8333-333333333333 Version: 3\n" S_TEST_STAMP
        " 33333333-3333-4333-8333-333333333333 Task timed out after 0\\.20 "
        "seconds\n" S_TEST_REPORT("33333333-3333-4333-8333-333333333333", "128")
            S_TEST_INIT "Status: timeout\n$",
        n);
    CHECK_TRUE(n[0] == 200.0); //  the timeout, not the timer's lateness
    CHECK_TRUE(n[1] >= 200 + n[3] && n[1] <= 200 + n[3] + 1.02);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);

    //  Init error reported by the runtime (invalid STAMPEDE_HOLD_MS): its
    //  payload is the answer; what it printed comes first in the log.
    const char *env_bad[] = {"STAMPEDE_HOLD_MS=soon"};
    spec.env = env_bad;
    spec.env_count = 1;
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
    s_test_log(inv,
               "^bootstrap: init failed error=\"STAMPEDE_HOLD_MS must be an integer "
               "0\\.\\.900000, got \"soon\"\"\n"
               "INIT_REPORT Init Duration: " S_TEST_NUM
               " ms\tPhase: init\tStatus: error\t"
               "Error Type: Runtime\\.InvalidConfig\n"
               "START RequestId: 44444444-4444-4444-8444-444444444444 Version: "
               "\\$LATEST\n" S_TEST_REPORT(
                   "44444444-4444-4444-8444-444444444444",
                   "128") "Status: error\tError Type: Runtime\\.InvalidConfig\n$",
               NULL);
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
    s_test_log(
        inv,
        "^starting\noops\n"
        "INIT_REPORT Init Duration: " S_TEST_NUM " ms\tPhase: init\tStatus: error\t"
        "Error Type: Runtime\\.ExitError\n"
        "START RequestId: 55555555-5555-4555-8555-555555555555 Version: \\$LATEST\n"
        "RequestId: 55555555-5555-4555-8555-555555555555 Error: Runtime exited with "
        "error: exit status 3\nRuntime\\.ExitError\n" S_TEST_REPORT(
            "55555555-5555-4555-8555-555555555555",
            "128") "Status: error\tError Type: Runtime\\.ExitError\n$",
        n);
    CHECK_TRUE(n[2] >= 1); //  from its rusage: it is gone
    CHECK_INT(emu_env_output_lines(env), 2);
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
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 66666666-6666-4666-8666-666666666666 "
              "Error: Init timed out after 0.20 seconds\","
              "\"errorType\":\"Sandbox.Timedout\"}");
    s_test_log(inv,
               "^INIT_REPORT Init Duration: " S_TEST_NUM
               " ms\tPhase: init\tStatus: timeout\n"
               "START RequestId: 66666666-6666-4666-8666-666666666666 Version: "
               "\\$LATEST\n" S_TEST_REPORT("66666666-6666-4666-8666-666666666666",
                                           "128") "Status: timeout\n$",
               n);
    CHECK_TRUE(n[0] >= 200 && n[1] >= 200);
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

    //  A crash mid-invocation (SIGKILL): Runtime.ExitError "signal:
    //  killed"; what it printed while it ran is in the log.
    script =
        s_test_script(S_TEST_BASH_NEXT "echo \"got ${status%$'\\r'}\"\nkill -9 $$\n");
    spec.path = script;
    spec.init_timeout_ns = EMU_ENV_INIT_TIMEOUT_NS;
    test = (s_test_t){.loop = test.loop, .stop_on_gone = true};
    env = emu_env_new(test.loop, &spec, 8, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    inv = s_test_invocation(&test, "88888888-8888-4888-8888-888888888888");
    emu_env_assign(env, inv);
    s_test_run(&test);
    CHECK_INT(test.outcome, EMU_INVOCATION_EXIT);
    CHECK_STR(test.payload,
              "{\"errorMessage\":\"RequestId: 88888888-8888-4888-8888-888888888888 "
              "Error: Runtime exited with error: signal: killed\","
              "\"errorType\":\"Runtime.ExitError\"}");
    s_test_log(
        inv,
        "^START RequestId: 88888888-8888-4888-8888-888888888888 Version: \\$LATEST\n"
        "got HTTP/1\\.1 200 OK\n"
        "RequestId: 88888888-8888-4888-8888-888888888888 Error: Runtime exited with "
        "error: signal: killed\nRuntime\\.ExitError\n" S_TEST_REPORT(
            "88888888-8888-4888-8888-888888888888", "128") S_TEST_INIT
        "Status: error\tError Type: Runtime\\.ExitError\n$",
        NULL);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);
    s_test_remove_script(script);

    //  A flood while it runs: a 10,000-byte line (cut: one line), then
    //  3,000 lines. Our log gets the first EMU_ENV_LOG_BURST, the rest are
    //  counted; the invocation keeps exactly the last 4 KiB, ending with
    //  END and REPORT.
    script = s_test_script(
        S_TEST_BASH_NEXT
        "head -c 10000 /dev/zero | tr '\\0' x; echo\n"
        "for i in $(seq 1 3000); do echo \"flood line $i\"; done\n"
        "exec 4<>/dev/tcp/$host/$port\n"
        "printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\n"
        "Host: x\\r\\nContent-Length: 2\\r\\n\\r\\n{}' \"$id\" >&4\n"
        "IFS= read -r status <&4\nexec sleep 30\n");
    spec.path = script;
    test = (s_test_t){.loop = test.loop, .stop_on_done = true};
    env = emu_env_new(test.loop, &spec, 9, 0, &s_test_events, &test, err, sizeof err);
    CHECK_NOT_NULL(env);
    inv = s_test_invocation(&test, "99999999-9999-4999-8999-999999999999");
    emu_env_assign(env, inv);
    s_test_run(&test);
    CHECK_INT(test.outcome, EMU_INVOCATION_OK);
    CHECK_STR(test.payload, "{}");
    size_t log_len = 0;
    emu_invocation_log(inv, &log_len);
    CHECK_INT(log_len, EMU_INVOCATION_LOG_MAX);
    s_test_log(inv,
               "\nflood line 2990\nflood line 2991\n(flood line [0-9]+\n)*flood line "
               "3000\n" S_TEST_REPORT("99999999-9999-4999-8999-999999999999", "128")
                   S_TEST_INIT "\n$",
               NULL);
    CHECK_INT(emu_env_output_lines(env), 3001);
    CHECK_TRUE(emu_env_output_dropped(env) >= 2500);
    CHECK_TRUE(emu_env_output_dropped(env) <= 3001 - EMU_ENV_LOG_BURST);
    CHECK_INT(emu_env_state(env), EMU_ENV_FINISHING);
    pid = emu_env_pid(env);
    emu_invocation_destroy(&inv);
    emu_env_destroy(&env);
    CHECK_TRUE(!s_test_alive(pid));
    s_test_remove_script(script);

    //  The client context reaches the runtime in Lambda-Runtime-Client-
    //  Context, as given; without one there is no such header. The runtime
    //  answers with what it got.
    script = s_test_script(
        S_TEST_BASH_NEXT
        "export LC_ALL=C; body=${context:-none}\n"
        "exec 4<>/dev/tcp/$host/$port\n"
        "printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\n"
        "Host: x\\r\\nContent-Length: %d\\r\\n\\r\\n%s' \"$id\" ${#body} \"$body\" >&4\n"
        "IFS= read -r status <&4\nexec sleep 30\n");
    spec.path = script;
    const char *contexts[] = {
        "{\"client\":{\"app_title\":\"t\"},\"custom\":{\"k\":\"v\"}}", NULL};
    for (size_t i = 0; i < 2; i++) {
        test = (s_test_t){.loop = test.loop, .stop_on_done = true};
        env = emu_env_new(test.loop, &spec, 10 + (unsigned)i, 0, &s_test_events, &test,
                          err, sizeof err);
        CHECK_NOT_NULL(env);
        inv = s_test_invocation(&test, "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa");
        if (contexts[i])
            CHECK_INT(
                emu_invocation_set_client_context(inv, contexts[i], strlen(contexts[i])),
                0);
        emu_env_assign(env, inv);
        s_test_run(&test);
        CHECK_INT(test.outcome, EMU_INVOCATION_OK);
        CHECK_STR(test.payload, contexts[i] ? contexts[i] : "none");
        emu_invocation_destroy(&inv);
        emu_env_destroy(&env);
    }
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
