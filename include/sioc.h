/* sioc: a Socket.IO v5 / Engine.IO v4 server in C.
 *
 * Conventions (the libuv ones):
 *  - Every handle is opaque and carries a user pointer (`data`); every
 *    callback receives the `void *data` given when it was registered.
 *  - Fallible functions return 0 (or a non-negative value) on success and a
 *    negative SIO_E* code on failure; sio_strerror() names it. errno is never
 *    the channel for an error, and the library never calls exit() or abort().
 *  - Options structs are filled with the Node.js server's defaults by their
 *    *_init function; change the fields you care about, then pass them in.
 *    Strings in options are copied: the caller keeps ownership.
 *  - Everything runs on the loop thread except sio_loop_post(), which is
 *    safe to call from any thread.
 *  - This header (with the optional include/sioc_uv.h) is the whole
 *    contract: anything not declared here is internal and may change.
 *
 * Dependencies visible in the API: jansson. Event arguments, auth payloads
 * and socket data are jansson json_t values, so a program using sioc
 * includes <jansson.h> (done below) and links jansson (sioc.pc lists it in
 * Requires; the CMake targets carry it). libuv, OpenSSL, zlib, msgpack-c
 * (and hiredis with the Redis adapter) are private to the library.
 */
#ifndef SIOC_H
#define SIOC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of these headers; sio_version() gives the library's (they
 * differ when a program runs against another build of libsioc.so.0). The
 * major version is the shared library's SONAME. */
#define SIOC_VERSION_MAJOR 0
#define SIOC_VERSION_MINOR 1
#define SIOC_VERSION_PATCH 0
#define SIOC_VERSION "0.1.0"
/* (major << 16) | (minor << 8) | patch, for comparisons. */
#define SIOC_VERSION_HEX                                                                           \
    ((SIOC_VERSION_MAJOR << 16) | (SIOC_VERSION_MINOR << 8) | SIOC_VERSION_PATCH)

/* The library's version as SIOC_VERSION_HEX would give it, and as a string
 * ("0.1.0"). */
unsigned sio_version(void);
const char *sio_version_string(void);

/* ---------------------------------------------------------------- errors */

enum {
    SIO_OK = 0,
    SIO_ENOMEM = -1,      /* out of memory */
    SIO_EINVAL = -2,      /* invalid argument */
    SIO_EPROTO = -3,      /* malformed input from the peer (parse error) */
    SIO_ELIMIT = -4,      /* a configured limit was exceeded */
    SIO_EAGAIN = -5,      /* need more input / try again */
    SIO_ECLOSED = -6,     /* the object is closed or closing */
    SIO_ENOTFOUND = -7,   /* no such object (session, namespace, ...) */
    SIO_EIO = -8,         /* I/O error (socket, file, database) */
    SIO_ETIMEDOUT = -9,   /* a deadline passed */
    SIO_EBUSY = -10,      /* the operation conflicts with one in progress */
    SIO_EADDRINUSE = -11, /* listen: address already in use */
    SIO_EEXIST = -12,     /* already exists / duplicate */
    SIO_EACCES = -13,     /* refused by policy (middleware, allowRequest) */
    SIO_ENOTSUP = -14,    /* not supported (by this adapter, say) */
};

/* A static English description of an SIO_E* code ("unknown error" else). */
const char *sio_strerror(int err);

/* ------------------------------------------------------------- allocator */

typedef struct sio_allocator {
    void *(*malloc)(size_t size);
    void *(*calloc)(size_t count, size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
} sio_allocator;

/* Replaces the allocator for all later allocations of the library and of
 * the libraries it hands memory to: jansson (every json_t, including the
 * program's own: the hook is process-wide), libuv (process-wide too) and
 * OpenSSL. NULL restores libc's. Call it first thing in main(), before
 * creating any handle or json_t: memory is freed with the allocator current
 * then, so change it only while nothing allocated with the previous one is
 * alive. zlib's deflate state follows it too. Libraries without a hook
 * still use libc's malloc: msgpack-c (the msgpack parser, when chosen) and
 * hiredis 0.14 (the Redis adapter, when used). SIO_EINVAL if a
 * function is missing; SIO_EBUSY if OpenSSL was used before in this process
 * (it takes a hook only before its first allocation): nothing changed. */
int sio_set_allocator(const sio_allocator *allocator);

/* --------------------------------------------------------------- logging */

/* The library logs what matters (handshakes, upgrades, connects, closes
 * with their reason, refused requests, errors) by category and level. Off
 * by default, and then free: no formatting happens. Without a call to
 * sio_log_set(), the first sio_loop_new() reads the DEBUG environment
 * variable the way Node's `debug` package does (DEBUG=sioc:* for
 * everything, DEBUG=sioc:engine,sioc:socket, "-sioc:http" to exclude) and
 * writes those categories to stderr as "<ISO time> sioc:<category>
 * <message>" lines. */
enum { SIO_LOG_ERROR = 0, SIO_LOG_WARN = 1, SIO_LOG_INFO = 2, SIO_LOG_DEBUG = 3 };
#define SIO_LOG_HTTP 0x01u    /* "sioc:http": listening, refused requests (4xx) */
#define SIO_LOG_ENGINE 0x02u  /* "sioc:engine": sessions, upgrades, closes, errors */
#define SIO_LOG_SOCKET 0x04u  /* "sioc:socket": namespace connects, refusals, disconnects */
#define SIO_LOG_ADAPTER 0x08u /* "sioc:adapter": rooms and broadcasts */
#define SIO_LOG_LOOP 0x10u    /* "sioc:loop": loop set-up and shutdown */
#define SIO_LOG_ALL 0x1fu
/* level: SIO_LOG_*; category: "sioc:engine"...; message: one line without
 * its newline, valid during the call. Runs on the loop thread. */
typedef void (*sio_log_cb)(int level, const char *category, const char *message, void *data);
/* Logs the categories (SIO_LOG_* bits, 0 = off) up to max_level to cb, or
 * to stderr in the DEBUG format when cb is NULL. DEBUG is then ignored. */
void sio_log_set(unsigned categories, int max_level, sio_log_cb cb, void *data);
/* The categories a DEBUG value turns on. */
unsigned sio_log_parse_debug(const char *spec);

/* --------------------------------------------------------------- metrics */

/* Counters (only grow) and gauges (current values) of what a server does
 * (sio_server_metrics, below) or of everything the library does in this process,
 * summed over its servers (sio_metrics_get). Both are copies of plain
 * integers updated on the loop thread: with loops on several threads, read
 * the process's totals from one of those. */
typedef struct sio_metrics {
    /* Engine.IO */
    uint64_t handshakes_polling;     /* sessions opened over polling */
    uint64_t handshakes_websocket;   /* sessions opened directly over WebSocket */
    uint64_t upgrades;               /* polling sessions upgraded to WebSocket */
    uint64_t sessions_polling;       /* gauge: open sessions on polling */
    uint64_t sessions_websocket;     /* gauge: open sessions on WebSocket */
    uint64_t rejected_handshakes[6]; /* refused requests by Engine.IO code (0..5, see
                                        sio_connection_error) */
    uint64_t rejected_connections;   /* closed at accept: max_connections */
    /* Socket.IO */
    uint64_t connects;          /* sockets connected to a namespace */
    uint64_t disconnects;       /* sockets disconnected */
    uint64_t sockets;           /* gauge: connected sockets, all namespaces */
    uint64_t rejected_connects; /* refused by a middleware (connect_error) */
    uint64_t packets_in;        /* Socket.IO packets decoded */
    uint64_t packets_out;       /* Socket.IO packets sent to one socket */
    uint64_t broadcasts;        /* broadcast emits (each encoded once) */
    uint64_t acks_in;           /* client acks of sio_emit_with_ack */
    uint64_t ack_timeouts;      /* sio_emit_with_ack timeouts */
    uint64_t recovery_hits;     /* connections restored by state recovery */
    uint64_t recovery_misses;   /* recovery asked for and impossible */
    /* Bytes on the wire (HTTP and WebSocket, all connections) */
    uint64_t bytes_in;
    uint64_t bytes_out;         /* written to the kernel */
    uint64_t write_queue_bytes; /* gauge: queued and not yet written */
    /* Abuse limits (sioc's own; Node has none): refusals, by limit */
    uint64_t refused_connections_per_address; /* 429 at accept (max_connections_per_address) */
    uint64_t refused_handshake_rate;          /* 429 handshakes (handshake_rate) */
    uint64_t refused_dynamic_namespaces;      /* "Invalid namespace" (max_dynamic_namespaces) */
    uint64_t refused_rooms_per_socket;        /* joins refused (max_rooms_per_socket) */
    uint64_t refused_rooms;                   /* joins refused (max_rooms) */
} sio_metrics;
/* The process's totals, over every server there is or was. */
void sio_metrics_get(sio_metrics *out);
/* Writes m in the Prometheus text format (sioc_* families) into out (cap
 * bytes, NUL-terminated when it fits) and returns the length it needs, as
 * snprintf does: call again with a bigger buffer if the result >= cap. */
size_t sio_metrics_format(const sio_metrics *m, char *out, size_t cap);

/* ------------------------------------------------------------ event loop */

/* The event loop every handle runs on (one thread). It is sioc's own
 * (sio_loop_new) or one the program already runs (sio_loop_new_from_uv in
 * the optional sioc_uv.h). */
typedef struct sio_loop sio_loop;

/* Creates a loop. SIO_ENOMEM/SIO_EIO. */
int sio_loop_new(sio_loop **out);
/* Runs until sio_loop_stop() or until nothing keeps the loop alive: servers
 * (until their close callback), active timers and queued work do; sioc's
 * internal handles do not. 0 or SIO_EIO. */
int sio_loop_run(sio_loop *loop);
/* Makes sio_loop_run() return after the current iteration. Loop thread. */
void sio_loop_stop(sio_loop *loop);
/* Frees a loop whose servers are closed (their close callbacks ran) and
 * whose run has returned; timers must be freed first. Posts not run yet are
 * dropped (their fn is never called). On a program's uv loop the memory is
 * released when that loop next runs (see sioc_uv.h). NULL: nothing. */
void sio_loop_free(sio_loop *loop);
/* Monotonic milliseconds, cached at the start of each loop iteration. */
uint64_t sio_loop_now(const sio_loop *loop);
/* Runs fn(data) on the loop thread soon, in posting order. The only
 * function that may be called from any thread. SIO_ENOMEM; SIO_ECLOSED
 * once sio_loop_free() has begun (the post is not queued). The loop must
 * still exist: a thread that posts must be stopped (joined) before
 * sio_loop_free() returns, and never post after it. */
int sio_loop_post(sio_loop *loop, void (*fn)(void *data), void *data);
/* Calls cb on the loop thread when signum arrives (SIGINT, SIGTERM...).
 * The handler does not keep the loop alive. SIO_ENOMEM, SIO_EINVAL. */
typedef void (*sio_signal_cb)(sio_loop *loop, int signum, void *data);
int sio_loop_on_signal(sio_loop *loop, int signum, sio_signal_cb cb, void *data);

/* ---- timers (libuv's uv_timer): cb runs on the loop thread timeout_ms
 * after start, then every repeat_ms if repeat_ms > 0. An active timer keeps
 * the loop running. */
typedef struct sio_loop_timer sio_loop_timer;
typedef void (*sio_loop_timer_cb)(sio_loop_timer *t, void *data);
/* A stopped timer. SIO_ENOMEM, SIO_EINVAL (cb NULL). */
int sio_loop_timer_new(sio_loop_timer **out, sio_loop *loop, sio_loop_timer_cb cb, void *data);
/* (Re)starts the timer. SIO_ECLOSED once freed. */
int sio_loop_timer_start(sio_loop_timer *t, uint64_t timeout_ms, uint64_t repeat_ms);
void sio_loop_timer_stop(sio_loop_timer *t);
/* 1 while started (a one-shot timer stops when it fires). */
int sio_loop_timer_active(const sio_loop_timer *t);
void *sio_loop_timer_data(const sio_loop_timer *t);
/* Stops and frees the timer (also from its own callback); cb never runs
 * again. The memory goes at the next loop iteration. */
void sio_loop_timer_free(sio_loop_timer *t);

/* ---- work queue: work(data) runs on a thread of libuv's pool (size from
 * UV_THREADPOOL_SIZE, default 4), then done(status, data) on the loop
 * thread: status 0, or SIO_ECLOSED if the work was cancelled before it
 * started. Queued work keeps the loop running until done has run. work
 * must not call sioc functions other than sio_loop_post(). SIO_ENOMEM,
 * SIO_EINVAL (work NULL). */
typedef void (*sio_work_cb)(void *data);
typedef void (*sio_work_done_cb)(int status, void *data);
int sio_loop_work(sio_loop *loop, sio_work_cb work, sio_work_done_cb done, void *data);

/* ---- token bucket: rate tokens a second, at most burst of them, taken one
 * at a time; for a program's own limits (the chat's messages per socket),
 * and the one the library limits handshakes per address with. No handle and
 * no clock of its own: the caller passes the time (sio_loop_now). Tokens are
 * counted in thousandths, so a rate of r adds exactly r thousandths a
 * millisecond with no floating-point drift; burst is clamped to
 * SIO_BUCKET_MAX_BURST; the time is kept mod 2^32 ms (a bucket left alone
 * for 49 days may see less refill than was due, never more). */
#define SIO_BUCKET_MAX_BURST 4000000u
typedef struct sio_bucket {
    uint32_t level; /* tokens, in thousandths */
    uint32_t last;  /* time (ms, mod 2^32) of the last refill */
} sio_bucket;
/* A full bucket (burst tokens) at now_ms. */
void sio_bucket_init(sio_bucket *b, uint32_t burst, uint64_t now_ms);
/* Refills for the time since the last call, then takes one token: 1 if
 * there was one, 0 if the bucket is empty (nothing taken). rate 0: never
 * refills. */
int sio_bucket_take(sio_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms);

/* ----------------------------------------------------------- HTTP server */

/* An HTTP/1.1 server. Engine.IO servers attach to it at their path; every
 * other request goes to the handler set with sio_http_server_on_request(),
 * or gets 404. */
typedef struct sio_http_server sio_http_server;
/* One request being answered; valid from the handler until it is answered. */
typedef struct sio_req sio_req;

/* https/wss (Node's https.createServer({cert, key, ca})): PEM files read
 * once by sio_http_server_new (SIO_EIO if they cannot be used). TLS 1.2 or
 * later. A TLS handshake must finish within headers_timeout. */
typedef struct sio_tls_options {
    const char *cert_file; /* certificate chain; NULL (the default): plain HTTP */
    const char *key_file;  /* its private key */
    const char *ca_file;   /* optional: clients must present a certificate it signed
                            * (Node's ca + requestCert + rejectUnauthorized) */
} sio_tls_options;

typedef struct sio_http_options {
    size_t max_request_line; /* 8192: longer -> 414 and close */
    size_t max_header_bytes; /* 16384 (Node: maxHeaderSize): -> 431 */
    unsigned max_headers;    /* 100 (Node: maxHeadersCount) -> 431 */
    size_t max_body;         /* 1e6: bodies for the request handler */
    /* Limits stricter than Node's (which bounds only the whole head and
     * 16 KiB of chunk extensions): */
    size_t max_header_value;     /* 4096 bytes in one header value -> 431 (Origin and
                                    Access-Control-Request-Headers are echoed back) */
    size_t max_chunk_ext;        /* 4096 bytes of chunk extensions per request -> 413 */
    uint32_t headers_timeout;    /* 10000 ms for the whole request head (slowloris) -> 408 */
    uint32_t request_timeout;    /* 30000 ms for a whole request incl. body -> 408 */
    uint32_t keep_alive_timeout; /* 5000 ms idle between requests (Node's default) */
    size_t max_connections;      /* 0 = unlimited; past it new connections are closed */
    /* Open connections from one client address (Node has no such limit).
     * Past it a new connection is answered 429 "Too many connections from
     * this address" (Connection: close) at once and closed; over TLS it is
     * closed without an answer. 0 (the default) = off: behind a proxy or a
     * NAT every client has the same address, so only a server that sees
     * its clients' own addresses should set it (docs/guide.md). */
    size_t max_connections_per_address;
    size_t max_pending_output; /* 1 MiB of unwritten answers on a connection: further
                                  pipelined requests wait (not parsed) until it drains */
    /* The output budget of the whole server (Node has none): bytes queued
     * or being written on all its connections together. Past it,
     * WebSockets holding more than their fair share (the budget over the
     * open connections, at least 64 KiB) are cut off (closed as a transport
     * error, their queues dropped), the ones behind the longest first, until
     * the rest is back under 7/8 of the budget; connections that keep up are
     * not, and neither is one that has only just fallen behind while older
     * backlogs remain. Together with the per-session limits of
     * sio_eio_options this bounds what slow readers can hold. 0 = no budget. */
    size_t max_output_total; /* 256 MiB */
    /* The kernel's send buffer of each accepted connection (SO_SNDBUF,
     * which Linux doubles for its bookkeeping; Node has no such option).
     * 0 (the default) leaves it to the kernel's autotuning, up to
     * net.ipv4.tcp_wmem's maximum (4 MiB by default). The output limits
     * count what is queued in the server; what a peer has not read sits
     * in its connection's send buffer too, in the TCP memory every
     * connection of the machine shares (net.ipv4.tcp_mem). Readers that
     * stop can take so much of it that the kernel throttles every
     * connection, and readers that keep up then fall behind: with many
     * slow readers, cap it (docs/guide.md, "Slow readers"), at the price
     * of throughput over links with a large bandwidth-delay product. */
    size_t send_buffer_size;
    sio_tls_options tls; /* no TLS unless tls.cert_file is set */
} sio_http_options;

/* Counters of an HTTP server, for monitoring and tests. */
typedef struct sio_http_stats {
    uint64_t output_cutoffs; /* connections cut off by an output limit (hard, soft
                                held too long, or the server's budget) */
    size_t output_bytes;     /* output queued or being written now */
} sio_http_stats;

void sio_http_options_init(sio_http_options *o);
/* Creates a server on loop (not listening yet). SIO_ENOMEM, SIO_EIO (TLS
 * files), SIO_EINVAL (a TLS certificate without its key). */
int sio_http_server_new(sio_http_server **out, sio_loop *loop, const sio_http_options *opts);
/* Listens on host:port (port 0 picks a free port). SIO_EADDRINUSE, SIO_EIO. */
int sio_http_server_listen(sio_http_server *s, const char *host, int port);
/* Copies the server's counters into *out. */
void sio_http_server_stats(const sio_http_server *s, sio_http_stats *out);
/* The bound port after a successful listen, else -1. */
int sio_http_server_port(const sio_http_server *s);
typedef void (*sio_http_handler)(sio_req *req, void *data);
void sio_http_server_on_request(sio_http_server *s, sio_http_handler cb, void *data);
/* Stops listening and closes every connection and attached Engine.IO
 * server (sessions close with "forced close" unless the layer above closed
 * them first). cb (may be NULL) runs once everything is released; the server
 * is freed right after cb returns. */
void sio_http_server_close(sio_http_server *s, void (*cb)(void *data), void *data);

/* Request accessors. Strings are NUL-terminated and owned by the request. */
const char *sio_req_method(const sio_req *r);
const char *sio_req_path(const sio_req *r);  /* raw path, not decoded */
const char *sio_req_query(const sio_req *r); /* after '?', "" if none */
/* The client's IP address as text ("127.0.0.1", "::1"; "" if the
 * connection could not tell), e.g. for allow_request. */
const char *sio_req_address(const sio_req *r);
/* Header value (case-insensitive name) or NULL. */
const char *sio_req_header(const sio_req *r, const char *name);
/* Request body (already bounded by max_body); len may be 0. */
const char *sio_req_body(const sio_req *r, size_t *len);
/* Answers the request: status, extra header lines ("Name: value\r\n"...,
 * or NULL) and a body that is copied. Content-Length and Connection are
 * added. The request is gone after this call. SIO_ENOMEM, SIO_ECLOSED (the
 * client left: the request is released all the same). */
int sio_req_respond(sio_req *r, int status, const char *headers, const void *body, size_t len);

/* ------------------------------------------------------------ Engine.IO */

typedef struct sio_eio_server sio_eio_server;
/* One Engine.IO session (Node's engine.io Socket). */
typedef struct sio_eio_socket sio_eio_socket;

enum { SIO_TRANSPORT_POLLING = 1, SIO_TRANSPORT_WEBSOCKET = 2 };

typedef struct sio_cors_options {
    const char *const *origins; /* allowed Origins (exact match); NULL = none */
    size_t norigins;
    int any_origin;              /* reflect any Origin (Node's origin: true) */
    int credentials;             /* Access-Control-Allow-Credentials: true */
    const char *methods;         /* "GET,HEAD,PUT,PATCH,POST,DELETE" */
    const char *allowed_headers; /* NULL: reflect Access-Control-Request-Headers */
} sio_cors_options;

/* Accepts (return 0) or refuses (non-zero: HTTP 403, code 4 "Forbidden") a
 * handshake or upgrade request. */
typedef int (*sio_allow_request_cb)(const sio_req *req, void *data);

typedef struct sio_eio_options {
    const char *path;            /* "/engine.io" */
    uint32_t ping_interval;      /* 25000 ms */
    uint32_t ping_timeout;       /* 20000 ms */
    uint32_t upgrade_timeout;    /* 10000 ms */
    size_t max_http_buffer_size; /* 1e6 bytes: POST bodies, WebSocket messages */
    unsigned transports;         /* SIO_TRANSPORT_POLLING | SIO_TRANSPORT_WEBSOCKET */
    int allow_upgrades;          /* 1 */
    sio_cors_options cors;       /* default: no CORS headers (like Node) */
    sio_allow_request_cb allow_request;
    void *allow_request_data;
    /* Node's httpCompression: a polling response of at least threshold
     * bytes is sent gzip- or deflate-compressed when the request's
     * Accept-Encoding allows it and some packet in it allows compression
     * (sio_socket_compress). WebSocket: no permessage-deflate in sioc. */
    int http_compression;              /* 1 (Node: on, {threshold: 1024}); 0 = off */
    size_t http_compression_threshold; /* 1024 bytes */
    /* Limits stricter than Node's: */
    unsigned max_packets_per_post; /* 1000: more packets in one POST -> 400 */
    /* Output limits of one session, after Redis's client output-buffer
     * limits (Node has none): queued bytes over the hard limit, or over the
     * soft limit for longer than soft_timeout, cut the session off. The
     * close is asynchronous (never inside the emit or broadcast that went
     * over), what was queued is dropped, and the reason is Node's
     * "transport error". A volatile broadcast skips a session with output
     * waiting instead (Node drops it when the transport is not writable). */
    size_t max_outbound_bytes;      /* hard limit: 16 MiB */
    size_t outbound_soft_limit;     /* 1 MiB (WebSocket; 0 = none) */
    uint32_t outbound_soft_timeout; /* 10000 ms above the soft limit -> closed */
    unsigned max_ws_fragments;      /* 1024 frames in one WebSocket message -> close 1008 */
    /* Handshakes (new sessions, over either transport) from one client
     * address, a token bucket: handshake_rate a second, at most
     * handshake_burst at once (0: handshake_rate). Over it the request is
     * refused with HTTP 429 and Node's form of a refusal by policy (code 4,
     * as allowRequest's, with the message "Too many handshakes": the JSON
     * body {"code":4,"message":"Too many handshakes"} on polling, that text
     * on an upgrade), and connection_error fires with it. The addresses
     * are tracked in a table bounded by handshake_addresses entries (an
     * entry goes once its bucket is full again). Node has no such limit.
     * handshake_rate 0 (the default) = off: behind a proxy or a NAT every
     * client has the same address (docs/guide.md). */
    uint32_t handshake_rate;    /* 0 = off */
    uint32_t handshake_burst;   /* 0 = handshake_rate */
    size_t handshake_addresses; /* 65536 addresses tracked at most */
} sio_eio_options;

void sio_eio_options_init(sio_eio_options *o);

typedef struct sio_eio_callbacks {
    /* A new session; sio_eio_socket_set_data() may attach user state. */
    void (*on_connection)(sio_eio_socket *s, void *data);
    /* One message; bytes are valid during the call only. */
    void (*on_message)(sio_eio_socket *s, const char *msg, size_t len, int binary, void *data);
    /* The session is closed with Node's reason ("transport close",
     * "transport error", "ping timeout", "forced close", "parse error",
     * "transport unknown"?). The socket is freed after this returns. */
    void (*on_close)(sio_eio_socket *s, const char *reason, void *data);
    /* Everything queued was written (Node's "drain"): a producer that
     * paused on sio_eio_socket_buffered() may go on. May be NULL. */
    void (*on_drain)(sio_eio_socket *s, void *data);
} sio_eio_callbacks;

/* Node's engine "connection_error" event: a request refused before it
 * reached a session (the client got HTTP 400/403 with this code). */
typedef struct sio_connection_error {
    int code;            /* Node's: 0 "Transport unknown", 1 "Session ID unknown",
                          * 2 "Bad handshake method", 3 "Bad request", 4 "Forbidden",
                          * 5 "Unsupported protocol version" */
    const char *message; /* Node's message for the code (static) */
    const char *url;     /* the request target as sent (not NUL-terminated) */
    size_t url_len;
    int upgrade; /* 1: a WebSocket upgrade request */
    /* err.req: the refused request (method, path, query, headers, address),
     * valid during the call only. */
    const sio_req *req;
    /* err.context: Node's context object for this refusal as compact JSON,
     * e.g. {"transport":"carrier-pigeon"}, {"sid":"..."},
     * {"name":"TRANSPORT_MISMATCH","transport":"websocket","previousTransport":"polling"},
     * {"method":"PUT"}, {"protocol":3}; NULL where Node has none. Valid
     * during the call only. */
    const char *context;
} sio_connection_error;
typedef void (*sio_connection_error_cb)(const sio_connection_error *err, void *data);

/* Attaches an Engine.IO server at opts->path to http. The options are
 * copied. SIO_ENOMEM, SIO_EINVAL (bad option), SIO_EEXIST (path taken). */
int sio_eio_server_new(sio_eio_server **out, sio_http_server *http, const sio_eio_options *opts,
                       const sio_eio_callbacks *cb, void *data);
/* Number of open sessions. */
size_t sio_eio_server_clients(const sio_eio_server *s);
/* io.engine.on("connection_error", cb): one callback (the last set; NULL
 * removes it), called on the loop thread, err valid during the call. */
void sio_eio_server_on_connection_error(sio_eio_server *s, sio_connection_error_cb cb, void *data);

/* Queues a message (copied). SIO_ECLOSED if the session is closing,
 * SIO_ELIMIT if its outbound queue is full (the session is then closed). */
int sio_eio_send(sio_eio_socket *s, const void *data, size_t len, int binary);
/* Closes the session ("forced close"); on_close follows (maybe later). */
void sio_eio_close(sio_eio_socket *s);
const char *sio_eio_socket_id(const sio_eio_socket *s);
/* Bytes queued for the peer and not yet written (or handed to a poll). */
size_t sio_eio_socket_buffered(const sio_eio_socket *s);
int sio_eio_socket_transport(const sio_eio_socket *s);
void sio_eio_socket_set_data(sio_eio_socket *s, void *data);
void *sio_eio_socket_get_data(const sio_eio_socket *s);

/* What the handshake request carried, copied when the session opened. */
typedef struct sio_kv {
    const char *name; /* header names lower-cased */
    const char *value;
} sio_kv;
typedef struct sio_handshake {
    const sio_kv *headers;
    size_t nheaders;
    const char *url;     /* request target, e.g. "/socket.io/?EIO=4&..." */
    const char *query;   /* raw query string */
    const char *address; /* peer IP address */
    int64_t time_ms;     /* wall-clock ms when the session opened */
    int secure;          /* 1 when the handshake came over TLS (https/wss) */
} sio_handshake;
const sio_handshake *sio_eio_socket_handshake(const sio_eio_socket *s);
/* The handshake query, decoded ('+' and %XX), as Node's handshake.query:
 * sio_handshake_query_get() copies the first value of name into out
 * (NUL-terminated, truncated to cap - 1 bytes) and returns its full length,
 * or SIO_ENOTFOUND (absent), SIO_EPROTO (badly %-encoded), SIO_EINVAL,
 * SIO_ENOMEM. sio_handshake_query_json() returns a new object the caller
 * owns: {name: value}, a repeated name as an array of its values (Node's
 * querystring.parse), badly encoded pairs left out; NULL on OOM. */
int sio_handshake_query_get(const sio_handshake *hs, const char *name, char *out, size_t cap);
json_t *sio_handshake_query_json(const sio_handshake *hs);

/* ------------------------------------------------------------ Socket.IO */

/* The Socket.IO v5 server (Node's socket.io 4.8), on top of the Engine.IO
 * server above. Mapping from Node:
 *   new Server(http, opts)        sio_server_new(&srv, http, &opts)
 *   io.of("/x")                   sio_server_of(srv, "/x")
 *   io.of(fn)                     sio_server_of_dynamic(srv, match, setup, data)
 *   nsp.use(fn)                   sio_namespace_use(nsp, fn, data) + sio_next()
 *   nsp.on("connection", fn)      sio_namespace_on_connection(nsp, fn, data)
 *   socket.on("ev", fn)           sio_socket_on(s, "ev", fn, data)
 *   socket.onAny(fn)              sio_socket_on_any(s, fn, data)
 *   socket.data.k = v            sio_socket_data_set(s, "k", v)
 *   socket.emit("ev", ...)        sio_emit(s, "ev", args)
 *   socket.timeout(ms).emit(..cb) sio_emit_with_ack(s, "ev", args, ms, cb, data)
 *   callback(...) in a handler    sio_ack_send(ack, args)
 *   socket.join/leave(room)       sio_socket_join / sio_socket_leave
 *   io.to(a).to(b).except(c)...   sio_broadcast_to(sio_broadcast_new(nsp), a)...
 *   socket.broadcast / socket.to  sio_socket_broadcast(s) (all but s)
 *   socket.disconnect(close)      sio_socket_disconnect(s, close)
 *   io.timeout(ms).emit(.., cb)   sio_broadcast_emit_with_ack(sio_broadcast_timeout(b, ms), ..)
 *   io.fetchSockets()             sio_broadcast_fetch_sockets_async(b, cb, data)
 *   io.local.fetchSockets()       sio_broadcast_fetch_sockets(b, &v, &n)
 *   io.serverSideEmit("ev", ..)   sio_namespace_server_side_emit[_with_ack](nsp, "ev", ..)
 *   io.on("ev", fn) (server-side) sio_namespace_on_server_side_emit(nsp, "ev", fn, data)
 *   io.serverCount()              sio_namespace_server_count(nsp, cb, data)
 *   nsp.adapter.on("join-room",..) sio_namespace_on_room_event(nsp, cb, data)
 *   nsp.adapter.rooms             sio_namespace_rooms / sio_namespace_room_size
 *   new Server({adapter})         sio_server_options.adapter (+ adapter_data)
 * JSON values are jansson's json_t. Binary data travels as placeholders
 * ({"_placeholder":true,"num":N} objects) inside the JSON, resolved with
 * sio_args_binary(); see sio_args below.
 *
 * Ownership of JSON (one rule, jansson's *_new convention): a json_t the
 * application PASSES to a sio_* function is stolen: the library takes over
 * the reference, even when the call fails (sio_args_json, sio_args_push,
 * sio_next_error). A json_t the library hands OUT (callback arguments,
 * sio_args_get, sio_socket_auth, sio_socket_data_json) is borrowed, except
 * from functions named *_copy or documented as "the caller owns" it. An
 * sio_args list passed to emit/ack/broadcast is borrowed (encoded before
 * the call returns); one passed to a callback is borrowed for the call. */

typedef struct sio_server sio_server;
typedef struct sio_namespace sio_namespace;
typedef struct sio_socket sio_socket;
typedef struct sio_args sio_args;
typedef struct sio_ack sio_ack;
typedef struct sio_middleware_next sio_middleware_next;
typedef struct sio_broadcast sio_broadcast;
typedef struct sio_adapter sio_adapter;
typedef struct sio_fetch_result sio_fetch_result;
typedef struct sio_remote_socket sio_remote_socket;
typedef struct sio_server_ack sio_server_ack;

/* Makes the adapter of a new namespace (Node's `adapter` server option:
 * a constructor called once per namespace). NULL: out of memory (the
 * namespace is not created). sio_mem_adapter_new is the default. */
typedef sio_adapter *(*sio_adapter_factory)(sio_namespace *nsp, void *data);
/* The in-memory adapter (Node's socket.io-adapter): one node; data unused. */
sio_adapter *sio_mem_adapter_new(sio_namespace *nsp, void *data);

/* Node's connectionStateRecovery. */
typedef struct sio_recovery_options {
    int enabled;                         /* 0: off (Node: option absent) */
    uint32_t max_disconnection_duration; /* 120000 ms a session (and a packet) is kept */
    int skip_middlewares;                /* 1: a recovered socket skips middlewares */
    size_t max_packets;                  /* 10000 kept packets per namespace (oldest dropped) */
    size_t max_bytes;                    /* 16 MiB of kept packets per namespace */
} sio_recovery_options;

enum { SIO_PARSER_DEFAULT = 0, SIO_PARSER_MSGPACK = 1 };

typedef struct sio_server_options {
    sio_eio_options eio;      /* Engine.IO options; eio.path is "/socket.io" */
    uint32_t connect_timeout; /* 45000 ms for the first CONNECT, then closed */
    /* Node's cleanupEmptyChildNamespaces: a namespace created by a dynamic
     * matcher (sio_server_of_dynamic) is removed, with its rooms and
     * recovery store, once its last socket has left (a later CONNECT to
     * the same name creates it anew). Its sio_namespace pointer is then
     * invalid (it stays valid while a socket of it is referenced). */
    int cleanup_empty_child_namespaces; /* 0 (Node's default: false) */
    /* Node's parser option: SIO_PARSER_DEFAULT (socket.io-parser: text
     * packets, binary as attachments) or SIO_PARSER_MSGPACK (the npm
     * socket.io-msgpack-parser: each packet one binary msgpack message;
     * clients must use that parser too, as with Node). */
    int parser;
    /* Node's serveClient: the directory holding socket.io-client's dist
     * files (socket.io.js required; .min.js, .esm.min.js, .msgpack.min.js
     * and the .map files when present), served from memory at
     * <eio.path>/socket.io.js etc. with Node's ETag (the client version),
     * 304 and gzip/deflate. NULL (the default) serves nothing: Node's
     * serveClient is on by default because its package ships the files;
     * the C library has none of its own and never searches node_modules,
     * so the application names them. Read once by sio_server_new
     * (SIO_EIO if socket.io.js cannot be read). */
    const char *serve_client_dir;
    sio_recovery_options connection_state_recovery;
    /* Limits on incoming packets (parse error past them): */
    unsigned max_attachments;    /* 10 binary attachments per packet (Node's maxAttachments) */
    unsigned max_json_depth;     /* 32 nesting levels */
    uint32_t attachment_timeout; /* 10000 ms for all attachments of a packet to arrive */
    size_t max_binary_bytes;     /* 0 = eio.max_http_buffer_size: attachments of one packet */
    /* Abuse limits (Node has none; 0 = no limit). Past
     * max_dynamic_namespaces namespaces made by the matchers of
     * sio_server_of_dynamic (alive at once: a child removed by
     * cleanup_empty_child_namespaces no longer counts), a CONNECT that
     * would make one more gets Node's "Invalid namespace" connect_error.
     * The rooms limits are on this node, and a socket's own-id room is not
     * counted: a join past either fails with SIO_ELIMIT (sio_socket_join,
     * and socketsJoin for the sockets over it), and nothing else changes. */
    size_t max_dynamic_namespaces; /* 10000 */
    size_t max_rooms_per_socket;   /* 10000 rooms one socket is in */
    size_t max_rooms;              /* 1000000 rooms in one namespace */
    sio_adapter_factory adapter;   /* NULL: sio_mem_adapter_new (Node's in-memory adapter) */
    void *adapter_data;            /* passed to adapter */
} sio_server_options;

void sio_server_options_init(sio_server_options *o);

/* Attaches a Socket.IO server to http at opts->eio.path. Options (and their
 * strings) are copied. SIO_ENOMEM, SIO_EINVAL, SIO_EEXIST (path taken). */
int sio_server_new(sio_server **out, sio_http_server *http, const sio_server_options *opts);
/* sio_metrics (above) of srv alone: its Socket.IO server, its Engine.IO server and the HTTP
 * server it is attached to (the network fields: bytes, write queue,
 * refused connections). Two sio_servers on one sio_http_server share that
 * server's network fields; everything else is each one's. */
void sio_server_metrics(const sio_server *srv, sio_metrics *out);
/* Node's io.close(cb): the whole shutdown in one call. Disconnects every
 * socket with "server shutting down", closes the HTTP server srv is
 * attached to (and every connection on it), then frees both; cb(data) (may
 * be NULL) runs once all is released, and sio_loop_run then returns unless
 * something else keeps the loop alive. srv and its HTTP server must not be
 * used after this call; a second call does nothing. Release socket
 * references (sio_socket_ref) in the disconnect callbacks at the latest. */
void sio_server_shutdown(sio_server *srv, void (*cb)(void *data), void *data);

/* io.engine.on("connection_error", cb) for srv's Engine.IO server. */
void sio_server_on_connection_error(sio_server *srv, sio_connection_error_cb cb, void *data);

/* The same in steps, for a program that shares the HTTP server: */
/* Disconnects every socket with "server shutting down", closes every
 * Engine.IO session and refuses new ones. The server stays allocated. */
void sio_server_close(sio_server *srv);
/* Frees the server. Call it after sio_server_close() once the HTTP server
 * it is attached to has been closed (its close callback ran), and after
 * releasing every sio_socket_ref() / pending middleware step: a socket
 * released later would reach its freed namespace. */
void sio_server_free(sio_server *srv);

/* The namespace name ("/" is the main one, names start with '/'), created on
 * first use; it lives as long as the server. NULL: bad name or no memory. */
sio_namespace *sio_server_of(sio_server *srv, const char *name);
/* Dynamic namespaces (Node's io.of(fn)): a CONNECT to an unknown namespace
 * for which match() returns non-zero creates it, then setup(nsp, data) runs
 * (register on_connection and middlewares there) before the connection
 * proceeds. Matchers are tried in registration order. SIO_ENOMEM. */
typedef int (*sio_namespace_match_cb)(const char *name, const json_t *auth, void *data);
int sio_server_of_dynamic(sio_server *srv, sio_namespace_match_cb match,
                          void (*setup)(sio_namespace *nsp, void *data), void *data);

/* Namespaces the server has (Node's io._nsps.size), "/" included. */
size_t sio_server_namespaces_count(const sio_server *srv);

const char *sio_namespace_name(const sio_namespace *nsp);
sio_server *sio_namespace_server(const sio_namespace *nsp);
/* Connected sockets in the namespace (this node). */
size_t sio_namespace_sockets_count(const sio_namespace *nsp);
/* The connected socket with this id, or NULL (borrowed). */
sio_socket *sio_namespace_socket(const sio_namespace *nsp, const char *id);

/* Called for each new socket, after the middlewares accepted it and after
 * the CONNECT reply was queued. One callback per namespace (the last set). */
typedef void (*sio_connection_cb)(sio_socket *s, void *data);
void sio_namespace_on_connection(sio_namespace *nsp, sio_connection_cb cb, void *data);

/* Middlewares run in order for each connecting socket (Node's nsp.use). Each
 * must end its step exactly once, now or later, with sio_next() (accept:
 * the next middleware runs) or sio_next_error() (reject: the client gets
 * 44{"message":message,"data":data}). The next handle is freed by that call.
 * If the client goes away meanwhile, the call just frees the handle. */
typedef void (*sio_middleware_cb)(sio_socket *s, sio_middleware_next *next, void *data);
int sio_namespace_use(sio_namespace *nsp, sio_middleware_cb fn, void *data);
void sio_next(sio_middleware_next *next);
/* data may be NULL; it is stolen (see "Ownership of JSON" above). For a
 * socket middleware (sio_socket_use) the event is dropped and the socket's
 * "error" listeners get one argument {"message":message,"data":data}. */
void sio_next_error(sio_middleware_next *next, const char *message, json_t *data);

/* Emits to every connected socket of the namespace (io.emit()). */
int sio_namespace_emit(sio_namespace *nsp, const char *event, const sio_args *args);

/* ---- rooms of a namespace and the cluster behind its adapter.
 * Room queries see this node only (Node's nsp.adapter.rooms). */
/* Sockets of this node in room (0 if no such room). */
size_t sio_namespace_room_size(const sio_namespace *nsp, const char *room);
/* Stores up to max room names (borrowed, valid until rooms change) and
 * returns how many rooms there are; every socket's own id is one, as in
 * Node's adapter.rooms. */
size_t sio_namespace_rooms(const sio_namespace *nsp, const char **out, size_t max);

/* Room events (Node's nsp.adapter.on("create-room" | "delete-room" |
 * "join-room" | "leave-room", ...)): sid is NULL for create/delete. Every
 * socket's own id is a room too (created when it connects, deleted when it
 * leaves). Callbacks run synchronously inside the join/leave that caused
 * them; they must not join or leave. Subscribers are never removed. SIO_ENOMEM. */
typedef enum sio_room_event {
    SIO_ROOM_CREATE, /* "create-room" (room) */
    SIO_ROOM_DELETE, /* "delete-room" (room) */
    SIO_ROOM_JOIN,   /* "join-room" (room, sid) */
    SIO_ROOM_LEAVE,  /* "leave-room" (room, sid) */
} sio_room_event;
typedef void (*sio_room_cb)(sio_namespace *nsp, sio_room_event ev, const char *room,
                            const char *sid, void *data);
int sio_namespace_on_room_event(sio_namespace *nsp, sio_room_cb cb, void *data);

/* serverCount(): servers in the cluster, this one included (1 with the
 * in-memory adapter). cb runs exactly once when 0 is returned, possibly
 * before the call returns. SIO_ENOMEM. */
typedef void (*sio_server_count_cb)(sio_namespace *nsp, int err, size_t servers, void *data);
int sio_namespace_server_count(sio_namespace *nsp, sio_server_count_cb cb, void *data);

/* allRooms() of Node's Redis adapter (io.of(nsp).adapter.allRooms()):
 * the names of every room on every server of the cluster, each once, this
 * server's first (every socket's own id is a room, as in adapter.rooms).
 * cb runs exactly once when 0 is returned, possibly before the call
 * returns (the in-memory adapter, or a cluster of one: this server's
 * rooms), with the names borrowed for the call; or with err
 * SIO_ETIMEDOUT and no names when some server did not answer within the
 * adapter's requestsTimeout (Node rejects with "timeout reached while
 * waiting for allRooms response"), SIO_ECLOSED when the server is freed
 * first. SIO_EINVAL (cb NULL), SIO_ENOTSUP (an adapter without it),
 * SIO_ENOMEM. */
typedef void (*sio_all_rooms_cb)(sio_namespace *nsp, int err, const char *const *rooms, size_t n,
                                 void *data);
int sio_namespace_all_rooms(sio_namespace *nsp, sio_all_rooms_cb cb, void *data);

/* Server-side events (Node's nsp.serverSideEmit / nsp.on("ev") for events
 * from other servers). The event goes to the handlers of the same
 * namespace on every OTHER server of the cluster, never this one's.
 * With an ack: cb gets (0, responses) with one response per other server
 * (the first argument each handler acked with, null if none), or
 * SIO_ETIMEDOUT with the responses that arrived within timeout_ms (0: the
 * adapter's requestsTimeout). The in-memory adapter has no other server:
 * both calls return SIO_ENOTSUP and cb is never called, as Node's in-memory
 * adapter only warns. SIO_EINVAL (Node's namespace reserved names:
 * connect, connection, new_namespace), SIO_ENOMEM. */
typedef void (*sio_server_side_ack_cb)(sio_namespace *nsp, int err, const sio_args *responses,
                                       void *data);
int sio_namespace_server_side_emit(sio_namespace *nsp, const char *event, const sio_args *args);
int sio_namespace_server_side_emit_with_ack(sio_namespace *nsp, const char *event,
                                            const sio_args *args, uint32_t timeout_ms,
                                            sio_server_side_ack_cb cb, void *data);
/* A handler for server-side events called event (several run in
 * registration order). ack is NULL unless the sender wants an answer:
 * sio_server_ack_send answers it (first call only; Node sends the first
 * argument), valid during the call unless retained. SIO_ENOMEM, SIO_EINVAL. */
typedef void (*sio_server_side_cb)(sio_namespace *nsp, const sio_args *args, sio_server_ack *ack,
                                   void *data);
int sio_namespace_on_server_side_emit(sio_namespace *nsp, const char *event, sio_server_side_cb cb,
                                      void *data);
/* SIO_EBUSY (already sent), SIO_ENOMEM. */
int sio_server_ack_send(sio_server_ack *ack, const sio_args *args);
void sio_server_ack_retain(sio_server_ack *ack);
void sio_server_ack_release(sio_server_ack *ack);

/* Connection state recovery store of a namespace. */
typedef struct sio_recovery_stats {
    size_t sessions; /* disconnected sessions kept */
    size_t packets;  /* packets kept for replay */
    size_t bytes;    /* bytes those packets hold */
} sio_recovery_stats;
void sio_namespace_recovery_stats(const sio_namespace *nsp, sio_recovery_stats *out);

/* ---- arguments: a JSON array of values plus binary attachments.
 * An args list is what a handler receives (borrowed, valid during the call)
 * and what emit/ack take (borrowed: encoded before the call returns, so the
 * same args may be re-sent, e.g. echoed). Binary: sio_args_push_binary()
 * adds a top-level Buffer argument; sio_args_binary_node() makes a
 * placeholder to put anywhere inside a value you then push (nested binary).
 * sio_args_binary() resolves a placeholder of the same args to its bytes. */
sio_args *sio_args_new(void);
/* Wraps a JSON array (stolen, even on failure) as args, e.g.
 * sio_args_json(json_pack("[s,i]", "hi", 3)). NULL if array is NULL or not
 * an array, or no memory. */
sio_args *sio_args_json(json_t *array);
void sio_args_free(sio_args *a);
/* Appends value, stealing the reference (even on failure). SIO_ENOMEM,
 * SIO_EINVAL (value NULL). */
int sio_args_push(sio_args *a, json_t *value);
/* Appends a binary argument (copied). SIO_ENOMEM, SIO_ELIMIT (over 2^31). */
int sio_args_push_binary(sio_args *a, const void *data, size_t len);
/* A new placeholder node for data (copied) attached to a; the caller owns
 * the returned reference and puts it inside a value pushed to a. NULL: OOM. */
json_t *sio_args_binary_node(sio_args *a, const void *data, size_t len);
size_t sio_args_count(const sio_args *a);
/* Argument i (borrowed), NULL past the end. */
json_t *sio_args_get(const sio_args *a, size_t i);
/* The bytes a placeholder node stands for (borrowed; *len set), or NULL if
 * node is not a placeholder of a. */
const void *sio_args_binary(const sio_args *a, const json_t *node, size_t *len);
/* Number of binary attachments. */
size_t sio_args_attachments(const sio_args *a);

/* ---- sockets.
 * Lifetime: a socket is valid from the connection callback (or middleware)
 * until its disconnect callbacks have returned; sio_socket_ref() keeps the
 * memory valid longer (then calls on it return SIO_ECLOSED or do nothing). */
const char *sio_socket_id(const sio_socket *s);
sio_namespace *sio_socket_namespace(const sio_socket *s);
/* The Engine.IO handshake (headers, query, address, time, url, secure);
 * NULL once the socket is disconnected. */
const sio_handshake *sio_socket_handshake(const sio_socket *s);
/* The CONNECT payload (Node's handshake.auth): an object, {} if none.
 * Borrowed; parsed on the first call and kept as long as the socket. NULL
 * only if it could not be allocated. */
json_t *sio_socket_auth(const sio_socket *s);
/* The same payload as a new object the caller owns (json_decref), without
 * keeping a parsed copy on the socket: what a program that reads auth once
 * at connection should use to keep idle sockets small. NULL on OOM. */
json_t *sio_socket_auth_copy(const sio_socket *s);
/* Node's socket.data: a JSON object (created empty on the first call) that
 * the application may fill; kept and restored by connection state
 * recovery. Borrowed. NULL only if it could not be allocated. */
json_t *sio_socket_data_json(sio_socket *s);
/* socket.data[key] = value (value stolen; the key is replaced if there).
 * Through this call the admin UI instrumentation sees the change at once,
 * as Node's Proxy on socket.data does (one socket_updated per set, even of
 * the same value); a change made directly on sio_socket_data_json's object
 * shows only after the current event's handlers or connection callback.
 * SIO_EINVAL (key or value NULL: value freed), SIO_ENOMEM. */
int sio_socket_data_set(sio_socket *s, const char *key, json_t *value);
/* A user pointer (not persisted by recovery). */
void sio_socket_set_data(sio_socket *s, void *data);
void *sio_socket_get_data(const sio_socket *s);
/* 1 if the socket was restored by connection state recovery. */
int sio_socket_recovered(const sio_socket *s);
int sio_socket_connected(const sio_socket *s);
void sio_socket_ref(sio_socket *s);
void sio_socket_unref(sio_socket *s);

/* Event handlers (Node's EventEmitter on the socket). args are borrowed
 * for the call. ack is NULL unless the
 * client asked for an acknowledgement: sio_ack_send() answers it (first call
 * only). It is valid during the call; to answer later, sio_ack_retain() it
 * in the handler and sio_ack_release() it after sending (or to give up). The
 * same ack is passed to every handler of the event (and any handlers).
 * Several handlers per event run in registration order. As in Node (whose
 * dispatch is a process.nextTick), an event's handlers run once the read
 * that brought it is processed: after the any-handlers of every packet of
 * that read, and not at all if the socket disconnected meanwhile (a
 * DISCONNECT in the same read). An emit calls the
 * handlers registered when it began (Node: a handler added or removed by
 * another handler counts from the next event on).
 * Reserved names: "disconnecting" and "disconnect" fire with args
 * [reason] (the same moments as sio_socket_on_disconnecting/_disconnect,
 * in registration order with them); "error" fires when a socket middleware
 * fails (sio_next_error) and for an "error" event the client emits; the
 * other reserved names (connect, connect_error, newListener,
 * removeListener) never fire on a server socket: SIO_EINVAL.
 * SIO_EINVAL (NULL), SIO_ENOMEM. */
typedef void (*sio_event_cb)(sio_socket *s, const sio_args *args, sio_ack *ack, void *data);
int sio_socket_on(sio_socket *s, const char *event, sio_event_cb cb, void *data);
/* once(): removed just before its first call. Errors as sio_socket_on. */
int sio_socket_once(sio_socket *s, const char *event, sio_event_cb cb, void *data);
/* off()/removeListener(): removes the most recently added handler of event
 * with this cb and data (on or once); cb NULL removes every handler of
 * event (removeAllListeners(event)). Returns how many were removed (0 if
 * none matched), SIO_EINVAL if event is NULL. */
int sio_socket_off(sio_socket *s, const char *event, sio_event_cb cb, void *data);
/* Called for every event before the socket middlewares and the specific
 * handlers (Node's onAny), as the packet is read. A numeric event name
 * arrives as its decimal
 * string. prependAny puts cb first. offAny removes the first handler with
 * this cb and data, or all any-handlers when cb is NULL; it returns how
 * many were removed. */
typedef void (*sio_any_cb)(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                           void *data);
int sio_socket_on_any(sio_socket *s, sio_any_cb cb, void *data);
int sio_socket_prepend_any(sio_socket *s, sio_any_cb cb, void *data);
int sio_socket_off_any(sio_socket *s, sio_any_cb cb, void *data);
/* Called for every event sent to this socket (Node's onAnyOutgoing): its
 * own emits and the broadcasts that reach it, before the packet is queued;
 * not for acks. With connection state recovery, args end with the offset
 * argument the packet carries (as Node's listeners see packet.data) when
 * the packet is kept for replay (not volatile, no ack). prepend/off as
 * for sio_socket_on_any. */
typedef void (*sio_any_outgoing_cb)(sio_socket *s, const char *event, const sio_args *args,
                                    void *data);
int sio_socket_on_any_outgoing(sio_socket *s, sio_any_outgoing_cb cb, void *data);
int sio_socket_prepend_any_outgoing(sio_socket *s, sio_any_outgoing_cb cb, void *data);
int sio_socket_off_any_outgoing(sio_socket *s, sio_any_outgoing_cb cb, void *data);
/* Socket middlewares (Node's socket.use): each incoming event goes through
 * them in order, after the any-handlers and before the event's handlers.
 * Each must end its step exactly once, now or later: sio_next(next) passes
 * the event on, sio_next_error(next, message, data) drops it and emits
 * "error" ({"message","data"}) to the socket's error handlers when the
 * event's listeners would have run (after the any-handlers of the other
 * events read with it), even if the socket disconnected meanwhile, as
 * Node's _onerror does (none: the error is dropped, as by the noop
 * listener Node adds). A middleware may change args (it owns
 * nothing: args and ack stay valid until its step ends). If the socket
 * disconnects meanwhile, the remaining middlewares still run (Node's
 * run() does not check; the socket is then no longer connected) and only
 * the event's listeners are skipped. */
typedef void (*sio_packet_middleware_cb)(sio_socket *s, const char *event, sio_args *args,
                                         sio_ack *ack, sio_middleware_next *next, void *data);
int sio_socket_use(sio_socket *s, sio_packet_middleware_cb fn, void *data);

/* Answers the client's ack with args (NULL: none). SIO_EBUSY if already
 * sent, SIO_ECLOSED if the socket is disconnected, SIO_ENOMEM. */
int sio_ack_send(sio_ack *ack, const sio_args *args);
void sio_ack_retain(sio_ack *ack);
void sio_ack_release(sio_ack *ack);

/* Emits event with args (NULL: no arguments) to this socket. With
 * connection state recovery, the event gets an offset argument and is kept
 * for replay. SIO_EINVAL (reserved name: connect, connect_error, disconnect,
 * disconnecting, newListener, removeListener; or not UTF-8), SIO_ECLOSED,
 * SIO_ENOMEM, SIO_ELIMIT (outbound queue full: the session is closed). */
int sio_emit(sio_socket *s, const char *event, const sio_args *args);
/* The client's acknowledgement: err 0 with its args (borrowed), or
 * SIO_ETIMEDOUT after timeout_ms (0 = wait forever), or SIO_ECLOSED if the
 * socket disconnected first (args NULL). Called exactly once, unless the
 * emit itself failed. */
typedef void (*sio_ack_cb)(sio_socket *s, int err, const sio_args *args, void *data);
int sio_emit_with_ack(sio_socket *s, const char *event, const sio_args *args, uint32_t timeout_ms,
                      sio_ack_cb cb, void *data);

/* Node's socket.compress(flag): for the next emit only (sio_emit or
 * sio_emit_with_ack), then reset; returns s, so that
 * sio_emit(sio_socket_compress(s, 0), ...) reads like Node's chain. It is a
 * compression hint: sioc has no permessage-deflate, so on WebSocket it
 * changes nothing; on polling a response is compressed (httpCompression)
 * only if some packet in it allows it (default 1), as Node does. */
sio_socket *sio_socket_compress(sio_socket *s, int compress);

/* Disconnects from this namespace ("server namespace disconnect"); with
 * close, every namespace of the client is disconnected and its Engine.IO
 * session closed. Disconnect callbacks run before it returns. */
void sio_socket_disconnect(sio_socket *s, int close);
/* reason: Node's ("transport close", "transport error", "ping timeout",
 * "parse error", "forced close", "forced server close", "server namespace
 * disconnect", "client namespace disconnect", "server shutting down").
 * "disconnecting" runs while the socket is still in its rooms. */
typedef void (*sio_disconnect_cb)(sio_socket *s, const char *reason, void *data);
int sio_socket_on_disconnecting(sio_socket *s, sio_disconnect_cb cb, void *data);
int sio_socket_on_disconnect(sio_socket *s, sio_disconnect_cb cb, void *data);

/* Flow control (beyond Node's API, which has none at this level): bytes
 * emitted to this socket's connection and not yet written, and a callback
 * run each time that queue has been written out, so that a producer (a
 * replay of history, say) can pause above a threshold instead of growing
 * server memory. SIO_ENOMEM, SIO_EINVAL. */
size_t sio_socket_buffered(const sio_socket *s);
typedef void (*sio_drain_cb)(sio_socket *s, void *data);
int sio_socket_on_drain(sio_socket *s, sio_drain_cb cb, void *data);

/* Rooms (every socket is in the room named by its id). SIO_ENOMEM,
 * SIO_ECLOSED, SIO_ELIMIT (max_rooms_per_socket or max_rooms: not joined).
 * Leaving a room one is not in is not an error. */
int sio_socket_join(sio_socket *s, const char *room);
int sio_socket_leave(sio_socket *s, const char *room);
int sio_socket_in_room(const sio_socket *s, const char *room);
/* Stores up to max room names (borrowed, valid until the socket leaves
 * them) and returns how many rooms the socket is in. */
size_t sio_socket_rooms(const sio_socket *s, const char **out, size_t max);

/* ---- broadcast operator (Node's BroadcastOperator).
 * Build with sio_broadcast_new()/sio_socket_broadcast(), narrow with the
 * chainable calls (each returns its argument, NULL stays NULL: on failure
 * the operator is freed and NULL returned), then finish with one terminal
 * call, which frees the operator (a NULL operator makes it return
 * SIO_ENOMEM). sio_broadcast_free() drops an unfinished one. */
sio_broadcast *sio_broadcast_new(sio_namespace *nsp);
/* All sockets of s's namespace but s (socket.broadcast, socket.to()). */
sio_broadcast *sio_socket_broadcast(sio_socket *s);
/* to()/in(): sockets in any of the named rooms (each socket once). */
sio_broadcast *sio_broadcast_to(sio_broadcast *b, const char *room);
/* except(): minus sockets in this room. */
sio_broadcast *sio_broadcast_except(sio_broadcast *b, const char *room);
/* volatile: not kept for connection state recovery. */
sio_broadcast *sio_broadcast_volatile(sio_broadcast *b);
/* compress(false): see sio_socket_compress (the flag is also carried to
 * the other servers of a cluster). */
sio_broadcast *sio_broadcast_compress(sio_broadcast *b, int compress);
/* local: this node only, never published (the in-memory adapter is
 * always local). */
sio_broadcast *sio_broadcast_local(sio_broadcast *b);
/* timeout(ms): how long sio_broadcast_emit_with_ack waits for the acks. */
sio_broadcast *sio_broadcast_timeout(sio_broadcast *b, uint32_t ms);
void sio_broadcast_free(sio_broadcast *b);
/* Terminal calls. emit: encoded once, the same bytes queued to every
 * recipient. SIO_EINVAL (reserved name), SIO_ENOMEM. */
int sio_broadcast_emit(sio_broadcast *b, const char *event, const sio_args *args);
/* io.timeout(ms).emit("ev", ..., cb): every recipient on every server is
 * asked for an ack; cb runs once with (0, responses) when every one
 * answered, or (SIO_ETIMEDOUT, the responses so far) when the timeout
 * passed first (a client that disconnects never answers), or
 * (SIO_ECLOSED, the responses so far) when the server is freed first
 * (sio_server_shutdown, sio_server_free). The namespace stays valid for cb
 * even if it is a cleaned-up dynamic one. responses has
 * one argument per answering client: the first argument of its ack (null
 * if none; binary kept), in arrival order. Without sio_broadcast_timeout
 * the wait is 1 ms, as Node's setTimeout(undefined). Never kept for
 * connection state recovery. cb never runs before the call returns; it
 * does not run at all if the call fails.
 * SIO_EINVAL (reserved name, cb NULL), SIO_ENOMEM. */
typedef void (*sio_broadcast_ack_cb)(sio_namespace *nsp, int err, const sio_args *responses,
                                     void *data);
int sio_broadcast_emit_with_ack(sio_broadcast *b, const char *event, const sio_args *args,
                                sio_broadcast_ack_cb cb, void *data);
int sio_broadcast_sockets_join(sio_broadcast *b, const char *room);
int sio_broadcast_sockets_leave(sio_broadcast *b, const char *room);
int sio_broadcast_disconnect_sockets(sio_broadcast *b, int close);
/* The matching sockets OF THIS SERVER (Node's io.local.fetchSockets()),
 * each with a reference taken; release the array with
 * sio_sockets_release(). SIO_ENOMEM. */
int sio_broadcast_fetch_sockets(sio_broadcast *b, sio_socket ***out, size_t *count);
void sio_sockets_release(sio_socket **sockets, size_t count);

/* fetchSockets() across the cluster: cb gets (0, r) with this server's
 * matching sockets and the descriptors the other servers sent (r is the
 * callback's: sio_fetch_result_free), or (SIO_ETIMEDOUT, NULL) when some
 * server did not answer within the adapter's requestsTimeout. With the
 * in-memory adapter cb runs before the call returns. SIO_ENOMEM (cb not
 * called). */
typedef void (*sio_fetch_cb)(sio_namespace *nsp, int err, sio_fetch_result *r, void *data);
int sio_broadcast_fetch_sockets_async(sio_broadcast *b, sio_fetch_cb cb, void *data);
size_t sio_fetch_result_count(const sio_fetch_result *r);
/* Socket i (borrowed, valid until the result is freed), NULL past the end. */
sio_remote_socket *sio_fetch_result_get(const sio_fetch_result *r, size_t i);
void sio_fetch_result_free(sio_fetch_result *r);

/* A fetched socket (Node's RemoteSocket, or the Socket itself for this
 * server's): its id, handshake, rooms and data as they were when fetched
 * (for a local socket: as they are now), and operations that reach it
 * wherever it is (through the adapter for another server's). */
const char *sio_remote_socket_id(const sio_remote_socket *r);
/* The socket if it is on this server (borrowed; the result holds a
 * reference), else NULL. */
sio_socket *sio_remote_socket_local(const sio_remote_socket *r);
/* {headers, time, address, xdomain, secure, issued, url, query, auth}
 * (borrowed). NULL only on OOM. */
json_t *sio_remote_socket_handshake(sio_remote_socket *r);
/* Array of room names (borrowed; for a local socket rebuilt by each call).
 * NULL only on OOM. */
json_t *sio_remote_socket_rooms(sio_remote_socket *r);
/* socket.data (borrowed). NULL only on OOM. */
json_t *sio_remote_socket_data(sio_remote_socket *r);
/* emit/join/leave/disconnect. SIO_EINVAL, SIO_ENOMEM, and for a local
 * socket what sio_emit etc. return. */
int sio_remote_socket_emit(sio_remote_socket *r, const char *event, const sio_args *args);
int sio_remote_socket_join(sio_remote_socket *r, const char *room);
int sio_remote_socket_leave(sio_remote_socket *r, const char *room);
int sio_remote_socket_disconnect(sio_remote_socket *r, int close);

/* ---- Admin UI (Node's @socket.io/admin-ui 0.5: instrument(io, opts)).
 * Serves the namespace the Socket.IO admin UI connects to
 * (https://admin.socket.io, or the UI bundle of the npm package) and speaks
 * its protocol: basic auth then a session id ("session"); "config" with the
 * supported features; "server_stats" every stats_interval (also in
 * development mode); in development mode "all_sockets" on connect and
 * socket_connected / socket_updated / socket_disconnected / room_joined /
 * room_left / event_received / event_sent as things happen on every
 * namespace; and the actions the UI sends back ("emit", "join", "leave",
 * "_disconnect", each for a namespace and an optional room filter),
 * ignored when readonly. Every admin event is an emit to the admin
 * namespace, so with the Redis adapter an admin client on any node sees
 * every node (each node sends its own server_stats and socket events, and
 * all_sockets and the actions go through fetchSockets/socketsJoin/...
 * across the cluster), as with Node.
 *
 * What is not Node's (see docs/guide.md): socket.data changes are noticed
 * after the connection callback and after each incoming event's handlers
 * (one socket_updated per change seen, not per property set); the
 * Engine.IO open packet is not in the packetsOut/bytesOut counts; the
 * session store is in memory only (Node also has a RedisStore). */
typedef struct sio_admin_options {
    const char *namespace_name; /* namespaceName: "/admin" */
    /* auth: {type: "basic", username, password}. password is a bcrypt hash
     * ($2a$, $2b$ or $2y$, as bcryptjs and sio_admin_hash_password make),
     * checked with libcrypt's crypt() on the loop's thread pool. username
     * NULL (the default) means Node's auth: false (no authentication: only
     * on a trusted network). */
    const char *username;
    const char *password;
    int readonly;          /* 0: the UI's actions are refused (not in "config") */
    const char *server_id; /* serverId: NULL = the host name */
    /* mode: "development" (the default unless NODE_ENV is set, as Node's
     * process.env.NODE_ENV || "development") sends every socket and room
     * event; anything else ("production") only config and server_stats. */
    const char *mode;
    uint32_t stats_interval; /* 2000 ms between server_stats (Node's fixed value) */
} sio_admin_options;
void sio_admin_options_init(sio_admin_options *o);

/* instrument(io, opts): creates the admin namespace on srv and attaches
 * the instrumentation, which lives as long as srv (freed with it). Call it
 * once, before listening (sockets connected earlier are not watched).
 * Strings are copied. SIO_EINVAL (password not a bcrypt hash, username
 * without password, bad namespace name), SIO_EEXIST (srv instrumented
 * already), SIO_ENOMEM. */
int sio_admin_instrument(sio_server *srv, const sio_admin_options *opts);
/* bcrypt(password) with 2^rounds iterations (bcryptjs's default: 10) and a
 * random salt, as a "$2b$..." string of 60 characters in out (cap >= 61):
 * what sio_admin_options.password wants. Blocks for the hashing (~50 ms at
 * 10 rounds): call it at start-up. SIO_EINVAL (rounds outside 4..31, cap
 * too small), SIO_EIO (libcrypt failed). */
int sio_admin_hash_password(const char *password, unsigned rounds, char *out, size_t cap);
/* For a command line's "USER:PASSWORD": sets o->username and o->password,
 * both pointing into buf (cap >= the length of login + 64), PASSWORD
 * hashed as sio_admin_hash_password does with 10 rounds unless it already
 * is a bcrypt hash. Blocks for the hashing. SIO_EINVAL (no ':', an empty
 * USER, buf too small), SIO_EIO. */
int sio_admin_options_login(sio_admin_options *o, const char *login, char *buf, size_t cap);

/* ---- Redis adapter (Node's @socket.io/redis-adapter 8.3, the classic
 * pub/sub adapter): sioc nodes and Node socket.io servers on the same
 * Redis form one cluster; @socket.io/redis-emitter 5.1 can publish to it.
 *
 *   sio_redis_adapter *ra;
 *   sio_redis_adapter_new(&ra, loop, "redis://127.0.0.1:6379", NULL);
 *   sio_server_options so; sio_server_options_init(&so);
 *   sio_redis_adapter_use(ra, &so);           // adapter + adapter_data
 *   sio_server_new(&srv, http, &so);
 *   ...  sio_server_free(srv); sio_redis_adapter_free(ra);
 *
 * Redis absent or gone: the server keeps serving its own clients, says so
 * on stderr once per outage, reconnects with a backoff and subscribes
 * again; what cannot be published meanwhile is dropped and counted;
 * cluster requests (fetchSockets, serverSideEmit with an ack) answer
 * SIO_ETIMEDOUT at requestsTimeout. Built when SIOC_REDIS is ON (CMake,
 * the default).
 *
 * With connection_state_recovery on, recovery works per node, where Node
 * has none: each node gives its own offsets to, and keeps, every event it
 * delivers (its own broadcasts and those that came through Redis), so a
 * client that comes back to the same node is recovered with what it
 * missed; on another node it is not (the session is unknown there) and
 * connects afresh, as on Node. Node 4.8 with this adapter keeps nothing:
 * the explicit adapter option replaces the SessionAwareAdapter, so events
 * carry no offset argument and socket.recovered is never true
 * (tests/e2e/cluster.test.mjs checks both). sioc keeps its behaviour on
 * purpose: recovery is what the option asks for, clients written for
 * Node's recovery expect the offset argument, and a node can only replay
 * what it delivered itself. */
typedef struct sio_redis_options {
    const char *key;                          /* channel prefix (Node: key): "socket.io" */
    uint32_t requests_timeout;                /* requestsTimeout: 5000 ms */
    int publish_on_specific_response_channel; /* publishOnSpecificResponseChannel: 0 */
    size_t max_pending_bytes;                 /* PUBLISH bytes Redis has not acknowledged yet past
                                               * which new publishes are dropped: 64 MiB (sioc's) */
} sio_redis_options;
void sio_redis_options_init(sio_redis_options *o);

typedef struct sio_redis_adapter sio_redis_adapter;
/* url: redis://[[user]:password@]host[:port][/db]. opts NULL: defaults.
 * Connecting happens in the background (a Redis that is not there yet is
 * no error). SIO_EINVAL (bad URL), SIO_ENOMEM. */
int sio_redis_adapter_new(sio_redis_adapter **out, sio_loop *loop, const char *url,
                          const sio_redis_options *opts);
/* Sets o->adapter and o->adapter_data so every namespace of the server
 * made with o uses this Redis. One sio_redis_adapter serves one server. */
void sio_redis_adapter_use(sio_redis_adapter *r, sio_server_options *o);
typedef struct sio_redis_stats {
    uint64_t published;  /* messages handed to Redis */
    uint64_t dropped;    /* messages not published (Redis away, backlog full) */
    uint64_t malformed;  /* received messages dropped as malformed */
    uint64_t reconnects; /* connections re-established */
    int connected;       /* both connections up */
} sio_redis_stats;
void sio_redis_adapter_stats(const sio_redis_adapter *r, sio_redis_stats *out);
/* After the server that uses it is freed. */
void sio_redis_adapter_free(sio_redis_adapter *r);

#ifdef __cplusplus
}
#endif

#endif
