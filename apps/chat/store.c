/* The chat's SQLite store: see store.h for the contract.
 *
 * Threads. Everything a callback can see belongs to the loop thread. The
 * database work runs as jobs on the library's work queue (sio_loop_work,
 * libuv's thread pool): a write job commits one group of inserts on the
 * read-write connection, a read job fetches one batch of each waiting
 * replay on a read-only connection. At most one job of each kind is in
 * flight, so each connection and its statements are used by one thread at
 * a time (SQLite's multi-thread mode; which pool thread does not matter). Replays have
 * their own connection and job because WAL readers are never blocked by a
 * writer: a replay must not wait while the writer waits (busy_timeout) for
 * another process's write lock. The loop and a job share nothing while
 * the job runs: the loop hands the job its group (or round) when it
 * queues it and takes it back in the job's completion, on the loop thread;
 * the work queue orders the two, so no lock is needed.
 *
 *   loop --insert--> inserts --(whole queue)--> write job --\
 *   loop --replay--> replays --(whole line)---> read job  ---+--> loop (done)
 *
 * Group commit. A write job takes every insert queued when it starts and
 * commits them in one BEGIN IMMEDIATE ... COMMIT; inserts submitted while
 * it runs wait for the next job, which the completion starts before it
 * runs the finished group's callbacks, so the database and the loop work
 * side by side (one fsync per group, not per message). A statement-level
 * failure (a trigger's RAISE, a too-big row) fails only its own row:
 * SQLite undoes that statement and keeps the transaction. If SQLite instead drops the whole
 * transaction (I/O error, disk full) or COMMIT fails, every row of the
 * group fails; clients retry with the same client_offset, so nothing is
 * stored twice.
 *
 * Duplicates. INSERT ... ON CONFLICT(client_offset) DO NOTHING RETURNING id
 * returns no row for a duplicate; the existing id is then looked up inside
 * the same transaction, which also sees rows inserted earlier in the same
 * group, so two copies in one group get 0 and SIO_EEXIST with the first id.
 *
 * Replays. A replay is a cursor (the last id delivered). A read job takes
 * every replay waiting in line (a round) and fetches one batch of each;
 * its completion starts the next round for the replays that got in line
 * meanwhile, then delivers this round's batches in order, and each replay
 * goes back in line. Rounds keep the pool's and the loop's wake-ups per
 * batch low when many clients replay at once (one job per replay took
 * seconds for 20 empty replays on a loaded machine). A replay's batch
 * buffers are reused, and the next batch is fetched only after the previous one
 * was delivered, so a replay holds at most one batch.
 * Cancelling frees the batch at once; the small handle goes when the
 * scheduler or the job's completion next reaches it.
 *
 * Close. No new work is accepted; queued inserts are still committed (one
 * more group at most); waiting replays end with SIO_ECLOSED; when no job is
 * left, a last job closes both connections (a WAL checkpoint may write)
 * and its completion frees the store and calls the close callback. */
#include "store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

/* One insert; its strings live in the same allocation, after the struct. */
typedef struct insert_req {
    struct insert_req *next; /* in the queue or in the group */
    chat_insert_cb cb;       /* completion, run on the loop */
    void *data;              /* passed to cb */
    const char *offset;      /* client_offset copy (exact bytes, may hold NULs), or
                                NULL for no dedupe */
    size_t olen;             /* client_offset bytes */
    const char *content;     /* content copy, NUL-terminated */
    size_t len;              /* content bytes */
    int status;              /* 0, SIO_EEXIST or SIO_EIO, set by the write job */
    int64_t id;              /* new or existing row id, set by the write job */
} insert_req;

struct chat_replay {
    chat_replay *next;      /* in the replay queue */
    chat_store *store;      /* owner */
    chat_batch_cb batch_cb; /* per batch */
    chat_done_cb done_cb;   /* once at the end */
    void *data;             /* passed to both */
    int64_t cursor;         /* last id fetched: the next batch starts after it */
    int busy;               /* its read job or its callbacks are running */
    int cancelled;          /* cancel was called: no callback runs again */
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
    sio_loop *loop;               /* where jobs are queued and complete */
    sio_allocator mem;            /* the store's own memory */
    insert_req *ins_head;         /* queued inserts, oldest first */
    insert_req **ins_tail;        /* where the next one is linked */
    insert_req *group;            /* the write job's group (NULL: no job) */
    chat_replay *rp_head;         /* replays waiting for their next batch */
    chat_replay **rp_tail;        /* where the next one is linked */
    chat_replay *round;           /* the read job's replays (NULL: no job) */
    chat_store_stats stats;       /* counters */
    chat_store_stats job_stats;   /* the write job's counts, added on completion */
    size_t pending;               /* inserts submitted and not yet called back */
    size_t max_pending;           /* limit on pending, 0 = none */
    size_t replay_batch;          /* rows per replay batch */
    unsigned commit_delay_ms;     /* tests: wait after COMMIT (chat_store_options) */
    int stopping;                 /* close has begun: no new work */
    int closing_db;               /* the last job (closing the connections) is queued */
    int in_callbacks;             /* a group's insert callbacks are running */
    void (*close_cb)(void *data); /* chat_store_close's callback */
    void *close_data;             /* its data */
    sqlite3 *db;                  /* the writer's connection */
    sqlite3 *rdb;                 /* the reader's connection (read-only) */
    sqlite3_stmt *st_insert;      /* INSERT ... ON CONFLICT DO NOTHING RETURNING id */
    sqlite3_stmt *st_lookup;      /* id of an existing client_offset */
    sqlite3_stmt *st_replay;      /* one batch after a cursor (on rdb) */
    sqlite3_stmt *st_begin;       /* BEGIN IMMEDIATE */
    sqlite3_stmt *st_commit;      /* COMMIT */
    sqlite3_stmt *st_rollback;    /* ROLLBACK */
};

/* ----------------------------------------------------------------- memory */

static void *mem_malloc(chat_store *s, size_t n)
{
    return s->mem.malloc(n);
}
static void *mem_realloc(chat_store *s, void *p, size_t n)
{
    return s->mem.realloc(p, n);
}
static void mem_free(chat_store *s, void *p)
{
    if (p)
        s->mem.free(p);
}

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "client_offset TEXT UNIQUE, content TEXT)";

/* Failures are logged, not returned in detail: callers only get SIO_EIO. */
static void log_db(sqlite3 *db, const char *what)
{
    fprintf(stderr, "sioc-chat store: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
}

void chat_store_options_init(chat_store_options *o)
{
    memset(o, 0, sizeof *o);
    o->path = "chat.db";
    o->synchronous_full = 1;
    o->replay_batch = 500;
    o->busy_timeout_ms = 5000;
    o->max_pending = 100000;
    o->allocator = NULL;
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
static void fail_group(insert_req *group)
{
    for (insert_req *q = group; q != NULL; q = q->next) {
        q->status = SIO_EIO;
        q->id = 0;
    }
}

/* Adds the group's outcome to the counters in d. */
static void count_group(const insert_req *group, chat_store_stats *d)
{
    for (const insert_req *q = group; q != NULL; q = q->next) {
        if (q->status == 0)
            d->rows++;
        else if (q->status == SIO_EEXIST)
            d->duplicates++;
        else
            d->failures++;
    }
}

/* Commits every insert of the group in one transaction. */
static void commit_group(chat_store *s, insert_req *group, chat_store_stats *d)
{
    int ok = db_run(s->st_begin) == SQLITE_DONE;
    if (!ok)
        log_db(s->db, "begin");
    for (insert_req *q = group; ok && q != NULL; q = q->next) {
        insert_one(s, q);
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
        char *nb = mem_realloc(r->store, r->blob, cap);
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
    int64_t *ids = mem_realloc(r->store, r->ids, cap * sizeof *ids);
    if (ids)
        r->ids = ids;
    size_t *lens = mem_realloc(r->store, r->lens, cap * sizeof *lens);
    if (lens)
        r->lens = lens;
    const char **ptrs = ids && lens ? mem_realloc(r->store, r->ptrs, cap * sizeof *ptrs) : NULL;
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

/* ---------------------------------------------------------- write jobs */

static void maybe_finish_close(chat_store *s);

static void write_work(void *data)
{
    chat_store *s = data;
    chat_store_stats d = {0};
    commit_group(s, s->group, &d);
    s->job_stats = d;
    if (s->commit_delay_ms) {
        struct timespec t = {s->commit_delay_ms / 1000,
                             (long)(s->commit_delay_ms % 1000) * 1000000};
        nanosleep(&t, NULL);
    }
}

static void write_done(int status, void *data);

/* Unlinks and returns the queued inserts, oldest first (NULL: none). */
static insert_req *take_inserts(chat_store *s)
{
    insert_req *q = s->ins_head;
    s->ins_head = NULL;
    s->ins_tail = &s->ins_head;
    return q;
}

/* Hands every queued insert to a new write job (none may be running).
 * SIO_ENOMEM if the job cannot be queued: nothing changed. */
static int write_start(chat_store *s)
{
    insert_req *group = take_inserts(s);
    s->group = group;
    if (sio_loop_work(s->loop, write_work, write_done, s) == 0)
        return 0;
    s->group = NULL;
    s->ins_head = group;
    while (group->next != NULL)
        group = group->next;
    s->ins_tail = &group->next;
    return SIO_ENOMEM;
}

/* Runs a finished group's callbacks in submission order and frees it.
 * Inserts the callbacks submit queue up for one next job (in_callbacks)
 * instead of starting one each. */
static void finish_group(chat_store *s, insert_req *group)
{
    s->in_callbacks++;
    for (insert_req *q = group, *next; q != NULL; q = next) {
        next = q->next;
        s->pending--;
        q->cb(q->status, q->id, q->data);
        mem_free(s, q);
    }
    s->in_callbacks--;
}

/* Starts the next group unless one runs. When no job can be queued (no
 * memory) the waiting inserts fail now with SIO_EIO, as a failed
 * transaction fails them: their clients retry with the same offsets. */
static void write_next(chat_store *s)
{
    while (s->group == NULL && s->ins_head != NULL && write_start(s) < 0) {
        fprintf(stderr, "sioc-chat store: cannot queue a write job\n");
        insert_req *group = take_inserts(s);
        fail_group(group);
        count_group(group, &s->stats);
        finish_group(s, group);
    }
}

/* The write job's completion, on the loop thread. The inserts queued while
 * it ran go to the next job first, so that group commits while this one's
 * callbacks run (the loop and the database work side by side). */
static void write_done(int status, void *data)
{
    chat_store *s = data;
    insert_req *done = s->group;
    chat_store_stats d = s->job_stats;
    s->group = NULL;
    if (status != 0) { /* the work queue dropped the job (the store never cancels one) */
        fail_group(done);
        d = (chat_store_stats){0};
        count_group(done, &d);
    }
    s->stats.commits += d.commits;
    s->stats.rows += d.rows;
    s->stats.duplicates += d.duplicates;
    s->stats.failures += d.failures;
    write_next(s);
    finish_group(s, done);
    write_next(s); /* what the callbacks submitted, if no job took it */
    maybe_finish_close(s);
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
    insert_req *q = mem_malloc(s, sizeof *q + olen + content_len + 1);
    if (q == NULL)
        return SIO_ENOMEM;
    char *p = (char *)(q + 1);
    q->next = NULL;
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
    *s->ins_tail = q;
    s->ins_tail = &q->next;
    /* No job running (outside a group's callbacks) means nothing else is
     * queued: q starts one alone. */
    if (s->group == NULL && !s->in_callbacks && write_start(s) < 0) {
        take_inserts(s);
        mem_free(s, q);
        return SIO_ENOMEM;
    }
    s->pending++;
    return 0;
}

/* ----------------------------------------------------------- read jobs */

/* Frees a replay's batch buffers (a cancelled replay's go at once). */
static void batch_free(chat_store *s, chat_replay *r)
{
    mem_free(s, r->ids);
    mem_free(s, r->lens);
    mem_free(s, r->ptrs);
    mem_free(s, r->blob);
    r->ids = NULL;
    r->lens = NULL;
    r->ptrs = NULL;
    r->blob = NULL;
    r->rows_cap = r->blob_cap = r->blob_len = r->n = 0;
}

static void replay_free(chat_replay *r)
{
    chat_store *s = r->store;
    batch_free(s, r);
    mem_free(s, r);
}

/* Ends a replay on the loop thread: done_cb, then free. Cancel from inside
 * done_cb is harmless: the replay is busy and already marked cancelled. */
static void replay_finish(chat_replay *r, int status)
{
    r->busy = 1;
    r->cancelled = 1;
    r->done_cb(status, r->data);
    replay_free(r);
}

/* Takes the first replay of the line (NULL when empty). */
static chat_replay *replay_pop(chat_store *s)
{
    chat_replay *r = s->rp_head;
    if (r == NULL)
        return NULL;
    s->rp_head = r->next;
    if (s->rp_head == NULL)
        s->rp_tail = &s->rp_head;
    r->next = NULL;
    return r;
}

static void replay_push(chat_store *s, chat_replay *r)
{
    r->next = NULL;
    *s->rp_tail = r;
    s->rp_tail = &r->next;
}

static void read_work(void *data)
{
    chat_store *s = data;
    for (chat_replay *r = s->round; r != NULL; r = r->next)
        fetch_batch(s, r);
}

static void read_done(int status, void *data);

/* Unlinks and returns the replays waiting in line, oldest first, freeing
 * cancelled ones on the way (NULL: none). */
static chat_replay *take_replays(chat_store *s)
{
    chat_replay *round = NULL, **tail = &round, *r;
    while ((r = replay_pop(s)) != NULL) {
        if (r->cancelled) {
            replay_free(r);
            continue;
        }
        r->busy = 1;
        *tail = r;
        tail = &r->next;
    }
    return round;
}

/* Hands every replay waiting in line to a new read job, which fetches one
 * batch of each (none may be running). 0 (also when the line was empty),
 * or SIO_ENOMEM with the replays back in line. */
static int read_start(chat_store *s)
{
    chat_replay *round = take_replays(s);
    if (round == NULL)
        return 0;
    s->round = round;
    if (sio_loop_work(s->loop, read_work, read_done, s) == 0)
        return 0;
    s->round = NULL;
    for (chat_replay *r = round, *next; r != NULL; r = next) {
        next = r->next;
        r->busy = 0;
        replay_push(s, r);
    }
    return SIO_ENOMEM;
}

/* Starts the next round unless one runs. When no job can be queued (no
 * memory) the waiting replays end with SIO_ENOMEM. */
static void read_next(chat_store *s)
{
    while (s->round == NULL && s->rp_head != NULL && read_start(s) < 0) {
        chat_replay *r;
        while ((r = replay_pop(s)) != NULL)
            replay_finish(r, SIO_ENOMEM);
    }
}

/* Delivers r's batch, then ends r or puts it at the back of the line. */
static void replay_deliver(chat_store *s, chat_replay *r)
{
    if (!r->cancelled && r->status == 0 && r->n > 0)
        r->batch_cb(r->ids, r->ptrs, r->lens, r->n, r->data);
    if (r->cancelled) {
        replay_free(r);
    } else if (r->status != 0 || r->exhausted || s->stopping) {
        replay_finish(r, r->status != 0 || r->exhausted ? r->status : SIO_ECLOSED);
    } else {
        r->busy = 0;
        replay_push(s, r);
    }
}

/* The read job's completion, on the loop thread. The replays that got in
 * line meanwhile are read while this round's batches are delivered, in
 * order; each replay of the round gets its next batch in a later round,
 * only after its callback returned. */
static void read_done(int status, void *data)
{
    chat_store *s = data;
    chat_replay *round = s->round;
    s->round = NULL;
    read_next(s);
    for (chat_replay *r = round, *next; r != NULL; r = next) {
        next = r->next;
        s->stats.replay_batches++;
        if (status != 0) { /* the work queue dropped the job */
            r->status = SIO_EIO;
            r->n = 0;
        }
        replay_deliver(s, r);
    }
    read_next(s); /* the round's replays again, if nothing else was in line */
    maybe_finish_close(s);
}

int chat_store_replay(chat_store *s, int64_t after_id, chat_batch_cb batch_cb, chat_done_cb done_cb,
                      void *data, chat_replay **handle)
{
    if (s == NULL || batch_cb == NULL || done_cb == NULL)
        return SIO_EINVAL;
    if (s->stopping)
        return SIO_ECLOSED;
    chat_replay *r = s->mem.calloc(1, sizeof *r);
    if (r == NULL)
        return SIO_ENOMEM;
    r->store = s;
    r->batch_cb = batch_cb;
    r->done_cb = done_cb;
    r->data = data;
    r->cursor = after_id;
    replay_push(s, r);
    /* No job running means the line is empty but for r (replays being
     * delivered are not in it). */
    if (s->round == NULL && read_start(s) < 0) {
        replay_free(replay_pop(s));
        return SIO_ENOMEM;
    }
    if (handle)
        *handle = r;
    return 0;
}

void chat_replay_cancel(chat_replay *r)
{
    if (r == NULL || r->cancelled)
        return;
    r->cancelled = 1;
    if (!r->busy) /* waiting in the line: its buffers go now, the handle when reached */
        batch_free(r->store, r);
}

/* ---------------------------------------------------------------- close */

static void store_free(chat_store *s)
{
    if (s->rdb)
        rdb_close(s);
    if (s->db)
        db_close(s);
    s->mem.free(s);
}

static void close_work(void *data)
{
    chat_store *s = data;
    rdb_close(s);
    db_close(s);
}

static void close_done(int status, void *data)
{
    chat_store *s = data;
    void (*cb)(void *) = s->close_cb;
    void *cb_data = s->close_data;
    store_free(s);
    if (cb)
        cb(cb_data);
}

/* Once closing and idle: the last job closes the connections. */
static void maybe_finish_close(chat_store *s)
{
    if (!s->stopping || s->group != NULL || s->round != NULL || s->ins_head != NULL ||
        s->closing_db)
        return;
    s->closing_db = 1;
    if (sio_loop_work(s->loop, close_work, close_done, s) < 0) {
        /* No memory for a job: close here; it is shutdown anyway. */
        close_work(s);
        close_done(0, s);
    }
}

void chat_store_close(chat_store *s, void (*cb)(void *data), void *data)
{
    if (s == NULL || s->stopping)
        return;
    s->stopping = 1;
    s->close_cb = cb;
    s->close_data = data;
    chat_replay *r;
    while ((r = replay_pop(s)) != NULL) {
        if (r->cancelled)
            replay_free(r);
        else
            replay_finish(r, SIO_ECLOSED);
    }
    maybe_finish_close(s);
}

void chat_store_stats_get(chat_store *s, chat_store_stats *out)
{
    *out = s->stats;
}

/* ----------------------------------------------------------------- open */

static const sio_allocator libc_allocator = {malloc, calloc, realloc, free};

/* Checks the options a store cannot work without. */
static int options_valid(const chat_store_options *o)
{
    const sio_allocator *a = o ? o->allocator : NULL;
    if (a && (!a->malloc || !a->calloc || !a->realloc || !a->free))
        return 0;
    return o && o->path && o->replay_batch >= 1 && o->replay_batch <= 1000000 &&
           o->busy_timeout_ms >= 0;
}

int chat_store_last_id(chat_store *s, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = SIO_EIO;
    if (sqlite3_prepare_v2(s->db, "SELECT COALESCE(MAX(id), 0) FROM messages", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        log_db(s->db, "last id");
    }
    sqlite3_finalize(st);
    return rc;
}

int chat_store_open(chat_store **out, sio_loop *loop, const chat_store_options *o)
{
    if (out == NULL || loop == NULL || !options_valid(o))
        return SIO_EINVAL;
    *out = NULL;
    const sio_allocator *mem = o->allocator ? o->allocator : &libc_allocator;
    chat_store *s = mem->calloc(1, sizeof *s);
    if (s == NULL)
        return SIO_ENOMEM;
    s->mem = *mem;
    s->loop = loop;
    s->ins_tail = &s->ins_head;
    s->rp_tail = &s->rp_head;
    s->max_pending = o->max_pending;
    s->replay_batch = o->replay_batch;
    s->commit_delay_ms = o->commit_delay_ms;
    int rc = db_open(s, o);
    if (rc != 0) {
        store_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
