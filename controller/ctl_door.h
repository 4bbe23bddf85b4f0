/*  ctl_door — the front door a run goes through, which decides what the
    agents count as a throttle (agent_door has the table).

    `--door` (the API's "door") names it, or "auto" (the default) finds it
    from the URL curl will use (sp_url):

      host *.lambda-url.REGION.on.aws              function_url
      host lambda.REGION.amazonaws.com[.cn]        invoke
      host *.execute-api.REGION.amazonaws.com[.cn] apigw (REST or HTTP API,
                                                   told by each answer)
      path /url/…                                  function_url  } stampede-
      path /restapi/…                              apigw_rest    } lambda's
      path /httpapi/…                              apigw_http    } doors
      path /2015-03-31/functions/…                 invoke
      anything else                                http

    Host rules come first, so an AWS host is never read by its path. A
    custom domain in front of API Gateway cannot be recognised: name its
    door with --door.

    Pure functions; any thread.
*/
#ifndef CTL_DOOR_H
#define CTL_DOOR_H

#include <stdbool.h>

#include "proto_codec.h"

#define CTL_DOOR_AUTO (-1) //  find the door from the URL

//  Parses "auto" or a door name, with hyphens ("function-url") or
//  underscores ("function_url"). Returns 0, or -1 when text is none.
int ctl_door_parse(const char *text, int *door);

//  "auto" or the door's name with hyphens, as --door takes it.
const char *ctl_door_name(int door);

//  The door `door` means for `url`: itself, or for CTL_DOOR_AUTO the door
//  the URL names (DOOR_HTTP for a URL that does not parse).
Stampede__Door ctl_door_resolve(int door, const char *url);

void ctl_door_test(bool verbose);

#endif
