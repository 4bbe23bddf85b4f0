/*  emu_aws — AWS account facts and error answers; see emu_aws.h. */
#include "emu_aws.h"
#include "sp_check.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
emu_aws_error_set(emu_aws_error_t *err, int status, const char *type, const char *format,
                  ...)
{
    assert(err && status >= 400 && status <= 599 && type && format);
    err->status = status;
    snprintf(err->type, sizeof err->type, "%s", type);
    va_list args;
    va_start(args, format);
    vsnprintf(err->message, sizeof err->message, format, args);
    va_end(args);
    err->reason[0] = '\0';
}

void
emu_aws_error_clear(emu_aws_error_t *err)
{
    assert(err);
    memset(err, 0, sizeof *err);
}

void
emu_aws_function_arn(const char *function, const char *qualifier, char *out, size_t size)
{
    assert(function && out && size > 0);
    if (qualifier && *qualifier)
        snprintf(out, size, "arn:aws:lambda:%s:%s:function:%s:%s", EMU_AWS_REGION,
                 EMU_AWS_ACCOUNT_ID, function, qualifier);
    else
        snprintf(out, size, "arn:aws:lambda:%s:%s:function:%s", EMU_AWS_REGION,
                 EMU_AWS_ACCOUNT_ID, function);
}

void
emu_aws_error_function_not_found(emu_aws_error_t *err, const char *function,
                                 const char *qualifier)
{
    char arn[EMU_AWS_ARN_MAX];
    emu_aws_function_arn(function, qualifier, arn, sizeof arn);
    emu_aws_error_set(err, 404, "ResourceNotFoundException", "Function not found: %s",
                      arn);
}

void
emu_aws_error_throttle(emu_aws_error_t *err, const char *reason)
{
    assert(reason);
    emu_aws_error_set(err, 429, "TooManyRequestsException", "Rate Exceeded.");
    snprintf(err->reason, sizeof err->reason, "%s", reason);
}

//  The body member that carries the message: botocore's model names it
//  "Message" in these error shapes and "message" in the others the
//  emulator sends (InvalidParameterValueException, TooManyRequestsException...).
static const char *
s_message_member(const char *type)
{
    static const char *const capitalised[] = {"ResourceNotFoundException",
                                              "ServiceException"};
    for (size_t i = 0; i < sizeof capitalised / sizeof capitalised[0]; i++)
        if (strcmp(type, capitalised[i]) == 0)
            return "Message";
    return "message";
}

emu_reply_t *
emu_aws_error_reply(const emu_aws_error_t *err)
{
    assert(err && err->status != 0);
    emu_reply_t *reply = emu_reply_new(err->status);
    json_t *doc = json_object();
    int rc = reply && doc ? 0 : -1;
    if (rc == 0 && err->reason[0])
        rc = json_object_set_new(doc, "Reason", json_string(err->reason));
    if (rc == 0)
        rc = json_object_set_new(doc, "Type",
                                 json_string(err->status >= 500 ? "Service" : "User"));
    if (rc == 0)
        rc = json_object_set_new(doc, s_message_member(err->type),
                                 json_string(err->message));
    if (rc == 0)
        rc = emu_reply_set_json(reply, doc);
    if (rc == 0)
        rc = emu_reply_set_header(reply, "x-amzn-ErrorType", err->type);
    json_decref(doc);
    if (rc != 0)
        emu_reply_destroy(&reply);
    return reply;
}

void
emu_aws_runtime_version_arn(const char *runtime, char *out, size_t size)
{
    assert(runtime && out && size > 0);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (EVP_Digest(runtime, strlen(runtime), digest, &digest_len, EVP_sha256(), NULL) !=
        1)
        digest_len = 0; //  no digest: an ARN with no hash, which no client parses
    for (unsigned int i = 0; i < digest_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    snprintf(out, size, "arn:aws:lambda:%s::runtime:%s", EMU_AWS_REGION, hex);
}

void
emu_aws_timestamp(int64_t epoch_ms, char *out, size_t size)
{
    assert(out && size >= 32);
    time_t seconds = (time_t)(epoch_ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    char date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03d+0000", date, (int)(epoch_ms % 1000));
}

ssize_t
emu_aws_base64_decode(const char *text, size_t len, unsigned char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert(text || len == 0);
    //  EVP_DecodeBlock alone is lenient (it skips whitespace and reads a
    //  '=' anywhere as zero bits): the shape is checked here.
    if (len % 4 != 0 || len > INT_MAX)
        return -1;
    size_t pad = 0;
    while (pad < 2 && pad < len && text[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (!text[i] || !strchr(alphabet, text[i]))
            return -1;
    if (len == 0)
        return 0;
    assert(out);
    int decoded = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (decoded < 0)
        return -1;
    //  EVP_DecodeBlock counts the padding as zero bytes.
    return (ssize_t)decoded - (ssize_t)pad;
}

char *
emu_aws_base64_encode(const void *data, size_t len)
{
    assert(data || len == 0);
    if (len > (size_t)INT_MAX / 4 * 3)
        return NULL;
    char *text = malloc((len + 2) / 3 * 4 + 1);
    if (!text)
        return NULL;
    if (len == 0)
        text[0] = '\0';
    else
        EVP_EncodeBlock((unsigned char *)text, data, (int)len);
    return text;
}

void
emu_aws_test(bool verbose)
{
    (void)verbose;
    char arn[EMU_AWS_ARN_MAX];
    emu_aws_function_arn("demo", NULL, arn, sizeof arn);
    CHECK_STR(arn, "arn:aws:lambda:us-east-1:123456789012:function:demo");
    emu_aws_function_arn("demo", "", arn, sizeof arn);
    CHECK_STR(arn, "arn:aws:lambda:us-east-1:123456789012:function:demo");
    emu_aws_function_arn("demo", "live", arn, sizeof arn);
    CHECK_STR(arn, "arn:aws:lambda:us-east-1:123456789012:function:demo:live");

    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    CHECK_INT(err.status, 0);
    emu_aws_error_function_not_found(&err, "nope", "7");
    CHECK_INT(err.status, 404);
    CHECK_STR(err.type, "ResourceNotFoundException");
    CHECK_STR(
        err.message,
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope:7");
    emu_reply_t *reply = emu_aws_error_reply(&err);
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), 404);
    CHECK_STR(emu_reply_header(reply, "x-amzn-ErrorType"), "ResourceNotFoundException");
    CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    size_t len = 0;
    const char *body = emu_reply_body(reply, &len);
    CHECK_STR(body, "{\"Type\":\"User\",\"Message\":\"Function not found: "
                    "arn:aws:lambda:us-east-1:123456789012:function:nope:7\"}");
    emu_reply_destroy(&reply);

    emu_aws_error_throttle(&err, "ReservedFunctionConcurrentInvocationLimitExceeded");
    reply = emu_aws_error_reply(&err);
    CHECK_INT(emu_reply_status(reply), 429);
    CHECK_STR(emu_reply_header(reply, "x-amzn-ErrorType"), "TooManyRequestsException");
    body = emu_reply_body(reply, &len);
    CHECK_STR(body, "{\"Reason\":\"ReservedFunctionConcurrentInvocationLimitExceeded\","
                    "\"Type\":\"User\",\"message\":\"Rate Exceeded.\"}");
    emu_reply_destroy(&reply);

    emu_aws_error_set(&err, 500, "ServiceException", "boom %d", 7);
    CHECK_STR(err.message, "boom 7");
    CHECK_STR(err.reason, "");
    reply = emu_aws_error_reply(&err);
    body = emu_reply_body(reply, &len);
    CHECK_STR(body, "{\"Type\":\"Service\",\"Message\":\"boom 7\"}");
    emu_reply_destroy(&reply);
    emu_aws_error_set(&err, 409, "ResourceConflictException", "Alias already exists");
    reply = emu_aws_error_reply(&err);
    body = emu_reply_body(reply, &len);
    CHECK_STR(body, "{\"Type\":\"User\",\"message\":\"Alias already exists\"}");
    emu_reply_destroy(&reply);

    //  The runtime version: SHA-256 of the runtime's name, in hex.
    char runtime[EMU_AWS_ARN_MAX];
    emu_aws_runtime_version_arn("provided.al2023", runtime, sizeof runtime);
    CHECK_STR(runtime,
              "arn:aws:lambda:us-east-1::runtime:"
              "0c7a6b68ae8de5940afe217dbb81f77b9fcad26466e440a79ad48af42a49669c");

    char stamp[32];
    emu_aws_timestamp(INT64_C(1795714801123), stamp, sizeof stamp);
    CHECK_STR(stamp, "2026-11-26T17:40:01.123+0000");

    //  base64 round trips, every padding.
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe"};
    const char *coded[] = {"",         "Zg==",     "Zm8=",     "Zm9v",
                           "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", "//4="};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char *text = emu_aws_base64_encode(plain[i], strlen(plain[i]));
        CHECK_STR(text, coded[i]);
        unsigned char back[16];
        CHECK_INT(emu_aws_base64_decode(text, strlen(text), back), strlen(plain[i]));
        CHECK_TRUE(memcmp(back, plain[i], strlen(plain[i])) == 0);
        free(text);
    }
    //  Not padded standard base64.
    const char *bad[] = {"Zg",    "Zg=",    "Z===",  "====", "Zg=a",     "=Zg=",
                         "Zm 9v", "Zm9v\n", " Zm9v", "Zm-_", "Zm9v\0Zm9"};
    unsigned char back[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(emu_aws_base64_decode(bad[i], i == 10 ? 9 : strlen(bad[i]), back), -1);
}
