/*  store_lock — one writer per results database, across processes and
    hosts that share the file system: a controller takes the lock before it
    writes, and a second one is refused with the holder named.

    The lock is an exclusive flock(2) on "<database>.lock", which holds the
    holder's pid, host name and the instant it took the lock. The kernel
    drops it with the process, however it ends, so a crashed controller
    never blocks its successor (which then settles what it left, see
    store_runs_interrupted). ":memory:" and "file:" URI databases need no
    lock.

    Thread model: take and release on one thread; the lock belongs to the
    process.
*/
#ifndef STORE_LOCK_H
#define STORE_LOCK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _store_lock_t store_lock_t;

//  Takes the writer lock of the database at `path`. Returns the lock, or
//  NULL with err: "results database PATH is in use by another controller
//  (pid N on host H since YYYY-MM-DDTHH:MM:SSZ)", or why the lock file
//  could not be used. For a database that needs no lock, returns a lock
//  that holds nothing.
store_lock_t *store_lock_take(const char *path, char *err, size_t err_size);

//  Releases the lock; safe on NULL and twice; nulls *self_p.
void store_lock_release(store_lock_t **self_p);

void store_lock_test(bool verbose);

#endif
