/* serve_assets.h - the web page `serve` answers at / (tools/imageworks-download/web/),
 * compiled into the binary by CMakeLists.txt so nothing is fetched at run time. */
#ifndef IW_SERVE_ASSETS_H
#define IW_SERVE_ASSETS_H

#include <stddef.h>

typedef struct serve_asset {
    const char          *path;          /* "/index.html", "/app.js", "/app.css" */
    const char          *content_type;
    const unsigned char *data;
    size_t               size;
} serve_asset;

/* The asset served at url path `path`, or NULL. */
const serve_asset *serve_asset_find(const char *path);

#endif
