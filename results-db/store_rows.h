/*  store_rows — the dashboard's reads of one run's rows: the original
    demo's metrics (named as it named them) and pages of the per-request
    table, sorted and filtered in SQL, so no caller ever holds a whole run
    (100,000 rows) in memory. Part of store (see store.h).

    The original's metrics of a run:
        total_requests       the run's requested count
        successful           rows ok
        throttled            rows throttled
        success_rate         successful / total_requests, percent
        reserved_concurrency detected: the distinct environments that served
                             the ok rows while the rest were throttled; null
                             when nothing was throttled (no limit was met)
        avg_response_time    mean latency of ok rows, ms (0 without any)
        cold_starts          rows with cold_start
        cold_start_time      mean initialisation time of cold rows, seconds
                             (0 without any; provisioned environments are
                             never cold)

    Thread model: as store.h — the calls work on the caller's store_t, on
    the one thread that uses it. Statements are prepared per call from
    constant SQL (sort keys and filters come from fixed tables; values are
    bound), and finalized before returning.
*/
#ifndef STORE_ROWS_H
#define STORE_ROWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _store_t store_t;

#define STORE_ROWS_PAGE_MAX 1000  //  rows in one page
#define STORE_ROWS_FILTER_MAX 128 //  bytes of a text filter

//  One page of a run's table.
typedef struct {
    int64_t offset;      //  rows skipped, >= 0
    int limit;           //  1..STORE_ROWS_PAGE_MAX
    const char *sort;    //  a key of store_rows_sort_ok, NULL for "index"
    bool desc;           //  descending
    const char *outcome; //  "ok", "throttled", "error", "lost" or NULL for all
    const char *text;    //  substring of agent or environment (any case), or NULL
} store_rows_query_t;

//  The original's metrics of run_id as a JSON object (caller owns), or
//  NULL when there is no such run (or on a database error, logged).
json_t *store_rows_original_json(store_t *self, int64_t run_id);

//  {"run_id","total","offset","limit","rows":[…]} for query (checked by
//  the caller: see the _ok functions), where total counts the rows the
//  filter keeps and each row is {index, agent_id, outcome, http_status,
//  latency_ms, environment_id, cold_start, initialization_type,
//  sent_offset_ms, arrival_offset_ms} (offsets from the run's start
//  instant; null when unknown). NULL when the run does not exist or on
//  error.
json_t *store_rows_page(store_t *self, int64_t run_id, const store_rows_query_t *query);

//  Up to limit (1..STORE_ROWS_PAGE_MAX) rows of run_id with an index
//  above after (-1 for the first), in index order, each shaped as
//  store_run_json's rows (the export's columns): the keyset pages a caller
//  streams a whole run with, holding one page at a time. An array (caller
//  owns; empty past the last row), or NULL on error.
json_t *store_rows_after(store_t *self, int64_t run_id, int64_t after, int limit);

//  A run's progress as the dashboard shows it live, from the database
//  alone: {"run_id","status","outcome","error","requested","started_ns",
//  "finished_ns","counts":{"ok","throttled","errors","lost","recorded",
//  "pending"},"agents":[{"agent_id","count","recorded","lost","phase"}]},
//  where lost counts lost rows, pending the requests without any row yet
//  (0 once the run has ended: every index then has a row), and an agent's
//  phase is "preparing" (run pending), "armed" (running, before its start
//  instant at now_ns), "released" (after it, no row of the share yet),
//  "collecting" (some rows), "done" (every row of its share) or the run's
//  status when it ended without them ("failed", "interrupted"). NULL when
//  the run does not exist or on error.
json_t *store_rows_progress_json(store_t *self, int64_t run_id, int64_t now_ns);

//  The data of the run's charts (caller owns; NULL when the run does not
//  exist or on error): {"run_id", "latency": {"bin_ms", "ok": [...],
//  "throttled": [...], "error": [...]} (STORE_ROWS_BINS bins of bin_ms from
//  0, the last holding everything above), "invocations": [{"environment_id",
//  "start_ms", "end_ms", "cold_start", "initialization_type"}] (the
//  function's own interval of each row that names an environment, ms from
//  the run's start instant, by environment then start; at most
//  STORE_ROWS_INVOCATIONS_MAX), "throttles": {"first_ms", "last_ms",
//  "count"} (arrivals at the target of the throttled rows)}.
#define STORE_ROWS_BINS 20
#define STORE_ROWS_INVOCATIONS_MAX 2000
json_t *store_rows_charts_json(store_t *self, int64_t run_id);

//  True for a sort key: index, agent, outcome, status, latency,
//  environment, cold_start, init_type, sent, arrival.
bool store_rows_sort_ok(const char *sort);

//  True for an outcome filter: ok, throttled, error, lost.
bool store_rows_outcome_ok(const char *outcome);

void store_rows_test(bool verbose);

#endif
