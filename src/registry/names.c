/* names.c - registry slugs in the original's style and quant labels. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/registry.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/buf.h"

/* A token that names a quantization or a file format, dropped from the family. */
static bool is_quant_token(const char *t, size_t n)
{
    static const char *const WORDS[] = {
        "awq", "gptq", "gguf", "ggml", "exl2", "exl3", "mlx", "bnb", "nf4", "fp4", "int4", "int8",
        "fp8", "fp16", "bf16", "f16", "f32", "fp32", "mxfp4", "4bit", "8bit", "3bit", "2bit",
        "6bit", "w4a16", "w8a8", "w8a16", "w4a4", "quantized", "imatrix", "dynamic", "hqq",
        "marlin", "unsloth-bnb", "safetensors", "q8", "q6", "q5", "q4", "q3", "q2",
    };
    char low[32];
    if (n == 0 || n >= sizeof low)
        return false;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)t[i]);
    low[n] = 0;
    for (size_t i = 0; i < sizeof WORDS / sizeof WORDS[0]; i++)
        if (strcmp(low, WORDS[i]) == 0)
            return true;
    /* q4_k_m style never survives tokenising on '_' so match q<digit>k / iq<digit> prefixes */
    if ((low[0] == 'q' && isdigit((unsigned char)low[1])) ||
        (low[0] == 'i' && low[1] == 'q' && isdigit((unsigned char)low[2])))
        return true;
    return false;
}

/* "7b", "20.9b", "350m", "8x7b", "a3b" */
static bool is_size_token(const char *t, size_t n)
{
    size_t i = 0;
    if (n < 2)
        return false;
    char last = (char)tolower((unsigned char)t[n - 1]);
    if (last != 'b' && last != 'm' && last != 'k')
        return false;
    if (tolower((unsigned char)t[0]) == 'a')
        i = 1;
    bool digit = false;
    for (; i < n - 1; i++) {
        char c = (char)tolower((unsigned char)t[i]);
        if (isdigit((unsigned char)c))
            digit = true;
        else if (c != '.' && c != 'x')
            return false;
    }
    return digit;
}

/* Quant label written in a name ("model.Q4_K_M", "x-IQ3_XXS", "y-AWQ",
 * "z-BF16"), upper-cased into out; false when none. */
static bool quant_from_name(const char *s, char *out, size_t outsz)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '-' && s[j] != '_' && s[j] != '.' && s[j] != ' ' && s[j] != '/')
            j++;
        size_t t = j - i;
        const char *tok = s + i;
        bool gg = (t >= 2 && (tok[0] == 'q' || tok[0] == 'Q') && isdigit((unsigned char)tok[1])) ||
                  (t >= 3 && (tok[0] == 'i' || tok[0] == 'I') && (tok[1] == 'q' || tok[1] == 'Q') &&
                   isdigit((unsigned char)tok[2]));
        bool word = (t == 3 && !strncasecmp(tok, "awq", 3)) || (t == 4 && !strncasecmp(tok, "gptq", 4)) ||
                    (t == 3 && !strncasecmp(tok, "fp8", 3)) || (t == 4 && !strncasecmp(tok, "bf16", 4)) ||
                    (t == 3 && !strncasecmp(tok, "f16", 3)) || (t == 3 && !strncasecmp(tok, "f32", 3)) ||
                    (t == 4 && !strncasecmp(tok, "fp16", 4)) || (t == 5 && !strncasecmp(tok, "mxfp4", 5));
        if (gg || word) {
            size_t end = j;
            if (gg) {
                /* take the tail: _K_M, _0, _XXS */
                while (end < n && s[end] == '_') {
                    size_t k = end + 1;
                    while (k < n && isalnum((unsigned char)s[k]))
                        k++;
                    if (k - end - 1 == 0 || k - end - 1 > 3)
                        break;
                    end = k;
                }
            }
            size_t len = end - i;
            if (len + 1 > outsz)
                return false;
            for (size_t k = 0; k < len; k++)
                out[k] = (char)toupper((unsigned char)s[i + k]);
            out[len] = 0;
            return true;
        }
        i = j + 1;
    }
    return false;
}

int iw_registry_slug(const char *repo, const char *quant_label, int64_t params_total, char **out)
{
    char name_q[32];
    *out = NULL;
    if (!repo || !*repo)
        return iw_error_set(IW_EINVAL, "slug: no repo name");
    const char *base = strrchr(repo, '/');
    base = base ? base + 1 : repo;
    size_t bl = strlen(base);
    char *fam = malloc(bl + 1), *res = NULL;
    if (!fam)
        return iw_error_set(IW_ENOMEM, "slug: out of memory");
    size_t fl = 0;
    bool has_size = false, prev_quant = false;
    /* tokens split on '-' and '_' ('.' stays: "qwen2.5") */
    for (size_t i = 0; i < bl;) {
        size_t j = i;
        /* '.' separates only before a letter: "qwen2.5", "v0.1" stay whole,
         * "model.Q4_K_M" splits */
        while (j < bl && base[j] != '-' && base[j] != '_' && base[j] != ' ' &&
               !(base[j] == '.' && j + 1 < bl && isalpha((unsigned char)base[j + 1])))
            j++;
        size_t n = j - i;
        bool digits = n > 0;
        for (size_t k = 0; k < n; k++)
            if (!isdigit((unsigned char)base[i + k]))
                digits = false;
        /* the tail of a GGUF quant name: Q4_K_M, IQ3_XXS, Q8_0 */
        bool qtail = digits || (n && n <= 3 && (
            !strncasecmp(base + i, "k", n) || !strncasecmp(base + i, "m", n) ||
            !strncasecmp(base + i, "s", n) || !strncasecmp(base + i, "l", n) ||
            !strncasecmp(base + i, "xs", n) || !strncasecmp(base + i, "xxs", n) ||
            !strncasecmp(base + i, "xl", n) || !strncasecmp(base + i, "nl", n)));
        bool drop = n && (is_quant_token(base + i, n) || (qtail && prev_quant));
        prev_quant = n && drop;
        if (n && !drop) {
            if (is_size_token(base + i, n))
                has_size = true;
            if (fl)
                fam[fl++] = '-';
            for (size_t k = 0; k < n; k++) {
                unsigned char c = (unsigned char)tolower((unsigned char)base[i + k]);
                fam[fl++] = (char)((isalnum(c) || c == '.') ? c : '-');
            }
        }
        i = j + 1;
    }
    fam[fl] = 0;
    if (!fl) {
        /* everything was a quant token: keep the raw lower-cased base */
        for (size_t k = 0; k < bl; k++) {
            unsigned char c = (unsigned char)tolower((unsigned char)base[k]);
            fam[k] = (char)((isalnum(c) || c == '.' || c == '-' || c == '_') ? c : '-');
        }
        fam[bl] = 0;
        fl = bl;
    }
    char size[32] = "";
    if (!has_size && params_total > 0) {
        double b = (double)params_total / 1e9;
        if (b >= 1.0) {
            double r1 = round(b * 10.0) / 10.0;
            if (fabs(r1 - round(r1)) < 1e-9 || (b < 10 && fabs(b - round(b)) < 0.25))   /* 8.19B -> 8b, 20.9B -> 20.9b */
                snprintf(size, sizeof size, "_%.0fb", round(b));
            else
                snprintf(size, sizeof size, "_%.1fb", r1);
        } else if (params_total >= 1000000) {
            snprintf(size, sizeof size, "_%.0fm", round((double)params_total / 1e6));
        } else if (params_total >= 1000) {
            snprintf(size, sizeof size, "_%.0fk", round((double)params_total / 1e3));
        }
    }
    char q[64] = "";
    if ((!quant_label || !*quant_label) && quant_from_name(base, name_q, sizeof name_q))
        quant_label = name_q;   /* the original's filename tokens (level 4) */
    if (quant_label && *quant_label) {
        size_t k = 0;
        for (const char *p = quant_label; *p && k < 40; p++) {
            unsigned char c = (unsigned char)*p;
            q[k++] = (char)((isalnum(c) || c == '_' || c == '.' || c == '-') ? c : '-');
        }
        q[k] = 0;
    }
    size_t need = fl + strlen(size) + strlen(q) + 8;
    if (!(res = malloc(need))) {
        free(fam);
        return iw_error_set(IW_ENOMEM, "slug: out of memory");
    }
    if (q[0])
        snprintf(res, need, "%s%s_(%s)", fam, size, q);
    else
        snprintf(res, need, "%s%s", fam, size);
    free(fam);
    if (strlen(res) > IW_REGISTRY_MAX_NAME - 8)
        res[IW_REGISTRY_MAX_NAME - 8] = 0;
    *out = res;
    return 0;
}

const char *iw_registry_quant_label(const iw_arch *a, char *buf, size_t bufsz)
{
    if (!a || !buf || bufsz < 8)
        return NULL;
    const iw_quant *q = &a->quantization;
    /* methods the original names by the method alone: "(AWQ)", "(GPTQ)", "(FP8)" */
    static const char *const SHORT[] = { "awq", "gptq", "fp8", "mxfp4", "exl2", "hqq", "aqlm", "eetq", "nvfp4" };
    for (size_t i = 0; q->method && i < sizeof SHORT / sizeof SHORT[0]; i++)
        if (strcasecmp(q->method, SHORT[i]) == 0) {
            size_t k = 0;
            for (; q->method[k] && k + 1 < bufsz; k++)
                buf[k] = (char)toupper((unsigned char)q->method[k]);
            buf[k] = 0;
            return buf;
        }
    if (q->label && *q->label) {
        snprintf(buf, bufsz, "%s", q->label);
        return buf;
    }
    if (q->method && *q->method && strcmp(q->method, "none") != 0) {
        size_t i = 0;
        for (; q->method[i] && i + 1 < bufsz; i++)
            buf[i] = (char)toupper((unsigned char)q->method[i]);
        buf[i] = 0;
        return buf;
    }
    const char *dt = a->torch_dtype;
    if (!dt)
        return NULL;
    if (!strcmp(dt, "bfloat16") || !strcmp(dt, "bf16")) snprintf(buf, bufsz, "BF16");
    else if (!strcmp(dt, "float16") || !strcmp(dt, "fp16") || !strcmp(dt, "f16")) snprintf(buf, bufsz, "FP16");
    else if (!strcmp(dt, "float32") || !strcmp(dt, "fp32") || !strcmp(dt, "f32")) snprintf(buf, bufsz, "FP32");
    else return NULL;
    return buf;
}

int iw_registry_default_port(const char *backend)
{
    if (backend && strcmp(backend, "vllm") == 0)
        return 24001;
    if (backend && strcmp(backend, "ollama") == 0)
        return 11434;
    return 8000;
}

/* ------------------------------------------------------------------
 * The original's quantization label (tools/model_downloader/
 * format_utils.py::detect_format_and_quant), which it writes to
 * "quantization" and which its GUI's VRAM page buckets by substring
 * (gptq-int4 -> int4 0.55 bytes/param; plain "gptq" -> bf16).  Evidence in
 * its order: GGUF (level 1/4), config.json quantization_config awq/gptq
 * (2), awq_config.json (2), quantize_config.json & co (2), file-name
 * tokens (4), quant_method and LLM Compressor groups (5), dtype (6).
 * Level 3 (.qweight/.qzeros tensor names) and the safetensors dtype of
 * level 6 need the optional safetensors module, whose API the original
 * misuses; they never fire there and are left out here. */

static cJSON *read_json_in(const char *dir, const char *name)
{
    char *p = NULL;
    cJSON *j = NULL;
    if (dir && asprintf(&p, "%s/%s", dir, name) >= 0 && iw_json_parse_file(p, 16u << 20, &j, NULL) < 0)
        j = NULL;
    free(p);
    iw_error_clear();
    return cJSON_IsObject(j) ? j : (cJSON_Delete(j), NULL);
}

/* Python isinstance(v, int) for a JSON number (bools are not numbers here) */
static bool py_int(const cJSON *v, long long *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9e15)
        return false;
    *out = (long long)v->valuedouble;
    return true;
}

static bool awq_label(const cJSON *q, char *buf, size_t n)
{
    long long w, g;
    if (py_int(cJSON_GetObjectItemCaseSensitive(q, "w_bit"), &w) &&
        py_int(cJSON_GetObjectItemCaseSensitive(q, "q_group_size"), &g))
        snprintf(buf, n, "awq-w%lldg%lld", w, g);
    else
        snprintf(buf, n, "awq");
    return true;
}

static bool gptq_label(const cJSON *q, char *buf, size_t n)
{
    long long b;
    if (py_int(cJSON_GetObjectItemCaseSensitive(q, "bits"), &b))
        snprintf(buf, n, "gptq-int%lld", b);
    else
        snprintf(buf, n, "gptq");
    return true;
}

static bool has_key(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k) != NULL; }

/* level 2 on an object holding quant keys (config.json's
 * quantization_config, or a quantize_config.json) */
static bool level2(const cJSON *q, bool standalone, char *buf, size_t n)
{
    const char *m = iw_json_get_str(q, "quant_method");
    long long x, y;
    char ml[32] = "";
    for (size_t i = 0; m && m[i] && i + 1 < sizeof ml; i++)
        ml[i] = (char)tolower((unsigned char)m[i]);
    bool awq_sig = (py_int(cJSON_GetObjectItemCaseSensitive(q, "w_bit"), &x) &&
                    py_int(cJSON_GetObjectItemCaseSensitive(q, "q_group_size"), &y)) || has_key(q, "zero_point");
    bool gptq_sig = py_int(cJSON_GetObjectItemCaseSensitive(q, "bits"), &x) &&
                    py_int(cJSON_GetObjectItemCaseSensitive(q, "group_size"), &y) &&
                    (has_key(q, "desc_act") || has_key(q, "act_order"));
    if (!standalone) {
        if (!strcmp(ml, "awq")) return awq_label(q, buf, n);
        if (!strcmp(ml, "gptq")) return gptq_label(q, buf, n);
        if (awq_sig) return awq_label(q, buf, n);
        if (gptq_sig) return gptq_label(q, buf, n);
        return false;
    }
    if (awq_sig || (m && !strcmp(m, "awq")))
        return awq_label(q, buf, n);
    if (gptq_sig || (m && !strcmp(m, "gptq")))
        return gptq_label(q, buf, n);
    if (has_key(q, "bnb_4bit_compute_dtype") || (m && !strcmp(m, "bitsandbytes"))) {
        snprintf(buf, n, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "load_in_4bit")) ? "bitsandbytes-4bit"
                       : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "load_in_8bit")) ? "bitsandbytes-8bit"
                       : "bitsandbytes");
        return true;
    }
    return false;
}

/* _QUANT_FILENAME_MAP, in its order: qN[_-]?... followed by a word
 * boundary ("\b": the next character is not [A-Za-z0-9_]) */
static bool name_token(const char *s, char *buf, size_t n)
{
    static const struct { const char *canon, *pat; } MAP[] = {
        { "q2_k", "q2?k" }, { "q3_k_s", "q3?k?s" }, { "q3_k_m", "q3?k?m" }, { "q3_k_l", "q3?k?l" },
        { "q4_0", "q4?0" }, { "q4_1", "q4?1" }, { "q4_k_m", "q4?k?m" }, { "q5_0", "q5?0" },
        { "q5_1", "q5?1" }, { "q5_k_m", "q5?k?m" }, { "q6_k", "q6?k" }, { "q8_0", "q8?0" },
        { "int4", "\\int4" }, { "int8", "\\int8" }, { "awq", "!awq" }, { "gptq", "!gptq" }, { "iq4_xs", "iq4?xs" },
    };
    for (size_t k = 0; k < sizeof MAP / sizeof MAP[0]; k++) {
        const char *pat = MAP[k].pat;
        char mode = (*pat == '\\' || *pat == '!') ? *pat++ : 0;
        for (size_t i = 0; s[i]; i++) {
            /* \bint4\b: a word boundary before; (?<![a-z0-9])awq: no letter/digit before */
            if (mode && i > 0 && (isalnum((unsigned char)s[i - 1]) || (mode == '\\' && s[i - 1] == '_')))
                continue;
            size_t j = i;
            const char *p = pat;
            for (; *p; p++) {
                if (*p == '?') {   /* [_-]? */
                    if (s[j] == '_' || s[j] == '-')
                        j++;
                    continue;
                }
                if (tolower((unsigned char)s[j]) != *p)
                    break;
                j++;
            }
            if (*p)
                continue;
            bool after_ok = mode == '!' ? !isalnum((unsigned char)s[j])
                                        : !(isalnum((unsigned char)s[j]) || s[j] == '_');
            if (after_ok) {
                snprintf(buf, n, "%s", MAP[k].canon);
                return true;
            }
        }
    }
    return false;
}

/* _infer_fp_block */
static const char *fp_block(const cJSON *b)
{
    if (!cJSON_IsObject(b))
        return NULL;
    const char *keys[] = { "num_bits", "bits", "precision", "nbits" };
    long long bits = -1;
    for (size_t i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, keys[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0) &&
            !(cJSON_IsString(v) && !v->valuestring[0])) {
            if (!py_int(v, &bits))
                bits = -1;
            break;
        }
    }
    const char *t = iw_json_get_str(b, "type");
    if (!t)
        t = iw_json_get_str(b, "format");
    if (!t)
        return NULL;
    char d[32] = "";
    for (size_t i = 0; t[i] && i + 1 < sizeof d; i++)
        d[i] = (char)tolower((unsigned char)t[i]);
    bool fl = !strcmp(d, "float") || !strcmp(d, "fp") || !strcmp(d, "fp8") || !strcmp(d, "fp4") ||
              !strcmp(d, "float-quantized");
    if (bits == 4 && fl) return "fp4";
    if (bits == 8 && fl) return "fp8";
    if (bits == 16 && (!strcmp(d, "float") || !strcmp(d, "fp"))) return "fp16";
    if (bits == 16 && (!strcmp(d, "bfloat") || !strcmp(d, "bf16"))) return "bf16";
    if ((bits == 4 || bits == 8) && (!strcmp(d, "int") || !strcmp(d, "integer")))
        return bits == 4 ? "int4" : "int8";
    return NULL;
}

static const char *llmc_sections(const cJSON *c)
{
    const char *sec[] = { "weights", "input_activations", "output_activations" };
    for (size_t i = 0; cJSON_IsObject(c) && i < 3; i++) {
        const char *r = fp_block(cJSON_GetObjectItemCaseSensitive(c, sec[i]));
        if (r)
            return r;
    }
    return NULL;
}

/* _infer_llmc_quant (recipe.yaml read as text, the original's fallback
 * without PyYAML; with it, the first "scheme" value is searched the same way) */
static const char *llmc(const cJSON *q, const char *dir)
{
    const char *r = llmc_sections(q);
    if (r)
        return r;
    const cJSON *g, *groups = cJSON_GetObjectItemCaseSensitive(q, "config_groups");
    if (cJSON_IsObject(groups))
        cJSON_ArrayForEach(g, groups)
            if ((r = llmc_sections(g)))
                return r;
    const char *kv = iw_json_get_str(q, "kv_cache_scheme");
    if (kv && (!strcasecmp(kv, "fp8") || !strcasecmp(kv, "fp4")))
        return !strcasecmp(kv, "fp8") ? "fp8" : "fp4";
    (void)dir;   /* recipe.yaml (LLM Compressor) is not read: see docs/registry.md */
    return NULL;
}

/* No folder evidence (a config below the top, a registration without the
 * folder): the record's quantization in the original's words. */
static int arch_label(const iw_arch *a, char *buf, size_t bufsz)
{
    const iw_quant *q = &a->quantization;
    const char *m = q->method;
    if (m && !strcasecmp(m, "gptq")) {
        if (q->bits > 0 && q->bits == floor(q->bits))
            snprintf(buf, bufsz, "gptq-int%d", (int)q->bits);
        else
            snprintf(buf, bufsz, "gptq");
    } else if (m && !strcasecmp(m, "compressed-tensors") && q->bits > 0) {
        bool fl = (q->format && strstr(q->format, "float")) || (q->format && strstr(q->format, "nvfp4"));
        snprintf(buf, bufsz, "%s%d", fl ? "fp" : "int", (int)q->bits);
    } else if (m && *m && strcasecmp(m, "none") != 0) {
        size_t k = 0;
        for (; m[k] && k + 1 < bufsz; k++)
            buf[k] = (char)tolower((unsigned char)m[k]);
        buf[k] = 0;
    } else if (a->torch_dtype) {
        const char *dt = a->torch_dtype;
        if (!strcasecmp(dt, "bfloat16") || !strcasecmp(dt, "bf16")) snprintf(buf, bufsz, "bf16");
        else if (!strcasecmp(dt, "float16") || !strcasecmp(dt, "fp16") || !strcasecmp(dt, "f16")) snprintf(buf, bufsz, "fp16");
        else if (!strcasecmp(dt, "float32") || !strcasecmp(dt, "fp32") || !strcasecmp(dt, "f32")) snprintf(buf, bufsz, "fp32");
        else return 0;
    } else {
        return 0;
    }
    return 1;
}

int iw_registry_original_quant(const char *dir, const iw_reg_file *files, size_t n, const iw_arch *a,
                               char *buf, size_t bufsz)
{
    buf[0] = 0;
    /* GGUF: the quant type in the original's vocabulary (level 1 maps the
     * GGUF type names, level 4 the same tokens from file names) */
    if (a && iw_arch_is_gguf(a)) {
        const char *l = a->quantization.label;
        if (!l || !*l)
            return 0;
        if (!strcasecmp(l, "F16")) snprintf(buf, bufsz, "fp16");
        else if (!strcasecmp(l, "F32")) snprintf(buf, bufsz, "fp32");
        else if (!strcasecmp(l, "BF16")) snprintf(buf, bufsz, "bf16");
        else {
            size_t k = 0;
            for (; l[k] && k + 1 < bufsz; k++)
                buf[k] = (char)tolower((unsigned char)l[k]);
            buf[k] = 0;
        }
        return 1;
    }
    int level = 999;
    cJSON *cfg = read_json_in(dir, "config.json");
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config");
    if (cJSON_IsObject(qc) && level2(qc, false, buf, bufsz))
        level = 2;
    cJSON *awq = read_json_in(dir, "awq_config.json");
    if (awq && awq_label(awq, buf, bufsz))
        level = 2;
    cJSON_Delete(awq);
    if (level > 2) {
        const char *qf[] = { "quantize_config.json", "quantization_config.json", "quant_config.json" };
        for (size_t i = 0; i < 3 && level > 2; i++) {
            cJSON *q = read_json_in(dir, qf[i]);
            if (q) {
                if (level2(q, true, buf, bufsz))
                    level = 2;
                cJSON_Delete(q);
                break;   /* the first such file only */
            }
        }
    }
    if (level > 4) {
        const char *base = dir ? strrchr(dir, '/') : NULL;
        base = base ? base + 1 : dir;
        if (base && name_token(base, buf, bufsz))
            level = 4;
        for (size_t i = 0; level > 4 && i < n; i++) {
            const char *fn = files[i].path ? strrchr(files[i].path, '/') : NULL;
            fn = fn ? fn + 1 : files[i].path;
            if (fn && name_token(fn, buf, bufsz))
                level = 4;
        }
    }
    if (level > 5 && cJSON_IsObject(qc)) {
        const char *m = iw_json_get_str(qc, "quant_method");
        const char *d = llmc(qc, dir);
        if (m && *m) {
            size_t k = 0;
            if (d)
                snprintf(buf, bufsz, "%s", d);
            else {
                for (; m[k] && k + 1 < bufsz; k++)
                    buf[k] = (char)tolower((unsigned char)m[k]);
                buf[k] = 0;
            }
            level = 5;
        } else if (d) {
            snprintf(buf, bufsz, "%s", d);
            level = 5;
        } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(qc, "load_in_4bit"))) {
            snprintf(buf, bufsz, "bitsandbytes-4bit");
            level = 5;
        } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(qc, "load_in_8bit"))) {
            snprintf(buf, bufsz, "bitsandbytes-8bit");
            level = 5;
        }
    }
    if (level > 6 && cfg) {
        const char *dt = iw_json_get_str(cfg, "torch_dtype");
        if (!dt)
            dt = iw_json_get_str(cJSON_GetObjectItemCaseSensitive(cfg, "model_kwargs"), "torch_dtype");
        if (!dt)
            dt = iw_json_get_str(cfg, "dtype");
        if (dt && (!strcasecmp(dt, "bfloat16") || !strcasecmp(dt, "bf16")))
            snprintf(buf, bufsz, "bf16"), level = 6;
        else if (dt && (!strcasecmp(dt, "float16") || !strcasecmp(dt, "half") || !strcasecmp(dt, "fp16")))
            snprintf(buf, bufsz, "fp16"), level = 6;
        else if (dt && (!strcasecmp(dt, "float32") || !strcasecmp(dt, "fp32")))
            snprintf(buf, bufsz, "fp32"), level = 6;
    }
    cJSON_Delete(cfg);
    if (level == 999 && a)
        return arch_label(a, buf, bufsz);
    return level < 999;
}

/* ------------------------------------------------------------------
 * The original's slug (simplified_naming.py), its regular expressions
 * spelled out.  \w is [A-Za-z0-9_] plus every non-ASCII byte (Python's
 * Unicode word characters; registry names are ASCII in practice). */

static bool wc(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }
static bool sp(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* \b at i of s */
static bool wb(const char *s, size_t i)
{
    bool before = i > 0 && wc((unsigned char)s[i - 1]);
    bool after = s[i] && wc((unsigned char)s[i]);
    return before != after;
}

/* length of a match of rm_patterns[k] of _clean_family at i (0: none) */
static size_t clean_match(const char *s, size_t i, int k)
{
    if (!wb(s, i))
        return 0;
    if (k == 0 || k == 3) {
        static const char *const W0[] = { "gguf", "safetensors", NULL };
        static const char *const W3[] = { "awq", "gptq", "int4", "int8", "fp16", "bf16", "fp8", "nf4", "mxfp4",
                                          "mxfp8", NULL };
        for (const char *const *w = k ? W3 : W0; *w; w++) {
            size_t n = strlen(*w);
            if (!strncmp(s + i, *w, n) && wb(s, i + n))
                return n;
        }
        return 0;
    }
    if (s[i] != 'q' || !isdigit((unsigned char)s[i + 1]))
        return 0;
    size_t j = i + 2;
    char sep = k == 1 ? '_' : '-';
    if (s[j] == sep && s[j + 1] == 'k') {
        /* _k(?:_[sml])? greedy, then \b */
        if (s[j + 2] == sep && (s[j + 3] == 's' || s[j + 3] == 'm' || s[j + 3] == 'l') && wb(s, j + 4))
            return j + 4 - i;
        if (wb(s, j + 2))
            return j + 2 - i;
    }
    if (k == 1 && s[j] == '_' && (s[j + 1] == '0' || s[j + 1] == '1') && wb(s, j + 2))
        return j + 2 - i;
    return 0;
}

/* _clean_family after lower(): each pattern replaced by " ", whitespace
 * runs to one space and stripped, '@' '_' '/' to '-', runs of '-' to one,
 * '-' stripped */
static void clean_family(char *s)
{
    for (int k = 0; k < 4; k++) {
        size_t o = 0;
        for (size_t i = 0; s[i];) {
            size_t m = clean_match(s, i, k);
            if (m) {
                s[o++] = ' ';
                i += m;
            } else {
                s[o++] = s[i++];
            }
        }
        s[o] = 0;
    }
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (sp((unsigned char)s[i])) {
            if (o && s[o - 1] != ' ')
                s[o++] = ' ';
        } else {
            s[o++] = s[i];
        }
    }
    while (o && s[o - 1] == ' ')
        o--;
    s[o] = 0;
    o = 0;
    for (size_t i = 0; s[i]; i++) {
        char c = (s[i] == '@' || s[i] == '_' || s[i] == '/') ? '-' : s[i];
        if (c == '-' && o && s[o - 1] == '-')
            continue;
        s[o++] = c;
    }
    s[o] = 0;
    size_t b = 0;
    while (s[b] == '-')
        b++;
    memmove(s, s + b, strlen(s + b) + 1);
    o = strlen(s);
    while (o && s[o - 1] == '-')
        s[--o] = 0;
}

/* _extract_param_size: the digits of the first \b(\d{1,3})\s*b\b */
static bool param_size(const char *t, char out[8])
{
    for (size_t i = 0; t[i]; i++) {
        if (!wb(t, i) || !isdigit((unsigned char)t[i]))
            continue;
        size_t nd = 0;
        while (nd < 3 && isdigit((unsigned char)t[i + nd]))
            nd++;
        for (; nd >= 1; nd--) {   /* \d{1,3} backtracks, \s* takes what it can */
            size_t j = i + nd;
            while (sp((unsigned char)t[j]))
                j++;
            if (t[j] == 'b' && wb(t, j + 1)) {
                memcpy(out, t + i, nd);
                out[nd] = 0;
                return true;
            }
        }
    }
    return false;
}

int iw_registry_original_slug(const char *repo, const char *quantization, char **out)
{
    *out = NULL;
    if (!repo)
        return iw_error_set(IW_EINVAL, "slug: no repo name");
    /* _infer_family: the tail of the HF id, lower case, '@' '_' ' ' -> '-';
     * an empty one is "model" */
    const char *tail = strrchr(repo, '/');
    tail = tail ? tail + 1 : repo;
    size_t tl = strlen(tail);
    char *fam = malloc(tl + 8), *norm = malloc(tl + 8);
    if (!fam || !norm) {
        free(fam);
        free(norm);
        return iw_error_set(IW_ENOMEM, "slug: out of memory");
    }
    for (size_t i = 0; i <= tl; i++) {
        char c = (char)tolower((unsigned char)tail[i]);
        fam[i] = (c == '@' || c == '_' || c == ' ') ? '-' : c;
    }
    if (!*fam)
        snprintf(fam, tl + 8, "model");
    char param[8] = "";
    bool has_param = param_size(fam, param);
    snprintf(norm, tl + 8, "%s", fam);
    clean_family(norm);
    if (!*norm)
        snprintf(norm, tl + 8, "model");
    if (!has_param) {
        /* -(\d{1,3})b$ pulled into the size */
        size_t n = strlen(norm), d = 0;
        if (n >= 3 && norm[n - 1] == 'b') {
            while (d < n - 1 && isdigit((unsigned char)norm[n - 2 - d]))
                d++;
            if (d >= 1 && d <= 3 && n >= d + 2 && norm[n - 2 - d] == '-') {
                memcpy(param, norm + n - 1 - d, d);
                param[d] = 0;
                has_param = true;
                norm[n - 2 - d] = 0;
            }
        }
    }
    char pl[12];
    snprintf(pl, sizeof pl, "%sb", param);
    iw_buf b = IW_BUF_INIT(IW_BUF_UNCAPPED);
    iw_buf_puts(&b, norm);
    if (has_param && !strstr(norm, pl)) {
        iw_buf_putc(&b, ' ');
        iw_buf_puts(&b, pl);
    }
    free(fam);
    free(norm);
    char *base = iw_buf_detach(&b);
    if (!base)
        return iw_error_set(IW_ENOMEM, "slug: out of memory");
    /* base.strip().strip("-") */
    size_t s0 = 0, e0 = strlen(base);
    while (s0 < e0 && sp((unsigned char)base[s0]))
        s0++;
    while (e0 > s0 && sp((unsigned char)base[e0 - 1]))
        e0--;
    while (s0 < e0 && base[s0] == '-')
        s0++;
    while (e0 > s0 && base[e0 - 1] == '-')
        e0--;
    iw_buf d = IW_BUF_INIT(IW_BUF_UNCAPPED);
    iw_buf_append(&d, base + s0, e0 - s0);
    free(base);
    /* quantization: stripped, not "unknown", '_' and '-' as ' ', upper case */
    const char *q = quantization ? quantization : "";
    while (sp((unsigned char)*q))
        q++;
    size_t ql = strlen(q);
    while (ql && sp((unsigned char)q[ql - 1]))
        ql--;
    if (ql && !(ql == 7 && !strncasecmp(q, "unknown", 7))) {
        iw_buf_puts(&d, " (");
        for (size_t i = 0; i < ql; i++)
            iw_buf_putc(&d, (q[i] == '_' || q[i] == '-') ? ' ' : (char)toupper((unsigned char)q[i]));
        iw_buf_putc(&d, ')');
    }
    char *disp = iw_buf_detach(&d);
    if (!disp)
        return iw_error_set(IW_ENOMEM, "slug: out of memory");
    /* re.sub(r"\s+", " ", disp).strip().replace(" ", "_") */
    size_t o = 0, st = 0;
    while (sp((unsigned char)disp[st]))
        st++;
    for (size_t i = st; disp[i]; i++) {
        if (sp((unsigned char)disp[i])) {
            if (o && disp[o - 1] != ' ')
                disp[o++] = ' ';
        } else {
            disp[o++] = disp[i];
        }
    }
    while (o && disp[o - 1] == ' ')
        o--;
    disp[o] = 0;
    for (size_t i = 0; i < o; i++)
        if (disp[i] == ' ')
            disp[i] = '_';
    if (o > IW_REGISTRY_MAX_NAME - 8)
        disp[IW_REGISTRY_MAX_NAME - 8] = 0;
    *out = disp;
    return 0;
}
