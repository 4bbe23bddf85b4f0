/*  emu_config — stampede-lambda command line; see emu_config.h. */
#include "emu_config.h"
#include "emu_listener.h"
#include "sp_check.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PROGRAM "stampede-lambda"

typedef struct {
    emu_function_config_t view;    //  what callers read
    char *path;                    //  owned, view.path
    char *env[EMU_CONFIG_ENV_MAX]; //  owned "KEY=VALUE", view.env
} s_function_t;

struct _emu_config_t {
    char listen[128]; //  --listen
    s_function_t functions[EMU_CONFIG_FUNCTIONS_MAX];
    size_t function_count;
    int timeout_s;                            //  --timeout
    int account_concurrency;                  //  --account-concurrency
    int idle_ttl_s;                           //  --idle-ttl
    int httpapi_throttle_status;              //  --httpapi-throttle-status
    int apigw_timeout_s;                      //  --apigw-timeout
    int httpapi_timeout_s;                    //  --httpapi-timeout
    char access_log[EMU_CONFIG_PATH_MAX + 1]; //  --access-log, "" when not given
    bool verbose;                             //  --verbose
    bool parsed;                              //  parse was called
};

emu_config_t *
emu_config_new(void)
{
    emu_config_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->listen, sizeof self->listen, "%s", EMU_CONFIG_LISTEN_DEFAULT);
    self->timeout_s = EMU_CONFIG_TIMEOUT_DEFAULT;
    self->account_concurrency = EMU_CONFIG_ACCOUNT_LIMIT;
    self->idle_ttl_s = EMU_CONFIG_IDLE_TTL_DEFAULT;
    self->httpapi_throttle_status = 500;
    self->apigw_timeout_s = EMU_CONFIG_APIGW_TIMEOUT_DEFAULT;
    self->httpapi_timeout_s = EMU_CONFIG_HTTPAPI_TIMEOUT_DEFAULT;
    return self;
}

void
emu_config_destroy(emu_config_t **self_p)
{
    assert(self_p);
    emu_config_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->function_count; i++) {
        s_function_t *function = &self->functions[i];
        free(function->path);
        for (size_t e = 0; e < function->view.env_count; e++)
            free(function->env[e]);
    }
    free(self);
    *self_p = NULL;
}

static emu_config_result_t s_usage(FILE *err, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static emu_config_result_t
s_usage(FILE *err, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(err, S_PROGRAM ": ");
    vfprintf(err, format, args);
    fprintf(err, "\nTry '" S_PROGRAM " --help' for more information.\n");
    va_end(args);
    return EMU_CONFIG_USAGE;
}

static void
s_help(FILE *out)
{
    fprintf(
        out,
        "Usage: " S_PROGRAM " [OPTION]... --function NAME=PATH [FUNCTION OPTION]...\n"
        "A local AWS Lambda emulator: runs each function's execution environments as\n"
        "child processes behind Lambda's front doors (Function URLs, the Invoke API,\n"
        "API Gateway) and its management API.\n"
        "\n"
        "  --listen HOST:PORT      front door address (default " EMU_CONFIG_LISTEN_DEFAULT
        "; port 0 picks one)\n"
        "  --function NAME=PATH    serve executable PATH (a custom runtime) as function\n"
        "                          NAME at http://HOST:PORT/url/NAME/; repeatable\n"
        "  --reserved N            reserved concurrency of the last --function (0..%d;\n"
        "                          default none: it shares the unreserved pool)\n"
        "  --memory MB             memory size of the last --function (%d..%d, default "
        "%d)\n"
        "  --env KEY=VALUE         environment variable of the last --function; "
        "repeatable\n"
        "  --timeout SECONDS       function timeout (1..%d, default %d)\n"
        "  --account-concurrency N the account's concurrency limit (%d..%d, default "
        "%d);\n"
        "                          reservations must leave %d of it unreserved\n"
        "  --idle-ttl SECONDS      stop on-demand environments idle this long (1..%d,\n"
        "                          default %d); provisioned ones are kept\n"
        "  --httpapi-throttle-status 500|429\n"
        "                          status of an API Gateway HTTP API throttle "
        "(default 500)\n"
        "  --apigw-timeout SECONDS API Gateway REST API integration timeout: 504 past\n"
        "                          it (1..%d, default %d)\n"
        "  --httpapi-timeout SECONDS\n"
        "                          API Gateway HTTP API integration timeout: 503 past\n"
        "                          it (1..%d, default %d)\n"
        "  --access-log FILE       append one JSON line per front-door answer to FILE:\n"
        "                          {\"received_ns\":N,\"answered_ns\":N,\"status\":S,\n"
        "                          \"function\":\"NAME\"|null,\"request_id\":\"ID\",\n"
        "                          \"door\":\"url|restapi|httpapi|invoke|mgmt\"}"
        " (CLOCK_REALTIME ns);\n"
        "                          an answer the client left before gets "
        "\"delivered\":false\n"
        "  -v, --verbose           log every request\n"
        "  -h, --help              show this help and exit\n"
        "  -V, --version           show the version and exit\n"
        "\n"
        "When ready it prints one line to stdout:\n"
        "  " S_PROGRAM " listening on http://HOST:PORT\n"
        "Logs go to stderr. SIGINT or SIGTERM stops it and its environments.\n",
        EMU_CONFIG_RESERVED_MAX, EMU_CONFIG_MEMORY_MIN, EMU_CONFIG_MEMORY_MAX,
        EMU_CONFIG_MEMORY_DEFAULT, EMU_CONFIG_TIMEOUT_MAX, EMU_CONFIG_TIMEOUT_DEFAULT,
        EMU_CONFIG_ACCOUNT_MIN, EMU_CONFIG_ACCOUNT_MAX, EMU_CONFIG_ACCOUNT_LIMIT,
        EMU_CONFIG_UNRESERVED_MIN, EMU_CONFIG_IDLE_TTL_MAX, EMU_CONFIG_IDLE_TTL_DEFAULT,
        EMU_CONFIG_TIMEOUT_MAX, EMU_CONFIG_APIGW_TIMEOUT_DEFAULT, EMU_CONFIG_TIMEOUT_MAX,
        EMU_CONFIG_HTTPAPI_TIMEOUT_DEFAULT);
}

//  Parses a whole decimal integer in [min, max]; -1 when it is not one.
static int
s_int(const char *text, long min, long max, long *value)
{
    bool digits = text[0] >= '0' && text[0] <= '9';
    char *end = NULL;
    errno = 0;
    long parsed = strtol(text, &end, 10);
    if (!digits || errno || *end || parsed < min || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

static bool
s_valid_key(const char *key, size_t len)
{
    if (len == 0 || len > EMU_CONFIG_KEY_MAX || (key[0] >= '0' && key[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static emu_config_result_t
s_add_function(emu_config_t *self, const char *arg, FILE *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return s_usage(err, "--function expects NAME=PATH, got '%s'", arg);
    size_t name_len = (size_t)(eq - arg);
    if (!emu_route_valid_name(arg, name_len))
        return s_usage(err, "invalid function name '%.*s' (1..%d of A-Z a-z 0-9 _ -)",
                       (int)(name_len > 80 ? 80 : name_len), arg, EMU_ROUTE_NAME_MAX);
    for (size_t i = 0; i < self->function_count; i++)
        if (strlen(self->functions[i].view.name) == name_len &&
            strncmp(self->functions[i].view.name, arg, name_len) == 0)
            return s_usage(err, "function '%.*s' given twice", (int)name_len, arg);
    if (self->function_count == EMU_CONFIG_FUNCTIONS_MAX)
        return s_usage(err, "at most %d functions", EMU_CONFIG_FUNCTIONS_MAX);
    const char *path = eq + 1;
    struct stat st;
    if (!*path || stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, X_OK) != 0)
        return s_usage(err, "function '%.*s': '%s' is not an executable file",
                       (int)name_len, arg, path);
    char *absolute = realpath(path, NULL);
    if (!absolute)
        return s_usage(err, "function '%.*s': cannot resolve '%s'", (int)name_len, arg,
                       path);
    s_function_t *function = &self->functions[self->function_count++];
    memcpy(function->view.name, arg, name_len);
    function->view.name[name_len] = '\0';
    function->path = absolute;
    function->view.path = absolute;
    function->view.reserved = -1;
    function->view.memory_mb = EMU_CONFIG_MEMORY_DEFAULT;
    function->view.env = (const char *const *)function->env;
    return EMU_CONFIG_RUN;
}

static emu_config_result_t
s_add_env(s_function_t *function, const char *arg, FILE *err)
{
    const char *eq = strchr(arg, '=');
    size_t key_len = eq ? (size_t)(eq - arg) : 0;
    if (!eq || !s_valid_key(arg, key_len))
        return s_usage(err,
                       "--env expects KEY=VALUE with KEY of A-Z a-z 0-9 _ (at most %d), "
                       "got '%.80s'",
                       EMU_CONFIG_KEY_MAX, arg);
    if (strlen(eq + 1) > EMU_CONFIG_VALUE_MAX)
        return s_usage(err, "--env %.*s: value longer than %d bytes", (int)key_len, arg,
                       EMU_CONFIG_VALUE_MAX);
    if (key_len == strlen("AWS_LAMBDA_RUNTIME_API") &&
        strncmp(arg, "AWS_LAMBDA_RUNTIME_API", key_len) == 0)
        return s_usage(err, "--env AWS_LAMBDA_RUNTIME_API is set by the emulator");
    if (function->view.env_count == EMU_CONFIG_ENV_MAX)
        return s_usage(err, "function '%s': at most %d --env", function->view.name,
                       EMU_CONFIG_ENV_MAX);
    char *copy = strdup(arg);
    if (!copy)
        return s_usage(err, "out of memory");
    function->env[function->view.env_count++] = copy;
    return EMU_CONFIG_RUN;
}

emu_config_result_t
emu_config_parse(emu_config_t *self, int argc, char **argv, FILE *out, FILE *err)
{
    assert(self && !self->parsed && out && err);
    self->parsed = true;
    enum {
        OPT_LISTEN = 256,
        OPT_FUNCTION,
        OPT_RESERVED,
        OPT_ENV,
        OPT_TIMEOUT,
        OPT_ACCESS_LOG,
        OPT_MEMORY,
        OPT_ACCOUNT,
        OPT_IDLE_TTL,
        OPT_HTTPAPI_THROTTLE,
        OPT_APIGW_TIMEOUT,
        OPT_HTTPAPI_TIMEOUT
    };
    static const struct option options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"function", required_argument, NULL, OPT_FUNCTION},
        {"reserved", required_argument, NULL, OPT_RESERVED},
        {"env", required_argument, NULL, OPT_ENV},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"account-concurrency", required_argument, NULL, OPT_ACCOUNT},
        {"idle-ttl", required_argument, NULL, OPT_IDLE_TTL},
        {"httpapi-throttle-status", required_argument, NULL, OPT_HTTPAPI_THROTTLE},
        {"apigw-timeout", required_argument, NULL, OPT_APIGW_TIMEOUT},
        {"httpapi-timeout", required_argument, NULL, OPT_HTTPAPI_TIMEOUT},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool reserved_set[EMU_CONFIG_FUNCTIONS_MAX] = {false};
    bool memory_set[EMU_CONFIG_FUNCTIONS_MAX] = {false};
    optind = 0; //  full reinitialisation (GNU), so parse works more than once per process
    opterr = 0;
    for (;;) {
        int opt = getopt_long(argc, argv, ":vhV", options, NULL);
        if (opt == -1)
            break;
        s_function_t *last =
            self->function_count ? &self->functions[self->function_count - 1] : NULL;
        long value = 0;
        char reason[128];
        struct sockaddr_storage addr;
        socklen_t addr_len;
        emu_config_result_t rc = EMU_CONFIG_RUN;
        switch (opt) {
        case OPT_LISTEN:
            if (strlen(optarg) >= sizeof self->listen ||
                emu_listener_parse(optarg, &addr, &addr_len, reason, sizeof reason))
                return s_usage(err, "--listen '%.80s': %s", optarg,
                               strlen(optarg) >= sizeof self->listen ? "too long"
                                                                     : reason);
            snprintf(self->listen, sizeof self->listen, "%s", optarg);
            break;
        case OPT_FUNCTION:
            rc = s_add_function(self, optarg, err);
            break;
        case OPT_RESERVED:
            if (!last)
                return s_usage(err, "--reserved must follow a --function");
            if (reserved_set[self->function_count - 1])
                return s_usage(err, "--reserved given twice for function '%s'",
                               last->view.name);
            if (s_int(optarg, 0, EMU_CONFIG_RESERVED_MAX, &value))
                return s_usage(err, "--reserved must be an integer 0..%d, got '%.80s'",
                               EMU_CONFIG_RESERVED_MAX, optarg);
            last->view.reserved = (int)value;
            reserved_set[self->function_count - 1] = true;
            break;
        case OPT_MEMORY:
            if (!last)
                return s_usage(err, "--memory must follow a --function");
            if (memory_set[self->function_count - 1])
                return s_usage(err, "--memory given twice for function '%s'",
                               last->view.name);
            if (s_int(optarg, EMU_CONFIG_MEMORY_MIN, EMU_CONFIG_MEMORY_MAX, &value))
                return s_usage(err,
                               "--memory must be an integer %d..%d (MB), got '%.80s'",
                               EMU_CONFIG_MEMORY_MIN, EMU_CONFIG_MEMORY_MAX, optarg);
            last->view.memory_mb = (int)value;
            memory_set[self->function_count - 1] = true;
            break;
        case OPT_ACCOUNT:
            if (s_int(optarg, EMU_CONFIG_ACCOUNT_MIN, EMU_CONFIG_ACCOUNT_MAX, &value))
                return s_usage(err,
                               "--account-concurrency must be an integer %d..%d, got "
                               "'%.80s'",
                               EMU_CONFIG_ACCOUNT_MIN, EMU_CONFIG_ACCOUNT_MAX, optarg);
            self->account_concurrency = (int)value;
            break;
        case OPT_IDLE_TTL:
            if (s_int(optarg, 1, EMU_CONFIG_IDLE_TTL_MAX, &value))
                return s_usage(
                    err, "--idle-ttl must be an integer 1..%d (seconds), got '%.80s'",
                    EMU_CONFIG_IDLE_TTL_MAX, optarg);
            self->idle_ttl_s = (int)value;
            break;
        case OPT_HTTPAPI_THROTTLE:
            if (strcmp(optarg, "500") != 0 && strcmp(optarg, "429") != 0)
                return s_usage(
                    err, "--httpapi-throttle-status must be 500 or 429, got '%.80s'",
                    optarg);
            self->httpapi_throttle_status = optarg[0] == '5' ? 500 : 429;
            break;
        case OPT_APIGW_TIMEOUT:
        case OPT_HTTPAPI_TIMEOUT:
            if (s_int(optarg, 1, EMU_CONFIG_TIMEOUT_MAX, &value))
                return s_usage(
                    err, "--%s must be an integer 1..%d (seconds), got '%.80s'",
                    opt == OPT_APIGW_TIMEOUT ? "apigw-timeout" : "httpapi-timeout",
                    EMU_CONFIG_TIMEOUT_MAX, optarg);
            if (opt == OPT_APIGW_TIMEOUT)
                self->apigw_timeout_s = (int)value;
            else
                self->httpapi_timeout_s = (int)value;
            break;
        case OPT_ENV:
            if (!last)
                return s_usage(err, "--env must follow a --function");
            rc = s_add_env(last, optarg, err);
            break;
        case OPT_TIMEOUT:
            if (s_int(optarg, 1, EMU_CONFIG_TIMEOUT_MAX, &value))
                return s_usage(
                    err, "--timeout must be an integer 1..%d (seconds), got '%.80s'",
                    EMU_CONFIG_TIMEOUT_MAX, optarg);
            self->timeout_s = (int)value;
            break;
        case OPT_ACCESS_LOG:
            if (!optarg[0] || strlen(optarg) > EMU_CONFIG_PATH_MAX)
                return s_usage(err, "--access-log needs a file name of 1..%d bytes",
                               EMU_CONFIG_PATH_MAX);
            snprintf(self->access_log, sizeof self->access_log, "%s", optarg);
            break;
        case 'v':
            self->verbose = true;
            break;
        case 'h':
            s_help(out);
            return EMU_CONFIG_EXIT;
        case 'V':
            fprintf(out, S_PROGRAM " (stampede) %s\n", STAMPEDE_VERSION);
            return EMU_CONFIG_EXIT;
        case ':':
            return s_usage(err, "option '%s' needs a value", argv[optind - 1]);
        default:
            return s_usage(err, "unknown option '%s'", argv[optind - 1]);
        }
        if (rc != EMU_CONFIG_RUN)
            return rc;
    }
    if (optind < argc)
        return s_usage(err, "unexpected argument '%.80s'", argv[optind]);
    if (self->function_count == 0)
        return s_usage(err, "at least one --function NAME=PATH is required");
    long reserved = 0;
    for (size_t i = 0; i < self->function_count; i++) {
        self->functions[i].view.timeout_s = self->timeout_s;
        self->functions[i].view.idle_ttl_s = self->idle_ttl_s;
        if (self->functions[i].view.reserved > 0)
            reserved += self->functions[i].view.reserved;
    }
    int most = self->account_concurrency - EMU_CONFIG_UNRESERVED_MIN;
    if (reserved > most)
        return s_usage(
            err,
            "--reserved must be at most %d in total with --account-concurrency %d "
            "(%d must stay unreserved), got %ld",
            most, self->account_concurrency, EMU_CONFIG_UNRESERVED_MIN, reserved);
    return EMU_CONFIG_RUN;
}

const char *
emu_config_listen(emu_config_t *self)
{
    assert(self);
    return self->listen;
}

size_t
emu_config_function_count(emu_config_t *self)
{
    assert(self);
    return self->function_count;
}

const emu_function_config_t *
emu_config_function(emu_config_t *self, size_t index)
{
    assert(self && index < self->function_count);
    return &self->functions[index].view;
}

int
emu_config_timeout_s(emu_config_t *self)
{
    assert(self);
    return self->timeout_s;
}

const char *
emu_config_access_log(emu_config_t *self)
{
    assert(self);
    return self->access_log[0] ? self->access_log : NULL;
}

int
emu_config_account_concurrency(emu_config_t *self)
{
    assert(self);
    return self->account_concurrency;
}

int
emu_config_idle_ttl_s(emu_config_t *self)
{
    assert(self);
    return self->idle_ttl_s;
}

int
emu_config_httpapi_throttle_status(emu_config_t *self)
{
    assert(self);
    return self->httpapi_throttle_status;
}

int
emu_config_apigw_timeout_s(emu_config_t *self)
{
    assert(self);
    return self->apigw_timeout_s;
}

int
emu_config_httpapi_timeout_s(emu_config_t *self)
{
    assert(self);
    return self->httpapi_timeout_s;
}

bool
emu_config_verbose(emu_config_t *self)
{
    assert(self);
    return self->verbose;
}

//  --- selftest -----------------------------------------------------------

typedef struct {
    emu_config_t *config;
    emu_config_result_t result;
    char *out;
    char *err;
} s_run_t;

static s_run_t
s_parse(const char *const *args)
{
    char *argv[256];
    int argc = 0;
    argv[argc++] = (char *)"stampede-lambda";
    for (size_t i = 0; args[i] && argc < 255; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    s_run_t run = {.config = emu_config_new()};
    size_t out_len = 0, err_len = 0;
    FILE *out = open_memstream(&run.out, &out_len);
    FILE *err = open_memstream(&run.err, &err_len);
    run.result = emu_config_parse(run.config, argc, argv, out, err);
    fclose(out);
    fclose(err);
    return run;
}

static void
s_done(s_run_t *run)
{
    emu_config_destroy(&run->config);
    free(run->out);
    free(run->err);
}

//  Expects a usage error whose first line is `message`.
static void
s_check_usage(const char *const *args, const char *message)
{
    s_run_t run = s_parse(args);
    if (run.result != EMU_CONFIG_USAGE)
        fprintf(stderr, "expected a usage error: %s\n", message);
    CHECK_INT(run.result, EMU_CONFIG_USAGE);
    char expected[512];
    snprintf(expected, sizeof expected,
             "stampede-lambda: %s\nTry 'stampede-lambda --help' for more information.\n",
             message);
    CHECK_STR(run.err, expected);
    CHECK_STR(run.out, "");
    s_done(&run);
}

void
emu_config_test(bool verbose)
{
    //  Defaults and a full command line.
    s_run_t run = s_parse((const char *[]){"--function", "demo=/bin/sh", NULL});
    CHECK_INT(run.result, EMU_CONFIG_RUN);
    CHECK_STR(emu_config_listen(run.config), "127.0.0.1:9000");
    CHECK_INT(emu_config_timeout_s(run.config), 3);
    CHECK_TRUE(!emu_config_verbose(run.config));
    CHECK_NULL(emu_config_access_log(run.config));
    CHECK_INT(emu_config_function_count(run.config), 1);
    const emu_function_config_t *fn = emu_config_function(run.config, 0);
    CHECK_STR(fn->name, "demo");
    CHECK_TRUE(fn->path[0] == '/');
    CHECK_INT(fn->reserved, -1);
    CHECK_INT(fn->env_count, 0);
    CHECK_INT(fn->timeout_s, 3);
    CHECK_INT(fn->memory_mb, 128);
    CHECK_INT(fn->idle_ttl_s, 600);
    CHECK_INT(emu_config_account_concurrency(run.config), 1000);
    CHECK_INT(emu_config_idle_ttl_s(run.config), 600);
    CHECK_INT(emu_config_httpapi_throttle_status(run.config), 500);
    CHECK_INT(emu_config_apigw_timeout_s(run.config), 29);
    CHECK_INT(emu_config_httpapi_timeout_s(run.config), 30);
    s_done(&run);

    run = s_parse((const char *[]){"--listen",
                                   "127.0.0.1:0",
                                   "--function",
                                   "a=/bin/sh",
                                   "--reserved",
                                   "5",
                                   "--env",
                                   "STAMPEDE_HOLD_MS=1500",
                                   "--env",
                                   "EMPTY=",
                                   "--function",
                                   "b=/bin/true",
                                   "--reserved",
                                   "0",
                                   "--memory",
                                   "10240",
                                   "--timeout",
                                   "900",
                                   "--account-concurrency",
                                   "150",
                                   "--idle-ttl",
                                   "1",
                                   "--httpapi-throttle-status",
                                   "429",
                                   "--apigw-timeout",
                                   "1",
                                   "--httpapi-timeout",
                                   "900",
                                   "-v",
                                   NULL});
    CHECK_INT(run.result, EMU_CONFIG_RUN);
    CHECK_STR(emu_config_listen(run.config), "127.0.0.1:0");
    CHECK_INT(emu_config_timeout_s(run.config), 900);
    CHECK_TRUE(emu_config_verbose(run.config));
    CHECK_INT(emu_config_function_count(run.config), 2);
    fn = emu_config_function(run.config, 0);
    CHECK_STR(fn->name, "a");
    CHECK_INT(fn->reserved, 5);
    CHECK_INT(fn->env_count, 2);
    CHECK_STR(fn->env[0], "STAMPEDE_HOLD_MS=1500");
    CHECK_STR(fn->env[1], "EMPTY=");
    CHECK_INT(fn->timeout_s, 900);
    fn = emu_config_function(run.config, 1);
    CHECK_STR(fn->name, "b");
    CHECK_INT(fn->reserved, 0);
    CHECK_INT(fn->env_count, 0);
    CHECK_INT(fn->timeout_s, 900);
    CHECK_INT(fn->memory_mb, 10240);
    CHECK_INT(fn->idle_ttl_s, 1);
    CHECK_INT(emu_config_function(run.config, 0)->memory_mb, 128);
    CHECK_INT(emu_config_account_concurrency(run.config), 150);
    CHECK_INT(emu_config_idle_ttl_s(run.config), 1);
    CHECK_INT(emu_config_httpapi_throttle_status(run.config), 429);
    CHECK_INT(emu_config_apigw_timeout_s(run.config), 1);
    CHECK_INT(emu_config_httpapi_timeout_s(run.config), 900);
    s_done(&run);
    //  Reservations up to the unreserved minimum are fine.
    run = s_parse((const char *[]){"--function", "a=/bin/sh", "--reserved", "600",
                                   "--function", "b=/bin/sh", "--reserved", "300", NULL});
    CHECK_INT(run.result, EMU_CONFIG_RUN);
    s_done(&run);

    run = s_parse((const char *[]){"--help", NULL});
    CHECK_INT(run.result, EMU_CONFIG_EXIT);
    CHECK_TRUE(strncmp(run.out, "Usage: stampede-lambda [OPTION]...", 34) == 0);
    CHECK_STR(run.err, "");
    s_done(&run);
    run = s_parse((const char *[]){"-V", NULL});
    CHECK_INT(run.result, EMU_CONFIG_EXIT);
    CHECK_STR(run.out, "stampede-lambda (stampede) " STAMPEDE_VERSION "\n");
    s_done(&run);
    //  The last --access-log wins, kept as given (the server opens it).
    run = s_parse((const char *[]){"--access-log", "/tmp/first.log", "--function",
                                   "d=/bin/sh", "--access-log", "relative/access.log",
                                   NULL});
    CHECK_INT(run.result, EMU_CONFIG_RUN);
    CHECK_STR(emu_config_access_log(run.config), "relative/access.log");
    s_done(&run);
    run = s_parse((const char *[]){"--help", NULL});
    CHECK_TRUE(strstr(run.out, "\n  --access-log FILE       append one JSON line per "
                               "front-door answer to FILE:\n") != NULL);
    CHECK_TRUE(strstr(run.out, "\n  --account-concurrency N the account's concurrency "
                               "limit (100..10000, default 1000);\n") != NULL);
    CHECK_TRUE(strstr(run.out, "\n  --idle-ttl SECONDS      stop on-demand environments "
                               "idle this long (1..86400,\n") != NULL);
    CHECK_TRUE(strstr(run.out, "\n  --memory MB             memory size of the last "
                               "--function (128..10240, default 128)\n") != NULL);
    CHECK_TRUE(strstr(run.out, "\n  --httpapi-throttle-status 500|429\n") != NULL);
    CHECK_TRUE(strstr(run.out,
                      "\n  --apigw-timeout SECONDS API Gateway REST API "
                      "integration timeout: 504 past\n"
                      "                          it (1..900, default 29)\n") != NULL);
    CHECK_TRUE(strstr(run.out,
                      "\n  --httpapi-timeout SECONDS\n"
                      "                          API Gateway HTTP API "
                      "integration timeout: 503 past\n"
                      "                          it (1..900, default 30)\n") != NULL);
    s_done(&run);

    s_check_usage((const char *[]){NULL},
                  "at least one --function NAME=PATH is required");
    s_check_usage((const char *[]){"--bogus", NULL}, "unknown option '--bogus'");
    s_check_usage((const char *[]){"-x", NULL}, "unknown option '-x'");
    s_check_usage((const char *[]){"--function", NULL},
                  "option '--function' needs a value");
    s_check_usage((const char *[]){"--function", "demo=/bin/sh", "extra", NULL},
                  "unexpected argument 'extra'");
    s_check_usage((const char *[]){"--function", "demo", NULL},
                  "--function expects NAME=PATH, got 'demo'");
    s_check_usage((const char *[]){"--function", "de.mo=/bin/sh", NULL},
                  "invalid function name 'de.mo' (1..64 of A-Z a-z 0-9 _ -)");
    s_check_usage((const char *[]){"--function", "=/bin/sh", NULL},
                  "invalid function name '' (1..64 of A-Z a-z 0-9 _ -)");
    s_check_usage((const char *[]){"--function", "demo=/nonexistent/bootstrap", NULL},
                  "function 'demo': '/nonexistent/bootstrap' is not an executable file");
    s_check_usage((const char *[]){"--function", "demo=/etc/passwd", NULL},
                  "function 'demo': '/etc/passwd' is not an executable file");
    s_check_usage((const char *[]){"--function", "demo=/bin", NULL},
                  "function 'demo': '/bin' is not an executable file");
    s_check_usage((const char *[]){"--function", "demo=", NULL},
                  "function 'demo': '' is not an executable file");
    s_check_usage(
        (const char *[]){"--function", "d=/bin/sh", "--function", "d=/bin/sh", NULL},
        "function 'd' given twice");
    s_check_usage((const char *[]){"--reserved", "5", "--function", "d=/bin/sh", NULL},
                  "--reserved must follow a --function");
    s_check_usage(
        (const char *[]){"--function", "d=/bin/sh", "--reserved", "1001", NULL},
        "--reserved must be at most 900 in total with --account-concurrency 1000 "
        "(100 must stay unreserved), got 1001");
    s_check_usage(
        (const char *[]){"--function", "a=/bin/sh", "--reserved", "600", "--function",
                         "b=/bin/sh", "--reserved", "301", NULL},
        "--reserved must be at most 900 in total with --account-concurrency 1000 "
        "(100 must stay unreserved), got 901");
    s_check_usage((const char *[]){"--function", "a=/bin/sh", "--reserved", "51",
                                   "--account-concurrency", "150", NULL},
                  "--reserved must be at most 50 in total with --account-concurrency 150 "
                  "(100 must stay unreserved), got 51");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--reserved", "9901", NULL},
                  "--reserved must be an integer 0..9900, got '9901'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--reserved", "-1", NULL},
                  "--reserved must be an integer 0..9900, got '-1'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--reserved", "5x", NULL},
                  "--reserved must be an integer 0..9900, got '5x'");
    s_check_usage((const char *[]){"--memory", "256", NULL},
                  "--memory must follow a --function");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--memory", "127", NULL},
                  "--memory must be an integer 128..10240 (MB), got '127'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--memory", "10241", NULL},
                  "--memory must be an integer 128..10240 (MB), got '10241'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--memory", "256",
                                   "--memory", "512", NULL},
                  "--memory given twice for function 'd'");
    s_check_usage(
        (const char *[]){"--function", "d=/bin/sh", "--account-concurrency", "99", NULL},
        "--account-concurrency must be an integer 100..10000, got '99'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--account-concurrency",
                                   "10001", NULL},
                  "--account-concurrency must be an integer 100..10000, got '10001'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--idle-ttl", "0", NULL},
                  "--idle-ttl must be an integer 1..86400 (seconds), got '0'");
    s_check_usage(
        (const char *[]){"--function", "d=/bin/sh", "--idle-ttl", "86401", NULL},
        "--idle-ttl must be an integer 1..86400 (seconds), got '86401'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--httpapi-throttle-status",
                                   "502", NULL},
                  "--httpapi-throttle-status must be 500 or 429, got '502'");
    s_check_usage(
        (const char *[]){"--function", "d=/bin/sh", "--apigw-timeout", "0", NULL},
        "--apigw-timeout must be an integer 1..900 (seconds), got '0'");
    s_check_usage(
        (const char *[]){"--function", "d=/bin/sh", "--apigw-timeout", "29s", NULL},
        "--apigw-timeout must be an integer 1..900 (seconds), got '29s'");
    s_check_usage(
        (const char *[]){"--function", "d=/bin/sh", "--httpapi-timeout", "901", NULL},
        "--httpapi-timeout must be an integer 1..900 (seconds), got '901'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--httpapi-timeout", NULL},
                  "option '--httpapi-timeout' needs a value");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--reserved", "1",
                                   "--reserved", "2", NULL},
                  "--reserved given twice for function 'd'");
    s_check_usage((const char *[]){"--env", "A=1", NULL},
                  "--env must follow a --function");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--env", "NOEQUALS", NULL},
                  "--env expects KEY=VALUE with KEY of A-Z a-z 0-9 _ (at most 128), "
                  "got 'NOEQUALS'");
    s_check_usage(
        (const char *[]){"--function", "d=/bin/sh", "--env", "1A=x", NULL},
        "--env expects KEY=VALUE with KEY of A-Z a-z 0-9 _ (at most 128), got '1A=x'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--env",
                                   "AWS_LAMBDA_RUNTIME_API=1.2.3.4:5", NULL},
                  "--env AWS_LAMBDA_RUNTIME_API is set by the emulator");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--access-log", "", NULL},
                  "--access-log needs a file name of 1..4095 bytes");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--access-log", NULL},
                  "option '--access-log' needs a value");
    char long_path[EMU_CONFIG_PATH_MAX + 2];
    memset(long_path, 'p', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    s_check_usage(
        (const char *[]){"--function", "d=/bin/sh", "--access-log", long_path, NULL},
        "--access-log needs a file name of 1..4095 bytes");
    long_path[EMU_CONFIG_PATH_MAX] = '\0';
    run = s_parse(
        (const char *[]){"--function", "d=/bin/sh", "--access-log", long_path, NULL});
    CHECK_INT(run.result, EMU_CONFIG_RUN);
    CHECK_INT(strlen(emu_config_access_log(run.config)), EMU_CONFIG_PATH_MAX);
    s_done(&run);
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--timeout", "0", NULL},
                  "--timeout must be an integer 1..900 (seconds), got '0'");
    s_check_usage((const char *[]){"--function", "d=/bin/sh", "--timeout", "1.5", NULL},
                  "--timeout must be an integer 1..900 (seconds), got '1.5'");
    s_check_usage(
        (const char *[]){"--listen", "localhost:80", "--function", "d=/bin/sh", NULL},
        "--listen 'localhost:80': host must be a numeric IPv4 address or [IPv6]");
    s_check_usage(
        (const char *[]){"--listen", "127.0.0.1", "--function", "d=/bin/sh", NULL},
        "--listen '127.0.0.1': expected HOST:PORT");

    //  Counts are capped.
    const char *many[2 * EMU_CONFIG_ENV_MAX + 8];
    size_t n = 0;
    many[n++] = "--function";
    many[n++] = "d=/bin/sh";
    for (int i = 0; i <= EMU_CONFIG_ENV_MAX; i++) {
        many[n++] = "--env";
        many[n++] = "K=v";
    }
    many[n] = NULL;
    s_check_usage(many, "function 'd': at most 64 --env");
    (void)verbose;
}
