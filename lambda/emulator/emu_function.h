/*  emu_function — one Lambda function: its configuration, the environment
    variables its runtimes get, its execution environments and their
    concurrency slots (emu_pool), and its counters.

    Owns every emu_env_t of the function (live ones in the pool, gone ones
    until a deferred call destroys them), the pool, and the queue of
    environments to start. An invocation goes to an idle environment if
    there is one, else to a new environment while the cap (reserved
    concurrency, or the account limit) allows, else it is throttled at once
    - never queued. A new environment takes its slot at once, but its
    process is started from a timer, EMU_FUNCTION_SPAWN_BATCH per loop
    iteration: starting a process blocks the loop for about a millisecond,
    and a burst must not delay the throttle answers of the requests behind
    it.

    Environment of every runtime: AWS_LAMBDA_RUNTIME_API (its own endpoint),
    _HANDLER, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION=$LATEST,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128, AWS_LAMBDA_INITIALIZATION_TYPE=
    on-demand, AWS_REGION, AWS_DEFAULT_REGION=us-east-1, LAMBDA_TASK_ROOT
    and LAMBDA_RUNTIME_DIR (directory of the executable), AWS_LAMBDA_LOG_
    GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME, TZ=:UTC, LANG, PATH; then the
    --env pairs, which override.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_FUNCTION_H
#define EMU_FUNCTION_H

#include "emu_config.h"
#include "emu_invocation.h"
#include "emu_loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Processes started per loop iteration.
#define EMU_FUNCTION_SPAWN_BATCH 8

typedef struct _emu_function_t emu_function_t;

typedef enum {
    EMU_FUNCTION_DISPATCHED, //  an environment has it: completion follows
    EMU_FUNCTION_THROTTLED,  //  concurrency cap reached: answer 429 now
    EMU_FUNCTION_FAILED,     //  out of memory
} emu_function_result_t;

typedef struct {
    uint64_t invocations; //  dispatched to an environment
    uint64_t throttles;
    uint64_t spawns; //  environments started (cold starts)
    uint64_t spawn_failures;
    size_t starting;     //  waiting in the start queue
    size_t environments; //  live now (busy + idle, queued included)
    size_t idle;
    size_t cap; //  concurrency cap
} emu_function_stats_t;

//  Creates the function from `config` (borrowed for the function's life).
//  NULL when memory runs out.
emu_function_t *emu_function_new(emu_loop_t *loop, const emu_function_config_t *config,
                                 bool verbose);

//  Destroys every environment (killing and reaping their processes;
//  invocations in flight are handed back ABORTED) and frees. Nulls *self_p.
void emu_function_destroy(emu_function_t **self_p);

//  True when an invocation now would be throttled (no idle environment,
//  cap reached): lets a front door answer 429 without building the event.
bool emu_function_saturated(emu_function_t *self);

//  Dispatches `invocation` (borrowed until handed back through its done
//  callback, which never runs inside this call). An environment that
//  cannot start hands it back as INIT_ERROR (Runtime.InvalidEntrypoint).
emu_function_result_t emu_function_invoke(emu_function_t *self,
                                          emu_invocation_t *invocation);

//  Counts a throttle answered by a front door without invoking.
void emu_function_count_throttle(emu_function_t *self);

const char *emu_function_name(emu_function_t *self);

//  The environment variables a runtime gets, "KEY=VALUE" (borrowed).
const char *const *emu_function_environment(emu_function_t *self, size_t *count_p);

void emu_function_stats(emu_function_t *self, emu_function_stats_t *stats);

void emu_function_test(bool verbose);

#endif
