/*  emu_proc — an execution environment's child process; see emu_proc.h. */
#define _GNU_SOURCE //  pipe2, posix_spawn_file_actions_addchdir_np
#include "emu_proc.h"
#include "emu_invocation.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_err.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
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

struct _emu_proc_t {
    emu_loop_t *loop;           //  borrowed
    emu_proc_exited_fn *exited; //  the owner's exit event
    void *exited_arg;           //  its argument
    pid_t pid;                  //  the runtime, leader of its process group
    int pidfd;                  //  readable when the process exits; -1 once closed
    bool reaped;                //  waited for
    long maxrss_kb;             //  its peak resident memory, once reaped
    int64_t spawned_ns;         //  CLOCK_MONOTONIC at spawn
};

const char *
emu_proc_env_value(const char *const *env, size_t count, const char *key)
{
    assert(key && (env || count == 0));
    size_t len = strlen(key);
    const char *value = NULL;
    for (size_t i = 0; i < count; i++)
        if (strncmp(env[i], key, len) == 0 && env[i][len] == '=')
            value = env[i] + len + 1;
    return value;
}

void
emu_proc_describe(int status, char *out, size_t size)
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
    assert(out && size > 0);
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

//  The pidfd is readable: the leader exited.
static void
s_exited(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    emu_proc_t *self = arg;
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    pid_t pid = wait4(self->pid, &status, WNOHANG, &usage);
    if (pid == 0)
        return;
    int wait_errno = pid < 0 ? errno : 0;
    emu_loop_unwatch(loop, self->pidfd);
    close(self->pidfd);
    self->pidfd = -1;
    self->reaped = true;
    if (pid > 0)
        self->maxrss_kb = usage.ru_maxrss;
    kill(-self->pid, SIGKILL); //  whatever it left behind in its group
    self->exited(self, status, wait_errno, self->exited_arg);
}

//  "AWS_LAMBDA_LOG_STREAM_NAME=2026/11/26/[$LATEST]<32 hex digits>".
static void
s_stream_name(const char *version, char *out, size_t size)
{
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
    snprintf(out, size, "AWS_LAMBDA_LOG_STREAM_NAME=%s/[%s]%s", day, version, hex);
}

//  Spawns the runtime; fills self->pid and *output_fd_p.
static int
s_spawn(emu_proc_t *self, const emu_proc_spec_t *spec, int *output_fd_p, char *err,
        size_t err_size)
{
    int result = -1;
    int pipe_fds[2] = {-1, -1};
    char api[64], stream[128];
    snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", spec->runtime_api);
    s_stream_name(spec->version, stream, sizeof stream);

    const char **envp = calloc(spec->env_count + 3, sizeof *envp);
    char *task_root = strdup(spec->path);
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    bool have_actions = false, have_attr = false;
    if (!envp || !task_root) {
        sp_err_set(err, err_size, "out of memory");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < spec->env_count; i++)
        envp[n++] = spec->env[i];
    envp[n++] = api;
    if (!emu_proc_env_value(spec->env, spec->env_count, "AWS_LAMBDA_LOG_STREAM_NAME"))
        envp[n++] = stream;
    envp[n] = NULL;

    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        sp_err_set(err, err_size, "pipe: %s", strerror(errno));
        goto out;
    }
    fcntl(pipe_fds[0], F_SETFL, fcntl(pipe_fds[0], F_GETFL) | O_NONBLOCK);
    have_actions = posix_spawn_file_actions_init(&actions) == 0;
    have_attr = posix_spawnattr_init(&attr) == 0;
    if (!have_actions || !have_attr) {
        sp_err_set(err, err_size, "posix_spawn setup failed");
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
        sp_err_set(err, err_size, "posix_spawn setup: %s", strerror(rc));
        goto out;
    }
    char *argv[] = {(char *)spec->path, NULL};
    rc = posix_spawn(&self->pid, spec->path, &actions, &attr, argv, (char **)envp);
    if (rc) {
        self->pid = -1;
        sp_err_set(err, err_size, "cannot start %s: %s", spec->path, strerror(rc));
        goto out;
    }
    self->spawned_ns = sp_clock_mono_ns();
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    *output_fd_p = pipe_fds[0];
    pipe_fds[0] = -1;
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

emu_proc_t *
emu_proc_new(emu_loop_t *loop, const emu_proc_spec_t *spec, emu_proc_exited_fn *exited,
             void *arg, int *output_fd_p, char *err, size_t err_size)
{
    assert(loop && spec && spec->path && spec->version && exited && output_fd_p);
    *output_fd_p = -1;
    emu_proc_t *self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->exited = exited;
    self->exited_arg = arg;
    self->pid = -1;
    self->pidfd = -1;
    if (s_spawn(self, spec, output_fd_p, err, err_size))
        goto fail;
    self->pidfd = (int)syscall(SYS_pidfd_open, self->pid, 0);
    if (self->pidfd < 0) {
        sp_err_set(err, err_size, "pidfd_open: %s", strerror(errno));
        goto fail;
    }
    if (emu_loop_watch(loop, self->pidfd, EPOLLIN, s_exited, self)) {
        close(self->pidfd);
        self->pidfd = -1;
        sp_err_set(err, err_size, "cannot watch the process");
        goto fail;
    }
    return self;
fail:
    if (*output_fd_p >= 0) {
        close(*output_fd_p);
        *output_fd_p = -1;
    }
    emu_proc_destroy(&self);
    return NULL;
}

void
emu_proc_destroy(emu_proc_t **self_p)
{
    assert(self_p);
    emu_proc_t *self = *self_p;
    if (!self)
        return;
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
    free(self);
    *self_p = NULL;
}

void
emu_proc_kill(emu_proc_t *self)
{
    assert(self);
    if (self->pid > 0 && !self->reaped)
        kill(-self->pid, SIGKILL);
}

pid_t
emu_proc_pid(emu_proc_t *self)
{
    assert(self);
    return self->pid;
}

bool
emu_proc_reaped(emu_proc_t *self)
{
    assert(self);
    return self->reaped;
}

int64_t
emu_proc_spawned_ns(emu_proc_t *self)
{
    assert(self);
    return self->spawned_ns;
}

unsigned
emu_proc_max_memory_mb(emu_proc_t *self)
{
    assert(self);
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

//  --- selftest -----------------------------------------------------------

typedef struct {
    emu_loop_t *loop;
    int calls;
    int status;
    int wait_errno;
} s_test_t;

static void
s_test_exited(emu_proc_t *proc, int status, int wait_errno, void *arg)
{
    s_test_t *test = arg;
    test->calls++;
    test->status = status;
    test->wait_errno = wait_errno;
    CHECK_TRUE(emu_proc_reaped(proc));
    emu_loop_stop(test->loop);
}

static void
s_test_expired(emu_loop_t *loop, void *arg)
{
    fprintf(stderr, "emu_proc test: timed out waiting\n");
    abort();
}

static void
s_test_run(s_test_t *test)
{
    emu_timer_t *guard =
        emu_loop_timer_start(test->loop, 20 * SP_NS_PER_S, s_test_expired, test);
    CHECK_NOT_NULL(guard);
    CHECK_INT(emu_loop_run(test->loop), 0);
    emu_loop_timer_cancel(test->loop, &guard);
}

//  Everything the child wrote, once it has exited (blocking read to EOF).
static void
s_test_read_all(int fd, char *out, size_t size)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(fd, out + len, size - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fd);
}

//  Reads (blocking) until the output holds `end`.
static void
s_test_read_until(int fd, const char *end, char *out, size_t size)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    size_t len = 0;
    out[0] = '\0';
    while (!strstr(out, end)) {
        ssize_t n = read(fd, out + len, size - 1 - len);
        CHECK_TRUE(n > 0);
        len += (size_t)n;
        out[len] = '\0';
    }
}

void
emu_proc_test(bool verbose)
{
    (void)verbose;
    //  The environment list: the last value wins; a prefix is no match.
    const char *list[] = {"A=1", "AB=2", "A=3", "B="};
    CHECK_STR(emu_proc_env_value(list, 4, "A"), "3");
    CHECK_STR(emu_proc_env_value(list, 4, "AB"), "2");
    CHECK_STR(emu_proc_env_value(list, 4, "B"), "");
    CHECK_NULL(emu_proc_env_value(list, 4, "C"));
    CHECK_NULL(emu_proc_env_value(NULL, 0, "A"));

    //  Lambda's wording of an end.
    char how[64];
    emu_proc_describe(3 << 8, how, sizeof how);
    CHECK_STR(how, "exit status 3");
    emu_proc_describe(SIGKILL, how, sizeof how);
    CHECK_STR(how, "signal: killed");
    emu_proc_describe(SIGSEGV, how, sizeof how);
    CHECK_STR(how, "signal: segmentation fault");
    emu_proc_describe(40, how, sizeof how);
    CHECK_STR(how, "signal: signal 40");

    //  A script that prints what it was given and exits 3.
    char dir[] = "/tmp/emu_proc_testXXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/bootstrap", dir);
    FILE *file = fopen(path, "w");
    CHECK_NOT_NULL(file);
    fputs("#!/bin/sh\necho \"$AWS_LAMBDA_RUNTIME_API\"\necho \"$KEY\"\npwd\n"
          "echo \"$AWS_LAMBDA_LOG_STREAM_NAME\"\necho oops >&2\n"
          "[ -n \"$SLEEP\" ] && exec sleep 30\nexit 3\n",
          file);
    fclose(file);
    CHECK_INT(chmod(path, 0755), 0);

    s_test_t test = {.loop = emu_loop_new()};
    CHECK_NOT_NULL(test.loop);
    const char *env[] = {"KEY=value"};
    emu_proc_spec_t spec = {
        .path = path, .env = env, .env_count = 1, .runtime_api = 9001, .version = "7"};
    char err[256], out[1024];
    int fd = -1;
    emu_proc_t *proc =
        emu_proc_new(test.loop, &spec, s_test_exited, &test, &fd, err, sizeof err);
    CHECK_NOT_NULL(proc);
    CHECK_TRUE(fd >= 0);
    CHECK_TRUE(emu_proc_pid(proc) > 0);
    CHECK_TRUE(emu_proc_spawned_ns(proc) > 0);
    s_test_run(&test);
    CHECK_INT(test.calls, 1);
    CHECK_INT(test.wait_errno, 0);
    emu_proc_describe(test.status, how, sizeof how);
    CHECK_STR(how, "exit status 3");
    CHECK_TRUE(emu_proc_max_memory_mb(proc) >= 1);
    s_test_read_all(fd, out, sizeof out);
    char pattern[256];
    snprintf(pattern, sizeof pattern,
             "^127\\.0\\.0\\.1:9001\nvalue\n%s\n[0-9]{4}/[0-9]{2}/[0-9]{2}/\\[7\\]"
             "[0-9a-f]{32}\noops\n$",
             dir);
    regex_t regex;
    CHECK_INT(regcomp(&regex, pattern, REG_EXTENDED), 0);
    if (regexec(&regex, out, 0, NULL, 0) != 0)
        fprintf(stderr, "emu_proc test: output\n%s\n", out);
    CHECK_INT(regexec(&regex, out, 0, NULL, 0), 0);
    regfree(&regex);
    emu_proc_destroy(&proc);
    CHECK_NULL(proc);
    emu_proc_destroy(&proc);

    //  A stream name of the caller's own is kept; kill ends it with SIGKILL.
    const char *env_sleep[] = {"SLEEP=1", "AWS_LAMBDA_LOG_STREAM_NAME=mine"};
    spec.env = env_sleep;
    spec.env_count = 2;
    test.calls = 0;
    proc = emu_proc_new(test.loop, &spec, s_test_exited, &test, &fd, err, sizeof err);
    CHECK_NOT_NULL(proc);
    s_test_read_until(fd, "oops\n", out, sizeof out);
    CHECK_TRUE(strstr(out, "\nmine\n") != NULL);
    emu_proc_kill(proc);
    s_test_run(&test);
    CHECK_INT(test.calls, 1);
    emu_proc_describe(test.status, how, sizeof how);
    CHECK_STR(how, "signal: killed");
    emu_proc_kill(proc); //  reaped: nothing to do
    close(fd);
    emu_proc_destroy(&proc);

    //  Destroy kills and reaps a running one, without the exited event.
    test.calls = 0;
    proc = emu_proc_new(test.loop, &spec, s_test_exited, &test, &fd, err, sizeof err);
    CHECK_NOT_NULL(proc);
    pid_t pid = emu_proc_pid(proc);
    emu_proc_destroy(&proc);
    close(fd);
    CHECK_INT(kill(pid, 0), -1);
    CHECK_INT(test.calls, 0);
    CHECK_INT(emu_loop_watch_count(test.loop), 0);

    //  A path that cannot run.
    spec.path = "/nonexistent/bootstrap";
    proc = emu_proc_new(test.loop, &spec, s_test_exited, &test, &fd, err, sizeof err);
    CHECK_NULL(proc);
    CHECK_INT(fd, -1);
    CHECK_STR(err, "cannot start /nonexistent/bootstrap: No such file or directory");
    CHECK_INT(emu_loop_watch_count(test.loop), 0);

    unlink(path);
    rmdir(dir);
    emu_loop_destroy(&test.loop);
}
