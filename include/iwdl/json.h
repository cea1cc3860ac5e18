/* json.h - the JSON-facing header: the one public header that includes
 * cJSON.  The registry (registry.h, schema.h) is JSON by nature and includes
 * it; elsewhere a cJSON tree appears only as an opaque `struct cJSON *` (the
 * estimate's JSON answer, a safetensors file's __metadata__), so a program
 * that reads models and estimates compiles without cJSON's headers.
 *
 * Strict JSON parsing of untrusted text over cJSON.
 *
 * iw_json_parse rejects, with a one-line error naming `what` (a path or URL),
 * line and column: non-JSON, truncated JSON, trailing garbage, a Git LFS
 * pointer where JSON was expected ("the real file was not downloaded"),
 * and text larger than the cap.  A UTF-8 BOM and CRLF line ends are accepted.
 * Duplicate object keys: when dup_key is non-NULL they are resolved as
 * Python's json (so transformers and vLLM) resolves them, the LAST value of
 * a key is kept and the earlier ones are removed from the tree, and the first
 * duplicate found is reported through *dup_key (malloc'd, as "path.key");
 * the parse itself still succeeds.  With dup_key NULL the tree is left as
 * cJSON built it (callers such as the safetensors reader reject duplicates
 * themselves). */
#ifndef IWDL_JSON_H
#define IWDL_JSON_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

int iw_json_parse(const char *text, size_t len, const char *what, cJSON **out, char **dup_key);
int iw_json_parse_file(const char *path, size_t max, cJSON **out, char **dup_key);

/* True if text starts like a Git LFS pointer file. */
bool iw_is_lfs_pointer(const char *text, size_t len);

/* Typed getters: return true and set *out only when the item exists and has
 * the right type (integers must be integral and within int64 range). */
bool iw_json_get_i64(const cJSON *obj, const char *key, int64_t *out);
bool iw_json_get_f64(const cJSON *obj, const char *key, double *out);
bool iw_json_get_bool(const cJSON *obj, const char *key, bool *out);
const char *iw_json_get_str(const cJSON *obj, const char *key);  /* NULL if absent/not a string */
bool iw_json_item_i64(const cJSON *item, int64_t *out);

/* Serialize with 2-space indentation and a trailing newline (malloc'd). */
char *iw_json_print(const cJSON *item);

/* The JSON text holds the escape \u0000: cJSON would cut that string at
 * the NUL, silently turning a name into another one, so callers refuse it. */
bool iw_json_has_nul_escape(const char *text, size_t len);

#endif
