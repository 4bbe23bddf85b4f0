/*  ctl_server_test — the selftest of ctl_server: the real actor against
    fake agents on DEALER sockets over TCP. A file of its own, linked only
    into the selftest runner, because it is as long as the actor.
*/
#include "ctl_server.h"
#include "sp_check.h"
#include "sp_clock.h"
#include "store_api.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Selftest: the real actor against fake agents on DEALER sockets over TCP.

typedef struct {
    zsock_t *dealer;
    char id[32];
} s_fake_t;

static void
s_fake_send(s_fake_t *fake, proto_envelope_t *env)
{
    zframe_t *frame = proto_encode(env);
    CHECK_NOT_NULL(frame);
    CHECK_INT(zframe_send(&frame, fake->dealer, 0), 0);
}

//  Sends msg as the envelope's body KIND (field `field` of the envelope).
#define S_FAKE_SEND(fake, KIND, field, msg)                                              \
    do {                                                                                 \
        proto_envelope_t env_ = STAMPEDE__ENVELOPE__INIT;                                \
        env_.body_case = STAMPEDE__ENVELOPE__BODY_##KIND;                                \
        env_.field = (msg);                                                              \
        s_fake_send((fake), &env_);                                                      \
    } while (0)

static void
s_fake_hello(s_fake_t *fake)
{
    Stampede__Hello hello = STAMPEDE__HELLO__INIT;
    hello.agent_id = fake->id;
    hello.host = "fakehost";
    hello.version = "test";
    hello.capacity = 1000;
    hello.protocol = STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    S_FAKE_SEND(fake, HELLO, hello, &hello);
}

//  A probe from the agent: keeps it alive in the registry.
static void
s_fake_heartbeat(s_fake_t *fake)
{
    Stampede__Heartbeat heartbeat = STAMPEDE__HEARTBEAT__INIT;
    heartbeat.sent_ns = sp_clock_wall_ns();
    S_FAKE_SEND(fake, HEARTBEAT, heartbeat, &heartbeat);
}

//  Answers the controller's clock probe.
static void
s_fake_answer(s_fake_t *fake, const Stampede__Heartbeat *probe)
{
    Stampede__Heartbeat answer = STAMPEDE__HEARTBEAT__INIT;
    answer.echo_sent_ns = probe->sent_ns;
    answer.echo_received_ns = sp_clock_wall_ns();
    answer.sent_ns = sp_clock_wall_ns();
    S_FAKE_SEND(fake, HEARTBEAT, heartbeat, &answer);
}

//  For `ms` milliseconds, answers the controller's clock probes (and
//  drops anything else: call it only while nothing else is expected).
static void
s_fake_pump(s_fake_t *fake, int ms)
{
    int64_t until = sp_clock_mono_ns() + ms * SP_NS_PER_MS;
    zpoller_t *poller = zpoller_new(fake->dealer, NULL);
    while (sp_clock_mono_ns() < until) {
        if (zpoller_wait(poller, 10) != fake->dealer)
            continue;
        zframe_t *frame = zframe_recv(fake->dealer);
        proto_envelope_t *env =
            proto_decode(zframe_data(frame), zframe_size(frame), NULL, 0);
        zframe_destroy(&frame);
        if (env && env->body_case == STAMPEDE__ENVELOPE__BODY_HEARTBEAT &&
            env->heartbeat->echo_sent_ns == 0)
            s_fake_answer(fake, env->heartbeat);
        proto_envelope_destroy(&env);
    }
    zpoller_destroy(&poller);
}

//  Waits (up to 5 s) for a message of kind `name`, answering the
//  controller's clock probes on the way as a real agent does.
static proto_envelope_t *
s_fake_expect(s_fake_t *fake, const char *name)
{
    int64_t deadline = sp_clock_mono_ns() + 5 * SP_NS_PER_S;
    zpoller_t *poller = zpoller_new(fake->dealer, NULL);
    proto_envelope_t *found = NULL;
    while (!found && sp_clock_mono_ns() < deadline) {
        if (zpoller_wait(poller, 50) != fake->dealer) {
            s_fake_heartbeat(fake);
            continue;
        }
        zframe_t *frame = zframe_recv(fake->dealer);
        char err[256];
        proto_envelope_t *env =
            proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
        zframe_destroy(&frame);
        CHECK_NOT_NULL(env);
        if (env->body_case == STAMPEDE__ENVELOPE__BODY_HEARTBEAT &&
            env->heartbeat->echo_sent_ns == 0)
            s_fake_answer(fake, env->heartbeat);
        if (strcmp(proto_body_name(env), name) == 0)
            found = env;
        else
            proto_envelope_destroy(&env);
    }
    zpoller_destroy(&poller);
    if (!found) {
        fprintf(stderr, "fake agent %s: no %s within 5 s\n", fake->id, name);
        abort();
    }
    return found;
}

//  Waits for the Ack of batch seq of run_id.
static void
s_expect_ack(s_fake_t *fake, uint64_t run_id, uint32_t seq)
{
    proto_envelope_t *ack = s_fake_expect(fake, "ack");
    CHECK_INT(ack->ack->run_id, run_id);
    CHECK_INT(ack->ack->seq, seq);
    proto_envelope_destroy(&ack);
}

static void
s_fake_ready(s_fake_t *fake, const Stampede__Prepare *prepare)
{
    Stampede__Ready ready = STAMPEDE__READY__INIT;
    ready.run_id = prepare->run_id;
    ready.prepared = prepare->count;
    S_FAKE_SEND(fake, READY, ready, &ready);
}

static void
s_fake_batch(s_fake_t *fake, uint64_t run_id, uint32_t seq, uint32_t first, uint32_t n)
{
    Stampede__Result results[16];
    Stampede__Result *ptrs[16];
    assert(n <= 16);
    for (uint32_t i = 0; i < n; i++) {
        stampede__result__init(&results[i]);
        results[i].index = first + i;
        results[i].outcome = (first + i) % 2 ? STAMPEDE__OUTCOME__OUTCOME_THROTTLED
                                             : STAMPEDE__OUTCOME__OUTCOME_OK;
        results[i].http_status = (first + i) % 2 ? 429 : 200;
        results[i].door = STAMPEDE__DOOR__DOOR_FUNCTION_URL;
        results[i].throttle_source =
            (first + i) % 2 ? STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_LAMBDA
                            : STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE;
        results[i].sent_ns = 5000000 + first + i; //  agent clock
        results[i].done_ns = 9000000 + first + i;
        results[i].invocation_count = -1;
        ptrs[i] = &results[i];
    }
    Stampede__ResultBatch batch = STAMPEDE__RESULT_BATCH__INIT;
    batch.run_id = run_id;
    batch.seq = seq;
    batch.results = ptrs;
    batch.n_results = n;
    S_FAKE_SEND(fake, RESULT_BATCH, result_batch, &batch);
}

static void
s_fake_done(s_fake_t *fake, uint64_t run_id, uint32_t results, uint32_t batches)
{
    Stampede__Done done = STAMPEDE__DONE__INIT;
    done.run_id = run_id;
    done.results = results;
    done.batches = batches;
    S_FAKE_SEND(fake, DONE, done, &done);
}

static json_t *
s_ask(ctl_server_t *server, const char *text)
{
    json_t *request = json_loads(text, 0, NULL);
    CHECK_NOT_NULL(request);
    json_t *reply = ctl_server_request(server, request);
    json_decref(request);
    CHECK_NOT_NULL(reply);
    return reply;
}

static int64_t
s_status_int(ctl_server_t *server, const char *key)
{
    json_t *status = s_ask(server, "{\"action\":\"status\"}");
    json_t *value = json_object_get(status, key);
    int64_t result = json_is_integer(value) ? json_integer_value(value) : -1;
    if (strcmp(key, "agents") == 0)
        result = (int64_t)json_array_size(value);
    json_decref(status);
    return result;
}

//  Waits (bounded) until status[key] == expected, keeping fakes alive.
static void
s_wait_status(ctl_server_t *server, const char *key, int64_t expected, s_fake_t *alive)
{
    for (int i = 0; i < 200; i++) {
        if (s_status_int(server, key) == expected)
            return;
        if (alive)
            s_fake_heartbeat(alive);
        zclock_sleep(25);
    }
    fprintf(stderr, "status %s never became %" PRId64 "\n", key, expected);
    abort();
}

static void
s_expect_error(ctl_server_t *server, const char *command, int status, const char *text)
{
    json_t *reply = s_ask(server, command);
    CHECK_INT(json_integer_value(json_object_get(reply, "status")), status);
    CHECK_STR(json_string_value(json_object_get(reply, "error")), text);
    json_decref(reply);
}

static void
s_fake_connect(s_fake_t *fake, const char *id, const char *endpoint, zcert_t *client,
               zcert_t *server_cert)
{
    memset(fake, 0, sizeof *fake);
    snprintf(fake->id, sizeof fake->id, "%s", id);
    fake->dealer = zsock_new(ZMQ_DEALER);
    if (client) {
        zcert_apply(client, fake->dealer);
        zsock_set_curve_serverkey(fake->dealer, zcert_public_txt(server_cert));
    }
    CHECK_INT(zsock_connect(fake->dealer, "%s", endpoint), 0);
    s_fake_hello(fake);
}

static void
s_test_plain(const char *db_path)
{
    char err[512];
    ctl_run_timing_t timing;
    ctl_run_timing_defaults(&timing);
    timing.min_lead_ns = 10 * SP_NS_PER_MS;
    //  Run defaults fill what a command leaves out, and only that.
    json_t *run_defaults =
        json_pack("{s:i, s:[s]}", "timeout_ms", 20000, "headers", "X-Default: 1");
    ctl_server_config_t config = {.listen = "tcp://127.0.0.1:*",
                                  .db_path = db_path,
                                  .default_url = "http://127.0.0.1:9/url/demo/",
                                  .default_requests = 6,
                                  .run_defaults = run_defaults,
                                  .heartbeat_ms = 50,
                                  .expire_ms = 1500,
                                  .timing = &timing};
    //  A bad endpoint is reported.
    config.listen = "tcp://256.1.1.1:1";
    CHECK_NULL(ctl_server_new(&config, err, sizeof err));
    CHECK_TRUE(strstr(err, "cannot bind tcp://256.1.1.1:1") != NULL);
    config.listen = "tcp://127.0.0.1:*";
    ctl_server_t *server = ctl_server_new(&config, err, sizeof err);
    CHECK_NOT_NULL(server);
    json_decref(run_defaults); //  the server keeps its own copy
    CHECK_TRUE(strncmp(ctl_server_endpoint(server), "tcp://127.0.0.1:", 16) == 0);
    CHECK_TRUE(strcmp(ctl_server_endpoint(server), "tcp://127.0.0.1:*") != 0);
    CHECK_TRUE(
        strncmp(ctl_server_command_endpoint(server), "inproc://stampede-ctl-", 22) == 0);

    //  Commands: errors before any agent is there.
    s_expect_error(server, "{\"action\":\"run\"}", 503, "no agents connected");
    s_expect_error(server, "{\"action\":\"fly\"}", 400, "unknown action \"fly\"");
    s_expect_error(server, "[1,2]", 400, "command is not a JSON object");
    s_expect_error(server, "{\"act\":1}", 400, "command needs an \"action\" string");
    s_expect_error(server, "{\"action\":\"interrupt\",\"reason\":\"stop\"}", 409,
                   "no run is in progress");
    s_expect_error(server, "{\"action\":\"interrupt\",\"reason\":\"a\\nb\"}", 400,
                   "interrupt needs a \"reason\": 1-256 printable bytes");
    s_expect_error(server, "{\"action\":\"interrupt\"}", 400,
                   "interrupt needs a \"reason\": 1-256 printable bytes");
    json_t *status = s_ask(server, "{\"action\":\"status\"}");
    CHECK_INT(json_array_size(json_object_get(status, "agents")), 0);
    CHECK_TRUE(json_is_null(json_object_get(status, "active_run")));
    CHECK_TRUE(json_is_null(json_object_get(status, "last_run")));
    CHECK_STR(json_string_value(json_object_get(status, "default_url")),
              "http://127.0.0.1:9/url/demo/");
    json_decref(status);

    //  The REP socket answers the same commands, also garbage.
    zsock_t *req = zsock_new_req(ctl_server_command_endpoint(server));
    CHECK_NOT_NULL(req);
    zstr_send(req, "not json");
    char *answer = zstr_recv(req);
    CHECK_STR(answer, "{\"error\":\"command is not a JSON object\",\"status\":400}");
    zstr_free(&answer);
    zstr_send(req, "{\"action\":\"status\"}");
    answer = zstr_recv(req);
    CHECK_TRUE(strstr(answer, "\"agents\":[]") != NULL);
    zstr_free(&answer);
    zsock_destroy(&req);

    //  Two agents say hello; garbage and a multi-frame message are dropped
    //  and the server keeps serving.
    s_fake_t one, two;
    s_fake_connect(&one, "agent-1", ctl_server_endpoint(server), NULL, NULL);
    s_fake_connect(&two, "agent-2", ctl_server_endpoint(server), NULL, NULL);
    s_wait_status(server, "agents", 2, NULL);
    zstr_send(one.dealer, "this is not protobuf");
    zstr_sendx(one.dealer, "two", "frames", NULL);
    s_wait_status(server, "agents", 2, &one);
    //  The server probes each agent's clock; the answer becomes a sample.
    proto_envelope_t *probe = s_fake_expect(&one, "heartbeat");
    CHECK_TRUE(probe->heartbeat->sent_ns > 0);
    CHECK_INT(probe->heartbeat->echo_sent_ns, 0);
    proto_envelope_destroy(&probe);
    //  A run goes only once every agent's clock has 3 fresh samples and a
    //  known drift (samples spanning 2 s).
    for (int i = 0; i < 200; i++) {
        status = s_ask(server, "{\"action\":\"status\"}");
        json_t *agents = json_object_get(status, "agents");
        int64_t fewest = INT64_MAX;
        bool drifts = json_array_size(agents) == 2;
        for (size_t a = 0; a < json_array_size(agents); a++) {
            json_t *agent = json_array_get(agents, a);
            json_t *samples = json_object_get(agent, "clock_samples");
            if (json_integer_value(samples) < fewest)
                fewest = json_integer_value(samples);
            drifts = drifts && json_is_real(json_object_get(agent, "clock_drift_ppm"));
        }
        json_decref(status);
        if (fewest >= 3 && drifts)
            break;
        CHECK_TRUE(i < 199);
        s_fake_pump(&one, 15);
        s_fake_pump(&two, 15);
    }

    //  A run with the defaults: 6 requests -> 3 + 3.
    json_t *reply = s_ask(server, "{\"action\":\"run\"}");
    CHECK_INT(json_integer_value(json_object_get(reply, "run_id")), 1);
    json_decref(reply);
    CHECK_INT(s_status_int(server, "active_run"), 1);
    s_expect_error(server, "{\"action\":\"run\"}", 409, "a run is already in progress");
    proto_envelope_t *prepare1 = s_fake_expect(&one, "prepare");
    proto_envelope_t *prepare2 = s_fake_expect(&two, "prepare");
    CHECK_INT(prepare1->prepare->first_index, 0);
    CHECK_INT(prepare1->prepare->count, 3);
    CHECK_INT(prepare2->prepare->first_index, 3);
    CHECK_INT(prepare2->prepare->count, 3);
    CHECK_STR(prepare1->prepare->target->url, "http://127.0.0.1:9/url/demo/");
    CHECK_STR(prepare1->prepare->target->method, "GET");
    CHECK_INT(prepare1->prepare->target->timeout_ms, 20000);
    CHECK_INT(prepare1->prepare->target->n_headers, 1);
    CHECK_STR(prepare1->prepare->target->headers[0]->name, "X-Default");
    s_fake_ready(&one, prepare1->prepare);
    s_fake_ready(&two, prepare2->prepare);
    proto_envelope_destroy(&prepare1);
    proto_envelope_destroy(&prepare2);
    proto_envelope_t *go = s_fake_expect(&one, "go");
    CHECK_INT(go->go->run_id, 1);
    proto_envelope_destroy(&go);
    go = s_fake_expect(&two, "go");
    proto_envelope_destroy(&go);
    //  agent-1: batch 1 twice, batch 2; agent-2: one batch. All acked.
    s_fake_batch(&one, 1, 1, 0, 2);
    s_fake_batch(&one, 1, 1, 0, 2);
    s_fake_batch(&one, 1, 2, 2, 1);
    s_fake_done(&one, 1, 3, 2);
    uint32_t seqs[3];
    for (int i = 0; i < 3; i++) {
        proto_envelope_t *ack = s_fake_expect(&one, "ack");
        CHECK_INT(ack->ack->run_id, 1);
        seqs[i] = ack->ack->seq;
        proto_envelope_destroy(&ack);
    }
    CHECK_INT(seqs[0], 1);
    CHECK_INT(seqs[1], 1);
    CHECK_INT(seqs[2], 2);
    s_fake_batch(&two, 1, 1, 3, 3);
    s_fake_done(&two, 1, 3, 1);
    proto_envelope_t *ack = s_fake_expect(&two, "ack");
    proto_envelope_destroy(&ack);
    s_wait_status(server, "active_run", -1, &one);
    status = s_ask(server, "{\"action\":\"status\"}");
    json_t *last = json_object_get(status, "last_run");
    CHECK_INT(json_integer_value(json_object_get(last, "run_id")), 1);
    CHECK_STR(json_string_value(json_object_get(last, "state")), "completed");
    json_t *agents = json_object_get(status, "agents");
    CHECK_STR(json_string_value(json_object_get(json_array_get(agents, 0), "id")),
              "agent-1");
    CHECK_STR(json_string_value(json_object_get(json_array_get(agents, 1), "host")),
              "fakehost");
    json_decref(status);
    store_t *reader = store_open(db_path, err, sizeof err);
    CHECK_NOT_NULL(reader);
    store_summary_t summary;
    CHECK_INT(store_summary(reader, 1, &summary), 0);
    CHECK_STR(summary.status, "completed");
    CHECK_INT(summary.requested, 6);
    CHECK_INT(summary.recorded, 6);
    CHECK_INT(summary.ok, 3);
    CHECK_INT(summary.throttled, 3);
    CHECK_INT(summary.lost, 0);

    //  Bad run commands.
    s_expect_error(server, "{\"action\":\"run\",\"requests\":0}", 400,
                   "requests must be an integer from 1 to 1000000");
    s_expect_error(server, "{\"action\":\"run\",\"url\":\"ftp://x/\"}", 400,
                   "URL must start with http:// or https://");
    s_expect_error(server, "{\"action\":\"run\",\"headers\":[\"bad\"]}", 400,
                   "headers[0]: header must look like 'Name: value'");
    s_expect_error(server, "{\"action\":\"run\",\"headers\":\"X: 1\"}", 400,
                   "headers must be an array of at most 64 \"Name: value\" strings");
    s_expect_error(server, "{\"action\":\"run\",\"method\":7}", 400,
                   "method must be an HTTP method token of 1-16 characters");
    s_expect_error(
        server, "{\"action\":\"run\",\"headers\":[\"X-A: a\\tb\"]}", 400,
        "headers[0]: header value longer than 8192 or holds control characters "
        "(tab included)");
    s_expect_error(server, "{\"action\":\"run\",\"url\":\"HTTP://x/\"}", 400,
                   "URL must start with http:// or https://");
    s_expect_error(server, "{\"action\":\"run\",\"start_mode\":\"soon\"}", 400,
                   "start_mode must be \"at-go\", \"last-byte\" or \"auto\"");

    //  agent-2 goes silent mid-run: its missing results are lost, the run
    //  completes with requested = recorded + lost.
    reply = s_ask(server, "{\"action\":\"run\",\"requests\":4,\"method\":\"POST\","
                          "\"headers\":[\"X-Run: 2\"],\"body\":\"{}\"}");
    CHECK_INT(json_integer_value(json_object_get(reply, "run_id")), 2);
    json_decref(reply);
    prepare1 = s_fake_expect(&one, "prepare");
    prepare2 = s_fake_expect(&two, "prepare");
    CHECK_STR(prepare1->prepare->target->method, "POST");
    CHECK_INT(prepare1->prepare->target->n_headers, 1);
    CHECK_STR(prepare1->prepare->target->headers[0]->name, "X-Run");
    CHECK_INT(prepare1->prepare->target->body.len, 2);
    //  No start_mode is auto: a body makes it last_byte.
    CHECK_INT(prepare1->prepare->start_mode, STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    CHECK_INT(prepare2->prepare->start_mode, STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    s_fake_ready(&one, prepare1->prepare);
    s_fake_ready(&two, prepare2->prepare);
    proto_envelope_destroy(&prepare1);
    proto_envelope_destroy(&prepare2);
    go = s_fake_expect(&two, "go");
    proto_envelope_destroy(&go);
    s_fake_batch(&two, 2, 1, 2, 1); //  1 of its 2
    ack = s_fake_expect(&two, "ack");
    proto_envelope_destroy(&ack);
    zsock_destroy(&two.dealer); //  gone
    go = s_fake_expect(&one, "go");
    proto_envelope_destroy(&go);
    s_fake_batch(&one, 2, 1, 0, 2);
    s_fake_done(&one, 2, 2, 1);
    s_wait_status(server, "active_run", -1, &one);
    CHECK_INT(s_status_int(server, "agents"), 1);
    CHECK_INT(store_summary(reader, 2, &summary), 0);
    CHECK_STR(summary.status, "completed");
    CHECK_INT(summary.requested, 4);
    CHECK_INT(summary.recorded, 3);
    CHECK_INT(summary.lost, 1);
    CHECK_INT(summary.recorded + summary.lost, summary.requested);
    CHECK_STR(summary.start_mode, "last_byte");

    ack = s_fake_expect(&one, "ack");
    CHECK_INT(ack->ack->run_id, 2);
    proto_envelope_destroy(&ack);
    //  A batch of a run this server never drove is acknowledged.
    s_fake_batch(&one, 99, 1, 0, 1);
    ack = s_fake_expect(&one, "ack");
    CHECK_INT(ack->ack->run_id, 99);
    proto_envelope_destroy(&ack);

    //  Stopping mid-run records the run as failed. An explicit at-go wins
    //  over the body.
    reply = s_ask(server, "{\"action\":\"run\",\"requests\":1,\"body\":\"x\","
                          "\"start_mode\":\"at-go\"}");
    CHECK_INT(json_integer_value(json_object_get(reply, "run_id")), 3);
    json_decref(reply);
    prepare1 = s_fake_expect(&one, "prepare");
    CHECK_INT(prepare1->prepare->start_mode, STAMPEDE__START_MODE__START_MODE_AT_GO);
    proto_envelope_destroy(&prepare1);
    ctl_server_destroy(&server);
    CHECK_NULL(server);
    ctl_server_destroy(&server);
    CHECK_INT(store_summary(reader, 3, &summary), 0);
    CHECK_STR(summary.status, "failed");
    CHECK_STR(summary.start_mode, "at_go");
    store_destroy(&reader);
    zsock_destroy(&one.dealer);
}

static void
s_test_curve(const char *db_path, const char *dir)
{
    char err[512];
    char agents_dir[256];
    snprintf(agents_dir, sizeof agents_dir, "%s/agents", dir);
    CHECK_INT(zsys_dir_create("%s", agents_dir), 0);
    zcert_t *server_cert = zcert_new();
    zcert_t *admitted = zcert_new();
    zcert_t *stranger = zcert_new();
    char path[320];
    snprintf(path, sizeof path, "%s/admitted.key", agents_dir);
    CHECK_INT(zcert_save_public(admitted, path), 0);
    ctl_server_config_t config = {.listen = "tcp://127.0.0.1:*",
                                  .db_path = db_path,
                                  .cert = server_cert,
                                  .agents_dir = agents_dir,
                                  .heartbeat_ms = 50,
                                  .expire_ms = 2000};
    ctl_server_t *server = ctl_server_new(&config, err, sizeof err);
    CHECK_NOT_NULL(server);
    s_fake_t good, bad;
    s_fake_connect(&bad, "stranger", ctl_server_endpoint(server), stranger, server_cert);
    s_fake_connect(&good, "admitted", ctl_server_endpoint(server), admitted, server_cert);
    s_wait_status(server, "agents", 1, &good);
    json_t *status = s_ask(server, "{\"action\":\"status\"}");
    json_t *agents = json_object_get(status, "agents");
    CHECK_INT(json_array_size(agents), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(agents, 0), "id")),
              "admitted");
    json_decref(status);
    zsock_destroy(&good.dealer);
    zsock_destroy(&bad.dealer);
    ctl_server_destroy(&server);
    unlink(path);
    rmdir(agents_dir);
    zcert_destroy(&server_cert);
    zcert_destroy(&admitted);
    zcert_destroy(&stranger);
}

//  One request row of a run as JSON (caller owns), index order.
static json_t *
s_row(store_t *store, int64_t run_id, size_t index)
{
    json_t *run = store_run_json(store, run_id, true);
    CHECK_NOT_NULL(run);
    json_t *row = json_incref(json_array_get(json_object_get(run, "requests"), index));
    json_decref(run);
    CHECK_NOT_NULL(row);
    return row;
}

//  A controller restarted in the middle of a run: the run is settled at
//  start, the agents' resends fill in its lost rows.
static void
s_test_restart(const char *db_path)
{
    char err[512];
    const int64_t t0 = INT64_C(1700000000) * SP_NS_PER_S;
    store_summary_t summary;
    //  What the previous process left: run 1, 6 requests over agent-1
    //  [0,3) (clock 2 ms ahead) and agent-2 [3,6), running, agent-1's first
    //  result stored.
    store_t *store = store_open(db_path, err, sizeof err);
    CHECK_NOT_NULL(store);
    CHECK_INT(store_agent_upsert(store, "agent-1", "fakehost", "test", 1000, t0), 0);
    CHECK_INT(store_agent_upsert(store, "agent-2", "fakehost", "test", 1000, t0), 0);
    store_run_t spec = {.url = "http://127.0.0.1:9/url/demo/",
                        .method = "GET",
                        .requested = 6,
                        .agents = 2,
                        .created_ns = t0};
    CHECK_INT(store_run_create(store, &spec), 1);
    CHECK_INT(store_share_add(store, 1, "agent-1", 0, 3, 2000000, 500), 0);
    CHECK_INT(store_share_add(store, 1, "agent-2", 3, 3, 0, 500), 0);
    CHECK_INT(store_run_set_status(store, 1, "running", t0, 0, NULL), 0);
    store_result_t stored = {.index = 0,
                             .outcome = "ok",
                             .http_status = 200,
                             .cold_start = -1,
                             .invocation_count = -1};
    CHECK_INT(store_results_insert(store, 1, "agent-1", &stored, 1), 0);

    //  The new process settles it before it hears any agent.
    ctl_server_config_t config = {.listen = "tcp://127.0.0.1:*",
                                  .db_path = db_path,
                                  .heartbeat_ms = 50,
                                  .expire_ms = 2000};
    ctl_server_t *server = ctl_server_new(&config, err, sizeof err);
    CHECK_NOT_NULL(server);
    //  A second controller on the same file is refused, the holder named,
    //  and settles nothing of the first one's.
    ctl_server_t *second = ctl_server_new(&config, err, sizeof err);
    CHECK_NULL(second);
    char refused[256];
    snprintf(refused, sizeof refused,
             "results database %s is in use by another controller (pid %ld on host ",
             db_path, (long)getpid());
    CHECK_TRUE(strncmp(err, refused, strlen(refused)) == 0);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_STR(summary.status, "failed");
    CHECK_STR(summary.outcome, "interrupted");
    CHECK_INT(summary.recorded, 1);
    CHECK_INT(summary.lost, 5);
    json_t *run = store_run_json(store, 1, false);
    CHECK_STR(json_string_value(json_object_get(run, "error")),
              "controller restarted during the run");
    int64_t finished = json_integer_value(json_object_get(run, "finished_ns"));
    CHECK_TRUE(finished > t0);
    json_decref(run);
    json_t *row = s_row(store, 1, 2);
    CHECK_STR(json_string_value(json_object_get(row, "outcome")), "lost");
    CHECK_STR(json_string_value(json_object_get(row, "agent_id")), "agent-1");
    CHECK_STR(json_string_value(json_object_get(row, "error")),
              CTL_SERVER_RESTART_REASON);
    json_decref(row);
    //  It is not this process's run: none is active, none was driven.
    json_t *status = s_ask(server, "{\"action\":\"status\"}");
    CHECK_TRUE(json_is_null(json_object_get(status, "active_run")));
    CHECK_TRUE(json_is_null(json_object_get(status, "last_run")));
    json_decref(status);

    //  agent-1 resends its batch 2 (indices 1 and 2): stored with the
    //  share's clock offset, lost rows replaced, then acknowledged.
    s_fake_t one;
    s_fake_connect(&one, "agent-1", ctl_server_endpoint(server), NULL, NULL);
    s_wait_status(server, "agents", 1, &one);
    s_fake_batch(&one, 1, 2, 1, 2);
    s_expect_ack(&one, 1, 2);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_STR(summary.status, "failed");
    CHECK_INT(summary.recorded, 3);
    CHECK_INT(summary.lost, 3);
    CHECK_INT(summary.ok, 2);
    CHECK_INT(summary.throttled, 1);
    row = s_row(store, 1, 1);
    CHECK_STR(json_string_value(json_object_get(row, "outcome")), "throttled");
    CHECK_STR(json_string_value(json_object_get(row, "agent_id")), "agent-1");
    CHECK_INT(json_integer_value(json_object_get(row, "sent_ns")), 5000001 - 2000000);
    CHECK_INT(json_integer_value(json_object_get(row, "done_ns")), 9000001 - 2000000);
    CHECK_TRUE(json_is_null(json_object_get(row, "error")));
    json_decref(row);

    //  An index outside the share (3 is agent-2's): dropped whole, not
    //  acknowledged: the next ack is the one of the resend behind it.
    s_fake_batch(&one, 1, 3, 2, 2);
    s_fake_batch(&one, 1, 2, 1, 2);
    s_expect_ack(&one, 1, 2);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_INT(summary.recorded, 3);
    CHECK_INT(summary.lost, 3);
    row = s_row(store, 1, 3);
    CHECK_STR(json_string_value(json_object_get(row, "outcome")), "lost");
    CHECK_STR(json_string_value(json_object_get(row, "agent_id")), "agent-2");
    json_decref(row);

    //  A run the store does not know: acknowledged, nothing stored. Done of
    //  a run not driven here is not answered (the ack of run 99 comes first).
    s_fake_done(&one, 1, 3, 2);
    s_fake_batch(&one, 99, 1, 0, 1);
    s_expect_ack(&one, 99, 1);
    CHECK_INT(store_summary(store, 99, &summary), -1);
    CHECK_NULL(store_run_json(store, 99, true));

    //  An agent without a share in run 1: acknowledged, nothing stored.
    s_fake_t three;
    s_fake_connect(&three, "agent-3", ctl_server_endpoint(server), NULL, NULL);
    s_wait_status(server, "agents", 2, &one);
    s_fake_batch(&three, 1, 1, 3, 3);
    s_expect_ack(&three, 1, 1);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_INT(summary.recorded, 3);
    CHECK_INT(summary.lost, 3);

    //  agent-2 hands over its whole share: nothing is lost any more; the
    //  run stays failed with the restart as its reason.
    s_fake_t two;
    s_fake_connect(&two, "agent-2", ctl_server_endpoint(server), NULL, NULL);
    s_wait_status(server, "agents", 3, &one);
    s_fake_batch(&two, 1, 1, 3, 3);
    s_expect_ack(&two, 1, 1);
    CHECK_INT(store_summary(store, 1, &summary), 0);
    CHECK_STR(summary.status, "failed");
    CHECK_INT(summary.recorded, 6);
    CHECK_INT(summary.lost, 0);
    CHECK_INT(summary.ok, 3);
    CHECK_INT(summary.throttled, 3);
    row = s_row(store, 1, 4);
    CHECK_INT(json_integer_value(json_object_get(row, "sent_ns")), 5000004);
    json_decref(row);
    ctl_server_destroy(&server);

    //  A second restart finds nothing left to settle.
    server = ctl_server_new(&config, err, sizeof err);
    CHECK_NOT_NULL(server);
    run = store_run_json(store, 1, false);
    CHECK_STR(json_string_value(json_object_get(run, "status")), "failed");
    CHECK_INT(json_integer_value(json_object_get(run, "finished_ns")), finished);
    json_decref(run);
    ctl_server_destroy(&server);
    zsock_destroy(&one.dealer);
    zsock_destroy(&two.dealer);
    zsock_destroy(&three.dealer);
    store_destroy(&store);
}

void
ctl_server_test(bool verbose)
{
    char dir[] = "/tmp/ctl_server_test-XXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char db_path[128];
    snprintf(db_path, sizeof db_path, "%s/stampede.db", dir);
    s_test_plain(db_path);
    s_test_curve(db_path, dir);
    char restart_path[128];
    snprintf(restart_path, sizeof restart_path, "%s/restart.db", dir);
    s_test_restart(restart_path);
    char path[160];
    const char *suffixes[] = {"", "-wal", "-shm", ".lock"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s%s", restart_path, suffixes[i]);
        unlink(path);
    }
    CHECK_INT(rmdir(dir), 0);
    if (verbose)
        printf("(server checks done) ");
}
