/* profile.c - estimator profiles and the GPU table, as data.
 *
 * src/estimate/estimate_profiles.json is compiled into the library (see
 * CMakeLists.txt: estimate_profiles_data.c) and parsed once; a user file is
 * merged over it.  Parsing is strict (docs/estimate.md, "Profiles"): every
 * key is known, every value typed and range-checked, names unique, counts
 * capped; a bad file is refused with one line naming the file and the item,
 * and the set it was merged into is left as it was.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"

#define MiB 1048576.0
#define GiB 1073741824.0

extern const unsigned char iw_est_profiles_shipped_data[];
extern const size_t iw_est_profiles_shipped_size;

struct iw_est_profiles {
    iw_est_profile  *prof;
    size_t           n_prof;
    iw_est_gpu_spec *gpu;
    size_t           n_gpu;
    char             default_name[IW_EST_NAME_MAX];
    char             origin[512];
};

/* ------------------------------------------------------------ helpers */

static void norm_name(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (; *in && j + 1 < n; in++)
        if (*in != '-' && *in != '_' && *in != ' ')
            out[j++] = (char)tolower((unsigned char)*in);
    out[j] = 0;
}

/* GPU names compare without case, separators, "nvidia" and a "gb" suffix. */
static void norm_gpu(const char *in, char *out, size_t n)
{
    norm_name(in, out, n);
    if (!strncmp(out, "nvidia", 6))
        memmove(out, out + 6, strlen(out + 6) + 1);
    size_t l = strlen(out);
    if (l > 2 && !strcmp(out + l - 2, "gb"))
        out[l - 2] = 0;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= IW_EST_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._+-", *s))
            return false;
    return true;
}

static iw_est_profile *find_prof(iw_est_profile *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return &v[i];
    return NULL;
}

static iw_est_gpu_spec *find_gpu(iw_est_gpu_spec *v, size_t n, const char *name)
{
    char a[64], b[64];
    if (strlen(name) >= sizeof a)
        return NULL;
    norm_gpu(name, a, sizeof a);
    for (size_t i = 0; i < n; i++) {
        norm_gpu(v[i].name, b, sizeof b);
        if (!strcmp(a, b))
            return &v[i];
    }
    return NULL;
}

/* A number in [lo, hi] (hi_open: < hi). */
static int get_num(const cJSON *obj, const char *key, double lo, double hi, bool lo_open,
                   const char *what, const char *item, bool *present, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *present = it != NULL;
    if (!it)
        return 0;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return iw_error_set(IW_EFORMAT, "%s: %s: '%s' must be a number", what, item, key);
    double v = it->valuedouble;
    if (v < lo || v > hi || (lo_open && v == lo))
        return iw_error_set(IW_EFORMAT, "%s: %s: '%s' = %g is outside %c%g, %g]", what, item, key, v,
                            lo_open ? '(' : '[', lo, hi);
    *out = v;
    return 0;
}

static int check_keys(const cJSON *obj, const char *const *allowed, const char *what, const char *item)
{
    for (const cJSON *c = obj->child; c; c = c->next) {
        bool ok = false;
        for (const char *const *k = allowed; *k; k++)
            if (c->string && !strcmp(c->string, *k))
                ok = true;
        if (!ok)
            return iw_error_set(IW_EFORMAT, "%s: %s: unknown key '%s'", what, item, c->string ? c->string : "?");
    }
    return 0;
}

/* ------------------------------------------------------------ vLLM rules */

/* A profile without a base starts from the newest rules (the shipped file
 * spells every one of them out anyway). */
static void rules_default(iw_est_profile *p)
{
    p->vllm_hybrid_kv_groups = true;
    p->vllm_bnb_dq_dequantized = true;
    p->vllm_max_num_seqs[0] = 256;
    p->vllm_max_num_seqs[1] = 1024;
    p->vllm_mbt[0] = 2048;
    p->vllm_mbt[1] = 8192;
    p->vllm_sampler_copies = 4;
}

static int get_bool(const cJSON *obj, const char *key, const char *what, const char *item, bool *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return 0;
    if (!cJSON_IsBool(it))
        return iw_error_set(IW_EFORMAT, "%s: %s: 'vllm.%s' must be true or false", what, item, key);
    *out = cJSON_IsTrue(it);
    return 0;
}

/* [small, large]: two whole numbers in [lo, hi], or the string `word` for 0. */
static int get_pair(const cJSON *obj, const char *key, int64_t lo, int64_t hi, const char *word, const char *what,
                    const char *item, int64_t out[2])
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return 0;
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2)
        goto bad;
    for (int i = 0; i < 2; i++) {
        const cJSON *e = cJSON_GetArrayItem(it, i);
        if (word && cJSON_IsString(e) && !strcmp(e->valuestring, word)) {
            out[i] = 0;
            continue;
        }
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < (double)lo ||
            e->valuedouble > (double)hi)
            goto bad;
        out[i] = (int64_t)e->valuedouble;
    }
    return 0;
bad:
    return iw_error_set(IW_EFORMAT, "%s: %s: 'vllm.%s' must be [GPU under 70 GiB or A100, 70 GiB and more]: "
                        "two whole numbers in %lld..%lld%s%s%s", what, item, key, (long long)lo, (long long)hi,
                        word ? " or \"" : "", word ? word : "", word ? "\"" : "");
}

static int parse_rules(const cJSON *vl, const char *what, const char *item, iw_est_profile *out)
{
    int rc;
    bool pr;
    double v;
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(vl, "versions");
    if (vs) {
        const cJSON *lo = cJSON_IsArray(vs) && cJSON_GetArraySize(vs) == 2 ? cJSON_GetArrayItem(vs, 0) : NULL;
        const cJSON *hi = lo ? cJSON_GetArrayItem(vs, 1) : NULL;
        int32_t a = 0, b = 0;
        if (!lo || !cJSON_IsString(lo) || !(cJSON_IsString(hi) || cJSON_IsNull(hi)) ||
            iw_vllm_version_parse(lo->valuestring, &a) < 0 ||
            (cJSON_IsString(hi) && iw_vllm_version_parse(hi->valuestring, &b) < 0) || (b && b <= a)) {
            iw_error_clear();
            return iw_error_set(IW_EFORMAT, "%s: %s: 'vllm.versions' must be [\"first\", \"next\" or null]: the "
                                "vLLM versions the rules follow, e.g. [\"0.10\", \"0.21\"]", what, item);
        }
        out->vllm_min_version = a;
        out->vllm_max_version = b;
    }
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(vl, "engine");
    if (en) {
        if (!cJSON_IsString(en) || (strcmp(en->valuestring, "v0") && strcmp(en->valuestring, "v1")))
            return iw_error_set(IW_EFORMAT, "%s: %s: 'vllm.engine' must be \"v0\" or \"v1\"", what, item);
        out->vllm_v0 = !strcmp(en->valuestring, "v0");
    }
    const cJSON *kg = cJSON_GetObjectItemCaseSensitive(vl, "kv_groups");
    if (kg) {
        if (!cJSON_IsString(kg) || (strcmp(kg->valuestring, "uniform") && strcmp(kg->valuestring, "hybrid")))
            return iw_error_set(IW_EFORMAT, "%s: %s: 'vllm.kv_groups' must be \"uniform\" or \"hybrid\"", what,
                                item);
        out->vllm_hybrid_kv_groups = !strcmp(kg->valuestring, "hybrid");
    }
    if ((rc = get_bool(vl, "cuda_graphs_in_budget", what, item, &out->vllm_cuda_graphs_in_budget)) ||
        (rc = get_bool(vl, "bnb_double_quant_dequantized", what, item, &out->vllm_bnb_dq_dequantized)))
        return rc;
    if ((rc = get_num(vl, "mla_align_bytes", 0, 4096, false, what, item, &pr, &v)))
        return rc;
    if (pr)
        out->vllm_mla_align_bytes = (int64_t)v;
    if ((rc = get_num(vl, "sampler_copies", 0, 64, false, what, item, &pr, &v)))
        return rc;
    if (pr)
        out->vllm_sampler_copies = v;
    if ((rc = get_pair(vl, "max_num_seqs", 1, 1 << 20, NULL, what, item, out->vllm_max_num_seqs)) ||
        (rc = get_pair(vl, "max_num_batched_tokens", 1, (int64_t)1 << 31, "max_model_len", what, item,
                       out->vllm_mbt)))
        return rc;
    return 0;
}

/* ------------------------------------------------------------ one profile */

enum {
    F_UTIL = 1 << 0, F_FRAG = 1 << 1, F_BASE = 1 << 2, F_BASEFRAC = 1 << 3, F_COMM = 1 << 4,
    F_NT = 1 << 5, F_NCCL = 1 << 6, F_GB = 1 << 7, F_GL = 1 << 8, F_LLO = 1 << 9, F_DESC = 1 << 10,
    F_ALL = (1 << 11) - 1
};

static int parse_profile(const cJSON *o, const char *what, size_t idx, iw_est_profile *prof_set, size_t n_set,
                         iw_est_profile *out)
{
    static const char *const keys[] = {"name", "base", "description", "gpu_memory_utilization", "fragmentation",
                                       "base_overhead_gib", "base_overhead_vram_fraction", "comm_gib_per_extra_gpu",
                                       "vllm", "llama_cpp", NULL};
    static const char *const frag_keys[] = {"factor", "applies_to", NULL};
    static const char *const vllm_keys[] = {"non_torch_mib", "nccl_mib", "cuda_graphs_base_mib",
                                            "cuda_graphs_per_layer_mib", "versions", "engine", "kv_groups",
                                            "cuda_graphs_in_budget", "mla_align_bytes",
                                            "bnb_double_quant_dequantized", "max_num_seqs",
                                            "max_num_batched_tokens", "sampler_copies", NULL};
    static const char *const llama_keys[] = {"overhead_mib", NULL};
    char item[96];
    int rc;
    bool pr;
    double v;
    snprintf(item, sizeof item, "profiles[%zu]", idx);
    if (!cJSON_IsObject(o))
        return iw_error_set(IW_EFORMAT, "%s: %s is not an object", what, item);
    const char *name = iw_json_get_str(o, "name");
    if (!name || !valid_name(name))
        return iw_error_set(IW_EFORMAT, "%s: %s: 'name' must be 1-%d characters of A-Z a-z 0-9 . _ + -",
                            what, item, IW_EST_NAME_MAX - 1);
    snprintf(item, sizeof item, "profile '%s'", name);
    if ((rc = check_keys(o, keys, what, item)))
        return rc;

    /* what the fields it omits inherit from */
    const cJSON *bj = cJSON_GetObjectItemCaseSensitive(o, "base");
    const iw_est_profile *base = NULL;
    unsigned have = 0;
    if (bj) {
        if (!cJSON_IsString(bj))
            return iw_error_set(IW_EFORMAT, "%s: %s: 'base' must be a profile name", what, item);
        if (!(base = find_prof(prof_set, n_set, bj->valuestring)))
            return iw_error_set(IW_EFORMAT, "%s: %s: base profile '%s' is not defined before it", what, item,
                                bj->valuestring);
    } else if (!(base = find_prof(prof_set, n_set, name))) {
        base = find_prof(prof_set, n_set, "default");
    }
    if (base) {
        *out = *base;
        have = F_ALL;
        /* the vLLM versions a profile follows are its own, never inherited
         * from another profile (refining a profile in place keeps them) */
        if (strcmp(base->name, name) != 0)
            out->vllm_min_version = out->vllm_max_version = 0;
    } else {
        memset(out, 0, sizeof *out);
        rules_default(out);
    }
    snprintf(out->name, sizeof out->name, "%s", name);

    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "description");
    if (d) {
        if (!cJSON_IsString(d) || strlen(d->valuestring) >= IW_EST_DESC_MAX)
            return iw_error_set(IW_EFORMAT, "%s: %s: 'description' must be a string under %d characters",
                                what, item, IW_EST_DESC_MAX);
        snprintf(out->description, sizeof out->description, "%s", d->valuestring);
        have |= F_DESC;
    } else if (base && base != find_prof(prof_set, n_set, name)) {
        snprintf(out->description, sizeof out->description, "based on '%s'", base->name);
    }
    if ((rc = get_num(o, "gpu_memory_utilization", 0, 1, true, what, item, &pr, &v)))
        return rc;
    if (pr) { out->gpu_util = v; have |= F_UTIL; }

    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "fragmentation");
    if (f) {
        if (!cJSON_IsObject(f))
            return iw_error_set(IW_EFORMAT, "%s: %s: 'fragmentation' must be {factor, applies_to}", what, item);
        if ((rc = check_keys(f, frag_keys, what, item)))
            return rc;
        if ((rc = get_num(f, "factor", 1, 4, false, what, item, &pr, &v)))
            return rc;
        if (!pr)
            return iw_error_set(IW_EFORMAT, "%s: %s: 'fragmentation' needs 'factor'", what, item);
        out->fragmentation = v;
        const char *sc = iw_json_get_str(f, "applies_to");
        if (cJSON_GetObjectItemCaseSensitive(f, "applies_to") && !sc)
            return iw_error_set(IW_EFORMAT, "%s: %s: 'applies_to' must be \"kv_cache\" or \"total\"", what, item);
        if (!sc || !strcmp(sc, "kv_cache"))
            out->frag_scope = IW_FRAG_KV_CACHE;
        else if (!strcmp(sc, "total"))
            out->frag_scope = IW_FRAG_TOTAL;
        else
            return iw_error_set(IW_EFORMAT, "%s: %s: 'applies_to' is '%s'; expected \"kv_cache\" or \"total\"",
                                what, item, sc);
        have |= F_FRAG;
    }
    if ((rc = get_num(o, "base_overhead_gib", 0, 1024, false, what, item, &pr, &v)))
        return rc;
    if (pr) { out->base_overhead = (int64_t)llround(v * GiB); have |= F_BASE; }
    if ((rc = get_num(o, "base_overhead_vram_fraction", 0, 0.5, false, what, item, &pr, &v)))
        return rc;
    if (pr) { out->base_overhead_vram_frac = v; have |= F_BASEFRAC; }
    if ((rc = get_num(o, "comm_gib_per_extra_gpu", 0, 64, false, what, item, &pr, &v)))
        return rc;
    if (pr) { out->comm_per_extra_gpu = (int64_t)llround(v * GiB); have |= F_COMM; }

    const cJSON *vl = cJSON_GetObjectItemCaseSensitive(o, "vllm");
    if (vl) {
        if (!cJSON_IsObject(vl))
            return iw_error_set(IW_EFORMAT, "%s: %s: 'vllm' must be an object", what, item);
        if ((rc = check_keys(vl, vllm_keys, what, item)))
            return rc;
        struct { const char *k; int64_t *slot; unsigned bit; } m[] = {
            {"non_torch_mib", &out->vllm_non_torch, F_NT}, {"nccl_mib", &out->vllm_nccl, F_NCCL},
            {"cuda_graphs_base_mib", &out->vllm_graphs_base, F_GB},
            {"cuda_graphs_per_layer_mib", &out->vllm_graphs_per_layer, F_GL},
        };
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
            if ((rc = get_num(vl, m[i].k, 0, 65536, false, what, item, &pr, &v)))
                return rc;
            if (pr) { *m[i].slot = (int64_t)llround(v * MiB); have |= m[i].bit; }
        }
        if ((rc = parse_rules(vl, what, item, out)))
            return rc;
    }
    const cJSON *ll = cJSON_GetObjectItemCaseSensitive(o, "llama_cpp");
    if (ll) {
        if (!cJSON_IsObject(ll))
            return iw_error_set(IW_EFORMAT, "%s: %s: 'llama_cpp' must be an object", what, item);
        if ((rc = check_keys(ll, llama_keys, what, item)))
            return rc;
        if ((rc = get_num(ll, "overhead_mib", 0, 65536, false, what, item, &pr, &v)))
            return rc;
        if (pr) { out->llama_overhead = (int64_t)llround(v * MiB); have |= F_LLO; }
    }
    if ((have | F_DESC) != F_ALL)
        return iw_error_set(IW_EFORMAT, "%s: %s: no 'default' profile to inherit from, so every field must be "
                            "given (gpu_memory_utilization, fragmentation, base_overhead_gib, "
                            "base_overhead_vram_fraction, comm_gib_per_extra_gpu, vllm.*, llama_cpp.*)", what, item);
    return 0;
}

/* ------------------------------------------------------------ merge */

int iw_est_profiles_merge(iw_est_profiles *p, const char *text, size_t len, const char *what)
{
    static const char *const top_keys[] = {"format_version", "default_profile", "profiles", "gpus", NULL};
    static const char *const gpu_keys[] = {"name", "memory_gib", "profile", NULL};
    cJSON *j = NULL;
    char *dup = NULL;
    iw_est_profile *np = NULL;
    iw_est_gpu_spec *ng = NULL;
    int rc;
    if (len > IW_EST_PROFILES_MAX_FILE)
        return iw_error_set(IW_ELIMIT, "%s: %zu bytes; profiles files are capped at %u", what, len,
                            IW_EST_PROFILES_MAX_FILE);
    if ((rc = iw_json_parse(text, len, what, &j, &dup)) < 0)
        return rc;
    if (dup) {
        rc = iw_error_set(IW_EFORMAT, "%s: duplicate key '%s'", what, dup);
        goto out;
    }
    if (!cJSON_IsObject(j)) {
        rc = iw_error_set(IW_EFORMAT, "%s: expected a JSON object {format_version, profiles, gpus}", what);
        goto out;
    }
    if ((rc = check_keys(j, top_keys, what, "top level")))
        goto out;
    int64_t fv;
    if (!iw_json_get_i64(j, "format_version", &fv) || fv != 1) {
        rc = iw_error_set(IW_EFORMAT, "%s: 'format_version' must be 1", what);
        goto out;
    }
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(j, "profiles");
    const cJSON *ga = cJSON_GetObjectItemCaseSensitive(j, "gpus");
    if ((pa && !cJSON_IsArray(pa)) || (ga && !cJSON_IsArray(ga))) {
        rc = iw_error_set(IW_EFORMAT, "%s: 'profiles' and 'gpus' must be arrays", what);
        goto out;
    }
    size_t add_p = pa ? (size_t)cJSON_GetArraySize(pa) : 0, add_g = ga ? (size_t)cJSON_GetArraySize(ga) : 0;
    if (p->n_prof + add_p > IW_EST_PROFILES_MAX || p->n_gpu + add_g > IW_EST_GPUS_MAX) {
        rc = iw_error_set(IW_ELIMIT, "%s: more than %d profiles or %d GPUs", what, IW_EST_PROFILES_MAX,
                          IW_EST_GPUS_MAX);
        goto out;
    }
    /* work on copies so a failure leaves p unchanged */
    np = calloc(p->n_prof + add_p + 1, sizeof *np);
    ng = calloc(p->n_gpu + add_g + 1, sizeof *ng);
    if (!np || !ng) {
        rc = iw_error_set(IW_ENOMEM, "%s: out of memory", what);
        goto out;
    }
    if (p->n_prof)
        memcpy(np, p->prof, p->n_prof * sizeof *np);
    if (p->n_gpu)
        memcpy(ng, p->gpu, p->n_gpu * sizeof *ng);
    size_t nnp = p->n_prof, nng = p->n_gpu;
    size_t first_new = nnp;
    size_t idx = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, pa) {
        iw_est_profile pf;
        if ((rc = parse_profile(it, what, idx, np, nnp, &pf)))
            goto out;
        /* a name twice in the same document is a mistake, not a refinement */
        for (size_t k = first_new; k < nnp; k++)
            if (!strcmp(np[k].name, pf.name)) {
                rc = iw_error_set(IW_EFORMAT, "%s: profile '%s' is defined twice", what, pf.name);
                goto out;
            }
        iw_est_profile *old = find_prof(np, first_new, pf.name);
        if (old) {
            *old = pf;   /* replace the earlier layer's profile in place */
        } else {
            np[nnp++] = pf;
        }
        idx++;
    }
    if (!find_prof(np, nnp, "default")) {
        rc = iw_error_set(IW_EFORMAT, "%s: no profile named 'default'", what);
        goto out;
    }
    size_t first_gpu = nng;
    idx = 0;
    cJSON_ArrayForEach(it, ga) {
        char item[64];
        snprintf(item, sizeof item, "gpus[%zu]", idx++);
        if (!cJSON_IsObject(it)) {
            rc = iw_error_set(IW_EFORMAT, "%s: %s is not an object", what, item);
            goto out;
        }
        if ((rc = check_keys(it, gpu_keys, what, item)))
            goto out;
        const char *name = iw_json_get_str(it, "name");
        if (!name || !valid_name(name)) {
            rc = iw_error_set(IW_EFORMAT, "%s: %s: 'name' must be 1-%d characters of A-Z a-z 0-9 . _ + -", what,
                              item, IW_EST_NAME_MAX - 1);
            goto out;
        }
        bool pr;
        double gib;
        if ((rc = get_num(it, "memory_gib", 0, 65536, true, what, item, &pr, &gib)))
            goto out;
        if (!pr) {
            rc = iw_error_set(IW_EFORMAT, "%s: GPU '%s' needs 'memory_gib'", what, name);
            goto out;
        }
        iw_est_gpu_spec g;
        memset(&g, 0, sizeof g);
        snprintf(g.name, sizeof g.name, "%s", name);
        g.bytes = (int64_t)llround(gib * GiB);
        const cJSON *pj = cJSON_GetObjectItemCaseSensitive(it, "profile");
        if (pj) {
            if (!cJSON_IsString(pj) || !find_prof(np, nnp, pj->valuestring)) {
                rc = iw_error_set(IW_EFORMAT, "%s: GPU '%s': 'profile' must name a defined profile", what, name);
                goto out;
            }
            snprintf(g.profile, sizeof g.profile, "%s", pj->valuestring);
        }
        if (find_gpu(ng + first_gpu, nng - first_gpu, name)) {
            rc = iw_error_set(IW_EFORMAT, "%s: GPU '%s' is listed twice", what, name);
            goto out;
        }
        iw_est_gpu_spec *old = find_gpu(ng, first_gpu, name);
        if (old)
            *old = g;
        else
            ng[nng++] = g;
    }
    const char *dp = iw_json_get_str(j, "default_profile");
    if (cJSON_GetObjectItemCaseSensitive(j, "default_profile") && (!dp || !find_prof(np, nnp, dp))) {
        rc = iw_error_set(IW_EFORMAT, "%s: 'default_profile' must name a defined profile", what);
        goto out;
    }
    /* commit */
    free(p->prof);
    free(p->gpu);
    p->prof = np;
    p->n_prof = nnp;
    p->gpu = ng;
    p->n_gpu = nng;
    np = NULL;
    ng = NULL;
    if (dp)
        snprintf(p->default_name, sizeof p->default_name, "%s", dp);
    else if (!p->default_name[0])
        snprintf(p->default_name, sizeof p->default_name, "default");
    rc = 0;
out:
    free(np);
    free(ng);
    free(dup);
    cJSON_Delete(j);
    return rc;
}

int iw_est_profiles_merge_file(iw_est_profiles *p, const char *path)
{
    iw_buf b;
    iw_buf_init(&b, IW_EST_PROFILES_MAX_FILE + 1);
    int rc = iw_read_file(path, IW_EST_PROFILES_MAX_FILE, &b);
    if (rc == 0)
        rc = iw_est_profiles_merge(p, b.data ? b.data : "", b.len, path);
    if (rc == 0) {
        size_t o = strlen(p->origin);
        snprintf(p->origin + o, sizeof p->origin - o, " + %s", path);
    }
    iw_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------ shipped set */

const char *iw_est_profiles_shipped_json(size_t *len)
{
    if (len)
        *len = iw_est_profiles_shipped_size;
    return (const char *)iw_est_profiles_shipped_data;
}

int iw_est_profiles_new(iw_est_profiles **out)
{
    *out = NULL;
    iw_est_profiles *p = calloc(1, sizeof *p);
    if (!p)
        return iw_error_set(IW_ENOMEM, "profiles: out of memory");
    int rc = iw_est_profiles_merge(p, (const char *)iw_est_profiles_shipped_data, iw_est_profiles_shipped_size,
                                   "shipped estimate_profiles.json");
    if (rc < 0) {
        iw_est_profiles_free(p);
        return rc;
    }
    snprintf(p->origin, sizeof p->origin, "shipped");
    *out = p;
    return 0;
}

int iw_est_profiles_load(iw_est_profiles **out, const char *user_path)
{
    iw_est_profiles *p;
    int rc = iw_est_profiles_new(&p);
    if (rc < 0)
        return rc;
    char *xdg_path = NULL;
    const char *path = user_path;
    bool must_exist = path != NULL;
    if (!path) {
        const char *env = getenv("IMAGEWORKS_ESTIMATE_PROFILES");
        if (env && *env) {
            path = env;
            must_exist = true;
        }
    }
    if (!path) {
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        int n = -1;
        if (xdg && *xdg)
            n = asprintf(&xdg_path, "%s/imageworks/estimate_profiles.json", xdg);
        else if (home && *home)
            n = asprintf(&xdg_path, "%s/.config/imageworks/estimate_profiles.json", home);
        if (n < 0)
            xdg_path = NULL;
        path = xdg_path;
    }
    if (path && (must_exist || iw_path_exists(path))) {
        if (must_exist && !iw_path_is_file(path))
            rc = iw_error_set(IW_ENOTFOUND, "profiles file '%s' does not exist", path);
        else
            rc = iw_est_profiles_merge_file(p, path);
    }
    free(xdg_path);
    if (rc < 0) {
        iw_est_profiles_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void iw_est_profiles_free(iw_est_profiles *p)
{
    if (!p)
        return;
    free(p->prof);
    free(p->gpu);
    free(p);
}

const char *iw_est_profiles_origin(const iw_est_profiles *p) { return p->origin; }

const iw_est_profile *iw_est_profiles_get(const iw_est_profiles *p, const char *name)
{
    return find_prof(p->prof, p->n_prof, name ? name : p->default_name);
}

const iw_est_profile *iw_est_profiles_for_vllm(const iw_est_profiles *p, int32_t version)
{
    const iw_est_profile *hit = NULL;
    for (size_t i = 0; i < p->n_prof; i++) {
        const iw_est_profile *x = &p->prof[i];
        if (!x->vllm_min_version && !x->vllm_max_version)
            continue;       /* a profile that names no versions (margins only) */
        if (version >= x->vllm_min_version && (!x->vllm_max_version || version < x->vllm_max_version))
            hit = x;
    }
    return hit;
}

const iw_est_gpu_spec *iw_est_profiles_gpu(const iw_est_profiles *p, const char *name)
{
    return name ? find_gpu(p->gpu, p->n_gpu, name) : NULL;
}

size_t iw_est_profiles_count(const iw_est_profiles *p) { return p->n_prof; }
const iw_est_profile *iw_est_profiles_at(const iw_est_profiles *p, size_t i) { return i < p->n_prof ? &p->prof[i] : NULL; }
size_t iw_est_profiles_gpu_count(const iw_est_profiles *p) { return p->n_gpu; }
const iw_est_gpu_spec *iw_est_profiles_gpu_at(const iw_est_profiles *p, size_t i) { return i < p->n_gpu ? &p->gpu[i] : NULL; }

/* ------------------------------------------------------------ process-wide shipped copy */

static pthread_once_t shipped_once = PTHREAD_ONCE_INIT;
static iw_est_profiles *shipped;
static iw_gpu *shipped_table;

/* The shipped data is compiled in and covered by tests (estimate
 * profiles::shipped_*), so it parses; if it ever did not, the default
 * profile falls back to zero margins and the GPU table is empty. */
static void load_shipped(void)
{
    if (iw_est_profiles_new(&shipped) < 0) {
        shipped = NULL;
        return;
    }
    shipped_table = calloc(shipped->n_gpu + 1, sizeof *shipped_table);
    if (!shipped_table)
        return;
    for (size_t i = 0; i < shipped->n_gpu; i++)
        shipped_table[i] = (iw_gpu){ shipped->gpu[i].name, shipped->gpu[i].bytes };
}

const iw_est_profile *iw_est_profile_default(void)
{
    static const iw_est_profile zero = { .name = "default", .gpu_util = 0.9, .fragmentation = 1.0 };
    pthread_once(&shipped_once, load_shipped);
    const iw_est_profile *d = shipped ? iw_est_profiles_get(shipped, "default") : NULL;
    return d ? d : &zero;
}

const iw_gpu *iw_gpu_table(void)
{
    static const iw_gpu empty[1] = { { NULL, 0 } };
    pthread_once(&shipped_once, load_shipped);
    return shipped_table ? shipped_table : empty;
}

bool iw_gpu_lookup(const char *name, int64_t *bytes)
{
    pthread_once(&shipped_once, load_shipped);
    const iw_est_gpu_spec *g = shipped && name ? iw_est_profiles_gpu(shipped, name) : NULL;
    if (!g)
        return false;
    *bytes = g->bytes;
    return true;
}
