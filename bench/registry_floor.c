/* registry_floor.c - the I/O floor of one registry write (bench/registry.sh).
 *
 * Does what an upsert must do with the bytes, and nothing else: read the
 * discovered file whole, write it to two temp files (discovered and
 * snapshot), fsync both, rename both over copies in the same folder, fsync
 * the folder.  No validation, no JSON.  Prints wall and CPU milliseconds.
 *
 *   cc -O2 -o registry_floor registry_floor.c && ./registry_floor FILE
 * (FILE's folder gets two scratch files, removed afterwards). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: registry_floor FILE\n");
        return 2;
    }
    char dir[4096], tmp[2][4200], dst[2][4200];
    snprintf(dir, sizeof dir, "%s", argv[1]);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    for (int i = 0; i < 2; i++) {
        snprintf(tmp[i], sizeof tmp[i], "%s/.floor%d.tmp", dir, i);
        snprintf(dst[i], sizeof dst[i], "%s/floor%d.json", dir, i);
    }
    double w0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die(argv[1]);
    char *b = malloc((size_t)st.st_size + 1);
    size_t n = 0;
    ssize_t k;
    while ((k = read(fd, b + n, (size_t)st.st_size - n)) > 0)
        n += (size_t)k;
    close(fd);
    int w[2];
    for (int i = 0; i < 2; i++) {
        if ((w[i] = open(tmp[i], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
            die(tmp[i]);
        for (size_t o = 0; o < n; o += (size_t)k)
            if ((k = write(w[i], b + o, n - o)) <= 0)
                die("write");
        sync_file_range(w[i], 0, 0, SYNC_FILE_RANGE_WRITE);
    }
    for (int i = 0; i < 2; i++)
        if (fsync(w[i]) != 0 || close(w[i]) != 0)
            die("fsync");
    for (int i = 0; i < 2; i++)
        if (rename(tmp[i], dst[i]) != 0)
            die("rename");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || fsync(dfd) != 0)
        die(dir);
    close(dfd);
    free(b);
    double w1 = now_ms(CLOCK_MONOTONIC), c1 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    printf("read + 2 x (write + fsync + rename) + fsync dir of %zu bytes: wall %.0f ms, cpu %.0f ms\n",
           n, w1 - w0, c1 - c0);
    for (int i = 0; i < 2; i++)
        unlink(dst[i]);
    return 0;
}
