/* jscan.h - validating, non-allocating scanner for registry files (private
 * to src/registry).
 *
 * One pass over the text checks it as strict RFC 8259 JSON and as a registry
 * (an array of objects, each with a unique non-empty string "name" of at
 * most IW_REGISTRY_MAX_NAME bytes) without building a tree: it records each
 * top-level element's byte span and its decoded name.  The store parses an
 * entry with cJSON only when it is touched, and copies untouched entries'
 * bytes verbatim on write.
 *
 * Refused, with the messages iw_json_parse + iw_registry_validate gave (one
 * line, "<what>:<line>:<col>: ...; refusing to use or overwrite it"):
 *   - a Git LFS pointer; a NUL byte; empty or truncated text ("truncated");
 *   - anything outside the RFC 8259 grammar: bad literals, numbers with
 *     leading zeros / a bare '.' / no exponent digits, numbers longer than
 *     63 characters (cJSON cannot read them back), control characters or
 *     invalid UTF-8 (overlong, surrogate, > U+10FFFF) in strings, unknown
 *     escapes, \u without 4 hex digits, unpaired \u surrogates, whitespace
 *     other than space, tab, LF, CR ("invalid JSON near '...'").  cJSON
 *     accepted leading zeros, "1.", control characters, invalid UTF-8,
 *     "\u000y" and other whitespace; Python's json.loads does not;
 *   - data after the value; nesting deeper than IW_JSCAN_MAX_DEPTH values
 *     (128, as iw_json_parse) - beyond IW_JSCAN_HARD_DEPTH (cJSON's 1000) the
 *     scan stops as cJSON did;
 *   - a root that is not an array, an element that is not an object, an
 *     entry without a string "name" (the first "name" key counts, as
 *     cJSON_GetObjectItem finds it), a name holding a decoded "\u0000"
 *     (cJSON's C strings would cut it into another name: stricter than the
 *     cJSON path), a name over 256 bytes, and a repeated name (reported at
 *     the first second occurrence).
 * A UTF-8 BOM is skipped; CRLF line ends are whitespace. */
#ifndef IW_REGISTRY_JSCAN_H
#define IW_REGISTRY_JSCAN_H

#include <stddef.h>

#define IW_JSCAN_MAX_DEPTH  128
#define IW_JSCAN_HARD_DEPTH 1000

typedef struct iw_jscan_ent {
    size_t      start, end;   /* [start, end) of the element in the text */
    const char *name;         /* decoded name, NUL-terminated (in arena) */
} iw_jscan_ent;

typedef struct iw_jscan {
    size_t        skip;       /* BOM length: 0 or 3 */
    size_t        open;       /* offset of the root '[' */
    size_t        close;      /* offset of its ']' */
    iw_jscan_ent *ents;
    size_t        n;
    char         *arena;
    /* name -> entry: open addressing, linear probing, slots hold index+1
     * (0 = empty), hashed with iw_jscan_hash; NULL when n == 0 */
    size_t       *table;
    size_t        mask;
} iw_jscan;

/* FNV-1a of a NUL-terminated name (the table's hash). */
static inline size_t iw_jscan_hash(const char *s)
{
    unsigned long long h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

/* Scan `text` (len bytes, need not be NUL-terminated).  `what` names the
 * file in errors.  out may be NULL to validate only.  0 or a negative code
 * (IW_EFORMAT, IW_ELIMIT for depth, IW_ENOMEM) with the error set. */
int  iw_jscan_registry(const char *text, size_t len, const char *what, iw_jscan *out);
void iw_jscan_free(iw_jscan *s);

#endif
