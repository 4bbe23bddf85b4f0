/*  store_runs — the life of a run in the results database: created
    "pending", moved through "running" to "completed" or "failed" by the
    controller, and settled as "failed" at start when a previous controller
    process stopped in the middle of it. Part of store (see store.h).

    Thread model: as store.h — the calls work on the caller's store_t, on
    the one thread that uses it.
*/
#ifndef STORE_RUNS_H
#define STORE_RUNS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct _store_t store_t;

//  One run as created by the controller.
typedef struct {
    const char *url;             //  target URL
    const char *method;          //  HTTP method
    uint32_t requested;          //  N
    uint32_t agents;             //  number of agents sharing the run
    int64_t created_ns;          //  controller wall clock
    const char *label;           //  free text shown in the UI, may be NULL
    const char *start_mode;      //  "at_go" or "last_byte" (proto_start_mode_name);
                                 //  NULL means "at_go"
    const char *door;            //  proto_door_name; NULL means "http"
    bool reserved_known;         //  the function's reserved concurrency is known:
    int32_t reserved_configured; //  then >= 0, or -1 for unreserved (else NULL)
} store_run_t;

//  Creates a run with status "pending"; returns its id (>= 1) or -1.
int64_t store_run_create(store_t *self, const store_run_t *run);

//  Sets a run's status and, when non-zero, its started/finished instants
//  and error text (may be NULL). "completed" also sets the run's outcome:
//  completed_with_losses when any of its rows is lost, else completed;
//  "failed" sets it to failed. Returns 0 or -1.
int store_run_set_status(store_t *self, int64_t run_id, const char *status,
                         int64_t started_ns, int64_t finished_ns, const char *error);

//  Ends a run the controller stopped or lost mid-way: status failed,
//  outcome interrupted, with `reason`. Returns 0 or -1.
int store_run_interrupted(store_t *self, int64_t run_id, int64_t finished_ns,
                          const char *reason);

//  Id of the newest run, or 0 when there is none (-1 on a database error).
int64_t store_latest_run(store_t *self);

//  Settles every run a previous controller process left "pending" or
//  "running" (it stopped without finishing them): each missing index of
//  each of the run's shares gets a "lost" row with reason (as
//  store_mark_lost), then the run becomes "failed" (outcome "interrupted")
//  with error = reason and finished_ns. A run without shares just becomes failed. One
//  transaction: all runs are settled or none. Returns how many runs were settled, or -1.
//  Only for a writer that knows no run of the file is live, i.e. at start.
int store_runs_interrupted(store_t *self, const char *reason, int64_t finished_ns);

void store_runs_test(bool verbose);

#endif
