/* hub_provider.c - a Hub repo at one commit as a file provider
 * (include/iwdl/hub.h): the listing is the repo's tree, files are read by
 * HTTP Range through iw_hub_open_source, so iw_inspect reads config files
 * whole and tensor headers only, never the weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/hub.h"

typedef struct hub_provider {
    iw_provider    base;
    iw_hub        *hub;
    bool           own_hub;
    char          *repo, *rev;
    char           name[512];
    char           commit[41];
    iw_hub_listing l;
    bool           listed;
} hub_provider;

/* A source that adds what it moved over the network to its provider's
 * count when it is closed. */
typedef struct counted_src {
    iw_source     inner;
    hub_provider *P;
} counted_src;

static int counted_read(void *ctx, uint64_t off, void *dst, size_t len, size_t *got)
{
    counted_src *c = ctx;
    return c->inner.read_at(c->inner.ctx, off, dst, len, got);
}

static void counted_close(void *ctx)
{
    counted_src *c = ctx;
    c->P->base.transferred += (int64_t)iw_hub_source_transferred(&c->inner);
    iw_source_close(&c->inner);
    free(c);
}

static const iw_hub_file *find(const hub_provider *P, const char *path)
{
    for (size_t i = 0; P->listed && i < P->l.n; i++)
        if (strcmp(P->l.files[i].path, path) == 0)
            return &P->l.files[i];
    return NULL;
}

static int hp_list(iw_provider *p, iw_file_list *out)
{
    hub_provider *P = (hub_provider *)p;
    int rc = iw_hub_check_repo_id(P->repo);
    if (rc == 0 && !P->hub) {
        rc = iw_hub_new(&P->hub, NULL);
        P->own_hub = rc == 0;
    }
    if (rc == 0 && !P->listed) {
        if ((rc = iw_hub_resolve_revision(P->hub, P->repo, P->rev ? P->rev : "main", P->commit)) == 0 &&
            (rc = iw_hub_list_files(P->hub, P->repo, P->commit, &P->l)) == 0)
            P->listed = true;
    }
    for (size_t i = 0; rc == 0 && i < P->l.n; i++)
        rc = iw_file_list_add(out, P->l.files[i].path, NULL, P->l.files[i].size, IW_FILE_BY_NAME);
    return rc;
}

static int hp_stat(iw_provider *p, const char *path, uint64_t *size)
{
    const iw_hub_file *f = find((hub_provider *)p, path);
    if (!f)
        return IW_ENOTFOUND;
    *size = f->size;
    return 0;
}

static int hp_open(iw_provider *p, const char *path, iw_source *out)
{
    hub_provider *P = (hub_provider *)p;
    counted_src *c = calloc(1, sizeof *c);
    if (!c)
        return iw_error_set(IW_ENOMEM, "out of memory");
    int rc = iw_hub_open_source(&c->inner, P->hub, P->repo, P->commit, path);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->P = P;
    memset(out, 0, sizeof *out);
    out->read_at = counted_read;
    out->close = counted_close;
    out->ctx = c;
    out->size = c->inner.size;
    snprintf(out->name, sizeof out->name, "%s", c->inner.name);
    return 0;
}

static int hp_cite(iw_provider *p, const char *path, char **out)
{
    hub_provider *P = (hub_provider *)p;
    if (asprintf(out, "%s/%s", P->repo, path) < 0) {
        *out = NULL;
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    return 0;
}

/* Small files whole, capped before anything is fetched. */
static int hp_read(iw_provider *p, const char *path, size_t max, iw_buf *out)
{
    hub_provider *P = (hub_provider *)p;
    const iw_hub_file *f = find(P, path);
    if (!f)
        return iw_error_set(IW_ENOTFOUND, "%s/%s: no such file", P->repo, path);
    if (f->size > max)
        return iw_error_set(IW_ELIMIT, "%s/%s is %llu bytes, over the %zu-byte cap", P->repo, path,
                            (unsigned long long)f->size, max);
    iw_source s;
    int rc = hp_open(p, path, &s);
    if (rc < 0)
        return rc;
    iw_buf_init(out, max);
    size_t got = 0;
    rc = iw_buf_reserve(out, (size_t)f->size);
    if (rc == 0)
        rc = iw_source_read_at(&s, 0, out->data, (size_t)f->size, &got);
    if (rc == 0 && got != f->size)
        rc = iw_error_set(IW_EFORMAT, "%s/%s: short read (%zu of %llu bytes)", P->repo, path, got,
                          (unsigned long long)f->size);
    if (rc == 0) {
        out->len = got;
        out->data[got] = 0;
    }
    iw_source_close(&s);
    if (rc < 0)
        iw_buf_free(out);
    return rc;
}

static void hp_free(iw_provider *p)
{
    hub_provider *P = (hub_provider *)p;
    iw_hub_listing_free(&P->l);
    if (P->own_hub)
        iw_hub_free(P->hub);
    free(P->repo);
    free(P->rev);
    free(P);
}

int iw_hub_provider_new(iw_provider **out, iw_hub *hub, const char *repo, const char *revision)
{
    *out = NULL;
    if (!repo)
        return iw_error_set(IW_EINVAL, "iw_hub_provider_new: NULL repo");
    hub_provider *P = calloc(1, sizeof *P);
    if (!P)
        return iw_error_set(IW_ENOMEM, "out of memory");
    P->hub = hub;
    P->repo = strdup(repo);
    P->rev = revision ? strdup(revision) : NULL;
    if (!P->repo || (revision && !P->rev)) {
        hp_free(&P->base);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    snprintf(P->name, sizeof P->name, "%s", repo);
    P->base = (iw_provider){
        .version = IW_PROVIDER_VERSION,
        .name = P->name,
        .name_sizes = true,
        .transferred = 0,
        .list = hp_list,
        .stat = hp_stat,
        .open = hp_open,
        .cite = hp_cite,
        .read = hp_read,
        .free = hp_free,
    };
    *out = &P->base;
    return 0;
}
