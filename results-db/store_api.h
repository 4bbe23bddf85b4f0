/*  store_api — the results database as its callers see it: the connection
    (store.h) and every part of the API, one header each. Callers outside
    results-db include this; the modules inside include only the headers
    they use, so the folder's include graph has no cycle.
*/
#ifndef STORE_API_H
#define STORE_API_H

#include "store.h"
#include "store_agents.h"
#include "store_export.h"
#include "store_results.h"
#include "store_rows.h"
#include "store_runs.h"
#include "store_summary.h"
#include "store_views.h"

#endif
