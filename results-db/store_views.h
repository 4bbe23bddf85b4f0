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

//  Which runs the run list keeps; NULL strings and 0 instants keep all.
typedef struct {
    int limit;           //  as store_runs_json's
    const char *outcome; //  the run's outcome, or its status ("pending",
                         //  "running") while it has none
    const char *text;    //  a substring of its URL or label, ASCII case folded
    int64_t since_ns;    //  created at or after this instant
    int64_t until_ns;    //  created before this instant
} store_runs_query_t;

//  store_runs_json with the query's filters.
json_t *store_runs_find_json(store_t *self, const store_runs_query_t *query);

//  True for an outcome the run list filters on: completed,
//  completed_with_losses, mis_started, interrupted, failed, pending,
//  running.
bool store_runs_outcome_ok(const char *outcome);
json_t *store_run_json(store_t *self, int64_t run_id, bool with_requests);

void store_views_test(bool verbose);

#endif
