/*  ctl_http_views — the HTTP API's read-only answers from the results
    database: the run list, one run (its summary, shares and the original
    demo's metrics beside ours), the original's file list, and pages of a
    run's rows; and the streamed form of a run with every row, so a
    100,000-row run is sent a page of rows at a time, never held whole.

    Thread model: called on libmicrohttpd's thread with that thread's
    store_t (see ctl_http.h); a streamed response reads the store from the
    same thread, in keyset pages of CTL_HTTP_VIEWS_STREAM_PAGE rows, each
    its own short read transaction, so a slow client never pins a snapshot.
*/
#ifndef CTL_HTTP_VIEWS_H
#define CTL_HTTP_VIEWS_H

#include "ctl_http_request.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

typedef struct _store_t store_t;

#define CTL_HTTP_VIEWS_STREAM_PAGE 500 //  rows read per step of a streamed run
#define CTL_HTTP_VIEWS_AGENTS_MAX 256  //  agents in a run's charts

//  The answer to a read route (RUNS, RUN, FILE, RESULTS, FILES, ROWS,
//  CHARTS: store_rows_charts_json with each agent's arrival spread as
//  "agents"; CSV: *stream_run_id, no body, for ctl_http_views_csv):
//  200 with *body (caller owns), or the status with a message in err (404
//  for an unknown run or no runs yet, 500 when the database fails). For a
//  run route with requests, *stream_run_id is set (else 0) and *body is
//  the run without its rows: send it with ctl_http_views_stream.
int ctl_http_views_answer(store_t *store, const ctl_http_request_t *request,
                          json_t **body, int64_t *stream_run_id, char *err,
                          size_t err_size);

//  A response that sends run (consumed; an object) with a "requests" array
//  of every row of run_id appended, read from store page by page as the
//  client takes it. NULL when out of memory (run is released).
struct MHD_Response *ctl_http_views_stream(store_t *store, int64_t run_id,
                                           json_t **run_p);

//  A response that sends every row of run_id as CSV (text/csv, RFC 4180,
//  CRLF line ends, a header line of store_rows_export_column's names),
//  read page by page as the client takes it, as an attachment
//  run-<id>.csv. Text cells a spreadsheet would take for a formula start
//  with an apostrophe. NULL when out of memory.
#define CTL_HTTP_VIEWS_CSV_TYPE "text/csv; charset=utf-8; header=present"
struct MHD_Response *ctl_http_views_csv(store_t *store, int64_t run_id);

void ctl_http_views_test(bool verbose);

#endif
