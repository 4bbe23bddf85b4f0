/*  emu_server — the emulator as one object; see emu_server.h. */
#include "emu_server.h"
#include "emu_account.h"
#include "emu_frontdoor.h"
#include "emu_function.h"
#include "emu_listener.h"
#include "emu_loop.h"
#include "emu_probe.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "sp_err.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

struct _emu_server_t {
    emu_config_t *config; //  borrowed
    emu_loop_t *loop;
    emu_account_t *account; //  the functions and their concurrency
    emu_frontdoor_t *door;
    FILE *access_log; //  --access-log, or NULL
    int signal_fd;
    sigset_t old_mask; //  restored by destroy
    bool mask_set;
    char url[96];
};

static void
s_raise_file_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

static void
s_signalled(emu_loop_t *loop, int fd, uint32_t events, void *arg)
{
    struct signalfd_siginfo info;
    if (read(fd, &info, sizeof info) != sizeof info)
        return;
    zsys_notice("stopping signal=%s", strsignal((int)info.ssi_signo));
    emu_loop_stop(loop);
}

emu_server_t *
emu_server_new(emu_config_t *config, char *err, size_t err_size)
{
    assert(config);
    emu_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    self->config = config;
    self->signal_fd = -1;
    s_raise_file_limit();
    //  A peer closing its socket must not kill us; writes report EPIPE.
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &stop, &self->old_mask) != 0) {
        sp_err_set(err, err_size, "cannot block signals");
        goto fail;
    }
    self->mask_set = true;
    self->signal_fd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
    self->loop = emu_loop_new();
    if (self->signal_fd < 0 || !self->loop ||
        emu_loop_watch(self->loop, self->signal_fd, EPOLLIN, s_signalled, self)) {
        sp_err_set(err, err_size, "cannot set up the event loop: %s", strerror(errno));
        goto fail;
    }
    bool verbose = emu_config_verbose(config);
    self->door =
        emu_frontdoor_new(self->loop, emu_config_listen(config), verbose, err, err_size);
    if (!self->door)
        goto fail;
    const char *access_log = emu_config_access_log(config);
    if (access_log) {
        //  Appending: several runs may share one log. Line-buffered, and the
        //  door writes whole lines, so a reader never sees half a line for
        //  long. Close-on-exec: environments must not inherit it.
        self->access_log = fopen(access_log, "ae");
        if (!self->access_log || setvbuf(self->access_log, NULL, _IOLBF, BUFSIZ) != 0) {
            sp_err_set(err, err_size, "cannot open the access log %s: %s", access_log,
                       strerror(errno));
            goto fail;
        }
        emu_frontdoor_set_access_log(self->door, self->access_log);
        zsys_notice("access log open path=%s", access_log);
    }
    self->account = emu_account_new(self->loop, config, err, err_size);
    if (!self->account)
        goto fail;
    for (size_t i = 0; i < emu_account_function_count(self->account); i++) {
        const emu_function_config_t *fc = emu_config_function(config, i);
        if (emu_frontdoor_add_function(self->door,
                                       emu_account_function_at(self->account, i))) {
            sp_err_set(err, err_size, "the front door cannot take function %s", fc->name);
            goto fail;
        }
        char cap[16];
        snprintf(cap, sizeof cap, "%d", fc->reserved);
        zsys_notice(
            "function ready name=%s path=%s reserved=%s memory_mb=%d timeout_s=%d",
            fc->name, fc->path, fc->reserved >= 0 ? cap : "none", fc->memory_mb,
            fc->timeout_s);
    }
    emu_frontdoor_set_account(self->door, self->account);
    emu_frontdoor_set_httpapi_throttle_status(self->door,
                                              emu_config_httpapi_throttle_status(config));
    emu_frontdoor_set_gateway_timeouts(
        self->door, (int64_t)emu_config_apigw_timeout_s(config) * SP_NS_PER_S,
        (int64_t)emu_config_httpapi_timeout_s(config) * SP_NS_PER_S);
    zsys_notice("account ready concurrency=%d unreserved=%d idle_ttl_s=%d "
                "apigw_timeout_s=%d httpapi_timeout_s=%d",
                emu_account_limit(self->account), emu_account_unreserved(self->account),
                emu_config_idle_ttl_s(config), emu_config_apigw_timeout_s(config),
                emu_config_httpapi_timeout_s(config));
    char hostport[80];
    if (emu_listener_format(emu_config_listen(config), emu_frontdoor_port(self->door),
                            hostport, sizeof hostport)) {
        sp_err_set(err, err_size, "cannot format the listen address");
        goto fail;
    }
    snprintf(self->url, sizeof self->url, "http://%s", hostport);
    return self;
fail:
    emu_server_destroy(&self);
    return NULL;
}

void
emu_server_destroy(emu_server_t **self_p)
{
    assert(self_p);
    emu_server_t *self = *self_p;
    if (!self)
        return;
    //  Functions first: their invocations are handed back to the door.
    for (size_t i = 0; self->account && i < emu_account_function_count(self->account);
         i++) {
        emu_function_t *function = emu_account_function_at(self->account, i);
        emu_function_stats_t stats;
        emu_function_stats(function, &stats);
        zsys_notice("function stopped name=%s invocations=%llu throttles=%llu "
                    "environments_started=%llu async_done=%llu async_dropped=%llu",
                    emu_function_name(function), (unsigned long long)stats.invocations,
                    (unsigned long long)stats.throttles, (unsigned long long)stats.spawns,
                    (unsigned long long)stats.async_done,
                    (unsigned long long)stats.async_dropped);
    }
    emu_account_destroy(&self->account);
    if (self->door) {
        emu_frontdoor_stats_t door;
        emu_frontdoor_stats(self->door, &door);
        zsys_notice("front door stopped requests=%llu rx_kernel=%llu rx_coarse=%llu "
                    "rx_loop=%llu",
                    (unsigned long long)door.requests, (unsigned long long)door.rx_kernel,
                    (unsigned long long)door.rx_coarse, (unsigned long long)door.rx_loop);
    }
    emu_frontdoor_destroy(&self->door);
    if (self->access_log)
        fclose(self->access_log);
    if (self->loop && self->signal_fd >= 0)
        emu_loop_unwatch(self->loop, self->signal_fd);
    emu_loop_destroy(&self->loop);
    if (self->signal_fd >= 0)
        close(self->signal_fd);
    if (self->mask_set)
        pthread_sigmask(SIG_SETMASK, &self->old_mask, NULL);
    free(self);
    *self_p = NULL;
}

const char *
emu_server_url(emu_server_t *self)
{
    assert(self);
    return self->url;
}

uint16_t
emu_server_port(emu_server_t *self)
{
    assert(self);
    return emu_frontdoor_port(self->door);
}

int
emu_server_run(emu_server_t *self)
{
    assert(self);
    zsys_notice("serving url=%s functions=%zu", self->url,
                emu_account_function_count(self->account));
    return emu_loop_run(self->loop);
}

//  --- selftest -----------------------------------------------------------

typedef struct {
    uint16_t port;
    pthread_barrier_t *barrier;
    int status;
} s_shot_t;

static void *
s_test_shot(void *arg)
{
    s_shot_t *shot = arg;
    pthread_barrier_wait(shot->barrier);
    emu_probe_t *probe = emu_probe_request(shot->port, "GET", "/url/demo/", NULL);
    shot->status = probe ? emu_probe_status(probe) : -1;
    emu_probe_destroy(&probe);
    return NULL;
}

//  Fires 5 requests at once, then stops the server with SIGTERM.
static void *
s_test_burst(void *arg)
{
    uint16_t port = *(uint16_t *)arg;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 5);
    s_shot_t shots[5];
    pthread_t threads[5];
    for (int i = 0; i < 5; i++) {
        shots[i] = (s_shot_t){.port = port, .barrier = &barrier};
        CHECK_INT(pthread_create(&threads[i], NULL, s_test_shot, &shots[i]), 0);
    }
    int ok = 0, throttled = 0;
    for (int i = 0; i < 5; i++) {
        pthread_join(threads[i], NULL);
        ok += shots[i].status == 200;
        throttled += shots[i].status == 429;
    }
    pthread_barrier_destroy(&barrier);
    CHECK_INT(ok, 2);
    CHECK_INT(throttled, 3);
    kill(getpid(), SIGTERM);
    return NULL;
}

void
emu_server_test(bool verbose)
{
    char err[256];
    char log_path[] = "/tmp/emu_server_test_XXXXXX";
    int log_fd = mkstemp(log_path);
    CHECK_TRUE(log_fd >= 0);
    //  Appended to, not truncated.
    CHECK_INT(write(log_fd, "earlier\n", 8), 8);
    close(log_fd);
    char *argv[] = {
        "stampede-lambda",          "--listen",     "127.0.0.1:0", "--function",
        "demo=" EMU_TEST_BOOTSTRAP, "--reserved",   "2",           "--env",
        "STAMPEDE_HOLD_MS=500",     "--access-log", log_path,      NULL};
    emu_config_t *config = emu_config_new();
    CHECK_INT(emu_config_parse(config, 11, argv, stdout, stderr), EMU_CONFIG_RUN);
    emu_server_t *server = emu_server_new(config, err, sizeof err);
    CHECK_NOT_NULL(server);
    uint16_t port = emu_server_port(server);
    CHECK_TRUE(port > 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    CHECK_STR(emu_server_url(server), url);

    pthread_t client;
    CHECK_INT(pthread_create(&client, NULL, s_test_burst, &port), 0);
    CHECK_INT(emu_server_run(server), 0);
    pthread_join(client, NULL);
    emu_server_destroy(&server);
    CHECK_NULL(server);
    emu_server_destroy(&server);
    //  Nothing left to reap.
    CHECK_INT(waitpid(-1, NULL, WNOHANG), -1);
    CHECK_INT(errno, ECHILD);

    //  The burst is in the access log, after what was there: 2 answered
    //  by the function, 3 throttled, every line whole.
    FILE *log = fopen(log_path, "r");
    CHECK_NOT_NULL(log);
    char line[1024];
    CHECK_STR(fgets(line, sizeof line, log), "earlier\n");
    int lines = 0, ok = 0, throttled = 0;
    while (fgets(line, sizeof line, log)) {
        lines++;
        CHECK_TRUE(strncmp(line, "{\"received_ns\":", 15) == 0);
        CHECK_INT(line[strlen(line) - 1], '\n');
        CHECK_NOT_NULL(strstr(line, ",\"function\":\"demo\",\"request_id\":\""));
        ok += strstr(line, ",\"status\":200,") != NULL;
        throttled += strstr(line, ",\"status\":429,") != NULL;
    }
    fclose(log);
    CHECK_INT(lines, 5);
    CHECK_INT(ok, 2);
    CHECK_INT(throttled, 3);
    CHECK_INT(unlink(log_path), 0);

    //  An access log that cannot be opened: a clear error.
    emu_config_t *unopenable = emu_config_new();
    char *argv3[] = {"stampede-lambda",
                     "--listen",
                     "127.0.0.1:0",
                     "--function",
                     "demo=/bin/true",
                     "--access-log",
                     "/nonexistent/dir/access.log",
                     NULL};
    CHECK_INT(emu_config_parse(unopenable, 7, argv3, stdout, stderr), EMU_CONFIG_RUN);
    CHECK_NULL(emu_server_new(unopenable, err, sizeof err));
    CHECK_STR(err, "cannot open the access log /nonexistent/dir/access.log: No such file "
                   "or directory");
    emu_config_destroy(&unopenable);

    //  The front door address in use: a clear error.
    emu_config_t *busy = emu_config_new();
    char listen[32];
    uint16_t taken = 0;
    int fd = emu_listener_open("127.0.0.1:0", 4, &taken, err, sizeof err);
    snprintf(listen, sizeof listen, "127.0.0.1:%u", taken);
    char *argv2[] = {"stampede-lambda", "--listen",       listen,
                     "--function",      "demo=/bin/true", NULL};
    CHECK_INT(emu_config_parse(busy, 5, argv2, stdout, stderr), EMU_CONFIG_RUN);
    CHECK_NULL(emu_server_new(busy, err, sizeof err));
    char expected[96];
    snprintf(expected, sizeof expected, "bind %s: Address already in use", listen);
    CHECK_STR(err, expected);
    close(fd);
    emu_config_destroy(&busy);
    emu_config_destroy(&config);
}
