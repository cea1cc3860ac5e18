/* numtok.c - a rewritten entry keeps the spelling of its untouched numbers.
 *
 * cJSON holds a number as a double, so printing an entry again would turn
 * 1e99999 into null, round 9007199254740993 to ...992 and respell 1.0 as 1.
 * Before an entry read from the file is printed, every number of the copy
 * to print whose value equals the number at the same path (object keys,
 * array indices) in the entry's original text becomes a cJSON_Raw node
 * spelled as in that text.  A value the tool set differently is printed
 * from its new double.  docs/registry.md, "Numbers keep their spelling". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "regstore.h"

/* Give orig's number nodes (document order) the tokens of text (document
 * order): a token starts outside a string with '-' or a digit. */
static const char *next_token(const char *p, const char *end, size_t *n)
{
    bool in_str = false;
    for (; p < end; p++) {
        if (in_str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_str = false;
        } else if (*p == '"') {
            in_str = true;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            const char *s = p;
            while (p < end && strchr("0123456789+-.eE", *p))
                p++;
            *n = (size_t)(p - s);
            return s;
        }
    }
    return NULL;
}

static int attach(cJSON *node, const char **p, const char *end)
{
    for (; node; node = node->next) {
        if (cJSON_IsNumber(node)) {
            size_t n = 0;
            const char *t = next_token(*p, end, &n);
            if (!t)
                return 0;   /* cannot happen for text cJSON parsed; then keep nothing */
            if (!(node->valuestring = strndup(t, n)))
                return iw_error_set(IW_ENOMEM, "registry: out of memory");
            *p = t + n;
        } else if (node->child) {
            int rc = attach(node->child, p, end);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static bool same_number(double a, const char *token)
{
    double b = strtod(token, NULL);
    return a == b || (isinf(a) && isinf(b) && signbit(a) == signbit(b));
}

static int keep(cJSON *dst, const cJSON *orig)
{
    if (cJSON_IsNumber(dst)) {
        if (!cJSON_IsNumber(orig) || !orig->valuestring || !same_number(dst->valuedouble, orig->valuestring))
            return 0;
        char *t = strdup(orig->valuestring);
        if (!t)
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        dst->type = cJSON_Raw;
        dst->valuestring = t;
        return 0;
    }
    bool obj = cJSON_IsObject(dst) && cJSON_IsObject(orig);
    if (!obj && !(cJSON_IsArray(dst) && cJSON_IsArray(orig)))
        return 0;
    const cJSON *o = obj ? NULL : orig->child;
    for (cJSON *d = dst->child; d; d = d->next) {
        if (obj)
            o = d->string ? cJSON_GetObjectItemCaseSensitive(orig, d->string) : NULL;
        int rc = o ? keep(d, o) : 0;
        if (rc < 0)
            return rc;
        if (!obj && o)
            o = o->next;
    }
    return 0;
}

int iw_reg_keep_numbers(cJSON *dst, const char *orig, size_t len)
{
    if (!dst || !orig)
        return 0;
    cJSON *o = cJSON_ParseWithLengthOpts(orig, len, NULL, 0);
    if (!o)
        return 0;   /* text the scan accepted always parses; else print the doubles */
    const char *p = orig;
    int rc = attach(o, &p, orig + len);
    if (rc == 0)
        rc = keep(dst, o);
    cJSON_Delete(o);
    return rc;
}
