/*  emu_envlog — runtime output and the invocation's log; see emu_envlog.h. */
#include "emu_envlog.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct _emu_envlog_t {
    emu_loop_t *loop;                   //  borrowed
    const char *name;                   //  the environment's, borrowed
    const char *version;                //  START's version when the invocation has none
    int fd;                             //  read end of the output pipe; -1 when closed
    char line[EMU_ENVLOG_LINE_MAX + 1]; //  partial output line
    size_t line_len;                    //  bytes in line
    bool line_cut;                      //  dropping the rest of an overlong line
    uint64_t lines;                     //  output lines read
    uint64_t lines_dropped;             //  of those, not forwarded (rate limit)
    emu_envlog_limit_t limit;           //  output lines forwarded to our log
    char stage[2 * EMU_INVOCATION_LOG_MAX]; //  output not yet in the invocation's log
    size_t stage_len;                       //  bytes in stage
    emu_invocation_t *invocation;           //  attached; borrowed
    bool logged_start;                      //  its START line is written
};

void
emu_envlog_limit_init(emu_envlog_limit_t *limit, unsigned burst, int64_t now)
{
    assert(limit);
    *limit = (emu_envlog_limit_t){.refill_ns = now, .tokens = burst};
}

bool
emu_envlog_limit_take(emu_envlog_limit_t *limit, unsigned rate, unsigned burst,
                      int64_t now)
{
    assert(limit && rate > 0);
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

emu_envlog_t *
emu_envlog_new(emu_loop_t *loop, const char *name, const char *version)
{
    assert(loop && name && version);
    emu_envlog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->name = name;
    self->version = version;
    self->fd = -1;
    emu_envlog_limit_init(&self->limit, EMU_ENVLOG_BURST, sp_clock_mono_ns());
    return self;
}

void
emu_envlog_destroy(emu_envlog_t **self_p)
{
    assert(self_p);
    emu_envlog_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0) {
        emu_loop_unwatch(self->loop, self->fd);
        close(self->fd);
    }
    emu_envlog_report_dropped(self);
    free(self);
    *self_p = NULL;
}

void
emu_envlog_report_dropped(emu_envlog_t *self)
{
    assert(self);
    if (self->limit.dropped == 0)
        return;
    zsys_warning("function output dropped env=%s lines=%llu (over %d lines/s)",
                 self->name, (unsigned long long)self->limit.dropped, EMU_ENVLOG_RATE);
    self->limit.dropped = 0;
}

//  --- the invocation's log -----------------------------------------------

//  Keeps `len` (<= EMU_INVOCATION_LOG_MAX) bytes of output for the
//  invocation's log. Only the tail survives, so the staging buffer drops
//  what can no longer matter instead of growing: each byte is moved at
//  most once, whatever the flood.
static void
s_stage(emu_envlog_t *self, const char *data, size_t len)
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
s_stage_flush(emu_envlog_t *self)
{
    if (self->invocation && self->stage_len > 0)
        emu_invocation_log_append(self->invocation, self->stage, self->stage_len);
    self->stage_len = 0;
}

void
emu_envlog_attach(emu_envlog_t *self, emu_invocation_t *invocation)
{
    assert(self && invocation);
    self->invocation = invocation;
    self->logged_start = false;
    self->stage_len = 0;
}

void
emu_envlog_detach(emu_envlog_t *self)
{
    assert(self);
    self->invocation = NULL;
}

void
emu_envlog_printf(emu_envlog_t *self, const char *format, ...)
{
    assert(self && format);
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

void
emu_envlog_start(emu_envlog_t *self)
{
    assert(self);
    if (!self->invocation || self->logged_start)
        return;
    self->logged_start = true;
    const char *version = emu_invocation_version(self->invocation);
    emu_envlog_printf(self, "START RequestId: %s Version: %s\n",
                      emu_invocation_request_id(self->invocation),
                      *version ? version : self->version);
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

void
emu_envlog_timed_out(emu_envlog_t *self, double seconds)
{
    assert(self);
    emu_envlog_drain(self);
    if (!self->invocation)
        return;
    char stamp[40];
    s_timestamp(stamp, sizeof stamp);
    emu_envlog_printf(self, "%s %s Task timed out after %.2f seconds\n", stamp,
                      emu_invocation_request_id(self->invocation), seconds);
}

void
emu_envlog_init_failed(emu_envlog_t *self, int64_t spawned_ns, const char *status,
                       const char *error_type)
{
    assert(self && status);
    if (!self->invocation || self->logged_start)
        return;
    emu_envlog_drain(self);
    char tail[128];
    if (error_type)
        snprintf(tail, sizeof tail, "Status: %s\tError Type: %s", status, error_type);
    else
        snprintf(tail, sizeof tail, "Status: %s", status);
    emu_envlog_printf(self, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\t%s\n",
                      (double)(sp_clock_mono_ns() - spawned_ns) / SP_NS_PER_MS, tail);
}

void
emu_envlog_end(emu_envlog_t *self, const emu_envlog_report_t *report)
{
    assert(self && report);
    if (!self->invocation)
        return;
    emu_envlog_start(self);
    const char *id = emu_invocation_request_id(self->invocation);
    int64_t billed_ns = report->duration_ns + (report->init_ns > 0 ? report->init_ns : 0);
    long long billed_ms = (long long)((billed_ns + SP_NS_PER_MS - 1) / SP_NS_PER_MS);
    char init[64] = "", tail[128] = "";
    if (report->init_ns > 0)
        snprintf(init, sizeof init, "Init Duration: %.2f ms\t",
                 (double)report->init_ns / SP_NS_PER_MS);
    if (report->status && report->error_type)
        snprintf(tail, sizeof tail, "Status: %s\tError Type: %s", report->status,
                 report->error_type);
    else if (report->status)
        snprintf(tail, sizeof tail, "Status: %s", report->status);
    emu_envlog_printf(self,
                      "END RequestId: %s\n"
                      "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %lld "
                      "ms\tMemory Size: %u MB\tMax Memory Used: %u MB\t%s%s\n",
                      id, id, (double)report->duration_ns / SP_NS_PER_MS, billed_ms,
                      report->memory_mb, report->max_memory_mb, init, tail);
}

//  --- the runtime's output -----------------------------------------------

//  One whole (or cut) output line: to our log within the rate limit, and
//  to the invocation's log.
static void
s_line(emu_envlog_t *self, bool cut, int64_t now)
{
    self->lines++;
    self->line[self->line_len] = '\0';
    if (emu_envlog_limit_take(&self->limit, EMU_ENVLOG_RATE, EMU_ENVLOG_BURST, now)) {
        emu_envlog_report_dropped(self);
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
s_take_output(emu_envlog_t *self, const char *data, size_t len, int64_t now)
{
    while (len > 0) {
        const char *newline = memchr(data, '\n', len);
        size_t part = newline ? (size_t)(newline - data) : len;
        if (!self->line_cut) {
            size_t room = EMU_ENVLOG_LINE_MAX - self->line_len;
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

//  Reads what the runtime wrote, EMU_ENVLOG_READ_MAX bytes at most: the
//  loop is level-triggered, so the rest waits for the next wake-up and a
//  flooding runtime cannot keep the loop from everything else.
static void
s_output(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    emu_envlog_t *self = arg;
    char buf[EMU_ENVLOG_READ_MAX];
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
    emu_envlog_report_dropped(self);
    emu_loop_unwatch(loop, fd);
    close(fd);
    self->fd = -1;
}

int
emu_envlog_watch(emu_envlog_t *self, int fd)
{
    assert(self && fd >= 0 && self->fd < 0);
    if (emu_loop_watch(self->loop, fd, EPOLLIN, s_output, self)) {
        close(fd);
        return -1;
    }
    self->fd = fd;
    return 0;
}

void
emu_envlog_drain(emu_envlog_t *self)
{
    assert(self);
    if (self->fd >= 0)
        s_output(self->loop, self->fd, EPOLLIN, self);
}

uint64_t
emu_envlog_lines(emu_envlog_t *self)
{
    assert(self);
    return self->lines;
}

uint64_t
emu_envlog_lines_dropped(emu_envlog_t *self)
{
    assert(self);
    return self->lines_dropped;
}

//  --- selftest -----------------------------------------------------------

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    (void)invocation;
    (void)arg;
}

//  The invocation's log as a string.
static const char *
s_test_text(emu_invocation_t *inv, char *out, size_t size)
{
    size_t len = 0;
    const char *log = emu_invocation_log(inv, &len);
    CHECK_TRUE(len < size);
    memcpy(out, log, len);
    out[len] = '\0';
    return out;
}

static void
s_test_write(int fd, const char *text, size_t len)
{
    CHECK_INT(write(fd, text, len), (ssize_t)len);
}

void
emu_envlog_test(bool verbose)
{
    (void)verbose;
    //  The token bucket: a burst, then one token per 1/rate seconds.
    emu_envlog_limit_t limit;
    emu_envlog_limit_init(&limit, 2, 0);
    CHECK_TRUE(emu_envlog_limit_take(&limit, 10, 2, 0));
    CHECK_TRUE(emu_envlog_limit_take(&limit, 10, 2, 0));
    CHECK_TRUE(!emu_envlog_limit_take(&limit, 10, 2, 0));
    CHECK_INT(limit.dropped, 1);
    CHECK_TRUE(!emu_envlog_limit_take(&limit, 10, 2, 99 * SP_NS_PER_MS));
    CHECK_TRUE(emu_envlog_limit_take(&limit, 10, 2, 100 * SP_NS_PER_MS));
    CHECK_TRUE(!emu_envlog_limit_take(&limit, 10, 2, 150 * SP_NS_PER_MS));
    CHECK_TRUE(emu_envlog_limit_take(&limit, 10, 2, 10 * SP_NS_PER_S));
    CHECK_TRUE(emu_envlog_limit_take(&limit, 10, 2, 10 * SP_NS_PER_S));
    CHECK_TRUE(!emu_envlog_limit_take(&limit, 10, 2, 10 * SP_NS_PER_S));
    CHECK_INT(limit.dropped, 4);

    emu_loop_t *loop = emu_loop_new();
    CHECK_NOT_NULL(loop);
    emu_envlog_t *log = emu_envlog_new(loop, "demo#1", "$LATEST");
    CHECK_NOT_NULL(log);
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    CHECK_INT(emu_envlog_watch(log, fds[0]), 0);
    CHECK_INT(emu_loop_watch_count(loop), 1);

    //  Output before an invocation is counted, not kept.
    s_test_write(fds[1], "early\n", 6);
    emu_envlog_drain(log);
    CHECK_INT(emu_envlog_lines(log), 1);

    //  An invocation: START, its output (CR made a space, a partial line
    //  held until its end), END and REPORT with exact figures.
    char *event = strdup("{}");
    emu_invocation_t *inv = emu_invocation_new("11111111-1111-4111-8111-111111111111",
                                               &event, 2, s_test_done, NULL);
    CHECK_NOT_NULL(inv);
    emu_invocation_set_version(inv, "7");
    emu_envlog_attach(log, inv);
    emu_envlog_start(log);
    emu_envlog_start(log);
    s_test_write(fds[1], "a\rb\npart", 8);
    emu_envlog_drain(log);
    s_test_write(fds[1], "ial\n", 4);
    emu_envlog_drain(log);
    CHECK_INT(emu_envlog_lines(log), 3);
    emu_envlog_report_t report = {
        .duration_ns = 1234567, .init_ns = 4560000, .memory_mb = 256, .max_memory_mb = 9};
    emu_envlog_end(log, &report);
    char text[2 * EMU_INVOCATION_LOG_MAX];
    static const char first[] =
        "START RequestId: 11111111-1111-4111-8111-111111111111 Version: 7\n"
        "a b\npartial\n"
        "END RequestId: 11111111-1111-4111-8111-111111111111\n"
        "REPORT RequestId: 11111111-1111-4111-8111-111111111111\tDuration: 1.23 "
        "ms\tBilled Duration: 6 ms\tMemory Size: 256 MB\tMax Memory Used: 9 "
        "MB\tInit Duration: 4.56 ms\t\n";
    CHECK_STR(s_test_text(inv, text, sizeof text), first);
    //  Detached: output no longer reaches it.
    emu_envlog_detach(log);
    s_test_write(fds[1], "after\n", 6);
    emu_envlog_drain(log);
    CHECK_STR(s_test_text(inv, text, sizeof text), first);
    emu_invocation_destroy(&inv);

    //  A failed init (before START), a timeout line, a status, a line cut
    //  at EMU_ENVLOG_LINE_MAX; the version falls back to the default.
    event = strdup("{}");
    inv = emu_invocation_new("2", &event, 2, s_test_done, NULL);
    emu_envlog_attach(log, inv);
    static char big[EMU_ENVLOG_LINE_MAX + 10];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\n';
    s_test_write(fds[1], big, sizeof big);
    uint64_t lines = emu_envlog_lines(log);
    emu_envlog_init_failed(log, sp_clock_mono_ns(), "error", "Runtime.ExitError");
    CHECK_INT(emu_envlog_lines(log), lines + 1);
    emu_envlog_start(log);
    emu_envlog_init_failed(log, 0, "error", NULL); //  after START: nothing
    emu_envlog_printf(log, "%s\n", "crashed");
    report = (emu_envlog_report_t){.status = "error",
                                   .error_type = "Runtime.ExitError",
                                   .duration_ns = 2000000,
                                   .memory_mb = 128};
    emu_envlog_end(log, &report);
    s_test_text(inv, text, sizeof text);
    //  The log keeps its last EMU_INVOCATION_LOG_MAX bytes: the cut line's
    //  tail, then no rest of it.
    CHECK_INT(strlen(text), EMU_INVOCATION_LOG_MAX);
    size_t xs = strspn(text, "x");
    CHECK_TRUE(xs > 3000);
    const char *rest = text + xs;
    //  The init duration is however long the drain above took: a number
    //  with two decimals, not a fixed value (a loaded machine takes > 1 ms).
    const char *init = "\nINIT_REPORT Init Duration: ";
    CHECK_TRUE(strncmp(rest, init, strlen(init)) == 0);
    char *after = NULL;
    double init_ms = strtod(rest + strlen(init), &after);
    CHECK_TRUE(init_ms >= 0 && after[-3] == '.');
    rest = after;
    CHECK_TRUE(strncmp(rest,
                       " ms\tPhase: init\tStatus: error\tError Type: Runtime.ExitError\n",
                       60) == 0);
    CHECK_STR(strchr(rest, '\n') + 1,
              "START RequestId: 2 Version: $LATEST\ncrashed\nEND RequestId: 2\n"
              "REPORT RequestId: 2\tDuration: 2.00 ms\tBilled Duration: 2 ms\t"
              "Memory Size: 128 MB\tMax Memory Used: 0 MB\t"
              "Status: error\tError Type: Runtime.ExitError\n");
    emu_invocation_destroy(&inv);

    event = strdup("{}");
    inv = emu_invocation_new("3", &event, 2, s_test_done, NULL);
    emu_envlog_attach(log, inv);
    emu_envlog_start(log);
    emu_envlog_timed_out(log, 0.2);
    report = (emu_envlog_report_t){.status = "timeout", .duration_ns = 200000000};
    emu_envlog_end(log, &report);
    s_test_text(inv, text, sizeof text);
    CHECK_TRUE(strncmp(text, "START RequestId: 3 Version: $LATEST\n20", 38) == 0);
    CHECK_STR(strstr(text, "Z 3 "),
              "Z 3 Task timed out after 0.20 seconds\nEND RequestId: 3\n"
              "REPORT RequestId: 3\tDuration: 200.00 ms\tBilled Duration: 200 ms\t"
              "Memory Size: 0 MB\tMax Memory Used: 0 MB\tStatus: timeout\n");
    emu_envlog_detach(log);
    emu_invocation_destroy(&inv);

    //  End of file closes the pipe; the last partial line counts.
    uint64_t before = emu_envlog_lines(log);
    s_test_write(fds[1], "tail", 4);
    close(fds[1]);
    emu_envlog_drain(log);
    emu_envlog_drain(log);
    CHECK_INT(emu_envlog_lines(log), before + 1);
    CHECK_INT(emu_loop_watch_count(loop), 0);
    emu_envlog_destroy(&log);
    CHECK_NULL(log);
    emu_envlog_destroy(&log);

    //  A flood while an invocation runs: a 10,000-byte line (cut: one
    //  line), then 3,000 lines. Our log gets the first EMU_ENVLOG_BURST,
    //  the rest are counted; the invocation keeps exactly the last 4 KiB,
    //  ending with END and REPORT.
    log = emu_envlog_new(loop, "demo#9", "$LATEST");
    CHECK_NOT_NULL(log);
    CHECK_INT(pipe(fds), 0);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    CHECK_INT(emu_envlog_watch(log, fds[0]), 0);
    event = strdup("{}");
    inv = emu_invocation_new("9", &event, 2, s_test_done, NULL);
    emu_envlog_attach(log, inv);
    emu_envlog_start(log);
    static char flood[10001];
    memset(flood, 'x', sizeof flood);
    flood[sizeof flood - 1] = '\n';
    s_test_write(fds[1], flood, sizeof flood);
    for (int i = 1; i <= 3000; i++) {
        char line[32];
        int len = snprintf(line, sizeof line, "flood line %d\n", i);
        s_test_write(fds[1], line, (size_t)len);
    }
    while (emu_envlog_lines(log) < 3001)
        emu_envlog_drain(log);
    report = (emu_envlog_report_t){.duration_ns = 1000000, .memory_mb = 128};
    emu_envlog_end(log, &report);
    size_t log_len = 0;
    emu_invocation_log(inv, &log_len);
    CHECK_INT(log_len, EMU_INVOCATION_LOG_MAX);
    s_test_text(inv, text, sizeof text);
    CHECK_NOT_NULL(strstr(text, "\nflood line 2990\nflood line 2991\n"));
    CHECK_STR(
        strstr(text, "flood line 3000\n"),
        "flood line 3000\nEND RequestId: 9\nREPORT RequestId: 9\tDuration: 1.00 "
        "ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\t\n");
    CHECK_INT(emu_envlog_lines(log), 3001);
    CHECK_TRUE(emu_envlog_lines_dropped(log) >= 2500);
    CHECK_TRUE(emu_envlog_lines_dropped(log) <= 3001 - EMU_ENVLOG_BURST);
    emu_envlog_detach(log);
    emu_invocation_destroy(&inv);
    close(fds[1]);
    emu_envlog_destroy(&log);
    CHECK_INT(emu_loop_watch_count(loop), 0);
    emu_loop_destroy(&loop);
}
