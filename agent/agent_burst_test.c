/*  agent_burst selftest: drives the engine through its public calls
    against agent_testserver on loopback. Built into the selftest runner
    only. */
#include "agent_burst.h"
#include "agent_testserver.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

//  Next event (10 s at most).
static void
s_next_event(agent_burst_t *burst, agent_burst_event_t *event)
{
    zpoller_t *poller = zpoller_new(agent_burst_sock(burst), NULL);
    CHECK_TRUE(zpoller_wait(poller, 10000) != NULL);
    zpoller_destroy(&poller);
    CHECK_INT(agent_burst_recv(burst, event), 0);
}

//  Next event, which must be of type `type`.
static void
s_expect_event(agent_burst_t *burst, agent_burst_event_type_t type,
               agent_burst_event_t *event)
{
    s_next_event(burst, event);
    CHECK_INT(event->type, type);
}

typedef struct {
    Stampede__Target target;
    Stampede__Prepare prepare;
    Stampede__Header header;
    Stampede__Header *headers[1];
    char url[256];
    int64_t lead_ns; //  how far ahead of the instant s_run sends Go
} s_share_t;

static void
s_share_init(s_share_t *share, uint64_t run_id, uint32_t first_index, uint32_t count,
             const char *url, uint32_t timeout_ms)
{
    Stampede__Target target = STAMPEDE__TARGET__INIT;
    Stampede__Prepare prepare = STAMPEDE__PREPARE__INIT;
    Stampede__Header header = STAMPEDE__HEADER__INIT;
    share->target = target;
    share->prepare = prepare;
    share->header = header;
    snprintf(share->url, sizeof share->url, "%s", url);
    share->target.url = share->url;
    share->target.method = "GET";
    share->target.timeout_ms = timeout_ms;
    share->prepare.run_id = run_id;
    share->prepare.first_index = first_index;
    share->prepare.count = count;
    share->prepare.target = &share->target;
    share->prepare.start_mode = STAMPEDE__START_MODE__START_MODE_AT_GO;
    share->lead_ns = 20 * SP_NS_PER_MS;
}

//  Prepares, fires now and collects every result of the run into results
//  (indexed by index - first_index; caller frees with stampede__envelope__
//  free_unpacked on each batch kept in batches[]). Returns the batch count.
typedef struct {
    proto_envelope_t *batches[64];
    uint32_t batch_count;
    Stampede__Result *results[64];
    uint32_t result_count;
    int64_t start_at_ns;
    agent_burst_event_t ready;    //  the READY event
    agent_burst_event_t released; //  the RELEASED event
} s_outcome_t;

static void
s_run(agent_burst_t *burst, s_share_t *share, s_outcome_t *out)
{
    memset(out, 0, sizeof *out);
    agent_burst_event_t event;
    CHECK_INT(agent_burst_prepare(burst, &share->prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_INT(event.run_id, share->prepare.run_id);
    CHECK_STR(event.error, "");
    CHECK_INT(event.prepared, share->prepare.count);
    out->ready = event;
    out->start_at_ns = sp_clock_wall_ns() + share->lead_ns;
    CHECK_INT(agent_burst_go(burst, share->prepare.run_id, out->start_at_ns), 0);
    //  Released at most once, at or after the instant; results may come
    //  before it (those that failed before the instant), and when every
    //  request failed before it nothing is released.
    bool released = false;
    for (;;) {
        s_next_event(burst, &event);
        CHECK_INT(event.run_id, share->prepare.run_id);
        if (event.type == AGENT_BURST_RELEASED) {
            CHECK_TRUE(!released);
            released = true;
            out->released = event;
            continue;
        }
        if (event.type == AGENT_BURST_DONE)
            break;
        CHECK_INT(event.type, AGENT_BURST_BATCH);
        CHECK_INT(event.seq, out->batch_count + 1);
        char err[256];
        proto_envelope_t *env = proto_decode(zframe_data(event.frame),
                                             zframe_size(event.frame), err, sizeof err);
        zframe_destroy(&event.frame);
        CHECK_NOT_NULL(env);
        CHECK_INT(env->result_batch->seq, event.seq);
        CHECK_INT(env->result_batch->run_id, share->prepare.run_id);
        out->batches[out->batch_count++] = env;
        for (size_t i = 0; i < env->result_batch->n_results; i++) {
            Stampede__Result *result = env->result_batch->results[i];
            uint32_t slot = result->index - share->prepare.first_index;
            CHECK_TRUE(slot < share->prepare.count);
            CHECK_NULL(out->results[slot]); //  each index exactly once
            out->results[slot] = result;
            out->result_count++;
        }
    }
    CHECK_INT(out->result_count, share->prepare.count);
    if (released) {
        CHECK_TRUE(out->released.released_ns >= out->start_at_ns);
        CHECK_TRUE(out->released.release_end_ns >= out->released.released_ns);
        CHECK_TRUE(out->released.armed + out->released.late <= share->prepare.count);
    }
    if (share->prepare.start_mode == STAMPEDE__START_MODE__START_MODE_AT_GO) {
        CHECK_TRUE(released);
        CHECK_INT(out->released.armed + out->released.late, 0);
    }
    CHECK_INT(event.results, share->prepare.count);
    CHECK_INT(event.batches, out->batch_count);
}

static void
s_outcome_free(s_outcome_t *out)
{
    for (uint32_t i = 0; i < out->batch_count; i++)
        proto_envelope_destroy(&out->batches[i]);
}

//  Timings hang together: scheduled = GO instant, sent <= first <= done.
static void
s_check_times(const Stampede__Result *result, int64_t start_at_ns)
{
    CHECK_INT(result->scheduled_ns, start_at_ns);
    CHECK_TRUE(result->sent_ns >= start_at_ns);
    CHECK_TRUE(result->first_byte_ns >= result->sent_ns);
    CHECK_TRUE(result->done_ns >= result->first_byte_ns);
}

//  A loopback port nobody listens on (bound, then closed).
static int
s_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    CHECK_INT(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    CHECK_INT(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

void
agent_burst_test(bool verbose)
{
    agent_testserver_t *server = agent_testserver_new();
    CHECK_NOT_NULL(server);
    agent_burst_t *burst = agent_burst_new();
    CHECK_NOT_NULL(burst);
    //  Batches by count only, so their sizes are exact.
    CHECK_INT(agent_burst_set_flush(burst, 8, 60000), 0);
    char url[256];
    s_share_t share;
    s_outcome_t out;
    agent_burst_event_t event;

    //  200 with Lambda fields: every field exact.
    agent_testserver_url(server, "/ok", url, sizeof url);
    s_share_init(&share, 1, 40, 3, url, 5000);
    s_run(burst, &share, &out);
    CHECK_INT(out.batch_count, 1);
    for (uint32_t i = 0; i < 3; i++) {
        Stampede__Result *r = out.results[i];
        CHECK_INT(r->index, 40 + i);
        CHECK_STR(proto_outcome_name(r->outcome), "ok");
        CHECK_INT(r->http_status, 200);
        CHECK_STR(r->request_id, AGENT_TESTSERVER_REQUEST_ID);
        CHECK_STR(r->environment_id, AGENT_TESTSERVER_ENVIRONMENT_ID);
        CHECK_INT(r->has_cold_start, true);
        CHECK_INT(r->cold_start, true);
        CHECK_TRUE(r->cold_start_time == 0.125);
        CHECK_STR(r->initialization_type, "on-demand");
        CHECK_INT(r->invocation_count, 3);
        CHECK_INT(r->function_started_ns, AGENT_TESTSERVER_STARTED_NS);
        CHECK_INT(r->function_finished_ns, AGENT_TESTSERVER_FINISHED_NS);
        //  Same host, same clock: the target got it between send and done.
        CHECK_TRUE(r->received_ns >= r->sent_ns && r->received_ns <= r->first_byte_ns);
        CHECK_INT(r->connection_reused, false);
        CHECK_STR(r->error, "");
        CHECK_INT(r->bytes_received, 218);
        s_check_times(r, out.start_at_ns);
    }
    s_outcome_free(&out);

    //  One run per answer kind; outcome and status exact.
    struct {
        const char *path;
        const char *outcome;
        uint32_t status;
        uint32_t timeout_ms;
    } kinds[] = {
        {"/throttle", "throttled", 429, 5000},
        {"/error", "http_error", 500, 5000},
        {"/function-error", "function_error", 200, 5000},
        {"/redirect", "http_error", 302, 5000},
        {"/hang", "timeout", 0, 300},
        {"/big", "ok", 200, 5000},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        agent_testserver_url(server, kinds[k].path, url, sizeof url);
        s_share_init(&share, 10 + k, 0, 2, url, kinds[k].timeout_ms);
        s_run(burst, &share, &out);
        for (uint32_t i = 0; i < 2; i++) {
            CHECK_STR(proto_outcome_name(out.results[i]->outcome), kinds[k].outcome);
            CHECK_INT(out.results[i]->http_status, kinds[k].status);
            CHECK_INT(out.results[i]->invocation_count, -1);
        }
        if (streq(kinds[k].path, "/hang")) {
            CHECK_TRUE(strstr(out.results[0]->error, "timed out") != NULL);
            CHECK_INT(out.results[0]->first_byte_ns, 0);
        } else if (streq(kinds[k].path, "/big"))
            CHECK_INT(out.results[0]->bytes_received, AGENT_TESTSERVER_BIG_SIZE);
        else
            CHECK_STR(out.results[0]->error, "");
        s_outcome_free(&out);
    }

    //  Connection refused.
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", s_closed_port());
    s_share_init(&share, 20, 0, 2, url, 5000);
    s_run(burst, &share, &out);
    CHECK_STR(proto_outcome_name(out.results[0]->outcome), "connect_error");
    CHECK_INT(out.results[0]->http_status, 0);
    CHECK_INT(out.results[0]->sent_ns, 0);
    CHECK_INT(out.results[0]->connection_reused, false);
    CHECK_TRUE(strstr(out.results[0]->error, "onnect") != NULL);
    s_outcome_free(&out);

    //  Method, header and body reach the target.
    agent_testserver_url(server, "/echo", url, sizeof url);
    s_share_init(&share, 21, 0, 1, url, 5000);
    share.target.method = "PUT";
    share.header.name = "X-Test";
    share.header.value = "abc";
    share.headers[0] = &share.header;
    share.target.headers = share.headers;
    share.target.n_headers = 1;
    share.target.body.data = (uint8_t *)"hello";
    share.target.body.len = 5;
    s_run(burst, &share, &out);
    CHECK_STR(out.results[0]->request_id, "PUT");
    CHECK_STR(out.results[0]->environment_id, "abc");
    CHECK_STR(out.results[0]->initialization_type, "hello");
    CHECK_INT(out.results[0]->invocation_count, 5);
    s_outcome_free(&out);
    share.target.method = "POST";
    share.target.body.len = 0;
    share.prepare.run_id = 22;
    s_run(burst, &share, &out);
    CHECK_STR(out.results[0]->request_id, "POST");
    CHECK_INT(out.results[0]->invocation_count, 0);
    s_outcome_free(&out);

    //  LAST_BYTE, Go 50 ms ahead (the share is armed before Ready): every
    //  request reached the server before the instant (its first byte was
    //  read then) and completed at or after it (its final byte, of the body
    //  or of the head, was held until then), all with the exact body.
    struct {
        const char *method;
        const char *body;
        uint32_t count;
    } holds[] = {
        {"POST", "{\"burst\":1}", 20}, //  the demo's body
        {"PUT", "x", 3},               //  one byte: held from the first read
        {"GET", "", 5},                //  no body: the head's final byte held
        {"DELETE", "", 2},
        {"POST", "", 2}, //  Content-Length: 0
    };
    for (size_t h = 0; h < sizeof holds / sizeof holds[0]; h++) {
        agent_testserver_url(server, "/echo", url, sizeof url);
        s_share_init(&share, 50 + h, 10, holds[h].count, url, 5000);
        share.prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
        share.lead_ns = 50 * SP_NS_PER_MS;
        share.target.method = (char *)holds[h].method;
        share.target.body.data = (uint8_t *)holds[h].body;
        share.target.body.len = strlen(holds[h].body);
        s_run(burst, &share, &out);
        CHECK_INT(out.ready.armed, holds[h].count);
        CHECK_TRUE(out.ready.arm_ns > 0);
        CHECK_TRUE(out.ready.path_rtt_ns > 0);
        CHECK_INT(out.released.armed, holds[h].count);
        CHECK_INT(out.released.late, 0);
        for (uint32_t i = 0; i < holds[h].count; i++) {
            Stampede__Result *r = out.results[i];
            CHECK_STR(proto_outcome_name(r->outcome), "ok");
            CHECK_INT(r->http_status, 200);
            CHECK_STR(r->request_id, holds[h].method);
            CHECK_STR(r->initialization_type, holds[h].body);
            CHECK_INT(r->invocation_count, (int64_t)strlen(holds[h].body));
            CHECK_TRUE(r->function_started_ns > 0);
            CHECK_TRUE(r->function_started_ns < out.start_at_ns);
            CHECK_TRUE(r->received_ns >= out.start_at_ns);
            CHECK_INT(r->function_finished_ns, r->received_ns);
            //  sent = the release, at or after the instant; the server
            //  completed the request after it.
            s_check_times(r, out.start_at_ns);
            CHECK_TRUE(r->received_ns >= r->sent_ns);
        }
        s_outcome_free(&out);
    }
    //  LAST_BYTE HEAD: the answer's body is not read, whatever it says.
    agent_testserver_url(server, "/ok", url, sizeof url);
    s_share_init(&share, 60, 0, 2, url, 5000);
    share.prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    share.target.method = "HEAD";
    s_run(burst, &share, &out);
    CHECK_INT(out.released.armed, 2);
    for (uint32_t i = 0; i < 2; i++) {
        CHECK_STR(proto_outcome_name(out.results[i]->outcome), "ok");
        CHECK_INT(out.results[i]->http_status, 200);
        CHECK_INT(out.results[i]->bytes_received, 0);
        s_check_times(out.results[i], out.start_at_ns);
    }
    s_outcome_free(&out);
    //  A body larger than one read (48 KiB, PATCH), and a target's own
    //  "Expect: 100-continue", which would hold the body back: dropped.
    static char big_body[48 * 1024 + 1];
    for (size_t i = 0; i < sizeof big_body - 1; i++)
        big_body[i] = (char)('a' + i % 26);
    agent_testserver_url(server, "/echo", url, sizeof url);
    s_share_init(&share, 25, 0, 2, url, 5000);
    share.prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    share.lead_ns = 50 * SP_NS_PER_MS;
    share.target.method = "PATCH";
    share.target.body.data = (uint8_t *)big_body;
    share.target.body.len = sizeof big_body - 1;
    share.header.name = "Expect";
    share.header.value = "100-continue";
    share.headers[0] = &share.header;
    share.target.headers = share.headers;
    share.target.n_headers = 1;
    s_run(burst, &share, &out);
    char sample[65];
    memcpy(sample, big_body, 32);
    memcpy(sample + 32, big_body + sizeof big_body - 1 - 32, 32);
    sample[64] = '\0';
    for (uint32_t i = 0; i < 2; i++) {
        Stampede__Result *r = out.results[i];
        CHECK_STR(proto_outcome_name(r->outcome), "ok");
        CHECK_STR(r->request_id, "PATCH");
        CHECK_INT(r->invocation_count, 48 * 1024);
        CHECK_STR(r->initialization_type, sample);
        CHECK_TRUE(r->function_started_ns < out.start_at_ns);
        CHECK_TRUE(r->received_ns >= out.start_at_ns);
        s_check_times(r, out.start_at_ns);
    }
    s_outcome_free(&out);
    //  A request that cannot connect is a result before the instant.
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", s_closed_port());
    s_share_init(&share, 26, 0, 2, url, 5000);
    share.prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    share.lead_ns = 50 * SP_NS_PER_MS;
    share.target.method = "POST";
    share.target.body.data = (uint8_t *)"{}";
    share.target.body.len = 2;
    s_run(burst, &share, &out);
    CHECK_INT(out.released.run_id, 0); //  both had failed: nothing released
    for (uint32_t i = 0; i < 2; i++) {
        CHECK_STR(proto_outcome_name(out.results[i]->outcome), "connect_error");
        CHECK_INT(out.results[i]->sent_ns, 0);
        CHECK_INT(out.results[i]->scheduled_ns, out.start_at_ns);
        CHECK_TRUE(out.results[i]->done_ns < out.start_at_ns);
    }
    s_outcome_free(&out);

    //  20 requests that the server answers only once all 20 are open: they
    //  went out in parallel. Batches of 8: exactly 8, 8, 4.
    agent_testserver_url(server, "/gather/20", url, sizeof url);
    s_share_init(&share, 30, 100, 20, url, 10000);
    s_run(burst, &share, &out);
    CHECK_INT(out.batch_count, 3);
    CHECK_INT(out.batches[0]->result_batch->n_results, 8);
    CHECK_INT(out.batches[1]->result_batch->n_results, 8);
    CHECK_INT(out.batches[2]->result_batch->n_results, 4);
    for (uint32_t i = 0; i < 20; i++) {
        CHECK_INT(out.results[i]->index, 100 + i);
        CHECK_STR(proto_outcome_name(out.results[i]->outcome), "ok");
        CHECK_INT(out.results[i]->invocation_count, 20);
    }
    s_outcome_free(&out);

    //  One run at a time; cancel frees the engine.
    agent_testserver_url(server, "/hang", url, sizeof url);
    s_share_init(&share, 40, 0, 5, url, 10000);
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_STR(event.error, "");
    share.prepare.run_id = 41;
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_INT(event.run_id, 41);
    CHECK_INT(event.prepared, 0);
    CHECK_STR(event.error, "agent is busy with run 40");
    //  A go for another run is ignored; the real one fires; cancel mid-burst.
    CHECK_INT(agent_burst_go(burst, 41, sp_clock_wall_ns()), 0);
    CHECK_INT(agent_burst_go(burst, 40, sp_clock_wall_ns()), 0);
    CHECK_INT(agent_burst_cancel(burst, 40), 0);
    CHECK_INT(zsock_events(agent_burst_sock(burst)) & ZMQ_POLLIN, 0);
    //  A go far in the future is cancellable too.
    share.prepare.run_id = 42;
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_STR(event.error, "");
    CHECK_INT(agent_burst_go(burst, 42, sp_clock_wall_ns() + 3600 * SP_NS_PER_S), 0);
    CHECK_INT(agent_burst_cancel(burst, 42), 0);
    CHECK_INT(agent_burst_cancel(burst, 999), 0); //  unknown: confirmed anyway
    //  LAST_BYTE: cancelled while holding its last bytes.
    agent_testserver_url(server, "/echo", url, sizeof url);
    s_share_init(&share, 45, 0, 4, url, 10000);
    share.prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    share.target.method = "POST";
    share.target.body.data = (uint8_t *)"{}";
    share.target.body.len = 2;
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_STR(event.error, "");
    //  Armed before Ready: cancelled before the instant, nothing completes.
    uint32_t before = agent_testserver_requests(server);
    CHECK_INT(agent_burst_go(burst, 45, sp_clock_wall_ns() + 150 * SP_NS_PER_MS), 0);
    zclock_sleep(50);
    CHECK_INT(agent_burst_cancel(burst, 45), 0);
    CHECK_INT(zsock_events(agent_burst_sock(burst)) & ZMQ_POLLIN, 0);
    zclock_sleep(150); //  past the instant: no last byte ever went out
    CHECK_INT(agent_testserver_requests(server), before);

    //  The engine is free again.
    agent_testserver_url(server, "/throttle", url, sizeof url);
    s_share_init(&share, 43, 0, 1, url, 5000);
    s_run(burst, &share, &out);
    CHECK_STR(proto_outcome_name(out.results[0]->outcome), "throttled");
    s_outcome_free(&out);

    //  Shutdown with a run in flight.
    agent_testserver_url(server, "/hang", url, sizeof url);
    s_share_init(&share, 44, 0, 3, url, 10000);
    CHECK_INT(agent_burst_prepare(burst, &share.prepare), 0);
    s_expect_event(burst, AGENT_BURST_READY, &event);
    CHECK_INT(agent_burst_go(burst, 44, sp_clock_wall_ns()), 0);
    agent_burst_destroy(&burst);
    agent_burst_destroy(&burst);
    CHECK_NULL(burst);
    agent_testserver_destroy(&server);
    if (verbose)
        printf("(burst checks done) ");
}
