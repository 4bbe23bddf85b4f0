/*  emu_reply — an HTTP response under construction; see emu_reply.h. */
#include "emu_reply.h"
#include "sp_check.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *name;
    char *value;
} s_header_t;

struct _emu_reply_t {
    int status; //  100..599
    s_header_t headers[EMU_REPLY_HEADERS_MAX];
    size_t header_count;
    char *body; //  NUL-terminated copy, or NULL when empty
    size_t body_len;
};

emu_reply_t *
emu_reply_new(int status)
{
    assert(status >= 100 && status <= 599);
    emu_reply_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->status = status;
    return self;
}

static void
s_free_header(s_header_t *header)
{
    free(header->name);
    free(header->value);
    header->name = header->value = NULL;
}

void
emu_reply_destroy(emu_reply_t **self_p)
{
    assert(self_p);
    emu_reply_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->header_count; i++)
        s_free_header(&self->headers[i]);
    free(self->body);
    free(self);
    *self_p = NULL;
}

int
emu_reply_status(emu_reply_t *self)
{
    assert(self);
    return self->status;
}

void
emu_reply_set_status(emu_reply_t *self, int status)
{
    assert(self && status >= 100 && status <= 599);
    self->status = status;
}

bool
emu_reply_valid_name(const char *name)
{
    //  RFC 9110 token characters.
    static const char *specials = "!#$%&'*+-.^_`|~";
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > EMU_REPLY_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || strchr(specials, c) != NULL;
        if (!ok)
            return false;
    }
    return true;
}

bool
emu_reply_valid_value(const char *value)
{
    return value && strlen(value) <= EMU_REPLY_VALUE_MAX && !strpbrk(value, "\r\n");
}

int
emu_reply_add_header(emu_reply_t *self, const char *name, const char *value)
{
    assert(self);
    if (!emu_reply_valid_name(name) || !emu_reply_valid_value(value) ||
        self->header_count == EMU_REPLY_HEADERS_MAX)
        return -1;
    s_header_t header = {.name = strdup(name), .value = strdup(value)};
    if (!header.name || !header.value) {
        s_free_header(&header);
        return -1;
    }
    self->headers[self->header_count++] = header;
    return 0;
}

int
emu_reply_set_header(emu_reply_t *self, const char *name, const char *value)
{
    assert(self);
    if (!emu_reply_valid_name(name) || !emu_reply_valid_value(value))
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < self->header_count; i++) {
        if (strcasecmp(self->headers[i].name, name) == 0)
            s_free_header(&self->headers[i]);
        else
            self->headers[kept++] = self->headers[i];
    }
    self->header_count = kept;
    return emu_reply_add_header(self, name, value);
}

const char *
emu_reply_header(emu_reply_t *self, const char *name)
{
    assert(self && name);
    for (size_t i = 0; i < self->header_count; i++)
        if (strcasecmp(self->headers[i].name, name) == 0)
            return self->headers[i].value;
    return NULL;
}

size_t
emu_reply_header_count(emu_reply_t *self)
{
    assert(self);
    return self->header_count;
}

int
emu_reply_set_body(emu_reply_t *self, const void *data, size_t len)
{
    assert(self && (data || len == 0));
    if (len > EMU_REPLY_BODY_MAX)
        return -1;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    free(self->body);
    self->body = copy;
    self->body_len = len;
    return 0;
}

int
emu_reply_set_json(emu_reply_t *self, const json_t *doc)
{
    assert(self && doc);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return -1;
    int rc = emu_reply_set_body(self, text, strlen(text));
    free(text);
    if (rc == 0)
        rc = emu_reply_set_header(self, "Content-Type", "application/json");
    return rc;
}

const char *
emu_reply_body(emu_reply_t *self, size_t *len_p)
{
    assert(self);
    if (len_p)
        *len_p = self->body_len;
    return self->body ? self->body : "";
}

struct MHD_Response *
emu_reply_to_mhd(emu_reply_t *self)
{
    assert(self);
    struct MHD_Response *response = MHD_create_response_from_buffer(
        self->body_len, self->body ? self->body : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!response)
        return NULL;
    //  Headers were validated when added; MHD refuses only those it owns
    //  (Content-Length...) and empty values, which are left out.
    for (size_t i = 0; i < self->header_count; i++)
        MHD_add_response_header(response, self->headers[i].name, self->headers[i].value);
    return response;
}

enum MHD_Result
emu_reply_queue(emu_reply_t *self, struct MHD_Connection *connection)
{
    assert(self && connection);
    struct MHD_Response *response = emu_reply_to_mhd(self);
    if (!response)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response(connection, (unsigned)self->status, response);
    MHD_destroy_response(response);
    return rc;
}

void
emu_reply_test(bool verbose)
{
    emu_reply_t *reply = emu_reply_new(200);
    CHECK_NOT_NULL(reply);
    CHECK_INT(emu_reply_status(reply), 200);
    emu_reply_set_status(reply, 429);
    CHECK_INT(emu_reply_status(reply), 429);
    size_t len = 99;
    CHECK_STR(emu_reply_body(reply, &len), "");
    CHECK_INT(len, 0);

    CHECK_INT(emu_reply_add_header(reply, "x-amzn-ErrorType", "TooManyRequestsException"),
              0);
    CHECK_INT(emu_reply_add_header(reply, "Set-Cookie", "a=1"), 0);
    CHECK_INT(emu_reply_add_header(reply, "Set-Cookie", "b=2"), 0);
    CHECK_INT(emu_reply_header_count(reply), 3);
    CHECK_STR(emu_reply_header(reply, "X-AMZN-ERRORTYPE"), "TooManyRequestsException");
    CHECK_STR(emu_reply_header(reply, "set-cookie"), "a=1");
    CHECK_NULL(emu_reply_header(reply, "missing"));
    CHECK_INT(emu_reply_set_header(reply, "set-cookie", "c=3"), 0);
    CHECK_INT(emu_reply_header_count(reply), 2);
    CHECK_STR(emu_reply_header(reply, "Set-Cookie"), "c=3");

    //  Nothing can inject a header or split the response.
    CHECK_INT(emu_reply_add_header(reply, "X-A", "x\r\nInjected: 1"), -1);
    CHECK_INT(emu_reply_add_header(reply, "X-A", "x\n"), -1);
    CHECK_INT(emu_reply_add_header(reply, "X A", "x"), -1);
    CHECK_INT(emu_reply_add_header(reply, "X-A:", "x"), -1);
    CHECK_INT(emu_reply_add_header(reply, "", "x"), -1);
    CHECK_INT(emu_reply_add_header(reply, NULL, "x"), -1);
    CHECK_INT(emu_reply_add_header(reply, "X-A", NULL), -1);
    CHECK_INT(emu_reply_set_header(reply, "X-A\r", "x"), -1);
    CHECK_TRUE(emu_reply_valid_name("x-amz_~!#$%&'*+.^`|"));
    CHECK_TRUE(emu_reply_valid_value(""));
    char *huge = malloc(EMU_REPLY_VALUE_MAX + 2);
    memset(huge, 'v', EMU_REPLY_VALUE_MAX + 1);
    huge[EMU_REPLY_VALUE_MAX + 1] = '\0';
    CHECK_INT(emu_reply_add_header(reply, "X-Big", huge), -1);
    huge[EMU_REPLY_VALUE_MAX] = '\0';
    CHECK_INT(emu_reply_add_header(reply, "X-Big", huge), 0);
    free(huge);
    CHECK_INT(emu_reply_header_count(reply), 3);
    while (emu_reply_header_count(reply) < EMU_REPLY_HEADERS_MAX)
        CHECK_INT(emu_reply_add_header(reply, "X-Many", "1"), 0);
    CHECK_INT(emu_reply_add_header(reply, "X-Many", "1"), -1);
    CHECK_INT(emu_reply_set_header(reply, "X-Many", "only"), 0);
    CHECK_INT(emu_reply_header_count(reply), 4);

    //  Bodies: binary-safe copies, capped.
    CHECK_INT(emu_reply_set_body(reply, "a\0b", 3), 0);
    const char *body = emu_reply_body(reply, &len);
    CHECK_INT(len, 3);
    CHECK_TRUE(memcmp(body, "a\0b", 4) == 0);
    CHECK_INT(emu_reply_set_body(reply, "x", EMU_REPLY_BODY_MAX + 1), -1);
    CHECK_INT(emu_reply_set_body(reply, NULL, 0), 0);
    CHECK_STR(emu_reply_body(reply, NULL), "");
    json_t *doc = json_pack("{s:s}", "Message", "Rate Exceeded.");
    CHECK_INT(emu_reply_set_json(reply, doc), 0);
    json_decref(doc);
    CHECK_STR(emu_reply_body(reply, NULL), "{\"Message\":\"Rate Exceeded.\"}");
    CHECK_STR(emu_reply_header(reply, "content-type"), "application/json");

    CHECK_INT(emu_reply_add_header(reply, "X-Empty", ""), 0);
    struct MHD_Response *response = emu_reply_to_mhd(reply);
    CHECK_NOT_NULL(response);
    CHECK_STR(MHD_get_response_header(response, "x-amzn-ErrorType"),
              "TooManyRequestsException");
    CHECK_STR(MHD_get_response_header(response, "Set-Cookie"), "c=3");
    CHECK_NULL(MHD_get_response_header(response, "X-Empty"));
    MHD_destroy_response(response);
    emu_reply_destroy(&reply);
    CHECK_NULL(reply);
    emu_reply_destroy(&reply);
    (void)verbose;
}
