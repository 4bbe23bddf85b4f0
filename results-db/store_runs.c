/*  store_runs — a run's lifecycle in the results database; see
    store_runs.h.

    A run's status only moves by store_run_set_status; the schema refuses
    any word but the four known ones. store_runs_interrupted is the one
    writer of many runs at once: it settles them in one transaction, one
    run per pass, so a failure half-way leaves every run as it was.
*/
#include "store_runs.h"
#include "store.h"
#include "store_results.h"
#include "store_stmt.h"

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
    store_bind_text(stmt, 8, run->door, &rc);
    if (run->reserved_known)
        store_bind_i64(stmt, 9, run->reserved_configured, &rc);
    if (store_stmt_exec(stmt, rc, "run create"))
        return -1;
    return sqlite3_last_insert_rowid(store_db(self));
}

static int
s_set_status(store_t *self, int64_t run_id, const char *status, int64_t started_ns,
             int64_t finished_ns, const char *error, const char *outcome)
{
    sqlite3_stmt *stmt = store_stmt(self, STORE_RUN_STATUS);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_text(stmt, 2, status, &rc);
    store_bind_i64(stmt, 3, started_ns, &rc);
    store_bind_i64(stmt, 4, finished_ns, &rc);
    store_bind_text(stmt, 5, error, &rc);
    store_bind_text(stmt, 6, outcome, &rc);
    if (store_stmt_exec(stmt, rc, "run status"))
        return -1;
    if (sqlite3_changes(store_db(self)) != 1) {
        zsys_error("store: run status failed, no such run run_id=%" PRId64, run_id);
        return -1;
    }
    return 0;
}

int
store_run_set_status(store_t *self, int64_t run_id, const char *status,
                     int64_t started_ns, int64_t finished_ns, const char *error)
{
    assert(self);
    return s_set_status(self, run_id, status, started_ns, finished_ns, error, NULL);
}

int
store_run_interrupted(store_t *self, int64_t run_id, int64_t finished_ns,
                      const char *reason)
{
    assert(self && reason);
    return s_set_status(self, run_id, "failed", 0, finished_ns, reason, "interrupted");
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
            store_run_interrupted(self, run_id, finished_ns, reason)) {
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
