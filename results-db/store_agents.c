/*  store_agents — agents and their shares of runs; see store_agents.h.

    An agent row is refreshed on every sighting, but last_seen never moves
    back. A share is one row per (run, agent), replaced whole when the run
    is prepared again; the schema refuses a share of an unknown run or
    agent.
*/
#include "store_agents.h"
#include "store.h"
#include "store_stmt.h"

#include <czmq.h>

int
store_agent_upsert(store_t *self, const char *agent_id, const char *host,
                   const char *version, uint32_t capacity, int64_t seen_ns)
{
    assert(self);
    sqlite3_stmt *stmt = store_stmt(self, STORE_AGENT_UPSERT);
    int rc = SQLITE_OK;
    store_bind_text(stmt, 1, agent_id, &rc);
    store_bind_text(stmt, 2, host, &rc);
    store_bind_text(stmt, 3, version, &rc);
    store_bind_i64(stmt, 4, capacity, &rc);
    store_bind_i64(stmt, 5, seen_ns, &rc);
    return store_stmt_exec(stmt, rc, "agent upsert");
}

int
store_share_add(store_t *self, int64_t run_id, const char *agent_id, uint32_t first_index,
                uint32_t count, int64_t clock_offset_ns, int64_t clock_error_ns)
{
    assert(self);
    sqlite3_stmt *stmt = store_stmt(self, STORE_SHARE_ADD);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_text(stmt, 2, agent_id, &rc);
    store_bind_i64(stmt, 3, first_index, &rc);
    store_bind_i64(stmt, 4, count, &rc);
    store_bind_i64(stmt, 5, clock_offset_ns, &rc);
    store_bind_i64(stmt, 6, clock_error_ns, &rc);
    return store_stmt_exec(stmt, rc, "share add");
}

int
store_share_path(store_t *self, int64_t run_id, const char *agent_id, int64_t path_rtt_ns,
                 int64_t shift_ns)
{
    assert(self && agent_id && shift_ns >= 0);
    sqlite3_stmt *stmt = store_stmt(self, STORE_SHARE_PATH);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_text(stmt, 2, agent_id, &rc);
    if (path_rtt_ns >= 0)
        store_bind_i64(stmt, 3, path_rtt_ns, &rc);
    else if (rc == SQLITE_OK)
        rc = sqlite3_bind_null(stmt, 3);
    store_bind_i64(stmt, 4, shift_ns, &rc);
    if (store_stmt_exec(stmt, rc, "share path"))
        return -1;
    return sqlite3_changes(store_db(self)) == 1 ? 0 : -1;
}

int
store_share_released(store_t *self, int64_t run_id, const char *agent_id,
                     const store_release_t *release)
{
    assert(self && agent_id && release);
    sqlite3_stmt *stmt = store_stmt(self, STORE_SHARE_RELEASED);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_text(stmt, 2, agent_id, &rc);
    store_bind_i64(stmt, 3, release->released_ns, &rc);
    store_bind_i64(stmt, 4, release->start_error_ns, &rc);
    store_bind_i64(stmt, 5, release->release_span_ns, &rc);
    store_bind_i64(stmt, 6, release->armed, &rc);
    store_bind_i64(stmt, 7, release->late, &rc);
    store_bind_text(stmt, 8, release->mis_start, &rc);
    if (store_stmt_exec(stmt, rc, "share released"))
        return -1;
    if (sqlite3_changes(store_db(self)) != 1) {
        zsys_error("store: release of an unknown share run_id=%" PRId64 " agent_id=%s",
                   run_id, agent_id);
        return -1;
    }
    return 0;
}

int
store_share_get(store_t *self, int64_t run_id, const char *agent_id,
                uint32_t *first_index, uint32_t *count, int64_t *clock_offset_ns)
{
    assert(self && agent_id && first_index && count && clock_offset_ns);
    sqlite3_stmt *stmt = store_stmt(self, STORE_SHARE_GET);
    int result = -1;
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_text(stmt, 2, agent_id, &rc);
    bool found = store_stmt_row(stmt, &rc);
    if (rc == SQLITE_DONE)
        result = 1;
    else if (!found)
        store_stmt_fail(stmt, "share get", rc);
    else {
        //  The schema keeps both >= 0; the range must also fit an index.
        int64_t first = sqlite3_column_int64(stmt, 0);
        int64_t n = sqlite3_column_int64(stmt, 1);
        if (first < 0 || n < 0 || first + n > (int64_t)UINT32_MAX + 1) {
            zsys_error("store: share out of range run_id=%" PRId64 " agent_id=%s", run_id,
                       agent_id);
            goto out;
        }
        *first_index = (uint32_t)first;
        *count = (uint32_t)n;
        *clock_offset_ns = sqlite3_column_int64(stmt, 2);
        result = 0;
    }
out:
    store_stmt_done(stmt);
    return result;
}
