/* glob.c - fnmatch-style matching with huggingface_hub semantics.
 * Iterative with single-star backtracking: O(len(pattern) * len(path)),
 * no recursion, so hostile patterns cannot blow the stack. */
#include "iwdl/glob.h"

#include <string.h>

/* Match a [...] class at p (p points after '['); returns the position after
 * ']' and sets *ok, or NULL when the class is unterminated (then '[' is literal). */
static const char *match_class(const char *p, char c, bool *ok)
{
    bool neg = false, hit = false;
    if (*p == '!') { neg = true; p++; }
    const char *start = p;
    while (*p && (*p != ']' || p == start)) {
        if (p[1] == '-' && p[2] && p[2] != ']') {
            if ((unsigned char)c >= (unsigned char)p[0] && (unsigned char)c <= (unsigned char)p[2])
                hit = true;
            p += 3;
        } else {
            if (*p == c)
                hit = true;
            p++;
        }
    }
    if (*p != ']')
        return NULL;
    *ok = hit != neg;
    return p + 1;
}

static bool match(const char *pat, const char *s)
{
    const char *star_p = NULL, *star_s = NULL;
    while (*s) {
        if (*pat == '*') {
            while (*pat == '*') pat++;
            if (!*pat) return true;
            star_p = pat;
            star_s = s;
            continue;
        }
        if (*pat == '?') {
            pat++; s++;
            continue;
        }
        if (*pat == '[') {
            bool ok = false;
            const char *next = match_class(pat + 1, *s, &ok);
            if (next) {
                if (ok) { pat = next; s++; continue; }
                goto backtrack;
            }
            /* unterminated class: literal '[' */
        }
        if (*pat && *pat == *s) {
            pat++; s++;
            continue;
        }
backtrack:
        if (!star_p)
            return false;
        pat = star_p;
        s = ++star_s;
    }
    while (*pat == '*') pat++;
    return *pat == 0;
}

bool iw_glob_match(const char *pattern, const char *path)
{
    if (!pattern || !path)
        return false;
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '/') {
        /* "dir/" means everything below dir: match pattern + "*" */
        char buf[4096];
        if (n + 2 > sizeof buf) return false;
        memcpy(buf, pattern, n);
        buf[n] = '*';
        buf[n + 1] = 0;
        return match(buf, path);
    }
    return match(pattern, path);
}

bool iw_glob_filter(const char *path,
                    const char *const *include, size_t n_include,
                    const char *const *exclude, size_t n_exclude)
{
    if (n_include > 0) {
        bool any = false;
        for (size_t i = 0; i < n_include && !any; i++)
            any = iw_glob_match(include[i], path);
        if (!any)
            return false;
    }
    for (size_t i = 0; i < n_exclude; i++)
        if (iw_glob_match(exclude[i], path))
            return false;
    return true;
}
