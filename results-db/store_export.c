/*  store_export — a run's rows as CSV or JSON; see store_export.h.

    Rows stream from the statement straight to the caller's FILE, one at a
    time, so a run of a million requests is exported in constant memory.
    Both formats walk the request column table of store_stmt, the same one
    the JSON views use.
*/
#include "store_export.h"
#include "store.h"
#include "store_stmt.h"

#include <czmq.h>

//  One CSV field, quoted per RFC 4180 when it holds a comma, quote, CR or
//  LF. With guard (text the target wrote: errors, environment ids), text
//  a spreadsheet would run as a formula — it starts with '=', '+', '-',
//  '@', tab or CR — is written quoted behind an apostrophe, so it shows as
//  the text it is. Numbers are ours and are never guarded.
static int
s_csv_field(FILE *out, const char *text, bool guard)
{
    bool formula = guard && text[0] != '\0' && strchr("=+-@\t\r", text[0]);
    if (!formula && !strpbrk(text, ",\"\r\n"))
        return fputs(text, out) < 0 ? -1 : 0;
    if (fputc('"', out) == EOF || (formula && fputc('\'', out) == EOF))
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
        if (text && s_csv_field(out, text, columns[c].type == STORE_TEXT))
            return -1;
    }
    return fputs("\r\n", out) < 0 ? -1 : 0;
}

static int
s_csv_header(FILE *out, const store_column_t *columns, size_t count)
{
    for (size_t c = 0; c < count; c++) {
        if ((c && fputc(',', out) == EOF) || s_csv_field(out, columns[c].name, false))
            return -1;
    }
    return fputs("\r\n", out) < 0 ? -1 : 0;
}

int
store_export_csv_header(FILE *out)
{
    size_t count = 0;
    const store_column_t *columns = store_stmt_columns(STORE_REQUESTS_AFTER, &count);
    return s_csv_header(out, columns, count);
}

int
store_export_csv_page(store_t *self, int64_t run_id, int64_t after, int limit, FILE *out,
                      int64_t *last_index)
{
    assert(self && out && last_index);
    assert(limit >= 1);
    size_t count = 0;
    const store_column_t *columns = store_stmt_columns(STORE_REQUESTS_AFTER, &count);
    sqlite3_stmt *stmt = store_stmt(self, STORE_REQUESTS_AFTER);
    int rc = SQLITE_OK;
    store_bind_i64(stmt, 1, run_id, &rc);
    store_bind_i64(stmt, 2, after, &rc);
    store_bind_i64(stmt, 3, limit, &rc);
    int rows = 0;
    while (store_stmt_row(stmt, &rc)) {
        //  Column 0 is the index (s_request_columns).
        *last_index = sqlite3_column_int64(stmt, 0);
        if (s_csv_row(out, stmt, columns, count)) {
            store_stmt_done(stmt);
            zsys_error("store: export write failed run_id=%" PRId64, run_id);
            return -1;
        }
        rows++;
    }
    if (rc != SQLITE_DONE) {
        store_stmt_fail(stmt, "export page", rc);
        rows = -1;
    }
    store_stmt_done(stmt);
    return rows;
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
