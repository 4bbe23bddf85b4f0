/*  sp_id — random identifiers; see sp_id.h. */
#include "sp_id.h"
#include "sp_check.h"

#include <errno.h>
#include <sys/random.h>

int
sp_id_random(void *buf, size_t len)
{
    unsigned char *bytes = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(bytes + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

int
sp_id_uuid4(char out[SP_ID_UUID_SIZE])
{
    unsigned char b[16];
    out[0] = '\0';
    if (sp_id_random(b, sizeof b))
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); //  version 4
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); //  variant 10
    snprintf(out, SP_ID_UUID_SIZE,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return 0;
}

int
sp_id_hex(char *out, size_t bytes)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char b[64];
    assert(out && bytes <= sizeof b);
    out[0] = '\0';
    if (sp_id_random(b, bytes))
        return -1;
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 0x0f];
    }
    out[2 * bytes] = '\0';
    return 0;
}

void
sp_id_test(bool verbose)
{
    char id[SP_ID_UUID_SIZE], other[SP_ID_UUID_SIZE];
    for (int round = 0; round < 100; round++) {
        CHECK_INT(sp_id_uuid4(id), 0);
        CHECK_INT(sp_id_uuid4(other), 0);
        CHECK_INT(strlen(id), 36);
        CHECK_TRUE(strcmp(id, other) != 0);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                CHECK_INT(id[i], '-');
            else
                CHECK_TRUE(strchr("0123456789abcdef", id[i]) != NULL);
        }
        CHECK_INT(id[14], '4');
        CHECK_TRUE(strchr("89ab", id[19]) != NULL);
    }
    if (verbose)
        printf("uuid: %s\n", id);

    char hex[17], hex2[17];
    CHECK_INT(sp_id_hex(hex, 8), 0);
    CHECK_INT(sp_id_hex(hex2, 8), 0);
    CHECK_INT(strlen(hex), 16);
    CHECK_INT(strspn(hex, "0123456789abcdef"), 16);
    CHECK_TRUE(strcmp(hex, hex2) != 0);
    CHECK_INT(sp_id_hex(hex, 0), 0);
    CHECK_STR(hex, "");

    unsigned char zero[32] = {0}, bytes[32] = {0};
    CHECK_INT(sp_id_random(bytes, sizeof bytes), 0);
    CHECK_TRUE(memcmp(bytes, zero, sizeof bytes) != 0);
    CHECK_INT(sp_id_random(bytes, 0), 0);
}
