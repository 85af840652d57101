/* The chat's message store: SQLite, off the event loop.
 *
 * The tutorial (steps 7-8) keeps every chat message in one table, dedupes
 * client retries by a client-chosen offset, and replays the rows a
 * reconnecting client missed. Here the database work runs on the library's
 * work queue (sio_loop_work: a thread pool), so the loop thread never waits
 * on the disk:
 *
 *  - The loop thread submits requests (chat_store_insert,
 *    chat_store_replay).
 *  - All inserts queued while the previous group commits go to the
 *    database together in one transaction (group commit: one fsync per
 *    group, not per message). Replays fetch one batch at a time, round
 *    robin, on their own connection, so inserts and replays run side by
 *    side and neither starves the other.
 *  - Every callback runs on the loop thread (in the work queue's
 *    completions): insert callbacks in submission order.
 *
 * Every function here is for the loop thread only. Errors are the SIO_E*
 * codes of sioc.h. */
#ifndef SIOC_CHAT_STORE_H
#define SIOC_CHAT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "sioc.h"

typedef struct chat_store chat_store;
typedef struct chat_replay chat_replay;

/* Filled with defaults by chat_store_options_init. */
typedef struct chat_store_options {
    const char *path;               /* database file, read only by open; default "chat.db" */
    int synchronous_full;           /* 1 (default): PRAGMA synchronous=FULL, durable across
                                       power loss; 0: NORMAL, durable across crashes only */
    size_t replay_batch;            /* rows per replay batch, 1..1000000; default 500 */
    int busy_timeout_ms;            /* wait this long for another process's lock; default 5000 */
    size_t max_pending;             /* inserts submitted but not yet called back before
                                       chat_store_insert says SIO_ELIMIT; 0 = no limit;
                                       default 100000 */
    const sio_allocator *allocator; /* the store's own memory (requests, replay
                                       batches; used from the pool's threads too);
                                       NULL (default): libc's. Copied at open. */
    unsigned commit_delay_ms;       /* for tests: a write job waits this long after its
                                       COMMIT before it completes, which widens the
                                       moment when readers see rows whose insert
                                       callbacks have not run yet; default 0 */
} chat_store_options;

/* Counters, for tests and monitoring. */
typedef struct chat_store_stats {
    uint64_t commits;        /* group transactions committed */
    uint64_t rows;           /* rows inserted (committed) */
    uint64_t duplicates;     /* inserts answered SIO_EEXIST */
    uint64_t failures;       /* inserts answered SIO_EIO */
    uint64_t replay_batches; /* replay batches fetched */
} chat_store_stats;

/* Insert completion: status 0 = committed and id is the new row's id (ids
 * ascend in commit order but may have gaps: a duplicate can use one up);
 * SIO_EEXIST = client_offset already stored, id is that row's id and nothing
 * was stored; SIO_EIO = database failure, nothing stored (logged to stderr),
 * id is 0. */
typedef void (*chat_insert_cb)(int status, int64_t id, void *data);

/* One replay batch: n >= 1 rows in ascending id order. contents[i] holds
 * lens[i] bytes plus a NUL (the content may itself hold NULs). The arrays
 * are valid only during the call. */
typedef void (*chat_batch_cb)(const int64_t *ids, const char *const *contents, const size_t *lens,
                              size_t n, void *data);

/* End of a replay: 0 = every row was delivered; SIO_EIO / SIO_ENOMEM = it
 * stopped early; SIO_ECLOSED = the store closed first. The replay handle is
 * freed right after this returns. */
typedef void (*chat_done_cb)(int status, void *data);

void chat_store_options_init(chat_store_options *o);

/* Opens (or creates) the database and its table synchronously (meant for
 * startup, before the loop runs); the store's jobs then run on loop's work
 * queue. Returns 0 and sets *out, or SIO_EINVAL (bad options, loop NULL),
 * SIO_ENOMEM, SIO_EIO (the database cannot be opened, created or written;
 * logged to stderr). */
int chat_store_open(chat_store **out, sio_loop *loop, const chat_store_options *o);

/* The newest row's id (0: none) into *out, synchronously (startup, as
 * chat_store_open). SIO_EIO (logged to stderr). */
int chat_store_last_id(chat_store *s, int64_t *out);

/* Queues one message. client_offset[0..offset_len) (may be NULL: no
 * dedupe; compared and stored as exactly these bytes, NULs included) and
 * content[0..content_len) are copied. cb runs later on the loop thread,
 * exactly once (also when the store is closed first).
 * Returns 0, or SIO_EINVAL (cb NULL, a length > INT_MAX), SIO_ENOMEM,
 * SIO_ELIMIT (max_pending reached), SIO_ECLOSED (closing); on error cb
 * never runs. */
int chat_store_insert(chat_store *s, const char *client_offset, size_t offset_len,
                      const char *content, size_t content_len, chat_insert_cb cb, void *data);

/* Streams the rows with id > after_id in id order: batch_cb once per batch
 * of at most replay_batch rows, then done_cb once. The next batch is only
 * fetched after batch_cb for the previous one has returned, so a replay
 * holds at most one batch in memory. Rows committed while the replay runs
 * may or may not be included. *handle (if handle is not NULL) identifies
 * the replay for chat_replay_cancel until done_cb starts.
 * Returns 0, or SIO_EINVAL, SIO_ENOMEM, SIO_ECLOSED; on error no callback
 * runs. */
int chat_store_replay(chat_store *s, int64_t after_id, chat_batch_cb batch_cb, chat_done_cb done_cb,
                      void *data, chat_replay **handle);

/* Drops a replay (its socket went away): neither callback runs again, even
 * if called from inside batch_cb, and its memory is released. Harmless from
 * inside done_cb; never after done_cb has returned (the handle is gone).
 * NULL is a no-op. */
void chat_replay_cancel(chat_replay *r);

/* Copies the counters into *out. */
void chat_store_stats_get(chat_store *s, chat_store_stats *out);

/* Closes the store without blocking the loop: no new request is taken
 * (SIO_ECLOSED), the submitted inserts are still committed and called
 * back, replays end with done_cb(SIO_ECLOSED) (waiting ones at once, one
 * whose batch is being read after that batch), then a last job closes the
 * database, and cb(data) (may be NULL) runs on the loop thread once the
 * store is freed. Queued jobs keep the loop running until then. A second
 * call, or s NULL, does nothing. */
void chat_store_close(chat_store *s, void (*cb)(void *data), void *data);

#endif
