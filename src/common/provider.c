/* provider.c - file listings and the generic whole-file read of the
 * file-provider interface (include/iwdl/provider.h).  The providers
 * themselves live with what they need: a local folder and Ollama's store in
 * src/extract, the Hub and an Ollama server in src/downloader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/provider.h"

int iw_file_list_add(iw_file_list *l, const char *path, const char *label, uint64_t size, iw_file_role role)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        iw_file *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return iw_error_set(IW_ENOMEM, "out of memory");
        l->v = nv;
        l->cap = nc;
    }
    iw_file *f = &l->v[l->n];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    f->label = label ? strdup(label) : NULL;
    if (!f->path || (label && !f->label)) {
        free(f->path);
        free(f->label);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    f->size = size;
    f->role = role;
    l->n++;
    return 0;
}

void iw_file_list_free(iw_file_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].label);
    }
    free(l->v);
    iw_strlist_free(&l->sources);
    iw_strlist_free(&l->warnings);
    memset(l, 0, sizeof *l);
}

void iw_provider_free(iw_provider *p)
{
    if (p && p->free)
        p->free(p);
}

char *iw_provider_cite(iw_provider *p, const char *path)
{
    char *c = NULL;
    return p->cite(p, path, &c) < 0 ? NULL : c;
}

int iw_provider_read(iw_provider *p, const char *path, size_t max, iw_buf *out)
{
    if (p->read)
        return p->read(p, path, max, out);
    uint64_t size = IW_SIZE_UNKNOWN;
    int rc = p->stat(p, path, &size);
    if (rc < 0)
        return rc;
    char *c = NULL;
    if ((rc = p->cite(p, path, &c)) < 0)
        return rc;
    if (size != IW_SIZE_UNKNOWN && size > max) {
        rc = iw_error_set(IW_ELIMIT, "'%s' is %llu bytes, over the %zu-byte cap", c, (unsigned long long)size, max);
        free(c);
        return rc;
    }
    iw_source s;
    if ((rc = p->open(p, path, &s)) < 0) {
        free(c);
        return rc;
    }
    iw_buf_init(out, max);
    char chunk[65536];
    for (uint64_t off = 0;; ) {
        size_t got = 0;
        if ((rc = iw_source_read_at(&s, off, chunk, sizeof chunk, &got)) < 0)
            break;
        if (got == 0)
            break;
        if ((rc = iw_buf_append(out, chunk, got)) < 0) {
            rc = iw_error_set(IW_ELIMIT, "'%s' is over the %zu-byte cap", c, max);
            break;
        }
        off += got;
    }
    iw_source_close(&s);
    if (rc == 0 && !out->data && iw_buf_reserve(out, 0) < 0)   /* always NUL-terminated */
        rc = IW_ENOMEM;
    if (rc == 0 && out->data)
        out->data[out->len] = 0;
    if (rc < 0)
        iw_buf_free(out);
    free(c);
    return rc;
}

