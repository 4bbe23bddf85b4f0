/*  fn_procage — the process's age from /proc; see fn_procage.h. */
#include "fn_procage.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  A /proc/self/stat line is a few hundred bytes; the command name in it
//  is at most 64.
#define S_PROC_LINE_MAX 4096
//  starttime is field 22; fields are counted from 3 after the command name.
#define S_STARTTIME_FIELD 22

//  Reads the whole small file `path` into `buf` (NUL-terminated).
//  Returns 0, or -1 when it cannot be read or does not fit.
static int
s_read_small(const char *path, char *buf, size_t size)
{
    FILE *file = fopen(path, "re");
    if (!file)
        return -1;
    size_t len = fread(buf, 1, size - 1, file);
    bool whole = len < size - 1 && !ferror(file);
    fclose(file);
    buf[len] = '\0';
    return whole ? 0 : -1;
}

//  One unsigned decimal number at *text, followed by a blank or the end;
//  advances *text past it. Returns 0, or -1 when there is none.
static int
s_parse_u64(const char **text, uint64_t *value)
{
    const char *start = *text;
    if (*start < '0' || *start > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long parsed = strtoull(start, &end, 10);
    if (errno || (*end != '\0' && *end != ' ' && *end != '\n'))
        return -1;
    *value = parsed;
    *text = end;
    return 0;
}

int
fn_procage_parse_stat(const char *text, uint64_t *starttime_ticks)
{
    assert(text && starttime_ticks);
    const char *cursor = strrchr(text, ')');
    if (!cursor || cursor[1] != ' ')
        return -1;
    cursor += 2; //  field 3, the state
    for (int field = 3; field < S_STARTTIME_FIELD; field++) {
        cursor = strchr(cursor, ' ');
        if (!cursor)
            return -1;
        cursor++;
    }
    return s_parse_u64(&cursor, starttime_ticks);
}

int
fn_procage_parse_schedstat(const char *text, uint64_t *runnable_ns)
{
    assert(text && runnable_ns);
    uint64_t running = 0, waiting = 0;
    if (s_parse_u64(&text, &running) || *text++ != ' ' || s_parse_u64(&text, &waiting))
        return -1;
    if (running > UINT64_MAX - waiting)
        return -1;
    *runnable_ns = running + waiting;
    return 0;
}

int64_t
fn_procage_estimate(int64_t boot_ns, uint64_t starttime_ticks, long tick_hz,
                    uint64_t runnable_ns)
{
    if (tick_hz <= 0 || boot_ns < 0)
        return -1;
    int64_t tick_ns = SP_NS_PER_S / tick_hz;
    if (starttime_ticks > (uint64_t)(boot_ns / tick_ns))
        return -1;
    //  The kernel rounds the creation time down to a tick: the process
    //  started in [starttime, starttime + tick).
    int64_t upper = boot_ns - (int64_t)starttime_ticks * tick_ns;
    int64_t lower = upper - tick_ns;
    int64_t age;
    if (runnable_ns == 0)
        age = upper - tick_ns / 2;
    else
        age = (int64_t)runnable_ns > lower ? (int64_t)runnable_ns : lower;
    if (age > upper)
        age = upper;
    return age < 0 ? 0 : age;
}

int64_t
fn_procage_ns(void)
{
    char line[S_PROC_LINE_MAX];
    uint64_t starttime = 0, runnable = 0;
    //  Both reads come before the clock, so the clock is never earlier
    //  than what the kernel had accounted.
    if (s_read_small("/proc/self/stat", line, sizeof line) ||
        fn_procage_parse_stat(line, &starttime))
        return -1;
    if (s_read_small("/proc/self/schedstat", line, sizeof line) ||
        fn_procage_parse_schedstat(line, &runnable))
        runnable = 0; //  no scheduler statistics: ticks only
    struct timespec now;
    if (clock_gettime(CLOCK_BOOTTIME, &now))
        return -1;
    int64_t boot_ns = (int64_t)now.tv_sec * SP_NS_PER_S + now.tv_nsec;
    return fn_procage_estimate(boot_ns, starttime, sysconf(_SC_CLK_TCK), runnable);
}

void
fn_procage_test(bool verbose)
{
    //  A command name with blanks and parentheses: fields count after the
    //  last ')'. Field 22 here is 2237743.
    const char *stat =
        "4242 (a) b (c)) S 1 4242 4242 0 -1 4194304 95 0 0 0 0 0 0 0 20 0 1 0 "
        "2237743 2813952 62 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 "
        "0 0\n";
    uint64_t ticks = 0;
    CHECK_INT(fn_procage_parse_stat(stat, &ticks), 0);
    CHECK_TRUE(ticks == 2237743);
    const char *bad_stats[] = {
        "",
        "4242 (a) S 1",                                                     //  too short
        "4242 (a)S 1 4242 4242 0 -1 4194304 95 0 0 0 0 0 0 0 20 0 1 0 7 1", //  no blank
        "4242 (a) S 1 4242 4242 0 -1 4194304 95 0 0 0 0 0 0 0 20 0 1 0 -7 1", //  sign
        "4242 (a) S 1 4242 4242 0 -1 4194304 95 0 0 0 0 0 0 0 20 0 1 0 7x 1", //  junk
        ("4242 (a) S 1 4242 4242 0 -1 4194304 95 0 0 0 0 0 0 0 20 0 1 0 "
         "99999999999999999999999 1"), //  overflow
        "no parenthesis at all"};
    for (size_t i = 0; i < sizeof bad_stats / sizeof bad_stats[0]; i++)
        CHECK_INT(fn_procage_parse_stat(bad_stats[i], &ticks), -1);

    uint64_t runnable = 0;
    CHECK_INT(fn_procage_parse_schedstat("2635101 1200 1\n", &runnable), 0);
    CHECK_TRUE(runnable == 2636301);
    CHECK_INT(fn_procage_parse_schedstat("5 0", &runnable), 0);
    CHECK_TRUE(runnable == 5);
    const char *bad_sched[] = {"", "12", "12  3 1", "a 3 1", "18446744073709551615 1 1"};
    for (size_t i = 0; i < sizeof bad_sched / sizeof bad_sched[0]; i++)
        CHECK_INT(fn_procage_parse_schedstat(bad_sched[i], &runnable), -1);

    //  At 100 Hz, started in tick 1000 (10.000-10.010 s), now 10.014 s: the
    //  true age is 4-14 ms.
    int64_t now = INT64_C(10014000000);
    //  schedstat inside the bounds is the age.
    CHECK_TRUE(fn_procage_estimate(now, 1000, 100, 6500000) == 6500000);
    //  A process that slept: schedstat under the floor, the floor wins.
    CHECK_TRUE(fn_procage_estimate(now, 1000, 100, 1000000) == 4000000);
    //  Never more than the coarse upper bound.
    CHECK_TRUE(fn_procage_estimate(now, 1000, 100, 20000000) == 14000000);
    //  No schedstat: the middle of the start tick.
    CHECK_TRUE(fn_procage_estimate(now, 1000, 100, 0) == 9000000);
    //  Started in the current tick, no schedstat: never negative.
    CHECK_TRUE(fn_procage_estimate(INT64_C(10002000000), 1000, 100, 0) == 0);
    //  At 1000 Hz the bounds are 1 ms apart.
    CHECK_TRUE(fn_procage_estimate(now, 10010, 1000, 100) == 3000000);
    //  Impossible inputs.
    CHECK_TRUE(fn_procage_estimate(now, 1002, 100, 0) == -1);
    CHECK_TRUE(fn_procage_estimate(now, 1000, 0, 0) == -1);
    CHECK_TRUE(fn_procage_estimate(-1, 0, 100, 0) == -1);

    //  This process: alive since before this test, and not for a day.
    int64_t age = fn_procage_ns();
    CHECK_TRUE(age > 0 && age < 86400 * SP_NS_PER_S);
    int64_t later = fn_procage_ns();
    CHECK_TRUE(later >= age - 10 * SP_NS_PER_MS);
    if (verbose)
        printf("fn_procage: this process is %.3f ms old\n", (double)age / SP_NS_PER_MS);
}
