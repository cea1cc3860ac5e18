/* fuzz_jscan.c - libFuzzer harness: the registry scanner (src/registry/jscan.c)
 * differentially against
 *  - an independent strict RFC 8259 + registry validator written here from
 *    the grammar and the rules in jscan.h (leading zeros, "1.", numbers over
 *    63 characters, raw control characters, invalid UTF-8, unknown escapes,
 *    unpaired surrogates, non-JSON whitespace, nesting over 128, a BOM, the
 *    first "name" key, empty / over-256-byte / NUL-holding / repeated names):
 *    the same accept or refuse, always;
 *  - cJSON: whatever the scanner accepts, cJSON parses as well, with the
 *    same number of entries, each span parsing alone to the same value as
 *    the whole array's element, named as the scanner says.
 * A disagreement aborts (a crash for libFuzzer). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/text.h"
#include "registry/jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------ reference */

typedef struct ref {
    const unsigned char *t;
    size_t n, p;
    bool ok;
    /* registry facts */
    char **names;
    size_t nn;
} ref;

static void ws(ref *r)
{
    while (r->p < r->n && (r->t[r->p] == ' ' || r->t[r->p] == '\t' || r->t[r->p] == '\n' || r->t[r->p] == '\r'))
        r->p++;
}

static int hexd(unsigned char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool hex4(ref *r, size_t at, unsigned *cp)
{
    if (at + 4 > r->n)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hexd(r->t[at + (size_t)i]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    *cp = v;
    return true;
}

static void put_cp(char *out, size_t *o, size_t cap, unsigned cp)
{
    unsigned char b[4];
    size_t k = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (k == 1) b[0] = (unsigned char)cp;
    else if (k == 2) { b[0] = (unsigned char)(0xC0 | cp >> 6); b[1] = (unsigned char)(0x80 | (cp & 0x3F)); }
    else if (k == 3) { b[0] = (unsigned char)(0xE0 | cp >> 12); b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
                       b[2] = (unsigned char)(0x80 | (cp & 0x3F)); }
    else { b[0] = (unsigned char)(0xF0 | cp >> 18); b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
           b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)); b[3] = (unsigned char)(0x80 | (cp & 0x3F)); }
    for (size_t i = 0; i < k; i++)
        if (*o < cap)
            out[(*o)++] = (char)b[i];
        else
            (*o)++;
}

/* A string at r->p (the quote); its decoded bytes into out (cap bytes kept,
 * *olen counts all). */
static bool string(ref *r, char *out, size_t cap, size_t *olen)
{
    size_t o = 0;
    r->p++;
    for (;;) {
        if (r->p >= r->n)
            return false;
        unsigned char c = r->t[r->p];
        if (c == '"') {
            r->p++;
            *olen = o;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            int l = iw_utf8_len(r->t + r->p, r->n - r->p);
            if (l <= 0)
                return false;
            for (int i = 0; i < l; i++)
                if (o < cap) out[o++] = (char)r->t[r->p + (size_t)i]; else o++;
            r->p += (size_t)l;
            continue;
        }
        if (c != '\\') {
            if (o < cap) out[o++] = (char)c; else o++;
            r->p++;
            continue;
        }
        if (r->p + 1 >= r->n)
            return false;
        unsigned char e = r->t[r->p + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            if (o < cap) out[o++] = map[simple - "\"\\/bfnrt"]; else o++;
            r->p += 2;
            continue;
        }
        if (e != 'u')
            return false;
        unsigned cp, lo;
        if (!hex4(r, r->p + 2, &cp))
            return false;
        r->p += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (r->p + 6 > r->n || r->t[r->p] != '\\' || r->t[r->p + 1] != 'u' || !hex4(r, r->p + 2, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                return false;
            r->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        put_cp(out, &o, cap, cp);
    }
}

static bool number(ref *r)
{
    size_t s = r->p;
#define D(i) ((i) < r->n && r->t[i] >= '0' && r->t[i] <= '9')
    if (r->p < r->n && r->t[r->p] == '-')
        r->p++;
    if (!D(r->p))
        return false;
    if (r->t[r->p] == '0')
        r->p++;
    else
        while (D(r->p))
            r->p++;
    if (r->p < r->n && r->t[r->p] == '.') {
        r->p++;
        if (!D(r->p))
            return false;
        while (D(r->p))
            r->p++;
    }
    if (r->p < r->n && (r->t[r->p] == 'e' || r->t[r->p] == 'E')) {
        r->p++;
        if (r->p < r->n && (r->t[r->p] == '+' || r->t[r->p] == '-'))
            r->p++;
        if (!D(r->p))
            return false;
        while (D(r->p))
            r->p++;
    }
#undef D
    return r->p - s <= 63;
}

static bool lit(ref *r, const char *l)
{
    size_t k = strlen(l);
    if (r->p + k > r->n || memcmp(r->t + r->p, l, k))
        return false;
    r->p += k;
    return true;
}

/* A value at nesting `depth` (enclosing containers).  entry: it is a
 * top-level element of the root array (then its name is checked). */
static bool value(ref *r, size_t depth, bool entry);

static bool object(ref *r, size_t depth, bool entry)
{
    bool first_name_seen = false, name_ok = false;
    char nm[IW_REGISTRY_MAX_NAME + 8];
    size_t nl = 0;
    r->p++;
    ws(r);
    if (r->p < r->n && r->t[r->p] == '}') {
        r->p++;
    } else {
        for (;;) {
            ws(r);
            if (r->p >= r->n || r->t[r->p] != '"')
                return false;
            char key[8];
            size_t kl;
            if (!string(r, key, sizeof key, &kl))
                return false;
            bool is_name = kl == 4 && !memcmp(key, "name", 4) && !first_name_seen;
            ws(r);
            if (r->p >= r->n || r->t[r->p] != ':')
                return false;
            r->p++;
            ws(r);
            if (is_name) {
                first_name_seen = true;
                if (r->p < r->n && r->t[r->p] == '"') {
                    if (depth + 1 > IW_JSCAN_MAX_DEPTH)
                        r->ok = false;
                    if (!string(r, nm, sizeof nm, &nl))
                        return false;
                    name_ok = true;
                } else if (!value(r, depth + 1, false)) {
                    return false;
                }
            } else if (!value(r, depth + 1, false)) {
                return false;
            }
            ws(r);
            if (r->p >= r->n)
                return false;
            if (r->t[r->p] == ',') {
                r->p++;
                continue;
            }
            if (r->t[r->p] != '}')
                return false;
            r->p++;
            break;
        }
    }
    if (entry) {
        if (!name_ok || nl == 0 || nl > IW_REGISTRY_MAX_NAME || memchr(nm, 0, nl))
            r->ok = false;
        else {
            char *c = malloc(nl + 1);
            if (!c)
                abort();
            memcpy(c, nm, nl);
            c[nl] = 0;
            char **g = realloc(r->names, (r->nn + 1) * sizeof *g);
            if (!g)
                abort();
            r->names = g;
            r->names[r->nn++] = c;
        }
    }
    return true;
}

static bool array(ref *r, size_t depth, bool root)
{
    r->p++;
    ws(r);
    if (r->p < r->n && r->t[r->p] == ']') {
        r->p++;
        return true;
    }
    for (;;) {
        ws(r);
        if (root && (r->p >= r->n || r->t[r->p] != '{'))
            r->ok = false;   /* an element that is not an object (still checked as JSON) */
        if (!value(r, depth + 1, root))
            return false;
        ws(r);
        if (r->p >= r->n)
            return false;
        if (r->t[r->p] == ',') {
            r->p++;
            continue;
        }
        if (r->t[r->p] != ']')
            return false;
        r->p++;
        return true;
    }
}

static bool value(ref *r, size_t depth, bool entry)
{
    ws(r);
    if (r->p >= r->n)
        return false;
    if (depth > IW_JSCAN_MAX_DEPTH)
        r->ok = false;
    if (depth >= 400)   /* far past the cap: refused either way, spare the stack */
        return false;
    switch (r->t[r->p]) {
    case '{': return object(r, depth, entry);
    case '[': return array(r, depth, false);
    case '"': { char x[1]; size_t l; return string(r, x, 0, &l); }
    case 't': return lit(r, "true");
    case 'f': return lit(r, "false");
    case 'n': return lit(r, "null");
    default:  return number(r);
    }
}

/* The reference verdict on a registry text. */
static bool ref_accepts(const unsigned char *t, size_t n, ref *r)
{
    memset(r, 0, sizeof *r);
    r->t = t;
    r->n = n;
    r->ok = true;
    if (iw_is_lfs_pointer((const char *)t, n))
        return false;
    if (n >= 3 && t[0] == 0xEF && t[1] == 0xBB && t[2] == 0xBF)
        r->p = 3;
    ws(r);
    if (r->p >= r->n)
        return false;
    bool root_array = r->t[r->p] == '[';
    bool syntax = root_array ? array(r, 0, true) : value(r, 0, false);
    if (!syntax)
        return false;
    ws(r);
    if (r->p != r->n || !root_array || !r->ok)
        return false;
    for (size_t i = 0; i < r->nn; i++)
        for (size_t k = 0; k < i; k++)
            if (!strcmp(r->names[i], r->names[k]))
                return false;
    return true;
}

static void ref_free(ref *r)
{
    for (size_t i = 0; i < r->nn; i++)
        free(r->names[i]);
    free(r->names);
}

/* ------------------------------------------------------------ harness */

/* Structural equality in order (cJSON_Compare looks keys up, which goes
 * wrong with a repeated key: JSON allows one, and so does the scanner). */
static bool same(const cJSON *a, const cJSON *b)
{
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return false;
    if ((a->string == NULL) != (b->string == NULL) || (a->string && strcmp(a->string, b->string)))
        return false;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble || (a->valuedouble != a->valuedouble && b->valuedouble != b->valuedouble);
    if (cJSON_IsString(a))
        return !strcmp(a->valuestring, b->valuestring);
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
        if (!same(x, y))
            return false;
    return !x && !y;
}

static void fail(const char *why, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_jscan: %s on %zu bytes: %.*s\n", why, size, (int)(size < 400 ? size : 400), (const char *)data);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exactly size bytes: ASan sees any read past the end */
    char *t = malloc(size ? size : 1);
    if (!t)
        return 0;
    memcpy(t, data, size);
    iw_jscan sc;
    bool jok = iw_jscan_registry(t, size, "fuzz.json", &sc) == 0;
    ref r;
    bool rok = ref_accepts((const unsigned char *)t, size, &r);
    if (jok != rok)
        fail(jok ? "the scanner accepts what the reference refuses" : "the scanner refuses what the reference accepts",
             data, size);
    if (jok) {
        size_t skip = size >= 3 && !memcmp(t, "\xEF\xBB\xBF", 3) ? 3 : 0;
        cJSON *all = cJSON_ParseWithLengthOpts(t + skip, size - skip, NULL, 0);
        if (!cJSON_IsArray(all) || (size_t)cJSON_GetArraySize(all) != sc.n || sc.n != r.nn)
            fail("cJSON disagrees on the entries", data, size);
        const cJSON *el = all->child;
        size_t prev_end = 0;
        for (size_t i = 0; i < sc.n; i++, el = el->next) {
            const iw_jscan_ent *e = &sc.ents[i];
            if (e->start < prev_end || e->end <= e->start || e->end > size || t[e->start] != '{' ||
                t[e->end - 1] != '}')
                fail("a span is out of place", data, size);
            prev_end = e->end;
            cJSON *one = cJSON_ParseWithLengthOpts(t + e->start, e->end - e->start, NULL, 0);
            const char *nm = iw_json_get_str(one, "name");
            if (!one || !same(one, el) || !nm || strcmp(nm, e->name) || strcmp(nm, r.names[i]))
                fail("a span is not its entry", data, size);
            cJSON_Delete(one);
        }
        cJSON_Delete(all);
        iw_jscan_free(&sc);
    }
    ref_free(&r);
    free(t);
    iw_error_clear();
    return 0;
}
