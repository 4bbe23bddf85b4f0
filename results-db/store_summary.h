/*  store_summary — a run's aggregates (counts by outcome, latency
    percentiles, cold starts, environments, peak concurrency, receive
    spread), all computed in one SQL query. Part of store (see store.h).

    Thread model: as store.h — the calls work on the caller's store_t, on
    the one thread that uses it.
*/
#ifndef STORE_SUMMARY_H
#define STORE_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _store_t store_t;

//  Aggregates of one run, all computed in SQL.
typedef struct {
    int64_t run_id;
    char status[16];          //  "pending", "running", "completed", "failed"
    char start_mode[16];      //  "at_go" or "last_byte"
    char door[16];            //  the run's door (proto_door_name)
    char top_error[256];      //  the most frequent error text of the failed
    uint32_t top_error_count; //  rows and how often; "" and 0 when none
    char outcome[24];         //  "completed", "completed_with_losses",
                              //  "mis_started", "interrupted", "failed"; "" while
                              //  the run is pending or running
    char reason[1280];        //  why it did not complete (runs.error), or ""
    uint32_t requested;
    uint32_t recorded; //  rows other than lost
    uint32_t ok;
    uint32_t throttled;
    uint32_t throttled_lambda;  //  by Lambda: its own 429, or a gateway's
                                //  integration failure (lambda_via_gateway)
    uint32_t throttled_gateway; //  by API Gateway's own throttling
    uint32_t errors;            //  http_error + function_error + timeout +
                                //  connect_error + other_error
    uint32_t lost;              //  requested - recorded
    uint32_t cold_starts;       //  rows with cold_start = 1
    uint32_t environments;      //  distinct environment_id
    uint32_t peak_concurrency;  //  max overlap of function_started..finished
    double p50_ms;              //  latency (done - sent) over rows with a
    double p90_ms;              //  response, nearest-rank; 0 when none
    double p99_ms;
    double max_ms;
    double spread_ms; //  max - min received_ns; 0 when < 2 report it
    double wall_ms;   //  finished - started; 0 until finished
} store_summary_t;

//  Fills *out for run_id. Returns 0, or -1 when the run does not exist.
int store_summary(store_t *self, int64_t run_id, store_summary_t *out);

//  One agent's part of a run: its share, its clock at the instant, and when
//  its requests arrived at the target (X-Stampede-Received-Ns, or the
//  header named with --arrival-header) relative to the start instant, so
//  path differences between hosts show. The arrival instants are the
//  target's clock: on another host they include its clock's offset.
typedef struct {
    char agent_id[65];
    uint32_t first_index;
    uint32_t count;
    int64_t clock_offset_ns; //  agent minus controller at the instant
    int64_t clock_bound_ns;  //  its error bound
    uint32_t recorded;       //  rows of the share other than lost
    uint32_t arrivals;       //  rows with an arrival stamp
    double first_ms;         //  arrival - instant; 0 when arrivals == 0
    double median_ms;        //  lower median
    double last_ms;
    bool released;          //  the agent reported its release
    int64_t start_error_ns; //  release minus the instant, agent's clock
    uint32_t armed;         //  requests holding their last byte then
    uint32_t late;          //  requests still connecting then
    char mis_start[512];    //  "" when the start is certified, else why
    int64_t path_rtt_ns;    //  shortest handshake measured while arming, 0 unknown
    int64_t shift_ns;       //  --compensate-path: its instant's shift
} store_agent_summary_t;

//  Fills out[0..max) with the agents of run_id in index order and sets *n
//  (at most max). Returns 0, or -1 on a database error.
int store_summary_agents(store_t *self, int64_t run_id, store_agent_summary_t *out,
                         size_t max, size_t *n);

void store_summary_test(bool verbose);

#endif
