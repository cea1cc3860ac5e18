/* namesize.c - a parameter count written in a model name.
 *
 * Accepts a token "<num>B" / "<num>M" / "<num>T" standing between
 * separators ("-", "_", ".", "/", " " or the ends), optionally "<n>x<num>B"
 * (experts x size, total = n*size) and an "-A<num>B" active-size suffix.
 * Only the last path component is read, at most 1024 bytes.
 * Not sizes: version tags ("v1.5"), quant tags ("Q4_K_M", "4bit", "int8"),
 * context tags ("32k", "1M": an M size must be at least 10M), and numbers
 * glued to letters ("Qwen2.5", "gpt2").
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/params.h"

static bool is_sep(char c)
{
    return c == 0 || c == '-' || c == '_' || c == '.' || c == '/' || c == ' ' || c == ':' || c == '@' ||
           c == '(' || c == ')' || c == '[' || c == ']' || c == ',';
}

/* Parse "<digits>[.<digits>]" at s; returns chars consumed (0 if none). */
static size_t parse_num(const char *s, double *out)
{
    size_t i = 0, nd = 0;
    double v = 0, frac = 0.1;
    while (isdigit((unsigned char)s[i]) && nd < 12) {
        v = v * 10 + (s[i] - '0');
        i++;
        nd++;
    }
    if (nd == 0 || isdigit((unsigned char)s[i]))
        return 0;
    if (s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
        i++;
        size_t nf = 0;
        while (isdigit((unsigned char)s[i]) && nf < 6) {
            v += (s[i] - '0') * frac;
            frac /= 10;
            i++;
            nf++;
        }
        if (isdigit((unsigned char)s[i]))
            return 0;
    }
    *out = v;
    return i;
}

static double unit_of(char c)
{
    switch (c) {
    case 'B': case 'b': return 1e9;
    case 'M': case 'm': return 1e6;
    case 'T': case 't': return 1e12;
    default: return 0;
    }
}

/* Try a size token at s (s is at a token start). */
static bool size_at(const char *s, int64_t *total, int64_t *active, size_t *used)
{
    double mult = 1, n, v;
    size_t i = 0, k;
    /* "8x7B" */
    k = parse_num(s, &n);
    if (k && (s[k] == 'x' || s[k] == 'X') && n >= 1 && n <= 4096 && n == floor(n)) {
        size_t k2 = parse_num(s + k + 1, &v);
        if (k2) {
            mult = n;
            i = k + 1;
            k = k2;
            n = v;
        }
    }
    if (!k)
        return false;
    double u = unit_of(s[i + k]);
    if (u == 0 || !is_sep(s[i + k + 1]) || n <= 0)
        return false;
    /* a bare "1M"-style token must not be a context length: M sizes need >= 10 */
    if (u == 1e6 && n < 10)
        return false;
    double t = n * u * mult;
    if (t < 1e6 || t > 1e15)
        return false;
    *total = (int64_t)llround(t);
    *active = IW_UNKNOWN;
    i += k + 1;
    /* "-A3B" active suffix */
    if ((s[i] == '-' || s[i] == '_') && (s[i + 1] == 'A' || s[i + 1] == 'a')) {
        double av;
        size_t k3 = parse_num(s + i + 2, &av);
        if (k3) {
            double au = unit_of(s[i + 2 + k3]);
            if (au != 0 && is_sep(s[i + 3 + k3]) && av * au <= t) {
                *active = (int64_t)llround(av * au);
                i += 3 + k3;
            }
        }
    }
    *used = i;
    return true;
}

bool iw_parse_size_from_name(const char *name, int64_t *total_out, int64_t *active_out)
{
    if (!name)
        return false;
    size_t n = strnlen(name, 1024);
    /* only the last path component names the model */
    const char *base = name;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/')
            base = name + i + 1;
    for (const char *s = base; *s && s < name + n; s++) {
        if (s != base && !is_sep(s[-1]))
            continue;
        /* skip version tags: "v1.5", "V2" */
        if ((*s == 'v' || *s == 'V') && isdigit((unsigned char)s[1]))
            continue;
        int64_t t, a;
        size_t used;
        if (isdigit((unsigned char)*s) && size_at(s, &t, &a, &used)) {
            if (total_out)
                *total_out = t;
            if (active_out)
                *active_out = a;
            return true;
        }
    }
    return false;
}
