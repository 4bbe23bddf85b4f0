/*  Fuzz target: the HTTP API's request parser (ctl_http_request_parse and
    the pure helpers under it) on arbitrary client input.

    Input layout: an optional '!' (a bearer token "s3cret" is then
    required), six lines, then the body:
        method \n path \n limit \n requests \n content-type \n authorization \n body
    A field that is the single character '-' is absent (NULL).

    The limit line doubles as the rows' ?offset= and the runs' ?since=,
    the requests line as ?sort=, ?order= and ?outcome=, the content-type
    line as the runs' ?until=, the authorization line as ?q=; the
    content-type and authorization lines are also checked as a Host and an
    Origin (ctl_http_guard), and the body's URL against the allow-list.

    Invariants: an accepted request has a route (and a run command object
    with "action":"run" for POST /api/test, a page within its caps for the
    rows of a run); a rejected one has a 4xx status and a non-empty,
    printable-ASCII message that encodes as JSON. */
#include "ctl_http.h"
#include "ctl_http_guard.h"
#include "store_rows.h"

#include <stdlib.h>
#include <string.h>

#define S_FIELDS 6

static bool
s_printable(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            return false;
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *fields[S_FIELDS] = {NULL};
    const char *field_values[S_FIELDS] = {NULL};
    const char *token = size > 0 && data[0] == '!' ? "s3cret" : NULL;
    size_t at = token ? 1 : 0;
    for (int i = 0; i < S_FIELDS; i++) {
        const uint8_t *eol = at < size ? memchr(data + at, '\n', size - at) : NULL;
        size_t len = eol ? (size_t)(eol - (data + at)) : size - at;
        fields[i] = malloc(len + 1);
        if (!fields[i])
            abort();
        memcpy(fields[i], data + at, len);
        fields[i][len] = '\0';
        field_values[i] = strcmp(fields[i], "-") == 0 ? NULL : fields[i];
        at = eol ? at + len + 1 : size;
    }
    const char *body = (const char *)data + at;
    size_t body_size = size - at;

    ctl_http_input_t in = {.method = field_values[0],
                           .path = field_values[1],
                           .url_size = fields[1] ? strlen(fields[1]) : 0,
                           .limit = field_values[2],
                           .requests = field_values[3],
                           .content_type = field_values[4],
                           .authorization = field_values[5],
                           .offset = field_values[2],
                           .sort = field_values[3],
                           .order = field_values[3],
                           .outcome = field_values[3],
                           .q = field_values[5],
                           .since = field_values[2],
                           .until = field_values[4],
                           .body = body,
                           .body_size = body_size};
    ctl_http_request_t request;
    memset(&request, 0, sizeof request);
    char err[256] = "";
    int status = ctl_http_request_parse(&in, token, &request, err, sizeof err);
    if (status == 0) {
        if (request.route == CTL_HTTP_ROUTE_NONE)
            abort();
        if (request.route == CTL_HTTP_ROUTE_ASSET && !request.asset)
            abort();
        if ((request.route == CTL_HTTP_ROUTE_RUN ||
             request.route == CTL_HTTP_ROUTE_FILE) &&
            request.run_id < 1)
            abort();
        if (request.route == CTL_HTTP_ROUTE_ROWS &&
            (request.run_id < 1 || request.offset < 0 ||
             request.offset > CTL_HTTP_ROWS_OFFSET_MAX || request.limit < 1 ||
             request.limit > STORE_ROWS_PAGE_MAX ||
             (request.sort && !store_rows_sort_ok(request.sort)) ||
             (request.outcome && !store_rows_outcome_ok(request.outcome))))
            abort();
        if (request.route == CTL_HTTP_ROUTE_TEST) {
            const char *action =
                json_string_value(json_object_get(request.command, "action"));
            if (!action || strcmp(action, "run") != 0)
                abort();
            char *text = json_dumps(request.command, JSON_COMPACT);
            if (!text)
                abort();
            free(text);
        }
    } else {
        if (status < 400 || status > 499 || err[0] == '\0' || !s_printable(err))
            abort();
        json_t *answer = json_pack("{s:s}", "error", err);
        if (!answer)
            abort();
        json_decref(answer);
    }
    ctl_http_request_reset(&request);

    //  The helpers on their own, on the raw fields.
    int limit = 0;
    if (ctl_http_limit_parse(fields[2], &limit, err, sizeof err) == 0 &&
        (limit < 1 || limit > CTL_HTTP_RUNS_LIMIT_MAX))
        abort();
    ctl_http_token_ok(fields[5], "s3cret");
    ctl_http_is_json(fields[4]);
    json_t *command = ctl_http_run_command((const char *)data, size, err, sizeof err);
    if (!command && (err[0] == '\0' || !s_printable(err)))
        abort();
    if (command) {
        int target = ctl_http_target_check(command, true, NULL, 0, err, sizeof err);
        if (target != 0 && (target != 400 || err[0] == '\0' || !s_printable(err)))
            abort();
    }
    json_decref(command);

    //  Host and Origin.
    ctl_http_names_t names = {.listen_host = "127.0.0.1",
                              .local_host = "127.0.0.1",
                              .local_loopback = true,
                              .port = 5000,
                              .public_host = "dash.example.com"};
    int host = ctl_http_host_check(&names, field_values[4], err, sizeof err);
    if (host != 0 && (host != 421 || err[0] == '\0' || !s_printable(err)))
        abort();
    int origin = ctl_http_origin_check(&names, field_values[5], err, sizeof err);
    if (origin != 0 && (origin != 403 || err[0] == '\0' || !s_printable(err)))
        abort();
    ctl_http_public_host_ok(fields[4]);

    for (int i = 0; i < S_FIELDS; i++)
        free(fields[i]);
    return 0;
}
