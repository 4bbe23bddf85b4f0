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
#include "store_summary.h"

#include <czmq.h>

//  The one place the summary's JSON shape is defined.
static json_t *
s_summary_json(const store_summary_t *s)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
                     " s:f, s:f, s:f, s:f, s:f, s:f}",
                     "ok", (json_int_t)s->ok, "throttled", (json_int_t)s->throttled,
                     "throttled_lambda", (json_int_t)s->throttled_lambda,
                     "throttled_gateway", (json_int_t)s->throttled_gateway, "errors",
                     (json_int_t)s->errors, "lost", (json_int_t)s->lost, "recorded",
                     (json_int_t)s->recorded, "cold_starts", (json_int_t)s->cold_starts,
                     "environments", (json_int_t)s->environments, "peak_concurrency",
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
//  array.
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
        json_t *row = store_stmt_row_json(stmt, columns, count);
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
    return store_runs_find_json(self, &(store_runs_query_t){.limit = limit});
}

bool
store_runs_outcome_ok(const char *outcome)
{
    static const char *const outcomes[] = {"completed",   "completed_with_losses",
                                           "mis_started", "interrupted",
                                           "failed",      "pending",
                                           "running"};
    for (size_t i = 0; outcome && i < sizeof outcomes / sizeof outcomes[0]; i++)
        if (strcmp(outcome, outcomes[i]) == 0)
            return true;
    return false;
}

json_t *
store_runs_find_json(store_t *self, const store_runs_query_t *query)
{
    assert(self && query);
    json_t *runs = json_array();
    if (!runs || query->limit < 1)
        return runs;
    int limit = query->limit > STORE_RUNS_LIMIT_MAX ? STORE_RUNS_LIMIT_MAX : query->limit;
    sqlite3_stmt *stmt = store_stmt(self, STORE_RUN_LIST);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, limit, &rc);
    store_bind_text(stmt, 2, query->outcome, &rc);
    store_bind_text(stmt, 3, query->text, &rc);
    if (query->since_ns > 0)
        store_bind_i64(stmt, 4, query->since_ns, &rc);
    if (query->until_ns > 0)
        store_bind_i64(stmt, 5, query->until_ns, &rc);
    while (runs && store_stmt_row(stmt, &rc))
        if (json_array_append_new(runs, s_run_json(self, stmt))) {
            json_decref(runs);
            runs = NULL;
        }
    if (runs && rc != SQLITE_DONE) {
        store_stmt_fail(stmt, "runs list", rc);
        json_decref(runs);
        runs = NULL;
    }
    store_stmt_done(stmt);
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
