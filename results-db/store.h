/*  store — the results database: one SQLite file holding runs, agents, each
    run's per-agent shares and one row per request keyed (run_id,
    request_index).

    The schema is created and upgraded by numbered migrations recorded in
    PRAGMA user_version; the file runs in WAL mode, so one writer (the
    controller's run loop) and any number of readers (the HTTP thread, the
    CLI) can use it at once, each through its own store_t.

    Thread model: a store_t owns one sqlite3 connection and is used by one
    thread only. Open one store_t per thread.

    Outcomes are stored as text: "ok", "throttled", "http_error",
    "function_error", "timeout", "connect_error", "other_error", and "lost"
    for a request whose result never arrived (see store_mark_lost).
*/
#ifndef STORE_H
#define STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct _store_t store_t;

//  store_runs_json never lists more runs than this.
#define STORE_RUNS_LIMIT_MAX 1000

//  One run as created by the controller.
typedef struct {
    const char *url;        //  target URL
    const char *method;     //  HTTP method
    uint32_t requested;     //  N
    uint32_t agents;        //  number of agents sharing the run
    int64_t created_ns;     //  controller wall clock
    const char *label;      //  free text shown in the UI, may be NULL
    const char *start_mode; //  "at_go" or "last_byte" (proto_start_mode_name);
                            //  NULL means "at_go"
} store_run_t;

//  One request's result, already converted to controller clock. Strings may
//  be NULL (stored as NULL). Borrowed by store_results_insert for the call.
typedef struct {
    uint32_t index;
    const char *outcome; //  see the list above
    int http_status;     //  0 when no response
    int64_t scheduled_ns;
    int64_t sent_ns;
    int64_t first_byte_ns;
    int64_t done_ns;
    int64_t received_ns; //  target's X-Stampede-Received-Ns, 0 if absent
    uint64_t bytes;
    bool reused;            //  connection was reused
    const char *request_id; //  Lambda request id
    const char *environment_id;
    int cold_start;         //  -1 unknown, 0 false, 1 true
    double cold_start_time; //  seconds
    const char *initialization_type;
    int64_t invocation_count;     //  -1 unknown
    int64_t function_started_ns;  //  0 if absent
    int64_t function_finished_ns; //  0 if absent
    const char *error;
} store_result_t;

//  Aggregates of one run, all computed in SQL.
typedef struct {
    int64_t run_id;
    char status[16];     //  "pending", "running", "completed", "failed"
    char start_mode[16]; //  "at_go" or "last_byte"
    uint32_t requested;
    uint32_t recorded; //  rows other than lost
    uint32_t ok;
    uint32_t throttled;
    uint32_t errors;           //  http_error + function_error + timeout +
                               //  connect_error + other_error
    uint32_t lost;             //  requested - recorded
    uint32_t cold_starts;      //  rows with cold_start = 1
    uint32_t environments;     //  distinct environment_id
    uint32_t peak_concurrency; //  max overlap of function_started..finished
    double p50_ms;             //  latency (done - sent) over rows with a
    double p90_ms;             //  response, nearest-rank; 0 when none
    double p99_ms;
    double max_ms;
    double spread_ms; //  max - min received_ns; 0 when < 2 report it
    double wall_ms;   //  finished - started; 0 until finished
} store_summary_t;

//  Opens (creating the file and its parent directory if needed) and migrates
//  the database at path. Returns NULL with a reason in err on failure.
store_t *store_open(const char *path, char *err, size_t err_size);

//  Closes; safe on NULL and twice; nulls *self_p.
void store_destroy(store_t **self_p);

//  The schema version this build migrates to.
int store_schema_version(void);

//  Creates a run with status "pending"; returns its id (>= 1) or -1.
int64_t store_run_create(store_t *self, const store_run_t *run);

//  Sets a run's status and, when non-zero, its started/finished instants
//  and error text (may be NULL). Returns 0 or -1.
int store_run_set_status(store_t *self, int64_t run_id, const char *status,
                         int64_t started_ns, int64_t finished_ns, const char *error);

//  Records (or refreshes) an agent. Returns 0 or -1.
int store_agent_upsert(store_t *self, const char *agent_id, const char *host,
                       const char *version, uint32_t capacity, int64_t seen_ns);

//  Records one agent's share of a run and its clock estimate. Returns 0 or -1.
int store_share_add(store_t *self, int64_t run_id, const char *agent_id,
                    uint32_t first_index, uint32_t count, int64_t clock_offset_ns,
                    int64_t clock_error_ns);

//  agent_id's share of run_id as store_share_add recorded it: its index
//  range [*first_index, *first_index + *count) and the clock offset its
//  results were converted with. Returns 0 when there is one, 1 when the run
//  is unknown or agent_id has no share in it (outputs untouched), -1 on a
//  database error.
int store_share_get(store_t *self, int64_t run_id, const char *agent_id,
                    uint32_t *first_index, uint32_t *count, int64_t *clock_offset_ns);

//  Inserts n results of run_id from agent_id in one transaction with a
//  prepared statement. Idempotent: a row already present is kept, except a
//  "lost" row, which a late real result replaces. Returns 0, or -1 with the
//  transaction rolled back (nothing of the batch stored).
int store_results_insert(store_t *self, int64_t run_id, const char *agent_id,
                         const store_result_t *rows, size_t n);

//  Inserts a "lost" row with reason for every index in
//  [first_index, first_index + count) of run_id that has no row yet.
//  Returns the number of rows marked, or -1.
int64_t store_mark_lost(store_t *self, int64_t run_id, const char *agent_id,
                        uint32_t first_index, uint32_t count, const char *reason);

//  Settles every run a previous controller process left "pending" or
//  "running" (it stopped without finishing them): each missing index of
//  each of the run's shares gets a "lost" row with reason (as
//  store_mark_lost), then the run becomes "failed" with error = reason and
//  finished_ns. A run without shares just becomes failed. One transaction:
//  all runs are settled or none. Returns how many runs were settled, or -1.
//  Only for a writer that knows no run of the file is live, i.e. at start.
int store_runs_interrupted(store_t *self, const char *reason, int64_t finished_ns);

//  Fills *out for run_id. Returns 0, or -1 when the run does not exist.
int store_summary(store_t *self, int64_t run_id, store_summary_t *out);

//  Id of the newest run, or 0 when there is none (-1 on a database error).
int64_t store_latest_run(store_t *self);

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

//  Writes every request row of run_id to out, ordered by index, as "csv"
//  (header line first) or "json" (one array). Returns 0, or -1 when the run
//  does not exist or the format is unknown (nothing written then), or when
//  writing to out fails. CSV follows RFC 4180: CRLF line ends, a field
//  holding a comma, quote, CR or LF is quoted with inner quotes doubled;
//  NULL is an empty field, booleans are true/false. JSON is one compact
//  object per line, reals with 15 significant digits.
int store_export(store_t *self, int64_t run_id, const char *format, FILE *out);

void store_test(bool verbose);

#endif
