/*  stampede-agent — connects to a stampede controller, prepares its share
    of each run and fires it at the start instant; see agent_link.h. */
#include "agent_cert.h"
#include "agent_config.h"
#include "agent_link.h"

#include <stdio.h>
#include <sys/resource.h>

//  Every request of a burst holds a socket at the same time: lift the soft
//  limit on open files to the hard limit.
static void
s_raise_fd_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
            zsys_warning("agent: cannot raise the open-file limit");
    }
}

int
main(int argc, char **argv)
{
    static agent_config_t config; //  ~30 KiB of bounded strings
    char err[1024];
    agent_config_defaults(&config);
    switch (agent_config_parse(&config, argc, argv, err, sizeof err)) {
    case AGENT_CONFIG_HELP:
        agent_config_usage(stdout);
        return 0;
    case AGENT_CONFIG_VERSION:
        printf("stampede-agent %s\n", STAMPEDE_VERSION);
        return 0;
    case AGENT_CONFIG_KEYGEN:
        if (agent_cert_keygen(config.keygen, err, sizeof err) != 0) {
            fprintf(stderr, "stampede-agent: %s\n", err);
            return 1;
        }
        printf("stampede-agent: wrote %s (public) and %s_secret (secret)\n",
               config.keygen, config.keygen);
        return 0;
    case AGENT_CONFIG_ERROR:
        fprintf(stderr, "stampede-agent: %s\nTry 'stampede-agent --help'.\n", err);
        return 2;
    case AGENT_CONFIG_RUN:
        break;
    }

    agent_cert_t *cert = NULL;
    if (!config.insecure) {
        cert = agent_cert_load(config.server_key, config.key, err, sizeof err);
        if (!cert) {
            fprintf(stderr, "stampede-agent: %s\n", err);
            return 2;
        }
    }
    zsys_init(); //  SIGINT/SIGTERM set zsys_interrupted: a clean stop
    zsys_set_logstream(stderr);
    s_raise_fd_limit();
    agent_link_t *link = agent_link_new(&config, cert);
    int rc = link ? agent_link_run(link) : 1;
    agent_link_destroy(&link);
    agent_cert_destroy(&cert);
    return rc;
}
