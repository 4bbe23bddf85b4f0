/*  store_views — the JSON views of the results database; see
    store_views.h.

    Every object is built from a generated statement's column table (see
    store_stmt), so the keys are the export's column names; a run carries
    the summary as store_summary computes it, in the one JSON shape the
    summary has.
*/
#include "store_views.h"
#include "store.h"
#include "store_stmt.h"

#include "sp_check.h"
#include "store_fixture.h"

#include <czmq.h>

//  The one place the summary's JSON shape is defined.
static json_t *
s_summary_json(const store_summary_t *s)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
                     " s:f, s:f, s:f, s:f, s:f, s:f}",
                     "ok", (json_int_t)s->ok, "throttled", (json_int_t)s->throttled,
                     "errors", (json_int_t)s->errors, "lost", (json_int_t)s->lost,
                     "recorded", (json_int_t)s->recorded, "cold_starts",
                     (json_int_t)s->cold_starts, "environments",
                     (json_int_t)s->environments, "peak_concurrency",
                     (json_int_t)s->peak_concurrency, "p50_ms", s->p50_ms, "p90_ms",
                     s->p90_ms, "p99_ms", s->p99_ms, "max_ms", s->max_ms, "spread_ms",
                     s->spread_ms, "wall_ms", s->wall_ms);
}

//  The run object of the current row of STORE_RUN_LIST or STORE_RUN_GET
//  (run_id first), with its summary.
static json_t *
s_run_json(store_t *self, sqlite3_stmt *stmt)
{
    size_t count = 0;
    const store_column_t *columns = store_stmt_columns(STORE_RUN_GET, &count);
    json_t *run = store_stmt_row_json(stmt, columns, count);
    if (!run)
        return NULL;
    store_summary_t summary;
    if (store_summary(self, sqlite3_column_int64(stmt, 0), &summary) ||
        json_object_set_new(run, "summary", s_summary_json(&summary))) {
        json_decref(run);
        return NULL;
    }
    return run;
}

//  Appends one object per row of statement id, bound to param as ?1, to
//  array; the rows of the run list are runs with their summaries.
static int
s_append_rows(store_t *self, store_stmt_id_t id, int64_t param, json_t *array,
              const char *op)
{
    size_t count = 0;
    const store_column_t *columns = store_stmt_columns(id, &count);
    sqlite3_stmt *stmt = store_stmt(self, id);
    int result = -1;
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, param, &rc);
    while (store_stmt_row(stmt, &rc)) {
        json_t *row = id == STORE_RUN_LIST ? s_run_json(self, stmt)
                                           : store_stmt_row_json(stmt, columns, count);
        if (json_array_append_new(array, row))
            goto out;
    }
    if (rc != SQLITE_DONE) {
        store_stmt_fail(stmt, op, rc);
        goto out;
    }
    result = 0;
out:
    store_stmt_done(stmt);
    return result;
}

json_t *
store_runs_json(store_t *self, int limit)
{
    assert(self);
    json_t *runs = json_array();
    if (!runs)
        return NULL;
    if (limit < 1)
        return runs;
    if (limit > STORE_RUNS_LIMIT_MAX)
        limit = STORE_RUNS_LIMIT_MAX;
    if (s_append_rows(self, STORE_RUN_LIST, limit, runs, "runs list")) {
        json_decref(runs);
        return NULL;
    }
    return runs;
}

json_t *
store_run_json(store_t *self, int64_t run_id, bool with_requests)
{
    assert(self);
    json_t *run = NULL;
    if (store_stmt_run_row(self, STORE_RUN_GET, run_id, "run get") != 1)
        return NULL;
    sqlite3_stmt *stmt = store_stmt(self, STORE_RUN_GET);
    run = s_run_json(self, stmt);
    store_stmt_done(stmt);
    if (!run)
        return NULL;

    json_t *shares = json_array();
    if (json_object_set_new(run, "shares", shares) ||
        s_append_rows(self, STORE_SHARES, run_id, shares, "rows"))
        goto fail;
    if (with_requests) {
        json_t *requests = json_array();
        if (json_object_set_new(run, "requests", requests) ||
            s_append_rows(self, STORE_REQUESTS, run_id, requests, "rows"))
            goto fail;
    }
    return run;
fail:
    json_decref(run);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Selftest

static void
s_test_json(store_t *store, int64_t headline_id)
{
    //  The newest first; the limit caps the list.
    int64_t latest = store_latest_run(store);
    CHECK_TRUE(latest > headline_id);
    json_t *runs = store_runs_json(store, 2);
    CHECK_NOT_NULL(runs);
    CHECK_INT(json_array_size(runs), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(runs, 0), "run_id")),
              latest);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(runs, 1), "run_id")),
              latest - 1);
    json_decref(runs);
    runs = store_runs_json(store, 0);
    CHECK_INT(json_array_size(runs), 0);
    json_decref(runs);
    runs = store_runs_json(store, STORE_RUNS_LIMIT_MAX + 1);
    CHECK_INT(json_array_size(runs), latest);
    CHECK_INT(
        json_integer_value(json_object_get(json_array_get(runs, latest - 1), "run_id")),
        1);
    json_decref(runs);

    //  One run: every field, shares in index order, rows on request.
    json_t *run = store_run_json(store, headline_id, false);
    CHECK_NOT_NULL(run);
    CHECK_NULL(json_object_get(run, "requests"));
    json_object_del(run, "created_ns"); //  fixed, but long to spell out
    char *text = json_dumps(run, JSON_COMPACT | JSON_REAL_PRECISION(15));
    CHECK_STR(text,
              "{\"run_id\":1,\"status\":\"completed\",\"started_ns\":1700000000000000000,"
              "\"finished_ns\":1700000000250000000,"
              "\"url\":\"http://127.0.0.1:9/2015-03-31/functions/f/invocations\","
              "\"method\":\"POST\",\"start_mode\":\"last_byte\",\"requested\":100,"
              "\"agents\":2,"
              "\"label\":\"reserved=5\",\"error\":null,"
              "\"summary\":{\"ok\":5,\"throttled\":95,\"errors\":0,\"lost\":0,"
              "\"recorded\":100,\"cold_starts\":5,\"environments\":5,"
              "\"peak_concurrency\":5,\"p50_ms\":50.0,\"p90_ms\":90.0,\"p99_ms\":99.0,"
              "\"max_ms\":100.0,\"spread_ms\":0.99,\"wall_ms\":250.0},"
              "\"shares\":[{\"agent_id\":\"agent-a\",\"first_index\":0,\"count\":50,"
              "\"clock_offset_ns\":-1200,\"clock_error_ns\":300},"
              "{\"agent_id\":\"agent-b\",\"first_index\":50,\"count\":50,"
              "\"clock_offset_ns\":800,\"clock_error_ns\":250}]}");
    free(text);
    json_decref(run);

    run = store_run_json(store, headline_id, true);
    json_t *requests = json_object_get(run, "requests");
    CHECK_INT(json_array_size(requests), 100);
    json_t *row = json_array_get(requests, 4);
    CHECK_INT(json_integer_value(json_object_get(row, "index")), 4);
    CHECK_STR(json_string_value(json_object_get(row, "environment_id")), "env-4");
    CHECK_TRUE(json_is_true(json_object_get(row, "cold_start")));
    CHECK_REAL(json_real_value(json_object_get(row, "latency_ms")), 5.0);
    row = json_array_get(requests, 99);
    CHECK_STR(json_string_value(json_object_get(row, "outcome")), "throttled");
    CHECK_TRUE(json_is_null(json_object_get(row, "cold_start")));
    CHECK_TRUE(json_is_null(json_object_get(row, "invocation_count")));
    CHECK_INT(json_integer_value(json_object_get(row, "http_status")), 429);
    json_decref(run);
    CHECK_NULL(store_run_json(store, latest + 1, true));
}

//  Text that is not UTF-8 still makes valid JSON.
static void
s_test_bad_text(store_t *store)
{
    int64_t run_id = store_fixture_run(store, 1, "caf\xc3\xa9");
    store_result_t row = store_fixture_row(0, "function_error", 200);
    row.error = "bad \xff byte";
    CHECK_INT(store_results_insert(store, run_id, "agent-a", &row, 1), 0);
    json_t *run = store_run_json(store, run_id, true);
    CHECK_NOT_NULL(run);
    CHECK_STR(json_string_value(json_object_get(run, "label")), "caf\xc3\xa9");
    json_t *first = json_array_get(json_object_get(run, "requests"), 0);
    CHECK_STR(json_string_value(json_object_get(first, "error")), "bad ? byte");
    json_decref(run);
}

void
store_views_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    json_t *none = store_runs_json(store, 10);
    CHECK_INT(json_array_size(none), 0);
    json_decref(none);
    int64_t headline_id = store_fixture_history(store);
    CHECK_INT(headline_id, 1);
    s_test_json(store, headline_id);
    s_test_bad_text(store);
    store_destroy(&store);
}
