/* test_kv_rule.c - one KV accounting: inspect's kv_bytes_per_token
 * (src/extract/kv.c) and the estimator's per-layer classes
 * (src/estimate/estimate.c) both read layers through iw_arch_kv_layer, so
 * they agree on every config of the corpus and on the shapes that used to
 * differ (gemma-4's full-attention layers with their own head width). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/extract.h"
#include "iwtest.h"

/* inspect's figure and the estimator's (bf16, tp 1, no cross layers) */
static void both(iw_arch *a, int64_t *inspect, int64_t *est)
{
    cr_assert_eq(iw_arch_set_str(&a->kv_precision, "bf16"), 0);
    cr_assert_eq(iw_kv_per_token(a), 0, "%s", iw_error_last());
    *inspect = a->kv_bytes_per_token;
    cr_assert_eq(iw_estimate_kv_per_token(a, IW_KV_BF16, 1, est), 0, "%s", iw_error_last());
}

Test(kv_rule, gemma4_full_layers_same_in_inspect_and_estimate)
{
    /* sliding layers: 2 KV heads x 16; the full layer: 1 global KV head x 64.
     * The estimator used to size the full layer with the sliding layers'
     * heads (2 x 16), 2 x 2 x 32 x 2 + 2 x 32 x 2 = 384 B instead of 512 B. */
    const char *j = "{\"model_type\":\"gemma4\",\"text_config\":{\"model_type\":\"gemma4_text\","
                    "\"hidden_size\":64,\"num_hidden_layers\":3,\"num_attention_heads\":4,"
                    "\"num_key_value_heads\":2,\"head_dim\":16,\"global_head_dim\":64,"
                    "\"num_global_key_value_heads\":1,\"attention_k_eq_v\":true,\"sliding_window\":8,"
                    "\"layer_types\":[\"sliding_attention\",\"sliding_attention\",\"full_attention\"]}}";
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_config_parse(j, strlen(j), "config.json", &a), 0, "%s", iw_error_last());
    int64_t ins, est;
    both(&a, &ins, &est);
    cr_expect_eq(ins, 2LL * 2 * (16 + 16) * 2 + 1LL * (64 + 64) * 2);
    cr_expect_eq(est, ins, "estimate %lld, inspect %lld", (long long)est, (long long)ins);
    iw_arch_free(&a);
}

Test(kv_rule, every_corpus_config_agrees)
{
    const char *corpus = iwt_corpus_dir();
    if (!corpus)
        cr_skip_test("corpus absent: set IW_CORPUS_DIR or provide ../shared/corpus");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/configs", corpus);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    int checked = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192], cfg[8300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(cfg, sizeof cfg, "%s/config.json", path);
        struct stat st;
        if (stat(cfg, &st) != 0)
            continue;
        iw_arch a;
        iw_arch_init(&a);
        if (iw_extract_path(path, NULL, &a) == 0 && iw_arch_count_layers(&a, IW_LAYER_CROSS) == 0 &&
            a.attention.num_cross_layers <= 0 && iw_arch_set_str(&a.kv_precision, "bf16") == 0 &&
            iw_kv_per_token(&a) == 0) {
            int64_t est = -1;
            if (iw_estimate_kv_per_token(&a, IW_KV_BF16, 1, &est) == 0) {
                cr_expect_eq(est, a.kv_bytes_per_token, "%s: estimate %lld, inspect %lld", e->d_name,
                             (long long)est, (long long)a.kv_bytes_per_token);
                checked++;
            }
        }
        iw_arch_free(&a);
    }
    closedir(d);
    cr_expect(checked >= 60, "only %d corpus configs had both figures", checked);
}
