/*  store_results — result ingestion; see store_results.h.

    A batch is one IMMEDIATE transaction over one prepared upsert, so a
    batch is stored whole or not at all, and resending it (an agent that
    reconnected) changes nothing: the first real result of an index wins,
    and only a "lost" marker gives way to a late real one. The schema
    refuses unknown outcomes, unknown runs and indices outside the run.
*/
#include "store_results.h"
#include "store.h"
#include "store_stmt.h"

#include <czmq.h>

static int
s_result_insert(store_t *self, int64_t run_id, const char *agent_id,
                const store_result_t *row)
{
    sqlite3_stmt *stmt = store_stmt(self, STORE_RESULT_UPSERT);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_i64(stmt, 2, row->index, &rc);
    store_bind_text(stmt, 3, agent_id, &rc);
    store_bind_text(stmt, 4, row->outcome, &rc);
    store_bind_i64(stmt, 5, row->http_status, &rc);
    store_bind_i64(stmt, 6, row->scheduled_ns, &rc);
    store_bind_i64(stmt, 7, row->sent_ns, &rc);
    store_bind_i64(stmt, 8, row->first_byte_ns, &rc);
    store_bind_i64(stmt, 9, row->done_ns, &rc);
    store_bind_i64(stmt, 10, row->received_ns, &rc);
    store_bind_i64(stmt, 11, row->bytes > INT64_MAX ? INT64_MAX : (int64_t)row->bytes,
                   &rc);
    store_bind_i64(stmt, 12, row->reused ? 1 : 0, &rc);
    store_bind_text(stmt, 13, row->request_id, &rc);
    store_bind_text(stmt, 14, row->environment_id, &rc);
    store_bind_opt(stmt, 15, row->cold_start, &rc);
    store_bind_real(stmt, 16, row->cold_start_time, &rc);
    store_bind_text(stmt, 17, row->initialization_type, &rc);
    store_bind_opt(stmt, 18, row->invocation_count, &rc);
    store_bind_i64(stmt, 19, row->function_started_ns, &rc);
    store_bind_i64(stmt, 20, row->function_finished_ns, &rc);
    store_bind_text(stmt, 21, row->error, &rc);
    store_bind_text(stmt, 22, row->door, &rc);
    store_bind_text(stmt, 23, row->throttle_source, &rc);
    store_bind_text(stmt, 24, row->throttle_reason, &rc);
    return store_stmt_exec(stmt, rc, "result insert");
}

int
store_results_insert(store_t *self, int64_t run_id, const char *agent_id,
                     const store_result_t *rows, size_t n)
{
    assert(self);
    assert(rows || n == 0);
    if (n == 0)
        return 0;
    if (store_tx_begin(self, "results"))
        return -1;
    int result = 0;
    for (size_t i = 0; i < n && result == 0; i++)
        result = s_result_insert(self, run_id, agent_id, &rows[i]);
    if (result == 0) {
        sqlite3_stmt *stmt = store_stmt(self, STORE_RUN_OUTCOME_REFRESH);
        int rc = SQLITE_OK;
        store_bind_i64(stmt, 1, run_id, &rc);
        result = store_stmt_exec(stmt, rc, "run outcome");
    }
    return store_tx_end(self, result, "results");
}

int64_t
store_mark_lost(store_t *self, int64_t run_id, const char *agent_id, uint32_t first_index,
                uint32_t count, const char *reason)
{
    assert(self);
    sqlite3_stmt *stmt = store_stmt(self, STORE_MARK_LOST);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_text(stmt, 2, agent_id, &rc);
    store_bind_i64(stmt, 3, first_index, &rc);
    store_bind_i64(stmt, 4, (int64_t)first_index + count, &rc);
    store_bind_text(stmt, 5, reason, &rc);
    if (store_stmt_exec(stmt, rc, "mark lost"))
        return -1;
    return sqlite3_changes64(store_db(self));
}
