/*  sp_err — the one way a function reports a reason into a caller's
    buffer (`char *err, size_t err_size`). No state; any thread.
*/
#ifndef SP_ERR_H
#define SP_ERR_H

#include <stdbool.h>
#include <stddef.h>

//  Formats the reason into err (truncated to err_size). Does nothing when
//  err is NULL or err_size is 0, so callers may pass NULL when they do not
//  care why.
void sp_err_set(char *err, size_t err_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

void sp_err_test(bool verbose);

#endif
