/* quant.c - quantization configs -> iw_arch.quantization.
 *
 * Sources: quantization_config / compression_config / MLX "quantization"
 * inside config.json (or its text_config), and the standalone GPTQ
 * quantize_config.json and AWQ quant_config.json files.  Effective bits per
 * quantized weight follow docs/formats/config.md (GPTQ b + (16+b)/G, AWQ the
 * same, fp8 8 + 32/block, bitsandbytes nf4 4.5 / double quant 4.127,
 * compressed-tensors per group, mxfp4 4.25, MLX b + 32/G).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/config.h"
#include "iwdl/json.h"
#include "config_internal.h"

static int set_q(iw_arch *a, const char *field, const char *where)
{
    return iw_arch_set_source(a, field, where);
}

static bool q_bool(const cJSON *o, const char *key, bool *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(it)) {
        *out = cJSON_IsTrue(it);
        return true;
    }
    if (cJSON_IsNumber(it) && (it->valuedouble == 0 || it->valuedouble == 1)) {
        *out = it->valuedouble != 0;
        return true;
    }
    return false;
}

/* bits in 1..64, group size -1 or 1..2^20 */
static bool q_bits(iw_arch *a, const cJSON *o, const char *key, const char *where, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it))
        return false;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble <= 0 || it->valuedouble > 64) {
        iw_arch_warn(a, "%s: key '%s' is not a bit width in 1..64; ignored", where, key);
        return false;
    }
    *out = it->valuedouble;
    return true;
}

static bool q_group(iw_arch *a, const cJSON *o, const char *key, const char *where, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t g;
    if (!it || cJSON_IsNull(it))
        return false;
    if (!iw_json_item_i64(it, &g) || cJSON_IsBool(it) || g == 0 || g < -1 || g > (1 << 20)) {
        iw_arch_warn(a, "%s: key '%s' is not a group size (-1 or 1..1048576); ignored", where, key);
        return false;
    }
    *out = g;
    return true;
}

static int set_method(iw_arch *a, const char *m, const char *where)
{
    int rc = iw_arch_set_str(&a->quantization.method, m);
    if (rc == 0)
        rc = set_q(a, "quantization.method", where);
    return rc;
}

static int set_format(iw_arch *a, const char *f, const char *where)
{
    if (!f)
        return 0;
    int rc = iw_arch_set_str(&a->quantization.format, f);
    if (rc == 0)
        rc = set_q(a, "quantization.format", where);
    return rc;
}

static int push_modules(iw_arch *a, const cJSON *arr)
{
    const cJSON *e;
    if (!cJSON_IsArray(arr))
        return 0;
    cJSON_ArrayForEach(e, arr) {
        if (a->quantization.modules_not_converted.n >= 4096)
            break;
        if (cJSON_IsString(e) && e->valuestring) {
            int rc = iw_strlist_push_unique(&a->quantization.modules_not_converted, e->valuestring);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int apply_gptq_awq(const cJSON *q, const char *where, iw_arch *a, bool awq)
{
    iw_quant *qt = &a->quantization;
    double b;
    int64_t g;
    bool v;
    if (q_bits(a, q, "bits", where, &b) || q_bits(a, q, "w_bit", where, &b)) {
        qt->bits = b;
        set_q(a, "quantization.bits", where);
    }
    if (q_group(a, q, "group_size", where, &g) || q_group(a, q, "q_group_size", where, &g)) {
        qt->group_size = g;
        set_q(a, "quantization.group_size", where);
    }
    if (q_bool(q, "desc_act", &v))
        qt->desc_act = v;
    if (q_bool(q, "sym", &v))
        qt->sym = v;
    if (q_bool(q, "zero_point", &v))
        qt->zero_point = v;
    else if (!awq && q_bool(q, "sym", &v))
        qt->zero_point = !v;
    const char *f = iw_json_get_str(q, awq ? "version" : "checkpoint_format");
    if (!f)
        f = iw_json_get_str(q, awq ? "checkpoint_format" : "format");
    if (!f && !awq)
        f = iw_json_get_str(q, "version");
    int rc = set_format(a, f, where);
    if (rc == 0)
        rc = push_modules(a, cJSON_GetObjectItemCaseSensitive(q, "modules_to_not_convert"));
    return rc;
}

static int apply_ct(const cJSON *q, const char *where, iw_arch *a)
{
    iw_quant *qt = &a->quantization;
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(q, "config_groups");
    int rc = set_format(a, iw_json_get_str(q, "format"), where);
    if (rc < 0)
        return rc;
    rc = push_modules(a, cJSON_GetObjectItemCaseSensitive(q, "ignore"));
    if (rc < 0)
        return rc;
    if (!cJSON_IsObject(groups)) {
        if (groups)
            iw_arch_warn(a, "%s: config_groups is not an object; ignored", where);
        return 0;
    }
    const cJSON *grp;
    cJSON_ArrayForEach(grp, groups) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(grp, "weights");
        double b;
        int64_t g;
        bool sym;
        if (!cJSON_IsObject(w))
            continue;
        if (q_bits(a, w, "num_bits", where, &b)) {
            qt->bits = b;
            set_q(a, "quantization.bits", where);
        }
        const char *strategy = iw_json_get_str(w, "strategy");
        if (q_group(a, w, "group_size", where, &g)) {
            qt->group_size = g;
            set_q(a, "quantization.group_size", where);
        } else if (strategy && (!strcmp(strategy, "channel") || !strcmp(strategy, "tensor"))) {
            qt->group_size = -1;
            set_q(a, "quantization.group_size", where);
        }
        if (q_bool(w, "symmetric", &sym)) {
            qt->sym = sym;
            qt->zero_point = !sym;
        }
        const char *type = iw_json_get_str(w, "type");
        if (type && !qt->detail) {
            char d[96];
            snprintf(d, sizeof(d), "%s%g%s%s", type, qt->bits > 0 ? qt->bits : 0.0,
                     strategy ? " " : "", strategy ? strategy : "");
            rc = iw_arch_set_str(&qt->detail, d);
            if (rc < 0)
                return rc;
        }
        break; /* the first group describes the bulk of the weights */
    }
    return 0;
}

/* Apply one quantization object.  default_method is used when the object
 * names none (MLX writes {bits, group_size} only). */
int iw_quant_apply_object(const cJSON *q, const char *where, iw_arch *a)
{
    iw_quant *qt = &a->quantization;
    const char *m = iw_json_get_str(q, "quant_method");
    int rc = 0;
    bool v;
    double b;

    if (!m && (cJSON_GetObjectItemCaseSensitive(q, "config_groups") ||
               (iw_json_get_str(q, "format") && cJSON_GetObjectItemCaseSensitive(q, "quantization_status"))))
        m = "compressed-tensors";
    if (!m && (cJSON_GetObjectItemCaseSensitive(q, "load_in_4bit") ||
               cJSON_GetObjectItemCaseSensitive(q, "load_in_8bit")))
        m = "bitsandbytes";
    if (!m && cJSON_GetObjectItemCaseSensitive(q, "bits") && cJSON_GetObjectItemCaseSensitive(q, "group_size") &&
        strstr(where, "quantization") && !cJSON_GetObjectItemCaseSensitive(q, "desc_act"))
        m = "mlx";
    if (!m) {
        const cJSON *prod = cJSON_GetObjectItemCaseSensitive(q, "producer");
        if (cJSON_IsObject(prod))
            m = "modelopt";
    }
    if (!m) {
        iw_arch_warn(a, "%s: quantization method not named (no quant_method); ignored", where);
        return 0;
    }

    /* normalise spellings */
    char meth[64];
    snprintf(meth, sizeof(meth), "%s", m);
    for (char *p = meth; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (!strcmp(meth, "compressed_tensors"))
        snprintf(meth, sizeof(meth), "compressed-tensors");
    if (!strcmp(meth, "bitsandbytes_4bit") || !strcmp(meth, "bitsandbytes_8bit") || !strcmp(meth, "bnb"))
        snprintf(meth, sizeof(meth), "bitsandbytes");

    rc = set_method(a, meth, where);
    if (rc < 0)
        return rc;

    if (!strcmp(meth, "gptq") || !strcmp(meth, "awq") || !strcmp(meth, "auto-round") ||
        !strcmp(meth, "marlin") || !strcmp(meth, "gptq_marlin")) {
        rc = apply_gptq_awq(q, where, a, !strcmp(meth, "awq"));
    } else if (!strcmp(meth, "fp8") || !strcmp(meth, "fbgemm_fp8")) {
        const cJSON *wb = cJSON_GetObjectItemCaseSensitive(q, "weight_block_size");
        qt->bits = 8;
        set_q(a, "quantization.bits", where);
        if (cJSON_IsArray(wb) && cJSON_GetArraySize(wb) == 2) {
            int64_t r0, r1;
            if (iw_json_item_i64(cJSON_GetArrayItem(wb, 0), &r0) &&
                iw_json_item_i64(cJSON_GetArrayItem(wb, 1), &r1) && r0 > 0 && r1 > 0 &&
                r0 <= 65536 && r1 <= 65536) {
                qt->group_size = r0 * r1;
                set_q(a, "quantization.group_size", where);
                char d[64];
                snprintf(d, sizeof(d), "block %lldx%lld", (long long)r0, (long long)r1);
                rc = iw_arch_set_str(&qt->detail, d);
            } else {
                iw_arch_warn(a, "%s: weight_block_size is not two positive integers; ignored", where);
            }
        } else if (wb && !cJSON_IsNull(wb)) {
            iw_arch_warn(a, "%s: weight_block_size is not a 2-element array; ignored", where);
        }
        const char *fmt = iw_json_get_str(q, "fmt");
        if (rc == 0)
            rc = set_format(a, fmt ? fmt : "e4m3", where);
        if (rc == 0)
            rc = push_modules(a, cJSON_GetObjectItemCaseSensitive(q, "modules_to_not_convert"));
    } else if (!strcmp(meth, "bitsandbytes")) {
        bool l4 = false, l8 = false;
        q_bool(q, "load_in_4bit", &l4);
        q_bool(q, "load_in_8bit", &l8);
        if (l4) {
            const char *t = iw_json_get_str(q, "bnb_4bit_quant_type");
            qt->bits = 4;
            if (q_bool(q, "bnb_4bit_use_double_quant", &v))
                qt->double_quant = v;
            rc = set_format(a, t ? t : "fp4", where);
        } else if (l8) {
            qt->bits = 8;
            rc = set_format(a, "int8", where);
        } else {
            iw_arch_warn(a, "%s: bitsandbytes config loads neither 4-bit nor 8-bit", where);
        }
        if (qt->bits > 0) {
            set_q(a, "quantization.bits", where);
            qt->group_size = l4 ? 64 : -1;
            set_q(a, "quantization.group_size", where);
        }
        if (rc == 0)
            rc = push_modules(a, cJSON_GetObjectItemCaseSensitive(q, "llm_int8_skip_modules"));
    } else if (!strcmp(meth, "compressed-tensors")) {
        rc = apply_ct(q, where, a);
    } else if (!strcmp(meth, "mxfp4")) {
        qt->bits = 4;
        qt->group_size = 32;
        set_q(a, "quantization.bits", where);
        set_q(a, "quantization.group_size", where);
        rc = push_modules(a, cJSON_GetObjectItemCaseSensitive(q, "modules_to_not_convert"));
    } else if (!strcmp(meth, "mlx")) {
        int64_t g;
        if (q_bits(a, q, "bits", where, &b)) {
            qt->bits = b;
            set_q(a, "quantization.bits", where);
        }
        if (q_group(a, q, "group_size", where, &g)) {
            qt->group_size = g;
            set_q(a, "quantization.group_size", where);
        }
    } else if (!strcmp(meth, "exl2")) {
        if (q_bits(a, q, "bits", where, &b)) {
            qt->bits = b;
            qt->effective_bits = b;
            set_q(a, "quantization.bits", where);
        }
    } else if (!strcmp(meth, "hqq")) {
        int64_t g;
        if (q_bits(a, q, "nbits", where, &b) || q_bits(a, q, "bits", where, &b)) {
            qt->bits = b;
            set_q(a, "quantization.bits", where);
        }
        if (q_group(a, q, "group_size", where, &g)) {
            qt->group_size = g;
            set_q(a, "quantization.group_size", where);
        }
    } else if (!strcmp(meth, "modelopt")) {
        const char *alg = iw_json_get_str(q, "quant_algo");
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(q, "quantization");
        if (!alg && cJSON_IsObject(inner))
            alg = iw_json_get_str(inner, "quant_algo");
        if (alg) {
            qt->bits = strcasestr(alg, "fp4") ? 4 : 8;
            set_q(a, "quantization.bits", where);
            rc = set_format(a, alg, where);
        }
    } else {
        /* known by name only: keep the method, bits when given */
        if (q_bits(a, q, "bits", where, &b)) {
            qt->bits = b;
            set_q(a, "quantization.bits", where);
        }
    }
    if (rc < 0)
        return rc;
    iw_quant_finish(a, where);
    return 0;
}

void iw_quant_finish(iw_arch *a, const char *where)
{
    iw_quant *qt = &a->quantization;
    const char *m = qt->method;
    double b = qt->bits, eff = NAN;
    int64_t g = qt->group_size;
    char label[64] = "";

    if (!m)
        return;
    double K = a->hidden_size > 0 ? (double)a->hidden_size : 4096.0;
    if (!strcmp(m, "gptq") || !strcmp(m, "awq") || !strcmp(m, "auto-round") || !strcmp(m, "gptq_marlin")) {
        if (b > 0) {
            eff = g > 0 ? b + (16.0 + b) / (double)g : b + (16.0 + b) / K;
            const char *up = !strcmp(m, "awq") ? "AWQ" : !strcmp(m, "auto-round") ? "AutoRound" : "GPTQ";
            if (g > 0)
                snprintf(label, sizeof(label), "%s-%gbit-g%lld", up, b, (long long)g);
            else
                snprintf(label, sizeof(label), "%s-%gbit", up, b);
        }
    } else if (!strcmp(m, "fp8") || !strcmp(m, "fbgemm_fp8")) {
        eff = g > 0 ? 8.0 + 32.0 / (double)g : 8.0;
        snprintf(label, sizeof(label), "FP8");
    } else if (!strcmp(m, "bitsandbytes")) {
        if (b == 4) {
            eff = qt->double_quant ? 4.0 + 8.0 / 64.0 + 32.0 / (64.0 * 256.0) : 4.5;
            snprintf(label, sizeof(label), "BNB-%s%s", qt->format && !strcasecmp(qt->format, "nf4") ? "NF4" : "FP4",
                     qt->double_quant ? "-DQ" : "");
        } else if (b == 8) {
            eff = 8.0 + 32.0 / K;
            snprintf(label, sizeof(label), "BNB-INT8");
        }
    } else if (!strcmp(m, "compressed-tensors")) {
        if (qt->format && strstr(qt->format, "nvfp4")) {
            eff = 4.5;
            snprintf(label, sizeof(label), "NVFP4");
        } else if (b > 0) {
            double extra = g > 0 ? 16.0 / (double)g + (qt->zero_point ? b / (double)g : 0) : 16.0 / K;
            eff = b + extra;
            bool fl = qt->detail && !strncmp(qt->detail, "float", 5);
            if (fl && b == 8)
                snprintf(label, sizeof(label), "FP8");
            else if (g > 0)
                snprintf(label, sizeof(label), "W%gA16-g%lld", b, (long long)g);
            else
                snprintf(label, sizeof(label), "W%g", b);
        }
    } else if (!strcmp(m, "mxfp4")) {
        eff = 4.25;
        snprintf(label, sizeof(label), "MXFP4");
    } else if (!strcmp(m, "mlx")) {
        if (b > 0) {
            eff = g > 0 ? b + 32.0 / (double)g : b;
            snprintf(label, sizeof(label), "MLX-%gbit", b);
        }
    } else if (!strcmp(m, "hqq")) {
        if (b > 0) {
            eff = g > 0 ? b + 32.0 / (double)g : b;
            snprintf(label, sizeof(label), "HQQ-%gbit", b);
        }
    } else if (!strcmp(m, "exl2")) {
        if (b > 0)
            snprintf(label, sizeof(label), "EXL2-%gbpw", b);
    } else if (!strcmp(m, "modelopt")) {
        eff = b == 4 ? 4.5 : 8.0;
        snprintf(label, sizeof(label), b == 4 ? "NVFP4" : "FP8");
    }
    if (isnan(qt->effective_bits) && !isnan(eff)) {
        qt->effective_bits = eff;
        iw_arch_set_source(a, "quantization.effective_bits", "formula");
    }
    if (!qt->label && label[0]) {
        iw_arch_set_str(&qt->label, label);
        iw_arch_set_source(a, "quantization.label", where);
    }
}

int iw_quant_config_parse(const char *text, size_t len, const char *source, iw_arch *a)
{
    cJSON *root = NULL;
    char *dup = NULL;
    int rc;

    if (!text || !a)
        return iw_error_set(IW_EINVAL, "iw_quant_config_parse: NULL argument");
    if (!source || !*source)
        source = "quantize_config.json";
    if (len > IW_CONFIG_MAX_BYTES)
        return iw_error_set(IW_ELIMIT, "%s: %zu bytes exceeds the cap of %u bytes", source, len,
                            IW_CONFIG_MAX_BYTES);
    if (iw_is_lfs_pointer(text, len))
        return iw_error_set(IW_EFORMAT, "%s: is a Git LFS pointer, the real file was not downloaded", source);
    /* parse a NUL-terminated copy: the bytes may come straight from a
     * reader or a fuzzer, and error messages quote the text */
    {
        char *copy = malloc(len + 1);
        if (!copy)
            return iw_error_set(IW_ENOMEM, "%s: out of memory", source);
        memcpy(copy, text, len);
        copy[len] = 0;
        rc = iw_json_parse(copy, len, source, &root, &dup);
        free(copy);
    }
    if (rc < 0)
        return rc;
    if (!cJSON_IsObject(root)) {
        rc = iw_error_set(IW_EFORMAT, "%s: top level is not a JSON object", source);
        goto cleanup;
    }
    if (dup)
        iw_arch_warn(a, "%s: duplicate key '%s' (the last value is used)", source, dup);
    if (a->quantization.method) {
        /* config.json's quantization_config wins; the standalone file is a fallback */
        rc = 0;
        goto cleanup;
    }
    {
        const char *m = iw_json_get_str(root, "quant_method");
        bool awq = (m && !strcasecmp(m, "awq")) ||
                   (!m && (cJSON_GetObjectItemCaseSensitive(root, "w_bit") ||
                           cJSON_GetObjectItemCaseSensitive(root, "q_group_size")));
        if (!m && !awq && !cJSON_GetObjectItemCaseSensitive(root, "bits")) {
            rc = iw_error_set(IW_EFORMAT, "%s: neither GPTQ (bits) nor AWQ (w_bit) quantization keys", source);
            goto cleanup;
        }
        if (m && strcasecmp(m, "gptq") && strcasecmp(m, "awq")) {
            rc = iw_quant_apply_object(root, source, a);
            goto cleanup;
        }
        rc = set_method(a, awq ? "awq" : "gptq", source);
        if (rc == 0)
            rc = apply_gptq_awq(root, source, a, awq);
        if (rc == 0 && isnan(a->quantization.bits)) {
            rc = iw_error_set(IW_EFORMAT, "%s: no valid bit width (%s)", source, awq ? "w_bit" : "bits");
            goto cleanup;
        }
        if (rc == 0)
            iw_quant_finish(a, source);
    }

cleanup:
    free(dup);
    cJSON_Delete(root);
    return rc;
}
