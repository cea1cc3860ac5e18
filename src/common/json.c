/* json.c - strict parsing of untrusted JSON over cJSON, with line/column
 * errors, LFS-pointer detection and duplicate-key reports. */
#include "iwdl/json.h"
#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IW_JSON_MAX_DEPTH 128   /* cJSON's own CJSON_NESTING_LIMIT is 1000 */

bool iw_is_lfs_pointer(const char *text, size_t len)
{
    static const char sig[] = "version https://git-lfs.github.com/spec/";
    return len >= sizeof sig - 1 && memcmp(text, sig, sizeof sig - 1) == 0;
}

static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') { l++; c = 1; }
        else c++;
    }
    *line = l;
    *col = c;
}

/* True when the text ends inside a string, object or array: the usual sign
 * of a file cut short (interrupted download, full disk). */
static bool looks_truncated(const char *t, size_t len)
{
    long depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (in_str) {
            if (esc) esc = false;
            else if (c == '\\') esc = true;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == '"') in_str = true;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') depth--;
    }
    return in_str || depth > 0;
}

static int depth_of(const cJSON *j, int d)
{
    if (d > IW_JSON_MAX_DEPTH)
        return d;
    int m = d;
    for (const cJSON *c = j ? j->child : NULL; c; c = c->next) {
        int cd = depth_of(c, d + 1);
        if (cd > m) m = cd;
        if (m > IW_JSON_MAX_DEPTH) break;
    }
    return m;
}

typedef struct {
    const char *key;
    size_t idx;
    cJSON *item;
} key_ref;

static int cmp_key_ref(const void *x, const void *y)
{
    const key_ref *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    if (c)
        return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Resolve the duplicated keys of one object as Python's json (and so
 * transformers and vLLM) does: the LAST value of a key wins, the earlier ones
 * are removed from the tree.  O(n log n) by sorting (key, position), so an
 * object with 100k keys from a hostile file cannot stall the parse.  Returns
 * a copy of the first duplicated key (in sort order), or NULL when none;
 * *oom is set when the key list or that copy could not be allocated. */
static char *dedupe_object(cJSON *obj, bool *oom)
{
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    if (n < 2)
        return NULL;
    key_ref *keys = malloc(n * sizeof *keys);
    if (!keys) {
        *oom = true;
        return NULL;
    }
    size_t k = 0;
    for (cJSON *c = obj->child; c; c = c->next, k++)
        keys[k] = (key_ref){ c->string ? c->string : "", k, c };
    qsort(keys, n, sizeof *keys, cmp_key_ref);
    char *dup = NULL;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(keys[i - 1].key, keys[i].key) != 0)
            continue;
        if (!dup && !*oom) {
            dup = strdup(keys[i].key);
            if (!dup)
                *oom = true;
        }
        /* keys[i] comes later in the object than keys[i-1]: drop the earlier.
         * Detaching does not free the key string keys[i].key points at. */
        cJSON_Delete(cJSON_DetachItemViaPointer(obj, keys[i - 1].item));
    }
    free(keys);
    return dup;
}

/* Dedupe every object in the tree (see dedupe_object); returns the first
 * duplicate found, as "a.b.key", or NULL when none. */
static char *resolve_dups(cJSON *obj, const char *prefix, int depth, bool *oom)
{
    if (!obj || depth > IW_JSON_MAX_DEPTH)
        return NULL;
    char *found = NULL;
    if (cJSON_IsObject(obj)) {
        char *d = dedupe_object(obj, oom);
        if (d) {
            size_t n = strlen(prefix) + strlen(d) + 2;
            found = malloc(n);
            if (found)
                snprintf(found, n, "%s%s%s", prefix, *prefix ? "." : "", d);
            else
                *oom = true;
            free(d);
        }
    }
    for (cJSON *c = obj->child; c; c = c->next) {
        if (!cJSON_IsObject(c) && !cJSON_IsArray(c))
            continue;
        char sub[512];
        if (cJSON_IsObject(obj) && c->string)
            snprintf(sub, sizeof sub, "%s%s%s", prefix, *prefix ? "." : "", c->string);
        else
            snprintf(sub, sizeof sub, "%s[]", prefix);
        char *d = resolve_dups(c, sub, depth + 1, oom);
        if (d && !found)
            found = d;
        else
            free(d);
    }
    return found;
}

int iw_json_parse(const char *text, size_t len, const char *what, cJSON **out, char **dup_key)
{
    *out = NULL;
    if (dup_key)
        *dup_key = NULL;
    if (!what)
        what = "<json>";
    if (!text)
        return iw_error_set(IW_EINVAL, "%s: no data", what);
    if (iw_is_lfs_pointer(text, len))
        return iw_error_set(IW_EFORMAT,
            "%s is a Git LFS pointer, not JSON: the real file was not downloaded (fetch it with LFS or re-download)", what);
    size_t skip = 0;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF)
        skip = 3;   /* UTF-8 BOM */
    if (memchr(text + skip, 0, len - skip))
        return iw_error_set(IW_EFORMAT, "%s: contains a NUL byte at offset %zu, not JSON",
                            what, (size_t)((const char *)memchr(text + skip, 0, len - skip) - text));
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text + skip, len - skip, &end, 0);
    if (!j) {
        const char *ep = cJSON_GetErrorPtr();
        size_t off = len;
        if (ep && ep >= text + skip && ep <= text + len)
            off = (size_t)(ep - text);
        size_t line, col;
        line_col(text, off, &line, &col);
        if (off >= len || looks_truncated(text + skip, len - skip))
            return iw_error_set(IW_EFORMAT, "%s:%zu:%zu: invalid JSON: truncated (unexpected end of input)", what, line, col);
        /* text need not be NUL-terminated: quote at most what is left */
        int quote = (int)(len - off < 20 ? len - off : 20);
        return iw_error_set(IW_EFORMAT, "%s:%zu:%zu: invalid JSON near '%.*s'", what, line, col, quote, text + off);
    }
    /* trailing garbage (whitespace allowed) */
    if (end) {
        const char *p = end;
        while (p < text + len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p < text + len) {
            size_t line, col;
            line_col(text, (size_t)(p - text), &line, &col);
            cJSON_Delete(j);
            return iw_error_set(IW_EFORMAT, "%s:%zu:%zu: unexpected data after the JSON value", what, line, col);
        }
    }
    if (depth_of(j, 0) > IW_JSON_MAX_DEPTH) {
        cJSON_Delete(j);
        return iw_error_set(IW_ELIMIT, "%s: JSON nested deeper than %d levels", what, IW_JSON_MAX_DEPTH);
    }
    if (dup_key) {
        bool oom = false;
        *dup_key = resolve_dups(j, "", 0, &oom);
        if (oom) {
            free(*dup_key);
            *dup_key = NULL;
            cJSON_Delete(j);
            return iw_error_set(IW_ENOMEM, "%s: out of memory resolving duplicate keys", what);
        }
    }
    *out = j;
    return 0;
}

int iw_json_parse_file(const char *path, size_t max, cJSON **out, char **dup_key)
{
    iw_buf b;
    *out = NULL;
    int rc = iw_read_file(path, max, &b);
    if (rc < 0)
        return rc;
    rc = iw_json_parse(b.data, b.len, path, out, dup_key);
    iw_buf_free(&b);
    return rc;
}

bool iw_json_item_i64(const cJSON *it, int64_t *out)
{
    if (!cJSON_IsNumber(it))
        return false;
    double d = it->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < -9.2233720368547758e18 || d >= 9.2233720368547758e18)
        return false;
    *out = (int64_t)d;
    return true;
}

bool iw_json_get_i64(const cJSON *obj, const char *key, int64_t *out)
{
    return iw_json_item_i64(cJSON_GetObjectItemCaseSensitive(obj, key), out);
}

bool iw_json_get_f64(const cJSON *obj, const char *key, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return false;
    *out = it->valuedouble;
    return true;
}

bool iw_json_get_bool(const cJSON *obj, const char *key, bool *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsBool(it))
        return false;
    *out = cJSON_IsTrue(it);
    return true;
}

const char *iw_json_get_str(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

char *iw_json_print(const cJSON *item)
{
    char *s = cJSON_Print(item);
    if (!s)
        return NULL;
    /* cJSON indents with tabs and writes ":\t"; strings never hold a raw tab
     * (it escapes them), so every tab is layout: two spaces, or one after ':'. */
    size_t n = strlen(s), tabs = 0;
    for (size_t i = 0; i < n; i++)
        tabs += s[i] == '\t';
    char *r = malloc(n + tabs + 2);
    if (!r) {
        free(s);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\t') { r[o++] = s[i]; continue; }
        if (i > 0 && s[i - 1] == ':') r[o++] = ' ';
        else { r[o++] = ' '; r[o++] = ' '; }
    }
    r[o++] = '\n';
    r[o] = 0;
    free(s);
    return r;
}

bool iw_json_has_nul_escape(const char *text, size_t len)
{
    for (const char *p = text; (p = memmem(p, len - (size_t)(p - text), "\\u0000", 6)); p++) {
        size_t bs = 0;   /* an odd run of backslashes before 'u': an escape, not a literal "\\" */
        for (const char *q = p; q >= text && *q == '\\'; q--)
            bs++;
        if (bs % 2)
            return true;
    }
    return false;
}
