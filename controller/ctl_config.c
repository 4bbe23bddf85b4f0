/*  ctl_config — the stampede command line; see ctl_config.h.

    Each subcommand has its own getopt_long table; one switch applies any
    option to the config, so a flag means the same thing wherever it is
    accepted. Cross-option rules are checked once, after the options of a
    subcommand are read, in s_finish.
*/
#include "ctl_config.h"
#include "ctl_door.h"
#include "ctl_http_guard.h"
#include "ctl_lambda.h"
#include "sp_addr.h"
#include "sp_allow.h"
#include "sp_hostport.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_ENDPOINT 256
#define S_STR(x) #x
#define S_XSTR(x) S_STR(x) //  a number macro as text, for the help

enum {
    S_OPT_HELP = 'h',
    S_OPT_REQUESTS = 'n',
    S_OPT_LISTEN = 256,
    S_OPT_HTTP,
    S_OPT_DB,
    S_OPT_KEYS,
    S_OPT_INSECURE,
    S_OPT_TARGET,
    S_OPT_TOKEN,
    S_OPT_URL,
    S_OPT_LOCAL_AGENTS,
    S_OPT_WAIT_AGENTS,
    S_OPT_METHOD,
    S_OPT_DATA,
    S_OPT_HEADER,
    S_OPT_TIMEOUT_MS,
    S_OPT_JSON,
    S_OPT_LAMBDA_LISTEN,
    S_OPT_RESERVED,
    S_OPT_EXIT,
    S_OPT_FORMAT,
    S_OPT_START_MODE,
    S_OPT_DOOR,
    S_OPT_ARRIVAL_HEADER,
    S_OPT_CACERT,
    S_OPT_EXPECT_OK,
    S_OPT_EXPECT_THROTTLED,
    S_OPT_EXPECT_ERRORS,
    S_OPT_EXPECT_LOST,
    S_OPT_VERSION,
    S_OPT_START_TOLERANCE,
    S_OPT_CLOCK_SAMPLES,
    S_OPT_CLOCK_MAX_AGE,
    S_OPT_PUBLIC_HOST,
    S_OPT_ALLOW,
    S_OPT_FUNCTION,
    S_OPT_LAMBDA_ENDPOINT,
    S_OPT_REGION,
    S_OPT_REPLACE,
    S_OPT_WAVES,
    S_OPT_COMPENSATE_PATH,
};

static const struct option s_serve_options[] = {
    {"listen", required_argument, NULL, S_OPT_LISTEN},
    {"http", required_argument, NULL, S_OPT_HTTP},
    {"db", required_argument, NULL, S_OPT_DB},
    {"keys", required_argument, NULL, S_OPT_KEYS},
    {"insecure", no_argument, NULL, S_OPT_INSECURE},
    {"target", required_argument, NULL, S_OPT_TARGET},
    {"token", required_argument, NULL, S_OPT_TOKEN},
    {"public-host", required_argument, NULL, S_OPT_PUBLIC_HOST},
    {"allow", required_argument, NULL, S_OPT_ALLOW},
    {"start-tolerance", required_argument, NULL, S_OPT_START_TOLERANCE},
    {"clock-samples", required_argument, NULL, S_OPT_CLOCK_SAMPLES},
    {"clock-max-age", required_argument, NULL, S_OPT_CLOCK_MAX_AGE},
    {"function", required_argument, NULL, S_OPT_FUNCTION},
    {"lambda-endpoint", required_argument, NULL, S_OPT_LAMBDA_ENDPOINT},
    {"region", required_argument, NULL, S_OPT_REGION},
    {"help", no_argument, NULL, S_OPT_HELP},
    {"version", no_argument, NULL, S_OPT_VERSION},
    {NULL, 0, NULL, 0},
};

//  What run and sweep both take: the burst, its agents, the function and
//  the run's rules; then help and version, and the end.
// clang-format off
#define S_BURST_OPTIONS                                                      \
    {"url", required_argument, NULL, S_OPT_URL},                             \
    {"requests", required_argument, NULL, S_OPT_REQUESTS},                   \
    {"local-agents", required_argument, NULL, S_OPT_LOCAL_AGENTS},           \
    {"wait-agents", required_argument, NULL, S_OPT_WAIT_AGENTS},             \
    {"listen", required_argument, NULL, S_OPT_LISTEN},                       \
    {"method", required_argument, NULL, S_OPT_METHOD},                       \
    {"data", required_argument, NULL, S_OPT_DATA},                           \
    {"header", required_argument, NULL, S_OPT_HEADER},                       \
    {"timeout-ms", required_argument, NULL, S_OPT_TIMEOUT_MS},               \
    {"start-mode", required_argument, NULL, S_OPT_START_MODE},               \
    {"compensate-path", no_argument, NULL, S_OPT_COMPENSATE_PATH},           \
    {"door", required_argument, NULL, S_OPT_DOOR},                           \
    {"arrival-header", required_argument, NULL, S_OPT_ARRIVAL_HEADER},       \
    {"cacert", required_argument, NULL, S_OPT_CACERT},                       \
    {"db", required_argument, NULL, S_OPT_DB},                               \
    {"json", no_argument, NULL, S_OPT_JSON},                                 \
    {"keys", required_argument, NULL, S_OPT_KEYS},                           \
    {"insecure", no_argument, NULL, S_OPT_INSECURE},                         \
    {"start-tolerance", required_argument, NULL, S_OPT_START_TOLERANCE},     \
    {"clock-samples", required_argument, NULL, S_OPT_CLOCK_SAMPLES},         \
    {"clock-max-age", required_argument, NULL, S_OPT_CLOCK_MAX_AGE},         \
    {"function", required_argument, NULL, S_OPT_FUNCTION},                   \
    {"lambda-endpoint", required_argument, NULL, S_OPT_LAMBDA_ENDPOINT},     \
    {"region", required_argument, NULL, S_OPT_REGION},                       \
    {"help", no_argument, NULL, S_OPT_HELP},                                 \
    {"version", no_argument, NULL, S_OPT_VERSION},                           \
    {NULL, 0, NULL, 0}
// clang-format on

static const struct option s_run_options[] = {
    {"expect-ok", required_argument, NULL, S_OPT_EXPECT_OK},
    {"expect-throttled", required_argument, NULL, S_OPT_EXPECT_THROTTLED},
    {"expect-errors", required_argument, NULL, S_OPT_EXPECT_ERRORS},
    {"expect-lost", required_argument, NULL, S_OPT_EXPECT_LOST},
    {"waves", no_argument, NULL, S_OPT_WAVES},
    S_BURST_OPTIONS,
};

//  run's options but the expectations, and the values to sweep.
static const struct option s_sweep_options[] = {
    {"reserved", required_argument, NULL, S_OPT_RESERVED},
    S_BURST_OPTIONS,
};

static const struct option s_demo_options[] = {
    {"http", required_argument, NULL, S_OPT_HTTP},
    {"lambda-listen", required_argument, NULL, S_OPT_LAMBDA_LISTEN},
    {"db", required_argument, NULL, S_OPT_DB},
    {"requests", required_argument, NULL, S_OPT_REQUESTS},
    {"reserved", required_argument, NULL, S_OPT_RESERVED},
    {"local-agents", required_argument, NULL, S_OPT_LOCAL_AGENTS},
    {"start-mode", required_argument, NULL, S_OPT_START_MODE},
    {"exit", no_argument, NULL, S_OPT_EXIT},
    {"keys", required_argument, NULL, S_OPT_KEYS},
    {"insecure", no_argument, NULL, S_OPT_INSECURE},
    {"token", required_argument, NULL, S_OPT_TOKEN},
    {"public-host", required_argument, NULL, S_OPT_PUBLIC_HOST},
    {"help", no_argument, NULL, S_OPT_HELP},
    {"version", no_argument, NULL, S_OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static const struct option s_agents_options[] = {
    {"keys", required_argument, NULL, S_OPT_KEYS},
    {"replace", no_argument, NULL, S_OPT_REPLACE},
    {"help", no_argument, NULL, S_OPT_HELP},
    {"version", no_argument, NULL, S_OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static const struct option s_export_options[] = {
    {"format", required_argument, NULL, S_OPT_FORMAT},
    {"db", required_argument, NULL, S_OPT_DB},
    {"help", no_argument, NULL, S_OPT_HELP},
    {"version", no_argument, NULL, S_OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static const char s_usage_main[] =
    "Usage: stampede COMMAND [OPTIONS]\n"
    "Fire N simultaneous requests from several agents and record every result.\n"
    "\n"
    "Commands:\n"
    "  serve    controller daemon: agent registry, runs, results, dashboard\n"
    "  run      one headless run, with local agents or remote ones\n"
    "  demo     local Lambda emulator + controller + agents + dashboard\n"
    "  sweep    one run per reserved concurrency, set through the Lambda API\n"
    "  agents   admit, revoke or list the agents allowed to connect\n"
    "  export   every request row of a run as CSV or JSON\n"
    "\n"
    "`stampede COMMAND --help` describes a command's options.\n";

static const char s_usage_serve[] =
    "Usage: stampede serve [OPTIONS]\n"
    "Run the controller: agents connect, runs start from the dashboard/API.\n"
    "\n"
    "  --listen ENDPOINT  ZeroMQ endpoint for agents (tcp://127.0.0.1:5555)\n"
    "  --http HOST:PORT   dashboard and API address (127.0.0.1:5000)\n"
    "  --db PATH          results database (results/stampede.db)\n"
    "  --keys DIR         CURVE keys: DIR/controller.key, DIR/agents/ (results/keys)\n"
    "  --insecure         plain TCP without CURVE; loopback --listen only\n"
    "  --target URL       default target of runs started from the dashboard\n"
    "  --token TOKEN      API token (or STAMPEDE_TOKEN); required when --http\n"
    "                     is not a loopback address\n"
    "  --public-host NAME[:PORT]  another Host the dashboard answers to (behind\n"
    "                     a proxy or DNS name); any other Host is refused (421)\n"
    "  --allow PATTERN    target hosts the dashboard may start runs against, as\n"
    "                     the agents' --allow (repeatable; default loopback)\n"
    "  --start-tolerance MS  how far past its clock bound an agent may release\n"
    "                     and the start still count as agreed (20); beyond it\n"
    "                     the run is mis_started\n"
    "  --clock-samples N  fresh clock samples each agent needs before Go (3)\n"
    "  --clock-max-age S  how old a sample may be and count as fresh (10)\n"
    "  --function NAME    the Lambda function behind the runs: its reserved\n"
    "                     concurrency is read before each run and recorded\n"
    "  --lambda-endpoint URL, --region R  its management API, as for run\n"
    "  -h, --help         this text\n"
    "      --version      print the version\n";

//  One help line per source line; the numbers are ctl_runspec's.
// clang-format off
static const char s_usage_run[] =
    "Usage: stampede run --url URL -n N [OPTIONS]\n"
    "Run one burst of N simultaneous requests and print its summary.\n"
    "Exit status: 0 the run completed, every request recorded (and met every\n"
    "--expect-*), 1 it failed, 2 bad usage, 3 it completed but missed an\n"
    "expectation, 4 it completed with requests lost, 5 it was interrupted,\n"
    "6 it mis-started (an agent released outside the instant ± its bound).\n"
    "\n"
    "  --url URL            target (http:// or https://)\n"
    "  -n, --requests N     requests in the burst (1-" S_XSTR(CTL_RUNSPEC_MAX_REQUESTS) ")\n"
    "  --local-agents K     spawn K local stampede-agent processes (default 4)\n"
    "  --wait-agents K      wait (up to 60 s) for K remote agents instead\n"
    "  --listen ENDPOINT    ZeroMQ endpoint for agents (tcp://127.0.0.1:* with\n"
    "                       local agents, tcp://127.0.0.1:5555 otherwise)\n"
    "  --method M           HTTP method (GET)\n"
    "  --data BODY          request body\n"
    "  --header 'K: V'      request header, repeatable (up to 64)\n"
    "  --timeout-ms MS      per-request timeout (" S_XSTR(CTL_RUNSPEC_DEFAULT_TIMEOUT_MS) ")\n"
    "  --start-mode MODE    last-byte (default; auto is the same): connect\n"
    "                       (TLS too) and write each request but its final\n"
    "                       byte ahead, release them all at the instant;\n"
    "                       at-go: start every request at the instant\n"
    "  --compensate-path    shift each agent's instant by half the shortest TCP\n"
    "                       handshake it measured while connecting ahead, so\n"
    "                       agents on far and near paths meet at the target\n"
    "                       (last-byte only)\n"
    "  --door DOOR          the front door, which decides what is a throttle:\n"
    "                       function-url, invoke, apigw-rest, apigw-http, apigw\n"
    "                       (REST or HTTP API, told by each answer), http (429\n"
    "                       only); auto (default): from the URL\n"
    "  --arrival-header H   response header with the target's receive instant\n"
    "                       in ns (X-Stampede-Received-Ns, the emulator's)\n"
    "  --cacert FILE        PEM CA certificates the agents trust for https://\n"
    "                       instead of their host's (a private or self-signed CA)\n"
    "  --db PATH            results database (results/stampede.db)\n"
    "  --json               print one JSON object instead of the text summary\n"
    "  --expect-ok N        exit 3 unless exactly N requests succeeded; the same\n"
    "  --expect-throttled N   for throttled, --expect-errors N for errors and\n"
    "  --expect-lost N        --expect-lost N for lost requests (0-" S_XSTR(CTL_RUNSPEC_MAX_REQUESTS) ")\n"
    "                       (with --waves: the totals of every wave)\n"
    "  --waves              N above what the agents hold together goes out in\n"
    "                       consecutive bursts of at most that, each its own\n"
    "                       run (labelled \"wave K of W\"), instead of being\n"
    "                       refused; a wave that does not complete ends them\n"
    "  --keys DIR           CURVE keys (results/keys)\n"
    "  --insecure           plain TCP without CURVE; loopback --listen only\n"
    "  --start-tolerance MS how far past its clock bound an agent may release\n"
    "                       and the start still count as agreed (20)\n"
    "  --clock-samples N    fresh clock samples each agent needs before Go (3)\n"
    "  --clock-max-age S    how old a sample may be and still count (10)\n"
    "  --function NAME      the Lambda function behind --url: its reserved\n"
    "                       concurrency is read through the management API\n"
    "                       and recorded with the run\n"
    "  --lambda-endpoint URL  that API (the emulator's URL; default AWS's for\n"
    "                       the region, signed with the AWS_* credentials)\n"
    "  --region R           the region (AWS_REGION, AWS_DEFAULT_REGION)\n"
    "  -h, --help           this text\n"
    "      --version        print the version\n";

static const char s_usage_sweep[] =
    "Usage: stampede sweep --url URL --function NAME [--reserved LIST] -n N [OPTIONS]\n"
    "One run of N requests per reserved concurrency in LIST, each set on the\n"
    "function through the Lambda management API first; then the success rate\n"
    "against reserved concurrency, and the function's setting put back.\n"
    "Exit status: 0 every run completed, 1 a run or the API failed, 2 bad\n"
    "usage, else the first run's that did not complete (as `stampede run`).\n"
    "\n"
    "  --reserved LIST      comma-separated values, 0-" S_XSTR(CTL_LAMBDA_MAX_RESERVED) " or none\n"
    "                       (unreserved), up to " S_XSTR(CTL_MAX_SWEEP) " (5,10,50,none)\n"
    "  --function NAME      the function behind --url (name or ARN)\n"
    "  --lambda-endpoint URL  the management API (the emulator's URL; default\n"
    "                       AWS's for the region, signed with the AWS_*\n"
    "                       credentials of the environment)\n"
    "  --region R           the region (AWS_REGION, AWS_DEFAULT_REGION)\n"
    "  and every option of `stampede run` but --expect-*.\n"
    "  -h, --help           this text\n"
    "      --version        print the version\n";
// clang-format on

static const char s_usage_demo[] =
    "Usage: stampede demo [OPTIONS]\n"
    "Start the local Lambda emulator (reserved concurrency 5), the controller\n"
    "and 4 local agents, fire the burst (POST {\"burst\":1}, last byte held until\n"
    "the start instant), then serve the dashboard until Ctrl-C.\n"
    "\n"
    "  --http HOST:PORT          dashboard address (127.0.0.1:5000)\n"
    "  --lambda-listen HOST:PORT emulator address (127.0.0.1:9000)\n"
    "  --db PATH                 results database (results/stampede.db)\n"
    "  -n, --requests N          requests in the burst (100)\n"
    "  --reserved N              the function's reserved concurrency (5)\n"
    "  --local-agents K          local agents (4)\n"
    "  --start-mode MODE         at-go, last-byte or auto (auto)\n"
    "  --exit                    leave after the summary\n"
    "  --keys DIR                CURVE keys (results/keys)\n"
    "  --public-host NAME[:PORT] another Host the dashboard answers to\n"
    "  --insecure                plain TCP between controller and agents\n"
    "  --token TOKEN             API token (or STAMPEDE_TOKEN)\n"
    "  -h, --help                this text\n"
    "      --version             print the version\n";

static const char s_usage_agents[] =
    "Usage: stampede agents admit [--replace] [--keys DIR] -- NAME KEY\n"
    "       stampede agents revoke NAME [--keys DIR]\n"
    "       stampede agents list [--keys DIR]\n"
    "Enrol the agents whose keys were made on their own hosts: admit writes\n"
    "the agent's public certificate into DIR/agents/NAME.key, where a running\n"
    "controller picks it up; revoke removes it. KEY is the agent's public key\n"
    "(40 characters of Z85, as `stampede-agent --keygen` prints it) or its\n"
    "certificate file; a key may start with '-', so give the options first\n"
    "and `--` before NAME. Nothing secret is copied.\n"
    "\n"
    "  --keys DIR         the controller's key directory (results/keys)\n"
    "  --replace          admit: replace another key admitted under NAME\n"
    "  -h, --help         this text\n"
    "      --version      print the version\n";

static const char s_usage_export[] =
    "Usage: stampede export RUN_ID [OPTIONS]\n"
    "Write every request row of a run to stdout.\n"
    "\n"
    "  --format csv|json  output format (csv)\n"
    "  --db PATH          results database (results/stampede.db)\n"
    "  -h, --help         this text\n"
    "      --version      print the version\n";

//  Reports a usage error as "stampede CMD: message" plus a hint; returns
//  CTL_CONFIG_USAGE so callers can `return s_usage(...)`.
static int s_usage(FILE *err, const char *command, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_usage(FILE *err, const char *command, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(err, "stampede%s%s: ", command ? " " : "", command ? command : "");
    vfprintf(err, format, args);
    va_end(args);
    fprintf(err, "\nTry 'stampede%s%s --help'.\n", command ? " " : "",
            command ? command : "");
    return CTL_CONFIG_USAGE;
}

//  Parses a whole decimal number in [min, max].
static int
s_parse_int(const char *text, long long min, long long max, long long *out)
{
    if (!text || !isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

static int
s_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    long long value;
    if (s_parse_int(text, min, max, &value))
        return -1;
    *out = (uint32_t)value;
    return 0;
}

//  HOST:PORT as the controller takes it (--http, --lambda-listen): a name
//  or a literal, port 0 for an ephemeral one.
static int
s_parse_hostport(const char *text, sp_hostport_t *out)
{
    char why[128];
    return sp_hostport_parse(text, SP_HOSTPORT_NAMES | SP_HOSTPORT_PORT0, out, why,
                             sizeof why) == SP_HOSTPORT_OK
               ? 0
               : -1;
}

bool
ctl_config_hostport_is_loopback(const char *hostport)
{
    sp_hostport_t address;
    if (s_parse_hostport(hostport, &address))
        return false;
    return sp_addr_is_loopback(address.host);
}

bool
ctl_config_endpoint_is_loopback(const char *endpoint)
{
    if (!endpoint)
        return false;
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *rest = endpoint + 6;
    //  "tcp://127.0.0.1:*" binds an ephemeral port: take the host part only.
    char host[S_MAX_ENDPOINT];
    size_t len;
    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (!close)
            return false;
        len = (size_t)(close - rest - 1);
        rest++;
    } else {
        const char *colon = strrchr(rest, ':');
        if (!colon)
            return false;
        len = (size_t)(colon - rest);
    }
    if (len == 0 || len >= sizeof host)
        return false;
    memcpy(host, rest, len);
    host[len] = '\0';
    return sp_addr_is_loopback(host);
}

static int
s_check_endpoint(const char *endpoint)
{
    size_t n = strlen(endpoint);
    if (n > S_MAX_ENDPOINT || !proto_is_printable(endpoint, S_MAX_ENDPOINT))
        return -1;
    if (strncmp(endpoint, "tcp://", 6) == 0 && n > 6 && strchr(endpoint + 6, ':'))
        return 0;
    if (strncmp(endpoint, "ipc://", 6) == 0 && n > 6)
        return 0;
    return -1;
}

const char *
ctl_config_command_name(ctl_command_t command)
{
    switch (command) {
    case CTL_COMMAND_SERVE:
        return "serve";
    case CTL_COMMAND_RUN:
        return "run";
    case CTL_COMMAND_DEMO:
        return "demo";
    case CTL_COMMAND_EXPORT:
        return "export";
    case CTL_COMMAND_SWEEP:
        return "sweep";
    case CTL_COMMAND_AGENTS:
        return "agents";
    default:
        return "none";
    }
}

void
ctl_config_defaults(ctl_config_t *self)
{
    assert(self);
    memset(self, 0, sizeof *self);
    self->command = CTL_COMMAND_NONE;
    self->db = "results/stampede.db";
    self->keys = "results/keys";
    self->method = "GET";
    self->timeout_ms = CTL_RUNSPEC_DEFAULT_TIMEOUT_MS;
    self->door = CTL_DOOR_AUTO;
    self->lambda_listen = "127.0.0.1:9000";
    self->reserved = 5;
    self->format = "csv";
    self->expect = (ctl_expect_t){-1, -1, -1, -1};
    self->start_tolerance_ms = 20;
    self->clock_samples = 3;
    self->clock_max_age_s = 10;
}

//  sweep --reserved LIST: comma-separated values, each 0..max or "none".
static int
s_parse_sweep(ctl_config_t *self, const char *cmd, const char *arg, FILE *err)
{
    self->n_sweep = 0;
    const char *start = arg;
    for (;;) {
        const char *comma = strchr(start, ',');
        size_t len = comma ? (size_t)(comma - start) : strlen(start);
        char value[16];
        if (self->n_sweep >= CTL_MAX_SWEEP)
            return s_usage(err, cmd, "--reserved takes at most %d values", CTL_MAX_SWEEP);
        if (len >= sizeof value)
            len = sizeof value - 1; //  too long for a value: refused below
        memcpy(value, start, len);
        value[len] = '\0';
        if (ctl_lambda_parse_reserved(value, &self->sweep[self->n_sweep]))
            return s_usage(err, cmd,
                           "--reserved must be comma-separated values from 0 to %d or "
                           "none, got '%.32s'",
                           CTL_LAMBDA_MAX_RESERVED, value);
        self->n_sweep++;
        if (!comma)
            break;
        start = comma + 1;
    }
    return 0;
}

//  Applies one option; returns 0 or CTL_CONFIG_USAGE.
static int
s_apply(ctl_config_t *self, const char *cmd, int opt, const char *arg, bool *n_given,
        FILE *err)
{
    char why[256];
    switch (opt) {
    case S_OPT_LISTEN:
        if (s_check_endpoint(arg))
            return s_usage(err, cmd, "--listen must be tcp://HOST:PORT or ipc://PATH");
        self->listen = arg;
        break;
    case S_OPT_HTTP:
    case S_OPT_LAMBDA_LISTEN: {
        sp_hostport_t address;
        const char *flag = opt == S_OPT_HTTP ? "--http" : "--lambda-listen";
        if (s_parse_hostport(arg, &address))
            return s_usage(err, cmd, "%s must be HOST:PORT (port 0-65535)", flag);
        if (opt == S_OPT_HTTP)
            self->http = arg;
        else
            self->lambda_listen = arg;
        break;
    }
    case S_OPT_DB:
    case S_OPT_KEYS:
        if (*arg == '\0' || strlen(arg) > CTL_MAX_PATH)
            return s_usage(err, cmd, "%s must be a path of 1-%d bytes",
                           opt == S_OPT_DB ? "--db" : "--keys", CTL_MAX_PATH);
        if (opt == S_OPT_DB)
            self->db = arg;
        else
            self->keys = arg;
        break;
    case S_OPT_INSECURE:
        self->insecure = true;
        break;
    case S_OPT_TARGET:
    case S_OPT_URL:
        if (ctl_runspec_check_url(arg, why, sizeof why))
            return s_usage(err, cmd, "%s: %s", opt == S_OPT_URL ? "--url" : "--target",
                           why);
        if (opt == S_OPT_URL)
            self->url = arg;
        else
            self->target = arg;
        break;
    case S_OPT_TOKEN:
        if (*arg == '\0' || strchr(arg, ' ') || !proto_is_printable(arg, CTL_MAX_TOKEN))
            return s_usage(err, cmd,
                           "--token must be 1-%d printable characters "
                           "without spaces",
                           CTL_MAX_TOKEN);
        self->token = arg;
        break;
    case S_OPT_PUBLIC_HOST:
        if (!ctl_http_public_host_ok(arg))
            return s_usage(err, cmd, "--public-host must be NAME or NAME:PORT, got %s",
                           arg);
        self->public_host = arg;
        break;
    case S_OPT_ALLOW:
        if (self->n_allow >= CTL_CONFIG_MAX_ALLOW)
            return s_usage(err, cmd, "at most %d --allow patterns", CTL_CONFIG_MAX_ALLOW);
        if (!sp_allow_pattern_ok(arg))
            return s_usage(err, cmd,
                           "--allow pattern must be 1-%d printable characters without "
                           "spaces",
                           SP_ALLOW_MAX_PATTERN);
        self->allow[self->n_allow++] = arg;
        break;
    case S_OPT_REQUESTS:
        if (s_parse_u32(arg, 1, CTL_RUNSPEC_MAX_REQUESTS, &self->requests))
            return s_usage(err, cmd, "-n must be a number from 1 to %d",
                           CTL_RUNSPEC_MAX_REQUESTS);
        *n_given = true;
        break;
    case S_OPT_LOCAL_AGENTS:
    case S_OPT_WAIT_AGENTS: {
        uint32_t k;
        const char *flag = opt == S_OPT_LOCAL_AGENTS ? "--local-agents" : "--wait-agents";
        if (s_parse_u32(arg, 1, CTL_RUNSPEC_MAX_AGENTS, &k))
            return s_usage(err, cmd, "%s must be a number from 1 to %d", flag,
                           CTL_RUNSPEC_MAX_AGENTS);
        if (opt == S_OPT_LOCAL_AGENTS)
            self->local_agents = k;
        else
            self->wait_agents = k;
        break;
    }
    case S_OPT_METHOD:
        if (ctl_runspec_check_method(arg, why, sizeof why))
            return s_usage(err, cmd, "--%s", why);
        self->method = arg;
        break;
    case S_OPT_DATA:
        if (strlen(arg) > PROTO_MAX_BODY)
            return s_usage(err, cmd, "--data is longer than %d bytes", PROTO_MAX_BODY);
        self->data = arg;
        break;
    case S_OPT_HEADER: {
        char name[PROTO_MAX_HEADER_NAME + 1];
        const char *value;
        if (self->n_headers >= PROTO_MAX_HEADERS)
            return s_usage(err, cmd, "at most %d --header options", PROTO_MAX_HEADERS);
        if (ctl_runspec_split_header(arg, name, sizeof name, &value, why, sizeof why))
            return s_usage(err, cmd, "--header: %s", why);
        self->headers[self->n_headers++] = arg;
        break;
    }
    case S_OPT_TIMEOUT_MS:
        if (s_parse_u32(arg, 1, PROTO_MAX_TIMEOUT_MS, &self->timeout_ms))
            return s_usage(err, cmd, "--timeout-ms must be a number from 1 to %d",
                           PROTO_MAX_TIMEOUT_MS);
        break;
    case S_OPT_JSON:
        self->json = true;
        break;
    case S_OPT_START_TOLERANCE:
        if (s_parse_u32(arg, 0, CTL_MAX_START_TOLERANCE_MS, &self->start_tolerance_ms))
            return s_usage(err, cmd,
                           "--start-tolerance must be a number of ms from 0 to %d",
                           CTL_MAX_START_TOLERANCE_MS);
        break;
    case S_OPT_CLOCK_SAMPLES:
        if (s_parse_u32(arg, 1, CTL_MAX_CLOCK_SAMPLES, &self->clock_samples))
            return s_usage(err, cmd, "--clock-samples must be a number from 1 to %d",
                           CTL_MAX_CLOCK_SAMPLES);
        break;
    case S_OPT_CLOCK_MAX_AGE:
        if (s_parse_u32(arg, CTL_MIN_CLOCK_AGE_S, CTL_MAX_CLOCK_AGE_S,
                        &self->clock_max_age_s))
            return s_usage(err, cmd,
                           "--clock-max-age must be a number of s from %d to %d (the "
                           "drift needs samples %d s apart)",
                           CTL_MIN_CLOCK_AGE_S, CTL_MAX_CLOCK_AGE_S,
                           (int)(CTL_CLOCK_DRIFT_SPAN_NS / 1000000000));
        break;
    case S_OPT_EXPECT_OK:
    case S_OPT_EXPECT_THROTTLED:
    case S_OPT_EXPECT_ERRORS:
    case S_OPT_EXPECT_LOST: {
        static const char *const names[] = {"ok", "throttled", "errors", "lost"};
        int64_t *slots[] = {&self->expect.ok, &self->expect.throttled,
                            &self->expect.errors, &self->expect.lost};
        size_t which = (size_t)(opt - S_OPT_EXPECT_OK);
        uint32_t count;
        if (s_parse_u32(arg, 0, CTL_RUNSPEC_MAX_REQUESTS, &count))
            return s_usage(err, cmd, "--expect-%s must be a number from 0 to %d",
                           names[which], CTL_RUNSPEC_MAX_REQUESTS);
        *slots[which] = count;
        break;
    }
    case S_OPT_START_MODE:
        if (ctl_runspec_start_mode_parse(arg, &self->start_mode))
            return s_usage(err, cmd, "--start-mode must be at-go, last-byte or auto");
        break;
    case S_OPT_CACERT:
        if (!*arg)
            return s_usage(err, cmd, "--cacert needs a file name");
        self->cacert = arg;
        break;
    case S_OPT_ARRIVAL_HEADER:
        if (!proto_is_token(arg, strlen(arg), PROTO_MAX_HEADER_NAME))
            return s_usage(err, cmd,
                           "--arrival-header must be a header name (a token of 1-%d "
                           "characters)",
                           PROTO_MAX_HEADER_NAME);
        self->arrival_header = arg;
        break;
    case S_OPT_DOOR:
        if (ctl_door_parse(arg, &self->door))
            return s_usage(err, cmd,
                           "--door must be auto, function-url, invoke, apigw-rest, "
                           "apigw-http, apigw or http");
        break;
    case S_OPT_RESERVED:
        if (self->command == CTL_COMMAND_SWEEP)
            return s_parse_sweep(self, cmd, arg, err);
        if (s_parse_u32(arg, 0, CTL_MAX_RESERVED, &self->reserved))
            return s_usage(err, cmd, "--reserved must be a number from 0 to %d",
                           CTL_MAX_RESERVED);
        break;
    case S_OPT_FUNCTION:
    case S_OPT_LAMBDA_ENDPOINT:
    case S_OPT_REGION: {
        //  Checked whole by ctl_lambda_init in s_finish; here only what
        //  no value may be.
        if (!*arg || strlen(arg) > 1000 || !proto_is_printable(arg, 1000))
            return s_usage(err, cmd, "%s must be 1-1000 printable characters",
                           opt == S_OPT_FUNCTION          ? "--function"
                           : opt == S_OPT_LAMBDA_ENDPOINT ? "--lambda-endpoint"
                                                          : "--region");
        const char **slot = opt == S_OPT_FUNCTION          ? &self->function
                            : opt == S_OPT_LAMBDA_ENDPOINT ? &self->lambda_endpoint
                                                           : &self->region;
        *slot = arg;
        break;
    }
    case S_OPT_EXIT:
        self->exit_after = true;
        break;
    case S_OPT_WAVES:
        self->waves = true;
        break;
    case S_OPT_COMPENSATE_PATH:
        self->compensate_path = true;
        break;
    case S_OPT_REPLACE:
        self->replace = true;
        break;
    case S_OPT_FORMAT:
        if (strcmp(arg, "csv") != 0 && strcmp(arg, "json") != 0)
            return s_usage(err, cmd, "--format must be csv or json");
        self->format = arg;
        break;
    default:
        assert(false);
    }
    return 0;
}

//  Cross-option rules and per-command defaults, once every option is read.
static int
s_finish(ctl_config_t *self, const char *cmd, bool n_given, const char *env_token,
         FILE *err)
{
    if (!self->token && env_token && *env_token) {
        if (strchr(env_token, ' ') || !proto_is_printable(env_token, CTL_MAX_TOKEN))
            return s_usage(err, cmd,
                           "STAMPEDE_TOKEN must be 1-%d printable "
                           "characters without spaces",
                           CTL_MAX_TOKEN);
        self->token = env_token;
    }
    switch (self->command) {
    case CTL_COMMAND_SERVE:
        if (!self->listen)
            self->listen = "tcp://127.0.0.1:5555";
        if (!self->http)
            self->http = "127.0.0.1:5000";
        break;
    case CTL_COMMAND_SWEEP:
        if (!self->function)
            return s_usage(err, cmd, "--function is required (the function to set)");
        if (self->n_sweep == 0) {
            static const int32_t values[] = {5, 10, 50, CTL_LAMBDA_UNRESERVED};
            memcpy(self->sweep, values, sizeof values);
            self->n_sweep = sizeof values / sizeof values[0];
        }
        __attribute__((fallthrough));
    case CTL_COMMAND_RUN:
        if (!self->url)
            return s_usage(err, cmd, "--url is required");
        if (!n_given)
            return s_usage(err, cmd, "-n is required");
        if (self->local_agents && self->wait_agents)
            return s_usage(err, cmd,
                           "--local-agents and --wait-agents exclude each other");
        if (!self->local_agents && !self->wait_agents)
            self->local_agents = 4;
        if (!self->listen)
            self->listen =
                self->local_agents ? "tcp://127.0.0.1:*" : "tcp://127.0.0.1:5555";
        if (self->compensate_path && self->start_mode == CTL_START_MODE_AT_GO)
            return s_usage(err, cmd,
                           "--compensate-path needs the last-byte start mode (the "
                           "path is measured while the agents connect ahead)");
        break;
    case CTL_COMMAND_DEMO:
        if (!n_given)
            self->requests = 100;
        if (!self->local_agents)
            self->local_agents = 4;
        self->listen = "tcp://127.0.0.1:*";
        if (!self->http)
            self->http = "127.0.0.1:5000";
        break;
    case CTL_COMMAND_EXPORT:
        if (self->run_id < 1)
            return s_usage(err, cmd, "RUN_ID is required");
        break;
    case CTL_COMMAND_AGENTS:
        if (self->replace &&
            (!self->agents_action || strcmp(self->agents_action, "admit")))
            return s_usage(err, cmd, "--replace goes with admit");
        break;
    default:
        assert(false);
    }
    if ((self->lambda_endpoint || self->region) && !self->function)
        return s_usage(err, cmd, "--lambda-endpoint and --region go with --function");
    if (self->function) {
        ctl_lambda_t lambda;
        char why[512];
        if (ctl_lambda_init(&lambda, self->lambda_endpoint, self->function, self->region,
                            NULL, why, sizeof why))
            return s_usage(err, cmd, "%s", why);
    }
    if (self->insecure && !ctl_config_endpoint_is_loopback(self->listen))
        return s_usage(err, cmd,
                       "--insecure is only allowed with a loopback --listen "
                       "(got %s)",
                       self->listen);
    if (self->http && !ctl_config_hostport_is_loopback(self->http) && !self->token)
        return s_usage(err, cmd,
                       "--http %s is not a loopback address: give --token "
                       "or set STAMPEDE_TOKEN",
                       self->http);
    return CTL_CONFIG_RUN;
}

int
ctl_config_parse(ctl_config_t *self, int argc, char **argv, const char *env_token,
                 FILE *out, FILE *err)
{
    assert(self && argv && out && err);
    ctl_config_defaults(self);
    if (argc < 2)
        return s_usage(err, NULL,
                       "missing command (serve, run, sweep, demo, agents or export)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(s_usage_main, out);
        return CTL_CONFIG_EXIT;
    }
    if (strcmp(cmd, "--version") == 0) {
        fprintf(out, "stampede %s\n", STAMPEDE_VERSION);
        return CTL_CONFIG_EXIT;
    }
    const struct option *options;
    const char *usage;
    if (strcmp(cmd, "serve") == 0) {
        self->command = CTL_COMMAND_SERVE;
        options = s_serve_options;
        usage = s_usage_serve;
    } else if (strcmp(cmd, "run") == 0) {
        self->command = CTL_COMMAND_RUN;
        options = s_run_options;
        usage = s_usage_run;
    } else if (strcmp(cmd, "demo") == 0) {
        self->command = CTL_COMMAND_DEMO;
        options = s_demo_options;
        usage = s_usage_demo;
    } else if (strcmp(cmd, "sweep") == 0) {
        self->command = CTL_COMMAND_SWEEP;
        options = s_sweep_options;
        usage = s_usage_sweep;
    } else if (strcmp(cmd, "agents") == 0) {
        self->command = CTL_COMMAND_AGENTS;
        options = s_agents_options;
        usage = s_usage_agents;
    } else if (strcmp(cmd, "export") == 0) {
        self->command = CTL_COMMAND_EXPORT;
        options = s_export_options;
        usage = s_usage_export;
    } else
        return s_usage(err, NULL, "unknown command '%.64s'", cmd);

    //  -n takes a value only where the command has --requests.
    bool has_n = false;
    for (const struct option *o = options; o->name; o++)
        if (o->val == S_OPT_REQUESTS)
            has_n = true;
    const char *shortopts = has_n ? ":hn:" : ":h";
    bool n_given = false;
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    optind = 0; //  GNU: reinitialise, so the parser can run more than once
    opterr = 0;
    for (;;) {
        int opt = getopt_long(sub_argc, sub_argv, shortopts, options, NULL);
        if (opt == -1)
            break;
        if (opt == S_OPT_HELP) {
            fputs(usage, out);
            return CTL_CONFIG_EXIT;
        }
        if (opt == S_OPT_VERSION) {
            fprintf(out, "stampede %s\n", STAMPEDE_VERSION);
            return CTL_CONFIG_EXIT;
        }
        if (opt == ':')
            return s_usage(err, cmd, "option '%.64s' needs a value",
                           sub_argv[optind - 1]);
        if (opt == '?') {
            if (optopt)
                return s_usage(err, cmd, "unknown option '-%c'", optopt);
            return s_usage(err, cmd, "unknown option '%.64s'", sub_argv[optind - 1]);
        }
        int rc = s_apply(self, cmd, opt, optarg, &n_given, err);
        if (rc)
            return rc;
    }
    int positional = sub_argc - optind;
    if (self->command == CTL_COMMAND_EXPORT && positional >= 1) {
        long long run_id;
        if (s_parse_int(sub_argv[optind], 1, INT64_MAX, &run_id))
            return s_usage(err, cmd, "RUN_ID must be a positive number, got '%.64s'",
                           sub_argv[optind]);
        self->run_id = run_id;
        optind++;
        positional--;
    }
    if (self->command == CTL_COMMAND_AGENTS) {
        //  ACTION, then its NAME and KEY.
        static const struct {
            const char *action;
            int args;
        } actions[] = {{"admit", 2}, {"revoke", 1}, {"list", 0}};
        if (positional < 1)
            return s_usage(err, cmd, "give an action: admit, revoke or list");
        const char *action = sub_argv[optind];
        int args = -1;
        for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
            if (strcmp(action, actions[i].action) == 0)
                args = actions[i].args;
        if (args < 0)
            return s_usage(err, cmd, "unknown action '%.64s' (admit, revoke or list)",
                           action);
        if (positional - 1 < args)
            return s_usage(err, cmd, "%s needs %s", action,
                           args == 2 ? "NAME and KEY" : "NAME");
        self->agents_action = action;
        self->agent_name = args >= 1 ? sub_argv[optind + 1] : NULL;
        self->agent_key = args >= 2 ? sub_argv[optind + 2] : NULL;
        optind += 1 + args;
        positional -= 1 + args;
    }
    if (positional > 0)
        return s_usage(err, cmd, "unexpected argument '%.64s'", sub_argv[optind]);
    return s_finish(self, cmd, n_given, env_token, err);
}
