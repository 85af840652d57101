/* Engine.IO v4 server core: sessions, handshake verification, heartbeat,
 * the polling queue and the upgrade state machine. Sans-I/O: it never
 * touches a socket. The layer above it (src/server) feeds it requests
 * (through eio_http.h), WebSocket messages and transport events, and
 * implements sio__eio_transport_ops so that the core can hand it bytes to
 * write; time, timers and random bytes come in through a sio__env.
 *
 * Spec: socketio/engine.io-protocol (v4) and Node's engine.io 6.6
 * (lib/server.ts verify()/handshake(), lib/socket.ts, lib/transports/
 * polling.ts), whose error codes, reasons and ordering this follows.
 *
 * Ownership: the server owns its sessions; a session is freed right after
 * on_close returns. Transport handles ("get", "ws") belong to the net layer;
 * the core only keeps them while they are attached and tells the net layer
 * when it lets go of one (poll_answer / ws_close). */
#ifndef SIO_ENGINE_EIO_SERVER_H
#define SIO_ENGINE_EIO_SERVER_H

#include "core/addr_table.h"
#include "core/metrics.h"
#include "core/buf.h"
#include "core/env.h"
#include "core/idmap.h"
#include "core/rcbuf.h"
#include "core/timer.h"
#include <jansson.h>

#include "sioc.h"

/* Node's error codes (engine.io Server.errors). */
enum {
    SIO_EIO_ERR_NONE = -1,
    SIO_EIO_ERR_TRANSPORT_UNKNOWN = 0,
    SIO_EIO_ERR_UNKNOWN_SID = 1,
    SIO_EIO_ERR_BAD_HANDSHAKE_METHOD = 2,
    SIO_EIO_ERR_BAD_REQUEST = 3,
    SIO_EIO_ERR_FORBIDDEN = 4,
    SIO_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
};
/* Node's message for an error code ("Transport unknown", ...). */
const char *sio__eio_error_message(int code);

/* What the core asks of the layer that owns the connections. "ws", "get"
 * and "conn" are that layer's handles; the core only passes them back. */
typedef struct sio__eio_transport_ops {
    /* Frames pkt as one WebSocket message and queues it (new reference).
     * SIO_ELIMIT: the connection is over one of its output limits and is to
     * be cut off (nothing was queued). */
    int (*ws_send)(void *ws, sio__rcbuf *pkt, int binary);
    /* Bytes queued on ws and not yet written (outbound limit). */
    size_t (*ws_queued)(void *ws);
    /* Detaches ws from the session and closes it (close frame, then TCP). */
    void (*ws_close)(void *ws);
    /* Answers the held polling GET with 200 and body (the bytes are taken).
     * compress: some packet in body may be compressed (Node's
     * options.compress); the layer below applies httpCompression. */
    void (*poll_answer)(void *get, sio__buf *body, int compress);

    /* HTTP requests on the server's path (engine/eio_http.c): */
    /* Answers conn's current request: status, Content-Type (NULL: none),
     * extra header lines ("Name: value\r\n" each, may be ""), the body
     * (copied); keep_alive 0 closes conn once the answer is written. */
    void (*respond)(void *conn, int status, const char *ctype, const char *headers,
                    const void *body, size_t len, int keep_alive);
    /* Writes bytes as they are and closes conn once they are out. */
    void (*abort)(void *conn, const void *bytes, size_t len);
    /* Answers 101 and makes conn a WebSocket: 0, or < 0 when the request
     * is not a valid WebSocket handshake (conn was answered and closes). */
    int (*accept_ws)(void *conn);
    /* conn now carries so (a held GET, a WebSocket), or nothing (NULL). */
    void (*set_session)(void *conn, sio_eio_socket *so);
    /* conn receives a POST body for so, or no longer does (NULL); also
     * called when so is freed while its POST is in flight. */
    void (*set_post)(void *conn, sio_eio_socket *so);
    /* A copy of conn's request for allow_request (NULL: out of memory). */
    sio_req *(*req_new)(void *conn);
    void (*req_free)(sio_req *r);
    /* The peer's address as text into out ("" if unknown). */
    void (*peer_address)(void *conn, char *out, size_t cap);
} sio__eio_transport_ops;

/* The query fields and headers verify() looks at, extracted by net. */
typedef struct sio__eio_reqinfo {
    int method;            /* 'G' GET, 'P' POST, 'O' OPTIONS, 0 other */
    sio__slice method_str; /* the method token as sent (Node's context) */
    int upgrade;           /* a WebSocket upgrade request */
    sio__slice transport;  /* query "transport" ({NULL,0} absent) */
    sio__slice sid;        /* query "sid" */
    sio__slice eio;        /* query "EIO" */
    sio__slice origin;     /* Origin header */
    const sio_req *req;    /* for allow_request */
} sio__eio_reqinfo;

typedef enum { SIO_EIO_OPEN_STATE, SIO_EIO_CLOSING, SIO_EIO_CLOSED } sio__eio_state;
/* What an open session's timer means: the next ping, the pong deadline, or
 * (CUT) the close of a session that went over an output limit, which runs
 * from the timer rather than inside the send that went over. */
typedef enum { SIO_EIO_HB_WAIT_PING, SIO_EIO_HB_WAIT_PONG, SIO_EIO_HB_CUT } sio__eio_hb;

/* One queued outbound packet (polling transport). */
typedef struct sio__eio_qent {
    sio__rcbuf *pkt; /* text: full packet incl. type digit; binary: raw bytes */
    int flags;       /* SIO__EIO_SEND_* */
} sio__eio_qent;

/* What only a session on the polling transport needs (the queue, the held
 * GET, an upgrade in progress): allocated at the handshake and freed once a
 * WebSocket carries the session, so a WebSocket session keeps none of it. */
typedef struct sio__eio_poll {
    void *get;        /* held polling GET, or NULL */
    void *probe;      /* WebSocket being upgraded to, or NULL */
    sio__eio_qent *q; /* polling queue: q[qhead..qlen) pending */
    size_t qhead, qlen, qcap;
    size_t qbytes;            /* bytes pending in q */
    sio__timer upgrade_timer; /* upgradeTimeout for probe */
    int probed;               /* "2probe" answered: release GETs with noop */
} sio__eio_poll;

/* Session id length: 18 random bytes in base64url, plus the NUL. */
#define SIO_EIO_ID_SIZE 25

struct sio_eio_socket {
    char id[SIO_EIO_ID_SIZE]; /* session id, base64url, NUL-terminated */
    uint8_t state;            /* sio__eio_state: open -> closing (flushing) -> closed */
    uint8_t transport;        /* SIO_TRANSPORT_* currently carrying packets */
    uint8_t hb;               /* sio__eio_hb: what timer means while open */
    uint8_t hs_secure : 1;    /* handshake: TLS */
    uint8_t metered : 1;      /* counted in the session gauges (sio_metrics) */
    uint16_t busy;            /* >0 while callbacks run: free is deferred */
    sio_eio_server *server;   /* owner */
    sio__idmap_node node;     /* in server->sessions, keyed by id */
    void *ws;                 /* active WebSocket transport, or NULL */
    void *post;               /* connection receiving a POST body (compared, never used) */
    sio__eio_poll *poll;      /* polling state, NULL once on WebSocket */
    sio__timer timer;         /* open: next ping or pong deadline (hb);
                               * closing: the deferred close */
    void *user_data;          /* sio_eio_socket_set_data() */
    sio_handshake *hs;        /* built from hs_blob on first request */
    int64_t hs_time;          /* handshake: wall-clock ms */
    uint32_t hs_nheaders;     /* handshake: header count */
    uint32_t hs_query;        /* offset of the query string in hs_blob */
    uint32_t hs_address;      /* offset of the peer address in hs_blob */
    char hs_blob[];           /* url, then name/value per header, then
                               * the address, each NUL-terminated; the
                               * query is the url's tail when it can be;
                               * a common header name is one code byte */
};

struct sio_eio_server {
    sio_eio_options opts; /* copied, with owned path/cors strings */
    char *path_slash;     /* opts.path with one trailing '/' */
    char **origins;       /* owned copies of cors.origins */
    sio_eio_callbacks cb; /* user callbacks */
    void *cb_data;
    sio_connection_error_cb on_error; /* Node's "connection_error" event, or NULL */
    void *on_error_data;
    /* a session moved from polling to WebSocket (Node's socket "upgrade"),
     * with cb_data; NULL: nobody asked (internal: the admin UI's glue) */
    void (*on_upgrade)(sio_eio_socket *s, void *data);
    sio__idmap sessions; /* open and closing sessions by id */
    sio__env env;        /* timers, clocks, random bytes (copied) */
    const sio__eio_transport_ops *ops;
    int closing;              /* server shutting down: no new sessions */
    sio__addr_table hs_addrs; /* handshake buckets by address (handshake_rate) */
    sio_metrics metrics;      /* this server's Engine.IO counters (core/metrics.h) */
};

/* Builds the core; strings in opts are copied. SIO_ENOMEM, SIO_EINVAL. */
int sio__eio_server_init(sio_eio_server *s, const sio_eio_options *opts,
                         const sio_eio_callbacks *cb, void *data, const sio__env *env,
                         const sio__eio_transport_ops *ops);
/* Sets s->on_upgrade (called with the callbacks' data). */
void sio__eio_server_on_upgrade(sio_eio_server *s, void (*cb)(sio_eio_socket *so, void *data));
/* A request refused before reaching a session: logs it and runs the
 * program's connection_error callback with req (may be NULL) and Node's
 * context (may be NULL; the reference is taken). */
void sio__eio_connection_error(sio_eio_server *s, int code, const sio_req *req, const char *url,
                               size_t url_len, int upgrade, json_t *context);
/* handshake_rate: 1 if a session may open now for a peer at address (a
 * token is taken), 0 if its address is over the rate. */
int sio__eio_handshake_admits(sio_eio_server *s, const char *address);
/* Closes every session ("forced close") and releases the core's memory. */
void sio__eio_server_deinit(sio_eio_server *s);

/* The live session with this id, or NULL. */
sio_eio_socket *sio__eio_find(const sio_eio_server *s, const char *id, size_t len);

/* Node's verify(): SIO_EIO_ERR_NONE or the error code to answer with. When
 * the request names a live session, *out is set to it. */
int sio__eio_verify(sio_eio_server *s, const sio__eio_reqinfo *ri, sio_eio_socket **out);
/* The same, and on a refusal *context is Node's err.context for it (a new
 * reference, NULL where Node has none or memory ran out). */
int sio__eio_verify_ctx(sio_eio_server *s, const sio__eio_reqinfo *ri, sio_eio_socket **out,
                        json_t **context);
/* Starts a session on transport (after verify). hs holds the handshake
 * request's details (copied). The open packet is queued. SIO_ENOMEM. */
int sio__eio_handshake(sio_eio_server *s, int transport, const sio_handshake *hs,
                       sio_eio_socket **out);
/* Announces the session (on_connection) once its first transport is
 * attached (the GET held or the WebSocket attached). */
void sio__eio_opened(sio_eio_socket *so);
/* The CORS header lines for a request with this Origin (may be empty). */
int sio__eio_cors_headers(const sio_eio_server *s, sio__slice origin, sio__slice req_headers,
                          int preflight, sio__buf *out);

/* Polling: a GET arrived. Returns 0 (held or answered), or SIO_EBUSY when
 * a GET is already held (Node answers 400 and closes the session). */
int sio__eio_poll_get(sio_eio_socket *so, void *get);
/* Polling: a POST body arrived. 0, or SIO_EPROTO/SIO_ELIMIT (the session is
 * closed: the caller still answers as Node does). */
int sio__eio_poll_post(sio_eio_socket *so, const char *body, size_t len);
/* The held GET's connection went away before it was answered. */
void sio__eio_poll_aborted(sio_eio_socket *so, void *get);

/* Makes ws the session's transport (a handshake over WebSocket, or the end
 * of an upgrade): what the polling queue holds goes out on it, in order. */
void sio__eio_ws_attach(sio_eio_socket *so, void *ws);
/* WebSocket upgrade of a polling session: ws becomes the probe. 0, or
 * SIO_EBUSY when an upgrade is already in progress / not allowed. */
int sio__eio_ws_probe(sio_eio_socket *so, void *ws);
/* A message arrived on ws (active transport or probe). */
void sio__eio_ws_message(sio_eio_socket *so, void *ws, const char *data, size_t len, int binary);
/* ws closed by the peer or failed (error != 0: "transport error"). */
void sio__eio_ws_closed(sio_eio_socket *so, void *ws, int error);

/* The transport wrote everything (net calls it; runs on_drain). */
void sio__eio_drained(sio_eio_socket *so);

/* Closes a session with reason (Node's strings); on_close runs now. */
void sio__eio_close(sio_eio_socket *so, const char *reason);

#endif
