/*  ctl_app — one stampede process carrying out one subcommand: it owns
    everything the command starts (the CURVE key directory, the controller
    core, the HTTP API, the local agents and the Lambda emulator) and tears
    it all down, children terminated and reaped, on destroy.

        serve   keys + core + HTTP; prints the ready line, serves until
                SIGINT/SIGTERM
        run     keys + core (+ K local agents, or waits for K remote ones);
                one run; text or JSON summary
        demo    emulator + keys + core + HTTP + local agents; one run; the
                summary and the dashboard URL; serves until interrupted
                (or leaves, with --exit)
        export  the rows of one run from the database to out

    Local agents and the emulator are found next to the running executable
    (/proc/self/exe). Interruption is czmq's: SIGINT/SIGTERM set
    zsys_interrupted, which every wait here checks.

    Thread model: the main thread; the core and HTTP run their own threads.
*/
#ifndef CTL_APP_H
#define CTL_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctl_config.h"

typedef struct _ctl_app_t ctl_app_t;

//  How long `run --wait-agents` waits for its agents, and how long local
//  processes get to connect or announce themselves.
#define CTL_APP_WAIT_REMOTE_MS 60000
#define CTL_APP_WAIT_LOCAL_MS 30000

//  An application for a parsed config (borrowed for the object's life).
//  Results (ready line, summary, export) go to out, problems to err.
ctl_app_t *ctl_app_new(const ctl_config_t *config, FILE *out, FILE *err);

//  Stops whatever is still running (HTTP, agents, core, emulator), reaps
//  the children, removes local agents' keys; safe on NULL and twice.
void ctl_app_destroy(ctl_app_t **self_p);

//  Exit status of a run that completed but missed an --expect-* count.
#define CTL_APP_EXIT_EXPECTATION 3
//  Exit status of a run that ended with requests lost.
#define CTL_APP_EXIT_LOSSES 4
//  Exit status of a run the controller stopped mid-way (a signal).
#define CTL_APP_EXIT_INTERRUPTED 5
//  Exit status of a run whose start is not certified: an agent released
//  outside the instant ± its bound, or with requests not armed then.
#define CTL_APP_EXIT_MIS_STARTED 6

//  Carries out config->command. Returns the process exit status: 0 done
//  (a run completed: every request recorded, whatever its throttles), 1
//  failed, CTL_APP_EXIT_EXPECTATION a run that completed but missed an
//  expectation, CTL_APP_EXIT_LOSSES one completed with losses,
//  CTL_APP_EXIT_INTERRUPTED one interrupted, CTL_APP_EXIT_MIS_STARTED one
//  mis-started.
int ctl_app_run(ctl_app_t *self);

//  From the emulator's ready line "stampede-lambda listening on URL",
//  copies URL into url. Returns 0, or -1 when the line is not one.
int ctl_app_parse_lambda_line(const char *line, char *url, size_t url_size);

//  The host of an http(s) URL (brackets of an IPv6 literal removed) into
//  host. Returns 0 or -1.
int ctl_app_url_host(const char *url, char *host, size_t host_size);

void ctl_app_test(bool verbose);

#endif
