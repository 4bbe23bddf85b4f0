/*  sp_check — typed assertions for selftests: on failure they print the
    expression, both values and the location, then abort. Always active
    (independent of NDEBUG). Internal invariants in production code use
    plain assert().
*/
#ifndef SP_CHECK_H
#define SP_CHECK_H

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_INT(actual, expected)                                                      \
    do {                                                                                 \
        long long sp_a_ = (long long)(actual), sp_e_ = (long long)(expected);            \
        if (sp_a_ != sp_e_) {                                                            \
            fprintf(stderr, "%s:%d: CHECK_INT(%s) failed: got %lld, expected %lld\n",    \
                    __FILE__, __LINE__, #actual, sp_a_, sp_e_);                          \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_STR(actual, expected)                                                      \
    do {                                                                                 \
        const char *sp_a_ = (actual), *sp_e_ = (expected);                               \
        if (!sp_a_ || !sp_e_ || strcmp(sp_a_, sp_e_) != 0) {                             \
            fprintf(stderr,                                                              \
                    "%s:%d: CHECK_STR(%s) failed: got \"%s\", expected \"%s\"\n",        \
                    __FILE__, __LINE__, #actual, sp_a_ ? sp_a_ : "(null)",               \
                    sp_e_ ? sp_e_ : "(null)");                                           \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_TRUE(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK_TRUE(%s) failed\n", __FILE__, __LINE__,        \
                    #cond);                                                              \
            abort();                                                                     \
        }                                                                                \
    } while (0)

//  Exact equality: for values the code computes exactly (or rounds on purpose).
#define CHECK_REAL(actual, expected)                                                     \
    do {                                                                                 \
        double sp_a_ = (actual), sp_e_ = (expected);                                     \
        if (sp_a_ != sp_e_) {                                                            \
            fprintf(stderr, "%s:%d: CHECK_REAL(%s) failed: got %.17g, expected %.17g\n", \
                    __FILE__, __LINE__, #actual, sp_a_, sp_e_);                          \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_NULL(ptr) CHECK_TRUE((ptr) == NULL)
#define CHECK_NOT_NULL(ptr) CHECK_TRUE((ptr) != NULL)

#endif
