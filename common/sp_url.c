/*  sp_url — target URL checks through curl_url; see sp_url.h. */
#include "sp_url.h"
#include "sp_check.h"
#include "sp_err.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
sp_url_parse(const char *url, sp_url_t *out, char *err, size_t err_size)
{
    assert(out);
    memset(out, 0, sizeof *out);
    int rc = -1;
    CURLU *parsed = NULL;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    if (!url || !*url) {
        sp_err_set(err, err_size, "URL is empty");
        goto out;
    }
    parsed = curl_url();
    if (!parsed) {
        sp_err_set(err, err_size, "out of memory");
        goto out;
    }
    CURLUcode code = curl_url_set(parsed, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (code == CURLUE_NO_HOST) {
        sp_err_set(err, err_size, "URL has no host");
        goto out;
    }
    if (code != CURLUE_OK) {
        sp_err_set(err, err_size, "URL does not parse: %s", curl_url_strerror(code));
        goto out;
    }
    if (curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        sp_err_set(err, err_size, "URL must start with http:// or https://");
        goto out;
    }
    out->https = strcasecmp(scheme, "https") == 0;
    if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        sp_err_set(err, err_size, "URL has no host");
        goto out;
    }
    if (strlen(host) > SP_URL_HOST_MAX) {
        sp_err_set(err, err_size, "URL host is too long");
        goto out;
    }
    memcpy(out->host, host, strlen(host) + 1);
    if (curl_url_get(parsed, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        sp_err_set(err, err_size, "URL has no port");
        goto out;
    }
    //  curl has range-checked the port (1..65535) and the default is 80/443.
    out->port = (uint16_t)strtol(port, NULL, 10);
    if (curl_url_get(parsed, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        sp_err_set(err, err_size, "URL has no path");
        goto out;
    }
    snprintf(out->path_head, sizeof out->path_head, "%s", path);
    rc = 0;
out:
    curl_free(path);
    curl_free(port);
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(parsed);
    return rc;
}

//  Parses `url` and expects failure with `reason`.
static void
s_expect_fail(const char *url, const char *reason)
{
    sp_url_t parts;
    char err[160] = "";
    CHECK_INT(sp_url_parse(url, &parts, err, sizeof err), -1);
    CHECK_STR(err, reason);
}

void
sp_url_test(bool verbose)
{
    sp_url_t parts;
    char err[160];
    CHECK_INT(sp_url_parse("http://127.0.0.1:9000/url/demo/", &parts, err, sizeof err),
              0);
    CHECK_INT(parts.https, false);
    CHECK_STR(parts.host, "127.0.0.1");
    CHECK_INT(parts.port, 9000);
    CHECK_STR(parts.path_head, "/url/demo/");
    //  The path's head only; no path is "/".
    CHECK_INT(sp_url_parse("http://h/2015-03-31/functions/"
                           "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3A"
                           "demo/invocations?Qualifier=live",
                           &parts, err, sizeof err),
              0);
    CHECK_STR(parts.path_head,
              "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A12345678");
    CHECK_INT(sp_url_parse("http://h", &parts, err, sizeof err), 0);
    CHECK_STR(parts.path_head, "/");
    CHECK_INT(
        sp_url_parse("HTTPS://Abc.lambda-url.us-east-1.on.aws/", &parts, err, sizeof err),
        0);
    CHECK_INT(parts.https, true);
    CHECK_STR(parts.host, "Abc.lambda-url.us-east-1.on.aws"); //  case kept
    CHECK_INT(parts.port, 443);
    CHECK_INT(sp_url_parse("Http://[::1]/x", &parts, err, sizeof err), 0);
    CHECK_STR(parts.host, "[::1]");
    CHECK_INT(parts.port, 80);
    //  curl's normalisation is what we check: userinfo is not the host,
    //  numeric shorthands become dotted quads, %2e stays in the host.
    CHECK_INT(sp_url_parse("http://user:pw@example.com:8080/", &parts, err, sizeof err),
              0);
    CHECK_STR(parts.host, "example.com");
    CHECK_INT(parts.port, 8080);
    CHECK_INT(sp_url_parse("http://0x7f.1/", &parts, err, sizeof err), 0);
    CHECK_STR(parts.host, "127.0.0.1");
    CHECK_INT(sp_url_parse("http://127.0.0.1%2eevil.example/x", &parts, err, sizeof err),
              0);
    CHECK_STR(parts.host, "127.0.0.1.evil.example");

    s_expect_fail("", "URL is empty");
    if (verbose)
        printf("checking failures\n");
    s_expect_fail(NULL, "URL is empty");
    s_expect_fail("ftp://example.com/", "URL must start with http:// or https://");
    s_expect_fail("gopher://example.com/", "URL must start with http:// or https://");
    s_expect_fail("http://", "URL has no host");
    //  curl reads "http:///path" as host "path"; what it connects to is
    //  what we report.
    CHECK_INT(sp_url_parse("http:///path", &parts, err, sizeof err), 0);
    CHECK_STR(parts.host, "path");
    sp_url_t unset;
    CHECK_INT(sp_url_parse("http://example.com:99999/", &unset, err, sizeof err), -1);
    CHECK_TRUE(strncmp(err, "URL does not parse: ", 20) == 0);
    CHECK_INT(sp_url_parse("http://exa mple.com/", &unset, NULL, 0), -1);
    if (verbose)
        printf("last reason: %s\n", err);
}
