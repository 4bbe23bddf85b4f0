/*  store_agents_test — store_agents's selftest, in a file of its own because it drives
    the rest of the store's API too; built into the selftest runner only,
    so store_agents.c includes nothing above it.
*/
#include "store_api.h"
#include "store_fixture.h"
#include "store_schema.h"
#include "store_stmt.h"

#include "sp_check.h"

#include <czmq.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_BASE STORE_FIXTURE_BASE

static void
s_test_agents(store_t *store)
{
    CHECK_INT(store_agent_upsert(store, "agent-c", "host-c", "0.1.0", 8, S_BASE + 10), 0);
    CHECK_INT(store_agent_upsert(store, "agent-c", "host-c2", "0.2.0", 16, S_BASE + 20),
              0);
    //  A stale sighting does not move last_seen back.
    CHECK_INT(store_agent_upsert(store, "agent-c", "host-c2", "0.2.0", 16, S_BASE + 15),
              0);
    CHECK_INT(store_fixture_count(
                  store,
                  "SELECT count(*) FROM agents WHERE id = 'agent-c'"
                  " AND host = 'host-c2' AND version = '0.2.0' AND capacity = 16"
                  " AND first_seen_ns = 1700000000000000010"
                  " AND last_seen_ns = 1700000000000000020",
                  0),
              1);
    //  A share needs a known run and agent.
    int64_t run_id = store_fixture_run(store, 4, NULL);
    CHECK_INT(store_share_add(store, run_id, "nobody", 0, 4, 0, 0), -1);
    CHECK_INT(store_share_add(store, run_id + 1000, "agent-c", 0, 4, 0, 0), -1);
    CHECK_INT(store_share_add(store, run_id, "agent-c", 0, 4, 5, 6), 0);
    //  Re-preparing the share replaces the estimate.
    CHECK_INT(store_share_add(store, run_id, "agent-c", 0, 4, 7, 8), 0);
    CHECK_INT(store_fixture_count(store,
                                  "SELECT count(*) FROM run_agents WHERE run_id = ?1"
                                  " AND clock_offset_ns = 7 AND clock_error_ns = 8",
                                  run_id),
              1);

    //  Its path: unknown (NULL) by default; a measured one and a shift; no
    //  such share, no update.
    CHECK_INT(store_fixture_count(store,
                                  "SELECT count(*) FROM run_agents WHERE run_id = ?1"
                                  " AND path_rtt_ns IS NULL AND shift_ns = 0",
                                  run_id),
              1);
    CHECK_INT(store_share_path(store, run_id, "agent-c", 40000, 15000), 0);
    CHECK_INT(store_fixture_count(store,
                                  "SELECT count(*) FROM run_agents WHERE run_id = ?1"
                                  " AND path_rtt_ns = 40000 AND shift_ns = 15000",
                                  run_id),
              1);
    CHECK_INT(store_share_path(store, run_id, "agent-c", -1, 0), 0);
    CHECK_INT(store_fixture_count(store,
                                  "SELECT count(*) FROM run_agents WHERE run_id = ?1"
                                  " AND path_rtt_ns IS NULL AND shift_ns = 0",
                                  run_id),
              1);
    CHECK_INT(store_share_path(store, run_id, "nobody", 1, 0), -1);

    //  A share reads back as recorded; none for another agent or run.
    uint32_t first = 99, count = 99;
    int64_t offset = 99;
    CHECK_INT(store_share_get(store, run_id, "agent-c", &first, &count, &offset), 0);
    CHECK_INT(first, 0);
    CHECK_INT(count, 4);
    CHECK_INT(offset, 7);
    CHECK_INT(store_share_get(store, run_id, "nobody", &first, &count, &offset), 1);
    CHECK_INT(store_share_get(store, run_id + 1, "agent-c", &first, &count, &offset), 1);
    CHECK_INT(offset, 7);
}

void
store_agents_test(bool verbose)
{
    char err[256];
    store_t *store = store_open(":memory:", err, sizeof err);
    CHECK_NOT_NULL(store);
    s_test_agents(store);
    store_destroy(&store);
}
