/* test_safetensors_corrupt.c - one generated corrupt header per failure
 * class: each must fail with a one-line error naming the tensor / offset,
 * never crash, never allocate past the caps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/safetensors.h"
#include "iwtest.h"
#include "safetensors_testutil.h"

/* Parse `hdr` followed by data_bytes zeros; expect failure with `code` and
 * every `want` substring in the one-line message. */
static void expect_fail(const char *hdr, uint64_t data_bytes, int code, const char *want1, const char *want2)
{
    size_t len;
    unsigned char *buf = stw_buffer(hdr, data_bytes, &len);
    iw_st_file f;
    int rc = iw_st_parse_buffer(buf, len, "bad.safetensors", &f);
    const char *msg = iw_error_last();
    cr_assert_eq(rc, code, "rc %d (%s) want %d; msg: %s", rc, iw_error_name(rc), code, msg);
    cr_assert(strstr(msg, "bad.safetensors"), "message names the file: %s", msg);
    if (want1)
        cr_assert(strstr(msg, want1), "message lacks '%s': %s", want1, msg);
    if (want2)
        cr_assert(strstr(msg, want2), "message lacks '%s': %s", want2, msg);
    cr_assert_null(strchr(msg, '\n'), "one line: %s", msg);
    cr_assert_eq(f.n_tensors, 0);
    cr_assert_null(f.tensors);
    iw_st_file_free(&f);
    free(buf);
}

#define A "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

Test(safetensors_corrupt, valid_baseline_parses)
{
    size_t len;
    unsigned char *buf = stw_buffer("{" A "}", 8, &len);
    iw_st_file f;
    cr_assert_eq(iw_st_parse_buffer(buf, len, "ok", &f), 0, "%s", iw_error_last());
    cr_assert_eq(f.n_tensors, 1);
    cr_assert_eq(f.data_bytes, 8);
    iw_st_file_free(&f);
    free(buf);
}

Test(safetensors_corrupt, header_length_over_cap)
{
    unsigned char b[16] = { 0 };
    uint64_t n = (uint64_t)IW_ST_MAX_HEADER + 1;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    iw_st_file f;
    int rc = iw_st_parse_buffer(b, sizeof b, "bad.safetensors", &f);
    cr_assert_eq(rc, IW_ELIMIT, "%s", iw_error_last());
    cr_assert(strstr(iw_error_last(), "exceeds the cap"));
    cr_assert(strstr(iw_error_last(), "offset 0"));
}

Test(safetensors_corrupt, header_length_over_file_size)
{
    unsigned char b[16] = { 200, 0, 0, 0, 0, 0, 0, 0, '{', '}' };
    iw_st_file f;
    int rc = iw_st_parse_buffer(b, sizeof b, "bad.safetensors", &f);
    cr_assert_eq(rc, IW_EFORMAT, "%s", iw_error_last());
    cr_assert(strstr(iw_error_last(), "exceeds the file size"), "%s", iw_error_last());
    /* all-ones length */
    memset(b, 0xff, 8);
    cr_assert_eq(iw_st_parse_buffer(b, sizeof b, "bad.safetensors", &f), IW_ELIMIT);
}

Test(safetensors_corrupt, too_short_file)
{
    iw_st_file f;
    cr_assert_eq(iw_st_parse_buffer("\x02\0\0", 3, "bad.safetensors", &f), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "too short"));
}

Test(safetensors_corrupt, truncated_json)
{
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"sha", 0, IW_EFORMAT, "truncated", NULL);
}

Test(safetensors_corrupt, non_object_header)
{
    expect_fail("[1,2,3]", 0, IW_EFORMAT, "not a JSON object", NULL);
    expect_fail("{\"a\":[1]}", 0, IW_EFORMAT, "'a'", "not an object");
}

Test(safetensors_corrupt, unknown_dtype)
{
    expect_fail("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, IW_EFORMAT, "'w'", "Q4_K");
}

Test(safetensors_corrupt, negative_and_float_dims)
{
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[2,-3],\"data_offsets\":[0,0]}}", 0, IW_EFORMAT, "'w'", "shape[1] is negative");
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1, IW_EFORMAT, "'w'", "shape[0]");
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[\"4\"],\"data_offsets\":[0,4]}}", 4, IW_EFORMAT, "'w'", "shape[0]");
}

Test(safetensors_corrupt, offsets_overlapping)
{
    expect_fail("{" A ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, IW_EFORMAT,
                "'b'", "overlap tensor 'a'");
}

Test(safetensors_corrupt, offsets_gapped)
{
    expect_fail("{" A ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", 24, IW_EFORMAT,
                "gap of 8 bytes", "'b'");
    /* first tensor not at 0 */
    expect_fail("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, IW_EFORMAT,
                "gap of 4 bytes", "'b'");
}

Test(safetensors_corrupt, offsets_out_of_file)
{
    expect_fail("{" A ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 12, IW_EFORMAT,
                "'b'", "beyond the end of the file");
}

Test(safetensors_corrupt, bytes_not_elements_times_size)
{
    expect_fail("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3,4],\"data_offsets\":[0,12]}}", 12, IW_EFORMAT,
                "'w'", "need 24");
    expect_fail("{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, IW_EFORMAT,
                "'w'", "whole bytes");
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,0]}}", 2, IW_EFORMAT,
                "'w'", "end before they begin");
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0]}}", 2, IW_EFORMAT,
                "'w'", "two integers");
}

Test(safetensors_corrupt, huge_shape_overflow)
{
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
                IW_ELIMIT, "'w'", "overflow");
    /* product fits in int64 but bytes overflow */
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,2147483647],\"data_offsets\":[0,0]}}", 0,
                IW_ELIMIT, "'w'", "overflow");
    /* a dim cJSON cannot hold exactly */
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1e300],\"data_offsets\":[0,0]}}", 0, IW_ELIMIT, "'w'", "too large");
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
                IW_ELIMIT, "'w'", "dimensions");
}

Test(safetensors_corrupt, duplicate_names)
{
    expect_fail("{" A "," A "}", 16, IW_EFORMAT, "duplicate tensor name 'a'", NULL);
    expect_fail("{\"__metadata__\":{},\"__metadata__\":{}," A "}", 8, IW_EFORMAT, "__metadata__", NULL);
}

Test(safetensors_corrupt, bad_names_and_metadata)
{
    expect_fail("{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, IW_EFORMAT, "empty tensor name", NULL);
    expect_fail("{\"a\\u0001b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, IW_EFORMAT, "control character", NULL);
    expect_fail("{\"__metadata__\":{\"k\":1}," A "}", 8, IW_EFORMAT, "__metadata__['k']", NULL);
    expect_fail("{\"__metadata__\":[]," A "}", 8, IW_EFORMAT, "__metadata__", NULL);
}

Test(safetensors_corrupt, lfs_pointer_named_safetensors)
{
    const char *p = "version https://git-lfs.github.com/spec/v1\n"
                    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
                    "size 2669283096\n";
    iw_st_file f;
    cr_assert_eq(iw_st_parse_buffer(p, strlen(p), "bad.safetensors", &f), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "Git LFS pointer"), "%s", iw_error_last());
}

Test(safetensors_corrupt, truncation_at_every_offset)
{
    uint64_t db;
    stw_t t[3] = { { "a", "F32", 1, { 2 } }, { "b", "BF16", 2, { 2, 3 } }, { "c", "U8", 0, { 0 } } };
    char *h = stw_header(t, 3, "{\"x\":\"y\"}", &db);
    size_t len;
    unsigned char *buf = stw_buffer(h, db, &len);
    for (size_t cut = 0; cut < len; cut++) {
        iw_st_file f;
        int rc = iw_st_parse_buffer(buf, cut, "cut.safetensors", &f);
        cr_assert_lt(rc, 0, "cut at %zu must fail", cut);
        cr_assert_null(strchr(iw_error_last(), '\n'));
        iw_st_file_free(&f);
    }
    iw_st_file f;
    cr_assert_eq(iw_st_parse_buffer(buf, len, "whole.safetensors", &f), 0, "%s", iw_error_last());
    cr_assert_eq(f.n_tensors, 3);
    iw_st_file_free(&f);
    free(buf);
    free(h);
}

Test(safetensors_corrupt, index_traversal_and_shape)
{
    iw_st_index idx;
    const char *bad[] = {
        "{\"weight_map\":{\"w\":\"../../etc/passwd\"}}",
        "{\"weight_map\":{\"w\":\"/abs/model.safetensors\"}}",
        "{\"weight_map\":{\"w\":\"a\\\\..\\\\b.safetensors\"}}",
        "{\"weight_map\":{\"w\":\"sub/./x.safetensors\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = iw_st_index_parse(bad[i], strlen(bad[i]), "idx.json", &idx);
        cr_assert_eq(rc, IW_EUNSAFE, "%s -> %d %s", bad[i], rc, iw_error_last());
        cr_assert(strstr(iw_error_last(), "'w'"), "%s", iw_error_last());
        cr_assert(strstr(iw_error_last(), "idx.json"));
    }
    const char *s1 = "{\"weight_map\":{\"w\":3}}";
    cr_assert_eq(iw_st_index_parse(s1, strlen(s1), "idx.json", &idx), IW_EFORMAT);
    const char *s2 = "{\"metadata\":{}}";
    cr_assert_eq(iw_st_index_parse(s2, strlen(s2), "idx.json", &idx), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "weight_map"));
    const char *s3 = "{\"weight_map\":{\"w\":\"a.safetensors\",\"w\":\"b.safetensors\"}}";
    cr_assert_eq(iw_st_index_parse(s3, strlen(s3), "idx.json", &idx), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "duplicate tensor name 'w'"));
    /* good: sub-folder shard, float total_size */
    const char *ok = "{\"metadata\":{\"total_size\":13731385408.0},\"weight_map\":{\"w\":\"sub/a.safetensors\",\"v\":\"sub/a.safetensors\",\"u\":\"b.safetensors\"}}";
    cr_assert_eq(iw_st_index_parse(ok, strlen(ok), "idx.json", &idx), 0, "%s", iw_error_last());
    cr_assert_eq(idx.n_shards, 2);
    cr_assert_eq(idx.n_tensors, 3);
    cr_assert_eq(idx.total_size, 13731385408LL);
    cr_assert_str_eq(idx.shards[idx.tensor_shard[2]], "b.safetensors");
    iw_st_index_free(&idx);
}

Test(safetensors_corrupt, index_traversal_in_folder_never_opens_outside)
{
    char *d = iwt_tmpdir("stidx");
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", d);
    const char *idx = "{\"metadata\":{\"total_size\":8},\"weight_map\":{\"a\":\"../outside.safetensors\"}}";
    cr_assert_eq(iwt_write(p, idx, strlen(idx)), 0);
    iw_arch a;
    iw_arch_init(&a);
    int rc = iw_safetensors_extract_dir(d, &a);
    cr_assert_eq(rc, IW_EUNSAFE, "%d %s", rc, iw_error_last());
    cr_assert(strstr(iw_error_last(), "../outside.safetensors"));
    iw_arch_free(&a);
    iwt_rm_rf(d);
    free(d);
}

/* More tensors than IW_ST_MAX_TENSORS, or more JSON values than
 * IW_ST_MAX_JSON_VALUES (a shape of 3M numbers), are refused before the
 * header is parsed (cJSON would build a node per value: 1.5M tensors took
 * 2 GB and 93 s). */
Test(safetensors_corrupt, tensor_and_value_caps)
{
    stw_str js = { 0 };
    stw_cat(&js, "{");
    for (size_t i = 0; i <= IW_ST_MAX_TENSORS; i++)
        stw_cat(&js, "%s\"t%zu\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}", i ? "," : "", i, i,
                i + 1);
    stw_cat(&js, "}");
    expect_fail(js.p, IW_ST_MAX_TENSORS + 1, IW_ELIMIT, "more than 262144 tensors", "refused before parsing");
    free(js.p);
    stw_str sh = { 0 };
    stw_cat(&sh, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1");
    for (size_t i = 0; i < 3000000; i++)
        stw_cat(&sh, ",1");
    stw_cat(&sh, "],\"data_offsets\":[0,1]}}");
    expect_fail(sh.p, 1, IW_ELIMIT, "JSON values", "refused before parsing");
    free(sh.p);
}

/* cJSON passes any byte through: a tensor name must be valid UTF-8. */
Test(safetensors_corrupt, name_not_utf8)
{
    expect_fail("{\"a\\u00e9\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, IW_EFORMAT,
                "not valid UTF-8", NULL);
    expect_fail("{\"\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, IW_EFORMAT,
                "not valid UTF-8", NULL);
}
