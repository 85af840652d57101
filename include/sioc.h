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
 */
#ifndef SIOC_H
#define SIOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIOC_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

enum {
    SIO_OK = 0,
    SIO_ENOMEM = -1,     /* out of memory */
    SIO_EINVAL = -2,     /* invalid argument */
    SIO_EPROTO = -3,     /* malformed input from the peer (parse error) */
    SIO_ELIMIT = -4,     /* a configured limit was exceeded */
    SIO_EAGAIN = -5,     /* need more input / try again */
    SIO_ECLOSED = -6,    /* the object is closed or closing */
    SIO_ENOTFOUND = -7,  /* no such object (session, namespace, ...) */
    SIO_EIO = -8,        /* I/O error (socket, file, database) */
    SIO_ETIMEDOUT = -9,  /* a deadline passed */
    SIO_EBUSY = -10,     /* the operation conflicts with one in progress */
    SIO_EADDRINUSE = -11, /* listen: address already in use */
    SIO_EEXIST = -12,    /* already exists / duplicate */
    SIO_EACCES = -13,    /* refused by policy (middleware, allowRequest) */
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

/* Replaces the allocator for all later allocations (NULL restores libc's).
 * Call it before creating any handle. SIO_EINVAL if a function is missing. */
int sio_set_allocator(const sio_allocator *allocator);

/* ------------------------------------------------------------ event loop */

/* The event loop every handle runs on (one thread). */
typedef struct sio_loop sio_loop;

/* Creates a loop. SIO_ENOMEM/SIO_EIO. */
int sio_loop_new(sio_loop **out);
/* Runs until sio_loop_stop() or until no handle is left. 0 or SIO_EIO. */
int sio_loop_run(sio_loop *loop);
/* Makes sio_loop_run() return after the current iteration. Loop thread. */
void sio_loop_stop(sio_loop *loop);
/* Frees a loop whose servers are closed and whose run has returned. */
void sio_loop_free(sio_loop *loop);
/* Monotonic milliseconds, cached at the start of each loop iteration. */
uint64_t sio_loop_now(const sio_loop *loop);
/* Runs fn(data) on the loop thread soon. The only function that may be
 * called from any thread. SIO_ENOMEM, SIO_ECLOSED once the loop is freed. */
int sio_loop_post(sio_loop *loop, void (*fn)(void *data), void *data);
/* Calls cb on the loop thread when signum arrives (SIGINT, SIGTERM...). */
typedef void (*sio_signal_cb)(sio_loop *loop, int signum, void *data);
int sio_loop_on_signal(sio_loop *loop, int signum, sio_signal_cb cb, void *data);

/* ----------------------------------------------------------- HTTP server */

/* An HTTP/1.1 server. Engine.IO servers attach to it at their path; every
 * other request goes to the handler set with sio_http_server_on_request(),
 * or gets 404. */
typedef struct sio_http_server sio_http_server;
/* One request being answered; valid from the handler until it is answered. */
typedef struct sio_req sio_req;

typedef struct sio_http_options {
    size_t max_request_line;     /* 8192: longer -> 414 and close */
    size_t max_header_bytes;     /* 16384 (Node: maxHeaderSize): -> 431 */
    unsigned max_headers;        /* 100 (Node: maxHeadersCount) -> 431 */
    size_t max_body;             /* 1e6: bodies for the request handler */
    uint32_t headers_timeout;    /* 10000 ms for the whole request head (slowloris) -> 408 */
    uint32_t request_timeout;    /* 30000 ms for a whole request incl. body -> 408 */
    uint32_t keep_alive_timeout; /* 5000 ms idle between requests (Node's default) */
    size_t max_connections;      /* 0 = unlimited; past it new connections are closed */
} sio_http_options;

void sio_http_options_init(sio_http_options *o);
/* Creates a server on loop (not listening yet). SIO_ENOMEM. */
int sio_http_server_new(sio_http_server **out, sio_loop *loop, const sio_http_options *opts);
/* Listens on host:port (port 0 picks a free port). SIO_EADDRINUSE, SIO_EIO. */
int sio_http_server_listen(sio_http_server *s, const char *host, int port);
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
    int any_origin;             /* reflect any Origin (Node's origin: true) */
    int credentials;            /* Access-Control-Allow-Credentials: true */
    const char *methods;        /* "GET,HEAD,PUT,PATCH,POST,DELETE" */
    const char *allowed_headers;/* NULL: reflect Access-Control-Request-Headers */
} sio_cors_options;

/* Accepts (return 0) or refuses (non-zero: HTTP 403, code 4 "Forbidden") a
 * handshake or upgrade request. */
typedef int (*sio_allow_request_cb)(const sio_req *req, void *data);

typedef struct sio_eio_options {
    const char *path;              /* "/engine.io" */
    uint32_t ping_interval;        /* 25000 ms */
    uint32_t ping_timeout;         /* 20000 ms */
    uint32_t upgrade_timeout;      /* 10000 ms */
    size_t max_http_buffer_size;   /* 1e6 bytes: POST bodies, WebSocket messages */
    unsigned transports;           /* SIO_TRANSPORT_POLLING | SIO_TRANSPORT_WEBSOCKET */
    int allow_upgrades;            /* 1 */
    sio_cors_options cors;         /* default: no CORS headers (like Node) */
    sio_allow_request_cb allow_request;
    void *allow_request_data;
    /* Limits stricter than Node's: */
    unsigned max_packets_per_post; /* 1000: more packets in one POST -> 400 */
    size_t max_outbound_bytes;     /* 16 MiB queued for one session -> closed */
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
} sio_eio_callbacks;

/* Attaches an Engine.IO server at opts->path to http. The options are
 * copied. SIO_ENOMEM, SIO_EINVAL (bad option), SIO_EEXIST (path taken). */
int sio_eio_server_new(sio_eio_server **out, sio_http_server *http, const sio_eio_options *opts,
                       const sio_eio_callbacks *cb, void *data);
/* Number of open sessions. */
size_t sio_eio_server_clients(const sio_eio_server *s);

/* Queues a message (copied). SIO_ECLOSED if the session is closing,
 * SIO_ELIMIT if its outbound queue is full (the session is then closed). */
int sio_eio_send(sio_eio_socket *s, const void *data, size_t len, int binary);
/* Closes the session ("forced close"); on_close follows (maybe later). */
void sio_eio_close(sio_eio_socket *s);
const char *sio_eio_socket_id(const sio_eio_socket *s);
int sio_eio_socket_transport(const sio_eio_socket *s);
void sio_eio_socket_set_data(sio_eio_socket *s, void *data);
void *sio_eio_socket_get_data(const sio_eio_socket *s);

/* What the handshake request carried, copied when the session opened. */
typedef struct sio_kv {
    const char *name;  /* header names lower-cased */
    const char *value;
} sio_kv;
typedef struct sio_handshake {
    const sio_kv *headers;
    size_t nheaders;
    const char *url;     /* request target, e.g. "/socket.io/?EIO=4&..." */
    const char *query;   /* raw query string */
    const char *address; /* peer IP address */
    int64_t time_ms;     /* wall-clock ms when the session opened */
    int secure;          /* 0: no TLS in sioc yet */
} sio_handshake;
const sio_handshake *sio_eio_socket_handshake(const sio_eio_socket *s);

/* @@SOCKETIO_API@@ */

#ifdef __cplusplus
}
#endif

#endif
