/*  stampede-lambda — a local AWS Lambda emulator: Function URLs in front of
    real execution environments (child processes running a custom runtime
    through the Runtime API). See emu_config.h for the command line and
    emu_server.h for what runs.

    stdout carries exactly one line, once ready:
      stampede-lambda listening on http://HOST:PORT
    Logs go to stderr. Exit 0 after SIGINT/SIGTERM, 1 on a startup or loop
    failure, 2 on bad usage.
*/
#include "emu_config.h"
#include "emu_server.h"

#include <czmq.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
    zsys_set_logstream(stderr);
    zsys_set_logident("stampede-lambda");
    emu_config_t *config = emu_config_new();
    if (!config)
        return 1;
    int rc = 0;
    switch (emu_config_parse(config, argc, argv, stdout, stderr)) {
    case EMU_CONFIG_EXIT:
        goto out;
    case EMU_CONFIG_USAGE:
        rc = 2;
        goto out;
    case EMU_CONFIG_RUN:
        break;
    }
    char err[256];
    emu_server_t *server = emu_server_new(config, err, sizeof err);
    if (!server) {
        zsys_error("cannot start error=\"%s\"", err);
        rc = 1;
        goto out;
    }
    printf("stampede-lambda listening on %s\n", emu_server_url(server));
    fflush(stdout);
    if (emu_server_run(server))
        rc = 1;
    emu_server_destroy(&server);
out:
    emu_config_destroy(&config);
    return rc;
}
