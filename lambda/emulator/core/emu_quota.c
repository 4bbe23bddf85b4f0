/*  emu_quota — the account's concurrency arithmetic; see emu_quota.h.

    The quota keeps no counters of its own: every sum is read from the
    members (at most EMU_CONFIG_FUNCTIONS_MAX), so it can never disagree
    with them.
*/
#include "emu_quota.h"
#include "emu_limits.h"
#include "sp_check.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

struct _emu_quota_t {
    int limit;                    //  ConcurrentExecutions
    emu_quota_member_t **members; //  borrowed, in join order
    size_t member_count;
};

static const char s_reserved_reason[] =
    "ReservedFunctionConcurrentInvocationLimitExceeded";
static const char s_account_reason[] = "ConcurrentInvocationLimitExceeded";

emu_quota_t *
emu_quota_new(int limit)
{
    emu_quota_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->limit = limit;
    return self;
}

void
emu_quota_destroy(emu_quota_t **self_p)
{
    assert(self_p);
    emu_quota_t *self = *self_p;
    if (!self)
        return;
    free(self->members);
    free(self);
    *self_p = NULL;
}

int
emu_quota_join(emu_quota_t *self, emu_quota_member_t *member)
{
    assert(self && member);
    emu_quota_member_t **grown =
        realloc(self->members, (self->member_count + 1) * sizeof *self->members);
    if (!grown)
        return -1;
    self->members = grown;
    self->members[self->member_count++] = member;
    return 0;
}

void
emu_quota_leave(emu_quota_t *self, emu_quota_member_t *member)
{
    assert(self && member);
    for (size_t i = 0; i < self->member_count; i++)
        if (self->members[i] == member) {
            memmove(self->members + i, self->members + i + 1,
                    (self->member_count - i - 1) * sizeof *self->members);
            self->member_count--;
            return;
        }
}

int
emu_quota_limit(emu_quota_t *self)
{
    assert(self);
    return self->limit;
}

int
emu_quota_unreserved(emu_quota_t *self)
{
    assert(self);
    int unreserved = self->limit;
    for (size_t i = 0; i < self->member_count; i++)
        if (self->members[i]->reserved > 0)
            unreserved -= self->members[i]->reserved;
    return unreserved;
}

int
emu_quota_unreserved_in_flight(emu_quota_t *self)
{
    assert(self);
    int in_flight = 0;
    for (size_t i = 0; i < self->member_count; i++)
        if (self->members[i]->reserved < 0)
            in_flight += self->members[i]->on_demand_busy;
    return in_flight;
}

int
emu_quota_unreserved_provisioned(emu_quota_t *self)
{
    assert(self);
    int total = 0;
    for (size_t i = 0; i < self->member_count; i++)
        if (self->members[i]->reserved < 0)
            total += self->members[i]->provisioned;
    return total;
}

int
emu_quota_room(emu_quota_t *self, const emu_quota_member_t *member, const char **reason_p)
{
    assert(self && member && reason_p);
    if (member->reserved >= 0) {
        *reason_p = s_reserved_reason;
        return member->reserved - member->provisioned - member->on_demand_busy;
    }
    *reason_p = s_account_reason;
    return emu_quota_unreserved(self) - emu_quota_unreserved_provisioned(self) -
           emu_quota_unreserved_in_flight(self);
}

int
emu_quota_cap(emu_quota_t *self, const emu_quota_member_t *member)
{
    assert(self && member);
    const char *reason = NULL;
    int room = emu_quota_room(self, member, &reason);
    room += member->reserved >= 0 ? member->on_demand_busy
                                  : emu_quota_unreserved_in_flight(self);
    return room > 0 ? room : 0;
}

int
emu_quota_check_reserved(emu_quota_t *self, const emu_quota_member_t *member,
                         int reserved, emu_aws_error_t *err)
{
    assert(self && member && err);
    if (reserved < member->provisioned) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "ReservedConcurrentExecutions %d should not be lower than "
                          "function's total provisioned concurrency [%d].",
                          reserved, member->provisioned);
        return -1;
    }
    int held = member->reserved > 0 ? member->reserved : 0;
    //  What stays for on-demand invocations of the other unreserved functions.
    int others = emu_quota_unreserved_provisioned(self);
    if (member->reserved < 0)
        others -= member->provisioned;
    if (emu_quota_unreserved(self) + held - reserved - others <
        EMU_LIMIT_UNRESERVED_MIN) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "Specified ReservedConcurrentExecutions for function decreases "
                          "account's UnreservedConcurrentExecution below its minimum "
                          "value of [%d].",
                          EMU_LIMIT_UNRESERVED_MIN);
        return -1;
    }
    return 0;
}

int
emu_quota_check_provisioned(emu_quota_t *self, const emu_quota_member_t *member,
                            int current, int count, emu_aws_error_t *err)
{
    assert(self && member && err);
    if (member->reserved >= 0) {
        if (member->provisioned - current + count > member->reserved) {
            emu_aws_error_set(
                err, 400, "InvalidParameterValueException",
                "Requested Provisioned Concurrency should not be greater than the "
                "reservedConcurrentExecution for function");
            return -1;
        }
        return 0;
    }
    int taken = emu_quota_unreserved_provisioned(self) - current;
    if (emu_quota_unreserved(self) - taken - count < EMU_LIMIT_UNRESERVED_MIN) {
        emu_aws_error_set(err, 400, "InvalidParameterValueException",
                          "Specified ConcurrentExecutions for function decreases "
                          "account's UnreservedConcurrentExecution below its minimum "
                          "value of [%d].",
                          EMU_LIMIT_UNRESERVED_MIN);
        return -1;
    }
    return 0;
}

//  --- selftest -----------------------------------------------------------

void
emu_quota_test(bool verbose)
{
    //  Account 150: a reserves 40, b and c share the unreserved 110.
    emu_quota_t *quota = emu_quota_new(150);
    CHECK_NOT_NULL(quota);
    emu_quota_member_t a = {.reserved = 40}, b = {.reserved = -1}, c = {.reserved = -1};
    CHECK_INT(emu_quota_join(quota, &a), 0);
    CHECK_INT(emu_quota_join(quota, &b), 0);
    CHECK_INT(emu_quota_join(quota, &c), 0);
    CHECK_INT(emu_quota_limit(quota), 150);
    CHECK_INT(emu_quota_unreserved(quota), 110);
    CHECK_INT(emu_quota_unreserved_in_flight(quota), 0);
    const char *reason = NULL;
    CHECK_INT(emu_quota_room(quota, &b, &reason), 110);
    CHECK_STR(reason, "ConcurrentInvocationLimitExceeded");
    CHECK_INT(emu_quota_room(quota, &a, &reason), 40);
    CHECK_STR(reason, "ReservedFunctionConcurrentInvocationLimitExceeded");

    //  The pool is shared: 60 of b and 50 of c leave no room for either.
    b.on_demand_busy = 60;
    c.on_demand_busy = 50;
    CHECK_INT(emu_quota_unreserved_in_flight(quota), 110);
    CHECK_INT(emu_quota_room(quota, &b, &reason), 0);
    CHECK_INT(emu_quota_room(quota, &c, &reason), 0);
    CHECK_INT(emu_quota_cap(quota, &b), 110);
    a.on_demand_busy = 40;
    CHECK_INT(emu_quota_room(quota, &a, &reason), 0);
    CHECK_INT(emu_quota_cap(quota, &a), 40);

    //  Reservations must leave 100 unreserved: b may take 10, not 11.
    emu_aws_error_t err;
    emu_aws_error_clear(&err);
    CHECK_INT(emu_quota_check_reserved(quota, &b, 11, &err), -1);
    CHECK_INT(err.status, 400);
    CHECK_STR(err.type, "InvalidParameterValueException");
    CHECK_STR(err.message,
              "Specified ReservedConcurrentExecutions for function decreases "
              "account's UnreservedConcurrentExecution below its minimum value "
              "of [100].");
    CHECK_INT(emu_quota_check_reserved(quota, &b, 10, &err), 0);
    b.reserved = 10;
    CHECK_INT(emu_quota_unreserved(quota), 100);
    //  b's 60 in flight no longer count in the pool: c may grow to 100.
    CHECK_INT(emu_quota_unreserved_in_flight(quota), 50);
    CHECK_INT(emu_quota_room(quota, &c, &reason), 50);
    CHECK_INT(emu_quota_room(quota, &b, &reason), 10 - 60);
    CHECK_STR(reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    b.reserved = -1;

    //  Provisioned concurrency: of a reserved function, within its
    //  reservation; of an unreserved one, out of the pool.
    a.provisioned = 30;
    CHECK_INT(emu_quota_check_provisioned(quota, &a, 30, 40, &err), 0);
    CHECK_INT(emu_quota_check_provisioned(quota, &a, 30, 41, &err), -1);
    CHECK_STR(err.message, "Requested Provisioned Concurrency should not be greater than "
                           "the reservedConcurrentExecution for function");
    CHECK_INT(emu_quota_check_reserved(quota, &a, 29, &err), -1);
    CHECK_STR(err.message, "ReservedConcurrentExecutions 29 should not be lower than "
                           "function's total provisioned concurrency [30].");
    CHECK_INT(emu_quota_room(quota, &a, &reason), 40 - 30 - 40);
    c.provisioned = 5;
    CHECK_INT(emu_quota_unreserved_provisioned(quota), 5);
    CHECK_INT(emu_quota_room(quota, &c, &reason), 110 - 5 - 110);
    CHECK_INT(emu_quota_check_provisioned(quota, &c, 5, 10, &err), 0);
    CHECK_INT(emu_quota_check_provisioned(quota, &c, 5, 11, &err), -1);
    CHECK_STR(err.message, "Specified ConcurrentExecutions for function decreases "
                           "account's UnreservedConcurrentExecution below its minimum "
                           "value of [100].");
    CHECK_INT(emu_quota_check_provisioned(quota, &b, 0, 6, &err), -1);
    //  A reservation may not squeeze the others' provisioned concurrency.
    CHECK_INT(emu_quota_check_reserved(quota, &b, 5, &err), 0);
    CHECK_INT(emu_quota_check_reserved(quota, &b, 6, &err), -1);

    //  Alone, without an account: the default limit, one member.
    emu_quota_leave(quota, &b);
    emu_quota_leave(quota, &b);
    CHECK_INT(emu_quota_unreserved_in_flight(quota), 50);
    emu_quota_destroy(&quota);
    CHECK_NULL(quota);
    emu_quota_destroy(&quota);
    quota = emu_quota_new(1000);
    emu_quota_member_t alone = {.reserved = -1};
    CHECK_INT(emu_quota_join(quota, &alone), 0);
    CHECK_INT(emu_quota_check_reserved(quota, &alone, 901, &err), -1);
    CHECK_INT(emu_quota_check_reserved(quota, &alone, 900, &err), 0);
    CHECK_INT(emu_quota_check_provisioned(quota, &alone, 0, 901, &err), -1);
    CHECK_INT(emu_quota_check_provisioned(quota, &alone, 0, 900, &err), 0);
    CHECK_INT(emu_quota_cap(quota, &alone), 1000);
    emu_quota_destroy(&quota);
    (void)verbose;
}
