/* names.c - registry slugs in the original's style and quant labels. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/registry.h"
#include "iwdl/error.h"

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
