/*  emu_doorlog — an access-log line; see emu_doorlog.h. */
#include "emu_doorlog.h"
#include "sp_check.h"

#include <assert.h>
#include <jansson.h>
#include <string.h>

//  One line: seven fields, the longest a 36-byte request id and a 64-byte
//  function name, JSON-escaped. Far more than enough.
#define S_LINE_MAX 512

int
emu_doorlog_write(FILE *log, const emu_doorlog_line_t *line)
{
    assert(log && line && line->request_id && line->door);
    json_t *doc = json_pack(
        "{s:I,s:I,s:i,s:s?,s:s,s:s}", "received_ns", (json_int_t)line->received_ns,
        "answered_ns", (json_int_t)line->answered_ns, "status", line->status, "function",
        line->function, "request_id", line->request_id, "door", line->door);
    if (doc && !line->delivered && json_object_set_new(doc, "delivered", json_false())) {
        json_decref(doc);
        doc = NULL;
    }
    char text[S_LINE_MAX];
    size_t len =
        doc ? json_dumpb(doc, text, sizeof text - 1, JSON_COMPACT | JSON_PRESERVE_ORDER)
            : 0;
    json_decref(doc);
    if (len == 0 || len >= sizeof text - 1)
        return -1;
    text[len++] = '\n';
    return fwrite(text, 1, len, log) == len ? 0 : -1;
}

//  --- selftest -----------------------------------------------------------

void
emu_doorlog_test(bool verbose)
{
    (void)verbose;
    FILE *log = tmpfile();
    CHECK_NOT_NULL(log);
    emu_doorlog_line_t line = {.received_ns = INT64_C(1700000000000000001),
                               .answered_ns = INT64_C(1700000000000000002),
                               .status = 200,
                               .function = "demo",
                               .request_id = "11111111-2222-4333-8444-555555555555",
                               .door = "url",
                               .delivered = true};
    CHECK_INT(emu_doorlog_write(log, &line), 0);
    line.function = NULL;
    line.status = 504;
    line.door = "restapi";
    line.delivered = false;
    CHECK_INT(emu_doorlog_write(log, &line), 0);
    //  A name that does not fit a line is not written, never cut.
    char long_name[600];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    line.function = long_name;
    CHECK_INT(emu_doorlog_write(log, &line), -1);
    rewind(log);
    char text[1024];
    CHECK_NOT_NULL(fgets(text, sizeof text, log));
    CHECK_STR(text, "{\"received_ns\":1700000000000000001,\"answered_ns\":"
                    "1700000000000000002,\"status\":200,\"function\":\"demo\","
                    "\"request_id\":\"11111111-2222-4333-8444-555555555555\","
                    "\"door\":\"url\"}\n");
    CHECK_NOT_NULL(fgets(text, sizeof text, log));
    CHECK_STR(text, "{\"received_ns\":1700000000000000001,\"answered_ns\":"
                    "1700000000000000002,\"status\":504,\"function\":null,"
                    "\"request_id\":\"11111111-2222-4333-8444-555555555555\","
                    "\"door\":\"restapi\",\"delivered\":false}\n");
    CHECK_NULL(fgets(text, sizeof text, log));
    fclose(log);
}
