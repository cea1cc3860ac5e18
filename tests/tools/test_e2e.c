/* End to end through the CLI against fakehub on loopback:
 * download -> extract -> register, remote inspect by HTTP Range, tensor CSV. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "iwtest.h"
#include "hubtest.h"
#include "hubtest.c"

static iwt_hub hub;
static char *tmp;

static void setup(void)
{
    tmp = iwt_tmpdir("e2e");
    char root[4096];
    snprintf(root, sizeof root, "%s/hub", tmp);
    cr_assert_eq(iwt_hub_make_demo(root), 0);
    cr_assert_eq(iwt_hub_start(&hub, root, NULL), 0);
}

static void teardown(void)
{
    iwt_hub_stop(&hub);
    iwt_rm_rf(tmp);
    free(tmp);
}

static int cli(const char *args, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "HF_ENDPOINT='%s' HF_TOKEN=hf_e2eSecretToken42 HF_HOME='%s/hf' IMAGEWORKS_MODEL_ROOT='%s/models' "
             "IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' %s",
             hub.hub_url, tmp, tmp, tmp, iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

static cJSON *load(const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/reg/%s", tmp, name);
    char *s = iwt_slurp(p, NULL);
    cr_assert_not_null(s, "%s missing", name);
    cJSON *j = cJSON_Parse(s);
    cr_assert_not_null(j, "%s is not JSON", name);
    free(s);
    return j;
}

static const cJSON *only_entry(const cJSON *arr)
{
    cr_assert(cJSON_IsArray(arr));
    cr_assert_eq(cJSON_GetArraySize(arr), 1, "expected one entry");
    return cJSON_GetArrayItem(arr, 0);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert(cJSON_IsNumber(v), "missing number %s", k);
    return v->valuedouble;
}

Test(e2e, download_registers_entry_with_architecture, .init = setup, .fini = teardown, .timeout = 120)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(cli("download demo-org/tiny-llama --quiet", &out, &err), 0, "%s", err);
    free(out); free(err);
    /* again: nothing fetched, still one entry */
    cr_assert_eq(cli("download demo-org/tiny-llama --quiet", &out, &err), 0, "%s", err);
    free(out); free(err);

    cJSON *disc = load("model_registry.discovered.json");
    cJSON *merged = load("model_registry.json");
    for (int k = 0; k < 2; k++) {
        const cJSON *e = only_entry(k ? merged : disc);
        cr_assert_str_eq(cJSON_GetObjectItem(e, "backend")->valuestring, "vllm");
        cr_assert_str_eq(cJSON_GetObjectItem(e, "download_format")->valuestring, "safetensors");
        char want[4096];
        snprintf(want, sizeof want, "%s/models/demo-org/tiny-llama", tmp);
        cr_assert_str_eq(cJSON_GetObjectItem(e, "download_path")->valuestring, want);
        const cJSON *arch = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture");
        cr_assert_not_null(arch);
        cr_assert_eq(num(arch, "num_layers"), 2);
        cr_assert_eq(num(arch, "num_attention_heads"), 4);
        cr_assert_eq(num(arch, "num_kv_heads"), 2);
        cr_assert_eq(num(arch, "head_dim"), 16);
        cr_assert_eq(num(arch, "hidden_size"), 64);
        const cJSON *p = cJSON_GetObjectItem(arch, "parameters");
        /* 2 x (attn 12288 + mlp 24576 + norms 128) + final norm 64 + embed 16384 + lm_head 16384 */
        cr_assert_eq(num(p, "total"), 106816);
        cr_assert_str_eq(cJSON_GetObjectItem(p, "source")->valuestring, "safetensors");
        cr_assert_eq(num(arch, "weights_bytes"), 106816 * 4);
        const cJSON *art = cJSON_GetObjectItem(e, "artifacts");
        const cJSON *files = cJSON_GetObjectItem(art, "files");
        cr_assert_geq(cJSON_GetArraySize(files), 5);
        const cJSON *f;
        cJSON_ArrayForEach(f, files) {
            const cJSON *sha = cJSON_GetObjectItem(f, "sha256");
            cr_assert(cJSON_IsString(sha) && strlen(sha->valuestring) == 64,
                      "file without sha256: %s", cJSON_GetObjectItem(f, "path")->valuestring);
        }
        cr_assert_eq(strlen(cJSON_GetObjectItem(art, "aggregate_sha256")->valuestring), 64);
        /* the token never reaches the registry */
        char *txt = cJSON_PrintUnformatted(e);
        cr_assert_null(strstr(txt, "hf_e2eSecretToken42"));
        free(txt);
    }
    cJSON_Delete(disc);
    cJSON_Delete(merged);
    char p[4096];
    snprintf(p, sizeof p, "%s/reg/model_registry.curated.json", tmp);
    char *cur = iwt_slurp(p, NULL);
    if (cur) {   /* present or absent, it must never hold the download */
        cr_assert_null(strstr(cur, "tiny-llama"), "registration wrote into the curated layer");
        free(cur);
    }
    /* verify agrees with what was registered */
    cr_assert_eq(cli("verify", &out, &err), 0, "%s%s", out, err);
    free(out); free(err);
}

Test(e2e, remote_inspect_reads_headers_only, .init = setup, .fini = teardown, .timeout = 120)
{
    char *out = NULL, *err = NULL;
    iwt_hub_reset(&hub);
    cr_assert_eq(cli("inspect demo-org/tiny-llama --json", &out, &err), 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_assert_eq(num(j, "num_layers"), 2);
    const cJSON *p = cJSON_GetObjectItem(j, "parameters");
    cr_assert_eq(num(p, "total"), 106816);
    cr_assert_str_eq(cJSON_GetObjectItem(p, "source")->valuestring, "safetensors");
    double moved = num(j, "bytes_transferred");
    cr_assert_gt(moved, 0);
    cr_assert_lt(moved, 427264 / 2, "moved %.0f bytes: weights were fetched", moved);
    cJSON_Delete(j);
    free(out); free(err);
    /* every request for the weights file carried a Range header */
    cJSON *log = iwt_hub_log_json(&hub);
    cr_assert_not_null(log);
    const cJSON *r;
    int weight_reqs = 0;
    cJSON_ArrayForEach(r, log) {
        const char *path = cJSON_GetObjectItem(r, "path")->valuestring;
        const char *method = cJSON_GetObjectItem(r, "method")->valuestring;
        if (strcmp(method, "GET") == 0 && strstr(path, "/cdn/")) {
            const cJSON *range = cJSON_GetObjectItem(r, "range");
            cr_assert(cJSON_IsString(range) && range->valuestring[0], "GET %s without Range", path);
            weight_reqs++;
        }
    }
    cr_assert_gt(weight_reqs, 0);
    cJSON_Delete(log);
}

Test(e2e, tensor_csv_local_and_remote, .init = setup, .fini = teardown, .timeout = 120)
{
    char *out = NULL, *err = NULL, args[4200];
    cr_assert_eq(cli("download demo-org/tiny-llama --quiet --no-architecture", &out, &err), 0, "%s", err);
    free(out); free(err);
    snprintf(args, sizeof args, "inspect '%s/models/demo-org/tiny-llama' --tensors '%s/local.csv'", tmp, tmp);
    cr_assert_eq(cli(args, &out, &err), 0, "%s", err);
    free(out); free(err);
    snprintf(args, sizeof args, "inspect demo-org/tiny-llama --tensors '%s/remote.csv'", tmp);
    cr_assert_eq(cli(args, &out, &err), 0, "%s", err);
    free(out); free(err);
    char p[4096];
    snprintf(p, sizeof p, "%s/local.csv", tmp);
    char *local = iwt_slurp(p, NULL);
    snprintf(p, sizeof p, "%s/remote.csv", tmp);
    char *remote = iwt_slurp(p, NULL);
    cr_assert_not_null(local);
    cr_assert_not_null(remote);
    cr_assert(strncmp(local, "kind,name,shape,dtype\n", 22) == 0, "%.60s", local);
    cr_assert_str_eq(local, remote, "local and remote listings differ");
    /* 2 layers x 9 tensors + embed + final norm + lm_head = 21 rows */
    int rows = 0;
    for (char *c = local; *c; c++)
        rows += *c == '\n';
    cr_assert_eq(rows, 22, "rows: %d\n%s", rows, local);
    cr_assert(strstr(local, "safetensors,model.layers.0.self_attn.k_proj.weight,32x64,F32\n"), "%s", local);
    free(local);
    free(remote);
}

/* The record of a repo read remotely (HTTP Range) and of the same files
 * downloaded are one pipeline's answer (iw_inspect over two providers):
 * equal apart from where the files were (sources), when, and the bytes
 * moved.  A GGUF repo, whose remote reading once had its own rules (no
 * llama.cpp KV default, another warning). */
#include "../extract/gguf_testwriter.h"

/* inspect --json of `what`, with `what` itself written as MODEL in the
 * warnings (they name the folder or the repo) */
static cJSON *record_of(const char *what)
{
    char *out = NULL, *err = NULL, args[4400];
    snprintf(args, sizeof args, "inspect '%s' --json", what);
    cr_assert_eq(cli(args, &out, &err), 0, "%s: %s", args, err);
    for (char *m; (m = strstr(out, what)); )
        memmove(m + 5, m + strlen(what), strlen(m + strlen(what)) + 1), memcpy(m, "MODEL", 5);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    free(out); free(err);
    cJSON_DeleteItemFromObject(j, "sources");
    cJSON_DeleteItemFromObject(j, "collected_at");
    cJSON_DeleteItemFromObject(j, "bytes_transferred");
    return j;
}

Test(e2e, remote_and_local_records_agree, .init = setup, .fini = teardown, .timeout = 120)
{
    char p[4200], args[4400];
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 2, 5);
    gw_kv_str(&w, "general.architecture", "llama");
    gw_kv_u32(&w, "llama.block_count", 1);
    gw_kv_u32(&w, "llama.embedding_length", 64);
    gw_kv_u32(&w, "llama.attention.head_count", 4);
    gw_kv_u32(&w, "llama.context_length", 2048);
    gw_t t[] = { { "token_embd.weight", 2, { 64, 100 }, 0 }, { "blk.0.attn_q.weight", 2, { 64, 64 }, 1 } };
    gw_tensors(&w, t, 2, 32);
    snprintf(p, sizeof p, "%s/hub/t-org/tiny-gguf/tiny-7B.F16.gguf", tmp);
    cr_assert_eq(iwt_write(p, w.p, w.len), 0);
    snprintf(p, sizeof p, "%s/hub/t-org/tiny-gguf/tiny-7B.Q8_0.gguf", tmp);
    cr_assert_eq(iwt_write(p, w.p, w.len), 0);
    gw_free(&w);
    const char *repos[] = { "demo-org/tiny-llama", "t-org/tiny-gguf" };
    for (size_t i = 0; i < 2; i++) {
        char *out = NULL, *err = NULL;
        snprintf(args, sizeof args, "download %s --quiet --no-architecture", repos[i]);
        cr_assert_eq(cli(args, &out, &err), 0, "%s", err);
        free(out); free(err);
        cJSON *remote = record_of(repos[i]);
        snprintf(p, sizeof p, "%s/models/%s", tmp, repos[i]);
        cJSON *local = record_of(p);
        char *r = cJSON_PrintUnformatted(remote), *l = cJSON_PrintUnformatted(local);
        /* the local folder is named after the repo, so the name checks agree too */
        cr_expect(strcmp(r, l) == 0, "%s: remote and local records differ:\n%s\n%s", repos[i], r, l);
        free(r); free(l);
        cJSON_Delete(remote);
        cJSON_Delete(local);
    }
}
