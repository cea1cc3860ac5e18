/* headers.c - the tensor-header step of iw_inspect: which safetensors or
 * GGUF files make up the model, reading their headers through the provider,
 * and mapping them (tensors.c, gguf_arch.c).  The same selection serves a
 * local folder, a remote repo and Ollama's store; the public whole-model
 * readers (iw_safetensors_extract_dir, iw_gguf_extract_path, ...) are this
 * step over a local provider. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/gguf.h"
#include "iwdl/inspect.h"
#include "iwdl/json.h"
#include "iwdl/safetensors.h"
#include "inspect_internal.h"
#include "kvs.h"
#include "safetensors_int.h"

/* ---- safetensors ------------------------------------------------------------ */

typedef struct st_set {
    char      **paths;     /* provider paths of the files to read */
    size_t      n;
    iw_st_index idx;
    bool        has_idx;
    char       *idx_path;  /* provider path of the index */
    iw_st_file *files;     /* parsed headers, n_files of n */
    size_t      n_files;
} st_set;

static void st_set_free(st_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    if (s->has_idx)
        iw_st_index_free(&s->idx);
    free(s->idx_path);
    for (size_t i = 0; i < s->n_files; i++)
        iw_st_file_free(&s->files[i]);
    free(s->files);
    memset(s, 0, sizeof *s);
}

static int st_set_add(st_set *s, const char *path)
{
    char **nv = realloc(s->paths, (s->n + 1) * sizeof *nv);
    if (!nv)
        return iw_error_set(IW_ENOMEM, "out of memory");
    s->paths = nv;
    if (!(s->paths[s->n] = strdup(path)))
        return iw_error_set(IW_ENOMEM, "out of memory");
    s->n++;
    return 0;
}

static bool is_top_level(const char *p) { return strchr(p, '/') == NULL; }

/* Checkpoints that sit beside the model: original consolidated weights, adapters. */
static bool is_side_file(const char *name)
{
    return strncmp(name, "consolidated", 12) == 0 || strncmp(name, "adapter_model", 13) == 0;
}

static const iw_file *listed(const iw_file_list *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].path, path) == 0)
            return &l->v[i];
    return NULL;
}

bool iw__has_safetensors(const iw_file_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (is_top_level(l->v[i].path) && l->v[i].role == IW_FILE_BY_NAME &&
            (iw_st_ends_with(l->v[i].path, ".safetensors") || iw_st_ends_with(l->v[i].path, ".safetensors.index.json")))
            return true;
    return false;
}

static int st_load_index(iw_provider *p, st_set *s, const char *idx_path)
{
    iw_buf b;
    char *c = iw_provider_cite(p, idx_path);
    int rc = c ? iw_provider_read(p, idx_path, IW_ST_MAX_INDEX, &b) : IW_ENOMEM;
    if (rc == 0) {
        rc = iw_st_index_parse(b.data, b.len, c, &s->idx);
        iw_buf_free(&b);
    }
    free(c);
    if (rc < 0)
        return rc;
    s->has_idx = true;
    if (!(s->idx_path = strdup(idx_path)))
        return iw_error_set(IW_ENOMEM, "out of memory");
    /* shard names were checked relative (iw_path_check_relative) by the parser */
    const char *slash = strrchr(idx_path, '/');
    for (size_t i = 0; i < s->idx.n_shards; i++) {
        char *sp = NULL;
        if (slash ? asprintf(&sp, "%.*s/%s", (int)(slash - idx_path), idx_path, s->idx.shards[i]) < 0
                  : !(sp = strdup(s->idx.shards[i]))) {
            sp = NULL;
            return iw_error_set(IW_ENOMEM, "out of memory");
        }
        rc = st_set_add(s, sp);
        free(sp);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Decide which files make up the model (see inspect.h). */
static int st_collect(iw_provider *p, const iw_file_list *l, st_set *s)
{
    if (p->focus) {
        const char *f = p->focus;
        if (iw_st_ends_with(f, ".index.json")) {
            if (!iw_st_ends_with(f, ".safetensors.index.json"))
                return iw_error_set(IW_ENOTFOUND, "'%s' is not a safetensors index (pytorch .bin indexes: iw_torch_bin_index_extract)",
                                    p->name);
            return st_load_index(p, s, f);
        }
        if (!iw_st_ends_with(f, ".safetensors"))
            return iw_error_set(IW_ENOTFOUND, "'%s' is not a .safetensors file", p->name);
        return st_set_add(s, f);
    }
    if (listed(l, "model.safetensors.index.json"))
        return st_load_index(p, s, "model.safetensors.index.json");
    if (listed(l, "model.safetensors"))
        return st_set_add(s, "model.safetensors");
    size_t n_main = 0;
    for (size_t i = 0; i < l->n; i++) {
        const char *n = l->v[i].path;
        if (is_top_level(n) && n[0] != '.' && iw_st_ends_with(n, ".safetensors") && !is_side_file(n))
            n_main++;
    }
    for (size_t i = 0; i < l->n; i++) {     /* the listing is sorted by name */
        const char *n = l->v[i].path;
        if (!is_top_level(n) || n[0] == '.' || !iw_st_ends_with(n, ".safetensors") || (is_side_file(n) && n_main))
            continue;
        int rc = st_set_add(s, n);
        if (rc < 0)
            return rc;
    }
    if (s->n == 0)
        return iw_error_set(IW_ENOTFOUND, "no .safetensors files in '%s'", p->name);
    return 0;
}

/* A Git LFS pointer saved under the shard's name (clone without git-lfs). */
static bool st_is_lfs_pointer(iw_source *src)
{
    char probe[160];
    size_t got = 0;
    if (iw_source_read_at(src, 0, probe, sizeof probe, &got) < 0)
        return false;
    src->bytes_read = 0;
    return iw_is_lfs_pointer(probe, got);
}

static int st_read_all(iw_provider *p, st_set *s)
{
    int rc = 0;
    s->files = calloc(s->n ? s->n : 1, sizeof *s->files);
    if (!s->files)
        return iw_error_set(IW_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        uint64_t size;
        char *c = iw_provider_cite(p, s->paths[i]);
        if (!c)
            return IW_ENOMEM;
        if (p->stat(p, s->paths[i], &size) < 0) {
            char *ic = s->idx_path ? iw_provider_cite(p, s->idx_path) : NULL;
            iw_error_clear();
            rc = iw_error_set(IW_ENOTFOUND, "shard '%s' listed in '%s' is missing (download it or the exact counts are unknown)",
                              c, ic ? ic : "the index");
            free(ic);
            free(c);
            break;
        }
        iw_source src;
        if ((rc = p->open(p, s->paths[i], &src)) == 0) {
            if (st_is_lfs_pointer(&src))
                rc = iw_error_set(IW_ENOTFOUND, "%s is a Git LFS pointer, not the weights: the real file was not downloaded (fetch it with git lfs pull or re-download)",
                                  c);
            else if ((rc = iw_st_read_header(&src, &s->files[i])) == 0)
                s->n_files = i + 1;
            iw_source_close(&src);
        }
        free(c);
    }
    return rc;
}

static int st_load(iw_provider *p, const iw_file_list *l, st_set *s)
{
    int rc = st_collect(p, l, s);
    return rc < 0 ? rc : st_read_all(p, s);
}

int iw__read_safetensors(iw_provider *p, const iw_file_list *l, iw_arch *a, iw_buf *csv)
{
    st_set s = { 0 };
    iw_st_summary sum;
    char *c = NULL;
    int rc = st_collect(p, l, &s);
    if (rc < 0)
        goto cleanup;
    rc = st_read_all(p, &s);
    if (rc < 0) {
        if (rc == IW_ENOTFOUND)
            iw_arch_warn(a, "%s", iw_error_last());
        goto cleanup;
    }
    if (s.has_idx) {
        if (!(c = iw_provider_cite(p, s.idx_path))) {
            rc = IW_ENOMEM;
            goto cleanup;
        }
        iw_strlist_pushf(&a->sources, "safetensors:%s", c);
        rc = iw_st_check_index(&s.idx, c, s.files, s.n_files, a);
        if (rc < 0)
            goto cleanup;
    } else if (s.n_files > 1) {
        iw_arch_warn(a, "no model.safetensors.index.json: summed %zu .safetensors files in '%s'", s.n_files, p->name);
    }
    for (size_t i = 0; i < s.n_files; i++) {
        free(c);
        if (!(c = iw_provider_cite(p, s.paths[i]))) {
            rc = IW_ENOMEM;
            goto cleanup;
        }
        iw_strlist_pushf(&a->sources, "safetensors:%s", c);
        if (s.files[i].trailing_bytes)
            iw_arch_warn(a, "%s: %llu bytes after the data section (not part of any tensor)",
                         c, (unsigned long long)s.files[i].trailing_bytes);
        if (csv && (rc = iw_st_csv_append(&s.files[i], false, csv)) < 0)
            goto cleanup;
    }
    iw_st_quant q = { a->quantization.method, a->quantization.bits };
    rc = iw_st_analyse_files(s.files, s.n_files, &q, a, &sum);
    if (rc < 0)
        goto cleanup;
    rc = iw_st_apply(a, &sum, s.has_idx ? &s.idx : NULL);
cleanup:
    free(c);
    st_set_free(&s);
    return rc;
}

/* The whole-model readers of safetensors.h over a local provider. */
static int with_local(const char *path, iw_provider **p, iw_file_list *l)
{
    memset(l, 0, sizeof *l);
    int rc = iw_provider_local(p, path);
    if (rc == 0 && (rc = (*p)->list(*p, l)) < 0) {
        iw_provider_free(*p);
        *p = NULL;
        iw_file_list_free(l);
    }
    return rc;
}

int iw_safetensors_extract_dir(const char *path, iw_arch *a)
{
    iw_provider *p = NULL;
    iw_file_list l;
    int rc = path && iw_path_exists(path) ? with_local(path, &p, &l)
                                          : iw_error_set(IW_ENOTFOUND, "'%s' does not exist", path ? path : "(null)");
    if (rc < 0)
        return rc;
    rc = iw__read_safetensors(p, &l, a, NULL);
    iw_file_list_free(&l);
    iw_provider_free(p);
    return rc;
}

int iw_safetensors_csv(const char *path, bool header, iw_buf *out)
{
    iw_provider *p = NULL;
    iw_file_list l;
    st_set s = { 0 };
    int rc = path && iw_path_exists(path) ? with_local(path, &p, &l)
                                          : iw_error_set(IW_ENOTFOUND, "'%s' does not exist", path ? path : "(null)");
    if (rc < 0)
        return rc;
    rc = st_load(p, &l, &s);
    for (size_t i = 0; rc == 0 && i < s.n_files; i++)
        rc = iw_st_csv_append(&s.files[i], header && i == 0, out);
    st_set_free(&s);
    iw_file_list_free(&l);
    iw_provider_free(p);
    return rc;
}

/* ---- pytorch_model.bin.index.json ------------------------------------------- */

int iw__read_torch_index(iw_provider *p, const char *path, iw_arch *a)
{
    iw_buf b = IW_BUF_INIT(IW_ST_MAX_INDEX);
    iw_st_index idx;
    iw_st_tinfo *ti = NULL;
    iw_st_summary sum;
    char *ip = iw_provider_cite(p, path);
    int rc;
    memset(&idx, 0, sizeof idx);
    if (!ip)
        return IW_ENOMEM;
    rc = iw_provider_read(p, path, IW_ST_MAX_INDEX, &b);
    if (rc < 0)
        goto cleanup;
    rc = iw_st_index_parse(b.data, b.len, ip, &idx);
    if (rc < 0)
        goto cleanup;
    ti = calloc(idx.n_tensors ? idx.n_tensors : 1, sizeof *ti);
    if (!ti) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < idx.n_tensors; i++) {
        ti[i].name = idx.tensor_names[i];
        ti[i].dtype = IW_ST_DTYPE_COUNT;   /* unknown */
        ti[i].has_shape = false;
    }
    rc = iw_st_analyse(ti, idx.n_tensors, NULL, a, &sum);
    if (rc < 0)
        goto cleanup;
    iw_strlist_pushf(&a->sources, "pytorch-index:%s", ip);
    iw_arch_warn(a, "%s gives tensor names only: exact parameter counts and weight bytes need safetensors headers", ip);
    /* names only: attention type needs shapes, so only what names decide */
    if (sum.attn_type == IW_ATTN_MLA && a->attention.type == IW_ATTN_UNKNOWN) {
        a->attention.type = IW_ATTN_MLA;
        iw_arch_set_source(a, "attention.type", "pytorch_model.bin.index.json");
    }
    if (sum.num_experts > 0 && a->moe.num_experts == IW_UNKNOWN) {
        a->moe.num_experts = sum.num_experts;
        iw_arch_set_source(a, "moe.num_experts", "pytorch_model.bin.index.json");
    }
    if (sum.mlp_type && !a->mlp_type) {
        iw_arch_set_str(&a->mlp_type, sum.mlp_type);
        iw_arch_set_source(a, "mlp_type", "pytorch_model.bin.index.json");
    }
    if (sum.norm_type && !a->norm_type) {
        iw_arch_set_str(&a->norm_type, sum.norm_type);
        iw_arch_set_source(a, "norm_type", "pytorch_model.bin.index.json");
    }
    if (sum.tied_embeddings >= 0 && !iw_arch_get_source(a, "tie_word_embeddings")) {
        a->tie_word_embeddings = sum.tied_embeddings == 1;
        iw_arch_set_source(a, "tie_word_embeddings", "pytorch_model.bin.index.json");
    }
    rc = 0;
cleanup:
    free(ti);
    iw_st_index_free(&idx);
    iw_buf_free(&b);
    free(ip);
    return rc;
}

int iw_torch_bin_index_extract(const char *path, iw_arch *a)
{
    iw_provider *p = NULL;
    iw_file_list l;
    int rc;
    const char *want = "pytorch_model.bin.index.json";
    if (!path || !iw_path_exists(path))
        return iw_error_set(IW_ENOTFOUND, "no pytorch_model.bin.index.json at '%s'", path ? path : "(null)");
    if ((rc = with_local(path, &p, &l)) < 0)
        return rc;
    if (p->focus)
        want = p->focus;
    uint64_t size;
    if (p->stat(p, want, &size) < 0) {
        iw_error_clear();
        rc = iw_error_set(IW_ENOTFOUND, "no pytorch_model.bin.index.json at '%s'", path);
    } else {
        rc = iw__read_torch_index(p, want, a);
    }
    iw_file_list_free(&l);
    iw_provider_free(p);
    return rc;
}

/* ---- GGUF ------------------------------------------------------------------------ */

typedef struct gpick {
    const char  *path;     /* borrowed from the listing, or owned (split siblings) */
    char        *owned;
    const char  *label;
    iw_file_role role;     /* GGUF_MODEL or GGUF_PROJECTOR */
    bool         designated;   /* the provider said what it is */
} gpick;

typedef struct gset { gpick *v; size_t n, cap; } gset;

static void gset_free(gset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].owned);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int gset_add(gset *s, const char *path, bool copy, const char *label, iw_file_role role, bool designated)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        gpick *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return iw_error_set(IW_ENOMEM, "out of memory");
        s->v = nv;
        s->cap = nc;
    }
    gpick *g = &s->v[s->n];
    memset(g, 0, sizeof *g);
    if (copy && !(g->owned = strdup(path)))
        return iw_error_set(IW_ENOMEM, "out of memory");
    g->path = copy ? g->owned : path;
    g->label = label ? label : iw_path_base(path);
    g->role = role;
    g->designated = designated;
    s->n++;
    return 0;
}

static bool is_gguf_name(const char *n)
{
    const char *b = iw_path_base(n);
    return b[0] != '.' && strlen(b) > 5 && iw_path_ends_with(b, ".gguf");
}

static bool is_mmproj_name(const char *n)
{
    for (const char *p = iw_path_base(n); *p; p++)
        if (strncasecmp(p, "mmproj", 6) == 0)
            return true;
    return false;
}

/* All shards of the split set `file` belongs to (in order), or just `file`.
 * `shown` names it in the error. */
static int add_split_set(iw_provider *p, gset *out, const char *file, const char *shown)
{
    size_t plen;
    unsigned no, count;
    const char *bn = iw_path_base(file);
    if (!iw_gguf_split_name(bn, &plen, &no, &count))
        return gset_add(out, file, true, NULL, IW_FILE_GGUF_MODEL, false);
    size_t dlen = (size_t)(bn - file);
    for (unsigned k = 1; k <= count; k++) {
        char name[1024], path[4096];
        int w = snprintf(name, sizeof name, "%.*s-%05u-of-%05u.gguf", (int)plen, bn, k, count);
        if (w < 0 || (size_t)w >= sizeof name)
            return iw_error_set(IW_EINVAL, "%s: file name too long", shown);
        snprintf(path, sizeof path, "%.*s%s", (int)dlen, file, name);
        uint64_t size;
        if (p->stat(p, path, &size) < 0) {
            iw_error_clear();
            return iw_error_set(IW_ENOTFOUND, "%s: shard %u of %u (%s) is missing", shown, k, count, name);
        }
        int rc = gset_add(out, path, true, NULL, IW_FILE_GGUF_MODEL, false);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Which GGUF files to read (see iw__read_gguf). */
static int gguf_pick(iw_provider *p, const iw_file_list *l, iw_arch *a, gset *out)
{
    int rc = 0;
    for (size_t i = 0; i < l->n; i++)      /* the provider knows what they are */
        if (l->v[i].role == IW_FILE_GGUF_MODEL || l->v[i].role == IW_FILE_GGUF_PROJECTOR)
            if ((rc = gset_add(out, l->v[i].path, false, l->v[i].label, l->v[i].role, true)) < 0)
                return rc;
    if (out->n)
        return 0;
    if (p->focus)
        return is_gguf_name(p->focus) ? add_split_set(p, out, p->focus, p->name)
                                      : iw_error_set(IW_ENOTFOUND, "%s: not a .gguf file", p->name);
    const char **names = calloc(l->n ? l->n : 1, sizeof *names);
    size_t nn = 0, n_models = 0, n_proj = 0;
    const char *chosen = NULL, *proj = NULL;
    if (!names)
        return iw_error_set(IW_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].role == IW_FILE_BY_NAME && is_gguf_name(l->v[i].path))
            names[nn++] = l->v[i].path;
    qsort(names, nn, sizeof *names, cmp_str);
    for (size_t i = 0; i < nn; i++) {
        unsigned no, count;
        if (is_mmproj_name(names[i])) {
            if (!n_proj++)
                proj = names[i];
            continue;
        }
        if (iw_gguf_split_name(iw_path_base(names[i]), NULL, &no, &count) && no != 1)
            continue;
        if (!n_models++)
            chosen = names[i];
    }
    if (nn == 0)
        rc = iw_error_set(IW_ENOTFOUND, "%s: no .gguf file in the folder", p->name);
    if (rc == 0 && chosen)
        rc = add_split_set(p, out, chosen, chosen);
    if (rc == 0 && n_models > 1)
        rc = iw_arch_warn(a, "gguf: %s holds %zu GGUF models; read %s", p->name, n_models, chosen);
    if (rc == 0 && proj)
        rc = gset_add(out, proj, true, NULL, IW_FILE_GGUF_PROJECTOR, false);
    if (rc == 0 && n_proj > 1)
        rc = iw_arch_warn(a, "gguf: %s holds %zu vision projectors (mmproj); read %s", p->name, n_proj, proj);
    free(names);
    return rc;
}

int iw__read_gguf(iw_provider *p, const iw_file_list *l, iw_arch *a, iw_buf *csv)
{
    gset set = { 0 };
    iw_gguf **gs = NULL;
    iw_kvs *kv = NULL;
    const iw_kvs **pkv = NULL;
    size_t ng = 0;
    char *c = NULL;
    bool designated_projector = false;
    int rc = gguf_pick(p, l, a, &set);
    if (rc < 0 || set.n == 0)
        goto done;
    gs = calloc(set.n, sizeof *gs);
    kv = calloc(set.n, sizeof *kv);
    pkv = calloc(set.n, sizeof *pkv);
    if (!gs || !kv || !pkv) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < set.n; i++) {
        const gpick *g = &set.v[i];
        iw_source src;
        designated_projector |= g->designated && g->role == IW_FILE_GGUF_PROJECTOR;
        free(c);
        if (!(c = iw_provider_cite(p, g->path))) {
            rc = IW_ENOMEM;
            goto done;
        }
        if ((rc = p->open(p, g->path, &src)) == 0) {
            rc = iw_gguf_parse(&gs[ng], &src, NULL);
            iw_source_close(&src);
        }
        if (rc < 0) {
            if (g->designated)
                iw_error_prefix("%s %s layer", p->name, g->role == IW_FILE_GGUF_MODEL ? "model" : "projector");
            goto done;
        }
        iw_gguf_kvs(gs[ng], &kv[ng]);
        if (g->role == IW_FILE_GGUF_PROJECTOR && !iw_kvs_is_projector(&kv[ng])) {
            iw_gguf_free(gs[ng]);
            gs[ng] = NULL;
            iw_error_clear();
            if ((rc = iw_arch_warn(a, "%s: projector %s has neither general.architecture=clip nor clip.vision.* keys;"
                                   " vision details unknown", p->name, g->label)) < 0)
                goto done;
            continue;
        }
        pkv[ng] = &kv[ng];
        ng++;
        for (size_t w = 0; w < iw_gguf_warning_count(gs[ng - 1]); w++)
            if ((rc = iw_arch_warn(a, "gguf: %s: %s", g->label, iw_gguf_warning(gs[ng - 1], w))) < 0)
                goto done;
        if ((rc = iw_strlist_pushf(&a->sources, "gguf:%s", c)) < 0)
            goto done;
        if (csv && (rc = iw_gguf_tensors_csv(gs[ng - 1], csv)) < 0)
            goto done;
    }
    if (ng && (rc = iw_kvs_to_arch(pkv, ng, a)) < 0)
        goto done;
    if (designated_projector && !a->has_vision) {
        /* the listing itself says the model takes images */
        a->has_vision = true;
        char src[64];
        snprintf(src, sizeof src, "%s:projector", p->engine ? p->engine : "listing");
        if ((rc = iw_arch_set_source(a, "has_vision", src)) < 0)
            goto done;
    }
    rc = 0;
done:
    for (size_t i = 0; i < ng; i++)
        iw_gguf_free(gs[i]);
    free(gs);
    free(kv);
    free(pkv);
    free(c);
    gset_free(&set);
    return rc;
}

int iw_gguf_extract_path(const char *path, iw_arch *a)
{
    iw_provider *p = NULL;
    iw_file_list l;
    if (!path || !a)
        return iw_error_set(IW_EINVAL, "iw_gguf_extract_path: invalid argument");
    if (!iw_path_exists(path))
        return iw_error_set(IW_ENOTFOUND, "%s: no such file or folder", path);
    int rc = with_local(path, &p, &l);
    if (rc < 0)
        return rc;
    rc = iw__read_gguf(p, &l, a, NULL);
    iw_file_list_free(&l);
    iw_provider_free(p);
    return rc;
}
