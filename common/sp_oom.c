/*  sp_oom — the out-of-memory exit; see sp_oom.h. */
#include "sp_oom.h"
#include "sp_check.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void
sp_oom_at(const char *what, const char *file, int line)
{
    //  fprintf, not zsys: the log actor may itself need memory.
    fprintf(stderr, "out of memory: %s at %s:%d\n", what ? what : "allocation", file,
            line);
    fflush(stderr);
    abort();
}

void *
sp_oom_check_at(void *pointer, const char *what, const char *file, int line)
{
    if (!pointer)
        sp_oom_at(what, file, line);
    return pointer;
}

void
sp_oom_test(bool verbose)
{
    int value = 7;
    CHECK_TRUE(SP_OOM_CHECK(&value, "an int") == &value);

    //  A NULL ends the process with SIGABRT and the named reason.
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    pid_t pid = fork();
    CHECK_TRUE(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        SP_OOM_CHECK(NULL, "the test's buffer");
        _exit(0);
    }
    close(fds[1]);
    char text[256] = "";
    ssize_t got = 0, n;
    while ((n = read(fds[0], text + got, sizeof text - 1 - (size_t)got)) > 0)
        got += n;
    text[got] = '\0';
    close(fds[0]);
    int status = 0;
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK_TRUE(WIFSIGNALED(status));
    CHECK_INT(WTERMSIG(status), SIGABRT);
    CHECK_TRUE(strstr(text, "out of memory: the test's buffer at ") == text);
    if (verbose)
        printf("sp_oom: %s", text);
}
