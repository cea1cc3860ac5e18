#include <criterion/criterion.h>
#include "iwdl/glob.h"

/* Cases follow huggingface_hub filter_repo_objects (fnmatch on POSIX). */
Test(glob, star_matches_across_slashes)
{
    cr_assert(iw_glob_match("*.safetensors", "model.safetensors"));
    cr_assert(iw_glob_match("*.safetensors", "sub/dir/model.safetensors"));
    cr_assert(iw_glob_match("*", "a/b/c"));
    cr_assert(iw_glob_match("onnx/*", "onnx/a/b.onnx"));
    cr_assert_not(iw_glob_match("*.json", "config.json.bak"));
}

Test(glob, case_sensitive)
{
    cr_assert_not(iw_glob_match("*.GGUF", "model.gguf"));
    cr_assert(iw_glob_match("*Q4_K_M*", "llama-Q4_K_M.gguf"));
    cr_assert_not(iw_glob_match("*q4_k_m*", "llama-Q4_K_M.gguf"));
}

Test(glob, trailing_slash_means_everything_below)
{
    cr_assert(iw_glob_match("original/", "original/consolidated.pth"));
    cr_assert(iw_glob_match("original/", "original/a/b"));
    cr_assert_not(iw_glob_match("original/", "originals/x"));
    cr_assert_not(iw_glob_match("original/", "x/original/y"));
}

Test(glob, question_and_classes)
{
    cr_assert(iw_glob_match("model-0000?-of-00002.safetensors", "model-00001-of-00002.safetensors"));
    cr_assert_not(iw_glob_match("a?c", "ac"));
    cr_assert(iw_glob_match("[abc].txt", "b.txt"));
    cr_assert_not(iw_glob_match("[abc].txt", "d.txt"));
    cr_assert(iw_glob_match("[!abc].txt", "d.txt"));
    cr_assert_not(iw_glob_match("[!abc].txt", "a.txt"));
    cr_assert(iw_glob_match("x[0-9]", "x7"));
    cr_assert_not(iw_glob_match("x[0-9]", "xa"));
    cr_assert(iw_glob_match("[]]", "]"));          /* ']' first in a class is literal */
    cr_assert(iw_glob_match("a[b", "a[b"));        /* unterminated class: literal '[' */
}

Test(glob, backtracking_and_empty)
{
    cr_assert(iw_glob_match("*a*b*c", "xxaxxbxxbxxc"));
    cr_assert_not(iw_glob_match("*a*b*c", "xxaxxbxx"));
    cr_assert(iw_glob_match("", ""));
    cr_assert_not(iw_glob_match("", "a"));
    cr_assert(iw_glob_match("**", ""));
    cr_assert_not(iw_glob_match(NULL, "a"));
}

Test(glob, pathological_pattern_is_fast)
{
    /* exponential for naive recursion; linear-ish here */
    char pat[200], s[200];
    for (int i = 0; i < 99; i += 2) { pat[i] = '*'; pat[i + 1] = 'a'; }
    pat[100] = 'b'; pat[101] = 0;
    memset(s, 'a', 150); s[150] = 0;
    cr_assert_not(iw_glob_match(pat, s));
}

Test(glob, filter_include_exclude)
{
    const char *inc[] = { "*.json", "*.safetensors" };
    const char *exc[] = { "*consolidated*", "original/" };
    cr_assert(iw_glob_filter("config.json", inc, 2, exc, 2));
    cr_assert(iw_glob_filter("model.safetensors", inc, 2, exc, 2));
    cr_assert_not(iw_glob_filter("README.md", inc, 2, exc, 2));
    cr_assert_not(iw_glob_filter("consolidated.safetensors", inc, 2, exc, 2));
    cr_assert_not(iw_glob_filter("original/params.json", inc, 2, exc, 2));
    cr_assert(iw_glob_filter("anything", NULL, 0, NULL, 0));
    cr_assert_not(iw_glob_filter("x.bin", NULL, 0, (const char *[]){ "*.bin" }, 1));
}
