/*  ctl_http_views — read-only answers from the results database; see
    ctl_http_views.h.
*/
#include "ctl_http_views.h"
#include "sp_check.h"
#include "sp_err.h"
#include "store_api.h"

#include <czmq.h>
#include <inttypes.h>
#include <string.h>

//  {"files":[{"name":"run-<id>.json","run_id","created_ns","requested","status"}]}
static json_t *
s_files_json(store_t *store)
{
    static const char *const copied[] = {"run_id", "created_ns", "requested", "status"};
    json_t *runs = store_runs_json(store, CTL_HTTP_RUNS_LIMIT_MAX);
    json_t *files = json_array();
    json_t *result = NULL;
    if (!runs || !files)
        goto out;
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        char name[48];
        snprintf(name, sizeof name, "run-%" JSON_INTEGER_FORMAT ".json",
                 json_integer_value(json_object_get(run, "run_id")));
        json_t *file = json_pack("{s:s}", "name", name);
        if (!file || json_array_append_new(files, file) != 0)
            goto out;
        for (size_t f = 0; f < sizeof copied / sizeof copied[0]; f++) {
            json_t *value = json_object_get(run, copied[f]);
            if (json_object_set(file, copied[f], value ? value : json_null()) != 0)
                goto out;
        }
    }
    result = json_pack("{s:O}", "files", files);
out:
    json_decref(files);
    json_decref(runs);
    return result;
}

//  True when run_id is in the store (a failed read counts as absent only
//  for the message: the caller answers 500 otherwise).
static bool
s_run_exists(store_t *store, int64_t run_id)
{
    json_t *run = store_run_json(store, run_id, false);
    json_decref(run);
    return run != NULL;
}

//  Adds "agents": [{agent_id, arrivals, first_ms, median_ms, last_ms}] to
//  charts: each agent's arrivals at the target after the start instant
//  (store_summary_agents), at most CTL_HTTP_VIEWS_AGENTS_MAX of them.
static int
s_add_arrivals(store_t *store, int64_t run_id, json_t *charts)
{
    store_agent_summary_t *agents = calloc(CTL_HTTP_VIEWS_AGENTS_MAX, sizeof *agents);
    json_t *list = json_array();
    size_t n = 0;
    int result = -1;
    if (!agents || !list ||
        store_summary_agents(store, run_id, agents, CTL_HTTP_VIEWS_AGENTS_MAX, &n) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(list, json_pack("{s:s, s:I, s:f, s:f, s:f}", "agent_id",
                                                  agents[i].agent_id, "arrivals",
                                                  (json_int_t)agents[i].arrivals,
                                                  "first_ms", agents[i].first_ms,
                                                  "median_ms", agents[i].median_ms,
                                                  "last_ms", agents[i].last_ms)))
            goto out;
    result = json_object_set(charts, "agents", list);
out:
    json_decref(list);
    free(agents);
    return result;
}

//  One run without its rows, the original's metrics beside ours.
static int
s_run(store_t *store, int64_t run_id, json_t **body, char *err, size_t err_size)
{
    json_t *run = store_run_json(store, run_id, false);
    if (!run) {
        sp_err_set(err, err_size, "no run %" PRId64, run_id);
        return 404;
    }
    json_t *original = store_rows_original_json(store, run_id);
    if (!original || json_object_update(run, original) != 0) {
        json_decref(original);
        json_decref(run);
        sp_err_set(err, err_size, "cannot read the results database");
        return 500;
    }
    json_decref(original);
    *body = run;
    return 200;
}

int
ctl_http_views_answer(store_t *store, const ctl_http_request_t *request, json_t **body,
                      int64_t *stream_run_id, char *err, size_t err_size)
{
    assert(store && request && body && stream_run_id);
    *body = NULL;
    *stream_run_id = 0;
    int64_t run_id = request->run_id;
    switch (request->route) {
    case CTL_HTTP_ROUTE_RUNS:
        *body = store_runs_find_json(
            store, &(store_runs_query_t){.limit = request->limit,
                                         .outcome = request->outcome,
                                         .text = request->q,
                                         .since_ns = request->since_ns,
                                         .until_ns = request->until_ns});
        break;
    case CTL_HTTP_ROUTE_FILES:
        *body = s_files_json(store);
        break;
    case CTL_HTTP_ROUTE_ROWS: {
        store_rows_query_t query = {.offset = request->offset,
                                    .limit = request->limit,
                                    .sort = request->sort,
                                    .desc = request->desc,
                                    .outcome = request->outcome,
                                    .text = request->q};
        *body = store_rows_page(store, run_id, &query);
        if (!*body && !s_run_exists(store, run_id)) {
            sp_err_set(err, err_size, "no run %" PRId64, run_id);
            return 404;
        }
        break;
    }
    case CTL_HTTP_ROUTE_CSV:
        if (!s_run_exists(store, run_id)) {
            sp_err_set(err, err_size, "no run %" PRId64, run_id);
            return 404;
        }
        *stream_run_id = run_id;
        return 200;
    case CTL_HTTP_ROUTE_CHARTS:
        *body = store_rows_charts_json(store, run_id);
        if (!*body && !s_run_exists(store, run_id)) {
            sp_err_set(err, err_size, "no run %" PRId64, run_id);
            return 404;
        }
        if (*body && s_add_arrivals(store, run_id, *body) != 0) {
            json_decref(*body);
            *body = NULL;
        }
        break;
    case CTL_HTTP_ROUTE_RESULTS:
        run_id = store_latest_run(store);
        if (run_id == 0) {
            sp_err_set(err, err_size, "no runs yet");
            return 404;
        }
        if (run_id < 0)
            break;
        __attribute__((fallthrough)); //  the latest run, with its rows
    case CTL_HTTP_ROUTE_RUN:
    case CTL_HTTP_ROUTE_FILE: {
        int status = s_run(store, run_id, body, err, err_size);
        if (status == 200 &&
            (request->with_requests || request->route == CTL_HTTP_ROUTE_RESULTS))
            *stream_run_id = run_id;
        return status;
    }
    default:
        assert(false);
    }
    if (!*body) {
        sp_err_set(err, err_size, "cannot read the results database");
        return 500;
    }
    return 200;
}

//  ---------------------------------------------------------------------
//  A run streamed with its rows

typedef struct {
    store_t *store; //  the daemon thread's store (borrowed; outlives responses)
    int64_t run_id; //  the run whose rows follow
    int64_t after;  //  index of the last row sent, -1 before the first
    char *pending;  //  text not yet handed to libmicrohttpd
    size_t size;    //  bytes in pending
    size_t sent;    //  bytes of pending already handed over
    bool first_row; //  no row sent yet (no comma before the next)
    bool finished;  //  the closing "]}" is in pending: nothing more to read
    bool csv;       //  rows as CSV lines (header first), not JSON
} s_stream_t;

//  Fills pending with the CSV header line (header) or the next page of
//  rows (store_export's CSV), advancing after. Returns the rows written
//  (0 for the header or past the last row), or -1 on error.
static int
s_csv_piece(s_stream_t *self, bool header)
{
    FILE *out = open_memstream(&self->pending, &self->size);
    if (!out)
        return -1;
    int rows = header
                   ? store_export_csv_header(out)
                   : store_export_csv_page(self->store, self->run_id, self->after,
                                           CTL_HTTP_VIEWS_STREAM_PAGE, out, &self->after);
    if (fclose(out) != 0 || rows < 0) {
        free(self->pending);
        self->pending = NULL;
        self->size = 0;
        return -1;
    }
    return rows;
}

//  Replaces pending by the next piece of the answer; false on error.
static bool
s_stream_refill(s_stream_t *self)
{
    free(self->pending);
    self->pending = NULL;
    self->size = self->sent = 0;
    if (self->csv) {
        int rows = s_csv_piece(self, false);
        self->finished = rows == 0;
        return rows >= 0;
    }
    json_t *rows = store_rows_after(self->store, self->run_id, self->after,
                                    CTL_HTTP_VIEWS_STREAM_PAGE);
    if (!rows)
        return false;
    size_t n = json_array_size(rows);
    if (n == 0) {
        json_decref(rows);
        self->pending = strdup("]}");
        self->size = 2;
        self->finished = true;
        return self->pending != NULL;
    }
    self->after =
        json_integer_value(json_object_get(json_array_get(rows, n - 1), "index"));
    char *text = json_dumps(rows, CTL_HTTP_JSON_FLAGS);
    json_decref(rows);
    if (!text)
        return false;
    //  "[a,b]" -> "a,b" (or ",a,b" after earlier rows).
    size_t len = strlen(text);
    assert(len >= 2 && text[0] == '[' && text[len - 1] == ']');
    if (self->first_row) {
        memmove(text, text + 1, len - 2);
        self->size = len - 2;
    } else {
        text[0] = ',';
        self->size = len - 1;
    }
    self->first_row = false;
    self->pending = text;
    return true;
}

static ssize_t
s_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    s_stream_t *self = cls;
    while (self->sent == self->size) {
        if (self->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!s_stream_refill(self))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = self->size - self->sent;
    if (n > max)
        n = max;
    memcpy(buf, self->pending + self->sent, n);
    self->sent += n;
    return (ssize_t)n;
}

static void
s_stream_free(void *cls)
{
    s_stream_t *self = cls;
    free(self->pending);
    free(self);
}

//  The stream of run (consumed) and the rows of run_id, or NULL.
static s_stream_t *
s_stream_new(store_t *store, int64_t run_id, json_t **run_p)
{
    json_t *run = *run_p;
    *run_p = NULL;
    assert(json_is_object(run));
    char *head = json_dumps(run, CTL_HTTP_JSON_FLAGS);
    json_decref(run);
    s_stream_t *self = head ? calloc(1, sizeof *self) : NULL;
    if (!self) {
        free(head);
        return NULL;
    }
    //  {"a":1} -> {"a":1,"requests":[
    size_t len = strlen(head);
    static const char tail[] = ",\"requests\":[";
    char *pending = realloc(head, len + sizeof tail);
    if (!pending) {
        free(head);
        free(self);
        return NULL;
    }
    memcpy(pending + len - 1, tail, sizeof tail);
    *self = (s_stream_t){.store = store,
                         .run_id = run_id,
                         .after = -1,
                         .pending = pending,
                         .size = len - 1 + sizeof tail - 1,
                         .first_row = true};
    return self;
}

struct MHD_Response *
ctl_http_views_stream(store_t *store, int64_t run_id, json_t **run_p)
{
    assert(store && run_p);
    s_stream_t *self = s_stream_new(store, run_id, run_p);
    if (!self)
        return NULL;
    struct MHD_Response *response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 64 * 1024, s_stream_read, self, s_stream_free);
    if (!response)
        s_stream_free(self);
    return response;
}

struct MHD_Response *
ctl_http_views_csv(store_t *store, int64_t run_id)
{
    assert(store);
    s_stream_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    *self = (s_stream_t){.store = store, .run_id = run_id, .after = -1, .csv = true};
    if (s_csv_piece(self, true) < 0) {
        free(self);
        return NULL;
    }
    struct MHD_Response *response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 64 * 1024, s_stream_read, self, s_stream_free);
    if (!response) {
        s_stream_free(self);
        return NULL;
    }
    char disposition[64];
    snprintf(disposition, sizeof disposition,
             "attachment; filename=\"run-%" PRId64 ".csv\"", run_id);
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
                                disposition) == MHD_NO) {
        MHD_destroy_response(response);
        return NULL;
    }
    return response;
}

void
ctl_http_views_test(bool verbose)
{
    //  Every route is exercised against a real daemon in ctl_http_test;
    //  here the answers straight from a store, streamed text included.
    (void)verbose;
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    ctl_http_request_t request = {.route = CTL_HTTP_ROUTE_RESULTS};
    json_t *body = NULL;
    int64_t stream = -1;
    CHECK_INT(ctl_http_views_answer(store, &request, &body, &stream, err, sizeof err),
              404);
    CHECK_STR(err, "no runs yet");
    request = (ctl_http_request_t){.route = CTL_HTTP_ROUTE_RUN, .run_id = 3};
    CHECK_INT(ctl_http_views_answer(store, &request, &body, &stream, err, sizeof err),
              404);
    CHECK_STR(err, "no run 3");
    request = (ctl_http_request_t){.route = CTL_HTTP_ROUTE_ROWS, .run_id = 3, .limit = 5};
    CHECK_INT(ctl_http_views_answer(store, &request, &body, &stream, err, sizeof err),
              404);
    CHECK_STR(err, "no run 3");
    request = (ctl_http_request_t){.route = CTL_HTTP_ROUTE_FILES};
    CHECK_INT(ctl_http_views_answer(store, &request, &body, &stream, err, sizeof err),
              200);
    char *text = json_dumps(body, JSON_COMPACT);
    CHECK_STR(text, "{\"files\":[]}");
    free(text);
    json_decref(body);
    //  A stream's pieces join into the run with its rows.
    store_run_t run = {.url = "http://127.0.0.1:9/",
                       .method = "GET",
                       .requested = 1201,
                       .agents = 1,
                       .created_ns = 1};
    int64_t id = store_run_create(store, &run);
    CHECK_INT(id, 1);
    store_result_t *rows = calloc(1201, sizeof *rows);
    CHECK_NOT_NULL(rows);
    for (uint32_t i = 0; i < 1201; i++)
        rows[i] = (store_result_t){.index = i,
                                   .outcome = "throttled",
                                   .http_status = 429,
                                   .cold_start = -1,
                                   .invocation_count = -1};
    CHECK_INT(store_results_insert(store, id, "agent-1", rows, 1201), 0);
    free(rows);
    request = (ctl_http_request_t){.route = CTL_HTTP_ROUTE_RESULTS};
    CHECK_INT(ctl_http_views_answer(store, &request, &body, &stream, err, sizeof err),
              200);
    CHECK_INT(stream, 1);
    CHECK_INT(json_integer_value(json_object_get(body, "throttled")), 1201);
    json_t *whole = store_run_json(store, 1, true);
    CHECK_INT(json_object_update(whole, body), 0);
    s_stream_t *self = s_stream_new(store, 1, &body);
    CHECK_NOT_NULL(self);
    CHECK_NULL(body);
    size_t cap = 4 * 1024 * 1024, have = 0;
    char *text_all = malloc(cap);
    CHECK_NOT_NULL(text_all);
    for (int steps = 0; steps < 100000; steps++) {
        ssize_t n = s_stream_read(self, have, text_all + have, 997);
        if (n == MHD_CONTENT_READER_END_OF_STREAM)
            break;
        CHECK_TRUE(n > 0 && have + (size_t)n < cap);
        have += (size_t)n;
    }
    text_all[have] = '\0';
    s_stream_free(self);
    json_t *streamed = json_loads(text_all, 0, NULL);
    CHECK_NOT_NULL(streamed);
    CHECK_TRUE(json_equal(streamed, whole));
    CHECK_INT(json_array_size(json_object_get(streamed, "requests")), 1201);
    json_decref(streamed);
    free(text_all);
    json_decref(whole);
    //  The whole run through libmicrohttpd's reader.
    request = (ctl_http_request_t){.route = CTL_HTTP_ROUTE_RUN, .run_id = 1};
    CHECK_INT(ctl_http_views_answer(store, &request, &body, &stream, err, sizeof err),
              200);
    CHECK_INT(stream, 0);
    struct MHD_Response *response = ctl_http_views_stream(store, 1, &body);
    CHECK_NOT_NULL(response);
    MHD_destroy_response(response);

    //  The CSV of the 1201-row run: the header, then every row in order,
    //  however small the reads.
    request = (ctl_http_request_t){.route = CTL_HTTP_ROUTE_CSV, .run_id = 9};
    CHECK_INT(ctl_http_views_answer(store, &request, &body, &stream, err, sizeof err),
              404);
    CHECK_STR(err, "no run 9");
    request.run_id = 1;
    CHECK_INT(ctl_http_views_answer(store, &request, &body, &stream, err, sizeof err),
              200);
    CHECK_NULL(body);
    CHECK_INT(stream, 1);
    self = calloc(1, sizeof *self);
    CHECK_NOT_NULL(self);
    *self = (s_stream_t){.store = store, .run_id = 1, .after = -1, .csv = true};
    CHECK_INT(s_csv_piece(self, true), 0);
    char *lines = malloc(cap);
    CHECK_NOT_NULL(lines);
    have = 0;
    for (int steps = 0; steps < 100000; steps++) {
        ssize_t n = s_stream_read(self, have, lines + have, 61);
        if (n == MHD_CONTENT_READER_END_OF_STREAM)
            break;
        CHECK_TRUE(n > 0 && have + (size_t)n < cap);
        have += (size_t)n;
    }
    lines[have] = '\0';
    s_stream_free(self);
    size_t count = 0;
    int64_t expect_index = 0;
    for (char *line = strstr(lines, "\r\n") + 2; *line; count++) {
        char *end = strstr(line, "\r\n");
        CHECK_NOT_NULL(end);
        CHECK_INT(strtoll(line, NULL, 10), expect_index++);
        CHECK_TRUE(strncmp(strchr(line, ','), ",agent-1,throttled,429,", 23) == 0);
        line = end + 2;
    }
    CHECK_INT(count, 1201);
    free(lines);
    response = ctl_http_views_csv(store, 1);
    CHECK_NOT_NULL(response);
    CHECK_STR(MHD_get_response_header(response, MHD_HTTP_HEADER_CONTENT_DISPOSITION),
              "attachment; filename=\"run-1.csv\"");
    MHD_destroy_response(response);
    store_destroy(&store);
}
