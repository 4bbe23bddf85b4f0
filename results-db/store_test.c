/*  store_test — the results database's selftest as a whole: open, migrate,
    reopen, a reader beside the writer in WAL mode, refusals of a newer or
    foreign file, processes opening one file at once. It drives the whole
    API (runs, results, summaries), so it lives in a file of its own, built
    into the selftest runner only: the connection (store.c) includes none
    of the modules above it.
*/
#include "store_api.h"
#include "store_fixture.h"
#include "store_schema.h"
#include "store_stmt.h"

#include "sp_check.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    sqlite3_stmt *pragma = NULL;
    CHECK_INT(
        sqlite3_prepare_v2(store_db(reader), "PRAGMA journal_mode", -1, &pragma, NULL),
        SQLITE_OK);
    CHECK_INT(sqlite3_step(pragma), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(pragma, 0), "wal");
    sqlite3_finalize(pragma);
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
            if (!store) {
                fprintf(stderr, "child %d: store_open: %s\n", i, err);
                _exit(1);
            }
            int ok = store_run_create(store, &(store_run_t){.url = "u",
                                                            .method = "GET",
                                                            .requested = 1,
                                                            .agents = 1}) >= 1;
            if (!ok)
                fprintf(stderr, "child %d: store_run_create failed\n", i);
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
