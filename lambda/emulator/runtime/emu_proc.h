/*  emu_proc — the child process of one execution environment: the
    function's runtime, spawned with Lambda's environment variables, in its
    own process group, and reaped when it exits.

    Owns the pid (leader of its process group) and a pidfd watched in the
    emulator loop. The read end of the pipe carrying the child's stdout and
    stderr is handed to the caller at spawn (emu_envlog reads it).

    Environment of the child: the caller's "KEY=VALUE" list, then
    AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port> and, unless the list has one,
    AWS_LAMBDA_LOG_STREAM_NAME=YYYY/MM/DD/[<version>]<32 hex digits>. Its
    stdin is /dev/null, its working directory the executable's folder
    (LAMBDA_TASK_ROOT), its signal mask empty and dispositions default.

    Invariants: the exited event fires at most once, after the process is
    waited for; by then the rest of its group has been sent SIGKILL.
    Destroy kills the group and reaps the leader if that has not happened.

    Thread model: the emulator loop's thread only.
*/
#ifndef EMU_PROC_H
#define EMU_PROC_H

#include "emu_loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _emu_proc_t emu_proc_t;

//  The process was waited for: `status` as waitpid gives it, or, when
//  waiting failed, `wait_errno` (non-zero) and no status. Never destroy
//  the process from inside.
typedef void(emu_proc_exited_fn)(emu_proc_t *proc, int status, int wait_errno, void *arg);

//  How to start one. Strings are borrowed for the call only.
typedef struct {
    const char *path;       //  executable (absolute)
    const char *const *env; //  "KEY=VALUE" environment
    size_t env_count;       //  entries in env
    uint16_t runtime_api;   //  port of the environment's Runtime API
    const char *version;    //  for the log stream name ("$LATEST", "3")
} emu_proc_spec_t;

//  Spawns the runtime. On success returns the process and sets
//  *output_fd_p to the read end of its stdout+stderr pipe (non-blocking,
//  close-on-exec; the caller owns it). Returns NULL with a reason in `err`
//  ("cannot start PATH: REASON") when it cannot start.
emu_proc_t *emu_proc_new(emu_loop_t *loop, const emu_proc_spec_t *spec,
                         emu_proc_exited_fn *exited, void *arg, int *output_fd_p,
                         char *err, size_t err_size);

//  Kills the process group if the leader is not yet reaped, waits for the
//  leader, stops watching. Safe on NULL; nulls *self_p.
void emu_proc_destroy(emu_proc_t **self_p);

//  Sends SIGKILL to the whole process group (the runtime and anything it
//  started) unless the leader is already reaped; the exited event follows.
void emu_proc_kill(emu_proc_t *self);

pid_t emu_proc_pid(emu_proc_t *self);
//  True once the leader has been waited for.
bool emu_proc_reaped(emu_proc_t *self);
//  CLOCK_MONOTONIC at spawn.
int64_t emu_proc_spawned_ns(emu_proc_t *self);
//  Peak resident memory in MB, rounded up: the runtime's VmHWM while it
//  runs, its rusage once reaped; 0 when unknown.
unsigned emu_proc_max_memory_mb(emu_proc_t *self);

//  How a process ended, worded like Lambda (Go's os.ProcessState): "exit
//  status 3", "signal: killed", "signal: signal 40".
void emu_proc_describe(int status, char *out, size_t size);

//  The value of `key` in a "KEY=VALUE" list (the last one wins), or NULL.
const char *emu_proc_env_value(const char *const *env, size_t count, const char *key);

void emu_proc_test(bool verbose);

#endif
