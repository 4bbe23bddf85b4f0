/*  emu_limits — the one home of Lambda's own numbers that more than one
    emulator module needs: quotas, payload sizes and time limits as AWS
    documents them. A module that enforces or reports one of these names it
    from here; it never writes the number again.

    Sources: Lambda quotas
    https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    and the Invoke API reference
    https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
*/
#ifndef EMU_LIMITS_H
#define EMU_LIMITS_H

#include <stdint.h>

//  Concurrency that must stay unreserved in an account: reserved
//  concurrency may take the account limit minus this, no more.
#define EMU_LIMIT_UNRESERVED_MIN 100

//  Largest synchronous request payload (RequestResponse invoke, Function
//  URL, API Gateway event), in bytes: 6 MB as AWS counts it.
#define EMU_LIMIT_PAYLOAD_MAX 6291456

//  Largest asynchronous (Event) invoke payload, in bytes: 1 MB.
#define EMU_LIMIT_EVENT_PAYLOAD_MAX 1048576

//  Largest synchronous response a function may return, in bytes: AWS
//  reports this figure (6 MB plus 100 bytes) in its error message.
#define EMU_LIMIT_RESPONSE_MAX 6291556

//  Time an on-demand environment may take to initialise.
#define EMU_LIMIT_INIT_TIMEOUT_NS (INT64_C(10) * 1000000000)

#endif
