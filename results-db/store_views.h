/*  store_views — the JSON views of the results database the HTTP API
    serves: the run list and one run with its shares and rows. Part of
    store (see store.h).

    Thread model: as store.h — the calls work on the caller's store_t, on
    the one thread that uses it.
*/
#ifndef STORE_VIEWS_H
#define STORE_VIEWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _store_t store_t;

//  store_runs_json never lists more runs than this.
#define STORE_RUNS_LIMIT_MAX 1000

//  JSON views for the HTTP API (caller owns the returned reference):
//  the newest `limit` runs, newest first, each with its summary;
//  one run with its summary, shares and, when with_requests, every row;
//  NULL when the run does not exist (or on a database error, logged).
//  limit is capped at STORE_RUNS_LIMIT_MAX; below 1 gives an empty array.
//  Row objects use the column names of the export; unknown values (NULL
//  strings, cold_start/invocation_count not reported, latency_ms of a row
//  without a response) are JSON null.
json_t *store_runs_json(store_t *self, int limit);
json_t *store_run_json(store_t *self, int64_t run_id, bool with_requests);

void store_views_test(bool verbose);

#endif
