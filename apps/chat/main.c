/* sioc-chat: the Socket.IO tutorial chat (steps 7-8) on sioc.
 *
 * Every message is stored in SQLite before anyone hears of it: on
 * "chat message" (msg, clientOffset, ack) the row is inserted off the loop
 * by the store's jobs on the work queue (group commit, WAL,
 * synchronous=FULL by default), and only once it
 * is committed is it broadcast with its id and the sender acked. A
 * duplicate clientOffset is acked again without a second row (at-least-once
 * delivery from the client becomes exactly-once storage).
 *
 * A socket that connects without being recovered gets every row with
 * id > auth.serverOffset, streamed in batches. While that replay runs the
 * socket sits in the "replaying" room, which live broadcasts skip; when a
 * replay ends behind the newest broadcast id, another replay picks up the
 * rows it missed, so nothing is lost, doubled or reordered.
 *
 * Several processes (--redis URL, or REDIS_URL) share one SQLite file and
 * one Redis: the row id is the offset whichever process inserted the row.
 * A committed message is broadcast to this process's sockets and sent to
 * the other processes as the server-side event "chat message" (msg, id),
 * which each of them broadcasts to its own sockets in the same way. One
 * message carries both the delivery and the newest id, so a replay in
 * progress on another process learns of the row in the same step that
 * skips its socket, exactly as for a local insert.
 *
 * A replay may read a row before it is broadcast here: a row another
 * process committed, before that process's message about it arrives, or a
 * row of this process, before the write job's completion (which broadcasts
 * it) has run on the loop: the reader runs on another thread and sees the
 * commit at once. Such a socket leaves the "replaying" room as a
 * "graduate" with the highest id it was sent, and live messages up to that
 * id skip it (by its own-id room) until this process has broadcast them.
 *
 * Live rows reach a process out of id order (another process's message
 * comes through Redis, this one's own at once), but a client's serverOffset
 * is the last id it got: one that got 11 before 10 and reconnected in
 * between would never get 10. So each process delivers live rows in id
 * order (deliver): an id past the next one means the rows in between are
 * committed already (one writer at a time, ids ascend in commit order) and
 * not heard of here yet; they are read from the database (a "fill": a
 * replay to every live socket) and delivered first, and their messages are
 * dropped when they come. A message lost while Redis was away is filled
 * the same way by the next row.
 *
 * A replay sends the rows after auth.serverOffset, so a live message with
 * an id at or below it is not the replay's: a socket whose offset is ahead
 * of every id broadcast so far (a client of an older database, sioc-bench's
 * "no replay" offset) is "ahead", and such messages reach it live while it
 * replays, as every message broadcast after its connection reaches a Node
 * socket. It stops being ahead once the ids broadcast pass its offset. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "sioc.h"
#include "static.h"
#include "store.h"

#ifndef SIOC_CHAT_PUBLIC_DIR
#define SIOC_CHAT_PUBLIC_DIR "apps/chat/public"
#endif
#ifndef SIOC_CLIENT_DIST_DIR
#define SIOC_CLIENT_DIST_DIR "node_modules/socket.io-client/dist"
#endif

#define REPLAYING_ROOM "replaying"
/* A replay pauses while this much is waiting to be written to its socket,
 * and goes on when the socket drains: memory stays bounded however many
 * rows and clients there are. */
#define REPLAY_HIGH_WATER (64 * 1024)

typedef struct chat {
    sio_loop *loop;
    sio_http_server *http;
    sio_server *io;
    sio_namespace *nsp;
    chat_store *store;
    chat_static *files;
    sio_redis_adapter *redis; /* NULL: one process, in-memory adapter */
    size_t max_message;       /* bytes of one message (--max-message, default 64 KiB) */
    size_t max_offset;        /* bytes of one clientOffset (--max-offset, default 1 KiB) */
    uint32_t max_rate;        /* chat messages per second per socket (--max-message-rate,
                                 default 1000; 0 = none) */
    uint64_t rate_refused;    /* messages refused by the rate limit */
    uint64_t flood_kicks;     /* sockets disconnected for a sustained flood */
    int64_t last_id;          /* newest id broadcast so far (at start: the newest stored) */
    int64_t wanted;           /* newest id heard of; > last_id while a fill is due */
    int filling;              /* a fill (deliver) is reading rows after last_id */
    struct replay **grads;    /* replays ended ahead of last_id (see above) */
    size_t ngrads;
    struct replay *ahead; /* replays whose serverOffset is > last_id (see above) */
    int stopping;
    int metrics; /* --metrics: GET /metrics answers (Prometheus text) */
} chat;

/* One socket's replay in progress. */
typedef struct replay {
    chat *app;
    sio_socket *socket;         /* referenced while the replay runs */
    chat_replay *handle;        /* NULL while paused */
    int64_t last;               /* newest id sent to the socket (or its serverOffset) */
    int64_t sent;               /* newest id this replay sent (0: none) */
    int64_t from;               /* its serverOffset: the replay sends the rows after it */
    struct replay **ahead_link; /* where it is linked in app->ahead (NULL: not ahead) */
    struct replay *ahead_next;
    int paused; /* waiting for the socket to drain */
    int hooked; /* on_drain is registered on the socket */
} replay;

/* One insert waiting for its commit. */
typedef struct pending {
    chat *app;
    sio_ack *ack; /* retained, or NULL */
    char *msg;
    size_t len;
} pending;

static void fail(const char *what, int rc)
{
    fprintf(stderr, "sioc-chat: %s: %s\n", what, sio_strerror(rc));
}

/* ----------------------------------------------------------------- replay */

static void replay_start(replay *r);
static void on_drain(sio_socket *s, void *data);

/* The arguments of "chat message" for a row: (content, id). NULL on OOM. */
static sio_args *row_args(const char *msg, size_t len, int64_t id)
{
    sio_args *a = sio_args_new();
    if (a && sio_args_push(a, json_stringn(msg, len)) == 0 &&
        sio_args_push(a, json_integer(id)) == 0)
        return a;
    sio_args_free(a);
    return NULL;
}

static void replay_batch(const int64_t *ids, const char *const *contents, const size_t *lens,
                         size_t n, void *data)
{
    replay *r = data;
    for (size_t i = 0; i < n; i++) {
        sio_args *a = row_args(contents[i], lens[i], ids[i]);
        if (a != NULL)
            sio_emit(r->socket, "chat message", a);
        sio_args_free(a);
        r->last = r->sent = ids[i];
    }
    if (sio_socket_buffered(r->socket) > REPLAY_HIGH_WATER) {
        /* The drain handler only from the first pause on: a socket with
         * none costs the library nothing after each flush. */
        if (!r->hooked && sio_socket_on_drain(r->socket, on_drain, r->app) < 0)
            return; /* no memory: go on without pausing */
        r->hooked = 1;
        chat_replay_cancel(r->handle); /* resumed from r->last on drain */
        r->handle = NULL;
        r->paused = 1;
    }
}

static void on_drain(sio_socket *s, void *data)
{
    replay *r = sio_socket_get_data(s);
    if (r && r->paused) {
        r->paused = 0;
        replay_start(r);
    }
}

/* Unlinks r from the ahead list (if it is in it). */
static void ahead_drop(replay *r)
{
    if (r->ahead_link == NULL)
        return;
    *r->ahead_link = r->ahead_next;
    if (r->ahead_next)
        r->ahead_next->ahead_link = r->ahead_link;
    r->ahead_link = NULL;
    r->ahead_next = NULL;
}

static void ahead_add(chat *app, replay *r)
{
    r->ahead_next = app->ahead;
    if (app->ahead)
        app->ahead->ahead_link = &r->ahead_next;
    app->ahead = r;
    r->ahead_link = &app->ahead;
}

static void replay_end(replay *r)
{
    ahead_drop(r);
    sio_socket_leave(r->socket, REPLAYING_ROOM);
    sio_socket_set_data(r->socket, NULL);
    sio_socket_unref(r->socket);
    free(r);
}

/* Forgets graduate i (its socket disconnected or caught up). */
static void grad_drop(chat *app, size_t i)
{
    replay *r = app->grads[i];
    app->grads[i] = app->grads[--app->ngrads];
    sio_socket_set_data(r->socket, NULL);
    sio_socket_unref(r->socket);
    free(r);
}

/* The replay sent rows this process has not broadcast yet: the socket goes
 * live, minus those. */
static int graduate(replay *r)
{
    chat *app = r->app;
    replay **n = realloc(app->grads, (app->ngrads + 1) * sizeof *n);
    if (n == NULL)
        return -1;
    app->grads = n;
    app->grads[app->ngrads++] = r;
    ahead_drop(r);
    sio_socket_leave(r->socket, REPLAYING_ROOM);
    return 0;
}

static void replay_done(int status, void *data)
{
    replay *r = data;
    r->handle = NULL;
    /* Rows broadcast while we read skipped this socket: fetch them too. */
    if (status == 0 && sio_socket_connected(r->socket) && r->last < r->app->last_id) {
        replay_start(r);
        return;
    }
    /* Rows sent here that were not broadcast yet: inserted by another
     * process, or by this one with the write job's completion (which
     * broadcasts them) still to come: the reader can see a commit first. */
    if (status == 0 && sio_socket_connected(r->socket) && r->sent > r->app->last_id &&
        graduate(r) == 0)
        return;
    replay_end(r);
}

static void replay_start(replay *r)
{
    int rc = chat_store_replay(r->app->store, r->last, replay_batch, replay_done, r, &r->handle);
    if (rc < 0) {
        fail("replay", rc);
        replay_end(r);
    }
}

/* data: the socket's rate limiter, freed here (its last callback). */
static void on_disconnect(sio_socket *s, const char *reason, void *data)
{
    replay *r = sio_socket_get_data(s);
    free(data);
    if (r == NULL)
        return;
    chat *app = r->app;
    for (size_t i = 0; i < app->ngrads; i++)
        if (app->grads[i] == r) {
            grad_drop(app, i);
            return;
        }
    if (r->handle)
        chat_replay_cancel(r->handle);
    r->handle = NULL;
    replay_end(r);
}

/* The client's last seen id (auth.serverOffset, a number or a numeric
 * string); 0 when absent or invalid. */
static int64_t server_offset(sio_socket *s)
{
    json_t *auth = sio_socket_auth_copy(s); /* read once: no parsed copy kept */
    json_t *v = json_object_get(auth, "serverOffset");
    int64_t off = 0;
    if (json_is_integer(v)) {
        off = json_integer_value(v) > 0 ? json_integer_value(v) : 0;
    } else if (json_is_string(v)) {
        char *end;
        long long x = strtoll(json_string_value(v), &end, 10);
        off = *end == '\0' && x > 0 ? x : 0;
    }
    json_decref(auth);
    return off;
}

/* ----------------------------------------------------------- rate limit */

/* One socket's token bucket (sio_bucket, the library's): max_rate tokens a
 * second, as many at most (a burst of one second's worth). A message
 * without a token is refused in its ack; max_rate refusals in a row (at
 * least twice the rate for a second) is a flood, and the socket is
 * disconnected. Node's tutorial has no limit. */
typedef struct limiter { /* 24 bytes: the smallest heap chunk */
    chat *app;
    sio_bucket bucket;
    uint32_t over; /* refusals since the last accepted message */
} limiter;

/* 1 if the socket may send one more message now. */
static int limiter_take(limiter *l, sio_socket *s)
{
    chat *app = l->app;
    if (sio_bucket_take(&l->bucket, app->max_rate, app->max_rate, sio_loop_now(app->loop))) {
        l->over = 0;
        return 1;
    }
    app->rate_refused++;
    if (++l->over >= app->max_rate) {
        app->flood_kicks++;
        sio_socket_disconnect(s, 1);
    }
    return 0;
}

/* ----------------------------------------------------------------- insert */

static void ack_error(sio_ack *ack, const char *message)
{
    if (ack == NULL)
        return;
    sio_args *a = sio_args_new();
    if (a && sio_args_push(a, json_pack("{s:s}", "error", message)) == 0)
        sio_ack_send(ack, a);
    sio_args_free(a);
}

/* To this process's sockets that are not replaying and have not been
 * sent row id by their replay. */
static void broadcast_local(chat *app, const sio_args *a, int64_t id)
{
    if (id > app->last_id)
        app->last_id = id;
    sio_broadcast *b = sio_broadcast_local(sio_broadcast_new(app->nsp));
    for (size_t i = 0; i < app->ngrads; i++)
        if (app->grads[i]->sent >= id)
            b = sio_broadcast_except(b, sio_socket_id(app->grads[i]->socket));
    sio_broadcast_emit(sio_broadcast_except(b, REPLAYING_ROOM), "chat message", a);
    /* Replaying sockets ahead of id: their replay will not send it. */
    sio_broadcast *ab = NULL;
    for (replay *r = app->ahead, *next; r != NULL; r = next) {
        next = r->ahead_next;
        if (r->from >= id)
            ab = sio_broadcast_to(ab ? ab : sio_broadcast_local(sio_broadcast_new(app->nsp)),
                                  sio_socket_id(r->socket));
        if (r->from <= app->last_id) /* the next ids are past its offset: the replay's */
            ahead_drop(r);
    }
    if (ab)
        sio_broadcast_emit(ab, "chat message", a);
    for (size_t i = app->ngrads; i-- > 0;)
        if (app->grads[i]->sent <= app->last_id)
            grad_drop(app, i);
}

static void fill_batch(const int64_t *ids, const char *const *contents, const size_t *lens,
                       size_t n, void *data)
{
    chat *app = data;
    for (size_t i = 0; i < n; i++) {
        sio_args *a = ids[i] > app->last_id ? row_args(contents[i], lens[i], ids[i]) : NULL;
        if (a != NULL)
            broadcast_local(app, a, ids[i]);
        sio_args_free(a);
    }
}

static int fill_start(chat *app);

static void fill_done(int status, void *data)
{
    chat *app = data;
    app->filling = 0;
    /* rows heard of while it read, past what it read: once more */
    if (status == 0 && app->wanted > app->last_id)
        fill_start(app);
}

static int fill_start(chat *app)
{
    int rc = chat_store_replay(app->store, app->last_id, fill_batch, fill_done, app, NULL);
    app->filling = rc == 0;
    return rc;
}

/* A committed row, this process's or another's: to this process's live
 * sockets, in id order (see the top of the file). */
static void deliver(chat *app, const sio_args *a, int64_t id)
{
    if (id <= app->last_id)
        return; /* a fill delivered it */
    if (id > app->wanted)
        app->wanted = id;
    if (app->filling)
        return; /* the running fill, or the one after it, reads it */
    /* one process: nothing can come between (a gap is an id a duplicate
     * used up); and if the rows cannot be read, late beats never */
    if (!app->redis || id == app->last_id + 1 || fill_start(app) < 0)
        broadcast_local(app, a, id);
}

static void broadcast(chat *app, const char *msg, size_t len, int64_t id)
{
    sio_args *a = row_args(msg, len, id);
    if (a != NULL) {
        deliver(app, a, id);
        if (app->redis) /* the other processes (dropped and counted while Redis is away) */
            sio_namespace_server_side_emit(app->nsp, "chat message", a);
    }
    sio_args_free(a);
}

/* Another process stored a message. */
static void on_remote_message(sio_namespace *nsp, const sio_args *args, sio_server_ack *ack,
                              void *data)
{
    json_t *msg = sio_args_get(args, 0), *id = sio_args_get(args, 1);
    if (json_is_string(msg) && json_is_integer(id) && json_integer_value(id) > 0)
        deliver(data, args, json_integer_value(id));
}

static void inserted(int status, int64_t id, void *data)
{
    pending *p = data;
    if (status == 0)
        broadcast(p->app, p->msg, p->len, id);
    if (status == SIO_EIO)
        fprintf(stderr, "sioc-chat: error: message not stored (the client will retry)\n");
    else if (p->ack)
        sio_ack_send(p->ack, NULL);
    if (p->ack)
        sio_ack_release(p->ack);
    free(p->msg);
    free(p);
}

static void on_chat_message(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    limiter *lim = data;
    chat *app = lim->app;
    if (app->max_rate && !limiter_take(lim, s)) {
        ack_error(ack, "rate limit exceeded");
        return;
    }
    json_t *msg = sio_args_get(args, 0);
    json_t *off = sio_args_get(args, 1);
    if (!json_is_string(msg)) {
        ack_error(ack, "message must be a string");
        return;
    }
    if (json_string_length(msg) > app->max_message) {
        ack_error(ack, "message too long");
        return;
    }
    if (off && !json_is_string(off) && !json_is_null(off)) {
        ack_error(ack, "clientOffset must be a string");
        return;
    }
    if (json_is_string(off) && json_string_length(off) > app->max_offset) {
        ack_error(ack, "clientOffset too long");
        return;
    }
    pending *p = calloc(1, sizeof *p);
    if (p == NULL || (p->msg = malloc(json_string_length(msg) + 1)) == NULL) {
        free(p);
        return; /* no ack: the client retries */
    }
    p->app = app;
    p->len = json_string_length(msg);
    memcpy(p->msg, json_string_value(msg), p->len + 1);
    p->ack = ack;
    if (ack)
        sio_ack_retain(ack);
    /* The offset's exact bytes (a JSON string may hold NULs). */
    int rc = chat_store_insert(app->store, json_is_string(off) ? json_string_value(off) : NULL,
                               json_is_string(off) ? json_string_length(off) : 0, p->msg, p->len,
                               inserted, p);
    if (rc < 0) {
        fail("insert", rc);
        if (ack)
            sio_ack_release(ack);
        free(p->msg);
        free(p);
    }
}

static void on_connection(sio_socket *s, void *data)
{
    chat *app = data;
    limiter *lim = calloc(1, sizeof *lim);
    if (lim == NULL || sio_socket_on_disconnect(s, on_disconnect, lim) < 0) {
        free(lim);
        sio_socket_disconnect(s, 1);
        return;
    }
    lim->app = app;
    sio_bucket_init(&lim->bucket, app->max_rate, sio_loop_now(app->loop));
    sio_socket_on(s, "chat message", on_chat_message, lim);
    if (sio_socket_recovered(s))
        return;
    replay *r = calloc(1, sizeof *r);
    if (r == NULL)
        return;
    r->app = app;
    r->socket = s;
    r->last = r->from = server_offset(s);
    sio_socket_ref(s);
    sio_socket_set_data(s, r);
    sio_socket_join(s, REPLAYING_ROOM);
    if (r->from > app->last_id)
        ahead_add(app, r);
    replay_start(r);
}

/* ------------------------------------------------------------ lifecycle */

/* GET /metrics: the library's counters, this chat's namespace gauge and
 * its --max-message-rate limit (the limit and what it refused) in the
 * Prometheus text format. */
static void serve_metrics(chat *app, sio_req *req)
{
    sio_metrics m;
    sio_server_metrics(app->io, &m);
    size_t need = sio_metrics_format(&m, NULL, 0);
    char *body = malloc(need + 1024);
    if (body == NULL) {
        sio_req_respond(req, 500, NULL, "", 0);
        return;
    }
    size_t n = sio_metrics_format(&m, body, need + 1);
    n += (size_t)snprintf(
        body + n, 1024,
        "# HELP sioc_namespace_sockets Connected sockets per namespace.\n"
        "# TYPE sioc_namespace_sockets gauge\n"
        "sioc_namespace_sockets{namespace=\"/\"} %zu\n"
        "# HELP sioc_chat_max_message_rate Chat messages a second per socket (0 = no limit).\n"
        "# TYPE sioc_chat_max_message_rate gauge\n"
        "sioc_chat_max_message_rate %u\n"
        "# HELP sioc_chat_rate_refused_total Chat messages refused by the message rate limit.\n"
        "# TYPE sioc_chat_rate_refused_total counter\n"
        "sioc_chat_rate_refused_total %llu\n"
        "# HELP sioc_chat_flood_disconnects_total Sockets disconnected for a sustained flood.\n"
        "# TYPE sioc_chat_flood_disconnects_total counter\n"
        "sioc_chat_flood_disconnects_total %llu\n",
        sio_namespace_sockets_count(app->nsp), (unsigned)app->max_rate,
        (unsigned long long)app->rate_refused, (unsigned long long)app->flood_kicks);
    sio_req_respond(req, 200, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n", body,
                    n);
    free(body);
}

static void on_request(sio_req *req, void *data)
{
    chat *app = data;
    if (app->metrics && strcmp(sio_req_path(req), "/metrics") == 0 &&
        strcmp(sio_req_method(req), "GET") == 0) {
        serve_metrics(app, req);
        return;
    }
    chat_static_serve(app->files, req);
}

static void http_closed(void *data)
{
    chat *app = data;
    app->http = NULL;
}

/* The store committed what was submitted and closed its database. */
static void store_closed(void *data)
{
    chat *app = data;
    app->store = NULL;
}

/* SIGINT/SIGTERM: stop accepting, finish the database work, disconnect
 * everyone with "server shutting down", then let the loop end. */
static void on_signal(sio_loop *loop, int signum, void *data)
{
    chat *app = data;
    if (app->stopping)
        return;
    app->stopping = 1;
    sio_server_close(app->io);
    chat_store_close(app->store, store_closed, app);
    sio_http_server_close(app->http, http_closed, app);
}

/* Frees what a failed start had set up (the HTTP server closes through
 * the loop), so a failed start ends as cleanly as a stop. */
static void start_failed(chat *app)
{
    if (app->store)
        chat_store_close(app->store, store_closed, app);
    if (app->io)
        sio_server_close(app->io);
    if (app->http)
        sio_http_server_close(app->http, http_closed, app);
    if (app->loop)
        sio_loop_run(app->loop);
    sio_server_free(app->io);
    sio_redis_adapter_free(app->redis);
    sio_loop_free(app->loop);
    chat_static_free(app->files);
}

/* SIGUSR1: one line of counters on stderr, for operators and tests. */
static void on_stats(sio_loop *loop, int signum, void *data)
{
    chat *app = data;
    if (app->http == NULL)
        return;
    sio_http_stats h;
    sio_http_server_stats(app->http, &h);
    /* The allocator's view beside RSS: bytes in use and bytes free inside
     * the heap (all arenas), so growth can be told apart as live data
     * (a leak, a cache) or fragmentation. */
    size_t heap_used = 0, heap_free = 0;
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();
    heap_used = mi.uordblks + mi.hblkhd;
    heap_free = mi.fordblks;
#endif
    sio_recovery_stats r;
    sio_namespace_recovery_stats(app->nsp, &r);
    fprintf(stderr,
            "sioc-chat: stats: output_cutoffs=%llu output_bytes=%zu rate_refused=%llu "
            "flood_disconnects=%llu heap_used=%zu heap_free=%zu recovery_sessions=%zu "
            "recovery_packets=%zu recovery_bytes=%zu\n",
            (unsigned long long)h.output_cutoffs, h.output_bytes,
            (unsigned long long)app->rate_refused, (unsigned long long)app->flood_kicks, heap_used,
            heap_free, r.sessions, r.packets, r.bytes);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sioc-chat [--port N] [--host H] [--db FILE] [--max-message BYTES]\n"
               "                 [--max-offset BYTES] [--max-message-rate N]\n"
               "                 [--synchronous full|normal]\n"
               "                 [--max-outbound BYTES] [--outbound-soft-limit BYTES]\n"
               "                 [--outbound-soft-timeout MS] [--max-output-total BYTES]\n"
               "                 [--send-buffer BYTES]\n"
               "                 [--max-connections-per-address N] [--handshake-rate N]\n"
               "                 [--handshake-burst N]\n"
               "                 [--redis redis://HOST:PORT] [--metrics] [--admin USER:PASSWORD]\n"
               "                 [--help] [--version]\n"
               "  --metrics serves GET /metrics (Prometheus text format).\n"
               "  --admin serves the Socket.IO admin UI's namespace /admin (basic auth;\n"
               "  PASSWORD plain or a bcrypt hash; NODE_ENV=production: stats only).\n"
               "  PORT in the environment sets the default port (3000).\n"
               "  Output limits (defaults): --max-outbound 16 MiB queued for one client,\n"
               "  --outbound-soft-limit 1 MiB held for --outbound-soft-timeout 10000 ms,\n"
               "  --max-output-total 256 MiB for all clients; a client over them is\n"
               "  disconnected. --send-buffer: the kernel's send buffer of a connection\n"
               "  (default 0: the kernel's own), which a client that stops reading fills too.\n"
               "  --max-message-rate: chat messages a second per client\n"
               "  (1000; 0 = none): more are refused in the ack, a flood disconnects.\n"
               "  Per client address (default 0 = off; not behind a proxy, docs/guide.md):\n"
               "  --max-connections-per-address open connections (more get 429),\n"
               "  --handshake-rate new sessions a second, --handshake-burst at once.\n"
               "  SIGUSR1 prints counters on stderr.\n"
               "  --redis (or REDIS_URL in the environment; default none: one process):\n"
               "  several processes share one database file and one Redis, and every\n"
               "  message reaches the clients of all of them.\n");
}

typedef struct config {
    const char *host, *db, *sync;
    const char *redis; /* URL, or NULL */
    int port;
    size_t max_message;
    size_t max_offset;
    uint32_t max_rate;
    int metrics;           /* --metrics */
    const char *admin;     /* --admin USER:PASSWORD, or NULL */
    sio_http_options http; /* library defaults, then --max-output-total, --send-buffer */
    sio_server_options io; /* library defaults, then the --*outbound* options */
} config;

/* Reports a bad command-line value, naming the option and what is wrong. */
static int bad_value(const char *opt, const char *value, const char *why)
{
    fprintf(stderr, "sioc-chat: %s: '%s' %s\n", opt, value, why);
    return -1;
}

/* A whole decimal number in [min, max]: no sign, no suffix, no spaces. */
static int parse_uint(const char *opt, const char *v, unsigned long long min,
                      unsigned long long max, unsigned long long *out)
{
    const char *p = v;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p == v || *p != '\0')
        return bad_value(opt, v, "is not a whole decimal number");
    errno = 0;
    unsigned long long x = strtoull(v, NULL, 10);
    if (errno == ERANGE || x < min || x > max) {
        char why[96];
        snprintf(why, sizeof why, "is out of range (%llu to %llu)", min, max);
        return bad_value(opt, v, why);
    }
    *out = x;
    return 0;
}

static int parse_option(int ch, const char *v, config *c, const char **port)
{
    unsigned long long x;
    switch (ch) {
    case 'p':
        *port = v;
        return 0;
    case 'H':
        c->host = v;
        return *v ? 0 : bad_value("--host", v, "is empty");
    case 'd':
        c->db = v;
        return *v ? 0 : bad_value("--db", v, "is empty (name a database file)");
    case 'm':
        if (parse_uint("--max-message", v, 1, INT_MAX, &x) < 0)
            return -1;
        c->max_message = (size_t)x;
        return 0;
    case 'o':
        if (parse_uint("--max-offset", v, 1, INT_MAX, &x) < 0)
            return -1;
        c->max_offset = (size_t)x;
        return 0;
    case 'R':
        if (parse_uint("--max-message-rate", v, 0, 1000000, &x) < 0)
            return -1;
        c->max_rate = (uint32_t)x;
        return 0;
    case 'O':
        if (parse_uint("--max-outbound", v, 1, SIZE_MAX, &x) < 0)
            return -1;
        c->io.eio.max_outbound_bytes = (size_t)x;
        return 0;
    case 'S':
        if (parse_uint("--outbound-soft-limit", v, 0, SIZE_MAX, &x) < 0)
            return -1;
        c->io.eio.outbound_soft_limit = (size_t)x;
        return 0;
    case 'T':
        if (parse_uint("--outbound-soft-timeout", v, 0, UINT32_MAX, &x) < 0)
            return -1;
        c->io.eio.outbound_soft_timeout = (uint32_t)x;
        return 0;
    case 'B':
        if (parse_uint("--max-output-total", v, 0, SIZE_MAX, &x) < 0)
            return -1;
        c->http.max_output_total = (size_t)x;
        return 0;
    case 'W':
        if (parse_uint("--send-buffer", v, 0, INT_MAX, &x) < 0)
            return -1;
        c->http.send_buffer_size = (size_t)x;
        return 0;
    case 'a':
        if (parse_uint("--max-connections-per-address", v, 0, SIZE_MAX, &x) < 0)
            return -1;
        c->http.max_connections_per_address = (size_t)x;
        return 0;
    case 'k':
        if (parse_uint("--handshake-rate", v, 0, 1000000, &x) < 0)
            return -1;
        c->io.eio.handshake_rate = (uint32_t)x;
        return 0;
    case 'b':
        if (parse_uint("--handshake-burst", v, 0, 1000000, &x) < 0)
            return -1;
        c->io.eio.handshake_burst = (uint32_t)x;
        return 0;
    case 'A':
        c->admin = v;
        return strchr(v, ':') != NULL && v[0] != ':'
                   ? 0
                   : bad_value("--admin", v, "is not USER:PASSWORD");
    case 'r':
        c->redis = v;
        return *v ? 0 : bad_value("--redis", v, "is empty (name a redis:// URL)");
    case 's':
        c->sync = v;
        if (strcmp(v, "full") == 0 || strcmp(v, "normal") == 0)
            return 0;
        return bad_value("--synchronous", v, "is neither full nor normal");
    default:
        return -1; /* getopt_long has named the option */
    }
}

/* Fills c from argv and PORT. Returns 0, 1 when --help/--version was
 * answered, or -1 after printing what is wrong. */
static int parse_args(int argc, char **argv, config *c)
{
    static const struct option opts[] = {{"port", required_argument, 0, 'p'},
                                         {"host", required_argument, 0, 'H'},
                                         {"db", required_argument, 0, 'd'},
                                         {"max-message", required_argument, 0, 'm'},
                                         {"max-offset", required_argument, 0, 'o'},
                                         {"max-message-rate", required_argument, 0, 'R'},
                                         {"max-outbound", required_argument, 0, 'O'},
                                         {"outbound-soft-limit", required_argument, 0, 'S'},
                                         {"outbound-soft-timeout", required_argument, 0, 'T'},
                                         {"max-output-total", required_argument, 0, 'B'},
                                         {"send-buffer", required_argument, 0, 'W'},
                                         {"synchronous", required_argument, 0, 's'},
                                         {"max-connections-per-address", required_argument, 0, 'a'},
                                         {"handshake-rate", required_argument, 0, 'k'},
                                         {"handshake-burst", required_argument, 0, 'b'},
                                         {"redis", required_argument, 0, 'r'},
                                         {"help", no_argument, 0, 'h'},
                                         {"metrics", no_argument, 0, 'X'},
                                         {"admin", required_argument, 0, 'A'},
                                         {"version", no_argument, 0, 'v'},
                                         {0, 0, 0, 0}};
    const char *port = getenv("PORT");
    const char *port_name = "PORT (environment)";
    const char *redis = getenv("REDIS_URL");
    *c = (config){.host = "::",
                  .db = "chat.db",
                  .sync = "full",
                  .port = 3000,
                  .max_message = 65536,
                  .max_offset = 1024,
                  .max_rate = 1000};
    c->redis = redis && *redis ? redis : NULL;
    sio_http_options_init(&c->http);
    sio_server_options_init(&c->io);
    c->io.connection_state_recovery.enabled = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            return 1;
        }
        if (ch == 'v') {
            printf("sioc-chat %s\n", SIOC_VERSION);
            return 1;
        }
        if (ch == 'X') {
            c->metrics = 1;
            continue;
        }
        if (ch == 'p')
            port_name = "--port";
        if (parse_option(ch, optarg, c, &port) < 0)
            return -1;
    }
    if (optind != argc) {
        fprintf(stderr, "sioc-chat: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    unsigned long long x;
    if (port && parse_uint(port_name, port, 0, 65535, &x) < 0)
        return -1;
    if (port)
        c->port = (int)x;
    return 0;
}

/* --admin USER:PASSWORD: Node's instrument(io, {auth: {type: "basic",
 * username, password: <bcrypt hash>}}); a plain PASSWORD is hashed here. */
static int setup_admin(chat *app, const char *spec)
{
    char buf[1024];
    sio_admin_options ao;
    sio_admin_options_init(&ao);
    int rc = sio_admin_options_login(&ao, spec, buf, sizeof buf);
    rc = rc < 0 ? rc : sio_admin_instrument(app->io, &ao);
    if (rc < 0)
        fprintf(stderr, "sioc-chat: --admin: %s\n", sio_strerror(rc));
    return rc;
}

static int setup_io(chat *app, config *c, const char *client_dist)
{
    c->io.serve_client_dir = client_dist; /* /socket.io/socket.io.js etc. */
    if (c->redis) {
        int rc = sio_redis_adapter_new(&app->redis, app->loop, c->redis, NULL);
        if (rc < 0) {
            fprintf(stderr, "sioc-chat: --redis '%s': %s\n", c->redis, sio_strerror(rc));
            return rc;
        }
        sio_redis_adapter_use(app->redis, &c->io);
    }
    int rc = sio_server_new(&app->io, app->http, &c->io);
    if (rc == SIO_EIO) /* the one file it reads: name it and where it comes from */
        fprintf(stderr,
                "sioc-chat: cannot read the client bundle %s/socket.io.js (npm ci installs "
                "it; SIOC_CLIENT_DIST_DIR names another directory)\n",
                client_dist);
    if (rc < 0)
        return rc;
    app->nsp = sio_server_of(app->io, "/");
    if (app->nsp == NULL)
        return SIO_ENOMEM;
    sio_namespace_on_connection(app->nsp, on_connection, app);
    if (c->admin != NULL && (rc = setup_admin(app, c->admin)) < 0)
        return rc;
    if (app->redis)
        return sio_namespace_on_server_side_emit(app->nsp, "chat message", on_remote_message, app);
    return 0;
}

/* Listens on c's address (the default "::" falls back to IPv4 where there
 * is no IPv6); a failure names the address. */
static int listen_on(chat *app, const config *c)
{
    const char *host = c->host;
    int rc = sio_http_server_listen(app->http, host, c->port);
    if ((rc == SIO_EIO || rc == SIO_EINVAL) && strcmp(host, "::") == 0)
        rc = sio_http_server_listen(app->http, host = "0.0.0.0", c->port);
    if (rc < 0) {
        int v6 = strchr(host, ':') != NULL;
        fprintf(stderr, "sioc-chat: cannot listen on %s%s%s:%d: %s\n", v6 ? "[" : "", host,
                v6 ? "]" : "", c->port, sio_strerror(rc));
    }
    return rc;
}

int main(int argc, char **argv)
{
    config c;
    int parsed = parse_args(argc, argv, &c);
    if (parsed != 0) {
        if (parsed < 0)
            usage(stderr);
        return parsed < 0 ? 2 : 0;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Past a file size limit (ulimit -f) a database write fails with EFBIG
     * and the insert with it, instead of the signal killing the server. */
    signal(SIGXFSZ, SIG_IGN);
    chat app = {.max_message = c.max_message,
                .max_offset = c.max_offset,
                .max_rate = c.max_rate,
                .metrics = c.metrics};
    const char *pub = getenv("SIOC_CHAT_PUBLIC_DIR");
    const char *dist = getenv("SIOC_CLIENT_DIST_DIR");
    int rc = chat_static_load(&app.files, pub ? pub : SIOC_CHAT_PUBLIC_DIR);
    rc = rc ? rc : sio_loop_new(&app.loop);
    rc = rc ? rc : sio_http_server_new(&app.http, app.loop, &c.http);
    rc = rc ? rc : setup_io(&app, &c, dist ? dist : SIOC_CLIENT_DIST_DIR);
    /* Listen before the database is opened: a busy port leaves no new
     * database files behind. Nothing is accepted until the loop runs. */
    if (rc < 0)
        fail("start", rc);
    else if (listen_on(&app, &c) < 0)
        rc = SIO_EIO;
    chat_store_options so;
    chat_store_options_init(&so);
    so.path = c.db;
    so.synchronous_full = strcmp(c.sync, "full") == 0;
    /* Fault injection for the e2e tests only (a slow write thread). */
    const char *delay = getenv("SIOC_CHAT_TEST_COMMIT_DELAY_MS");
    so.commit_delay_ms = delay ? (unsigned)strtoul(delay, NULL, 10) : 0;
    if (rc == 0 && (rc = chat_store_open(&app.store, app.loop, &so)) < 0)
        fail("start", rc);
    if (rc == 0 && (rc = chat_store_last_id(app.store, &app.last_id)) < 0)
        fail("start", rc);
    app.wanted = app.last_id;
    if (rc < 0) {
        start_failed(&app);
        return 1;
    }
    sio_http_server_on_request(app.http, on_request, &app);
    sio_loop_on_signal(app.loop, SIGINT, on_signal, &app);
    sio_loop_on_signal(app.loop, SIGTERM, on_signal, &app);
    sio_loop_on_signal(app.loop, SIGUSR1, on_stats, &app);
    printf("listening on http://localhost:%d\n", sio_http_server_port(app.http));
    fflush(stdout);
    rc = sio_loop_run(app.loop);
    while (app.ngrads)
        grad_drop(&app, app.ngrads - 1);
    free(app.grads);
    sio_server_free(app.io);
    sio_redis_adapter_free(app.redis);
    sio_loop_free(app.loop);
    chat_static_free(app.files);
    return rc < 0 ? 1 : 0;
}
