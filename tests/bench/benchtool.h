/*  benchtool — what the bench's C programs (floor, rx_server) share beyond
    common/ (their clocks are sp_clock's): the checked number parser of
    their options. Header-only (static inline). Test code: never shipped. */
#ifndef BENCHTOOL_H
#define BENCHTOOL_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

//  A whole decimal number in [min, max] into *value; false (value left
//  alone) for anything else.
static inline bool
bench_parse_long(const char *text, long min, long max, long *value)
{
    char *end = NULL;
    errno = 0;
    long parsed = strtol(text, &end, 10);
    if (errno || end == text || *end || parsed < min || parsed > max)
        return false;
    *value = parsed;
    return true;
}

#endif
