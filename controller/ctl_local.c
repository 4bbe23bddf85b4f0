/*  ctl_local — child processes started by the controller; see ctl_local.h.

    Between fork and exec the child only makes async-signal-safe calls (the
    parent has threads). An exec failure travels back over a close-on-exec
    pipe, so ctl_local_new can report "no such file" instead of handing out
    a process that died at birth.
*/
#define _GNU_SOURCE //  pipe2
#include "ctl_local.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct _ctl_local_t {
    pid_t pid;                    //  the child we started
    int out_fd;                   //  read end of its stdout, or -1
    char buf[CTL_LOCAL_MAX_LINE]; //  stdout bytes not yet returned as lines
    size_t buf_len;               //  bytes in buf
    bool eof;                     //  its stdout reached end of file
    bool reaped;                  //  waitpid collected it
    int status;                   //  exit status once reaped
};

static void
s_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

//  The child side of fork: never returns.
static void
s_child(char *const argv[], int devnull, int out_fd, int err_fd, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127); //  the parent died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, NULL);
    if (dup2(devnull, STDIN_FILENO) < 0 ||
        dup2(out_fd >= 0 ? out_fd : STDERR_FILENO, STDOUT_FILENO) < 0)
        goto fail;
    //  Nothing else crosses exec: mark every other descriptor close-on-exec
    //  (the error pipe then closes exactly when exec succeeds).
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        for (int fd = 3; fd < 4096; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    execv(argv[0], argv);
fail:;
    int code = errno;
    ssize_t written = write(err_fd, &code, sizeof code);
    (void)written;
    _exit(127);
}

ctl_local_t *
ctl_local_new(char *const argv[], bool capture_stdout, char *err, size_t err_size)
{
    assert(argv && argv[0]);
    ctl_local_t *self = NULL;
    int err_pipe[2] = {-1, -1};
    int out_pipe[2] = {-1, -1};
    int devnull = -1;
    if (pipe2(err_pipe, O_CLOEXEC) || (capture_stdout && pipe2(out_pipe, O_CLOEXEC))) {
        sp_err_set(err, err_size, "pipe: %s", strerror(errno));
        goto out;
    }
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) {
        sp_err_set(err, err_size, "/dev/null: %s", strerror(errno));
        goto out;
    }
    self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        goto out;
    }
    self->out_fd = -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        sp_err_set(err, err_size, "fork: %s", strerror(errno));
        free(self);
        self = NULL;
        goto out;
    }
    if (pid == 0)
        s_child(argv, devnull, out_pipe[1], err_pipe[1], parent);
    self->pid = pid;
    s_close(&err_pipe[1]);
    s_close(&out_pipe[1]);
    int code = 0;
    ssize_t got;
    do
        got = read(err_pipe[0], &code, sizeof code);
    while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof code) {
        sp_err_set(err, err_size, "cannot run %s: %s", argv[0], strerror(code));
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        free(self);
        self = NULL;
        goto out;
    }
    self->out_fd = out_pipe[0];
    out_pipe[0] = -1;
out:
    s_close(&err_pipe[0]);
    s_close(&err_pipe[1]);
    s_close(&out_pipe[0]);
    s_close(&out_pipe[1]);
    s_close(&devnull);
    return self;
}

void
ctl_local_destroy(ctl_local_t **self_p)
{
    assert(self_p);
    ctl_local_t *self = *self_p;
    if (self) {
        ctl_local_stop(self, CTL_LOCAL_GRACE_MS);
        s_close(&self->out_fd);
        free(self);
        *self_p = NULL;
    }
}

pid_t
ctl_local_pid(ctl_local_t *self)
{
    assert(self);
    return self->pid;
}

//  Moves the first line out of buf into line; returns its length or -1.
static int
s_take_line(ctl_local_t *self, char *line, size_t size, bool force)
{
    char *newline = memchr(self->buf, '\n', self->buf_len);
    if (!newline && !force)
        return -1;
    size_t len = newline ? (size_t)(newline - self->buf) : self->buf_len;
    size_t consumed = newline ? len + 1 : len;
    size_t copy = len < size - 1 ? len : size - 1;
    memcpy(line, self->buf, copy);
    line[copy] = '\0';
    memmove(self->buf, self->buf + consumed, self->buf_len - consumed);
    self->buf_len -= consumed;
    return (int)copy;
}

int
ctl_local_read_line(ctl_local_t *self, char *line, size_t size, int timeout_ms)
{
    assert(self && line && size > 0);
    if (self->out_fd < 0)
        return -1;
    int64_t deadline = sp_clock_mono_ns() + (int64_t)timeout_ms * SP_NS_PER_MS;
    for (;;) {
        int len = s_take_line(self, line, size, self->buf_len == sizeof self->buf);
        if (len >= 0)
            return len;
        if (self->eof)
            return self->buf_len ? s_take_line(self, line, size, true) : -1;
        int64_t left_ms = (deadline - sp_clock_mono_ns()) / SP_NS_PER_MS;
        if (left_ms < 0)
            return -1;
        struct pollfd pfd = {.fd = self->out_fd, .events = POLLIN};
        int rc = poll(&pfd, 1, (int)(left_ms > INT_MAX ? INT_MAX : left_ms));
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0)
            continue;
        ssize_t got = read(self->out_fd, self->buf + self->buf_len,
                           sizeof self->buf - self->buf_len);
        if (got < 0 && errno != EINTR && errno != EAGAIN)
            return -1;
        if (got == 0)
            self->eof = true;
        if (got > 0)
            self->buf_len += (size_t)got;
    }
}

static void
s_record(ctl_local_t *self, int status)
{
    self->reaped = true;
    if (WIFEXITED(status))
        self->status = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        self->status = 128 + WTERMSIG(status);
    else
        self->status = 255;
}

bool
ctl_local_running(ctl_local_t *self)
{
    assert(self);
    if (self->reaped)
        return false;
    int status;
    pid_t rc = waitpid(self->pid, &status, WNOHANG);
    if (rc == self->pid) {
        s_record(self, status);
        return false;
    }
    return true;
}

int
ctl_local_exit_status(ctl_local_t *self)
{
    assert(self);
    if (ctl_local_running(self))
        return -1;
    return self->status;
}

int
ctl_local_stop(ctl_local_t *self, int grace_ms)
{
    assert(self);
    if (!ctl_local_running(self))
        return self->status;
    kill(self->pid, SIGTERM);
    int64_t deadline = sp_clock_mono_ns() + (int64_t)grace_ms * SP_NS_PER_MS;
    while (sp_clock_mono_ns() < deadline) {
        if (!ctl_local_running(self))
            return self->status;
        usleep(10000);
    }
    if (ctl_local_running(self)) {
        kill(self->pid, SIGKILL);
        int status;
        pid_t rc;
        do
            rc = waitpid(self->pid, &status, 0);
        while (rc < 0 && errno == EINTR);
        if (rc == self->pid)
            s_record(self, status);
        else {
            self->reaped = true; //  not ours any more (should not happen)
            self->status = 255;
        }
    }
    return self->status;
}

int
ctl_local_exe_dir(char *dir, size_t size)
{
    assert(dir && size > 1);
    ssize_t n = readlink("/proc/self/exe", dir, size - 1);
    if (n <= 0 || (size_t)n >= size - 1)
        return -1;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash)
        return -1;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return 0;
}

void
ctl_local_test(bool verbose)
{
    char err[256];
    char line[64];

    //  A child whose ready line we read, then stop: SIGTERM ends it.
    char *const talker[] = {"/bin/sh", "-c",
                            "echo 'listening on http://127.0.0.1:1234'; echo second; "
                            "exec sleep 30",
                            NULL};
    ctl_local_t *child = ctl_local_new(talker, true, err, sizeof err);
    CHECK_NOT_NULL(child);
    CHECK_TRUE(ctl_local_pid(child) > 0);
    CHECK_INT(ctl_local_read_line(child, line, sizeof line, 5000), 34);
    CHECK_STR(line, "listening on http://127.0.0.1:1234");
    //  A short buffer cuts the line.
    CHECK_INT(ctl_local_read_line(child, line, 4, 5000), 3);
    CHECK_STR(line, "sec");
    CHECK_TRUE(ctl_local_running(child));
    CHECK_INT(ctl_local_exit_status(child), -1);
    CHECK_INT(ctl_local_read_line(child, line, sizeof line, 20), -1); //  nothing more
    CHECK_INT(ctl_local_stop(child, 5000), 128 + SIGTERM);
    CHECK_INT(ctl_local_stop(child, 5000), 128 + SIGTERM); //  idempotent
    CHECK_TRUE(!ctl_local_running(child));
    ctl_local_destroy(&child);
    CHECK_NULL(child);
    ctl_local_destroy(&child);

    //  Exit status, end of output.
    char *const quitter[] = {"/bin/sh", "-c", "echo bye; exit 3", NULL};
    child = ctl_local_new(quitter, true, err, sizeof err);
    CHECK_NOT_NULL(child);
    CHECK_INT(ctl_local_read_line(child, line, sizeof line, 5000), 3);
    CHECK_STR(line, "bye");
    CHECK_INT(ctl_local_read_line(child, line, sizeof line, 5000), -1); //  EOF
    for (int i = 0; i < 500 && ctl_local_running(child); i++)
        usleep(10000);
    CHECK_INT(ctl_local_exit_status(child), 3);
    ctl_local_destroy(&child);

    //  A child that ignores SIGTERM is killed after the grace period.
    char *const stubborn[] = {"/bin/sh", "-c", "trap '' TERM; echo up; exec sleep 30",
                              NULL};
    child = ctl_local_new(stubborn, true, err, sizeof err);
    CHECK_NOT_NULL(child);
    CHECK_INT(ctl_local_read_line(child, line, sizeof line, 5000), 2);
    CHECK_INT(ctl_local_stop(child, 100), 128 + SIGKILL);
    ctl_local_destroy(&child);

    //  Uncaptured stdout: read_line has nothing to offer.
    char *const silent[] = {"/bin/true", NULL};
    child = ctl_local_new(silent, false, err, sizeof err);
    CHECK_NOT_NULL(child);
    CHECK_INT(ctl_local_read_line(child, line, sizeof line, 10), -1);
    for (int i = 0; i < 500 && ctl_local_running(child); i++)
        usleep(10000);
    CHECK_INT(ctl_local_stop(child, 5000), 0);
    ctl_local_destroy(&child);

    //  A missing program is reported, not started.
    char *const missing[] = {"/nonexistent/stampede-agent", NULL};
    CHECK_NULL(ctl_local_new(missing, false, err, sizeof err));
    CHECK_STR(err, "cannot run /nonexistent/stampede-agent: No such file or directory");

    char dir[4096];
    CHECK_INT(ctl_local_exe_dir(dir, sizeof dir), 0);
    CHECK_TRUE(dir[0] == '/');
    CHECK_TRUE(strrchr(dir, '/') != NULL);
    CHECK_INT(ctl_local_exe_dir(dir, 2), -1);
    if (verbose)
        printf("(local checks done) ");
}
