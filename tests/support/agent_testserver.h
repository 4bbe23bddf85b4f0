/*  agent_testserver — a tiny canned HTTP/1.1 server on 127.0.0.1:ephemeral
    for the agent's selftests, so the burst engine and the link are tested
    against real sockets without any outside service.

    One zactor thread owns the listening socket and every connection (one
    poll loop over the actor pipe and the sockets). Each request gets one
    answer chosen by its path, then the connection is closed:

      /ok              200, Lambda-style JSON with fixed values (below)
      /throttle        429, x-amzn-ErrorType: TooManyRequestsException
      /error           500 {"message":"Internal server error"}
      /function-error  200 with X-Amz-Function-Error: Unhandled
      /redirect        302 Location: /ok
      /big             200, 2 MiB of 'x'
      /echo            200 JSON: request_id = method, environment_id = the
                       X-Test header, initialization_type = the body (the
                       first and last 32 bytes of one over 64), invocation_count
                       = body length, started_at_ns = when the connection's
                       first byte was read, finished_at_ns = when the request
                       was complete (wall clock)
      /gather/N        held until N /gather requests are open, then all
                       answered 200 {"invocation_count":N} (proves the
                       client sent them in parallel)
      /hang            never answered
      anything else    404

    Every answer carries X-Stampede-Received-Ns (wall clock at arrival).
    Caps: 1024 connections, 64 KiB per request; beyond that, 400 or close.
    Test-only: bound to loopback, never started by the daemon.
*/
#ifndef AGENT_TESTSERVER_H
#define AGENT_TESTSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_TESTSERVER_REQUEST_ID "req-ok"
#define AGENT_TESTSERVER_ENVIRONMENT_ID "env-1"
#define AGENT_TESTSERVER_STARTED_NS INT64_C(1700000000000000001)
#define AGENT_TESTSERVER_FINISHED_NS INT64_C(1700000000500000001)
#define AGENT_TESTSERVER_BIG_SIZE (2 * 1024 * 1024)

typedef struct _agent_testserver_t agent_testserver_t;

//  Listening and serving, or NULL when the socket or thread failed.
agent_testserver_t *agent_testserver_new(void);

//  Stops the thread and closes every socket; safe on NULL and twice.
void agent_testserver_destroy(agent_testserver_t **self_p);

//  The TCP port it listens on.
int agent_testserver_port(agent_testserver_t *self);

//  Writes "http://127.0.0.1:PORT<path>" into url.
void agent_testserver_url(agent_testserver_t *self, const char *path, char *url,
                          size_t url_size);

//  Complete requests received so far.
uint32_t agent_testserver_requests(agent_testserver_t *self);

void agent_testserver_test(bool verbose);

#endif
