/*  store_summary_test — store_summary's selftest, in a file of its own because it drives
    the rest of the store's API too; built into the selftest runner only,
    so store_summary.c includes nothing above it.
*/
#include "store_api.h"
#include "store_fixture.h"
#include "store_schema.h"
#include "store_stmt.h"

#include "sp_check.h"

#include <czmq.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
s_test_peak_edges(store_t *store)
{
    //  [0,10) and [10,20) touch but do not overlap; [5,15) overlaps both;
    //  [12,12) is empty; a finish before its start and a start without a
    //  finish are not intervals.
    static const int64_t spans[][2] = {{100, 110}, {110, 120}, {105, 115},
                                       {112, 112}, {130, 125}, {140, 0}};
    const size_t count = sizeof spans / sizeof spans[0];
    int64_t run_id = store_fixture_run(store, (uint32_t)count, NULL);
    store_result_t rows[6];
    for (size_t i = 0; i < count; i++) {
        rows[i] = store_fixture_row((uint32_t)i, "ok", 200);
        rows[i].function_started_ns = spans[i][0];
        rows[i].function_finished_ns = spans[i][1];
    }
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 2), 0);
    store_summary_t s;
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.peak_concurrency, 1);
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows + 2, count - 2), 0);
    CHECK_INT(store_summary(store, run_id, &s), 0);
    CHECK_INT(s.peak_concurrency, 2);
    //  All latencies are 0 and nothing reported a receive time.
    CHECK_REAL(s.p99_ms, 0.0);
    CHECK_REAL(s.spread_ms, 0.0);
    CHECK_REAL(s.wall_ms, 0.0);
}

//  Differential test: the summary SQL against a naive C reference on random
//  runs (fixed seed), including ties, empty intervals and bad intervals.
typedef struct {
    uint64_t state;
} s_rng_t;

static uint32_t
s_rng_next(s_rng_t *rng, uint32_t bound)
{
    //  xorshift64*: deterministic on every platform, unlike rand().
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return (uint32_t)((rng->state * UINT64_C(2685821657736338717)) >> 32) % bound;
}

static int
s_compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t
s_naive_rank(const int64_t *sorted, size_t n, unsigned percent)
{
    if (n == 0)
        return 0;
    size_t product = percent * n;
    size_t rank = product / 100 + (product % 100 != 0);
    return sorted[rank - 1];
}

static void
s_test_differential(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    static const char *const outcomes[] = {"ok", "throttled", "http_error", "timeout",
                                           "lost"};
    static const int statuses[] = {200, 429, 502, 0, 0};
    static const char *const envs[] = {"e1", "e2", "e3", "", NULL};
    static const char *const sources[] = {"lambda", "lambda_via_gateway", "gateway",
                                          "http"};
    s_rng_t rng = {UINT64_C(0x5eed5eed5eed5eed)};
    enum { RUNS = 300, MAX_ROWS = 64 };
    for (int run = 0; run < RUNS; run++) {
        uint32_t requested = 1 + s_rng_next(&rng, MAX_ROWS);
        int64_t run_id = store_fixture_run(store, requested, NULL);
        store_result_t rows[MAX_ROWS];
        size_t n = 0;
        for (uint32_t i = 0; i < requested; i++) {
            if (s_rng_next(&rng, 8) == 0)
                continue; //  never arrived: counts as lost
            uint32_t kind = s_rng_next(&rng, 5);
            int64_t sent = 1000 + s_rng_next(&rng, 5);
            int64_t fs = s_rng_next(&rng, 4) ? 1 + s_rng_next(&rng, 30) : 0;
            uint32_t shape = s_rng_next(&rng, 6);
            int64_t ff = shape == 0 ? 0 : shape == 1 ? fs - 1 : fs + s_rng_next(&rng, 8);
            rows[n++] = (store_result_t){
                .index = i,
                .outcome = outcomes[kind],
                .throttle_source = kind == 1 ? sources[s_rng_next(&rng, 4)] : NULL,
                .http_status = statuses[kind],
                .sent_ns = sent,
                .done_ns = sent + (int64_t)s_rng_next(&rng, 20) * 250000,
                .received_ns = s_rng_next(&rng, 3) ? 500 + s_rng_next(&rng, 1000) : 0,
                .environment_id = envs[s_rng_next(&rng, 5)],
                .cold_start = (int)s_rng_next(&rng, 3) - 1,
                .invocation_count = -1,
                .function_started_ns = fs,
                .function_finished_ns = ff,
            };
        }
        CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, n), 0);

        //  The reference, written the obvious way.
        uint32_t recorded = 0, ok = 0, throttled = 0, errors = 0, cold = 0;
        uint32_t by_lambda = 0, by_gateway = 0;
        uint32_t environments = 0, peak = 0, received = 0;
        int64_t latency[MAX_ROWS], rmin = INT64_MAX, rmax = 0;
        size_t responses = 0;
        bool seen[3] = {false, false, false};
        for (size_t i = 0; i < n; i++) {
            const store_result_t *r = &rows[i];
            bool lost = strcmp(r->outcome, "lost") == 0;
            recorded += !lost;
            ok += strcmp(r->outcome, "ok") == 0;
            throttled += strcmp(r->outcome, "throttled") == 0;
            if (r->throttle_source) {
                by_lambda += strncmp(r->throttle_source, "lambda", 6) == 0;
                by_gateway += strcmp(r->throttle_source, "gateway") == 0;
            }
            errors +=
                !lost && strcmp(r->outcome, "ok") && strcmp(r->outcome, "throttled");
            cold += r->cold_start == 1;
            for (int e = 0; e < 3; e++) {
                if (r->environment_id && strcmp(r->environment_id, envs[e]) == 0 &&
                    !seen[e]) {
                    seen[e] = true;
                    environments++;
                }
            }
            if (r->http_status > 0)
                latency[responses++] = r->done_ns - r->sent_ns;
            if (r->received_ns > 0) {
                received++;
                rmin = r->received_ns < rmin ? r->received_ns : rmin;
                rmax = r->received_ns > rmax ? r->received_ns : rmax;
            }
            //  Overlap at each start instant: intervals with s <= t < f.
            const int64_t t = r->function_started_ns;
            if (t > 0 && r->function_finished_ns >= t) {
                uint32_t live = 0;
                for (size_t j = 0; j < n; j++) {
                    const store_result_t *q = &rows[j];
                    live += q->function_started_ns > 0 &&
                            q->function_finished_ns >= q->function_started_ns &&
                            q->function_started_ns <= t && t < q->function_finished_ns;
                }
                peak = live > peak ? live : peak;
            }
        }
        qsort(latency, responses, sizeof latency[0], s_compare_i64);

        store_summary_t s;
        CHECK_INT(store_summary(store, run_id, &s), 0);
        CHECK_INT(s.recorded, recorded);
        CHECK_INT(s.lost, requested - recorded);
        CHECK_INT(s.ok, ok);
        CHECK_INT(s.throttled, throttled);
        CHECK_INT(s.throttled_lambda, by_lambda);
        CHECK_INT(s.throttled_gateway, by_gateway);
        CHECK_INT(s.errors, errors);
        CHECK_INT(s.cold_starts, cold);
        CHECK_INT(s.environments, environments);
        CHECK_INT(s.peak_concurrency, peak);
        CHECK_REAL(s.p50_ms, (double)s_naive_rank(latency, responses, 50) / 1e6);
        CHECK_REAL(s.p90_ms, (double)s_naive_rank(latency, responses, 90) / 1e6);
        CHECK_REAL(s.p99_ms, (double)s_naive_rank(latency, responses, 99) / 1e6);
        CHECK_REAL(s.max_ms, responses ? (double)latency[responses - 1] / 1e6 : 0.0);
        CHECK_REAL(s.spread_ms, received >= 2 ? (double)(rmax - rmin) / 1e6 : 0.0);
    }
    if (verbose)
        printf("differential runs=%d ", RUNS);
    store_destroy(&store);
}

//  Per agent: share, clock at the instant, arrivals relative to it.
static void
s_test_agents(void)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    int64_t run_id = store_fixture_headline(store);
    store_agent_summary_t agents[4];
    size_t n = 99;
    CHECK_INT(store_summary_agents(store, run_id, agents, 4, &n), 0);
    CHECK_INT(n, 2);
    //  agent-a: rows 0..49 arrived 0.50 + i * 0.01 ms after the instant.
    CHECK_STR(agents[0].agent_id, "agent-a");
    CHECK_INT(agents[0].first_index, 0);
    CHECK_INT(agents[0].count, 50);
    CHECK_INT(agents[0].clock_offset_ns, -1200);
    CHECK_INT(agents[0].clock_bound_ns, 300);
    CHECK_INT(agents[0].recorded, 50);
    CHECK_INT(agents[0].arrivals, 50);
    CHECK_TRUE(agents[0].first_ms == 0.5);
    CHECK_TRUE(agents[0].median_ms == 0.74);
    CHECK_TRUE(agents[0].last_ms == 0.99);
    CHECK_STR(agents[1].agent_id, "agent-b");
    CHECK_INT(agents[1].first_index, 50);
    CHECK_TRUE(agents[1].first_ms == 1.0);
    CHECK_TRUE(agents[1].median_ms == 1.24);
    CHECK_TRUE(agents[1].last_ms == 1.49);
    //  Room for one: the first only.
    CHECK_INT(store_summary_agents(store, run_id, agents, 1, &n), 0);
    CHECK_INT(n, 1);
    //  A share whose rows were all lost: nothing arrived.
    int64_t lost_run = store_fixture_run(store, 2, NULL);
    CHECK_INT(store_share_add(store, lost_run, "agent-a", 0, 2, 0, 0), 0);
    CHECK_INT(store_mark_lost(store, lost_run, "agent-a", 0, 2, "gone"), 2);
    CHECK_INT(store_summary_agents(store, lost_run, agents, 4, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(agents[0].recorded, 0);
    CHECK_INT(agents[0].arrivals, 0);
    CHECK_TRUE(agents[0].first_ms == 0 && agents[0].last_ms == 0);
    //  The most frequent error text of the failed rows, ties to the smaller.
    store_summary_t sum;
    CHECK_INT(store_summary(store, run_id, &sum), 0);
    CHECK_STR(sum.top_error, "");
    CHECK_INT(sum.top_error_count, 0);
    int64_t failing = store_fixture_run(store, 4, NULL);
    store_result_t bad[4] = {store_fixture_row(0, "connect_error", 0),
                             store_fixture_row(1, "connect_error", 0),
                             store_fixture_row(2, "other_error", 0),
                             store_fixture_row(3, "throttled", 429)};
    bad[0].error = bad[1].error = "Failed to connect";
    bad[2].error = "SSL certificate problem: self-signed certificate";
    bad[3].throttle_source = "lambda";
    CHECK_INT(store_results_insert(store, failing, "agent-a", bad, 4), 0);
    CHECK_INT(store_summary(store, failing, &sum), 0);
    CHECK_STR(sum.top_error, "Failed to connect");
    CHECK_INT(sum.top_error_count, 2);

    //  A run without shares, and no run at all: no agents.
    int64_t bare = store_fixture_run(store, 1, NULL);
    CHECK_INT(store_summary_agents(store, bare, agents, 4, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(store_summary_agents(store, bare + 99, agents, 4, &n), 0);
    CHECK_INT(n, 0);
    store_destroy(&store);
}

void
store_summary_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    store_summary_t s;
    CHECK_INT(store_summary(store, 1, &s), -1); //  no such run
    s_test_peak_edges(store);
    int64_t run_id = store_latest_run(store);
    CHECK_INT(store_summary(store, run_id + 1000, &s), -1);
    store_destroy(&store);
    s_test_agents();
    s_test_differential(verbose);
}
