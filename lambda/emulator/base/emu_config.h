/*  emu_config — the command line of stampede-lambda:

      stampede-lambda [--listen HOST:PORT] --function NAME=PATH [--reserved N]
                      [--memory MB] [--env KEY=VALUE]... [--function ...]...
                      [--timeout SECONDS] [--account-concurrency N]
                      [--idle-ttl SECONDS] [--httpapi-throttle-status 500|429]
                      [--apigw-timeout SECONDS] [--httpapi-timeout SECONDS]
                      [--access-log FILE] [--verbose] [--help] [--version]

    --reserved, --memory and --env apply to the most recent --function.
    Cross-option rule: the reservations leave at least
    EMU_CONFIG_UNRESERVED_MIN of --account-concurrency unreserved. Owns the
    parsed settings (copies of every string). Validation happens here, at
    the boundary: names, paths (executable files, made absolute), ranges,
    counts (EMU_CONFIG_FUNCTIONS_MAX functions, EMU_CONFIG_ENV_MAX --env
    per function), lengths.

    Thread model: built once by main before the loop starts, then read-only.
*/
#ifndef EMU_CONFIG_H
#define EMU_CONFIG_H

#include "emu_route.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define EMU_CONFIG_FUNCTIONS_MAX 64
#define EMU_CONFIG_ENV_MAX 64
#define EMU_CONFIG_KEY_MAX 128
#define EMU_CONFIG_VALUE_MAX 4096
//  --reserved: at most the largest account limit minus the unreserved
//  minimum (the sum is checked against --account-concurrency).
#define EMU_CONFIG_RESERVED_MAX 9900
#define EMU_CONFIG_TIMEOUT_MAX 900
#define EMU_CONFIG_LISTEN_DEFAULT "127.0.0.1:9000"
#define EMU_CONFIG_TIMEOUT_DEFAULT 3
//  Longest --access-log path, bytes.
#define EMU_CONFIG_PATH_MAX 4095
//  The account's concurrency limit (--account-concurrency): default,
//  range. Also the cap of a function created without an account.
#define EMU_CONFIG_ACCOUNT_LIMIT 1000
#define EMU_CONFIG_ACCOUNT_MIN 100
#define EMU_CONFIG_ACCOUNT_MAX 10000
//  Concurrency that reservations must leave to the other functions.
#define EMU_CONFIG_UNRESERVED_MIN 100
//  --idle-ttl: on-demand environments idle this long are stopped.
#define EMU_CONFIG_IDLE_TTL_DEFAULT 600
#define EMU_CONFIG_IDLE_TTL_MAX 86400
//  --apigw-timeout and --httpapi-timeout: the integration timeouts of the
//  API Gateway doors, seconds (AWS's defaults: 29 s REST, 30 s HTTP API).
#define EMU_CONFIG_APIGW_TIMEOUT_DEFAULT 29
#define EMU_CONFIG_HTTPAPI_TIMEOUT_DEFAULT 30
//  --memory, MB.
#define EMU_CONFIG_MEMORY_DEFAULT 128
#define EMU_CONFIG_MEMORY_MIN 128
#define EMU_CONFIG_MEMORY_MAX 10240

typedef struct _emu_config_t emu_config_t;

//  One --function with its --reserved, --memory and --env. Strings are
//  owned by the emu_config_t and live as long as it. A zero memory_mb,
//  timeout_s or idle_ttl_s (a hand-built config) means the default.
typedef struct {
    char name[EMU_ROUTE_NAME_MAX + 1];
    const char *path;       //  absolute path of the executable
    int reserved;           //  0..EMU_CONFIG_RESERVED_MAX, or -1 when not reserved
    const char *const *env; //  "KEY=VALUE" strings, in order given
    size_t env_count;
    int timeout_s;  //  function timeout, seconds (--timeout)
    int memory_mb;  //  --memory, 128..10240
    int idle_ttl_s; //  --idle-ttl, seconds
} emu_function_config_t;

typedef enum {
    EMU_CONFIG_RUN,   //  valid: run
    EMU_CONFIG_EXIT,  //  --help or --version printed: exit 0
    EMU_CONFIG_USAGE, //  invalid: message printed, exit 2
} emu_config_result_t;

//  Creates an empty configuration with the defaults. NULL without memory.
emu_config_t *emu_config_new(void);

//  Frees it. Safe on NULL; nulls *self_p.
void emu_config_destroy(emu_config_t **self_p);

//  Parses `argv`. Help and version go to `out`; usage errors to `err`, as
//  one line "stampede-lambda: <problem>" then a hint to --help. Call once.
emu_config_result_t emu_config_parse(emu_config_t *self, int argc, char **argv, FILE *out,
                                     FILE *err);

//  The --listen address ("127.0.0.1:9000" by default).
const char *emu_config_listen(emu_config_t *self);

size_t emu_config_function_count(emu_config_t *self);

//  Function `index`; borrowed for the configuration's life.
const emu_function_config_t *emu_config_function(emu_config_t *self, size_t index);

//  --timeout in seconds (default 3).
int emu_config_timeout_s(emu_config_t *self);

//  --access-log: the file that gets one JSON line per front-door answer,
//  or NULL when not given. Borrowed for the configuration's life.
const char *emu_config_access_log(emu_config_t *self);

//  --account-concurrency: the account's concurrency limit (default 1000).
int emu_config_account_concurrency(emu_config_t *self);

//  --idle-ttl in seconds (default 600).
int emu_config_idle_ttl_s(emu_config_t *self);

//  --httpapi-throttle-status: the status an API Gateway HTTP API door
//  answers a throttled invocation with, 500 (default) or 429.
int emu_config_httpapi_throttle_status(emu_config_t *self);

//  --apigw-timeout: seconds an API Gateway REST API door waits for its
//  function before it answers 504 (default 29).
int emu_config_apigw_timeout_s(emu_config_t *self);

//  --httpapi-timeout: seconds an API Gateway HTTP API door waits for its
//  function before it answers 503 (default 30).
int emu_config_httpapi_timeout_s(emu_config_t *self);

//  --verbose: log every request.
bool emu_config_verbose(emu_config_t *self);

void emu_config_test(bool verbose);

#endif
