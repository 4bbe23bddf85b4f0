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
//  NULL is an empty field, booleans are true/false. JSON is one compact
//  object per line, reals with 15 significant digits.
int store_export(store_t *self, int64_t run_id, const char *format, FILE *out);

void store_export_test(bool verbose);

#endif
