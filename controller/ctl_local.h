/*  ctl_local — one child process the controller started on this host (a
    local agent, the Lambda emulator): fork/exec, optional capture of its
    stdout for a ready line, and termination that always reaps.

    The child asks the kernel for SIGTERM when its parent dies
    (PR_SET_PDEATHSIG), so a controller killed without cleanup takes its
    children with it. Note the signal follows the *thread* that forked:
    create ctl_local objects from the main thread. A child that is not
    captured writes its stdout to our stderr, so the controller's own stdout
    (the ready line, --json output) stays clean. stdin is /dev/null and no
    other descriptor is inherited.

    ctl_local_stop and ctl_local_destroy only ever signal the pid this
    object started, and only while it is not yet reaped (an unreaped child
    keeps its pid, so the signal cannot hit a stranger).

    Thread model: an object is used by the thread that created it.
*/
#ifndef CTL_LOCAL_H
#define CTL_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CTL_LOCAL_MAX_LINE 4096
#define CTL_LOCAL_GRACE_MS 3000

typedef struct _ctl_local_t ctl_local_t;

//  Starts argv[0] (a path) with argv (NULL-terminated). capture_stdout
//  pipes the child's stdout to us for ctl_local_read_line. Returns the
//  object once the exec succeeded, or NULL with the reason in err.
ctl_local_t *ctl_local_new(char *const argv[], bool capture_stdout, char *err,
                           size_t err_size);

//  Stops the child if it still runs (ctl_local_stop with the default
//  grace), reaps it and frees; safe on NULL and twice; nulls *self_p.
void ctl_local_destroy(ctl_local_t **self_p);

//  The child's pid.
pid_t ctl_local_pid(ctl_local_t *self);

//  Reads the next line of the child's captured stdout into line (without
//  the newline; longer lines are cut at size - 1), waiting at most
//  timeout_ms. Returns the line length, or -1 on timeout, end of output or
//  when stdout is not captured.
int ctl_local_read_line(ctl_local_t *self, char *line, size_t size, int timeout_ms);

//  True while the child runs; reaps it without waiting once it exited.
bool ctl_local_running(ctl_local_t *self);

//  The child's exit status (0-255; 128 + signal when killed), or -1 while
//  it runs.
int ctl_local_exit_status(ctl_local_t *self);

//  Sends SIGTERM, waits up to grace_ms for the child to exit, then sends
//  SIGKILL, and reaps it. Returns its exit status. Idempotent.
int ctl_local_stop(ctl_local_t *self, int grace_ms);

//  The directory holding the running executable (from /proc/self/exe),
//  into dir. Returns 0 or -1.
int ctl_local_exe_dir(char *dir, size_t size);

void ctl_local_test(bool verbose);

#endif
