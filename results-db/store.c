/*  store — the results database's connection; see store.h.

    A store_t owns one connection and every statement it runs, prepared
    once in store_open from the catalogue in store_stmt and reused by the
    store_* modules (runs, agents, results, summary, views, export) through
    store_stmt(). Writes that touch many rows run in one IMMEDIATE
    transaction; the rest are single statements, atomic by themselves.

    Expected workload: one writer inserting batches of up to ~1000 results
    during a run of up to ~1e6 requests; a few readers computing a run's
    summary after each batch for the dashboard.
*/
#include "store.h"
#include "sp_err.h"
#include "store_schema.h"
#include "store_stmt.h"

#include <czmq.h>
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

//  A reader waits this long for the writer (and vice versa) before
//  SQLITE_BUSY; WAL makes such waits rare (only checkpoints and writers
//  queueing behind each other).
#define S_BUSY_TIMEOUT_MS 5000
#define S_PATH_MAX 4096

struct _store_t {
    sqlite3 *db;                          //  the connection; this thread only
    sqlite3_stmt *stmt[STORE_STMT_COUNT]; //  prepared in store_open, reused
};

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

//  Runs a one-row pragma and copies its text answer. SQLite answers
//  SQLITE_BUSY at once, without the busy handler, when another connection
//  is turning a new file to WAL at the same moment: that is retried every
//  10 ms for up to S_BUSY_TIMEOUT_MS, as a busy wait would be.
static int
s_pragma(sqlite3 *db, const char *sql, char *answer, size_t answer_size)
{
    sqlite3_stmt *stmt = NULL;
    int result = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        goto out;
    int rc = sqlite3_step(stmt);
    for (int waited_ms = 0; (rc & 0xff) == SQLITE_BUSY && waited_ms < S_BUSY_TIMEOUT_MS;
         waited_ms += 10) {
        sqlite3_reset(stmt);
        zclock_sleep(10);
        rc = sqlite3_step(stmt);
    }
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
    if (store_stmt_prepare_all(self->db, self->stmt, err, err_size))
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
    for (int id = 0; id < STORE_STMT_COUNT; id++)
        sqlite3_finalize(self->stmt[id]);
    if (self->db) {
        int rc = sqlite3_close(self->db);
        if (rc != SQLITE_OK)
            zsys_error("store: close failed rc=%d", rc);
    }
    free(self);
    *self_p = NULL;
}

sqlite3_stmt *
store_stmt(store_t *self, store_stmt_id_t id)
{
    assert(self);
    assert(id < STORE_STMT_COUNT);
    sqlite3_stmt *stmt = self->stmt[id];
    assert(stmt);
    return stmt;
}

sqlite3 *
store_db(store_t *self)
{
    assert(self);
    return self->db;
}

//  The statement helpers that need the connection (declared in
//  store_stmt.h with the catalogue they run).

int
store_stmt_run_row(store_t *self, store_stmt_id_t id, int64_t run_id, const char *op)
{
    sqlite3_stmt *stmt = store_stmt(self, id);
    int rc = SQLITE_OK;
    if (sqlite3_bind_parameter_count(stmt) > 0)
        store_bind_i64(stmt, 1, run_id, &rc);
    if (store_stmt_row(stmt, &rc))
        return 1;
    store_stmt_done(stmt);
    if (rc != SQLITE_DONE)
        return store_stmt_fail(stmt, op, rc);
    return 0;
}

//  Runs BEGIN, COMMIT or ROLLBACK, logged as "op what".
static int
s_tx(store_t *self, store_stmt_id_t id, const char *op, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "%s %s", op, what);
    return store_stmt_exec(store_stmt(self, id), SQLITE_OK, name);
}

int
store_tx_begin(store_t *self, const char *op)
{
    return s_tx(self, STORE_BEGIN, op, "begin");
}

int
store_tx_end(store_t *self, int result, const char *op)
{
    if (result >= 0 && s_tx(self, STORE_COMMIT, op, "commit") == 0)
        return result;
    s_tx(self, STORE_ROLLBACK, op, "rollback");
    return -1;
}
