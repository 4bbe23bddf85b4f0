/*  store — the results database: one SQLite file holding runs, agents, each
    run's per-agent shares and one row per request keyed (run_id,
    request_index).

    The schema is created and upgraded by numbered migrations recorded in
    PRAGMA user_version; the file runs in WAL mode, so one writer (the
    controller's run loop) and any number of readers (the HTTP thread, the
    CLI) can use it at once, each through its own store_t.

    Thread model: a store_t owns one sqlite3 connection and is used by one
    thread only. Open one store_t per thread.

    The API is split by what it is about, one header each, all included
    by store_api.h (what callers outside this folder include): store_runs (a run's
   lifecycle), store_agents (agents and their shares of a run), store_results (result
   ingestion), store_summary (a run's aggregates), store_views (JSON for the HTTP API),
   store_export (CSV/JSON download). store itself owns the connection and its prepared
    statements (catalogue in store_stmt, private to this folder).
*/
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _store_t store_t;

//  Opens (creating the file and its parent directory if needed) and migrates
//  the database at path. Returns NULL with a reason in err on failure.
store_t *store_open(const char *path, char *err, size_t err_size);

//  Closes; safe on NULL and twice; nulls *self_p.
void store_destroy(store_t **self_p);

//  The schema version this build migrates to.
int store_schema_version(void);

void store_test(bool verbose);

#endif
