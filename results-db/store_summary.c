/*  store_summary — a run's aggregates; see store_summary.h.

    The whole summary is one query over the run's rows (store_summary_sql,
    prepared with the rest of the catalogue), so a reader computing it
    after each batch sees one consistent snapshot. Its differential test
    checks the SQL against a naive C reference on random runs.
*/
#include "store_summary.h"
#include "store.h"
#include "store_stmt.h"

#include <czmq.h>

//  The summary in SQL. Percentiles are nearest-rank: the ceil(p/100 * n)-th
//  smallest latency, i.e. rank (p*n + 99) / 100 in integers. Peak
//  concurrency sweeps +1 at each function start and -1 at each finish in
//  time order, ends first at equal instants (intervals are half-open), and
//  takes the highest running sum. The spread of a single receive time is
//  max - min = 0, so "fewer than 2" needs no case of its own.
const char store_summary_sql[] =
    "WITH r AS ("
    "  SELECT outcome, throttle_source, http_status, done_ns - sent_ns AS latency_ns,"
    "         received_ns,"
    "         cold_start, environment_id,"
    "         function_started_ns AS fs, function_finished_ns AS ff"
    "  FROM requests WHERE run_id = ?1),"
    "counts AS ("
    "  SELECT count(*) FILTER (WHERE outcome <> 'lost') AS recorded,"
    "         count(*) FILTER (WHERE outcome = 'ok') AS ok,"
    "         count(*) FILTER (WHERE outcome = 'throttled') AS throttled,"
    "         count(*) FILTER (WHERE throttle_source IN ('lambda', 'lambda_via_gateway'))"
    "           AS throttled_lambda,"
    "         count(*) FILTER (WHERE throttle_source = 'gateway') AS throttled_gateway,"
    "         count(*) FILTER (WHERE outcome NOT IN ('ok', 'throttled', 'lost'))"
    "           AS errors,"
    "         count(*) FILTER (WHERE cold_start = 1) AS cold_starts,"
    "         count(DISTINCT environment_id) FILTER (WHERE environment_id <> '')"
    "           AS environments,"
    "         max(received_ns) FILTER (WHERE received_ns > 0)"
    "           - min(received_ns) FILTER (WHERE received_ns > 0) AS spread_ns"
    "  FROM r),"
    "lat AS ("
    "  SELECT latency_ns, row_number() OVER (ORDER BY latency_ns) AS rank,"
    "         count(*) OVER () AS n"
    "  FROM r WHERE http_status > 0),"
    "pct AS ("
    "  SELECT coalesce(max(latency_ns) FILTER (WHERE rank = (n * 50 + 99) / 100),"
    "                  0) AS p50,"
    "         coalesce(max(latency_ns) FILTER (WHERE rank = (n * 90 + 99) / 100),"
    "                  0) AS p90,"
    "         coalesce(max(latency_ns) FILTER (WHERE rank = (n * 99 + 99) / 100),"
    "                  0) AS p99,"
    "         coalesce(max(latency_ns), 0) AS pmax"
    "  FROM lat),"
    "ev AS ("
    "  SELECT fs AS t, 1 AS d FROM r WHERE fs > 0 AND ff >= fs"
    "  UNION ALL"
    "  SELECT ff AS t, -1 AS d FROM r WHERE fs > 0 AND ff >= fs),"
    //  The most frequent error text of the failed rows (ties: the
    //  smallest text), so a run whose requests all failed says why.
    "top AS ("
    "  SELECT error, count(*) AS n FROM requests"
    "  WHERE run_id = ?1 AND outcome NOT IN ('ok', 'throttled', 'lost')"
    "    AND error IS NOT NULL AND error <> ''"
    "  GROUP BY error ORDER BY n DESC, error LIMIT 1),"
    "peak AS ("
    "  SELECT coalesce(max(live), 0) AS peak FROM ("
    "    SELECT sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS live FROM ev))"
    "SELECT runs.status, runs.requested, counts.recorded,"
    "       max(runs.requested - counts.recorded, 0), counts.ok, counts.throttled,"
    "       counts.errors, counts.cold_starts, counts.environments, peak.peak,"
    "       pct.p50, pct.p90, pct.p99, pct.pmax,"
    "       coalesce(counts.spread_ns, 0),"
    "       CASE WHEN runs.started_ns > 0 AND runs.finished_ns > 0"
    "            THEN runs.finished_ns - runs.started_ns ELSE 0 END,"
    "       runs.start_mode, counts.throttled_lambda, counts.throttled_gateway,"
    "       runs.door, runs.outcome, top.error, coalesce(top.n, 0), runs.error"
    "  FROM runs, counts, pct, peak LEFT JOIN top ON 1 WHERE runs.id = ?1";

//  Per agent, in index order: its share and clock, and the first, (lower)
//  median and last arrival relative to the run's instant (runs.started_ns).
const char store_summary_agents_sql[] =
    "WITH r AS ("
    "  SELECT agent_id, outcome, received_ns FROM requests WHERE run_id = ?1),"
    "arr AS ("
    "  SELECT r.agent_id, r.received_ns - runs.started_ns AS rel,"
    "         row_number() OVER (PARTITION BY r.agent_id ORDER BY r.received_ns) AS k,"
    "         count(*) OVER (PARTITION BY r.agent_id) AS n"
    "  FROM r, runs WHERE runs.id = ?1 AND r.received_ns > 0),"
    "stats AS ("
    "  SELECT agent_id, max(n) AS n, min(rel) AS first,"
    "         max(rel) FILTER (WHERE k = (n + 1) / 2) AS median, max(rel) AS last"
    "  FROM arr GROUP BY agent_id),"
    "rec AS ("
    "  SELECT agent_id, count(*) FILTER (WHERE outcome <> 'lost') AS recorded"
    "  FROM r GROUP BY agent_id)"
    "SELECT a.agent_id, a.first_index, a.count, a.clock_offset_ns, a.clock_error_ns,"
    "       coalesce(rec.recorded, 0), coalesce(stats.n, 0), coalesce(stats.first, 0),"
    "       coalesce(stats.median, 0), coalesce(stats.last, 0),"
    "       a.released_ns IS NOT NULL, coalesce(a.start_error_ns, 0),"
    "       coalesce(a.armed, 0), coalesce(a.late, 0), a.mis_start,"
    "       coalesce(a.path_rtt_ns, 0), a.shift_ns"
    "  FROM run_agents a LEFT JOIN stats ON stats.agent_id = a.agent_id"
    "  LEFT JOIN rec ON rec.agent_id = a.agent_id"
    "  WHERE a.run_id = ?1 ORDER BY a.first_index";

int
store_summary_agents(store_t *self, int64_t run_id, store_agent_summary_t *out,
                     size_t max, size_t *n)
{
    assert(self && (out || max == 0) && n);
    *n = 0;
    int found = store_stmt_run_row(self, STORE_SUMMARY_AGENTS, run_id, "agent summary");
    if (found < 0)
        return -1;
    if (found == 0)
        return 0;
    sqlite3_stmt *stmt = store_stmt(self, STORE_SUMMARY_AGENTS);
    int rc = SQLITE_ROW;
    do {
        if (*n < max) {
            store_agent_summary_t *a = &out[(*n)++];
            const unsigned char *id = sqlite3_column_text(stmt, 0);
            snprintf(a->agent_id, sizeof a->agent_id, "%s", id ? (const char *)id : "");
            a->first_index = (uint32_t)sqlite3_column_int64(stmt, 1);
            a->count = (uint32_t)sqlite3_column_int64(stmt, 2);
            a->clock_offset_ns = sqlite3_column_int64(stmt, 3);
            a->clock_bound_ns = sqlite3_column_int64(stmt, 4);
            a->recorded = (uint32_t)sqlite3_column_int64(stmt, 5);
            a->arrivals = (uint32_t)sqlite3_column_int64(stmt, 6);
            a->first_ms = (double)sqlite3_column_int64(stmt, 7) / 1e6;
            a->median_ms = (double)sqlite3_column_int64(stmt, 8) / 1e6;
            a->last_ms = (double)sqlite3_column_int64(stmt, 9) / 1e6;
            a->released = sqlite3_column_int(stmt, 10) != 0;
            a->start_error_ns = sqlite3_column_int64(stmt, 11);
            a->armed = (uint32_t)sqlite3_column_int64(stmt, 12);
            a->late = (uint32_t)sqlite3_column_int64(stmt, 13);
            const unsigned char *mis = sqlite3_column_text(stmt, 14);
            snprintf(a->mis_start, sizeof a->mis_start, "%s",
                     mis ? (const char *)mis : "");
            a->path_rtt_ns = sqlite3_column_int64(stmt, 15);
            a->shift_ns = sqlite3_column_int64(stmt, 16);
        }
    } while (store_stmt_row(stmt, &rc));
    store_stmt_done(stmt);
    if (rc != SQLITE_DONE)
        return -1;
    return 0;
}

int
store_summary(store_t *self, int64_t run_id, store_summary_t *out)
{
    assert(self);
    assert(out);
    int found = store_stmt_run_row(self, STORE_SUMMARY, run_id, "summary");
    if (found != 1)
        return -1; //  no such run (0) is not an error worth a log line
    sqlite3_stmt *stmt = store_stmt(self, STORE_SUMMARY);
    memset(out, 0, sizeof *out);
    out->run_id = run_id;
    const unsigned char *status = sqlite3_column_text(stmt, 0);
    snprintf(out->status, sizeof out->status, "%s", status ? (const char *)status : "");
    out->requested = (uint32_t)sqlite3_column_int64(stmt, 1);
    out->recorded = (uint32_t)sqlite3_column_int64(stmt, 2);
    out->lost = (uint32_t)sqlite3_column_int64(stmt, 3);
    out->ok = (uint32_t)sqlite3_column_int64(stmt, 4);
    out->throttled = (uint32_t)sqlite3_column_int64(stmt, 5);
    out->errors = (uint32_t)sqlite3_column_int64(stmt, 6);
    out->cold_starts = (uint32_t)sqlite3_column_int64(stmt, 7);
    out->environments = (uint32_t)sqlite3_column_int64(stmt, 8);
    out->peak_concurrency = (uint32_t)sqlite3_column_int64(stmt, 9);
    out->p50_ms = (double)sqlite3_column_int64(stmt, 10) / 1e6;
    out->p90_ms = (double)sqlite3_column_int64(stmt, 11) / 1e6;
    out->p99_ms = (double)sqlite3_column_int64(stmt, 12) / 1e6;
    out->max_ms = (double)sqlite3_column_int64(stmt, 13) / 1e6;
    out->spread_ms = (double)sqlite3_column_int64(stmt, 14) / 1e6;
    out->wall_ms = (double)sqlite3_column_int64(stmt, 15) / 1e6;
    const unsigned char *start_mode = sqlite3_column_text(stmt, 16);
    snprintf(out->start_mode, sizeof out->start_mode, "%s",
             start_mode ? (const char *)start_mode : "");
    out->throttled_lambda = (uint32_t)sqlite3_column_int64(stmt, 17);
    out->throttled_gateway = (uint32_t)sqlite3_column_int64(stmt, 18);
    const unsigned char *door = sqlite3_column_text(stmt, 19);
    snprintf(out->door, sizeof out->door, "%s", door ? (const char *)door : "");
    const unsigned char *outcome = sqlite3_column_text(stmt, 20);
    snprintf(out->outcome, sizeof out->outcome, "%s",
             outcome ? (const char *)outcome : "");
    const unsigned char *top = sqlite3_column_text(stmt, 21);
    snprintf(out->top_error, sizeof out->top_error, "%s", top ? (const char *)top : "");
    out->top_error_count = (uint32_t)sqlite3_column_int64(stmt, 22);
    const unsigned char *reason = sqlite3_column_text(stmt, 23);
    snprintf(out->reason, sizeof out->reason, "%s", reason ? (const char *)reason : "");
    store_stmt_done(stmt);
    return 0;
}
