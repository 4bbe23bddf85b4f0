/*  fn_answer — the demo function's answer, read; see fn_answer.h. */
#include "fn_answer.h"
#include "sp_check.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

//  The facts' keys in the bootstrap's order, and the envelope's.
static const char *const s_facts_keys[] = {
    "request_id",          "environment_id",   "cold_start",    "cold_start_time",
    "initialization_type", "invocation_count", "started_at_ns", "finished_at_ns"};
static const char *const s_proxy_keys[] = {"statusCode", "headers", "body"};
static const char *const s_header_keys[] = {"Content-Type"};

#define S_COUNT(array) (sizeof(array) / sizeof(array)[0])

//  True when `doc` is an object with exactly `keys`, in that order.
static bool
s_keys_are(json_t *doc, const char *const *keys, size_t count)
{
    if (!json_is_object(doc) || json_object_size(doc) != count)
        return false;
    size_t i = 0;
    for (void *it = json_object_iter(doc); it; it = json_object_iter_next(doc, it))
        if (strcmp(json_object_iter_key(it), keys[i++]) != 0)
            return false;
    return true;
}

//  Copies `len` bytes of `text` into `out` (`size` bytes) when they fit
//  and hold no NUL.
static bool
s_copy(const char *text, size_t len, char *out, size_t size)
{
    if (len >= size || strlen(text) != len)
        return false;
    memcpy(out, text, len + 1);
    return true;
}

static int
s_read_facts(json_t *doc, fn_answer_t *answer)
{
    if (!s_keys_are(doc, s_facts_keys, S_COUNT(s_facts_keys)))
        return -1;
    const char *request_id, *environment_id, *type;
    size_t request_id_len, environment_id_len, type_len;
    int cold = 0;
    json_int_t count, started, finished;
    if (json_unpack(doc, "{s:s%, s:s%, s:b, s:f, s:s%, s:I, s:I, s:I}", "request_id",
                    &request_id, &request_id_len, "environment_id", &environment_id,
                    &environment_id_len, "cold_start", &cold, "cold_start_time",
                    &answer->cold_start_time, "initialization_type", &type, &type_len,
                    "invocation_count", &count, "started_at_ns", &started,
                    "finished_at_ns", &finished))
        return -1;
    if (environment_id_len != 16 || strspn(environment_id, "0123456789abcdef") != 16 ||
        !s_copy(request_id, request_id_len, answer->request_id,
                sizeof answer->request_id) ||
        !s_copy(environment_id, environment_id_len, answer->environment_id,
                sizeof answer->environment_id) ||
        !s_copy(type, type_len, answer->initialization_type,
                sizeof answer->initialization_type))
        return -1;
    answer->cold_start = cold;
    answer->invocation_count = count;
    answer->started_at_ns = started;
    answer->finished_at_ns = finished;
    return 0;
}

int
fn_answer_facts(const char *text, fn_answer_t *answer)
{
    assert(text && answer);
    memset(answer, 0, sizeof *answer);
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    int rc = s_read_facts(doc, answer);
    json_decref(doc);
    return rc;
}

int
fn_answer_proxy(const char *text, fn_answer_t *answer)
{
    assert(text && answer);
    memset(answer, 0, sizeof *answer);
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    int rc = -1;
    if (!s_keys_are(doc, s_proxy_keys, S_COUNT(s_proxy_keys)))
        goto out;
    json_t *status = json_object_get(doc, "statusCode");
    json_t *headers = json_object_get(doc, "headers");
    json_t *body = json_object_get(doc, "body");
    if (!json_is_integer(status) || json_integer_value(status) != 200 ||
        !s_keys_are(headers, s_header_keys, S_COUNT(s_header_keys)) ||
        !json_is_string(json_object_get(headers, "Content-Type")) ||
        strcmp(json_string_value(json_object_get(headers, "Content-Type")),
               "application/json") != 0 ||
        !json_is_string(body) ||
        strlen(json_string_value(body)) != json_string_length(body))
        goto out;
    rc = fn_answer_facts(json_string_value(body), answer);
out:
    json_decref(doc);
    return rc;
}

//  --- selftest -----------------------------------------------------------

#define S_TEST_FACTS                                                                     \
    "{\"request_id\":\"c6af9ac6-7b61-11e6-9a41-93e812345678\","                          \
    "\"environment_id\":\"0123456789abcdef\",\"cold_start\":true,"                       \
    "\"cold_start_time\":0.0125,\"initialization_type\":\"on-demand\","                  \
    "\"invocation_count\":1,\"started_at_ns\":1700000000123456789,"                      \
    "\"finished_at_ns\":1700000002123456789}"

//  S_TEST_FACTS as the string in a proxy response's body.
#define S_TEST_FACTS_STRING                                                              \
    "\"{\\\"request_id\\\":\\\"c6af9ac6-7b61-11e6-9a41-93e812345678\\\","                \
    "\\\"environment_id\\\":\\\"0123456789abcdef\\\",\\\"cold_start\\\":true,"           \
    "\\\"cold_start_time\\\":0.0125,\\\"initialization_type\\\":\\\"on-demand\\\","      \
    "\\\"invocation_count\\\":1,\\\"started_at_ns\\\":1700000000123456789,"              \
    "\\\"finished_at_ns\\\":1700000002123456789}\""

//  Facts from cold_start_time on, and an environment id, to vary the rest.
#define S_TEST_TAIL                                                                      \
    "\"cold_start_time\":0.5,\"initialization_type\":\"on-demand\","                     \
    "\"invocation_count\":1,\"started_at_ns\":1,\"finished_at_ns\":2"
#define S_TEST_ID "\"environment_id\":\"0123456789abcdef\""

static void
s_test_check(const fn_answer_t *answer)
{
    CHECK_STR(answer->request_id, "c6af9ac6-7b61-11e6-9a41-93e812345678");
    CHECK_STR(answer->environment_id, "0123456789abcdef");
    CHECK_INT(answer->cold_start, true);
    CHECK_REAL(answer->cold_start_time, 0.0125);
    CHECK_STR(answer->initialization_type, "on-demand");
    CHECK_INT(answer->invocation_count, 1);
    CHECK_INT(answer->started_at_ns, INT64_C(1700000000123456789));
    CHECK_INT(answer->finished_at_ns, INT64_C(1700000002123456789));
}

void
fn_answer_test(bool verbose)
{
    fn_answer_t answer;
    CHECK_INT(fn_answer_facts(S_TEST_FACTS, &answer), 0);
    s_test_check(&answer);
    CHECK_INT(fn_answer_proxy("{\"statusCode\":200,\"headers\":{\"Content-Type\":"
                              "\"application/json\"},\"body\":" S_TEST_FACTS_STRING "}",
                              &answer),
              0);
    s_test_check(&answer);
    //  Spacing is JSON's affair, not the shape's.
    CHECK_INT(fn_answer_proxy("{ \"statusCode\": 200, \"headers\": {\"Content-Type\": "
                              "\"application/json\"}, \"body\": " S_TEST_FACTS_STRING "}",
                              &answer),
              0);

    CHECK_INT(fn_answer_facts("{\"request_id\":\"r\"," S_TEST_ID
                              ",\"cold_start\":false," S_TEST_TAIL "}",
                              &answer),
              0);
    CHECK_STR(answer.request_id, "r");
    CHECK_INT(answer.cold_start, false);
    CHECK_INT(answer.finished_at_ns, 2);
    //  Each of these breaks that shape in one place.
    const char *not_facts[] = {
        "",
        "not json",
        "[]",
        //  A key missing, one more, two swapped, one twice.
        "{\"request_id\":\"r\"}",
        "{\"request_id\":\"r\"," S_TEST_ID ",\"cold_start\":true," S_TEST_TAIL
        ",\"x\":1}",
        "{" S_TEST_ID ",\"request_id\":\"r\",\"cold_start\":true," S_TEST_TAIL "}",
        "{\"request_id\":\"r\",\"request_id\":\"r\",\"cold_start\":true," S_TEST_TAIL "}",
        //  Wrong types: a string flag, an integer time, a real count.
        "{\"request_id\":\"r\"," S_TEST_ID ",\"cold_start\":\"true\"," S_TEST_TAIL "}",
        "{\"request_id\":\"r\"," S_TEST_ID ",\"cold_start\":true,\"cold_start_time\":0,"
        "\"initialization_type\":\"on-demand\",\"invocation_count\":1,"
        "\"started_at_ns\":1,\"finished_at_ns\":2}",
        "{\"request_id\":\"r\"," S_TEST_ID ",\"cold_start\":true,\"cold_start_time\":0.5,"
        "\"initialization_type\":\"on-demand\",\"invocation_count\":1.0,"
        "\"started_at_ns\":1,\"finished_at_ns\":2}",
        //  An environment id that is not 16 lowercase hex digits; a NUL.
        "{\"request_id\":\"r\",\"environment_id\":\"0123456789ABCDEF\","
        "\"cold_start\":true," S_TEST_TAIL "}",
        "{\"request_id\":\"r\\u0000\"," S_TEST_ID ",\"cold_start\":true," S_TEST_TAIL "}",
    };
    for (size_t i = 0; i < S_COUNT(not_facts); i++)
        CHECK_INT(fn_answer_facts(not_facts[i], &answer), -1);
    //  The facts unwrapped are not the proxy response, nor the reverse.
    CHECK_INT(fn_answer_proxy(S_TEST_FACTS, &answer), -1);
    CHECK_INT(fn_answer_facts("{\"statusCode\":200,\"headers\":{\"Content-Type\":"
                              "\"application/json\"},\"body\":" S_TEST_FACTS_STRING "}",
                              &answer),
              -1);

    const char *not_proxy[] = {
        "{\"statusCode\":201,\"headers\":{\"Content-Type\":\"application/json\"},"
        "\"body\":" S_TEST_FACTS_STRING "}",
        "{\"statusCode\":\"200\",\"headers\":{\"Content-Type\":\"application/json\"},"
        "\"body\":" S_TEST_FACTS_STRING "}",
        "{\"statusCode\":200,\"headers\":{\"Content-Type\":\"text/plain\"},"
        "\"body\":" S_TEST_FACTS_STRING "}",
        "{\"statusCode\":200,\"headers\":{\"content-type\":\"application/json\"},"
        "\"body\":" S_TEST_FACTS_STRING "}",
        "{\"statusCode\":200,\"headers\":{\"Content-Type\":\"application/json\","
        "\"X\":\"y\"},\"body\":" S_TEST_FACTS_STRING "}",
        "{\"statusCode\":200,\"headers\":{\"Content-Type\":\"application/json\"},"
        "\"body\":" S_TEST_FACTS_STRING ",\"isBase64Encoded\":false}",
        "{\"headers\":{\"Content-Type\":\"application/json\"},\"statusCode\":200,"
        "\"body\":" S_TEST_FACTS_STRING "}",
        "{\"statusCode\":200,\"headers\":{\"Content-Type\":\"application/json\"},"
        "\"body\":" S_TEST_FACTS "}",
        ("{\"statusCode\":200,\"headers\":{\"Content-Type\":\"application/json\"},"
         "\"body\":\"{}\"}"),
        "{\"statusCode\":200,\"headers\":{\"Content-Type\":\"application/json\"}}",
    };
    for (size_t i = 0; i < S_COUNT(not_proxy); i++)
        CHECK_INT(fn_answer_proxy(not_proxy[i], &answer), -1);
    (void)verbose;
}
