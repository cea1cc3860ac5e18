/* hash.c - streaming hashes over OpenSSL EVP. */
#include "iwdl/hash.h"
#include "iwdl/error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

struct iw_hash { EVP_MD_CTX *ctx; iw_hash_alg alg; };

int iw_hash_new(iw_hash **out, iw_hash_alg alg)
{
    *out = NULL;
    iw_hash *h = calloc(1, sizeof *h);
    if (!h)
        return iw_error_set(IW_ENOMEM, "out of memory");
    h->alg = alg;
    h->ctx = EVP_MD_CTX_new();
    const EVP_MD *md = alg == IW_HASH_SHA1 ? EVP_sha1() : EVP_sha256();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
        iw_hash_free(h);
        return iw_error_set(IW_ERR, "cannot initialise %s", alg == IW_HASH_SHA1 ? "sha1" : "sha256");
    }
    *out = h;
    return 0;
}

int iw_hash_new_git_blob(iw_hash **out, uint64_t size)
{
    int rc = iw_hash_new(out, IW_HASH_SHA1);
    if (rc < 0)
        return rc;
    char hdr[64];
    int n = snprintf(hdr, sizeof hdr, "blob %" PRIu64, size);
    return iw_hash_update(*out, hdr, (size_t)n + 1);  /* include the NUL */
}

int iw_hash_update(iw_hash *h, const void *data, size_t n)
{
    if (n && EVP_DigestUpdate(h->ctx, data, n) != 1)
        return iw_error_set(IW_ERR, "hash update failed");
    return 0;
}

int iw_hash_final_hex(iw_hash *h, char *out, size_t out_size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1)
        return iw_error_set(IW_ERR, "hash finalisation failed");
    if (out_size < (size_t)len * 2 + 1)
        return iw_error_set(IW_EINVAL, "hash output buffer too small");
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[2 * len] = 0;
    return 0;
}

void iw_hash_free(iw_hash *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

static int hash_fd(iw_hash *h, int fd, const char *path)
{
    static const size_t CH = 1 << 20;
    char *buf = malloc(CH);
    if (!buf)
        return iw_error_set(IW_ENOMEM, "out of memory");
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, CH);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = iw_error_set_os(IW_EIO, errno, "cannot read '%s'", path);
            break;
        }
        if (n == 0) break;
        if ((rc = iw_hash_update(h, buf, (size_t)n)) < 0)
            break;
    }
    free(buf);
    return rc;
}

int iw_hash_file_hex(const char *path, iw_hash_alg alg, char *out, size_t out_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot open '%s'", path);
    iw_hash *h = NULL;
    int rc = iw_hash_new(&h, alg);
    if (rc == 0)
        rc = hash_fd(h, fd, path);
    if (rc == 0)
        rc = iw_hash_final_hex(h, out, out_size);
    iw_hash_free(h);
    close(fd);
    return rc;
}

int iw_git_blob_sha1_file(const char *path, char out[41])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return iw_error_set_os(IW_EIO, errno, "cannot stat '%s'", path);
    }
    iw_hash *h = NULL;
    int rc = iw_hash_new_git_blob(&h, (uint64_t)st.st_size);
    if (rc == 0)
        rc = hash_fd(h, fd, path);
    if (rc == 0)
        rc = iw_hash_final_hex(h, out, 41);
    iw_hash_free(h);
    close(fd);
    return rc;
}

int iw_sha256_hex(const void *data, size_t n, char out[65])
{
    iw_hash *h = NULL;
    int rc = iw_hash_new(&h, IW_HASH_SHA256);
    if (rc == 0)
        rc = iw_hash_update(h, data, n);
    if (rc == 0)
        rc = iw_hash_final_hex(h, out, 65);
    iw_hash_free(h);
    return rc;
}
