/* text.c - UTF-8 checks (see text.h). */
#include "iwdl/text.h"

int iw_utf8_len(const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    int len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : -1;
    if (len < 0)
        return -1;
    unsigned char lo = 0x80, hi = 0xbf;   /* the second byte's range */
    if (c == 0xe0)
        lo = 0xa0;        /* overlong */
    else if (c == 0xed)
        hi = 0x9f;        /* surrogates */
    else if (c == 0xf0)
        lo = 0x90;        /* overlong */
    else if (c == 0xf4)
        hi = 0x8f;        /* above U+10FFFF */
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
            return -1;
    }
    return len;
}

bool iw_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int l = iw_utf8_len(p + i, n - i);
        if (l <= 0)
            return false;
        i += (size_t)l;
    }
    return true;
}
