/*  emu_doorlog — one line of the front door's access log: the answer to
    one request as a JSON object on one line,

      {"received_ns":N,"answered_ns":N,"status":S,"function":"NAME",
       "request_id":"ID","door":"DOOR"[,"delivered":false]}

    fields always in this order, function null when the request named no
    served function, the seventh field only for an answer the client never
    got. Written with one fwrite, so that lines stay whole when several
    writers share the file.

    No state; the file is borrowed. Callable from any thread that owns
    the file.
*/
#ifndef EMU_DOORLOG_H
#define EMU_DOORLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

//  One answer, as the access log records it. Strings are borrowed.
typedef struct {
    int64_t received_ns; //  CLOCK_REALTIME, X-Stampede-Received-Ns
    int64_t answered_ns; //  CLOCK_REALTIME, answer queued (or dropped)
    int status;
    const char *function;   //  NULL: none
    const char *request_id; //  x-amzn-RequestId sent
    const char *door;       //  emu_route_door_name
    bool delivered;         //  false: the client had left
} emu_doorlog_line_t;

//  Appends `line` to `log`. Returns 0, or -1 when it could not be written
//  whole (errno says why when the write failed).
int emu_doorlog_write(FILE *log, const emu_doorlog_line_t *line);

void emu_doorlog_test(bool verbose);

#endif
