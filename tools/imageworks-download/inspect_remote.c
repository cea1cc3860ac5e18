/* inspect_remote.c - `inspect REPO`: architecture from remote headers.
 *
 * Reads, by HTTP Range through iw_hub_open_source: config.json and the
 * quantization configs (whole, capped), every safetensors header (8-byte
 * length + JSON) or the GGUF header of one model file (all shards of a split
 * set) and its mmproj.  The same parsers as for local files run on these
 * sources, so remote and local answers agree. */
#include "inspect_remote.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/fs.h"
#include "iwdl/gguf.h"
#include "iwdl/hub.h"
#include "iwdl/safetensors.h"

#define CONFIG_CAP  (16u << 20)   /* config.json and friends */
#define MAX_GGUF_SHARDS 256

static uint64_t g_transferred;

static void count(iw_source *s)
{
    g_transferred += iw_hub_source_transferred(s);
}

/* Read a whole small remote file (capped). */
static int fetch_text(iw_hub *hub, const char *repo, const char *commit,
                      const char *path, uint64_t size, iw_buf *out)
{
    if (size > CONFIG_CAP)
        return iw_error_set(IW_ELIMIT, "%s/%s is %llu bytes, over the %u-byte cap for config files",
                            repo, path, (unsigned long long)size, CONFIG_CAP);
    iw_source s;
    int rc = iw_hub_open_source(&s, hub, repo, commit, path);
    if (rc < 0)
        return rc;
    iw_buf_init(out, CONFIG_CAP);
    rc = iw_buf_reserve(out, (size_t)size);
    size_t got = 0;
    if (rc == 0)
        rc = iw_source_read_at(&s, 0, out->data, (size_t)size, &got);
    if (rc == 0 && got != size)
        rc = iw_error_set(IW_EFORMAT, "%s/%s: short read (%zu of %llu bytes)", repo, path, got,
                          (unsigned long long)size);
    if (rc == 0) {
        out->len = got;
        out->data[got] = 0;
    }
    count(&s);
    iw_source_close(&s);
    if (rc < 0)
        iw_buf_free(out);
    return rc;
}

static const iw_hub_file *find_file(const iw_hub_listing *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->files[i].path, path) == 0)
            return &l->files[i];
    return NULL;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static bool is_top_level(const char *p) { return strchr(p, '/') == NULL; }

/* Checkpoints that sit beside the model: original consolidated weights, adapters. */
static bool is_side_file(const char *p)
{
    return strncmp(p, "consolidated", 12) == 0 || strncmp(p, "adapter_model", 13) == 0;
}

static int apply_text_file(iw_hub *hub, const char *repo, const char *commit,
                           const iw_hub_listing *l, const char *name, iw_arch *a, bool quant)
{
    const iw_hub_file *f = find_file(l, name);
    if (!f)
        return IW_ENOTFOUND;
    iw_buf b;
    int rc = fetch_text(hub, repo, commit, name, f->size, &b);
    if (rc < 0)
        return rc;
    char src[600];
    snprintf(src, sizeof src, "%s", name);
    rc = quant ? iw_quant_config_parse(b.data, b.len, src, a) : iw_config_parse(b.data, b.len, src, a);
    iw_buf_free(&b);
    if (rc == 0)
        iw_strlist_pushf(&a->sources, "%s:%s/%s", quant ? "quant_config" : "config", repo, name);
    return rc;
}

static int read_safetensors(iw_hub *hub, const char *repo, const char *commit,
                            const iw_hub_listing *l, iw_arch *a, iw_buf *csv)
{
    int rc = 0;
    iw_st_index idx;
    bool have_idx = false;
    char **names = NULL;
    size_t n_names = 0;
    const iw_hub_file *ix = find_file(l, "model.safetensors.index.json");
    if (ix) {
        iw_buf b;
        if ((rc = fetch_text(hub, repo, commit, ix->path, ix->size, &b)) < 0)
            return rc;
        rc = iw_st_index_parse(b.data, b.len, "model.safetensors.index.json", &idx);
        iw_buf_free(&b);
        if (rc < 0)
            return rc;
        have_idx = true;
        names = idx.shards;
        n_names = idx.n_shards;
    } else {
        /* The local rule (iw_safetensors_extract_dir): model.safetensors, else
         * every top-level *.safetensors, leaving out consolidated* and
         * adapter_model* when other files exist. */
        names = calloc(l->n ? l->n : 1, sizeof *names);
        if (!names)
            return iw_error_set(IW_ENOMEM, "out of memory");
        const iw_hub_file *single = find_file(l, "model.safetensors");
        size_t n_side = 0;
        for (size_t i = 0; !single && i < l->n; i++) {
            char *p = l->files[i].path;
            if (is_top_level(p) && ends_with(p, ".safetensors") && !is_side_file(p))
                names[n_names++] = p;
            else if (is_top_level(p) && ends_with(p, ".safetensors"))
                n_side++;
        }
        for (size_t i = 0; !single && n_names == 0 && n_side && i < l->n; i++)
            if (is_top_level(l->files[i].path) && ends_with(l->files[i].path, ".safetensors"))
                names[n_names++] = l->files[i].path;
        if (single)
            names[n_names++] = single->path;
    }
    if (n_names == 0) {
        if (!have_idx)
            free(names);
        else
            iw_st_index_free(&idx);
        return IW_ENOTFOUND;
    }
    iw_st_file *files = calloc(n_names, sizeof *files);
    size_t n_files = 0;
    if (!files)
        rc = iw_error_set(IW_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n_names; i++) {
        iw_source s;
        if ((rc = iw_hub_open_source(&s, hub, repo, commit, names[i])) < 0)
            break;
        rc = iw_st_read_header(&s, &files[n_files]);
        count(&s);
        iw_source_close(&s);
        if (rc < 0)
            break;
        n_files++;
        iw_strlist_pushf(&a->sources, "safetensors:%s/%s", repo, names[i]);
        if (csv)
            rc = iw_st_csv_append(&files[n_files - 1], false, csv);
    }
    if (rc == 0 && have_idx)
        rc = iw_st_check_index(&idx, "model.safetensors.index.json", files, n_files, a);
    if (rc == 0) {
        iw_st_quant q = { a->quantization.method, a->quantization.bits };
        iw_st_summary sum;
        rc = iw_st_analyse_files(files, n_files, &q, a, &sum);
        if (rc == 0)
            rc = iw_st_apply(a, &sum, have_idx ? &idx : NULL);
    }
    for (size_t i = 0; i < n_files; i++)
        iw_st_file_free(&files[i]);
    free(files);
    if (have_idx)
        iw_st_index_free(&idx);
    else
        free(names);
    return rc;
}

static bool is_mmproj(const char *p)
{
    const char *base = strrchr(p, '/');
    base = base ? base + 1 : p;
    return strstr(base, "mmproj") != NULL;
}

static int read_gguf(iw_hub *hub, const char *repo, const char *commit,
                     const iw_hub_listing *l, iw_arch *a, iw_buf *csv)
{
    /* Pick the first model GGUF by name; with a split set, all its shards. */
    const char *first = NULL;
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->files[i].path;
        if (ends_with(p, ".gguf") && !is_mmproj(p) && (!first || strcmp(p, first) < 0))
            first = p;
    }
    if (!first)
        return IW_ENOTFOUND;
    size_t plen = 0;
    unsigned no = 0, cnt = 0;
    const char *paths[MAX_GGUF_SHARDS];
    size_t n = 0;
    if (iw_gguf_split_name(first, &plen, &no, &cnt) && cnt > 1) {
        for (unsigned k = 1; k <= cnt && n < MAX_GGUF_SHARDS; k++)
            for (size_t i = 0; i < l->n; i++) {
                size_t pl2; unsigned no2, c2;
                const char *p = l->files[i].path;
                if (iw_gguf_split_name(p, &pl2, &no2, &c2) && pl2 == plen && no2 == k && c2 == cnt &&
                    strncmp(p, first, plen) == 0)
                    paths[n++] = p;
            }
        if (n != cnt)
            return iw_error_set(IW_ENOTFOUND, "%s: split GGUF set has %zu of %u shards", first, n, cnt);
    } else {
        paths[n++] = first;
    }
    iw_gguf *shards[MAX_GGUF_SHARDS] = { 0 };
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        iw_source s;
        if ((rc = iw_hub_open_source(&s, hub, repo, commit, paths[i])) < 0)
            break;
        rc = iw_gguf_parse(&shards[i], &s, NULL);
        count(&s);
        iw_source_close(&s);
        if (rc == 0)
            iw_strlist_pushf(&a->sources, "gguf:%s/%s", repo, paths[i]);
    }
    if (rc == 0)
        rc = iw_gguf_to_arch((const iw_gguf *const *)shards, n, a);
    if (rc == 0 && csv) {
        char *mem = NULL;
        size_t mlen = 0;
        FILE *m = open_memstream(&mem, &mlen);
        for (size_t i = 0; m && i < n; i++)
            iw_gguf_write_tensors_csv(shards[i], m);
        if (m) {
            fclose(m);
            rc = iw_buf_append(csv, mem, mlen);
        }
        free(mem);
    }
    for (size_t i = 0; i < n; i++)
        iw_gguf_free(shards[i]);
    if (rc < 0)
        return rc;
    if (l->n > n) {
        size_t others = 0;
        for (size_t i = 0; i < l->n; i++)
            if (ends_with(l->files[i].path, ".gguf") && !is_mmproj(l->files[i].path))
                others++;
        if (others > n)
            iw_arch_warn(a, "repo has %zu GGUF files; inspected %s (use a local file for another variant)",
                         others, first);
    }
    /* Vision projector: its clip.vision.* keys describe the vision tower. */
    for (size_t i = 0; i < l->n; i++) {
        if (!ends_with(l->files[i].path, ".gguf") || !is_mmproj(l->files[i].path))
            continue;
        iw_source s;
        iw_gguf *g = NULL;
        if (iw_hub_open_source(&s, hub, repo, commit, l->files[i].path) < 0)
            break;
        int prc = iw_gguf_parse(&g, &s, NULL);
        count(&s);
        iw_source_close(&s);
        if (prc == 0) {
            const iw_gguf *one[1] = { g };
            iw_arch v;
            iw_arch_init(&v);
            if (iw_gguf_to_arch(one, 1, &v) == 0 && v.has_vision) {
                a->has_vision = true;
                iw_vision keep = a->vision;
                a->vision = v.vision;
                v.vision = keep;
                iw_strlist_pushf(&a->sources, "gguf:%s/%s", repo, l->files[i].path);
            }
            iw_arch_free(&v);
            iw_gguf_free(g);
        } else {
            iw_arch_warn(a, "mmproj %s unreadable: %s", l->files[i].path, iw_error_last());
        }
        break;
    }
    return 0;
}

int inspect_remote(const char *repo, const char *rev, const char *tensors_csv,
                   iw_arch *a, int64_t *transferred)
{
    iw_hub *hub = NULL;
    iw_hub_listing l = { 0 };
    char commit[41];
    iw_buf csv;
    iw_buf_init(&csv, IW_BUF_UNCAPPED);
    g_transferred = 0;
    int rc = iw_hub_check_repo_id(repo);
    if (rc == 0)
        rc = iw_hub_new(&hub, NULL);
    if (rc == 0)
        rc = iw_hub_resolve_revision(hub, repo, rev ? rev : "main", commit);
    if (rc == 0)
        rc = iw_hub_list_files(hub, repo, commit, &l);
    if (rc < 0)
        goto done;

    bool have_config = false;
    rc = apply_text_file(hub, repo, commit, &l, "config.json", a, false);
    if (rc == 0)
        have_config = true;
    else if (rc != IW_ENOTFOUND)
        goto done;
    if (apply_text_file(hub, repo, commit, &l, "quantize_config.json", a, true) == IW_ENOTFOUND)
        (void)apply_text_file(hub, repo, commit, &l, "quant_config.json", a, true);
    if (have_config) {
        iw_arch_set_str(&a->source, "config.json");
        iw_params_formula(a);
    }
    if (tensors_csv)
        iw_buf_puts(&csv, "kind,name,shape,dtype\n");
    rc = read_safetensors(hub, repo, commit, &l, a, tensors_csv ? &csv : NULL);
    if (rc == IW_ENOTFOUND)
        rc = read_gguf(hub, repo, commit, &l, a, tensors_csv ? &csv : NULL);
    if (rc == IW_ENOTFOUND) {
        if (!have_config) {
            rc = iw_error_set(IW_ENOTFOUND, "%s@%s has no config.json, safetensors or GGUF files to inspect",
                              repo, rev ? rev : "main");
            goto done;
        }
        iw_arch_warn(a, "no safetensors or GGUF headers in %s: parameters are from the config formula", repo);
        rc = 0;
    }
    if (rc < 0)
        goto done;
    if (!a->source)
        iw_arch_set_str(&a->source, iw_arch_get_source(a, "num_layers") ? iw_arch_get_source(a, "num_layers") : "gguf");
    iw_kv_per_token(a);
    iw_arch_stamp_now(a);
    if (tensors_csv)
        rc = iw_write_atomic(tensors_csv, csv.data ? csv.data : "", csv.len);
done:
    *transferred = (int64_t)g_transferred;
    iw_buf_free(&csv);
    iw_hub_listing_free(&l);
    iw_hub_free(hub);
    return rc;
}

static int gguf_csv_file(const char *path, FILE *m)
{
    iw_gguf *g = NULL;
    int rc = iw_gguf_parse_file(&g, path, NULL);
    if (rc == 0) {
        rc = iw_gguf_write_tensors_csv(g, m);
        iw_gguf_free(g);
    }
    return rc;
}

int inspect_write_tensors(const char *path, const char *csv_path)
{
    iw_buf csv;
    iw_buf_init(&csv, IW_BUF_UNCAPPED);
    int rc = iw_safetensors_csv(path, true, &csv);
    if (rc == IW_ENOTFOUND) {
        /* No safetensors: GGUF, one file or every *.gguf directly in the folder. */
        iw_buf_clear(&csv);
        char *mem = NULL;
        size_t mlen = 0;
        FILE *m = open_memstream(&mem, &mlen);
        if (!m)
            return iw_error_set(IW_ENOMEM, "out of memory");
        iw_gguf_write_tensors_csv_header(m);
        rc = iw_error_set(IW_ENOTFOUND, "%s: no safetensors or GGUF files to list", path);
        if (iw_path_is_file(path)) {
            rc = gguf_csv_file(path, m);
        } else {
            DIR *d = opendir(path);
            struct dirent *e;
            int found = 0;
            while (d && (e = readdir(d)) && (found == 0 || rc == 0)) {
                if (!ends_with(e->d_name, ".gguf"))
                    continue;
                char *p = NULL;
                if ((rc = iw_path_join(&p, path, e->d_name)) == 0)
                    rc = gguf_csv_file(p, m);
                free(p);
                found++;
                if (rc < 0)
                    break;
            }
            if (d)
                closedir(d);
        }
        fclose(m);
        if (rc == 0)
            rc = iw_buf_append(&csv, mem, mlen);
        free(mem);
    }
    if (rc == 0)
        rc = iw_write_atomic(csv_path, csv.data ? csv.data : "", csv.len);
    iw_buf_free(&csv);
    return rc;
}
