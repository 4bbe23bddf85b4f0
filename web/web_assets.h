/*  web_assets — the dashboard's files (index.html, app.js, style.css),
    bundled from web/src at build time and compiled into this library, so
    the controller serves the page with no files on disk and no network.

    Thread model: read-only tables in static storage; any thread may call.
*/
#ifndef WEB_ASSETS_H
#define WEB_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *path;          //  URL path, e.g. "/app.js"
    const unsigned char *data; //  file contents (followed by a NUL not counted in size)
    size_t size;               //  bytes
    const char *content_type;  //  value for the Content-Type header
} web_asset_t;

//  The asset served at `path` (exact match, leading slash, no query), or
//  NULL when there is none. "/" is not an alias: the caller maps it to
//  "/index.html". The result is static; never freed.
const web_asset_t *web_asset_find(const char *path);

//  Number of embedded assets, and the i-th of them (i < count), for
//  listing; NULL when i is out of range.
size_t web_asset_count(void);
const web_asset_t *web_asset_at(size_t i);

void web_assets_test(bool verbose);

#endif
