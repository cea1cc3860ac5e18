/* fs.h - filesystem helpers: safe joins, mkdir -p, capped reads, atomic
 * writes (temp + fsync + rename + fsync dir) and advisory locks (fcntl). */
#ifndef IWDL_FS_H
#define IWDL_FS_H

#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "buf.h"

/* Validate an untrusted relative path (e.g. a file name from a server):
 * non-empty, not absolute, no "." or ".." component, no empty component,
 * no backslash, no NUL within len, no control characters.  Returns 0 or IW_EUNSAFE. */
int iw_path_check_relative(const char *rel, size_t len);

/* *out = base "/" rel (malloc'd) after iw_path_check_relative(rel). */
int iw_path_join(char **out, const char *base, const char *rel);

/* The last '/'-separated component of path (path itself when it has none). */
const char *iw_path_base(const char *path);
/* path ends with suffix, ASCII case ignored (".gguf", ".GGUF"). */
bool iw_path_ends_with(const char *path, const char *suffix);

int  iw_mkdir_p(const char *path, mode_t mode);
/* mkdir -p of the parent directory of path. */
int  iw_mkdir_parent(const char *path, mode_t mode);
bool iw_path_exists(const char *path);
bool iw_path_is_dir(const char *path);
bool iw_path_is_file(const char *path);

/* Read a whole file, failing with IW_ELIMIT if it is larger than max bytes. */
int iw_read_file(const char *path, size_t max, iw_buf *out);

/* Atomically replace path with data: write a temp file in the same directory,
 * fsync, rename over path, fsync the directory.  On any failure the original
 * file is untouched and the temp file removed.  One iw_staged file. */
int iw_write_atomic(const char *path, const void *data, size_t len);
int iw_fsync_dir(const char *dir);

/* The same without the fsyncs: readers (and a process killed mid-write)
 * see the old content or the new, never a mix, but after a power loss
 * either may be lost or empty.  For state that is validated when read and
 * rewritten often, where an fsync would block the writer for milliseconds
 * each time (the download's resume state, engine.c). */
int iw_write_replace(const char *path, const void *data, size_t len);

/* A file replaced through a temp beside it, in steps, so a writer of several
 * files (the registry's three) writes every temp, syncs them together, then
 * renames each: open, writev (as often as needed), sync (fsync and close),
 * rename over the destination, and iw_fsync_dir of the folder once.  The
 * temp "<dir>/.<name>.tmp.<pid>.<thread>.<n>" (n counts this process's temps)
 * is created O_EXCL|O_NOFOLLOW: no other writer shares it, a clash fails.
 * abort closes and unlinks the temp; it is safe after any step. */
typedef struct iw_staged { int fd; char *tmp; const char *path; } iw_staged;
#define IW_STAGED_INIT { -1, NULL, NULL }
int  iw_staged_open(iw_staged *s, const char *path);   /* path is borrowed until rename/abort */
int  iw_staged_writev(iw_staged *s, struct iovec *v, size_t n);   /* v is consumed */
int  iw_staged_sync(iw_staged *s);
int  iw_staged_rename(iw_staged *s);
void iw_staged_abort(iw_staged *s);
/* Test-only: IW_TEST_PAUSE_BEFORE_RENAME_MS=N (at most 60000) sleeps N ms,
 * the window between durable temps and their renames where crash tests kill
 * a writer.  Every staged writer calls it once before its renames. */
void iw_test_pause_before_rename(void);

/* Exclusive advisory lock on a sidecar lock file: an open-file-description
 * lock (fcntl F_OFD_SETLK[W]), so it excludes other threads of this process
 * as well as other processes, and works over NFS.  timeout_ms < 0 waits
 * forever, 0 tries once. */
typedef struct iw_lock { int fd; char *path; } iw_lock;
int  iw_lock_acquire(iw_lock *lk, const char *lock_path, int timeout_ms);
void iw_lock_release(iw_lock *lk);

#endif
