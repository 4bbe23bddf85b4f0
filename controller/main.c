/*  stampede — the controller and its command line.

    `stampede serve | run | demo | export`: parse the command line, build the
    application for the subcommand, run it, tear it down. See ctl_app.h for
    what each subcommand starts and ctl_config.h for the options.
*/
#include "ctl_app.h"
#include "ctl_config.h"

#include <czmq.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
    ctl_config_t config;
    int rc =
        ctl_config_parse(&config, argc, argv, getenv("STAMPEDE_TOKEN"), stdout, stderr);
    if (rc == CTL_CONFIG_EXIT)
        return 0;
    if (rc != CTL_CONFIG_RUN)
        return 2;
    //  Logs go to stderr: stdout carries the ready line, summaries and
    //  --json output. czmq's SIGINT/SIGTERM handler sets zsys_interrupted,
    //  which every wait of the application checks.
    zsys_set_logstream(stderr);
    zsys_set_logident("stampede");
    zsys_init();
    ctl_app_t *app = ctl_app_new(&config, stdout, stderr);
    if (!app) {
        fprintf(stderr, "stampede: out of memory\n");
        return 1;
    }
    rc = ctl_app_run(app);
    ctl_app_destroy(&app);
    return rc;
}
