/*  store_results_test — store_results's selftest, in a file of its own because it drives
    the rest of the store's API too; built into the selftest runner only,
    so store_results.c includes nothing above it.
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

    //  A run that ended with losses and whose late results all came: it
    //  completed after all, and the losses' reason goes with them.
    int64_t later = store_fixture_run(store, 2, NULL);
    store_result_t first = store_fixture_row(0, "ok", 200);
    CHECK_INT(store_results_insert(store, later, "agent-a", &first, 1), 0);
    CHECK_INT(store_mark_lost(store, later, "agent-a", 1, 1, "agent vanished"), 1);
    CHECK_INT(store_run_set_status(store, later, "completed", S_BASE, S_BASE + S_MS,
                                   "1 of 2 requests lost (agent agent-a disconnected)"),
              0);
    CHECK_INT(store_summary(store, later, &s), 0);
    CHECK_STR(s.outcome, "completed_with_losses");
    CHECK_STR(s.reason, "1 of 2 requests lost (agent agent-a disconnected)");
    store_result_t second = store_fixture_row(1, "ok", 200);
    CHECK_INT(store_results_insert(store, later, "agent-a", &second, 1), 0);
    CHECK_INT(store_summary(store, later, &s), 0);
    CHECK_STR(s.outcome, "completed");
    CHECK_STR(s.reason, "");
    CHECK_INT(s.lost, 0);
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
