/* test_profiles.c - estimator profiles as data: the shipped file, user files
 * merged over it (inheritance, refusals that leave the set unchanged), file
 * selection (argument, IMAGEWORKS_ESTIMATE_PROFILES, XDG), and the margin
 * terms a profile adds, hand-computed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iwtest.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "estfixture.h"

#define MIB ((int64_t)1 << 20)
#define GIB ((int64_t)1 << 30)

static int64_t term_bytes(const iw_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_terms; i++)
        if (!strcmp(e->terms[i].name, name))
            return e->terms[i].bytes;
    return -1;
}


Test(profiles, shipped_parses_and_default_is_todays_constants)
{
    iw_est_profiles *p = NULL;
    cr_assert_eq(iw_est_profiles_new(&p), 0, "%s", iw_error_last());
    cr_assert_str_eq(iw_est_profiles_origin(p), "shipped");
    const iw_est_profile *d = iw_est_profiles_get(p, NULL);
    cr_assert_not_null(d);
    cr_assert_str_eq(d->name, "default");
    cr_assert_float_eq(d->gpu_util, 0.90, 1e-12);
    cr_assert_float_eq(d->fragmentation, 1.0, 1e-12);
    cr_assert_eq(d->base_overhead, 0);
    cr_assert_eq(d->comm_per_extra_gpu, 0);
    cr_assert_eq(d->vllm_non_torch, 256 * MIB);
    cr_assert_eq(d->vllm_nccl, 2048 * MIB);
    cr_assert_eq(d->vllm_graphs_base, 192 * MIB);
    cr_assert_eq(d->vllm_graphs_per_layer, 8 * MIB);
    cr_assert_eq(d->llama_overhead, 250 * MIB);
    /* the process-wide default is the same record */
    const iw_est_profile *g = iw_est_profile_default();
    cr_assert_eq(memcmp(g, d, sizeof *g), 0);
    /* seeds' profiles, inherited from default */
    const iw_est_profile *w = iw_est_profiles_get(p, "vllm-wizard");
    cr_assert_not_null(w);
    cr_assert_float_eq(w->fragmentation, 1.15, 1e-12);
    cr_assert_eq(w->frag_scope, IW_FRAG_KV_CACHE);
    cr_assert_eq(w->base_overhead, GIB);
    cr_assert_float_eq(w->base_overhead_vram_frac, 0.02, 1e-12);
    cr_assert_eq(w->comm_per_extra_gpu, GIB / 4);
    cr_assert_eq(w->vllm_non_torch, 256 * MIB, "inherited");
    const iw_est_profile *ada = iw_est_profiles_get(p, "imageworks-ada_16gb");
    cr_assert_not_null(ada);
    cr_assert_eq(ada->frag_scope, IW_FRAG_TOTAL);
    cr_assert_eq(ada->base_overhead, (int64_t)llround(1.6 * (double)GIB));
    /* GPU table: the legacy API reads the same data */
    const iw_est_gpu_spec *r = iw_est_profiles_gpu(p, "NVIDIA RTX-4090");
    cr_assert_not_null(r);
    cr_assert_eq(r->bytes, 24 * GIB);
    int64_t b = 0;
    cr_assert(iw_gpu_lookup("rtx4090", &b));
    cr_assert_eq(b, 24 * GIB);
    size_t n = 0;
    for (const iw_gpu *t = iw_gpu_table(); t->name; t++)
        n++;
    cr_assert_eq(n, iw_est_profiles_gpu_count(p));
    cr_assert_geq(n, 20);
    size_t len = 0;
    const char *txt = iw_est_profiles_shipped_json(&len);
    cr_assert(len > 100 && txt[0] == '{');
    iw_est_profiles_free(p);
}

Test(profiles, user_file_adds_refines_and_inherits)
{
    iw_est_profiles *p = NULL;
    cr_assert_eq(iw_est_profiles_new(&p), 0);
    const char *doc =
        "{\"format_version\": 1, \"default_profile\": \"desk\",\n"
        " \"profiles\": [\n"
        "  {\"name\": \"desk\", \"description\": \"my desktop\", \"base_overhead_gib\": 0.75},\n"
        "  {\"name\": \"desk-safe\", \"base\": \"desk\", \"fragmentation\": {\"factor\": 1.2}},\n"
        "  {\"name\": \"default\", \"llama_cpp\": {\"overhead_mib\": 300}}\n"
        " ],\n"
        " \"gpus\": [{\"name\": \"rtx4090\", \"memory_gib\": 23.5, \"profile\": \"desk\"},\n"
        "          {\"name\": \"my-card\", \"memory_gib\": 20}]}";
    cr_assert_eq(iw_est_profiles_merge(p, doc, strlen(doc), "user.json"), 0, "%s", iw_error_last());
    const iw_est_profile *d = iw_est_profiles_get(p, NULL);
    cr_assert_str_eq(d->name, "desk", "default_profile switched");
    cr_assert_eq(d->base_overhead, 3 * GIB / 4);
    cr_assert_eq(d->vllm_nccl, 2048 * MIB, "inherited from default");
    const iw_est_profile *s = iw_est_profiles_get(p, "desk-safe");
    cr_assert_float_eq(s->fragmentation, 1.2, 1e-12);
    cr_assert_eq(s->frag_scope, IW_FRAG_KV_CACHE, "applies_to defaults to kv_cache");
    cr_assert_eq(s->base_overhead, 3 * GIB / 4, "inherited from its base");
    const iw_est_profile *df = iw_est_profiles_get(p, "default");
    cr_assert_eq(df->llama_overhead, 300 * MIB, "refined in place");
    cr_assert_eq(df->vllm_non_torch, 256 * MIB, "other fields of the refined profile kept");
    cr_assert_eq(df->vllm_min_version, IW_VLLM_VERSION(0, 21, 0), "refining in place keeps the versions");
    cr_assert_eq(iw_est_profiles_for_vllm(p, IW_VLLM_VERSION(0, 22, 0)), df);
    cr_assert_eq(s->vllm_min_version, 0, "a profile based on another does not follow its versions");
    const iw_est_gpu_spec *g = iw_est_profiles_gpu(p, "RTX 4090");
    cr_assert_eq(g->bytes, (int64_t)(23.5 * (double)GIB));
    cr_assert_str_eq(g->profile, "desk");
    cr_assert_not_null(iw_est_profiles_gpu(p, "my_card"));
    iw_est_profiles_free(p);
}

static void refused(const char *doc, const char *needle)
{
    iw_est_profiles *p = NULL;
    cr_assert_eq(iw_est_profiles_new(&p), 0);
    size_t np = iw_est_profiles_count(p), ng = iw_est_profiles_gpu_count(p);
    int64_t before = iw_est_profiles_get(p, "default")->llama_overhead;
    cr_assert_lt(iw_est_profiles_merge(p, doc, strlen(doc), "user.json"), 0, "accepted: %s", doc);
    const char *msg = iw_error_last();
    cr_expect(strstr(msg, "user.json") != NULL, "error does not name the file: %s", msg);
    cr_expect(strstr(msg, needle) != NULL, "error '%s' lacks '%s'", msg, needle);
    cr_expect(!strchr(msg, '\n'), "multi-line error: %s", msg);
    cr_assert_eq(iw_est_profiles_count(p), np, "set changed on a refused file");
    cr_assert_eq(iw_est_profiles_gpu_count(p), ng);
    cr_assert_eq(iw_est_profiles_get(p, "default")->llama_overhead, before);
    iw_est_profiles_free(p);
}

Test(profiles, bad_files_refused_set_unchanged)
{
    /* the good first profile must not survive the bad second one */
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"default\",\"llama_cpp\":{\"overhead_mib\":1}},"
            "{\"name\":\"x\",\"fragmentaton\":{\"factor\":1.1}}]}", "unknown key 'fragmentaton'");
    refused("{\"format_version\":2}", "format_version");
    refused("{\"format_version\":1,\"colour\":1}", "unknown key 'colour'");
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"x\",\"gpu_memory_utilization\":1.5}]}", "outside");
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"x\",\"gpu_memory_utilization\":0}]}", "outside");
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"x\",\"fragmentation\":{\"factor\":0.9}}]}", "outside");
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"x\",\"fragmentation\":{\"factor\":1.1,\"applies_to\":\"weights\"}}]}",
            "applies_to");
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"x\",\"base_overhead_gib\":\"1\"}]}", "must be a number");
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"x\",\"vllm\":{\"nccl_mib\":-1}}]}", "outside");
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"x\"},{\"name\":\"x\"}]}", "defined twice");
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"x\",\"base\":\"nope\"}]}", "not defined");
    refused("{\"format_version\":1,\"profiles\":[{\"name\":\"../etc\"}]}", "'name'");
    refused("{\"format_version\":1,\"profiles\":[{}]}", "profiles[0]");
    refused("{\"format_version\":1,\"profiles\":{}}", "must be arrays");
    refused("{\"format_version\":1,\"gpus\":[{\"name\":\"g\"}]}", "memory_gib");
    refused("{\"format_version\":1,\"gpus\":[{\"name\":\"g\",\"memory_gib\":0}]}", "outside");
    refused("{\"format_version\":1,\"gpus\":[{\"name\":\"g\",\"memory_gib\":8,\"profile\":\"nope\"}]}", "profile");
    refused("{\"format_version\":1,\"gpus\":[{\"name\":\"g-1\",\"memory_gib\":8},{\"name\":\"G_1\",\"memory_gib\":9}]}",
            "listed twice");
    refused("{\"format_version\":1,\"default_profile\":\"nope\"}", "default_profile");
    refused("{\"format_version\":1,\"format_version\":1}", "duplicate key");
    refused("{\"format_version\":1,\"profiles\":[", "user.json:");
    refused("[1,2]", "expected a JSON object");
}

Test(profiles, caps)
{
    /* a file over 1 MiB is refused before parsing */
    size_t n = IW_EST_PROFILES_MAX_FILE + 10;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, ' ', n);
    big[n] = 0;
    memcpy(big, "{\"format_version\":1}", 20);
    iw_est_profiles *p = NULL;
    cr_assert_eq(iw_est_profiles_new(&p), 0);
    cr_assert_eq(iw_est_profiles_merge(p, big, n, "big.json"), IW_ELIMIT);
    free(big);
    /* more profiles than the cap */
    {
        size_t cap = 64 * (IW_EST_PROFILES_MAX + 2);
        char *doc = malloc(cap);
        cr_assert_not_null(doc);
        size_t o = (size_t)snprintf(doc, cap, "{\"format_version\":1,\"profiles\":[");
        for (int i = 0; i < IW_EST_PROFILES_MAX + 1; i++)
            o += (size_t)snprintf(doc + o, cap - o, "%s{\"name\":\"p%d\"}", i ? "," : "", i);
        snprintf(doc + o, cap - o, "]}");
        cr_assert_eq(iw_est_profiles_merge(p, doc, strlen(doc), "many.json"), IW_ELIMIT, "%s", iw_error_last());
        free(doc);
    }
    iw_est_profiles_free(p);
}

Test(profiles, file_selection)
{
    char *dir = iwt_tmpdir("prof");
    char path[4096], xdg[4096];
    snprintf(path, sizeof path, "%s/mine.json", dir);
    const char *doc = "{\"format_version\":1,\"profiles\":[{\"name\":\"mine\",\"base_overhead_gib\":2}]}";
    cr_assert_eq(iwt_write(path, doc, strlen(doc)), 0);
    iw_est_profiles *p = NULL;

    /* explicit path */
    unsetenv("IMAGEWORKS_ESTIMATE_PROFILES");
    setenv("XDG_CONFIG_HOME", dir, 1);
    cr_assert_eq(iw_est_profiles_load(&p, path), 0, "%s", iw_error_last());
    cr_assert_not_null(iw_est_profiles_get(p, "mine"));
    cr_assert(strstr(iw_est_profiles_origin(p), "mine.json"));
    iw_est_profiles_free(p);

    /* nothing named, no XDG file: shipped only */
    cr_assert_eq(iw_est_profiles_load(&p, NULL), 0);
    cr_assert_null(iw_est_profiles_get(p, "mine"));
    cr_assert_str_eq(iw_est_profiles_origin(p), "shipped");
    iw_est_profiles_free(p);

    /* the XDG file when it exists */
    snprintf(xdg, sizeof xdg, "%s/imageworks", dir);
    cr_assert_eq(mkdir(xdg, 0755), 0);
    snprintf(xdg, sizeof xdg, "%s/imageworks/estimate_profiles.json", dir);
    cr_assert_eq(iwt_write(xdg, doc, strlen(doc)), 0);
    cr_assert_eq(iw_est_profiles_load(&p, NULL), 0, "%s", iw_error_last());
    cr_assert_not_null(iw_est_profiles_get(p, "mine"));
    iw_est_profiles_free(p);

    /* the environment variable wins, and a missing named file is an error */
    setenv("IMAGEWORKS_ESTIMATE_PROFILES", "/nonexistent/profiles.json", 1);
    cr_assert_lt(iw_est_profiles_load(&p, NULL), 0);
    cr_assert(strstr(iw_error_last(), "/nonexistent/profiles.json"), "%s", iw_error_last());
    unsetenv("IMAGEWORKS_ESTIMATE_PROFILES");

    /* a broken XDG file is an error, not silently skipped */
    cr_assert_eq(iwt_write(xdg, "{", 1), 0);
    cr_assert_lt(iw_est_profiles_load(&p, NULL), 0);
    cr_assert(strstr(iw_error_last(), "estimate_profiles.json"), "%s", iw_error_last());
    unsetenv("XDG_CONFIG_HOME");
    iwt_rm_rf(dir);
    free(dir);
}

/* The margin terms, by hand, on Llama-3-8B at 8192 tokens, vLLM, 24 GiB. */
Test(profiles, margins_hand_computed)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_est_profiles *p = NULL;
    cr_assert_eq(iw_est_profiles_new(&p), 0);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    o.vram_bytes = 24 * GIB;
    iw_estimate base, w;
    iw_estimate_init(&base);
    iw_estimate_init(&w);
    cr_assert_eq(iw_estimate_compute(&a, &o, &base), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&base, "fragmentation"), -1, "the default profile adds no margin term");
    cr_assert_eq(term_bytes(&base, "base_overhead"), -1);
    int64_t kv = term_bytes(&base, "kv_cache");
    cr_assert_eq(kv, (int64_t)131072 * 8192);

    /* vllm-wizard: KV x 1.15, max(1 GiB, 2% x 24 GiB = 0.48 GiB) = 1 GiB */
    o.profile = iw_est_profiles_get(p, "vllm-wizard");
    cr_assert_eq(iw_estimate_compute(&a, &o, &w), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&w, "fragmentation"), (int64_t)ceil(0.15 * (double)kv));   /* terms round up */
    cr_assert_eq(term_bytes(&w, "base_overhead"), GIB);
    cr_assert_eq(term_bytes(&w, "comm_buffers"), -1, "tp 1: no communication buffers");
    cr_assert_eq(w.total, base.total + GIB + (int64_t)ceil(0.15 * (double)kv));
    /* pool: (budget - non_kv) / (1.15 x 131072), in 16-token blocks */
    double non_kv = (double)(w.total - kv - term_bytes(&w, "fragmentation"));
    double budget = floor(24.0 * (double)GIB * 0.9);
    int64_t want = (int64_t)(floor((budget - non_kv) / 1.15 / 131072.0 / 16) * 16);
    cr_assert_eq(w.kv_capacity_tokens, want, "capacity %lld, want %lld", (long long)w.kv_capacity_tokens,
                 (long long)want);
    cr_assert_lt(w.kv_capacity_tokens, base.kv_capacity_tokens);

    /* tp 2 on an 80 GiB card: 2% x 80 = 1.6 GiB beats 1 GiB; 0.25 GiB x 1 extra GPU */
    o.tp = 2;
    o.vram_bytes = 80 * GIB;
    cr_assert_eq(iw_estimate_compute(&a, &o, &w), 0);
    cr_assert_eq(term_bytes(&w, "base_overhead"), (int64_t)ceil(0.02 * 80.0 * (double)GIB));
    cr_assert_eq(term_bytes(&w, "comm_buffers"), GIB / 4);

    /* imageworks ada_16gb: everything x 1.12 (+ 1.6 GiB), llama.cpp too */
    o.tp = 1;
    o.vram_bytes = 24 * GIB;
    o.engine = IW_ENGINE_LLAMACPP;
    o.profile = NULL;
    cr_assert_eq(iw_estimate_compute(&a, &o, &base), 0);
    o.profile = iw_est_profiles_get(p, "imageworks-ada_16gb");
    cr_assert_eq(iw_estimate_compute(&a, &o, &w), 0);
    int64_t bo = (int64_t)llround(1.6 * (double)GIB);
    cr_assert_eq(term_bytes(&w, "base_overhead"), bo);
    cr_assert_eq(term_bytes(&w, "fragmentation"), (int64_t)ceil(0.12 * (double)(base.total + bo)));
    cr_assert_eq(w.kv_capacity_tokens, IW_UNKNOWN, "no KV pool outside vLLM");

    /* the profile's gpu_memory_utilization is the default budget fraction */
    const char *doc = "{\"format_version\":1,\"profiles\":[{\"name\":\"u80\",\"gpu_memory_utilization\":0.8}]}";
    cr_assert_eq(iw_est_profiles_merge(p, doc, strlen(doc), "u.json"), 0);
    o.engine = IW_ENGINE_VLLM;
    o.profile = iw_est_profiles_get(p, "u80");
    cr_assert_eq(iw_estimate_compute(&a, &o, &w), 0);
    cr_assert_eq(w.budget, (int64_t)floor(24.0 * (double)GIB * 0.8));
    o.gpu_util = 0.5;   /* an explicit --gpu-util wins */
    cr_assert_eq(iw_estimate_compute(&a, &o, &w), 0);
    cr_assert_eq(w.budget, 12 * GIB);

    iw_estimate_free(&base);
    iw_estimate_free(&w);
    iw_est_profiles_free(p);
    iw_arch_free(&a);
}

/* Inverse answers respect the profile: the largest context with margins
 * still fits when plugged back, and is smaller than without. */
Test(profiles, inverse_with_margins_plugs_back)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.context_length = a.max_position_embeddings = 131072;
    iw_est_profiles *p = NULL;
    cr_assert_eq(iw_est_profiles_new(&p), 0);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.vram_bytes = 24 * GIB;
    int64_t c0 = 0, c1 = 0;
    cr_assert_eq(iw_estimate_max_context(&a, &o, 1, &c0), 0);
    o.profile = iw_est_profiles_get(p, "vllm-wizard");
    cr_assert_eq(iw_estimate_max_context(&a, &o, 1, &c1), 0);
    cr_assert_gt(c1, 0);
    cr_assert_lt(c1, c0);
    iw_estimate e;
    iw_estimate_init(&e);
    o.context = c1;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    cr_assert(e.fits);
    o.context = c1 + 16;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    cr_assert(!e.fits);
    iw_estimate_free(&e);
    iw_est_profiles_free(p);
    iw_arch_free(&a);
}

/* Engine versions as data: each shipped vLLM profile names the versions it
 * follows; --engine vllm@X.Y picks the one whose range holds X.Y. */
Test(profiles, vllm_versions_pick_the_rules)
{
    iw_est_profiles *p = NULL;
    cr_assert_eq(iw_est_profiles_new(&p), 0, "%s", iw_error_last());
    struct { int maj, min, pat; const char *name; } cases[] = {
        {0, 5, 3, "vllm-0.6"}, {0, 6, 4, "vllm-0.6"}, {0, 7, 3, "vllm-0.6"}, {0, 8, 0, "vllm-0.8"},
        {0, 8, 5, "vllm-0.8"}, {0, 9, 2, "vllm-0.9"}, {0, 10, 0, "vllm-0.10"}, {0, 19, 0, "vllm-0.10"},
        {0, 20, 9, "vllm-0.10"}, {0, 21, 0, "default"}, {1, 2, 0, "default"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const iw_est_profile *r = iw_est_profiles_for_vllm(p, IW_VLLM_VERSION(cases[i].maj, cases[i].min, cases[i].pat));
        cr_assert_not_null(r, "%d.%d.%d", cases[i].maj, cases[i].min, cases[i].pat);
        cr_expect_str_eq(r->name, cases[i].name, "%d.%d.%d", cases[i].maj, cases[i].min, cases[i].pat);
    }
    cr_assert_null(iw_est_profiles_for_vllm(p, IW_VLLM_VERSION(0, 4, 0)), "no profile before 0.5");
    const iw_est_profile *v0 = iw_est_profiles_get(p, "vllm-0.6");
    cr_assert(v0->vllm_v0 && !v0->vllm_hybrid_kv_groups && !v0->vllm_cuda_graphs_in_budget);
    cr_assert_eq(v0->vllm_mla_align_bytes, 256);
    cr_assert_eq(v0->vllm_mbt[0], 0, "max_model_len");
    const iw_est_profile *v10 = iw_est_profiles_get(p, "vllm-0.10");
    cr_assert(v10->vllm_hybrid_kv_groups && !v10->vllm_cuda_graphs_in_budget && v10->vllm_bnb_dq_dequantized);
    cr_assert_eq(v10->vllm_max_num_seqs[1], 1024);
    cr_assert_eq(v10->vllm_mbt[1], 8192);
    /* the margin profiles name no versions */
    cr_assert_eq(iw_est_profiles_get(p, "vllm-wizard")->vllm_min_version, 0);
    iw_est_profiles_free(p);
}

Test(profiles, vllm_rules_are_strict)
{
    static const struct { const char *frag; const char *msg; } bad[] = {
        {"\"versions\": [\"0.10\"]", "'vllm.versions'"},
        {"\"versions\": [\"0.10\", \"0.9\"]", "'vllm.versions'"},
        {"\"versions\": [\"zero\", null]", "'vllm.versions'"},
        {"\"engine\": \"v2\"", "'vllm.engine'"},
        {"\"kv_groups\": 3", "'vllm.kv_groups'"},
        {"\"cuda_graphs_in_budget\": \"yes\"", "'vllm.cuda_graphs_in_budget'"},
        {"\"max_num_seqs\": [256]", "'vllm.max_num_seqs'"},
        {"\"max_num_batched_tokens\": [\"max_len\", 1]", "'vllm.max_num_batched_tokens'"},
        {"\"sampler_copies\": -1", "'sampler_copies'"},
        {"\"mla_align_bytes\": 5000", "'mla_align_bytes'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        iw_est_profiles *p = NULL;
        cr_assert_eq(iw_est_profiles_new(&p), 0);
        char doc[512];
        snprintf(doc, sizeof doc, "{\"format_version\": 1, \"profiles\": [{\"name\": \"x\", \"vllm\": {%s}}]}",
                 bad[i].frag);
        cr_expect_lt(iw_est_profiles_merge(p, doc, strlen(doc), "user.json"), 0, "%s accepted", bad[i].frag);
        cr_expect(strstr(iw_error_last(), bad[i].msg) && strstr(iw_error_last(), "profile 'x'") &&
                  !strchr(iw_error_last(), '\n'), "%s: %s", bad[i].frag, iw_error_last());
        cr_expect_null(iw_est_profiles_get(p, "x"), "the set is unchanged");
        iw_est_profiles_free(p);
    }
    /* a user profile for a version the shipped ones do not cover */
    iw_est_profiles *p = NULL;
    cr_assert_eq(iw_est_profiles_new(&p), 0);
    const char *doc = "{\"format_version\": 1, \"profiles\": [{\"name\": \"old\", \"base\": \"vllm-0.6\","
                      " \"vllm\": {\"versions\": [\"0.3\", \"0.5\"], \"max_num_seqs\": [128, 128]}}]}";
    cr_assert_eq(iw_est_profiles_merge(p, doc, strlen(doc), "user.json"), 0, "%s", iw_error_last());
    const iw_est_profile *o = iw_est_profiles_for_vllm(p, IW_VLLM_VERSION(0, 4, 1));
    cr_assert_not_null(o);
    cr_assert_str_eq(o->name, "old");
    cr_assert(o->vllm_v0, "inherited from its base");
    cr_assert_eq(o->vllm_max_num_seqs[0], 128);
    iw_est_profiles_free(p);
}

Test(profiles, engine_spec_parses_versions)
{
    iw_engine e;
    int32_t v = -1;
    cr_assert_eq(iw_engine_parse_spec("vllm", &e, &v), 0);
    cr_assert_eq(e, IW_ENGINE_VLLM);
    cr_assert_eq(v, 0);
    cr_assert_eq(iw_engine_parse_spec("vllm@0.10", &e, &v), 0);
    cr_assert_eq(v, IW_VLLM_VERSION(0, 10, 0));
    cr_assert_eq(iw_engine_parse_spec("VLLM@0.10.1", &e, &v), 0);
    cr_assert_eq(v, IW_VLLM_VERSION(0, 10, 1));
    cr_assert_eq(iw_engine_parse_spec("llama.cpp", &e, &v), 0);
    cr_assert_eq(e, IW_ENGINE_LLAMACPP);
    static const char *const bad[] = {"vllm@", "vllm@0.", "vllm@0.10.1.2", "vllm@x", "vllm@0.1000",
                                      "llama.cpp@1", "vllm@-1", "vllm@0..1", NULL};
    for (size_t i = 0; bad[i]; i++) {
        cr_expect_lt(iw_engine_parse_spec(bad[i], &e, &v), 0, "%s accepted", bad[i]);
        cr_expect(!strchr(iw_error_last(), '\n'));
    }
    cr_expect_lt(iw_engine_parse_spec("vllm@0.10", &e, NULL), 0, "a version where none is accepted");
    char buf[32];
    iw_vllm_version_format(IW_VLLM_VERSION(0, 10, 0), buf, sizeof buf);
    cr_assert_str_eq(buf, "0.10");
    iw_vllm_version_format(IW_VLLM_VERSION(1, 2, 3), buf, sizeof buf);
    cr_assert_str_eq(buf, "1.2.3");
}
