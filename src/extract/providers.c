/* providers.c - the local folder/file provider and the fallback chain
 * (include/iwdl/inspect.h).  Ollama's store is in ollama_extract.c; the Hub
 * and the Ollama server are in src/downloader; the interface itself and the
 * listings are in src/common/provider.c. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/inspect.h"
#include "iwdl/ollama.h"
#include "inspect_internal.h"

#define LIST_MAX_FILES 100000   /* files listed in one model folder */

/* ---- a local folder or file ------------------------------------------------ */

typedef struct local_provider {
    iw_provider base;
    char *name;      /* as given */
    char *dir;       /* the folder: the path itself, or a file's folder */
    char *focus;     /* a file's last component, or NULL */
} local_provider;

static int local_cite(iw_provider *p, const char *path, char **out)
{
    local_provider *L = (local_provider *)p;
    if (L->focus && strcmp(path, L->focus) == 0) {      /* the file as the user named it */
        *out = strdup(L->name);
        return *out ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
    }
    return iw_path_join(out, L->dir, path);
}

static int local_stat(iw_provider *p, const char *path, uint64_t *size)
{
    char *full = NULL;
    struct stat st;
    int rc = local_cite(p, path, &full);
    if (rc < 0)
        return rc;
    rc = stat(full, &st) == 0 && S_ISREG(st.st_mode) ? 0 : IW_ENOTFOUND;
    if (rc == 0)
        *size = (uint64_t)st.st_size;
    free(full);
    return rc;
}

static int local_open(iw_provider *p, const char *path, iw_source *out)
{
    char *full = NULL;
    int rc = local_cite(p, path, &full);
    if (rc < 0)
        return rc;
    rc = iw_source_open_file(out, full);
    free(full);
    return rc;
}

static int local_read(iw_provider *p, const char *path, size_t max, iw_buf *out)
{
    char *full = NULL;
    int rc = local_cite(p, path, &full);
    if (rc < 0)
        return rc;
    rc = iw_read_file(full, max, out);
    free(full);
    return rc;
}

static int cmp_file(const void *x, const void *y)
{
    return strcmp(((const iw_file *)x)->path, ((const iw_file *)y)->path);
}

/* A folder's own regular files (symlinks followed, hidden names skipped),
 * sorted by name; a file: itself. */
static int local_list(iw_provider *p, iw_file_list *out)
{
    local_provider *L = (local_provider *)p;
    int rc = 0;
    if (L->focus) {
        uint64_t size;
        if (local_stat(p, L->focus, &size) < 0)
            return iw_error_set(IW_ENOTFOUND, "%s: no such file", L->name);
        return iw_file_list_add(out, L->focus, NULL, size, IW_FILE_BY_NAME);
    }
    DIR *d = opendir(L->dir);
    if (!d)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot list '%s'", L->dir);
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        uint64_t size;
        if (e->d_name[0] == '.' || local_stat(p, e->d_name, &size) < 0)
            continue;
        if (out->n >= LIST_MAX_FILES)
            rc = iw_error_set(IW_ELIMIT, "%s: more than %d files", L->dir, LIST_MAX_FILES);
        else
            rc = iw_file_list_add(out, e->d_name, NULL, size, IW_FILE_BY_NAME);
    }
    closedir(d);
    iw_error_clear();     /* a name that failed the join was skipped */
    if (rc == 0 && out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_file);
    return rc;
}

static void local_free(iw_provider *p)
{
    local_provider *L = (local_provider *)p;
    free(L->name);
    free(L->dir);
    free(L->focus);
    free(L);
}

int iw_provider_local(iw_provider **out, const char *path)
{
    *out = NULL;
    if (!path)
        return iw_error_set(IW_EINVAL, "iw_provider_local: NULL path");
    if (iw_ollama_is_ref(path))
        return iw_provider_ollama_store(out, path, NULL);
    struct stat st;
    if (stat(path, &st) != 0)
        return iw_error_set(IW_ENOTFOUND, "%s: no such file or folder", path);
    local_provider *L = calloc(1, sizeof *L);
    if (!L)
        return iw_error_set(IW_ENOMEM, "out of memory");
    L->name = strdup(path);
    if (S_ISDIR(st.st_mode)) {
        L->dir = strdup(path);
    } else {
        const char *slash = strrchr(path, '/');
        L->dir = slash == path ? strdup("/") : slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        L->focus = strdup(iw_path_base(path));
    }
    if (!L->name || !L->dir || (!S_ISDIR(st.st_mode) && !L->focus)) {
        local_free(&L->base);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    L->base = (iw_provider){
        .version = IW_PROVIDER_VERSION,
        .name = L->name,
        .focus = L->focus,
        .name_sizes = !L->focus,
        .transferred = IW_UNKNOWN,
        .list = local_list,
        .stat = local_stat,
        .open = local_open,
        .cite = local_cite,
        .read = local_read,
        .free = local_free,
    };
    *out = &L->base;
    return 0;
}

/* ---- first, then a fallback ------------------------------------------------ */

typedef struct chain_provider {
    iw_provider base;
    iw_provider *first, *then, *active;
    char *label;
} chain_provider;

static void chain_follow(chain_provider *C)
{
    iw_provider *a = C->active;
    /* only the description follows the active provider; the operations stay */
    C->base.name = a->name;
    C->base.focus = a->focus;
    C->base.engine = a->engine;
    C->base.source = a->source;
    C->base.name_sizes = a->name_sizes;
    C->base.transferred = a->transferred;
}

static int chain_list(iw_provider *p, iw_file_list *out)
{
    chain_provider *C = (chain_provider *)p;
    C->active = C->first;
    int rc = C->first->list(C->first, out);
    if (rc == IW_ENOTFOUND) {
        char first_err[1024];
        snprintf(first_err, sizeof first_err, "%s", iw_error_last());
        iw_error_clear();
        iw_file_list_free(out);     /* nothing of the failed attempt is kept */
        C->active = C->then;
        rc = C->then->list(C->then, out);
        if (rc < 0) {
            char then_err[1024];
            snprintf(then_err, sizeof then_err, "%s", iw_error_last());
            iw_file_list_free(out);
            iw_error_set(rc, "%s; and from %s: %s", first_err, C->label, then_err);
        }
    }
    chain_follow(C);
    return rc;
}

static int chain_stat(iw_provider *p, const char *path, uint64_t *size)
{
    chain_provider *C = (chain_provider *)p;
    return C->active->stat(C->active, path, size);
}

static int chain_open(iw_provider *p, const char *path, iw_source *out)
{
    chain_provider *C = (chain_provider *)p;
    int rc = C->active->open(C->active, path, out);
    chain_follow(C);
    return rc;
}

static int chain_cite(iw_provider *p, const char *path, char **out)
{
    chain_provider *C = (chain_provider *)p;
    return C->active->cite(C->active, path, out);
}

static int chain_read(iw_provider *p, const char *path, size_t max, iw_buf *out)
{
    chain_provider *C = (chain_provider *)p;
    int rc = iw_provider_read(C->active, path, max, out);
    chain_follow(C);
    return rc;
}

static void chain_free(iw_provider *p)
{
    chain_provider *C = (chain_provider *)p;
    iw_provider_free(C->first);
    iw_provider_free(C->then);
    free(C->label);
    free(C);
}

int iw_provider_chain(iw_provider **out, iw_provider *first, iw_provider *then, const char *then_label)
{
    *out = NULL;
    chain_provider *C = calloc(1, sizeof *C);
    char *label = strdup(then_label ? then_label : "the fallback");
    if (!C || !label || !first || !then) {
        free(C);
        free(label);
        iw_provider_free(first);
        iw_provider_free(then);
        return iw_error_set(C && label ? IW_EINVAL : IW_ENOMEM, "iw_provider_chain: %s",
                            C && label ? "NULL provider" : "out of memory");
    }
    C->first = C->active = first;
    C->then = then;
    C->label = label;
    C->base = (iw_provider){
        .version = IW_PROVIDER_VERSION,
        .list = chain_list,
        .stat = chain_stat,
        .open = chain_open,
        .cite = chain_cite,
        .read = chain_read,
        .free = chain_free,
    };
    chain_follow(C);
    *out = &C->base;
    return 0;
}
