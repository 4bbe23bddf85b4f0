/*  ctl_config — the stampede command line: one ctl_config_t for every
    subcommand (serve, run, demo, export), its defaults and the parser that
    fills it from argv.

    Every value read from argv is checked here, at the boundary: numbers are
    range-checked, URLs, methods and headers must pass the same rules the
    wire protocol enforces, and cross-option rules (--insecure only on a
    loopback endpoint, a token for a non-loopback --http, --local-agents
    versus --wait-agents) are settled before anything starts. Code past
    ctl_config_parse works on a consistent configuration.

    Strings in a parsed config are borrowed from argv (or the environment)
    and live as long as they do. No state; any thread.
*/
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto_codec.h"

typedef enum {
    CTL_COMMAND_NONE = 0,
    CTL_COMMAND_SERVE,
    CTL_COMMAND_RUN,
    CTL_COMMAND_DEMO,
    CTL_COMMAND_EXPORT,
} ctl_command_t;

//  How the agents make a run's requests simultaneous (--start-mode, the
//  API's "start_mode"). AUTO resolves per run: LAST_BYTE when the request
//  has a body (and is not HEAD), AT_GO otherwise.
typedef enum {
    CTL_START_MODE_AUTO = 0,
    CTL_START_MODE_AT_GO,     //  start every transfer at the instant
    CTL_START_MODE_LAST_BYTE, //  write all but the last body byte ahead
} ctl_start_mode_t;

//  What ctl_config_parse tells the caller to do.
#define CTL_CONFIG_RUN 0   //  carry out config->command
#define CTL_CONFIG_EXIT 1  //  --help or --version was printed: exit 0
#define CTL_CONFIG_USAGE 2 //  bad usage was reported: exit 2

#define CTL_MAX_AGENTS 256       //  --local-agents / --wait-agents
#define CTL_MAX_REQUESTS 1000000 //  -n
#define CTL_MAX_RESERVED 1000    //  demo --reserved
#define CTL_MAX_TOKEN 256
#define CTL_MAX_PATH 4096

//  Counts a run must end with (`run --expect-*`); -1 where none is set.
typedef struct {
    int64_t ok;
    int64_t throttled;
    int64_t errors;
    int64_t lost;
} ctl_expect_t;

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
    uint32_t requests;     //  -n
    //  serve
    const char *target; //  default URL for runs started from the dashboard
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
    //  demo
    const char *lambda_listen; //  HOST:PORT for stampede-lambda
    uint32_t reserved;         //  the demo function's reserved concurrency
    bool exit_after;           //  --exit: leave after the summary
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
//  "inproc://…") only reaches this host.
bool ctl_config_endpoint_is_loopback(const char *endpoint);

//  True when HOST:PORT names a loopback address (127.0.0.0/8, ::1,
//  localhost).
bool ctl_config_hostport_is_loopback(const char *hostport);

//  Splits "HOST:PORT" ("[::1]:80" for IPv6) into host (brackets removed)
//  and port 0..65535. Returns 0, or -1 when malformed.
int ctl_config_split_hostport(const char *hostport, char *host, size_t host_size,
                              int *port);

//  Splits and checks one "Name: value" header as the protocol will (token
//  name, printable value, caps): copies the name into name (at least
//  PROTO_MAX_HEADER_NAME + 1 bytes) and points *value into header past the
//  colon and any blanks. Returns 0, or -1 with a reason in err.
int ctl_config_split_header(const char *header, char *name, size_t name_size,
                            const char **value, char *err, size_t err_size);

//  Checks an http:// or https:// URL against the protocol's rules. Returns
//  0, or -1 with a reason in err.
int ctl_config_check_url(const char *url, char *err, size_t err_size);

//  Parses a start mode: "auto", "at-go" or "last-byte" (also "at_go",
//  "last_byte", the names results use). Returns 0, or -1 when text is none
//  of them.
int ctl_config_start_mode_parse(const char *text, ctl_start_mode_t *mode);

//  "auto", "at-go" or "last-byte".
const char *ctl_config_start_mode_name(ctl_start_mode_t mode);

//  The name of a subcommand ("serve", …; "none").
const char *ctl_config_command_name(ctl_command_t command);

void ctl_config_test(bool verbose);

#endif
