/* extract.c - architecture of a local model folder.
 *
 * Order (most trusted first; a field already attributed is never
 * overwritten, see config.c):
 *   1. config.json (+ nested text/vision blocks), generation_config.json,
 *      quantize_config.json / quant_config.json, formula parameters
 *   2. tensor headers (headers.c: safetensors, else GGUF): exact parameters
 *      and weight bytes win over the formula (a >0.5% gap is a warning)
 *   3. support repo folder (opts->support_dir): fills only unknown fields,
 *      attributed "support_repo:<id>"
 *   4. name-size cross-check (or the name as a last-resort "table" count),
 *      KV per token, collected_at.
 * `ollama:` references and single .gguf/.safetensors files go straight to
 * their readers (headers.c).
 * Files are read with a 16 MiB cap (IW_CONFIG_MAX_BYTES).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "config_internal.h"
#include "headers_internal.h"

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Read dir/name when it exists.  *found tells whether it did. */
static int read_opt(const char *dir, const char *name, iw_buf *b, char **path_out, bool *found)
{
    char *p = join(dir, name);
    *found = false;
    if (!p)
        return iw_error_set(IW_ENOMEM, "out of memory");
    if (!iw_path_is_file(p)) {
        free(p);
        return 0;
    }
    int rc = iw_read_file(p, IW_CONFIG_MAX_BYTES, b);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *found = true;
    *path_out = p;
    return 0;
}

/* Make the last error name where it happened exactly once.  A message that
 * begins with `rel` (the parser only knew "config.json") is rewritten to
 * begin with the full path `full`; one that already begins with `dir` (a
 * header reader named the file inside it) is left alone; anything else gets
 * "dir: " in front. */
static void name_where(const char *dir, const char *rel, const char *full)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", iw_error_last());
    size_t nd = strlen(dir), nr = rel ? strlen(rel) : 0;
    if (rel && full && !strncmp(msg, rel, nr) && (msg[nr] == ':' || msg[nr] == ' '))
        iw_error_set(iw_error_last_code(), "%s%s", full, msg + nr);
    else if (!(strncmp(msg, dir, nd) == 0 && (msg[nd] == ':' || msg[nd] == '/' || msg[nd] == ' ')))
        iw_error_prefix("%s", dir);
}

/* quantize_config.json (GPTQ) then quant_config.json (AWQ). */
static int read_quant_files(const char *dir, const char *source_prefix, iw_arch *a)
{
    static const char *const names[] = {"quantize_config.json", "quant_config.json", NULL};
    int rc = 0;
    for (size_t i = 0; names[i] && rc == 0; i++) {
        iw_buf b = IW_BUF_INIT(IW_CONFIG_MAX_BYTES);
        char *p = NULL;
        bool found;
        rc = read_opt(dir, names[i], &b, &p, &found);
        if (rc == 0 && found) {
            char src[512];
            snprintf(src, sizeof(src), "%s%s", source_prefix, names[i]);
            int qrc = iw_quant_config_parse(b.data ? b.data : "", b.len, src, a);
            if (qrc < 0) {
                /* a broken sidecar does not make the model unreadable */
                iw_arch_warn(a, "%s", iw_error_last());
                iw_error_clear();
            } else {
                rc = iw_strlist_pushf(&a->sources, "quant:%s", p);
            }
        }
        free(p);
        iw_buf_free(&b);
    }
    return rc;
}

/* generation_config.json: only checked to be JSON; recorded as a source. */
static int read_generation_config(const char *dir, iw_arch *a)
{
    iw_buf b = IW_BUF_INIT(IW_CONFIG_MAX_BYTES);
    char *p = NULL;
    bool found;
    int rc = read_opt(dir, "generation_config.json", &b, &p, &found);
    if (rc == 0 && found) {
        cJSON *j = NULL;
        if (iw_json_parse(b.data ? b.data : "", b.len, p, &j, NULL) < 0) {
            iw_arch_warn(a, "%s", iw_error_last());
            iw_error_clear();
        } else {
            rc = iw_strlist_pushf(&a->sources, "generation_config:%s", p);
        }
        cJSON_Delete(j);
    } else if (rc < 0) {
        iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
        rc = 0;
    }
    free(p);
    iw_buf_free(&b);
    return rc;
}

static int read_support(const iw_extract_opts *opts, iw_arch *a)
{
    const char *id = opts->support_id ? opts->support_id : opts->support_dir;
    char src[512];
    iw_buf b = IW_BUF_INIT(IW_CONFIG_MAX_BYTES);
    char *p = NULL;
    bool found;
    int rc;

    snprintf(src, sizeof(src), "support_repo:%s", id);
    rc = read_opt(opts->support_dir, "config.json", &b, &p, &found);
    if (rc == 0 && found) {
        /* fields already known keep their source: config.c never overwrites */
        rc = iw_config_parse(b.data ? b.data : "", b.len, src, a);
        if (rc == 0)
            rc = iw_strlist_pushf(&a->sources, "support_config:%s", p);
    } else if (rc == 0) {
        iw_arch_warn(a, "support repo %s: no config.json in %s", id, opts->support_dir);
    }
    free(p);
    iw_buf_free(&b);
    if (rc == 0) {
        char pre[600];
        snprintf(pre, sizeof(pre), "support_repo:%s:", id);
        rc = read_quant_files(opts->support_dir, pre, a);
    }
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

/* KV bytes per token once every source has spoken (warn, never fail). */
static void finish_kv(iw_arch *a)
{
    if (a->kv_bytes_per_token <= 0 && iw_kv_per_token(a) < 0) {
        iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
    }
}

int iw_extract_path(const char *path, const iw_extract_opts *opts, iw_arch *a)
{
    static const iw_extract_opts no_opts = {0};
    iw_buf b = IW_BUF_INIT(IW_CONFIG_MAX_BYTES);
    char *cfg_path = NULL;
    bool found = false;
    int rc;

    if (!path || !a)
        return iw_error_set(IW_EINVAL, "iw_extract_path: NULL argument");
    if (!opts)
        opts = &no_opts;
    if (iw__is_ollama_ref(path)) {
        rc = iw__extract_ollama(path, a);
        if (rc == 0)
            finish_kv(a);
        iw_arch_stamp_now(a);
        return rc;
    }
    if (!iw_path_exists(path))
        return iw_error_set(IW_ENOTFOUND, "%s: no such file or folder", path);

    if (!iw_path_is_dir(path)) {
        /* A single .gguf / .safetensors file: its header is the whole story. */
        rc = iw__extract_headers(path, a);
        if (rc == 0)
            finish_kv(a);
        iw_arch_stamp_now(a);
        return rc;
    }

    /* config.json first, then quantization configs and the formula, so that
     * the header readers know the quantization (for unpacking packed tensors)
     * and can warn when the formula disagrees with the exact count; the
     * headers then win for parameters and weight bytes. */
    rc = read_opt(path, "config.json", &b, &cfg_path, &found);
    if (rc < 0)
        goto cleanup;
    if (found) {
        rc = iw_config_parse(b.data ? b.data : "", b.len, "config.json", a);
        if (rc < 0) {
            name_where(path, "config.json", cfg_path);
            goto cleanup;
        }
        rc = iw_strlist_pushf(&a->sources, "config:%s", cfg_path);
        if (rc == 0)
            rc = read_generation_config(path, a);
        if (rc == 0)
            rc = read_quant_files(path, "", a);
        if (rc == 0 && opts->support_dir)
            rc = read_support(opts, a);
        if (rc < 0)
            goto cleanup;
        if (!a->parameters.source || a->parameters.total <= 0) {
            if (iw_params_formula(a) < 0) {
                iw_arch_warn(a, "%s", iw_error_last());
                iw_error_clear();
            }
        }
    }
    if (!opts->skip_headers || !found) {
        rc = iw__extract_headers(path, a);
        if (rc == IW_ENOTFOUND && found) {
            iw_error_clear();       /* config-only folder: the formula stands */
        } else if (rc == IW_ENOTFOUND) {
            rc = iw_error_set(IW_ENOTFOUND,
                "%s: no config.json, safetensors or GGUF files here (not a model folder)", path);
            goto cleanup;
        } else if (rc < 0) {
            name_where(path, NULL, NULL);
            goto cleanup;
        }
    }
    /* GGUF-only folder: the support repo's config fills what the header lacks. */
    if (!found && opts->support_dir && (rc = read_support(opts, a)) < 0)
        goto cleanup;
    if (!found && (!a->parameters.source || a->parameters.total <= 0) && iw_params_formula(a) < 0) {
        iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
    }
    if (a->parameters.total <= 0)
        name_table(path, a);
    else
        name_check(path, a);
    finish_kv(a);
    rc = 0;

cleanup:
    iw_arch_stamp_now(a);
    free(cfg_path);
    iw_buf_free(&b);
    return rc;
}
