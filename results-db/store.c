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

#include "sp_check.h"
#include "store_fixture.h"

#include <czmq.h>
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

//  --------------------------------------------------------------------------
//  Selftest

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
    CHECK_INT(s_pragma(store_db(reader), "PRAGMA journal_mode", mode, sizeof mode), 0);
    CHECK_STR(mode, "wal");
    int64_t run_id = store_fixture_run(writer, 10, "wal");

    //  The reader holds a snapshot open; the writer commits without waiting
    //  (in rollback-journal mode this insert would time out with BUSY).
    CHECK_INT(sqlite3_exec(store_db(reader), "BEGIN; SELECT count(*) FROM requests", NULL,
                           NULL, NULL),
              SQLITE_OK);
    store_result_t rows[3] = {
        store_fixture_row(0, "ok", 200),
        store_fixture_row(1, "ok", 200),
        store_fixture_row(2, "ok", 200),
    };
    CHECK_INT(store_results_insert(writer, run_id, "agent-a", rows, 2), 0);
    store_summary_t s;
    CHECK_INT(store_summary(reader, run_id, &s), 0);
    CHECK_INT(s.recorded, 0); //  its snapshot predates the batch
    CHECK_INT(sqlite3_exec(store_db(reader), "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(store_summary(reader, run_id, &s), 0);
    CHECK_INT(s.recorded, 2);

    //  The writer holds a write transaction open; the reader still reads.
    CHECK_INT(sqlite3_exec(store_db(writer), "BEGIN IMMEDIATE", NULL, NULL, NULL),
              SQLITE_OK);
    //  (store_results_insert would open a transaction of its own.)
    sqlite3_stmt *insert = NULL;
    CHECK_INT(sqlite3_prepare_v2(store_db(writer),
                                 "INSERT INTO requests (run_id, request_index, agent_id,"
                                 " outcome, http_status) VALUES (?1, ?2, ?3, ?4, ?5)",
                                 -1, &insert, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_bind_int64(insert, 1, run_id), SQLITE_OK);
    CHECK_INT(sqlite3_bind_int64(insert, 2, rows[2].index), SQLITE_OK);
    CHECK_INT(sqlite3_bind_text(insert, 3, "agent-a", -1, SQLITE_STATIC), SQLITE_OK);
    CHECK_INT(sqlite3_bind_text(insert, 4, rows[2].outcome, -1, SQLITE_STATIC),
              SQLITE_OK);
    CHECK_INT(sqlite3_bind_int64(insert, 5, rows[2].http_status), SQLITE_OK);
    CHECK_INT(sqlite3_step(insert), SQLITE_DONE);
    sqlite3_finalize(insert);
    CHECK_INT(store_summary(reader, run_id, &s), 0);
    CHECK_INT(s.recorded, 2);
    CHECK_INT(store_summary(reader, headline_id, &s), 0);
    store_fixture_check_headline(&s);
    CHECK_INT(sqlite3_exec(store_db(writer), "COMMIT", NULL, NULL, NULL), SQLITE_OK);
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
    CHECK_INT(store_schema_user_version(store_db(store)), store_schema_version());
    CHECK_INT(store_latest_run(store), CHILDREN);
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
    CHECK_INT(store_schema_user_version(store_db(store)), store_schema_version());
    CHECK_INT(store_fixture_count(store, "PRAGMA foreign_keys", 0), 1);
    CHECK_INT(store_latest_run(store), 0);

    //  Something to find again after reopening.
    int64_t headline_id = store_fixture_history(store);
    CHECK_INT(headline_id, 1);
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
    store_fixture_check_headline(&s);
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
}
