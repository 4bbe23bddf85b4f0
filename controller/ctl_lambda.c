/*  ctl_lambda — the Lambda management API's reserved concurrency; see
    ctl_lambda.h.
*/
#include "ctl_lambda.h"
#include "sp_addr.h"
#include "sp_check.h"
#include "sp_err.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MAX_BODY (64 * 1024) //  an answer larger than this is refused
#define S_MAX_MESSAGE 300      //  bytes of the service's message kept

//  The API's versions in its paths (botocore's model): Get is on
//  2019-09-30, Put and Delete on 2017-10-31.
#define S_GET_VERSION "2019-09-30"
#define S_SET_VERSION "2017-10-31"

static const char *
s_getenv(const char *name)
{
    return getenv(name);
}

static bool
s_function_ok(const char *function)
{
    size_t n = function ? strlen(function) : 0;
    if (n == 0 || n > CTL_LAMBDA_MAX_FUNCTION)
        return false;
    for (const char *c = function; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("-_:.", *c))
            return false;
    return true;
}

int
ctl_lambda_parse_reserved(const char *text, int32_t *reserved)
{
    assert(reserved);
    if (!text)
        return -1;
    if (strcmp(text, "none") == 0 || strcmp(text, "unreserved") == 0) {
        *reserved = CTL_LAMBDA_UNRESERVED;
        return 0;
    }
    if (!isdigit((unsigned char)text[0]) || strlen(text) > 6)
        return -1;
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || value > CTL_LAMBDA_MAX_RESERVED)
        return -1;
    *reserved = (int32_t)value;
    return 0;
}

const char *
ctl_lambda_reserved_name(int32_t reserved, char *buf, size_t size)
{
    if (reserved == CTL_LAMBDA_UNRESERVED)
        snprintf(buf, size, "unreserved");
    else
        snprintf(buf, size, "%" PRId32, reserved);
    return buf;
}

int
ctl_lambda_init(ctl_lambda_t *self, const char *endpoint, const char *function,
                const char *region, ctl_lambda_getenv_t getenv_fn, char *err,
                size_t err_size)
{
    assert(self);
    memset(self, 0, sizeof *self);
    if (!getenv_fn)
        getenv_fn = s_getenv;
    if (!s_function_ok(function)) {
        sp_err_set(err, err_size,
                   "--function must be a function name or ARN of 1-%d letters, digits "
                   "and -_:.",
                   CTL_LAMBDA_MAX_FUNCTION);
        return -1;
    }
    snprintf(self->function, sizeof self->function, "%s", function);
    if (!region || !*region)
        region = getenv_fn("AWS_REGION");
    if (!region || !*region)
        region = getenv_fn("AWS_DEFAULT_REGION");
    if (region && *region) {
        bool ok = strlen(region) < sizeof self->region;
        for (const char *c = region; ok && *c; c++)
            ok = isalnum((unsigned char)*c) || *c == '-';
        if (!ok) {
            sp_err_set(err, err_size,
                       "the region must be letters, digits and '-' (got %.64s)", region);
            return -1;
        }
        snprintf(self->region, sizeof self->region, "%s", region);
    }
    if (!endpoint) {
        if (!*self->region) {
            sp_err_set(err, err_size,
                       "give --lambda-endpoint, or a region (--region, AWS_REGION) for "
                       "AWS's endpoint");
            return -1;
        }
        snprintf(self->endpoint, sizeof self->endpoint, "https://lambda.%s.amazonaws.com",
                 self->region);
        endpoint = self->endpoint;
    }
    //  Scheme and host through libcurl's URL parser, as curl will read them.
    CURLU *url = curl_url();
    char *scheme = NULL, *host = NULL, *path = NULL, *query = NULL;
    bool parsed = url && curl_url_set(url, CURLUPART_URL, endpoint, 0) == CURLUE_OK &&
                  curl_url_get(url, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                  curl_url_get(url, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                  curl_url_get(url, CURLUPART_PATH, &path, 0) == CURLUE_OK;
    bool has_query = url && curl_url_get(url, CURLUPART_QUERY, &query, 0) == CURLUE_OK;
    bool https = parsed && strcmp(scheme, "https") == 0;
    bool ok = parsed && (https || strcmp(scheme, "http") == 0) &&
              strcmp(path, "/") == 0 && !has_query &&
              strlen(endpoint) < sizeof self->endpoint;
    //  "[::1]" as a URL host is ::1 to the loopback rule.
    char bare[256] = "";
    if (ok) {
        size_t n = strlen(host);
        if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
            snprintf(bare, sizeof bare, "%.*s", (int)(n - 2), host + 1);
        else
            snprintf(bare, sizeof bare, "%s", host);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(url);
    if (!ok) {
        sp_err_set(err, err_size,
                   "--lambda-endpoint must be an http:// or https:// URL without a path "
                   "or query (got %.200s)",
                   endpoint);
        return -1;
    }
    if (endpoint != self->endpoint)
        snprintf(self->endpoint, sizeof self->endpoint, "%s", endpoint);
    size_t len = strlen(self->endpoint);
    while (len > 0 && self->endpoint[len - 1] == '/')
        self->endpoint[--len] = '\0';

    const char *key = getenv_fn("AWS_ACCESS_KEY_ID");
    const char *secret = getenv_fn("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv_fn("AWS_SESSION_TOKEN");
    bool loopback = sp_addr_is_loopback(bare);
    if (key && *key && secret && *secret) {
        if (strlen(key) >= sizeof self->access_key ||
            strlen(secret) >= sizeof self->secret_key ||
            (token && strlen(token) >= sizeof self->session_token) || strchr(key, ':')) {
            sp_err_set(err, err_size,
                       "the AWS credentials in the environment are malformed");
            return -1;
        }
        snprintf(self->access_key, sizeof self->access_key, "%s", key);
        snprintf(self->secret_key, sizeof self->secret_key, "%s", secret);
        snprintf(self->session_token, sizeof self->session_token, "%s",
                 token ? token : "");
        //  The emulator takes any signature; AWS's endpoints need the region.
        if (!*self->region) {
            if (!loopback) {
                sp_err_set(err, err_size,
                           "a region is needed to sign requests (--region, "
                           "AWS_REGION)");
                return -1;
            }
            snprintf(self->region, sizeof self->region, "us-east-1");
        }
    } else if (!loopback) {
        sp_err_set(err, err_size,
                   "%s is not on this host: set AWS_ACCESS_KEY_ID and "
                   "AWS_SECRET_ACCESS_KEY to sign the requests",
                   self->endpoint);
        return -1;
    } else
        self->region[0] = '\0';
    if (!loopback && !https) {
        sp_err_set(err, err_size, "%s must be https:// (it is not on this host)",
                   self->endpoint);
        return -1;
    }
    return 0;
}

//  The service's text, printable ASCII only, at most S_MAX_MESSAGE bytes.
static void
s_printable(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (const char *c = src ? src : ""; *c && n + 1 < size && n < S_MAX_MESSAGE; c++)
        dst[n++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
    dst[n] = '\0';
}

int
ctl_lambda_parse_reply(const char *operation, long status, const char *error_type,
                       const char *body, size_t body_size, int32_t *reserved, char *err,
                       size_t err_size)
{
    assert(operation && reserved);
    json_error_t why;
    json_t *doc = body && body_size ? json_loadb(body, body_size, 0, &why) : NULL;
    if (status != 200) {
        const char *message = NULL;
        if (json_is_object(doc))
            message = json_string_value(json_object_get(doc, "message"))
                          ?: json_string_value(json_object_get(doc, "Message"));
        char type[128], text[S_MAX_MESSAGE + 1];
        //  "Type:Qualifier" forms carry the type first.
        s_printable(type, sizeof type, error_type);
        char *colon = strchr(type, ':');
        if (colon)
            *colon = '\0';
        s_printable(text, sizeof text, message);
        sp_err_set(err, err_size, "%s: %ld%s%s%s%s", operation, status, *type ? " " : "",
                   type, *text ? ": " : "", text);
        json_decref(doc);
        return -1;
    }
    if (!json_is_object(doc)) {
        sp_err_set(err, err_size, "%s: the answer is not a JSON object", operation);
        json_decref(doc);
        return -1;
    }
    json_t *value = json_object_get(doc, "ReservedConcurrentExecutions");
    int result = 0;
    if (!value || json_is_null(value))
        *reserved = CTL_LAMBDA_UNRESERVED;
    else if (json_is_integer(value) && json_integer_value(value) >= 0 &&
             json_integer_value(value) <= CTL_LAMBDA_MAX_RESERVED)
        *reserved = (int32_t)json_integer_value(value);
    else {
        sp_err_set(err, err_size,
                   "%s: ReservedConcurrentExecutions is not an integer from 0 to %d",
                   operation, CTL_LAMBDA_MAX_RESERVED);
        result = -1;
    }
    json_decref(doc);
    return result;
}

//  ---------------------------------------------------------------------
//  One exchange

typedef struct {
    char body[S_MAX_BODY];
    size_t size;
    bool too_big;
    char error_type[128];
} s_answer_t;

static size_t
s_on_body(char *data, size_t size, size_t count, void *arg)
{
    s_answer_t *answer = arg;
    size_t n = size * count;
    if (answer->size + n > sizeof answer->body) {
        answer->too_big = true;
        return 0;
    }
    memcpy(answer->body + answer->size, data, n);
    answer->size += n;
    return n;
}

static size_t
s_on_header(char *data, size_t size, size_t count, void *arg)
{
    s_answer_t *answer = arg;
    size_t n = size * count;
    static const char name[] = "x-amzn-errortype:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        const char *value = data + sizeof name - 1;
        size_t len = n - (sizeof name - 1);
        while (len && (*value == ' ' || *value == '\t')) {
            value++;
            len--;
        }
        while (len && (value[len - 1] == '\r' || value[len - 1] == '\n'))
            len--;
        snprintf(answer->error_type, sizeof answer->error_type, "%.*s", (int)len, value);
    }
    return n;
}

//  method /VERSION/functions/FUNCTION/concurrency with body (may be NULL); the status
//  into *status and the answer into *answer. Returns 0, or -1 with err when no answer
//  came.
static int
s_exchange(const ctl_lambda_t *self, const char *method, const char *version,
           const char *body, const char *operation, long *status, s_answer_t *answer,
           char *err, size_t err_size)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        sp_err_set(err, err_size, "%s: cannot start libcurl", operation);
        return -1;
    }
    char *escaped = curl_easy_escape(curl, self->function, 0);
    char path[512], url[sizeof self->endpoint + sizeof path];
    snprintf(path, sizeof path, "/%s/functions/%s/concurrency", version,
             escaped ? escaped : "");
    snprintf(url, sizeof url, "%s%s", self->endpoint, path);
    curl_free(escaped);
    struct curl_slist *headers = NULL;
    char token_header[sizeof self->session_token + 32];
    if (body)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    if (*self->session_token) {
        snprintf(token_header, sizeof token_header, "X-Amz-Security-Token: %s",
                 self->session_token);
        headers = curl_slist_append(headers, token_header);
    }
    char sigv4[128];
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)CTL_LAMBDA_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, answer);
    if (*self->access_key) {
        snprintf(sigv4, sizeof sigv4, "aws:amz:%s:lambda", self->region);
        curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(curl, CURLOPT_USERNAME, self->access_key);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, self->secret_key);
    }
    CURLcode rc = curl_easy_perform(curl);
    *status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (answer->too_big) {
        sp_err_set(err, err_size, "%s: the answer is larger than %d bytes", operation,
                   S_MAX_BODY);
        return -1;
    }
    if (rc != CURLE_OK) {
        sp_err_set(err, err_size, "%s: %s: %s", operation, self->endpoint,
                   curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

int
ctl_lambda_get_reserved(const ctl_lambda_t *self, int32_t *reserved, char *err,
                        size_t err_size)
{
    assert(self && reserved);
    s_answer_t *answer = calloc(1, sizeof *answer);
    long status = 0;
    int rc = answer ? s_exchange(self, "GET", S_GET_VERSION, NULL,
                                 "GetFunctionConcurrency", &status, answer, err, err_size)
                    : -1;
    if (rc == 0)
        rc = ctl_lambda_parse_reply("GetFunctionConcurrency", status, answer->error_type,
                                    answer->body, answer->size, reserved, err, err_size);
    else if (!answer)
        sp_err_set(err, err_size, "out of memory");
    free(answer);
    return rc;
}

int
ctl_lambda_set_reserved(const ctl_lambda_t *self, int32_t reserved, char *err,
                        size_t err_size)
{
    assert(self);
    assert(reserved >= CTL_LAMBDA_UNRESERVED && reserved <= CTL_LAMBDA_MAX_RESERVED);
    s_answer_t *answer = calloc(1, sizeof *answer);
    if (!answer) {
        sp_err_set(err, err_size, "out of memory");
        return -1;
    }
    long status = 0;
    int rc;
    if (reserved == CTL_LAMBDA_UNRESERVED) {
        rc = s_exchange(self, "DELETE", S_SET_VERSION, NULL, "DeleteFunctionConcurrency",
                        &status, answer, err, err_size);
        //  204 No Content is its success; anything else is said.
        int32_t unused;
        if (rc == 0 && status != 204)
            rc = ctl_lambda_parse_reply(
                "DeleteFunctionConcurrency", status == 200 ? 500 : status,
                answer->error_type, answer->body, answer->size, &unused, err, err_size);
    } else {
        char body[64];
        snprintf(body, sizeof body, "{\"ReservedConcurrentExecutions\":%" PRId32 "}",
                 reserved);
        rc = s_exchange(self, "PUT", S_SET_VERSION, body, "PutFunctionConcurrency",
                        &status, answer, err, err_size);
        int32_t now = CTL_LAMBDA_UNRESERVED;
        if (rc == 0)
            rc = ctl_lambda_parse_reply("PutFunctionConcurrency", status,
                                        answer->error_type, answer->body, answer->size,
                                        &now, err, err_size);
        if (rc == 0 && now != reserved) {
            sp_err_set(err, err_size,
                       "PutFunctionConcurrency: asked for %" PRId32 ", the answer says "
                       "%" PRId32,
                       reserved, now);
            rc = -1;
        }
    }
    free(answer);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest (the exchanges are tested against the emulator by
//  tests/integration/test_sweep.py)

static const char *
s_env_none(const char *name)
{
    (void)name;
    return NULL;
}

static const char *
s_env_aws(const char *name)
{
    if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0)
        return "AKIDEXAMPLE";
    if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0)
        return "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    if (strcmp(name, "AWS_SESSION_TOKEN") == 0)
        return "token-1";
    if (strcmp(name, "AWS_DEFAULT_REGION") == 0)
        return "eu-west-1";
    return NULL;
}

void
ctl_lambda_test(bool verbose)
{
    (void)verbose;
    char err[512];
    ctl_lambda_t lambda;
    //  The emulator: loopback, unsigned without credentials.
    CHECK_INT(ctl_lambda_init(&lambda, "http://127.0.0.1:9000/", "demo", NULL, s_env_none,
                              err, sizeof err),
              0);
    CHECK_STR(lambda.endpoint, "http://127.0.0.1:9000");
    CHECK_STR(lambda.region, "");
    CHECK_STR(lambda.access_key, "");
    CHECK_INT(ctl_lambda_init(&lambda, "http://[::1]:9000", "demo", NULL, s_env_none, err,
                              sizeof err),
              0);
    //  AWS: its endpoint from the environment's region, signed.
    CHECK_INT(ctl_lambda_init(&lambda, NULL,
                              "arn:aws:lambda:eu-west-1:123456789012:function:f", NULL,
                              s_env_aws, err, sizeof err),
              0);
    CHECK_STR(lambda.endpoint, "https://lambda.eu-west-1.amazonaws.com");
    CHECK_STR(lambda.region, "eu-west-1");
    CHECK_STR(lambda.session_token, "token-1");
    CHECK_INT(
        ctl_lambda_init(&lambda, NULL, "f", "us-west-2", s_env_aws, err, sizeof err), 0);
    CHECK_STR(lambda.endpoint, "https://lambda.us-west-2.amazonaws.com");
    //  Refusals, each with its reason.
    CHECK_INT(ctl_lambda_init(&lambda, NULL, "f", NULL, s_env_none, err, sizeof err), -1);
    CHECK_STR(err, "give --lambda-endpoint, or a region (--region, AWS_REGION) for AWS's "
                   "endpoint");
    CHECK_INT(
        ctl_lambda_init(&lambda, NULL, "f", "eu-west-1", s_env_none, err, sizeof err),
        -1);
    CHECK_STR(err, "https://lambda.eu-west-1.amazonaws.com is not on this host: set "
                   "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to sign the requests");
    CHECK_INT(ctl_lambda_init(&lambda, "http://lambda.example.com", "f", NULL, s_env_aws,
                              err, sizeof err),
              -1);
    CHECK_STR(err, "http://lambda.example.com must be https:// (it is not on this host)");
    const char *bad_endpoints[] = {"ftp://127.0.0.1/", "http://127.0.0.1:9000/x",
                                   "http://127.0.0.1:9000/?a=1", "not a url"};
    for (size_t i = 0; i < sizeof bad_endpoints / sizeof bad_endpoints[0]; i++) {
        CHECK_INT(ctl_lambda_init(&lambda, bad_endpoints[i], "f", NULL, s_env_none, err,
                                  sizeof err),
                  -1);
        CHECK_TRUE(strncmp(err, "--lambda-endpoint must be an http:// or https:// URL",
                           51) == 0);
    }
    const char *bad_functions[] = {"", "a/b", "a b", "f\n"};
    for (size_t i = 0; i < sizeof bad_functions / sizeof bad_functions[0]; i++)
        CHECK_INT(ctl_lambda_init(&lambda, "http://127.0.0.1:1", bad_functions[i], NULL,
                                  s_env_none, err, sizeof err),
                  -1);
    CHECK_INT(ctl_lambda_init(&lambda, "http://127.0.0.1:1", "f", "eu west", s_env_none,
                              err, sizeof err),
              -1);

    //  Answers.
    int32_t reserved = 0;
    const char *set = "{\"ReservedConcurrentExecutions\":10}";
    CHECK_INT(ctl_lambda_parse_reply("Get", 200, NULL, set, strlen(set), &reserved, err,
                                     sizeof err),
              0);
    CHECK_INT(reserved, 10);
    CHECK_INT(
        ctl_lambda_parse_reply("Get", 200, NULL, "{}", 2, &reserved, err, sizeof err), 0);
    CHECK_INT(reserved, CTL_LAMBDA_UNRESERVED);
    const char *bad = "{\"ReservedConcurrentExecutions\":-3}";
    CHECK_INT(ctl_lambda_parse_reply("Get", 200, NULL, bad, strlen(bad), &reserved, err,
                                     sizeof err),
              -1);
    CHECK_STR(err,
              "Get: ReservedConcurrentExecutions is not an integer from 0 to 100000");
    CHECK_INT(
        ctl_lambda_parse_reply("Get", 200, NULL, "[1]", 3, &reserved, err, sizeof err),
        -1);
    CHECK_STR(err, "Get: the answer is not a JSON object");
    const char *refusal = "{\"Type\":\"User\",\"message\":\"Function not found: "
                          "arn:aws:lambda:us-east-1:000000000000:function:nope\"}";
    CHECK_INT(ctl_lambda_parse_reply("PutFunctionConcurrency", 404,
                                     "ResourceNotFoundException:http://internal", refusal,
                                     strlen(refusal), &reserved, err, sizeof err),
              -1);
    CHECK_STR(err, "PutFunctionConcurrency: 404 ResourceNotFoundException: Function not "
                   "found: arn:aws:lambda:us-east-1:000000000000:function:nope");
    CHECK_INT(ctl_lambda_parse_reply("Get", 502, NULL, "<html>\n", 7, &reserved, err,
                                     sizeof err),
              -1);
    CHECK_STR(err, "Get: 502");

    //  Reserved values as flags take them.
    CHECK_INT(ctl_lambda_parse_reserved("none", &reserved), 0);
    CHECK_INT(reserved, CTL_LAMBDA_UNRESERVED);
    CHECK_INT(ctl_lambda_parse_reserved("unreserved", &reserved), 0);
    CHECK_INT(ctl_lambda_parse_reserved("0", &reserved), 0);
    CHECK_INT(reserved, 0);
    CHECK_INT(ctl_lambda_parse_reserved("100000", &reserved), 0);
    const char *bad_values[] = {"-1", "100001", "5x", "", " 5", "1e3"};
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++)
        CHECK_INT(ctl_lambda_parse_reserved(bad_values[i], &reserved), -1);
    char name[16];
    CHECK_STR(ctl_lambda_reserved_name(-1, name, sizeof name), "unreserved");
    CHECK_STR(ctl_lambda_reserved_name(50, name, sizeof name), "50");

    //  Nothing listens on port 1: the reason names the endpoint.
    CHECK_INT(ctl_lambda_init(&lambda, "http://127.0.0.1:1", "f", NULL, s_env_none, err,
                              sizeof err),
              0);
    CHECK_INT(ctl_lambda_get_reserved(&lambda, &reserved, err, sizeof err), -1);
    CHECK_TRUE(strncmp(err, "GetFunctionConcurrency: http://127.0.0.1:1: ", 44) == 0);
}
