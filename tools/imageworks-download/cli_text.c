/* cli_text.c - number formatting the commands share (cli.h); its own file
 * so that progress.c and the test that includes it use the same one. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

void cli_human_bytes(char *out, size_t n, double b, int decimals)
{
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(out, n, "%.*f %s", i ? decimals : 0, b, u[i]);
}

void cli_grouped(char *out, size_t n, int64_t v)
{
    char raw[32], tmp[48];
    snprintf(raw, sizeof raw, "%lld", (long long)v);
    size_t len = strlen(raw), o = 0;
    for (size_t i = 0; i < len && o + 2 < sizeof tmp; i++) {
        tmp[o++] = raw[i];
        size_t left = len - i - 1;
        if (left && left % 3 == 0 && raw[i] != '-')
            tmp[o++] = ',';
    }
    tmp[o] = 0;
    snprintf(out, n, "%s", tmp);
}
