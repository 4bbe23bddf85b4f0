/*  ctl_config_test — the selftest of ctl_config: every subcommand's
    defaults, options and usage errors, parsed as main would. A file of its
    own, linked only into the selftest runner.
*/
#include "ctl_config.h"
#include "sp_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Selftest

//  Parses a NULL-terminated list of words; returns the code and leaves the
//  error text in err_text (when given).
static int
s_try(ctl_config_t *config, const char *env_token, char *err_text, size_t err_size,
      const char *first, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"stampede";
    va_list args;
    va_start(args, first);
    for (const char *word = first; word; word = va_arg(args, const char *)) {
        assert(argc < 63);
        argv[argc++] = (char *)word;
    }
    va_end(args);
    argv[argc] = NULL;
    char *out_buf = NULL, *err_buf = NULL;
    size_t out_size = 0, err_len = 0;
    FILE *out = open_memstream(&out_buf, &out_size);
    FILE *err = open_memstream(&err_buf, &err_len);
    assert(out && err);
    int rc = ctl_config_parse(config, argc, argv, env_token, out, err);
    fclose(out);
    fclose(err);
    if (err_text)
        snprintf(err_text, err_size, "%s%s", err_buf,
                 rc == CTL_CONFIG_EXIT ? out_buf : "");
    free(out_buf);
    free(err_buf);
    return rc;
}

//  Expects a usage error whose message contains `why`.
#define S_EXPECT_USAGE(why, ...)                                                         \
    do {                                                                                 \
        char text_[1024] = "";                                                           \
        CHECK_INT(s_try(&config, NULL, text_, sizeof text_, __VA_ARGS__, NULL),          \
                  CTL_CONFIG_USAGE);                                                     \
        if (!strstr(text_, why)) {                                                       \
            fprintf(stderr, "expected \"%s\" in \"%s\"\n", why, text_);                  \
            abort();                                                                     \
        }                                                                                \
    } while (0)

void
ctl_config_test(bool verbose)
{
    ctl_config_t config;
    char text[4096];

    //  Defaults.
    ctl_config_defaults(&config);
    CHECK_INT(config.command, CTL_COMMAND_NONE);
    CHECK_STR(config.db, "results/stampede.db");
    CHECK_STR(config.keys, "results/keys");
    CHECK_INT(config.timeout_ms, 30000);
    CHECK_STR(ctl_config_command_name(CTL_COMMAND_DEMO), "demo");
    CHECK_STR(ctl_config_command_name(CTL_COMMAND_NONE), "none");

    //  Top level.
    S_EXPECT_USAGE("missing command", NULL);
    S_EXPECT_USAGE("unknown command 'fly'", "fly");
    CHECK_INT(s_try(&config, NULL, text, sizeof text, "--help", NULL), CTL_CONFIG_EXIT);
    CHECK_TRUE(strstr(text, "Usage: stampede COMMAND") != NULL);
    CHECK_INT(s_try(&config, NULL, text, sizeof text, "--version", NULL),
              CTL_CONFIG_EXIT);
    CHECK_STR(text, "stampede " STAMPEDE_VERSION "\n");

    //  serve: defaults, every option, the loopback rules.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "serve", NULL), CTL_CONFIG_RUN);
    CHECK_INT(config.command, CTL_COMMAND_SERVE);
    CHECK_STR(config.listen, "tcp://127.0.0.1:5555");
    CHECK_STR(config.http, "127.0.0.1:5000");
    CHECK_NULL(config.token);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "serve", "--listen", "tcp://127.0.0.1:*",
                    "--http", "127.0.0.1:0", "--db", "/tmp/x.db", "--keys", "/tmp/k",
                    "--insecure", "--target", "http://127.0.0.1:9000/url/demo/",
                    "--token", "s3cret", NULL),
              CTL_CONFIG_RUN);
    CHECK_STR(config.listen, "tcp://127.0.0.1:*");
    CHECK_STR(config.http, "127.0.0.1:0");
    CHECK_STR(config.db, "/tmp/x.db");
    CHECK_STR(config.keys, "/tmp/k");
    CHECK_TRUE(config.insecure);
    CHECK_STR(config.target, "http://127.0.0.1:9000/url/demo/");
    CHECK_STR(config.token, "s3cret");
    CHECK_INT(s_try(&config, NULL, text, sizeof text, "serve", "--help", NULL),
              CTL_CONFIG_EXIT);
    CHECK_TRUE(strstr(text, "Usage: stampede serve") != NULL);
    CHECK_INT(s_try(&config, NULL, text, sizeof text, "serve", "--version", NULL),
              CTL_CONFIG_EXIT);
    S_EXPECT_USAGE("not a loopback address", "serve", "--http", "0.0.0.0:5000");
    CHECK_INT(s_try(&config, NULL, NULL, 0, "serve", "--http", "0.0.0.0:5000", "--token",
                    "t", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(
        s_try(&config, "from-env", NULL, 0, "serve", "--http", "0.0.0.0:5000", NULL),
        CTL_CONFIG_RUN);
    CHECK_STR(config.token, "from-env");
    CHECK_INT(s_try(&config, "from-env", NULL, 0, "serve", "--token", "flag", NULL),
              CTL_CONFIG_RUN);
    CHECK_STR(config.token, "flag");
    CHECK_INT(s_try(&config, "a b", text, sizeof text, "serve", NULL), CTL_CONFIG_USAGE);
    CHECK_TRUE(strstr(text, "STAMPEDE_TOKEN must be") != NULL);
    S_EXPECT_USAGE("--insecure is only allowed", "serve", "--insecure", "--listen",
                   "tcp://0.0.0.0:5555");
    S_EXPECT_USAGE("--listen must be", "serve", "--listen", "udp://1.2.3.4:5");
    S_EXPECT_USAGE("--http must be HOST:PORT", "serve", "--http", "localhost");
    S_EXPECT_USAGE("--http must be HOST:PORT", "serve", "--http", "127.0.0.1:70000");
    S_EXPECT_USAGE("--target: URL must start", "serve", "--target", "ftp://x/");
    S_EXPECT_USAGE("--token must be", "serve", "--token", "a b");
    CHECK_INT(s_try(&config, NULL, NULL, 0, "serve", "--public-host",
                    "dash.example.com:8443", "--allow", "*.on.aws", "--allow",
                    "api.example.com", NULL),
              CTL_CONFIG_RUN);
    CHECK_STR(config.public_host, "dash.example.com:8443");
    CHECK_INT(config.n_allow, 2);
    CHECK_STR(config.allow[0], "*.on.aws");
    CHECK_STR(config.allow[1], "api.example.com");
    S_EXPECT_USAGE("--public-host must be NAME or NAME:PORT", "serve", "--public-host",
                   "http://x/");
    S_EXPECT_USAGE("--allow pattern must be", "serve", "--allow", "a b");
    S_EXPECT_USAGE("unknown option '--allow'", "demo", "--allow", "x");
    S_EXPECT_USAGE("--db must be a path", "serve", "--db", "");
    S_EXPECT_USAGE("unknown option '--url'", "serve", "--url", "http://x/");
    S_EXPECT_USAGE("unknown option '-x'", "serve", "-x");
    S_EXPECT_USAGE("needs a value", "serve", "--http");
    S_EXPECT_USAGE("unexpected argument 'extra'", "serve", "extra");

    //  run: required options, defaults and every option.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://127.0.0.1:9/", "-n",
                    "100", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.command, CTL_COMMAND_RUN);
    CHECK_INT(config.requests, 100);
    CHECK_INT(config.local_agents, 4);
    CHECK_INT(config.wait_agents, 0);
    CHECK_STR(config.listen, "tcp://127.0.0.1:*");
    CHECK_STR(config.method, "GET");
    CHECK_NULL(config.http);
    CHECK_TRUE(!config.json);
    CHECK_INT(config.start_mode, CTL_START_MODE_AUTO);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "https://example.com/x",
                    "--requests", "10", "--wait-agents", "3", "--method", "POST",
                    "--data", "{}", "--header", "Content-Type: application/json",
                    "--header", "X-A:1", "--timeout-ms", "500", "--db", "r.db", "--json",
                    "--keys", "k", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.requests, 10);
    CHECK_INT(config.wait_agents, 3);
    CHECK_INT(config.local_agents, 0);
    CHECK_STR(config.listen, "tcp://127.0.0.1:5555");
    CHECK_STR(config.method, "POST");
    CHECK_STR(config.data, "{}");
    CHECK_INT(config.n_headers, 2);
    CHECK_STR(config.headers[1], "X-A:1");
    CHECK_INT(config.timeout_ms, 500);
    CHECK_TRUE(config.json);
    CHECK_INT(config.expect.ok, -1);
    CHECK_INT(config.expect.lost, -1);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://127.0.0.1:9/", "-n",
                    "100", "--expect-ok", "5", "--expect-throttled", "95",
                    "--expect-errors", "0", "--expect-lost", "0", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.expect.ok, 5);
    CHECK_INT(config.expect.throttled, 95);
    CHECK_INT(config.expect.errors, 0);
    CHECK_INT(config.expect.lost, 0);
    S_EXPECT_USAGE("--expect-throttled must be a number from 0 to 1000000", "run",
                   "--url", "http://h/", "-n", "1", "--expect-throttled", "-1");
    S_EXPECT_USAGE("--expect-ok must be", "run", "--url", "http://h/", "-n", "1",
                   "--expect-ok", "five");
    S_EXPECT_USAGE("unknown option '--expect-ok'", "demo", "--expect-ok", "5");
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://127.0.0.1:9/", "-n",
                    "3", "--local-agents", "2", "--insecure", "--listen",
                    "tcp://127.0.0.1:7000", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.local_agents, 2);
    CHECK_TRUE(config.insecure);
    CHECK_INT(s_try(&config, NULL, text, sizeof text, "run", "-h", NULL),
              CTL_CONFIG_EXIT);
    CHECK_TRUE(strstr(text, "Usage: stampede run") != NULL);
    CHECK_TRUE(strstr(text, "requests in the burst (1-1000000)\n") != NULL);
    CHECK_TRUE(strstr(text, "per-request timeout (30000)\n") != NULL);
    CHECK_TRUE(strstr(text, "for lost requests (0-1000000)\n") != NULL);
    S_EXPECT_USAGE("--url is required", "run", "-n", "5");
    S_EXPECT_USAGE("-n is required", "run", "--url", "http://127.0.0.1/");
    S_EXPECT_USAGE("-n must be a number from 1 to 1000000", "run", "--url", "http://h/",
                   "-n", "0");
    S_EXPECT_USAGE("-n must be", "run", "--url", "http://h/", "-n", "1000001");
    S_EXPECT_USAGE("-n must be", "run", "--url", "http://h/", "-n", "12abc");
    S_EXPECT_USAGE("-n must be", "run", "--url", "http://h/", "-n", "-5");
    S_EXPECT_USAGE("--url: URL must start", "run", "--url", "file:///etc/passwd", "-n",
                   "1");
    S_EXPECT_USAGE("--url: URL has no host", "run", "--url", "http://", "-n", "1");
    S_EXPECT_USAGE("space or control", "run", "--url", "http://h/a b", "-n", "1");
    S_EXPECT_USAGE("exclude each other", "run", "--url", "http://h/", "-n", "1",
                   "--local-agents", "2", "--wait-agents", "2");
    S_EXPECT_USAGE("--local-agents must be a number from 1 to 256", "run", "--url",
                   "http://h/", "-n", "1", "--local-agents", "0");
    S_EXPECT_USAGE("--wait-agents must be", "run", "--url", "http://h/", "-n", "1",
                   "--wait-agents", "257");
    S_EXPECT_USAGE("--method must be a 1-16 character token", "run", "--url", "http://h/",
                   "-n", "1", "--method", "GE T");
    S_EXPECT_USAGE("--header: header value longer than 8192 or holds control characters",
                   "run", "--url", "http://h/", "-n", "1", "--header", "X-A: a\tb");
    S_EXPECT_USAGE("--url: URL must start with http:// or https://", "run", "--url",
                   "HTTP://h/", "-n", "1");
    S_EXPECT_USAGE("--header: header must look like", "run", "--url", "http://h/", "-n",
                   "1", "--header", "NoColon");
    S_EXPECT_USAGE("--header: header name", "run", "--url", "http://h/", "-n", "1",
                   "--header", "Bad Name: v");
    S_EXPECT_USAGE("--header: header value", "run", "--url", "http://h/", "-n", "1",
                   "--header", "X-A: a\r\nInjected: 1");
    S_EXPECT_USAGE("--timeout-ms must be a number from 1 to 900000", "run", "--url",
                   "http://h/", "-n", "1", "--timeout-ms", "900001");
    S_EXPECT_USAGE("--insecure is only allowed", "run", "--url", "http://h/", "-n", "1",
                   "--insecure", "--listen", "tcp://*:5555");
    S_EXPECT_USAGE("unknown option '--reserved'", "run", "--reserved", "5");

    //  When a run may go and when its start counts as agreed: defaults,
    //  values, limits.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://h/", "-n", "1", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.start_tolerance_ms, 20);
    CHECK_INT(config.clock_samples, 3);
    CHECK_INT(config.clock_max_age_s, 10);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "serve", "--start-tolerance", "0",
                    "--clock-samples", "8", "--clock-max-age", "60", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.start_tolerance_ms, 0);
    CHECK_INT(config.clock_samples, 8);
    CHECK_INT(config.clock_max_age_s, 60);
    S_EXPECT_USAGE("--start-tolerance must be a number of ms from 0 to 60000", "run",
                   "--url", "http://h/", "-n", "1", "--start-tolerance", "-1");
    S_EXPECT_USAGE("--clock-samples must be a number from 1 to 8", "serve",
                   "--clock-samples", "9");
    S_EXPECT_USAGE("--clock-max-age must be a number of s from 3 to 3600 (the drift "
                   "needs samples 2 s apart)",
                   "run", "--url", "http://h/", "-n", "1", "--clock-max-age", "2");

    //  run --start-mode: the three modes, and last-byte needs a body byte.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://h/", "-n", "1",
                    "--start-mode", "at-go", "--data", "{}", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.start_mode, CTL_START_MODE_AT_GO);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://h/", "-n", "1",
                    "--method", "POST", "--data", "x", "--start-mode", "last-byte", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.start_mode, CTL_START_MODE_LAST_BYTE);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://h/", "-n", "1",
                    "--start-mode", "at-go", "--start-mode", "auto", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.start_mode, CTL_START_MODE_AUTO);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://h/", "-n", "1",
                    "--start-mode", "at_go", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.start_mode, CTL_START_MODE_AT_GO);
    //  --waves is run's alone.
    CHECK_INT(config.waves, false);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://h/", "-n", "1",
                    "--waves", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.waves, true);
    S_EXPECT_USAGE("unknown option '--waves'", "sweep", "--url", "http://h/", "--waves");
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://h/", "-n", "1",
                    "--compensate-path", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.compensate_path, true);
    S_EXPECT_USAGE("--compensate-path needs the last-byte start mode", "run", "--url",
                   "http://h/", "-n", "1", "--compensate-path", "--start-mode", "at-go");
    //  Last byte for any method, with a body or not.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "run", "--url", "http://h/", "-n", "1",
                    "--method", "HEAD", "--start-mode", "last-byte", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.start_mode, CTL_START_MODE_LAST_BYTE);
    S_EXPECT_USAGE("--start-mode must be at-go, last-byte or auto", "run", "--url",
                   "http://h/", "-n", "1", "--start-mode", "lastbyte");
    S_EXPECT_USAGE("option '--start-mode' needs a value", "run", "--url", "http://h/",
                   "-n", "1", "--start-mode");
    //  The start-mode names themselves are tested in ctl_runspec.

    //  demo: defaults and options.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "demo", NULL), CTL_CONFIG_RUN);
    CHECK_INT(config.command, CTL_COMMAND_DEMO);
    CHECK_INT(config.requests, 100);
    CHECK_INT(config.reserved, 5);
    CHECK_INT(config.local_agents, 4);
    CHECK_STR(config.http, "127.0.0.1:5000");
    CHECK_STR(config.lambda_listen, "127.0.0.1:9000");
    CHECK_STR(config.listen, "tcp://127.0.0.1:*");
    CHECK_TRUE(!config.exit_after);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "demo", "--http", "127.0.0.1:0",
                    "--lambda-listen", "[::1]:0", "--db", "d.db", "-n", "20",
                    "--reserved", "3", "--local-agents", "3", "--exit", "--insecure",
                    "--keys", "kk", "--token", "tok", NULL),
              CTL_CONFIG_RUN);
    CHECK_STR(config.lambda_listen, "[::1]:0");
    CHECK_INT(config.requests, 20);
    CHECK_INT(config.reserved, 3);
    CHECK_INT(config.local_agents, 3);
    CHECK_TRUE(config.exit_after);
    CHECK_INT(config.start_mode, CTL_START_MODE_AUTO);
    CHECK_TRUE(config.insecure);
    CHECK_STR(config.token, "tok");
    //  The demo always sends a body: every mode is allowed.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "demo", "--start-mode", "last-byte", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.start_mode, CTL_START_MODE_LAST_BYTE);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "demo", "--start-mode", "at-go", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.start_mode, CTL_START_MODE_AT_GO);
    S_EXPECT_USAGE("--start-mode must be", "demo", "--start-mode", "now");
    CHECK_INT(s_try(&config, NULL, text, sizeof text, "demo", "--help", NULL),
              CTL_CONFIG_EXIT);
    CHECK_TRUE(strstr(text, "Usage: stampede demo") != NULL);
    S_EXPECT_USAGE("--reserved must be a number from 0 to 1000", "demo", "--reserved",
                   "1001");
    S_EXPECT_USAGE("--lambda-listen must be HOST:PORT", "demo", "--lambda-listen",
                   "nowhere");
    S_EXPECT_USAGE("not a loopback address", "demo", "--http", "10.0.0.1:5000");

    //  sweep: run's options, the function and the values (the original
    //  demo's four by default, in order).
    CHECK_INT(s_try(&config, NULL, NULL, 0, "sweep", "--url", "http://127.0.0.1:9/", "-n",
                    "100", "--function", "demo", "--lambda-endpoint",
                    "http://127.0.0.1:9", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.command, CTL_COMMAND_SWEEP);
    CHECK_STR(ctl_config_command_name(config.command), "sweep");
    CHECK_INT(config.n_sweep, 4);
    CHECK_INT(config.sweep[0], 5);
    CHECK_INT(config.sweep[1], 10);
    CHECK_INT(config.sweep[2], 50);
    CHECK_INT(config.sweep[3], -1);
    CHECK_INT(config.local_agents, 4);
    CHECK_STR(config.function, "demo");
    CHECK_INT(s_try(&config, NULL, NULL, 0, "sweep", "--url", "http://127.0.0.1:9/", "-n",
                    "10", "--function", "demo", "--lambda-endpoint", "http://127.0.0.1:9",
                    "--reserved", "0,unreserved,100000", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.n_sweep, 3);
    CHECK_INT(config.sweep[0], 0);
    CHECK_INT(config.sweep[1], -1);
    CHECK_INT(config.sweep[2], 100000);
    S_EXPECT_USAGE("--reserved must be comma-separated values from 0 to 100000 or none, "
                   "got ''",
                   "sweep", "--url", "http://127.0.0.1:9/", "-n", "10", "--function",
                   "demo", "--lambda-endpoint", "http://127.0.0.1:9", "--reserved",
                   "5,,6");
    S_EXPECT_USAGE("--reserved must be comma-separated values from 0 to 100000 or none, "
                   "got '100001'",
                   "sweep", "--url", "http://127.0.0.1:9/", "-n", "10", "--function",
                   "demo", "--lambda-endpoint", "http://127.0.0.1:9", "--reserved",
                   "100001");
    S_EXPECT_USAGE("--function is required", "sweep", "--url", "http://127.0.0.1:9/",
                   "-n", "10");
    S_EXPECT_USAGE("--lambda-endpoint must be an http:// or https:// URL", "sweep",
                   "--url", "http://127.0.0.1:9/", "-n", "10", "--function", "demo",
                   "--lambda-endpoint", "http://127.0.0.1:9/path");
    S_EXPECT_USAGE("unknown option '--expect-ok'", "sweep", "--url",
                   "http://127.0.0.1:9/", "-n", "10", "--function", "demo", "--expect-ok",
                   "5");
    CHECK_INT(s_try(&config, NULL, text, sizeof text, "sweep", "--help", NULL),
              CTL_CONFIG_EXIT);
    CHECK_TRUE(strstr(text, "Usage: stampede sweep") != NULL);

    //  agents: an action and its arguments.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "agents", "admit", "web-1", "KEY", "--keys",
                    "/k", "--replace", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.command, CTL_COMMAND_AGENTS);
    CHECK_STR(config.agents_action, "admit");
    CHECK_STR(config.agent_name, "web-1");
    CHECK_STR(config.agent_key, "KEY");
    CHECK_STR(config.keys, "/k");
    CHECK_TRUE(config.replace);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "agents", "admit", "--keys", "/k", "--",
                    "web-2", "-Z85key", NULL),
              CTL_CONFIG_RUN);
    CHECK_STR(config.agent_name, "web-2");
    CHECK_STR(config.agent_key, "-Z85key");
    CHECK_INT(s_try(&config, NULL, NULL, 0, "agents", "list", NULL), CTL_CONFIG_RUN);
    CHECK_STR(config.agents_action, "list");
    CHECK_NULL(config.agent_name);
    CHECK_INT(s_try(&config, NULL, NULL, 0, "agents", "revoke", "web-1", NULL),
              CTL_CONFIG_RUN);
    CHECK_STR(config.agent_name, "web-1");
    S_EXPECT_USAGE("give an action: admit, revoke or list", "agents");
    S_EXPECT_USAGE("unknown action 'add' (admit, revoke or list)", "agents", "add");
    S_EXPECT_USAGE("admit needs NAME and KEY", "agents", "admit", "web-1");
    S_EXPECT_USAGE("revoke needs NAME", "agents", "revoke");
    S_EXPECT_USAGE("unexpected argument 'extra'", "agents", "list", "extra");
    S_EXPECT_USAGE("--replace goes with admit", "agents", "revoke", "web-1", "--replace");

    //  export.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "export", "7", NULL), CTL_CONFIG_RUN);
    CHECK_INT(config.command, CTL_COMMAND_EXPORT);
    CHECK_INT(config.run_id, 7);
    CHECK_STR(config.format, "csv");
    CHECK_INT(s_try(&config, NULL, NULL, 0, "export", "--format", "json", "12", "--db",
                    "x.db", NULL),
              CTL_CONFIG_RUN);
    CHECK_INT(config.run_id, 12);
    CHECK_STR(config.format, "json");
    CHECK_STR(config.db, "x.db");
    CHECK_INT(s_try(&config, NULL, text, sizeof text, "export", "--help", NULL),
              CTL_CONFIG_EXIT);
    CHECK_TRUE(strstr(text, "Usage: stampede export") != NULL);
    S_EXPECT_USAGE("RUN_ID is required", "export");
    S_EXPECT_USAGE("RUN_ID must be a positive number", "export", "0");
    S_EXPECT_USAGE("RUN_ID must be a positive number", "export", "seven");
    S_EXPECT_USAGE("--format must be csv or json", "export", "1", "--format", "xml");
    S_EXPECT_USAGE("unexpected argument '2'", "export", "1", "2");
    S_EXPECT_USAGE("unknown option '-n'", "export", "1", "-n", "3");

    //  The helpers on their own.
    //  HOST:PORT is sp_hostport's grammar with names and port 0.
    CHECK_INT(s_try(&config, NULL, NULL, 0, "serve", "--http", "[::1]:8080", NULL),
              CTL_CONFIG_RUN);
    CHECK_STR(config.http, "[::1]:8080");
    CHECK_INT(s_try(&config, NULL, NULL, 0, "serve", "--http", "localhost:0", NULL),
              CTL_CONFIG_RUN);
    CHECK_STR(config.http, "localhost:0");
    S_EXPECT_USAGE("--http must be HOST:PORT (port 0-65535)", "serve", "--http", "a:b:1");
    S_EXPECT_USAGE("--http must be HOST:PORT (port 0-65535)", "serve", "--http", ":80");
    S_EXPECT_USAGE("--lambda-listen must be HOST:PORT (port 0-65535)", "demo",
                   "--lambda-listen", "h/x:80");
    CHECK_TRUE(ctl_config_hostport_is_loopback("127.0.0.1:5000"));
    CHECK_TRUE(ctl_config_hostport_is_loopback("[::1]:5000"));
    CHECK_TRUE(!ctl_config_hostport_is_loopback("0.0.0.0:5000"));
    CHECK_TRUE(!ctl_config_hostport_is_loopback("garbage"));
    CHECK_TRUE(ctl_config_endpoint_is_loopback("tcp://127.0.0.1:*"));
    CHECK_TRUE(ctl_config_endpoint_is_loopback("tcp://[::1]:5555"));
    CHECK_TRUE(ctl_config_endpoint_is_loopback("tcp://localhost:5555"));
    CHECK_TRUE(ctl_config_endpoint_is_loopback("ipc:///tmp/x"));
    CHECK_TRUE(!ctl_config_endpoint_is_loopback("tcp://*:5555"));
    CHECK_TRUE(!ctl_config_endpoint_is_loopback("tcp://10.1.2.3:5555"));
    CHECK_TRUE(!ctl_config_endpoint_is_loopback(NULL));
    //  Header and URL rules are tested in ctl_runspec.
    if (verbose)
        printf("(config checks done) ");
}
