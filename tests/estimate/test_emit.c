/* test_emit.c - ready-to-run launch configurations (estimate --emit), as
 * golden files in tests/fixtures/estimate/emit/.  Regenerate with
 * IW_UPDATE_GOLDEN=1 and review the diff.  Every launch is also checked as
 * it would run (check_launch): `bash -n` accepts it, and each argument the
 * shell hands the engine exists in that engine with a value it takes
 * (docs/estimate.md, "Emit"). */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "estfixture.h"

#define GIB ((int64_t)1 << 30)

static void llama3_8b(iw_arch *a)
{
    est_llama3_8b(a);
    iw_arch_set_str(&a->parameters.source, "safetensors");
}

static void golden(const char *name, const char *got)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/estimate/emit/%s", iwt_source_dir(), name);
    const char *upd = getenv("IW_UPDATE_GOLDEN");
    if (upd && *upd == '1') {
        cr_assert_eq(iwt_write(path, got, strlen(got)), 0, "cannot write %s", path);
        return;
    }
    char *want = iwt_slurp(path, NULL);
    cr_assert_not_null(want, "missing golden %s (run with IW_UPDATE_GOLDEN=1)", path);
    cr_expect_str_eq(got, want, "%s differs:\n--- got\n%s--- want\n%s", name, got, want);
    free(want);
}

/* ---------------------------------------------------------------- launch rules */

typedef enum { A_INT, A_UTIL, A_PORT, A_STR, A_BOOL, A_CHOICE } arg_kind;
typedef struct arg_rule {
    const char *flag;
    arg_kind    kind;
    long        lo, hi;          /* A_INT */
    const char *choices;         /* A_CHOICE: "|a|b|" */
} arg_rule;

/* vllm serve (vllm/engine/arg_utils.py; --kv-cache-dtype: the CacheDType
 * literals every recent version has, "float16" being gone from new ones) */
static const arg_rule VLLM_RULES[] = {
    {"--served-model-name", A_STR, 0, 0, NULL},
    {"--max-model-len", A_INT, 1, 1L << 31, NULL},
    {"--max-num-seqs", A_INT, 1, 1L << 20, NULL},
    {"--gpu-memory-utilization", A_UTIL, 0, 0, NULL},
    {"--tensor-parallel-size", A_INT, 1, 1024, NULL},
    {"--kv-cache-dtype", A_CHOICE, 0, 0, "|auto|bfloat16|fp8|fp8_e4m3|fp8_e5m2|"},
    {"--dtype", A_CHOICE, 0, 0, "|auto|half|float16|bfloat16|float|float32|"},
    {"--quantization", A_CHOICE, 0, 0, "|fp8|bitsandbytes|awq|gptq|"},
    {"--enforce-eager", A_BOOL, 0, 0, NULL},
    {"--trust-remote-code", A_BOOL, 0, 0, NULL},
    {"--port", A_PORT, 0, 0, NULL},
    {NULL, A_STR, 0, 0, NULL},
};

/* llama-server (tools/server README; -np at most LLAMA_MAX_SEQ = 256) */
static const arg_rule LLAMA_RULES[] = {
    {"-m", A_STR, 0, 0, NULL},
    {"-hf", A_STR, 0, 0, NULL},
    {"-c", A_INT, 1, 1L << 31, NULL},
    {"-np", A_INT, 1, 256, NULL},
    {"-ngl", A_INT, 0, 100000, NULL},
    {"-fa", A_CHOICE, 0, 0, "|on|off|auto|"},
    {"-ctk", A_CHOICE, 0, 0, "|f32|f16|bf16|q8_0|q4_0|q4_1|iq4_nl|q5_0|q5_1|"},
    {"-ctv", A_CHOICE, 0, 0, "|f32|f16|bf16|q8_0|q4_0|q4_1|iq4_nl|q5_0|q5_1|"},
    {"-ub", A_INT, 1, 1L << 20, NULL},
    {"--alias", A_STR, 0, 0, NULL},
    {"--port", A_PORT, 0, 0, NULL},
    {NULL, A_STR, 0, 0, NULL},
};

static void check_args(const char *engine, const arg_rule *rules, char **w, size_t n, size_t from)
{
    for (size_t i = from; i < n; i++) {
        const arg_rule *r = rules;
        while (r->flag && strcmp(r->flag, w[i]))
            r++;
        cr_assert_not_null(r->flag, "%s has no argument '%s'", engine, w[i]);
        if (r->kind == A_BOOL)
            continue;
        cr_assert_lt(i + 1, n, "%s %s needs a value", engine, w[i]);
        const char *v = w[++i];
        char *end = NULL;
        switch (r->kind) {
        case A_INT: {
            long x = strtol(v, &end, 10);
            cr_assert(*v && !*end && x >= r->lo && x <= r->hi, "%s %s %s: not an integer in %ld..%ld", engine,
                      w[i - 1], v, r->lo, r->hi);
            break;
        }
        case A_UTIL: {
            double x = strtod(v, &end);
            cr_assert(*v && !*end && x > 0 && x <= 1, "%s %s %s: not in (0, 1]", engine, w[i - 1], v);
            break;
        }
        case A_PORT: {
            long x = strtol(v, &end, 10);
            cr_assert(*v && !*end && x >= 1 && x <= 65535, "%s --port %s", engine, v);
            break;
        }
        case A_CHOICE: {
            char pat[64];
            snprintf(pat, sizeof pat, "|%s|", v);
            cr_assert(strstr(r->choices, pat), "%s %s %s: not one of %s", engine, w[i - 1], v, r->choices);
            break;
        }
        default:
            cr_assert(*v, "%s %s: empty value", engine, w[i - 1]);
            break;
        }
    }
}

/* The words a shell hands `vllm` / `llama-server` when it runs text; bash -n
 * must accept the text first.  Words are separated by \037 in the output. */
static size_t launch_words(const char *text, char ***out)
{
    char *dir = iwt_tmpdir("launch");
    char file[4096], cmd[8192];
    snprintf(file, sizeof file, "%s/launch.sh", dir);
    cr_assert_eq(iwt_write(file, text, strlen(text)), 0);
    snprintf(cmd, sizeof cmd, "bash -n '%s'", file);
    char *err = NULL;
    cr_assert_eq(iwt_run(cmd, NULL, &err), 0, "bash -n rejects the launch: %s\n%s", err, text);
    free(err);
    snprintf(cmd, sizeof cmd,
             "bash -c 'vllm() { printf \"%%s\\037\" \"$@\"; }; llama-server() { printf \"%%s\\037\" \"$@\"; }; "
             "ollama() { printf \"%%s\\037\" \"$@\"; }; . \"$0\"' '%s'", file);
    char *words = NULL;
    cr_assert_eq(iwt_run(cmd, &words, NULL), 0, "the launch does not run:\n%s", text);
    iwt_rm_rf(dir);
    free(dir);
    size_t n = 0;
    char **v = NULL;
    for (char *p = words; p && *p; ) {
        char *e = strchr(p, '\037');
        if (!e)
            break;
        v = realloc(v, (n + 1) * sizeof *v);
        v[n++] = strndup(p, (size_t)(e - p));
        p = e + 1;
    }
    free(words);
    *out = v;
    return n;
}

static void free_words(char **w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(w[i]);
    free(w);
}

/* A part of an Ollama model name (ollama types/model/name.go, isValidPart). */
static bool ollama_part_ok(const char *s, size_t n)
{
    if (n < 1 || n > 80)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool an = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!an && (i == 0 || (c != '-' && c != '.')))
            return false;
    }
    return true;
}

/* Check a launch as it would run:
 *   vllm, llama.cpp  bash -n, then every argument against the engine's rules
 *   ollama           the `ollama create` comment line as a command (bash -n,
 *                    a valid model name), and the Modelfile's instructions
 *   compose          YAML (python3-yaml, when present) whose command is vLLM's */
static void check_launch(iw_emit_kind k, const char *text)
{
    char **w = NULL;
    size_t n;
    if (k == IW_EMIT_VLLM) {
        n = launch_words(text, &w);
        cr_assert(n >= 2 && !strcmp(w[0], "serve") && *w[1], "not `vllm serve MODEL ...`:\n%s", text);
        check_args("vllm serve", VLLM_RULES, w, n, 2);
        free_words(w, n);
    } else if (k == IW_EMIT_LLAMACPP) {
        n = launch_words(text, &w);
        cr_assert(n >= 2 && (!strcmp(w[0], "-m") || !strcmp(w[0], "-hf")), "no model:\n%s", text);
        check_args("llama-server", LLAMA_RULES, w, n, 0);
        free_words(w, n);
    } else if (k == IW_EMIT_OLLAMA) {
        const char *c = strstr(text, "ollama create ");
        cr_assert_not_null(c, "no create command:\n%s", text);
        char *cmd = strndup(c, strcspn(c, "\n"));
        n = launch_words(cmd, &w);
        free(cmd);
        cr_assert(n == 4 && !strcmp(w[0], "create") && !strcmp(w[2], "-f") && !strcmp(w[3], "Modelfile"), "%s", text);
        cr_assert(ollama_part_ok(w[1], strlen(w[1])), "'%s' is not a valid Ollama model name", w[1]);
        free_words(w, n);
        /* Modelfile: comments, FROM and the two PARAMETERs we write */
        bool from = false;
        for (const char *l = text; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] ? 1 : 0)) {
            size_t len = strcspn(l, "\n");
            if (!len || l[0] == '#')
                continue;
            if (!strncmp(l, "FROM ", 5))
                from = len > 5;
            else
                cr_assert(!strncmp(l, "PARAMETER num_ctx ", 18) || !strncmp(l, "PARAMETER num_gpu ", 18),
                          "not a Modelfile instruction we write: %.*s", (int)len, l);
        }
        cr_assert(from, "no FROM:\n%s", text);
    } else {
        if (iwt_run("python3 -c 'import yaml'", NULL, NULL) != 0)
            return;   /* no YAML reader here: the golden file is the check */
        char *dir = iwt_tmpdir("compose");
        char file[4096], cmd[8192];
        snprintf(file, sizeof file, "%s/c.yaml", dir);
        cr_assert_eq(iwt_write(file, text, strlen(text)), 0);
        snprintf(cmd, sizeof cmd, "python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); "
                 "s = list(d[\"services\"].values()); assert len(s) == 1, s; "
                 "print(\"\\037\".join(s[0][\"command\"]), end=\"\\037\")' '%s'", file);
        char *words = NULL;
        cr_assert_eq(iwt_run(cmd, &words, NULL), 0, "not a compose YAML document:\n%s", text);
        iwt_rm_rf(dir);
        free(dir);
        n = 0;
        for (char *p = words; p && *p; ) {
            char *e = strchr(p, '\037');
            if (!e)
                break;
            w = realloc(w, (n + 1) * sizeof *w);
            w[n++] = strndup(p, (size_t)(e - p));
            p = e + 1;
        }
        free(words);
        cr_assert(n >= 2 && !strcmp(w[0], "--model"), "%s", text);
        check_args("vllm (compose)", VLLM_RULES, w, n, 2);
        free_words(w, n);
    }
}

static char *emit(iw_emit_kind k, const iw_arch *a, const iw_est_opts *o, const iw_emit_input *in)
{
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(a, o, &e), 0, "%s", iw_error_last());
    char *out = NULL;
    cr_assert_eq(iw_estimate_emit(k, &e, in, &out), 0, "%s", iw_error_last());
    iw_estimate_free(&e);
    check_launch(k, out);
    return out;
}

Test(emit, vllm_serve_quotes_and_online_fp8)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    ov.quantization = "fp8";
    ov.trust_remote_code = true;
    iw_ov_result r;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.tp = 2;
    o.kv_dtype = IW_KV_FP8;
    o.gpu_util = 0.92;
    iw_emit_input in = {.model = "/models/Meta Llama 3 8B (it's mine)", .served_name = "llama3-8b_(FP8)",
                        .port = 24001, .context = 8192, .batch = 4, .num_layers = 32, .ov = &r};
    char *s = emit(IW_EMIT_VLLM, &a, &o, &in);
    golden("vllm_fp8_tp2.sh", s);
    /* the shell gives the program exactly the path and name back */
    char *dir = iwt_tmpdir("emit");
    char file[4096], cmd[8192];
    snprintf(file, sizeof file, "%s/launch.sh", dir);
    cr_assert_eq(iwt_write(file, s, strlen(s)), 0);
    snprintf(cmd, sizeof cmd, "sh -c 'vllm() { printf \"%%s|%%s\" \"$2\" \"$4\"; }; . \"$0\"' '%s'", file);
    char *out = NULL;
    cr_assert_eq(iwt_run(cmd, &out, NULL), 0);
    cr_assert_str_eq(out, "/models/Meta Llama 3 8B (it's mine)|llama3-8b_(FP8)");
    free(out);
    iwt_rm_rf(dir);
    free(dir);
    free(s);
    iw_arch_free(&a);
}

Test(emit, vllm_what_if_awq_says_which_checkpoint)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    ov.quantization = "awq";
    iw_ov_result r;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    iw_est_opts o;
    iw_est_opts_init(&o);
    iw_emit_input in = {.model = "meta-llama/Meta-Llama-3-8B-Instruct", .context = 8192, .batch = 16, .ov = &r};
    char *s = emit(IW_EMIT_VLLM, &a, &o, &in);
    /* no --quantization awq: vLLM reads it from an AWQ checkpoint's config */
    cr_assert_null(strstr(s, "--quantization"), "%s", s);
    golden("vllm_awq_what_if.sh", s);
    free(s);
    iw_arch_free(&a);
}

Test(emit, llama_server_gguf_partial_offload_q8_kv)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_LLAMACPP;
    o.kv_dtype = IW_KV_Q8_0;
    o.flash_attn = 1;
    o.n_gpu_layers = 20;
    o.context = 8192;
    o.batch = 2;
    iw_emit_input in = {.model = "/srv/gguf/Meta-Llama-3-8B-Instruct.Q4_K_M.gguf", .served_name = "llama3-8b",
                        .context = 8192, .batch = 2, .num_layers = 32};
    char *s = emit(IW_EMIT_LLAMACPP, &a, &o, &in);
    cr_assert(strstr(s, "-c 16384 -np 2"), "n_ctx is the total over the slots: %s", s);
    golden("llama_server_gguf.sh", s);
    free(s);
    /* a repo id is loaded with -hf */
    o.n_gpu_layers = IW_UNKNOWN;
    o.kv_dtype = IW_KV_AUTO;
    in = (iw_emit_input){.model = "bartowski/Meta-Llama-3-8B-Instruct-GGUF", .context = 4096, .batch = 1};
    s = emit(IW_EMIT_LLAMACPP, &a, &o, &in);
    golden("llama_server_repo.sh", s);
    free(s);
    iw_arch_free(&a);
}

Test(emit, ollama_modelfile)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_OLLAMA;
    o.kv_dtype = IW_KV_Q8_0;
    o.flash_attn = 1;
    o.n_gpu_layers = 28;
    o.context = 16384;
    o.batch = 2;
    iw_emit_input in = {.model = "llama3:8b", .served_name = "llama3-8b-ollama", .context = 16384, .batch = 2,
                        .num_layers = 32};
    char *s = emit(IW_EMIT_OLLAMA, &a, &o, &in);
    cr_assert_null(strstr(s, "PARAMETER num_parallel"), "not a Modelfile parameter: %s", s);
    golden("ollama.Modelfile", s);
    free(s);
    /* everything on the GPU, one sequence, default KV: FROM + num_ctx only */
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_OLLAMA;
    in = (iw_emit_input){.model = "/srv/gguf/model.gguf", .context = 4096, .batch = 1, .num_layers = 32};
    s = emit(IW_EMIT_OLLAMA, &a, &o, &in);
    golden("ollama_plain.Modelfile", s);
    free(s);
    iw_arch_free(&a);
}

Test(emit, compose_local_and_repo)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.tp = 2;
    iw_emit_input in = {.model = "/srv/models/say \"hi\"\\llama", .served_name = "Llama3 8B", .context = 8192,
                        .batch = 8};
    char *s = emit(IW_EMIT_COMPOSE, &a, &o, &in);
    golden("compose_local.yaml", s);
    free(s);
    iw_est_opts_init(&o);
    in = (iw_emit_input){.model = "meta-llama/Meta-Llama-3-8B-Instruct", .port = 8001, .context = 8192, .batch = 1};
    s = emit(IW_EMIT_COMPOSE, &a, &o, &in);
    cr_assert(strstr(s, "${HF_TOKEN:-}"), "the token is referenced, never written: %s", s);
    golden("compose_repo.yaml", s);
    free(s);
    iw_arch_free(&a);
}

Test(emit, refusals)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    char *out = NULL;
    iw_emit_input in = {.model = "/m", .context = 8192, .batch = 1};
    cr_assert_eq(iw_estimate_emit(IW_EMIT_LLAMACPP, &e, &in, &out), IW_EINVAL, "vLLM estimate, llama.cpp launch");
    cr_assert(strstr(iw_error_last(), "llama.cpp"), "%s", iw_error_last());
    cr_assert_eq(iw_estimate_emit(IW_EMIT_OLLAMA, &e, &in, &out), IW_EINVAL);
    in.model = "/m\n--evil";
    cr_assert_eq(iw_estimate_emit(IW_EMIT_VLLM, &e, &in, &out), IW_EINVAL, "a newline would split the command");
    in.model = "";
    cr_assert_eq(iw_estimate_emit(IW_EMIT_VLLM, &e, &in, &out), IW_EINVAL);
    in.model = "/m";
    in.context = 0;
    cr_assert_eq(iw_estimate_emit(IW_EMIT_VLLM, &e, &in, &out), IW_EINVAL, "nothing fits: nothing to launch");
    cr_assert_null(out);
    iw_emit_kind k;
    cr_assert_eq(iw_emit_kind_parse("llama-server", &k), 0);
    cr_assert_eq(k, IW_EMIT_LLAMACPP);
    cr_assert_eq(iw_emit_kind_parse("docker", &k), IW_EINVAL);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* A registry name is not an Ollama model name: "qwen3-30b-a3b_(BF16)" gave
 * `ollama create qwen3-30b-a3b_(BF16)`, a bash syntax error and a name
 * ollama refuses.  And the Modelfile's FROM follows ollama's own quoting. */
Test(emit, ollama_create_names_a_valid_model)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_OLLAMA;
    static const struct { const char *served, *model, *want_name; } cases[] = {
        {"qwen3-30b-a3b_(BF16)", "qwen3:30b-a3b", "qwen3-30b-a3b_bf16"},
        {"Llama 3.1 8B (Q4_K_M) — mine", "/srv/gguf/llama.gguf", "llama-3.1-8b-q4_k_m-mine"},
        {"((()))", "/srv/gguf/model.gguf", "model"},
        {NULL, "tiny:latest", "tiny-latest"},
        {"tiny", "tiny:latest", "tiny-ctx4096"},    /* never the FROM model's own name */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iw_emit_input in = {.model = cases[i].model, .served_name = cases[i].served, .context = 4096, .batch = 1};
        char *s = emit(IW_EMIT_OLLAMA, &a, &o, &in);   /* check_launch: bash -n, name rules */
        char want[256];
        snprintf(want, sizeof want, "ollama create %s -f Modelfile", cases[i].want_name);
        cr_expect(strstr(s, want), "%s:\n%s", want, s);
        free(s);
    }
    /* a FROM path that begins with a space is quoted as ollama's parser reads it */
    iw_emit_input in = {.model = " /srv/odd dir/m.gguf", .served_name = "m", .context = 4096, .batch = 1};
    char *s = emit(IW_EMIT_OLLAMA, &a, &o, &in);
    cr_expect(strstr(s, "\nFROM \" /srv/odd dir/m.gguf\"\n"), "%s", s);
    free(s);
    iw_arch_free(&a);
}

/* vLLM's --kv-cache-dtype choices change by version ("float16" is gone
 * from recent ones): an fp16 cache is vLLM's "auto" and is not written. */
Test(emit, vllm_kv_cache_dtype_is_one_every_version_takes)
{
    iw_arch a;
    llama3_8b(&a);
    static const iw_kv_dtype kv[] = {IW_KV_F16, IW_KV_BF16, IW_KV_FP8, IW_KV_F32, IW_KV_AUTO};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        iw_est_opts o;
        iw_est_opts_init(&o);
        o.kv_dtype = kv[i];
        iw_emit_input in = {.model = "/m", .context = 8192, .batch = 1};
        char *s = emit(IW_EMIT_VLLM, &a, &o, &in);     /* check_launch: VLLM_RULES */
        cr_expect_null(strstr(s, "--kv-cache-dtype float16"), "%s", s);
        free(s);
    }
    iw_arch_free(&a);
}

/* compose: a repo uses the Hub settings given (as defaults of ${...}), and
 * a '$' in a local path is doubled so that compose does not expand it. */
Test(emit, compose_hub_settings_and_dollars)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    iw_emit_input in = {.model = "meta-llama/Meta-Llama-3-8B-Instruct", .context = 8192, .batch = 1,
                        .hf_home = "/data/hf", .hf_hub_cache = "/fast/hub", .hf_endpoint = "https://hf-mirror.example"};
    char *s = emit(IW_EMIT_COMPOSE, &a, &o, &in);
    cr_expect(strstr(s, "source: \"${HF_HOME:-/data/hf}\"\n        target: /root/.cache/huggingface\n"), "%s", s);
    cr_expect(strstr(s, "source: \"${HF_HUB_CACHE:-/fast/hub}\"\n        target: /root/.cache/huggingface/hub\n"), "%s", s);
    cr_expect(strstr(s, "HF_ENDPOINT: \"${HF_ENDPOINT:-https://hf-mirror.example}\""), "%s", s);
    free(s);
    in = (iw_emit_input){.model = "/srv/$USER/model", .context = 8192, .batch = 1};
    s = emit(IW_EMIT_COMPOSE, &a, &o, &in);
    cr_expect(strstr(s, "source: \"/srv/$$USER/model\""), "%s", s);
    free(s);
    iw_arch_free(&a);
}

/* Whatever the registry name (any bytes but a newline), the derived Ollama
 * name is one ollama accepts, and so needs no shell quoting. */
Test(emit, ollama_name_from_any_registry_name)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_OLLAMA;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    uint32_t x = 12345;
    for (int round = 0; round < 3000; round++) {
        char served[120];
        size_t n = (size_t)(round % 110) + 1;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            char c = (char)(x & 0xff);
            served[i] = c == '\n' || c == 0 ? '(' : c;
        }
        served[n] = 0;
        iw_emit_input in = {.model = "base:latest", .served_name = served, .context = 4096, .batch = 1};
        char *out = NULL;
        cr_assert_eq(iw_estimate_emit(IW_EMIT_OLLAMA, &e, &in, &out), 0, "%s", iw_error_last());
        const char *c = strstr(out, "ollama create ");
        cr_assert_not_null(c);
        c += strlen("ollama create ");
        size_t len = strcspn(c, " ");
        cr_assert(ollama_part_ok(c, len), "'%.*s' from %zu bytes is not an Ollama name", (int)len, c, n);
        cr_assert_str_eq(c + len, " -f Modelfile\nFROM base:latest\nPARAMETER num_ctx 4096\n");
        free(out);
    }
    iw_estimate_free(&e);
    iw_arch_free(&a);
}
