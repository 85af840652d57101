/* The chat's SQLite store: see store.h for the contract.
 *
 * Threads. The loop thread owns everything a callback can see; the writer
 * thread owns the read-write sqlite3 connection and its statements, the
 * reader thread a read-only one for replays (each is opened on the loop
 * thread before the threads start and closed by its thread as it exits, so
 * no connection is used by two threads). Replays have their own thread and
 * connection because WAL readers are never blocked by a writer: a replay
 * must not wait while the writer waits (busy_timeout) for another process's
 * write lock. The threads meet only at the mutex, which guards three lists
 * and a few fields:
 *
 *   loop --insert--> inserts  -----> writer --\
 *   loop --replay--> replays  -----> reader ---+--> done --> loop (drain)
 *
 * A request belongs to exactly one side at a time; moving it between lists
 * under the mutex is the hand-off, so its fields need no other locking.
 *
 * Rounds. Each writer round takes every queued insert and commits them in
 * one BEGIN IMMEDIATE ... COMMIT (group commit); each reader round fetches
 * one batch of one replay (round robin: the replay goes to the back of the
 * line once its batch has been delivered). A statement-level failure (a trigger's RAISE,
 * a too-big row) fails only its own row: SQLite undoes that statement and
 * keeps the transaction. If SQLite instead drops the whole transaction
 * (I/O error, disk full) or COMMIT fails, every row of the group fails;
 * clients retry with the same client_offset, so nothing is stored twice.
 *
 * Duplicates. INSERT ... ON CONFLICT(client_offset) DO NOTHING RETURNING id
 * returns no row for a duplicate; the existing id is then looked up inside
 * the same transaction, which also sees rows inserted earlier in the same
 * group, so two copies in one group get 0 and SIO_EEXIST with the first id.
 *
 * Replays. A replay is a cursor (the last id delivered). Its batch buffers
 * are reused, and the next batch is fetched only after the previous one was
 * delivered, so a replay holds at most one batch. Cancelling unlinks it at
 * once when it waits in a list; when the worker or a callback holds it, a
 * flag makes the next owner on the loop thread free it. */
#define _POSIX_C_SOURCE 200809L /* pthread_sigmask under -std=c11 too */
#include "store.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "core/alloc.h"
#include "core/list.h"

/* What a queued request is; both kinds start with this header. */
typedef struct req {
    sio__list node; /* in inserts, replays or done (or a drain's local list) */
    int kind;       /* REQ_INSERT or REQ_REPLAY */
} req;

enum { REQ_INSERT, REQ_REPLAY };

/* One insert; its strings live in the same allocation, after the struct. */
typedef struct insert_req {
    req base;
    chat_insert_cb cb;   /* completion, run by drain */
    void *data;          /* passed to cb */
    const char *offset;  /* client_offset copy (exact bytes, may hold NULs), or
                            NULL for no dedupe */
    size_t olen;         /* client_offset bytes */
    const char *content; /* content copy, NUL-terminated */
    size_t len;          /* content bytes */
    int status;          /* 0, SIO_EEXIST or SIO_EIO, set by the worker */
    int64_t id;          /* new or existing row id, set by the worker */
} insert_req;

/* Where a replay is; guarded by the store mutex. */
enum {
    RP_QUEUED, /* in store->replays, waiting for the worker */
    RP_BUSY,   /* the worker is fetching its batch */
    RP_DONE,   /* in store->done, its batch waiting for a drain */
    RP_LOOP    /* taken by a drain on the loop thread */
};

struct chat_replay {
    req base;
    chat_store *store;      /* owner, for cancel */
    chat_batch_cb batch_cb; /* per batch */
    chat_done_cb done_cb;   /* once at the end */
    void *data;             /* passed to both */
    int64_t cursor;         /* last id fetched: the next batch starts after it */
    int where;              /* RP_*, under the mutex */
    int cancelled;          /* set by cancel while the worker or a callback holds it */
    int status;             /* result of the last fetch (0 or SIO_E*) */
    int exhausted;          /* the last fetch reached the end of the table */
    size_t n;               /* rows in the current batch */
    size_t rows_cap;        /* rows the three arrays below can hold (grown on use) */
    int64_t *ids;           /* ids of the batch */
    size_t *lens;           /* content lengths */
    const char **ptrs;      /* pointers into blob */
    char *blob;             /* the batch's contents, each followed by a NUL */
    size_t blob_len;        /* bytes used in blob */
    size_t blob_cap;        /* bytes allocated for blob */
};

struct chat_store {
    pthread_t thread;          /* the writer (inserts) */
    pthread_t reader;          /* the reader (replays) */
    pthread_mutex_t mu;        /* guards the lists, stopping, stats and replay->where */
    pthread_cond_t cv;         /* wakes the threads when work or stop arrives (broadcast) */
    sio__list inserts;         /* queued inserts (mu) */
    sio__list replays;         /* replays waiting for their next batch (mu) */
    sio__list done;            /* finished requests waiting for a drain (mu) */
    int stopping;              /* close has begun: no new work (mu; written by loop) */
    chat_store_stats stats;    /* counters (mu) */
    void (*wakeup)(void *);    /* tells the loop that done is not empty */
    void *wakeup_arg;          /* passed to wakeup */
    size_t pending;            /* loop only: inserts submitted and not yet drained */
    size_t max_pending;        /* loop only: limit on pending, 0 = none */
    int draining;              /* loop only: a drain is running (no nesting) */
    int closing;               /* loop only: the final drain ends replays */
    size_t replay_batch;       /* rows per replay batch */
    sqlite3 *db;               /* the writer's connection */
    sqlite3 *rdb;              /* the reader's connection (read-only) */
    sqlite3_stmt *st_insert;   /* INSERT ... ON CONFLICT DO NOTHING RETURNING id */
    sqlite3_stmt *st_lookup;   /* id of an existing client_offset */
    sqlite3_stmt *st_replay;   /* one batch after a cursor (on rdb) */
    sqlite3_stmt *st_begin;    /* BEGIN IMMEDIATE */
    sqlite3_stmt *st_commit;   /* COMMIT */
    sqlite3_stmt *st_rollback; /* ROLLBACK */
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "client_offset TEXT UNIQUE, content TEXT)";

/* Failures are logged, not returned in detail: callers only get SIO_EIO. */
static void log_db(sqlite3 *db, const char *what)
{
    fprintf(stderr, "sioc-chat store: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Moves every node of src to the tail of dst, keeping their order. */
static void list_move_all(sio__list *dst, sio__list *src)
{
    if (sio__list_empty(src))
        return;
    src->next->prev = dst->prev;
    dst->prev->next = src->next;
    src->prev->next = dst;
    dst->prev = src->prev;
    sio__list_init(src);
}

void chat_store_options_init(chat_store_options *o)
{
    memset(o, 0, sizeof *o);
    o->path = "chat.db";
    o->synchronous_full = 1;
    o->replay_batch = 500;
    o->busy_timeout_ms = 5000;
    o->max_pending = 100000;
}

/* ------------------------------------------------------------- database */

/* Finalizes the statements and closes the connection (NULLs are fine). */
static void db_close(chat_store *s)
{
    sqlite3_finalize(s->st_insert);
    sqlite3_finalize(s->st_lookup);
    sqlite3_finalize(s->st_begin);
    sqlite3_finalize(s->st_commit);
    sqlite3_finalize(s->st_rollback);
    if (sqlite3_close(s->db) != SQLITE_OK)
        log_db(s->db, "close");
    s->db = NULL;
}

/* Runs one statement with no result rows; 0 or SIO_EIO (logged). */
static int db_exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    log_db(db, sql);
    return SIO_EIO;
}

/* Switches to WAL, which lets the worker commit without blocking readers
 * in other processes; a database that cannot use it (":memory:") keeps
 * working in its own mode. */
static int db_wal(sqlite3 *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK) {
        log_db(db, "journal_mode");
        return SIO_EIO;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        if (mode == NULL || strcmp(mode, "wal") != 0)
            fprintf(stderr, "sioc-chat store: journal mode is %s, not wal\n", mode ? mode : "?");
    } else {
        log_db(db, "journal_mode");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : SIO_EIO;
}

/* Prepares the statements the worker reuses for every request. */
static int db_prepare(chat_store *s)
{
    static const struct {
        size_t off;
        const char *sql;
    } stmts[] = {
        {offsetof(chat_store, st_insert), "INSERT INTO messages (client_offset, content) "
                                          "VALUES (?1, ?2) ON CONFLICT(client_offset) "
                                          "DO NOTHING RETURNING id"},
        {offsetof(chat_store, st_lookup), "SELECT id FROM messages WHERE client_offset = ?1"},
        {offsetof(chat_store, st_begin), "BEGIN IMMEDIATE"},
        {offsetof(chat_store, st_commit), "COMMIT"},
        {offsetof(chat_store, st_rollback), "ROLLBACK"},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        sqlite3_stmt **slot = (sqlite3_stmt **)((char *)s + stmts[i].off);
        if (sqlite3_prepare_v3(s->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) !=
            SQLITE_OK) {
            log_db(s->db, stmts[i].sql);
            return SIO_EIO;
        }
    }
    return 0;
}

/* Opens the file and makes sure the table exists and is writable. */
/* The reader's connection and its one statement, opened after the writer
 * has made sure the table exists. */
static int rdb_open(chat_store *s, const chat_store_options *o)
{
    int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
    static const char sql[] = "SELECT id, content FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2";
    if (sqlite3_open_v2(o->path, &s->rdb, flags, NULL) != SQLITE_OK) {
        log_db(s->rdb, o->path);
        return SIO_EIO;
    }
    sqlite3_extended_result_codes(s->rdb, 1);
    sqlite3_busy_timeout(s->rdb, o->busy_timeout_ms);
    if (sqlite3_prepare_v3(s->rdb, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st_replay, NULL) !=
        SQLITE_OK) {
        log_db(s->rdb, sql);
        return SIO_EIO;
    }
    return 0;
}

static void rdb_close(chat_store *s)
{
    sqlite3_finalize(s->st_replay);
    s->st_replay = NULL;
    if (sqlite3_close(s->rdb) != SQLITE_OK)
        log_db(s->rdb, "close");
    s->rdb = NULL;
}

static int db_open(chat_store *s, const chat_store_options *o)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(o->path, &s->db, flags, NULL) != SQLITE_OK) {
        log_db(s->db, o->path);
        return SIO_EIO;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, o->busy_timeout_ms);
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        fprintf(stderr, "sioc-chat store: %s: database is read-only\n", o->path);
        return SIO_EIO;
    }
    if (db_wal(s->db) != 0)
        return SIO_EIO;
    if (db_exec(s->db,
                o->synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") != 0)
        return SIO_EIO;
    if (db_exec(s->db, schema_sql) != 0)
        return SIO_EIO;
    if (db_prepare(s) != 0)
        return SIO_EIO;
    return rdb_open(s, o);
}

/* Steps a statement to its end; SQLITE_DONE or the error code. */
static int db_run(sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    return rc;
}

/* ----------------------------------------------------------- the worker */

/* The id stored under client_offset, looked up after a conflict. */
static int lookup_offset(chat_store *s, const insert_req *q, int64_t *id)
{
    sqlite3_stmt *st = s->st_lookup;
    int status = SIO_EIO;
    sqlite3_bind_text(st, 1, q->offset, (int)q->olen, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        status = SIO_EEXIST;
    } else {
        log_db(s->db, "duplicate lookup");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return status;
}

/* Inserts one row inside the open transaction; sets q->status and q->id. */
static void insert_one(chat_store *s, insert_req *q)
{
    sqlite3_stmt *st = s->st_insert;
    q->id = 0;
    /* With its length, never as a C string: offsets that differ only after
     * a NUL are different offsets (the BINARY collation compares every
     * byte). */
    if (q->offset)
        sqlite3_bind_text(st, 1, q->offset, (int)q->olen, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_text(st, 2, q->content, (int)q->len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int inserted = rc == SQLITE_ROW;
    if (inserted) {
        q->id = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE)
        log_db(s->db, "insert");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        q->status = SIO_EIO;
    else if (inserted)
        q->status = 0;
    else
        q->status = q->offset ? lookup_offset(s, q, &q->id) : SIO_EIO;
}

/* Marks every insert of the group failed (its transaction is gone). */
static void fail_group(sio__list *group)
{
    sio__list *it;
    for (it = group->next; it != group; it = it->next) {
        insert_req *q = SIO_CONTAINER_OF(it, insert_req, base.node);
        q->status = SIO_EIO;
        q->id = 0;
    }
}

/* Adds the group's outcome to the counters in d. */
static void count_group(sio__list *group, chat_store_stats *d)
{
    sio__list *it;
    for (it = group->next; it != group; it = it->next) {
        insert_req *q = SIO_CONTAINER_OF(it, insert_req, base.node);
        if (q->status == 0)
            d->rows++;
        else if (q->status == SIO_EEXIST)
            d->duplicates++;
        else
            d->failures++;
    }
}

/* Commits every insert of the group in one transaction. */
static void commit_group(chat_store *s, sio__list *group, chat_store_stats *d)
{
    sio__list *it;
    int ok = db_run(s->st_begin) == SQLITE_DONE;
    if (!ok)
        log_db(s->db, "begin");
    for (it = group->next; ok && it != group; it = it->next) {
        insert_one(s, SIO_CONTAINER_OF(it, insert_req, base.node));
        /* Autocommit back on means SQLite rolled the whole group back. */
        ok = !sqlite3_get_autocommit(s->db);
    }
    if (ok && db_run(s->st_commit) != SQLITE_DONE) {
        log_db(s->db, "commit");
        ok = 0;
    }
    if (!ok) {
        if (!sqlite3_get_autocommit(s->db))
            db_run(s->st_rollback);
        fail_group(group);
    } else {
        d->commits++;
    }
    count_group(group, d);
}

/* Appends one row's content (and a NUL) to the replay's blob. */
static int blob_append(chat_replay *r, const void *p, size_t len)
{
    if (r->blob_cap - r->blob_len < len + 1) {
        size_t cap = r->blob_cap ? r->blob_cap : 4096;
        while (cap - r->blob_len < len + 1)
            cap *= 2;
        char *nb = sio__realloc(r->blob, cap);
        if (nb == NULL)
            return SIO_ENOMEM;
        r->blob = nb;
        r->blob_cap = cap;
    }
    if (len)
        memcpy(r->blob + r->blob_len, p, len);
    r->blob[r->blob_len + len] = '\0';
    r->blob_len += len + 1;
    return 0;
}

/* Points ptrs[] into the blob once it has stopped moving. */
static void batch_finish(chat_replay *r)
{
    size_t off = 0;
    for (size_t i = 0; i < r->n; i++) {
        r->ptrs[i] = r->blob + off;
        off += r->lens[i] + 1;
    }
}

/* Grows the row arrays to hold one more row: a replay that finds little
 * to send (the common case on connect) never holds a full batch's arrays. */
static int ensure_row(chat_replay *r, size_t max)
{
    if (r->n < r->rows_cap)
        return 0;
    size_t cap = r->rows_cap ? r->rows_cap * 2 : 16;
    if (cap > max)
        cap = max;
    int64_t *ids = sio__realloc(r->ids, cap * sizeof *ids);
    if (ids)
        r->ids = ids;
    size_t *lens = sio__realloc(r->lens, cap * sizeof *lens);
    if (lens)
        r->lens = lens;
    const char **ptrs = ids && lens ? sio__realloc(r->ptrs, cap * sizeof *ptrs) : NULL;
    if (ptrs == NULL)
        return SIO_ENOMEM;
    r->ptrs = ptrs;
    r->rows_cap = cap;
    return 0;
}

/* Reads the rows after the replay's cursor into its buffers. */
static void fetch_batch(chat_store *s, chat_replay *r)
{
    sqlite3_stmt *st = s->st_replay;
    int rc = SQLITE_DONE;
    r->n = 0;
    r->blob_len = 0;
    r->status = 0;
    sqlite3_bind_int64(st, 1, r->cursor);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)s->replay_batch);
    while (r->status == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((r->status = ensure_row(r, s->replay_batch)) != 0)
            break;
        const void *text = sqlite3_column_text(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        r->status = blob_append(r, text, text ? len : 0);
        r->ids[r->n] = sqlite3_column_int64(st, 0);
        r->lens[r->n] = text ? len : 0;
        r->n += r->status == 0;
    }
    if (r->status == 0 && rc != SQLITE_DONE) {
        log_db(s->rdb, "replay");
        r->status = SIO_EIO;
    }
    sqlite3_reset(st);
    if (r->status != 0)
        r->n = 0;
    r->exhausted = r->status != 0 || r->n < s->replay_batch;
    if (r->n > 0)
        r->cursor = r->ids[r->n - 1];
    batch_finish(r);
}

/* Moves one round's results to the done list and tells the loop. */
static void publish_round(chat_store *s, sio__list *group, chat_replay *r,
                          const chat_store_stats *d)
{
    pthread_mutex_lock(&s->mu);
    s->stats.commits += d->commits;
    s->stats.rows += d->rows;
    s->stats.duplicates += d->duplicates;
    s->stats.failures += d->failures;
    s->stats.replay_batches += d->replay_batches;
    list_move_all(&s->done, group);
    if (r) {
        r->where = RP_DONE;
        sio__list_insert_tail(&s->done, &r->base.node);
    }
    pthread_mutex_unlock(&s->mu);
    if (s->wakeup)
        s->wakeup(s->wakeup_arg);
}

/* Called with the mutex held once stopping and idle: replays end closed. */
static void end_replays_locked(chat_store *s)
{
    while (!sio__list_empty(&s->replays)) {
        chat_replay *r = SIO_CONTAINER_OF(s->replays.next, chat_replay, base.node);
        sio__list_remove(&r->base.node);
        r->n = 0;
        r->status = SIO_ECLOSED;
        r->where = RP_DONE;
        sio__list_insert_tail(&s->done, &r->base.node);
    }
}

/* The worker: rounds of (all inserts in one transaction, one replay
 * batch) until close; queued inserts are always finished before exiting. */
static void *worker_main(void *arg)
{
    chat_store *s = arg;
    sio__list group;
    sio__list_init(&group);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && sio__list_empty(&s->inserts))
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping && sio__list_empty(&s->inserts))
            break;
        list_move_all(&group, &s->inserts);
        pthread_mutex_unlock(&s->mu);
        chat_store_stats d = {0};
        commit_group(s, &group, &d);
        publish_round(s, &group, NULL, &d);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    db_close(s);
    return NULL;
}

/* The reader: one batch of the replay at the head of the line per round,
 * on its own read-only connection, so replays go on while the writer waits
 * for a lock. At close it ends the replays still waiting. */
static void *reader_main(void *arg)
{
    chat_store *s = arg;
    sio__list none;
    sio__list_init(&none);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && sio__list_empty(&s->replays))
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping)
            break;
        chat_replay *r = SIO_CONTAINER_OF(s->replays.next, chat_replay, base.node);
        sio__list_remove(&r->base.node);
        r->where = RP_BUSY;
        pthread_mutex_unlock(&s->mu);
        fetch_batch(s, r);
        chat_store_stats d = {.replay_batches = 1};
        publish_round(s, &none, r, &d);
        pthread_mutex_lock(&s->mu);
    }
    end_replays_locked(s);
    pthread_mutex_unlock(&s->mu);
    rdb_close(s);
    return NULL;
}

/* Frees the store's resources that exist before the worker starts. */
static void store_free(chat_store *s)
{
    if (s->rdb)
        rdb_close(s);
    if (s->db)
        db_close(s);
    sio__free(s);
}

/* Starts the worker with every signal blocked, so that signals reach the
 * loop thread (which handles SIGINT/SIGTERM) rather than the worker. */
static int start_worker(chat_store *s)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->reader, NULL, reader_main, s);
    if (rc == 0 && (rc = pthread_create(&s->thread, NULL, worker_main, s)) != 0) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->reader, NULL); /* it closed rdb */
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Checks the options a store cannot work without. */
static int options_valid(const chat_store_options *o)
{
    return o && o->path && o->replay_batch >= 1 && o->replay_batch <= 1000000 &&
           o->busy_timeout_ms >= 0;
}

int chat_store_open(chat_store **out, const chat_store_options *o, void (*wakeup)(void *),
                    void *wakeup_arg)
{
    if (out == NULL || !options_valid(o))
        return SIO_EINVAL;
    *out = NULL;
    chat_store *s = sio__calloc(1, sizeof *s);
    if (s == NULL)
        return SIO_ENOMEM;
    sio__list_init(&s->inserts);
    sio__list_init(&s->replays);
    sio__list_init(&s->done);
    s->wakeup = wakeup;
    s->wakeup_arg = wakeup_arg;
    s->max_pending = o->max_pending;
    s->replay_batch = o->replay_batch;
    int rc = db_open(s, o);
    if (rc != 0)
        goto fail_db;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto fail_db;
    if (pthread_cond_init(&s->cv, NULL) != 0)
        goto fail_cv;
    if (start_worker(s) != 0)
        goto fail_thread;
    *out = s;
    return 0;
fail_thread:
    pthread_cond_destroy(&s->cv);
fail_cv:
    pthread_mutex_destroy(&s->mu);
fail_db:
    store_free(s);
    return rc ? rc : SIO_ENOMEM;
}

/* Queues a request for the worker and wakes it. */
static void submit(chat_store *s, sio__list *queue, sio__list *node)
{
    pthread_mutex_lock(&s->mu);
    sio__list_insert_tail(queue, node);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int chat_store_insert(chat_store *s, const char *client_offset, size_t offset_len,
                      const char *content, size_t content_len, chat_insert_cb cb, void *data)
{
    if (s == NULL || cb == NULL || content_len > INT_MAX || offset_len > INT_MAX ||
        (content == NULL && content_len))
        return SIO_EINVAL;
    if (s->stopping)
        return SIO_ECLOSED;
    if (s->max_pending && s->pending >= s->max_pending)
        return SIO_ELIMIT;
    size_t olen = client_offset ? offset_len + 1 : 0;
    insert_req *q = sio__malloc(sizeof *q + olen + content_len + 1);
    if (q == NULL)
        return SIO_ENOMEM;
    char *p = (char *)(q + 1);
    q->base.kind = REQ_INSERT;
    q->cb = cb;
    q->data = data;
    q->offset = client_offset ? memcpy(p, client_offset, offset_len) : NULL;
    q->olen = offset_len;
    if (content_len)
        memcpy(p + olen, content, content_len);
    p[olen + content_len] = '\0';
    q->content = p + olen;
    q->len = content_len;
    q->status = 0;
    q->id = 0;
    s->pending++;
    submit(s, &s->inserts, &q->base.node);
    return 0;
}

/* Frees a replay and its batch buffers. */
static void replay_free(chat_replay *r)
{
    sio__free(r->ids);
    sio__free(r->lens);
    sio__free(r->ptrs);
    sio__free(r->blob);
    sio__free(r);
}

int chat_store_replay(chat_store *s, int64_t after_id, chat_batch_cb batch_cb, chat_done_cb done_cb,
                      void *data, chat_replay **handle)
{
    if (s == NULL || batch_cb == NULL || done_cb == NULL)
        return SIO_EINVAL;
    if (s->stopping)
        return SIO_ECLOSED;
    chat_replay *r = sio__calloc(1, sizeof *r);
    if (r == NULL)
        return SIO_ENOMEM;
    r->base.kind = REQ_REPLAY;
    r->store = s;
    r->batch_cb = batch_cb;
    r->done_cb = done_cb;
    r->data = data;
    r->cursor = after_id;
    r->where = RP_QUEUED;
    if (handle)
        *handle = r;
    submit(s, &s->replays, &r->base.node);
    return 0;
}

void chat_replay_cancel(chat_replay *r)
{
    if (r == NULL)
        return;
    chat_store *s = r->store;
    int unlinked = 0;
    pthread_mutex_lock(&s->mu);
    if (r->where == RP_QUEUED || r->where == RP_DONE) {
        /* Waiting in a list: nobody else holds it, so it can go now. */
        sio__list_remove(&r->base.node);
        unlinked = 1;
    } else {
        r->cancelled = 1;
    }
    pthread_mutex_unlock(&s->mu);
    if (unlinked)
        replay_free(r);
}

/* Ends a replay on the loop thread: done_cb, then free. Cancel from inside
 * done_cb is harmless because the replay is already marked cancelled. */
static void replay_finish(chat_replay *r, int status)
{
    r->cancelled = 1;
    r->done_cb(status, r->data);
    replay_free(r);
}

/* Delivers a fetched batch, then ends the replay or queues the next one. */
static void replay_deliver(chat_store *s, chat_replay *r)
{
    if (!r->cancelled && r->status == 0 && r->n > 0)
        r->batch_cb(r->ids, r->ptrs, r->lens, r->n, r->data);
    if (r->cancelled) {
        replay_free(r);
        return;
    }
    if (r->status != 0 || r->exhausted || s->closing) {
        replay_finish(r, r->status != 0 || r->exhausted ? r->status : SIO_ECLOSED);
        return;
    }
    pthread_mutex_lock(&s->mu);
    r->where = RP_QUEUED;
    sio__list_insert_tail(&s->replays, &r->base.node);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Takes the whole done list; replays in it become the loop's to free. */
static void take_done(chat_store *s, sio__list *local)
{
    sio__list *it;
    pthread_mutex_lock(&s->mu);
    list_move_all(local, &s->done);
    for (it = local->next; it != local; it = it->next) {
        req *q = SIO_CONTAINER_OF(it, req, node);
        if (q->kind == REQ_REPLAY)
            ((chat_replay *)q)->where = RP_LOOP;
    }
    pthread_mutex_unlock(&s->mu);
}

void chat_store_drain(chat_store *s)
{
    sio__list local;
    if (s == NULL || s->draining)
        return;
    s->draining = 1;
    sio__list_init(&local);
    take_done(s, &local);
    while (!sio__list_empty(&local)) {
        req *q = SIO_CONTAINER_OF(local.next, req, node);
        sio__list_remove(&q->node);
        if (q->kind == REQ_REPLAY) {
            replay_deliver(s, (chat_replay *)q);
            continue;
        }
        insert_req *ins = (insert_req *)q;
        s->pending--;
        ins->cb(ins->status, ins->id, ins->data);
        sio__free(ins);
    }
    s->draining = 0;
}

void chat_store_stats_get(chat_store *s, chat_store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

void chat_store_close(chat_store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_join(s->reader, NULL);
    s->closing = 1;
    s->draining = 0;
    chat_store_drain(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    store_free(s);
}
