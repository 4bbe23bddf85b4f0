/*  ctl_clock — one agent's clock estimate relative to the controller, from
    NTP-style four-timestamp probes, with a bound that is true at the
    instant it is used.

    For a probe sent at t1 (controller clock), received by the agent at t2
    and answered at t3 (agent clock), and whose answer arrived at t4:
        offset = ((t2 - t1) + (t3 - t4)) / 2    (agent minus controller)
        rtt    = (t4 - t1) - (t3 - t2)
    and the offset holds at (t1 + t4) / 2, the sample's instant. The
    estimate is the sample with the smallest rtt among the last
    CTL_CLOCK_SAMPLES accepted ones (queueing delay only ever adds to the
    rtt, so the fastest exchange is the most trustworthy); a path that is
    asymmetric can put the true offset anywhere within rtt / 2 of it.

    Drift: the agent's clock may run fast or slow. Once the kept samples
    span CTL_CLOCK_DRIFT_SPAN_NS, the drift is the slope between the
    fastest sample of the older half and that of the newer half, known to
    within (their rtt / 2 summed) / their distance; before that it is taken
    as 0 ± CTL_CLOCK_DRIFT_UNKNOWN_PPM. The offset at an instant T is then
    offset + drift × (T − the sample's instant), and its bound

        rtt / 2 + (drift uncertainty + CTL_CLOCK_DRIFT_MARGIN_PPM) × |T − instant|

    so an old sample or an unknown drift widens the bound instead of
    hiding in it. Samples come from the network: a sample whose timestamps
    are inconsistent or absurd is refused and leaves the estimate alone.

    Thread model: owned and used by one thread (the controller's loop).
*/
#ifndef CTL_CLOCK_H
#define CTL_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_CLOCK_SAMPLES 8
//  Largest |offset| believed: clocks a day apart are a broken agent.
#define CTL_CLOCK_MAX_OFFSET_NS (INT64_C(86400) * INT64_C(1000000000))
//  Oldest answer accepted: t4 - t1 beyond this is a stale or forged echo.
#define CTL_CLOCK_MAX_RTT_NS (INT64_C(10) * INT64_C(1000000000))

//  Samples closer together than this are kept as one (the faster).
#define CTL_CLOCK_MIN_GAP_NS (INT64_C(300) * INT64_C(1000000))
//  Samples must span this before the drift is estimated.
#define CTL_CLOCK_DRIFT_SPAN_NS (INT64_C(2) * INT64_C(1000000000))
//  The drift assumed (±) before it can be estimated: a far worse clock
//  than any working quartz.
#define CTL_CLOCK_DRIFT_UNKNOWN_PPM 500
//  How far the drift may move from its estimate over the window.
#define CTL_CLOCK_DRIFT_MARGIN_PPM 10

typedef struct _ctl_clock_t ctl_clock_t;

//  A new estimator with no samples (offset 0, rtt 0 until the first one).
ctl_clock_t *ctl_clock_new(void);

//  Frees; safe on NULL and twice; nulls *self_p.
void ctl_clock_destroy(ctl_clock_t **self_p);

//  Adds one exchange. Returns 0 when accepted, -1 when refused: t1 > t4,
//  t4 - t1 above CTL_CLOCK_MAX_RTT_NS, t3 < t2, a negative rtt, or an
//  offset beyond CTL_CLOCK_MAX_OFFSET_NS.
int ctl_clock_sample(ctl_clock_t *self, int64_t t1, int64_t t2, int64_t t3, int64_t t4);

//  Accepted samples currently kept (0..CTL_CLOCK_SAMPLES; samples closer
//  than CTL_CLOCK_MIN_GAP_NS count once).
size_t ctl_clock_samples(ctl_clock_t *self);

//  Samples whose instant is at most max_age_ns before now_ns (controller
//  clock).
size_t ctl_clock_fresh(ctl_clock_t *self, int64_t now_ns, int64_t max_age_ns);

//  The estimate at its sample's instant: agent clock minus controller
//  clock, the rtt of the sample it came from, and its error bound
//  (rtt / 2). All 0 without samples.
int64_t ctl_clock_offset_ns(ctl_clock_t *self);
int64_t ctl_clock_rtt_ns(ctl_clock_t *self);
int64_t ctl_clock_error_ns(ctl_clock_t *self);

//  The offset at controller instant at_ns, drift applied, and its bound
//  (see above). 0 and INT64_MAX without samples: an unknown offset is
//  never "0 ± 0".
int64_t ctl_clock_offset_at(ctl_clock_t *self, int64_t at_ns);
int64_t ctl_clock_bound_at(ctl_clock_t *self, int64_t at_ns);

//  The drift estimate in parts per million (agent fast: positive), and
//  whether the samples span enough to estimate it.
double ctl_clock_drift_ppm(ctl_clock_t *self);
bool ctl_clock_drift_known(ctl_clock_t *self);

//  Newest minus oldest sample instant (0 with fewer than 2 samples).
int64_t ctl_clock_span_ns(ctl_clock_t *self);

//  Whether a run may fire at an instant on this clock: at least
//  min_samples samples at most max_age_ns before now_ns (wall clock), and
//  a known drift. The one rule of the run (which waits for it) and the
//  registry (which probes until it holds).
bool ctl_clock_ready(ctl_clock_t *self, int64_t now_ns, size_t min_samples,
                     int64_t max_age_ns);

void ctl_clock_test(bool verbose);

#endif
