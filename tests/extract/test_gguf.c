/* test_gguf.c - the GGUF reader on generated files: every version, byte
 * order and value type, prefix growth, and one test per failure class. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/gguf.h"
#include "gguf_testwriter.h"
#include "iwtest.h"

static int parse_w(const gw *w, size_t len, const iw_gguf_opts *o, iw_gguf **g)
{
    iw_source s;
    iw_source_from_buffer(&s, w->p, len, "t.gguf");
    int rc = iw_gguf_parse(g, &s, o);
    iw_source_close(&s);
    return rc;
}

/* parse expecting failure; returns the code, checks the message is one line
 * naming the source and an offset or a key */
static int parse_fail(const gw *w, size_t len, const iw_gguf_opts *o)
{
    iw_gguf *g = (iw_gguf *)1;
    iw_error_clear();
    int rc = parse_w(w, len, o, &g);
    cr_assert_lt(rc, 0, "expected failure, got %d", rc);
    cr_assert_null(g);
    const char *m = iw_error_last();
    cr_assert(strncmp(m, "t.gguf: ", 8) == 0, "message: %s", m);
    cr_assert_null(strchr(m, '\n'), "one line: %s", m);
    cr_assert(strstr(m, "offset") || strstr(m, "key '") || strstr(m, "tensor '"), "names where: %s", m);
    return rc;
}

/* ---- every value type, every version and byte order ----------------------- */

static void write_all_types(gw *w)
{
    gw_header(w, 0, 16);
    gw_key(w, "t.u8", 0); gw_u8(w, 200);
    gw_key(w, "t.i8", 1); gw_u8(w, (uint8_t)-5);
    gw_key(w, "t.u16", 2); gw_u16(w, 60000);
    gw_key(w, "t.i16", 3); gw_u16(w, (uint16_t)-300);
    gw_kv_u32(w, "t.u32", 4000000000u);
    gw_kv_i32(w, "t.i32", -70000);
    gw_kv_f32(w, "t.f32", 1.5f);
    gw_kv_bool(w, "t.bool", true);
    gw_kv_str(w, "t.str", "hello");
    gw_kv_u64(w, "t.u64", 1ULL << 40);
    gw_key(w, "t.i64", 11); gw_u64(w, (uint64_t)-(1LL << 40));
    gw_key(w, "t.f64", 12); gw_f64(w, 2.25);
    /* [[1, 2], ["x"]] */
    gw_kv_arr(w, "t.nested", 9, 2);
    gw_u32(w, 5); gw_size(w, 2); gw_u32(w, 1); gw_u32(w, 2);
    gw_u32(w, 8); gw_size(w, 1); gw_str(w, "x");
    const char *toks[] = { "<s>", "", "three" };
    gw_kv_arr_str(w, "t.strs", toks, 3);
    int32_t iv[] = { 7, -8, 9 };
    gw_kv_arr_i32(w, "t.ints", iv, 3);
    gw_kv_arr(w, "t.f64s", 12, 2); gw_f64(w, -1.25); gw_f64(w, 1e300);
}

Test(gguf, all_value_types_every_version_and_byte_order)
{
    for (int v = 1; v <= 3; v++)
        for (int be = 0; be <= 1; be++) {
            gw w;
            gw_init(&w, v, be);
            write_all_types(&w);
            iw_gguf *g = NULL;
            cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0, "v%d be%d: %s", v, be, iw_error_last());
            cr_assert_eq(iw_gguf_version(g), (uint32_t)v);
            cr_assert_eq(iw_gguf_big_endian(g), be);
            cr_assert_eq(iw_gguf_kv_count(g), 16);
            int64_t i;
            uint64_t u;
            double d;
            bool b;
            const char *s;
            size_t l;
            cr_assert_eq(iw_gguf_get_int(g, "t.u8", &i), 0); cr_assert_eq(i, 200);
            cr_assert_eq(iw_gguf_get_int(g, "t.i8", &i), 0); cr_assert_eq(i, -5);
            cr_assert_eq(iw_gguf_get_int(g, "t.u16", &i), 0); cr_assert_eq(i, 60000);
            cr_assert_eq(iw_gguf_get_int(g, "t.i16", &i), 0); cr_assert_eq(i, -300);
            cr_assert_eq(iw_gguf_get_uint(g, "t.u32", &u), 0); cr_assert_eq(u, 4000000000u);
            cr_assert_eq(iw_gguf_get_int(g, "t.i32", &i), 0); cr_assert_eq(i, -70000);
            cr_assert_eq(iw_gguf_get_float(g, "t.f32", &d), 0); cr_assert_eq(d, 1.5);
            cr_assert_eq(iw_gguf_get_bool(g, "t.bool", &b), 0); cr_assert(b);
            cr_assert_eq(iw_gguf_get_str(g, "t.str", &s, &l), 0); cr_assert_str_eq(s, "hello"); cr_assert_eq(l, 5);
            cr_assert_eq(iw_gguf_get_uint(g, "t.u64", &u), 0); cr_assert_eq(u, 1ULL << 40);
            cr_assert_eq(iw_gguf_get_int(g, "t.i64", &i), 0); cr_assert_eq(i, -(1LL << 40));
            cr_assert_eq(iw_gguf_get_float(g, "t.f64", &d), 0); cr_assert_eq(d, 2.25);
            iw_gguf_type et;
            uint64_t n;
            cr_assert_eq(iw_gguf_get_array(g, "t.nested", &et, &n), 0);
            cr_assert_eq(et, IW_GGUF_ARRAY); cr_assert_eq(n, 2);
            cr_assert_eq(iw_gguf_get_array(g, "t.strs", &et, &n), 0);
            cr_assert_eq(et, IW_GGUF_STRING); cr_assert_eq(n, 3);
            cr_assert_eq(iw_gguf_array_str(g, "t.strs", 2, &s, &l), 0);
            cr_assert_eq(l, 5); cr_assert(memcmp(s, "three", 5) == 0);
            cr_assert_eq(iw_gguf_array_str(g, "t.strs", 1, &s, &l), 0); cr_assert_eq(l, 0);
            cr_assert_eq(iw_gguf_array_int(g, "t.ints", 1, &i), 0); cr_assert_eq(i, -8);
            cr_assert_eq(iw_gguf_array_float(g, "t.f64s", 1, &d), 0); cr_assert_eq(d, 1e300);
            cr_assert_eq(iw_gguf_array_int(g, "t.ints", 3, &i), IW_EINVAL);    /* out of range */
            /* type mismatches are errors naming the key */
            cr_assert_eq(iw_gguf_get_int(g, "t.str", &i), IW_EFORMAT);
            cr_assert(strstr(iw_error_last(), "'t.str'"));
            cr_assert_eq(iw_gguf_get_uint(g, "t.i8", &u), IW_EFORMAT);     /* negative */
            cr_assert_eq(iw_gguf_get_str(g, "t.u8", &s, &l), IW_EFORMAT);
            cr_assert_eq(iw_gguf_array_int(g, "t.strs", 0, &i), IW_EFORMAT);
            cr_assert_eq(iw_gguf_get_int(g, "absent", &i), IW_ENOTFOUND);
            cr_assert_str_eq(iw_gguf_kv_key(g, 0), "t.u8");
            cr_assert_eq(iw_gguf_find_key(g, "t.f64s"), 15);
            iw_gguf_free(g);
            gw_free(&w);
        }
}

/* ---- a small model -------------------------------------------------------- */

static const gw_t small_tensors[] = {
    { "token_embd.weight", 2, { 256, 16 }, 12 },    /* Q4_K */
    { "output_norm.weight", 1, { 256 }, 0 },        /* F32 */
    { "output.weight", 2, { 256, 16 }, 14 },        /* Q6_K */
    { "blk.0.attn_q.weight", 2, { 256, 256 }, 12 },
    { "blk.0.attn_norm.weight", 1, { 256 }, 0 },
    { "blk.0.ffn_down.weight", 2, { 256, 64 }, 14 },
};
#define N_SMALL (sizeof small_tensors / sizeof small_tensors[0])

static void write_small(gw *w, int version, bool be, uint32_t file_type)
{
    gw_init(w, version, be);
    gw_header(w, N_SMALL, 8);
    gw_kv_str(w, "general.architecture", "llama");
    gw_kv_u32(w, "llama.block_count", 1);
    gw_kv_u32(w, "llama.embedding_length", 256);
    gw_kv_u32(w, "llama.attention.head_count", 4);
    gw_kv_u32(w, "llama.attention.head_count_kv", 1);
    gw_kv_u32(w, "general.file_type", file_type);
    gw_kv_f32(w, "llama.rope.scaling.factor", 4.0f);
    const char *toks[] = { "a", "b", "c" };
    gw_kv_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    gw_tensors(w, small_tensors, N_SMALL, 32);
}

static int64_t small_params(void)
{
    int64_t n = 0;
    for (size_t i = 0; i < N_SMALL; i++) {
        int64_t e = 1;
        for (uint32_t d = 0; d < small_tensors[i].nd; d++)
            e *= small_tensors[i].ne[d];
        n += e;
    }
    return n;
}

Test(gguf, tensors_params_bytes_and_mapping)
{
    for (int v = 1; v <= 3; v++)
        for (int be = 0; be <= 1; be++) {
            gw w;
            write_small(&w, v, be, 15);
            iw_gguf *g = NULL;
            cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0, "%s", iw_error_last());
            cr_assert_eq(iw_gguf_tensor_count(g), N_SMALL);
            cr_assert_eq(iw_gguf_param_count(g), small_params());
            int64_t bytes = 0;
            for (size_t i = 0; i < N_SMALL; i++)
                bytes += (int64_t)gw_tbytes(&small_tensors[i]);
            cr_assert_eq(iw_gguf_weight_bytes(g), bytes);
            const iw_gguf_tensor *t = iw_gguf_tensor_find(g, "output.weight");
            cr_assert(t);
            cr_assert_eq(t->type, 14);
            cr_assert_eq(t->ne[0], 256);
            cr_assert_eq(t->ne[1], 16);
            cr_assert_eq(t->n_bytes, 256 * 16 / 256 * 210);
            cr_assert_eq(iw_gguf_data_offset(g) % 32, 0);
            cr_assert_null(iw_gguf_tensor_find(g, "nope"));

            iw_arch a;
            iw_arch_init(&a);
            const iw_gguf *one[] = { g };
            cr_assert_eq(iw_gguf_to_arch(one, 1, &a), 0, "%s", iw_error_last());
            cr_assert_eq(a.parameters.total, small_params());
            cr_assert_eq(a.weights_bytes, bytes);
            cr_assert_eq(a.num_kv_heads, 1);
            cr_assert_eq(a.attention.type, IW_ATTN_MQA);
            cr_assert_eq(a.head_dim, 64);
            cr_assert_eq(a.vocab_size, 3);
            cr_assert_str_eq(a.quantization.label, "Q4_K_M");
            /* Q4_K: 256*16 + 256*256 elements = 69632/256*144 = 39168 bytes;
             * Q6_K: (4096 + 16384)/256*210 = 16800; F32: 512*4 = 2048;
             * of 58016 bytes: 67.5%, 29.0%, 3.5% */
            cr_assert_str_eq(a.quantization.detail, "Q4_K 68%, Q6_K 29%, F32 4%");
            cr_assert_eq(a.quantization.bits, 4);
            cr_assert_eq(a.warnings.n, 0);
            cr_assert_not_null(a.rope_scaling_json);
            cr_assert(strstr(a.rope_scaling_json, "\"factor\":4"), "%s", a.rope_scaling_json);
            cr_assert_not(a.tie_word_embeddings);
            iw_arch_free(&a);
            iw_gguf_free(g);
            gw_free(&w);
        }
}

Test(gguf, file_type_disagreeing_with_tensors_is_a_warning)
{
    gw w;
    write_small(&w, 3, false, 7);     /* says Q8_0, tensors are Q4_K/Q6_K */
    iw_gguf *g = NULL;
    cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0);
    iw_arch a;
    iw_arch_init(&a);
    const iw_gguf *one[] = { g };
    cr_assert_eq(iw_gguf_to_arch(one, 1, &a), 0);
    cr_assert_str_eq(a.quantization.label, "Q4_K");
    cr_assert_eq(a.warnings.n, 1);
    cr_assert(strstr(a.warnings.v[0], "Q8_0"), "%s", a.warnings.v[0]);
    iw_arch_free(&a);
    iw_gguf_free(g);
    gw_free(&w);
}

Test(gguf, formula_disagreement_warns_and_gguf_wins)
{
    gw w;
    write_small(&w, 3, false, 15);
    iw_gguf *g = NULL;
    cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0);
    iw_arch a;
    iw_arch_init(&a);
    a.parameters.total = small_params() * 2;
    iw_arch_set_str(&a.parameters.source, "formula");
    const iw_gguf *one[] = { g };
    cr_assert_eq(iw_gguf_to_arch(one, 1, &a), 0);
    cr_assert_eq(a.parameters.total, small_params());
    cr_assert_str_eq(a.parameters.source, "gguf");
    cr_assert_eq(a.warnings.n, 1);
    cr_assert(strstr(a.warnings.v[0], "formula"));
    iw_arch_free(&a);
    iw_gguf_free(g);
    gw_free(&w);
}

Test(gguf, csv_listing)
{
    gw w;
    write_small(&w, 3, false, 15);
    iw_gguf *g = NULL;
    cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(iw_gguf_write_tensors_csv_header(f), 0);
    cr_assert_eq(iw_gguf_write_tensors_csv(g, f), 0);
    fclose(f);
    cr_assert(strncmp(buf, "kind,name,shape,dtype\ngguf,token_embd.weight,256x16,Q4_K\n"
                           "gguf,output_norm.weight,256,F32\n", 80) == 0, "%s", buf);
    int lines = 0;
    for (char *p = buf; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 1 + (int)N_SMALL);
    free(buf);
    iw_gguf_free(g);
    gw_free(&w);
}

/* ---- prefix growth ----------------------------------------------------------- */

struct counting { const uint8_t *p; size_t len; unsigned calls; };
static int counting_read(void *ctx, uint64_t off, void *dst, size_t len, size_t *got)
{
    struct counting *c = ctx;
    c->calls++;
    *got = 0;
    if (off >= c->len)
        return 0;
    size_t n = c->len - (size_t)off < len ? c->len - (size_t)off : len;
    memcpy(dst, c->p + off, n);
    *got = n;
    return 0;
}

static void write_big_vocab(gw *w, size_t n_tokens, size_t data_bytes)
{
    gw_init(w, 3, false);
    gw_header(w, 1, 2);
    gw_kv_str(w, "general.architecture", "llama");
    gw_kv_arr(w, "tokenizer.ggml.tokens", 8, n_tokens);
    char tok[32];
    for (size_t i = 0; i < n_tokens; i++) {
        snprintf(tok, sizeof tok, "token-%zu", i);
        gw_str(w, tok);
    }
    gw_t t = { "x.weight", 1, { (int64_t)data_bytes / 4 }, 0 };
    gw_tensors(w, &t, 1, 32);
}

/* The prefix grows to where the pass estimates the header ends (bytes per
 * element so far x elements left in the tokenizer array or tensor table),
 * else doubles: a remote read moves about the header, not up to twice it,
 * in a few round trips, and never touches tensor data. */
Test(gguf, prefix_grows_to_the_estimated_header_end_and_never_reads_tensor_data)
{
    gw w;
    write_big_vocab(&w, 20000, 1 << 22);   /* ~420 KB header, 4 MiB data */
    for (int known = 0; known <= 1; known++) {
        struct counting c = { w.p, w.len, 0 };
        iw_source s;
        memset(&s, 0, sizeof s);
        s.read_at = counting_read;
        s.ctx = &c;
        s.size = known ? w.len : IW_SIZE_UNKNOWN;
        snprintf(s.name, sizeof s.name, "grow.gguf");
        iw_gguf_opts o = IW_GGUF_OPTS_INIT;
        o.prefix_bytes = 4096;
        iw_gguf *g = NULL;
        cr_assert_eq(iw_gguf_parse(&g, &s, &o), 0, "%s", iw_error_last());
        uint64_t hdr = iw_gguf_data_offset(g);
        /* 4 KiB, then the estimate of the 20,000-token array's end (+1/16 +
         * 64 KiB); doubling needed 8 fetches and up to twice the header */
        cr_assert_leq(iw_gguf_fetches(g), 3, "fetches %u", iw_gguf_fetches(g));
        cr_assert_eq(c.calls, iw_gguf_fetches(g));
        cr_assert_geq(iw_gguf_bytes_fetched(g), hdr - 64);
        cr_assert_leq(iw_gguf_bytes_fetched(g), hdr + hdr / 8 + 65536 + 4096, "fetched %llu for a %llu-byte header",
                      (unsigned long long)iw_gguf_bytes_fetched(g), (unsigned long long)hdr);
        cr_assert_lt(iw_gguf_bytes_fetched(g), (uint64_t)w.len / 4, "tensor data read");
        uint64_t n;
        cr_assert_eq(iw_gguf_get_array(g, "tokenizer.ggml.tokens", NULL, &n), 0);
        cr_assert_eq(n, 20000);
        const char *tok;
        size_t l;
        cr_assert_eq(iw_gguf_array_str(g, "tokenizer.ggml.tokens", 19999, &tok, &l), 0);
        cr_assert(l == 11 && memcmp(tok, "token-19999", 11) == 0);
        iw_gguf_free(g);
    }
    /* the default 1 MiB prefix reads it in one request */
    iw_gguf *g = NULL;
    cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0);
    cr_assert_eq(iw_gguf_fetches(g), 1);
    iw_gguf_free(g);
    gw_free(&w);
}

Test(gguf, header_cap_is_enforced)
{
    gw w;
    write_big_vocab(&w, 20000, 1024);
    iw_gguf_opts o = IW_GGUF_OPTS_INIT;
    o.max_header_bytes = 65536;
    cr_assert_eq(parse_fail(&w, w.len, &o), IW_ELIMIT);
    cr_assert(strstr(iw_error_last(), "cap"), "%s", iw_error_last());
    gw_free(&w);
}

/* ---- failure classes -------------------------------------------------------- */

Test(gguf_bad, magic_and_version)
{
    gw w;
    gw_init(&w, 3, false);
    gw_raw(&w, "GGUX", 4);
    gw_u32(&w, 3); gw_u64(&w, 0); gw_u64(&w, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "magic"));
    gw_free(&w);
    gw_init(&w, 4, false);
    gw_header(&w, 0, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EUNSUPPORTED);
    cr_assert(strstr(iw_error_last(), "version 4"));
    gw_free(&w);
}

Test(gguf_bad, truncation_at_every_offset)
{
    for (int v = 1; v <= 3; v++) {
        gw w;
        write_small(&w, v, v == 3, 15);
        for (size_t cut = 0; cut < w.len; cut++) {
            iw_gguf_opts o = IW_GGUF_OPTS_INIT;
            o.prefix_bytes = cut % 2 ? 16 : 0;     /* both the growth path and one fetch */
            int rc = parse_fail(&w, cut, &o);
            cr_assert_eq(rc, IW_EFORMAT, "v%d cut %zu: %s", v, cut, iw_error_last());
        }
        iw_gguf *g = NULL;
        cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0);
        iw_gguf_free(g);
        gw_free(&w);
    }
}

Test(gguf_bad, huge_string_length)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 0, 1);
    gw_u64(&w, 1ULL << 62);                         /* key length */
    gw_zeros(&w, 64);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_ELIMIT);
    cr_assert(strstr(iw_error_last(), "offset 24"), "%s", iw_error_last());
    gw_free(&w);

    gw_init(&w, 3, false);                          /* under the cap, past the end */
    gw_header(&w, 0, 1);
    gw_key(&w, "k", 8);
    gw_u64(&w, 1000000);
    gw_raw(&w, "abc", 3);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "past the end of the file"), "%s", iw_error_last());
    gw_free(&w);
}

Test(gguf_bad, huge_array_count)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 0, 1);
    gw_kv_arr(&w, "a", 4, 1ULL << 40);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_ELIMIT);
    cr_assert(strstr(iw_error_last(), "key 'a'"));
    gw_free(&w);

    gw_init(&w, 3, false);
    gw_header(&w, 0, 1);
    gw_kv_arr(&w, "a", 8, 1000000);                /* strings need >= 8 bytes each */
    gw_zeros(&w, 64);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "bytes left"), "%s", iw_error_last());
    gw_free(&w);
}

Test(gguf_bad, huge_counts)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 1ULL << 60, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_ELIMIT);
    gw_free(&w);
    gw_init(&w, 3, false);
    gw_header(&w, 1000, 1000);                      /* under the caps, not in 24 bytes */
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    gw_free(&w);
}

Test(gguf_bad, nesting_cap)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 0, 1);
    gw_kv_arr(&w, "deep", 9, 1);
    for (int i = 0; i < 6; i++) { gw_u32(&w, 9); gw_size(&w, 1); }
    gw_u32(&w, 4); gw_size(&w, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_ELIMIT);
    cr_assert(strstr(iw_error_last(), "nested"));
    gw_free(&w);
}

static void one_tensor_file(gw *w, uint32_t nd, const int64_t *ne, int32_t type)
{
    gw_init(w, 3, false);
    gw_header(w, 1, 0);
    gw_tensor(w, "t", nd, ne, type, 0);
    gw_pad(w, 32);
    gw_zeros(w, 256);
}

Test(gguf_bad, dims)
{
    gw w;
    int64_t big[4] = { 1LL << 31, 1LL << 31, 1LL << 31, 1LL << 31 };
    one_tensor_file(&w, 4, big, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "overflows"), "%s", iw_error_last());
    gw_free(&w);

    int64_t neg[2] = { 4, -1 };
    one_tensor_file(&w, 2, neg, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "negative"));
    gw_free(&w);

    int64_t five[5] = { 1, 1, 1, 1, 1 };
    one_tensor_file(&w, 5, five, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "dimensions"));
    gw_free(&w);

    int64_t odd[1] = { 100 };                      /* not a multiple of the Q4_K block */
    one_tensor_file(&w, 1, odd, 12);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "block size"));
    gw_free(&w);

    int64_t fits[2] = { 8, 1000 };                 /* 32000 bytes, file has 256 */
    one_tensor_file(&w, 2, fits, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "past the end of the file"));
    gw_free(&w);
}

Test(gguf_bad, alignment)
{
    struct { uint32_t type; uint64_t v; const char *msg; } cases[] = {
        { 4, 3, "power of two" }, { 4, 0, "power of two" }, { 10, 32, "expected UINT32" },
    };
    for (size_t i = 0; i < 3; i++) {
        gw w;
        gw_init(&w, 3, false);
        gw_header(&w, 0, 1);
        gw_key(&w, "general.alignment", cases[i].type);
        if (cases[i].type == 4)
            gw_u32(&w, (uint32_t)cases[i].v);
        else
            gw_u64(&w, cases[i].v);
        cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
        cr_assert(strstr(iw_error_last(), cases[i].msg), "%s", iw_error_last());
        cr_assert(strstr(iw_error_last(), "general.alignment"));
        gw_free(&w);
    }
    /* a valid non-default alignment is honoured */
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 2, 1);
    gw_kv_u32(&w, "general.alignment", 64);
    gw_t ts[] = { { "a", 1, { 4 }, 0 }, { "b", 1, { 4 }, 0 } };
    gw_tensors(&w, ts, 2, 64);
    iw_gguf *g = NULL;
    cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0, "%s", iw_error_last());
    cr_assert_eq(iw_gguf_alignment(g), 64);
    cr_assert_eq(iw_gguf_tensor_at(g, 1)->offset, 64);
    cr_assert_eq(iw_gguf_data_offset(g) % 64, 0);
    iw_gguf_free(g);
    gw_free(&w);
}

static void two_tensor_file(gw *w, uint64_t off2, int32_t type1)
{
    int64_t ne[1] = { 64 };
    gw_init(w, 3, false);
    gw_header(w, 2, 0);
    gw_tensor(w, "a", 1, ne, type1, 0);
    gw_tensor(w, "b", 1, ne, 0, off2);
    gw_pad(w, 32);
    gw_zeros(w, 1024);
}

Test(gguf_bad, offsets_overlap_gap_unaligned)
{
    gw w;
    two_tensor_file(&w, 0, 0);                      /* a is 256 bytes: b at 0 overlaps */
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "overlaps"), "%s", iw_error_last());
    gw_free(&w);
    two_tensor_file(&w, 512, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "gap"));
    gw_free(&w);
    two_tensor_file(&w, 260, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "multiple of the alignment"));
    gw_free(&w);
}

Test(gguf_bad, unknown_tensor_type_keeps_parsing)
{
    gw w;
    two_tensor_file(&w, 256, 99);
    iw_gguf *g = NULL;
    cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0, "%s", iw_error_last());
    cr_assert_eq(iw_gguf_warning_count(g), 1);
    cr_assert(strstr(iw_gguf_warning(g, 0), "unknown ggml type 99"));
    cr_assert_eq(iw_gguf_weight_bytes(g), -1);
    cr_assert_eq(iw_gguf_param_count(g), 128);
    iw_gguf_free(g);
    gw_free(&w);
    /* removed ids (Q4_2 = 4) are unknown too */
    two_tensor_file(&w, 256, 4);
    cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0);
    cr_assert_eq(iw_gguf_weight_bytes(g), -1);
    iw_gguf_free(g);
    gw_free(&w);
    /* after an unknown type the next offset must still move forward */
    two_tensor_file(&w, 0, 99);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    gw_free(&w);
}

Test(gguf_bad, duplicates_and_unknown_types)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 0, 2);
    gw_kv_u32(&w, "dup", 1);
    gw_kv_u32(&w, "dup", 2);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "duplicate key 'dup'"));
    gw_free(&w);

    int64_t ne[1] = { 8 };
    gw_init(&w, 3, false);
    gw_header(&w, 2, 0);
    gw_tensor(&w, "same", 1, ne, 0, 0);
    gw_tensor(&w, "same", 1, ne, 0, 32);
    gw_pad(&w, 32);
    gw_zeros(&w, 64);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "duplicate tensor name 'same'"));
    gw_free(&w);

    gw_init(&w, 3, false);
    gw_header(&w, 0, 1);
    gw_key(&w, "obj", 13);
    gw_u32(&w, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "unknown value type 13"));
    gw_free(&w);

    gw_init(&w, 3, false);
    gw_header(&w, 0, 1);
    gw_kv_arr(&w, "arr", 77, 0);
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "element type 77"));
    gw_free(&w);

    gw_init(&w, 3, false);
    gw_header(&w, 0, 1);
    gw_kv_str(&w, "", "empty key");
    cr_assert_eq(parse_fail(&w, w.len, NULL), IW_EFORMAT);
    gw_free(&w);
}

Test(gguf_bad, wrong_value_types_for_known_keys)
{
    struct { const char *key; const char *val; } cases[] = {
        { "llama.block_count", "32" },
        { "llama.attention.head_count_kv", "8" },
        { "llama.rope.freq_base", "1e4" },
        { "tokenizer.ggml.tokens", "abc" },
        { "general.file_type", "Q4_K_M" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw w;
        gw_init(&w, 3, false);
        gw_header(&w, 0, 3);
        gw_kv_str(&w, "general.architecture", "llama");
        gw_kv_u32(&w, "llama.attention.head_count", 8);
        gw_kv_str(&w, cases[i].key, cases[i].val);
        iw_gguf *g = NULL;
        cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0);
        iw_arch a;
        iw_arch_init(&a);
        const iw_gguf *one[] = { g };
        cr_assert_eq(iw_gguf_to_arch(one, 1, &a), IW_EFORMAT, "%s", cases[i].key);
        char want[128];
        snprintf(want, sizeof want, "key '%s' has type STRING", cases[i].key);
        cr_assert(strstr(iw_error_last(), want), "%s", iw_error_last());
        iw_arch_free(&a);
        iw_gguf_free(g);
        gw_free(&w);
    }
    /* general.architecture must be a string too */
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 0, 1);
    gw_kv_u32(&w, "general.architecture", 1);
    iw_gguf *g = NULL;
    cr_assert_eq(parse_w(&w, w.len, NULL, &g), 0);
    iw_arch a;
    iw_arch_init(&a);
    const iw_gguf *one[] = { g };
    cr_assert_eq(iw_gguf_to_arch(one, 1, &a), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "general.architecture"));
    iw_arch_free(&a);
    iw_gguf_free(g);
    gw_free(&w);
}
