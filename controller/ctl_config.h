/*  ctl_config — the stampede command line: one ctl_config_t for every
    subcommand (serve, run, demo, export), its defaults and the parser that
    fills it from argv.

    Every value read from argv is checked here, at the boundary: numbers
    are range-checked; the run's URL, method, headers, body, timeout, count
    and start mode pass the run specification's rules (ctl_runspec, the
    same ones the HTTP API and the run engine apply); and cross-option
    rules (--insecure only on a loopback endpoint, a token for a
    non-loopback --http, --local-agents versus --wait-agents) are settled
    before anything starts. Code past ctl_config_parse works on a
    consistent configuration.

    Strings in a parsed config are borrowed from argv (or the environment)
    and live as long as they do. No state; any thread.
*/
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl_clock.h"
#include "ctl_runspec.h"
#include "proto_codec.h"

typedef enum {
    CTL_COMMAND_NONE = 0,
    CTL_COMMAND_SERVE,
    CTL_COMMAND_RUN,
    CTL_COMMAND_DEMO,
    CTL_COMMAND_EXPORT,
    CTL_COMMAND_SWEEP,
    CTL_COMMAND_AGENTS,
} ctl_command_t;

//  What ctl_config_parse tells the caller to do.
#define CTL_CONFIG_RUN 0   //  carry out config->command
#define CTL_CONFIG_EXIT 1  //  --help or --version was printed: exit 0
#define CTL_CONFIG_USAGE 2 //  bad usage was reported: exit 2

#define CTL_MAX_RESERVED 1000 //  demo --reserved
#define CTL_MAX_TOKEN 256
#define CTL_MAX_PATH 4096
#define CTL_MAX_START_TOLERANCE_MS 60000        //  --start-tolerance
#define CTL_MAX_CLOCK_SAMPLES CTL_CLOCK_SAMPLES //  --clock-samples: what a clock keeps
#define CTL_MIN_CLOCK_AGE_S 3    //  --clock-max-age: the drift needs samples 2 s apart
#define CTL_MAX_CLOCK_AGE_S 3600 //  --clock-max-age
#define CTL_CONFIG_MAX_ALLOW 64  //  serve --allow patterns (SP_ALLOW_MAX_PATTERNS)
#define CTL_MAX_SWEEP 16         //  sweep --reserved values

typedef struct {
    ctl_command_t command;
    //  Shared by several subcommands.
    const char *listen;    //  ZeroMQ endpoint agents connect to
    const char *http;      //  HOST:PORT of the dashboard, NULL for none
    const char *db;        //  SQLite results file
    const char *keys;      //  CURVE key directory
    bool insecure;         //  plain TCP instead of CURVE (loopback only)
    const char *token;     //  API token (--token or STAMPEDE_TOKEN), or NULL
    uint32_t local_agents; //  agents to spawn next to the executable
    uint32_t wait_agents;  //  remote agents to wait for (run)
    uint32_t requests;     //  -n, 1..CTL_RUNSPEC_MAX_REQUESTS
    //  serve, run: when a run may go and when its start counts as agreed
    uint32_t start_tolerance_ms; //  --start-tolerance (20)
    uint32_t clock_samples;      //  --clock-samples (3)
    uint32_t clock_max_age_s;    //  --clock-max-age (10)
    //  serve
    const char *target;                      //  default URL for dashboard runs
    const char *public_host;                 //  serve, demo: --public-host, or NULL
    const char *allow[CTL_CONFIG_MAX_ALLOW]; //  serve: --allow patterns (sp_allow)
    size_t n_allow;                          //  0: loopback targets only
    //  run
    const char *url;
    const char *method;
    const char *data;                       //  request body, or NULL
    const char *headers[PROTO_MAX_HEADERS]; //  "Name: value"
    size_t n_headers;
    uint32_t timeout_ms;         //  per request
    bool json;                   //  one JSON object, not the text summary
    ctl_expect_t expect;         //  run: --expect-* counts
    ctl_start_mode_t start_mode; //  run, demo: --start-mode
    int door;                    //  run: --door (ctl_door), CTL_DOOR_AUTO
    const char *arrival_header;  //  run: --arrival-header, or NULL
    const char *cacert;          //  run: --cacert FILE, or NULL
    //  run, sweep: the function behind --url, through the Lambda
    //  management API (ctl_lambda): run records its reserved concurrency,
    //  sweep sets it
    const char *function;        //  --function NAME, or NULL
    const char *lambda_endpoint; //  --lambda-endpoint URL, or NULL (AWS's)
    const char *region;          //  --region, or NULL (the environment's)
    //  sweep: the reserved concurrency of each run, in order
    //  (CTL_LAMBDA_UNRESERVED for none); default 5, 10, 50, unreserved
    int32_t sweep[CTL_MAX_SWEEP];
    size_t n_sweep;
    //  demo
    const char *lambda_listen; //  HOST:PORT for stampede-lambda
    uint32_t reserved;         //  the demo function's reserved concurrency
    bool exit_after;           //  --exit: leave after the summary
    //  run: --waves: N above what the agents hold together goes out in
    //  consecutive bursts (waves), each its own run, instead of being refused
    bool waves;
    //  run, sweep: --compensate-path (last-byte only)
    bool compensate_path;
    //  agents: enrolment ("admit", "revoke" or "list"), the agent's name and
    //  its public key (Z85 or a certificate file)
    const char *agents_action;
    const char *agent_name;
    const char *agent_key;
    bool replace; //  admit --replace: another key under the name
    //  export
    int64_t run_id;
    const char *format; //  "csv" or "json"
} ctl_config_t;

//  Fills self with the defaults of every option (command NONE).
void ctl_config_defaults(ctl_config_t *self);

//  Parses `stampede SUBCOMMAND [OPTIONS]` into self. env_token is the value
//  of STAMPEDE_TOKEN (NULL when unset), used when --token is not given.
//  Help and version text go to out, usage errors (one line naming the
//  problem, then a hint) to err. Returns CTL_CONFIG_RUN, CTL_CONFIG_EXIT or
//  CTL_CONFIG_USAGE. Uses getopt_long: not reentrant, call from one thread.
int ctl_config_parse(ctl_config_t *self, int argc, char **argv, const char *env_token,
                     FILE *out, FILE *err);

//  True when a ZeroMQ endpoint ("tcp://127.0.0.1:5555", "ipc://…",
//  "inproc://…") only reaches this host (a tcp:// host by sp_addr's rule).
bool ctl_config_endpoint_is_loopback(const char *endpoint);

//  True when HOST:PORT (sp_hostport, names allowed) names a loopback host
//  by sp_addr's rule (127.0.0.0/8, ::1, localhost).
bool ctl_config_hostport_is_loopback(const char *hostport);

//  The name of a subcommand ("serve", …; "none").
const char *ctl_config_command_name(ctl_command_t command);

void ctl_config_test(bool verbose);

#endif
