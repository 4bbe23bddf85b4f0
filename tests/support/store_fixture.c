/*  store_fixture — shared selftest fixtures of results-db; see
    store_fixture.h.
*/
#include "store_fixture.h"
#include "store_stmt.h"

#include "sp_check.h"

#define S_MS STORE_FIXTURE_MS
#define S_BASE STORE_FIXTURE_BASE

int64_t
store_fixture_run(store_t *store, uint32_t requested, const char *label)
{
    store_run_t run = {.url = "http://127.0.0.1:9/2015-03-31/functions/f/invocations",
                       .method = "POST",
                       .requested = requested,
                       .agents = 2,
                       .created_ns = S_BASE,
                       .label = label,
                       .start_mode = "last_byte",
                       .door = "invoke"};
    int64_t run_id = store_run_create(store, &run);
    CHECK_TRUE(run_id >= 1);
    return run_id;
}

store_result_t
store_fixture_row(uint32_t index, const char *outcome, int http_status)
{
    return (store_result_t){.index = index,
                            .outcome = outcome,
                            .http_status = http_status,
                            .cold_start = -1,
                            .invocation_count = -1};
}

void
store_fixture_headline_rows(store_result_t *rows)
{
    static const char *const envs[] = {"env-0", "env-1", "env-2", "env-3", "env-4"};
    for (uint32_t i = 0; i < 100; i++) {
        bool ok = i < 5;
        int64_t sent = S_BASE + 1000;
        rows[i] = (store_result_t){
            .index = i,
            .outcome = ok ? "ok" : "throttled",
            .http_status = ok ? 200 : 429,
            .scheduled_ns = S_BASE,
            .sent_ns = sent,
            .first_byte_ns = sent + (int64_t)i * S_MS,
            .done_ns = sent + (int64_t)(i + 1) * S_MS,
            .received_ns = S_BASE + 500000 + (int64_t)i * 10000,
            .bytes = ok ? 17 : 48,
            .reused = true,
            .request_id = NULL,
            .environment_id = ok ? envs[i] : NULL,
            .cold_start = ok ? 1 : -1,
            .cold_start_time = ok ? 0.25 : 0,
            .initialization_type = ok ? "on-demand" : NULL,
            .invocation_count = ok ? 1 : -1,
            .function_started_ns = ok ? S_BASE + S_MS + (int64_t)i * 1000 : 0,
            .function_finished_ns = ok ? S_BASE + 80 * S_MS + (int64_t)i * 1000 : 0,
            .error = NULL,
            .door = "invoke",
            .throttle_source = ok ? NULL : "lambda",
            .throttle_reason =
                ok ? NULL : "ReservedFunctionConcurrentInvocationLimitExceeded",
        };
    }
}

int64_t
store_fixture_headline(store_t *store)
{
    CHECK_INT(store_agent_upsert(store, "agent-a", "host-a", "0.1.0", 64, S_BASE), 0);
    CHECK_INT(store_agent_upsert(store, "agent-b", "host-b", "0.1.0", 64, S_BASE), 0);
    int64_t run_id = store_fixture_run(store, 100, "reserved=5");
    CHECK_INT(store_share_add(store, run_id, "agent-a", 0, 50, -1200, 300), 0);
    CHECK_INT(store_share_add(store, run_id, "agent-b", 50, 50, 800, 250), 0);
    CHECK_INT(store_run_set_status(store, run_id, "running", S_BASE, 0, NULL), 0);
    //  Both released on time, every request armed.
    store_release_t release = {.released_ns = S_BASE + 40000,
                               .start_error_ns = 40000,
                               .release_span_ns = 30000,
                               .armed = 50};
    CHECK_INT(store_share_released(store, run_id, "agent-a", &release), 0);
    release.start_error_ns = release.released_ns = 0;
    CHECK_INT(store_share_released(store, run_id, "agent-c", &release), -1);
    release.released_ns = S_BASE + 55000;
    release.start_error_ns = 55000;
    CHECK_INT(store_share_released(store, run_id, "agent-b", &release), 0);
    store_result_t rows[100];
    store_fixture_headline_rows(rows);
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 50), 0);
    CHECK_INT(store_results_insert(store, run_id, "agent-b", rows + 50, 50), 0);
    CHECK_INT(
        store_run_set_status(store, run_id, "completed", 0, S_BASE + 250 * S_MS, NULL),
        0);
    return run_id;
}

void
store_fixture_refuse_writes(store_t *store, bool refuse)
{
    CHECK_INT(sqlite3_exec(store_db(store),
                           refuse ? "PRAGMA query_only = 1" : "PRAGMA query_only = 0",
                           NULL, NULL, NULL),
              SQLITE_OK);
}

int64_t
store_fixture_history(store_t *store)
{
    int64_t headline_id = store_fixture_headline(store);
    store_fixture_run(store, 3, NULL);
    store_fixture_run(store, 4, "more");
    return headline_id;
}

void
store_fixture_check_headline(const store_summary_t *s)
{
    CHECK_STR(s->status, "completed");
    CHECK_STR(s->start_mode, "last_byte");
    CHECK_INT(s->requested, 100);
    CHECK_INT(s->recorded, 100);
    CHECK_INT(s->ok, 5);
    CHECK_INT(s->throttled, 95);
    CHECK_INT(s->errors, 0);
    CHECK_INT(s->lost, 0);
    CHECK_INT(s->cold_starts, 5);
    CHECK_INT(s->environments, 5);
    CHECK_INT(s->peak_concurrency, 5);
    CHECK_REAL(s->p50_ms, 50.0);
    CHECK_REAL(s->p90_ms, 90.0);
    CHECK_REAL(s->p99_ms, 99.0);
    CHECK_REAL(s->max_ms, 100.0);
    CHECK_REAL(s->spread_ms, 0.99);
    CHECK_REAL(s->wall_ms, 250.0);
}

//  Prepares sql on store's connection and steps it to its one row.
static sqlite3_stmt *
s_query(store_t *store, const char *sql, int64_t run_id)
{
    sqlite3_stmt *stmt = NULL;
    CHECK_INT(sqlite3_prepare_v2(store_db(store), sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_bind_parameter_count(stmt) > 0)
        CHECK_INT(sqlite3_bind_int64(stmt, 1, run_id), SQLITE_OK);
    CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
    return stmt;
}

int64_t
store_fixture_count(store_t *store, const char *sql, int64_t run_id)
{
    sqlite3_stmt *stmt = s_query(store, sql, run_id);
    int64_t count = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return count;
}

void
store_fixture_check_text(store_t *store, const char *sql, int64_t run_id,
                         const char *expected)
{
    sqlite3_stmt *stmt = s_query(store, sql, run_id);
    CHECK_STR((const char *)sqlite3_column_text(stmt, 0), expected);
    sqlite3_finalize(stmt);
}

void
store_fixture_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    int64_t run_id = store_fixture_run(store, 3, "fixture");
    CHECK_INT(run_id, 1);
    CHECK_INT(store_fixture_count(store, "SELECT count(*) FROM runs", 0), 1);
    store_fixture_check_text(store, "SELECT label FROM runs WHERE id = ?1", run_id,
                             "fixture");
    store_result_t row = store_fixture_row(2, "throttled", 429);
    CHECK_INT(row.index, 2);
    CHECK_INT(row.cold_start, -1);
    CHECK_INT(row.invocation_count, -1);
    CHECK_INT(store_results_insert(store, run_id, "agent-a", &row, 1), 0);
    store_fixture_check_text(store,
                             "SELECT outcome || ' ' || http_status || ' '"
                             " || coalesce(cold_start, 'null') FROM requests"
                             " WHERE run_id = ?1",
                             run_id, "throttled 429 null");
    store_destroy(&store);
}
