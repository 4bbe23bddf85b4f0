/*  store_schema — the numbered migrations that create and upgrade the
    results database, and the one routine that applies them.

    Migration k (1-based) is the k-th SQL script of an ordered, append-only
    table; PRAGMA user_version records how many are applied. A released
    script is never edited: a schema change is a new script at the end.
    store_schema_version() is the table's length (store.h declares it too,
    for the library's callers).

    Thread model: no state; works on the caller's connection, on the
    caller's thread.
*/
#ifndef STORE_SCHEMA_H
#define STORE_SCHEMA_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

//  Brings db to the newest schema this build knows. Returns 0, or -1 with
//  a one-line reason in err (a file newer than this build is refused, and
//  left untouched).
int store_schema_migrate(sqlite3 *db, char *err, size_t err_size);

//  The schema version this build migrates to: the number of migrations.
int store_schema_version(void);

//  Applies steps[v .. count-1] to db, where v is its user_version, each
//  script in its own IMMEDIATE transaction together with the user_version
//  bump, so the file is always at exactly one version. The version is
//  re-read under the write lock, so two processes opening a fresh file at
//  once never apply a step twice. Returns 0, or -1 with a reason in err:
//  user_version > count, or a script failed (that step is rolled back, the
//  steps before it stay applied).
int store_schema_apply(sqlite3 *db, const char *const *steps, int count, char *err,
                       size_t err_size);

//  db's PRAGMA user_version, or -1 on error.
int store_schema_user_version(sqlite3 *db);

void store_schema_test(bool verbose);

#endif
