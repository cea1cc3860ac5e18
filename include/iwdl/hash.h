/* hash.h - streaming sha256 / sha1 (OpenSSL EVP) and git blob ids. */
#ifndef IWDL_HASH_H
#define IWDL_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef enum { IW_HASH_SHA256 = 0, IW_HASH_SHA1 = 1 } iw_hash_alg;

typedef struct iw_hash iw_hash;

int  iw_hash_new(iw_hash **out, iw_hash_alg alg);
/* A git blob id: sha1 over "blob <size>\0" + content. */
int  iw_hash_new_git_blob(iw_hash **out, uint64_t size);
int  iw_hash_update(iw_hash *h, const void *data, size_t n);
/* Lowercase hex into out (65 bytes for sha256, 41 for sha1). */
int  iw_hash_final_hex(iw_hash *h, char *out, size_t out_size);
void iw_hash_free(iw_hash *h);

int  iw_hash_file_hex(const char *path, iw_hash_alg alg, char *out, size_t out_size);
int  iw_git_blob_sha1_file(const char *path, char out[41]);
int  iw_sha256_hex(const void *data, size_t n, char out[65]);

#endif
