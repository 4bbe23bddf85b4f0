/*  emu_doorbody — a request body, kept or drained; see emu_doorbody.h. */
#include "emu_doorbody.h"
#include "sp_check.h"
#include "sp_clock.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct _emu_doorbody_t {
    size_t max;          //  the door's limit: most bytes kept
    char *data;          //  kept bytes; NULL when none or too large
    size_t len;          //  bytes kept
    size_t cap;          //  bytes allocated
    size_t received;     //  bytes received, kept or drained (or declared, refused)
    bool too_large;      //  over the limit: draining
    int64_t drain_start; //  CLOCK_MONOTONIC ns when draining started
};

emu_doorbody_t *
emu_doorbody_new(size_t max)
{
    emu_doorbody_t *self = calloc(1, sizeof *self);
    if (self)
        self->max = max;
    return self;
}

void
emu_doorbody_destroy(emu_doorbody_t **self_p)
{
    assert(self_p);
    emu_doorbody_t *self = *self_p;
    if (!self)
        return;
    free(self->data);
    free(self);
    *self_p = NULL;
}

//  Over the limit: drop what was kept, drain from `now_ns`.
static void
s_overflow(emu_doorbody_t *self, int64_t now_ns)
{
    if (self->too_large)
        return;
    self->too_large = true;
    self->drain_start = now_ns;
    free(self->data);
    self->data = NULL;
    self->len = self->cap = 0;
}

emu_doorbody_verdict_t
emu_doorbody_declare(emu_doorbody_t *self, const char *declared, int64_t now_ns)
{
    assert(self);
    if (!declared)
        return EMU_DOORBODY_READ;
    char *end = NULL;
    errno = 0;
    unsigned long long length = strtoull(declared, &end, 10);
    if (errno || end == declared || *end || length <= self->max)
        return EMU_DOORBODY_READ; //  MHD checks the framing; the bytes count
    s_overflow(self, now_ns);
    if (length <= EMU_DOORBODY_DRAIN_MAX)
        return EMU_DOORBODY_READ;
    self->received = length > SIZE_MAX ? SIZE_MAX : (size_t)length;
    return EMU_DOORBODY_REFUSE;
}

emu_doorbody_verdict_t
emu_doorbody_append(emu_doorbody_t *self, const char *data, size_t len, int64_t now_ns)
{
    assert(self && (data || len == 0));
    self->received = len > SIZE_MAX - self->received ? SIZE_MAX : self->received + len;
    if (!self->too_large && self->len + len > self->max)
        s_overflow(self, now_ns);
    if (self->too_large) {
        if (self->received > EMU_DOORBODY_DRAIN_MAX ||
            now_ns - self->drain_start > (int64_t)EMU_DOORBODY_DRAIN_S * SP_NS_PER_S)
            return EMU_DOORBODY_REFUSE;
        return EMU_DOORBODY_READ;
    }
    if (self->len + len > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->len + len)
            cap *= 2;
        char *grown = realloc(self->data, cap);
        if (!grown)
            return EMU_DOORBODY_FAILED;
        self->data = grown;
        self->cap = cap;
    }
    memcpy(self->data + self->len, data, len);
    self->len += len;
    return EMU_DOORBODY_READ;
}

bool
emu_doorbody_too_large(emu_doorbody_t *self)
{
    assert(self);
    return self->too_large;
}

const char *
emu_doorbody_data(emu_doorbody_t *self, size_t *len_p)
{
    assert(self && len_p);
    *len_p = self->len;
    return self->data ? self->data : "";
}

size_t
emu_doorbody_length(emu_doorbody_t *self)
{
    assert(self);
    return self->received;
}

//  --- selftest -----------------------------------------------------------

void
emu_doorbody_test(bool verbose)
{
    (void)verbose;
    //  Within the limit: kept whole, across chunks.
    emu_doorbody_t *body = emu_doorbody_new(8);
    CHECK_NOT_NULL(body);
    size_t len = 99;
    CHECK_STR(emu_doorbody_data(body, &len), "");
    CHECK_INT(len, 0);
    CHECK_INT(emu_doorbody_declare(body, NULL, 0), EMU_DOORBODY_READ);
    CHECK_INT(emu_doorbody_declare(body, "8", 0), EMU_DOORBODY_READ);
    CHECK_INT(emu_doorbody_append(body, "abcd", 4, 0), EMU_DOORBODY_READ);
    CHECK_INT(emu_doorbody_append(body, "efgh", 4, 0), EMU_DOORBODY_READ);
    const char *data = emu_doorbody_data(body, &len);
    CHECK_INT(len, 8);
    CHECK_TRUE(memcmp(data, "abcdefgh", 8) == 0);
    CHECK_TRUE(!emu_doorbody_too_large(body));
    CHECK_INT(emu_doorbody_length(body), 8);
    //  One byte more: drained, nothing kept, every byte counted.
    CHECK_INT(emu_doorbody_append(body, "i", 1, 0), EMU_DOORBODY_READ);
    CHECK_TRUE(emu_doorbody_too_large(body));
    CHECK_STR(emu_doorbody_data(body, &len), "");
    CHECK_INT(len, 0);
    CHECK_INT(emu_doorbody_append(body, "jk", 2, SP_NS_PER_S), EMU_DOORBODY_READ);
    CHECK_INT(emu_doorbody_length(body), 11);
    //  The time bound, counted from the first byte over the limit.
    CHECK_INT(
        emu_doorbody_append(body, "l", 1, (int64_t)EMU_DOORBODY_DRAIN_S * SP_NS_PER_S),
        EMU_DOORBODY_READ);
    CHECK_INT(emu_doorbody_append(body, "m", 1,
                                  (int64_t)EMU_DOORBODY_DRAIN_S * SP_NS_PER_S + 1),
              EMU_DOORBODY_REFUSE);
    emu_doorbody_destroy(&body);
    CHECK_NULL(body);
    emu_doorbody_destroy(&body);

    //  Declared over the limit: drained from the start; declared past the
    //  drain cap: refused unread. Malformed lengths are left to MHD.
    body = emu_doorbody_new(EMU_LIMIT_PAYLOAD_MAX);
    CHECK_INT(emu_doorbody_declare(body, "x1", 0), EMU_DOORBODY_READ);
    CHECK_TRUE(!emu_doorbody_too_large(body));
    CHECK_INT(emu_doorbody_declare(body, "7000000", 0), EMU_DOORBODY_READ);
    CHECK_TRUE(emu_doorbody_too_large(body));
    CHECK_INT(emu_doorbody_append(body, "x", 1, 0), EMU_DOORBODY_READ);
    CHECK_INT(emu_doorbody_length(body), 1);
    emu_doorbody_destroy(&body);
    body = emu_doorbody_new(EMU_LIMIT_PAYLOAD_MAX);
    CHECK_INT(emu_doorbody_declare(body, "100000000", 0), EMU_DOORBODY_REFUSE);
    CHECK_TRUE(emu_doorbody_too_large(body));
    CHECK_INT(emu_doorbody_length(body), 100000000);
    emu_doorbody_destroy(&body);

    //  The byte cap on a body sent without a declared length.
    body = emu_doorbody_new(16);
    size_t chunk = 1 << 20;
    char *bytes = calloc(1, chunk);
    CHECK_NOT_NULL(bytes);
    size_t sent = 0;
    emu_doorbody_verdict_t verdict = EMU_DOORBODY_READ;
    while (verdict == EMU_DOORBODY_READ) {
        verdict = emu_doorbody_append(body, bytes, chunk, 0);
        sent += chunk;
    }
    CHECK_INT(verdict, EMU_DOORBODY_REFUSE);
    CHECK_TRUE(sent > EMU_DOORBODY_DRAIN_MAX && sent <= EMU_DOORBODY_DRAIN_MAX + chunk);
    free(bytes);
    emu_doorbody_destroy(&body);
}
