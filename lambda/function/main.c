/*  bootstrap — the stampede demo function as a Lambda custom runtime
    (provided.al2023). Talks to $AWS_LAMBDA_RUNTIME_API, holds every
    invocation for $STAMPEDE_HOLD_MS ms and answers with the facts of its
    execution environment in a Lambda proxy response, so that it serves
    behind a Function URL and API Gateway alike (see fn_handler.h); its
    cold_start_time is the process's age when init ended (fn_procage.h). Init
    failures are reported to /runtime/init/error, then the process exits 1.
    Linked statically so the same binary runs on AWS and in stampede-lambda.
*/
#include "fn_handler.h"
#include "fn_procage.h"
#include "fn_runtime.h"
#include "sp_clock.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Lambda starts a runtime without arguments; these are for people.
static int
s_command_line(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int opt = getopt_long(argc, argv, "hV", options, NULL);
    if (opt == 'h') {
        printf("Usage: bootstrap\nThe stampede demo function, a Lambda custom runtime: "
               "serves "
               "invocations from $AWS_LAMBDA_RUNTIME_API,\nholding each for "
               "$STAMPEDE_HOLD_MS "
               "ms (default 2000).\n");
        return 0;
    }
    if (opt == 'V') {
        printf("bootstrap (stampede) %s\n", STAMPEDE_VERSION);
        return 0;
    }
    fprintf(stderr, "bootstrap: unexpected argument '%s'\nTry 'bootstrap --help'.\n",
            argv[optind > 1 ? optind - 1 : 1]);
    return 2;
}

int
main(int argc, char **argv)
{
    int64_t started_ns = sp_clock_mono_ns();
    if (argc > 1)
        return s_command_line(argc, argv);
    char err[512];
    fn_runtime_t *runtime =
        fn_runtime_new(getenv("AWS_LAMBDA_RUNTIME_API"), err, sizeof err);
    if (!runtime) {
        fprintf(stderr, "bootstrap: init failed error=\"%s\"\n", err);
        return 1;
    }
    int rc = 1;
    fn_handler_t *handler =
        fn_handler_new(getenv("STAMPEDE_HOLD_MS"),
                       getenv("AWS_LAMBDA_INITIALIZATION_TYPE"), err, sizeof err);
    if (!handler) {
        fprintf(stderr, "bootstrap: init failed error=\"%s\"\n", err);
        if (fn_runtime_init_error(runtime, "Runtime.InvalidConfig", err))
            fprintf(stderr, "bootstrap: init error not reported error=\"%s\"\n",
                    fn_runtime_error(runtime));
        goto out;
    }
    //  Init ends here, just before the first /next: report the process's
    //  age, which counts what happened before main() too (see
    //  fn_procage.h); main()'s own clock only when /proc is not there.
    int64_t init_ns = fn_procage_ns();
    if (init_ns < 0)
        init_ns = sp_clock_mono_ns() - started_ns;
    fn_handler_init_done(handler, (double)init_ns / SP_NS_PER_S);

    for (;;) {
        fn_runtime_invocation_t inv;
        if (fn_runtime_next(runtime, &inv)) {
            fprintf(stderr, "bootstrap: runtime api failed error=\"%s\"\n",
                    fn_runtime_error(runtime));
            goto out;
        }
        char *response = fn_handler_invoke(handler, inv.request_id);
        int posted =
            response
                ? fn_runtime_respond(runtime, inv.request_id, response, strlen(response))
                : fn_runtime_fail(runtime, inv.request_id, "Runtime.OutOfMemory",
                                  "cannot build response");
        free(response);
        //  A rejected response (e.g. the invocation timed out meanwhile)
        //  is the API's decision; keep serving.
        if (posted)
            fprintf(stderr,
                    "bootstrap: response not accepted request_id=%s error=\"%s\"\n",
                    inv.request_id, fn_runtime_error(runtime));
    }
out:
    fn_handler_destroy(&handler);
    fn_runtime_destroy(&runtime);
    return rc;
}
