/* Unit tests for the chat store (apps/chat/store.c) against real SQLite
 * files in a private temporary directory: ids, duplicates (also within one
 * group transaction), group commit, batched replays with cancellation,
 * persistence across reopen, database failures (bad paths, a failing
 * trigger, a lock held by another connection), the pending limit, memory
 * failures (the store's own allocator), and a close that still completes
 * every submitted request.
 *
 * The store runs on a real sio_loop and its work queue, as in the chat:
 * pump() runs the loop until a counter the callbacks move reaches its
 * target (a 1 ms timer looks; after 20 s without it the test fails instead
 * of hanging). */
#define _GNU_SOURCE /* nftw, mkdtemp, usleep */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sioc.h"
#include "store.h"

/* The temporary directory holding every test's database files. */
static char tmpdir[64];
/* The loop every store of the tests runs on. */
static sio_loop *loop;

/* ---- the store's allocator: libc's, failing the Nth allocation on demand */

static unsigned long fail_countdown; /* 0: off; else the allocation that fails */

static int fail_now(void)
{
    return fail_countdown != 0 && --fail_countdown == 0;
}
static void *t_malloc(size_t n)
{
    return fail_now() ? NULL : malloc(n);
}
static void *t_calloc(size_t c, size_t n)
{
    return fail_now() ? NULL : calloc(c, n);
}
static void *t_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : realloc(p, n);
}
static const sio_allocator failing = {t_malloc, t_calloc, t_realloc, free};

/* A database path unique to one test. */
static const char *db_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s.db", tmpdir, name);
    return path;
}

/* Opens a store on name's file with the given replay batch size. */
static chat_store *open_store(const char *name, size_t batch)
{
    chat_store_options o;
    chat_store_options_init(&o);
    o.path = db_path(name);
    o.replay_batch = batch;
    chat_store *s = NULL;
    assert_int_equal(chat_store_open(&s, loop, &o), 0);
    assert_non_null(s);
    return s;
}

/* What pump() waits for. */
typedef struct wait_for {
    const int *counter;
    int target;
    uint64_t deadline; /* sio_loop_now() after which the test fails */
    int timed_out;
} wait_for;

static void pump_check(sio_loop_timer *t, void *data)
{
    wait_for *w = data;
    if (*w->counter >= w->target || sio_loop_now(loop) > w->deadline) {
        w->timed_out = *w->counter < w->target;
        sio_loop_timer_stop(t);
        sio_loop_stop(loop);
    }
}

/* Runs the loop until *counter reaches target, failing after 20 s without
 * it. */
static void pump(const int *counter, int target)
{
    if (*counter >= target)
        return;
    wait_for w = {counter, target, sio_loop_now(loop) + 20000, 0};
    sio_loop_timer *t;
    assert_int_equal(sio_loop_timer_new(&t, loop, pump_check, &w), 0);
    assert_int_equal(sio_loop_timer_start(t, 1, 1), 0);
    sio_loop_run(loop);
    sio_loop_timer_free(t);
    assert_false(w.timed_out);
}

static void on_closed(void *data)
{
    (*(int *)data)++;
}

/* Closes s and runs the loop until it is gone. */
static void close_store(chat_store *s)
{
    int closed = 0;
    chat_store_close(s, on_closed, &closed);
    pump(&closed, 1);
}

/* Runs a query returning one integer on a separate connection. */
static int64_t query_int(const char *name, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(db_path(name), &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ------------------------------------------------------------ inserts */

/* What insert callbacks saw, in completion order. */
typedef struct ins_log {
    int n;            /* callbacks so far */
    int status[2048]; /* per callback */
    int64_t id[2048]; /* per callback */
    int seq[2048];    /* the submission index passed as data */
} ins_log;

static ins_log ilog;

static void on_insert(int status, int64_t id, void *data)
{
    ilog.status[ilog.n] = status;
    ilog.id[ilog.n] = id;
    ilog.seq[ilog.n] = (int)(intptr_t)data;
    ilog.n++;
}

static void reset_log(void)
{
    memset(&ilog, 0, sizeof ilog);
}

/* Submits content "msg <i>" with offset "off-<i>" (or none if no_offset). */
static void insert_msg(chat_store *s, int i, int no_offset)
{
    char off[32], msg[32];
    snprintf(off, sizeof off, "off-%d", i);
    int len = snprintf(msg, sizeof msg, "msg %d", i);
    assert_int_equal(chat_store_insert(s, no_offset ? NULL : off, strlen(off), msg, (size_t)len,
                                       on_insert, (void *)(intptr_t)i),
                     0);
}

static void test_insert_ids_ascending(void **state)
{
    (void)state;
    reset_log();
    chat_store *s = open_store("ids", 500);
    for (int i = 0; i < 20; i++)
        insert_msg(s, i, i % 2);
    pump(&ilog.n, 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ilog.status[i], 0);
        assert_int_equal(ilog.seq[i], i); /* completions in submission order */
        assert_int_equal(ilog.id[i], i + 1);
    }
    chat_store_stats st;
    chat_store_stats_get(s, &st);
    assert_int_equal(st.rows, 20);
    assert_int_equal(st.failures, 0);
    close_store(s);
    assert_int_equal(query_int("ids", "SELECT COUNT(*) FROM messages"), 20);
    assert_int_equal(query_int("ids", "SELECT COUNT(*) FROM messages WHERE client_offset IS NULL"),
                     10);
    assert_int_equal(query_int("ids", "SELECT content = 'msg 7' FROM messages WHERE id = 8"), 1);
    /* WAL is persistent, so another connection sees it. */
    assert_int_equal(query_int("ids", "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
}

static void test_duplicate_offset(void **state)
{
    (void)state;
    reset_log();
    chat_store *s = open_store("dup", 500);
    insert_msg(s, 1, 0);
    insert_msg(s, 2, 0);
    pump(&ilog.n, 2);
    insert_msg(s, 1, 0); /* a retry of message 1 */
    pump(&ilog.n, 3);
    assert_int_equal(ilog.status[2], SIO_EEXIST);
    assert_int_equal(ilog.id[2], ilog.id[0]);
    chat_store_stats st;
    chat_store_stats_get(s, &st);
    assert_int_equal(st.rows, 2);
    assert_int_equal(st.duplicates, 1);
    close_store(s);
    assert_int_equal(query_int("dup", "SELECT COUNT(*) FROM messages WHERE client_offset='off-1'"),
                     1);
    assert_int_equal(query_int("dup", "SELECT COUNT(*) FROM messages"), 2);
}

/* Offsets are bytes, not C strings: "a\0x" and "a\0y" are two offsets (a
 * NUL-terminated copy made them one, and the second message was acked as a
 * duplicate and dropped), and "a\0x" again is a duplicate of the first. */
static void test_offset_with_nul(void **state)
{
    (void)state;
    reset_log();
    chat_store *s = open_store("nuloff", 500);
    assert_int_equal(chat_store_insert(s, "a\0x", 3, "one", 3, on_insert, NULL), 0);
    assert_int_equal(chat_store_insert(s, "a\0y", 3, "two", 3, on_insert, NULL), 0);
    assert_int_equal(chat_store_insert(s, "a", 1, "three", 5, on_insert, NULL), 0);
    pump(&ilog.n, 3);
    assert_int_equal(chat_store_insert(s, "a\0x", 3, "one", 3, on_insert, NULL), 0);
    pump(&ilog.n, 4);
    assert_int_equal(ilog.status[0], 0);
    assert_int_equal(ilog.status[1], 0);
    assert_int_equal(ilog.status[2], 0);
    assert_int_equal(ilog.status[3], SIO_EEXIST);
    assert_int_equal(ilog.id[3], ilog.id[0]);
    close_store(s);
    assert_int_equal(query_int("nuloff", "SELECT COUNT(*) FROM messages"), 3);
    assert_int_equal(query_int("nuloff", "SELECT length(CAST(client_offset AS BLOB)) FROM messages "
                                         "WHERE content='two'"),
                     3);
}

/* Two copies of one offset inside one group transaction: a second
 * connection holds the write lock, so the worker blocks on its first group
 * while the pair queues up behind it and then commits together. */
static void test_duplicate_in_one_group(void **state)
{
    (void)state;
    reset_log();
    chat_store *s = open_store("dupgroup", 500);
    insert_msg(s, 0, 0);
    pump(&ilog.n, 1);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(db_path("dupgroup"), &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    chat_store_stats before;
    chat_store_stats_get(s, &before);
    insert_msg(s, 1, 0);
    usleep(50 * 1000); /* the worker takes message 1 and waits for the lock */
    insert_msg(s, 2, 0);
    insert_msg(s, 2, 0);
    usleep(200 * 1000);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    pump(&ilog.n, 4);
    assert_int_equal(ilog.status[2], 0);
    assert_int_equal(ilog.status[3], SIO_EEXIST);
    assert_int_equal(ilog.id[3], ilog.id[2]);
    chat_store_stats st;
    chat_store_stats_get(s, &st);
    assert_int_equal(st.commits - before.commits, 2); /* {1} then {2, 2} */
    assert_int_equal(st.rows, 3);
    close_store(s);
    assert_int_equal(query_int("dupgroup", "SELECT COUNT(*) FROM messages"), 3);
}

static void test_group_commit(void **state)
{
    (void)state;
    reset_log();
    chat_store *s = open_store("group", 500);
    for (int i = 0; i < 1000; i++)
        insert_msg(s, i, 0);
    pump(&ilog.n, 1000);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ilog.status[i], 0);
        assert_int_equal(ilog.id[i], i + 1);
    }
    chat_store_stats st;
    chat_store_stats_get(s, &st);
    print_message("1000 inserts in %llu commits\n", (unsigned long long)st.commits);
    assert_int_equal(st.rows, 1000);
    assert_true(st.commits >= 1);
    assert_true(st.commits < 100);
    close_store(s);
}

/* ------------------------------------------------------------- replays */

/* What a replay's callbacks saw. */
typedef struct rp_log {
    int batches;         /* batch_cb calls */
    int rows;            /* rows over all batches */
    int64_t last_id;     /* last id seen, to check the order */
    int max_batch;       /* largest batch */
    int done;            /* done_cb calls */
    int done_status;     /* its status */
    int bad;             /* rows whose content was not "msg <id-1>" */
    chat_replay *handle; /* for cancelling from a callback */
    int cancel_after;    /* cancel inside the Nth batch (0: never) */
} rp_log;

static void on_batch(const int64_t *ids, const char *const *contents, const size_t *lens, size_t n,
                     void *data)
{
    rp_log *l = data;
    char want[32];
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++) {
        assert_true(ids[i] > l->last_id);
        l->last_id = ids[i];
        int wl = snprintf(want, sizeof want, "msg %lld", (long long)(ids[i] - 1));
        if ((size_t)wl != lens[i] || memcmp(contents[i], want, lens[i]) != 0 ||
            contents[i][lens[i]] != '\0')
            l->bad++;
    }
    l->batches++;
    l->rows += (int)n;
    if ((int)n > l->max_batch)
        l->max_batch = (int)n;
    if (l->cancel_after && l->batches == l->cancel_after)
        chat_replay_cancel(l->handle);
}

static void on_done(int status, void *data)
{
    rp_log *l = data;
    l->done++;
    l->done_status = status;
}

/* Stores messages 0..n-1 (ids 1..n). */
static void fill(chat_store *s, int n)
{
    reset_log();
    for (int i = 0; i < n; i++)
        insert_msg(s, i, 0);
    pump(&ilog.n, n);
}

static void test_replay_batches(void **state)
{
    (void)state;
    chat_store *s = open_store("replay", 100);
    fill(s, 1234);
    rp_log l = {0};
    l.last_id = 200;
    assert_int_equal(chat_store_replay(s, 200, on_batch, on_done, &l, &l.handle), 0);
    pump(&l.done, 1);
    assert_int_equal(l.done_status, 0);
    assert_int_equal(l.rows, 1034);
    assert_int_equal(l.batches, 11);
    assert_int_equal(l.max_batch, 100);
    assert_int_equal(l.last_id, 1234);
    assert_int_equal(l.bad, 0);
    /* Nothing after the last id: done without a batch. */
    rp_log e = {0};
    e.last_id = 1234;
    assert_int_equal(chat_store_replay(s, 1234, on_batch, on_done, &e, NULL), 0);
    pump(&e.done, 1);
    assert_int_equal(e.batches, 0);
    assert_int_equal(e.done_status, 0);
    chat_store_stats st;
    chat_store_stats_get(s, &st);
    assert_int_equal(st.replay_batches, 12);
    close_store(s);
}

/* Contents are bytes: embedded NULs and the empty string survive. */
static int bin_seen;

static void on_bin_batch(const int64_t *ids, const char *const *contents, const size_t *lens,
                         size_t n, void *data)
{
    assert_int_equal(n, 2);
    assert_int_equal(lens[0], 3);
    assert_memory_equal(contents[0], "a\0b", 3);
    assert_int_equal(lens[1], 0);
    assert_string_equal(contents[1], "");
    bin_seen++;
}

static void test_replay_binary_content(void **state)
{
    (void)state;
    reset_log();
    chat_store *s = open_store("bin", 10);
    assert_int_equal(chat_store_insert(s, NULL, 0, "a\0b", 3, on_insert, NULL), 0);
    assert_int_equal(chat_store_insert(s, NULL, 0, NULL, 0, on_insert, NULL), 0);
    pump(&ilog.n, 2);
    rp_log l = {0};
    bin_seen = 0;
    assert_int_equal(chat_store_replay(s, 0, on_bin_batch, on_done, &l, NULL), 0);
    pump(&l.done, 1);
    assert_int_equal(bin_seen, 1);
    close_store(s);
}

/* Another process holds the write lock, so an insert waits (busy_timeout):
 * a replay started meanwhile is not queued behind it (WAL readers are not
 * blocked by a writer; the replay has its own connection and thread). It
 * was: the one worker thread did the blocked insert first. */
static void test_replay_while_locked(void **state)
{
    (void)state;
    reset_log();
    chat_store *s = open_store("rlocked", 500);
    fill(s, 100);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(db_path("rlocked"), &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    reset_log();
    insert_msg(s, 100, 0);
    usleep(50 * 1000); /* the writer takes it and waits for the lock */
    rp_log l = {0};
    assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &l, NULL), 0);
    pump(&l.done, 1);
    assert_int_equal(l.done_status, 0);
    assert_int_equal(l.rows, 100);
    assert_int_equal(ilog.n, 0); /* the insert is still waiting */
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    pump(&ilog.n, 1);
    assert_int_equal(ilog.status[0], 0);
    close_store(s);
}

/* Replays and inserts run side by side: an insert during a long replay
 * completes, and the replay still delivers every row. */
static void test_replay_interleaves(void **state)
{
    (void)state;
    chat_store *s = open_store("interleave", 10);
    fill(s, 1000);
    rp_log l = {0};
    assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &l, NULL), 0);
    reset_log();
    insert_msg(s, 1000, 0);
    pump(&ilog.n, 1);
    assert_int_equal(ilog.status[0], 0);
    pump(&l.done, 1);
    assert_int_equal(l.done_status, 0);
    assert_true(l.rows >= 1000);
    assert_int_equal(l.bad, 0);
    close_store(s);
}

static void test_replay_cancel(void **state)
{
    (void)state;
    chat_store *s = open_store("cancel", 100);
    fill(s, 2000);
    /* Cancelled from inside its second batch: no third batch, no done. */
    rp_log a = {0};
    a.cancel_after = 2;
    assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &a, &a.handle), 0);
    /* Cancelled at once, while queued or being fetched. */
    rp_log b[20];
    memset(b, 0, sizeof b);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &b[i], &b[i].handle), 0);
        if (i % 2)
            usleep(200);
        chat_replay_cancel(b[i].handle);
    }
    /* A control replay that runs to its end after all of them. */
    rp_log c = {0};
    assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &c, NULL), 0);
    pump(&c.done, 1);
    assert_int_equal(c.rows, 2000);
    assert_int_equal(a.batches, 2);
    assert_int_equal(a.done, 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(b[i].batches, 0);
        assert_int_equal(b[i].done, 0);
    }
    chat_replay_cancel(NULL);
    close_store(s);
    assert_int_equal(a.batches, 2); /* the close did not run it either */
    assert_int_equal(a.done, 0);
}

/* A replay cancelled after its batch was fetched but before the loop ran
 * the job's completion: the completion frees it without a callback. */
static void test_replay_cancel_when_done(void **state)
{
    (void)state;
    chat_store *s = open_store("canceldone", 100);
    fill(s, 10);
    rp_log l = {0};
    assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &l, &l.handle), 0);
    usleep(200 * 1000); /* the pool fetches the batch; the loop is not running */
    chat_replay_cancel(l.handle);
    assert_int_equal(sio_loop_run(loop), 0); /* until no job is left */
    close_store(s);
    assert_int_equal(l.batches, 0);
    assert_int_equal(l.done, 0);
}

/* --------------------------------------------------------- persistence */

static void test_reopen(void **state)
{
    (void)state;
    chat_store *s = open_store("reopen", 500);
    fill(s, 10);
    close_store(s);
    s = open_store("reopen", 4);
    rp_log l = {0};
    assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &l, NULL), 0);
    pump(&l.done, 1);
    assert_int_equal(l.rows, 10);
    assert_int_equal(l.batches, 3);
    assert_int_equal(l.bad, 0);
    reset_log();
    insert_msg(s, 3, 0); /* a retry from before the restart */
    insert_msg(s, 10, 0);
    pump(&ilog.n, 2);
    assert_int_equal(ilog.status[0], SIO_EEXIST);
    assert_int_equal(ilog.id[0], 4);
    assert_int_equal(ilog.status[1], 0);
    assert_true(ilog.id[1] > 10); /* (a DO NOTHING conflict may use up an id) */
    close_store(s);
}

/* ------------------------------------------------------------ failures */

static void test_open_failures(void **state)
{
    (void)state;
    chat_store_options o;
    chat_store *s = (chat_store *)&o; /* must be reset to NULL on failure */
    chat_store_options_init(&o);
    o.path = tmpdir; /* a directory */
    assert_int_equal(chat_store_open(&s, loop, &o), SIO_EIO);
    assert_null(s);
    char path[256];
    snprintf(path, sizeof path, "%s/no/such/dir/x.db", tmpdir);
    o.path = path;
    assert_int_equal(chat_store_open(&s, loop, &o), SIO_EIO);
    /* A file that is not a database. */
    snprintf(path, sizeof path, "%s/garbage.db", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 512; i++)
        fputs("this is not an SQLite database\n", f);
    fclose(f);
    assert_int_equal(chat_store_open(&s, loop, &o), SIO_EIO);
    assert_null(s);
    /* Bad options. */
    chat_store_options_init(&o);
    o.path = NULL;
    assert_int_equal(chat_store_open(&s, loop, &o), SIO_EINVAL);
    chat_store_options_init(&o);
    o.replay_batch = 0;
    assert_int_equal(chat_store_open(&s, loop, &o), SIO_EINVAL);
    assert_int_equal(chat_store_open(&s, loop, NULL), SIO_EINVAL);
}

/* A trigger makes one row fail: only that row fails, the rest commit. */
static void test_insert_failure(void **state)
{
    (void)state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path("trigger"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                                  " client_offset TEXT UNIQUE, content TEXT);"
                                  "CREATE TRIGGER boom BEFORE INSERT ON messages"
                                  " WHEN NEW.content = 'boom'"
                                  " BEGIN SELECT RAISE(ABORT, 'boom'); END;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    reset_log();
    chat_store *s = open_store("trigger", 500);
    for (int i = 0; i < 9; i++) {
        const char *msg = i % 3 == 1 ? "boom" : "fine";
        assert_int_equal(chat_store_insert(s, NULL, 0, msg, 4, on_insert, (void *)(intptr_t)i), 0);
    }
    pump(&ilog.n, 9);
    for (int i = 0; i < 9; i++)
        assert_int_equal(ilog.status[i], i % 3 == 1 ? SIO_EIO : 0);
    chat_store_stats st;
    chat_store_stats_get(s, &st);
    assert_int_equal(st.rows, 6);
    assert_int_equal(st.failures, 3);
    close_store(s);
    assert_int_equal(query_int("trigger", "SELECT COUNT(*) FROM messages"), 6);
}

/* Another connection holds the write lock past busy_timeout: the group
 * fails with SIO_EIO and nothing is stored; later inserts work again. */
static void test_busy_failure(void **state)
{
    (void)state;
    chat_store_options o;
    chat_store_options_init(&o);
    o.path = db_path("busy");
    o.busy_timeout_ms = 50;
    o.synchronous_full = 0;
    chat_store *s;
    assert_int_equal(chat_store_open(&s, loop, &o), 0);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(db_path("busy"), &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    reset_log();
    insert_msg(s, 0, 0);
    insert_msg(s, 1, 0);
    pump(&ilog.n, 2);
    assert_int_equal(ilog.status[0], SIO_EIO);
    assert_int_equal(ilog.status[1], SIO_EIO);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    insert_msg(s, 0, 0); /* the client's retry */
    pump(&ilog.n, 3);
    assert_int_equal(ilog.status[2], 0);
    assert_int_equal(ilog.id[2], 1);
    close_store(s);
    assert_int_equal(query_int("busy", "SELECT COUNT(*) FROM messages"), 1);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    chat_store *s = open_store("args", 500);
    assert_int_equal(chat_store_insert(s, NULL, 0, "x", 1, NULL, NULL), SIO_EINVAL);
    assert_int_equal(chat_store_insert(s, NULL, 0, NULL, 1, on_insert, NULL), SIO_EINVAL);
    assert_int_equal(chat_store_insert(NULL, NULL, 0, "x", 1, on_insert, NULL), SIO_EINVAL);
    assert_int_equal(chat_store_replay(s, 0, NULL, on_done, NULL, NULL), SIO_EINVAL);
    assert_int_equal(chat_store_replay(s, 0, on_batch, NULL, NULL, NULL), SIO_EINVAL);
    close_store(s);
    chat_store_close(NULL, NULL, NULL);
}

static void test_max_pending(void **state)
{
    (void)state;
    chat_store_options o;
    chat_store_options_init(&o);
    o.path = db_path("pending");
    o.max_pending = 5;
    chat_store *s;
    assert_int_equal(chat_store_open(&s, loop, &o), 0);
    reset_log();
    for (int i = 0; i < 5; i++)
        insert_msg(s, i, 0);
    assert_int_equal(chat_store_insert(s, NULL, 0, "x", 1, on_insert, NULL), SIO_ELIMIT);
    pump(&ilog.n, 5);
    insert_msg(s, 5, 0); /* room again once called back */
    pump(&ilog.n, 6);
    assert_int_equal(ilog.status[5], 0);
    close_store(s);
}

/* Allocation failures (the store's allocator, options.allocator): on the
 * loop thread they are returned at once; in a read job (a replay's batch
 * buffers) they end the replay with SIO_ENOMEM. No job runs whenever the
 * countdown is set, so only one thread allocates at a time. */
static void test_out_of_memory(void **state)
{
    (void)state;
    chat_store_options o;
    chat_store_options_init(&o);
    o.path = db_path("oom");
    o.allocator = &failing;
    chat_store *s = (chat_store *)&o;
    fail_countdown = 1;
    assert_int_equal(chat_store_open(&s, loop, &o), SIO_ENOMEM);
    assert_null(s);
    assert_int_equal(chat_store_open(&s, loop, &o), 0);
    fill(s, 5);
    fail_countdown = 1;
    assert_int_equal(chat_store_insert(s, NULL, 0, "x", 1, on_insert, NULL), SIO_ENOMEM);
    rp_log l = {0};
    fail_countdown = 1;
    assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &l, NULL), SIO_ENOMEM);
    /* The handle is allocated; then each of the read job's first
     * allocations (the three row arrays, grown on the first row, then the
     * blob) fails in turn: the replay ends with SIO_ENOMEM and delivers
     * nothing. */
    for (unsigned long n = 2; n <= 5; n++) {
        memset(&l, 0, sizeof l);
        fail_countdown = n;
        assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &l, NULL), 0);
        pump(&l.done, 1);
        fail_countdown = 0;
        assert_int_equal(l.done_status, SIO_ENOMEM);
        assert_int_equal(l.batches, 0);
    }
    assert_int_equal(ilog.n, 5); /* the failed insert never called back */
    /* An allocator without free is refused. */
    sio_allocator partial = failing;
    partial.free = NULL;
    o.allocator = &partial;
    assert_int_equal(chat_store_open(&s, loop, &o), SIO_EINVAL);
    close_store(s);
}

/* ---------------------------------------------------------------- close */

/* Set by an insert callback that runs during close and tries to insert. */
static int insert_during_close = 1;
static chat_store *closing_store;

static void on_insert_then_submit(int status, int64_t id, void *data)
{
    on_insert(status, id, data);
    insert_during_close = chat_store_insert(closing_store, NULL, 0, "late", 4, on_insert, NULL);
}

static void test_close_completes_pending(void **state)
{
    (void)state;
    chat_store *s = open_store("close", 50);
    fill(s, 300);
    reset_log();
    rp_log l = {0};
    assert_int_equal(chat_store_replay(s, 0, on_batch, on_done, &l, NULL), 0);
    for (int i = 0; i < 500; i++)
        insert_msg(s, 1000 + i, 0);
    closing_store = s;
    assert_int_equal(chat_store_insert(s, NULL, 0, "last", 4, on_insert_then_submit, NULL), 0);
    int closed = 0;
    chat_store_close(s, on_closed, &closed); /* nothing ran before */
    pump(&closed, 1);
    assert_int_equal(ilog.n, 501);
    for (int i = 0; i < 501; i++)
        assert_int_equal(ilog.status[i], 0);
    assert_int_equal(insert_during_close, SIO_ECLOSED);
    assert_int_equal(l.done, 1);
    assert_true(l.done_status == 0 || l.done_status == SIO_ECLOSED);
    assert_int_equal(l.bad, 0);
    assert_int_equal(query_int("close", "SELECT COUNT(*) FROM messages"), 801);
}

/* Removes one entry of the temporary directory. */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_dir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/sioc-store-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return sio_loop_new(&loop);
}

static int teardown_dir(void **state)
{
    (void)state;
    sio_loop_free(loop);
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_ids_ascending),
        cmocka_unit_test(test_duplicate_offset),
        cmocka_unit_test(test_duplicate_in_one_group),
        cmocka_unit_test(test_offset_with_nul),
        cmocka_unit_test(test_replay_while_locked),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_replay_batches),
        cmocka_unit_test(test_replay_binary_content),
        cmocka_unit_test(test_replay_interleaves),
        cmocka_unit_test(test_replay_cancel),
        cmocka_unit_test(test_replay_cancel_when_done),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_open_failures),
        cmocka_unit_test(test_insert_failure),
        cmocka_unit_test(test_busy_failure),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_max_pending),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_close_completes_pending),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
