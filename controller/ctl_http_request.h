/*  ctl_http_request — what the HTTP API accepts: the checks of one request
    (URL size, method, bearer token, route, query, Content-Type, body size)
    and of the run command a POST /api/test carries, in the order the
    daemon (ctl_http) applies them.

    Untrusted input: everything a client sends. URL <= 8 KiB, body <= 64
    KiB, only GET and POST, POST only with Content-Type application/json
    (which a cross-site form cannot send), and a bearer token on every
    /api/ request when one is configured. A run command's fields are
    checked by the run specification's rules (ctl_runspec).

    Pure functions (no I/O, no state), any thread; used by the daemon and
    exposed for the selftest and the fuzz target
    (tests/fuzz/fuzz_http_request.c). Each check returns 0 when the input
    is accepted, or the HTTP status to answer with and a message for the
    client in err.
*/
#ifndef CTL_HTTP_REQUEST_H
#define CTL_HTTP_REQUEST_H

#include "web_assets.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_HTTP_JSON_TYPE "application/json"
#define CTL_HTTP_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15)) //  every JSON reply
#define CTL_HTTP_MAX_URL (8 * 1024)    //  path + query, bytes
#define CTL_HTTP_MAX_BODY (64 * 1024)  //  request body, bytes
#define CTL_HTTP_RUNS_LIMIT_DEFAULT 50 //  GET /api/runs without ?limit=
#define CTL_HTTP_RUNS_LIMIT_MAX 500    //  largest ?limit=

typedef enum {
    CTL_HTTP_ROUTE_NONE = 0, //  nothing matched yet
    CTL_HTTP_ROUTE_ASSET,    //  GET  /, /index.html, /app.js, /style.css
    CTL_HTTP_ROUTE_RUNS,     //  GET  /api/runs[?limit,outcome,q,since,until]
    CTL_HTTP_ROUTE_RUN,      //  GET  /api/runs/<id>[?requests=0|1]
    CTL_HTTP_ROUTE_TEST,     //  POST /api/test
    CTL_HTTP_ROUTE_RESULTS,  //  GET  /api/results
    CTL_HTTP_ROUTE_FILES,    //  GET  /api/results/files
    CTL_HTTP_ROUTE_FILE,     //  GET  /api/results/file/<run-<id>.json | <id>>
    CTL_HTTP_ROUTE_STATUS,   //  GET  /api/status
    CTL_HTTP_ROUTE_ROWS, //  GET  /api/runs/<id>/rows[?offset,limit,sort,order,outcome,q]
    CTL_HTTP_ROUTE_EVENTS, //  GET  /api/events (server-sent events)
    CTL_HTTP_ROUTE_CHARTS, //  GET  /api/runs/<id>/charts
    CTL_HTTP_ROUTE_CSV,    //  GET  /api/runs/<id>/requests.csv
} ctl_http_route_t;

#define CTL_HTTP_ROWS_LIMIT_DEFAULT 100  //  rows of a page without ?limit=
#define CTL_HTTP_ROWS_OFFSET_MAX 1000000 //  largest ?offset= (a run's row count cap)

//  What a client sent, as the daemon hands it over. Strings may be NULL
//  when absent; body is not NUL-terminated.
typedef struct {
    const char *method;
    const char *path;          //  decoded path, without the query
    size_t url_size;           //  bytes of path + query, for the URL cap
    const char *limit;         //  ?limit= value
    const char *requests;      //  ?requests= value
    const char *content_type;  //  Content-Type header
    const char *authorization; //  Authorization header
    const char *offset;        //  ?offset= (rows)
    const char *sort;          //  ?sort= (rows)
    const char *order;         //  ?order= asc | desc (rows)
    const char *outcome;       //  ?outcome= (rows)
    const char *q;             //  ?q= text filter (rows, runs)
    const char *since;         //  ?since= (runs: created at or after, ns)
    const char *until;         //  ?until= (runs: created before, ns)
    const char *body;
    size_t body_size;
} ctl_http_input_t;

//  A request that passed validation: what the handler acts on.
typedef struct {
    ctl_http_route_t route;
    const web_asset_t *asset; //  ROUTE_ASSET: the file (static)
    int64_t run_id;           //  ROUTE_RUN, ROUTE_FILE, ROUTE_ROWS, ROUTE_CHARTS,
                              //  ROUTE_CSV: >= 1
    int limit;                //  ROUTE_RUNS: 1..CTL_HTTP_RUNS_LIMIT_MAX; ROUTE_ROWS:
                              //  1..STORE_ROWS_PAGE_MAX
    bool with_requests;       //  ROUTE_RUN (default true), ROUTE_FILE, ROUTE_RESULTS
    const char *allow;        //  set with a 405: the Allow header value (static)
    int64_t offset;           //  ROUTE_ROWS: rows skipped, 0..CTL_HTTP_ROWS_OFFSET_MAX
    const char *sort;         //  ROUTE_ROWS: store_rows_sort_ok key or NULL (borrowed)
    bool desc;                //  ROUTE_ROWS: ?order=desc
    const char *outcome;      //  ROUTE_ROWS: store_rows_outcome_ok class; ROUTE_RUNS:
                              //  store_runs_outcome_ok; or NULL
    const char *q;            //  ROUTE_ROWS, ROUTE_RUNS: text filter, printable, or NULL
    int64_t since_ns;         //  ROUTE_RUNS: created at or after (0: any)
    int64_t until_ns;         //  ROUTE_RUNS: created before (0: any)
    json_t *command;          //  ROUTE_TEST after the body: the run command, owned
} ctl_http_request_t;

//  Path -> route (+ run id). 404 for an unknown path, 400 for a run id or
//  file name that is not a positive integer / run-<id>.json. Fills route,
//  asset and run_id of *out.
int ctl_http_route_parse(const char *path, ctl_http_request_t *out, char *err,
                         size_t err_size);

//  "?limit=" value -> *limit: NULL gives CTL_HTTP_RUNS_LIMIT_DEFAULT,
//  otherwise a decimal integer 1..CTL_HTTP_RUNS_LIMIT_MAX or 400.
int ctl_http_limit_parse(const char *text, int *limit, char *err, size_t err_size);

//  True when authorization is "Bearer <token>" (scheme case-insensitive).
//  The comparison takes the same time wherever the first difference is.
bool ctl_http_token_ok(const char *authorization, const char *token);

//  True when content_type is application/json, parameters (charset) allowed.
bool ctl_http_is_json(const char *content_type);

//  POST /api/test body -> the controller's run command
//  {"action":"run", "url", "requests", "method", "headers", "body"} with only
//  the fields the client gave (all optional; an empty body is {}; null is
//  "not given"), each checked by ctl_runspec_json_field. The original
//  demo's "num_requests" is taken as "requests" (both: 400). Unknown fields
//  and values the run specification refuses are a 400 naming the field; malformed
//  JSON a 400 with the parser's message and position. Returns the command
//  (caller owns) or NULL with the message in err.
json_t *ctl_http_run_command(const char *body, size_t size, char *err, size_t err_size);

//  Everything that can be decided before the body arrives, in this order:
//  URL size (414), method (405 with allow "GET, POST"), token on /api/
//  (401), route (404/400), method for the route (405 with its allow), query
//  (400: rows' offset, limit, sort, order, outcome, q of at most
//  STORE_ROWS_FILTER_MAX printable bytes; the run list's limit, outcome,
//  q, since and until), POST Content-Type (415). token may be NULL (no
//  token required). Fills *out (which the caller zeroes first).
int ctl_http_request_check(const ctl_http_input_t *in, const char *token,
                           ctl_http_request_t *out, char *err, size_t err_size);

//  ctl_http_request_check, then the body: size (413) and, for POST
//  /api/test, the run command (400). On 0, out->command is set for
//  ROUTE_TEST; release with ctl_http_request_reset.
int ctl_http_request_parse(const ctl_http_input_t *in, const char *token,
                           ctl_http_request_t *out, char *err, size_t err_size);

//  Frees what *request owns and zeroes it. Safe on a zeroed request.
void ctl_http_request_reset(ctl_http_request_t *request);

//  Copies src (NULL is "") into dst for a log line or a message to a
//  client: printable ASCII only, other bytes as '?', "..." when truncated.
//  dst_size must be more than 4.
void ctl_http_printable(char *dst, size_t dst_size, const char *src);

void ctl_http_request_test(bool verbose);

#endif
