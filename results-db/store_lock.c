/*  store_lock — the writer lock of a results database; see store_lock.h. */
#include "store_lock.h"
#include "sp_check.h"
#include "sp_err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_HOLDER_MAX 512

struct _store_lock_t {
    int fd; //  -1: a database that needs no lock
};

//  The holder line of this process: "pid N on host H since T".
static void
s_holder(char *out, size_t size)
{
    char host[256] = "unknown";
    if (gethostname(host, sizeof host) == 0)
        host[sizeof host - 1] = '\0';
    char since[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, size, "pid %ld on host %s since %s", (long)getpid(), host, since);
}

//  What the lock file says of its holder, printable, or "unknown holder".
static void
s_read_holder(int fd, char *out, size_t size)
{
    ssize_t n = pread(fd, out, size - 1, 0);
    if (n <= 0) {
        snprintf(out, size, "unknown holder");
        return;
    }
    out[n] = '\0';
    for (char *c = out; *c; c++)
        if (*c == '\n') {
            *c = '\0';
            break;
        } else if (*c < 0x20 || *c == 0x7f)
            *c = '?';
}

store_lock_t *
store_lock_take(const char *path, char *err, size_t err_size)
{
    assert(path);
    store_lock_t *self = calloc(1, sizeof *self);
    if (!self) {
        sp_err_set(err, err_size, "out of memory");
        return NULL;
    }
    self->fd = -1;
    if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return self;
    char lock_path[4096];
    if ((size_t)snprintf(lock_path, sizeof lock_path, "%s.lock", path) >=
        sizeof lock_path) {
        sp_err_set(err, err_size, "database path too long for its lock file");
        goto fail;
    }
    self->fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->fd < 0) {
        sp_err_set(err, err_size, "cannot open %s: %s", lock_path, strerror(errno));
        goto fail;
    }
    if (flock(self->fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        char holder[S_HOLDER_MAX];
        s_read_holder(self->fd, holder, sizeof holder);
        if (saved == EWOULDBLOCK)
            sp_err_set(err, err_size,
                       "results database %s is in use by another controller (%s)", path,
                       holder);
        else
            sp_err_set(err, err_size, "cannot lock %s: %s", lock_path, strerror(saved));
        goto fail;
    }
    char holder[S_HOLDER_MAX];
    s_holder(holder, sizeof holder);
    size_t len = strlen(holder);
    holder[len++] = '\n';
    if (ftruncate(self->fd, 0) != 0 || pwrite(self->fd, holder, len, 0) != (ssize_t)len) {
        sp_err_set(err, err_size, "cannot write %s: %s", lock_path, strerror(errno));
        goto fail;
    }
    return self;
fail:
    if (self->fd >= 0)
        close(self->fd);
    free(self);
    return NULL;
}

void
store_lock_release(store_lock_t **self_p)
{
    assert(self_p);
    store_lock_t *self = *self_p;
    if (!self)
        return;
    //  Closing the descriptor drops the lock; the file stays (removing it
    //  could race a successor that already opened it).
    if (self->fd >= 0)
        close(self->fd);
    free(self);
    *self_p = NULL;
}

void
store_lock_test(bool verbose)
{
    char dir[] = "/tmp/store_lock_testXXXXXX";
    CHECK_NOT_NULL(mkdtemp(dir));
    char db[256], lock_path[300];
    snprintf(db, sizeof db, "%s/r.db", dir);
    snprintf(lock_path, sizeof lock_path, "%s.lock", db);
    char err[1024];

    //  The first taker holds it and names itself in the file.
    store_lock_t *lock = store_lock_take(db, err, sizeof err);
    CHECK_NOT_NULL(lock);
    FILE *file = fopen(lock_path, "r");
    CHECK_NOT_NULL(file);
    char line[S_HOLDER_MAX] = "";
    CHECK_NOT_NULL(fgets(line, sizeof line, file));
    fclose(file);
    char expected[64];
    snprintf(expected, sizeof expected, "pid %ld on host ", (long)getpid());
    CHECK_TRUE(strncmp(line, expected, strlen(expected)) == 0);

    //  Another process is refused, with the holder named (flock locks
    //  belong to the open file, so a child opening it anew is "another").
    pid_t child = fork();
    CHECK_TRUE(child >= 0);
    if (child == 0) {
        char why[1024];
        store_lock_t *second = store_lock_take(db, why, sizeof why);
        char want[1200];
        line[strcspn(line, "\n")] = '\0';
        snprintf(want, sizeof want,
                 "results database %s is in use by another controller (%s)", db, line);
        _exit(second == NULL && strcmp(why, want) == 0 ? 0 : 1);
    }
    int status = 0;
    CHECK_INT(waitpid(child, &status, 0), child);
    CHECK_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    //  Released, it can be taken again (and the file is kept).
    store_lock_release(&lock);
    CHECK_NULL(lock);
    store_lock_release(&lock);
    lock = store_lock_take(db, err, sizeof err);
    CHECK_NOT_NULL(lock);
    store_lock_release(&lock);

    //  In-memory and URI databases need none; an unusable directory fails.
    lock = store_lock_take(":memory:", err, sizeof err);
    CHECK_NOT_NULL(lock);
    store_lock_release(&lock);
    CHECK_NULL(store_lock_take("/nonexistent-dir/r.db", err, sizeof err));
    CHECK_TRUE(strncmp(err, "cannot open /nonexistent-dir/r.db.lock: ", 40) == 0);

    unlink(lock_path);
    rmdir(dir);
    if (verbose)
        printf("(lock checks done) ");
}
