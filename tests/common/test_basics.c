#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <pthread.h>
#include "iwdl/error.h"
#include "iwdl/buf.h"
#include "iwdl/reader.h"
#include "iwdl/hash.h"
#include "iwdl/json.h"
#include "iwdl/arch.h"
#include "iwtest.h"

Test(error, set_once_and_one_line)
{
    iw_error_clear();
    cr_assert_eq(iw_error_last_code(), IW_OK);
    cr_assert_str_eq(iw_error_last(), "");
    cr_assert_eq(iw_error_set(IW_EFORMAT, "bad %s\nat %d", "magic", 4), IW_EFORMAT);
    cr_assert_str_eq(iw_error_last(), "bad magic at 4");
    iw_error_prefix("file.gguf");
    cr_assert_str_eq(iw_error_last(), "file.gguf: bad magic at 4");
    cr_assert_eq(iw_error_last_code(), IW_EFORMAT);
    cr_assert_str_eq(iw_error_name(IW_ENOSPC), "ENOSPC");
}

static void *other_thread(void *arg)
{
    (void)arg;
    iw_error_set(IW_EIO, "thread error");
    return NULL;
}

Test(error, thread_local)
{
    iw_error_set(IW_EINVAL, "main error");
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    cr_assert_str_eq(iw_error_last(), "main error");
}

Test(buf, grows_and_caps)
{
    iw_buf b;
    iw_buf_init(&b, 10);
    cr_assert_eq(iw_buf_puts(&b, "hello"), 0);
    cr_assert_eq(iw_buf_printf(&b, "%d", 1234), 0);
    cr_assert_str_eq(b.data, "hello1234");
    cr_assert_eq(iw_buf_puts(&b, "xy"), IW_ELIMIT);
    cr_assert_str_eq(b.data, "hello1234");   /* unchanged on failure */
    cr_assert_eq(iw_buf_putc(&b, '!'), 0);
    cr_assert_eq(b.len, 10);
    char *s = iw_buf_detach(&b);
    cr_assert_str_eq(s, "hello1234!");
    free(s);
    cr_assert_null(b.data);
    iw_buf_free(&b);
}

Test(reader, endianness_and_bounds)
{
    const uint8_t d[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    iw_reader r;
    iw_reader_init(&r, d, sizeof d, false);
    uint32_t u32; uint16_t u16; uint64_t u64; uint8_t u8;
    cr_assert_eq(iw_rd_u32(&r, &u32), 0);
    cr_assert_eq(u32, 0x04030201u);
    iw_reader_init(&r, d, sizeof d, true);
    cr_assert_eq(iw_rd_u32(&r, &u32), 0);
    cr_assert_eq(u32, 0x01020304u);
    cr_assert_eq(iw_rd_u16(&r, &u16), 0);
    cr_assert_eq(u16, 0x0506);
    cr_assert_eq(iw_reader_remaining(&r), 3);
    cr_assert_eq(iw_rd_u64(&r, &u64), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "offset 6") != NULL, "%s", iw_error_last());
    cr_assert_eq(iw_reader_remaining(&r), 3);   /* failed read consumes nothing */
    cr_assert_eq(iw_rd_skip(&r, 2), 0);
    cr_assert_eq(iw_rd_u8(&r, &u8), 0);
    cr_assert_eq(u8, 9);
    cr_assert_eq(iw_rd_u8(&r, &u8), IW_EFORMAT);
    const uint8_t f[] = { 0, 0, 0x80, 0x3f };   /* 1.0f LE */
    float fl;
    iw_reader_init(&r, f, 4, false);
    cr_assert_eq(iw_rd_f32(&r, &fl), 0);
    cr_assert_float_eq(fl, 1.0f, 0);
}

Test(reader, sources)
{
    const char data[] = "0123456789";
    iw_source s;
    iw_source_from_buffer(&s, data, 10, "mem");
    char out[8];
    size_t got;
    cr_assert_eq(iw_source_read_at(&s, 8, out, 8, &got), 0);
    cr_assert_eq(got, 2);
    cr_assert_eq(memcmp(out, "89", 2), 0);
    cr_assert_eq(s.bytes_read, 2);
    iw_source_close(&s);

    char *d = iwt_tmpdir("src");
    char p[4096];
    snprintf(p, sizeof p, "%s/f", d);
    iwt_write(p, data, 10);
    cr_assert_eq(iw_source_open_file(&s, p), 0);
    cr_assert_eq(s.size, 10);
    cr_assert_eq(iw_source_read_at(&s, 3, out, 4, &got), 0);
    cr_assert_eq(got, 4);
    cr_assert_eq(memcmp(out, "3456", 4), 0);
    iw_source_close(&s);
    cr_assert_eq(iw_source_open_file(&s, d), IW_EIO);   /* a directory */
    iwt_rm_rf(d);
    free(d);
}

Test(hash, known_vectors)
{
    char hex[65];
    cr_assert_eq(iw_sha256_hex("abc", 3, hex), 0);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* git hash-object of "hello\n" */
    iw_hash *h;
    cr_assert_eq(iw_hash_new_git_blob(&h, 6), 0);
    iw_hash_update(h, "hello\n", 6);
    char sha1[41];
    cr_assert_eq(iw_hash_final_hex(h, sha1, sizeof sha1), 0);
    iw_hash_free(h);
    cr_assert_str_eq(sha1, "ce013625030ba8dba906f756967f9e9ca394464a");
    char *d = iwt_tmpdir("hash");
    char p[4096];
    snprintf(p, sizeof p, "%s/f", d);
    iwt_write(p, "hello\n", 6);
    cr_assert_eq(iw_git_blob_sha1_file(p, sha1), 0);
    cr_assert_str_eq(sha1, "ce013625030ba8dba906f756967f9e9ca394464a");
    cr_assert_eq(iw_hash_file_hex(p, IW_HASH_SHA256, hex, sizeof hex), 0);
    cr_assert_str_eq(hex, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    iwt_rm_rf(d);
    free(d);
}

Test(json, errors_name_line_and_column)
{
    cJSON *j; char *dup;
    const char *t = "{\n  \"a\": 1,\n  \"b\": ]\n}";
    cr_assert_eq(iw_json_parse(t, strlen(t), "config.json", &j, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "config.json:3:") != NULL, "%s", iw_error_last());
    const char *trunc = "{\"a\": [1, 2";
    cr_assert_eq(iw_json_parse(trunc, strlen(trunc), "x.json", &j, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "truncated") != NULL, "%s", iw_error_last());
    const char *lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n";
    cr_assert_eq(iw_json_parse(lfs, strlen(lfs), "config.json", &j, NULL), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "not downloaded") != NULL, "%s", iw_error_last());
    const char *trail = "{} x";
    cr_assert_eq(iw_json_parse(trail, strlen(trail), "t.json", &j, NULL), IW_EFORMAT);
    const char *crlf = "\xEF\xBB\xBF{\r\n\"a\": 1,\r\n\"a\": 2, \"o\": {\"k\":1, \"k\":2}\r\n}\r\n";
    cr_assert_eq(iw_json_parse(crlf, strlen(crlf), "c.json", &j, &dup), 0);
    cr_assert_str_eq(dup, "a");
    free(dup);
    int64_t v;
    /* duplicates resolved as Python's json does: the last value wins, the
     * earlier ones are gone from the tree (top level and nested) */
    cr_assert(iw_json_get_i64(j, "a", &v));
    cr_assert_eq(v, 2);
    cr_assert_eq(cJSON_GetArraySize(j), 2);
    cr_assert(iw_json_get_i64(cJSON_GetObjectItemCaseSensitive(j, "o"), "k", &v));
    cr_assert_eq(v, 2);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "o")), 1);
    cJSON_Delete(j);
    /* without dup_key the tree is left as cJSON built it */
    cr_assert_eq(iw_json_parse(crlf, strlen(crlf), "c.json", &j, NULL), 0);
    cr_assert_eq(cJSON_GetArraySize(j), 3);
    cJSON_Delete(j);
    const char *nested = "{\"o\": {\"k\":1, \"k\":2, \"x\":0, \"k\":3}, \"p\": [{\"q\":1, \"q\":4}]}";
    cr_assert_eq(iw_json_parse(nested, strlen(nested), "n.json", &j, &dup), 0);
    cr_assert_str_eq(dup, "o.k");
    free(dup);
    cr_assert(iw_json_get_i64(cJSON_GetObjectItemCaseSensitive(j, "o"), "k", &v));
    cr_assert_eq(v, 3);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "o")), 2);
    cr_assert(iw_json_get_i64(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "p"), 0), "q", &v));
    cr_assert_eq(v, 4);
    cJSON_Delete(j);
}

Test(json, depth_cap_and_typed_getters)
{
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    cJSON *j;
    cr_assert_eq(iw_json_parse(deep, 600, "deep.json", &j, NULL), IW_ELIMIT);
    const char *t = "{\"i\": 5, \"f\": 2.5, \"s\": \"x\", \"b\": true, \"big\": 1e30}";
    cr_assert_eq(iw_json_parse(t, strlen(t), "t", &j, NULL), 0);
    int64_t i; double f; bool b;
    cr_assert(iw_json_get_i64(j, "i", &i) && i == 5);
    cr_assert_not(iw_json_get_i64(j, "f", &i));
    cr_assert_not(iw_json_get_i64(j, "big", &i));
    cr_assert_not(iw_json_get_i64(j, "s", &i));
    cr_assert(iw_json_get_f64(j, "f", &f) && f == 2.5);
    cr_assert(iw_json_get_bool(j, "b", &b) && b);
    cr_assert_str_eq(iw_json_get_str(j, "s"), "x");
    cr_assert_null(iw_json_get_str(j, "i"));
    char *p = iw_json_print(j);
    cr_assert(strstr(p, "\n  \"i\": 5") != NULL, "%s", p);
    cr_assert_null(strchr(p, '\t'));
    free(p);
    cJSON_Delete(j);
}

Test(arch, init_sources_copy)
{
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(a.num_layers, IW_UNKNOWN);
    cr_assert(isnan(a.rope_theta));
    cr_assert_eq(iw_arch_count_layers(&a, IW_LAYER_SLIDING), IW_UNKNOWN);
    a.num_layers = 4;
    a.num_kv_heads = 2;
    iw_arch_set_source(&a, "num_layers", "config.json");
    iw_arch_set_source(&a, "num_layers", "gguf");
    cr_assert_str_eq(iw_arch_get_source(&a, "num_layers"), "gguf");
    cr_assert_eq(a.n_field_sources, 1);
    iw_arch_warn(&a, "w %d", 1);
    iw_arch_warn(&a, "w %d", 1);
    cr_assert_eq(a.warnings.n, 1);
    a.attention.layer_types = calloc(4, sizeof *a.attention.layer_types);
    a.attention.n_layer_types = 4;
    a.attention.layer_types[1] = IW_LAYER_SLIDING;
    a.attention.layer_types[3] = IW_LAYER_SLIDING;
    cr_assert_eq(iw_arch_count_layers(&a, IW_LAYER_SLIDING), 2);
    cr_assert_eq(iw_arch_count_layers(&a, IW_LAYER_FULL), 2);
    iw_arch_set_str(&a.model_type, "llama");
    iw_arch c;
    cr_assert_eq(iw_arch_copy(&c, &a), 0);
    iw_arch_free(&a);
    cr_assert_str_eq(c.model_type, "llama");
    cr_assert_eq(c.attention.layer_types[3], IW_LAYER_SLIDING);
    cr_assert_str_eq(iw_arch_get_source(&c, "num_layers"), "gguf");
    cr_assert_eq(iw_arch_kv_heads_of_layer(&c, 0), 2);
    iw_layer_kind k;
    cr_assert_eq(iw_layer_kind_parse("sliding_attention", &k), 0);
    cr_assert_eq(k, IW_LAYER_SLIDING);
    cr_assert_eq(iw_layer_kind_parse("bogus", &k), IW_EFORMAT);
    iw_arch_free(&c);
}

Test(json, error_quote_stays_inside_unterminated_input)
{
    /* no NUL after the bad byte: the message must not read past len */
    char *t = malloc(8);
    memcpy(t, "{\"a\": ?", 7);
    t[7] = '#';          /* one byte past len: never quoted */
    cJSON *j;
    cr_assert_eq(iw_json_parse(t, 7, "u.json", &j, NULL), IW_EFORMAT);
    cr_assert_null(strchr(iw_error_last(), '#'), "%s", iw_error_last());
    free(t);
}

Test(json, duplicate_check_scales_to_huge_objects, .timeout = 20)
{
    /* 200k distinct keys then one repeat: quadratic checking would take minutes */
    size_t n = 200000, cap = n * 16 + 64, o = 0;
    char *t = malloc(cap);
    t[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(t + o, cap - o, "\"k%zu\":0,", i);
    o += (size_t)snprintf(t + o, cap - o, "\"k7\":1}");
    cJSON *j;
    char *dup = NULL;
    cr_assert_eq(iw_json_parse(t, o, "big.json", &j, &dup), 0);
    cr_assert_str_eq(dup, "k7");
    free(dup);
    int64_t v = 0;
    cr_assert(iw_json_get_i64(j, "k7", &v));
    cr_assert_eq(v, 1);   /* the last value */
    cr_assert_eq(cJSON_GetArraySize(j), (int)n);
    cJSON_Delete(j);
    free(t);
}
