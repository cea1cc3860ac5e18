/* docs/cli.md must mention every --flag that a command's --help prints
 * (docs drift is a bug, as curl's test suite treats it). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iwtest.h"

static const char *commands[] = {
    "download", "inspect", "list", "show", "remove", "verify", "scan",
    "migrate-architecture", "reconcile-architecture", "estimate",
};

Test(cli_docs, every_help_flag_is_documented)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/cli.md", iwt_source_dir());
    char *doc = iwt_slurp(path, NULL);
    cr_assert_not_null(doc, "docs/cli.md missing");
    int checked = 0;
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        char cmd[4200], *out = NULL;
        snprintf(cmd, sizeof cmd, "'%s' %s --help", iwt_cli(), commands[c]);
        cr_assert_eq(iwt_run(cmd, &out, NULL), 0, "%s --help failed", commands[c]);
        char head[64];
        snprintf(head, sizeof head, "### %s\n", commands[c]);
        cr_assert(strstr(doc, head), "docs/cli.md has no section for %s", commands[c]);
        for (char *p = out; (p = strstr(p, "--")); ) {
            char flag[64];
            size_t n = 0;
            while (n < sizeof flag - 1 && (isalnum((unsigned char)p[n + 2]) || p[n + 2] == '-'))
                n++;
            if (n >= 2) {
                snprintf(flag, sizeof flag, "--%.*s", (int)n, p + 2);
                cr_assert(strstr(doc, flag), "docs/cli.md does not mention %s of '%s'", flag, commands[c]);
                checked++;
            }
            p += 2 + n;
        }
        free(out);
    }
    cr_assert_gt(checked, 30, "too few flags found (%d): --help output changed?", checked);
    free(doc);
}
