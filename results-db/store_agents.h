/*  store_agents — the agents the controller has seen and each agent's
    share of a run: its index range and the clock offset (and error) its
    results were converted with. Part of store (see store.h).

    Thread model: as store.h — the calls work on the caller's store_t, on
    the one thread that uses it.
*/
#ifndef STORE_AGENTS_H
#define STORE_AGENTS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct _store_t store_t;

//  Records (or refreshes) an agent. Returns 0 or -1.
int store_agent_upsert(store_t *self, const char *agent_id, const char *host,
                       const char *version, uint32_t capacity, int64_t seen_ns);

//  Records one agent's share of a run and its clock estimate. Returns 0 or -1.
int store_share_add(store_t *self, int64_t run_id, const char *agent_id,
                    uint32_t first_index, uint32_t count, int64_t clock_offset_ns,
                    int64_t clock_error_ns);

//  When an agent released its share (protocol Released), as the run judged
//  it; mis_start is NULL when the start is certified, else why not.
typedef struct {
    int64_t released_ns;     //  on the controller's clock
    int64_t start_error_ns;  //  release minus the agreed instant, agent's clock
    int64_t release_span_ns; //  how long the release pass took
    uint32_t armed;          //  requests holding only their last byte then
    uint32_t late;           //  requests still connecting or writing then
    const char *mis_start;   //  NULL, or why the start is not certified
} store_release_t;

//  Records release on agent_id's share of run_id. Returns 0, or -1 (also
//  when there is no such share).
int store_share_released(store_t *self, int64_t run_id, const char *agent_id,
                         const store_release_t *release);

//  The path of agent_id's share of run_id: the shortest handshake its
//  agent measured (path_rtt_ns, < 0 for unknown: stored NULL) and the shift
//  of its instant (>= 0). Returns 0, or -1 (also when there is no such
//  share).
int store_share_path(store_t *self, int64_t run_id, const char *agent_id,
                     int64_t path_rtt_ns, int64_t shift_ns);

//  agent_id's share of run_id as store_share_add recorded it: its index
//  range [*first_index, *first_index + *count) and the clock offset its
//  results were converted with. Returns 0 when there is one, 1 when the run
//  is unknown or agent_id has no share in it (outputs untouched), -1 on a
//  database error.
int store_share_get(store_t *self, int64_t run_id, const char *agent_id,
                    uint32_t *first_index, uint32_t *count, int64_t *clock_offset_ns);

void store_agents_test(bool verbose);

#endif
