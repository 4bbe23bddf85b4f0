/*  ctl_report — how a run's summary is shown: the human text of
    `stampede run` / `demo`, and the one JSON object of `run --json`.

    Works only on a store_summary_t (computed in SQL by the store); no
    state, any thread.
*/
#ifndef CTL_REPORT_H
#define CTL_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "ctl_config.h"
#include "store_api.h"

//  json_dumps flags for printing it: compact, and 12 significant digits so
//  milliseconds rounded to the microsecond print as such (2.717, not
//  2.7170000000000001).
#define CTL_REPORT_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

//  What one report shows: the run's summary and its agents' parts.
typedef struct {
    const store_summary_t *summary;
    const store_agent_summary_t *agents; //  n_agents of them, index order
    size_t n_agents;
    const char *db_path;
    const char *error; //  the run's reason, may be NULL
} ctl_report_t;

//  The report as one JSON object (caller owns): run_id, status, outcome,
//  start_mode ("at_go" | "last_byte"), door, requested, recorded, ok,
//  throttled (throttled_lambda, throttled_gateway), errors, lost,
//  environments, cold_starts, peak_concurrency (from the recorded rows:
//  "partial" is true when any row is lost), p50_ms, p90_ms, p99_ms, max_ms,
//  spread_ms, wall_ms (milliseconds rounded to the microsecond), agents
//  ([{agent_id, first_index, count, recorded, clock_offset_ms,
//  clock_bound_ms, arrivals, arrival_first_ms, arrival_median_ms,
//  arrival_last_ms}], arrivals relative to the start instant), db, and
//  error when non-NULL and non-empty.
json_t *ctl_report_json(const ctl_report_t *report);

//  Writes the report as a few lines of text to out.
void ctl_report_text(const ctl_report_t *report, FILE *out);

//  Checks the summary against the expected counts (-1: none). Writes one
//  line per missed expectation to err ("expected 5 ok, got 4"); when json
//  is not NULL adds "expectations" (an object of the expected counts) and
//  "expectations_met" to it. Returns the number of missed expectations.
int ctl_report_expect(const store_summary_t *summary, const ctl_expect_t *expect,
                      json_t *json, FILE *err);

void ctl_report_test(bool verbose);

#endif
