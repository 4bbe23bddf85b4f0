/*  agent_config — the command line of stampede-agent, parsed into one
    plain value (agent_config_t) with every default set in one place.

    Owns nothing on the heap: the struct holds bounded copies of every
    argument, so it can be copied, kept on the stack and read from any
    thread once parsed. Parsing checks each value and the rules between
    options (keys versus --insecure, --insecure only on loopback); it never
    touches files or the network. The target allow-list lives here too,
    because it is configuration: agent_config_allows() is the one place that
    decides whether a host may be sent traffic.
*/
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto_codec.h"
#include "sp_allow.h"

#define AGENT_CONFIG_MAX_ENDPOINT 1024
#define AGENT_CONFIG_MAX_PATH 4096
#define AGENT_CONFIG_MAX_ALLOW SP_ALLOW_MAX_PATTERNS
#define AGENT_CONFIG_MAX_PATTERN SP_ALLOW_MAX_PATTERN
#define AGENT_CONFIG_DEFAULT_CAPACITY 10000

typedef struct {
    char controller[AGENT_CONFIG_MAX_ENDPOINT + 1]; //  tcp://HOST:PORT
    char controller_host[PROTO_MAX_HOST + 1];       //  HOST part, [v6] kept
    char id[PROTO_MAX_ID + 1];                      //  [A-Za-z0-9._-]{1,64}
    char server_key[AGENT_CONFIG_MAX_PATH + 1];     //  controller's public cert
    char key[AGENT_CONFIG_MAX_PATH + 1];            //  our certificate (secret)
    char keygen[AGENT_CONFIG_MAX_PATH + 1];         //  --keygen output path
    char spool[AGENT_CONFIG_MAX_PATH + 1];          //  --spool DIR, or ""
    bool insecure;                                  //  plain TCP (loopback only)
    uint32_t capacity;                              //  max requests per run
    bool allow_loopback;                            //  default: sp_addr loopback hosts
    size_t allow_count;                             //  patterns in allow[]
    char allow[AGENT_CONFIG_MAX_ALLOW][AGENT_CONFIG_MAX_PATTERN + 1];
} agent_config_t;

typedef enum {
    AGENT_CONFIG_RUN,     //  connect and serve
    AGENT_CONFIG_HELP,    //  print usage, exit 0
    AGENT_CONFIG_VERSION, //  print version, exit 0
    AGENT_CONFIG_KEYGEN,  //  write a certificate to self->keygen, exit 0
    AGENT_CONFIG_ERROR    //  bad usage: err says why, exit 2
} agent_config_action_t;

//  Fills self with the defaults: no controller, id = sanitised
//  "hostname-pid", capacity 10000, the loopback allow-list (allow_loopback:
//  the hosts sp_addr_is_loopback accepts; the first --allow replaces it).
void agent_config_defaults(agent_config_t *self);

//  Parses argv (getopt_long; may be called repeatedly) over the defaults.
//  Returns what main should do; on AGENT_CONFIG_ERROR err holds a one-line
//  reason. Never prints and never exits.
agent_config_action_t agent_config_parse(agent_config_t *self, int argc, char **argv,
                                         char *err, size_t err_size);

//  True when host (as it appears in a URL, e.g. "127.0.0.1", "[::1]",
//  "example.com"; decoded and normalised as curl will use it) is allowed
//  by sp_allow's rule over this list (the loopback default until the first
//  --allow, then the patterns). The controller applies the same rule.
bool agent_config_allows(const agent_config_t *self, const char *host);

//  True when the controller endpoint's host is loopback (sp_addr: 127.0.0.0/8,
//  localhost, [::1]).
bool agent_config_loopback(const agent_config_t *self);

//  Writes the --help text to out.
void agent_config_usage(FILE *out);

//  Open files the agent keeps for itself (controller socket, curl's
//  internals, logs), not for requests.
#define AGENT_CONFIG_FD_RESERVE 64

//  The requests one run can really hold at once: `wanted` (--capacity), no
//  more than the open-file limit `nofile` leaves after
//  AGENT_CONFIG_FD_RESERVE, nor than the `ports` ephemeral ports one
//  target can be reached from (0 when not known). 0 when nothing fits;
//  why names the limit that cut it (empty when none did).
uint32_t agent_config_fit(uint32_t wanted, uint64_t nofile, uint32_t ports, char *why,
                          size_t why_size);

void agent_config_test(bool verbose);

#endif
