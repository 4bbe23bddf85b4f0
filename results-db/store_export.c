/*  store_export — a run's rows as CSV or JSON; see store_export.h.

    Rows stream from the statement straight to the caller's FILE, one at a
    time, so a run of a million requests is exported in constant memory.
    Both formats walk the request column table of store_stmt, the same one
    the JSON views use.
*/
#include "store_export.h"
#include "store.h"
#include "store_stmt.h"

#include "sp_check.h"
#include "store_fixture.h"

#include <czmq.h>

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
s_csv_row(FILE *out, sqlite3_stmt *stmt, const store_column_t *columns, size_t count)
{
    for (size_t c = 0; c < count; c++) {
        int col = (int)c;
        if (c && fputc(',', out) == EOF)
            return -1;
        if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
            continue;
        const char *text = NULL;
        if (columns[c].type == STORE_BOOL)
            text = sqlite3_column_int64(stmt, col) ? "true" : "false";
        else
            text = (const char *)sqlite3_column_text(stmt, col);
        if (text && s_csv_field(out, text))
            return -1;
    }
    return fputs("\r\n", out) < 0 ? -1 : 0;
}

static int
s_csv_header(FILE *out, const store_column_t *columns, size_t count)
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
    int found = store_stmt_run_row(self, STORE_RUN_GET, run_id, "export run");
    if (found != 1)
        return -1;
    store_stmt_done(store_stmt(self, STORE_RUN_GET));

    size_t count = 0;
    const store_column_t *columns = store_stmt_columns(STORE_REQUESTS, &count);
    sqlite3_stmt *stmt = store_stmt(self, STORE_REQUESTS);
    int result = -1;
    int rc = SQLITE_ROW; //  until the rows are read, a failure is a write's
    bool first = true;
    if (csv ? s_csv_header(out, columns, count) : fputs("[", out) < 0)
        goto out;
    rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    while (store_stmt_row(stmt, &rc)) {
        if (csv) {
            if (s_csv_row(out, stmt, columns, count))
                goto out;
        } else {
            json_t *row = store_stmt_row_json(stmt, columns, count);
            int failed = !row || fputs(first ? "\n" : ",\n", out) < 0 ||
                         json_dumpf(row, out, S_EXPORT_JSON_FLAGS);
            json_decref(row);
            if (failed)
                goto out;
        }
        first = false;
    }
    if (rc != SQLITE_DONE) {
        store_stmt_fail(stmt, "export rows", rc);
        goto out;
    }
    if (!csv && fputs(first ? "]\n" : "\n]\n", out) < 0)
        goto out;
    result = 0;
out:
    store_stmt_done(stmt);
    if (result && rc == SQLITE_ROW)
        zsys_error("store: export write failed run_id=%" PRId64, run_id);
    return result;
}

//  --------------------------------------------------------------------------
//  Selftest

//  A tiny run whose export text is known byte for byte.
static void
s_test_export(store_t *store)
{
    int64_t run_id = store_fixture_run(store, 3, "export");
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
    int64_t empty = store_fixture_run(store, 0, NULL);
    CHECK_INT(store_export(store, empty, "json", out), 0);
    CHECK_INT(fclose(out), 0);
    CHECK_STR(text, "[]\n");
    free(text);
}

void
store_export_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    s_test_export(store);
    store_destroy(&store);
}
