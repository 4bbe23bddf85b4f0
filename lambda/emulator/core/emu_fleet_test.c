/*  emu_fleet_test — emu_fleet's selftest, in a file of its own (built into the
    selftest runner only) so the module stays one screenful of product
    code; it uses the public API only.
*/
#include "emu_env.h"
#include "emu_fleet.h"
#include "emu_pool.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_oom.h"
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    emu_loop_t *loop;
    emu_fleet_t *fleet;
    emu_fleet_group_t *group; //  watched by s_cond_ready
    int busy[2];              //  [provisioned] sum of the deltas
    int busy_max;             //  on-demand and provisioned at once
    int freed;
    int lost;
    int start_failed;
    int done;
    int ok;
    int target; //  for s_cond_done
} s_test_t;

static void
s_test_busy(void *arg, bool provisioned, int delta)
{
    s_test_t *test = arg;
    test->busy[provisioned] += delta;
    if (test->busy[0] + test->busy[1] > test->busy_max)
        test->busy_max = test->busy[0] + test->busy[1];
}

static void
s_test_freed(void *arg)
{
    s_test_t *test = arg;
    test->freed++;
}

static void
s_test_lost(void *arg, void *owner, bool init_failed, const char *version)
{
    s_test_t *test = arg;
    test->lost++;
}

static void
s_test_start_failed(void *arg, void *owner, const char *why)
{
    s_test_t *test = arg;
    test->start_failed++;
}

static void
s_test_done(emu_invocation_t *invocation, void *arg)
{
    s_test_t *test = arg;
    test->done++;
    test->ok += emu_invocation_outcome(invocation) == EMU_INVOCATION_OK;
}

static emu_invocation_t *
s_test_invocation(s_test_t *test)
{
    char id[EMU_INVOCATION_ID_SIZE];
    emu_invocation_new_id(id);
    char *event = strdup("{}");
    emu_invocation_t *invocation = emu_invocation_new(id, &event, 2, s_test_done, test);
    CHECK_NOT_NULL(invocation);
    return invocation;
}

typedef struct {
    bool (*ready)(s_test_t *);
    s_test_t *test;
    int64_t deadline_ns;
} s_wait_t;

static void
s_wait_poll(emu_loop_t *loop, void *arg)
{
    s_wait_t *wait = arg;
    CHECK_TRUE(sp_clock_mono_ns() < wait->deadline_ns);
    if (wait->ready(wait->test))
        emu_loop_stop(loop);
    else
        CHECK_NOT_NULL(emu_loop_timer_start(loop, 5 * SP_NS_PER_MS, s_wait_poll, wait));
}

//  Runs the loop until ready(test), at most 10 s.
static void
s_wait_for(s_test_t *test, bool (*ready)(s_test_t *))
{
    s_wait_t wait = {.ready = ready,
                     .test = test,
                     .deadline_ns = sp_clock_mono_ns() + 10 * SP_NS_PER_S};
    CHECK_NOT_NULL(emu_loop_timer_start(test->loop, 0, s_wait_poll, &wait));
    CHECK_INT(emu_loop_run(test->loop), 0);
}

static void
s_test_stop(emu_loop_t *loop, void *arg)
{
    emu_loop_stop(loop);
}

static bool
s_cond_no_busy(s_test_t *test)
{
    return test->busy[0] == 0 && test->busy[1] == 0;
}

static bool
s_cond_done(s_test_t *test)
{
    return test->done >= test->target;
}

static bool
s_cond_gone(s_test_t *test)
{
    emu_fleet_stats_t stats;
    emu_fleet_stats(test->fleet, &stats);
    return stats.environments == 0;
}

static bool
s_cond_ready(s_test_t *test)
{
    int ready = 0;
    int live = emu_fleet_live(test->group, &ready);
    return live == ready && emu_fleet_idle(test->group) == (size_t)live;
}

static bool
s_cond_start_failed(s_test_t *test)
{
    return test->start_failed > 0;
}

void
emu_fleet_test(bool verbose)
{
    s_test_t test = {.loop = emu_loop_new()};
    CHECK_NOT_NULL(test.loop);
    const emu_fleet_events_t events = {s_test_busy, s_test_freed, s_test_lost,
                                       s_test_start_failed};
    const char *pairs[] = {"STAMPEDE_HOLD_MS=0"};
    emu_function_config_t config = {.name = "demo",
                                    .path = EMU_TEST_BOOTSTRAP,
                                    .reserved = -1,
                                    .env = pairs,
                                    .env_count = 1,
                                    .timeout_s = 3};
    //  Idle for at most 1 s.
    test.fleet = emu_fleet_new(test.loop, "demo", config.path, SP_NS_PER_S, verbose,
                               &events, &test);
    CHECK_NOT_NULL(test.fleet);
    emu_snap_t *snap = emu_snap_new(&config, "bootstrap", "$LATEST", NULL, NULL, 0);
    CHECK_NOT_NULL(snap);
    emu_fleet_group_t *ondemand = emu_fleet_group_new(test.fleet, NULL);
    CHECK_NOT_NULL(ondemand);
    emu_fleet_stats_t stats;
    emu_fleet_stats(test.fleet, &stats);
    CHECK_INT(stats.environments, 0);
    CHECK_INT(emu_fleet_idle(ondemand), 0);
    CHECK_INT(emu_fleet_live(ondemand, NULL), 0);

    //  Cold: a new environment, started from the loop.
    emu_invocation_t *first = s_test_invocation(&test);
    CHECK_INT(emu_fleet_acquire(ondemand, snap, first), EMU_FLEET_OK);
    CHECK_INT(test.busy[0], 1);
    emu_fleet_stats(test.fleet, &stats);
    CHECK_INT(stats.starting, 1);
    CHECK_INT(stats.environments, 1);
    CHECK_INT(stats.spawns, 0);
    s_wait_for(&test, s_cond_no_busy);
    CHECK_INT(test.done, 1);
    CHECK_INT(test.ok, 1);
    CHECK_TRUE(emu_invocation_cold(first));
    emu_fleet_stats(test.fleet, &stats);
    CHECK_INT(stats.spawns, 1);
    CHECK_INT(stats.starting, 0);
    CHECK_INT(stats.environments, 1);
    CHECK_INT(stats.idle, 1);
    CHECK_INT(emu_fleet_idle(ondemand), 1);
    CHECK_INT(emu_fleet_live(ondemand, NULL), 1);
    //  Warm: the same environment.
    emu_invocation_t *second = s_test_invocation(&test);
    CHECK_INT(emu_fleet_acquire(ondemand, snap, second), EMU_FLEET_OK);
    s_wait_for(&test, s_cond_no_busy);
    CHECK_INT(test.ok, 2);
    CHECK_TRUE(!emu_invocation_cold(second));
    CHECK_STR(emu_invocation_environment(second), emu_invocation_environment(first));
    emu_fleet_stats(test.fleet, &stats);
    CHECK_INT(stats.spawns, 1);
    CHECK_INT(test.busy_max, 1);
    emu_invocation_destroy(&first);
    emu_invocation_destroy(&second);
    //  Idle reclaim: gone once idle for the TTL, checked every quarter.
    int64_t start = sp_clock_mono_ns();
    int freed = test.freed;
    s_wait_for(&test, s_cond_gone);
    CHECK_TRUE(sp_clock_mono_ns() - start >= SP_NS_PER_S / 2);
    CHECK_INT(test.freed, freed); //  an idle one going opens no room
    CHECK_INT(emu_fleet_idle(ondemand), 0);
    CHECK_INT(emu_fleet_live(ondemand, NULL), 0);

    //  A provisioned group: filled ahead, warm, never reclaimed.
    int owner = 0;
    test.group = emu_fleet_group_new(test.fleet, &owner);
    CHECK_NOT_NULL(test.group);
    CHECK_INT(emu_fleet_fill(test.group, snap, 2), 0);
    int ready = -1;
    CHECK_INT(emu_fleet_live(test.group, &ready), 2);
    CHECK_INT(ready, 0);
    s_wait_for(&test, s_cond_ready);
    CHECK_INT(emu_fleet_live(test.group, &ready), 2);
    CHECK_INT(ready, 2);
    CHECK_INT(emu_fleet_idle(test.group), 2);
    emu_invocation_t *third = s_test_invocation(&test);
    emu_fleet_run_idle(test.group, third);
    CHECK_INT(test.busy[1], 1);
    CHECK_INT(emu_fleet_idle(test.group), 1);
    s_wait_for(&test, s_cond_no_busy);
    CHECK_INT(test.ok, 3);
    CHECK_TRUE(!emu_invocation_cold(third));
    emu_invocation_destroy(&third);
    //  Past the idle TTL they stay.
    CHECK_NOT_NULL(
        emu_loop_timer_start(test.loop, 1500 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(test.loop), 0);
    CHECK_INT(emu_fleet_live(test.group, NULL), 2);
    emu_fleet_stats(test.fleet, &stats);
    CHECK_INT(stats.environments, 2);
    CHECK_INT(stats.spawns, 3);
    //  Filling to fewer recycles the surplus; recycling stops the rest.
    CHECK_INT(emu_fleet_fill(test.group, snap, 1), 0);
    CHECK_INT(emu_fleet_live(test.group, NULL), 1);
    emu_fleet_recycle(test.group);
    CHECK_INT(emu_fleet_live(test.group, NULL), 0);
    s_wait_for(&test, s_cond_gone);
    //  Refilled, then detached: recycled and freed once empty.
    CHECK_INT(emu_fleet_fill(test.group, snap, 1), 0);
    s_wait_for(&test, s_cond_ready);
    emu_fleet_group_detach(test.group);
    test.group = NULL;
    s_wait_for(&test, s_cond_gone);
    CHECK_INT(test.lost, 0);
    CHECK_INT(test.start_failed, 0);
    emu_fleet_stats(test.fleet, &stats);
    CHECK_INT(stats.spawns, 4);
    CHECK_INT(stats.spawn_failures, 0);
    //  Destroyed with one in flight and one still queued to start: both
    //  handed back ABORTED.
    const char *slow_pairs[] = {"STAMPEDE_HOLD_MS=5000"};
    config.env = slow_pairs;
    emu_snap_t *slow = emu_snap_new(&config, "bootstrap", "$LATEST", NULL, NULL, 0);
    CHECK_NOT_NULL(slow);
    emu_invocation_t *flying = s_test_invocation(&test);
    CHECK_INT(emu_fleet_acquire(ondemand, slow, flying), EMU_FLEET_OK);
    CHECK_NOT_NULL(
        emu_loop_timer_start(test.loop, 300 * SP_NS_PER_MS, s_test_stop, NULL));
    CHECK_INT(emu_loop_run(test.loop), 0);
    emu_fleet_stats(test.fleet, &stats);
    CHECK_INT(stats.spawns, 5);
    CHECK_INT(emu_invocation_outcome(flying), EMU_INVOCATION_PENDING);
    emu_invocation_t *queued = s_test_invocation(&test);
    CHECK_INT(emu_fleet_acquire(ondemand, slow, queued), EMU_FLEET_OK);
    emu_fleet_destroy(&test.fleet);
    CHECK_NULL(test.fleet);
    CHECK_INT(emu_invocation_outcome(flying), EMU_INVOCATION_ABORTED);
    CHECK_INT(emu_invocation_outcome(queued), EMU_INVOCATION_ABORTED);
    emu_invocation_destroy(&flying);
    emu_invocation_destroy(&queued);
    CHECK_INT(test.busy[0], 2); //  no event after destroy
    test.busy[0] = 0;
    emu_snap_unref(&slow);

    //  A provisioned environment whose executable is missing is reported.
    config.path = "/nonexistent/bootstrap";
    emu_snap_t *broken = emu_snap_new(&config, "bootstrap", "1", NULL, NULL, 0);
    CHECK_NOT_NULL(broken);
    test.fleet = emu_fleet_new(test.loop, "demo", config.path, SP_NS_PER_S, verbose,
                               &events, &test);
    CHECK_NOT_NULL(test.fleet);
    test.group = emu_fleet_group_new(test.fleet, &owner);
    CHECK_INT(emu_fleet_fill(test.group, broken, 1), 0);
    s_wait_for(&test, s_cond_start_failed);
    emu_fleet_stats(test.fleet, &stats);
    CHECK_INT(test.start_failed, 1);
    CHECK_INT(test.lost, 0);
    CHECK_INT(stats.spawns, 0);
    CHECK_INT(stats.spawn_failures, 1);
    CHECK_INT(emu_fleet_live(test.group, NULL), 0);
    //  An on-demand one hands its invocation back INIT_ERROR.
    emu_fleet_group_t *broken_ondemand = emu_fleet_group_new(test.fleet, NULL);
    CHECK_NOT_NULL(broken_ondemand);
    emu_invocation_t *failed = s_test_invocation(&test);
    CHECK_INT(emu_fleet_acquire(broken_ondemand, broken, failed), EMU_FLEET_OK);
    test.target = test.done + 1;
    s_wait_for(&test, s_cond_done);
    CHECK_INT(test.busy[0], 0);
    CHECK_INT(emu_invocation_outcome(failed), EMU_INVOCATION_INIT_ERROR);
    CHECK_STR(emu_invocation_payload(failed, NULL),
              "{\"errorMessage\":\"cannot start /nonexistent/bootstrap: No such file or "
              "directory\","
              "\"errorType\":\"Runtime.InvalidEntrypoint\"}");
    emu_invocation_destroy(&failed);
    emu_fleet_stats(test.fleet, &stats);
    CHECK_INT(stats.spawn_failures, 2);
    CHECK_INT(stats.environments, 0);
    CHECK_INT(test.start_failed, 1); //  reported for owned groups only
    emu_fleet_destroy(&test.fleet);
    emu_snap_unref(&broken);
    emu_snap_unref(&snap);
    emu_loop_destroy(&test.loop);
}
