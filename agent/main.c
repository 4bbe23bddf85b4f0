/*  stampede-agent — connects to a stampede controller, prepares its share
    of each run and fires it at the start instant; see agent_link.h. */
#include "agent_cert.h"
#include "agent_config.h"
#include "agent_link.h"

#include <stdio.h>
#include <sys/resource.h>

//  Every request of a burst holds a socket at the same time: lift the soft
//  limit on open files to the hard limit, and lower the capacity the agent
//  announces to what that limit and the ephemeral ports can hold, so the
//  controller refuses a run that cannot fit instead of firing it. Returns
//  -1 when not even one request fits.
static int
s_fit_capacity(agent_config_t *config)
{
    struct rlimit limit = {0, 0};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
            zsys_warning("agent: cannot raise the open-file limit");
        getrlimit(RLIMIT_NOFILE, &limit);
    }
    unsigned low = 0, high = 0;
    FILE *range = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (range) {
        if (fscanf(range, "%u %u", &low, &high) != 2 || high < low)
            low = high = 0;
        fclose(range);
    }
    uint32_t ports = high ? high - low + 1 : 0;
    char why[160];
    uint32_t fit = agent_config_fit(config->capacity, (uint64_t)limit.rlim_cur, ports,
                                    why, sizeof why);
    if (fit == 0) {
        zsys_error("agent: cannot hold a single request: %s", why);
        return -1;
    }
    if (fit < config->capacity)
        zsys_warning("agent: capacity %u, not %u: %s", fit, config->capacity, why);
    config->capacity = fit;
    return 0;
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
        //  What the controller's operator admits (stampede agents admit).
        zcert_t *made = zcert_load(config.keygen);
        if (made)
            printf("stampede-agent: public key %s\n", zcert_public_txt(made));
        zcert_destroy(&made);
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
    if (s_fit_capacity(&config)) {
        agent_cert_destroy(&cert);
        return 1;
    }
    agent_link_t *link = agent_link_new(&config, cert);
    int rc = link ? agent_link_run(link) : 1;
    agent_link_destroy(&link);
    agent_cert_destroy(&cert);
    return rc;
}
