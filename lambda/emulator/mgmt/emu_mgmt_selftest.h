/*  emu_mgmt_selftest — what the management API's selftests share: an
    account of two functions, and the reading of an answer (status, AWS
    error shape, JSON members). Selftest code only: static inline, so a
    module that includes it and does not use a part pays nothing.

    The fixture's account: "demo" (--env GREETING=hi) and "other"
    (--reserved 5), both running the real bootstrap; account limit 1000.
*/
#ifndef EMU_MGMT_SELFTEST_H
#define EMU_MGMT_SELFTEST_H

#include "emu_account.h"
#include "emu_config.h"
#include "emu_loop.h"
#include "emu_reply.h"
#include "sp_check.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMU_MGMT_TEST_ARN "arn:aws:lambda:us-east-1:123456789012:function:"
#define EMU_MGMT_TEST_FN "/2015-03-31/functions/"

typedef struct {
    emu_config_t *config;
    emu_loop_t *loop;
    emu_account_t *account;
} emu_mgmt_fixture_t;

static inline emu_mgmt_fixture_t *
emu_mgmt_fixture_new(void)
{
    emu_mgmt_fixture_t *self = calloc(1, sizeof *self);
    CHECK_NOT_NULL(self);
    self->config = emu_config_new();
    CHECK_NOT_NULL(self->config);
    const char *argv[] = {"stampede-lambda",
                          "--function",
                          "demo=" EMU_TEST_BOOTSTRAP,
                          "--env",
                          "GREETING=hi",
                          "--function",
                          "other=" EMU_TEST_BOOTSTRAP,
                          "--reserved",
                          "5"};
    CHECK_INT(emu_config_parse(self->config, (int)(sizeof argv / sizeof argv[0]),
                               (char **)argv, stderr, stderr),
              EMU_CONFIG_RUN);
    self->loop = emu_loop_new();
    CHECK_NOT_NULL(self->loop);
    char reason[256] = "";
    self->account = emu_account_new(self->loop, self->config, reason, sizeof reason);
    if (!self->account)
        fprintf(stderr, "emu_account_new: %s\n", reason);
    CHECK_NOT_NULL(self->account);
    return self;
}

static inline void
emu_mgmt_fixture_destroy(emu_mgmt_fixture_t **self_p)
{
    emu_mgmt_fixture_t *self = *self_p;
    emu_account_destroy(&self->account);
    emu_loop_destroy(&self->loop);
    emu_config_destroy(&self->config);
    free(self);
    *self_p = NULL;
}

//  Checks `reply` (destroyed here): its status and, for an error (`type`
//  not NULL), x-amzn-ErrorType, the {"Type":"User", message} body (the
//  member "Message" for ResourceNotFoundException, as AWS names it) and,
//  when `message` is not NULL, the message. Returns the parsed body
//  (caller decrefs), or NULL when empty. `what` names the request.
static inline json_t *
emu_mgmt_test_check(emu_reply_t *reply, const char *what, int status, const char *type,
                    const char *message)
{
    if (!reply)
        fprintf(stderr, "no reply for %s\n", what);
    CHECK_NOT_NULL(reply);
    size_t len = 0;
    const char *text = emu_reply_body(reply, &len);
    const char *got_type = emu_reply_header(reply, "x-amzn-ErrorType");
    if (emu_reply_status(reply) != status ||
        (type && (!got_type || strcmp(got_type, type) != 0)))
        fprintf(stderr, "%s -> %d %.*s\n", what, emu_reply_status(reply), (int)len, text);
    CHECK_INT(emu_reply_status(reply), status);
    json_t *doc = NULL;
    if (len > 0) {
        doc = json_loadb(text, len, 0, NULL);
        CHECK_NOT_NULL(doc);
        CHECK_STR(emu_reply_header(reply, "Content-Type"), "application/json");
    }
    if (type) {
        const char *member =
            strcmp(type, "ResourceNotFoundException") == 0 ? "Message" : "message";
        CHECK_STR(got_type, type);
        CHECK_INT(json_object_size(doc), 2);
        CHECK_STR(json_string_value(json_object_get(doc, "Type")), "User");
        CHECK_NOT_NULL(json_string_value(json_object_get(doc, member)));
        if (message)
            CHECK_STR(json_string_value(json_object_get(doc, member)), message);
    } else
        CHECK_NULL(got_type);
    emu_reply_destroy(&reply);
    return doc;
}

//  Member `path` ("a.b.c", array items by index) of `doc`, or NULL.
static inline json_t *
emu_mgmt_test_node(json_t *doc, const char *path)
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s", path);
    json_t *node = doc;
    for (char *part = copy, *dot; node && part; part = dot ? dot + 1 : NULL) {
        dot = strchr(part, '.');
        if (dot)
            *dot = '\0';
        node = json_is_array(node) ? json_array_get(node, strtoul(part, NULL, 10))
                                   : json_object_get(node, part);
    }
    return node;
}

//  String member `path` of `doc`, or NULL.
static inline const char *
emu_mgmt_test_str(json_t *doc, const char *path)
{
    return json_string_value(emu_mgmt_test_node(doc, path));
}

//  Integer member `path` of `doc` (checked to be one).
static inline long long
emu_mgmt_test_int(json_t *doc, const char *path)
{
    json_t *node = emu_mgmt_test_node(doc, path);
    CHECK_TRUE(json_is_integer(node));
    return (long long)json_integer_value(node);
}

#ifdef EMU_MGMT_REQ_H
//  Answers `target` with operation `op` (AWS name `name`; the body parsed
//  when not NULL) as emu_mgmt does once it has routed the request, the
//  function being the third path segment and the alias the fifth, and
//  checks the answer as emu_mgmt_test_check.
static inline json_t *
emu_mgmt_test_op(emu_account_t *account, emu_mgmt_op_fn *op, const char *name,
                 const char *target, const char *body, int status, const char *type,
                 const char *message)
{
    emu_mgmt_req_t *req = emu_mgmt_req_new(account, target);
    CHECK_NOT_NULL(req);
    size_t count = emu_mgmt_req_segment_count(req);
    emu_mgmt_req_set_operation(req, name, count > 2 ? emu_mgmt_req_segment(req, 2) : NULL,
                               count > 4 ? emu_mgmt_req_segment(req, 4) : NULL);
    emu_reply_t *reply =
        emu_mgmt_req_answer(req, op, body != NULL, body, body ? strlen(body) : 0);
    emu_mgmt_req_destroy(&req);
    return emu_mgmt_test_check(reply, target, status, type, message);
}
#endif

#endif
