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

#include "sp_check.h"
#include "store_fixture.h"

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

//  --------------------------------------------------------------------------
//  Selftest

#define S_MS STORE_FIXTURE_MS
#define S_BASE STORE_FIXTURE_BASE

static void
s_test_headline(store_t *store)
{
    int64_t run_id = store_fixture_headline(store);
    store_result_t rows[100];
    store_fixture_headline_rows(rows);
    store_summary_t s;
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.run_id, run_id);
    store_fixture_check_headline(&s);

    //  Resending both batches (an agent reconnected) changes nothing.
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 50), 0);
    CHECK_INT(store_results_insert(store, run_id, "agent-b", rows + 50, 50), 0);
    CHECK_INT(store_summary(store, run_id, &s), 0);
    store_fixture_check_headline(&s);
    CHECK_INT(store_fixture_count(
                  store, "SELECT count(*) FROM requests WHERE run_id = ?1", run_id),
              100);
    //  A different result for an index already stored: the first one wins.
    store_result_t late = rows[7];
    late.outcome = "ok";
    late.http_status = 200;
    CHECK_INT(store_results_insert(store, run_id, "agent-a", &late, 1), 0);
    CHECK_INT(store_summary(store, run_id, &s), 0);
    store_fixture_check_headline(&s);
}

static void
s_test_lost(store_t *store)
{
    int64_t run_id = store_fixture_run(store, 10, NULL);
    store_result_t rows[4];
    uint32_t present[] = {0, 1, 2, 5};
    for (size_t i = 0; i < 4; i++)
        rows[i] = (store_result_t){.index = present[i],
                                   .outcome = "ok",
                                   .http_status = 200,
                                   .sent_ns = S_BASE,
                                   .done_ns = S_BASE + 2 * S_MS,
                                   .cold_start = 0,
                                   .invocation_count = 3};
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 4), 0);
    //  Partial ranges: only indices without a row are marked.
    CHECK_INT(store_mark_lost(store, run_id, "agent-a", 0, 5, "agent vanished"), 2);
    CHECK_INT(store_mark_lost(store, run_id, "agent-b", 5, 5, "agent vanished"), 4);
    CHECK_INT(store_mark_lost(store, run_id, "agent-b", 0, 10, "again"), 0);
    CHECK_INT(store_mark_lost(store, run_id, "agent-b", 3, 0, "empty range"), 0);
    store_summary_t s;
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.recorded, 4);
    CHECK_INT(s.lost, 6);
    CHECK_INT(s.ok, 4);
    CHECK_INT(s.errors, 0);
    CHECK_REAL(s.p50_ms, 2.0);
    CHECK_INT(store_fixture_count(store,
                                  "SELECT count(*) FROM requests WHERE run_id = ?1"
                                  " AND outcome = 'lost' AND error = 'agent vanished'"
                                  " AND request_index IN (3, 4, 6, 7, 8, 9)",
                                  run_id),
              6);
    //  A range past the run's N is a caller bug: refused whole.
    CHECK_INT(store_mark_lost(store, run_id, "agent-b", 8, 5, "too far"), -1);

    //  A late real result replaces its lost marker, error text included.
    store_result_t late = store_fixture_row(7, "timeout", 0);
    late.error = "deadline";
    CHECK_INT(store_results_insert(store, run_id, "agent-b", &late, 1), 0);
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.recorded, 5);
    CHECK_INT(s.lost, 5);
    CHECK_INT(s.errors, 1);
    CHECK_INT(store_fixture_count(store,
                                  "SELECT count(*) FROM requests WHERE run_id = ?1"
                                  " AND request_index = 7 AND outcome = 'timeout'"
                                  " AND error = 'deadline' AND agent_id = 'agent-b'",
                                  run_id),
              1);
    CHECK_REAL(s.p50_ms, 2.0); //  a timeout has no response: not a latency
}

static void
s_test_bad_batches(store_t *store)
{
    int64_t run_id = store_fixture_run(store, 5, NULL);
    const char *count_sql = "SELECT count(*) FROM requests WHERE run_id = ?1";
    store_result_t rows[3] = {
        store_fixture_row(0, "ok", 200),
        store_fixture_row(1, "bogus", 200),
        store_fixture_row(2, "ok", 200),
    };
    //  An invalid outcome fails the whole batch: row 0 is not kept either.
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 3), -1);
    CHECK_INT(store_fixture_count(store, count_sql, run_id), 0);
    //  So do an out-of-range index, a missing outcome and an unknown run.
    rows[1].outcome = "ok";
    rows[2].index = 5;
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 3), -1);
    rows[2].index = 2;
    rows[2].outcome = NULL;
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 3), -1);
    rows[2].outcome = "ok";
    CHECK_INT(store_results_insert(store, run_id + 1000, "agent-a", rows, 3), -1);
    CHECK_INT(store_fixture_count(store, count_sql, run_id), 0);
    //  The store is still usable after a failed batch.
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 3), 0);
    CHECK_INT(store_fixture_count(store, count_sql, run_id), 3);
    //  A duplicate index inside one batch: the first occurrence wins.
    store_result_t dup[2] = {
        store_fixture_row(3, "throttled", 429),
        store_fixture_row(3, "ok", 200),
    };
    CHECK_INT(store_results_insert(store, run_id, "agent-a", dup, 2), 0);
    store_summary_t s;
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.recorded, 4);
    CHECK_INT(s.throttled, 1);
    CHECK_INT(s.ok, 3);
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 0), 0);
}

void
store_results_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    s_test_headline(store);
    s_test_lost(store);
    s_test_bad_batches(store);
    store_destroy(&store);
}
