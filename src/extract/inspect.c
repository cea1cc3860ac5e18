/* inspect.c - iw_inspect: the architecture of a model from the files a
 * provider lists (include/iwdl/inspect.h), for every provider alike.
 *
 * Order (most trusted first; a field already attributed is never
 * overwritten, see config.c):
 *   1. config.json (+ nested text/vision blocks), generation_config.json,
 *      quantize_config.json / quant_config.json, a support repo's configs,
 *      formula parameters
 *   2. tensor headers (headers.c: safetensors, else GGUF): exact parameters
 *      and weight bytes win over the formula (a >0.5% gap is a warning)
 *   3. Ollama's params blob, or its /api/show answer (ollama_info.c)
 *   4. name-size cross-check (or the name as a last-resort "table" count),
 *      KV per token, collected_at.
 * A single file the user named (the provider's focus) is its header alone.
 * Small files are read with a 16 MiB cap (IW_CONFIG_MAX_BYTES). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/extract.h"
#include "iwdl/json.h"
#include "iwdl/ollama.h"
#include "config_internal.h"
#include "inspect_internal.h"

int iw_inspect_opts_init(iw_inspect_opts *o, unsigned version)
{
    if (version != IW_INSPECT_OPTS_VERSION)
        return iw_error_set(IW_EINVAL, "iw_inspect_opts: version %u, this library knows %u", version,
                            IW_INSPECT_OPTS_VERSION);
    iw_inspect_opts init = IW_INSPECT_OPTS_INIT;
    *o = init;
    return 0;
}

/* Read path of p when it is listed (or, for a support folder, present).
 * *found tells whether it was. */
static int read_opt(iw_provider *p, const char *path, iw_buf *b, char **cite, bool *found)
{
    uint64_t size;
    *found = false;
    if (p->stat(p, path, &size) < 0) {
        iw_error_clear();
        return 0;
    }
    int rc = iw_provider_read(p, path, IW_CONFIG_MAX_BYTES, b);
    if (rc < 0)
        return rc;
    if (!(*cite = iw_provider_cite(p, path))) {
        iw_buf_free(b);
        return IW_ENOMEM;
    }
    *found = true;
    return 0;
}

/* Make the last error name where it happened exactly once.  A message that
 * begins with `rel` (the parser only knew "config.json") is rewritten to
 * begin with the full name `full`; one that already begins with `where` (a
 * header reader named the file inside it) is left alone; anything else gets
 * "where: " in front. */
static void name_where(const char *where, const char *rel, const char *full)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", iw_error_last());
    size_t nd = strlen(where), nr = rel ? strlen(rel) : 0;
    if (rel && full && !strncmp(msg, rel, nr) && (msg[nr] == ':' || msg[nr] == ' '))
        iw_error_set(iw_error_last_code(), "%s%s", full, msg + nr);
    else if (!(strncmp(msg, where, nd) == 0 && (msg[nd] == ':' || msg[nd] == '/' || msg[nd] == ' ')))
        iw_error_prefix("%s", where);
}

/* quantize_config.json (GPTQ) then quant_config.json (AWQ). */
static int read_quant_files(iw_provider *p, const char *source_prefix, iw_arch *a)
{
    static const char *const names[] = {"quantize_config.json", "quant_config.json", NULL};
    int rc = 0;
    for (size_t i = 0; names[i] && rc == 0; i++) {
        iw_buf b = IW_BUF_INIT(IW_CONFIG_MAX_BYTES);
        char *c = NULL;
        bool found;
        rc = read_opt(p, names[i], &b, &c, &found);
        if (rc == 0 && found) {
            char src[512];
            snprintf(src, sizeof(src), "%s%s", source_prefix, names[i]);
            int qrc = iw_quant_config_parse(b.data ? b.data : "", b.len, src, a);
            if (qrc < 0) {
                /* a broken sidecar does not make the model unreadable */
                iw_arch_warn(a, "%s", iw_error_last());
                iw_error_clear();
            } else {
                rc = iw_strlist_pushf(&a->sources, "quant:%s", c);
            }
        }
        free(c);
        iw_buf_free(&b);
    }
    return rc;
}

/* generation_config.json: only checked to be JSON; recorded as a source. */
static int read_generation_config(iw_provider *p, iw_arch *a)
{
    iw_buf b = IW_BUF_INIT(IW_CONFIG_MAX_BYTES);
    char *c = NULL;
    bool found;
    int rc = read_opt(p, "generation_config.json", &b, &c, &found);
    if (rc == 0 && found) {
        cJSON *j = NULL;
        if (iw_json_parse(b.data ? b.data : "", b.len, c, &j, NULL) < 0) {
            iw_arch_warn(a, "%s", iw_error_last());
            iw_error_clear();
        } else {
            rc = iw_strlist_pushf(&a->sources, "generation_config:%s", c);
        }
        cJSON_Delete(j);
    } else if (rc < 0) {
        iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
        rc = 0;
    }
    free(c);
    iw_buf_free(&b);
    return rc;
}

static int read_support(const iw_inspect_opts *opts, iw_arch *a)
{
    const char *id = opts->support_id ? opts->support_id : opts->support_dir;
    char src[512];
    iw_buf b = IW_BUF_INIT(IW_CONFIG_MAX_BYTES);
    char *c = NULL;
    bool found = false;
    iw_provider *p = NULL;
    int rc = iw_provider_local(&p, opts->support_dir);

    snprintf(src, sizeof(src), "support_repo:%s", id);
    if (rc == 0)
        rc = read_opt(p, "config.json", &b, &c, &found);
    else if (rc == IW_ENOTFOUND)
        iw_error_clear(), rc = 0;
    if (rc == 0 && found) {
        /* fields already known keep their source: config.c never overwrites */
        rc = iw_config_parse(b.data ? b.data : "", b.len, src, a);
        if (rc == 0)
            rc = iw_strlist_pushf(&a->sources, "support_config:%s", c);
    } else if (rc == 0) {
        iw_arch_warn(a, "support repo %s: no config.json in %s", id, opts->support_dir);
    }
    free(c);
    iw_buf_free(&b);
    if (rc == 0 && p) {
        char pre[600];
        snprintf(pre, sizeof(pre), "support_repo:%s:", id);
        rc = read_quant_files(p, pre, a);
    }
    iw_provider_free(p);
    return rc;
}

static void name_check(const char *path, iw_arch *a)
{
    int64_t nt, na;
    if (a->parameters.total <= 0)
        return;
    /* last non-empty path component */
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/')
        s--;
    char name[256];
    size_t len = n - s < sizeof(name) - 1 ? n - s : sizeof(name) - 1;
    memcpy(name, path + s, len);
    name[len] = 0;
    if (!iw_parse_size_from_name(name, &nt, &na))
        return;
    double diff = fabs((double)a->parameters.total - (double)nt) / (double)nt;
    /* "8x7B" multiplies the expert size: attention and embeddings are shared,
     * so the real total is below N*size (Mixtral-8x7B is 46.7B).  Only a
     * total above the product, or under half of it, is suspicious. */
    bool nx = false;
    for (size_t i = 1; i + 1 < len; i++)
        if ((name[i] == 'x' || name[i] == 'X') && name[i - 1] >= '0' && name[i - 1] <= '9' &&
            name[i + 1] >= '0' && name[i + 1] <= '9')
            nx = true;
    if (nx)
        diff = (double)a->parameters.total > (double)nt * 1.10 || (double)a->parameters.total < (double)nt * 0.5
             ? diff : 0;
    if (diff > 0.10)
        iw_arch_warn(a, "name '%s' says %.3gB parameters but the %s count is %.3gB (%.0f%% apart)", name,
                     (double)nt / 1e9, a->parameters.source ? a->parameters.source : "computed",
                     (double)a->parameters.total / 1e9, diff * 100);
}

/* Last resort when the config cannot give a count: the size written in the
 * folder name, recorded as source "table" with a warning (it is a guess). */
static void name_table(const char *path, iw_arch *a)
{
    int64_t nt, na;
    const char *base = strrchr(path, '/');
    base = base && base[1] ? base + 1 : path;
    if (!iw_parse_size_from_name(base, &nt, &na))
        return;
    a->parameters.total = nt;
    a->parameters.active = na > 0 ? na : nt;
    if (iw_arch_set_str(&a->parameters.source, "table") == 0 &&
        iw_arch_set_source(a, "parameters.total", "table:name") == 0)
        iw_arch_warn(a, "parameter count guessed from the name '%s' (%.3gB): the config does not give it",
                     base, (double)nt / 1e9);
}

static const iw_file *first_role(const iw_file_list *l, iw_file_role r)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].role == r)
            return &l->v[i];
    return NULL;
}

/* Ollama's POST /api/show answer: the whole record (ollama_info.c). */
static int read_show(iw_provider *p, const iw_file *f, iw_arch *a)
{
    iw_buf b;
    char *c = iw_provider_cite(p, f->path);
    int rc = c ? iw_provider_read(p, f->path, IW_OLLAMA_MAX_SHOW, &b) : IW_ENOMEM;
    if (rc == 0) {
        rc = iw_ollama_show_to_arch(b.data ? b.data : "", b.len, c, a);
        iw_buf_free(&b);
    }
    free(c);
    return rc;
}

/* config.json and its sidecars, then the formula (step 1). */
static int read_configs(iw_provider *p, const iw_inspect_opts *opts, iw_arch *a, bool *found)
{
    iw_buf b = IW_BUF_INIT(IW_CONFIG_MAX_BYTES);
    char *cfg = NULL;
    int rc = read_opt(p, "config.json", &b, &cfg, found);
    if (rc < 0 || !*found)
        goto cleanup;
    rc = iw_config_parse(b.data ? b.data : "", b.len, "config.json", a);
    if (rc < 0) {
        name_where(p->name, "config.json", cfg);
        goto cleanup;
    }
    rc = iw_strlist_pushf(&a->sources, "config:%s", cfg);
    if (rc == 0)
        rc = read_generation_config(p, a);
    if (rc == 0)
        rc = read_quant_files(p, "", a);
    if (rc == 0 && opts->support_dir)
        rc = read_support(opts, a);
    if (rc < 0)
        goto cleanup;
    if ((!a->parameters.source || a->parameters.total <= 0) && iw_params_formula(a) < 0) {
        iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
    }
cleanup:
    free(cfg);
    iw_buf_free(&b);
    return rc;
}

/* Tensor headers (step 2): safetensors, else GGUF (whose engine's KV
 * default then applies).  IW_ENOTFOUND when the model has neither. */
static int read_headers(iw_provider *p, const iw_file_list *l, iw_arch *a, iw_buf *csv)
{
    bool designated = first_role(l, IW_FILE_GGUF_MODEL) || first_role(l, IW_FILE_GGUF_PROJECTOR);
    if (p->focus) {
        if (iw_path_ends_with(p->focus, ".gguf")) {
            int rc = iw__read_gguf(p, l, a, csv);
            return rc < 0 ? rc : iw__gguf_kv_default(p->engine, a);
        }
        if (iw_path_ends_with(p->focus, ".safetensors"))
            return iw__read_safetensors(p, l, a, csv);
        return iw_error_set(IW_EUNSUPPORTED, "%s: not a model folder, .gguf or .safetensors file", p->name);
    }
    /* Safetensors first: a folder with both (a converted model kept beside
     * its source) describes the safetensors checkpoint, as vLLM would load it. */
    if (!designated && iw__has_safetensors(l))
        return iw__read_safetensors(p, l, a, csv);
    int rc = iw__read_gguf(p, l, a, csv);
    if (rc == IW_ENOTFOUND && !designated) {
        iw_error_clear();
        return iw_error_set(IW_ENOTFOUND, "%s: no safetensors or GGUF files", p->name);
    }
    /* before a support repo's config could default it from torch_dtype */
    return rc < 0 ? rc : iw__gguf_kv_default(p->engine, a);
}

int iw_inspect(iw_provider *p, const iw_inspect_opts *opts, iw_arch *a)
{
    static const iw_inspect_opts no_opts = IW_INSPECT_OPTS_INIT;
    iw_file_list l;
    bool found = false;
    int rc;
    memset(&l, 0, sizeof l);

    if (!p || !a)
        return iw_error_set(IW_EINVAL, "iw_inspect: NULL argument");
    if (p->version != IW_PROVIDER_VERSION)
        return iw_error_set(IW_EINVAL, "iw_inspect: provider version %u, this library knows %u", p->version,
                            IW_PROVIDER_VERSION);
    if (!opts)
        opts = &no_opts;
    if ((rc = iw_opts_version_check(opts->version, IW_INSPECT_OPTS_VERSION, "iw_inspect")) < 0)
        return rc;
    if ((rc = p->list(p, &l)) < 0)
        goto done;
    for (size_t i = 0; i < l.sources.n && rc == 0; i++)
        rc = iw_strlist_push(&a->sources, l.sources.v[i]);
    for (size_t i = 0; i < l.warnings.n && rc == 0; i++)
        rc = iw_arch_warn(a, "%s", l.warnings.v[i]);
    if (rc < 0)
        goto done;
    if (opts->tensors_csv && (rc = iw_buf_puts(opts->tensors_csv, "kind,name,shape,dtype\n")) < 0)
        goto done;

    const iw_file *show = first_role(&l, IW_FILE_OLLAMA_SHOW);
    if (show) {
        rc = read_show(p, show, a);   /* the whole record, KV and stamp included */
        goto done;
    }

    /* 1. config.json and friends, the formula (not for one named file) */
    if (!p->focus && (rc = read_configs(p, opts, a, &found)) < 0)
        goto done;

    /* 2. tensor headers */
    if (p->focus || !opts->skip_headers || !found) {
        rc = read_headers(p, &l, a, opts->tensors_csv);
        if (rc == IW_ENOTFOUND && found) {
            iw_error_clear();       /* config-only folder: the formula stands */
        } else if (rc == IW_ENOTFOUND && !p->focus && !first_role(&l, IW_FILE_GGUF_MODEL)) {
            rc = iw_error_set(IW_ENOTFOUND,
                "%s: no config.json, safetensors or GGUF files here (not a model folder)", p->name);
            goto done;
        } else if (rc < 0) {
            if (!p->focus)
                name_where(p->name, NULL, NULL);
            goto done;
        }
    }
    if (p->focus) {
        rc = iw__finish_kv(a);
        goto done;
    }

    /* 3. what Ollama adds: LoRA adapters are noted, the params blob read */
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].role == IW_FILE_GGUF_ADAPTER &&
            (rc = iw_arch_warn(a, "%s carries a LoRA adapter (%s); the architecture is the base model's", p->name,
                               l.v[i].label ? l.v[i].label : iw_path_base(l.v[i].path))) < 0)
            goto done;
    const iw_file *params = first_role(&l, IW_FILE_OLLAMA_PARAMS);
    if (params && (rc = iw__read_ollama_params(p, params->path, a)) < 0)
        goto done;
    if (a->ollama_num_ctx > 0 && a->context_length > 0 && a->ollama_num_ctx > a->context_length &&
        (rc = iw_arch_warn(a, "ollama: num_ctx %" PRId64 " exceeds the model's trained context %" PRId64,
                           a->ollama_num_ctx, a->context_length)) < 0)
        goto done;

    /* GGUF-only folder: the support repo's config fills what the header lacks. */
    if (!found && opts->support_dir && (rc = read_support(opts, a)) < 0)
        goto done;
    if (!found && (!a->parameters.source || a->parameters.total <= 0) && iw_params_formula(a) < 0) {
        iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
    }

    /* 4. the name, KV per token, the record's source */
    if (p->name_sizes) {
        if (a->parameters.total <= 0)
            name_table(p->name, a);
        else
            name_check(p->name, a);
    }
    if ((rc = iw__finish_kv(a)) < 0)
        goto done;
    if (p->source && (rc = iw_arch_set_str(&a->source, p->source)) < 0)
        goto done;
    rc = 0;

done:
    iw_arch_stamp_now(a);
    iw_file_list_free(&l);
    return rc;
}

int iw_extract_path(const char *path, const iw_extract_opts *opts, iw_arch *a)
{
    iw_provider *p = NULL;
    if (!path || !a)
        return iw_error_set(IW_EINVAL, "iw_extract_path: NULL argument");
    int rc = iw_provider_local(&p, path);
    if (rc == 0)
        rc = iw_inspect(p, opts, a);
    iw_provider_free(p);
    return rc;
}

int iw_ollama_extract(const char *ref, const char *root, iw_arch *a)
{
    iw_provider *p = NULL;
    if (!ref || !a)
        return iw_error_set(IW_EINVAL, "iw_ollama_extract: invalid argument");
    int rc = iw_provider_ollama_store(&p, ref, root);
    if (rc == 0)
        rc = iw_inspect(p, NULL, a);
    iw_provider_free(p);
    return rc;
}
