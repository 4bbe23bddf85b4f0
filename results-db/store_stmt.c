/*  store_stmt — the statement catalogue of the results database; see
    store_stmt.h.

    The catalogue is one table so the whole SQL surface of the store reads
    in one place (the summary's query lives with its explanation in
    store_summary.c). Statements are prepared once per connection in
    store_open and reused; every use ends in store_stmt_done, so no
    statement holds a read snapshot open between calls.
*/
#include "store_stmt.h"
#include "sp_err.h"

#include "sp_check.h"

#include <czmq.h>
#include <string.h>

#define S_SQL_MAX 4096

#define S_COLUMNS(table) table, sizeof table / sizeof table[0]

static const store_column_t s_run_columns[] = {
    {"run_id", "id", STORE_INT},
    {"status", "status", STORE_TEXT},
    {"outcome", "outcome", STORE_TEXT},
    {"created_ns", "created_ns", STORE_INT},
    {"started_ns", "started_ns", STORE_INT},
    {"finished_ns", "finished_ns", STORE_INT},
    {"url", "url", STORE_TEXT},
    {"method", "method", STORE_TEXT},
    {"start_mode", "start_mode", STORE_TEXT},
    {"door", "door", STORE_TEXT},
    {"requested", "requested", STORE_INT},
    {"agents", "agents", STORE_INT},
    {"label", "label", STORE_TEXT},
    {"error", "error", STORE_TEXT},
    {"reserved_configured", "reserved_configured", STORE_INT},
};

static const store_column_t s_share_columns[] = {
    {"agent_id", "agent_id", STORE_TEXT},
    {"first_index", "first_index", STORE_INT},
    {"count", "count", STORE_INT},
    {"clock_offset_ns", "clock_offset_ns", STORE_INT},
    {"clock_error_ns", "clock_error_ns", STORE_INT},
    {"released_ns", "released_ns", STORE_INT},
    {"start_error_ns", "start_error_ns", STORE_INT},
    {"release_span_ns", "release_span_ns", STORE_INT},
    {"armed", "armed", STORE_INT},
    {"late", "late", STORE_INT},
    {"mis_start", "mis_start", STORE_TEXT},
    {"path_rtt_ns", "path_rtt_ns", STORE_INT},
    {"shift_ns", "shift_ns", STORE_INT},
};

static const store_column_t s_request_columns[] = {
    {"index", "request_index", STORE_INT},
    {"agent_id", "agent_id", STORE_TEXT},
    {"outcome", "outcome", STORE_TEXT},
    {"http_status", "http_status", STORE_INT},
    {"scheduled_ns", "scheduled_ns", STORE_INT},
    {"sent_ns", "sent_ns", STORE_INT},
    {"first_byte_ns", "first_byte_ns", STORE_INT},
    {"done_ns", "done_ns", STORE_INT},
    {"received_ns", "received_ns", STORE_INT},
    {"bytes", "bytes", STORE_INT},
    {"reused", "reused", STORE_BOOL},
    {"request_id", "request_id", STORE_TEXT},
    {"environment_id", "environment_id", STORE_TEXT},
    {"cold_start", "cold_start", STORE_BOOL},
    {"cold_start_time", "cold_start_time", STORE_REAL},
    {"initialization_type", "initialization_type", STORE_TEXT},
    {"invocation_count", "invocation_count", STORE_INT},
    {"function_started_ns", "function_started_ns", STORE_INT},
    {"function_finished_ns", "function_finished_ns", STORE_INT},
    {"error", "error", STORE_TEXT},
    {"door", "door", STORE_TEXT},
    {"throttle_source", "throttle_source", STORE_TEXT},
    {"throttle_reason", "throttle_reason", STORE_TEXT},
    //  Same rule as the summary's percentiles: only rows with a response.
    {"latency_ms", "CASE WHEN http_status > 0 THEN (done_ns - sent_ns) / 1e6 END",
     STORE_REAL},
};

//  Every statement the store runs. With columns set, sql is what follows
//  the generated SELECT list.
static const struct {
    const char *sql;
    const store_column_t *columns;
    size_t column_count;
} s_statements[STORE_STMT_COUNT] = {
    [STORE_BEGIN] = {"BEGIN IMMEDIATE", NULL, 0},
    [STORE_COMMIT] = {"COMMIT", NULL, 0},
    [STORE_ROLLBACK] = {"ROLLBACK", NULL, 0},
    [STORE_RUN_CREATE] =
        {"INSERT INTO runs (created_ns, url, method, requested, agents, label,"
         " start_mode, door, reserved_configured) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
         " coalesce(?7, 'at_go'), coalesce(?8, 'http'), ?9)",
         NULL, 0},
    [STORE_RUN_STATUS] =
        {"UPDATE runs SET status = ?2,"
         " started_ns = CASE WHEN ?3 <> 0 THEN ?3 ELSE started_ns END,"
         " finished_ns = CASE WHEN ?4 <> 0 THEN ?4 ELSE finished_ns END,"
         " error = coalesce(?5, error),"
         //  A completed run is completed_with_losses when
         //  any row is lost, else mis_started when a share's
         //  start is not certified; a failed one takes ?6,
         //  the outcome the caller names, or failed.
         " outcome = CASE ?2"
         "  WHEN 'completed' THEN CASE WHEN EXISTS (SELECT 1"
         "   FROM requests WHERE run_id = ?1 AND outcome = 'lost')"
         "   THEN 'completed_with_losses' WHEN EXISTS (SELECT 1"
         "   FROM run_agents WHERE run_id = ?1 AND mis_start IS NOT NULL)"
         "   THEN 'mis_started' ELSE 'completed' END"
         "  WHEN 'failed' THEN coalesce(?6, 'failed')"
         "  ELSE outcome END"
         " WHERE id = ?1",
         NULL, 0},
    [STORE_AGENT_UPSERT] = {"INSERT INTO agents"
                            " (id, host, version, capacity, first_seen_ns, last_seen_ns)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                            " ON CONFLICT (id) DO UPDATE SET host = excluded.host,"
                            " version = excluded.version, capacity = excluded.capacity,"
                            " last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)",
                            NULL, 0},
    [STORE_SHARE_ADD] =
        {"INSERT INTO run_agents (run_id, agent_id, first_index, count,"
         " clock_offset_ns, clock_error_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
         " ON CONFLICT (run_id, agent_id) DO UPDATE SET"
         " first_index = excluded.first_index, count = excluded.count,"
         " clock_offset_ns = excluded.clock_offset_ns,"
         " clock_error_ns = excluded.clock_error_ns",
         NULL, 0},
    [STORE_SHARE_RELEASED] = {"UPDATE run_agents SET released_ns = ?3,"
                              " start_error_ns = ?4, release_span_ns = ?5, armed = ?6,"
                              " late = ?7, mis_start = ?8"
                              " WHERE run_id = ?1 AND agent_id = ?2",
                              NULL, 0},
    [STORE_SHARE_PATH] = {"UPDATE run_agents SET path_rtt_ns = ?3, shift_ns = ?4"
                          " WHERE run_id = ?1 AND agent_id = ?2",
                          NULL, 0},
    [STORE_SHARE_GET] = {"SELECT first_index, count, clock_offset_ns FROM run_agents"
                         " WHERE run_id = ?1 AND agent_id = ?2",
                         NULL, 0},
    //  The first real result of an index wins; a lost marker gives way.
    [STORE_RESULT_UPSERT] =
        {"INSERT INTO requests (run_id, request_index, agent_id, outcome, http_status,"
         " scheduled_ns, sent_ns, first_byte_ns, done_ns, received_ns, bytes, reused,"
         " request_id, environment_id, cold_start, cold_start_time,"
         " initialization_type, invocation_count, function_started_ns,"
         " function_finished_ns, error, door, throttle_source, throttle_reason)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
         " ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
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
         " error = excluded.error, door = excluded.door,"
         " throttle_source = excluded.throttle_source,"
         " throttle_reason = excluded.throttle_reason"
         " WHERE requests.outcome = 'lost'",
         NULL, 0},
    //  A late result that replaced a run's last lost row completes it.
    //  The losses' reason goes with the losses: a run completed by late
    //  results has none (or the first mis-start's).
    [STORE_RUN_OUTCOME_REFRESH] = {"UPDATE runs SET outcome = CASE WHEN EXISTS (SELECT 1"
                                   " FROM run_agents WHERE run_id = ?1"
                                   " AND mis_start IS NOT NULL) THEN 'mis_started'"
                                   " ELSE 'completed' END,"
                                   " error = (SELECT mis_start FROM run_agents"
                                   " WHERE run_id = ?1 AND mis_start IS NOT NULL"
                                   " ORDER BY first_index LIMIT 1)"
                                   " WHERE id = ?1 AND outcome = 'completed_with_losses'"
                                   " AND NOT EXISTS (SELECT 1 FROM requests"
                                   " WHERE run_id = ?1 AND outcome = 'lost')",
                                   NULL, 0},
    //  ?3 first index, ?4 one past the last. "WHERE true" keeps the parser
    //  from reading ON CONFLICT as a join constraint.
    [STORE_MARK_LOST] =
        {"WITH RECURSIVE idx (i) AS ("
         "  SELECT ?3 WHERE ?3 < ?4"
         "  UNION ALL SELECT i + 1 FROM idx WHERE i + 1 < ?4)"
         " INSERT INTO requests (run_id, request_index, agent_id, outcome, error)"
         " SELECT ?1, i, ?2, 'lost', ?5 FROM idx WHERE true"
         " ON CONFLICT (run_id, request_index) DO NOTHING",
         NULL, 0},
    [STORE_SUMMARY] = {store_summary_sql, NULL, 0},
    [STORE_SUMMARY_AGENTS] = {store_summary_agents_sql, NULL, 0},
    [STORE_LATEST_RUN] = {"SELECT coalesce(max(id), 0) FROM runs", NULL, 0},
    //  One at a time: settling a run takes it out of this set.
    [STORE_RUN_UNSETTLED] = {"SELECT id FROM runs WHERE status IN ('pending', 'running')"
                             " ORDER BY id LIMIT 1",
                             NULL, 0},
    //  The run list's filters, each off when its parameter is NULL: ?2 the
    //  outcome (a run without one yet by its status), ?3 a substring of the
    //  URL or label (ASCII case folded), ?4..?5 the creation instants.
    [STORE_RUN_LIST] = {"FROM runs WHERE (?2 IS NULL OR coalesce(outcome, status) = ?2)"
                        " AND (?3 IS NULL OR instr(lower(url), lower(?3)) > 0"
                        " OR instr(lower(coalesce(label, '')), lower(?3)) > 0)"
                        " AND (?4 IS NULL OR created_ns >= ?4)"
                        " AND (?5 IS NULL OR created_ns < ?5)"
                        " ORDER BY id DESC LIMIT ?1",
                        S_COLUMNS(s_run_columns)},
    [STORE_RUN_GET] = {"FROM runs WHERE id = ?1", S_COLUMNS(s_run_columns)},
    [STORE_SHARES] = {"FROM run_agents WHERE run_id = ?1 ORDER BY first_index, agent_id",
                      S_COLUMNS(s_share_columns)},
    [STORE_REQUESTS] = {"FROM requests WHERE run_id = ?1 ORDER BY request_index",
                        S_COLUMNS(s_request_columns)},
    //  A keyset page: ?2 the last index already read (-1 before the
    //  first), ?3 the page's size.
    [STORE_REQUESTS_AFTER] = {"FROM requests WHERE run_id = ?1 AND request_index > ?2"
                              " ORDER BY request_index LIMIT ?3",
                              S_COLUMNS(s_request_columns)},
};

const store_column_t *
store_stmt_columns(store_stmt_id_t id, size_t *count)
{
    assert(id < STORE_STMT_COUNT);
    assert(count);
    *count = s_statements[id].column_count;
    return s_statements[id].columns;
}

//  The SQL text of statement id: written out whole, or generated from its
//  column table into generated. NULL when it would not fit (our own bug:
//  the catalogue is constant).
static const char *
s_sql(store_stmt_id_t id, char *generated, size_t size)
{
    const char *sql = s_statements[id].sql;
    if (!s_statements[id].columns)
        return sql;
    //  Names and expressions are our own constants, never values.
    size_t used = 0;
    for (size_t c = 0; c < s_statements[id].column_count; c++) {
        const store_column_t *column = &s_statements[id].columns[c];
        int written = snprintf(generated + used, size - used, "%s%s AS \"%s\"",
                               c ? ", " : "SELECT ", column->expr, column->name);
        if (written < 0 || (size_t)written >= size - used)
            return NULL;
        used += (size_t)written;
    }
    int written = snprintf(generated + used, size - used, " %s", sql);
    if (written < 0 || (size_t)written >= size - used)
        return NULL;
    return generated;
}

int
store_stmt_prepare_all(sqlite3 *db, sqlite3_stmt **stmts, char *err, size_t err_size)
{
    assert(db && stmts);
    for (int id = 0; id < STORE_STMT_COUNT; id++) {
        char generated[S_SQL_MAX];
        const char *sql = s_sql((store_stmt_id_t)id, generated, sizeof generated);
        if (!sql) {
            sp_err_set(err, err_size, "statement %d longer than %d bytes", id,
                       S_SQL_MAX - 1);
            return -1;
        }
        int rc =
            sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmts[id], NULL);
        if (rc != SQLITE_OK) {
            sp_err_set(err, err_size, "cannot prepare statement %d: %s", id,
                       sqlite3_errmsg(db));
            return -1;
        }
    }
    return 0;
}

int
store_stmt_fail(sqlite3_stmt *stmt, const char *op, int rc)
{
    zsys_error("store: statement failed op=\"%s\" rc=%d msg=\"%s\"", op, rc,
               sqlite3_errmsg(sqlite3_db_handle(stmt)));
    return -1;
}

void
store_stmt_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

void
store_bind_i64(sqlite3_stmt *stmt, int col, int64_t value, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(stmt, col, value);
}

void
store_bind_opt(sqlite3_stmt *stmt, int col, int64_t value, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = value < 0 ? sqlite3_bind_null(stmt, col)
                        : sqlite3_bind_int64(stmt, col, value);
}

void
store_bind_real(sqlite3_stmt *stmt, int col, double value, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_double(stmt, col, value);
}

void
store_bind_text(sqlite3_stmt *stmt, int col, const char *value, int *rc)
{
    if (*rc != SQLITE_OK)
        return;
    if (value)
        *rc = sqlite3_bind_text(stmt, col, value, -1, SQLITE_STATIC);
    else
        *rc = sqlite3_bind_null(stmt, col);
}

bool
store_stmt_row(sqlite3_stmt *stmt, int *rc)
{
    if (*rc == SQLITE_OK || *rc == SQLITE_ROW)
        *rc = sqlite3_step(stmt);
    return *rc == SQLITE_ROW;
}

int
store_stmt_exec(sqlite3_stmt *stmt, int bind_rc, const char *op)
{
    int rc = bind_rc;
    store_stmt_row(stmt, &rc);
    store_stmt_done(stmt);
    if (rc != SQLITE_DONE)
        return store_stmt_fail(stmt, op, rc);
    return 0;
}

//  A JSON string of text; bytes that are not valid UTF-8 become '?'.
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

json_t *
store_stmt_row_json(sqlite3_stmt *stmt, const store_column_t *columns, size_t count)
{
    json_t *object = json_object();
    if (!object)
        return NULL;
    for (size_t c = 0; c < count; c++) {
        int col = (int)c;
        json_t *value = NULL;
        if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
            value = json_null();
        else if (columns[c].type == STORE_INT)
            value = json_integer(sqlite3_column_int64(stmt, col));
        else if (columns[c].type == STORE_REAL)
            value = json_real(sqlite3_column_double(stmt, col));
        else if (columns[c].type == STORE_BOOL)
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

//  --------------------------------------------------------------------------
//  Selftest

void
store_stmt_test(bool verbose)
{
    //  The callers' assumptions about column order hold.
    size_t count = 0;
    const store_column_t *columns = store_stmt_columns(STORE_RUN_GET, &count);
    CHECK_TRUE(count > 0);
    CHECK_STR(columns[0].name, "run_id");
    CHECK_TRUE(store_stmt_columns(STORE_RUN_LIST, &count) == columns);
    columns = store_stmt_columns(STORE_SHARES, &count);
    CHECK_TRUE(count >= 3);
    CHECK_STR(columns[0].name, "agent_id");
    CHECK_STR(columns[1].name, "first_index");
    CHECK_STR(columns[2].name, "count");
    CHECK_NULL(store_stmt_columns(STORE_SUMMARY, &count));
    CHECK_INT(count, 0);

    //  A generated SELECT names every column and keeps the tail.
    char generated[S_SQL_MAX];
    const char *sql = s_sql(STORE_SHARES, generated, sizeof generated);
    CHECK_STR(sql,
              "SELECT agent_id AS \"agent_id\", first_index AS \"first_index\","
              " count AS \"count\", clock_offset_ns AS \"clock_offset_ns\","
              " clock_error_ns AS \"clock_error_ns\", released_ns AS \"released_ns\","
              " start_error_ns AS \"start_error_ns\","
              " release_span_ns AS \"release_span_ns\", armed AS \"armed\","
              " late AS \"late\", mis_start AS \"mis_start\","
              " path_rtt_ns AS \"path_rtt_ns\", shift_ns AS \"shift_ns\""
              " FROM run_agents WHERE run_id = ?1 ORDER BY first_index, agent_id");
    CHECK_NULL(s_sql(STORE_REQUESTS, generated, 64)); //  refused, not truncated

    //  Every statement prepares; binders chain and stop at the first error.
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, "CREATE TABLE t (a, b, c)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    CHECK_INT(
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?1, ?2, ?3)", -1, &stmt, NULL),
        SQLITE_OK);
    int rc = SQLITE_OK;
    store_bind_opt(stmt, 1, -1, &rc);
    store_bind_text(stmt, 2, NULL, &rc);
    store_bind_real(stmt, 3, 0.5, &rc);
    CHECK_INT(store_stmt_exec(stmt, rc, "selftest insert"), 0);
    rc = SQLITE_OK;
    store_bind_i64(stmt, 4, 1, &rc); //  no such parameter
    CHECK_INT(rc, SQLITE_RANGE);
    store_bind_text(stmt, 1, "kept out", &rc);
    CHECK_INT(rc, SQLITE_RANGE);
    CHECK_INT(store_stmt_exec(stmt, rc, "selftest bad bind"), -1);
    sqlite3_finalize(stmt);

    //  One loop reads every row and ends at DONE; NULLs become JSON null.
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT a, b, c FROM t", -1, &stmt, NULL),
              SQLITE_OK);
    static const store_column_t t_columns[] = {
        {"a", "a", STORE_INT}, {"b", "b", STORE_TEXT}, {"c", "c", STORE_REAL}};
    rc = SQLITE_OK;
    int rows = 0;
    while (store_stmt_row(stmt, &rc)) {
        json_t *row = store_stmt_row_json(stmt, S_COLUMNS(t_columns));
        char *text = json_dumps(row, JSON_COMPACT);
        CHECK_STR(text, "{\"a\":null,\"b\":null,\"c\":0.5}");
        free(text);
        json_decref(row);
        rows++;
    }
    CHECK_INT(rc, SQLITE_DONE);
    CHECK_INT(rows, 1);
    CHECK_TRUE(!store_stmt_row(stmt, &rc)); //  stays at the end
    store_stmt_done(stmt);
    sqlite3_finalize(stmt);

    sqlite3_stmt *stmts[STORE_STMT_COUNT] = {NULL};
    char err[256] = "";
    //  Without the schema the catalogue cannot prepare.
    CHECK_INT(store_stmt_prepare_all(db, stmts, err, sizeof err), -1);
    CHECK_TRUE(strncmp(err, "cannot prepare statement ", 25) == 0);
    for (int id = 0; id < STORE_STMT_COUNT; id++)
        sqlite3_finalize(stmts[id]);
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
    if (verbose)
        printf("statements=%d ", STORE_STMT_COUNT);
}
