/* iwtest.h - small helpers shared by the Criterion suites. */
#ifndef IWTEST_H
#define IWTEST_H

#include <stddef.h>
#include <stdbool.h>

/* Source tree root (IW_SOURCE_DIR, set by CTest). */
const char *iwt_source_dir(void);
/* Build dir (IW_BUILD_DIR). */
const char *iwt_build_dir(void);
/* ../shared/corpus, or NULL when absent (tests then skip with a message). */
const char *iwt_corpus_dir(void);
/* Path of the CLI binary (IW_CLI) and of fakehub (IW_FAKEHUB). */
const char *iwt_cli(void);
const char *iwt_fakehub(void);
/* tests/fixtures/<rel> as a static buffer path (valid until next call). */
const char *iwt_fixture(const char *rel);

/* Fresh private temp dir (malloc'd path), removed by iwt_rm_rf. */
char *iwt_tmpdir(const char *tag);
void  iwt_rm_rf(const char *path);

/* Read a whole file (malloc'd, NUL-terminated); NULL on failure. */
char *iwt_slurp(const char *path, size_t *len);
/* Write a file (creating parents). Returns 0 on success. */
int   iwt_write(const char *path, const void *data, size_t len);

/* Run a command line through /bin/sh -c, capturing stdout and stderr
 * (each malloc'd, may be NULL pointers if not wanted).  Returns the exit
 * status (0-255) or -1.  `env` is an optional "K=V K2=V2" prefix string. */
int   iwt_run(const char *cmdline, char **out, char **err);

#endif
