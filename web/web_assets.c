/*  web_assets — lookup over the embedded dashboard files; see web_assets.h.

    The byte arrays and their sizes come from stampede_embed()
    (cmake/Stampede.cmake): one generated source and header per bundled
    file in the build tree's web/dist/, the size a constant expression, so
    the table below is static const.
*/
#include "web_assets.h"
#include "sp_check.h"
#include "web_app_js.h"
#include "web_index_html.h"
#include "web_style_css.h"

#include <string.h>

static const web_asset_t s_assets[] = {
    {"/index.html", web_index_html, WEB_INDEX_HTML_SIZE, "text/html; charset=utf-8"},
    {"/app.js", web_app_js, WEB_APP_JS_SIZE, "text/javascript; charset=utf-8"},
    {"/style.css", web_style_css, WEB_STYLE_CSS_SIZE, "text/css; charset=utf-8"},
};

#define S_COUNT (sizeof s_assets / sizeof s_assets[0])

size_t
web_asset_count(void)
{
    return S_COUNT;
}

const web_asset_t *
web_asset_at(size_t i)
{
    return i < S_COUNT ? &s_assets[i] : NULL;
}

const web_asset_t *
web_asset_find(const char *path)
{
    if (!path)
        return NULL;
    for (size_t i = 0; i < S_COUNT; i++)
        if (strcmp(s_assets[i].path, path) == 0)
            return &s_assets[i];
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
