/* Internal contract of the net layer (the only layer that includes uv.h).
 *
 * sio_loop wraps one uv_loop_t plus what every handle shares: the timer
 * wheel (one uv_timer armed at its next deadline), the list of connections
 * with writes queued during this iteration (flushed together, one writev
 * each, from a uv_prepare callback just before the loop blocks: the Redis
 * "beforeSleep" idea), one read buffer shared by every connection (nothing
 * is allocated per idle connection), and a mutex-protected queue for
 * sio_loop_post().
 *
 * sio__conn is one accepted TCP connection. It speaks HTTP/1.1 until it is
 * upgraded to WebSocket. Small writes are copied into blocks; a big shared
 * payload (a broadcast) is queued by reference, never copied.
 *
 * Routes: a layer above (src/server, the composition root) mounts a route
 * at a path; requests there go to the route's ops instead of the request
 * handler, and a connection the route upgrades to WebSocket reports its
 * messages, close and drain through the same ops. net knows nothing of
 * what the route speaks (Engine.IO): it moves bytes, arms deadlines and
 * keeps two opaque pointers per connection for the route (owner, post). */
#ifndef SIO_NET_NET_H
#define SIO_NET_NET_H

#include <pthread.h>
#include <uv.h>

#include "core/addr_table.h"
#include "core/buf.h"
#include "core/env.h"
#include "core/list.h"
#include "core/rcbuf.h"
#include "core/timer.h"
#include "http/http_parser.h"
#include "sioc.h"
#include "sioc_uv.h"
#include "ws/ws_conn.h"

#define SIO_READ_BUF_SIZE 65536
/* Output waiting on a connection past which it is "behind": its small
 * shared payloads are then queued by reference, and over the server's
 * output budget it is the kind of connection that gets cut off. */
#define SIO_OUT_BEHIND 65536

struct sio_loop {
    uv_loop_t *uv;                    /* the libuv loop: &own, or the program's */
    uv_loop_t own;                    /* sio_loop_new's loop (unused with a program's) */
    int external;                     /* uv is the program's (sio_loop_new_from_uv) */
    int closing_handles;              /* handles still to close before the memory goes */
    uv_timer_t wheel_timer;           /* armed at sio__timers_next(&timers) */
    uv_prepare_t prepare;             /* flushes writes, re-arms wheel_timer */
    uv_async_t async;                 /* wakes the loop for sio_loop_post */
    pthread_mutex_t post_lock;        /* guards posted and post_closed */
    sio__list posted;                 /* sio__post entries from any thread */
    int post_closed;                  /* sio_loop_free began: posts are refused */
    sio__timers timers;               /* every protocol deadline */
    sio__list flushq;                 /* sio__conn with queued writes */
    sio__list drainq;                 /* sio__conn whose output went out at once: their
                                       * "written" news is due (drain_idle) */
    uv_idle_t drain_idle;             /* active while drainq is not empty */
    sio__list ticks;                  /* sio__tick due at the end of this callback */
    sio__list signals;                /* sio__signal handles */
    size_t out_queued;                /* output bytes queued on all servers' connections */
    size_t out_peak;                  /* highest out_queued since the last malloc_trim */
    char read_buf[SIO_READ_BUF_SIZE]; /* shared by all reads (consumed synchronously) */
    int read_buf_busy;                /* read_buf lent to a read in progress */
    int manual_clock;                 /* time is manual_now, set by sio__loop_set_clock */
    uint64_t manual_now;              /* the manual clock (ms) */
};

typedef enum { SIO_CONN_HTTP, SIO_CONN_WS } sio__conn_mode;

typedef struct sio__conn sio__conn;

/* What a route does with the connections that reach it. */
typedef struct sio__route_ops {
    /* Must stay first: an upgraded connection's ws.cb points here (its
     * callbacks get the sio__conn as data), which is how net finds the
     * route of a WebSocket without a pointer of its own. */
    sio__ws_callbacks ws;
    /* The head of a request is in: 1 if the route took the connection
     * (upgrade, refusal), 0 to read the request on. */
    int (*on_head)(sio__conn *c, void *data);
    /* A whole request: answer it (sio__conn_respond) now or later. */
    void (*on_request)(sio__conn *c, void *data);
    /* The request's body broke a limit; net answers with the parser's
     * status and closes. */
    void (*on_body_error)(sio__conn *c);
    /* The connection is going away (error: it failed). */
    void (*on_closed)(sio__conn *c, int error);
    /* A WebSocket's output was all written. */
    void (*on_drained)(sio__conn *c);
    /* The HTTP server is closing, then freeing: release data. */
    void (*on_server_close)(void *data);
    void (*on_server_free)(void *data);
} sio__route_ops;

/* One mounted route: requests whose path is exactly path (with or without
 * its trailing slash). */
typedef struct sio__route {
    sio__list link;   /* in server->routes */
    const char *path; /* with one trailing '/', owned by data */
    const sio__route_ops *ops;
    void *data;
} sio__route;

/* One queued piece of output: a buffer (a block of copied small writes, or
 * a shared payload held by reference) and, for a payload by reference, the
 * WebSocket frame header that goes before it. */
typedef struct sio__wq_ent {
    sio__rcbuf *rc;
    uint8_t hlen;
    char hdr[SIO_WS_FRAME_HEADER_MAX];
} sio__wq_ent;

struct sio_req {
    sio__conn *conn;  /* NULL once the client left */
    sio__buf strings; /* NUL-terminated copies: method, path, query, headers */
    size_t path_off, query_off;
    size_t nheaders;
    size_t *hdr_off; /* name/value offsets into strings, 2 per header */
    int keep_alive;
    char address[48]; /* peer IP address as text ("" if unknown) */
};

/* What only an HTTP-mode connection needs, in one allocation that a
 * WebSocket frees once upgraded (an idle WebSocket keeps none of it). */
typedef struct sio__conn_http {
    sio__http_parser parser; /* must stay first: c->parser points here */
    sio__buf pending_in;     /* input received while a request is held */
    sio__timer timer;        /* header/request/idle deadline */
    struct sio_req *req;     /* user request outstanding */
    sio__route *route;       /* route of the current request, or NULL */
    void *post;              /* the route's: what the body being received is for */
} sio__conn_http;

struct sio__conn {
    uv_tcp_t tcp;                   /* must stay first; tcp.data is the server (see
                                     * sio__conn_server), which is also how
                                     * sio_http_server_close finds its open
                                     * connections among the loop's handles */
    struct sio__tls *tls;           /* TLS session (https), or NULL */
    sio__list flink;                /* in loop->flushq while writes are queued */
    sio__list blink;                /* in the server's behind list (a WebSocket holding
                                     * SIO_OUT_BEHIND or more, not cut) */
    sio__list dlink;                /* in loop->drainq while its news is due */
    sio__http_parser *parser;       /* HTTP mode only: &sio__conn_http.parser */
    sio__timer *timer;              /* HTTP: the sio__conn_http's; WebSocket: NULL,
                                     * or allocated while lingering */
    sio__wq_ent *wq;                /* queued buffers, not yet handed to uv_write */
    sio__rcbuf *blk;                /* open block small writes are copied into */
    uint32_t wq_len, wq_cap;        /* entries used / allocated in wq */
    uint32_t writes_in_flight;      /* uv_write requests not yet called back */
    unsigned blk_cap : 16;          /* blk's capacity (<= SIO_BLOCK_SIZE; blk->len is
                                     * what is used) */
    unsigned mode : 1;              /* sio__conn_mode */
    unsigned close_after_write : 1; /* close once everything is written */
    unsigned lingering : 1;         /* WebSocket closing: half-closed, awaiting the peer's close */
    unsigned shut : 1;              /* uv_shutdown issued */
    unsigned closing : 1;           /* uv_close called */
    unsigned reading : 1;           /* uv_read_start active */
    unsigned held : 1;              /* a request awaits its answer (GET, user) */
    unsigned has_ws : 1;            /* ws is initialised (WebSocket mode) */
    unsigned cut : 1;               /* over an output limit: nothing more is queued,
                                     * the close is on its way (asynchronously) */
    unsigned over_soft : 1;         /* WebSocket above the soft output limit: timer is
                                     * the soft limit's deadline */
    size_t out_bytes;               /* queued + in flight, for outbound limits */
    size_t wq_bytes;                /* queued, not yet handed to uv_write */
    void *owner;                    /* the route's: what this connection carries (an
                                     * Engine.IO session), or NULL */
    sio__addr_entry *addr;          /* its address's entry in the server's table (counted
                                     * in addr->conns), or NULL when not counted */
    sio__ws_conn ws;                /* WebSocket mode (has_ws): embedded, which saves
                                     * an allocation per connection */
};

/* The server that accepted c. */
static inline sio_http_server *sio__conn_server(const sio__conn *c)
{
    return (sio_http_server *)c->tcp.data;
}

/* The HTTP-mode state of c (c->parser must be set). */
static inline sio__conn_http *sio__conn_http_of(sio__conn *c)
{
    return SIO_CONTAINER_OF(c->parser, sio__conn_http, parser);
}

struct sio_http_server {
    sio_loop *loop;
    struct sio__tls_ctx *tls; /* https: the certificate and key, or NULL */
    sio_http_options opts;
    uv_tcp_t listener;
    int listening;
    int port;
    size_t nconns;                          /* open (not closing) sio__conn */
    sio__list routes;                       /* sio__route, mounted by the layer above */
    struct sio__client_files *client_files; /* serveClient sets (borrowed, a list) */
    sio_http_handler handler;
    void *handler_data;
    int closing;
    unsigned pending_closes; /* handles whose close callback is due */
    void (*close_cb)(void *data);
    void *close_data;
    size_t out_total;      /* output bytes queued or in flight, all connections */
    size_t cut_bytes;      /* the part of out_total held by connections already cut
                            * (dropped once their close comes) */
    sio__list behind;      /* WebSockets holding SIO_OUT_BEHIND or more, not cut:
                            * where the budget looks for its victims */
    sio__addr_table addrs; /* open connections per client address
                            * (max_connections_per_address; empty when off) */
    sio_http_stats stats;  /* counters (sio_http_server_stats) */
    sio_metrics metrics;   /* this server's network counters (core/metrics.h) */
};

/* loop.c: what the cores get from the loop (their sio__env, server/env.c). */
void sio__loop_tick(void *loop, sio__tick *t); /* queues t (Node's nextTick) */
void sio__loop_run_ticks(sio_loop *loop);      /* at the end of each I/O callback */
uint64_t sio__loop_clock(void *loop);          /* monotonic ms, the timers' clock */
int64_t sio__loop_wall_ms(void *loop);         /* wall-clock ms */
sio__timers *sio__loop_timers(sio_loop *loop);
/* loop.c: from now on the loop's clocks (sio__loop_clock, the wall clock
 * as 2026-01-01 plus it, sio_loop_now) read now_ms, moved only by further
 * calls and never backwards: deterministic time for the whole-stack fuzzer
 * (fuzz/fuzz_stack.c). Deadlines due by then run in the loop's next
 * iteration. The first call must come before any deadline is armed. */
void sio__loop_set_clock(sio_loop *loop, uint64_t now_ms);

/* conn.c: the peer's IP address as text into out ("" if the socket cannot
 * tell any more). */
void sio__conn_peer_address(sio__conn *c, char *out, size_t cap);

/* conn.c: once per iteration, hands freed output memory back to the system
 * when a lot of it was freed (malloc_trim). */
void sio__loop_maybe_trim(sio_loop *loop);

/* conn.c: writes and lifetime */
int sio__conn_write(sio__conn *c, sio__rcbuf *rc, const char *hdr, size_t hlen);
int sio__conn_write_copy(sio__conn *c, const void *data, size_t len);
void sio__conn_close(sio__conn *c);
/* Closes once everything queued is written; reads stop now. */
void sio__conn_end(sio__conn *c);
/* The WebSocket closing handshake: writes what is queued, half-closes, and
 * keeps reading until the peer closes too (bounded by a short deadline), so
 * the peer sees a clean close rather than a reset. */
void sio__conn_linger(sio__conn *c);
void sio__conn_maybe_shutdown(sio__conn *c);
void sio__conn_flush_all(sio_loop *loop);
/* The loop's drain_idle: tells the connections whose output a flush wrote
 * at once (no uv_write request, so no libuv callback) that it is written,
 * one iteration later, as a write callback would. */
void sio__conn_drain_due(uv_idle_t *idle);
/* Puts c on the loop's flush list (before_sleep writes its queue). */
void sio__conn_schedule_flush(sio__conn *c);
/* Answers the current HTTP request and makes the connection ready for the
 * next one (or closes it). extra: header lines; body copied. */
int sio__conn_respond(sio__conn *c, int status, const char *ctype, const char *extra,
                      const void *body, size_t len, int keep_alive);
/* Answers an error (text/plain, Connection: close) and closes once it is
 * out, reading and dropping what the client still sends for a short while
 * so that a reset does not destroy the answer. SIO_ENOMEM: closing. */
int sio__conn_respond_error(sio__conn *c, int status, const char *text, size_t len);
/* The current request is answered: resume reading / parse pipelined input. */
void sio__conn_request_done(sio__conn *c);

/* http_server.c */
/* c is closing: it no longer counts for its address. */
void sio__conn_addr_release(sio__conn *c);
/* Initialises c->timer (allocated by the caller) as c's deadline. */
void sio__conn_timer_init(sio__conn *c);
/* Frees c's HTTP-mode state (parser, pending input, deadline). */
void sio__conn_http_free(sio__conn *c);
struct sio_req *sio__req_new(sio__conn *c);
void sio__req_free(struct sio_req *r);
void sio__conn_resume(sio__conn *c);
/* A write completed: restart the idle deadline or parse what was waiting. */
void sio__conn_drained(sio__conn *c);
void sio__http_server_maybe_done(sio_http_server *s);
/* A connection on fd, an already-connected stream socket, as if the
 * listener had accepted it (the server takes fd: the connection's close
 * closes it). The whole-stack fuzzer hands it one end of a socketpair.
 * SIO_ENOMEM; SIO_EIO if libuv refuses fd (the caller keeps it then). */
int sio__http_server_adopt(sio_http_server *s, uv_os_sock_t fd);

/* routes: mounting, and what a route may do with its connection. */
/* Mounts a route at path (kept, must end with '/'). SIO_EEXIST if the path
 * is taken, SIO_ENOMEM. */
int sio__http_route_add(sio_http_server *s, const char *path, const sio__route_ops *ops,
                        void *data);
/* The route for path, or NULL. */
sio__route *sio__http_route_match(sio_http_server *s, sio__slice path);
/* The route of c's current request or WebSocket, or NULL. */
const sio__route_ops *sio__conn_route_ops(sio__conn *c);
/* Answers 101 and turns c into a WebSocket whose events go to its route's
 * ops (messages over max_message bytes fail with 1009, over max_fragments
 * frames with 1008). An invalid handshake is
 * answered here (400, and Sec-WebSocket-Version: 13 for a version we do
 * not speak, RFC 6455 section 4.4) and c closes: returns < 0. */
int sio__conn_accept_ws(sio__conn *c, size_t max_message, uint32_t max_fragments);
/* Queues one WebSocket data message (pkt shared, a header copied). */
int sio__conn_ws_send(sio__conn *c, sio__rcbuf *pkt, int binary);
/* Closes the WebSocket with 1000 (an HTTP connection just ends). */
void sio__conn_ws_close(sio__conn *c);
/* The output policy's pieces, applied by the route (which knows its
 * limits) and by the server's budget. */
/* Whether queueing n more bytes on c would go over the server's output
 * budget (sio_http_options) with c among the connections to cut. Over the
 * budget, WebSockets holding more than their fair share are cut off, the
 * ones behind the longest first, until what the others hold is back under
 * 7/8 of the budget: c is one of them only if older backlogs do not suffice.
 * Victims other than c close from the loop (their deadline is due now:
 * never inside this call, which may run in a broadcast loop), as failed;
 * c's own cut is the caller's to act on, as for the other limits. */
int sio__conn_over_budget(sio__conn *c, size_t n);
/* Marks c cut off (counted once): nothing more is queued, and its close
 * drops what is queued instead of writing it. Returns SIO_ELIMIT. */
int sio__conn_cut(sio__conn *c);
/* Starts c's soft-limit deadline (ms from now), unless one runs: when it
 * fires, c is cut off and closed as failed (the route hears on_closed with
 * error 1). SIO_ENOMEM. */
int sio__conn_soft_start(sio__conn *c, uint32_t ms);
/* c's output fell back under SIO_OUT_BEHIND: the soft deadline is off. */
void sio__conn_soft_clear(sio__conn *c);
/* The soft deadline fired (http_server.c's deadline handler). */
void sio__conn_soft_expired(sio__conn *c);
/* A WebSocket connection got bytes (unmasked in place: scratch after). */
void sio__conn_ws_read(sio__conn *c, char *data, size_t len);

#endif
