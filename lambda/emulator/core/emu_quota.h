/*  emu_quota — the account's concurrency arithmetic, AWS's rules in one
    place (see docs/lambda-fidelity.md).

    Owns the account limit (ConcurrentExecutions) and a list of borrowed
    members, one per function, each a small emu_quota_member_t the
    function embeds and keeps current: its reserved concurrency (-1 when
    none), its provisioned concurrency requested (all configs) and its
    on-demand invocations in flight.

    The rules:
      - UnreservedConcurrentExecutions = limit - sum of reservations.
      - The unreserved pool for on-demand invocations = unreserved - the
        provisioned concurrency of the unreserved functions; their
        on-demand invocations in flight, all together, stay below it
        (Reason ConcurrentInvocationLimitExceeded).
      - A reserved function runs at most reserved - its provisioned
        on-demand invocations (Reason ReservedFunctionConcurrentInvocation
        LimitExceeded).
      - Neither a reservation nor provisioned concurrency of an unreserved
        function may leave less than EMU_LIMIT_UNRESERVED_MIN of the pool.

    A function without an account has a quota of its own with the default
    limit (EMU_CONFIG_ACCOUNT_LIMIT): the same arithmetic with one member.

    Thread model: the emulator loop's thread only. A leaf: it knows no
    function, only the numbers.
*/
#ifndef EMU_QUOTA_H
#define EMU_QUOTA_H

#include "emu_aws.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct _emu_quota_t emu_quota_t;

//  One function's numbers, embedded in the function and kept by it.
typedef struct {
    int reserved;       //  -1: none
    int provisioned;    //  requested, all provisioned configs
    int on_demand_busy; //  on-demand invocations in flight
} emu_quota_member_t;

//  A quota with `limit` concurrency. NULL when memory runs out.
emu_quota_t *emu_quota_new(int limit);

//  Frees the quota (the members are borrowed). Nulls *self_p.
void emu_quota_destroy(emu_quota_t **self_p);

//  Adds `member` (borrowed until emu_quota_leave). 0, or -1 when memory
//  runs out.
int emu_quota_join(emu_quota_t *self, emu_quota_member_t *member);

//  Removes `member`; nothing when it is not a member.
void emu_quota_leave(emu_quota_t *self, emu_quota_member_t *member);

//  ConcurrentExecutions.
int emu_quota_limit(emu_quota_t *self);

//  UnreservedConcurrentExecutions: the limit minus every reservation.
int emu_quota_unreserved(emu_quota_t *self);

//  On-demand invocations of unreserved members in flight now.
int emu_quota_unreserved_in_flight(emu_quota_t *self);

//  Provisioned concurrency of the unreserved members.
int emu_quota_unreserved_provisioned(emu_quota_t *self);

//  On-demand invocations `member` may still start now (<= 0: none), and
//  the throttle Reason it gets when none, in *reason_p (static text).
int emu_quota_room(emu_quota_t *self, const emu_quota_member_t *member,
                   const char **reason_p);

//  On-demand invocations `member` may have in flight at once now (the
//  room plus what already runs in its pool); never below 0.
int emu_quota_cap(emu_quota_t *self, const emu_quota_member_t *member);

//  May `member` reserve `reserved` (already in 0..max)? 0, or -1 with the
//  400 InvalidParameterValueException AWS sends (below its provisioned
//  total, or leaving less than the unreserved minimum) in `err`.
int emu_quota_check_reserved(emu_quota_t *self, const emu_quota_member_t *member,
                             int reserved, emu_aws_error_t *err);

//  May `member` set one provisioned config, now at `current` (0 when
//  new), to `count`? 0, or -1 with the 400 InvalidParameterValueException
//  AWS sends (above the reservation, or leaving less than the unreserved
//  minimum) in `err`.
int emu_quota_check_provisioned(emu_quota_t *self, const emu_quota_member_t *member,
                                int current, int count, emu_aws_error_t *err);

void emu_quota_test(bool verbose);

#endif
