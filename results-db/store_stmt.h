/*  store_stmt — the results database's statement catalogue: every SQL
    statement the store runs, named by an id, the column tables its
    row-returning queries are generated from, and the bind/step helpers
    each store module uses on them. Private to results-db: nothing outside
    this folder sees sqlite3.

    Each query that returns rows to the outside is generated from a column
    table (name shown to clients, SQL expression, type), and the JSON and
    CSV writers walk the same table: a field added there appears in the
    SELECT, the HTTP API and both export formats at once. Values always
    reach SQL as bound parameters; only our own constant names and
    expressions are pasted into SQL text.

    Thread model: the catalogue is constant data; the helpers work on a
    statement of the caller's store_t, on that store_t's one thread. The
    connection and its prepared statements are owned by store.c, which
    lends them through store_stmt() and store_db().
*/
#ifndef STORE_STMT_H
#define STORE_STMT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

//  The connection (store.h); declared here, not included, so the catalogue
//  sits below the connection that uses it.
typedef struct _store_t store_t;

//  How a column reaches JSON and CSV; SQL NULL is null / empty in every type.
typedef enum { STORE_INT, STORE_REAL, STORE_TEXT, STORE_BOOL } store_type_t;

typedef struct {
    const char *name; //  JSON key and CSV header
    const char *expr; //  SQL expression over the queried table
    store_type_t type;
} store_column_t;

typedef enum {
    STORE_BEGIN,
    STORE_COMMIT,
    STORE_ROLLBACK,
    STORE_RUN_CREATE,
    STORE_RUN_STATUS,
    STORE_AGENT_UPSERT,
    STORE_SHARE_ADD,
    STORE_SHARE_GET,
    STORE_SHARE_RELEASED,
    STORE_SHARE_PATH,
    STORE_RESULT_UPSERT,
    STORE_MARK_LOST,
    STORE_RUN_OUTCOME_REFRESH,
    STORE_SUMMARY,
    STORE_SUMMARY_AGENTS,
    STORE_LATEST_RUN,
    STORE_RUN_UNSETTLED,
    STORE_RUN_LIST,
    STORE_RUN_GET,
    STORE_SHARES,
    STORE_REQUESTS,
    STORE_REQUESTS_AFTER,
    STORE_STMT_COUNT
} store_stmt_id_t;

//  The summary's query, defined with its explanation in store_summary.c.
extern const char store_summary_sql[];
extern const char store_summary_agents_sql[];

//  The columns of a generated statement (*count of them), or NULL with
//  *count = 0 for a statement written out whole. STORE_RUN_LIST and
//  STORE_RUN_GET start with run_id; STORE_SHARES with agent_id,
//  first_index, count.
const store_column_t *store_stmt_columns(store_stmt_id_t id, size_t *count);

//  Prepares every statement of the catalogue on db into stmts (an array of
//  STORE_STMT_COUNT), persistent, for reuse. Returns 0, or -1 with a reason
//  in err (statements prepared so far stay in stmts for the caller to
//  finalize).
int store_stmt_prepare_all(sqlite3 *db, sqlite3_stmt **stmts, char *err, size_t err_size);

//  Implemented by store.c, the owner of the connection: statement id of
//  self, ready for binding, borrowed until store_destroy; and the
//  connection itself, for sqlite3_changes and the selftests.
sqlite3_stmt *store_stmt(store_t *self, store_stmt_id_t id);
sqlite3 *store_db(store_t *self);

//  Logs a failed SQLite call on stmt once, naming op; returns -1.
int store_stmt_fail(sqlite3_stmt *stmt, const char *op, int rc);

//  Ends a use of a statement: resets it (releasing its read snapshot) and
//  drops the bindings, so no borrowed string outlives the call.
void store_stmt_done(sqlite3_stmt *stmt);

//  Binders that chain: each does nothing once *rc holds an error, so the
//  binds of a statement are checked once, after the last. Text is borrowed
//  until store_stmt_done; NULL text binds SQL NULL, and so does a negative
//  value given to store_bind_opt (the "unknown" of -1 fields).
void store_bind_i64(sqlite3_stmt *stmt, int col, int64_t value, int *rc);
void store_bind_opt(sqlite3_stmt *stmt, int col, int64_t value, int *rc);
void store_bind_real(sqlite3_stmt *stmt, int col, double value, int *rc);
void store_bind_text(sqlite3_stmt *stmt, int col, const char *value, int *rc);

//  Steps stmt when *rc says its binds (or the previous step) succeeded;
//  true while a row is there. When it returns false, *rc is SQLITE_DONE
//  at the end of the rows or the failing code. So one loop reads all rows:
//  `while (store_stmt_row(stmt, &rc)) …; if (rc != SQLITE_DONE) fail`.
bool store_stmt_row(sqlite3_stmt *stmt, int *rc);

//  Steps a statement that returns no rows, then ends its use. Returns 0,
//  or -1 (logged with op) when a bind in bind_rc or the step failed.
int store_stmt_exec(sqlite3_stmt *stmt, int bind_rc, const char *op);

//  Defined by the connection (store.c), which owns the prepared statements
//  the next three run:

//  Runs statement id of self, bound to run_id as ?1, for its first row:
//  1 with the row there (call store_stmt_done after reading it), 0 when
//  there is none, -1 on error (logged with op). Both 0 and -1 end the use.
int store_stmt_run_row(store_t *self, store_stmt_id_t id, int64_t run_id, const char *op);

//  Opens an IMMEDIATE transaction on self, for writes that touch many rows.
//  Returns 0, or -1 (logged with op).
int store_tx_begin(store_t *self, const char *op);

//  Ends the transaction store_tx_begin opened: commits when result >= 0
//  and returns result; rolls back and returns -1 when result < 0 or the
//  commit failed. Failures are logged with op.
int store_tx_end(store_t *self, int result, const char *op);

//  The current row of a generated statement as an object keyed by column
//  name (caller owns it), or NULL when out of memory. Text that is not
//  valid UTF-8 has its stray bytes replaced by '?', so one bad byte in a
//  function's error text cannot drop the whole row.
json_t *store_stmt_row_json(sqlite3_stmt *stmt, const store_column_t *columns,
                            size_t count);

void store_stmt_test(bool verbose);

#endif
