/* jscan.c - validating, non-allocating scanner for registry files (jscan.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "iwdl/registry.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

/* byte class inside a string: 0 plain ASCII, 1 '"', 2 '\\', 3 control,
 * 4 non-ASCII (UTF-8 checked) */
static inline int str_class(unsigned char c)
{
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\')
        return 0;
    return c < 0x20 ? 3 : c == '"' ? 1 : c == '\\' ? 2 : 4;
}

/* hex digit value + 1, 0 = not a hex digit */
static inline unsigned hexv(unsigned char c)
{
    return (c >= '0' && c <= '9') ? (unsigned)(c - '0' + 1)
         : (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 11)
         : (c >= 'A' && c <= 'F') ? (unsigned)(c - 'A' + 11) : 0;
}

typedef struct scan {
    const unsigned char *t;
    size_t len, pos;
    size_t err_off;       /* where the scan stopped */
    bool   deep;          /* a value nested deeper than IW_JSCAN_MAX_DEPTH */
    /* registry facts, reported after the syntax is known good */
    bool   root_array;
    long   bad_ent;       /* first element that is not an object / has no usable name */
    int    bad_kind;      /* 1 not an object, 2 no string name, 3 name too long, 4 NUL in the name */
    /* output */
    iw_jscan_ent *ents;
    size_t n, cap;
    char  *arena;
    size_t alen, acap;
    bool   oom;
} scan;

static inline bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Pretty-printed registries are mostly indentation: runs of spaces are
 * skipped 16 (SSE2) or 8 bytes at a time. */
static inline __attribute__((always_inline)) void skip_ws(scan *s)
{
    const unsigned char *t = s->t;
    size_t p = s->pos, n = s->len;
    while (p < n) {
        unsigned char c = t[p];
        if (c > ' ')
            break;
        if (c == ' ') {
#if defined(__SSE2__)
            while (p + 16 <= n) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(t + p));
                unsigned m = ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(' '))) & 0xFFFFu;
                if (m) {
                    p += (size_t)__builtin_ctz(m);
                    goto next;
                }
                p += 16;
            }
#else
            uint64_t v;
            while (p + 8 <= n && (memcpy(&v, t + p, 8), v == 0x2020202020202020ULL))
                p += 8;
#endif
            while (p < n && t[p] == ' ')
                p++;
            continue;
        }
        if (c != '\n' && c != '\r' && c != '\t')
            break;
        p++;
#if defined(__SSE2__)
next:;
#endif
    }
    s->pos = p;
}

/* Offset of the first byte in [p, p+16) that ends a plain run inside a
 * string ('"', '\\', a control character or a non-ASCII byte), or 16. */
static inline __attribute__((always_inline)) unsigned special16(const unsigned char *q)
{
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
    /* signed compare: bytes >= 0x80 are negative, so "< 0x20" covers them */
    __m128i sp = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                           _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                              _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
    unsigned m = (unsigned)_mm_movemask_epi8(sp);
    return m ? (unsigned)__builtin_ctz(m) : 16;
#else
    for (unsigned half = 0; half < 16; half += 8) {
        uint64_t v;
        memcpy(&v, q + half, 8);
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        uint64_t dq = v ^ (ones * '"'), bs = v ^ (ones * '\\');
        /* the lowest flagged byte is exact: a borrow only comes from a
         * lower byte that is itself special */
        uint64_t sp = ((v - ones * 0x20) | ((dq - ones) & ~dq) | ((bs - ones) & ~bs) | v) & high;
        if (sp) {
            unsigned k = 0;
            while (!(sp & 0x80)) {
                sp >>= 8;
                k++;
            }
            return half + k;
        }
    }
    return 16;
#endif
}

/* Append one decoded UTF-8 code point, at most `room` more bytes kept. */
static size_t put_utf8(char *out, size_t o, size_t cap, uint32_t cp)
{
    unsigned char b[4];
    size_t k;
    if (cp < 0x80) { b[0] = (unsigned char)cp; k = 1; }
    else if (cp < 0x800) { b[0] = (unsigned char)(0xC0 | (cp >> 6)); b[1] = (unsigned char)(0x80 | (cp & 0x3F)); k = 2; }
    else if (cp < 0x10000) { b[0] = (unsigned char)(0xE0 | (cp >> 12)); b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                             b[2] = (unsigned char)(0x80 | (cp & 0x3F)); k = 3; }
    else { b[0] = (unsigned char)(0xF0 | (cp >> 18)); b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
           b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (unsigned char)(0x80 | (cp & 0x3F)); k = 4; }
    for (size_t i = 0; i < k && o < cap; i++)
        out[o++] = (char)b[i];
    return o;
}

static uint32_t hex4(const unsigned char *p)
{
    return (uint32_t)(hexv(p[0]) - 1) << 12 | (uint32_t)(hexv(p[1]) - 1) << 8 |
           (uint32_t)(hexv(p[2]) - 1) << 4 | (uint32_t)(hexv(p[3]) - 1);
}

/* Decode an already validated string body [a, b) into out (at most cap
 * bytes); a decoded NUL is kept (a name holding one is refused: cJSON's C
 * strings would cut it into another name).  Returns the decoded length,
 * which is cap when the string is at least that long. */
static size_t decode(const unsigned char *a, const unsigned char *b, char *out, size_t cap)
{
    size_t o = 0;
    while (a < b && o < cap) {
        if (*a != '\\') {
            out[o++] = (char)*a++;
            continue;
        }
        a++;
        uint32_t cp;
        switch (*a++) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            cp = hex4(a);
            a += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {   /* validated: a low surrogate follows */
                uint32_t lo = hex4(a + 2);
                a += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            break;
        default: cp = a[-1]; break;   /* '"', '\\', '/' */
        }
        if (cp == 0) {   /* kept: the caller refuses a name holding a NUL */
            out[o++] = 0;
            continue;
        }
        o = put_utf8(out, o, cap, cp);
    }
    return o;
}

/* Length of a valid UTF-8 sequence at p (bytes left: n), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c >= 0xC2 && c <= 0xDF)
        return (n >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0;   /* overlong; UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0;   /* overlong; above U+10FFFF */
        return 4;
    }
    return 0;           /* continuation byte, C0/C1, F5..FF */
}

/* A string starting at s->pos (the opening quote).  On success s->pos is
 * past the closing quote and [*a, *b) is the body; *esc tells whether it
 * holds escapes.  false: s->err_off set. */
static inline __attribute__((always_inline)) bool scan_string(scan *s, size_t *a, size_t *b, bool *esc)
{
    const unsigned char *t = s->t;
    size_t p = s->pos + 1, n = s->len;
    *a = p;
    *esc = false;
    for (;;) {
        /* plain ASCII runs, 16 bytes at a time */
        while (p + 16 <= n) {
            unsigned k = special16(t + p);
            p += k;
            if (k < 16)
                break;
        }
        while (p < n && str_class(t[p]) == 0)
            p++;
        if (p >= n) {
            s->err_off = n;
            return false;
        }
        switch (str_class(t[p])) {
        case 0:
            continue;
        case 1:
            *b = p;
            s->pos = p + 1;
            return true;
        case 3:
            s->err_off = p;   /* raw control character */
            return false;
        case 4: {
            size_t k = utf8_len(t + p, n - p);
            if (!k) {
                s->err_off = p;   /* a cut sequence: the caller sees the open string */
                return false;
            }
            p += k;
            continue;
        }
        default:   /* backslash */
            *esc = true;
            if (p + 1 >= n) {
                s->err_off = n;
                return false;
            }
            switch (t[p + 1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                continue;
            case 'u': {
                for (size_t i = 0; i < 4; i++) {
                    if (p + 2 + i >= n) {
                        s->err_off = n;
                        return false;
                    }
                    if (!hexv(t[p + 2 + i])) {
                        s->err_off = p;
                        return false;
                    }
                }
                uint32_t cp = hex4(t + p + 2);
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    s->err_off = p;   /* a low surrogate alone */
                    return false;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    /* must be followed by \uDC00..\uDFFF */
                    size_t q = p + 6;
                    if (q + 6 > n) {
                        /* the text ends here: truncated if what is left
                         * could still begin "\uDC00" */
                        s->err_off = n;
                        for (size_t i = q; i < n; i++)
                            if ((i == q && t[i] != '\\') || (i == q + 1 && t[i] != 'u') || (i >= q + 2 && !hexv(t[i])))
                                s->err_off = p;
                        return false;
                    }
                    if (t[q] != '\\' || t[q + 1] != 'u' || !hexv(t[q + 2]) || !hexv(t[q + 3]) ||
                        !hexv(t[q + 4]) || !hexv(t[q + 5])) {
                        s->err_off = p;
                        return false;
                    }
                    uint32_t lo = hex4(t + q + 2);
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        s->err_off = p;
                        return false;
                    }
                    p += 12;
                    continue;
                }
                p += 6;
                continue;
            }
            default:
                s->err_off = p;
                return false;
            }
        }
    }
}

static bool scan_number(scan *s)
{
    const unsigned char *t = s->t;
    size_t p = s->pos, n = s->len, start = p;
#define DIGIT(i) ((i) < n && t[i] >= '0' && t[i] <= '9')
    if (t[p] == '-')
        p++;
    if (p >= n) {
        s->err_off = n;
        return false;
    }
    if (t[p] == '0') {
        p++;
    } else if (t[p] >= '1' && t[p] <= '9') {
        while (DIGIT(p))
            p++;
    } else {
        s->err_off = p;
        return false;
    }
    if (p < n && t[p] == '.') {
        p++;
        if (!DIGIT(p)) {
            s->err_off = p;
            return false;
        }
        while (DIGIT(p))
            p++;
    }
    if (p < n && (t[p] == 'e' || t[p] == 'E')) {
        p++;
        if (p < n && (t[p] == '+' || t[p] == '-'))
            p++;
        if (!DIGIT(p)) {
            s->err_off = p;
            return false;
        }
        while (DIGIT(p))
            p++;
    }
#undef DIGIT
    if (p - start > 63) {
        s->err_off = start + 63;   /* cJSON reads at most 63 characters of a number */
        return false;
    }
    s->pos = p;
    return true;
}

static bool scan_literal(scan *s, const char *lit, size_t k)
{
    size_t p = s->pos, n = s->len;
    for (size_t i = 0; i < k; i++) {
        if (p + i >= n) {
            s->err_off = n;
            return false;
        }
        if (s->t[p + i] != (unsigned char)lit[i]) {
            s->err_off = p;
            return false;
        }
    }
    s->pos = p + k;
    return true;
}

static bool arena_put(scan *s, const char *str, size_t k, size_t *off)
{
    if (s->alen + k + 1 > s->acap) {
        size_t nc = s->acap ? s->acap * 2 : 4096;
        while (nc < s->alen + k + 1)
            nc *= 2;
        char *na = realloc(s->arena, nc);
        if (!na) {
            s->oom = true;
            return false;
        }
        s->arena = na;
        s->acap = nc;
    }
    memcpy(s->arena + s->alen, str, k);
    s->arena[s->alen + k] = 0;
    *off = s->alen;
    s->alen += k + 1;
    return true;
}

/* The scan proper.  Stack of open containers: '[' or '{'. */
static bool scan_all(scan *s, size_t *root_start)
{
    unsigned char stack[IW_JSCAN_HARD_DEPTH + 1];
    size_t depth = 0;
    const unsigned char *t = s->t;
    /* per top-level entry: name state */
    enum { NAME_NONE, NAME_NEXT, NAME_DONE } nstate = NAME_NONE;
    size_t ent_start = 0;
    char namebuf[IW_REGISTRY_MAX_NAME + 2];
    size_t name_len = 0;
    bool name_ok = false;
    long idx = -1;

    skip_ws(s);
    *root_start = s->pos;
    for (;;) {
        /* ---- a value */
value:
        skip_ws(s);
        if (s->pos >= s->len) {
            s->err_off = s->len;
            return false;
        }
        if (depth > IW_JSCAN_MAX_DEPTH)
            s->deep = true;
        if (depth == 1 && s->root_array) {
            /* a registry entry starts */
            idx++;
            ent_start = s->pos;
            nstate = NAME_NONE;
            name_ok = false;
            name_len = 0;
            if (t[s->pos] != '{' && s->bad_ent < 0) {
                s->bad_ent = idx;
                s->bad_kind = 1;
            }
        }
        bool is_name_value = depth == 2 && s->root_array && nstate == NAME_NEXT;
        if (is_name_value)
            nstate = NAME_DONE;
        switch (t[s->pos]) {
        case '{':
        case '[':
            if (depth >= IW_JSCAN_HARD_DEPTH) {
                s->err_off = s->pos;
                return false;
            }
            if (depth == 0 && t[s->pos] == '[')
                s->root_array = true;
            stack[depth++] = t[s->pos];
            s->pos++;
            skip_ws(s);
            if (s->pos >= s->len) {
                s->err_off = s->len;
                return false;
            }
            if (t[s->pos] == (stack[depth - 1] == '[' ? ']' : '}')) {
                s->pos++;
                depth--;
                goto after;
            }
            if (stack[depth - 1] == '{')
                goto key;
            goto value;
        case '"': {
            size_t a, b;
            bool esc;
            if (!scan_string(s, &a, &b, &esc))
                return false;
            if (is_name_value) {
                name_len = esc ? decode(t + a, t + b, namebuf, sizeof namebuf - 1)
                               : (b - a < sizeof namebuf - 1 ? b - a : sizeof namebuf - 1);
                if (!esc)
                    memcpy(namebuf, t + a, name_len);
                name_ok = true;
            }
            goto after;
        }
        case 't':
            if (!scan_literal(s, "true", 4))
                return false;
            goto after;
        case 'f':
            if (!scan_literal(s, "false", 5))
                return false;
            goto after;
        case 'n':
            if (!scan_literal(s, "null", 4))
                return false;
            goto after;
        default:
            if (t[s->pos] == '-' || (t[s->pos] >= '0' && t[s->pos] <= '9')) {
                if (!scan_number(s))
                    return false;
                goto after;
            }
            s->err_off = s->pos;
            return false;
        }

        /* ---- an object key and its colon */
key:
        skip_ws(s);
        if (s->pos >= s->len) {
            s->err_off = s->len;
            return false;
        }
        if (t[s->pos] != '"') {
            s->err_off = s->pos;
            return false;
        }
        {
            size_t a, b;
            bool esc;
            if (!scan_string(s, &a, &b, &esc))
                return false;
            if (depth == 2 && s->root_array && nstate == NAME_NONE) {
                bool is_name;
                if (!esc) {
                    is_name = b - a == 4 && memcmp(t + a, "name", 4) == 0;
                } else {
                    char kb[6];
                    size_t k = decode(t + a, t + b, kb, 5);
                    is_name = k == 4 && memcmp(kb, "name", 4) == 0;
                }
                if (is_name)
                    nstate = NAME_NEXT;
            }
        }
        skip_ws(s);
        if (s->pos >= s->len) {
            s->err_off = s->len;
            return false;
        }
        if (t[s->pos] != ':') {
            s->err_off = s->pos;
            return false;
        }
        s->pos++;
        goto value;

        /* ---- after a value: close containers, or the next element */
after:
        if (depth == 1 && s->root_array) {
            /* entry idx is complete */
            if (s->bad_ent < 0 && t[ent_start] == '{') {
                if (!name_ok || name_len == 0) {
                    s->bad_ent = idx;
                    s->bad_kind = 2;
                } else if (name_len > IW_REGISTRY_MAX_NAME) {
                    s->bad_ent = idx;
                    s->bad_kind = 3;
                } else if (memchr(namebuf, 0, name_len)) {   /* C strings would cut it: another name */
                    s->bad_ent = idx;
                    s->bad_kind = 4;
                }
            }
            if (s->bad_ent < 0 && !s->oom) {
                if (s->n == s->cap) {
                    size_t nc = s->cap ? s->cap * 2 : 256;
                    iw_jscan_ent *ne = realloc(s->ents, nc * sizeof *ne);
                    if (!ne) {
                        s->oom = true;
                    } else {
                        s->ents = ne;
                        s->cap = nc;
                    }
                }
                size_t off;
                if (!s->oom && arena_put(s, namebuf, name_len, &off)) {
                    s->ents[s->n].start = ent_start;
                    s->ents[s->n].end = s->pos;
                    s->ents[s->n].name = (const char *)(uintptr_t)off;   /* fixed up at the end */
                    s->n++;
                }
            }
        }
        if (depth == 0)
            return true;
        skip_ws(s);
        if (s->pos >= s->len) {
            s->err_off = s->len;
            return false;
        }
        {
            unsigned char c = t[s->pos];
            unsigned char closer = stack[depth - 1] == '[' ? ']' : '}';
            if (c == ',') {
                s->pos++;
                if (stack[depth - 1] == '{')
                    goto key;
                goto value;
            }
            if (c == closer) {
                s->pos++;
                depth--;
                goto after;
            }
            s->err_off = s->pos;
            return false;
        }
    }
}

/* The text ends inside a string, object or array (json.c's rule). */
static bool looks_truncated(const unsigned char *t, size_t len)
{
    long depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = t[i];
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

static void line_col(const char *text, size_t len, size_t off, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') { l++; c = 1; }
        else c++;
    }
    *line = l;
    *col = c;
}

static int refuse(const char *what, const char *text, size_t len, size_t off, int code, const char *msg)
{
    size_t line, col;
    line_col(text, len, off, &line, &col);
    return iw_error_set(code, "%s:%zu:%zu: %s; refusing to use or overwrite it", what, line, col, msg);
}

int iw_jscan_registry(const char *text, size_t len, const char *what, iw_jscan *out)
{
    scan s;
    size_t root = 0;
    int rc = 0;
    if (out)
        memset(out, 0, sizeof *out);
    if (!what)
        what = "registry";
    if (!text)
        return iw_error_set(IW_EINVAL, "%s: no data", what);
    if (iw_is_lfs_pointer(text, len))
        return iw_error_set(IW_EFORMAT, "%s is a Git LFS pointer, not JSON: the real file was not downloaded "
                            "(fetch it with LFS or re-download); refusing to use or overwrite it", what);
    memset(&s, 0, sizeof s);
    s.t = (const unsigned char *)text;
    s.len = len;
    s.bad_ent = -1;
    if (len >= 3 && s.t[0] == 0xEF && s.t[1] == 0xBB && s.t[2] == 0xBF)
        s.pos = 3;
    size_t skip = s.pos;
    if (!scan_all(&s, &root)) {
        /* a NUL byte is never valid JSON, so looking for one can wait for a
         * failed scan */
        const char *nul = memchr(text + skip, 0, len - skip);
        if (nul) {
            rc = iw_error_set(IW_EFORMAT, "%s: contains a NUL byte at offset %zu, not JSON; refusing to use or overwrite it",
                              what, (size_t)(nul - text));
            goto fail;
        }
        size_t off = s.err_off;
        if (off >= len || looks_truncated(s.t + skip, len - skip)) {
            rc = refuse(what, text, len, off, IW_EFORMAT, "invalid JSON: truncated (unexpected end of input)");
        } else {
            /* never quoted: a file that is not JSON may be a key or a token,
             * and the error reaches logs and serve's 500 body */
            rc = refuse(what, text, len, off, IW_EFORMAT, "invalid JSON: unexpected character");
        }
        goto fail;
    }
    skip_ws(&s);
    if (s.pos < len) {
        const char *nul = memchr(text + s.pos, 0, len - s.pos);
        if (nul)
            rc = iw_error_set(IW_EFORMAT, "%s: contains a NUL byte at offset %zu, not JSON; refusing to use or overwrite it",
                              what, (size_t)(nul - text));
        else
            rc = refuse(what, text, len, s.pos, IW_EFORMAT, "unexpected data after the JSON value");
        goto fail;
    }
    if (s.deep) {
        rc = iw_error_set(IW_ELIMIT, "%s: JSON nested deeper than %d levels; refusing to use or overwrite it",
                          what, IW_JSCAN_MAX_DEPTH);
        goto fail;
    }
    if (!s.root_array) {
        rc = refuse(what, text, len, root, IW_EFORMAT, "expected a JSON array of entries");
        goto fail;
    }
    if (s.bad_ent >= 0) {
        /* the element's start: walk the spans we kept (all before it) */
        static const char *const msgs[5] = { "", "entry is not an object", "entry has no string \"name\"",
                                             "entry name longer than 256 bytes",
                                             "entry name contains a NUL character (\\u0000)" };
        size_t off = root;
        if (s.bad_ent > 0 && s.n == (size_t)s.bad_ent) {
            /* after the previous element's end: skip ',' and blanks */
            off = s.ents[s.n - 1].end;
            while (off < len && (is_ws(s.t[off]) || s.t[off] == ','))
                off++;
        } else if (s.bad_ent == 0) {
            off = root + 1;
            while (off < len && is_ws(s.t[off]))
                off++;
        } else {
            s.oom = true;
        }
        if (s.oom)
            rc = iw_error_set(IW_ENOMEM, "%s: out of memory", what);
        else
            rc = refuse(what, text, len, off, IW_EFORMAT, msgs[s.bad_kind]);
        goto fail;
    }
    if (s.oom) {
        rc = iw_error_set(IW_ENOMEM, "%s: out of memory", what);
        goto fail;
    }
    for (size_t i = 0; i < s.n; i++)
        s.ents[i].name = s.arena + (uintptr_t)s.ents[i].name;
    /* repeated names: report the earliest second occurrence.  Entries go
     * into the name table in file order, so the first one that finds its
     * name taken is that occurrence. */
    if (s.n) {
        size_t cap = 16;
        while (cap < s.n * 2)
            cap *= 2;
        size_t *tab = calloc(cap, sizeof *tab), mask = cap - 1;
        if (!tab) {
            rc = iw_error_set(IW_ENOMEM, "%s: out of memory", what);
            goto fail;
        }
        for (size_t i = 0; i < s.n; i++) {
            size_t h = iw_jscan_hash(s.ents[i].name) & mask;
            while (tab[h] && strcmp(s.ents[tab[h] - 1].name, s.ents[i].name) != 0)
                h = (h + 1) & mask;
            if (tab[h]) {
                char msg[IW_REGISTRY_MAX_NAME + 64];
                snprintf(msg, sizeof msg, "duplicate entry name '%s'", s.ents[i].name);
                rc = refuse(what, text, len, s.ents[i].start, IW_EFORMAT, msg);
                free(tab);
                goto fail;
            }
            tab[h] = i + 1;
        }
        if (out) {
            out->table = tab;
            out->mask = mask;
        } else {
            free(tab);
        }
    }
    /* the root array's brackets */
    size_t close = len;
    while (close > 0 && s.t[close - 1] != ']')
        close--;
    if (out) {
        out->skip = skip;
        out->open = root;
        out->close = close ? close - 1 : 0;
        out->ents = s.ents;
        out->n = s.n;
        out->arena = s.arena;
        return 0;
    }
    rc = 0;
fail:
    free(s.ents);
    free(s.arena);
    return rc;
}

void iw_jscan_free(iw_jscan *s)
{
    if (!s)
        return;
    free(s->ents);
    free(s->arena);
    free(s->table);
    memset(s, 0, sizeof *s);
}
