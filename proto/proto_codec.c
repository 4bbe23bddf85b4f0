/*  proto_codec — frame <-> Envelope with validation; see proto_codec.h.

    Every rule a field must meet lives in one s_check_* function per message
    type, so the limits in docs/protocol.md can be read off this file.
*/
#include "proto_codec.h"
#include "sp_check.h"
#include "sp_err.h"

#include <ctype.h>
#include <stdarg.h>

#define S_FAIL(...)                                                                      \
    do {                                                                                 \
        sp_err_set(err, err_size, __VA_ARGS__);                                          \
        return -1;                                                                       \
    } while (0)

bool
proto_is_printable(const char *s, size_t max)
{
    if (!s)
        return true;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        if (n >= max || *p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

bool
proto_is_token(const char *s, size_t n, size_t max)
{
    if (!s || n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

//  A whole NUL-terminated string as a token.
static bool
s_token(const char *s, size_t max)
{
    return proto_is_token(s, s ? strlen(s) : 0, max);
}

bool
proto_is_pem(const uint8_t *pem, size_t len)
{
    size_t marker = strlen(PROTO_PEM_CERTIFICATE);
    if (!pem || len < marker)
        return false;
    for (size_t i = 0; i + marker <= len; i++)
        if (memcmp(pem + i, PROTO_PEM_CERTIFICATE, marker) == 0)
            return true;
    return false;
}

bool
proto_is_agent_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PROTO_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int
s_check_hello(const Stampede__Hello *m, char *err, size_t err_size)
{
    if (!proto_is_agent_id(m->agent_id))
        S_FAIL("hello: agent_id must be 1-%d of [A-Za-z0-9._-]", PROTO_MAX_ID);
    if (!proto_is_printable(m->host, PROTO_MAX_HOST))
        S_FAIL("hello: host longer than %d or not printable", PROTO_MAX_HOST);
    if (!proto_is_printable(m->version, PROTO_MAX_VERSION))
        S_FAIL("hello: version longer than %d or not printable", PROTO_MAX_VERSION);
    if (m->capacity < 1)
        S_FAIL("hello: capacity must be at least 1");
    if (m->protocol != STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT)
        S_FAIL("hello: protocol %u is not supported (want %d)", m->protocol,
               STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
    return 0;
}

static int
s_check_heartbeat(const Stampede__Heartbeat *m, char *err, size_t err_size)
{
    if (m->sent_ns < 0 || m->echo_sent_ns < 0 || m->echo_received_ns < 0)
        S_FAIL("heartbeat: negative timestamp");
    return 0;
}

static int
s_check_target(const Stampede__Target *t, char *err, size_t err_size)
{
    if (!t)
        S_FAIL("prepare: target missing");
    size_t url_len = t->url ? strlen(t->url) : 0;
    if (url_len == 0 || url_len > PROTO_MAX_URL)
        S_FAIL("prepare: url must be 1-%d bytes", PROTO_MAX_URL);
    if (strncmp(t->url, "http://", 7) != 0 && strncmp(t->url, "https://", 8) != 0)
        S_FAIL("prepare: url must start with http:// or https://");
    for (const unsigned char *p = (const unsigned char *)t->url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            S_FAIL("prepare: url holds a space or control character");
    if (!s_token(t->method, PROTO_MAX_METHOD))
        S_FAIL("prepare: method must be a 1-%d character token", PROTO_MAX_METHOD);
    if (t->n_headers > PROTO_MAX_HEADERS)
        S_FAIL("prepare: %zu headers, at most %d", t->n_headers, PROTO_MAX_HEADERS);
    for (size_t i = 0; i < t->n_headers; i++) {
        const Stampede__Header *h = t->headers[i];
        if (!s_token(h->name, PROTO_MAX_HEADER_NAME))
            S_FAIL("prepare: header %zu: name must be a token of 1-%d characters", i,
                   PROTO_MAX_HEADER_NAME);
        if (!proto_is_printable(h->value, PROTO_MAX_HEADER_VALUE))
            S_FAIL("prepare: header %zu: value longer than %d or holds control "
                   "characters",
                   i, PROTO_MAX_HEADER_VALUE);
    }
    if (t->body.len > PROTO_MAX_BODY)
        S_FAIL("prepare: body of %zu bytes, at most %d", t->body.len, PROTO_MAX_BODY);
    if (t->timeout_ms < 1 || t->timeout_ms > PROTO_MAX_TIMEOUT_MS)
        S_FAIL("prepare: timeout_ms must be 1-%d", PROTO_MAX_TIMEOUT_MS);
    if (!proto_door_name(t->door))
        S_FAIL("prepare: unknown door %d", (int)t->door);
    if (t->ca_pem.len > PROTO_MAX_CA_PEM ||
        (t->ca_pem.len > 0 && !proto_is_pem(t->ca_pem.data, t->ca_pem.len)))
        S_FAIL("prepare: ca_pem must be PEM certificates of at most %d bytes",
               PROTO_MAX_CA_PEM);
    if (t->arrival_header && *t->arrival_header &&
        !s_token(t->arrival_header, PROTO_MAX_HEADER_NAME))
        S_FAIL("prepare: arrival_header must be a token of 1-%d characters",
               PROTO_MAX_HEADER_NAME);
    return 0;
}

static int
s_check_prepare(const Stampede__Prepare *m, char *err, size_t err_size)
{
    if (m->run_id < 1)
        S_FAIL("prepare: run_id must be at least 1");
    if (m->count < 1 || m->count > PROTO_MAX_SHARE)
        S_FAIL("prepare: count must be 1-%d", PROTO_MAX_SHARE);
    if ((uint64_t)m->first_index + m->count > UINT32_MAX)
        S_FAIL("prepare: first_index + count overflows");
    if (m->start_mode != STAMPEDE__START_MODE__START_MODE_AT_GO &&
        m->start_mode != STAMPEDE__START_MODE__START_MODE_LAST_BYTE)
        S_FAIL("prepare: unknown start_mode %d", (int)m->start_mode);
    //  LAST_BYTE holds the body's final byte, or the head's: any method.
    if (s_check_target(m->target, err, err_size))
        return -1;
    return 0;
}

static int
s_check_result(const Stampede__Result *r, size_t i, char *err, size_t err_size)
{
    if (r->outcome < STAMPEDE__OUTCOME__OUTCOME_OK ||
        r->outcome > STAMPEDE__OUTCOME__OUTCOME_OTHER_ERROR)
        S_FAIL("result_batch: result %zu: unknown outcome %d", i, (int)r->outcome);
    if (r->http_status > 999)
        S_FAIL("result_batch: result %zu: http_status %u out of range", i,
               r->http_status);
    if (r->scheduled_ns < 0 || r->sent_ns < 0 || r->first_byte_ns < 0 || r->done_ns < 0 ||
        r->received_ns < 0 || r->function_started_ns < 0 || r->function_finished_ns < 0)
        S_FAIL("result_batch: result %zu: negative timestamp", i);
    if (!proto_is_printable(r->request_id, PROTO_MAX_FIELD) ||
        !proto_is_printable(r->environment_id, PROTO_MAX_FIELD) ||
        !proto_is_printable(r->initialization_type, PROTO_MAX_FIELD))
        S_FAIL("result_batch: result %zu: Lambda field longer than %d or not "
               "printable",
               i, PROTO_MAX_FIELD);
    if (!proto_is_printable(r->error, PROTO_MAX_ERROR))
        S_FAIL("result_batch: result %zu: error longer than %d or not printable", i,
               PROTO_MAX_ERROR);
    if (r->invocation_count < -1)
        S_FAIL("result_batch: result %zu: invocation_count below -1", i);
    if (r->cold_start_time < 0 || r->cold_start_time != r->cold_start_time)
        S_FAIL("result_batch: result %zu: cold_start_time must be >= 0", i);
    if (!proto_door_name(r->door))
        S_FAIL("result_batch: result %zu: unknown door %d", i, (int)r->door);
    bool throttled = r->outcome == STAMPEDE__OUTCOME__OUTCOME_THROTTLED;
    bool has_source =
        r->throttle_source != STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE;
    if (has_source && !proto_throttle_source_name(r->throttle_source))
        S_FAIL("result_batch: result %zu: unknown throttle_source %d", i,
               (int)r->throttle_source);
    if (throttled != has_source)
        S_FAIL("result_batch: result %zu: a throttle_source goes with outcome "
               "throttled, and only with it",
               i);
    if (!proto_is_printable(r->throttle_reason, PROTO_MAX_FIELD))
        S_FAIL("result_batch: result %zu: throttle_reason longer than %d or not "
               "printable",
               i, PROTO_MAX_FIELD);
    return 0;
}

static int
s_check_released(const Stampede__Released *m, char *err, size_t err_size)
{
    if (m->run_id < 1)
        S_FAIL("released: run_id must be at least 1");
    if (m->released_ns <= 0 || m->release_end_ns < m->released_ns)
        S_FAIL("released: released_ns must be positive and release_end_ns not before it");
    if (m->count < 1 || m->count > PROTO_MAX_SHARE ||
        (uint64_t)m->armed + m->late > m->count)
        S_FAIL("released: count must be 1-%d and armed + late at most count",
               PROTO_MAX_SHARE);
    return 0;
}

static int
s_check_batch(const Stampede__ResultBatch *m, char *err, size_t err_size)
{
    if (m->run_id < 1 || m->seq < 1)
        S_FAIL("result_batch: run_id and seq must be at least 1");
    if (m->n_results < 1 || m->n_results > PROTO_MAX_BATCH)
        S_FAIL("result_batch: %zu results, must be 1-%d", m->n_results, PROTO_MAX_BATCH);
    for (size_t i = 0; i < m->n_results; i++)
        if (s_check_result(m->results[i], i, err, err_size))
            return -1;
    return 0;
}

int
proto_validate(const proto_envelope_t *env, char *err, size_t err_size)
{
    assert(env);
    switch (env->body_case) {
    case STAMPEDE__ENVELOPE__BODY_HELLO:
        return s_check_hello(env->hello, err, err_size);
    case STAMPEDE__ENVELOPE__BODY_HEARTBEAT:
        return s_check_heartbeat(env->heartbeat, err, err_size);
    case STAMPEDE__ENVELOPE__BODY_PREPARE:
        return s_check_prepare(env->prepare, err, err_size);
    case STAMPEDE__ENVELOPE__BODY_READY:
        if (env->ready->run_id < 1)
            S_FAIL("ready: run_id must be at least 1");
        if (!proto_is_printable(env->ready->error, PROTO_MAX_ERROR))
            S_FAIL("ready: error longer than %d or not printable", PROTO_MAX_ERROR);
        if (env->ready->armed > env->ready->prepared)
            S_FAIL("ready: armed %u exceeds prepared %u", env->ready->armed,
                   env->ready->prepared);
        if (env->ready->arm_ns < 0)
            S_FAIL("ready: arm_ns must not be negative");
        if (env->ready->path_rtt_ns < 0)
            S_FAIL("ready: path_rtt_ns must not be negative");
        return 0;
    case STAMPEDE__ENVELOPE__BODY_GO:
        if (env->go->run_id < 1 || env->go->start_at_ns <= 0)
            S_FAIL("go: run_id and start_at_ns must be positive");
        return 0;
    case STAMPEDE__ENVELOPE__BODY_RESULT_BATCH:
        return s_check_batch(env->result_batch, err, err_size);
    case STAMPEDE__ENVELOPE__BODY_ACK:
        if (env->ack->run_id < 1 || env->ack->seq < 1)
            S_FAIL("ack: run_id and seq must be at least 1");
        return 0;
    case STAMPEDE__ENVELOPE__BODY_DONE:
        if (env->done->run_id < 1)
            S_FAIL("done: run_id must be at least 1");
        if (env->done->released && env->done->released->run_id != env->done->run_id)
            S_FAIL("done: released names another run");
        return env->done->released ? s_check_released(env->done->released, err, err_size)
                                   : 0;
    case STAMPEDE__ENVELOPE__BODY_RELEASED:
        return s_check_released(env->released, err, err_size);
    case STAMPEDE__ENVELOPE__BODY_CANCEL:
        if (env->cancel->run_id < 1)
            S_FAIL("cancel: run_id must be at least 1");
        if (!proto_is_printable(env->cancel->reason, PROTO_MAX_ERROR))
            S_FAIL("cancel: reason longer than %d or not printable", PROTO_MAX_ERROR);
        return 0;
    default:
        S_FAIL("envelope: no message set");
    }
}

proto_envelope_t *
proto_decode(const uint8_t *data, size_t size, char *err, size_t err_size)
{
    if (size > PROTO_MAX_FRAME) {
        sp_err_set(err, err_size, "frame of %zu bytes exceeds the %d byte limit", size,
                   PROTO_MAX_FRAME);
        return NULL;
    }
    proto_envelope_t *env = stampede__envelope__unpack(NULL, size, data);
    if (!env) {
        sp_err_set(err, err_size, "frame of %zu bytes is not a valid protobuf Envelope",
                   size);
        return NULL;
    }
    if (proto_validate(env, err, err_size)) {
        proto_envelope_destroy(&env);
        return NULL;
    }
    return env;
}

proto_envelope_t *
proto_recv(zsock_t *sock, int timeout_ms, char *err, size_t err_size)
{
    assert(sock);
    char reason[256];
    zpoller_t *poller = zpoller_new(sock, NULL);
    void *which = poller ? zpoller_wait(poller, timeout_ms) : NULL;
    zpoller_destroy(&poller);
    if (which != sock) {
        sp_err_set(err, err_size, "no frame within %d ms", timeout_ms);
        return NULL;
    }
    zframe_t *frame = zframe_recv(sock);
    if (!frame) {
        sp_err_set(err, err_size, "receive failed");
        return NULL;
    }
    proto_envelope_t *env =
        proto_decode(zframe_data(frame), zframe_size(frame), reason, sizeof reason);
    zframe_destroy(&frame);
    if (!env)
        sp_err_set(err, err_size, "%s", reason);
    return env;
}

zframe_t *
proto_encode(const proto_envelope_t *env)
{
    char err[256];
    if (proto_validate(env, err, sizeof err)) {
        zsys_error("proto: refusing to send an invalid message reason=\"%s\"", err);
        return NULL;
    }
    size_t size = stampede__envelope__get_packed_size(env);
    if (size > PROTO_MAX_FRAME) {
        zsys_error("proto: message too large size=%zu", size);
        return NULL;
    }
    zframe_t *frame = zframe_new(NULL, size);
    if (!frame)
        return NULL;
    stampede__envelope__pack(env, zframe_data(frame));
    return frame;
}

void
proto_envelope_destroy(proto_envelope_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        stampede__envelope__free_unpacked(*self_p, NULL);
        *self_p = NULL;
    }
}

const char *
proto_body_name(const proto_envelope_t *env)
{
    switch (env->body_case) {
    case STAMPEDE__ENVELOPE__BODY_HELLO:
        return "hello";
    case STAMPEDE__ENVELOPE__BODY_HEARTBEAT:
        return "heartbeat";
    case STAMPEDE__ENVELOPE__BODY_PREPARE:
        return "prepare";
    case STAMPEDE__ENVELOPE__BODY_READY:
        return "ready";
    case STAMPEDE__ENVELOPE__BODY_GO:
        return "go";
    case STAMPEDE__ENVELOPE__BODY_RESULT_BATCH:
        return "result_batch";
    case STAMPEDE__ENVELOPE__BODY_ACK:
        return "ack";
    case STAMPEDE__ENVELOPE__BODY_DONE:
        return "done";
    case STAMPEDE__ENVELOPE__BODY_RELEASED:
        return "released";
    case STAMPEDE__ENVELOPE__BODY_CANCEL:
        return "cancel";
    default:
        return "none";
    }
}

const char *
proto_start_mode_name(Stampede__StartMode mode)
{
    switch (mode) {
    case STAMPEDE__START_MODE__START_MODE_AT_GO:
        return "at_go";
    case STAMPEDE__START_MODE__START_MODE_LAST_BYTE:
        return "last_byte";
    default:
        return "unspecified";
    }
}

const char *
proto_door_name(Stampede__Door door)
{
    switch (door) {
    case STAMPEDE__DOOR__DOOR_HTTP:
        return "http";
    case STAMPEDE__DOOR__DOOR_FUNCTION_URL:
        return "function_url";
    case STAMPEDE__DOOR__DOOR_INVOKE:
        return "invoke";
    case STAMPEDE__DOOR__DOOR_APIGW_REST:
        return "apigw_rest";
    case STAMPEDE__DOOR__DOOR_APIGW_HTTP:
        return "apigw_http";
    case STAMPEDE__DOOR__DOOR_APIGW:
        return "apigw";
    default:
        return NULL;
    }
}

const char *
proto_throttle_source_name(Stampede__ThrottleSource source)
{
    switch (source) {
    case STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_LAMBDA:
        return "lambda";
    case STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_LAMBDA_VIA_GATEWAY:
        return "lambda_via_gateway";
    case STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_GATEWAY:
        return "gateway";
    case STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_HTTP:
        return "http";
    default:
        return NULL;
    }
}

const char *
proto_outcome_name(Stampede__Outcome outcome)
{
    switch (outcome) {
    case STAMPEDE__OUTCOME__OUTCOME_OK:
        return "ok";
    case STAMPEDE__OUTCOME__OUTCOME_THROTTLED:
        return "throttled";
    case STAMPEDE__OUTCOME__OUTCOME_HTTP_ERROR:
        return "http_error";
    case STAMPEDE__OUTCOME__OUTCOME_FUNCTION_ERROR:
        return "function_error";
    case STAMPEDE__OUTCOME__OUTCOME_TIMEOUT:
        return "timeout";
    case STAMPEDE__OUTCOME__OUTCOME_CONNECT_ERROR:
        return "connect_error";
    case STAMPEDE__OUTCOME__OUTCOME_OTHER_ERROR:
        return "other_error";
    default:
        return "unspecified";
    }
}

//  --------------------------------------------------------------------------
//  Selftest

//  Packs env into a frame without validation, so tests can build bad input.
static zframe_t *
s_pack_raw(const proto_envelope_t *env)
{
    size_t size = stampede__envelope__get_packed_size(env);
    zframe_t *frame = zframe_new(NULL, size);
    stampede__envelope__pack(env, zframe_data(frame));
    return frame;
}

//  Expects decoding env to fail with a reason containing `why`.
static void
s_expect_reject(const proto_envelope_t *env, const char *why)
{
    zframe_t *frame = s_pack_raw(env);
    char err[256] = "";
    proto_envelope_t *out =
        proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
    if (out || !strstr(err, why)) {
        fprintf(stderr, "expected rejection containing \"%s\", got \"%s\"\n", why, err);
        abort();
    }
    zframe_destroy(&frame);
}

void
proto_codec_test(bool verbose)
{
    char err[256];

    //  A valid hello round-trips.
    Stampede__Hello hello = STAMPEDE__HELLO__INIT;
    hello.agent_id = "agent-1";
    hello.host = "box";
    hello.version = "0.1.0";
    hello.capacity = 100;
    hello.protocol = STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    proto_envelope_t env = STAMPEDE__ENVELOPE__INIT;
    env.body_case = STAMPEDE__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    zframe_t *frame = proto_encode(&env);
    CHECK_NOT_NULL(frame);
    proto_envelope_t *got =
        proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
    CHECK_NOT_NULL(got);
    CHECK_STR(proto_body_name(got), "hello");
    CHECK_STR(got->hello->agent_id, "agent-1");
    CHECK_INT(got->hello->capacity, 100);
    proto_envelope_destroy(&got);
    proto_envelope_destroy(&got); //  safe twice
    zframe_destroy(&frame);

    //  Bad hellos: id charset, protocol, capacity.
    hello.agent_id = "bad id";
    s_expect_reject(&env, "agent_id");
    CHECK_NULL(proto_encode(&env));
    hello.agent_id = "agent-1";
    hello.protocol = 7;
    s_expect_reject(&env, "protocol 7");
    hello.protocol = STAMPEDE__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    hello.capacity = 0;
    s_expect_reject(&env, "capacity");
    hello.capacity = 1;

    //  Prepare: url scheme, method, header injection, count.
    Stampede__Header header = STAMPEDE__HEADER__INIT;
    header.name = "X-Test";
    header.value = "1";
    Stampede__Header *headers[] = {&header};
    Stampede__Target target = STAMPEDE__TARGET__INIT;
    target.url = "http://127.0.0.1:9000/url/demo/";
    target.method = "GET";
    target.headers = headers;
    target.n_headers = 1;
    target.timeout_ms = PROTO_TIMEOUT_MS_DEFAULT;
    Stampede__Prepare prepare = STAMPEDE__PREPARE__INIT;
    prepare.run_id = 3;
    prepare.first_index = 25;
    prepare.count = 25;
    prepare.target = &target;
    prepare.start_mode = STAMPEDE__START_MODE__START_MODE_AT_GO;
    env.body_case = STAMPEDE__ENVELOPE__BODY_PREPARE;
    env.prepare = &prepare;
    frame = proto_encode(&env);
    CHECK_NOT_NULL(frame);
    got = proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
    CHECK_NOT_NULL(got);
    CHECK_INT(got->prepare->first_index, 25);
    CHECK_STR(got->prepare->target->headers[0]->name, "X-Test");
    proto_envelope_destroy(&got);
    zframe_destroy(&frame);
    target.url = "ftp://x/";
    s_expect_reject(&env, "http://");
    target.url = "http://127.0.0.1/a b";
    s_expect_reject(&env, "space");
    target.url = "http://127.0.0.1/";
    target.method = "GE T";
    s_expect_reject(&env, "method");
    target.method = "POST";
    header.value = "a\r\nInjected: yes";
    s_expect_reject(&env, "header 0");
    header.value = "1";
    prepare.count = 0;
    s_expect_reject(&env, "count");
    prepare.count = 5;
    target.timeout_ms = 0;
    s_expect_reject(&env, "timeout_ms");
    target.timeout_ms = 1000;
    prepare.target = NULL;
    s_expect_reject(&env, "target missing");
    prepare.target = &target;

    //  Released, alone and inside Done: times in order, armed within count.
    Stampede__Released released = STAMPEDE__RELEASED__INIT;
    released.run_id = 3;
    released.released_ns = 1000;
    released.release_end_ns = 1500;
    released.armed = 25;
    released.count = 25;
    env.body_case = STAMPEDE__ENVELOPE__BODY_RELEASED;
    env.released = &released;
    frame = proto_encode(&env);
    CHECK_NOT_NULL(frame);
    got = proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
    CHECK_NOT_NULL(got);
    CHECK_STR(proto_body_name(got), "released");
    CHECK_INT(got->released->release_end_ns, 1500);
    proto_envelope_destroy(&got);
    zframe_destroy(&frame);
    released.late = 1;
    s_expect_reject(&env, "armed + late at most count");
    released.late = 0;
    //  Ready: armed within prepared, a time that is not negative.
    Stampede__Ready ready = STAMPEDE__READY__INIT;
    ready.run_id = 3;
    ready.prepared = 10;
    ready.armed = 10;
    ready.arm_ns = 1500;
    ready.error = "";
    env.body_case = STAMPEDE__ENVELOPE__BODY_READY;
    env.ready = &ready;
    frame = proto_encode(&env);
    CHECK_NOT_NULL(frame);
    got = proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
    CHECK_NOT_NULL(got);
    CHECK_INT(got->ready->armed, 10);
    CHECK_INT(got->ready->arm_ns, 1500);
    proto_envelope_destroy(&got);
    zframe_destroy(&frame);
    ready.armed = 11;
    s_expect_reject(&env, "ready: armed 11 exceeds prepared 10");
    ready.armed = 10;
    ready.arm_ns = -1;
    s_expect_reject(&env, "ready: arm_ns must not be negative");
    ready.arm_ns = 0;
    ready.path_rtt_ns = -1;
    s_expect_reject(&env, "ready: path_rtt_ns must not be negative");
    env.body_case = STAMPEDE__ENVELOPE__BODY_RELEASED;
    env.released = &released;
    released.release_end_ns = 999;
    s_expect_reject(&env, "release_end_ns not before");
    released.release_end_ns = 1500;
    Stampede__Done done = STAMPEDE__DONE__INIT;
    done.run_id = 4;
    done.results = 25;
    done.batches = 1;
    done.released = &released;
    env.body_case = STAMPEDE__ENVELOPE__BODY_DONE;
    env.done = &done;
    s_expect_reject(&env, "released names another run");
    done.run_id = 3;
    frame = proto_encode(&env);
    CHECK_NOT_NULL(frame);
    zframe_destroy(&frame);
    env.body_case = STAMPEDE__ENVELOPE__BODY_PREPARE;
    env.prepare = &prepare;

    //  Start modes: last_byte holds the body's final byte or the head's.
    CHECK_STR(proto_start_mode_name(STAMPEDE__START_MODE__START_MODE_AT_GO), "at_go");
    CHECK_STR(proto_start_mode_name(STAMPEDE__START_MODE__START_MODE_LAST_BYTE),
              "last_byte");
    CHECK_STR(proto_start_mode_name(STAMPEDE__START_MODE__START_MODE_UNSPECIFIED),
              "unspecified");

    //  Doors and throttle sources: the names the database stores.
    CHECK_STR(proto_door_name(STAMPEDE__DOOR__DOOR_HTTP), "http");
    CHECK_STR(proto_door_name(STAMPEDE__DOOR__DOOR_APIGW_REST), "apigw_rest");
    CHECK_STR(proto_door_name(STAMPEDE__DOOR__DOOR_APIGW), "apigw");
    CHECK_NULL(proto_door_name(6));
    CHECK_NULL(
        proto_throttle_source_name(STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE));
    CHECK_STR(proto_throttle_source_name(
                  STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_LAMBDA_VIA_GATEWAY),
              "lambda_via_gateway");
    CHECK_NULL(proto_throttle_source_name(5));
    target.door = 6;
    s_expect_reject(&env, "prepare: unknown door 6");
    target.door = STAMPEDE__DOOR__DOOR_APIGW;
    target.ca_pem.data = (uint8_t *)"not a certificate";
    target.ca_pem.len = 17;
    s_expect_reject(&env, "prepare: ca_pem must be PEM certificates of at most");
    target.ca_pem.data = (uint8_t *)"x\n-----BEGIN CERTIFICATE-----\nAA==\n";
    target.ca_pem.len = strlen((const char *)target.ca_pem.data);
    CHECK_TRUE(proto_is_pem(target.ca_pem.data, target.ca_pem.len));
    CHECK_TRUE(!proto_is_pem(target.ca_pem.data, 20));
    target.arrival_header = "X Received";
    s_expect_reject(&env, "prepare: arrival_header must be a token of 1-256 characters");
    target.arrival_header = "X-Received-At";
    prepare.start_mode = STAMPEDE__START_MODE__START_MODE_UNSPECIFIED;
    s_expect_reject(&env, "unknown start_mode 0");
    prepare.start_mode = 3;
    s_expect_reject(&env, "unknown start_mode 3");
    prepare.start_mode = STAMPEDE__START_MODE__START_MODE_LAST_BYTE;
    target.body.data = NULL;
    target.body.len = 0;
    target.method = "HEAD";
    frame = proto_encode(&env);
    CHECK_NOT_NULL(frame);
    zframe_destroy(&frame);
    target.body.data = (uint8_t *)"x";
    target.body.len = 1;
    target.method = "PATCH";
    frame = proto_encode(&env);
    CHECK_NOT_NULL(frame);
    got = proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
    CHECK_NOT_NULL(got);
    CHECK_INT(got->prepare->start_mode, STAMPEDE__START_MODE__START_MODE_LAST_BYTE);
    CHECK_INT(got->prepare->target->body.len, 1);
    CHECK_INT(got->prepare->target->body.data[0], 'x');
    proto_envelope_destroy(&got);
    zframe_destroy(&frame);
    //  A target problem is reported before the mode's rule.
    prepare.target = NULL;
    s_expect_reject(&env, "target missing");
    prepare.target = &target;
    target.body.data = NULL;
    target.body.len = 0;
    target.method = "POST";
    prepare.start_mode = STAMPEDE__START_MODE__START_MODE_AT_GO;

    //  Result batches: outcome range and field caps.
    Stampede__Result result = STAMPEDE__RESULT__INIT;
    result.index = 4;
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_THROTTLED;
    result.http_status = 429;
    result.invocation_count = -1;
    result.door = STAMPEDE__DOOR__DOOR_INVOKE;
    result.throttle_source = STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_LAMBDA;
    result.throttle_reason = "ReservedFunctionConcurrentInvocationLimitExceeded";
    Stampede__Result *results[] = {&result};
    Stampede__ResultBatch batch = STAMPEDE__RESULT_BATCH__INIT;
    batch.run_id = 3;
    batch.seq = 1;
    batch.results = results;
    batch.n_results = 1;
    env.body_case = STAMPEDE__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &batch;
    frame = proto_encode(&env);
    CHECK_NOT_NULL(frame);
    got = proto_decode(zframe_data(frame), zframe_size(frame), err, sizeof err);
    CHECK_NOT_NULL(got);
    CHECK_INT(got->result_batch->results[0]->http_status, 429);
    CHECK_STR(proto_outcome_name(got->result_batch->results[0]->outcome), "throttled");
    CHECK_INT(got->result_batch->results[0]->door, STAMPEDE__DOOR__DOOR_INVOKE);
    CHECK_INT(got->result_batch->results[0]->throttle_source,
              STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_LAMBDA);
    CHECK_STR(got->result_batch->results[0]->throttle_reason,
              "ReservedFunctionConcurrentInvocationLimitExceeded");
    proto_envelope_destroy(&got);
    zframe_destroy(&frame);
    result.outcome = 99;
    s_expect_reject(&env, "unknown outcome 99");
    //  A throttle source goes with a throttle, and only with it.
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_OK;
    s_expect_reject(&env, "a throttle_source goes with outcome throttled");
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_THROTTLED;
    result.throttle_source = STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE;
    s_expect_reject(&env, "a throttle_source goes with outcome throttled");
    result.throttle_source = 5;
    s_expect_reject(&env, "unknown throttle_source 5");
    result.throttle_source = STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_GATEWAY;
    result.door = 7;
    s_expect_reject(&env, "result 0: unknown door 7");
    result.door = STAMPEDE__DOOR__DOOR_APIGW_HTTP;
    result.throttle_reason = "a\nb";
    s_expect_reject(&env, "throttle_reason");
    result.throttle_reason = "";
    result.outcome = STAMPEDE__OUTCOME__OUTCOME_OK;
    result.throttle_source = STAMPEDE__THROTTLE_SOURCE__THROTTLE_SOURCE_NONE;
    char long_id[PROTO_MAX_FIELD + 2];
    memset(long_id, 'e', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    result.environment_id = long_id;
    s_expect_reject(&env, "Lambda field");
    result.environment_id = "env-1";
    batch.seq = 0;
    s_expect_reject(&env, "seq");
    batch.seq = 1;
    batch.n_results = 0;
    s_expect_reject(&env, "results");

    //  An envelope with nothing set, garbage bytes and an oversized frame.
    proto_envelope_t empty = STAMPEDE__ENVELOPE__INIT;
    s_expect_reject(&empty, "no message");
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12};
    CHECK_NULL(proto_decode(garbage, sizeof garbage, err, sizeof err));
    CHECK_TRUE(strstr(err, "not a valid protobuf") != NULL);
    CHECK_NULL(proto_decode(garbage, PROTO_MAX_FRAME + 1, err, sizeof err));
    CHECK_TRUE(strstr(err, "exceeds") != NULL);

    //  proto_recv: a valid frame, garbage, and nothing within the timeout.
    zsock_t *sink = zsock_new_pair("@inproc://proto_codec_test");
    zsock_t *source = zsock_new_pair(">inproc://proto_codec_test");
    CHECK_NOT_NULL(sink);
    CHECK_NOT_NULL(source);
    Stampede__Ack ack = STAMPEDE__ACK__INIT;
    ack.run_id = 4;
    ack.seq = 2;
    env.body_case = STAMPEDE__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    frame = proto_encode(&env);
    CHECK_INT(zframe_send(&frame, source, 0), 0);
    got = proto_recv(sink, 1000, err, sizeof err);
    CHECK_NOT_NULL(got);
    CHECK_INT(got->ack->seq, 2);
    proto_envelope_destroy(&got);
    zstr_send(source, "not protobuf");
    CHECK_NULL(proto_recv(sink, 1000, err, sizeof err));
    CHECK_TRUE(strstr(err, "not a valid protobuf") != NULL);
    CHECK_NULL(proto_recv(sink, 10, err, sizeof err));
    CHECK_STR(err, "no frame within 10 ms");
    zsock_destroy(&source);
    zsock_destroy(&sink);

    //  The field rules other boundaries share.
    CHECK_TRUE(proto_is_token("X-Test", 6, 16));
    CHECK_TRUE(proto_is_token("X-Test: 1", 6, 16)); //  a slice
    CHECK_TRUE(!proto_is_token("X Test", 6, 16));
    CHECK_TRUE(!proto_is_token("", 0, 16));
    CHECK_TRUE(!proto_is_token("LONGMETHOD", 10, 4));
    CHECK_TRUE(proto_is_agent_id("local-1.a_b"));
    CHECK_TRUE(!proto_is_agent_id("local 1"));
    CHECK_TRUE(!proto_is_agent_id(""));
    CHECK_TRUE(proto_is_printable(NULL, 4));
    CHECK_TRUE(proto_is_printable("abcd", 4));
    CHECK_TRUE(!proto_is_printable("abcde", 4));
    CHECK_TRUE(!proto_is_printable("a\rb", 4));

    CHECK_STR(proto_outcome_name(STAMPEDE__OUTCOME__OUTCOME_CONNECT_ERROR),
              "connect_error");
    if (verbose)
        printf("(proto checks done) ");
}
