/*  store_results — ingestion of request results: one row per request keyed
    (run_id, request_index), stored a batch per transaction, and "lost"
    rows for requests whose result never arrived.

    Outcomes are stored as text: "ok", "throttled", "http_error",
    "function_error", "timeout", "connect_error", "other_error", and "lost"
    for a request whose result never arrived (see store_mark_lost). Part of
    store (see store.h).

    Thread model: as store.h — the calls work on the caller's store_t, on
    the one thread that uses it.
*/
#ifndef STORE_RESULTS_H
#define STORE_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _store_t store_t;

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
    const char *door;            //  proto_door_name of the answering door
    const char *throttle_source; //  proto_throttle_source_name; NULL unless
                                 //  the outcome is "throttled"
    const char *throttle_reason; //  the Invoke API's Reason, may be NULL
} store_result_t;

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

void store_results_test(bool verbose);

#endif
