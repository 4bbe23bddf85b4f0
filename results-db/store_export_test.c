/*  store_export_test — store_export's selftest, in a file of its own because it drives
    the rest of the store's API too; built into the selftest runner only,
    so store_export.c includes nothing above it.
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

//  A tiny run whose export text is known byte for byte.
static void
s_test_export(store_t *store)
{
    int64_t run_id = store_fixture_run(store, 3, "export");
    store_result_t rows[2] = {
        {.index = 0,
         .outcome = "ok",
         .http_status = 200,
         .scheduled_ns = 100,
         .sent_ns = 110,
         .first_byte_ns = 1500110,
         .done_ns = 2500110,
         .received_ns = 120,
         .bytes = 42,
         .reused = false,
         .request_id = "req-1",
         .environment_id = "env-1",
         .cold_start = 1,
         .cold_start_time = 0.5,
         .initialization_type = "on-demand",
         .invocation_count = 1,
         .function_started_ns = 130,
         .function_finished_ns = 140,
         .error = NULL,
         .door = "function_url"},
        {.index = 2,
         .outcome = "http_error",
         .http_status = 502,
         .scheduled_ns = 100,
         .sent_ns = 111,
         .first_byte_ns = 0,
         .done_ns = 1000111,
         .bytes = 0,
         .reused = true,
         .cold_start = -1,
         .invocation_count = -1,
         .door = "apigw_rest",
         .error = "bad \"gateway\", retry\nlater"},
    };
    CHECK_INT(store_results_insert(store, run_id, "agent-a", rows, 2), 0);
    CHECK_INT(store_mark_lost(store, run_id, "agent-b", 1, 1, "agent vanished"), 1);

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    CHECK_NOT_NULL(out);
    CHECK_INT(store_export(store, run_id, "csv", out), 0);
    CHECK_INT(fclose(out), 0);
    CHECK_STR(text,
              "index,agent_id,outcome,http_status,scheduled_ns,sent_ns,first_byte_ns,"
              "done_ns,received_ns,bytes,reused,request_id,environment_id,cold_start,"
              "cold_start_time,initialization_type,invocation_count,function_started_ns,"
              "function_finished_ns,error,door,throttle_source,throttle_reason,"
              "latency_ms\r\n"
              "0,agent-a,ok,200,100,110,1500110,2500110,120,42,false,req-1,env-1,true,"
              "0.5,on-demand,1,130,140,,function_url,,,2.5\r\n"
              "1,agent-b,lost,0,0,0,0,0,0,0,false,,,,0.0,,,0,0,agent vanished,,,,\r\n"
              "2,agent-a,http_error,502,100,111,0,1000111,0,0,true,,,,0.0,,,0,0,"
              "\"bad \"\"gateway\"\", retry\nlater\",apigw_rest,,,1.0\r\n");

    //  The same text a page at a time: the header, then pages of 2.
    char *paged = NULL;
    size_t paged_size = 0;
    out = open_memstream(&paged, &paged_size);
    CHECK_NOT_NULL(out);
    CHECK_INT(store_export_csv_header(out), 0);
    int64_t last = -1;
    CHECK_INT(store_export_csv_page(store, run_id, last, 2, out, &last), 2);
    CHECK_INT(last, 1);
    CHECK_INT(store_export_csv_page(store, run_id, last, 2, out, &last), 1);
    CHECK_INT(last, 2);
    CHECK_INT(store_export_csv_page(store, run_id, last, 2, out, &last), 0);
    CHECK_INT(last, 2);
    CHECK_INT(store_export_csv_page(store, run_id + 1000, -1, 2, out, &last), 0);
    CHECK_INT(fclose(out), 0);
    CHECK_STR(paged, text);
    free(paged);
    free(text);

    //  Text the target wrote that a spreadsheet would run as a formula is
    //  written as text; numbers, negative ones too, stay numbers.
    int64_t formulas = store_fixture_run(store, 2, "formulas");
    store_result_t planted[2] = {
        {.index = 0,
         .outcome = "http_error",
         .http_status = 500,
         .scheduled_ns = -5,
         .request_id = "+1",
         .environment_id = "@SUM(A1)",
         .cold_start = -1,
         .invocation_count = -1,
         .error = "=HYPERLINK(\"http://x\",\"y\")"},
        {.index = 1,
         .outcome = "http_error",
         .http_status = 500,
         .request_id = "-2",
         .environment_id = "\tenv",
         .cold_start = -1,
         .invocation_count = -1,
         .error = "\rline"},
    };
    CHECK_INT(store_results_insert(store, formulas, "agent-a", planted, 2), 0);
    out = open_memstream(&text, &size);
    CHECK_NOT_NULL(out);
    last = -1;
    CHECK_INT(store_export_csv_page(store, formulas, last, 10, out, &last), 2);
    CHECK_INT(fclose(out), 0);
    CHECK_STR(text,
              "0,agent-a,http_error,500,-5,0,0,0,0,0,false,\"'+1\",\"'@SUM(A1)\",,0.0,"
              ",,0,0,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",,,,0.0\r\n"
              "1,agent-a,http_error,500,0,0,0,0,0,0,false,\"'-2\",\"'\tenv\",,0.0,,,0,"
              "0,\"'\rline\",,,,0.0\r\n");
    free(text);

    out = open_memstream(&text, &size);
    CHECK_NOT_NULL(out);
    CHECK_INT(store_export(store, run_id, "json", out), 0);
    CHECK_INT(fclose(out), 0);
    CHECK_STR(
        text,
        "[\n"
        "{\"index\":0,\"agent_id\":\"agent-a\",\"outcome\":\"ok\",\"http_status\":200,"
        "\"scheduled_ns\":100,\"sent_ns\":110,\"first_byte_ns\":1500110,"
        "\"done_ns\":2500110,\"received_ns\":120,\"bytes\":42,\"reused\":false,"
        "\"request_id\":\"req-1\",\"environment_id\":\"env-1\",\"cold_start\":true,"
        "\"cold_start_time\":0.5,\"initialization_type\":\"on-demand\","
        "\"invocation_count\":1,\"function_started_ns\":130,"
        "\"function_finished_ns\":140,\"error\":null,\"door\":\"function_url\","
        "\"throttle_source\":null,\"throttle_reason\":null,\"latency_ms\":2.5},\n"
        "{\"index\":1,\"agent_id\":\"agent-b\",\"outcome\":\"lost\",\"http_status\":0,"
        "\"scheduled_ns\":0,\"sent_ns\":0,\"first_byte_ns\":0,\"done_ns\":0,"
        "\"received_ns\":0,\"bytes\":0,\"reused\":false,\"request_id\":null,"
        "\"environment_id\":null,\"cold_start\":null,\"cold_start_time\":0.0,"
        "\"initialization_type\":null,\"invocation_count\":null,"
        "\"function_started_ns\":0,\"function_finished_ns\":0,"
        "\"error\":\"agent vanished\",\"door\":null,\"throttle_source\":null,"
        "\"throttle_reason\":null,\"latency_ms\":null},\n"
        "{\"index\":2,\"agent_id\":\"agent-a\",\"outcome\":\"http_error\","
        "\"http_status\":502,\"scheduled_ns\":100,\"sent_ns\":111,"
        "\"first_byte_ns\":0,\"done_ns\":1000111,\"received_ns\":0,\"bytes\":0,"
        "\"reused\":true,\"request_id\":null,\"environment_id\":null,"
        "\"cold_start\":null,\"cold_start_time\":0.0,\"initialization_type\":null,"
        "\"invocation_count\":null,\"function_started_ns\":0,"
        "\"function_finished_ns\":0,"
        "\"error\":\"bad \\\"gateway\\\", retry\\nlater\",\"door\":\"apigw_rest\","
        "\"throttle_source\":null,\"throttle_reason\":null,\"latency_ms\":1.0}\n"
        "]\n");
    free(text);

    //  Nothing is written for an unknown format or run; an empty run is [].
    out = open_memstream(&text, &size);
    CHECK_NOT_NULL(out);
    CHECK_INT(store_export(store, run_id, "xml", out), -1);
    CHECK_INT(store_export(store, run_id + 1000, "csv", out), -1);
    int64_t empty = store_fixture_run(store, 0, NULL);
    CHECK_INT(store_export(store, empty, "json", out), 0);
    CHECK_INT(fclose(out), 0);
    CHECK_STR(text, "[]\n");
    free(text);
}

void
store_export_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    s_test_export(store);
    store_destroy(&store);
}
