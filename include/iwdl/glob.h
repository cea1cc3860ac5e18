/* glob.h - glob matching with huggingface_hub semantics (fnmatch on POSIX):
 * case-sensitive; '*' matches any run of characters INCLUDING '/'; '?' one
 * character; [abc], [a-z], [!abc] classes; no escapes.  A pattern ending in
 * '/' matches everything below that directory (it gets '*' appended). */
#ifndef IWDL_GLOB_H
#define IWDL_GLOB_H

#include <stdbool.h>
#include <stddef.h>

bool iw_glob_match(const char *pattern, const char *path);

/* huggingface_hub filter_repo_objects: kept if (no include patterns or any
 * include matches) and no exclude matches. */
bool iw_glob_filter(const char *path,
                    const char *const *include, size_t n_include,
                    const char *const *exclude, size_t n_exclude);

#endif
