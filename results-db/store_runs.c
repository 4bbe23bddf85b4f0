/*  store_runs — a run's lifecycle in the results database; see
    store_runs.h.

    A run's status only moves by store_run_set_status; the schema refuses
    any word but the four known ones. store_runs_interrupted is the one
    writer of many runs at once: it settles them in one transaction, one
    run per pass, so a failure half-way leaves every run as it was.
*/
#include "store_runs.h"
#include "store.h"
#include "store_stmt.h"

#include "sp_check.h"
#include "store_fixture.h"

#include <czmq.h>

int64_t
store_run_create(store_t *self, const store_run_t *run)
{
    assert(self);
    assert(run);
    sqlite3_stmt *stmt = store_stmt(self, STORE_RUN_CREATE);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run->created_ns, &rc);
    store_bind_text(stmt, 2, run->url, &rc);
    store_bind_text(stmt, 3, run->method, &rc);
    store_bind_i64(stmt, 4, run->requested, &rc);
    store_bind_i64(stmt, 5, run->agents, &rc);
    store_bind_text(stmt, 6, run->label, &rc);
    store_bind_text(stmt, 7, run->start_mode, &rc);
    if (store_stmt_exec(stmt, rc, "run create"))
        return -1;
    return sqlite3_last_insert_rowid(store_db(self));
}

int
store_run_set_status(store_t *self, int64_t run_id, const char *status,
                     int64_t started_ns, int64_t finished_ns, const char *error)
{
    assert(self);
    sqlite3_stmt *stmt = store_stmt(self, STORE_RUN_STATUS);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_text(stmt, 2, status, &rc);
    store_bind_i64(stmt, 3, started_ns, &rc);
    store_bind_i64(stmt, 4, finished_ns, &rc);
    store_bind_text(stmt, 5, error, &rc);
    if (store_stmt_exec(stmt, rc, "run status"))
        return -1;
    if (sqlite3_changes(store_db(self)) != 1) {
        zsys_error("store: run status failed, no such run run_id=%" PRId64, run_id);
        return -1;
    }
    return 0;
}

//  The oldest run still pending or running: 1 with its id, 0 when none is
//  left, -1 on error.
static int
s_next_unsettled(store_t *self, int64_t *run_id)
{
    int found = store_stmt_run_row(self, STORE_RUN_UNSETTLED, 0, "unsettled runs");
    if (found == 1) {
        sqlite3_stmt *stmt = store_stmt(self, STORE_RUN_UNSETTLED);
        *run_id = sqlite3_column_int64(stmt, 0);
        store_stmt_done(stmt);
    }
    return found;
}

//  Marks the missing indices of every share of run_id lost with reason.
static int
s_shares_lost(store_t *self, int64_t run_id, const char *reason)
{
    //  STORE_SHARES selects agent_id, first_index, count first
    //  (store_stmt_test checks the order).
    sqlite3_stmt *stmt = store_stmt(self, STORE_SHARES);
    int result = -1;
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    while (store_stmt_row(stmt, &rc)) {
        //  Another statement writes requests while this one reads
        //  run_agents: SQLite allows that on one connection.
        const char *agent_id = (const char *)sqlite3_column_text(stmt, 0);
        int64_t first = sqlite3_column_int64(stmt, 1);
        int64_t count = sqlite3_column_int64(stmt, 2);
        if (first < 0 || count < 0 || first + count > (int64_t)UINT32_MAX + 1) {
            zsys_error("store: share out of range run_id=%" PRId64, run_id);
            goto out;
        }
        if (store_mark_lost(self, run_id, agent_id, (uint32_t)first, (uint32_t)count,
                            reason) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        store_stmt_fail(stmt, "shares of a run", rc);
        goto out;
    }
    result = 0;
out:
    store_stmt_done(stmt);
    return result;
}

int
store_runs_interrupted(store_t *self, const char *reason, int64_t finished_ns)
{
    assert(self && reason);
    if (store_tx_begin(self, "interrupted"))
        return -1;
    int settled = 0;
    //  Terminates: each pass turns one run "failed" or leaves the loop.
    for (;;) {
        int64_t run_id = 0;
        int found = s_next_unsettled(self, &run_id);
        if (found < 0) {
            settled = -1;
            break;
        }
        if (found == 0)
            break;
        if (s_shares_lost(self, run_id, reason) ||
            store_run_set_status(self, run_id, "failed", 0, finished_ns, reason)) {
            settled = -1;
            break;
        }
        settled++;
    }
    return store_tx_end(self, settled, "interrupted");
}

int64_t
store_latest_run(store_t *self)
{
    assert(self);
    //  coalesce(max(id), 0) always makes one row.
    if (store_stmt_run_row(self, STORE_LATEST_RUN, 0, "latest run") != 1)
        return -1;
    sqlite3_stmt *stmt = store_stmt(self, STORE_LATEST_RUN);
    int64_t run_id = sqlite3_column_int64(stmt, 0);
    store_stmt_done(stmt);
    return run_id;
}

//  --------------------------------------------------------------------------
//  Selftest

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

void
store_runs_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    CHECK_INT(store_latest_run(store), 0);
    s_test_status(store);
    s_test_start_mode(store);
    store_destroy(&store);
    s_test_interrupted();
}
