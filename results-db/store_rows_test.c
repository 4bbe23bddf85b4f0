/*  store_rows_test — store_rows's selftest, in a file of its own because it
    drives the rest of the store's API (the headline fixture); built into
    the selftest runner only.
*/
#include "store_api.h"
#include "store_fixture.h"
#include "store_rows.h"

#include "sp_check.h"

#include <czmq.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

static char *
s_text(json_t *value)
{
    CHECK_NOT_NULL(value);
    char *text = json_dumps(value, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(value);
    return text;
}

//  The indices of a page's rows, "0,1,2".
static void
s_indices(json_t *page, char *out, size_t size)
{
    out[0] = '\0';
    size_t i, used = 0;
    json_t *row;
    json_array_foreach(json_object_get(page, "rows"), i, row)
    {
        used += (size_t)snprintf(out + used, size - used, "%s%" JSON_INTEGER_FORMAT,
                                 i ? "," : "",
                                 json_integer_value(json_object_get(row, "index")));
        CHECK_TRUE(used < size);
    }
}

void
store_rows_test(bool verbose)
{
    (void)verbose;
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    int64_t run = store_fixture_headline(store);

    //  The original's metrics: 100 requests against reserved concurrency 5.
    char *text = s_text(store_rows_original_json(store, run));
    CHECK_STR(text, "{\"total_requests\":100,\"successful\":5,\"throttled\":95,"
                    "\"success_rate\":5.0,\"reserved_concurrency\":5,"
                    "\"avg_response_time\":3.0,\"cold_starts\":5,"
                    "\"cold_start_time\":0.25}");
    free(text);
    CHECK_NULL(store_rows_original_json(store, run + 99));
    //  Nothing throttled: no limit was met, none detected.
    int64_t empty = store_fixture_run(store, 3, NULL);
    text = s_text(store_rows_original_json(store, empty));
    CHECK_STR(text, "{\"total_requests\":3,\"successful\":0,\"throttled\":0,"
                    "\"success_rate\":0.0,\"reserved_concurrency\":null,"
                    "\"avg_response_time\":0.0,\"cold_starts\":0,"
                    "\"cold_start_time\":0.0}");
    free(text);

    //  First page, every field of a row.
    store_rows_query_t query = {.limit = 2};
    json_t *page = store_rows_page(store, run, &query);
    text = s_text(page);
    CHECK_STR(text, "{\"run_id\":1,\"total\":100,\"offset\":0,\"limit\":2,\"rows\":["
                    "{\"index\":0,\"agent_id\":\"agent-a\",\"outcome\":\"ok\","
                    "\"http_status\":200,\"latency_ms\":1.0,\"environment_id\":\"env-0\","
                    "\"cold_start\":true,\"initialization_type\":\"on-demand\","
                    "\"sent_offset_ms\":0.001,\"arrival_offset_ms\":0.5},"
                    "{\"index\":1,\"agent_id\":\"agent-a\",\"outcome\":\"ok\","
                    "\"http_status\":200,\"latency_ms\":2.0,\"environment_id\":\"env-1\","
                    "\"cold_start\":true,\"initialization_type\":\"on-demand\","
                    "\"sent_offset_ms\":0.001,\"arrival_offset_ms\":0.51}]}");
    free(text);

    //  Sorts, filters, offsets.
    static const struct {
        store_rows_query_t query;
        int64_t total;
        const char *indices;
    } cases[] = {
        {{.limit = 3, .sort = "latency", .desc = true}, 100, "99,98,97"},
        {{.limit = 3, .sort = "index", .desc = true, .offset = 1}, 100, "98,97,96"},
        {{.limit = 10, .outcome = "ok", .sort = "environment", .desc = true},
         5,
         "4,3,2,1,0"},
        {{.limit = 2, .outcome = "throttled"}, 95, "5,6"},
        {{.limit = 2, .outcome = "throttled", .offset = 94}, 95, "99"},
        {{.limit = 5, .outcome = "error"}, 0, ""},
        {{.limit = 5, .outcome = "lost"}, 0, ""},
        {{.limit = 5, .text = "ENV-3"}, 1, "3"},
        {{.limit = 2, .text = "agent-b"}, 50, "50,51"},
        {{.limit = 2, .text = "agent-b", .outcome = "ok"}, 0, ""},
        {{.limit = 2, .text = "%"}, 0, ""},
        {{.limit = 2, .sort = "environment"}, 100, "0,1"},
        {{.limit = 2, .sort = "outcome", .desc = true}, 100, "99,98"},
        {{.limit = 2, .sort = "arrival", .desc = true}, 100, "99,98"},
        {{.limit = 2, .sort = "cold_start"}, 100, "0,1"},
        {{.limit = 1, .offset = 1000}, 100, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        page = store_rows_page(store, run, &cases[i].query);
        CHECK_NOT_NULL(page);
        CHECK_INT(json_integer_value(json_object_get(page, "total")), cases[i].total);
        char indices[256];
        s_indices(page, indices, sizeof indices);
        CHECK_STR(indices, cases[i].indices);
        json_decref(page);
    }
    query = (store_rows_query_t){.limit = 1};
    CHECK_NULL(store_rows_page(store, run + 99, &query));
    page = store_rows_page(store, empty, &query);
    CHECK_INT(json_integer_value(json_object_get(page, "total")), 0);
    json_decref(page);

    //  Keyset pages of the whole run equal store_run_json's rows.
    json_t *whole = store_run_json(store, run, true);
    json_t *streamed = json_array();
    int64_t after = -1;
    for (int pages = 0; pages < 10; pages++) {
        json_t *rows = store_rows_after(store, run, after, 40);
        CHECK_NOT_NULL(rows);
        size_t n = json_array_size(rows);
        CHECK_INT(n, pages < 2 ? 40 : pages == 2 ? 20 : 0);
        if (n == 0) {
            json_decref(rows);
            break;
        }
        after = json_integer_value(json_object_get(json_array_get(rows, n - 1), "index"));
        json_array_extend(streamed, rows);
        json_decref(rows);
    }
    CHECK_TRUE(json_equal(streamed, json_object_get(whole, "requests")));
    json_decref(streamed);
    json_decref(whole);
    json_t *none = store_rows_after(store, run + 99, -1, 10);
    CHECK_INT(json_array_size(none), 0);
    json_decref(none);

    //  Progress of the ended headline run: everything done.
    text = s_text(store_rows_progress_json(store, run, 0));
    CHECK_STR(text, "{\"run_id\":1,\"status\":\"completed\",\"outcome\":\"completed\","
                    "\"error\":null,\"requested\":100,\"started_ns\":1700000000000000000,"
                    "\"finished_ns\":1700000000250000000,\"counts\":{\"ok\":5,"
                    "\"throttled\":95,\"errors\":0,\"lost\":0,\"recorded\":100,"
                    "\"pending\":0},\"agents\":[{\"agent_id\":\"agent-a\",\"count\":50,"
                    "\"recorded\":50,\"lost\":0,\"phase\":\"done\"},{\"agent_id\":"
                    "\"agent-b\",\"count\":50,\"recorded\":50,\"lost\":0,\"phase\":"
                    "\"done\"}]}");
    free(text);
    CHECK_NULL(store_rows_progress_json(store, run + 99, 0));
    //  A live run: preparing, armed, released, collecting, pending counted.
    CHECK_INT(store_agent_upsert(store, "agent-c", "host-c", "0.1.0", 64, 1), 0);
    int64_t live = store_fixture_run(store, 10, NULL);
    CHECK_INT(store_share_add(store, live, "agent-a", 0, 5, 0, 0), 0);
    CHECK_INT(store_share_add(store, live, "agent-c", 5, 5, 0, 0), 0);
    json_t *progress = store_rows_progress_json(store, live, 0);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(progress, "agents"), 0), "phase")),
              "preparing");
    CHECK_INT(json_integer_value(
                  json_object_get(json_object_get(progress, "counts"), "pending")),
              10);
    json_decref(progress);
    int64_t start = STORE_FIXTURE_BASE + 1000 * STORE_FIXTURE_MS;
    CHECK_INT(store_run_set_status(store, live, "running", start, 0, NULL), 0);
    progress = store_rows_progress_json(store, live, start - 1);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(progress, "agents"), 1), "phase")),
              "armed");
    json_decref(progress);
    store_result_t two[2] = {store_fixture_row(0, "ok", 200),
                             store_fixture_row(1, "throttled", 429)};
    CHECK_INT(store_results_insert(store, live, "agent-a", two, 2), 0);
    progress = store_rows_progress_json(store, live, start + 1);
    json_t *agents = json_object_get(progress, "agents");
    CHECK_STR(json_string_value(json_object_get(json_array_get(agents, 0), "phase")),
              "collecting");
    CHECK_STR(json_string_value(json_object_get(json_array_get(agents, 1), "phase")),
              "released");
    json_t *counts = json_object_get(progress, "counts");
    CHECK_INT(json_integer_value(json_object_get(counts, "ok")), 1);
    CHECK_INT(json_integer_value(json_object_get(counts, "throttled")), 1);
    CHECK_INT(json_integer_value(json_object_get(counts, "pending")), 8);
    json_decref(progress);
    //  Failed: the unfinished shares say why, pending ends.
    CHECK_INT(store_mark_lost(store, live, "agent-c", 5, 5, "agent agent-c disconnected"),
              5);
    CHECK_INT(store_mark_lost(store, live, "agent-a", 0, 5, "agent agent-a disconnected"),
              3);
    CHECK_INT(store_run_set_status(store, live, "failed", 0, start + 2, "agents lost"),
              0);
    progress = store_rows_progress_json(store, live, start + 3);
    counts = json_object_get(progress, "counts");
    CHECK_INT(json_integer_value(json_object_get(counts, "pending")), 0);
    CHECK_INT(json_integer_value(json_object_get(counts, "lost")), 8);
    CHECK_STR(json_string_value(json_object_get(progress, "error")), "agents lost");
    agents = json_object_get(progress, "agents");
    CHECK_STR(json_string_value(json_object_get(json_array_get(agents, 1), "phase")),
              json_string_value(json_object_get(progress, "outcome")));
    json_decref(progress);

    //  Charts: latencies 1..100 ms in 5 ms bins, the five invocations.
    json_t *charts = store_rows_charts_json(store, run);
    CHECK_NOT_NULL(charts);
    json_t *latency = json_object_get(charts, "latency");
    CHECK_TRUE(json_real_value(json_object_get(latency, "bin_ms")) == 5.0);
    text = json_dumps(json_object_get(latency, "ok"), JSON_COMPACT);
    CHECK_STR(text, "[4,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]");
    free(text);
    text = json_dumps(json_object_get(latency, "throttled"), JSON_COMPACT);
    CHECK_STR(text, "[0,4,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,6]");
    free(text);
    json_t *invocations = json_object_get(charts, "invocations");
    CHECK_INT(json_array_size(invocations), 5);
    json_t *third = json_array_get(invocations, 2);
    CHECK_STR(json_string_value(json_object_get(third, "environment_id")), "env-2");
    CHECK_TRUE(fabs(json_real_value(json_object_get(third, "start_ms")) - 1.002) < 1e-9);
    CHECK_TRUE(fabs(json_real_value(json_object_get(third, "end_ms")) - 80.002) < 1e-9);
    CHECK_TRUE(json_is_true(json_object_get(third, "cold_start")));
    json_t *throttles = json_object_get(charts, "throttles");
    CHECK_INT(json_integer_value(json_object_get(throttles, "count")), 95);
    CHECK_TRUE(fabs(json_real_value(json_object_get(throttles, "first_ms")) - 0.55) <
               1e-9);
    CHECK_TRUE(fabs(json_real_value(json_object_get(throttles, "last_ms")) - 1.49) <
               1e-9);
    json_decref(charts);
    CHECK_NULL(store_rows_charts_json(store, run + 99));
    charts = store_rows_charts_json(store, empty);
    CHECK_TRUE(
        json_is_null(json_object_get(json_object_get(charts, "throttles"), "first_ms")));
    json_decref(charts);

    //  The checks a caller makes first.
    const char *sorts[] = {"index",       "agent",      "outcome",   "status", "latency",
                           "environment", "cold_start", "init_type", "sent",   "arrival"};
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
        CHECK_TRUE(store_rows_sort_ok(sorts[i]));
    CHECK_TRUE(!store_rows_sort_ok("request_index; DROP TABLE runs"));
    CHECK_TRUE(!store_rows_sort_ok(NULL));
    CHECK_TRUE(store_rows_outcome_ok("error"));
    CHECK_TRUE(!store_rows_outcome_ok("http_error"));
    CHECK_TRUE(!store_rows_outcome_ok(NULL));
    store_destroy(&store);
}
