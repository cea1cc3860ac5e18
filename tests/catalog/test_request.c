/* An estimate request from its fields: the JSON body of serve's POST
 * /estimate, field by field, and the ranges the estimate command's flags
 * share with it (src/catalog/request.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

static int parse(const char *body, bool need_model, iw_estimate_request *rq, cJSON **tree)
{
    iw_catalog_estimate_request_init(rq);
    return iw_catalog_estimate_request_parse(body, strlen(body), need_model, rq, tree);
}

Test(catalog_request, every_field_lands_in_the_request)
{
    iw_estimate_request rq;
    cJSON *t = NULL;
    const char *body = "{\"model\":\"m\",\"engine\":\"vllm@0.8\",\"context\":8192,\"batch\":4,\"kv_dtype\":\"fp8\","
                       "\"tp\":2,\"gpu_util\":0.8,\"vram\":\"24GiB\",\"gpu\":\"rtx4090\",\"profile\":\"p\",\"params_b\":7,"
                       "\"dtype\":\"bf16\",\"quantization\":\"awq\",\"max_model_len\":4096,\"trust_remote_code\":true,"
                       "\"emit\":\"vllm\",\"port\":9000,\"max_num_batched_tokens\":2048,\"enforce_eager\":true,"
                       "\"ngl\":10,\"ubatch\":256,\"n_batch\":1024,\"llama_app\":\"cli\",\"flash_attn\":false,"
                       "\"max_num_seqs\":64,\"calibrate\":true}";
    cr_assert_eq(parse(body, true, &rq, &t), 0, "%s", iw_error_last());
    cr_assert_str_eq(rq.target, "m");
    cr_assert(rq.engine_set && rq.opts.engine == IW_ENGINE_VLLM && rq.opts.vllm_version > 0);
    cr_assert(rq.ctx_set && rq.opts.context == 8192);
    cr_assert(rq.batch_set && rq.opts.batch == 4);
    cr_assert_eq(rq.opts.tp, 2);
    cr_assert_float_eq(rq.opts.gpu_util, 0.8, 1e-12);
    cr_assert_eq(rq.opts.vram_bytes, (int64_t)24 << 30);
    cr_assert_str_eq(rq.gpu, "rtx4090");
    cr_assert_str_eq(rq.profile, "p");
    cr_assert_float_eq(rq.ov.params_b, 7.0, 1e-12);
    cr_assert_eq(rq.ov.dtype, IW_DTYPE_BF16);
    cr_assert_str_eq(rq.ov.quantization, "awq");
    cr_assert_eq(rq.ov.max_model_len, 4096);
    cr_assert(rq.ov.trust_remote_code && rq.opts.enforce_eager && rq.calibrate);
    cr_assert(rq.emit_set && rq.emit == IW_EMIT_VLLM);
    cr_assert_eq(rq.port, 9000);
    cr_assert_eq(rq.opts.max_num_batched_tokens, 2048);
    cr_assert_eq(rq.opts.max_num_seqs, 64);
    cr_assert_eq(rq.opts.n_gpu_layers, 10);
    cr_assert_eq(rq.opts.n_ubatch, 256);
    cr_assert_eq(rq.opts.n_batch, 1024);
    cr_assert_eq(rq.opts.llama_app, IW_LLAMA_CLI);
    cr_assert_eq(rq.opts.flash_attn, 0);
    cJSON_Delete(t);
}

Test(catalog_request, null_reads_as_absent)
{
    iw_estimate_request rq;
    cJSON *t = NULL;
    cr_assert_eq(parse("{\"model\":\"m\",\"context\":null,\"vram\":null,\"engine\":null}", true, &rq, &t), 0);
    cr_assert(!rq.ctx_set && !rq.engine_set);
    cr_assert_eq(rq.opts.vram_bytes, IW_UNKNOWN);
    cJSON_Delete(t);
}

/* Each wrong body is refused with one line naming the field, and no tree is kept. */
Test(catalog_request, a_wrong_field_is_named)
{
    static const struct { const char *body; bool need_model; const char *msg; } cases[] = {
        {"[1]", true, "the body must be a JSON object"},
        {"{\"model\":\"m\",\"bogus\":1}", true, "unknown field 'bogus'"},
        {"{}", true, "'model' (a registry name) is required"},
        {"{\"model\":\"\"}", true, "'model' (a registry name) is required"},
        {"{\"model\":5}", true, "'model' must be a string (at most 256 characters)"},
        {"{\"context\":0}", false, "'context' must be an integer in 1..2147483648"},
        {"{\"context\":1.5}", false, "'context' must be an integer in 1..2147483648"},
        {"{\"context\":\"8k\"}", false, "'context' must be an integer in 1..2147483648"},
        {"{\"batch\":2000000}", false, "'batch' must be an integer in 1..1048576"},
        {"{\"tp\":0}", false, "'tp' must be an integer in 1..1024"},
        {"{\"port\":70000}", false, "'port' must be an integer in 1..65535"},
        {"{\"ngl\":-1}", false, "'ngl' must be an integer in 0..100000"},
        {"{\"gpu_util\":1.5}", false, "'gpu_util' must be a fraction in (0, 1]"},
        {"{\"gpu_util\":\"0.9\"}", false, "'gpu_util' must be a fraction in (0, 1]"},
        {"{\"params_b\":0}", false, "'params_b' must be a positive number of billions"},
        {"{\"vram\":-5}", false, "'vram' must be a size (\"24GiB\") or a positive number of bytes"},
        {"{\"vram\":\"lots\"}", false, "'vram': "},
        {"{\"engine\":7}", false, "'engine' must be a string (at most 256 characters)"},
        {"{\"engine\":\"tgi\"}", false, "tgi"},
        {"{\"kv_dtype\":\"q2\"}", false, "q2"},
        {"{\"emit\":\"docker\"}", false, "docker"},
        {"{\"llama_app\":\"gui\"}", false, "gui"},
        {"{\"model\":\"a\\u0000b\"}", true, "u0000"},
        {"{\"model\":", true, "request body"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        iw_estimate_request rq;
        cJSON *t = (cJSON *)&rq;   /* must come back NULL */
        cr_expect_lt(parse(cases[i].body, cases[i].need_model, &rq, &t), 0, "%s was accepted", cases[i].body);
        cr_expect_null(t, "%s: a tree was kept", cases[i].body);
        cr_expect(strstr(iw_error_last(), cases[i].msg) != NULL, "%s: '%s' does not say '%s'", cases[i].body,
                  iw_error_last(), cases[i].msg);
        cr_expect(!strchr(iw_error_last(), '\n'), "%s: not one line", cases[i].body);
    }
}

Test(catalog_request, the_first_wrong_field_in_check_order_is_named)
{
    iw_estimate_request rq;
    cJSON *t = NULL;
    cr_assert_lt(parse("{\"port\":0,\"context\":0}", false, &rq, &t), 0);
    cr_assert(strstr(iw_error_last(), "'context'") != NULL, "%s", iw_error_last());
}

Test(catalog_request, a_bool_field_that_is_not_a_bool_is_refused)
{
    /* it used to be read as absent: {"enforce_eager": "true"} answered
     * for CUDA graphs without a word */
    const char *bodies[][2] = {
        { "{\"enforce_eager\":\"true\"}", "'enforce_eager' must be true or false" },
        { "{\"flash_attn\":\"on\"}", "'flash_attn' must be true or false" },
        { "{\"trust_remote_code\":1}", "'trust_remote_code' must be true or false" },
        { "{\"calibrate\":[]}", "'calibrate' must be true or false" },
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        iw_estimate_request rq;
        cJSON *t = NULL;
        cr_assert_lt(parse(bodies[i][0], false, &rq, &t), 0, "%s accepted", bodies[i][0]);
        cr_expect_str_eq(iw_error_last(), bodies[i][1]);
        cr_assert_null(t);
    }
    iw_estimate_request rq;
    cJSON *t = NULL;
    cr_assert_eq(parse("{\"enforce_eager\":true,\"flash_attn\":false,\"calibrate\":null}", false, &rq, &t), 0,
                 "%s", iw_error_last());
    cr_assert(rq.opts.enforce_eager);
    cr_assert_eq(rq.opts.flash_attn, 0);
    cJSON_Delete(t);
}

/* The setters the command line uses: the same ranges and names as the body. */
Test(catalog_request, setters_share_the_ranges)
{
    iw_estimate_request rq;
    iw_catalog_estimate_request_init(&rq);
    cr_assert_eq(iw_catalog_estimate_request_set_int(&rq, "context", (int64_t)1 << 31), 0);
    cr_assert(rq.ctx_set);
    cr_assert_lt(iw_catalog_estimate_request_set_int(&rq, "context", ((int64_t)1 << 31) + 1), 0);
    cr_assert_lt(iw_catalog_estimate_request_set_int(&rq, "gpu_util", 1), 0);
    cr_assert(strstr(iw_error_last(), "not an integer field") != NULL, "%s", iw_error_last());
    cr_assert_lt(iw_catalog_estimate_request_set_num(&rq, "params_b", INFINITY), 0);
    cr_assert_lt(iw_catalog_estimate_request_set_num(&rq, "gpu_util", 0), 0);
    cr_assert_eq(iw_catalog_estimate_request_set_num(&rq, "gpu_util", 1), 0);
    cr_assert_lt(iw_catalog_estimate_request_set_str(&rq, "mxfp4_backend", "cuda"), 0);
    cr_assert(strstr(iw_error_last(), "marlin, triton, flashinfer or cutlass") != NULL, "%s", iw_error_last());
    cr_assert_eq(iw_catalog_estimate_request_set_str(&rq, "mxfp4_backend", "triton"), 0);
    cr_assert_str_eq(rq.opts.mxfp4_backend, "triton");
    cr_assert_eq(iw_catalog_estimate_request_set_str(&rq, "vram", "16G"), 0);
    cr_assert_gt(rq.opts.vram_bytes, 0);
    cr_assert_lt(iw_catalog_estimate_request_set_str(&rq, "colour", "red"), 0);
}

Test(catalog_request, a_bad_text_or_size_names_its_field)
{
    /* the parsers' own messages say "kv dtype 'x'" or "--emit"; the body's
     * error names the JSON key first */
    const char *bodies[][2] = {
        { "{\"kv_dtype\":\"fp7\"}", "'kv_dtype'" },
        { "{\"emit\":\"docker\"}", "'emit'" },
        { "{\"llama_app\":\"gui\"}", "'llama_app'" },
        { "{\"dtype\":\"float7\"}", "'dtype'" },
        { "{\"engine\":\"tgi\"}", "'engine'" },
        { "{\"params_b\":1e9}", "'params_b'" },
        { "{\"vram\":9000000000000000000}", "'vram'" },
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        iw_estimate_request rq;
        cJSON *t = NULL;
        cr_assert_lt(parse(bodies[i][0], false, &rq, &t), 0, "%s accepted", bodies[i][0]);
        cr_expect(!strncmp(iw_error_last(), bodies[i][1], strlen(bodies[i][1])), "%s: %s", bodies[i][0], iw_error_last());
        cr_expect(!strchr(iw_error_last(), '\n'));
    }
}
