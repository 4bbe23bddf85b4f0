/*  agent_config — stampede-agent's command line; see agent_config.h.

    Option table first, then one s_set_* helper per kind of value, then the
    cross-option rules in s_check. Every copy into the struct is bounded and
    every number goes through strtol with an end pointer and a range.
*/
#include "agent_config.h"
#include "sp_addr.h"
#include "sp_allow.h"
#include "sp_check.h"
#include "sp_err.h"
#include "sp_hostport.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    S_OPT_CONTROLLER = 256,
    S_OPT_ID,
    S_OPT_SERVER_KEY,
    S_OPT_KEY,
    S_OPT_INSECURE,
    S_OPT_CAPACITY,
    S_OPT_ALLOW,
    S_OPT_KEYGEN,
    S_OPT_SPOOL
};

static const struct option s_options[] = {
    {"controller", required_argument, NULL, S_OPT_CONTROLLER},
    {"id", required_argument, NULL, S_OPT_ID},
    {"server-key", required_argument, NULL, S_OPT_SERVER_KEY},
    {"key", required_argument, NULL, S_OPT_KEY},
    {"insecure", no_argument, NULL, S_OPT_INSECURE},
    {"capacity", required_argument, NULL, S_OPT_CAPACITY},
    {"allow", required_argument, NULL, S_OPT_ALLOW},
    {"keygen", required_argument, NULL, S_OPT_KEYGEN},
    {"spool", required_argument, NULL, S_OPT_SPOOL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}};

static bool
s_id_char(int c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '-';
}

//  Copies a non-empty value that fits; -1 with a reason otherwise.
static int
s_set_string(char *dest, size_t dest_size, const char *value, const char *option,
             char *err, size_t err_size)
{
    size_t len = strlen(value);
    if (len == 0 || len >= dest_size) {
        sp_err_set(err, err_size, "%s must be 1-%zu characters", option, dest_size - 1);
        return -1;
    }
    memcpy(dest, value, len + 1);
    return 0;
}

static int
s_set_id(agent_config_t *self, const char *value, char *err, size_t err_size)
{
    size_t len = strlen(value);
    if (!proto_is_agent_id(value)) {
        sp_err_set(err, err_size, "--id must be 1-%d characters of [A-Za-z0-9._-]",
                   PROTO_MAX_ID);
        return -1;
    }
    memcpy(self->id, value, len + 1);
    return 0;
}

static int
s_set_capacity(agent_config_t *self, const char *value, char *err, size_t err_size)
{
    char *end = NULL;
    errno = 0;
    long n = isdigit((unsigned char)value[0]) ? strtol(value, &end, 10) : -1;
    if (n < 1 || n > PROTO_MAX_SHARE || errno != 0 || !end || *end != '\0') {
        sp_err_set(err, err_size, "--capacity must be a whole number from 1 to %d",
                   PROTO_MAX_SHARE);
        return -1;
    }
    self->capacity = (uint32_t)n;
    return 0;
}

//  The first --allow replaces the default list; later ones append.
static int
s_add_allow(agent_config_t *self, const char *value, bool *replaced, char *err,
            size_t err_size)
{
    if (!*replaced) {
        self->allow_loopback = false;
        *replaced = true;
    }
    if (self->allow_count == AGENT_CONFIG_MAX_ALLOW) {
        sp_err_set(err, err_size, "at most %d --allow patterns", AGENT_CONFIG_MAX_ALLOW);
        return -1;
    }
    size_t len = strlen(value);
    if (!sp_allow_pattern_ok(value)) {
        sp_err_set(err, err_size,
                   "--allow pattern must be 1-%d printable characters without spaces",
                   AGENT_CONFIG_MAX_PATTERN);
        return -1;
    }
    memcpy(self->allow[self->allow_count++], value, len + 1);
    return 0;
}

//  Splits tcp://HOST:PORT (sp_hostport, names allowed); HOST may be a
//  bracketed IPv6 address and is kept as written, brackets included.
static int
s_parse_endpoint(agent_config_t *self, char *err, size_t err_size)
{
    const char *prefix = "tcp://";
    if (strncmp(self->controller, prefix, strlen(prefix)) != 0) {
        sp_err_set(err, err_size, "--controller must look like tcp://HOST:PORT");
        return -1;
    }
    sp_hostport_t parsed;
    sp_hostport_error_t rc = sp_hostport_parse(self->controller + strlen(prefix),
                                               SP_HOSTPORT_NAMES, &parsed, NULL, 0);
    if (rc == SP_HOSTPORT_EFORM) {
        sp_err_set(err, err_size, "--controller must look like tcp://HOST:PORT");
        return -1;
    }
    if (rc == SP_HOSTPORT_EHOST) {
        sp_err_set(err, err_size,
                   "--controller host must be a name, an IPv4 address "
                   "or a bracketed IPv6 address");
        return -1;
    }
    if (rc == SP_HOSTPORT_EPORT) {
        sp_err_set(err, err_size, "--controller port must be 1-65535");
        return -1;
    }
    int n = snprintf(self->controller_host, sizeof self->controller_host,
                     parsed.ipv6 ? "[%s]" : "%s", parsed.host);
    if (n < 0 || (size_t)n >= sizeof self->controller_host) {
        sp_err_set(err, err_size,
                   "--controller host must be a name, an IPv4 address "
                   "or a bracketed IPv6 address");
        return -1;
    }
    return 0;
}

//  Rules between options, checked once everything is parsed.
static agent_config_action_t
s_check(agent_config_t *self, int others, char *err, size_t err_size)
{
    if (self->keygen[0]) {
        if (others > 0) {
            sp_err_set(err, err_size, "--keygen FILE takes no other options");
            return AGENT_CONFIG_ERROR;
        }
        return AGENT_CONFIG_KEYGEN;
    }
    if (!self->controller[0]) {
        sp_err_set(err, err_size, "--controller tcp://HOST:PORT is required");
        return AGENT_CONFIG_ERROR;
    }
    if (s_parse_endpoint(self, err, err_size))
        return AGENT_CONFIG_ERROR;
    if (self->insecure) {
        if (self->server_key[0] || self->key[0]) {
            sp_err_set(err, err_size,
                       "--insecure cannot be combined with --server-key or --key");
            return AGENT_CONFIG_ERROR;
        }
        if (!agent_config_loopback(self)) {
            sp_err_set(
                err, err_size,
                "--insecure refused for controller host %s: plain TCP is only "
                "allowed to loopback (127.0.0.0/8, localhost or [::1]); use --server-key "
                "and --key",
                self->controller_host);
            return AGENT_CONFIG_ERROR;
        }
        return AGENT_CONFIG_RUN;
    }
    if (!self->server_key[0] || !self->key[0]) {
        sp_err_set(
            err, err_size,
            "CurveZMQ needs --server-key FILE (the controller's public certificate) "
            "and --key FILE (this agent's certificate, made with --keygen FILE); "
            "or --insecure for a loopback controller");
        return AGENT_CONFIG_ERROR;
    }
    return AGENT_CONFIG_RUN;
}

void
agent_config_defaults(agent_config_t *self)
{
    assert(self);
    memset(self, 0, sizeof *self);
    self->capacity = AGENT_CONFIG_DEFAULT_CAPACITY;
    self->allow_loopback = true;

    //  "hostname-pid", the hostname cut so the pid always fits.
    char host[256] = "";
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "agent");
    host[sizeof host - 1] = '\0';
    char pid[24];
    int pid_len = snprintf(pid, sizeof pid, "-%ld", (long)getpid());
    size_t host_max = PROTO_MAX_ID - (size_t)pid_len;
    size_t n = strlen(host) < host_max ? strlen(host) : host_max;
    for (size_t i = 0; i < n; i++)
        self->id[i] = s_id_char((unsigned char)host[i]) ? host[i] : '-';
    memcpy(self->id + n, pid, (size_t)pid_len + 1);
}

agent_config_action_t
agent_config_parse(agent_config_t *self, int argc, char **argv, char *err,
                   size_t err_size)
{
    assert(self);
    assert(err && err_size > 0);
    err[0] = '\0';
    bool allow_replaced = false;
    int others = 0; //  options other than --keygen
    optind = 0;     //  GNU: full re-initialisation, so parse can run again
    opterr = 0;
    for (;;) {
        int opt = getopt_long(argc, argv, ":hV", s_options, NULL);
        if (opt == -1)
            break;
        int rc = 0;
        others += opt != S_OPT_KEYGEN;
        switch (opt) {
        case 'h':
            return AGENT_CONFIG_HELP;
        case 'V':
            return AGENT_CONFIG_VERSION;
        case S_OPT_CONTROLLER:
            rc = s_set_string(self->controller, sizeof self->controller, optarg,
                              "--controller", err, err_size);
            break;
        case S_OPT_ID:
            rc = s_set_id(self, optarg, err, err_size);
            break;
        case S_OPT_SERVER_KEY:
            rc = s_set_string(self->server_key, sizeof self->server_key, optarg,
                              "--server-key", err, err_size);
            break;
        case S_OPT_KEY:
            rc =
                s_set_string(self->key, sizeof self->key, optarg, "--key", err, err_size);
            break;
        case S_OPT_INSECURE:
            self->insecure = true;
            break;
        case S_OPT_CAPACITY:
            rc = s_set_capacity(self, optarg, err, err_size);
            break;
        case S_OPT_ALLOW:
            rc = s_add_allow(self, optarg, &allow_replaced, err, err_size);
            break;
        case S_OPT_KEYGEN:
            rc = s_set_string(self->keygen, sizeof self->keygen, optarg, "--keygen", err,
                              err_size);
            break;
        case S_OPT_SPOOL:
            rc = s_set_string(self->spool, sizeof self->spool, optarg, "--spool", err,
                              err_size);
            break;
        case ':':
            sp_err_set(err, err_size, "option %s needs a value", argv[optind - 1]);
            return AGENT_CONFIG_ERROR;
        default:
            sp_err_set(err, err_size, "unknown option %s", argv[optind - 1]);
            return AGENT_CONFIG_ERROR;
        }
        if (rc)
            return AGENT_CONFIG_ERROR;
    }
    if (optind < argc) {
        sp_err_set(err, err_size, "unexpected argument %s", argv[optind]);
        return AGENT_CONFIG_ERROR;
    }
    return s_check(self, others, err, err_size);
}

bool
agent_config_allows(const agent_config_t *self, const char *host)
{
    assert(self);
    const char *patterns[AGENT_CONFIG_MAX_ALLOW];
    for (size_t i = 0; i < self->allow_count; i++)
        patterns[i] = self->allow[i];
    return host &&
           sp_allow_match(self->allow_loopback, patterns, self->allow_count, host);
}

bool
agent_config_loopback(const agent_config_t *self)
{
    assert(self);
    return sp_addr_is_loopback(self->controller_host);
}

void
agent_config_usage(FILE *out)
{
    fprintf(
        out,
        "usage: stampede-agent --controller tcp://HOST:PORT [options]\n"
        "       stampede-agent --keygen FILE\n"
        "\n"
        "Connects to a stampede controller, prepares its share of each run and\n"
        "fires it at the start instant, streaming results back.\n"
        "\n"
        "  --controller tcp://HOST:PORT  the controller's agent endpoint (required)\n"
        "  --id NAME            agent id, [A-Za-z0-9._-]{1,64} (default hostname-pid)\n"
        "  --server-key FILE    the controller's public CURVE certificate\n"
        "  --key FILE           this agent's CURVE certificate (FILE_secret is read)\n"
        "  --insecure           plain TCP; only to a loopback controller\n"
        "  --capacity N         most requests accepted per run (default %d)\n"
        "  --allow PATTERN      target hosts allowed (fnmatch, repeatable); the\n"
        "                       first replaces the default 127.* localhost ::1 [::1]\n"
        "  --spool DIR          keep unacknowledged results in DIR too (created;\n"
        "                       at most 256 MiB), so they are sent again after\n"
        "                       the agent restarts (default: memory only)\n"
        "  --keygen FILE        write a new certificate (FILE, FILE_secret), exit\n"
        "  -h, --help           this text\n"
        "  -V, --version        print the version\n",
        AGENT_CONFIG_DEFAULT_CAPACITY);
}

//  --------------------------------------------------------------------------
//  Selftest

//  Parses a NULL-terminated argument list over fresh defaults.
static agent_config_action_t
s_parse(agent_config_t *config, char *err, size_t err_size, ...)
{
    char *argv[32] = {"stampede-agent"};
    int argc = 1;
    va_list args;
    va_start(args, err_size);
    for (;;) {
        char *arg = va_arg(args, char *);
        if (!arg)
            break;
        assert(argc < 31);
        argv[argc++] = arg;
    }
    va_end(args);
    agent_config_defaults(config);
    return agent_config_parse(config, argc, argv, err, err_size);
}

uint32_t
agent_config_fit(uint32_t wanted, uint64_t nofile, uint32_t ports, char *why,
                 size_t why_size)
{
    uint64_t fit = wanted;
    sp_err_set(why, why_size, "%s", "");
    uint64_t files =
        nofile > AGENT_CONFIG_FD_RESERVE ? nofile - AGENT_CONFIG_FD_RESERVE : 0;
    if (files < fit) {
        fit = files;
        sp_err_set(why, why_size,
                   "the open-file limit is %" PRIu64 " (%d kept for the agent itself)",
                   nofile, AGENT_CONFIG_FD_RESERVE);
    }
    if (ports > 0 && ports < fit) {
        fit = ports;
        sp_err_set(why, why_size, "the ephemeral port range holds %u ports", ports);
    }
    return (uint32_t)fit;
}

void
agent_config_test(bool verbose)
{
    agent_config_t config;
    char err[512];

    //  Defaults.
    agent_config_defaults(&config);
    CHECK_INT(config.capacity, 10000);

    //  What a run can hold: the smallest of --capacity, files, ports.
    char why[160];
    CHECK_INT(agent_config_fit(10000, 1048576, 28232, why, sizeof why), 10000);
    CHECK_STR(why, "");
    CHECK_INT(agent_config_fit(10000, 1024, 28232, why, sizeof why), 960);
    CHECK_STR(why, "the open-file limit is 1024 (64 kept for the agent itself)");
    CHECK_INT(agent_config_fit(50000, 1048576, 28232, why, sizeof why), 28232);
    CHECK_STR(why, "the ephemeral port range holds 28232 ports");
    CHECK_INT(agent_config_fit(50000, 1048576, 0, why, sizeof why), 50000);
    CHECK_INT(agent_config_fit(100, 64, 0, why, sizeof why), 0);
    CHECK_STR(why, "the open-file limit is 64 (64 kept for the agent itself)");
    CHECK_INT(config.allow_count, 0);
    CHECK_INT(config.allow_loopback, true);
    CHECK_INT(config.insecure, false);
    CHECK_STR(config.controller, "");
    size_t id_len = strlen(config.id);
    CHECK_TRUE(id_len >= 3 && id_len <= PROTO_MAX_ID);
    for (size_t i = 0; i < id_len; i++)
        CHECK_TRUE(s_id_char((unsigned char)config.id[i]));
    char pid[24];
    snprintf(pid, sizeof pid, "-%ld", (long)getpid());
    CHECK_STR(config.id + id_len - strlen(pid), pid);

    //  A full secure command line.
    CHECK_INT(s_parse(&config, err, sizeof err, "--controller", "tcp://10.0.0.5:5555",
                      "--id", "eu-west-1a.agent_7", "--server-key", "keys/ctl.key",
                      "--key", "keys/agent.key", "--capacity", "2500", "--allow",
                      "*.lambda-url.*.on.aws", "--allow", "api.example.com", "--spool",
                      "/var/lib/stampede-agent/spool", NULL),
              AGENT_CONFIG_RUN);
    CHECK_STR(err, "");
    CHECK_STR(config.spool, "/var/lib/stampede-agent/spool");
    CHECK_STR(config.controller, "tcp://10.0.0.5:5555");
    CHECK_STR(config.controller_host, "10.0.0.5");
    CHECK_STR(config.id, "eu-west-1a.agent_7");
    CHECK_STR(config.server_key, "keys/ctl.key");
    CHECK_STR(config.key, "keys/agent.key");
    CHECK_INT(config.capacity, 2500);
    CHECK_INT(config.allow_count, 2);
    CHECK_STR(config.allow[0], "*.lambda-url.*.on.aws");
    CHECK_STR(config.allow[1], "api.example.com");
    CHECK_INT(agent_config_loopback(&config), false);
    CHECK_INT(agent_config_allows(&config, "abc.lambda-url.us-east-1.on.aws"), true);
    CHECK_INT(agent_config_allows(&config, "API.Example.COM"), true);
    CHECK_INT(agent_config_allows(&config, "127.0.0.1"), false);
    CHECK_INT(agent_config_allows(&config, "evil.com"), false);

    //  Insecure on loopback; the default allow-list.
    CHECK_INT(s_parse(&config, err, sizeof err, "--controller=tcp://127.0.0.1:5555",
                      "--insecure", NULL),
              AGENT_CONFIG_RUN);
    CHECK_STR(config.controller_host, "127.0.0.1");
    CHECK_INT(config.insecure, true);
    CHECK_INT(agent_config_loopback(&config), true);
    CHECK_INT(agent_config_allows(&config, "127.0.0.1"), true);
    CHECK_INT(agent_config_allows(&config, "127.10.20.30"), true);
    CHECK_INT(agent_config_allows(&config, "LOCALHOST"), true);
    CHECK_INT(agent_config_allows(&config, "[::1]"), true);
    CHECK_INT(agent_config_allows(&config, "::1"), true);
    CHECK_INT(agent_config_allows(&config, "10.0.0.1"), false);
    CHECK_INT(agent_config_allows(&config, "127.0.0.1%2eevil.com"), false);
    CHECK_INT(agent_config_allows(&config, "127.0.0.1.evil.example"), false);
    CHECK_INT(agent_config_allows(&config, "127.evil.example"), false);
    CHECK_INT(agent_config_allows(&config, "127.0.0.1.1"), false);
    CHECK_INT(agent_config_allows(&config, ""), false);
    CHECK_INT(agent_config_allows(&config, NULL), false);
    CHECK_INT(s_parse(&config, err, sizeof err, "--controller", "tcp://[::1]:7000",
                      "--insecure", NULL),
              AGENT_CONFIG_RUN);
    CHECK_STR(config.controller_host, "[::1]");
    CHECK_INT(s_parse(&config, err, sizeof err, "--controller", "tcp://localhost:7000",
                      "--insecure", NULL),
              AGENT_CONFIG_RUN);
    CHECK_INT(s_parse(&config, err, sizeof err, "--controller", "tcp://127.0.0.2:7000",
                      "--insecure", NULL),
              AGENT_CONFIG_RUN);
    //  A first --allow replaces the loopback default.
    CHECK_INT(s_parse(&config, err, sizeof err, "--controller", "tcp://127.0.0.1:7000",
                      "--insecure", "--allow", "example.com", NULL),
              AGENT_CONFIG_RUN);
    CHECK_INT(config.allow_loopback, false);
    CHECK_INT(agent_config_allows(&config, "127.0.0.1"), false);
    CHECK_INT(agent_config_allows(&config, "example.com"), true);

    //  Help, version, keygen.
    CHECK_INT(s_parse(&config, err, sizeof err, "--help", NULL), AGENT_CONFIG_HELP);
    CHECK_INT(s_parse(&config, err, sizeof err, "-V", NULL), AGENT_CONFIG_VERSION);
    CHECK_INT(s_parse(&config, err, sizeof err, "--keygen", "/tmp/a.key", NULL),
              AGENT_CONFIG_KEYGEN);
    CHECK_STR(config.keygen, "/tmp/a.key");

    //  Bad usage, each with its exact reason.
    struct {
        const char *args[6];
        const char *reason;
    } bad[] = {
        {{NULL}, "--controller tcp://HOST:PORT is required"},
        {{"--controller", "tcp://127.0.0.1:5555", NULL},
         "CurveZMQ needs --server-key FILE (the controller's public certificate) and "
         "--key FILE (this agent's certificate, made with --keygen FILE); or "
         "--insecure for a loopback controller"},
        {{"--controller", "tcp://10.1.2.3:5555", "--insecure", NULL},
         "--insecure refused for controller host 10.1.2.3: plain TCP is only allowed "
         "to loopback (127.0.0.0/8, localhost or [::1]); use --server-key and --key"},
        {{"--controller", "tcp://127.0.0.1:5555", "--insecure", "--key", "k", NULL},
         "--insecure cannot be combined with --server-key or --key"},
        {{"--controller", "udp://127.0.0.1:5555", "--insecure", NULL},
         "--controller must look like tcp://HOST:PORT"},
        {{"--controller", "tcp://127.0.0.1", "--insecure", NULL},
         "--controller must look like tcp://HOST:PORT"},
        {{"--controller", "tcp://127.0.0.1:0", "--insecure", NULL},
         "--controller port must be 1-65535"},
        {{"--controller", "tcp://127.0.0.1:65536", "--insecure", NULL},
         "--controller port must be 1-65535"},
        {{"--controller", "tcp://127.0.0.1:55x", "--insecure", NULL},
         "--controller port must be 1-65535"},
        {{"--controller", "tcp://eth0;10.0.0.1:5555", "--insecure", NULL},
         "--controller host must be a name, an IPv4 address or a bracketed IPv6 "
         "address"},
        {{"--controller", "tcp://[]:5555", "--insecure", NULL},
         "--controller host must be a name, an IPv4 address or a bracketed IPv6 "
         "address"},
        {{"--spool", "", NULL}, "--spool must be 1-4096 characters"},
        {{"--capacity", "0", NULL},
         "--capacity must be a whole number from 1 to 1000000"},
        {{"--capacity", "1000001", NULL},
         "--capacity must be a whole number from 1 to 1000000"},
        {{"--capacity", "-5", NULL},
         "--capacity must be a whole number from 1 to 1000000"},
        {{"--capacity", "10k", NULL},
         "--capacity must be a whole number from 1 to 1000000"},
        {{"--capacity", "99999999999999999999", NULL},
         "--capacity must be a whole number from 1 to 1000000"},
        {{"--id", "bad id", NULL}, "--id must be 1-64 characters of [A-Za-z0-9._-]"},
        {{"--id", "", NULL}, "--id must be 1-64 characters of [A-Za-z0-9._-]"},
        {{"--allow", "a b", NULL},
         "--allow pattern must be 1-255 printable characters without spaces"},
        {{"--bogus", NULL}, "unknown option --bogus"},
        {{"-x", NULL}, "unknown option -x"},
        {{"--controller", NULL}, "option --controller needs a value"},
        {{"extra", NULL}, "unexpected argument extra"},
        {{"--keygen", "f", "--insecure", NULL}, "--keygen FILE takes no other options"},
        {{"--server-key", "", NULL}, "--server-key must be 1-4096 characters"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[8] = {"stampede-agent"};
        int argc = 1;
        for (size_t j = 0; bad[i].args[j]; j++)
            argv[argc++] = (char *)bad[i].args[j];
        agent_config_defaults(&config);
        CHECK_INT(agent_config_parse(&config, argc, argv, err, sizeof err),
                  AGENT_CONFIG_ERROR);
        CHECK_STR(err, bad[i].reason);
    }

    //  An id longer than 64 and too many --allow patterns.
    char long_id[PROTO_MAX_ID + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    CHECK_INT(s_parse(&config, err, sizeof err, "--id", long_id, NULL),
              AGENT_CONFIG_ERROR);
    agent_config_defaults(&config);
    char *many[2 + 2 * (AGENT_CONFIG_MAX_ALLOW + 1)] = {"stampede-agent"};
    int many_argc = 1;
    for (int i = 0; i <= AGENT_CONFIG_MAX_ALLOW; i++) {
        many[many_argc++] = "--allow";
        many[many_argc++] = "h.example";
    }
    CHECK_INT(agent_config_parse(&config, many_argc, many, err, sizeof err),
              AGENT_CONFIG_ERROR);
    CHECK_STR(err, "at most 64 --allow patterns");

    //  Usage text goes where it is told.
    char *text = NULL;
    size_t text_size = 0;
    FILE *memfile = open_memstream(&text, &text_size);
    CHECK_NOT_NULL(memfile);
    agent_config_usage(memfile);
    fclose(memfile);
    CHECK_TRUE(strstr(text, "--controller tcp://HOST:PORT") != NULL);
    CHECK_TRUE(strstr(text, "default 10000") != NULL);
    free(text);
    if (verbose)
        printf("(config id=%s) ", config.id);
}
