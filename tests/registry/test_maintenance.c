/* migrate (with a fake extractor) and reconcile against the library. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/registry.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

static char *write_tmp(const char *dir, const char *name, const char *text)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    cr_assert_eq(iwt_write(p, text, strlen(text)), 0);
    return p;
}

/* fake extractor: layers from the path's last character; "bad" fails */
static int fake_extract(const char *path, iw_arch *out, void *ctx)
{
    (void)ctx;
    if (strstr(path, "bad"))
        return iw_error_set(IW_ENOTFOUND, "%s: no such file or folder", path);
    out->num_layers = 10 + (path[strlen(path) - 1] - '0');
    iw_strlist_push(&out->sources, "config:fake");
    iw_arch_stamp_now(out);
    return 0;
}

static int g_progress;
static void count_progress(size_t done, size_t total, const char *name, void *ctx)
{
    cr_assert_eq(total, 4);
    cr_assert_lt(done, total);
    cr_assert_not_null(name);
    (*(int *)ctx)++;
}

static const char *REG =
    "[{\"name\":\"m1\",\"download_path\":\"/x/m1\",\"metadata\":{\"architecture\":{\"num_layers\":1,"
    "\"my_manual_note\":\"keep me\",\"runtime\":{\"runtime_context_tokens\":4096},\"sources\":[\"runtime-log\"]}}},"
    "{\"name\":\"m2\",\"download_path\":\"/x/bad\"},"
    "{\"name\":\"o\",\"download_path\":\"ollama:/qwen3:8b\"},"
    "{\"name\":\"m3\",\"download_path\":\"/x/m3\"}]";

Test(migrate, keeps_runtime_and_manual_fields_and_is_idempotent)
{
    char *dir = iwt_tmpdir("reg-mig");
    free(write_tmp(dir, "model_registry.discovered.json", REG));
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    iw_migrate_opts o = { .progress = count_progress, .progress_ctx = &g_progress };
    iw_migrate_report rep;
    cr_assert_eq(iw_registry_migrate(r, fake_extract, NULL, &o, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.candidates, 4, "an ollama: download_path is an install too");
    cr_assert_eq(rep.updated, 3);
    cr_assert_eq(rep.failed, 1);
    cJSON_Delete(rep.changes);
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "m1"), "metadata"), "architecture");
    cr_assert_eq(cJSON_GetObjectItem(a, "num_layers")->valueint, 11);
    cr_assert_str_eq(iw_json_get_str(a, "my_manual_note"), "keep me");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "runtime"), "runtime_context_tokens")->valueint, 4096);
    char *srcs = cJSON_PrintUnformatted(cJSON_GetObjectItem(a, "sources"));
    cr_assert_str_eq(srcs, "[\"config:fake\",\"runtime-log\"]");
    free(srcs);
    const cJSON *b = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "m2"), "metadata"), "architecture");
    char *w = cJSON_PrintUnformatted(cJSON_GetObjectItem(b, "warnings"));
    cr_assert(strstr(w, "migrate: /x/bad: no such file"), "%s", w);
    free(w);
    /* second run: nothing written */
    char *disc = NULL;
    cr_assert(asprintf(&disc, "%s/model_registry.discovered.json", dir) > 0);
    char *before = iwt_slurp(disc, NULL);
    cr_assert_eq(iw_registry_migrate(r, fake_extract, NULL, &o, &rep), 0);
    cr_assert_eq(rep.updated, 0);
    cr_assert_eq(rep.unchanged, 3);
    cJSON_Delete(rep.changes);
    char *after = iwt_slurp(disc, NULL);
    cr_assert_str_eq(after, before, "idempotent run rewrote the registry");
    /* --limit and --dry-run */
    cr_assert_eq(g_progress, 8, "progress once per install, two runs");
    iw_migrate_opts lim = { .dry_run = true, .force = true, .limit = 1 };
    cr_assert_eq(iw_registry_migrate(r, fake_extract, NULL, &lim, &rep), 0);
    cr_assert_eq(cJSON_GetArraySize(rep.changes), 1);
    cr_assert_eq(rep.updated, 1, "force reports the rewrite");
    cJSON_Delete(rep.changes);
    char *after2 = iwt_slurp(disc, NULL);
    cr_assert_str_eq(after2, before, "dry run wrote");
    free(before); free(after); free(after2); free(disc);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

/* records every path the extractor is given */
static int recording_extract(const char *path, iw_arch *out, void *ctx)
{
    iw_strlist *seen = ctx;
    iw_strlist_push(seen, path);
    return fake_extract(path, out, NULL);
}

static const char *OLLAMA_REG =
    "[{\"name\":\"a\",\"backend\":\"ollama\",\"download_path\":\"ollama:/tiny:1\",\"served_model_id\":\"tiny:1\","
    "\"metadata\":{\"architecture\":{\"sources\":[\"ollama:tiny:1\"],"
    "\"warnings\":[\"Model directory not found: ollama:/tiny:1\"],\"collected_at\":\"2025-11-06T22:32:45.240601+00:00\"}}},"
    "{\"name\":\"b\",\"backend\":\"ollama\",\"download_path\":null,\"served_model_id\":\"tiny:2\"},"
    "{\"name\":\"c\",\"backend\":\"ollama\",\"download_path\":\"ollama://gone:bad\",\"served_model_id\":\"tiny:3\"},"
    "{\"name\":\"d\",\"backend\":\"ollama\",\"download_path\":null,\"served_model_id\":\"None\"},"
    "{\"name\":\"e\",\"backend\":\"vllm\",\"download_path\":null,\"served_model_id\":\"tiny:5\"},"
    "{\"name\":\"f\",\"backend\":\"ollama\",\"download_path\":\"/x/bad\",\"served_model_id\":\"also-bad\"},"
    "{\"name\":\"g\",\"backend\":\"ollama\",\"download_path\":\"http://host/x\",\"served_model_id\":\"tiny:7\"}]";

/* Ollama entries: an ollama: download_path is extracted as it is; an entry
 * with backend "ollama" and no usable download_path goes by its
 * served_model_id, which is also the fallback when the path is not found. */
Test(migrate, ollama_entries_by_path_or_served_model_id)
{
    char *dir = iwt_tmpdir("reg-mig-ollama");
    free(write_tmp(dir, "model_registry.discovered.json", OLLAMA_REG));
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    iw_strlist seen = { 0 };
    iw_migrate_report rep;
    cr_assert_eq(iw_registry_migrate(r, recording_extract, &seen, NULL, &rep), 0, "%s", iw_error_last());
    char got[1024] = "";
    for (size_t i = 0; i < seen.n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", seen.v[i]);
    cr_assert_str_eq(got, "ollama:/tiny:1 ollama:tiny:2 ollama://gone:bad ollama:tiny:3 /x/bad ollama:also-bad "
                          "ollama:tiny:7");
    cr_assert_eq(rep.candidates, 5);
    cr_assert_eq(rep.skipped, 2, "served_model_id 'None' and a vllm entry are not Ollama models");
    cr_assert_eq(rep.updated, 4);
    cr_assert_eq(rep.failed, 1);
    cJSON_Delete(rep.changes);
    /* the original's warning-only record is replaced by the extracted one */
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "a"), "metadata"), "architecture");
    cr_assert_eq(cJSON_GetObjectItem(a, "num_layers")->valueint, 11);
    cr_assert_null(cJSON_GetObjectItem(a, "warnings"));
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "c"), "metadata"), "architecture");
    cr_assert_eq(cJSON_GetObjectItem(c, "num_layers")->valueint, 13, "fallback to served_model_id");
    const cJSON *f = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "f"), "metadata"), "architecture");
    char *w = cJSON_PrintUnformatted(cJSON_GetObjectItem(f, "warnings"));
    cr_assert(strstr(w, "migrate: /x/bad: no such file or folder; served_model_id also-bad: ollama:also-bad: no such"),
              "%s", w);
    free(w);
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "d"), "metadata"), "architecture"));
    iw_strlist_free(&seen);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

static const char *LOG =
    "{\"timestamp\":\"2025-11-06T22:00:00+00:00\",\"model\":\"m1\",\"backend\":\"vllm\",\"payload\":{\"source\":\"vllm-manager\",\"metrics\":{\"runtime_context_tokens\":1000},\"extra_args\":[\"a\"]}}\n"
    "{\"timestamp\":\"2025-11-06T23:00:00.5+01:00\",\"model\":\"m1\",\"payload\":{\"metrics\":{\"runtime_context_tokens\":2000}}}\n"  /* 22:00:00.5Z: newest */
    "{broken\n"
    "\n"
    "{\"timestamp\":\"yesterday\",\"model\":\"m1\",\"payload\":{}}\n"
    "{\"timestamp\":\"2025-11-06T22:00:00Z\",\"model\":\"m3\",\"payload\":{\"metrics\":{\"x\":1}}}\n"
    "{\"timestamp\":\"2025-11-06T22:00:00Z\",\"model\":\"m3\",\"payload\":{\"metrics\":{\"x\":2}}}\n"  /* tie: later line wins */
    "{\"timestamp\":\"2025-11-06T22:00:00Z\",\"model\":\"nobody\",\"payload\":{}}\n"
    "[1,2]\n"
    "{\"timestamp\":\"2025-11-06T22:00:00Z\",\"model\":\"m3\",\"payload\":{\"metrics\":[1]}}";

Test(reconcile, newest_wins_ties_by_line_malformed_counted_idempotent)
{
    char *dir = iwt_tmpdir("reg-rec");
    free(write_tmp(dir, "model_registry.discovered.json", REG));
    char *log = write_tmp(dir, "metrics.jsonl", LOG);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    iw_reconcile_report rep;
    /* dry run: reports, writes nothing */
    char *dpath = NULL;
    cr_assert(asprintf(&dpath, "%s/model_registry.discovered.json", dir) > 0);
    char *orig = iwt_slurp(dpath, NULL);
    cr_assert_eq(iw_registry_reconcile(r, log, true, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.updated, 2);
    cr_assert_eq(cJSON_GetArraySize(rep.changes), 2);
    cJSON_Delete(rep.changes);
    cJSON_Delete(rep.unknown_models);
    char *still = iwt_slurp(dpath, NULL);
    cr_assert_str_eq(still, orig, "dry run wrote");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
        iw_registry_get(r, "m3"), "metadata"), "architecture"), "runtime"), "dry run changed memory");
    free(still); free(orig); free(dpath);
    cr_assert_eq(iw_registry_reconcile(r, log, false, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.lines, 9);
    cr_assert_eq(rep.malformed, 4);
    cr_assert_eq(rep.models, 3);
    cr_assert_eq(rep.updated, 2);
    cr_assert_eq(rep.unknown, 1);
    cJSON_Delete(rep.changes);
    cJSON_Delete(rep.unknown_models);
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "m1"), "metadata"), "architecture");
    const cJSON *rt = cJSON_GetObjectItem(a, "runtime");
    cr_assert_eq(cJSON_GetObjectItem(rt, "runtime_context_tokens")->valueint, 2000);
    cr_assert_str_eq(iw_json_get_str(rt, "observed_at"), "2025-11-06T23:00:00.5+01:00");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(rt, "log"), "line")->valueint, 2);
    /* the original's merge_runtime_payload: source = payload.get("source", "runtime-log") */
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(rt, "source")), "runtime.source is not the original's string");
    cr_assert_str_eq(iw_json_get_str(a, "my_manual_note"), "keep me");
    int n_rl = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(a, "sources"))
        n_rl += strcmp(s->valuestring, "runtime-log") == 0;
    cr_assert_eq(n_rl, 1, "runtime-log added once");
    const cJSON *a3 = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "m3"), "metadata"), "architecture");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(a3, "runtime"), "x")->valueint, 2);
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(a3, "runtime"), "extra_args_snapshot"));
    /* second run changes nothing */
    char *disc = NULL;
    cr_assert(asprintf(&disc, "%s/model_registry.discovered.json", dir) > 0);
    char *before = iwt_slurp(disc, NULL);
    cr_assert_eq(iw_registry_reconcile(r, log, false, &rep), 0);
    cr_assert_eq(rep.updated, 0);
    cr_assert_eq(rep.unchanged, 2);
    cJSON_Delete(rep.changes);
    cJSON_Delete(rep.unknown_models);
    char *after = iwt_slurp(disc, NULL);
    cr_assert_str_eq(after, before);
    /* missing file: reported, not fatal */
    cr_assert_eq(iw_registry_reconcile(r, "/nonexistent/metrics.jsonl", false, &rep), 0);
    cr_assert(rep.missing_file);
    free(before); free(after); free(disc); free(log);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

Test(reconcile, iso8601)
{
    int64_t s;
    int32_t us;
    cr_assert_eq(iw_parse_iso8601("1970-01-01T00:00:01Z", &s, &us), 0);
    cr_assert_eq(s, 1);
    cr_assert_eq(iw_parse_iso8601("1970-01-01T01:00:00.25+01:00", &s, &us), 0);
    cr_assert_eq(s, 0);
    cr_assert_eq(us, 250000);
    cr_assert_eq(iw_parse_iso8601("2025-11-06T22:32:45.240601+00:00", &s, &us), 0);
    cr_assert_eq(us, 240601);
    cr_assert_lt(iw_parse_iso8601("2025-13-06T22:32:45", &s, &us), 0);
    cr_assert_lt(iw_parse_iso8601("2025-11-06T22:32:45+0100", &s, &us), 0);
    cr_assert_lt(iw_parse_iso8601("2025-11-06", &s, &us), 0);
}
