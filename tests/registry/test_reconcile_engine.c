/* reconcile-architecture --engine-log against the library: matching a
 * start-up to its entry, the capped newest-first history, idempotence, and
 * that migrate keeps the history.  Logs: tests/fixtures/enginelog/ (real
 * lines, sources in its README.md) and small synthetic ones. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iwtest.h"
#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/schema.h"

static const char *REG =
    "[{\"name\": \"codellama-7b\", \"backend\": \"vllm\", \"download_path\": \"/models/codellama/CodeLlama-7b-hf\","
    " \"metadata\": {\"hf_repo_id\": \"codellama/CodeLlama-7b-hf\", \"architecture\": {\"num_layers\": 32,"
    " \"x_manual\": \"keep\"}}},"
    " {\"name\": \"qwen-a\", \"served_model_id\": \"qwen\", \"metadata\": {}},"
    " {\"name\": \"qwen-b\", \"served_model_id\": \"qwen\", \"metadata\": {}},"
    " {\"name\": \"gguf-dir\", \"backend\": \"llama.cpp\", \"download_path\": \"/models/bartowski/Mistral-GGUF\"}]";

static char *write_tmp(const char *dir, const char *name, const char *text)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    cr_assert_eq(iwt_write(p, text, strlen(text)), 0);
    return p;
}

static const cJSON *starts_of(iw_registry *r, const char *name)
{
    const cJSON *e = iw_registry_get(r, name);
    return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture"),
                               "measured_starts");
}

static void free_rep(iw_engine_reconcile_report *rep)
{
    cJSON_Delete(rep->changes);
    cJSON_Delete(rep->skipped_starts);
}

Test(reconcile_engine, matches_by_served_name_stores_once_dry_run_writes_nothing)
{
    char *dir = iwt_tmpdir("reg-eng");
    char *reg = write_tmp(dir, "model_registry.discovered.json", REG);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    const char *logs[] = { iwt_fixture("enginelog/vllm-0.19-codellama-7b.log") };
    char *orig = iwt_slurp(reg, NULL);
    iw_engine_reconcile_report rep;
    cr_assert_eq(iw_registry_reconcile_engine_logs(r, logs, 1, NULL, true, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.stored, 1);
    cr_assert_eq(cJSON_GetArraySize(rep.changes), 1);
    free_rep(&rep);
    char *now = iwt_slurp(reg, NULL);
    cr_assert_str_eq(now, orig, "dry run wrote");
    free(now);

    cr_assert_eq(iw_registry_reconcile_engine_logs(r, logs, 1, NULL, false, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.files, 1);
    cr_assert_eq(rep.starts, 1);
    cr_assert_eq(rep.stored, 1);
    cr_assert_eq(rep.skipped, 0);
    free_rep(&rep);
    const cJSON *ms = starts_of(r, "codellama-7b");
    cr_assert_eq(cJSON_GetArraySize(ms), 1);
    const cJSON *s0 = cJSON_GetArrayItem(ms, 0);
    cr_assert_str_eq(iw_json_get_str(s0, "engine_version"), "0.19.0");
    cr_assert_str_eq(iw_json_get_str(s0, "observed_from"), "log file modification time");
    const char *file = iw_json_get_str(cJSON_GetObjectItem(s0, "source"), "file");
    cr_assert(file && file[0] == '/' && strstr(file, "vllm-0.19-codellama-7b.log"), "%s", file);
    /* the entry keeps what it had */
    const cJSON *arch = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "codellama-7b"), "metadata"),
                                            "architecture");
    cr_assert_str_eq(iw_json_get_str(arch, "x_manual"), "keep");

    /* a second run changes nothing, even after the log is touched */
    char *before = iwt_slurp(reg, NULL);
    cr_assert_eq(iw_registry_reconcile_engine_logs(r, logs, 1, NULL, false, &rep), 0);
    cr_assert_eq(rep.stored, 0);
    cr_assert_eq(rep.unchanged, 1);
    free_rep(&rep);
    char *after = iwt_slurp(reg, NULL);
    cr_assert_str_eq(after, before);
    free(before);
    free(after);
    free(orig);
    free(reg);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

Test(reconcile_engine, ambiguous_and_unknown_are_skipped_name_decides)
{
    char *dir = iwt_tmpdir("reg-eng2");
    free(write_tmp(dir, "model_registry.discovered.json", REG));
    char *log = write_tmp(dir, "q.log",
                          "INFO x] non-default args: {'model': '/srv/qwen', 'served_model_name': ['qwen']}\n"
                          "INFO x] Model loading took 1.50 GiB and 3 seconds\n"
                          "INFO x] non-default args: {'model': 'nobody/here'}\n"
                          "INFO x] Model loading took 2.50 GiB and 3 seconds\n");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    const char *logs[] = { log };
    iw_engine_reconcile_report rep;
    cr_assert_eq(iw_registry_reconcile_engine_logs(r, logs, 1, NULL, false, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.starts, 2);
    cr_assert_eq(rep.stored, 0);
    cr_assert_eq(rep.skipped, 2);
    const cJSON *sk0 = cJSON_GetArrayItem(rep.skipped_starts, 0);
    cr_assert(strstr(iw_json_get_str(sk0, "reason"), "2 registry entries match ('qwen-a', 'qwen-b')"), "%s",
              iw_json_get_str(sk0, "reason"));
    cr_assert_eq(cJSON_GetObjectItem(sk0, "line")->valueint, 1);
    cr_assert(strstr(iw_json_get_str(cJSON_GetArrayItem(rep.skipped_starts, 1), "reason"), "give --name"));
    free_rep(&rep);
    cr_assert_null(starts_of(r, "qwen-a"));

    cr_assert_eq(iw_registry_reconcile_engine_logs(r, logs, 1, "qwen-b", false, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.stored, 2);
    free_rep(&rep);
    cr_assert_eq(cJSON_GetArraySize(starts_of(r, "qwen-b")), 2);
    cr_assert_lt(iw_registry_reconcile_engine_logs(r, logs, 1, "no-such", false, &rep), 0);
    cr_assert_str_eq(iw_error_last(), "no registry entry named 'no-such'");
    free_rep(&rep);
    free(log);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

Test(reconcile_engine, history_is_capped_newest_first_and_a_gguf_in_the_folder_matches)
{
    char *dir = iwt_tmpdir("reg-eng3");
    free(write_tmp(dir, "model_registry.discovered.json", REG));
    /* ten llama.cpp start-ups of a GGUF inside gguf-dir's folder, n_ctx 1024..10240 */
    char text[8192];
    size_t off = 0;
    for (int i = 1; i <= 10; i++)
        off += (size_t)snprintf(text + off, sizeof text - off,
                                "llama_model_loader: loaded meta data with 3 key-value pairs and 9 tensors from "
                                "/models/bartowski/Mistral-GGUF/m-Q4_K_M.gguf (version GGUF V3 (latest))\n"
                                "llama_context: n_ctx         = %d\n"
                                "llama_kv_cache:      CUDA0 KV buffer size =   %d.00 MiB\n", i * 1024, i * 128);
    char *log = write_tmp(dir, "l.log", text);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    const char *logs[] = { log };
    iw_engine_reconcile_report rep;
    cr_assert_eq(iw_registry_reconcile_engine_logs(r, logs, 1, NULL, false, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.starts, 10);
    cr_assert_eq(rep.stored, IW_MEASURED_STARTS_MAX);
    cr_assert_eq(rep.unchanged, 10 - IW_MEASURED_STARTS_MAX);
    cr_assert_eq(cJSON_GetArraySize(rep.changes), IW_MEASURED_STARTS_MAX);
    free_rep(&rep);
    const cJSON *ms = starts_of(r, "gguf-dir");
    cr_assert_eq(cJSON_GetArraySize(ms), IW_MEASURED_STARTS_MAX);
    /* same file time: the later start-up in the log is the newer */
    const cJSON *st0 = cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 0), "settings");
    const cJSON *st7 = cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 7), "settings");
    cr_assert_eq(cJSON_GetObjectItem(st0, "n_ctx")->valueint, 10240);
    cr_assert_eq(cJSON_GetObjectItem(st7, "n_ctx")->valueint, 3072);
    cr_assert_str_eq(iw_json_get_str(cJSON_GetArrayItem(ms, 0), "model"), "/models/bartowski/Mistral-GGUF/m-Q4_K_M.gguf");
    free(log);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

Test(reconcile_engine, an_unreadable_log_writes_nothing)
{
    char *dir = iwt_tmpdir("reg-eng4");
    char *reg = write_tmp(dir, "model_registry.discovered.json", REG);
    char *bad = write_tmp(dir, "bad.log", "GPU KV cache size: lots tokens\n");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    const char *logs[] = { iwt_fixture("enginelog/vllm-0.19-codellama-7b.log"), bad };
    char *orig = iwt_slurp(reg, NULL);
    iw_engine_reconcile_report rep;
    cr_assert_lt(iw_registry_reconcile_engine_logs(r, logs, 2, NULL, false, &rep), 0);
    cr_assert(strstr(iw_error_last(), "bad.log:1: 'GPU KV cache size' is not followed by a number"), "%s",
              iw_error_last());
    free_rep(&rep);
    char *now = iwt_slurp(reg, NULL);
    cr_assert_str_eq(now, orig);
    free(now);
    free(orig);
    free(reg);
    free(bad);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

Test(reconcile_engine, migrate_keeps_the_history)
{
    cJSON *old = cJSON_Parse("{\"num_layers\": 2, \"measured_starts\": [{\"engine\": \"vllm\"}]}");
    iw_arch a;
    iw_arch_init(&a);
    a.num_layers = 32;
    cJSON *out = iw_arch_to_json_keep(&a, old);
    cr_assert_not_null(out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(out, "measured_starts")), 1);
    cr_assert_eq(cJSON_GetObjectItem(out, "num_layers")->valueint, 32);
    cJSON_Delete(out);
    cJSON_Delete(old);
    iw_arch_free(&a);
}

Test(reconcile_engine, a_curated_architecture_gets_the_history_too)
{
    /* the merged view shows a curated entry's own metadata.architecture (the
     * original's merge), so the starts are written there as well */
    char *dir = iwt_tmpdir("reg-eng5");
    free(write_tmp(dir, "model_registry.discovered.json", REG));
    char *cur = write_tmp(dir, "model_registry.curated.json",
                          "[{\"name\": \"codellama-7b\", \"metadata\": {\"architecture\": {\"num_layers\": 32}}}]");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    const char *logs[] = { iwt_fixture("enginelog/vllm-0.19-codellama-7b.log") };
    iw_engine_reconcile_report rep;
    cr_assert_eq(iw_registry_reconcile_engine_logs(r, logs, 1, NULL, false, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.stored, 1);
    free_rep(&rep);
    cr_assert_eq(cJSON_GetArraySize(starts_of(r, "codellama-7b")), 1, "the merged view shows the history");
    const cJSON *ce = iw_registry_get_layer(r, IW_REG_CURATED, "codellama-7b");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ce, "metadata"),
                                                                            "architecture"), "measured_starts")), 1);
    const cJSON *de = iw_registry_get_layer(r, IW_REG_DISCOVERED, "codellama-7b");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(de, "metadata"),
                                                                            "architecture"), "measured_starts")), 1);
    /* and once only */
    cr_assert_eq(iw_registry_reconcile_engine_logs(r, logs, 1, NULL, false, &rep), 0);
    cr_assert_eq(rep.stored, 0);
    free_rep(&rep);
    free(cur);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}
