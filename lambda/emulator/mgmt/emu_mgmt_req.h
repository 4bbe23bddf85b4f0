/*  emu_mgmt_req — one management API request being answered: its target
    split into decoded path segments and query parameters, its JSON body,
    the operation it was routed to, the checks botocore's model puts on
    each member, and the error it ends with.

    Life of a request (emu_mgmt drives it):
      1. emu_mgmt_req_new splits the raw target (at most
         EMU_MGMT_REQ_TARGET_MAX bytes, EMU_MGMT_REQ_SEGMENTS_MAX segments,
         EMU_MGMT_REQ_QUERY_MAX pairs); each segment is percent-decoded on
         its own, so an ARN's %3A never splits one;
      2. the router names the operation (emu_mgmt_req_set_operation);
      3. emu_mgmt_req_answer reads the body (413 over EMU_MGMT_BODY_MAX;
         400 InvalidRequestContentException when it is not a JSON object)
         and runs the operation;
      4. the operation reads members (a wrong JSON type is 400
         InvalidRequestContentException at once), checks them (each
         violation in AWS's words; all are reported together, "2
         validation errors detected: ...; ..."), resolves the function
         through the account, and answers. The core fills the request's
         error when it refuses; it is passed through unchanged.

    Text from the request that goes into an error message is printable
    ASCII first (emu_mgmt_req_quote), so every error answer is valid JSON.
    Lists page as the model says: MaxItems (default 50) and Marker, the
    decimal index of the page's first item.

    The account is borrowed for the request's life. Thread model: the
    emulator loop's thread.
*/
#ifndef EMU_MGMT_REQ_H
#define EMU_MGMT_REQ_H

#include "emu_account.h"
#include "emu_aws.h"
#include "emu_mgmt_shape.h"
#include "emu_reply.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  Largest management request body accepted, bytes.
#define EMU_MGMT_BODY_MAX (256 * 1024)

//  Longest request target (path and query) accepted, bytes.
#define EMU_MGMT_REQ_TARGET_MAX 4096
//  Most path segments: "2015-03-31/functions/NAME/aliases/ALIAS".
#define EMU_MGMT_REQ_SEGMENTS_MAX 8
//  Most query parameters.
#define EMU_MGMT_REQ_QUERY_MAX 16
//  Longest value quoted in an error message.
#define EMU_MGMT_REQ_QUOTE_MAX 200

typedef struct _emu_mgmt_req_t emu_mgmt_req_t;

//  An operation: answers the request (never NULL but without memory).
typedef emu_reply_t *(emu_mgmt_op_fn)(emu_mgmt_req_t *req);

//  A request for the raw `target` (path and query as sent, starting with
//  '/'), on `account`. NULL without memory. When the target breaks a cap
//  the request is failed (emu_mgmt_req_error_reply says why).
emu_mgmt_req_t *emu_mgmt_req_new(emu_account_t *account, const char *target);

//  Destroys the request. Nulls *self_p; safe twice.
void emu_mgmt_req_destroy(emu_mgmt_req_t **self_p);

//  True once the request has an error to answer with.
bool emu_mgmt_req_failed(emu_mgmt_req_t *self);

//  The decoded path segments ("2015-03-31", "functions", ...).
size_t emu_mgmt_req_segment_count(emu_mgmt_req_t *self);
const char *emu_mgmt_req_segment(emu_mgmt_req_t *self, size_t index);

//  Names the operation (AWS's name, for messages) and the function and
//  alias the path names (segments of this request, or NULL).
void emu_mgmt_req_set_operation(emu_mgmt_req_t *self, const char *name,
                                const char *function, const char *alias);

//  Reads `body` (parsed when `has_body`) and answers with `op`; a failed
//  request is answered with its error. Caller destroys the reply; NULL
//  without memory.
emu_reply_t *emu_mgmt_req_answer(emu_mgmt_req_t *self, emu_mgmt_op_fn *op, bool has_body,
                                 const void *body, size_t body_len);

//  Parts. Strings borrowed for the request's life.
emu_account_t *emu_mgmt_req_account(emu_mgmt_req_t *self);
const char *emu_mgmt_req_alias_name(emu_mgmt_req_t *self);
//  The first value of query parameter `key`, or NULL.
const char *emu_mgmt_req_query(emu_mgmt_req_t *self, const char *key);
//  The body's member `key` when present and not null, else NULL.
json_t *emu_mgmt_req_member(emu_mgmt_req_t *self, const char *key);
//  The request's error, for the core to fill.
emu_aws_error_t *emu_mgmt_req_err(emu_mgmt_req_t *self);

//  Typed body members: 0 (absent: NULL / *present_p false), or -1 with
//  400 InvalidRequestContentException (wrong type; a string with a NUL;
//  an integer outside a Java int).
int emu_mgmt_req_body_string(emu_mgmt_req_t *self, const char *key, const char **value_p);
int emu_mgmt_req_body_int(emu_mgmt_req_t *self, const char *key, bool *present_p,
                          long long *value_p);
//  Sets that error for member `key`, which "must be `expected`". -1.
int emu_mgmt_req_type_error(emu_mgmt_req_t *self, const char *key, const char *expected);

//  Constraint checks: each adds AWS's wording for a violation.
void emu_mgmt_req_violation(emu_mgmt_req_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
//  "Value 'x' at 'member' failed to satisfy constraint: `constraint`".
void emu_mgmt_req_violation_value(emu_mgmt_req_t *self, const char *member,
                                  const char *value, const char *constraint);
void emu_mgmt_req_check_null(emu_mgmt_req_t *self, const char *member, bool present);
void emu_mgmt_req_check_range(emu_mgmt_req_t *self, const char *member, long long value,
                              long long min, long long max);
//  The function name of the path: NamespacedFunctionName (170, '.'
//  allowed) when `namespaced`, else FunctionName (140).
void emu_mgmt_req_check_function_name(emu_mgmt_req_t *self, bool namespaced);
//  Qualifier (NULL passes), alias name, FunctionVersion (NULL passes),
//  Description (NULL passes), Lambda@Edge MasterRegion.
void emu_mgmt_req_check_qualifier(emu_mgmt_req_t *self, const char *qualifier);
void emu_mgmt_req_check_alias(emu_mgmt_req_t *self, const char *name);
void emu_mgmt_req_check_version(emu_mgmt_req_t *self, const char *version);
void emu_mgmt_req_check_description(emu_mgmt_req_t *self, const char *description);
void emu_mgmt_req_check_region(emu_mgmt_req_t *self, const char *region);
//  True when `value` matches the anchored POSIX extended expression
//  `ere` (false, and the request out of memory, when it cannot compile).
bool emu_mgmt_req_matches(emu_mgmt_req_t *self, const char *value, const char *ere);
//  Marker and MaxItems (1..max_items): checked, and `page` set up (its
//  list NULL: the operation makes it once the function is resolved).
void emu_mgmt_req_page(emu_mgmt_req_t *self, long long max_items, emu_mgmt_page_t *page);

//  True when the checks found violations (the request's error is then
//  the ValidationException) or memory ran out: answer with
//  emu_mgmt_req_error_reply.
bool emu_mgmt_req_invalid(emu_mgmt_req_t *self);

//  After the checks (NULL when invalid): the function the path names,
//  resolved by the account, and in *qualifier_p the qualifier the
//  operation acts on, `given` (the Qualifier parameter, NULL when absent)
//  or the one the name carries ("" for neither); both given and
//  different is 400, as AWS refuses. NULL with the request's error.
emu_function_t *emu_mgmt_req_function(emu_mgmt_req_t *self, const char *given,
                                      const char **qualifier_p);

//  The same for an operation on the function itself: no qualifier in the
//  name, but "$LATEST" when `latest_ok`.
emu_function_t *emu_mgmt_req_unqualified(emu_mgmt_req_t *self, bool latest_ok);

//  RevisionId `given` (NULL when absent) must be `current`: -1 with AWS's
//  412 when it is not.
int emu_mgmt_req_check_revision(emu_mgmt_req_t *self, const char *given,
                                const char *current);

//  The answer for the request's error; NULL when memory ran out.
emu_reply_t *emu_mgmt_req_error_reply(emu_mgmt_req_t *self);

//  Copies `value` into `out` as printable ASCII (other bytes '?'), at
//  most EMU_MGMT_REQ_QUOTE_MAX bytes then "...", for error messages.
void emu_mgmt_req_quote(const char *value, char *out, size_t size);

void emu_mgmt_req_test(bool verbose);

#endif
