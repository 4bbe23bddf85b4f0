/*  emu_invocation — one synchronous invocation of a function: the request
    id, the event, and, once it is over, its outcome and payload.

    Owned by the front door that received the request. While dispatched, an
    execution environment holds a borrowed pointer; it hands the invocation
    back exactly once with emu_invocation_complete (or _fail), which records
    the outcome, nulls the environment's pointer and calls the owner's done
    callback (the owner may destroy the invocation inside it). The outcome
    is protocol-neutral; each front door maps it to its own HTTP answer.

    Thread model: owned by one thread (the emulator loop).
*/
#ifndef EMU_INVOCATION_H
#define EMU_INVOCATION_H

#include "sp_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Length of a request id ("8-4-4-4-12" hex digits) plus NUL.
#define EMU_INVOCATION_ID_SIZE SP_ID_UUID_SIZE
//  Bytes of the function's log kept per invocation (the last ones): what
//  the Invoke API returns base64-encoded in X-Amz-Log-Result.
#define EMU_INVOCATION_LOG_MAX 4096
//  Longest version string ("$LATEST" or a number).
#define EMU_INVOCATION_VERSION_MAX 16
//  Longest client context, bytes: a decoded X-Amz-Client-Context (at most
//  3583 bytes of base64, so at most 2685 bytes) fits.
#define EMU_INVOCATION_CLIENT_CONTEXT_MAX 2688
//  Longest invoked qualifier (a version or an alias name), as the Invoke
//  API's Qualifier parameter allows.
#define EMU_INVOCATION_QUALIFIER_MAX 128

typedef struct _emu_invocation_t emu_invocation_t;

typedef enum {
    EMU_INVOCATION_PENDING,        //  not over yet
    EMU_INVOCATION_OK,             //  the function posted its response
    EMU_INVOCATION_FUNCTION_ERROR, //  the function posted an invocation error
    EMU_INVOCATION_TIMEOUT,        //  over the function timeout (Sandbox.Timedout)
    EMU_INVOCATION_EXIT,           //  the runtime exited or crashed
    EMU_INVOCATION_INIT_ERROR,     //  init failed, timed out, or could not start
    EMU_INVOCATION_TOO_LARGE,      //  response over the payload limit
    EMU_INVOCATION_ABORTED,        //  the emulator is shutting down
} emu_invocation_outcome_t;

typedef void(emu_invocation_done_fn)(emu_invocation_t *invocation, void *arg);

//  Writes a fresh random request id (UUID v4 form, sp_id_uuid4) into
//  `out`; aborts with a message if the kernel's random source fails.
void emu_invocation_new_id(char out[EMU_INVOCATION_ID_SIZE]);

//  Creates an invocation of `request_id` (copied) taking ownership of the
//  malloc'd `*event_p` (nulled). `done` is called once at completion.
//  NULL when memory runs out (the event is freed then too).
emu_invocation_t *emu_invocation_new(const char *request_id, char **event_p,
                                     size_t event_len, emu_invocation_done_fn *done,
                                     void *arg);

//  Frees the invocation. Safe on NULL; nulls *self_p.
void emu_invocation_destroy(emu_invocation_t **self_p);

const char *emu_invocation_request_id(emu_invocation_t *self);

//  Hands a pending invocation to another owner: `done(arg)` is called at
//  completion instead of the callback given to emu_invocation_new. Lets a
//  front door answer its client before the function is over and leave the
//  late completion to a callback that only frees the invocation.
void emu_invocation_set_done(emu_invocation_t *self, emu_invocation_done_fn *done,
                             void *arg);

//  The event; borrowed for the invocation's life.
const char *emu_invocation_event(emu_invocation_t *self, size_t *len_p);

//  Notes which environment took the invocation and whether it had to
//  start for it (cold), with its init duration.
void emu_invocation_set_environment(emu_invocation_t *self, const char *environment,
                                    bool cold, int64_t init_ns);
const char *emu_invocation_environment(emu_invocation_t *self);
bool emu_invocation_cold(emu_invocation_t *self);
int64_t emu_invocation_init_ns(emu_invocation_t *self);

//  Notes the version that runs it ("$LATEST", "3"), for
//  X-Amz-Executed-Version; "" until set. Copied, truncated to
//  EMU_INVOCATION_VERSION_MAX.
void emu_invocation_set_version(emu_invocation_t *self, const char *version);
const char *emu_invocation_version(emu_invocation_t *self);

//  CLOCK_REALTIME nanoseconds when the invocation was received: the time
//  of emu_invocation_new unless set (a queued Event invocation keeps the
//  time its request arrived). The X-Ray trace id's time field.
void emu_invocation_set_received_ns(emu_invocation_t *self, int64_t wall_ns);
int64_t emu_invocation_received_ns(emu_invocation_t *self);

//  Notes the qualifier the caller invoked the function with ("live" for
//  demo:live or Qualifier=live, "3" for a version, "" when unqualified,
//  even though $LATEST runs), for the invoked function ARN handed to the
//  runtime. Copied. Returns 0, or -1, leaving the invocation unchanged,
//  when it is longer than EMU_INVOCATION_QUALIFIER_MAX or holds a
//  character outside AWS's pattern [a-zA-Z0-9$_-].
int emu_invocation_set_invoked_qualifier(emu_invocation_t *self, const char *qualifier);
//  The invoked qualifier, "" until set; borrowed for the invocation's life.
const char *emu_invocation_invoked_qualifier(emu_invocation_t *self);

//  Sets the client context the runtime gets in the /next answer's
//  Lambda-Runtime-Client-Context header: `len` bytes of JSON on one line
//  (copied). Returns 0, or -1, leaving the invocation unchanged, when it
//  is longer than EMU_INVOCATION_CLIENT_CONTEXT_MAX, holds a CR, LF or
//  NUL byte (it could not be a header value), or memory runs out.
int emu_invocation_set_client_context(emu_invocation_t *self, const char *context,
                                      size_t len);

//  The client context, NULL when none; borrowed until the next set or
//  destroy.
const char *emu_invocation_client_context(emu_invocation_t *self);

//  Appends `len` bytes of log text (whole lines with their '\n': the
//  START line, the function's output while it runs, END and REPORT),
//  keeping only the last EMU_INVOCATION_LOG_MAX bytes.
void emu_invocation_log_append(emu_invocation_t *self, const char *data, size_t len);

//  The kept log text (not NUL-terminated when empty: check *len_p);
//  borrowed until the next append or destroy.
const char *emu_invocation_log(emu_invocation_t *self, size_t *len_p);

//  Ends the invocation with `outcome` (not PENDING) and a copy of
//  `payload`, nulls *self_p, then calls the done callback. On a copy
//  failure the payload is left empty.
void emu_invocation_complete(emu_invocation_t **self_p, emu_invocation_outcome_t outcome,
                             const void *payload, size_t len);

//  Ends the invocation with an error payload
//  {"errorMessage": message, "errorType": type}.
void emu_invocation_fail(emu_invocation_t **self_p, emu_invocation_outcome_t outcome,
                         const char *type, const char *message);

emu_invocation_outcome_t emu_invocation_outcome(emu_invocation_t *self);

//  The payload; borrowed until destroy.
const char *emu_invocation_payload(emu_invocation_t *self, size_t *len_p);

//  Short name of an outcome ("ok", "timeout"...), for logs.
const char *emu_invocation_outcome_name(emu_invocation_outcome_t outcome);

void emu_invocation_test(bool verbose);

#endif
