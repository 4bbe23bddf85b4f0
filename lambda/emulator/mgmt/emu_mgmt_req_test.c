/*  emu_mgmt_req_test — emu_mgmt_req's selftest, in a file of its own
    (built into the selftest runner only); it uses the public API only.
*/
#include "emu_mgmt_req.h"
#include "emu_mgmt_selftest.h"
#include "emu_route.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  An operation that reads the body's members as the real ones do.
static emu_reply_t *
s_test_op(emu_mgmt_req_t *req)
{
    const char *text = NULL;
    bool present = false;
    long long number = 0;
    if (emu_mgmt_req_body_string(req, "Text", &text) != 0 ||
        emu_mgmt_req_body_int(req, "Number", &present, &number) != 0)
        return emu_mgmt_req_error_reply(req);
    emu_mgmt_req_check_null(req, "number", present);
    if (present)
        emu_mgmt_req_check_range(req, "number", number, 1, 10);
    emu_mgmt_req_check_description(req, text);
    if (emu_mgmt_req_invalid(req))
        return emu_mgmt_req_error_reply(req);
    return emu_mgmt_shape_reply(
        200, json_pack("{s:s?, s:I}", "Text", text, "Number", (json_int_t)number));
}

//  A request for `target` named as the router would name GetFunction.
static emu_mgmt_req_t *
s_test_req(emu_account_t *account, const char *target)
{
    emu_mgmt_req_t *req = emu_mgmt_req_new(account, target);
    CHECK_NOT_NULL(req);
    CHECK_TRUE(!emu_mgmt_req_failed(req));
    emu_mgmt_req_set_operation(req, "GetFunction", emu_mgmt_req_segment(req, 2), NULL);
    return req;
}

void
emu_mgmt_req_test(bool verbose)
{
    emu_mgmt_fixture_t *fixture = emu_mgmt_fixture_new();
    emu_account_t *account = fixture->account;

    //  Segments decoded one by one; query pairs with '+' and %XX.
    emu_mgmt_req_t *req = emu_mgmt_req_new(
        account,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3A"
        "function%3Ademo%3Alive/configuration/?Qualifier=a+b%21&Empty&=v&x=1&x=2");
    CHECK_NOT_NULL(req);
    CHECK_INT(emu_mgmt_req_segment_count(req), 4);
    CHECK_STR(emu_mgmt_req_segment(req, 0), "2015-03-31");
    CHECK_STR(emu_mgmt_req_segment(req, 2),
              "arn:aws:lambda:us-east-1:123456789012:function:demo:live");
    CHECK_STR(emu_mgmt_req_segment(req, 3), "configuration");
    CHECK_STR(emu_mgmt_req_query(req, "Qualifier"), "a b!");
    CHECK_STR(emu_mgmt_req_query(req, "Empty"), "");
    CHECK_STR(emu_mgmt_req_query(req, ""), "v");
    CHECK_STR(emu_mgmt_req_query(req, "x"), "1");
    CHECK_NULL(emu_mgmt_req_query(req, "y"));
    emu_mgmt_req_set_operation(req, "GetFunctionConfiguration",
                               emu_mgmt_req_segment(req, 2), NULL);
    CHECK_TRUE(emu_mgmt_req_account(req) == account);
    CHECK_NULL(emu_mgmt_req_alias_name(req));
    //  The qualifier the name carries; a different Qualifier is refused.
    const char *qualifier = NULL;
    emu_mgmt_req_check_function_name(req, true);
    CHECK_TRUE(!emu_mgmt_req_invalid(req));
    CHECK_NULL(emu_mgmt_req_function(req, "prod", &qualifier));
    CHECK_STR(emu_mgmt_req_err(req)->type, "InvalidParameterValueException");
    emu_mgmt_req_destroy(&req);
    emu_mgmt_req_destroy(&req);
    CHECK_NULL(req);

    //  Caps on the target: the request is failed with AWS's error.
    req = emu_mgmt_req_new(account, "/2015-03-31/a/b/c/d/e/f/g/h");
    CHECK_TRUE(emu_mgmt_req_failed(req));
    json_decref(emu_mgmt_test_check(emu_mgmt_req_error_reply(req), "9 segments", 404,
                                    "UnknownOperationException", "Unknown operation"));
    emu_mgmt_req_destroy(&req);

    //  Bodies: not JSON, not an object, wrong types, checks together.
    const struct {
        const char *body;
        int status;
        const char *type;
        const char *message;
    } bodies[] = {
        {"{\"Number\":3,\"Text\":\"t\"}", 200, NULL, NULL},
        {" \r\n", 400, "ValidationException",
         "1 validation error detected: Value null at 'number' failed to satisfy "
         "constraint: Member must not be null"},
        {"{\"Number\":0,\"Text\":null}", 400, "ValidationException",
         "1 validation error detected: Value '0' at 'number' failed to satisfy "
         "constraint: Member must have value greater than or equal to 1"},
        {"{\"Number\":3,\"Text\":7}", 400, "InvalidRequestContentException",
         "Could not parse request body into json: member 'Text' must be a string"},
        {"[1]", 400, "InvalidRequestContentException",
         "Could not parse request body into json: the body must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        req = s_test_req(account, "/2015-03-31/functions/demo");
        emu_reply_t *reply = emu_mgmt_req_answer(req, s_test_op, true, bodies[i].body,
                                                 strlen(bodies[i].body));
        json_decref(emu_mgmt_test_check(reply, bodies[i].body, bodies[i].status,
                                        bodies[i].type, bodies[i].message));
        emu_mgmt_req_destroy(&req);
    }

    //  Every check at once, in AWS's words and order; text quoted.
    req = s_test_req(account, "/2015-03-31/functions/b%C3%A4d?MaxItems=0&Marker=x");
    emu_mgmt_page_t page;
    emu_mgmt_req_page(req, 50, &page);
    CHECK_INT(page.limit, 1);
    CHECK_NULL(page.list);
    emu_mgmt_req_check_function_name(req, false);
    CHECK_TRUE(emu_mgmt_req_invalid(req));
    CHECK_NULL(emu_mgmt_req_unqualified(req, false));
    const char *message = emu_mgmt_req_err(req)->message;
    CHECK_TRUE(strncmp(message, "3 validation errors detected: Value '0' at 'maxItems'",
                       53) == 0);
    CHECK_TRUE(strstr(message, "; Value 'x' at 'marker' failed to satisfy constraint: "
                               "Member must be a marker from a previous page "
                               "(NextMarker); Value 'b??d' at 'functionName'") != NULL);
    emu_mgmt_req_destroy(&req);
    req = s_test_req(account, "/2015-03-31/functions/demo");
    emu_mgmt_req_check_qualifier(req, "");
    emu_mgmt_req_check_alias(req, "42");
    emu_mgmt_req_check_version(req, "v");
    emu_mgmt_req_check_region(req, "ALL");
    emu_mgmt_req_violation_value(req, "x", "y", "z");
    CHECK_TRUE(emu_mgmt_req_invalid(req));
    message = emu_mgmt_req_err(req)->message;
    CHECK_TRUE(strncmp(message, "4 validation errors detected: Value '' at 'qualifier'",
                       53) == 0);
    CHECK_TRUE(strstr(message, "; Value '42' at 'name' failed to satisfy constraint: "
                               "Member must satisfy regular expression pattern: "
                               "(?!^[0-9]+$)([a-zA-Z0-9-_]+); Value 'v' at "
                               "'functionVersion'") != NULL);
    CHECK_TRUE(strstr(message, "; Value 'y' at 'x' failed to satisfy constraint: z") !=
               NULL);
    emu_mgmt_req_destroy(&req);
    req = s_test_req(account, "/2015-03-31/functions/demo?MaxItems=7&Marker=3");
    emu_mgmt_req_page(req, 50, &page);
    CHECK_INT(page.limit, 7);
    CHECK_INT(page.start, 3);

    //  Lookups: unqualified names only where the operation says so.
    CHECK_NOT_NULL(emu_mgmt_req_unqualified(req, false));
    CHECK_NOT_NULL(emu_mgmt_req_function(req, NULL, &qualifier));
    CHECK_STR(qualifier, "");
    CHECK_INT(emu_mgmt_req_check_revision(req, "r1", "r1"), 0);
    CHECK_INT(emu_mgmt_req_check_revision(req, "r0", "r1"), -1);
    CHECK_INT(emu_mgmt_req_err(req)->status, 412);
    emu_mgmt_req_destroy(&req);
    req = s_test_req(account, "/2015-03-31/functions/demo%3A%24LATEST");
    CHECK_NOT_NULL(emu_mgmt_req_unqualified(req, true));
    CHECK_NULL(emu_mgmt_req_unqualified(req, false));
    CHECK_STR(emu_mgmt_req_err(req)->message,
              "GetFunction does not accept a qualified function name (qualifier "
              "'$LATEST').");
    CHECK_NOT_NULL(emu_mgmt_req_function(req, "$LATEST", &qualifier));
    CHECK_STR(qualifier, "$LATEST");
    emu_mgmt_req_destroy(&req);

    //  Quoting: printable ASCII, at most EMU_MGMT_REQ_QUOTE_MAX bytes then "...".
    char quoted[EMU_MGMT_REQ_QUOTE_MAX + 8], long_text[300] = "a\x01\xc3\xa4z";
    emu_mgmt_req_quote(long_text, quoted, sizeof quoted);
    CHECK_STR(quoted, "a???z");
    memset(long_text, 'q', sizeof long_text - 1);
    emu_mgmt_req_quote(long_text, quoted, sizeof quoted);
    CHECK_STR(quoted + EMU_MGMT_REQ_QUOTE_MAX - 1, "q...");

    if (verbose)
        printf("requests read and checked as AWS does; ");
    emu_mgmt_fixture_destroy(&fixture);
}
