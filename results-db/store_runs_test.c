/*  store_runs_test — store_runs's selftest, in a file of its own because it drives
    the rest of the store's API too; built into the selftest runner only,
    so store_runs.c includes nothing above it.
*/
#include "store_api.h"
#include "store_fixture.h"
#include "store_schema.h"
#include "store_stmt.h"

#include "sp_check.h"

#include <czmq.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MS STORE_FIXTURE_MS
#define S_BASE STORE_FIXTURE_BASE

//  Run status: unknown words and unknown runs are refused; zero instants
//  and a NULL error keep what is stored.
static void
s_test_status(store_t *store)
{
    int64_t run_id = store_fixture_run(store, 5, NULL);
    CHECK_INT(store_run_set_status(store, run_id, "exploded", 0, 0, NULL), -1);
    CHECK_INT(store_run_set_status(store, run_id + 1000, "failed", 0, 0, NULL), -1);
    CHECK_INT(store_run_set_status(store, run_id, "failed", 0, S_BASE + 7, "agent lost"),
              0);
    CHECK_INT(store_run_set_status(store, run_id, "failed", 0, 0, NULL), 0);
    CHECK_INT(store_fixture_count(store,
                                  "SELECT count(*) FROM runs WHERE id = ?1 AND status ="
                                  " 'failed' AND started_ns = 0"
                                  " AND finished_ns = 1700000000000000007"
                                  " AND error = 'agent lost'",
                                  run_id),
              1);
}

//  A controller restarted with runs in flight: store_runs_interrupted
//  settles exactly the pending and running ones, all or nothing; the
//  shares it leaves behind are what a late batch is checked against.
static void
s_test_interrupted(void)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    const char *reason = "controller restarted during the run";
    CHECK_INT(store_runs_interrupted(store, reason, S_BASE), 0); //  empty file
    CHECK_INT(store_agent_upsert(store, "agent-a", "host-a", "0.1.0", 64, S_BASE), 0);
    CHECK_INT(store_agent_upsert(store, "agent-b", "host-b", "0.1.0", 64, S_BASE), 0);

    //  Finished runs stay as they are.
    int64_t completed = store_fixture_run(store, 2, "completed");
    CHECK_INT(store_share_add(store, completed, "agent-a", 0, 2, 0, 0), 0);
    CHECK_INT(
        store_run_set_status(store, completed, "completed", S_BASE, S_BASE + 5, NULL), 0);
    int64_t failed = store_fixture_run(store, 1, "failed");
    CHECK_INT(store_run_set_status(store, failed, "failed", 0, S_BASE + 6, "refused"), 0);
    //  Running: 10 over agent-a [0,4) and agent-b [4,10); 0, 1 and 5 stored.
    int64_t running = store_fixture_run(store, 10, "running");
    CHECK_INT(store_share_add(store, running, "agent-a", 0, 4, -1200, 300), 0);
    CHECK_INT(store_share_add(store, running, "agent-b", 4, 6, 800, 250), 0);
    CHECK_INT(store_run_set_status(store, running, "running", S_BASE, 0, NULL), 0);
    store_result_t rows[3];
    uint32_t present[] = {0, 1, 5};
    for (size_t i = 0; i < 3; i++)
        rows[i] = store_fixture_row(present[i], "ok", 200);
    CHECK_INT(store_results_insert(store, running, "agent-a", rows, 2), 0);
    CHECK_INT(store_results_insert(store, running, "agent-b", rows + 2, 1), 0);
    //  Pending with a share (Prepare sent, no Go) and pending without any.
    int64_t prepared = store_fixture_run(store, 3, "prepared");
    CHECK_INT(store_share_add(store, prepared, "agent-b", 0, 3, 0, 0), 0);
    int64_t bare = store_fixture_run(store, 3, "bare");

    //  Shares as recorded; an unknown run or agent is 1, outputs untouched.
    uint32_t first = 99, count = 99;
    int64_t offset = 99;
    CHECK_INT(store_share_get(store, running, "agent-b", &first, &count, &offset), 0);
    CHECK_INT(first, 4);
    CHECK_INT(count, 6);
    CHECK_INT(offset, 800);
    CHECK_INT(store_share_get(store, running, "agent-a", &first, &count, &offset), 0);
    CHECK_INT(first, 0);
    CHECK_INT(count, 4);
    CHECK_INT(offset, -1200);
    CHECK_INT(store_share_get(store, running, "agent-c", &first, &count, &offset), 1);
    CHECK_INT(store_share_get(store, bare, "agent-a", &first, &count, &offset), 1);
    CHECK_INT(store_share_get(store, running + 1000, "agent-a", &first, &count, &offset),
              1);
    CHECK_INT(first, 0);
    CHECK_INT(count, 4);
    CHECK_INT(offset, -1200);

    //  A share past its run's N cannot be marked: nothing is settled, not
    //  even the runs before it.
    int64_t broken = store_fixture_run(store, 2, "broken");
    CHECK_INT(store_share_add(store, broken, "agent-a", 0, 5, 0, 0), 0);
    CHECK_INT(store_runs_interrupted(store, reason, S_BASE + 9 * S_MS), -1);
    const char *unsettled_sql =
        "SELECT count(*) FROM runs WHERE status IN ('pending', 'running')";
    CHECK_INT(store_fixture_count(store, unsettled_sql, 0), 4);
    CHECK_INT(store_fixture_count(
                  store, "SELECT count(*) FROM requests WHERE run_id = ?1", running),
              3);
    CHECK_INT(store_share_add(store, broken, "agent-a", 0, 2, 0, 0), 0);

    CHECK_INT(store_runs_interrupted(store, reason, S_BASE + 9 * S_MS), 4);
    CHECK_INT(store_fixture_count(store, unsettled_sql, 0), 0);
    store_summary_t s;
    CHECK_INT(store_summary(store, running, &s), 0);
    CHECK_STR(s.status, "failed");
    CHECK_INT(s.requested, 10);
    CHECK_INT(s.recorded, 3);
    CHECK_INT(s.ok, 3);
    CHECK_INT(s.lost, 7);
    CHECK_REAL(s.wall_ms, 9.0);
    //  Each lost row names its share's agent and the reason.
    const char *lost_sql = "SELECT group_concat(request_index || ':' || agent_id, ' ')"
                           " FROM (SELECT request_index, agent_id FROM requests"
                           "  WHERE run_id = ?1 AND outcome = 'lost'"
                           "  AND error = 'controller restarted during the run'"
                           "  ORDER BY request_index)";
    store_fixture_check_text(
        store, lost_sql, running,
        "2:agent-a 3:agent-a 4:agent-b 6:agent-b 7:agent-b 8:agent-b 9:agent-b");
    const char *run_sql = "SELECT count(*) FROM runs WHERE id = ?1 AND status = 'failed'"
                          " AND finished_ns = 1700000000009000000"
                          " AND error = 'controller restarted during the run'";
    CHECK_INT(store_fixture_count(store, run_sql, running), 1);
    CHECK_INT(store_fixture_count(store, run_sql, prepared), 1);
    CHECK_INT(store_fixture_count(store, run_sql, bare), 1);
    CHECK_INT(store_fixture_count(store, run_sql, broken), 1);
    CHECK_INT(store_summary(store, prepared, &s), 0);
    CHECK_INT(s.lost, 3);
    CHECK_INT(store_fixture_count(store,
                                  "SELECT count(*) FROM requests WHERE run_id = ?1"
                                  " AND outcome = 'lost' AND agent_id = 'agent-b'",
                                  prepared),
              3);
    //  No shares: no rows, and still requested = recorded + lost.
    CHECK_INT(store_fixture_count(
                  store, "SELECT count(*) FROM requests WHERE run_id = ?1", bare),
              0);
    CHECK_INT(store_summary(store, bare, &s), 0);
    CHECK_INT(s.recorded + s.lost, 3);
    CHECK_INT(s.lost, 3);
    CHECK_INT(store_summary(store, broken, &s), 0);
    CHECK_INT(s.lost, 2);
    //  The finished runs were not touched.
    CHECK_INT(store_fixture_count(store,
                                  "SELECT count(*) FROM runs WHERE id = ?1 AND status = "
                                  "'completed' AND finished_ns = 1700000000000000005"
                                  " AND error IS NULL",
                                  completed),
              1);
    CHECK_INT(store_fixture_count(
                  store, "SELECT count(*) FROM requests WHERE run_id = ?1", completed),
              0);
    CHECK_INT(store_fixture_count(
                  store,
                  "SELECT count(*) FROM runs WHERE id = ?1 AND status = 'failed'"
                  " AND finished_ns = 1700000000000000006 AND error = 'refused'",
                  failed),
              1);
    //  Settled once: a second start finds nothing.
    CHECK_INT(store_runs_interrupted(store, "again", S_BASE + 10 * S_MS), 0);
    CHECK_INT(store_fixture_count(store, run_sql, running), 1);

    //  The agent's resend after the restart replaces its lost rows.
    store_result_t late[2] = {
        store_fixture_row(4, "throttled", 429),
        store_fixture_row(6, "throttled", 429),
    };
    CHECK_INT(store_results_insert(store, running, "agent-b", late, 2), 0);
    CHECK_INT(store_summary(store, running, &s), 0);
    CHECK_INT(s.recorded, 5);
    CHECK_INT(s.throttled, 2);
    CHECK_INT(s.lost, 5);
    CHECK_STR(s.status, "failed");
    store_destroy(&store);
}

//  A run created without a start mode started at GO; an unknown mode is
//  refused by the schema.
static void
s_test_start_mode(store_t *store)
{
    store_run_t run = {.url = "http://127.0.0.1:9/url/demo/",
                       .method = "GET",
                       .requested = 1,
                       .agents = 1,
                       .created_ns = S_BASE};
    int64_t run_id = store_run_create(store, &run);
    CHECK_TRUE(run_id >= 1);
    store_summary_t s;
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_STR(s.start_mode, "at_go");
    json_t *json = store_run_json(store, run_id, false);
    CHECK_STR(json_string_value(json_object_get(json, "start_mode")), "at_go");
    json_decref(json);
    json = store_runs_json(store, 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json, 0), "start_mode")),
              "at_go");
    json_decref(json);
    run.start_mode = "sideways";
    CHECK_INT(store_run_create(store, &run), -1);
    CHECK_INT(store_latest_run(store), run_id);
}

//  The function's reserved concurrency as the run's maker knew it: a
//  number, -1 for unreserved, null when unknown; below -1 is refused.
static void
s_test_reserved_configured(store_t *store)
{
    store_run_t run = {.url = "http://127.0.0.1:9/url/demo/",
                       .method = "GET",
                       .requested = 1,
                       .agents = 1,
                       .created_ns = S_BASE};
    int32_t values[] = {10, -1, 0};
    for (size_t i = 0; i < 4; i++) {
        run.reserved_known = i < 3;
        run.reserved_configured = i < 3 ? values[i] : 77;
        int64_t run_id = store_run_create(store, &run);
        CHECK_TRUE(run_id >= 1);
        json_t *json = store_run_json(store, run_id, false);
        json_t *value = json_object_get(json, "reserved_configured");
        if (i < 3)
            CHECK_INT(json_integer_value(value), values[i]);
        else
            CHECK_TRUE(json_is_null(value));
        json_decref(json);
    }
    run.reserved_known = true;
    run.reserved_configured = -2;
    CHECK_INT(store_run_create(store, &run), -1);
}

void
store_runs_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    CHECK_INT(store_latest_run(store), 0);
    s_test_status(store);
    s_test_start_mode(store);
    s_test_reserved_configured(store);
    store_destroy(&store);
    s_test_interrupted();
}
