/*  web_assets — lookup over the embedded dashboard files; see web_assets.h.

    The byte arrays come from stampede_embed() (cmake/Stampede.cmake), one
    generated source per bundled file in the build tree's web/dist/. Their
    sizes live in other translation units, so they are not constant
    expressions: the table of web_asset_t is filled once, under pthread_once,
    from a constant table that points at them.
*/
#include "web_assets.h"
#include "sp_check.h"

#include <pthread.h>
#include <string.h>

extern const unsigned char web_index_html[];
extern const size_t web_index_html_size;
extern const unsigned char web_app_js[];
extern const size_t web_app_js_size;
extern const unsigned char web_style_css[];
extern const size_t web_style_css_size;

static const struct {
    const char *path;
    const unsigned char *data;
    const size_t *size;
    const char *content_type;
} s_sources[] = {
    {"/index.html", web_index_html, &web_index_html_size, "text/html; charset=utf-8"},
    {"/app.js", web_app_js, &web_app_js_size, "text/javascript; charset=utf-8"},
    {"/style.css", web_style_css, &web_style_css_size, "text/css; charset=utf-8"},
};

#define S_COUNT (sizeof s_sources / sizeof s_sources[0])

static web_asset_t s_assets[S_COUNT];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_fill(void)
{
    for (size_t i = 0; i < S_COUNT; i++)
        s_assets[i] = (web_asset_t){s_sources[i].path, s_sources[i].data,
                                    *s_sources[i].size, s_sources[i].content_type};
}

size_t
web_asset_count(void)
{
    return S_COUNT;
}

const web_asset_t *
web_asset_at(size_t i)
{
    if (i >= S_COUNT)
        return NULL;
    pthread_once(&s_once, s_fill);
    return &s_assets[i];
}

const web_asset_t *
web_asset_find(const char *path)
{
    if (!path)
        return NULL;
    for (size_t i = 0; i < S_COUNT; i++)
        if (strcmp(s_sources[i].path, path) == 0)
            return web_asset_at(i);
    return NULL;
}

//  True when the asset's bytes contain needle (assets are NUL-terminated).
static bool
s_contains(const web_asset_t *asset, const char *needle)
{
    return strstr((const char *)asset->data, needle) != NULL;
}

void
web_assets_test(bool verbose)
{
    CHECK_INT(web_asset_count(), 3);

    const web_asset_t *index = web_asset_find("/index.html");
    CHECK_NOT_NULL(index);
    CHECK_STR(index->path, "/index.html");
    CHECK_STR(index->content_type, "text/html; charset=utf-8");
    CHECK_TRUE(index->size > 0);
    CHECK_INT(strlen((const char *)index->data), index->size);
    //  The page loads its code and style from files, never inline (CSP).
    CHECK_TRUE(s_contains(index, "<script src=\"/app.js\""));
    CHECK_TRUE(s_contains(index, "href=\"/style.css\""));
    CHECK_TRUE(!s_contains(index, "<style"));
    CHECK_TRUE(!s_contains(index, "style=\""));

    const web_asset_t *app = web_asset_find("/app.js");
    CHECK_NOT_NULL(app);
    CHECK_STR(app->path, "/app.js");
    CHECK_STR(app->content_type, "text/javascript; charset=utf-8");
    CHECK_TRUE(app->size > 0);
    CHECK_INT(strlen((const char *)app->data), app->size);
    //  Bundled: the chart library is inside, no module imports remain.
    CHECK_TRUE(s_contains(app, "doughnut"));
    CHECK_TRUE(!s_contains(app, "from\"chart.js\""));

    const web_asset_t *style = web_asset_find("/style.css");
    CHECK_NOT_NULL(style);
    CHECK_STR(style->path, "/style.css");
    CHECK_STR(style->content_type, "text/css; charset=utf-8");
    CHECK_TRUE(style->size > 0);

    CHECK_TRUE(web_asset_at(0) == index);
    CHECK_TRUE(web_asset_at(1) == app);
    CHECK_TRUE(web_asset_at(2) == style);
    CHECK_NULL(web_asset_at(3));

    CHECK_NULL(web_asset_find("/"));
    CHECK_NULL(web_asset_find("index.html"));
    CHECK_NULL(web_asset_find("/app.js.map"));
    CHECK_NULL(web_asset_find("/../index.html"));
    CHECK_NULL(web_asset_find(""));
    CHECK_NULL(web_asset_find(NULL));
    if (verbose)
        printf("index=%zu app=%zu style=%zu bytes ", index->size, app->size, style->size);
}
