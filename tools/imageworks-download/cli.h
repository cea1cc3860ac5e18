/* cli.h - the imageworks-download command table.
 * Each command lives in cmd_<name>.c and returns an exit code:
 * 0 ok, 1 failure, 2 usage.  Errors are one line on stderr. */
#ifndef IW_CLI_H
#define IW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IW_EXIT_OK    0
#define IW_EXIT_FAIL  1
#define IW_EXIT_USAGE 2

typedef int (*iw_cmd_fn)(int argc, char **argv);

int cmd_download(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_migrate_architecture(int argc, char **argv);
int cmd_reconcile_architecture(int argc, char **argv);
int cmd_estimate(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_validate(int argc, char **argv);

/* When stdout is a terminal, escape the control characters and non-UTF-8
 * bytes of everything printed to it (text from files; tty_guard.c). */
void cli_guard_stdout(void);

/* Print "imageworks-download: <what>: <last error>" to stderr; returns IW_EXIT_FAIL. */
int cli_fail(const char *what);
/* Print "imageworks-download: <msg>" + usage hint; returns IW_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* b bytes in binary units: "512 B", "1.5 GiB" (decimals digits after a unit above B). */
void cli_human_bytes(char *out, size_t n, double b, int decimals);
/* v with a comma every three digits: "7,241,732,096". */
void cli_grouped(char *out, size_t n, int64_t v);

#endif
