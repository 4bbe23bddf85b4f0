/*  store_fixture — what the results-db selftests share: a standard run, a
    result row with every "unknown" set, the headline run (100 requests
    against reserved concurrency 5) with its known summary, and counting
    queries straight on a store's connection.

    Selftest code only: nothing outside the *_test functions of results-db
    calls it. Every helper aborts through sp_check on a failure, so a test
    reads as a list of expectations.

    Thread model: the caller's store_t, on its thread.
*/
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include "store_api.h"

#include <stdbool.h>
#include <stdint.h>

#define STORE_FIXTURE_MS INT64_C(1000000)
#define STORE_FIXTURE_BASE INT64_C(1700000000000000000)

//  A new run of requested requests over 2 agents, start mode last_byte,
//  created at STORE_FIXTURE_BASE; returns its id.
int64_t store_fixture_run(store_t *store, uint32_t requested, const char *label);

//  A result with no response details: cold_start and invocation_count
//  unknown (-1), every instant and string empty.
store_result_t store_fixture_row(uint32_t index, const char *outcome, int http_status);

//  The headline run: agents agent-a and agent-b, each with a share of 50
//  (clock offsets -1200 and 800), row i with latency (i+1) ms reaching the
//  emulator 10 us after row i-1, rows 0..4 ok in 5 cold environments whose
//  function intervals overlap, rows 5..99 throttled; completed 250 ms after
//  it started. store_fixture_headline_rows fills rows (100 of them);
//  store_fixture_headline records the whole run and returns its id.
void store_fixture_headline_rows(store_result_t *rows);
int64_t store_fixture_headline(store_t *store);

//  Makes store refuse every write (as a full disk or a read-only file
//  would: SQLITE_READONLY) while refuse is true.
void store_fixture_refuse_writes(store_t *store, bool refuse);

//  A store with some history: the headline run (returned, id 1 in a fresh
//  store) and two newer runs without results, 3 and 4 requests.
int64_t store_fixture_history(store_t *store);

//  Checks s is the headline run's summary.
void store_fixture_check_headline(const store_summary_t *s);

//  The first column of the one row sql returns, with run_id bound to ?1
//  when sql has a parameter: as an integer, or checked against expected
//  text.
int64_t store_fixture_count(store_t *store, const char *sql, int64_t run_id);
void store_fixture_check_text(store_t *store, const char *sql, int64_t run_id,
                              const char *expected);

void store_fixture_test(bool verbose);

#endif
