/*  store_views_test — store_views's selftest, in a file of its own because it drives
    the rest of the store's API too; built into the selftest runner only,
    so store_views.c includes nothing above it.
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
s_test_json(store_t *store, int64_t headline_id)
{
    //  The newest first; the limit caps the list.
    int64_t latest = store_latest_run(store);
    CHECK_TRUE(latest > headline_id);
    json_t *runs = store_runs_json(store, 2);
    CHECK_NOT_NULL(runs);
    CHECK_INT(json_array_size(runs), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(runs, 0), "run_id")),
              latest);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(runs, 1), "run_id")),
              latest - 1);
    json_decref(runs);
    runs = store_runs_json(store, 0);
    CHECK_INT(json_array_size(runs), 0);
    json_decref(runs);
    runs = store_runs_json(store, STORE_RUNS_LIMIT_MAX + 1);
    CHECK_INT(json_array_size(runs), latest);
    CHECK_INT(
        json_integer_value(json_object_get(json_array_get(runs, latest - 1), "run_id")),
        1);
    json_decref(runs);

    //  One run: every field, shares in index order, rows on request.
    json_t *run = store_run_json(store, headline_id, false);
    CHECK_NOT_NULL(run);
    CHECK_NULL(json_object_get(run, "requests"));
    json_object_del(run, "created_ns"); //  fixed, but long to spell out
    char *text = json_dumps(run, JSON_COMPACT | JSON_REAL_PRECISION(15));
    CHECK_STR(text,
              "{\"run_id\":1,\"status\":\"completed\",\"outcome\":\"completed\","
              "\"started_ns\":1700000000000000000,"
              "\"finished_ns\":1700000000250000000,"
              "\"url\":\"http://127.0.0.1:9/2015-03-31/functions/f/invocations\","
              "\"method\":\"POST\",\"start_mode\":\"last_byte\",\"door\":\"invoke\","
              "\"requested\":100,"
              "\"agents\":2,"
              "\"label\":\"reserved=5\",\"error\":null,\"reserved_configured\":null,"
              "\"summary\":{\"ok\":5,\"throttled\":95,\"throttled_lambda\":95,"
              "\"throttled_gateway\":0,\"errors\":0,\"lost\":0,"
              "\"recorded\":100,\"cold_starts\":5,\"environments\":5,"
              "\"peak_concurrency\":5,\"p50_ms\":50.0,\"p90_ms\":90.0,\"p99_ms\":99.0,"
              "\"max_ms\":100.0,\"spread_ms\":0.99,\"wall_ms\":250.0},"
              "\"shares\":[{\"agent_id\":\"agent-a\",\"first_index\":0,\"count\":50,"
              "\"clock_offset_ns\":-1200,\"clock_error_ns\":300,"
              "\"released_ns\":1700000000000040000,\"start_error_ns\":40000,"
              "\"release_span_ns\":30000,\"armed\":50,\"late\":0,\"mis_start\":null,"
              "\"path_rtt_ns\":null,\"shift_ns\":0},"
              "{\"agent_id\":\"agent-b\",\"first_index\":50,\"count\":50,"
              "\"clock_offset_ns\":800,\"clock_error_ns\":250,"
              "\"released_ns\":1700000000000055000,\"start_error_ns\":55000,"
              "\"release_span_ns\":30000,\"armed\":50,\"late\":0,\"mis_start\":null,"
              "\"path_rtt_ns\":null,\"shift_ns\":0}]}");
    free(text);
    json_decref(run);

    run = store_run_json(store, headline_id, true);
    json_t *requests = json_object_get(run, "requests");
    CHECK_INT(json_array_size(requests), 100);
    json_t *row = json_array_get(requests, 4);
    CHECK_INT(json_integer_value(json_object_get(row, "index")), 4);
    CHECK_STR(json_string_value(json_object_get(row, "environment_id")), "env-4");
    CHECK_TRUE(json_is_true(json_object_get(row, "cold_start")));
    CHECK_REAL(json_real_value(json_object_get(row, "latency_ms")), 5.0);
    row = json_array_get(requests, 99);
    CHECK_STR(json_string_value(json_object_get(row, "outcome")), "throttled");
    CHECK_TRUE(json_is_null(json_object_get(row, "cold_start")));
    CHECK_TRUE(json_is_null(json_object_get(row, "invocation_count")));
    CHECK_INT(json_integer_value(json_object_get(row, "http_status")), 429);
    json_decref(run);
    CHECK_NULL(store_run_json(store, latest + 1, true));
}

//  Text that is not UTF-8 still makes valid JSON.
static void
s_test_bad_text(store_t *store)
{
    int64_t run_id = store_fixture_run(store, 1, "caf\xc3\xa9");
    store_result_t row = store_fixture_row(0, "function_error", 200);
    row.error = "bad \xff byte";
    CHECK_INT(store_results_insert(store, run_id, "agent-a", &row, 1), 0);
    json_t *run = store_run_json(store, run_id, true);
    CHECK_NOT_NULL(run);
    CHECK_STR(json_string_value(json_object_get(run, "label")), "caf\xc3\xa9");
    json_t *first = json_array_get(json_object_get(run, "requests"), 0);
    CHECK_STR(json_string_value(json_object_get(first, "error")), "bad ? byte");
    json_decref(run);
}

//  The ids of the runs query keeps, newest first, as "7,5,…".
static void
s_ids(store_t *store, const store_runs_query_t *query, char *out, size_t size)
{
    json_t *runs = store_runs_find_json(store, query);
    CHECK_NOT_NULL(runs);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(runs); i++)
        used += (size_t)snprintf(
            out + used, size - used, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
            json_integer_value(json_object_get(json_array_get(runs, i), "run_id")));
    json_decref(runs);
}

//  The run list's filters: outcome (or status while there is none), a
//  substring of URL or label in any case, creation instants.
static void
s_test_filters(void)
{
    char err[256], ids[128];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    const struct {
        const char *url, *label, *status;
        int64_t created_ns;
    } runs[] = {{"http://127.0.0.1:9/url/demo/", "sweep reserved=5", "completed", 100},
                {"http://127.0.0.1:9/url/OTHER/", NULL, "failed", 200},
                {"http://127.0.0.1:9/url/demo/", NULL, "running", 300},
                {"http://127.0.0.1:9/restapi/x/", "Nightly", "completed", 400}};
    for (size_t i = 0; i < 4; i++) {
        store_run_t run = {.url = runs[i].url,
                           .method = "GET",
                           .requested = 1,
                           .agents = 1,
                           .created_ns = runs[i].created_ns,
                           .label = runs[i].label};
        int64_t id = store_run_create(store, &run);
        CHECK_INT(id, (int64_t)i + 1);
        if (strcmp(runs[i].status, "running") == 0)
            CHECK_INT(store_run_set_status(store, id, "running", 1, 0, NULL), 0);
        else
            CHECK_INT(store_run_set_status(store, id, runs[i].status, 1, 2, NULL), 0);
    }
    s_ids(store, &(store_runs_query_t){.limit = 10}, ids, sizeof ids);
    CHECK_STR(ids, "4,3,2,1");
    s_ids(store, &(store_runs_query_t){.limit = 10, .outcome = "completed"}, ids,
          sizeof ids);
    CHECK_STR(ids, "4,1");
    s_ids(store, &(store_runs_query_t){.limit = 10, .outcome = "running"}, ids,
          sizeof ids);
    CHECK_STR(ids, "3");
    s_ids(store, &(store_runs_query_t){.limit = 10, .text = "Demo"}, ids, sizeof ids);
    CHECK_STR(ids, "3,1");
    s_ids(store, &(store_runs_query_t){.limit = 10, .text = "other"}, ids, sizeof ids);
    CHECK_STR(ids, "2");
    s_ids(store, &(store_runs_query_t){.limit = 10, .text = "nightly"}, ids, sizeof ids);
    CHECK_STR(ids, "4");
    s_ids(store, &(store_runs_query_t){.limit = 10, .text = "%"}, ids, sizeof ids);
    CHECK_STR(ids, "");
    s_ids(store, &(store_runs_query_t){.limit = 10, .since_ns = 200, .until_ns = 400},
          ids, sizeof ids);
    CHECK_STR(ids, "3,2");
    s_ids(store,
          &(store_runs_query_t){
              .limit = 1, .outcome = "completed", .text = "demo", .since_ns = 50},
          ids, sizeof ids);
    CHECK_STR(ids, "1");
    CHECK_TRUE(store_runs_outcome_ok("completed_with_losses"));
    CHECK_TRUE(store_runs_outcome_ok("pending"));
    CHECK_TRUE(!store_runs_outcome_ok("ok"));
    CHECK_TRUE(!store_runs_outcome_ok(NULL));
    store_destroy(&store);
}

void
store_views_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    json_t *none = store_runs_json(store, 10);
    CHECK_INT(json_array_size(none), 0);
    json_decref(none);
    int64_t headline_id = store_fixture_history(store);
    CHECK_INT(headline_id, 1);
    s_test_json(store, headline_id);
    s_test_bad_text(store);
    store_destroy(&store);
    s_test_filters();
}
