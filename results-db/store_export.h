/*  store_export — a run's request rows written out as CSV or JSON for
    download. Part of store (see store.h).

    Thread model: as store.h — the calls work on the caller's store_t, on
    the one thread that uses it.
*/
#ifndef STORE_EXPORT_H
#define STORE_EXPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct _store_t store_t;

//  Writes every request row of run_id to out, ordered by index, as "csv"
//  (header line first) or "json" (one array). Returns 0, or -1 when the run
//  does not exist or the format is unknown (nothing written then), or when
//  writing to out fails. CSV follows RFC 4180: CRLF line ends, a field
//  holding a comma, quote, CR or LF is quoted with inner quotes doubled;
//  NULL is an empty field, booleans are true/false; a text field (one the
//  target wrote: an error, an environment id) that starts with '=', '+',
//  '-', '@', tab or CR is quoted behind an apostrophe, so no spreadsheet
//  runs it as a formula. JSON is one compact object per line, reals with
//  15 significant digits.
int store_export(store_t *self, int64_t run_id, const char *format, FILE *out);

//  The CSV of store_export a piece at a time, for a caller that streams a
//  run without holding it: the header line; then the rows of run_id with
//  an index above after (-1 for the first), at most limit of them, in
//  index order, *last_index set to the last one written. Returns the rows
//  written (0 past the last), or -1 on a database or write error (logged).
int store_export_csv_header(FILE *out);
int store_export_csv_page(store_t *self, int64_t run_id, int64_t after, int limit,
                          FILE *out, int64_t *last_index);

void store_export_test(bool verbose);

#endif
