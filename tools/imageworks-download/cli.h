/* cli.h - the imageworks-download command table.
 * Each command lives in cmd_<name>.c and returns an exit code:
 * 0 ok, 1 failure, 2 usage.  Errors are one line on stderr. */
#ifndef IW_CLI_H
#define IW_CLI_H

#include <stdbool.h>
#include <stdio.h>

#define IW_EXIT_OK    0
#define IW_EXIT_FAIL  1
#define IW_EXIT_USAGE 2

typedef int (*iw_cmd_fn)(int argc, char **argv);

/* Commands are declared weak so the tool links while a command is being
 * written; main() reports a missing one as "not available in this build". */
#define IW_CMD(name) int cmd_##name(int argc, char **argv) __attribute__((weak))
IW_CMD(download);
IW_CMD(inspect);
IW_CMD(list);
IW_CMD(show);
IW_CMD(remove);
IW_CMD(verify);
IW_CMD(scan);
IW_CMD(migrate_architecture);
IW_CMD(reconcile_architecture);
IW_CMD(estimate);
IW_CMD(serve);
IW_CMD(validate);

/* A Hub repo id: "org/name" that is not a local path nor an ollama: reference. */
bool cli_is_repo_id(const char *s);

/* When stdout is a terminal, escape the control characters and non-UTF-8
 * bytes of everything printed to it (text from files; tty_guard.c). */
void cli_guard_stdout(void);

/* Print "imageworks-download: <what>: <last error>" to stderr; returns IW_EXIT_FAIL. */
int cli_fail(const char *what);
/* Print "imageworks-download: <msg>" + usage hint; returns IW_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
