/*  ctl_app — the subcommands of stampede; see ctl_app.h.

    Each command is a short sequence of s_start_* steps followed by a wait;
    any step that fails says why on err and the command returns 1, leaving
    the teardown to ctl_app_destroy, which undoes the steps in reverse.
*/
#include "ctl_app.h"
#include "ctl_door.h"
#include "ctl_http.h"
#include "ctl_keys.h"
#include "ctl_lambda.h"
#include "ctl_local.h"
#include "ctl_report.h"
#include "ctl_server.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_hostport.h"
#include "store_api.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PATH 4096
#define S_URL 512
#define S_POLL_MS 50
//  How long a run may take beyond its own limits before we stop waiting:
//  the core itself ends every run (Ready timeout, deadline), so this only
//  guards against a core that stopped answering.
#define S_RUN_SLACK_MS 60000

struct _ctl_app_t {
    const ctl_config_t *config;  //  borrowed
    FILE *out;                   //  results
    FILE *err;                   //  problems
    char exe_dir[S_PATH];        //  where our sibling binaries live
    ctl_keys_t *keys;            //  CURVE keys, NULL with --insecure
    ctl_server_t *server;        //  the core
    ctl_http_t *http;            //  the dashboard and API
    char dashboard_url[S_URL];   //  http://HOST:PORT/, "" before HTTP starts
    ctl_local_t *lambda;         //  the emulator (demo)
    char lambda_url[S_URL];      //  its base URL
    char target_url[S_URL + 16]; //  the demo function's URL
    ctl_local_t *agents[CTL_RUNSPEC_MAX_AGENTS]; //  local agents
    size_t n_agents;
};

static void __attribute__((format(printf, 2, 3)))
s_say(ctl_app_t *self, const char *format, ...)
{
    fprintf(self->err, "stampede %s: ", ctl_config_command_name(self->config->command));
    va_list args;
    va_start(args, format);
    vfprintf(self->err, format, args);
    va_end(args);
    fputc('\n', self->err);
    fflush(self->err);
}

ctl_app_t *
ctl_app_new(const ctl_config_t *config, FILE *out, FILE *err)
{
    assert(config && out && err);
    ctl_app_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    self->out = out;
    self->err = err;
    return self;
}

void
ctl_app_destroy(ctl_app_t **self_p)
{
    assert(self_p);
    ctl_app_t *self = *self_p;
    if (!self)
        return;
    ctl_http_destroy(&self->http);
    //  Agents first: they would only reconnect to a stopped core.
    for (size_t i = 0; i < self->n_agents; i++)
        if (self->agents[i])
            kill(ctl_local_pid(self->agents[i]), SIGTERM);
    for (size_t i = 0; i < self->n_agents; i++)
        ctl_local_destroy(&self->agents[i]);
    ctl_server_destroy(&self->server);
    ctl_local_destroy(&self->lambda);
    ctl_keys_destroy(&self->keys);
    free(self);
    *self_p = NULL;
}

int
ctl_app_parse_lambda_line(const char *line, char *url, size_t url_size)
{
    static const char prefix[] = "stampede-lambda listening on ";
    if (!line || strncmp(line, prefix, sizeof prefix - 1) != 0)
        return -1;
    const char *rest = line + sizeof prefix - 1;
    size_t n = strcspn(rest, " \t\r\n");
    if (n == 0 || n >= url_size || strncmp(rest, "http://", 7) != 0)
        return -1;
    memcpy(url, rest, n);
    url[n] = '\0';
    //  The base URL, without a trailing slash.
    if (n > 7 && url[n - 1] == '/')
        url[n - 1] = '\0';
    return 0;
}

int
ctl_app_url_host(const char *url, char *host, size_t host_size)
{
    assert(url && host && host_size > 0);
    const char *rest = strncmp(url, "http://", 7) == 0    ? url + 7
                       : strncmp(url, "https://", 8) == 0 ? url + 8
                                                          : NULL;
    if (!rest)
        return -1;
    //  Skip userinfo: the host follows the last '@' before the path.
    size_t authority = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', authority);
    while (at) {
        authority -= (size_t)(at + 1 - rest);
        rest = at + 1;
        at = memchr(rest, '@', authority);
    }
    size_t len;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', authority);
        if (!close)
            return -1;
        rest++;
        len = (size_t)(close - rest);
    } else {
        const char *colon = memchr(rest, ':', authority);
        len = colon ? (size_t)(colon - rest) : authority;
    }
    if (len == 0 || len >= host_size)
        return -1;
    memcpy(host, rest, len);
    host[len] = '\0';
    return 0;
}

//  "http://HOST:PORT/" for a HOST:PORT listen address and its bound port.
static void
s_http_url(const char *hostport, int port, char *url, size_t size)
{
    sp_hostport_t address;
    char why[128], text[SP_HOSTPORT_HOST_MAX + 16];
    if (sp_hostport_parse(hostport, SP_HOSTPORT_NAMES | SP_HOSTPORT_PORT0, &address, why,
                          sizeof why) != SP_HOSTPORT_OK ||
        strcmp(address.host, "0.0.0.0") == 0 || strcmp(address.host, "::") == 0)
        //  Unparsed, or every address: the loopback one is reachable from here.
        address = (sp_hostport_t){.host = "127.0.0.1"};
    if (sp_hostport_format(&address, (uint16_t)port, text, sizeof text))
        snprintf(text, sizeof text, "127.0.0.1:%d", port);
    snprintf(url, size, "http://%s/", text);
}

//  --------------------------------------------------------------------------
//  Steps

static int
s_start_keys(ctl_app_t *self)
{
    if (self->config->insecure)
        return 0;
    char err[512];
    self->keys = ctl_keys_new(self->config->keys, err, sizeof err);
    if (!self->keys) {
        s_say(self, "%s", err);
        return -1;
    }
    return 0;
}

static int
s_start_server(ctl_app_t *self, const char *default_url, uint32_t default_requests,
               const json_t *run_defaults)
{
    char err[512];
    ctl_run_timing_t timing;
    ctl_run_timing_defaults(&timing);
    timing.start_tolerance_ns = (int64_t)self->config->start_tolerance_ms * SP_NS_PER_MS;
    timing.clock_min_samples = self->config->clock_samples;
    timing.clock_max_age_ns = (int64_t)self->config->clock_max_age_s * SP_NS_PER_S;
    ctl_server_config_t config = {
        .listen = self->config->listen,
        .db_path = self->config->db,
        .cert = self->keys ? ctl_keys_cert(self->keys) : NULL,
        .agents_dir = self->keys ? ctl_keys_agents_dir(self->keys) : NULL,
        .default_url = default_url,
        .default_requests = default_requests,
        .run_defaults = run_defaults,
        .timing = &timing,
    };
    self->server = ctl_server_new(&config, err, sizeof err);
    if (!self->server) {
        s_say(self, "%s", err);
        return -1;
    }
    return 0;
}

static int
s_start_http(ctl_app_t *self)
{
    char err[512];
    //  The function behind the dashboard's runs: serve's --function, or
    //  the demo's own.
    ctl_lambda_t lambda;
    const ctl_lambda_t *behind = NULL;
    if (self->config->function &&
        ctl_lambda_init(&lambda, self->config->lambda_endpoint, self->config->function,
                        self->config->region, NULL, err, sizeof err) == 0)
        behind = &lambda;
    else if (self->config->command == CTL_COMMAND_DEMO && self->lambda_url[0] &&
             ctl_lambda_init(&lambda, self->lambda_url, "demo", NULL, NULL, err,
                             sizeof err) == 0)
        behind = &lambda;
    ctl_http_config_t config = {
        .lambda = behind,
        .listen = self->config->http,
        .db_path = self->config->db,
        .token = self->config->token,
        .command_endpoint = ctl_server_command_endpoint(self->server),
        .public_host = self->config->public_host,
        .allow = self->config->allow,
        .allow_count = self->config->n_allow,
    };
    self->http = ctl_http_new(&config, err, sizeof err);
    if (!self->http) {
        s_say(self, "%s", err);
        return -1;
    }
    s_http_url(self->config->http, ctl_http_port(self->http), self->dashboard_url,
               sizeof self->dashboard_url);
    return 0;
}

static int
s_find_sibling(ctl_app_t *self, const char *name, char *path, size_t size)
{
    if (!self->exe_dir[0] && ctl_local_exe_dir(self->exe_dir, sizeof self->exe_dir)) {
        s_say(self, "cannot find the directory of the running executable");
        return -1;
    }
    int n = snprintf(path, size, "%s/%s", self->exe_dir, name);
    if (n < 0 || (size_t)n >= size || access(path, X_OK) != 0) {
        s_say(self, "%s not found next to stampede (in %s)", name, self->exe_dir);
        return -1;
    }
    return 0;
}

//  Spawns count local agents connected to the core; allow_host, when set,
//  is added to their target allow-list.
static int
s_start_agents(ctl_app_t *self, uint32_t count, uint32_t requests, const char *allow_host)
{
    char agent_path[S_PATH + 32];
    if (s_find_sibling(self, "stampede-agent", agent_path, sizeof agent_path))
        return -1;
    //  Each agent must accept its whole share (ceil(requests / count)).
    uint32_t share = requests / count + (requests % count ? 1 : 0);
    char capacity[16];
    snprintf(capacity, sizeof capacity, "%u", share > 10000 ? share : 10000);
    for (uint32_t i = 0; i < count; i++) {
        char id[32], err[512];
        snprintf(id, sizeof id, "local-%u", i + 1);
        const char *argv[16];
        int argc = 0;
        argv[argc++] = agent_path;
        argv[argc++] = "--controller";
        argv[argc++] = ctl_server_endpoint(self->server);
        argv[argc++] = "--id";
        argv[argc++] = id;
        argv[argc++] = "--capacity";
        argv[argc++] = capacity;
        if (self->keys) {
            const char *key = ctl_keys_issue_local(self->keys, id, err, sizeof err);
            if (!key) {
                s_say(self, "%s", err);
                return -1;
            }
            argv[argc++] = "--server-key";
            argv[argc++] = ctl_keys_public_path(self->keys);
            argv[argc++] = "--key";
            argv[argc++] = key;
        } else
            argv[argc++] = "--insecure";
        if (allow_host) {
            argv[argc++] = "--allow";
            argv[argc++] = allow_host;
        }
        argv[argc] = NULL;
        self->agents[i] = ctl_local_new((char *const *)argv, false, err, sizeof err);
        if (!self->agents[i]) {
            s_say(self, "%s", err);
            return -1;
        }
        self->n_agents = i + 1;
    }
    return 0;
}

//  A status command's reply (caller owns), or NULL when the core is gone.
static json_t *
s_status(ctl_app_t *self)
{
    json_t *request = json_pack("{s:s}", "action", "status");
    json_t *reply = ctl_server_request(self->server, request);
    json_decref(request);
    return reply;
}

//  True when a local child we started has exited (and says which).
static bool
s_local_died(ctl_app_t *self)
{
    for (size_t i = 0; i < self->n_agents; i++)
        if (!ctl_local_running(self->agents[i])) {
            s_say(self, "local agent local-%zu exited with status %d", i + 1,
                  ctl_local_exit_status(self->agents[i]));
            return true;
        }
    if (self->lambda && !ctl_local_running(self->lambda)) {
        s_say(self, "stampede-lambda exited with status %d",
              ctl_local_exit_status(self->lambda));
        return true;
    }
    return false;
}

static int
s_wait_agents(ctl_app_t *self, uint32_t count, int timeout_ms)
{
    int64_t deadline = sp_clock_mono_ns() + (int64_t)timeout_ms * SP_NS_PER_MS;
    size_t have = 0;
    while (!zsys_interrupted && sp_clock_mono_ns() < deadline) {
        json_t *status = s_status(self);
        have = status ? json_array_size(json_object_get(status, "agents")) : 0;
        json_decref(status);
        if (have >= count)
            return 0;
        if (s_local_died(self))
            return -1;
        zclock_sleep(S_POLL_MS);
    }
    if (zsys_interrupted)
        s_say(self, "interrupted");
    else
        s_say(self, "%zu of %u agents connected within %d s", have, count,
              timeout_ms / 1000);
    return -1;
}

static int
s_start_lambda(ctl_app_t *self)
{
    char lambda_path[S_PATH + 32], bootstrap_path[S_PATH + 32];
    if (s_find_sibling(self, "stampede-lambda", lambda_path, sizeof lambda_path) ||
        s_find_sibling(self, "bootstrap", bootstrap_path, sizeof bootstrap_path))
        return -1;
    char function[S_PATH + 64], reserved[16];
    snprintf(function, sizeof function, "demo=%s", bootstrap_path);
    snprintf(reserved, sizeof reserved, "%u", self->config->reserved);
    const char *argv[] = {lambda_path,  "--listen", self->config->lambda_listen,
                          "--function", function,   "--reserved",
                          reserved,     NULL};
    char err[512];
    self->lambda = ctl_local_new((char *const *)argv, true, err, sizeof err);
    if (!self->lambda) {
        s_say(self, "%s", err);
        return -1;
    }
    char line[CTL_LOCAL_MAX_LINE];
    int64_t deadline = sp_clock_mono_ns() + CTL_APP_WAIT_LOCAL_MS * SP_NS_PER_MS;
    while (!zsys_interrupted && sp_clock_mono_ns() < deadline) {
        if (ctl_local_read_line(self->lambda, line, sizeof line, 200) >= 0) {
            if (ctl_app_parse_lambda_line(line, self->lambda_url,
                                          sizeof self->lambda_url) == 0) {
                snprintf(self->target_url, sizeof self->target_url, "%s/url/demo/",
                         self->lambda_url);
                return 0;
            }
            continue; //  some other line
        }
        if (!ctl_local_running(self->lambda)) {
            s_say(self, "stampede-lambda exited with status %d before it was ready",
                  ctl_local_exit_status(self->lambda));
            return -1;
        }
    }
    s_say(self, "stampede-lambda did not announce itself within %d s",
          CTL_APP_WAIT_LOCAL_MS / 1000);
    return -1;
}

//  Waits until SIGINT/SIGTERM (or a child we depend on dies).
static void
s_wait_interrupt(ctl_app_t *self)
{
    while (!zsys_interrupted) {
        if (s_local_died(self))
            return;
        zclock_sleep(200);
    }
}

//  Starts one run with command (consumed) and waits for its end: 0 with
//  *run_id and the core's error text for it (may be ""), or 1 when it did
//  not start or end (said).
static int
s_run_wait(ctl_app_t *self, json_t *command, int64_t *run_id_out, char *error,
           size_t error_size)
{
    uint32_t timeout_ms =
        (uint32_t)json_integer_value(json_object_get(command, "timeout_ms"));
    if (!command) {
        s_say(self, "the run was not started: out of memory");
        return 1;
    }
    json_t *reply = ctl_server_request(self->server, command);
    json_decref(command);
    if (!reply || !json_is_integer(json_object_get(reply, "run_id"))) {
        s_say(self, "the run was not started: %s",
              reply ? json_string_value(json_object_get(reply, "error"))
                    : "the controller did not answer");
        json_decref(reply);
        return 1;
    }
    int64_t run_id = json_integer_value(json_object_get(reply, "run_id"));
    json_decref(reply);

    int64_t limit_ms =
        10000 + (int64_t)(timeout_ms ? timeout_ms : CTL_RUNSPEC_DEFAULT_TIMEOUT_MS) +
        15000 + S_RUN_SLACK_MS;
    int64_t deadline = sp_clock_mono_ns() + limit_ms * SP_NS_PER_MS;
    error[0] = '\0';
    bool ended = false;
    while (!zsys_interrupted && sp_clock_mono_ns() < deadline) {
        json_t *status = s_status(self);
        if (!status)
            break;
        json_t *active = json_object_get(status, "active_run");
        json_t *last = json_object_get(status, "last_run");
        if (!json_is_integer(active) || json_integer_value(active) != run_id) {
            if (json_integer_value(json_object_get(last, "run_id")) == run_id)
                snprintf(error, error_size, "%s",
                         json_string_value(json_object_get(last, "error")) ?: "");
            ended = true;
        }
        json_decref(status);
        if (ended)
            break;
        zclock_sleep(S_POLL_MS);
    }
    if (!ended && zsys_interrupted) {
        //  A signal: the run ends as interrupted, every request without a
        //  result marked lost, and its summary is printed like any other.
        json_t *stop = json_pack("{s:s, s:s}", "action", "interrupt", "reason",
                                 "stampede run stopped by a signal");
        json_t *answer = stop ? ctl_server_request(self->server, stop) : NULL;
        ended = answer && json_integer_value(json_object_get(answer, "run_id")) == run_id;
        if (ended)
            snprintf(error, error_size, "stampede run stopped by a signal");
        json_decref(answer);
        json_decref(stop);
    }
    if (!ended) {
        s_say(self,
              zsys_interrupted ? "interrupted during run %" PRId64
                               : "run %" PRId64 " did not end in time",
              run_id);
        return 1;
    }
    *run_id_out = run_id;
    return 0;
}

//  Reports run run_id, which ended with the core's error text: printed
//  as text or as JSON (json_output). With json_out, the JSON report is
//  also handed over (caller owns; NULL when out of memory), and in JSON
//  mode it is not printed: the caller prints it within its own. With
//  summary_out, the run's summary is handed over too (zeroed when it could
//  not be read). Returns the exit status.
static int
s_run_report(ctl_app_t *self, int64_t run_id, const char *error, bool json_output,
             const ctl_expect_t *expect, json_t **json_out, store_summary_t *summary_out)
{
    char err[512];
    if (summary_out)
        memset(summary_out, 0, sizeof *summary_out);
    store_t *store = store_open(self->config->db, err, sizeof err);
    store_summary_t summary;
    static store_agent_summary_t agents[CTL_RUNSPEC_MAX_AGENTS];
    size_t n_agents = 0;
    if (!store || store_summary(store, run_id, &summary) ||
        store_summary_agents(store, run_id, agents, CTL_RUNSPEC_MAX_AGENTS, &n_agents)) {
        s_say(self, "cannot read run %" PRId64 " from %s: %s", run_id, self->config->db,
              store ? "not found" : err);
        store_destroy(&store);
        return 1;
    }
    store_destroy(&store);
    if (summary_out)
        *summary_out = summary;
    if (!*summary.outcome) {
        //  The core ended the run but the database could not record it.
        s_say(self, "run %" PRId64 " failed: %s", run_id,
              *error ? error : "its end is not recorded in the results database");
        return 1;
    }
    //  The stored reason names losses and mis-starts too, which the core
    //  reports only for runs that failed.
    ctl_report_t report = {.summary = &summary,
                           .agents = agents,
                           .n_agents = n_agents,
                           .db_path = self->config->db,
                           .error = *error ? error : summary.reason};
    //  Exit 0 only when every request was recorded; each other ending has
    //  its own status.
    bool completed = strcmp(summary.outcome, "completed") == 0;
    int missed = 0;
    json_t *json = json_output || json_out ? ctl_report_json(&report) : NULL;
    if (json_output) {
        if (json && expect && completed)
            missed = ctl_report_expect(&summary, expect, json, self->err);
        char *text = json && !json_out ? json_dumps(json, CTL_REPORT_JSON_FLAGS) : NULL;
        if (!json_out)
            fprintf(self->out, "%s\n", text ? text : "{}");
        free(text);
    } else {
        ctl_report_text(&report, self->out);
        if (expect && completed)
            missed = ctl_report_expect(&summary, expect, NULL, self->err);
    }
    if (json_out)
        *json_out = json;
    else
        json_decref(json);
    fflush(self->out);
    if (strcmp(summary.outcome, "completed_with_losses") == 0)
        return CTL_APP_EXIT_LOSSES;
    if (strcmp(summary.outcome, "interrupted") == 0)
        return CTL_APP_EXIT_INTERRUPTED;
    if (strcmp(summary.outcome, "mis_started") == 0)
        return CTL_APP_EXIT_MIS_STARTED;
    if (!completed)
        return 1;
    return missed ? CTL_APP_EXIT_EXPECTATION : 0;
}

//  Starts one run with command (consumed), waits for its end and reports
//  it. Returns the exit status.
static int
s_run_once(ctl_app_t *self, json_t *command, bool json_output, const ctl_expect_t *expect)
{
    int64_t run_id = 0;
    char error[PROTO_MAX_ERROR + 256];
    if (s_run_wait(self, command, &run_id, error, sizeof error))
        return 1;
    return s_run_report(self, run_id, error, json_output, expect, NULL, NULL);
}

//  What the connected agents hold together (0 when the core does not say).
static uint64_t
s_capacity(ctl_app_t *self)
{
    json_t *status = s_status(self);
    json_t *agent;
    size_t i;
    uint64_t total = 0;
    json_array_foreach(json_object_get(status, "agents"), i, agent)
    {
        json_int_t capacity = json_integer_value(json_object_get(agent, "capacity"));
        total += capacity > 0 ? (uint64_t)capacity : 0;
    }
    json_decref(status);
    return total;
}

//  Adds one wave's counts to *total.
static void
s_wave_add(store_summary_t *total, const store_summary_t *wave)
{
    total->requested += wave->requested;
    total->recorded += wave->recorded;
    total->ok += wave->ok;
    total->throttled += wave->throttled;
    total->throttled_lambda += wave->throttled_lambda;
    total->throttled_gateway += wave->throttled_gateway;
    total->errors += wave->errors;
    total->lost += wave->lost;
}

//  --waves: a run larger than what the agents hold together goes out as W
//  consecutive runs ("wave K of W", sizes as even as they can be), each
//  reported as it ends, then the totals, which --expect-* is checked
//  against. A wave that does not complete ends the waves with its exit
//  status; the requests of the waves after it are not run (and said so).
//  A run that fits is one ordinary run. command is consumed.
static int
s_run_waves(ctl_app_t *self, json_t *command)
{
    const ctl_config_t *config = self->config;
    uint64_t capacity = s_capacity(self);
    uint32_t n = config->requests;
    if (!command || capacity == 0 || n <= capacity)
        return s_run_once(self, command, config->json, &config->expect);
    uint32_t waves = (uint32_t)((n + capacity - 1) / capacity);
    zsys_notice("run in waves requested=%u capacity=%" PRIu64 " waves=%u", n, capacity,
                waves);
    store_summary_t total = {0};
    json_t *reports = json_array();
    int rc = 0;
    uint32_t done = 0;
    int64_t first_id = 0, last_id = 0;
    while (done < waves && rc == 0) {
        uint32_t size = n / waves + (done < n % waves ? 1 : 0);
        char label[64];
        snprintf(label, sizeof label, "wave %u of %u", done + 1, waves);
        json_t *wave = json_deep_copy(command);
        if (wave && (json_object_set_new(wave, "requests", json_integer(size)) ||
                     json_object_set_new(wave, "label", json_string(label)))) {
            json_decref(wave);
            wave = NULL;
        }
        if (!config->json) {
            fprintf(self->out, "%s: %u requests\n", label, size);
            fflush(self->out);
        }
        int64_t run_id = 0;
        char error[PROTO_MAX_ERROR + 256];
        if (s_run_wait(self, wave, &run_id, error, sizeof error)) {
            rc = 1;
            break;
        }
        json_t *report = NULL;
        store_summary_t summary;
        rc = s_run_report(self, run_id, error, config->json, NULL,
                          config->json ? &report : NULL, &summary);
        if (report)
            json_array_append_new(reports, report);
        s_wave_add(&total, &summary);
        first_id = first_id ? first_id : run_id;
        last_id = run_id;
        done++;
    }
    json_decref(command);
    uint32_t not_run = n - total.requested;
    snprintf(total.outcome, sizeof total.outcome, "%s",
             rc == 0 ? "completed" : "stopped");
    int missed = 0;
    if (config->json) {
        json_t *json = json_pack(
            "{s:o, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "waves", reports,
            "waves_planned", (json_int_t)waves, "waves_run", (json_int_t)done, "capacity",
            (json_int_t)capacity, "outcome", total.outcome, "requested", (json_int_t)n,
            "not_run", (json_int_t)not_run, "recorded", (json_int_t)total.recorded, "ok",
            (json_int_t)total.ok, "throttled", (json_int_t)total.throttled, "errors",
            (json_int_t)total.errors);
        if (json && json_object_set_new(json, "lost", json_integer(total.lost)) == 0 &&
            rc == 0)
            missed = ctl_report_expect(&total, &config->expect, json, self->err);
        char *text = json ? json_dumps(json, CTL_REPORT_JSON_FLAGS) : NULL;
        fprintf(self->out, "%s\n", text ? text : "{}");
        free(text);
        json_decref(json);
    } else {
        json_decref(reports);
        fprintf(self->out,
                "waves: %u of %u run (runs %" PRId64 "-%" PRId64
                "): %u requested, %u ok, "
                "%u throttled, %u errors, %u lost, %u not run\n",
                done, waves, first_id, last_id, n, total.ok, total.throttled,
                total.errors, total.lost, not_run);
        if (rc == 0)
            missed = ctl_report_expect(&total, &config->expect, NULL, self->err);
    }
    fflush(self->out);
    return rc ? rc : missed ? CTL_APP_EXIT_EXPECTATION : 0;
}

//  The run command of the `run` subcommand's options (caller owns).
static json_t *
s_run_command(const ctl_config_t *config, const char *url, const char *ca_pem)
{
    json_t *headers = json_array();
    bool ok = headers != NULL;
    for (size_t i = 0; ok && i < config->n_headers; i++)
        ok = json_array_append_new(headers, json_string(config->headers[i])) == 0;
    json_t *command =
        !ok ? NULL
            : json_pack("{s:s, s:s, s:I, s:s, s:O, s:I, s:s, s:s}", "action", "run",
                        "url", url, "requests", (json_int_t)config->requests, "method",
                        config->method, "headers", headers, "timeout_ms",
                        (json_int_t)config->timeout_ms, "start_mode",
                        ctl_runspec_start_mode_name(config->start_mode), "door",
                        ctl_door_name(config->door));
    json_decref(headers);
    //  A run must not go out without the body or arrival header it was given.
    if (command &&
        ((config->data &&
          json_object_set_new(command, "body", json_string(config->data)) != 0) ||
         (config->arrival_header &&
          json_object_set_new(command, "arrival_header",
                              json_string(config->arrival_header)) != 0) ||
         (ca_pem && json_object_set_new(command, "ca_pem", json_string(ca_pem)) != 0) ||
         (config->compensate_path &&
          json_object_set_new(command, "compensate_path", json_true()) != 0))) {
        json_decref(command);
        command = NULL;
    }
    return command;
}

//  --------------------------------------------------------------------------
//  Commands

static int
s_serve(ctl_app_t *self)
{
    if (s_start_keys(self) || s_start_server(self, self->config->target, 100, NULL) ||
        s_start_http(self))
        return 1;
    char http[S_URL];
    snprintf(http, sizeof http, "%s",
             self->dashboard_url[0] ? self->dashboard_url : "none");
    size_t len = strlen(http);
    if (len > 8 && http[len - 1] == '/')
        http[len - 1] = '\0';
    fprintf(self->out, "stampede serve: agents %s http %s\n",
            ctl_server_endpoint(self->server), http);
    fflush(self->out);
    s_wait_interrupt(self);
    zsys_notice("controller stopping");
    return 0;
}

//  The PEM text of --cacert (caller frees), or NULL with the reason said.
static char *
s_read_cacert(ctl_app_t *self, const char *path)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        s_say(self, "--cacert %s: %s", path, strerror(errno));
        return NULL;
    }
    char *pem = malloc(PROTO_MAX_CA_PEM + 2);
    size_t len = pem ? fread(pem, 1, PROTO_MAX_CA_PEM + 1, file) : 0;
    bool failed = ferror(file);
    fclose(file);
    if (!pem || failed || len > PROTO_MAX_CA_PEM || memchr(pem, '\0', len) ||
        !proto_is_pem((const uint8_t *)pem, len)) {
        s_say(self, "--cacert %s: %s", path,
              !pem     ? "out of memory"
              : failed ? "cannot be read"
                       : "not PEM certificates (-----BEGIN CERTIFICATE-----) of at most "
                         "1048576 bytes");
        free(pem);
        return NULL;
    }
    pem[len] = '\0';
    return pem;
}

//  What run and sweep share before their first run: --cacert read into
//  *ca_pem (caller frees), keys, the controller core and the agents (local
//  ones started, remote ones awaited). Returns 0, else the exit status.
static int
s_prepare_runs(ctl_app_t *self, char **ca_pem)
{
    const ctl_config_t *config = self->config;
    *ca_pem = NULL;
    if (config->cacert && !(*ca_pem = s_read_cacert(self, config->cacert)))
        return 2;
    if (s_start_keys(self) || s_start_server(self, config->url, config->requests, NULL))
        return 1;
    if (config->local_agents) {
        char host[300];
        const char *allow = NULL;
        if (ctl_app_url_host(config->url, host, sizeof host) == 0)
            allow = host;
        if (s_start_agents(self, config->local_agents, config->requests, allow) ||
            s_wait_agents(self, config->local_agents, CTL_APP_WAIT_LOCAL_MS))
            return 1;
    } else {
        zsys_notice("waiting for agents count=%u endpoint=%s", config->wait_agents,
                    ctl_server_endpoint(self->server));
        if (s_wait_agents(self, config->wait_agents, CTL_APP_WAIT_REMOTE_MS))
            return 1;
    }
    return 0;
}

//  The management API of --function (ctl_config checked it). Returns 0, or
//  1 with the reason said.
static int
s_lambda(ctl_app_t *self, ctl_lambda_t *lambda)
{
    const ctl_config_t *config = self->config;
    char err[512];
    if (ctl_lambda_init(lambda, config->lambda_endpoint, config->function, config->region,
                        NULL, err, sizeof err)) {
        s_say(self, "%s", err);
        return 1;
    }
    return 0;
}

static int
s_run(ctl_app_t *self)
{
    const ctl_config_t *config = self->config;
    //  With --function, the function's reserved concurrency as it is now
    //  is recorded with the run; an API that does not answer stops it.
    ctl_lambda_t lambda;
    int32_t reserved = CTL_LAMBDA_UNRESERVED;
    char err[512];
    if (config->function) {
        if (s_lambda(self, &lambda))
            return 1;
        if (ctl_lambda_get_reserved(&lambda, &reserved, err, sizeof err)) {
            s_say(self, "%s", err);
            return 1;
        }
    }
    char *ca_pem = NULL;
    int rc = s_prepare_runs(self, &ca_pem);
    if (rc) {
        free(ca_pem);
        return rc;
    }
    json_t *command = s_run_command(config, config->url, ca_pem);
    free(ca_pem);
    if (command && config->function &&
        json_object_set_new(command, "reserved_configured", json_integer(reserved))) {
        json_decref(command);
        command = NULL;
    }
    if (config->waves)
        return s_run_waves(self, command);
    return s_run_once(self, command, config->json, &config->expect);
}

//  One line of the sweep's table, from a run's JSON report.
static void
s_sweep_line(ctl_app_t *self, int32_t reserved, const json_t *report)
{
    char name[16];
    json_int_t requested = json_integer_value(json_object_get(report, "requested"));
    json_int_t ok = json_integer_value(json_object_get(report, "ok"));
    fprintf(self->out,
            "%-11s %6" JSON_INTEGER_FORMAT " %9" JSON_INTEGER_FORMAT
            " %6" JSON_INTEGER_FORMAT " %5" JSON_INTEGER_FORMAT " %7.1f %%"
            " %12" JSON_INTEGER_FORMAT "  #%" JSON_INTEGER_FORMAT "  %s\n",
            ctl_lambda_reserved_name(reserved, name, sizeof name), ok,
            json_integer_value(json_object_get(report, "throttled")),
            json_integer_value(json_object_get(report, "errors")),
            json_integer_value(json_object_get(report, "lost")),
            requested > 0 ? 100.0 * (double)ok / (double)requested : 0.0,
            json_integer_value(json_object_get(report, "environments")),
            json_integer_value(json_object_get(report, "run_id")),
            json_string_value(json_object_get(report, "outcome")) ?: "");
}

//  One run per value of --reserved, each set on the function first; the
//  function's own setting is put back however the sweep ends.
static int
s_sweep(ctl_app_t *self)
{
    const ctl_config_t *config = self->config;
    ctl_lambda_t lambda;
    char err[512];
    int32_t before = CTL_LAMBDA_UNRESERVED;
    if (s_lambda(self, &lambda))
        return 1;
    if (ctl_lambda_get_reserved(&lambda, &before, err, sizeof err)) {
        s_say(self, "%s", err);
        return 1;
    }
    char *ca_pem = NULL;
    int status = s_prepare_runs(self, &ca_pem);
    json_t *reports = json_array();
    if (!status && !reports)
        status = 1;
    char name[16];
    for (size_t i = 0; !status && i < config->n_sweep && !zsys_interrupted; i++) {
        int32_t reserved = config->sweep[i];
        int32_t now = CTL_LAMBDA_UNRESERVED - 1;
        //  Set, then read back: the run is recorded with what the API says.
        if (ctl_lambda_set_reserved(&lambda, reserved, err, sizeof err) ||
            ctl_lambda_get_reserved(&lambda, &now, err, sizeof err) || now != reserved) {
            if (now != CTL_LAMBDA_UNRESERVED - 1 && now != reserved)
                snprintf(err, sizeof err,
                         "the function's reserved concurrency reads %s "
                         "after it was set to %" PRId32,
                         ctl_lambda_reserved_name(now, name, sizeof name), reserved);
            s_say(self, "reserved concurrency %s: %s",
                  ctl_lambda_reserved_name(reserved, name, sizeof name), err);
            status = 1;
            break;
        }
        zsys_notice("sweep: reserved concurrency set function=%s reserved=%s",
                    lambda.function,
                    ctl_lambda_reserved_name(reserved, name, sizeof name));
        json_t *command = s_run_command(config, config->url, ca_pem);
        char label[64];
        snprintf(label, sizeof label, "sweep reserved=%s", name);
        if (command && (json_object_set_new(command, "reserved_configured",
                                            json_integer(reserved)) ||
                        json_object_set_new(command, "label", json_string(label)))) {
            json_decref(command);
            command = NULL;
        }
        int64_t run_id = 0;
        char error[PROTO_MAX_ERROR + 256];
        json_t *report = NULL;
        if (s_run_wait(self, command, &run_id, error, sizeof error)) {
            status = 1;
            break;
        }
        //  Text mode prints each run's report as it ends; the table and
        //  the --json output are made from the JSON reports.
        int rc = s_run_report(self, run_id, error, config->json, NULL, &report, NULL);
        if (report) {
            json_object_set_new(report, "reserved_configured", json_integer(reserved));
            json_array_append_new(reports, report);
        }
        if (rc && !status)
            status = rc;
    }
    free(ca_pem);
    if (!status && zsys_interrupted)
        status = CTL_APP_EXIT_INTERRUPTED;
    //  Put the function back as it was.
    int restored = ctl_lambda_set_reserved(&lambda, before, err, sizeof err);
    if (restored) {
        s_say(self, "the function's reserved concurrency was not put back to %s: %s",
              ctl_lambda_reserved_name(before, name, sizeof name), err);
        if (!status)
            status = 1;
    }
    if (config->json) {
        json_t *out = json_pack(
            "{s:s, s:s, s:I, s:O, s:o, s:b}", "function", lambda.function, "url",
            config->url, "requests", (json_int_t)config->requests, "runs", reports,
            "restored_reserved",
            before == CTL_LAMBDA_UNRESERVED ? json_null() : json_integer(before),
            "restored", restored == 0);
        char *text = out ? json_dumps(out, CTL_REPORT_JSON_FLAGS) : NULL;
        fprintf(self->out, "%s\n", text ? text : "{}");
        free(text);
        json_decref(out);
    } else {
        fprintf(self->out, "\nsweep of %s: %zu of %zu runs, %" PRIu32 " requests each\n",
                lambda.function, json_array_size(reports), config->n_sweep,
                config->requests);
        fprintf(self->out,
                "reserved        ok throttled errors  lost success environments  run  "
                "outcome\n");
        for (size_t i = 0; i < json_array_size(reports); i++)
            s_sweep_line(self, config->sweep[i], json_array_get(reports, i));
        if (!restored)
            fprintf(self->out, "reserved concurrency put back to %s\n",
                    ctl_lambda_reserved_name(before, name, sizeof name));
    }
    fflush(self->out);
    json_decref(reports);
    return status;
}

//  The demo's request: a POST with a small JSON body, so the default start
//  mode is last-byte (every request written but its last byte ahead of the
//  instant). Measured on 100 requests, 4 local agents, reserved 5, it
//  arrives tighter at the emulator than a GET started at GO.
#define S_DEMO_BODY "{\"burst\":1}"

static int
s_demo(ctl_app_t *self)
{
    const ctl_config_t *config = self->config;
    //  The demo's request, also what a burst started from its dashboard fires.
    json_t *request =
        json_pack("{s:s, s:s, s:[s], s:s}", "method", "POST", "body", S_DEMO_BODY,
                  "headers", "Content-Type: application/json", "start_mode",
                  ctl_runspec_start_mode_name(config->start_mode));
    if (!request)
        return 1;
    int started = s_start_lambda(self) || s_start_keys(self) ||
                  s_start_server(self, self->target_url, config->requests, request) ||
                  s_start_http(self);
    json_decref(request);
    if (started != 0)
        return 1;
    fprintf(self->out,
            "stampede demo: function %s (reserved concurrency %u), "
            "dashboard %s\n",
            self->target_url, config->reserved,
            self->dashboard_url[0] ? self->dashboard_url : "none");
    fflush(self->out);
    if (s_start_agents(self, config->local_agents, config->requests, NULL) ||
        s_wait_agents(self, config->local_agents, CTL_APP_WAIT_LOCAL_MS))
        return 1;
    json_t *command = json_pack("{s:s, s:s, s:i}", "action", "run", "label", "demo",
                                "reserved_configured", (int)config->reserved);
    int rc = s_run_once(self, command, false, NULL);
    if (self->dashboard_url[0])
        fprintf(self->out, "dashboard: %s\n", self->dashboard_url);
    if (!config->exit_after) {
        fprintf(self->out, "serving until Ctrl-C\n");
        fflush(self->out);
        s_wait_interrupt(self);
    }
    fflush(self->out);
    return rc;
}

static int
s_export(ctl_app_t *self)
{
    const ctl_config_t *config = self->config;
    struct stat st;
    if (stat(config->db, &st) != 0) {
        s_say(self, "no results database at %s", config->db);
        return 1;
    }
    char err[512];
    store_t *store = store_open(config->db, err, sizeof err);
    if (!store) {
        s_say(self, "%s", err);
        return 1;
    }
    int rc = store_export(store, config->run_id, config->format, self->out);
    store_destroy(&store);
    fflush(self->out);
    if (rc) {
        s_say(self, "run %" PRId64 " not found in %s", config->run_id, config->db);
        return 1;
    }
    return 0;
}

//  stampede agents admit|revoke|list: the enrolment of remote agents.
static int
s_agents(ctl_app_t *self)
{
    const ctl_config_t *config = self->config;
    char err[512];
    const char *action = config->agents_action;
    int rc;
    if (strcmp(action, "list") == 0) {
        rc = ctl_keys_list(config->keys, self->out, err, sizeof err);
        fflush(self->out);
    } else if (strcmp(action, "revoke") == 0) {
        rc = ctl_keys_revoke(config->keys, config->agent_name, err, sizeof err);
        if (rc == 0)
            fprintf(self->out, "revoked agent %s\n", config->agent_name);
    } else {
        rc = ctl_keys_admit(config->keys, config->agent_name, config->agent_key,
                            config->replace, err, sizeof err);
        if (rc >= 0)
            fprintf(self->out, "%s agent %s\n",
                    rc == 1 ? "already admitted:" : "admitted", config->agent_name);
    }
    if (rc < 0) {
        s_say(self, "%s", err);
        return 1;
    }
    fflush(self->out);
    return 0;
}

int
ctl_app_run(ctl_app_t *self)
{
    assert(self);
    switch (self->config->command) {
    case CTL_COMMAND_SERVE:
        return s_serve(self);
    case CTL_COMMAND_RUN:
        return s_run(self);
    case CTL_COMMAND_SWEEP:
        return s_sweep(self);
    case CTL_COMMAND_AGENTS:
        return s_agents(self);
    case CTL_COMMAND_DEMO:
        return s_demo(self);
    case CTL_COMMAND_EXPORT:
        return s_export(self);
    default:
        assert(false);
        return 2;
    }
}

//  --------------------------------------------------------------------------
//  Selftest

//  Runs argv (NULL-terminated words after "stampede") through the parser
//  and the app; returns the exit status, out and err in the buffers.
static int
s_try(char *out_text, size_t out_size, char *err_text, size_t err_size, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"stampede";
    va_list args;
    va_start(args, err_size);
    for (char *word = va_arg(args, char *); word; word = va_arg(args, char *))
        argv[argc++] = word;
    va_end(args);
    argv[argc] = NULL;
    char *out_buf = NULL, *err_buf = NULL;
    size_t out_len = 0, err_len = 0;
    FILE *out = open_memstream(&out_buf, &out_len);
    FILE *err = open_memstream(&err_buf, &err_len);
    ctl_config_t config;
    int rc = ctl_config_parse(&config, argc, argv, NULL, out, err);
    if (rc == CTL_CONFIG_RUN) {
        ctl_app_t *app = ctl_app_new(&config, out, err);
        CHECK_NOT_NULL(app);
        rc = ctl_app_run(app);
        ctl_app_destroy(&app);
        CHECK_NULL(app);
        ctl_app_destroy(&app);
    }
    fclose(out);
    fclose(err);
    snprintf(out_text, out_size, "%s", out_buf);
    snprintf(err_text, err_size, "%s", err_buf);
    free(out_buf);
    free(err_buf);
    return rc;
}

void
ctl_app_test(bool verbose)
{
    char url[128], host[64];
    CHECK_INT(ctl_app_parse_lambda_line(
                  "stampede-lambda listening on http://127.0.0.1:9000", url, sizeof url),
              0);
    CHECK_STR(url, "http://127.0.0.1:9000");
    CHECK_INT(ctl_app_parse_lambda_line("stampede-lambda listening on http://[::1]:80/",
                                        url, sizeof url),
              0);
    CHECK_STR(url, "http://[::1]:80");
    CHECK_INT(ctl_app_parse_lambda_line("something else", url, sizeof url), -1);
    CHECK_INT(ctl_app_parse_lambda_line("stampede-lambda listening on ftp://x", url,
                                        sizeof url),
              -1);
    CHECK_INT(ctl_app_parse_lambda_line("stampede-lambda listening on http://x", url, 5),
              -1);
    CHECK_INT(ctl_app_url_host("http://127.0.0.1:9000/url/demo/", host, sizeof host), 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(
        ctl_app_url_host("https://abc.lambda-url.us-east-1.on.aws/", host, sizeof host),
        0);
    CHECK_STR(host, "abc.lambda-url.us-east-1.on.aws");
    CHECK_INT(ctl_app_url_host("http://[::1]:8080/x", host, sizeof host), 0);
    CHECK_STR(host, "::1");
    CHECK_INT(ctl_app_url_host("http://user:pw@example.com:81?q", host, sizeof host), 0);
    CHECK_STR(host, "example.com");
    CHECK_INT(ctl_app_url_host("mailto:x", host, sizeof host), -1);
    CHECK_INT(ctl_app_url_host("http:///path", host, sizeof host), -1);

    char dir[] = "/tmp/ctl_app_test-XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char db[128], keys[128];
    snprintf(db, sizeof db, "%s/r.db", dir);
    snprintf(keys, sizeof keys, "%s/keys", dir);
    char out[8192], err[2048];

    //  export: a missing database, an unknown run, then a real one.
    CHECK_INT(s_try(out, sizeof out, err, sizeof err, "export", "1", "--db", db, NULL),
              1);
    char expect[512];
    snprintf(expect, sizeof expect, "stampede export: no results database at %s\n", db);
    CHECK_STR(err, expect);
    char store_err[256];
    store_t *store = store_open(db, store_err, sizeof store_err);
    CHECK_NOT_NULL(store);
    store_run_t run = {.url = "http://127.0.0.1:9/",
                       .method = "GET",
                       .requested = 2,
                       .agents = 1,
                       .created_ns = 1};
    CHECK_INT(store_run_create(store, &run), 1);
    CHECK_INT(store_agent_upsert(store, "a", "h", "v", 10, 1), 0);
    CHECK_INT(store_share_add(store, 1, "a", 0, 2, 0, 0), 0);
    CHECK_INT(store_mark_lost(store, 1, "a", 0, 2, "deadline passed"), 2);
    store_destroy(&store);
    CHECK_INT(s_try(out, sizeof out, err, sizeof err, "export", "2", "--db", db, NULL),
              1);
    snprintf(expect, sizeof expect, "stampede export: run 2 not found in %s\n", db);
    CHECK_STR(err, expect);
    CHECK_INT(s_try(out, sizeof out, err, sizeof err, "export", "1", "--db", db, NULL),
              0);
    CHECK_STR(err, "");
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    CHECK_INT(lines, 3); //  header + 2 rows
    CHECK_TRUE(strstr(out, "deadline passed") != NULL);
    CHECK_INT(s_try(out, sizeof out, err, sizeof err, "export", "1", "--db", db,
                    "--format", "json", NULL),
              0);
    CHECK_TRUE(out[0] == '[');

    //  serve: the ready line names the real ports; an interrupt stops it.
    zsys_interrupted = 1;
    CHECK_INT(s_try(out, sizeof out, err, sizeof err, "serve", "--listen",
                    "tcp://127.0.0.1:*", "--http", "127.0.0.1:0", "--db", db,
                    "--insecure", NULL),
              0);
    zsys_interrupted = 0;
    CHECK_TRUE(strncmp(out, "stampede serve: agents tcp://127.0.0.1:", 39) == 0);
    CHECK_TRUE(strstr(out, ":*") == NULL);
    CHECK_TRUE(strstr(out, " http http://127.0.0.1:") != NULL);
    CHECK_TRUE(strstr(out, "http://127.0.0.1:0\n") == NULL);
    //  Started after an interrupt, the CURVE set-up refuses cleanly.
    zsys_interrupted = 1;
    CHECK_INT(s_try(out, sizeof out, err, sizeof err, "serve", "--listen",
                    "tcp://127.0.0.1:*", "--http", "127.0.0.1:0", "--db", db, "--keys",
                    keys, NULL),
              1);
    zsys_interrupted = 0;
    CHECK_STR(err, "stampede serve: interrupted\n");
    char public_key[256];
    snprintf(public_key, sizeof public_key, "%s/controller.key", keys);
    CHECK_INT(access(public_key, R_OK), 0);
    //  A port in use is a clear error.
    zsock_t *squatter = zsock_new(ZMQ_ROUTER);
    CHECK_TRUE(zsock_bind(squatter, "tcp://127.0.0.1:*") > 0);
    char taken[128];
    char *bound = zsock_last_endpoint(squatter);
    snprintf(taken, sizeof taken, "%s", bound);
    freen(bound);
    CHECK_INT(s_try(out, sizeof out, err, sizeof err, "serve", "--listen", taken, "--db",
                    db, "--insecure", "--http", "127.0.0.1:0", NULL),
              1);
    snprintf(expect, sizeof expect,
             "stampede serve: cannot bind %s: Address already in use\n", taken);
    CHECK_STR(err, expect);
    zsock_destroy(&squatter);

    //  run: no agents come within the wait -> failure, not a hang. (An
    //  interrupt ends the wait at once.)
    zsys_interrupted = 1;
    CHECK_INT(s_try(out, sizeof out, err, sizeof err, "run", "--url",
                    "http://127.0.0.1:9/", "-n", "3", "--wait-agents", "2", "--listen",
                    "tcp://127.0.0.1:*", "--db", db, "--insecure", NULL),
              1);
    zsys_interrupted = 0;
    CHECK_STR(err, "stampede run: interrupted\n");

    //  Clean up the temp directory.
    char path[256];
    const char *files[] = {"r.db",
                           "r.db-wal",
                           "r.db-shm",
                           "r.db.lock",
                           "keys/controller.key",
                           "keys/controller.key_secret"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/keys/agents", dir);
    rmdir(path);
    rmdir(keys);
    CHECK_INT(rmdir(dir), 0);
    if (verbose)
        printf("(app checks done) ");
}
