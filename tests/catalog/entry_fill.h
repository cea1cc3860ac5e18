/* entry_fill.h - the upsert callback the catalog tests fill registry
 * entries with: ctx is a JSON object whose members are copied in. */
#ifndef IWT_ENTRY_FILL_H
#define IWT_ENTRY_FILL_H

#include <stdbool.h>
#include <cjson/cJSON.h>

static inline int iwt_fill_entry(cJSON *e, bool is_new, void *ctx)
{
    (void)is_new;
    cJSON *src = cJSON_Parse(ctx);
    for (cJSON *it = src ? src->child : NULL; it; it = it->next)
        cJSON_AddItemToObject(e, it->string, cJSON_Duplicate(it, 1));
    cJSON_Delete(src);
    return 1;
}

#endif
