/* support.c - a download's support repo (catalog.h): the config and
 * tokenizer files of another repo, fetched when the user names one or,
 * when the download has no config.json, found from its base model. */
#include "iwdl/catalog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/hub.h"
#include "iwdl/json.h"

/* Config and tokenizer files of a support repo; never weights. */
static const char *const support_include[] = {
    "*.json", "tokenizer*", "*.model", "*.tiktoken", "merges.txt", "vocab.txt",
};
static const char *const support_exclude[] = {
    "*.safetensors", "*.gguf", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.onnx", "*.h5", "*.msgpack",
};

void iw_support_free(iw_support *s)
{
    free(s->id);
    free(s->dir);
    free(s->note);
    memset(s, 0, sizeof *s);
}

static void note(const iw_support_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const iw_support_opts *o, const char *fmt, ...)
{
    if (!o->on_note)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->on_note(msg, o->ud);
}

/* Fetch id's config and tokenizer files into the HF cache (HF_HUB_CACHE,
 * else $HF_HOME/hub): outside the model folder, which the original
 * imageworks walks whole, and where transformers finds them too. */
static int fetch(iw_hub *hub, const char *id, const iw_support_opts *so, iw_support *out)
{
    int rc = iw_hub_check_repo_id(id);
    if (rc < 0)
        return rc;
    iw_dl_options o;
    iw_dl_options_init(&o);
    o.layout = IW_DL_LAYOUT_HF_CACHE;
    o.include = support_include;
    o.n_include = sizeof support_include / sizeof *support_include;
    o.exclude = support_exclude;
    o.n_exclude = sizeof support_exclude / sizeof *support_exclude;
    o.on_event = so->on_event;
    o.ud = so->ud;
    iw_dl_result r;
    rc = iw_download_repo(hub, id, &o, &r);
    if (rc == 0) {
        if (!(out->id = strdup(id)) || !(out->dir = strdup(r.dest)))
            rc = iw_error_set(IW_ENOMEM, "out of memory");
        else if (so->on_fetched)
            so->on_fetched(id, &r, so->ud);
    }
    iw_dl_result_free(&r);
    return rc;
}

static bool has_root_config(const iw_dl_result *r)
{
    for (size_t i = 0; i < r->n_paths; i++)
        if (!strcmp(r->paths[i], "config.json"))
            return true;
    return false;
}

/* Repo ids named by "_name_or_path" / "base_model_name_or_path" in the
 * top-level *config.json files that arrived (adapter_config.json, ...). */
static void config_name_candidates(const iw_dl_result *r, iw_strlist *out)
{
    static const char *const keys[] = { "_name_or_path", "base_model_name_or_path" };
    for (size_t i = 0; i < r->n_paths; i++) {
        const char *p = r->paths[i];
        size_t n = strlen(p);
        if (strchr(p, '/') || n < 11 || strcmp(p + n - 11, "config.json"))
            continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", r->dest, p);
        cJSON *j = NULL;
        if (iw_json_parse_file(full, 1u << 20, &j, NULL) == 0) {
            for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
                const char *v = iw_json_get_str(j, keys[k]);
                if (v && strchr(v, '/') && iw_hub_check_repo_id(v) == 0)
                    iw_strlist_push_unique(out, v);
            }
        }
        cJSON_Delete(j);
        iw_error_clear();
    }
}

/* No config.json and no support repo named: the model card's base_model,
 * then the configs' _name_or_path, the first that can be fetched.  Every
 * outcome is a note. */
static void find_base(iw_hub *hub, const char *repo, const iw_dl_result *r, const iw_support_opts *o, iw_support *out)
{
    if (iw_hub_is_offline(hub)) {
        note(o, "%s has no config.json; HF_HUB_OFFLINE is set, so its base model is not looked up "
                "(the architecture comes from the weight headers only)", repo);
        return;
    }
    iw_strlist cand = { 0 };
    if (iw_hub_card_base_models(hub, repo, r->commit, &cand) < 0) {
        note(o, "%s has no config.json and its model card could not be read: %s", repo, iw_error_last());
        iw_error_clear();
    }
    size_t n_card = cand.n;
    config_name_candidates(r, &cand);
    bool any = false;
    for (size_t i = 0; i < cand.n && !out->id; i++) {
        const char *id = cand.v[i];
        if (!strcmp(id, repo))
            continue;
        any = true;
        const char *why = i < n_card ? "model card base_model" : "config _name_or_path";
        if (fetch(hub, id, o, out) == 0) {
            if (asprintf(&out->note, "%s has no config.json: architecture config taken from its base model %s (%s)",
                         repo, id, why) < 0)
                out->note = NULL;
            if (out->note)
                note(o, "%s", out->note);
            break;
        }
        iw_support_free(out);
        note(o, "%s has no config.json; its base model %s (%s) could not be fetched: %s", repo, id, why,
             iw_error_last());
        iw_error_clear();
    }
    if (!any)
        note(o, "%s has no config.json and names no base model (model card base_model, config _name_or_path): "
                "the architecture comes from the weight headers only; use --support-repo REPO to name one", repo);
    else if (!out->id)
        note(o, "%s: continuing without a support repo; the architecture comes from the weight headers only", repo);
    iw_strlist_free(&cand);
}

int iw_catalog_support(iw_hub *hub, const char *repo, const iw_dl_result *r, const iw_support_opts *o,
                       iw_support *out)
{
    memset(out, 0, sizeof *out);
    iw_support_opts none = IW_SUPPORT_OPTS_INIT;
    if (!o)
        o = &none;
    int rc = iw_opts_version_check(o->version, IW_SUPPORT_OPTS_VERSION, "iw_support_opts");
    if (rc < 0)
        return rc;
    if (o->support_repo) {
        if ((rc = fetch(hub, o->support_repo, o, out)) < 0)
            iw_support_free(out);
        return rc;
    }
    if (!has_root_config(r))
        find_base(hub, repo, r, o, out);
    return 0;
}
