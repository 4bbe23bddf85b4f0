/*  store — the results database; see store.h.

    A store_t owns one connection and every statement it runs, prepared once
    in store_open and reused (reset after each use, so no statement holds a
    read snapshot open between calls). Writes that touch many rows run in
    one IMMEDIATE transaction; the rest are single statements, atomic by
    themselves.

    Each query that returns rows to the outside is generated from a column
    table (name shown to clients, SQL expression, type), and the JSON and
    CSV writers walk the same table: a field added there appears in the
    SELECT, the HTTP API and both export formats at once.

    Expected workload: one writer inserting batches of up to ~1000 results
    during a run of up to ~1e6 requests; a few readers computing a run's
    summary after each batch for the dashboard.
*/
#include "store.h"
#include "sp_err.h"
#include "store_schema.h"

#include "sp_check.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

//  A reader waits this long for the writer (and vice versa) before
//  SQLITE_BUSY; WAL makes such waits rare (only checkpoints and writers
//  queueing behind each other).
#define S_BUSY_TIMEOUT_MS 5000
#define S_PATH_MAX 4096
#define S_SQL_MAX 4096

//  How a column reaches JSON and CSV; SQL NULL is null / empty in every type.
typedef enum { S_INT, S_REAL, S_TEXT, S_BOOL } s_type_t;

typedef struct {
    const char *name; //  JSON key and CSV header
    const char *expr; //  SQL expression over the queried table
    s_type_t type;
} s_column_t;

#define S_COLUMNS(table) table, sizeof table / sizeof table[0]

static const s_column_t s_run_columns[] = {
    {"run_id", "id", S_INT},
    {"status", "status", S_TEXT},
    {"created_ns", "created_ns", S_INT},
    {"started_ns", "started_ns", S_INT},
    {"finished_ns", "finished_ns", S_INT},
    {"url", "url", S_TEXT},
    {"method", "method", S_TEXT},
    {"start_mode", "start_mode", S_TEXT},
    {"requested", "requested", S_INT},
    {"agents", "agents", S_INT},
    {"label", "label", S_TEXT},
    {"error", "error", S_TEXT},
};

static const s_column_t s_share_columns[] = {
    {"agent_id", "agent_id", S_TEXT},
    {"first_index", "first_index", S_INT},
    {"count", "count", S_INT},
    {"clock_offset_ns", "clock_offset_ns", S_INT},
    {"clock_error_ns", "clock_error_ns", S_INT},
};

static const s_column_t s_request_columns[] = {
    {"index", "request_index", S_INT},
    {"agent_id", "agent_id", S_TEXT},
    {"outcome", "outcome", S_TEXT},
    {"http_status", "http_status", S_INT},
    {"scheduled_ns", "scheduled_ns", S_INT},
    {"sent_ns", "sent_ns", S_INT},
    {"first_byte_ns", "first_byte_ns", S_INT},
    {"done_ns", "done_ns", S_INT},
    {"received_ns", "received_ns", S_INT},
    {"bytes", "bytes", S_INT},
    {"reused", "reused", S_BOOL},
    {"request_id", "request_id", S_TEXT},
    {"environment_id", "environment_id", S_TEXT},
    {"cold_start", "cold_start", S_BOOL},
    {"cold_start_time", "cold_start_time", S_REAL},
    {"initialization_type", "initialization_type", S_TEXT},
    {"invocation_count", "invocation_count", S_INT},
    {"function_started_ns", "function_started_ns", S_INT},
    {"function_finished_ns", "function_finished_ns", S_INT},
    {"error", "error", S_TEXT},
    //  Same rule as the summary's percentiles: only rows with a response.
    {"latency_ms", "CASE WHEN http_status > 0 THEN (done_ns - sent_ns) / 1e6 END",
     S_REAL},
};

//  The summary in SQL. Percentiles are nearest-rank: the ceil(p/100 * n)-th
//  smallest latency, i.e. rank (p*n + 99) / 100 in integers. Peak
//  concurrency sweeps +1 at each function start and -1 at each finish in
//  time order, ends first at equal instants (intervals are half-open), and
//  takes the highest running sum. The spread of a single receive time is
//  max - min = 0, so "fewer than 2" needs no case of its own.
static const char s_summary_sql[] =
    "WITH r AS ("
    "  SELECT outcome, http_status, done_ns - sent_ns AS latency_ns, received_ns,"
    "         cold_start, environment_id,"
    "         function_started_ns AS fs, function_finished_ns AS ff"
    "  FROM requests WHERE run_id = ?1),"
    "counts AS ("
    "  SELECT count(*) FILTER (WHERE outcome <> 'lost') AS recorded,"
    "         count(*) FILTER (WHERE outcome = 'ok') AS ok,"
    "         count(*) FILTER (WHERE outcome = 'throttled') AS throttled,"
    "         count(*) FILTER (WHERE outcome NOT IN ('ok', 'throttled', 'lost'))"
    "           AS errors,"
    "         count(*) FILTER (WHERE cold_start = 1) AS cold_starts,"
    "         count(DISTINCT environment_id) FILTER (WHERE environment_id <> '')"
    "           AS environments,"
    "         max(received_ns) FILTER (WHERE received_ns > 0)"
    "           - min(received_ns) FILTER (WHERE received_ns > 0) AS spread_ns"
    "  FROM r),"
    "lat AS ("
    "  SELECT latency_ns, row_number() OVER (ORDER BY latency_ns) AS rank,"
    "         count(*) OVER () AS n"
    "  FROM r WHERE http_status > 0),"
    "pct AS ("
    "  SELECT coalesce(max(latency_ns) FILTER (WHERE rank = (n * 50 + 99) / 100),"
    "                  0) AS p50,"
    "         coalesce(max(latency_ns) FILTER (WHERE rank = (n * 90 + 99) / 100),"
    "                  0) AS p90,"
    "         coalesce(max(latency_ns) FILTER (WHERE rank = (n * 99 + 99) / 100),"
    "                  0) AS p99,"
    "         coalesce(max(latency_ns), 0) AS pmax"
    "  FROM lat),"
    "ev AS ("
    "  SELECT fs AS t, 1 AS d FROM r WHERE fs > 0 AND ff >= fs"
    "  UNION ALL"
    "  SELECT ff AS t, -1 AS d FROM r WHERE fs > 0 AND ff >= fs),"
    "peak AS ("
    "  SELECT coalesce(max(live), 0) AS peak FROM ("
    "    SELECT sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS live FROM ev))"
    "SELECT runs.status, runs.requested, counts.recorded,"
    "       max(runs.requested - counts.recorded, 0), counts.ok, counts.throttled,"
    "       counts.errors, counts.cold_starts, counts.environments, peak.peak,"
    "       pct.p50, pct.p90, pct.p99, pct.pmax,"
    "       coalesce(counts.spread_ns, 0),"
    "       CASE WHEN runs.started_ns > 0 AND runs.finished_ns > 0"
    "            THEN runs.finished_ns - runs.started_ns ELSE 0 END,"
    "       runs.start_mode"
    "  FROM runs, counts, pct, peak WHERE runs.id = ?1";

typedef enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_RUN_CREATE,
    S_RUN_STATUS,
    S_AGENT_UPSERT,
    S_SHARE_ADD,
    S_SHARE_GET,
    S_RESULT_UPSERT,
    S_MARK_LOST,
    S_SUMMARY,
    S_LATEST_RUN,
    S_RUN_UNSETTLED,
    S_RUN_LIST,
    S_RUN_GET,
    S_SHARES,
    S_REQUESTS,
    S_STMT_COUNT
} s_stmt_id_t;

//  Every statement the store runs. With columns set, sql is what follows
//  the generated SELECT list.
static const struct {
    const char *sql;
    const s_column_t *columns;
    size_t column_count;
} s_statements[S_STMT_COUNT] = {
    [S_BEGIN] = {"BEGIN IMMEDIATE", NULL, 0},
    [S_COMMIT] = {"COMMIT", NULL, 0},
    [S_ROLLBACK] = {"ROLLBACK", NULL, 0},
    [S_RUN_CREATE] =
        {"INSERT INTO runs (created_ns, url, method, requested, agents, label,"
         " start_mode) VALUES (?1, ?2, ?3, ?4, ?5, ?6, coalesce(?7, 'at_go'))",
         NULL, 0},
    [S_RUN_STATUS] = {"UPDATE runs SET status = ?2,"
                      " started_ns = CASE WHEN ?3 <> 0 THEN ?3 ELSE started_ns END,"
                      " finished_ns = CASE WHEN ?4 <> 0 THEN ?4 ELSE finished_ns END,"
                      " error = coalesce(?5, error)"
                      " WHERE id = ?1",
                      NULL, 0},
    [S_AGENT_UPSERT] = {"INSERT INTO agents"
                        " (id, host, version, capacity, first_seen_ns, last_seen_ns)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                        " ON CONFLICT (id) DO UPDATE SET host = excluded.host,"
                        " version = excluded.version, capacity = excluded.capacity,"
                        " last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)",
                        NULL, 0},
    [S_SHARE_ADD] = {"INSERT INTO run_agents (run_id, agent_id, first_index, count,"
                     " clock_offset_ns, clock_error_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                     " ON CONFLICT (run_id, agent_id) DO UPDATE SET"
                     " first_index = excluded.first_index, count = excluded.count,"
                     " clock_offset_ns = excluded.clock_offset_ns,"
                     " clock_error_ns = excluded.clock_error_ns",
                     NULL, 0},
    [S_SHARE_GET] = {"SELECT first_index, count, clock_offset_ns FROM run_agents"
                     " WHERE run_id = ?1 AND agent_id = ?2",
                     NULL, 0},
    //  The first real result of an index wins; a lost marker gives way.
    [S_RESULT_UPSERT] =
        {"INSERT INTO requests (run_id, request_index, agent_id, outcome, http_status,"
         " scheduled_ns, sent_ns, first_byte_ns, done_ns, received_ns, bytes, reused,"
         " request_id, environment_id, cold_start, cold_start_time,"
         " initialization_type, invocation_count, function_started_ns,"
         " function_finished_ns, error)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
         " ?16, ?17, ?18, ?19, ?20, ?21)"
         " ON CONFLICT (run_id, request_index) DO UPDATE SET"
         " agent_id = excluded.agent_id, outcome = excluded.outcome,"
         " http_status = excluded.http_status, scheduled_ns = excluded.scheduled_ns,"
         " sent_ns = excluded.sent_ns, first_byte_ns = excluded.first_byte_ns,"
         " done_ns = excluded.done_ns, received_ns = excluded.received_ns,"
         " bytes = excluded.bytes, reused = excluded.reused,"
         " request_id = excluded.request_id, environment_id = excluded.environment_id,"
         " cold_start = excluded.cold_start, cold_start_time = excluded.cold_start_time,"
         " initialization_type = excluded.initialization_type,"
         " invocation_count = excluded.invocation_count,"
         " function_started_ns = excluded.function_started_ns,"
         " function_finished_ns = excluded.function_finished_ns,"
         " error = excluded.error"
         " WHERE requests.outcome = 'lost'",
         NULL, 0},
    //  ?3 first index, ?4 one past the last. "WHERE true" keeps the parser
    //  from reading ON CONFLICT as a join constraint.
    [S_MARK_LOST] =
        {"WITH RECURSIVE idx (i) AS ("
         "  SELECT ?3 WHERE ?3 < ?4"
         "  UNION ALL SELECT i + 1 FROM idx WHERE i + 1 < ?4)"
         " INSERT INTO requests (run_id, request_index, agent_id, outcome, error)"
         " SELECT ?1, i, ?2, 'lost', ?5 FROM idx WHERE true"
         " ON CONFLICT (run_id, request_index) DO NOTHING",
         NULL, 0},
    [S_SUMMARY] = {s_summary_sql, NULL, 0},
    [S_LATEST_RUN] = {"SELECT coalesce(max(id), 0) FROM runs", NULL, 0},
    //  One at a time: settling a run takes it out of this set.
    [S_RUN_UNSETTLED] = {"SELECT id FROM runs WHERE status IN ('pending', 'running')"
                         " ORDER BY id LIMIT 1",
                         NULL, 0},
    [S_RUN_LIST] = {"FROM runs ORDER BY id DESC LIMIT ?1", S_COLUMNS(s_run_columns)},
    [S_RUN_GET] = {"FROM runs WHERE id = ?1", S_COLUMNS(s_run_columns)},
    [S_SHARES] = {"FROM run_agents WHERE run_id = ?1 ORDER BY first_index, agent_id",
                  S_COLUMNS(s_share_columns)},
    [S_REQUESTS] = {"FROM requests WHERE run_id = ?1 ORDER BY request_index",
                    S_COLUMNS(s_request_columns)},
};

struct _store_t {
    sqlite3 *db;                      //  the connection; this thread only
    sqlite3_stmt *stmt[S_STMT_COUNT]; //  prepared in store_open, reused
};

//  Logs a failed SQLite call once, where the operation is known.
static int
s_fail(store_t *self, const char *op, int rc)
{
    zsys_error("store: statement failed op=\"%s\" rc=%d msg=\"%s\"", op, rc,
               sqlite3_errmsg(self->db));
    return -1;
}

//  Returns the statement ready for binding.
static sqlite3_stmt *
s_stmt(store_t *self, s_stmt_id_t id)
{
    assert(id < S_STMT_COUNT);
    sqlite3_stmt *stmt = self->stmt[id];
    assert(stmt);
    return stmt;
}

//  Ends a use of a statement: resets it (releasing its read snapshot) and
//  drops the bindings, so no borrowed string outlives the call.
static void
s_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

//  Binders that chain: each does nothing once *rc holds an error, so the
//  binds of a statement are checked once, after the last.
static void
s_bind_i64(sqlite3_stmt *stmt, int col, int64_t value, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(stmt, col, value);
}

static void
s_bind_real(sqlite3_stmt *stmt, int col, double value, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_double(stmt, col, value);
}

static void
s_bind_null(sqlite3_stmt *stmt, int col, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_null(stmt, col);
}

//  NULL binds SQL NULL. The text is borrowed until s_done.
static void
s_bind_text(sqlite3_stmt *stmt, int col, const char *value, int *rc)
{
    if (*rc != SQLITE_OK)
        return;
    if (value)
        *rc = sqlite3_bind_text(stmt, col, value, -1, SQLITE_STATIC);
    else
        *rc = sqlite3_bind_null(stmt, col);
}

//  Steps a statement that returns no rows, then ends its use.
static int
s_step_done(store_t *self, sqlite3_stmt *stmt, int bind_rc, const char *op)
{
    int rc = bind_rc == SQLITE_OK ? sqlite3_step(stmt) : bind_rc;
    s_done(stmt);
    if (rc != SQLITE_DONE)
        return s_fail(self, op, rc);
    return 0;
}

static int
s_make_parent(const char *path, char *err, size_t err_size)
{
    if (path[0] == '\0' || strcmp(path, ":memory:") == 0 ||
        strncmp(path, "file:", 5) == 0)
        return 0;
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    char dir[S_PATH_MAX];
    size_t len = (size_t)(slash - path);
    assert(len < sizeof dir); //  store_open checked the whole path
    memcpy(dir, path, len);
    dir[len] = '\0';
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    sp_err_set(err, err_size, "cannot create directory %s: %s", dir, strerror(errno));
    return -1;
}

static int
s_prepare_all(store_t *self, char *err, size_t err_size)
{
    for (int id = 0; id < S_STMT_COUNT; id++) {
        const char *sql = s_statements[id].sql;
        char generated[S_SQL_MAX];
        if (s_statements[id].columns) {
            //  Names and expressions are our own constants, never values.
            size_t used = 0;
            for (size_t c = 0; c < s_statements[id].column_count; c++) {
                const s_column_t *column = &s_statements[id].columns[c];
                int written =
                    snprintf(generated + used, sizeof generated - used, "%s%s AS \"%s\"",
                             c ? ", " : "SELECT ", column->expr, column->name);
                assert(written > 0 && (size_t)written < sizeof generated - used);
                used += (size_t)written;
            }
            int written = snprintf(generated + used, sizeof generated - used, " %s", sql);
            assert(written > 0 && (size_t)written < sizeof generated - used);
            sql = generated;
        }
        int rc = sqlite3_prepare_v3(self->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &self->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            sp_err_set(err, err_size, "cannot prepare statement %d: %s", id,
                       sqlite3_errmsg(self->db));
            return -1;
        }
    }
    return 0;
}

//  Runs a one-row pragma and copies its text answer.
static int
s_pragma(sqlite3 *db, const char *sql, char *answer, size_t answer_size)
{
    sqlite3_stmt *stmt = NULL;
    int result = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        goto out;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(stmt, 0);
        snprintf(answer, answer_size, "%s", text ? (const char *)text : "");
        rc = sqlite3_step(stmt);
    }
    if (rc == SQLITE_DONE)
        result = 0;
out:
    sqlite3_finalize(stmt);
    return result;
}

store_t *
store_open(const char *path, char *err, size_t err_size)
{
    assert(path);
    sp_err_set(err, err_size, "%s", "");
    store_t *self = NULL;
    if (strlen(path) >= S_PATH_MAX) {
        sp_err_set(err, err_size, "database path longer than %d bytes", S_PATH_MAX - 1);
        goto fail;
    }
    if (s_make_parent(path, err, err_size))
        goto fail;
    self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        goto fail;
    }
    int rc = sqlite3_open_v2(path, &self->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                             NULL);
    if (rc != SQLITE_OK) {
        sp_err_set(err, err_size, "cannot open %s: %s", path,
                   self->db ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(self->db, 1);
    sqlite3_busy_timeout(self->db, S_BUSY_TIMEOUT_MS);
    //  The first real read: a file that is not a database fails here.
    char mode[16];
    if (sqlite3_exec(self->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) !=
            SQLITE_OK ||
        s_pragma(self->db, "PRAGMA journal_mode = WAL", mode, sizeof mode)) {
        sp_err_set(err, err_size, "cannot use %s: %s", path, sqlite3_errmsg(self->db));
        goto fail;
    }
    //  An in-memory database answers "memory"; a file must really be in WAL,
    //  or the HTTP thread's reads would stall the run loop's writes.
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
        sp_err_set(err, err_size, "cannot use WAL mode on %s (journal_mode=%s)", path,
                   mode);
        goto fail;
    }
    if (store_schema_migrate(self->db, err, err_size))
        goto fail;
    if (s_prepare_all(self, err, err_size))
        goto fail;
    return self;
fail:
    store_destroy(&self);
    return NULL;
}

void
store_destroy(store_t **self_p)
{
    assert(self_p);
    store_t *self = *self_p;
    if (!self)
        return;
    for (int id = 0; id < S_STMT_COUNT; id++)
        sqlite3_finalize(self->stmt[id]);
    if (self->db) {
        int rc = sqlite3_close(self->db);
        if (rc != SQLITE_OK)
            zsys_error("store: close failed rc=%d", rc);
    }
    free(self);
    *self_p = NULL;
}

int64_t
store_run_create(store_t *self, const store_run_t *run)
{
    assert(self);
    assert(run);
    sqlite3_stmt *stmt = s_stmt(self, S_RUN_CREATE);
    int rc = SQLITE_OK;
    s_bind_i64(stmt, 1, run->created_ns, &rc);
    s_bind_text(stmt, 2, run->url, &rc);
    s_bind_text(stmt, 3, run->method, &rc);
    s_bind_i64(stmt, 4, run->requested, &rc);
    s_bind_i64(stmt, 5, run->agents, &rc);
    s_bind_text(stmt, 6, run->label, &rc);
    s_bind_text(stmt, 7, run->start_mode, &rc);
    if (s_step_done(self, stmt, rc, "run create"))
        return -1;
    return sqlite3_last_insert_rowid(self->db);
}

int
store_run_set_status(store_t *self, int64_t run_id, const char *status,
                     int64_t started_ns, int64_t finished_ns, const char *error)
{
    assert(self);
    sqlite3_stmt *stmt = s_stmt(self, S_RUN_STATUS);
    int rc = SQLITE_OK;
    s_bind_i64(stmt, 1, run_id, &rc);
    s_bind_text(stmt, 2, status, &rc);
    s_bind_i64(stmt, 3, started_ns, &rc);
    s_bind_i64(stmt, 4, finished_ns, &rc);
    s_bind_text(stmt, 5, error, &rc);
    if (s_step_done(self, stmt, rc, "run status"))
        return -1;
    if (sqlite3_changes(self->db) != 1) {
        zsys_error("store: run status failed, no such run run_id=%" PRId64, run_id);
        return -1;
    }
    return 0;
}

int
store_agent_upsert(store_t *self, const char *agent_id, const char *host,
                   const char *version, uint32_t capacity, int64_t seen_ns)
{
    assert(self);
    sqlite3_stmt *stmt = s_stmt(self, S_AGENT_UPSERT);
    int rc = SQLITE_OK;
    s_bind_text(stmt, 1, agent_id, &rc);
    s_bind_text(stmt, 2, host, &rc);
    s_bind_text(stmt, 3, version, &rc);
    s_bind_i64(stmt, 4, capacity, &rc);
    s_bind_i64(stmt, 5, seen_ns, &rc);
    return s_step_done(self, stmt, rc, "agent upsert");
}

int
store_share_add(store_t *self, int64_t run_id, const char *agent_id, uint32_t first_index,
                uint32_t count, int64_t clock_offset_ns, int64_t clock_error_ns)
{
    assert(self);
    sqlite3_stmt *stmt = s_stmt(self, S_SHARE_ADD);
    int rc = SQLITE_OK;
    s_bind_i64(stmt, 1, run_id, &rc);
    s_bind_text(stmt, 2, agent_id, &rc);
    s_bind_i64(stmt, 3, first_index, &rc);
    s_bind_i64(stmt, 4, count, &rc);
    s_bind_i64(stmt, 5, clock_offset_ns, &rc);
    s_bind_i64(stmt, 6, clock_error_ns, &rc);
    return s_step_done(self, stmt, rc, "share add");
}

int
store_share_get(store_t *self, int64_t run_id, const char *agent_id,
                uint32_t *first_index, uint32_t *count, int64_t *clock_offset_ns)
{
    assert(self && agent_id && first_index && count && clock_offset_ns);
    sqlite3_stmt *stmt = s_stmt(self, S_SHARE_GET);
    int result = -1;
    int rc = SQLITE_OK;
    s_bind_i64(stmt, 1, run_id, &rc);
    s_bind_text(stmt, 2, agent_id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        result = 1;
    else if (rc != SQLITE_ROW)
        s_fail(self, "share get", rc);
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
    s_done(stmt);
    return result;
}

static int
s_result_insert(store_t *self, int64_t run_id, const char *agent_id,
                const store_result_t *row)
{
    sqlite3_stmt *stmt = s_stmt(self, S_RESULT_UPSERT);
    int rc = SQLITE_OK;
    s_bind_i64(stmt, 1, run_id, &rc);
    s_bind_i64(stmt, 2, row->index, &rc);
    s_bind_text(stmt, 3, agent_id, &rc);
    s_bind_text(stmt, 4, row->outcome, &rc);
    s_bind_i64(stmt, 5, row->http_status, &rc);
    s_bind_i64(stmt, 6, row->scheduled_ns, &rc);
    s_bind_i64(stmt, 7, row->sent_ns, &rc);
    s_bind_i64(stmt, 8, row->first_byte_ns, &rc);
    s_bind_i64(stmt, 9, row->done_ns, &rc);
    s_bind_i64(stmt, 10, row->received_ns, &rc);
    s_bind_i64(stmt, 11, row->bytes > INT64_MAX ? INT64_MAX : (int64_t)row->bytes, &rc);
    s_bind_i64(stmt, 12, row->reused ? 1 : 0, &rc);
    s_bind_text(stmt, 13, row->request_id, &rc);
    s_bind_text(stmt, 14, row->environment_id, &rc);
    if (row->cold_start < 0)
        s_bind_null(stmt, 15, &rc);
    else
        s_bind_i64(stmt, 15, row->cold_start, &rc);
    s_bind_real(stmt, 16, row->cold_start_time, &rc);
    s_bind_text(stmt, 17, row->initialization_type, &rc);
    if (row->invocation_count < 0)
        s_bind_null(stmt, 18, &rc);
    else
        s_bind_i64(stmt, 18, row->invocation_count, &rc);
    s_bind_i64(stmt, 19, row->function_started_ns, &rc);
    s_bind_i64(stmt, 20, row->function_finished_ns, &rc);
    s_bind_text(stmt, 21, row->error, &rc);
    return s_step_done(self, stmt, rc, "result insert");
}

int
store_results_insert(store_t *self, int64_t run_id, const char *agent_id,
                     const store_result_t *rows, size_t n)
{
    assert(self);
    assert(rows || n == 0);
    if (n == 0)
        return 0;
    if (s_step_done(self, s_stmt(self, S_BEGIN), SQLITE_OK, "results begin"))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s_result_insert(self, run_id, agent_id, &rows[i]))
            goto rollback;
    }
    if (s_step_done(self, s_stmt(self, S_COMMIT), SQLITE_OK, "results commit"))
        goto rollback;
    return 0;
rollback:
    s_step_done(self, s_stmt(self, S_ROLLBACK), SQLITE_OK, "results rollback");
    return -1;
}

int64_t
store_mark_lost(store_t *self, int64_t run_id, const char *agent_id, uint32_t first_index,
                uint32_t count, const char *reason)
{
    assert(self);
    sqlite3_stmt *stmt = s_stmt(self, S_MARK_LOST);
    int rc = SQLITE_OK;
    s_bind_i64(stmt, 1, run_id, &rc);
    s_bind_text(stmt, 2, agent_id, &rc);
    s_bind_i64(stmt, 3, first_index, &rc);
    s_bind_i64(stmt, 4, (int64_t)first_index + count, &rc);
    s_bind_text(stmt, 5, reason, &rc);
    if (s_step_done(self, stmt, rc, "mark lost"))
        return -1;
    return sqlite3_changes64(self->db);
}

//  The oldest run still pending or running: 1 with its id, 0 when none is
//  left, -1 on error.
static int
s_next_unsettled(store_t *self, int64_t *run_id)
{
    sqlite3_stmt *stmt = s_stmt(self, S_RUN_UNSETTLED);
    int result = -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *run_id = sqlite3_column_int64(stmt, 0);
        result = 1;
    } else if (rc == SQLITE_DONE)
        result = 0;
    else
        s_fail(self, "unsettled runs", rc);
    s_done(stmt);
    return result;
}

//  Marks the missing indices of every share of run_id lost with reason.
static int
s_shares_lost(store_t *self, int64_t run_id, const char *reason)
{
    //  S_SHARES selects agent_id, first_index, count first.
    assert(strcmp(s_share_columns[0].name, "agent_id") == 0);
    assert(strcmp(s_share_columns[1].name, "first_index") == 0);
    assert(strcmp(s_share_columns[2].name, "count") == 0);
    sqlite3_stmt *stmt = s_stmt(self, S_SHARES);
    int result = -1;
    int rc = sqlite3_bind_int64(stmt, 1, run_id);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
            break;
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
        s_fail(self, "shares of a run", rc);
        goto out;
    }
    result = 0;
out:
    s_done(stmt);
    return result;
}

int
store_runs_interrupted(store_t *self, const char *reason, int64_t finished_ns)
{
    assert(self && reason);
    if (s_step_done(self, s_stmt(self, S_BEGIN), SQLITE_OK, "interrupted begin"))
        return -1;
    int settled = 0;
    //  Terminates: each pass turns one run "failed" or leaves the loop.
    for (;;) {
        int64_t run_id = 0;
        int found = s_next_unsettled(self, &run_id);
        if (found < 0)
            goto rollback;
        if (found == 0)
            break;
        if (s_shares_lost(self, run_id, reason) ||
            store_run_set_status(self, run_id, "failed", 0, finished_ns, reason))
            goto rollback;
        settled++;
    }
    if (s_step_done(self, s_stmt(self, S_COMMIT), SQLITE_OK, "interrupted commit"))
        goto rollback;
    return settled;
rollback:
    s_step_done(self, s_stmt(self, S_ROLLBACK), SQLITE_OK, "interrupted rollback");
    return -1;
}

int
store_summary(store_t *self, int64_t run_id, store_summary_t *out)
{
    assert(self);
    assert(out);
    sqlite3_stmt *stmt = s_stmt(self, S_SUMMARY);
    int result = -1;
    int rc = sqlite3_bind_int64(stmt, 1, run_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        goto out; //  no such run: not an error worth a log line
    if (rc != SQLITE_ROW) {
        s_fail(self, "summary", rc);
        goto out;
    }
    memset(out, 0, sizeof *out);
    out->run_id = run_id;
    const unsigned char *status = sqlite3_column_text(stmt, 0);
    snprintf(out->status, sizeof out->status, "%s", status ? (const char *)status : "");
    out->requested = (uint32_t)sqlite3_column_int64(stmt, 1);
    out->recorded = (uint32_t)sqlite3_column_int64(stmt, 2);
    out->lost = (uint32_t)sqlite3_column_int64(stmt, 3);
    out->ok = (uint32_t)sqlite3_column_int64(stmt, 4);
    out->throttled = (uint32_t)sqlite3_column_int64(stmt, 5);
    out->errors = (uint32_t)sqlite3_column_int64(stmt, 6);
    out->cold_starts = (uint32_t)sqlite3_column_int64(stmt, 7);
    out->environments = (uint32_t)sqlite3_column_int64(stmt, 8);
    out->peak_concurrency = (uint32_t)sqlite3_column_int64(stmt, 9);
    out->p50_ms = (double)sqlite3_column_int64(stmt, 10) / 1e6;
    out->p90_ms = (double)sqlite3_column_int64(stmt, 11) / 1e6;
    out->p99_ms = (double)sqlite3_column_int64(stmt, 12) / 1e6;
    out->max_ms = (double)sqlite3_column_int64(stmt, 13) / 1e6;
    out->spread_ms = (double)sqlite3_column_int64(stmt, 14) / 1e6;
    out->wall_ms = (double)sqlite3_column_int64(stmt, 15) / 1e6;
    const unsigned char *start_mode = sqlite3_column_text(stmt, 16);
    snprintf(out->start_mode, sizeof out->start_mode, "%s",
             start_mode ? (const char *)start_mode : "");
    result = 0;
out:
    s_done(stmt);
    return result;
}

int64_t
store_latest_run(store_t *self)
{
    assert(self);
    sqlite3_stmt *stmt = s_stmt(self, S_LATEST_RUN);
    int64_t run_id = -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        run_id = sqlite3_column_int64(stmt, 0);
    else
        s_fail(self, "latest run", rc);
    s_done(stmt);
    return run_id;
}

//  --------------------------------------------------------------------------
//  JSON views

//  A JSON string of text; bytes that are not valid UTF-8 become '?', so a
//  stray byte in a function's error text cannot drop the whole row.
static json_t *
s_json_text(const char *text, size_t size)
{
    json_t *string = json_stringn(text, size);
    if (string)
        return string;
    char *copy = malloc(size + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < size; i++)
        copy[i] = (unsigned char)text[i] < 0x80 && text[i] != '\0' ? text[i] : '?';
    string = json_stringn(copy, size);
    free(copy);
    return string;
}

//  One row of a generated SELECT as an object keyed by column name.
static json_t *
s_row_json(sqlite3_stmt *stmt, const s_column_t *columns, size_t count)
{
    json_t *object = json_object();
    if (!object)
        return NULL;
    for (size_t c = 0; c < count; c++) {
        int col = (int)c;
        json_t *value = NULL;
        if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
            value = json_null();
        else if (columns[c].type == S_INT)
            value = json_integer(sqlite3_column_int64(stmt, col));
        else if (columns[c].type == S_REAL)
            value = json_real(sqlite3_column_double(stmt, col));
        else if (columns[c].type == S_BOOL)
            value = json_boolean(sqlite3_column_int64(stmt, col) != 0);
        else {
            const char *text = (const char *)sqlite3_column_text(stmt, col);
            value =
                text ? s_json_text(text, (size_t)sqlite3_column_bytes(stmt, col)) : NULL;
        }
        if (json_object_set_new(object, columns[c].name, value)) {
            json_decref(object);
            return NULL;
        }
    }
    return object;
}

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

//  The run object of the current row of S_RUN_LIST or S_RUN_GET, with its
//  summary.
static json_t *
s_run_json(store_t *self, sqlite3_stmt *stmt)
{
    json_t *run = s_row_json(stmt, S_COLUMNS(s_run_columns));
    if (!run)
        return NULL;
    assert(strcmp(s_run_columns[0].name, "run_id") == 0);
    store_summary_t summary;
    if (store_summary(self, sqlite3_column_int64(stmt, 0), &summary) ||
        json_object_set_new(run, "summary", s_summary_json(&summary))) {
        json_decref(run);
        return NULL;
    }
    return run;
}

//  Appends one object per row of a per-run statement to array.
static int
s_rows_json(store_t *self, s_stmt_id_t id, int64_t run_id, json_t *array)
{
    sqlite3_stmt *stmt = s_stmt(self, id);
    int result = -1;
    int rc = sqlite3_bind_int64(stmt, 1, run_id);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
            break;
        json_t *row =
            s_row_json(stmt, s_statements[id].columns, s_statements[id].column_count);
        if (json_array_append_new(array, row))
            goto out;
    }
    if (rc != SQLITE_DONE) {
        s_fail(self, "rows", rc);
        goto out;
    }
    result = 0;
out:
    s_done(stmt);
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
    sqlite3_stmt *stmt = s_stmt(self, S_RUN_LIST);
    int rc = sqlite3_bind_int(stmt, 1, limit);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
            break;
        if (json_array_append_new(runs, s_run_json(self, stmt)))
            goto fail;
    }
    if (rc != SQLITE_DONE) {
        s_fail(self, "runs list", rc);
        goto fail;
    }
    s_done(stmt);
    return runs;
fail:
    s_done(stmt);
    json_decref(runs);
    return NULL;
}

json_t *
store_run_json(store_t *self, int64_t run_id, bool with_requests)
{
    assert(self);
    sqlite3_stmt *stmt = s_stmt(self, S_RUN_GET);
    json_t *run = NULL;
    int rc = sqlite3_bind_int64(stmt, 1, run_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        run = s_run_json(self, stmt);
    else if (rc != SQLITE_DONE)
        s_fail(self, "run get", rc);
    s_done(stmt);
    if (!run)
        return NULL;

    json_t *shares = json_array();
    if (json_object_set_new(run, "shares", shares) ||
        s_rows_json(self, S_SHARES, run_id, shares))
        goto fail;
    if (with_requests) {
        json_t *requests = json_array();
        if (json_object_set_new(run, "requests", requests) ||
            s_rows_json(self, S_REQUESTS, run_id, requests))
            goto fail;
    }
    return run;
fail:
    json_decref(run);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Export

//  One CSV field, quoted per RFC 4180 when it holds a comma, quote, CR or LF.
static int
s_csv_field(FILE *out, const char *text)
{
    if (!strpbrk(text, ",\"\r\n"))
        return fputs(text, out) < 0 ? -1 : 0;
    if (fputc('"', out) == EOF)
        return -1;
    for (const char *p = text; *p; p++) {
        if (*p == '"' && fputc('"', out) == EOF)
            return -1;
        if (fputc(*p, out) == EOF)
            return -1;
    }
    return fputc('"', out) == EOF ? -1 : 0;
}

static int
s_csv_row(FILE *out, sqlite3_stmt *stmt, const s_column_t *columns, size_t count)
{
    for (size_t c = 0; c < count; c++) {
        int col = (int)c;
        if (c && fputc(',', out) == EOF)
            return -1;
        if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
            continue;
        const char *text = NULL;
        if (columns[c].type == S_BOOL)
            text = sqlite3_column_int64(stmt, col) ? "true" : "false";
        else
            text = (const char *)sqlite3_column_text(stmt, col);
        if (text && s_csv_field(out, text))
            return -1;
    }
    return fputs("\r\n", out) < 0 ? -1 : 0;
}

static int
s_csv_header(FILE *out, const s_column_t *columns, size_t count)
{
    for (size_t c = 0; c < count; c++) {
        if ((c && fputc(',', out) == EOF) || s_csv_field(out, columns[c].name))
            return -1;
    }
    return fputs("\r\n", out) < 0 ? -1 : 0;
}

//  Exported reals carry 15 significant digits: nanoseconds of a latency up
//  to 11 days, without binary noise such as 0.98999999999999999.
#define S_EXPORT_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

int
store_export(store_t *self, int64_t run_id, const char *format, FILE *out)
{
    assert(self);
    assert(format);
    assert(out);
    bool csv = strcmp(format, "csv") == 0;
    if (!csv && strcmp(format, "json") != 0)
        return -1;
    //  Refuse an unknown run before writing anything.
    sqlite3_stmt *get = s_stmt(self, S_RUN_GET);
    int rc = sqlite3_bind_int64(get, 1, run_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(get);
    s_done(get);
    if (rc == SQLITE_DONE)
        return -1;
    if (rc != SQLITE_ROW)
        return s_fail(self, "export run", rc);

    const s_column_t *columns = s_request_columns;
    size_t count = sizeof s_request_columns / sizeof s_request_columns[0];
    sqlite3_stmt *stmt = s_stmt(self, S_REQUESTS);
    int result = -1;
    bool first = true;
    if (csv ? s_csv_header(out, columns, count) : fputs("[", out) < 0)
        goto out;
    rc = sqlite3_bind_int64(stmt, 1, run_id);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
            break;
        if (csv) {
            if (s_csv_row(out, stmt, columns, count))
                goto out;
        } else {
            json_t *row = s_row_json(stmt, columns, count);
            int failed = !row || fputs(first ? "\n" : ",\n", out) < 0 ||
                         json_dumpf(row, out, S_EXPORT_JSON_FLAGS);
            json_decref(row);
            if (failed)
                goto out;
        }
        first = false;
    }
    if (rc != SQLITE_DONE) {
        s_fail(self, "export rows", rc);
        goto out;
    }
    if (!csv && fputs(first ? "]\n" : "\n]\n", out) < 0)
        goto out;
    result = 0;
out:
    s_done(stmt);
    if (result && rc == SQLITE_ROW)
        zsys_error("store: export write failed run_id=%" PRId64, run_id);
    return result;
}

//  --------------------------------------------------------------------------
//  Selftest

#define S_MS INT64_C(1000000)
#define S_BASE INT64_C(1700000000000000000)

//  A temporary directory holding the test databases, removed at the end.
typedef struct {
    char dir[64];
    char path[128];
} s_tmp_t;

static void
s_tmp_init(s_tmp_t *tmp)
{
    snprintf(tmp->dir, sizeof tmp->dir, "/tmp/stampede-store-XXXXXX");
    CHECK_NOT_NULL(mkdtemp(tmp->dir));
    //  A subdirectory that does not exist yet: store_open creates it.
    snprintf(tmp->path, sizeof tmp->path, "%s/results/stampede.db", tmp->dir);
}

static void
s_tmp_cleanup(s_tmp_t *tmp)
{
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[160];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", tmp->path, suffixes[i]);
        unlink(name);
    }
    snprintf(name, sizeof name, "%s/results", tmp->dir);
    rmdir(name);
    CHECK_INT(rmdir(tmp->dir), 0);
}

static int64_t
s_count_rows(store_t *self, const char *sql, int64_t run_id)
{
    sqlite3_stmt *stmt = NULL;
    CHECK_INT(sqlite3_prepare_v2(self->db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_bind_parameter_count(stmt) > 0)
        CHECK_INT(sqlite3_bind_int64(stmt, 1, run_id), SQLITE_OK);
    CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
    int64_t count = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return count;
}

static int64_t
s_new_run(store_t *store, uint32_t requested, const char *label)
{
    store_run_t run = {.url = "http://127.0.0.1:9/2015-03-31/functions/f/invocations",
                       .method = "POST",
                       .requested = requested,
                       .agents = 2,
                       .created_ns = S_BASE,
                       .label = label,
                       .start_mode = "last_byte"};
    int64_t run_id = store_run_create(store, &run);
    CHECK_TRUE(run_id >= 1);
    return run_id;
}

//  The headline: 100 simultaneous requests, reserved concurrency 5.
//  Row i has latency (i+1) ms and reached the emulator 10 us after row i-1;
//  rows 0..4 ran in 5 distinct cold environments whose function intervals
//  all overlap; rows 5..99 were throttled (429) before reaching a function.
static void
s_headline_rows(store_result_t *rows)
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
            .error = ok ? NULL : "Rate Exceeded.",
        };
    }
}

static void
s_check_headline(const store_summary_t *s)
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

static void
s_test_headline(store_t *store, int64_t *run_id_out)
{
    CHECK_INT(store_agent_upsert(store, "agent-a", "host-a", "0.1.0", 64, S_BASE), 0);
    CHECK_INT(store_agent_upsert(store, "agent-b", "host-b", "0.1.0", 64, S_BASE), 0);
    int64_t run_id = s_new_run(store, 100, "reserved=5");
    CHECK_INT(store_share_add(store, run_id, "agent-a", 0, 50, -1200, 300), 0);
    CHECK_INT(store_share_add(store, run_id, "agent-b", 50, 50, 800, 250), 0);
    CHECK_INT(store_run_set_status(store, run_id, "running", S_BASE, 0, NULL), 0);

    store_result_t rows[100];
    s_headline_rows(rows);
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 50), 0);
    CHECK_INT(store_results_insert(store, run_id, "agent-b", rows + 50, 50), 0);
    CHECK_INT(
        store_run_set_status(store, run_id, "completed", 0, S_BASE + 250 * S_MS, NULL),
        0);
    store_summary_t s;
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.run_id, run_id);
    s_check_headline(&s);

    //  Resending both batches (an agent reconnected) changes nothing.
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 50), 0);
    CHECK_INT(store_results_insert(store, run_id, "agent-b", rows + 50, 50), 0);
    CHECK_INT(store_summary(store, run_id, &s), 0);
    s_check_headline(&s);
    CHECK_INT(
        s_count_rows(store, "SELECT count(*) FROM requests WHERE run_id = ?1", run_id),
        100);
    //  A different result for an index already stored: the first one wins.
    store_result_t late = rows[7];
    late.outcome = "ok";
    late.http_status = 200;
    CHECK_INT(store_results_insert(store, run_id, "agent-a", &late, 1), 0);
    CHECK_INT(store_summary(store, run_id, &s), 0);
    s_check_headline(&s);
    *run_id_out = run_id;
}

static void
s_test_lost(store_t *store)
{
    int64_t run_id = s_new_run(store, 10, NULL);
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
    CHECK_INT(s_count_rows(store,
                           "SELECT count(*) FROM requests WHERE run_id = ?1"
                           " AND outcome = 'lost' AND error = 'agent vanished'"
                           " AND request_index IN (3, 4, 6, 7, 8, 9)",
                           run_id),
              6);
    //  A range past the run's N is a caller bug: refused whole.
    CHECK_INT(store_mark_lost(store, run_id, "agent-b", 8, 5, "too far"), -1);

    //  A late real result replaces its lost marker, error text included.
    store_result_t late = {.index = 7,
                           .outcome = "timeout",
                           .http_status = 0,
                           .cold_start = -1,
                           .invocation_count = -1,
                           .error = "deadline"};
    CHECK_INT(store_results_insert(store, run_id, "agent-b", &late, 1), 0);
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.recorded, 5);
    CHECK_INT(s.lost, 5);
    CHECK_INT(s.errors, 1);
    CHECK_INT(s_count_rows(store,
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
    int64_t run_id = s_new_run(store, 5, NULL);
    const char *count_sql = "SELECT count(*) FROM requests WHERE run_id = ?1";
    store_result_t rows[3] = {
        {.index = 0,
         .outcome = "ok",
         .http_status = 200,
         .cold_start = -1,
         .invocation_count = -1},
        {.index = 1,
         .outcome = "bogus",
         .http_status = 200,
         .cold_start = -1,
         .invocation_count = -1},
        {.index = 2,
         .outcome = "ok",
         .http_status = 200,
         .cold_start = -1,
         .invocation_count = -1},
    };
    //  An invalid outcome fails the whole batch: row 0 is not kept either.
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 3), -1);
    CHECK_INT(s_count_rows(store, count_sql, run_id), 0);
    //  So do an out-of-range index, a missing outcome and an unknown run.
    rows[1].outcome = "ok";
    rows[2].index = 5;
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 3), -1);
    rows[2].index = 2;
    rows[2].outcome = NULL;
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 3), -1);
    rows[2].outcome = "ok";
    CHECK_INT(store_results_insert(store, run_id + 1000, "agent-a", rows, 3), -1);
    CHECK_INT(s_count_rows(store, count_sql, run_id), 0);
    //  The store is still usable after a failed batch.
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 3), 0);
    CHECK_INT(s_count_rows(store, count_sql, run_id), 3);
    //  A duplicate index inside one batch: the first occurrence wins.
    store_result_t dup[2] = {
        {.index = 3,
         .outcome = "throttled",
         .http_status = 429,
         .cold_start = -1,
         .invocation_count = -1},
        {.index = 3,
         .outcome = "ok",
         .http_status = 200,
         .cold_start = -1,
         .invocation_count = -1},
    };
    CHECK_INT(store_results_insert(store, run_id, "agent-a", dup, 2), 0);
    store_summary_t s;
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.recorded, 4);
    CHECK_INT(s.throttled, 1);
    CHECK_INT(s.ok, 3);
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 0), 0);

    //  Run status: unknown words and unknown runs are refused.
    CHECK_INT(store_run_set_status(store, run_id, "exploded", 0, 0, NULL), -1);
    CHECK_INT(store_run_set_status(store, run_id + 1000, "failed", 0, 0, NULL), -1);
    CHECK_INT(store_run_set_status(store, run_id, "failed", 0, S_BASE + 7, "agent lost"),
              0);
    //  Zero instants and a NULL error keep what is stored.
    CHECK_INT(store_run_set_status(store, run_id, "failed", 0, 0, NULL), 0);
    CHECK_INT(s_count_rows(store,
                           "SELECT count(*) FROM runs WHERE id = ?1 AND status = 'failed'"
                           " AND started_ns = 0 AND finished_ns = 1700000000000000007"
                           " AND error = 'agent lost'",
                           run_id),
              1);
    CHECK_INT(store_summary(store, run_id + 1000, &s), -1);
}

static void
s_test_agents(store_t *store)
{
    CHECK_INT(store_agent_upsert(store, "agent-c", "host-c", "0.1.0", 8, S_BASE + 10), 0);
    CHECK_INT(store_agent_upsert(store, "agent-c", "host-c2", "0.2.0", 16, S_BASE + 20),
              0);
    //  A stale sighting does not move last_seen back.
    CHECK_INT(store_agent_upsert(store, "agent-c", "host-c2", "0.2.0", 16, S_BASE + 15),
              0);
    CHECK_INT(s_count_rows(store,
                           "SELECT count(*) FROM agents WHERE id = 'agent-c'"
                           " AND host = 'host-c2' AND version = '0.2.0' AND capacity = 16"
                           " AND first_seen_ns = 1700000000000000010"
                           " AND last_seen_ns = 1700000000000000020",
                           0),
              1);
    //  A share needs a known run and agent.
    int64_t run_id = s_new_run(store, 4, NULL);
    CHECK_INT(store_share_add(store, run_id, "nobody", 0, 4, 0, 0), -1);
    CHECK_INT(store_share_add(store, run_id + 1000, "agent-c", 0, 4, 0, 0), -1);
    CHECK_INT(store_share_add(store, run_id, "agent-c", 0, 4, 5, 6), 0);
    //  Re-preparing the share replaces the estimate.
    CHECK_INT(store_share_add(store, run_id, "agent-c", 0, 4, 7, 8), 0);
    CHECK_INT(s_count_rows(store,
                           "SELECT count(*) FROM run_agents WHERE run_id = ?1"
                           " AND clock_offset_ns = 7 AND clock_error_ns = 8",
                           run_id),
              1);
}

static void
s_test_peak_edges(store_t *store)
{
    //  [0,10) and [10,20) touch but do not overlap; [5,15) overlaps both;
    //  [12,12) is empty; a finish before its start and a start without a
    //  finish are not intervals.
    static const int64_t spans[][2] = {{100, 110}, {110, 120}, {105, 115},
                                       {112, 112}, {130, 125}, {140, 0}};
    const size_t count = sizeof spans / sizeof spans[0];
    int64_t run_id = s_new_run(store, (uint32_t)count, NULL);
    store_result_t rows[6];
    for (size_t i = 0; i < count; i++)
        rows[i] = (store_result_t){.index = (uint32_t)i,
                                   .outcome = "ok",
                                   .http_status = 200,
                                   .cold_start = -1,
                                   .invocation_count = -1,
                                   .function_started_ns = spans[i][0],
                                   .function_finished_ns = spans[i][1]};
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 2), 0);
    store_summary_t s;
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.peak_concurrency, 1);
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows + 2, count - 2), 0);
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.peak_concurrency, 2);
    //  All latencies are 0 and nothing reported a receive time.
    CHECK_REAL(s.p99_ms, 0.0);
    CHECK_REAL(s.spread_ms, 0.0);
    CHECK_REAL(s.wall_ms, 0.0);
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
    int64_t completed = s_new_run(store, 2, "completed");
    CHECK_INT(store_share_add(store, completed, "agent-a", 0, 2, 0, 0), 0);
    CHECK_INT(
        store_run_set_status(store, completed, "completed", S_BASE, S_BASE + 5, NULL), 0);
    int64_t failed = s_new_run(store, 1, "failed");
    CHECK_INT(store_run_set_status(store, failed, "failed", 0, S_BASE + 6, "refused"), 0);
    //  Running: 10 over agent-a [0,4) and agent-b [4,10); 0, 1 and 5 stored.
    int64_t running = s_new_run(store, 10, "running");
    CHECK_INT(store_share_add(store, running, "agent-a", 0, 4, -1200, 300), 0);
    CHECK_INT(store_share_add(store, running, "agent-b", 4, 6, 800, 250), 0);
    CHECK_INT(store_run_set_status(store, running, "running", S_BASE, 0, NULL), 0);
    store_result_t rows[3];
    uint32_t present[] = {0, 1, 5};
    for (size_t i = 0; i < 3; i++)
        rows[i] = (store_result_t){.index = present[i],
                                   .outcome = "ok",
                                   .http_status = 200,
                                   .cold_start = -1,
                                   .invocation_count = -1};
    CHECK_INT(store_results_insert(store, running, "agent-a", rows, 2), 0);
    CHECK_INT(store_results_insert(store, running, "agent-b", rows + 2, 1), 0);
    //  Pending with a share (Prepare sent, no Go) and pending without any.
    int64_t prepared = s_new_run(store, 3, "prepared");
    CHECK_INT(store_share_add(store, prepared, "agent-b", 0, 3, 0, 0), 0);
    int64_t bare = s_new_run(store, 3, "bare");

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
    int64_t broken = s_new_run(store, 2, "broken");
    CHECK_INT(store_share_add(store, broken, "agent-a", 0, 5, 0, 0), 0);
    CHECK_INT(store_runs_interrupted(store, reason, S_BASE + 9 * S_MS), -1);
    const char *unsettled_sql =
        "SELECT count(*) FROM runs WHERE status IN ('pending', 'running')";
    CHECK_INT(s_count_rows(store, unsettled_sql, 0), 4);
    CHECK_INT(
        s_count_rows(store, "SELECT count(*) FROM requests WHERE run_id = ?1", running),
        3);
    CHECK_INT(store_share_add(store, broken, "agent-a", 0, 2, 0, 0), 0);

    CHECK_INT(store_runs_interrupted(store, reason, S_BASE + 9 * S_MS), 4);
    CHECK_INT(s_count_rows(store, unsettled_sql, 0), 0);
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
    sqlite3_stmt *stmt = NULL;
    CHECK_INT(sqlite3_prepare_v2(store->db, lost_sql, -1, &stmt, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_bind_int64(stmt, 1, running), SQLITE_OK);
    CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(stmt, 0),
              "2:agent-a 3:agent-a 4:agent-b 6:agent-b 7:agent-b 8:agent-b 9:agent-b");
    sqlite3_finalize(stmt);
    const char *run_sql = "SELECT count(*) FROM runs WHERE id = ?1 AND status = 'failed'"
                          " AND finished_ns = 1700000000009000000"
                          " AND error = 'controller restarted during the run'";
    CHECK_INT(s_count_rows(store, run_sql, running), 1);
    CHECK_INT(s_count_rows(store, run_sql, prepared), 1);
    CHECK_INT(s_count_rows(store, run_sql, bare), 1);
    CHECK_INT(s_count_rows(store, run_sql, broken), 1);
    CHECK_INT(store_summary(store, prepared, &s), 0);
    CHECK_INT(s.lost, 3);
    CHECK_INT(s_count_rows(store,
                           "SELECT count(*) FROM requests WHERE run_id = ?1"
                           " AND outcome = 'lost' AND agent_id = 'agent-b'",
                           prepared),
              3);
    //  No shares: no rows, and still requested = recorded + lost.
    CHECK_INT(
        s_count_rows(store, "SELECT count(*) FROM requests WHERE run_id = ?1", bare), 0);
    CHECK_INT(store_summary(store, bare, &s), 0);
    CHECK_INT(s.recorded + s.lost, 3);
    CHECK_INT(s.lost, 3);
    CHECK_INT(store_summary(store, broken, &s), 0);
    CHECK_INT(s.lost, 2);
    //  The finished runs were not touched.
    CHECK_INT(s_count_rows(store,
                           "SELECT count(*) FROM runs WHERE id = ?1 AND status = "
                           "'completed' AND finished_ns = 1700000000000000005"
                           " AND error IS NULL",
                           completed),
              1);
    CHECK_INT(
        s_count_rows(store, "SELECT count(*) FROM requests WHERE run_id = ?1", completed),
        0);
    CHECK_INT(s_count_rows(store,
                           "SELECT count(*) FROM runs WHERE id = ?1 AND status = 'failed'"
                           " AND finished_ns = 1700000000000000006 AND error = 'refused'",
                           failed),
              1);
    //  Settled once: a second start finds nothing.
    CHECK_INT(store_runs_interrupted(store, "again", S_BASE + 10 * S_MS), 0);
    CHECK_INT(s_count_rows(store, run_sql, running), 1);

    //  The agent's resend after the restart replaces its lost rows.
    store_result_t late[2] = {
        {.index = 4,
         .outcome = "throttled",
         .http_status = 429,
         .cold_start = -1,
         .invocation_count = -1},
        {.index = 6,
         .outcome = "throttled",
         .http_status = 429,
         .cold_start = -1,
         .invocation_count = -1},
    };
    CHECK_INT(store_results_insert(store, running, "agent-b", late, 2), 0);
    CHECK_INT(store_summary(store, running, &s), 0);
    CHECK_INT(s.recorded, 5);
    CHECK_INT(s.throttled, 2);
    CHECK_INT(s.lost, 5);
    CHECK_STR(s.status, "failed");
    store_destroy(&store);
}

//  A tiny run whose export text is known byte for byte.
static void
s_test_export(store_t *store)
{
    int64_t run_id = s_new_run(store, 3, "export");
    store_result_t rows[2] = {
        {.index = 0,
         .outcome = "ok",
         .http_status = 200,
         .scheduled_ns = 100,
         .sent_ns = 110,
         .first_byte_ns = 1500110,
         .done_ns = 2500110,
         .received_ns = 120,
         .bytes = 42,
         .reused = false,
         .request_id = "req-1",
         .environment_id = "env-1",
         .cold_start = 1,
         .cold_start_time = 0.5,
         .initialization_type = "on-demand",
         .invocation_count = 1,
         .function_started_ns = 130,
         .function_finished_ns = 140,
         .error = NULL},
        {.index = 2,
         .outcome = "http_error",
         .http_status = 502,
         .scheduled_ns = 100,
         .sent_ns = 111,
         .first_byte_ns = 0,
         .done_ns = 1000111,
         .bytes = 0,
         .reused = true,
         .cold_start = -1,
         .invocation_count = -1,
         .error = "bad \"gateway\", retry\nlater"},
    };
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 2), 0);
    CHECK_INT(store_mark_lost(store, run_id, "agent-b", 1, 1, "agent vanished"), 1);

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    CHECK_NOT_NULL(out);
    CHECK_INT(store_export(store, run_id, "csv", out), 0);
    CHECK_INT(fclose(out), 0);
    CHECK_STR(text,
              "index,agent_id,outcome,http_status,scheduled_ns,sent_ns,first_byte_ns,"
              "done_ns,received_ns,bytes,reused,request_id,environment_id,cold_start,"
              "cold_start_time,initialization_type,invocation_count,function_started_ns,"
              "function_finished_ns,error,latency_ms\r\n"
              "0,agent-a,ok,200,100,110,1500110,2500110,120,42,false,req-1,env-1,true,"
              "0.5,on-demand,1,130,140,,2.5\r\n"
              "1,agent-b,lost,0,0,0,0,0,0,0,false,,,,0.0,,,0,0,agent vanished,\r\n"
              "2,agent-a,http_error,502,100,111,0,1000111,0,0,true,,,,0.0,,,0,0,"
              "\"bad \"\"gateway\"\", retry\nlater\",1.0\r\n");
    free(text);

    out = open_memstream(&text, &size);
    CHECK_NOT_NULL(out);
    CHECK_INT(store_export(store, run_id, "json", out), 0);
    CHECK_INT(fclose(out), 0);
    CHECK_STR(
        text,
        "[\n"
        "{\"index\":0,\"agent_id\":\"agent-a\",\"outcome\":\"ok\",\"http_status\":200,"
        "\"scheduled_ns\":100,\"sent_ns\":110,\"first_byte_ns\":1500110,"
        "\"done_ns\":2500110,\"received_ns\":120,\"bytes\":42,\"reused\":false,"
        "\"request_id\":\"req-1\",\"environment_id\":\"env-1\",\"cold_start\":true,"
        "\"cold_start_time\":0.5,\"initialization_type\":\"on-demand\","
        "\"invocation_count\":1,\"function_started_ns\":130,"
        "\"function_finished_ns\":140,\"error\":null,\"latency_ms\":2.5},\n"
        "{\"index\":1,\"agent_id\":\"agent-b\",\"outcome\":\"lost\",\"http_status\":0,"
        "\"scheduled_ns\":0,\"sent_ns\":0,\"first_byte_ns\":0,\"done_ns\":0,"
        "\"received_ns\":0,\"bytes\":0,\"reused\":false,\"request_id\":null,"
        "\"environment_id\":null,\"cold_start\":null,\"cold_start_time\":0.0,"
        "\"initialization_type\":null,\"invocation_count\":null,"
        "\"function_started_ns\":0,\"function_finished_ns\":0,"
        "\"error\":\"agent vanished\",\"latency_ms\":null},\n"
        "{\"index\":2,\"agent_id\":\"agent-a\",\"outcome\":\"http_error\","
        "\"http_status\":502,\"scheduled_ns\":100,\"sent_ns\":111,"
        "\"first_byte_ns\":0,\"done_ns\":1000111,\"received_ns\":0,\"bytes\":0,"
        "\"reused\":true,\"request_id\":null,\"environment_id\":null,"
        "\"cold_start\":null,\"cold_start_time\":0.0,\"initialization_type\":null,"
        "\"invocation_count\":null,\"function_started_ns\":0,"
        "\"function_finished_ns\":0,"
        "\"error\":\"bad \\\"gateway\\\", retry\\nlater\",\"latency_ms\":1.0}\n"
        "]\n");
    free(text);

    //  Nothing is written for an unknown format or run; an empty run is [].
    out = open_memstream(&text, &size);
    CHECK_NOT_NULL(out);
    CHECK_INT(store_export(store, run_id, "xml", out), -1);
    CHECK_INT(store_export(store, run_id + 1000, "csv", out), -1);
    int64_t empty = s_new_run(store, 0, NULL);
    CHECK_INT(store_export(store, empty, "json", out), 0);
    CHECK_INT(fclose(out), 0);
    CHECK_STR(text, "[]\n");
    free(text);
}

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
    int64_t run_id = s_new_run(store, 1, "caf\xc3\xa9");
    store_result_t row = {.index = 0,
                          .outcome = "function_error",
                          .http_status = 200,
                          .cold_start = -1,
                          .invocation_count = -1,
                          .error = "bad \xff byte"};
    CHECK_INT(store_results_insert(store, run_id, "agent-a", &row, 1), 0);
    json_t *run = store_run_json(store, run_id, true);
    CHECK_NOT_NULL(run);
    CHECK_STR(json_string_value(json_object_get(run, "label")), "caf\xc3\xa9");
    json_t *first = json_array_get(json_object_get(run, "requests"), 0);
    CHECK_STR(json_string_value(json_object_get(first, "error")), "bad ? byte");
    json_decref(run);
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

//  A reader and the writer on one file, each with its own store_t.
static void
s_test_wal(const char *path, int64_t headline_id)
{
    char err[256];
    store_t *writer = store_open(path, err, sizeof err);
    store_t *reader = store_open(path, err, sizeof err);
    CHECK_NOT_NULL(writer);
    CHECK_NOT_NULL(reader);
    char mode[16];
    CHECK_INT(s_pragma(reader->db, "PRAGMA journal_mode", mode, sizeof mode), 0);
    CHECK_STR(mode, "wal");
    int64_t run_id = s_new_run(writer, 10, "wal");

    //  The reader holds a snapshot open; the writer commits without waiting
    //  (in rollback-journal mode this insert would time out with BUSY).
    CHECK_INT(sqlite3_exec(reader->db, "BEGIN; SELECT count(*) FROM requests", NULL, NULL,
                           NULL),
              SQLITE_OK);
    store_result_t rows[3] = {
        {.index = 0,
         .outcome = "ok",
         .http_status = 200,
         .cold_start = -1,
         .invocation_count = -1},
        {.index = 1,
         .outcome = "ok",
         .http_status = 200,
         .cold_start = -1,
         .invocation_count = -1},
        {.index = 2,
         .outcome = "ok",
         .http_status = 200,
         .cold_start = -1,
         .invocation_count = -1},
    };
    CHECK_INT(store_results_insert(writer, run_id, "agent-a", rows, 2), 0);
    store_summary_t s;
    CHECK_INT(store_summary(reader, run_id, &s), 0);
    CHECK_INT(s.recorded, 0); //  its snapshot predates the batch
    CHECK_INT(sqlite3_exec(reader->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(store_summary(reader, run_id, &s), 0);
    CHECK_INT(s.recorded, 2);

    //  The writer holds a write transaction open; the reader still reads.
    CHECK_INT(sqlite3_exec(writer->db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(s_result_insert(writer, run_id, "agent-a", &rows[2]), 0);
    CHECK_INT(store_summary(reader, run_id, &s), 0);
    CHECK_INT(s.recorded, 2);
    CHECK_INT(store_summary(reader, headline_id, &s), 0);
    s_check_headline(&s);
    CHECK_INT(sqlite3_exec(writer->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(store_summary(reader, run_id, &s), 0);
    CHECK_INT(s.recorded, 3);
    store_destroy(&reader);
    store_destroy(&writer);
}

//  Processes opening one fresh file at once: each waits for the lock and
//  finds the schema in place, none applies a step twice.
static void
s_test_concurrent_open(const char *path)
{
    enum { CHILDREN = 4 };
    pid_t pids[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        pids[i] = fork();
        CHECK_TRUE(pids[i] >= 0);
        if (pids[i] == 0) {
            char err[256];
            store_t *store = store_open(path, err, sizeof err);
            int ok = store && store_run_create(store, &(store_run_t){.url = "u",
                                                                     .method = "GET",
                                                                     .requested = 1,
                                                                     .agents = 1}) >= 1;
            store_destroy(&store);
            _exit(ok ? 0 : 1);
        }
    }
    for (int i = 0; i < CHILDREN; i++) {
        int status = 0;
        CHECK_INT(waitpid(pids[i], &status, 0), pids[i]);
        CHECK_TRUE(WIFEXITED(status));
        CHECK_INT(WEXITSTATUS(status), 0);
    }
    char err[256];
    store_t *store = store_open(path, err, sizeof err);
    CHECK_NOT_NULL(store);
    CHECK_INT(store_schema_user_version(store->db), store_schema_version());
    CHECK_INT(store_latest_run(store), CHILDREN);
    store_destroy(&store);
}

//  Differential test: the summary SQL against a naive C reference on random
//  runs (fixed seed), including ties, empty intervals and bad intervals.
typedef struct {
    uint64_t state;
} s_rng_t;

static uint32_t
s_rng_next(s_rng_t *rng, uint32_t bound)
{
    //  xorshift64*: deterministic on every platform, unlike rand().
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return (uint32_t)((rng->state * UINT64_C(2685821657736338717)) >> 32) % bound;
}

static int
s_compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t
s_naive_rank(const int64_t *sorted, size_t n, unsigned percent)
{
    if (n == 0)
        return 0;
    size_t product = percent * n;
    size_t rank = product / 100 + (product % 100 != 0);
    return sorted[rank - 1];
}

static void
s_test_differential(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    static const char *const outcomes[] = {"ok", "throttled", "http_error", "timeout",
                                           "lost"};
    static const int statuses[] = {200, 429, 502, 0, 0};
    static const char *const envs[] = {"e1", "e2", "e3", "", NULL};
    s_rng_t rng = {UINT64_C(0x5eed5eed5eed5eed)};
    enum { RUNS = 300, MAX_ROWS = 64 };
    for (int run = 0; run < RUNS; run++) {
        uint32_t requested = 1 + s_rng_next(&rng, MAX_ROWS);
        int64_t run_id = s_new_run(store, requested, NULL);
        store_result_t rows[MAX_ROWS];
        size_t n = 0;
        for (uint32_t i = 0; i < requested; i++) {
            if (s_rng_next(&rng, 8) == 0)
                continue; //  never arrived: counts as lost
            uint32_t kind = s_rng_next(&rng, 5);
            int64_t sent = 1000 + s_rng_next(&rng, 5);
            int64_t fs = s_rng_next(&rng, 4) ? 1 + s_rng_next(&rng, 30) : 0;
            uint32_t shape = s_rng_next(&rng, 6);
            int64_t ff = shape == 0 ? 0 : shape == 1 ? fs - 1 : fs + s_rng_next(&rng, 8);
            rows[n++] = (store_result_t){
                .index = i,
                .outcome = outcomes[kind],
                .http_status = statuses[kind],
                .sent_ns = sent,
                .done_ns = sent + (int64_t)s_rng_next(&rng, 20) * 250000,
                .received_ns = s_rng_next(&rng, 3) ? 500 + s_rng_next(&rng, 1000) : 0,
                .environment_id = envs[s_rng_next(&rng, 5)],
                .cold_start = (int)s_rng_next(&rng, 3) - 1,
                .invocation_count = -1,
                .function_started_ns = fs,
                .function_finished_ns = ff,
            };
        }
        CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, n), 0);

        //  The reference, written the obvious way.
        uint32_t recorded = 0, ok = 0, throttled = 0, errors = 0, cold = 0;
        uint32_t environments = 0, peak = 0, received = 0;
        int64_t latency[MAX_ROWS], rmin = INT64_MAX, rmax = 0;
        size_t responses = 0;
        bool seen[3] = {false, false, false};
        for (size_t i = 0; i < n; i++) {
            const store_result_t *r = &rows[i];
            bool lost = strcmp(r->outcome, "lost") == 0;
            recorded += !lost;
            ok += strcmp(r->outcome, "ok") == 0;
            throttled += strcmp(r->outcome, "throttled") == 0;
            errors +=
                !lost && strcmp(r->outcome, "ok") && strcmp(r->outcome, "throttled");
            cold += r->cold_start == 1;
            for (int e = 0; e < 3; e++) {
                if (r->environment_id && strcmp(r->environment_id, envs[e]) == 0 &&
                    !seen[e]) {
                    seen[e] = true;
                    environments++;
                }
            }
            if (r->http_status > 0)
                latency[responses++] = r->done_ns - r->sent_ns;
            if (r->received_ns > 0) {
                received++;
                rmin = r->received_ns < rmin ? r->received_ns : rmin;
                rmax = r->received_ns > rmax ? r->received_ns : rmax;
            }
            //  Overlap at each start instant: intervals with s <= t < f.
            const int64_t t = r->function_started_ns;
            if (t > 0 && r->function_finished_ns >= t) {
                uint32_t live = 0;
                for (size_t j = 0; j < n; j++) {
                    const store_result_t *q = &rows[j];
                    live += q->function_started_ns > 0 &&
                            q->function_finished_ns >= q->function_started_ns &&
                            q->function_started_ns <= t && t < q->function_finished_ns;
                }
                peak = live > peak ? live : peak;
            }
        }
        qsort(latency, responses, sizeof latency[0], s_compare_i64);

        store_summary_t s;
        CHECK_INT(store_summary(store, run_id, &s), 0);
        CHECK_INT(s.recorded, recorded);
        CHECK_INT(s.lost, requested - recorded);
        CHECK_INT(s.ok, ok);
        CHECK_INT(s.throttled, throttled);
        CHECK_INT(s.errors, errors);
        CHECK_INT(s.cold_starts, cold);
        CHECK_INT(s.environments, environments);
        CHECK_INT(s.peak_concurrency, peak);
        CHECK_REAL(s.p50_ms, (double)s_naive_rank(latency, responses, 50) / 1e6);
        CHECK_REAL(s.p90_ms, (double)s_naive_rank(latency, responses, 90) / 1e6);
        CHECK_REAL(s.p99_ms, (double)s_naive_rank(latency, responses, 99) / 1e6);
        CHECK_REAL(s.max_ms, responses ? (double)latency[responses - 1] / 1e6 : 0.0);
        CHECK_REAL(s.spread_ms, received >= 2 ? (double)(rmax - rmin) / 1e6 : 0.0);
    }
    if (verbose)
        printf("differential runs=%d ", RUNS);
    store_destroy(&store);
}

void
store_test(bool verbose)
{
    s_tmp_t tmp;
    s_tmp_init(&tmp);
    char err[256] = "";

    //  A fresh file in a directory that does not exist yet: fully migrated.
    store_t *store = store_open(tmp.path, err, sizeof err);
    CHECK_NOT_NULL(store);
    CHECK_STR(err, "");
    CHECK_INT(store_schema_user_version(store->db), store_schema_version());
    CHECK_INT(s_count_rows(store, "PRAGMA foreign_keys", 0), 1);
    CHECK_INT(store_latest_run(store), 0);
    json_t *none = store_runs_json(store, 10);
    CHECK_INT(json_array_size(none), 0);
    json_decref(none);

    int64_t headline_id = 0;
    s_test_headline(store, &headline_id);
    CHECK_INT(headline_id, 1);
    s_test_lost(store);
    s_test_bad_batches(store);
    s_test_agents(store);
    s_test_peak_edges(store);
    s_test_export(store);
    s_test_json(store, headline_id);
    s_test_bad_text(store);
    s_test_start_mode(store);
    int64_t latest = store_latest_run(store);
    store_destroy(&store);
    store_destroy(&store); //  safe twice
    CHECK_NULL(store);

    //  Reopening keeps everything and migrates nothing.
    store = store_open(tmp.path, err, sizeof err);
    CHECK_NOT_NULL(store);
    CHECK_INT(store_latest_run(store), latest);
    store_summary_t s;
    CHECK_INT(store_summary(store, headline_id, &s), 0);
    s_check_headline(&s);
    store_destroy(&store);

    s_test_wal(tmp.path, headline_id);

    //  A file from a newer build is refused and left as it was.
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(tmp.path, &db), SQLITE_OK);
    char pragma[48];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d",
             store_schema_version() + 1);
    CHECK_INT(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
    CHECK_NULL(store_open(tmp.path, err, sizeof err));
    char expected[128];
    snprintf(expected, sizeof expected,
             "database schema version %d is newer than this build supports (%d)",
             store_schema_version() + 1, store_schema_version());
    CHECK_STR(err, expected);
    CHECK_INT(store_schema_user_version(db), store_schema_version() + 1);
    sqlite3_close(db);

    //  A file that is not a database.
    CHECK_INT(unlink(tmp.path), 0);
    FILE *junk = fopen(tmp.path, "w");
    CHECK_NOT_NULL(junk);
    fputs("this is not an SQLite database, just some text long enough to matter\n", junk);
    for (int i = 0; i < 100; i++)
        fputs("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", junk);
    CHECK_INT(fclose(junk), 0);
    CHECK_NULL(store_open(tmp.path, err, sizeof err));
    CHECK_TRUE(strstr(err, "file is not a database") != NULL);

    //  A parent that cannot be created.
    char blocked[192];
    snprintf(blocked, sizeof blocked, "%s/sub/x.db", tmp.path);
    CHECK_NULL(store_open(blocked, err, sizeof err));
    CHECK_TRUE(strncmp(err, "cannot ", 7) == 0);
    CHECK_INT(unlink(tmp.path), 0);

    s_test_concurrent_open(tmp.path);
    s_tmp_cleanup(&tmp);

    s_test_interrupted();
    s_test_differential(verbose);
}
