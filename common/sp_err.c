/*  sp_err — reason formatting; see sp_err.h. */
#include "sp_err.h"
#include "sp_check.h"

#include <stdarg.h>

void
sp_err_set(char *err, size_t err_size, const char *format, ...)
{
    if (!err || err_size == 0)
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(err, err_size, format, args);
    va_end(args);
}

void
sp_err_test(bool verbose)
{
    char err[8] = "unset";
    sp_err_set(err, sizeof err, "code %d", 42);
    CHECK_STR(err, "code 42");
    sp_err_set(err, sizeof err, "%s", "truncated reason");
    CHECK_STR(err, "truncat");
    sp_err_set(NULL, 0, "ignored %d", 1);
    sp_err_set(err, 0, "ignored %d", 2);
    CHECK_STR(err, "truncat");
}
