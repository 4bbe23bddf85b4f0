/*  store_schema — migrations of the results database; see store_schema.h.

    Invariants the schema enforces (so a caller bug cannot corrupt a run):
    - requests.outcome is one of the eight known words; a run's status one
      of the four known words, its start_mode one of the two, a door one of
      the six and a throttle source one of the four (CHECK).
    - a request row belongs to an existing run (foreign key) and its index
      lies in [0, runs.requested) (CHECK + trigger), so every run satisfies
      requested = recorded + lost once store_mark_lost has covered it.
    - unknown values are NULL, never magic numbers: cold_start and
      invocation_count are NULL when the agent could not tell.

    Every query the store runs selects by run id; the primary keys
    (runs.id, run_agents (run_id, agent_id), requests (run_id,
    request_index)) are the indexes those queries use, and requests is a
    WITHOUT ROWID table clustered on its key, so a run's rows are one
    contiguous range read in index order with no extra lookup.
*/
#include "store_schema.h"
#include "sp_err.h"

#include "sp_check.h"

#include <stdio.h>

static const char *const s_migrations[] = {
    //  1: runs, agents, shares, one row per request.
    "CREATE TABLE runs ("
    "  id          INTEGER PRIMARY KEY,"
    "  created_ns  INTEGER NOT NULL,"
    "  started_ns  INTEGER NOT NULL DEFAULT 0,"
    "  finished_ns INTEGER NOT NULL DEFAULT 0,"
    "  status      TEXT NOT NULL DEFAULT 'pending'"
    "              CHECK (status IN ('pending', 'running', 'completed', 'failed')),"
    "  url         TEXT NOT NULL,"
    "  method      TEXT NOT NULL,"
    "  requested   INTEGER NOT NULL CHECK (requested >= 0),"
    "  agents      INTEGER NOT NULL CHECK (agents >= 0),"
    "  label       TEXT,"
    "  error       TEXT"
    ");"
    "CREATE TABLE agents ("
    "  id            TEXT NOT NULL PRIMARY KEY,"
    "  host          TEXT,"
    "  version       TEXT,"
    "  capacity      INTEGER NOT NULL DEFAULT 0 CHECK (capacity >= 0),"
    "  first_seen_ns INTEGER NOT NULL,"
    "  last_seen_ns  INTEGER NOT NULL"
    ");"
    "CREATE TABLE run_agents ("
    "  run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  agent_id        TEXT NOT NULL REFERENCES agents (id),"
    "  first_index     INTEGER NOT NULL CHECK (first_index >= 0),"
    "  count           INTEGER NOT NULL CHECK (count >= 0),"
    "  clock_offset_ns INTEGER NOT NULL DEFAULT 0,"
    "  clock_error_ns  INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (run_id, agent_id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE requests ("
    "  run_id               INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  request_index        INTEGER NOT NULL CHECK (request_index >= 0),"
    "  agent_id             TEXT,"
    "  outcome              TEXT NOT NULL CHECK (outcome IN ('ok', 'throttled', "
    "'http_error', 'function_error', 'timeout', 'connect_error', 'other_error', 'lost')),"
    "  http_status          INTEGER NOT NULL DEFAULT 0,"
    "  scheduled_ns         INTEGER NOT NULL DEFAULT 0,"
    "  sent_ns              INTEGER NOT NULL DEFAULT 0,"
    "  first_byte_ns        INTEGER NOT NULL DEFAULT 0,"
    "  done_ns              INTEGER NOT NULL DEFAULT 0,"
    "  received_ns          INTEGER NOT NULL DEFAULT 0,"
    "  bytes                INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),"
    "  reused               INTEGER NOT NULL DEFAULT 0 CHECK (reused IN (0, 1)),"
    "  request_id           TEXT,"
    "  environment_id       TEXT,"
    "  cold_start           INTEGER CHECK (cold_start IN (0, 1)),"
    "  cold_start_time      REAL NOT NULL DEFAULT 0,"
    "  initialization_type  TEXT,"
    "  invocation_count     INTEGER CHECK (invocation_count >= 0),"
    "  function_started_ns  INTEGER NOT NULL DEFAULT 0,"
    "  function_finished_ns INTEGER NOT NULL DEFAULT 0,"
    "  error                TEXT,"
    "  PRIMARY KEY (run_id, request_index)"
    ") WITHOUT ROWID;"
    "CREATE TRIGGER requests_index_in_run BEFORE INSERT ON requests"
    "  WHEN NEW.request_index >= (SELECT requested FROM runs WHERE id = NEW.run_id)"
    "  BEGIN SELECT RAISE(ABORT, 'request_index outside the run'); END;",
    //  2: how the agents made the burst simultaneous (proto StartMode);
    //  runs recorded before it existed all started at GO.
    "ALTER TABLE runs ADD COLUMN start_mode TEXT NOT NULL DEFAULT 'at_go'"
    "  CHECK (start_mode IN ('at_go', 'last_byte'));",
    //  3: the front door a run went through (proto Door) and, per request,
    //  the door that answered and who throttled it; runs recorded before
    //  it existed counted every 429 as a throttle, as the door "http" does.
    "ALTER TABLE runs ADD COLUMN door TEXT NOT NULL DEFAULT 'http'"
    "  CHECK (door IN ('http', 'function_url', 'invoke', 'apigw_rest', 'apigw_http',"
    " 'apigw'));"
    "ALTER TABLE requests ADD COLUMN door TEXT"
    "  CHECK (door IN ('http', 'function_url', 'invoke', 'apigw_rest', 'apigw_http',"
    " 'apigw'));"
    "ALTER TABLE requests ADD COLUMN throttle_source TEXT"
    "  CHECK (throttle_source IN ('lambda', 'lambda_via_gateway', 'gateway', 'http'));"
    "ALTER TABLE requests ADD COLUMN throttle_reason TEXT;",
    //  4: how a run ended, beside its lifecycle status: completed (every
    //  request recorded), completed_with_losses, mis_started, interrupted
    //  (the controller stopped or restarted mid-run), failed; NULL while
    //  it runs. Older runs get theirs from what the file shows.
    "ALTER TABLE runs ADD COLUMN outcome TEXT"
    "  CHECK (outcome IN ('completed', 'completed_with_losses', 'mis_started',"
    " 'interrupted', 'failed'));"
    "UPDATE runs SET outcome = CASE status"
    "  WHEN 'failed' THEN CASE WHEN error IN ('controller restarted during the run',"
    "    'controller stopped') THEN 'interrupted' ELSE 'failed' END"
    "  WHEN 'completed' THEN CASE WHEN EXISTS (SELECT 1 FROM requests r"
    "    WHERE r.run_id = runs.id AND r.outcome = 'lost')"
    "    THEN 'completed_with_losses' ELSE 'completed' END END;",
    //  5: when each agent released its share (protocol 3's Released):
    //  released_ns on the controller's clock, start_error_ns = the release
    //  minus the agreed instant on the agent's own clock, the pass's span,
    //  the requests armed (holding their last byte) and late (still
    //  connecting) then, and why the start is not certified (NULL: it is).
    //  NULL throughout when the agent never released (every request had
    //  ended before the instant) or the run predates it.
    "ALTER TABLE run_agents ADD COLUMN released_ns INTEGER;"
    "ALTER TABLE run_agents ADD COLUMN start_error_ns INTEGER;"
    "ALTER TABLE run_agents ADD COLUMN release_span_ns INTEGER"
    "  CHECK (release_span_ns >= 0);"
    "ALTER TABLE run_agents ADD COLUMN armed INTEGER CHECK (armed >= 0);"
    "ALTER TABLE run_agents ADD COLUMN late INTEGER CHECK (late >= 0);"
    "ALTER TABLE run_agents ADD COLUMN mis_start TEXT;",
    //  6: the function's reserved concurrency when the run was made, as the
    //  run's maker knew it (a sweep set it; a run read it from the
    //  management API): >= 0, -1 for unreserved, NULL when unknown.
    "ALTER TABLE runs ADD COLUMN reserved_configured INTEGER"
    "  CHECK (reserved_configured >= -1);",
    //  7: each share's path: the shortest TCP handshake its agent measured
    //  while connecting ahead (NULL when unknown), and how far its instant
    //  was shifted for it (--compensate-path; 0 otherwise).
    "ALTER TABLE run_agents ADD COLUMN path_rtt_ns INTEGER CHECK (path_rtt_ns >= 0);"
    "ALTER TABLE run_agents ADD COLUMN shift_ns INTEGER NOT NULL DEFAULT 0"
    "  CHECK (shift_ns >= 0);",
};

#define S_MIGRATION_COUNT ((int)(sizeof s_migrations / sizeof s_migrations[0]))

int
store_schema_version(void)
{
    return S_MIGRATION_COUNT;
}

int
store_schema_user_version(sqlite3 *db)
{
    assert(db);
    sqlite3_stmt *stmt = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(stmt) != SQLITE_ROW)
        goto out;
    version = sqlite3_column_int(stmt, 0);
out:
    sqlite3_finalize(stmt);
    return version;
}

//  Runs one step under the write lock. Sets *done when the file was already
//  at or past `count` (another process got there first).
static int
s_apply_next(sqlite3 *db, const char *const *steps, int count, bool *done, char *err,
             size_t err_size)
{
    int result = -1;
    bool in_tx = false;
    char *msg = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
        sp_err_set(err, err_size, "cannot lock the database for migration: %s",
                   msg ? msg : sqlite3_errmsg(db));
        goto out;
    }
    in_tx = true;
    int version = store_schema_user_version(db);
    if (version < 0) {
        sp_err_set(err, err_size, "cannot read the schema version: %s",
                   sqlite3_errmsg(db));
        goto out;
    }
    if (version > count) {
        sp_err_set(err, err_size,
                   "database schema version %d is newer than this build supports (%d)",
                   version, count);
        goto out;
    }
    if (version == count) {
        *done = true;
        result = 0;
        goto out;
    }
    if (sqlite3_exec(db, steps[version], NULL, NULL, &msg) != SQLITE_OK) {
        sp_err_set(err, err_size, "migration %d failed: %s", version + 1,
                   msg ? msg : sqlite3_errmsg(db));
        goto out;
    }
    //  A pragma takes no parameters; the value is our own loop counter.
    char pragma[48];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
    if (sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        sp_err_set(err, err_size, "migration %d failed to commit: %s", version + 1,
                   msg ? msg : sqlite3_errmsg(db));
        goto out;
    }
    in_tx = false;
    result = 0;
out:
    //  Still open only when nothing was written or a write failed.
    if (in_tx)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_free(msg);
    return result;
}

int
store_schema_apply(sqlite3 *db, const char *const *steps, int count, char *err,
                   size_t err_size)
{
    assert(db);
    assert(steps || count == 0);
    int version = store_schema_user_version(db);
    if (version < 0) {
        sp_err_set(err, err_size, "cannot read the schema version: %s",
                   sqlite3_errmsg(db));
        return -1;
    }
    if (version > count) {
        sp_err_set(err, err_size,
                   "database schema version %d is newer than this build supports (%d)",
                   version, count);
        return -1;
    }
    //  Each pass applies one step or learns that none is left; at most
    //  count passes, since user_version only grows.
    bool done = version == count;
    for (int pass = 0; !done && pass < count; pass++) {
        if (s_apply_next(db, steps, count, &done, err, err_size))
            return -1;
    }
    return 0;
}

int
store_schema_migrate(sqlite3 *db, char *err, size_t err_size)
{
    return store_schema_apply(db, s_migrations, S_MIGRATION_COUNT, err, err_size);
}

//  --------------------------------------------------------------------------
//  Selftest

static int
s_count_tables(sqlite3 *db, const char *name)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1", -1,
        &stmt, NULL);
    CHECK_INT(rc, SQLITE_OK);
    CHECK_INT(sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC), SQLITE_OK);
    CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
    int count = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return count;
}

void
store_schema_test(bool verbose)
{
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    char err[256] = "";

    //  The toy steps exercise the mechanism independently of the real schema.
    static const char *const steps[] = {
        "CREATE TABLE t1 (a INTEGER);",
        "CREATE TABLE t2 (b INTEGER); INSERT INTO t1 VALUES (1);",
        "CREATE TABLE t3 (c INTEGER);",
        //  Fails half-way: t4 must not survive the rollback.
        "CREATE TABLE t4 (d INTEGER); CREATE TABLE t1 (again INTEGER);",
    };
    CHECK_INT(store_schema_user_version(db), 0);
    CHECK_INT(store_schema_apply(db, steps, 2, err, sizeof err), 0);
    CHECK_INT(store_schema_user_version(db), 2);
    CHECK_INT(s_count_tables(db, "t2"), 1);
    //  Re-applying the same list is a no-op (t1 would be recreated otherwise).
    CHECK_INT(store_schema_apply(db, steps, 2, err, sizeof err), 0);
    CHECK_INT(store_schema_user_version(db), 2);
    //  A longer list applies only what is new.
    CHECK_INT(store_schema_apply(db, steps, 3, err, sizeof err), 0);
    CHECK_INT(store_schema_user_version(db), 3);
    CHECK_INT(s_count_tables(db, "t3"), 1);
    //  A failing step rolls back whole and leaves the version where it was.
    CHECK_INT(store_schema_apply(db, steps, 4, err, sizeof err), -1);
    CHECK_STR(err, "migration 4 failed: table t1 already exists");
    CHECK_INT(store_schema_user_version(db), 3);
    CHECK_INT(s_count_tables(db, "t4"), 0);
    //  A file newer than the list is refused and untouched.
    CHECK_INT(store_schema_apply(db, steps, 1, err, sizeof err), -1);
    CHECK_STR(err, "database schema version 3 is newer than this build supports (1)");
    CHECK_INT(store_schema_user_version(db), 3);
    sqlite3_close(db);
    db = NULL;

    //  The real migrations on a fresh database.
    CHECK_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_INT(store_schema_migrate(db, err, sizeof err), 0);
    CHECK_INT(store_schema_user_version(db), store_schema_version());
    CHECK_INT(store_schema_version(), 7);
    const char *tables[] = {"runs", "agents", "run_agents", "requests"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        CHECK_INT(s_count_tables(db, tables[i]), 1);
    CHECK_INT(store_schema_migrate(db, err, sizeof err), 0);
    CHECK_INT(store_schema_user_version(db), 7);
    sqlite3_close(db);

    //  A version-3 file: migration 4 gives each ended run its outcome.
    sqlite3_stmt *stmt = NULL;
    CHECK_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_INT(store_schema_apply(db, s_migrations, 3, err, sizeof err), 0);
    CHECK_INT(
        sqlite3_exec(db,
                     "INSERT INTO runs (id, created_ns, url, method, requested, agents,"
                     " status, error) VALUES"
                     " (1, 1, 'http://h/', 'GET', 2, 1, 'completed', NULL),"
                     " (2, 1, 'http://h/', 'GET', 2, 1, 'completed', NULL),"
                     " (3, 1, 'http://h/', 'GET', 2, 1, 'failed', 'agent a refused'),"
                     " (4, 1, 'http://h/', 'GET', 2, 1, 'failed', 'controller stopped'),"
                     " (5, 1, 'http://h/', 'GET', 2, 1, 'running', NULL);"
                     "INSERT INTO requests (run_id, request_index, outcome) VALUES"
                     " (1, 0, 'ok'), (1, 1, 'ok'), (2, 0, 'ok'), (2, 1, 'lost')",
                     NULL, NULL, NULL),
        SQLITE_OK);
    CHECK_INT(store_schema_migrate(db, err, sizeof err), 0);
    CHECK_INT(sqlite3_prepare_v2(db,
                                 "SELECT group_concat(coalesce(outcome, '-'), ' ')"
                                 " FROM (SELECT outcome FROM runs ORDER BY id)",
                                 -1, &stmt, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(stmt, 0),
              "completed completed_with_losses failed interrupted -");
    sqlite3_finalize(stmt);
    CHECK_INT(sqlite3_exec(db, "UPDATE runs SET outcome = 'fine' WHERE id = 1", NULL,
                           NULL, NULL),
              SQLITE_CONSTRAINT);
    sqlite3_close(db);

    //  A version-1 file with a run: migration 2 marks it at_go, and the
    //  column takes only the two known modes.
    CHECK_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_INT(store_schema_apply(db, s_migrations, 1, err, sizeof err), 0);
    CHECK_INT(sqlite3_exec(db,
                           "INSERT INTO runs (id, created_ns, url, method, requested,"
                           " agents) VALUES (7, 1, 'http://h/', 'GET', 1, 1)",
                           NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(store_schema_migrate(db, err, sizeof err), 0);
    CHECK_INT(store_schema_user_version(db), 7);
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT start_mode FROM runs WHERE id = 7", -1,
                                 &stmt, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(stmt, 0), "at_go");
    sqlite3_finalize(stmt);
    CHECK_INT(sqlite3_exec(db, "UPDATE runs SET start_mode = 'last_byte' WHERE id = 7",
                           NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, "UPDATE runs SET start_mode = 'sideways' WHERE id = 7",
                           NULL, NULL, NULL),
              SQLITE_CONSTRAINT);
    //  Migration 3: an older run went through door "http"; doors and
    //  throttle sources take only their known words.
    CHECK_INT(
        sqlite3_prepare_v2(db, "SELECT door FROM runs WHERE id = 7", -1, &stmt, NULL),
        SQLITE_OK);
    CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(stmt, 0), "http");
    sqlite3_finalize(stmt);
    CHECK_INT(sqlite3_exec(db, "UPDATE runs SET door = 'apigw_http' WHERE id = 7", NULL,
                           NULL, NULL),
              SQLITE_OK);
    CHECK_INT(
        sqlite3_exec(db, "UPDATE runs SET door = 'ftp' WHERE id = 7", NULL, NULL, NULL),
        SQLITE_CONSTRAINT);
    CHECK_INT(sqlite3_exec(db,
                           "INSERT INTO requests (run_id, request_index, outcome, door,"
                           " throttle_source) VALUES (7, 0, 'throttled', 'apigw_rest',"
                           " 'lambda_via_gateway')",
                           NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_exec(db,
                           "UPDATE requests SET throttle_source = 'dns' WHERE run_id = 7",
                           NULL, NULL, NULL),
              SQLITE_CONSTRAINT);
    CHECK_INT(sqlite3_exec(db, "UPDATE requests SET door = 'smtp' WHERE run_id = 7", NULL,
                           NULL, NULL),
              SQLITE_CONSTRAINT);
    sqlite3_close(db);
    if (verbose)
        printf("schema version %d ", store_schema_version());
}
