/* test_terminal.c - text from files never reaches a terminal raw: a
 * config.json whose model_type and architectures carry terminal escapes
 * (clear screen, window title, blink, an 8-bit CSI) is shown escaped by
 * inspect, scan, show and estimate when stdout/stderr is a terminal
 * (script(1) gives the commands a pseudo-terminal). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iwtest.h"

static char *g_dir;

static void setup(void) { g_dir = iwt_tmpdir("term"); }
static void teardown(void)
{
    iwt_rm_rf(g_dir);
    free(g_dir);
}

TestSuite(term, .init = setup, .fini = teardown, .timeout = 120);

static const char *CONFIG =
    "{\"architectures\":[\"LlamaForCausalLM\\u001b[5m\"],"
    "\"model_type\":\"llama\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\r\","
    "\"hidden_size\":256,\"intermediate_size\":688,\"num_attention_heads\":8,\"num_hidden_layers\":4,"
    "\"num_key_value_heads\":4,\"vocab_size\":32000,\"max_position_embeddings\":4096,\"torch_dtype\":\"bfloat16\"}";

/* Run the CLI on a pseudo-terminal; the output (stdout and stderr). */
static char *on_tty(const char *args)
{
    char cmd[16384], *out = NULL;
    snprintf(cmd, sizeof cmd, "script -qec \"IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' %s\" /dev/null", g_dir, iwt_cli(),
             args);
    iwt_run(cmd, &out, NULL);
    cr_assert_not_null(out);
    return out;
}

/* No ESC, BEL, CR or C1 (U+0080..U+009F) byte: script(1) adds only CR LF. */
static void expect_clean(const char *what, const char *out)
{
    for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
        bool crlf = *p == '\r' && p[1] == '\n';
        cr_expect(!((*p < 0x20 && *p != '\n' && *p != '\t' && !crlf) || *p == 0x7f ||
                    (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)),
                  "%s: raw control byte 0x%02x at %td: %s", what, *p, (const char *)p - out, out);
    }
}

Test(term, file_text_is_escaped_on_a_terminal)
{
    if (system("command -v script >/dev/null 2>&1") != 0)
        cr_skip_test("script(1) is missing (util-linux; scripts/setup.sh installs it)");
    char p[4096], args[8192];
    snprintf(p, sizeof p, "%s/models/evil/config.json", g_dir);
    cr_assert_eq(iwt_write(p, CONFIG, strlen(CONFIG)), 0);
    snprintf(args, sizeof args, "inspect '%s/models/evil'", g_dir);
    char *out = on_tty(args);
    expect_clean("inspect", out);
    cr_expect(strstr(out, "llama\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\u000d"), "not shown escaped: %s", out);
    free(out);
    snprintf(args, sizeof args, "scan '%s/models'", g_dir);
    out = on_tty(args);
    expect_clean("scan", out);
    free(out);
    out = on_tty("show 'evil_19m_(BF16)'");
    expect_clean("show", out);
    free(out);
    out = on_tty("show 'evil_19m_(BF16)' --json");
    expect_clean("show --json", out);
    free(out);
    out = on_tty("estimate 'evil_19m_(BF16)' --gpu rtx4090");
    expect_clean("estimate", out);
    free(out);
    /* not a terminal: the bytes are what the file says (JSON stays exact) */
    char cmd[16384], *raw = NULL;
    snprintf(cmd, sizeof cmd, "IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' inspect '%s/models/evil'", g_dir, iwt_cli(), g_dir);
    cr_assert_eq(iwt_run(cmd, &raw, NULL), 0);
    cr_expect(strstr(raw, "llama\x1b]0;pwned"), "%s", raw);
    free(raw);
}
