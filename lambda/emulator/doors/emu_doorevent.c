/*  emu_doorevent — a path door's event of an HTTP request; see
    emu_doorevent.h. */
#include "emu_doorevent.h"
#include "emu_apigw_http.h"
#include "sp_check.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct {
    emu_furl_header_t *headers;
    size_t count;
} s_headers_t;

static enum MHD_Result
s_collect_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                 const char *value, size_t value_size)
{
    s_headers_t *collected = cls;
    if (collected->count == EMU_FURL_PARAMS_MAX)
        return MHD_NO;
    collected->headers[collected->count++] =
        (emu_furl_header_t){.name = key, .value = value ? value : ""};
    return MHD_YES;
}

//  The client's address on `connection` as text into `out`; left as it
//  is when MHD does not know it.
static void
s_source_ip(struct MHD_Connection *connection, char out[INET6_ADDRSTRLEN])
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
                  INET6_ADDRSTRLEN);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
                  INET6_ADDRSTRLEN);
}

char *
emu_doorevent_of(emu_route_door_t door, const emu_furl_request_t *request, size_t *len_p)
{
    assert(request && len_p);
    switch (door) {
    case EMU_ROUTE_REST_API:
        return emu_apigw_rest_event(request, NULL, len_p);
    case EMU_ROUTE_HTTP_API:
        return emu_apigw_http_event(request, len_p);
    case EMU_ROUTE_FUNCTION_URL:
        return emu_furl_event(request, len_p);
    default:
        assert(false);
        return NULL;
    }
}

char *
emu_doorevent_read(emu_route_door_t door, struct MHD_Connection *connection,
                   const emu_doorevent_request_t *request, size_t *len_p)
{
    assert(connection && request && request->route && len_p);
    s_headers_t collected = {.headers =
                                 calloc(EMU_FURL_PARAMS_MAX, sizeof(emu_furl_header_t))};
    if (!collected.headers)
        return NULL;
    MHD_get_connection_values_n(connection, MHD_HEADER_KIND, s_collect_header,
                                &collected);
    char source_ip[INET6_ADDRSTRLEN] = "127.0.0.1";
    s_source_ip(connection, source_ip);
    const emu_route_url_t *route = request->route;
    emu_furl_request_t event_request = {
        .function = route->function,
        .request_id = request->request_id,
        .method = request->method,
        .path = route->path,
        .path_len = route->path_len,
        .query = route->query,
        .query_len = route->query_len,
        .protocol = request->version,
        .source_ip = source_ip,
        .time_ns = request->received_ns,
        .headers = collected.headers,
        .header_count = collected.count,
        .body = request->body,
        .body_len = request->body_len,
    };
    char *event = emu_doorevent_of(door, &event_request, len_p);
    free(collected.headers);
    return event;
}

//  --- selftest -----------------------------------------------------------

void
emu_doorevent_test(bool verbose)
{
    (void)verbose;
    //  One request through each path door: each its payload format.
    emu_route_url_t route;
    CHECK_INT(emu_route_parse_url("/url/demo/a%20b?x=1", &route), EMU_ROUTE_FUNCTION_URL);
    emu_furl_request_t request = {
        .function = route.function,
        .request_id = "11111111-2222-4333-8444-555555555555",
        .method = "GET",
        .path = route.path,
        .path_len = route.path_len,
        .query = route.query,
        .query_len = route.query_len,
        .protocol = "HTTP/1.1",
        .source_ip = "127.0.0.1",
        .time_ns = INT64_C(1583348638390123456),
    };
    const emu_route_door_t doors[] = {EMU_ROUTE_FUNCTION_URL, EMU_ROUTE_REST_API,
                                      EMU_ROUTE_HTTP_API};
    const char *marks[] = {"\"rawPath\":\"/a%20b\"", "\"httpMethod\":\"GET\"",
                           "\"rawPath\":\"/a b\""};
    for (size_t i = 0; i < 3; i++) {
        size_t len = 0;
        char *event = emu_doorevent_of(doors[i], &request, &len);
        CHECK_NOT_NULL(event);
        CHECK_INT(len, strlen(event));
        CHECK_TRUE(strstr(event, marks[i]) != NULL);
        free(event);
    }
}
