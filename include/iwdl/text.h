/* text.h - UTF-8 checks shared by the parsers and the CLI. */
#ifndef IWDL_TEXT_H
#define IWDL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the UTF-8 sequence at p (n bytes available): 1-4 when valid
 * (no overlong form, surrogate or code point above U+10FFFF), 0 when it is
 * cut short by the end of the n bytes, -1 when invalid. */
int  iw_utf8_len(const unsigned char *p, size_t n);
/* The n bytes at s are valid UTF-8. */
bool iw_utf8_valid(const char *s, size_t n);

#endif
