/* pyjson.c - Python's json.dumps(indent=2) output (see pyjson.h). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjson.h"
#include "jscan.h"
#include "iwdl/error.h"

/* ------------------------------------------------------------ scalars */

static int indent(iw_buf *out, int level)
{
    if (iw_buf_putc(out, '\n') < 0)
        return -1;
    for (int i = 0; i < level; i++)
        if (iw_buf_append(out, "  ", 2) < 0)
            return -1;
    return 0;
}

#define PY_FLOAT_MAX 64

/* Python's repr(float) into buf[PY_FLOAT_MAX]: the shortest digits that
 * read back to the same double (CPython's 'r' mode), fixed notation when
 * -4 < decpt <= 16; its length. */
static size_t py_float(double d, char *buf)
{
    if (isnan(d) || isinf(d)) {
        const char *s = isnan(d) ? "NaN" : d < 0 ? "-Infinity" : "Infinity";
        memcpy(buf, s, strlen(s));
        return strlen(s);
    }
    char e[40], digits[24];
    int p = 0;
    for (; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e: [-]d[.ddd]e[+-]XX */
    const char *s = e;
    bool neg = *s == '-';
    if (neg)
        s++;
    size_t nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.')
            digits[nd++] = *s;
    int exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int decpt = exp10 + 1;
    if (d == 0)
        decpt = 1;
    size_t o = 0;
    if (neg)
        buf[o++] = '-';
    if (decpt <= -4 || decpt > 16) {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            memcpy(buf + o, digits + 1, nd - 1);
            o += nd - 1;
        }
        int x = decpt - 1;
        o += (size_t)snprintf(buf + o, PY_FLOAT_MAX - o, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    } else if (decpt <= 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = 0; i < -decpt; i++)
            buf[o++] = '0';
        memcpy(buf + o, digits, nd);
        o += nd;
    } else if ((size_t)decpt >= nd) {
        memcpy(buf + o, digits, nd);
        o += nd;
        for (size_t i = nd; i < (size_t)decpt; i++)
            buf[o++] = '0';
        buf[o++] = '.';
        buf[o++] = '0';
    } else {
        memcpy(buf + o, digits, (size_t)decpt);
        o += (size_t)decpt;
        buf[o++] = '.';
        memcpy(buf + o, digits + decpt, nd - (size_t)decpt);
        o += nd - (size_t)decpt;
    }
    return o;
}

static int put_float(iw_buf *out, double d)
{
    char buf[PY_FLOAT_MAX];
    return iw_buf_append(out, buf, py_float(d, buf));
}

/* A number token's exact decimal value: sign, significant digits without
 * leading or trailing zeros, and the power of ten of the last one (zero:
 * no digits).  false for a spelling that is no JSON number (Infinity) or
 * has more digits than a token may have. */
typedef struct { bool neg; size_t nd; long exp; char dig[64]; } decval;

static bool dec_value(const char *t, size_t n, decval *v)
{
    size_t i = 0, ndig = 0;
    long frac = 0, x = 0;
    bool dot = false;
    memset(v, 0, sizeof *v);
    if (i < n && t[i] == '-') {
        v->neg = true;
        i++;
    }
    for (; i < n && ((t[i] >= '0' && t[i] <= '9') || (t[i] == '.' && !dot)); i++) {
        if (t[i] == '.') {
            dot = true;
            continue;
        }
        ndig++;
        frac += dot;
        if (v->nd == 0 && t[i] == '0')
            continue;   /* leading zero */
        if (v->nd == sizeof v->dig)
            return false;
        v->dig[v->nd++] = t[i];
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        bool xneg = ++i < n && t[i] == '-';
        if (i < n && (t[i] == '-' || t[i] == '+'))
            i++;
        size_t x0 = i;
        for (; i < n && t[i] >= '0' && t[i] <= '9'; i++)
            if (x < 1000000)
                x = x * 10 + (t[i] - '0');   /* saturates far past any double */
        if (i == x0)
            return false;
        if (xneg)
            x = -x;
    }
    for (; v->nd && v->dig[v->nd - 1] == '0'; v->nd--)
        x++;
    v->exp = x - frac;
    if (v->nd == 0) {
        v->neg = false;
        v->exp = 0;
    }
    return ndig > 0 && i == n;
}

/* Python's spelling s of token t denotes the same number. */
static bool same_value(const char *t, size_t tn, const char *s, size_t sn)
{
    decval a, b;
    return dec_value(t, tn, &a) && dec_value(s, sn, &b) && a.neg == b.neg && a.nd == b.nd && a.exp == b.exp &&
           memcmp(a.dig, b.dig, a.nd) == 0;
}

/* A number token as Python's json reads it and dumps it again, unless
 * that would change its value: the spelling s, sn bytes (t itself, "0", or py). */
static void number_spelling(const char *t, size_t n, char py[PY_FLOAT_MAX], const char **s, size_t *sn)
{
    bool is_float = false;
    for (size_t i = 0; i < n; i++)
        if (t[i] == '.' || t[i] == 'e' || t[i] == 'E')
            is_float = true;
    *s = t;
    *sn = n;
    if (!is_float) {
        if (n == 2 && t[0] == '-' && t[1] == '0') {
            *s = "0";
            *sn = 1;
        }
        return;
    }
    char tmp[128];
    if (n >= sizeof tmp)
        n = sizeof tmp - 1;   /* jscan refuses numbers over 63 characters */
    memcpy(tmp, t, n);
    tmp[n] = 0;
    size_t pn = py_float(strtod(tmp, NULL), py);
    /* where Python's float would change the number (1e99999 -> Infinity,
     * 1e-400 -> 0.0, digits past a double), the token stays as read */
    if (same_value(t, n, py, pn)) {
        *s = py;
        *sn = pn;
    }
}

static int put_number_token(iw_buf *out, const char *t, size_t n)
{
    char py[PY_FLOAT_MAX];
    const char *s;
    size_t sn;
    number_spelling(t, n, py, &s, &sn);
    return iw_buf_append(out, s, sn);
}

static int put_u(iw_buf *out, unsigned cp)
{
    char b[8];
    snprintf(b, sizeof b, "\\u%04x", cp);
    return iw_buf_append(out, b, 6);
}

/* Code point cp with ensure_ascii. */
static int put_cp(iw_buf *out, unsigned cp)
{
    switch (cp) {
    case '"':  return iw_buf_append(out, "\\\"", 2);
    case '\\': return iw_buf_append(out, "\\\\", 2);
    case '\n': return iw_buf_append(out, "\\n", 2);
    case '\r': return iw_buf_append(out, "\\r", 2);
    case '\t': return iw_buf_append(out, "\\t", 2);
    case '\b': return iw_buf_append(out, "\\b", 2);
    case '\f': return iw_buf_append(out, "\\f", 2);
    default: break;
    }
    if (cp >= 0x20 && cp < 0x7f)
        return iw_buf_putc(out, (char)cp);
    if (cp < 0x10000)
        return put_u(out, cp);
    cp -= 0x10000;
    if (put_u(out, 0xd800 | (cp >> 10)) < 0)
        return -1;
    return put_u(out, 0xdc00 | (cp & 0x3ff));
}

static unsigned hex4(const char *s)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Decode the next code point of a JSON string body at *p (valid text). */
static unsigned next_cp(const char **pp)
{
    const unsigned char *p = (const unsigned char *)*pp;
    unsigned cp;
    if (*p == '\\') {
        char c = (char)p[1];
        p += 2;
        switch (c) {
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'u':
            cp = hex4((const char *)p);
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = hex4((const char *)p + 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            break;
        default: cp = (unsigned char)c; break;   /* \" \\ \/ */
        }
    } else if (*p < 0x80) {
        cp = *p++;
    } else {
        int n = *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : 1;
        cp = *p++ & (0x3fu >> n);
        for (int i = 0; i < n; i++)
            cp = (cp << 6) | (*p++ & 0x3fu);
    }
    *pp = (const char *)p;
    return cp;
}

/* A JSON string token (with quotes) at *pp, re-encoded; *pp past it. */
static int put_string_token(iw_buf *out, const char **pp)
{
    const char *p = *pp + 1;
    if (iw_buf_putc(out, '"') < 0)
        return -1;
    while (*p != '"') {
        /* a run of printable ASCII other than '"' and '\\' is copied as it is */
        const char *q = p;
        while ((unsigned char)*q >= 0x20 && (unsigned char)*q < 0x7f && *q != '"' && *q != '\\')
            q++;
        if (q > p) {
            if (iw_buf_append(out, p, (size_t)(q - p)) < 0)
                return -1;
            p = q;
            continue;
        }
        if (put_cp(out, next_cp(&p)) < 0)
            return -1;
    }
    *pp = p + 1;
    return iw_buf_putc(out, '"');
}

/* A decoded C string (from cJSON) re-encoded. */
static int put_cstring(iw_buf *out, const char *s)
{
    if (iw_buf_putc(out, '"') < 0)
        return -1;
    while (*s)
        if (put_cp(out, next_cp(&s)) < 0)
            return -1;
    return iw_buf_putc(out, '"');
}

/* ------------------------------------------------------------ reformat */

/* past a number token (validated text) */
static const char *number_end(const char *p, const char *end)
{
    while (p < end && (*p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9')))
        p++;
    return p;
}

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int refmt_value(const char **pp, const char *end, int level, iw_buf *out)
{
    const char *p = ws(*pp, end);
    int rc = 0;
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        if (iw_buf_putc(out, *p) < 0)
            return -1;
        p = ws(p + 1, end);
        if (*p == close) {
            *pp = p + 1;
            return iw_buf_putc(out, close);
        }
        for (;;) {
            if (indent(out, level + 1) < 0)
                return -1;
            if (obj) {
                p = ws(p, end);
                if (put_string_token(out, &p) < 0)
                    return -1;
                p = ws(p, end);   /* ':' */
                p++;
                if (iw_buf_append(out, ": ", 2) < 0)
                    return -1;
            }
            if (refmt_value(&p, end, level + 1, out) < 0)
                return -1;
            p = ws(p, end);
            if (*p == ',') {
                p++;
                if (iw_buf_putc(out, ',') < 0)
                    return -1;
                continue;
            }
            p++;   /* close */
            break;
        }
        if (indent(out, level) < 0 || iw_buf_putc(out, close) < 0)
            return -1;
    } else if (*p == '"') {
        rc = put_string_token(out, &p);
    } else if (*p == 't') {
        rc = iw_buf_append(out, "true", 4);
        p += 4;
    } else if (*p == 'f') {
        rc = iw_buf_append(out, "false", 5);
        p += 5;
    } else if (*p == 'n') {
        rc = iw_buf_append(out, "null", 4);
        p += 4;
    } else {
        const char *s = p;
        p = number_end(p, end);
        rc = put_number_token(out, s, (size_t)(p - s));
    }
    *pp = p;
    return rc;
}

/* ------------------------------------------------------------ already printed
 *
 * Text that already is its Python print (a registry the original wrote,
 * a snapshot's entries) reformats to itself.  Checking that reads the text
 * once and writes nothing, so such a value is copied whole.  Each rule
 * below is the refmt_value step it mirrors; anything else (a \u escape of
 * a surrogate, "\/", another spacing) is "no": reformat then. */

static bool printed_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* "\n" and 2*level spaces at *pp, and no more whitespace after them. */
static bool printed_indent(const char **pp, const char *end, int level)
{
    const char *p = *pp;
    size_t w = 2 * (size_t)level;
    if (end - p < (ptrdiff_t)(w + 1) || *p != '\n')
        return false;
    for (size_t i = 1; i <= w; i++)
        if (p[i] != ' ')
            return false;
    p += w + 1;
    if (p < end && printed_ws(*p))
        return false;
    *pp = p;
    return true;
}

static bool printed_string(const char **pp, const char *end)
{
    const char *p = *pp + 1;
    for (;;) {
        if (p >= end)
            return false;
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            p++;
            continue;
        }
        if (c == '"')
            break;
        if (c != '\\' || end - p < 2)
            return false;   /* raw non-ASCII or DEL: Python escapes it */
        char e = p[1];
        if (e == '"' || e == '\\' || e == 'n' || e == 'r' || e == 't' || e == 'b' || e == 'f') {
            p += 2;
            continue;
        }
        if (e != 'u' || end - p < 6)
            return false;
        unsigned cp = 0;
        for (int i = 2; i < 6; i++) {
            char h = p[i];
            if (h >= '0' && h <= '9')
                cp = cp * 16 + (unsigned)(h - '0');
            else if (h >= 'a' && h <= 'f')
                cp = cp * 16 + (unsigned)(h - 'a' + 10);
            else
                return false;   /* upper-case hex: Python writes lower case */
        }
        if ((cp >= 0x20 && cp < 0x7f) || cp == '\n' || cp == '\r' || cp == '\t' || cp == '\b' || cp == '\f' ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += 6;
    }
    *pp = p + 1;
    return true;
}

static bool printed_value(const char **pp, const char *end, int level)
{
    const char *p = *pp;
    if (p >= end)
        return false;
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        p++;
        if (p < end && *p == close) {
            *pp = p + 1;
            return true;
        }
        for (;;) {
            if (!printed_indent(&p, end, level + 1))
                return false;
            if (obj) {
                if (p >= end || *p != '"' || !printed_string(&p, end))
                    return false;
                if (end - p < 2 || p[0] != ':' || p[1] != ' ')
                    return false;
                p += 2;
                if (p < end && printed_ws(*p))
                    return false;
            }
            if (!printed_value(&p, end, level + 1))
                return false;
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            break;
        }
        if (!printed_indent(&p, end, level) || p >= end || *p != close)
            return false;
        *pp = p + 1;
        return true;
    }
    if (*p == '"')
        return printed_string(pp, end);
    if (*p == 't' || *p == 'f' || *p == 'n') {
        size_t n = *p == 'f' ? 5 : 4;
        if ((size_t)(end - p) < n)
            return false;
        *pp = p + n;
        return true;
    }
    const char *t = p;
    p = number_end(p, end);
    char py[PY_FLOAT_MAX];
    const char *s;
    size_t sn;
    number_spelling(t, (size_t)(p - t), py, &s, &sn);
    if (sn != (size_t)(p - t) || memcmp(s, t, sn) != 0)
        return false;
    *pp = p;
    return true;
}

int iw_pyjson_reformat(const char *text, size_t len, int level, iw_buf *out)
{
    const char *p = text;
    if (printed_value(&p, text + len, level) && p == text + len)
        return iw_buf_append(out, text, len) < 0 ? iw_error_set(IW_ENOMEM, "registry: out of memory printing the snapshot")
                                                 : 0;
    p = text;
    if (refmt_value(&p, text + len, level, out) < 0)
        return iw_error_set(IW_ENOMEM, "registry: out of memory printing the snapshot");
    return 0;
}

/* ------------------------------------------------------------ parse */

static char *decode_string(const char **pp)
{
    const char *p = *pp + 1, *q = p;
    size_t n = 0;
    while (*q != '"') {
        unsigned cp = next_cp(&q);
        n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
    char *s = malloc(n + 1), *o = s;
    if (!s)
        return NULL;
    while (*p != '"') {
        unsigned cp = next_cp(&p);
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xc0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xe0 | (cp >> 12));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *o++ = (char)(0xf0 | (cp >> 18));
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    *o = 0;
    *pp = p + 1;
    return s;
}

static cJSON *parse_value(const char **pp, const char *end, int depth);

static cJSON *parse_container(const char **pp, const char *end, int depth)
{
    const char *p = *pp;
    bool obj = *p == '{';
    char close = obj ? '}' : ']';
    cJSON *c = obj ? cJSON_CreateObject() : cJSON_CreateArray();
    if (!c)
        return NULL;
    p = ws(p + 1, end);
    if (*p == close) {
        *pp = p + 1;
        return c;
    }
    for (;;) {
        char *key = NULL;
        if (obj) {
            p = ws(p, end);
            if (!(key = decode_string(&p)))
                goto fail;
            p = ws(p, end) + 1;
        }
        cJSON *v = parse_value(&p, end, depth + 1);
        if (!v) {
            free(key);
            goto fail;
        }
        if (obj) {
            cJSON *old = cJSON_GetObjectItemCaseSensitive(c, key);
            if (old) {
                cJSON_ReplaceItemViaPointer(c, old, v);   /* Python: last value, first position */
                free(v->string);
                v->string = key;
            } else {
                cJSON_AddItemToObject(c, key, v);
                free(key);
            }
        } else {
            cJSON_AddItemToArray(c, v);
        }
        p = ws(p, end);
        if (*p == ',') {
            p++;
            continue;
        }
        p++;
        break;
    }
    *pp = p;
    return c;
fail:
    cJSON_Delete(c);
    return NULL;
}

static cJSON *parse_value(const char **pp, const char *end, int depth)
{
    const char *p = ws(*pp, end);
    cJSON *v = NULL;
    if (depth > 1000)
        return NULL;
    if (*p == '{' || *p == '[') {
        *pp = p;
        return parse_container(pp, end, depth);
    }
    if (*p == '"') {
        char *s = decode_string(&p);
        v = s ? cJSON_CreateString(s) : NULL;
        free(s);
    } else if (*p == 't') {
        v = cJSON_CreateTrue();
        p += 4;
    } else if (*p == 'f') {
        v = cJSON_CreateFalse();
        p += 5;
    } else if (*p == 'n') {
        v = cJSON_CreateNull();
        p += 4;
    } else {
        const char *s = p;
        p = number_end(p, end);
        size_t n = (size_t)(p - s);
        char *tok = malloc(n + 1);
        if (tok) {
            memcpy(tok, s, n);
            tok[n] = 0;
            v = cJSON_CreateNumber(strtod(tok, NULL));
            if (v)
                v->valuestring = tok;   /* cJSON_Delete frees it, cJSON_Duplicate copies it */
            else
                free(tok);
        }
    }
    *pp = p;
    return v;
}

cJSON *iw_pyjson_parse(const char *text, size_t len)
{
    const char *p = text;
    return parse_value(&p, text + len, 0);
}

/* ------------------------------------------------------------ dump */

int iw_pyjson_dump(const cJSON *it, int level, iw_buf *out)
{
    int rc = 0;
    if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
        bool obj = cJSON_IsObject(it);
        if (!it->child)
            return iw_buf_puts(out, obj ? "{}" : "[]") < 0 ? iw_error_set(IW_ENOMEM, "out of memory") : 0;
        if (iw_buf_putc(out, obj ? '{' : '[') < 0)
            return iw_error_set(IW_ENOMEM, "out of memory");
        for (const cJSON *c = it->child; c; c = c->next) {
            if (indent(out, level + 1) < 0 ||
                (obj && (put_cstring(out, c->string ? c->string : "") < 0 || iw_buf_append(out, ": ", 2) < 0)))
                return iw_error_set(IW_ENOMEM, "out of memory");
            if ((rc = iw_pyjson_dump(c, level + 1, out)) < 0)
                return rc;
            if (c->next && iw_buf_putc(out, ',') < 0)
                return iw_error_set(IW_ENOMEM, "out of memory");
        }
        if (indent(out, level) < 0 || iw_buf_putc(out, obj ? '}' : ']') < 0)
            return iw_error_set(IW_ENOMEM, "out of memory");
        return 0;
    }
    if (cJSON_IsString(it))
        rc = put_cstring(out, it->valuestring);
    else if (cJSON_IsTrue(it))
        rc = iw_buf_puts(out, "true");
    else if (cJSON_IsFalse(it))
        rc = iw_buf_puts(out, "false");
    else if (cJSON_IsNumber(it)) {
        if (it->valuestring)
            rc = put_number_token(out, it->valuestring, strlen(it->valuestring));
        else if (it->valuedouble == floor(it->valuedouble) && fabs(it->valuedouble) < 9007199254740992.0)
            rc = iw_buf_printf(out, "%.0f", it->valuedouble == 0 ? 0.0 : it->valuedouble);
        else
            rc = put_float(out, it->valuedouble);
    } else
        rc = iw_buf_puts(out, "null");
    return rc < 0 ? iw_error_set(IW_ENOMEM, "out of memory") : 0;
}

/* ------------------------------------------------------------ merge */

bool iw_pyjson_merge(cJSON *base, const cJSON *overlay)
{
    for (const cJSON *it = overlay->child; it; it = it->next) {
        if (!it->string || cJSON_IsNull(it))
            continue;
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(base, it->string);
        if (cur && cJSON_IsObject(cur) && cJSON_IsObject(it)) {
            if (!iw_pyjson_merge(cur, it))
                return false;
            continue;
        }
        if (cur && cJSON_IsString(cur) && cJSON_IsString(it) && strcmp(cur->valuestring, it->valuestring) == 0)
            continue;   /* same value: nothing changes (and "name" stays the string indexes point at) */
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup)
            return false;
        if (cur)
            cJSON_ReplaceItemViaPointer(base, cur, dup);
        else
            cJSON_AddItemToObject(base, it->string, dup);
    }
    return true;
}

/* ------------------------------------------------------------ snapshot */

static long jscan_find(const iw_jscan *s, const char *name)
{
    if (!s->table)
        return -1;
    for (size_t h = iw_jscan_hash(name) & s->mask; s->table[h]; h = (h + 1) & s->mask)
        if (strcmp(s->ents[s->table[h] - 1].name, name) == 0)
            return (long)(s->table[h] - 1);
    return -1;
}

int iw_pyjson_snapshot(const char *dt, size_t dl, const char *ct, size_t cl, iw_buf *out)
{
    iw_jscan d, c;
    memset(&d, 0, sizeof d);
    memset(&c, 0, sizeof c);
    int rc = 0;
    /* about the layers' size (entries are mostly copied whole): no regrowth;
     * only a hint, the appends below report a real shortage */
    if (iw_buf_reserve(out, dl + cl + 16) < 0)
        iw_error_clear();
    if ((dt && (rc = iw_jscan_registry(dt, dl, "model_registry.discovered.json", &d)) < 0) ||
        (ct && (rc = iw_jscan_registry(ct, cl, "model_registry.curated.json", &c)) < 0))
        goto out;
    size_t k = 0;
    /* discovered order, curated merged over the entry of the same name
     * (registry.py::_merge_layered_fragments), then curated-only entries
     * as they are (nulls kept) */
    for (size_t pass = 0; pass < 2 && rc == 0; pass++) {
        const iw_jscan *s = pass ? &c : &d;
        const char *t = pass ? ct : dt;
        for (size_t i = 0; i < s->n; i++) {
            long ci = pass ? -1 : jscan_find(&c, s->ents[i].name);
            if (pass && jscan_find(&d, s->ents[i].name) >= 0)
                continue;
            if (iw_buf_puts(out, k++ ? ",\n  " : "[\n  ") < 0) {
                rc = iw_error_set(IW_ENOMEM, "registry: out of memory printing the snapshot");
                goto out;
            }
            const char *et = t + s->ents[i].start;
            size_t el = s->ents[i].end - s->ents[i].start;
            if (ci < 0) {
                rc = iw_pyjson_reformat(et, el, 1, out);
                continue;
            }
            cJSON *base = iw_pyjson_parse(et, el);
            cJSON *ov = iw_pyjson_parse(ct + c.ents[ci].start, c.ents[ci].end - c.ents[ci].start);
            if (!base || !ov || !iw_pyjson_merge(base, ov))
                rc = iw_error_set(IW_ENOMEM, "registry: out of memory merging '%s'", s->ents[i].name);
            else
                rc = iw_pyjson_dump(base, 1, out);
            cJSON_Delete(base);
            cJSON_Delete(ov);
        }
    }
    if (rc == 0 && iw_buf_puts(out, k ? "\n]\n" : "[]\n") < 0)
        rc = iw_error_set(IW_ENOMEM, "registry: out of memory printing the snapshot");
out:
    iw_jscan_free(&d);
    iw_jscan_free(&c);
    return rc;
}
