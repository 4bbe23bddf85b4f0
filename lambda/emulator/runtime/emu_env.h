/*  emu_env — one execution environment: a child process running the
    function's runtime, and that environment's own Runtime API endpoint
    (a libmicrohttpd daemon on 127.0.0.1:<ephemeral port>).

    Owns its child process (emu_proc), its output and log (emu_envlog),
    its Runtime API endpoint (emu_rtapi), the run of the invocation it
    serves (emu_envrun: the borrowed invocation and its deadline) and the
    init timer. It serves one invocation at a time.

    Lifecycle: STARTING (spawned; init ends at the first /next) -> IDLE
    (parked in /next) <-> RUNNING (event delivered) -> FINISHING (result
    posted, the next /next not yet arrived) -> ... ; any state -> DYING
    (killed on timeout or init error, or exited) -> GONE (reaped). An
    invocation assigned while STARTING or IDLE is delivered at the next
    /next. Every way out of RUNNING hands the invocation back exactly once:
    response (OK), error (FUNCTION_ERROR), timeout (Sandbox.Timedout, then
    the environment is killed), exit or crash (Runtime.ExitError), init
    error or init timeout (INIT_ERROR), oversized response (TOO_LARGE),
    destroy (ABORTED).

    The pieces: emu_proc (the child process), emu_envlog (its output and
    the invocation's log, START/END/REPORT as CloudWatch shows them for a
    custom runtime), emu_rtapi (the Runtime API endpoint), emu_envrun (how
    an invocation's run ends). This module is the state machine between
    them and the owner.

    The invocation's log: Memory Size comes from
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128, AWS's range 128..10240),
    Max Memory Used from the runtime's peak memory, the version is the
    invocation's, else AWS_LAMBDA_FUNCTION_VERSION, else $LATEST; the
    Init Duration is shown (and billed) only on the invocation that waited
    for the environment to start. A timeout lasts exactly the function
    timeout in its REPORT and adds the "Task timed out" line; a crash adds
    "RequestId: <id> Error: Runtime exited with error: signal: killed" (or
    "exit status 3") and "Runtime.ExitError", with Status: error and Error
    Type Runtime.ExitError; a failed init writes INIT_REPORT before START.

    The owner hears of two things: idle (waiting for work: the pool slot
    becomes reusable) and gone (process reaped: destroy the environment -
    later, from a deferred call, never inside the callback).

    A /next answer carries the event and Lambda-Runtime-Aws-Request-Id,
    -Deadline-Ms (now plus the function timeout), -Invoked-Function-Arn
    (qualified as invoked: emu_invocation_set_invoked_qualifier),
    -Trace-Id (timed at emu_invocation_received_ns), and -Client-Context
    when the invocation has one (emu_invocation_set_client_context).

    Runtime API answers decided here: wrong request id 400, calls out of
    order 403, a response or error over EMU_LIMIT_PAYLOAD_MAX 413 (the
    invocation fails as Function.ResponseSizeTooLarge); the rest are
    emu_rtapi's. Once dying, every call is answered 500 Runtime.Shutdown.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_ENV_H
#define EMU_ENV_H

#include "emu_invocation.h"
#include "emu_limits.h"
#include "emu_loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  The init limit by its former name, for core/ until it names
//  EMU_LIMIT_INIT_TIMEOUT_NS itself.
#define EMU_ENV_INIT_TIMEOUT_NS EMU_LIMIT_INIT_TIMEOUT_NS

typedef struct _emu_env_t emu_env_t;

typedef enum {
    EMU_ENV_STARTING,
    EMU_ENV_IDLE,
    EMU_ENV_RUNNING,
    EMU_ENV_FINISHING,
    EMU_ENV_DYING,
    EMU_ENV_GONE,
} emu_env_state_t;

typedef struct {
    //  Waiting in /next with nothing to do.
    void (*idle)(emu_env_t *env, void *arg);
    //  The process is reaped; destroy the environment from a deferred call.
    void (*gone)(emu_env_t *env, void *arg);
} emu_env_events_t;

//  How to start one. Strings are borrowed for the environment's life.
typedef struct {
    const char *function;    //  function name
    const char *path;        //  executable (absolute)
    const char *const *env;  //  "KEY=VALUE" environment, without
    size_t env_count;        //  AWS_LAMBDA_RUNTIME_API (added here)
    int64_t timeout_ns;      //  function timeout
    int64_t init_timeout_ns; //  init limit
    bool verbose;            //  log every Runtime API call
} emu_env_spec_t;

//  Starts the Runtime API daemon and spawns the runtime. `serial` names
//  the environment ("NAME#serial"); `tag` is the owner's (its pool slot).
//  Returns NULL with a reason in `err` when the daemon or the process
//  cannot start.
emu_env_t *emu_env_new(emu_loop_t *loop, const emu_env_spec_t *spec, unsigned serial,
                       size_t tag, const emu_env_events_t *events, void *arg, char *err,
                       size_t err_size);

//  Kills the process group if still running and reaps it, hands back a
//  held invocation as ABORTED, stops the daemon, frees. Never call it
//  from the environment's own callbacks. Nulls *self_p.
void emu_env_destroy(emu_env_t **self_p);

//  Gives the environment `invocation` (borrowed until handed back).
//  Precondition: STARTING or IDLE without an invocation.
void emu_env_assign(emu_env_t *self, emu_invocation_t *invocation);

emu_env_state_t emu_env_state(emu_env_t *self);
const char *emu_env_name(emu_env_t *self);
size_t emu_env_tag(emu_env_t *self);
pid_t emu_env_pid(emu_env_t *self);
//  Port of its Runtime API endpoint.
uint16_t emu_env_port(emu_env_t *self);
//  Spawn to first /next, 0 while starting.
int64_t emu_env_init_ns(emu_env_t *self);
//  Invocations delivered so far.
uint64_t emu_env_invocations(emu_env_t *self);
//  Output lines read so far, and those not forwarded to our log (over
//  the rate limit).
uint64_t emu_env_output_lines(emu_env_t *self);
uint64_t emu_env_output_dropped(emu_env_t *self);
//  Memory Size of its REPORT lines, in MB.
unsigned emu_env_memory_mb(emu_env_t *self);

void emu_env_test(bool verbose);

#endif
