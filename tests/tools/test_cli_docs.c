/* docs/cli.md must mention every --flag that a command's --help prints, and
 * each command's section must be its --help word for word (docs drift is a
 * bug, as curl's test suite treats it). */
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

/* Each command's section of docs/cli.md is its --help, word for word
 * (scripts/gen-cli-doc.sh writes it): the flags, their meaning and their
 * defaults cannot drift from the code. */
Test(cli_docs, each_section_is_the_help_text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/cli.md", iwt_source_dir());
    char *doc = iwt_slurp(path, NULL);
    cr_assert_not_null(doc, "docs/cli.md missing");
    char cmd[4200], *top = NULL;
    snprintf(cmd, sizeof cmd, "'%s' --help", iwt_cli());
    cr_assert_eq(iwt_run(cmd, &top, NULL), 0);
    const char *list = strstr(top, "commands:\n");
    cr_assert_not_null(list, "%s", top);
    int n = 0;
    for (const char *l = list + 10; *l == ' ' && l[1] == ' '; l = strchr(l, '\n') + 1) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(l + 2, " \n"), l + 2);
        char *help = NULL;
        snprintf(cmd, sizeof cmd, "'%s' %s --help 2>&1", iwt_cli(), name);
        iwt_run(cmd, &help, NULL);
        cr_assert_not_null(help);
        char head[128];
        snprintf(head, sizeof head, "### %s\n\n```\n", name);
        const char *sec = strstr(doc, head);
        cr_assert_not_null(sec, "docs/cli.md has no section for %s", name);
        sec += strlen(head);
        const char *end = strstr(sec, "```\n");
        cr_assert_not_null(end);
        cr_expect(strlen(help) == (size_t)(end - sec) && !strncmp(help, sec, strlen(help)),
                  "docs/cli.md's %s section is not its --help (run scripts/gen-cli-doc.sh):\n--- help\n%s--- docs\n%.*s",
                  name, help, (int)(end - sec), sec);
        free(help);
        n++;
        if (!strchr(l, '\n'))
            break;
    }
    cr_assert_geq(n, 10, "too few commands in --help");
    free(top);
    free(doc);
}

/* `download --help` describes every flag with its default, as `estimate
 * --help` does (it was the usage block only), and says that
 * --no-architecture also skips the registry. */
Test(cli_docs, download_help_gives_every_flag_and_default)
{
    char cmd[4200], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' download --help", iwt_cli());
    cr_assert_eq(iwt_run(cmd, &out, NULL), 0);
    const char *usage_end = strstr(out, "\n\n");
    cr_assert_not_null(usage_end, "%s", out);
    static const char *const flags[] = {"--revision", "--include", "--exclude", "--dest", "--hf-cache",
        "--support-repo", "--no-architecture", "--name", "--backend", "--jobs", "--connections", "--unpack",
        "--quiet", "--json"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        /* the flag's own lines below the usage block: its line and the
         * indented continuation lines */
        char key[64];
        snprintf(key, sizeof key, " %s", flags[i]);
        const char *p = usage_end;
        while ((p = strstr(p, key)) && !(p[strlen(key)] == ' ' || p[strlen(key)] == '\n'))
            p += strlen(key);
        cr_assert_not_null(p, "download --help does not describe %s:\n%s", flags[i], out);
        const char *e = strchr(p, '\n');
        while (e && !strncmp(e + 1, "                      ", 22))
            e = strchr(e + 1, '\n');
        char text[1024];
        snprintf(text, sizeof text, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
        cr_expect(strstr(text, "default"), "download --help gives no default for %s: '%s'", flags[i], text);
        if (!strcmp(flags[i], "--no-architecture"))
            cr_expect(strstr(text, "registry"), "--no-architecture must say it skips the registry: '%s'", text);
    }
    free(out);
}
