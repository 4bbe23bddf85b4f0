/*  store_rows — the original demo's metrics and pages of a run's rows;
    see store_rows.h.
*/
#include "store_rows.h"
#include "store.h"
#include "store_stmt.h"

#include <czmq.h>
#include <string.h>

//  The original's metrics in one pass over the run's rows.
static const char s_original_sql[] =
    "SELECT runs.requested,"
    " COALESCE(SUM(q.outcome = 'ok'), 0),"
    " COALESCE(SUM(q.outcome = 'throttled'), 0),"
    " COUNT(DISTINCT CASE WHEN q.outcome = 'ok' THEN q.environment_id END),"
    " AVG(CASE WHEN q.outcome = 'ok' AND q.http_status > 0"
    "     THEN (q.done_ns - q.sent_ns) / 1e6 END),"
    " COALESCE(SUM(q.cold_start = 1), 0),"
    " AVG(CASE WHEN q.cold_start = 1 THEN q.cold_start_time END)"
    " FROM runs LEFT JOIN requests q ON q.run_id = runs.id"
    " WHERE runs.id = ?1 GROUP BY runs.id";

//  Sort keys -> SQL over the row query below (constant text only).
static const struct {
    const char *key;
    const char *expr;
} s_sorts[] = {
    {"index", "request_index"},   {"agent", "agent_id"},
    {"outcome", "outcome"},       {"status", "http_status"},
    {"latency", "latency_ms"},    {"environment", "environment_id"},
    {"cold_start", "cold_start"}, {"init_type", "initialization_type"},
    {"sent", "sent_offset_ms"},   {"arrival", "arrival_offset_ms"},
};

static const char *const s_outcomes[] = {"ok", "throttled", "error", "lost"};

//  The table's columns, in the order the row query selects them.
static const store_column_t s_row_columns[] = {
    {"index", "request_index", STORE_INT},
    {"agent_id", "agent_id", STORE_TEXT},
    {"outcome", "outcome", STORE_TEXT},
    {"http_status", "http_status", STORE_INT},
    {"latency_ms", "latency_ms", STORE_REAL},
    {"environment_id", "environment_id", STORE_TEXT},
    {"cold_start", "cold_start", STORE_BOOL},
    {"initialization_type", "initialization_type", STORE_TEXT},
    {"sent_offset_ms", "sent_offset_ms", STORE_REAL},
    {"arrival_offset_ms", "arrival_offset_ms", STORE_REAL},
};

//  The filtered rows of run ?1: outcome class ?2 (NULL: all), text ?3
//  (NULL: all). The error class is every outcome but ok, throttled, lost.
#define S_ROWS_FROM                                                                      \
    "FROM (SELECT request_index, agent_id, outcome, http_status,"                        \
    " CASE WHEN http_status > 0 THEN (done_ns - sent_ns) / 1e6 END AS latency_ms,"       \
    " environment_id, cold_start, initialization_type,"                                  \
    " CASE WHEN t0 > 0 AND sent_ns > 0 THEN (sent_ns - t0) / 1e6 END AS sent_offset_ms," \
    " CASE WHEN t0 > 0 AND received_ns > 0 THEN (received_ns - t0) / 1e6 END"            \
    "   AS arrival_offset_ms"                                                            \
    " FROM requests, (SELECT started_ns AS t0 FROM runs WHERE id = ?1)"                  \
    " WHERE run_id = ?1"                                                                 \
    " AND (?2 IS NULL OR (CASE WHEN outcome IN ('ok', 'throttled', 'lost') THEN outcome" \
    "   ELSE 'error' END) = ?2)"                                                         \
    " AND (?3 IS NULL OR instr(lower(COALESCE(environment_id, '') || ' ' ||"             \
    "   COALESCE(agent_id, '')), lower(?3)) > 0))"

bool
store_rows_sort_ok(const char *sort)
{
    for (size_t i = 0; sort && i < sizeof s_sorts / sizeof s_sorts[0]; i++)
        if (strcmp(sort, s_sorts[i].key) == 0)
            return true;
    return false;
}

bool
store_rows_outcome_ok(const char *outcome)
{
    for (size_t i = 0; outcome && i < sizeof s_outcomes / sizeof s_outcomes[0]; i++)
        if (strcmp(outcome, s_outcomes[i]) == 0)
            return true;
    return false;
}

static sqlite3_stmt *
s_prepare(store_t *self, const char *sql, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(store_db(self), sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        zsys_error("store %s: cannot prepare: %s", op, sqlite3_errmsg(store_db(self)));
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

json_t *
store_rows_original_json(store_t *self, int64_t run_id)
{
    assert(self);
    sqlite3_stmt *stmt = s_prepare(self, s_original_sql, "original metrics");
    if (!stmt)
        return NULL;
    json_t *result = NULL;
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    if (!store_stmt_row(stmt, &rc)) {
        if (rc != SQLITE_DONE)
            store_stmt_fail(stmt, "original metrics", rc);
        goto out;
    }
    int64_t total = sqlite3_column_int64(stmt, 0);
    int64_t successful = sqlite3_column_int64(stmt, 1);
    int64_t throttled = sqlite3_column_int64(stmt, 2);
    int64_t environments = sqlite3_column_int64(stmt, 3);
    double avg_ms = sqlite3_column_double(stmt, 4); //  NULL reads as 0
    int64_t cold = sqlite3_column_int64(stmt, 5);
    double cold_s = sqlite3_column_double(stmt, 6);
    result = json_pack(
        "{s:I, s:I, s:I, s:f, s:o, s:f, s:I, s:f}", "total_requests", (json_int_t)total,
        "successful", (json_int_t)successful, "throttled", (json_int_t)throttled,
        "success_rate", total > 0 ? 100.0 * (double)successful / (double)total : 0.0,
        "reserved_concurrency", throttled > 0 ? json_integer(environments) : json_null(),
        "avg_response_time", avg_ms, "cold_starts", (json_int_t)cold, "cold_start_time",
        cold_s);
out:
    sqlite3_finalize(stmt);
    return result;
}

//  Binds the filter of query to ?1..?3 of stmt.
static void
s_bind_filter(sqlite3_stmt *stmt, int64_t run_id, const store_rows_query_t *query,
              int *rc)
{
    store_bind_i64(stmt, 1, run_id, rc);
    store_bind_text(stmt, 2, query->outcome, rc);
    store_bind_text(stmt, 3, query->text && query->text[0] ? query->text : NULL, rc);
}

json_t *
store_rows_page(store_t *self, int64_t run_id, const store_rows_query_t *query)
{
    assert(self);
    assert(query);
    assert(!query->sort || store_rows_sort_ok(query->sort));
    assert(!query->outcome || store_rows_outcome_ok(query->outcome));
    assert(query->limit >= 1 && query->limit <= STORE_ROWS_PAGE_MAX);
    assert(query->offset >= 0);
    const char *order = "request_index";
    for (size_t i = 0; query->sort && i < sizeof s_sorts / sizeof s_sorts[0]; i++)
        if (strcmp(query->sort, s_sorts[i].key) == 0)
            order = s_sorts[i].expr;
    char sql[2048];
    int n = snprintf(sql, sizeof sql,
                     "SELECT request_index, agent_id, outcome, http_status, latency_ms,"
                     " environment_id, cold_start, initialization_type, sent_offset_ms,"
                     " arrival_offset_ms " S_ROWS_FROM
                     " ORDER BY %s IS NULL, %s %s, request_index %s LIMIT ?4 OFFSET ?5",
                     order, order, query->desc ? "DESC" : "ASC",
                     query->desc ? "DESC" : "ASC");
    assert(n > 0 && (size_t)n < sizeof sql);
    sqlite3_stmt *count = NULL, *rows = NULL;
    json_t *page = NULL, *list = NULL;
    int rc = SQLITE_OK;
    count = s_prepare(self,
                      "SELECT (SELECT count(*) " S_ROWS_FROM "),"
                      " EXISTS (SELECT 1 FROM runs WHERE id = ?1)",
                      "rows count");
    rows = s_prepare(self, sql, "rows page");
    if (!count || !rows)
        goto out;
    s_bind_filter(count, run_id, query, &rc);
    int64_t total = 0, exists = 0;
    if (store_stmt_row(count, &rc)) {
        total = sqlite3_column_int64(count, 0);
        exists = sqlite3_column_int64(count, 1);
    } else {
        store_stmt_fail(count, "rows count", rc);
        goto out;
    }
    if (!exists)
        goto out;
    list = json_array();
    if (!list)
        goto out;
    rc = SQLITE_OK;
    s_bind_filter(rows, run_id, query, &rc);
    store_bind_i64(rows, 4, query->limit, &rc);
    store_bind_i64(rows, 5, query->offset, &rc);
    size_t columns = sizeof s_row_columns / sizeof s_row_columns[0];
    while (store_stmt_row(rows, &rc))
        if (json_array_append_new(list,
                                  store_stmt_row_json(rows, s_row_columns, columns)))
            goto out;
    if (rc != SQLITE_DONE) {
        store_stmt_fail(rows, "rows page", rc);
        goto out;
    }
    page = json_pack("{s:I, s:I, s:I, s:i, s:O}", "run_id", (json_int_t)run_id, "total",
                     (json_int_t)total, "offset", (json_int_t)query->offset, "limit",
                     query->limit, "rows", list);
out:
    json_decref(list);
    sqlite3_finalize(count);
    sqlite3_finalize(rows);
    return page;
}

json_t *
store_rows_after(store_t *self, int64_t run_id, int64_t after, int limit)
{
    assert(self);
    assert(limit >= 1 && limit <= STORE_ROWS_PAGE_MAX);
    size_t count = 0;
    const store_column_t *columns = store_stmt_columns(STORE_REQUESTS_AFTER, &count);
    sqlite3_stmt *stmt = store_stmt(self, STORE_REQUESTS_AFTER);
    json_t *rows = json_array();
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_i64(stmt, 2, after, &rc);
    store_bind_i64(stmt, 3, limit, &rc);
    while (rows && store_stmt_row(stmt, &rc))
        if (json_array_append_new(rows, store_stmt_row_json(stmt, columns, count))) {
            json_decref(rows);
            rows = NULL;
        }
    if (rows && rc != SQLITE_DONE) {
        store_stmt_fail(stmt, "rows after", rc);
        json_decref(rows);
        rows = NULL;
    }
    store_stmt_done(stmt);
    return rows;
}

//  The run's row, then per share: rows recorded and lost.
static const char s_progress_run_sql[] =
    "SELECT status, outcome, error, requested, started_ns, finished_ns,"
    " (SELECT COALESCE(SUM(outcome = 'ok'), 0) FROM requests WHERE run_id = ?1),"
    " (SELECT COALESCE(SUM(outcome = 'throttled'), 0) FROM requests WHERE run_id = ?1),"
    " (SELECT COALESCE(SUM(outcome NOT IN ('ok', 'throttled', 'lost')), 0)"
    "   FROM requests WHERE run_id = ?1),"
    " (SELECT COALESCE(SUM(outcome = 'lost'), 0) FROM requests WHERE run_id = ?1)"
    " FROM runs WHERE id = ?1";
static const char s_progress_shares_sql[] =
    "SELECT s.agent_id, s.count,"
    " (SELECT count(*) FROM requests q WHERE q.run_id = s.run_id"
    "   AND q.request_index >= s.first_index"
    "   AND q.request_index < s.first_index + s.count AND q.outcome != 'lost'),"
    " (SELECT count(*) FROM requests q WHERE q.run_id = s.run_id"
    "   AND q.request_index >= s.first_index"
    "   AND q.request_index < s.first_index + s.count AND q.outcome = 'lost')"
    " FROM run_agents s WHERE s.run_id = ?1 ORDER BY s.first_index";

//  One share's phase; see store_rows.h.
static const char *
s_phase(const char *status, const char *outcome, int64_t started_ns, int64_t now_ns,
        int64_t count, int64_t recorded, int64_t lost)
{
    bool ended = strcmp(status, "pending") != 0 && strcmp(status, "running") != 0;
    if (recorded == count)
        return "done";
    if (ended)
        return outcome && strcmp(outcome, "completed") != 0 &&
                       strcmp(outcome, "completed_with_losses") != 0
                   ? outcome
                   : (lost > 0 ? "done" : status);
    if (strcmp(status, "pending") == 0 || started_ns <= 0)
        return "preparing";
    if (now_ns < started_ns)
        return "armed";
    return recorded + lost == 0 ? "released" : "collecting";
}

json_t *
store_rows_progress_json(store_t *self, int64_t run_id, int64_t now_ns)
{
    assert(self);
    sqlite3_stmt *run = s_prepare(self, s_progress_run_sql, "progress");
    sqlite3_stmt *shares = s_prepare(self, s_progress_shares_sql, "progress shares");
    json_t *result = NULL, *agents = NULL;
    int rc = SQLITE_OK;
    if (!run || !shares)
        goto out;
    store_bind_i64(run, 1, run_id, &rc);
    if (!store_stmt_row(run, &rc)) {
        if (rc != SQLITE_DONE)
            store_stmt_fail(run, "progress", rc);
        goto out;
    }
    const char *status = (const char *)sqlite3_column_text(run, 0);
    const char *outcome = (const char *)sqlite3_column_text(run, 1);
    const char *error = (const char *)sqlite3_column_text(run, 2);
    int64_t requested = sqlite3_column_int64(run, 3);
    int64_t started_ns = sqlite3_column_int64(run, 4);
    int64_t ok = sqlite3_column_int64(run, 6), throttled = sqlite3_column_int64(run, 7);
    int64_t errors = sqlite3_column_int64(run, 8), lost = sqlite3_column_int64(run, 9);
    int64_t recorded = ok + throttled + errors;
    bool active =
        status && (strcmp(status, "pending") == 0 || strcmp(status, "running") == 0);
    int64_t pending = active ? requested - recorded - lost : 0;
    agents = json_array();
    if (!status || !agents)
        goto out;
    int shares_rc = SQLITE_OK;
    store_bind_i64(shares, 1, run_id, &shares_rc);
    while (store_stmt_row(shares, &shares_rc)) {
        int64_t count = sqlite3_column_int64(shares, 1);
        int64_t share_recorded = sqlite3_column_int64(shares, 2);
        int64_t share_lost = sqlite3_column_int64(shares, 3);
        json_t *agent =
            json_pack("{s:s?, s:I, s:I, s:I, s:s}", "agent_id",
                      (const char *)sqlite3_column_text(shares, 0), "count",
                      (json_int_t)count, "recorded", (json_int_t)share_recorded, "lost",
                      (json_int_t)share_lost, "phase",
                      s_phase(status, outcome, started_ns, now_ns, count, share_recorded,
                              share_lost));
        if (json_array_append_new(agents, agent))
            goto out;
    }
    if (shares_rc != SQLITE_DONE) {
        store_stmt_fail(shares, "progress shares", shares_rc);
        goto out;
    }
    result = json_pack(
        "{s:I, s:s, s:s?, s:s?, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:O}",
        "run_id", (json_int_t)run_id, "status", status, "outcome", outcome, "error",
        error, "requested", (json_int_t)requested, "started_ns", (json_int_t)started_ns,
        "finished_ns", (json_int_t)sqlite3_column_int64(run, 5), "counts", "ok",
        (json_int_t)ok, "throttled", (json_int_t)throttled, "errors", (json_int_t)errors,
        "lost", (json_int_t)lost, "recorded", (json_int_t)recorded, "pending",
        (json_int_t)pending, "agents", agents);
out:
    json_decref(agents);
    sqlite3_finalize(run);
    sqlite3_finalize(shares);
    return result;
}

//  The longest latency and the throttles' arrivals (ms from the start).
static const char s_charts_run_sql[] =
    "SELECT (SELECT MAX((done_ns - sent_ns) / 1e6) FROM requests"
    "   WHERE run_id = ?1 AND http_status > 0),"
    " (SELECT MIN(received_ns) FROM requests WHERE run_id = ?1"
    "   AND outcome = 'throttled' AND received_ns > 0),"
    " (SELECT MAX(received_ns) FROM requests WHERE run_id = ?1"
    "   AND outcome = 'throttled' AND received_ns > 0),"
    " (SELECT count(*) FROM requests WHERE run_id = ?1 AND outcome = 'throttled'),"
    " started_ns FROM runs WHERE id = ?1";
//  Latency histogram: bin ?2 ms wide, the last one (?3) open-ended.
static const char s_charts_bins_sql[] =
    "SELECT MIN(CAST((done_ns - sent_ns) / 1e6 / ?2 AS INTEGER), ?3),"
    " CASE WHEN outcome IN ('ok', 'throttled') THEN outcome ELSE 'error' END AS class,"
    " count(*) FROM requests WHERE run_id = ?1 AND http_status > 0"
    " AND outcome != 'lost' GROUP BY 1, 2";
static const char s_charts_invocations_sql[] =
    "SELECT environment_id, (function_started_ns - ?2) / 1e6,"
    " (function_finished_ns - ?2) / 1e6, cold_start, initialization_type"
    " FROM requests WHERE run_id = ?1 AND environment_id IS NOT NULL"
    " AND function_started_ns > 0 AND function_finished_ns >= function_started_ns"
    " ORDER BY environment_id, function_started_ns LIMIT ?3";

//  A bin width that covers max_ms in STORE_ROWS_BINS bins: 1, 2 or 5
//  times a power of ten, at least 0.1 ms.
static double
s_bin_ms(double max_ms)
{
    static const double steps[] = {1, 2, 5};
    for (double decade = 0.1; decade < 1e9; decade *= 10)
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
            if (decade * steps[i] * STORE_ROWS_BINS >= max_ms)
                return decade * steps[i];
    return 1e9;
}

json_t *
store_rows_charts_json(store_t *self, int64_t run_id)
{
    assert(self);
    sqlite3_stmt *run = s_prepare(self, s_charts_run_sql, "charts");
    sqlite3_stmt *bins = s_prepare(self, s_charts_bins_sql, "charts bins");
    sqlite3_stmt *inv = s_prepare(self, s_charts_invocations_sql, "charts invocations");
    json_t *result = NULL, *hist[3] = {NULL, NULL, NULL}, *invocations = NULL;
    int rc = SQLITE_OK;
    if (!run || !bins || !inv)
        goto out;
    store_bind_i64(run, 1, run_id, &rc);
    if (!store_stmt_row(run, &rc)) {
        if (rc != SQLITE_DONE)
            store_stmt_fail(run, "charts", rc);
        goto out;
    }
    double max_ms = sqlite3_column_double(run, 0);
    int64_t started_ns = sqlite3_column_int64(run, 4);
    double bin_ms = s_bin_ms(max_ms);
    static const char *const classes[] = {"ok", "throttled", "error"};
    for (int c = 0; c < 3; c++) {
        hist[c] = json_array();
        for (int b = 0; hist[c] && b < STORE_ROWS_BINS; b++)
            if (json_array_append_new(hist[c], json_integer(0)))
                goto out;
        if (!hist[c])
            goto out;
    }
    rc = SQLITE_OK;
    store_bind_i64(bins, 1, run_id, &rc);
    store_bind_real(bins, 2, bin_ms, &rc);
    store_bind_i64(bins, 3, STORE_ROWS_BINS - 1, &rc);
    while (store_stmt_row(bins, &rc)) {
        int64_t bin = sqlite3_column_int64(bins, 0);
        const char *cls = (const char *)sqlite3_column_text(bins, 1);
        for (int c = 0; cls && c < 3; c++)
            if (strcmp(cls, classes[c]) == 0 && bin >= 0 && bin < STORE_ROWS_BINS)
                json_array_set_new(hist[c], (size_t)bin,
                                   json_integer(sqlite3_column_int64(bins, 2)));
    }
    if (rc != SQLITE_DONE) {
        store_stmt_fail(bins, "charts bins", rc);
        goto out;
    }
    invocations = json_array();
    if (!invocations)
        goto out;
    rc = SQLITE_OK;
    store_bind_i64(inv, 1, run_id, &rc);
    store_bind_i64(inv, 2, started_ns, &rc);
    store_bind_i64(inv, 3, STORE_ROWS_INVOCATIONS_MAX, &rc);
    while (store_stmt_row(inv, &rc)) {
        json_t *cold = sqlite3_column_type(inv, 3) == SQLITE_NULL
                           ? json_null()
                           : json_boolean(sqlite3_column_int64(inv, 3) != 0);
        if (json_array_append_new(
                invocations, json_pack("{s:s, s:f, s:f, s:o, s:s?}", "environment_id",
                                       (const char *)sqlite3_column_text(inv, 0),
                                       "start_ms", sqlite3_column_double(inv, 1),
                                       "end_ms", sqlite3_column_double(inv, 2),
                                       "cold_start", cold, "initialization_type",
                                       (const char *)sqlite3_column_text(inv, 4))))
            goto out;
    }
    if (rc != SQLITE_DONE) {
        store_stmt_fail(inv, "charts invocations", rc);
        goto out;
    }
    bool arrivals = sqlite3_column_type(run, 1) != SQLITE_NULL && started_ns > 0;
    json_t *first =
        arrivals ? json_real((double)(sqlite3_column_int64(run, 1) - started_ns) / 1e6)
                 : json_null();
    json_t *last =
        arrivals ? json_real((double)(sqlite3_column_int64(run, 2) - started_ns) / 1e6)
                 : json_null();
    result = json_pack("{s:I, s:{s:f, s:O, s:O, s:O}, s:O, s:{s:o, s:o, s:I}}", "run_id",
                       (json_int_t)run_id, "latency", "bin_ms", bin_ms, "ok", hist[0],
                       "throttled", hist[1], "error", hist[2], "invocations", invocations,
                       "throttles", "first_ms", first, "last_ms", last, "count",
                       (json_int_t)sqlite3_column_int64(run, 3));
out:
    for (int c = 0; c < 3; c++)
        json_decref(hist[c]);
    json_decref(invocations);
    sqlite3_finalize(run);
    sqlite3_finalize(bins);
    sqlite3_finalize(inv);
    return result;
}
