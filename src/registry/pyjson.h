/* pyjson.h - JSON printed exactly as the original's Python writes it
 * (private to src/registry).
 *
 * The original materialises model_registry.json as
 * json.dumps(merged, indent=2) + "\n" and rewrites it on every load whose
 * text differs (model_loader/registry.py::_materialize_snapshot), so the
 * snapshot this tool writes must be those bytes: ensure_ascii escapes
 * (\u00e9, surrogate pairs, lower-case hex, \u007f), "key": value with
 * 2-space indentation, [] and {} for empty containers, integers as Python
 * reads them (digits kept, -0 is 0), floats as Python's repr of the double
 * (1e-05, 1e+16, 10000.0, -0.0), key order as read.
 *
 * Input is JSON text that has already been validated (jscan or our own
 * print).  Numbers keep their token: iw_pyjson_parse stores it in the
 * number item's valuestring (cJSON_Duplicate copies it), so a tree parsed
 * here prints each number as Python would have read it. */
#ifndef IW_REGISTRY_PYJSON_H
#define IW_REGISTRY_PYJSON_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "iwdl/buf.h"

/* Re-print the JSON value in text[0..len) at nesting `level` (the element
 * of a top-level array is level 1) without building a tree. */
int    iw_pyjson_reformat(const char *text, size_t len, int level, iw_buf *out);
/* Parse validated JSON text into a tree whose numbers carry their tokens;
 * duplicate keys resolve as Python's dict (first position, last value).
 * NULL when out of memory. */
cJSON *iw_pyjson_parse(const char *text, size_t len);
/* Print a tree (numbers without a token print as cJSON holds them: an
 * integral value within 2^53 as an integer, else as a float). */
int    iw_pyjson_dump(const cJSON *item, int level, iw_buf *out);
/* The original's _merge_entry_dicts(base, overlay) in place on base:
 * overlay nulls skipped, objects merged recursively, anything else
 * replaces (a new key goes last).  false when out of memory. */
bool   iw_pyjson_merge(cJSON *base, const cJSON *overlay);

/* model_registry.json as the original materialises it from the two layer
 * texts (either may be NULL: no file): json.dumps(merged, indent=2) + "\n"
 * of registry.py::_merge_layered_fragments.  The texts must be valid
 * registry files (they are scanned again here). */
int    iw_pyjson_snapshot(const char *discovered, size_t dlen, const char *curated, size_t clen,
                          iw_buf *out);

#endif
