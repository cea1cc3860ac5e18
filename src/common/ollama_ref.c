/* ollama_ref.c - Ollama model references ("ollama:NAME:TAG", a served
 * model id), parsed and written back (include/iwdl/ollama_ref.h).
 *
 * Shared by the store (src/extract), the server client (src/downloader) and
 * the registry (which matches entries by reference).  Every component later
 * becomes a path component, so each is validated here. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/ollama_ref.h"

bool iw_ollama_is_ref(const char *s)
{
    return s && strncmp(s, "ollama:", 7) == 0;
}

static bool part_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.';
}

const char *iw_ollama_ref_bare(const char *s)
{
    if (iw_ollama_is_ref(s)) {
        s += 7;
        while (*s == '/')
            s++;
    }
    return s;
}

bool iw_ollama_ref_same(const char *a, const iw_ollama_ref *b)
{
    iw_ollama_ref r;
    iw_error_clear();
    bool ok = a && iw_ollama_parse_ref(a, &r) == 0;
    iw_error_clear();
    return ok && !strcasecmp(r.registry, b->registry) && !strcasecmp(r.ns, b->ns) &&
           !strcasecmp(r.name, b->name) && !strcasecmp(r.tag, b->tag);
}

int iw_ollama_ref_part(const char *ref, const char *what, const char *s, size_t n, bool is_registry, char *dst)
{
    size_t cap = is_registry ? IW_OLLAMA_MAX_REGISTRY : IW_OLLAMA_MAX_PART;
    if (n == 0)
        return iw_error_set(IW_EINVAL, "ollama reference '%s': empty %s", ref, what);
    if (n > cap)
        return iw_error_set(IW_EINVAL, "ollama reference '%s': %s longer than %zu characters",
                            ref, what, cap);
    unsigned char c0 = (unsigned char)s[0];
    if (!(isalnum(c0) || c0 == '_'))
        return iw_error_set(IW_EINVAL, "ollama reference '%s': %s must start with a letter, digit or '_'",
                            ref, what);
    bool colon = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_registry && c == ':' && !colon && i + 1 < n) {
            /* host:port, digits only after the colon */
            for (size_t j = i + 1; j < n; j++)
                if (!isdigit((unsigned char)s[j]))
                    return iw_error_set(IW_EINVAL, "ollama reference '%s': bad port in registry", ref);
            colon = true;
            break;
        }
        if (!part_char(c))
            return iw_error_set(IW_EINVAL, "ollama reference '%s': character 0x%02x not allowed in %s",
                                ref, c, what);
        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return iw_error_set(IW_EINVAL, "ollama reference '%s': '..' not allowed in %s", ref, what);
    }
    memcpy(dst, s, n);
    dst[n] = 0;
    return 0;
}

int iw_ollama_parse_ref(const char *s, iw_ollama_ref *out)
{
    if (!s || !out)
        return iw_error_set(IW_EINVAL, "ollama reference: NULL argument");
    memset(out, 0, sizeof *out);
    const char *p = s;
    if (strncmp(p, "ollama://", 9) == 0)
        p += 9;
    else if (strncmp(p, "ollama:/", 8) == 0)
        p += 8;
    else if (strncmp(p, "ollama:", 7) == 0)
        p += 7;
    size_t len = strlen(p);
    if (len == 0)
        return iw_error_set(IW_EINVAL, "ollama reference '%s': no model name", s);
    if (len > IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 4)
        return iw_error_set(IW_EINVAL, "ollama reference: longer than %d characters",
                            IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 4);
    if (strchr(p, '@'))
        return iw_error_set(IW_EINVAL, "ollama reference '%s': @digest references are not supported", s);

    /* tag: after the last ':' that follows the last '/' */
    const char *slash = strrchr(p, '/');
    const char *colon = strrchr(slash ? slash : p, ':');
    const char *name_end = colon ? colon : p + len;
    int rc;
    if (colon) {
        if ((rc = iw_ollama_ref_part(s, "tag", colon + 1, strlen(colon + 1), false, out->tag)) < 0)
            return rc;
    } else {
        strcpy(out->tag, IW_OLLAMA_DEFAULT_TAG);
    }

    /* split NAME into at most three '/'-separated parts */
    const char *parts[4];
    size_t lens[4], n = 0;
    const char *q = p;
    for (;;) {
        const char *sl = memchr(q, '/', (size_t)(name_end - q));
        const char *e = sl ? sl : name_end;
        if (n == 3)
            return iw_error_set(IW_EINVAL, "ollama reference '%s': more than registry/namespace/name", s);
        parts[n] = q;
        lens[n] = (size_t)(e - q);
        n++;
        if (!sl)
            break;
        q = sl + 1;
    }
    const char *reg = IW_OLLAMA_DEFAULT_REGISTRY, *ns = IW_OLLAMA_DEFAULT_NAMESPACE;
    size_t reg_n = strlen(reg), ns_n = strlen(ns);
    size_t i = 0;
    if (n == 3) {
        reg = parts[0]; reg_n = lens[0]; i = 1;
    }
    if (n >= 2) {
        ns = parts[i]; ns_n = lens[i]; i++;
    }
    if ((rc = iw_ollama_ref_part(s, "registry", reg, reg_n, true, out->registry)) < 0 ||
        (rc = iw_ollama_ref_part(s, "namespace", ns, ns_n, false, out->ns)) < 0 ||
        (rc = iw_ollama_ref_part(s, "name", parts[i], lens[i], false, out->name)) < 0)
        return rc;
    return 0;
}

int iw_ollama_ref_format(const iw_ollama_ref *r, char *buf, size_t size)
{
    int n;
    bool def_reg = strcmp(r->registry, IW_OLLAMA_DEFAULT_REGISTRY) == 0;
    if (def_reg && strcmp(r->ns, IW_OLLAMA_DEFAULT_NAMESPACE) == 0)
        n = snprintf(buf, size, "%s:%s", r->name, r->tag);
    else if (def_reg)
        n = snprintf(buf, size, "%s/%s:%s", r->ns, r->name, r->tag);
    else
        n = snprintf(buf, size, "%s/%s/%s:%s", r->registry, r->ns, r->name, r->tag);
    if (n < 0 || (size_t)n >= size)
        return iw_error_set(IW_ELIMIT, "ollama reference does not fit in %zu bytes", size);
    return 0;
}
