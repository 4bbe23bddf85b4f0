/*  emu_envrun — one invocation's run in an execution environment: from
    its assignment to the moment it is handed back, with its deadline and
    the end of its log.

    Owns the deadline timer and the run's facts (delivered or not, cold,
    when assigned and delivered, the init duration it waited for). Borrows
    the invocation between assign and hand-back, the environment's log and
    its process (for Max Memory Used; may be NULL).

    Every way a run ends hands the invocation back exactly once, after its
    log is closed (END and REPORT, INIT_REPORT first for a failed init):
    response (OK), error (FUNCTION_ERROR), response over
    EMU_LIMIT_PAYLOAD_MAX (TOO_LARGE, Function.ResponseSizeTooLarge with
    AWS's figure EMU_LIMIT_RESPONSE_MAX), deadline (TIMEOUT,
    Sandbox.Timedout; the REPORT's Duration is the timeout), exit or crash
    (EXIT, or INIT_ERROR before the event went out; Runtime.ExitError),
    init error or init timeout (INIT_ERROR), destroy (ABORTED). Each
    ending call is a no-op without a held invocation.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_ENVRUN_H
#define EMU_ENVRUN_H

#include "emu_envlog.h"
#include "emu_invocation.h"
#include "emu_loop.h"
#include "emu_proc.h"
#include "emu_rtapi.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct _emu_envrun_t emu_envrun_t;

//  What runs are for. Strings are borrowed for the run's life.
typedef struct {
    const char *function; //  function name, for logs
    const char *name;     //  environment name, for logs
    int64_t timeout_ns;   //  function timeout
    unsigned memory_mb;   //  Memory Size of REPORT lines
    bool verbose;         //  log every response
} emu_envrun_spec_t;

//  The deadline passed: the invocation is handed back as TIMEOUT; the
//  owner kills the environment.
typedef void(emu_envrun_expired_fn)(void *arg);

//  NULL when memory runs out.
emu_envrun_t *emu_envrun_new(emu_loop_t *loop, const emu_envrun_spec_t *spec,
                             emu_envlog_t *log, emu_proc_t *proc,
                             emu_envrun_expired_fn *expired, void *arg);

//  Hands a held invocation back as ABORTED, cancels the deadline, frees.
//  Safe on NULL; nulls *self_p.
void emu_envrun_destroy(emu_envrun_t **self_p);

//  Holds `invocation` (borrowed until handed back); `cold` when the
//  environment is still starting for it. Precondition: none held.
void emu_envrun_assign(emu_envrun_t *self, emu_invocation_t *invocation, bool cold);

//  The held invocation, or NULL.
emu_invocation_t *emu_envrun_invocation(emu_envrun_t *self);

//  True once the held invocation's event went out.
bool emu_envrun_delivered(emu_envrun_t *self);

//  The event goes out now: notes the environment on the invocation (and,
//  when cold, `init_ns`), writes START, starts the deadline. Returns the
//  deadline as Unix epoch milliseconds.
int64_t emu_envrun_deliver(emu_envrun_t *self, int64_t init_ns);

//  The runtime posted the held invocation's response or error.
void emu_envrun_finish(emu_envrun_t *self, const emu_rtapi_request_t *request);

//  The runtime's process ended as `how` ("exit status 3"); `init` when
//  it never finished its init. `spawned_ns` is CLOCK_MONOTONIC at spawn.
void emu_envrun_exited(emu_envrun_t *self, const char *how, bool init,
                       int64_t spawned_ns);

//  Init did not finish within `init_timeout_ns`.
void emu_envrun_init_timed_out(emu_envrun_t *self, int64_t init_timeout_ns,
                               int64_t spawned_ns);

//  The runtime posted an init error.
void emu_envrun_init_failed(emu_envrun_t *self, const emu_rtapi_request_t *request,
                            int64_t spawned_ns);

void emu_envrun_test(bool verbose);

#endif
