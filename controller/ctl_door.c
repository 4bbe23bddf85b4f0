/*  ctl_door — a run's front door; see ctl_door.h. */
#include "ctl_door.h"
#include "sp_check.h"
#include "sp_url.h"

#include <ctype.h>
#include <string.h>

static const struct {
    const char *name; //  as --door takes it
    Stampede__Door door;
} s_doors[] = {
    {"http", STAMPEDE__DOOR__DOOR_HTTP},
    {"function-url", STAMPEDE__DOOR__DOOR_FUNCTION_URL},
    {"invoke", STAMPEDE__DOOR__DOOR_INVOKE},
    {"apigw-rest", STAMPEDE__DOOR__DOOR_APIGW_REST},
    {"apigw-http", STAMPEDE__DOOR__DOOR_APIGW_HTTP},
    {"apigw", STAMPEDE__DOOR__DOOR_APIGW},
};

#define S_DOOR_COUNT (sizeof s_doors / sizeof s_doors[0])

int
ctl_door_parse(const char *text, int *door)
{
    assert(door);
    if (!text)
        return -1;
    if (strcmp(text, "auto") == 0) {
        *door = CTL_DOOR_AUTO;
        return 0;
    }
    for (size_t i = 0; i < S_DOOR_COUNT; i++)
        if (strcmp(text, s_doors[i].name) == 0 ||
            strcmp(text, proto_door_name(s_doors[i].door)) == 0) {
            *door = (int)s_doors[i].door;
            return 0;
        }
    return -1;
}

const char *
ctl_door_name(int door)
{
    for (size_t i = 0; i < S_DOOR_COUNT; i++)
        if ((int)s_doors[i].door == door)
            return s_doors[i].name;
    return "auto";
}

static bool
s_ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n > m && strcmp(text + n - m, suffix) == 0;
}

//  An AWS endpoint host: REGION.amazonaws.com, or .com.cn in China.
static bool
s_aws_host(const char *host)
{
    return s_ends_with(host, ".amazonaws.com") || s_ends_with(host, ".amazonaws.com.cn");
}

static bool
s_starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

Stampede__Door
ctl_door_resolve(int door, const char *url)
{
    if (door != CTL_DOOR_AUTO)
        return (Stampede__Door)door;
    sp_url_t parts;
    if (!url || sp_url_parse(url, &parts, NULL, 0))
        return STAMPEDE__DOOR__DOOR_HTTP;
    //  DNS names compare without case.
    char host[SP_URL_HOST_MAX + 1];
    size_t n = 0;
    for (; parts.host[n]; n++)
        host[n] = (char)tolower((unsigned char)parts.host[n]);
    host[n] = '\0';
    if (s_ends_with(host, ".on.aws") && strstr(host, ".lambda-url."))
        return STAMPEDE__DOOR__DOOR_FUNCTION_URL;
    if (s_aws_host(host) && strncmp(host, "lambda.", 7) == 0)
        return STAMPEDE__DOOR__DOOR_INVOKE;
    if (s_aws_host(host) && strstr(host, ".execute-api."))
        return STAMPEDE__DOOR__DOOR_APIGW;
    if (s_aws_host(host) || s_ends_with(host, ".on.aws"))
        return STAMPEDE__DOOR__DOOR_HTTP;
    const char *path = parts.path_head;
    if (s_starts_with(path, "/url/"))
        return STAMPEDE__DOOR__DOOR_FUNCTION_URL;
    if (s_starts_with(path, "/restapi/"))
        return STAMPEDE__DOOR__DOOR_APIGW_REST;
    if (s_starts_with(path, "/httpapi/"))
        return STAMPEDE__DOOR__DOOR_APIGW_HTTP;
    if (s_starts_with(path, "/2015-03-31/functions/"))
        return STAMPEDE__DOOR__DOOR_INVOKE;
    return STAMPEDE__DOOR__DOOR_HTTP;
}

void
ctl_door_test(bool verbose)
{
    const struct {
        const char *url;
        const char *door;
    } cases[] = {
        {"https://abcdefghij.lambda-url.us-east-1.on.aws/", "function_url"},
        {"https://ABCDEFGHIJ.LAMBDA-URL.eu-west-1.ON.AWS/x?y=1", "function_url"},
        {"https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/demo/invocations",
         "invoke"},
        {"https://lambda.cn-north-1.amazonaws.com.cn/2015-03-31/functions/d/invocations",
         "invoke"},
        {"https://a1b2c3.execute-api.us-east-1.amazonaws.com/prod/burst", "apigw"},
        {"https://a1b2c3.execute-api.us-east-1.amazonaws.com/restapi/x", "apigw"},
        {"https://s3.amazonaws.com/url/x", "http"},
        {"https://example.on.aws/url/x", "http"},
        {"http://127.0.0.1:9000/url/demo", "function_url"},
        {"http://127.0.0.1:9000/url/demo:live/a/b", "function_url"},
        {"http://127.0.0.1:9000/restapi/demo/prod", "apigw_rest"},
        {"http://[::1]:9000/httpapi/demo", "apigw_http"},
        {"http://localhost:9000/2015-03-31/functions/demo/invocations", "invoke"},
        {"http://127.0.0.1:8080/", "http"},
        {"http://127.0.0.1:8080/urls/x", "http"},
        {"http://127.0.0.1:8080", "http"},
        {"not a url", "http"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (verbose)
            printf("(%s) ", cases[i].url);
        CHECK_STR(proto_door_name(ctl_door_resolve(CTL_DOOR_AUTO, cases[i].url)),
                  cases[i].door);
    }
    //  A named door wins over the URL.
    CHECK_INT(ctl_door_resolve(STAMPEDE__DOOR__DOOR_APIGW_HTTP, "http://127.0.0.1/url/x"),
              STAMPEDE__DOOR__DOOR_APIGW_HTTP);
    CHECK_INT(ctl_door_resolve(CTL_DOOR_AUTO, NULL), STAMPEDE__DOOR__DOOR_HTTP);

    int door = 99;
    CHECK_INT(ctl_door_parse("auto", &door), 0);
    CHECK_INT(door, CTL_DOOR_AUTO);
    CHECK_INT(ctl_door_parse("function-url", &door), 0);
    CHECK_INT(door, STAMPEDE__DOOR__DOOR_FUNCTION_URL);
    CHECK_INT(ctl_door_parse("apigw_rest", &door), 0);
    CHECK_INT(door, STAMPEDE__DOOR__DOOR_APIGW_REST);
    CHECK_INT(ctl_door_parse("http", &door), 0);
    CHECK_INT(door, STAMPEDE__DOOR__DOOR_HTTP);
    CHECK_INT(ctl_door_parse("Invoke", &door), -1);
    CHECK_INT(ctl_door_parse("", &door), -1);
    CHECK_INT(ctl_door_parse(NULL, &door), -1);
    CHECK_INT(door, STAMPEDE__DOOR__DOOR_HTTP);
    CHECK_STR(ctl_door_name(CTL_DOOR_AUTO), "auto");
    CHECK_STR(ctl_door_name(STAMPEDE__DOOR__DOOR_APIGW_HTTP), "apigw-http");
    CHECK_STR(ctl_door_name(42), "auto");
}
