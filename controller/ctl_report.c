/*  ctl_report — run summaries as text and JSON; see ctl_report.h. */
#include "ctl_report.h"
#include "sp_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

//  Milliseconds rounded to the microsecond, as a JSON real.
static json_t *
s_ms(double ms)
{
    return json_real(round(ms * 1000.0) / 1000.0);
}

json_t *
ctl_report_json(const ctl_report_t *report)
{
    assert(report && report->summary && report->db_path);
    const store_summary_t *s = report->summary;
    json_t *object = json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:s}",
        "run_id", (json_int_t)s->run_id, "status", s->status, "outcome", s->outcome,
        "start_mode", s->start_mode, "door", s->door, "requested",
        (json_int_t)s->requested, "recorded", (json_int_t)s->recorded, "ok",
        (json_int_t)s->ok, "throttled", (json_int_t)s->throttled, "throttled_lambda",
        (json_int_t)s->throttled_lambda, "throttled_gateway",
        (json_int_t)s->throttled_gateway, "errors", (json_int_t)s->errors, "lost",
        (json_int_t)s->lost, "environments", (json_int_t)s->environments, "cold_starts",
        (json_int_t)s->cold_starts, "peak_concurrency", (json_int_t)s->peak_concurrency,
        "partial", s->lost > 0, "p50_ms", s_ms(s->p50_ms), "p90_ms", s_ms(s->p90_ms),
        "p99_ms", s_ms(s->p99_ms), "max_ms", s_ms(s->max_ms), "spread_ms",
        s_ms(s->spread_ms), "wall_ms", s_ms(s->wall_ms), "db", report->db_path);
    json_t *agents = json_array();
    for (size_t i = 0; object && agents && i < report->n_agents; i++) {
        const store_agent_summary_t *a = &report->agents[i];
        json_t *agent = json_pack(
            "{s:s, s:I, s:I, s:I, s:o, s:o, s:I, s:o, s:o, s:o}", "agent_id", a->agent_id,
            "first_index", (json_int_t)a->first_index, "count", (json_int_t)a->count,
            "recorded", (json_int_t)a->recorded, "clock_offset_ms",
            s_ms((double)a->clock_offset_ns / 1e6), "clock_bound_ms",
            s_ms((double)a->clock_bound_ns / 1e6), "arrivals", (json_int_t)a->arrivals,
            "arrival_first_ms", s_ms(a->first_ms), "arrival_median_ms",
            s_ms(a->median_ms), "arrival_last_ms", s_ms(a->last_ms));
        //  When it released: null when it never did (nothing was left to
        //  release at the instant).
        if (agent)
            json_object_set_new(
                agent, "release",
                a->released
                    ? json_pack("{s:o, s:I, s:I, s:o}", "start_error_ms",
                                s_ms((double)a->start_error_ns / 1e6), "armed",
                                (json_int_t)a->armed, "late", (json_int_t)a->late,
                                "mis_start",
                                a->mis_start[0] ? json_string(a->mis_start) : json_null())
                    : json_null());
        //  Its path: the shortest handshake measured while arming (null
        //  when unknown) and the shift --compensate-path gave its instant.
        if (agent) {
            json_object_set_new(agent, "path_rtt_ms",
                                a->path_rtt_ns > 0 ? s_ms((double)a->path_rtt_ns / 1e6)
                                                   : json_null());
            json_object_set_new(agent, "shift_ms", s_ms((double)a->shift_ns / 1e6));
        }
        json_array_append_new(agents, agent);
    }
    if (object)
        json_object_set_new(object, "top_error",
                            s->top_error_count
                                ? json_pack("{s:s, s:I}", "text", s->top_error, "count",
                                            (json_int_t)s->top_error_count)
                                : json_null());
    if (object)
        json_object_set_new(object, "agents", agents ? agents : json_array());
    else
        json_decref(agents);
    if (object && report->error && *report->error)
        json_object_set_new(object, "error", json_string(report->error));
    return object;
}

int
ctl_report_expect(const store_summary_t *s, const ctl_expect_t *expect, json_t *json,
                  FILE *err)
{
    assert(s && expect && err);
    const struct {
        const char *name;
        int64_t expected;
        uint32_t actual;
    } checks[] = {{"ok", expect->ok, s->ok},
                  {"throttled", expect->throttled, s->throttled},
                  {"errors", expect->errors, s->errors},
                  {"lost", expect->lost, s->lost}};
    json_t *expected = json ? json_object() : NULL;
    int missed = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].expected < 0)
            continue;
        if (expected)
            json_object_set_new(expected, checks[i].name,
                                json_integer(checks[i].expected));
        if (checks[i].expected != (int64_t)checks[i].actual) {
            fprintf(err, "stampede run: expected %" PRId64 " %s, got %u\n",
                    checks[i].expected, checks[i].name, checks[i].actual);
            missed++;
        }
    }
    if (json) {
        json_object_set_new(json, "expectations", expected);
        json_object_set_new(json, "expectations_met", json_boolean(missed == 0));
    }
    return missed;
}

void
ctl_report_text(const ctl_report_t *report, FILE *out)
{
    assert(report && report->summary && report->db_path && out);
    const store_summary_t *s = report->summary;
    const char *error = report->error;
    const char *reason = error && *error ? error : "(no reason recorded)";
    if (strcmp(s->status, "failed") == 0) {
        //  failed or interrupted: the reason, and where every request went.
        fprintf(out, "run %" PRId64 " %s: %s\n", s->run_id,
                *s->outcome ? s->outcome : "failed", reason);
        fprintf(out, "  %u requested, %u recorded, %u lost\n", s->requested, s->recorded,
                s->lost);
        return;
    }
    fprintf(out,
            "run %" PRId64 " %s: %u requested, %u ok, %u throttled, %u errors, "
            "%u lost\n",
            s->run_id, *s->outcome ? s->outcome : s->status, s->requested, s->ok,
            s->throttled, s->errors, s->lost);
    if (strcmp(s->outcome, "completed_with_losses") == 0)
        fprintf(out, "  %s\n", reason);
    if (s->top_error_count > 0)
        fprintf(out, "  most frequent error (%u of %u): %s%s\n", s->top_error_count,
                s->errors, s->top_error,
                strstr(s->top_error, "SSL certificate problem")
                    ? " (give the agents the target's CA with --cacert FILE)"
                    : "");
    fprintf(out,
            "  throttles through door %s: %u by Lambda, %u by the gateway, %u other\n",
            s->door, s->throttled_lambda, s->throttled_gateway,
            s->throttled - s->throttled_lambda - s->throttled_gateway);
    fprintf(out, "  lambda: %u environments, %u cold starts, peak concurrency %u%s\n",
            s->environments, s->cold_starts, s->peak_concurrency,
            s->lost > 0 ? " (partial: from the recorded rows only)" : "");
    fprintf(out, "  latency: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
            s->p50_ms, s->p90_ms, s->p99_ms, s->max_ms);
    fprintf(out,
            "  arrival spread at the target %.3f ms (start mode %s), wall time "
            "%.1f ms\n",
            s->spread_ms, s->start_mode, s->wall_ms);
    for (size_t i = 0; i < report->n_agents; i++) {
        const store_agent_summary_t *a = &report->agents[i];
        fprintf(out, "  agent %s: %u requests, clock %+.3f ms ± %.3f ms", a->agent_id,
                a->count, (double)a->clock_offset_ns / 1e6,
                (double)a->clock_bound_ns / 1e6);
        if (a->shift_ns > 0)
            fprintf(out, ", shifted %+.3f ms for its path (handshake %.3f ms)",
                    (double)a->shift_ns / 1e6, (double)a->path_rtt_ns / 1e6);
        if (a->released)
            fprintf(out, ", released %+.3f ms from the instant%s",
                    (double)a->start_error_ns / 1e6,
                    a->mis_start[0] ? " (MIS-STARTED)" : "");
        if (a->arrivals > 0)
            fprintf(out, ", arrived %.3f / %.3f / %.3f ms after the instant\n",
                    a->first_ms, a->median_ms, a->last_ms);
        else
            fprintf(out, ", no arrival stamps\n");
    }
    fprintf(out, "  results: %s (stampede export %" PRId64 " --db %s)\n", report->db_path,
            s->run_id, report->db_path);
}

//  report with its error set to `error`, for one call.
static const ctl_report_t *
s_report(ctl_report_t *report, const char *error)
{
    report->error = error;
    return report;
}

void
ctl_report_test(bool verbose)
{
    store_summary_t s;
    memset(&s, 0, sizeof s);
    s.run_id = 7;
    snprintf(s.status, sizeof s.status, "completed");
    snprintf(s.outcome, sizeof s.outcome, "completed");
    s.requested = 100;
    s.recorded = 100;
    s.ok = 5;
    s.throttled = 95;
    s.throttled_lambda = 90;
    s.throttled_gateway = 4;
    snprintf(s.door, sizeof s.door, "apigw_rest");
    s.environments = 5;
    s.cold_starts = 5;
    s.peak_concurrency = 5;
    s.p50_ms = 2.717;
    s.p90_ms = 4.0;
    s.p99_ms = 2010.1234567;
    s.max_ms = 2011.5;
    s.spread_ms = 1.2344;
    s.wall_ms = 2100.0;
    snprintf(s.start_mode, sizeof s.start_mode, "last_byte");
    store_agent_summary_t agents[2] = {
        {.agent_id = "local-1",
         .first_index = 0,
         .count = 50,
         .clock_offset_ns = -1200,
         .clock_bound_ns = 380000,
         .recorded = 50,
         .arrivals = 50,
         .first_ms = 0.5,
         .median_ms = 0.74,
         .last_ms = 0.99,
         .released = true,
         .start_error_ns = 61234,
         .armed = 50,
         .path_rtt_ns = 42000,
         .shift_ns = 1500000},
        {.agent_id = "local-2", .first_index = 50, .count = 50, .recorded = 50}};
    ctl_report_t report = {
        .summary = &s, .agents = agents, .n_agents = 2, .db_path = "r.db"};

    json_t *json = ctl_report_json(s_report(&report, NULL));
    char *text = json_dumps(json, CTL_REPORT_JSON_FLAGS | JSON_SORT_KEYS);
    CHECK_STR(
        text,
        "{\"agents\":[{\"agent_id\":\"local-1\",\"arrival_first_ms\":0.5,"
        "\"arrival_last_ms\":0.99,\"arrival_median_ms\":0.74,\"arrivals\":50,"
        "\"clock_bound_ms\":0.38,\"clock_offset_ms\":-0.001,\"count\":50,"
        "\"first_index\":0,\"path_rtt_ms\":0.042,\"recorded\":50,"
        "\"release\":{\"armed\":50,\"late\":0,"
        "\"mis_start\":null,\"start_error_ms\":0.061},\"shift_ms\":1.5},"
        "{\"agent_id\":\"local-2\","
        "\"arrival_first_ms\":0.0,\"arrival_last_ms\":0.0,"
        "\"arrival_median_ms\":0.0,\"arrivals\":0,\"clock_bound_ms\":0.0,"
        "\"clock_offset_ms\":0.0,\"count\":50,\"first_index\":50,"
        "\"path_rtt_ms\":null,\"recorded\":50,\"release\":null,\"shift_ms\":0.0}],"
        "\"cold_starts\":5,\"db\":\"r.db\",\"door\":\"apigw_rest\","
        "\"environments\":5,\"errors\":0,"
        "\"lost\":0,\"max_ms\":2011.5,\"ok\":5,\"outcome\":\"completed\",\"p50_"
        "ms\":2.717,\"p90_ms\":4.0,"
        "\"p99_ms\":2010.123,\"partial\":false,\"peak_concurrency\":5,\"recorded\":100,"
        "\"requested\":100,\"run_id\":7,\"spread_ms\":1.234,"
        "\"start_mode\":\"last_byte\",\"status\":\"completed\",\"throttled\":95,"
        "\"throttled_gateway\":4,\"throttled_lambda\":90,\"top_error\":null,"
        "\"wall_ms\":2100.0}");
    free(text);
    json_decref(json);

    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    ctl_report_text(s_report(&report, NULL), out);
    fclose(out);
    CHECK_STR(buf,
              "run 7 completed: 100 requested, 5 ok, 95 throttled, 0 errors, 0 lost\n"
              "  throttles through door apigw_rest: 90 by Lambda, 4 by the gateway, 1 "
              "other\n"
              "  lambda: 5 environments, 5 cold starts, peak concurrency 5\n"
              "  latency: p50 2.7 ms, p90 4.0 ms, p99 2010.1 ms, max 2011.5 ms\n"
              "  arrival spread at the target 1.234 ms (start mode last_byte), wall "
              "time 2100.0 ms\n"
              "  agent local-1: 50 requests, clock -0.001 ms ± 0.380 ms, shifted "
              "+1.500 ms for its path (handshake 0.042 ms), released "
              "+0.061 ms from the instant, arrived 0.500 / 0.740 / 0.990 ms after the "
              "instant\n"
              "  agent local-2: 50 requests, clock +0.000 ms ± 0.000 ms, no arrival "
              "stamps\n"
              "  results: r.db (stampede export 7 --db r.db)\n");
    free(buf);

    //  Expectations: met, missed (each named), or none set.
    ctl_expect_t expect = {.ok = 5, .throttled = 95, .errors = -1, .lost = 0};
    json = ctl_report_json(s_report(&report, NULL));
    buf = NULL;
    out = open_memstream(&buf, &size);
    CHECK_INT(ctl_report_expect(&s, &expect, json, out), 0);
    expect.ok = 4;
    expect.lost = 1;
    CHECK_INT(ctl_report_expect(&s, &expect, NULL, out), 2);
    fclose(out);
    CHECK_STR(buf, "stampede run: expected 4 ok, got 5\n"
                   "stampede run: expected 1 lost, got 0\n");
    free(buf);
    text = json_dumps(json_object_get(json, "expectations"), JSON_COMPACT);
    CHECK_STR(text, "{\"ok\":5,\"throttled\":95,\"lost\":0}");
    free(text);
    CHECK_TRUE(json_is_true(json_object_get(json, "expectations_met")));
    expect = (ctl_expect_t){-1, -1, -1, -1};
    CHECK_INT(ctl_report_expect(&s, &expect, json, stderr), 0);
    CHECK_INT(json_object_size(json_object_get(json, "expectations")), 0);
    json_decref(json);

    //  Losses: their own outcome, and the reason under the counts.
    snprintf(s.outcome, sizeof s.outcome, "completed_with_losses");
    s.throttled = 93;
    s.throttled_lambda = 93;
    s.throttled_gateway = 0;
    s.recorded = 98;
    s.lost = 2;
    buf = NULL;
    out = open_memstream(&buf, &size);
    ctl_report_text(
        s_report(&report, "2 of 100 requests lost (agent local-2 disconnected)"), out);
    fclose(out);
    const char *head = "run 7 completed_with_losses: 100 requested, 5 ok, 93 throttled, "
                       "0 errors, 2 lost\n"
                       "  2 of 100 requests lost (agent local-2 disconnected)\n"
                       "  throttles through door apigw_rest: 93 by Lambda, 0 by the "
                       "gateway, 0 other\n"
                       "  lambda: 5 environments";
    CHECK_TRUE(strncmp(buf, head, strlen(head)) == 0);
    free(buf);

    //  A failed run shows its reason, in both forms.
    snprintf(s.status, sizeof s.status, "failed");
    snprintf(s.outcome, sizeof s.outcome, "failed");
    json = ctl_report_json(s_report(&report, "agent a refused the run: busy"));
    CHECK_STR(json_string_value(json_object_get(json, "error")),
              "agent a refused the run: busy");
    CHECK_STR(json_string_value(json_object_get(json, "status")), "failed");
    json_decref(json);
    json = ctl_report_json(s_report(&report, ""));
    CHECK_NULL(json_object_get(json, "error"));
    json_decref(json);
    buf = NULL;
    out = open_memstream(&buf, &size);
    ctl_report_text(s_report(&report, "agent a refused the run: busy"), out);
    ctl_report_text(s_report(&report, NULL), out);
    fclose(out);
    CHECK_STR(buf, "run 7 failed: agent a refused the run: busy\n"
                   "  100 requested, 98 recorded, 2 lost\n"
                   "run 7 failed: (no reason recorded)\n"
                   "  100 requested, 98 recorded, 2 lost\n");
    free(buf);
    snprintf(s.outcome, sizeof s.outcome, "interrupted");
    buf = NULL;
    out = open_memstream(&buf, &size);
    ctl_report_text(s_report(&report, "controller stopped"), out);
    fclose(out);
    CHECK_STR(buf, "run 7 interrupted: controller stopped\n"
                   "  100 requested, 98 recorded, 2 lost\n");
    free(buf);

    //  Errors: the most frequent one is named, with a hint for TLS trust.
    snprintf(s.status, sizeof s.status, "completed");
    snprintf(s.outcome, sizeof s.outcome, "completed");
    s.ok = 0;
    s.throttled = s.throttled_lambda = 0;
    s.errors = 20;
    s.lost = 0;
    s.recorded = 20;
    s.requested = 20;
    snprintf(s.top_error, sizeof s.top_error,
             "SSL certificate problem: self-signed certificate");
    s.top_error_count = 20;
    buf = NULL;
    out = open_memstream(&buf, &size);
    ctl_report_text(s_report(&report, NULL), out);
    fclose(out);
    CHECK_TRUE(strstr(buf, "\n  most frequent error (20 of 20): SSL certificate problem: "
                           "self-signed certificate (give the agents the target's CA "
                           "with --cacert FILE)\n") != NULL);
    free(buf);
    json = ctl_report_json(s_report(&report, NULL));
    text = json_dumps(json_object_get(json, "top_error"), JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(text, "{\"count\":20,\"text\":\"SSL certificate problem: self-signed "
                    "certificate\"}");
    free(text);
    json_decref(json);
    if (verbose)
        printf("(report checks done) ");
}
