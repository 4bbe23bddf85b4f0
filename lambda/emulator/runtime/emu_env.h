/*  emu_env — one execution environment: a child process running the
    function's runtime, and that environment's own Runtime API endpoint
    (a libmicrohttpd daemon on 127.0.0.1:<ephemeral port>).

    Owns the child (pid, pidfd, its process group), the pipe carrying its
    stdout and stderr, the Runtime API daemon and its connections, the
    init and invocation timers, and a borrowed pointer to the invocation it
    serves. It serves one invocation at a time.

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

    The invocation's log (emu_invocation_log), as CloudWatch shows it for
    a custom runtime; numbers are "%.2f" milliseconds, Billed Duration is
    rounded up to 1 ms and includes the Init Duration of a cold start
    (custom runtimes are billed for init), memory is MB (Memory Size from
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE, default 128; Max Memory Used from the
    runtime's VmHWM, rounded up), the version is the invocation's, else
    AWS_LAMBDA_FUNCTION_VERSION, else $LATEST:

      START RequestId: <id> Version: <version>
      <every line the runtime writes while it holds the invocation>
      END RequestId: <id>
      REPORT RequestId: <id>\tDuration: 1.23 ms\tBilled Duration: 2 ms\t
        Memory Size: 128 MB\tMax Memory Used: 9 MB\t[Init Duration: 4.56 ms\t]
        [Status: timeout | Status: error\tError Type: <type>]\n

    (one REPORT line; Init Duration only on the invocation that waited for
    the environment to start). Before END, a timeout adds
    "<2026-11-26T17:40:01.123Z> <id> Task timed out after 3.00 seconds"
    and Status: timeout; a crash adds "RequestId: <id> Error: Runtime
    exited with error: signal: killed" (or "exit status 3") and
    "Runtime.ExitError", and Status: error with Error Type
    Runtime.ExitError. A failed init writes, before START,
    "INIT_REPORT Init Duration: 1.23 ms\tPhase: init\tStatus: error\t
    Error Type: <type>" (Status: timeout past the init limit).

    Output: at most EMU_ENV_READ_MAX bytes are read per loop wake-up (a
    flooding runtime blocks on its own pipe while everything else is
    served); lines are cut at EMU_ENV_LINE_MAX; at most EMU_ENV_LOG_RATE
    lines a second (bursts of EMU_ENV_LOG_BURST) go to our log, the rest
    are counted and the count logged; the invocation's log keeps its tail.

    The owner hears of two things: idle (waiting for work: the pool slot
    becomes reusable) and gone (process reaped: destroy the environment -
    later, from a deferred call, never inside the callback).

    A /next answer carries the event and Lambda-Runtime-Aws-Request-Id,
    -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id, and -Client-Context
    when the invocation has one (emu_invocation_set_client_context).

    Runtime API answers: wrong request id 400, calls out of order 403,
    unknown resource 404, wrong method 405, a /next replaced by a newer
    one 409, body over 6 MiB 413 - always a JSON {"errorMessage",
    "errorType"}; at most EMU_ENV_CONNECTIONS connections at once, request
    head capped at 32 KiB; the emulator keeps serving.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_ENV_H
#define EMU_ENV_H

#include "emu_invocation.h"
#include "emu_loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  Longest output line forwarded; the rest of a longer line is dropped.
#define EMU_ENV_LINE_MAX 4096
//  Output bytes read from a runtime per loop wake-up.
#define EMU_ENV_READ_MAX 65536
//  Output lines a second, and in a burst, forwarded to our log.
#define EMU_ENV_LOG_RATE 100
#define EMU_ENV_LOG_BURST 200
//  Runtime API connections one environment may hold at once.
#define EMU_ENV_CONNECTIONS 16
//  Largest response or error a runtime may post.
#define EMU_ENV_BODY_MAX 6291456
//  Init limit of an on-demand environment.
#define EMU_ENV_INIT_TIMEOUT_NS (INT64_C(10) * 1000000000)

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
