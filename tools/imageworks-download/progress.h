/* progress.h - the download command's terminal progress (docs/download.md,
 * "Progress"): one line per active file and a total line, each fitted to
 * the terminal's width (TIOCGWINSZ, again after SIGWINCH) so that no line
 * wraps, long file names shortened in the middle, redrawn in place and
 * erased at the end so that no stale line stays on the screen.  The
 * per-file rate is measured here, over the last two seconds of samples of
 * that file, from its second sample on (never a "0 B/s" while bytes move). */
#ifndef IW_CLI_PROGRESS_H
#define IW_CLI_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#include "iwdl/download.h"

typedef struct dl_progress dl_progress;

/* Progress on the terminal `out` (stderr); installs a SIGWINCH handler
 * until dl_progress_free.  NULL when out of memory. */
dl_progress *dl_progress_new(FILE *out);
/* Feed every download event; PROGRESS events redraw. */
void dl_progress_event(dl_progress *p, const iw_dl_event *ev);
/* Erase the lines drawn so far (before printing anything else). */
void dl_progress_clear(dl_progress *p);
void dl_progress_free(dl_progress *p);

/* Terminal columns of s as this file counts them: ASCII 1, any other code
 * point 2 (never less than it takes), control bytes 1 (shown as '?'). */
size_t dl_text_columns(const char *s);
/* s in at most `cols` columns: control bytes as '?', shortened in the
 * middle with "..." when too long.  Writes a NUL-terminated string into
 * out (n bytes) and returns its columns. */
size_t dl_fit_middle(const char *s, size_t cols, char *out, size_t n);

#endif
