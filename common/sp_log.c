/*  sp_log — rate-limited warnings; see sp_log.h. */
#include "sp_log.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <czmq.h>
#include <stdarg.h>

void
sp_log_limit_init(sp_log_limit_t *self, const char *what, unsigned per_window,
                  int64_t window_ns)
{
    assert(self && what && window_ns > 0);
    *self =
        (sp_log_limit_t){.what = what, .per_window = per_window, .window_ns = window_ns};
}

bool
sp_log_limit_take(sp_log_limit_t *self, int64_t now_ns)
{
    assert(self && self->what);
    if (self->window_start == 0 || now_ns - self->window_start >= self->window_ns) {
        if (self->suppressed) {
            zsys_warning("%s suppressed=%u", self->what, self->suppressed);
            self->reported = self->suppressed;
        }
        self->window_start = now_ns;
        self->logged = self->suppressed = 0;
    }
    if (self->logged < self->per_window) {
        self->logged++;
        return true;
    }
    self->suppressed++;
    return false;
}

void
sp_log_warning(sp_log_limit_t *self, const char *format, ...)
{
    if (!sp_log_limit_take(self, sp_clock_mono_ns()))
        return;
    char text[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    zsys_warning("%s", text);
}

unsigned
sp_log_limit_reported(const sp_log_limit_t *self)
{
    assert(self);
    return self->reported;
}

void
sp_log_test(bool verbose)
{
    sp_log_limit_t limit;
    sp_log_limit_init(&limit, "sp_log test: lines not logged", 3, SP_NS_PER_S);
    int64_t t = 5 * SP_NS_PER_S;
    //  Three lines pass, the rest of the window is counted.
    CHECK_TRUE(sp_log_limit_take(&limit, t));
    CHECK_TRUE(sp_log_limit_take(&limit, t + 1));
    CHECK_TRUE(sp_log_limit_take(&limit, t + 2));
    CHECK_TRUE(!sp_log_limit_take(&limit, t + 3));
    CHECK_TRUE(!sp_log_limit_take(&limit, t + SP_NS_PER_S - 1));
    CHECK_INT(sp_log_limit_reported(&limit), 0);
    //  The next window reports the two dropped and starts afresh.
    CHECK_TRUE(sp_log_limit_take(&limit, t + SP_NS_PER_S));
    CHECK_INT(sp_log_limit_reported(&limit), 2);
    CHECK_TRUE(sp_log_limit_take(&limit, t + SP_NS_PER_S + 1));
    CHECK_TRUE(sp_log_limit_take(&limit, t + SP_NS_PER_S + 2));
    CHECK_TRUE(!sp_log_limit_take(&limit, t + SP_NS_PER_S + 3));
    //  A quiet window after a busy one reports, then reports nothing more.
    CHECK_TRUE(sp_log_limit_take(&limit, t + 10 * SP_NS_PER_S));
    CHECK_INT(sp_log_limit_reported(&limit), 1);
    CHECK_TRUE(sp_log_limit_take(&limit, t + 20 * SP_NS_PER_S));
    CHECK_INT(sp_log_limit_reported(&limit), 1);

    //  A zero budget drops everything and still reports.
    sp_log_limit_t none;
    sp_log_limit_init(&none, "sp_log test: nothing logged", 0, SP_NS_PER_S);
    CHECK_TRUE(!sp_log_limit_take(&none, t));
    CHECK_TRUE(!sp_log_limit_take(&none, t + 1));
    CHECK_TRUE(!sp_log_limit_take(&none, t + SP_NS_PER_S));
    CHECK_INT(sp_log_limit_reported(&none), 2);

    //  The logging call spends the same budget on the real clock.
    sp_log_limit_t real;
    sp_log_limit_init(&real, "sp_log test: warnings not logged", 1, 3600 * SP_NS_PER_S);
    sp_log_warning(&real, "sp_log test: shown once n=%d", 1);
    sp_log_warning(&real, "sp_log test: never shown n=%d", 2);
    CHECK_INT(real.logged, 1);
    CHECK_INT(real.suppressed, 1);
    (void)verbose;
}
