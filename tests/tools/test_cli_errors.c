/* CLI error lines name what failed and where exactly once
 * ("imageworks-download: <where>: <message>", docs/conventions.md), even
 * when the library message already starts with the path or quotes it. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iwtest.h"

static int run(const char *args, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s", iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

static int occurrences(const char *s, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(s, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

/* One error line, exit 1, `where` named once, `expect` present. */
static void expect_error(const char *args, const char *where, const char *expect)
{
    char *out = NULL, *err = NULL;
    int rc = run(args, &out, &err);
    cr_assert_eq(rc, 1, "%s: exit %d, stderr %s", args, rc, err);
    cr_assert(strncmp(err, "imageworks-download: ", 21) == 0, "%s: %s", args, err);
    cr_assert_eq(occurrences(err, "\n"), 1, "%s: not one line: %s", args, err);
    cr_assert_eq(occurrences(err, where), 1, "%s: '%s' not named exactly once: %s", args, where, err);
    cr_assert(strstr(err, expect), "%s: no '%s' in %s", args, expect, err);
    free(out);
    free(err);
}

Test(cli_errors, missing_path_is_named_once)
{
    char *d = iwt_tmpdir("clierr");
    char p[4200], args[8400];
    snprintf(p, sizeof p, "%s/no-such-model", d);
    snprintf(args, sizeof args, "inspect '%s'", p);
    expect_error(args, p, "no such file or folder");
    snprintf(args, sizeof args, "estimate '%s'", p);
    expect_error(args, p, "not a registry entry");
    iwt_rm_rf(d);
    free(d);
}

Test(cli_errors, truncated_gguf_names_the_file_once)
{
    char *d = iwt_tmpdir("clierr");
    char dir[4200], file[4300], args[8800];
    snprintf(dir, sizeof dir, "%s/m", d);
    snprintf(file, sizeof file, "%s/m/t.gguf", d);
    /* GGUF v3 header announcing 18 keys, then nothing */
    unsigned char g[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
    uint64_t nt = 0, nkv = 18;
    memcpy(g + 8, &nt, 8);
    memcpy(g + 16, &nkv, 8);
    cr_assert_eq(iwt_write(file, g, sizeof g), 0);
    snprintf(args, sizeof args, "inspect '%s'", file);
    expect_error(args, file, "18 keys");
    /* the folder: the reader names the file inside it, nothing in front */
    snprintf(args, sizeof args, "inspect '%s'", dir);
    expect_error(args, dir, "18 keys");
    iwt_rm_rf(d);
    free(d);
}

Test(cli_errors, bad_config_names_its_full_path_once)
{
    char *d = iwt_tmpdir("clierr");
    char dir[4200], cfg[4300], args[8800];
    snprintf(dir, sizeof dir, "%s/m", d);
    snprintf(cfg, sizeof cfg, "%s/m/config.json", d);
    const char bad[] = "{\"model_type\": \"llama\", \"hidden_size\": 40";
    cr_assert_eq(iwt_write(cfg, bad, sizeof bad - 1), 0);
    snprintf(args, sizeof args, "inspect '%s'", dir);
    expect_error(args, dir, "truncated");
    char where[4400];
    snprintf(where, sizeof where, "%s:1:", cfg);   /* path:line:column */
    expect_error(args, where, "invalid JSON");
    snprintf(args, sizeof args, "estimate '%s'", dir);
    expect_error(args, where, "invalid JSON");
    iwt_rm_rf(d);
    free(d);
}
