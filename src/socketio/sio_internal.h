/* Socket.IO server internals shared by the socketio and adapter modules.
 *
 * Structure (Node's lib/ files in brackets):
 *   sio_server     [index.ts]     options, namespaces, dynamic matchers
 *   sio__client    [client.ts]    one Engine.IO session: decoder, connect
 *                                 timeout, the sockets it opened
 *   sio_namespace  [namespace.ts] sockets by id, middlewares, the adapter
 *   sio_socket     [socket.ts]    handlers, acks, rooms (via the adapter)
 *
 * Sans-I/O: a client talks to its transport only through sio__conn_ops
 * (send a shared buffer, close), time comes from a now() function and
 * deadlines from a timer wheel the caller runs. The Engine.IO glue
 * (server/sio_attach.c) plugs in sio__eio_send_rc/sio_eio_close and the loop's
 * wheel; unit tests plug in fakes and drive time by hand.
 *
 * Lifetimes: sockets and clients are reference counted because user code
 * may hold them across callbacks (acks, async middlewares) and because a
 * send may close the transport re-entrantly. A disconnected socket keeps its
 * memory until the last reference goes, with client == NULL. */
#ifndef SIO_SOCKETIO_SIO_INTERNAL_H
#define SIO_SOCKETIO_SIO_INTERNAL_H

#include "core/buf.h"
#include "core/env.h"
#include "core/idmap.h"
#include "core/list.h"
#include "core/map.h"
#include "core/rcbuf.h"
#include "core/timer.h"
#include "sioc.h"
#include "socketio/sio_packet.h"

typedef struct sio__client sio__client;
typedef struct sio_adapter sio__adapter;
typedef struct sio__bcast_ack sio__bcast_ack;

/* Flags of sio__conn_ops.send (the same bits as Engine.IO's
 * SIO__EIO_SEND_*, which the glue passes on). */
enum { SIO__SEND_BINARY = 1, SIO__SEND_NOCOMPRESS = 2 };

/* How a client reaches its transport. */
typedef struct sio__conn_ops {
    /* Queues one Engine.IO message (text: "4..." with the Engine.IO type;
     * binary: raw bytes); takes its own reference. flags: SIO__SEND_*.
     * Errors as sio_eio_send. */
    int (*send)(void *conn, sio__rcbuf *msg, int flags);
    /* Closes the session; sio__client_closed() follows, maybe re-entrantly. */
    void (*close)(void *conn);
    /* Bytes queued and not yet written (may be NULL: then 0). */
    size_t (*buffered)(void *conn);
    /* The transport's handshake record, asked for only when the
     * application wants it (may be NULL: then the one given to
     * sio__client_open). */
    const sio_handshake *(*handshake)(void *conn);
    /* The Engine.IO session id and its current transport (SIO_TRANSPORT_*),
     * for the admin UI's clientId and transport (may be NULL: "" and
     * polling). */
    const char *(*id)(void *conn);
    int (*transport)(void *conn);
} sio__conn_ops;

/* Arguments: a JSON array plus attachments (rcbufs, shared on re-send). */
struct sio_args {
    json_t *arr;      /* the arguments, placeholders included */
    sio__rcbuf **att; /* attachment k is what {"num":k} stands for */
    size_t natt;      /* attachments in use */
    size_t catt;      /* slots allocated */
};

/* An encoded packet: the text message and its binary attachments. */
typedef struct sio__encoded {
    sio__rcbuf *text; /* "4<packet>" */
    sio__rcbuf **att; /* natt binary messages (references) */
    size_t natt;
    int nocompress; /* compress(false): sent with SIO__SEND_NOCOMPRESS */
    sio__rcbuf *mp; /* the msgpack form (parser option), made on the first
                     * send to a msgpack client; NULL until then */
} sio__encoded;

/* One middleware in a namespace. */
typedef struct sio__mw {
    sio_middleware_cb fn; /* user function */
    void *data;           /* its data */
} sio__mw;

struct sio_namespace {
    sio_server *srv;                 /* owner */
    char *name;                      /* "/..." */
    sio__idmap sockets;              /* connected sockets by id (sio__nsp_socket_of) */
    sio__mw *mws;                    /* middlewares, in order */
    size_t nmws;                     /* count */
    sio_connection_cb on_connection; /* user callback */
    void *on_connection_data;        /* its data */
    sio__adapter *adapter;           /* rooms, broadcast, recovery store */
    struct sio__ss_handler *ss;      /* server-side event handlers (serverSideEmit) */
    size_t nss;                      /* count */
    int64_t next_ack_id;             /* Node's nsp._ids: ids of server-sent acks */
    size_t refs;                     /* sio_socket objects alive in it (pending,
                                      * connected, or disconnected and referenced) */
    unsigned child : 1;              /* created by a dynamic matcher */
    unsigned detached : 1;           /* cleaned up: out of srv->nsps, freed when
                                      * refs reaches 0 (or with the server) */
    sio_namespace *next_detached;    /* in srv->detached */
};

/* One dynamic namespace matcher. */
typedef struct sio__dyn {
    sio_namespace_match_cb match;               /* accepts a name */
    void (*setup)(sio_namespace *nsp, void *d); /* configures the new namespace */
    void *data;                                 /* for both */
} sio__dyn;

struct sio_server {
    sio_server_options opts;   /* copied; eio.path points at path */
    char *path;                /* owned copy of the path */
    sio__packet_limits limits; /* decoder limits from opts */
    sio__map nsps;             /* name -> sio_namespace */
    sio_namespace *detached;   /* cleaned-up child namespaces still referenced */
    sio__dyn *dyns;            /* dynamic namespace matchers */
    size_t ndyns;              /* count */
    size_t nchildren;          /* namespaces made by a matcher, still in nsps */
    sio__list clients;         /* open sio__client (their node) */
    sio__list bc_acks;         /* broadcasts with acks whose callback is still due */
    sio__env env;              /* timers, clock, random bytes (copied) */
    sio_eio_server *eio;       /* NULL when driven by tests */
    void *client_files;        /* serveClient's files (the glue's) or NULL */
    void (*client_files_free)(void *files);
    sio_http_server *http;       /* the server attached to (NULL in tests) */
    void (*shutdown_cb)(void *); /* sio_server_shutdown's callback */
    void *shutdown_data;         /* for shutdown_cb */
    struct sio__admin *admin;    /* sio_admin_instrument's, or NULL (socketio/admin.h) */
    int closing;                 /* sio_server_close() called */
    int shutting_down;           /* sio_server_shutdown() called */
    sio_metrics metrics;         /* this server's Socket.IO counters (core/metrics.h) */
    sio__list deferred;          /* sio_middleware_next.dnode: events whose listeners
                                  * run at the tick (Node's nextTick dispatch) */
    sio__tick tick;              /* queued while deferred is not empty */
    sio__list spare_nexts;       /* sio_middleware_next.dnode: freed socket.use records
                                  * kept for the next events (sio_socket.c) */
    size_t nspare_nexts;         /* how many (at most SIO__SPARE_NEXTS) */
};

struct sio__client {
    unsigned refs;            /* engine link + in-progress calls */
    sio_server *srv;          /* owner */
    sio__list node;           /* in srv->clients */
    const sio__conn_ops *ops; /* transport */
    void *conn;               /* transport handle; NULL once closed */
    const sio_handshake *hs;  /* Engine.IO handshake (owned by the engine),
                               * fetched through ops->handshake on first use */
    sio__decoder dec;         /* packet reassembly */
    sio__timer *timer;        /* connectTimeout until a socket connects, then
                               * the attachment deadline of a binary packet
                               * (which needs a connected socket): never both;
                               * allocated only while armed */
    sio__list sockets;        /* sio_socket.client_node, pending + connected */
    int closing;              /* close requested: send nothing more */
};

/* What a handler is for. SIO__H_ONCE is or-ed in for once() handlers. */
enum {
    SIO__H_EVENT,         /* on(event): sio_event_cb */
    SIO__H_ANY,           /* onAny: sio_any_cb */
    SIO__H_DISCONNECTING, /* sio_disconnect_cb */
    SIO__H_DISCONNECT,    /* sio_disconnect_cb */
    SIO__H_DRAIN,         /* sio_drain_cb */
    SIO__H_ANY_OUT,       /* onAnyOutgoing: sio_any_outgoing_cb */
    SIO__H_USE,           /* socket.use: sio_packet_middleware_cb */
    SIO__H_KIND = 0x7f,   /* mask of the kind */
    SIO__H_ONCE = 0x80,   /* removed before its first call */
};

/* One handler record. A socket keeps all of its handlers, of every kind,
 * back to back in one buffer (each record 8-byte aligned, its event name
 * inline), so the handlers an application registers per connection cost
 * one allocation in all. */
typedef struct sio__handler {
    void (*fn)(void); /* the callback, cast back by the caller */
    void *data;       /* its data */
    uint8_t kind;     /* SIO__H_* */
    char event[];     /* event name (SIO__H_EVENT), "" for the others */
} sio__handler;

/* A server-sent event waiting for the client's ack. */
typedef struct sio__pending_ack {
    sio__list node;   /* in socket->acks */
    int64_t id;       /* ack id */
    sio_ack_cb cb;    /* user callback */
    void *data;       /* its data */
    sio__timer timer; /* timeout (inactive if none) */
    sio_socket *s;    /* back pointer for the timer */
} sio__pending_ack;

/* Per-socket state that belongs to the namespace's adapter: nothing
 * outside src/adapter/ reads or writes it (the in-memory adapter keeps the
 * socket -> rooms half of its two-way index here, so a join costs no
 * lookup of the socket). Freed by sio__adapter_slot_free. */
typedef struct sio__adapter_slot {
    sio__map rooms; /* in-memory adapter: room name -> its room */
    uint64_t mark;  /* dedup stamp during one broadcast */
} sio__adapter_slot;
void sio__adapter_slot_init(sio__adapter_slot *slot);
void sio__adapter_slot_free(sio__adapter_slot *slot);

/* A server-side event handler of a namespace (serverSideEmit). */
typedef struct sio__ss_handler {
    char *event;           /* owned */
    sio_server_side_cb cb; /* user callback */
    void *data;            /* its data */
} sio__ss_handler;

/* Characters of a socket id or private id (Node's base64id: 20), and the
 * bytes that hold one with its NUL. */
#define SIO__ID_LEN 20
#define SIO__ID_SIZE 24

struct sio_socket {
    unsigned refs;           /* client link + user references */
    unsigned connected : 1;  /* after the CONNECT reply, before disconnect */
    unsigned recovered : 1;  /* restored from a session */
    unsigned closed : 1;     /* disconnect ran (never connects again) */
    unsigned abit : 1;       /* adapter-owned flag (only src/adapter/ reads it;
                              * the in-memory adapter: "in its own-id room") */
    unsigned any_out : 1;    /* has onAnyOutgoing handlers (checked per send) */
    unsigned any_drain : 1;  /* has drain handlers (checked per flush) */
    unsigned nocompress : 1; /* compress(false) for the next emit only */
    unsigned hlen : 25;      /* bytes of handler records in hbuf (its size) */
    sio_namespace *nsp;      /* namespace */
    sio__client *client;     /* NULL once disconnected */
    sio__list client_node;   /* in client->sockets */
    sio__idmap_node by_id;   /* in nsp->sockets while connected */
    char id[SIO__ID_SIZE];   /* public id (a room too) */
    char pid[SIO__ID_SIZE];  /* private session id ("" without recovery) */
    char *auth_text;         /* CONNECT payload as compact JSON; NULL for {} */
    json_t *auth;            /* parsed on first sio_socket_auth(), then kept */
    json_t *djson;           /* socket.data (persisted by recovery) */
    void *data;              /* user pointer */
    char *hbuf;              /* sio__handler records, in registration order */
    sio__list acks;          /* sio__pending_ack */
    sio__adapter_slot aslot; /* adapter-owned state (only src/adapter/) */
};

/* The socket linked into a namespace's table by n (NULL for NULL). */
static inline sio_socket *sio__nsp_socket_of(sio__idmap_node *n)
{
    return n ? SIO_CONTAINER_OF(n, sio_socket, by_id) : NULL;
}

/* Inbound ack handle given to event handlers. */
struct sio_ack {
    unsigned refs; /* dispatch + user retains */
    sio_socket *s; /* referenced */
    int64_t id;    /* the client's ack id */
    int sent;      /* answered */
};

/* Middleware step handle: a namespace middleware (Node's nsp.use) when
 * args is NULL, else a socket middleware (socket.use) for one incoming
 * event, which keeps the event until the last step. */
struct sio_middleware_next {
    sio_socket *s;   /* referenced */
    size_t index;    /* middleware that received this handle */
    sio_args *args;  /* socket.use: the event's arguments (owned) */
    char *event;     /* socket.use: its name (owned) */
    sio_ack *ack;    /* socket.use: its ack handle (retained) or NULL */
    sio__list dnode; /* in srv->deferred while its listeners wait for the tick,
                      * in srv->spare_nexts once freed */
};

/* Broadcast options (Node's BroadcastOptions). */
enum {
    SIO__BC_VOLATILE = 1,   /* flags.volatile: not kept for recovery */
    SIO__BC_LOCAL = 2,      /* flags.local: never published to other nodes */
    SIO__BC_COMPRESS = 4,   /* flags.compress set to true */
    SIO__BC_NOCOMPRESS = 8, /* flags.compress set to false (neither: unset) */
};
typedef struct sio__bopts {
    char **rooms; /* to(): union; none = every socket */
    size_t nrooms;
    char **except; /* except(): rooms to skip */
    size_t nexcept;
    unsigned flags;   /* SIO__BC_* */
    uint32_t timeout; /* flags.timeout in ms (0: unset) */
} sio__bopts;

struct sio_broadcast {
    sio_namespace *nsp; /* target namespace */
    sio__bopts o;       /* accumulated options */
};

/* ---- server core (driven directly by unit tests) */

/* Creates a server with no Engine.IO attached, on env's timers, clock and
 * random bytes (the loop's from sio_server_new, a test's own). */
int sio__server_new_core(sio_server **out, const sio_server_options *opts, const sio__env *env);
/* A new transport session. NULL on OOM (the caller closes the session). */
sio__client *sio__client_open(sio_server *srv, const sio__conn_ops *ops, void *conn,
                              const sio_handshake *hs);
/* One Engine.IO message for the client. */
void sio__client_message(sio__client *c, const char *msg, size_t len, int binary);
/* The transport closed with reason: sockets disconnect, the client goes. */
void sio__client_closed(sio__client *c, const char *reason);
/* The transport wrote everything queued: each connected socket's drain
 * handlers run. */
void sio__client_drained(sio__client *c);
/* The transport was upgraded (polling to WebSocket). */
void sio__client_upgraded(sio__client *c);
void sio__socket_drained(sio_socket *s);
void sio__client_ref(sio__client *c);
/* Queues an encoded packet to the client's transport, in the server's
 * parser format. Errors as sio_eio_send; SIO_ECLOSED when closing. */
int sio__client_send(sio__client *c, const sio__encoded *e);
/* Stops and frees the client's timer (connectTimeout or attachments). */
void sio__client_disarm(sio__client *c);
void sio__client_unref(sio__client *c);
/* Disconnects every socket of c with reason then closes the transport. */
void sio__client_fail(sio__client *c, const char *reason);
uint64_t sio__now(const sio_server *srv);

/* ---- sockets (sio_socket.c) */
sio_socket *sio__socket_new(sio_namespace *nsp, sio__client *c, json_t *auth);
/* The CONNECT payload as a new object (never cached), NULL on OOM. */
json_t *sio__socket_auth_parse(const sio_socket *s);
/* The CONNECT reply, joins its own room, on_connection. */
void sio__socket_connect(sio_socket *s);
/* Handles a packet addressed to this socket's namespace. */
void sio__socket_packet(sio_socket *s, sio__packet *p);
/* Node's _onclose: disconnecting, persist, leave rooms, disconnect. */
void sio__socket_close(sio_socket *s, const char *reason);
/* Queues an encoded packet to the socket's transport. */
int sio__socket_send(sio_socket *s, const sio__encoded *e);
/* Runs the socket's onAnyOutgoing handlers for an event it is sent. */
void sio__socket_notify_outgoing(sio_socket *s, const char *event, const sio_args *args);
/* socket.use: the step after middleware next->index (sio_next). */
void sio__socket_mw_next(sio_middleware_next *next);
/* srv's tick: runs the deferred events' listeners, in order. */
void sio__socket_run_deferred(sio__tick *t);
/* Drops the deferred events unrun and frees the spare records (the server
 * is going). */
void sio__socket_drop_deferred(sio_server *srv);
/* socket.use: a middleware failed: the event is dropped and the "error"
 * handlers get {message, data} (data stolen, may be NULL) at the tick, as
 * the event's listeners would have, even if the socket disconnected
 * meanwhile (Node's _onerror). */
void sio__socket_mw_error(sio_middleware_next *next, const char *message, json_t *data);
/* Queues an encoded EVENT carrying ack id `id` and waits for the client's
 * ack: cb as sio_emit_with_ack's (timeout_ms 0: no timeout). SIO_ECLOSED
 * and the send errors (then cb is never called). */
int sio__socket_send_with_ack(sio_socket *s, const sio__encoded *e, int64_t id, uint32_t timeout_ms,
                              sio_ack_cb cb, void *data);
/* The namespace's next ack id for a server-sent event (Node's nsp._ids). */
int64_t sio__namespace_next_ack_id(sio_namespace *nsp);
/* Frees a socket that never connected (middleware refused, client left). */
void sio__socket_abandon(sio_socket *s);
/* Runs the middlewares then connects (the Namespace._add path). */
void sio__namespace_add(sio_namespace *nsp, sio_socket *s);
void sio__namespace_free(sio_namespace *nsp);
/* A reference to nsp (a socket's, or a pending broadcast ack's) is
 * dropped: the last one frees a detached namespace. */
void sio__namespace_release(sio_namespace *nsp);
/* The server is going away: every broadcast with acks still waiting gets
 * its callback now, with SIO_ECLOSED and the responses so far. */
void sio__broadcast_acks_close(sio_server *srv);
/* cleanupEmptyChildNamespaces: detaches (and frees if unreferenced) a
 * dynamic child namespace with no connected socket left. */
void sio__namespace_maybe_cleanup(sio_namespace *nsp);
/* Adds a connected socket to nsp's table (its id must be new there).
 * SIO_ENOMEM only when the first table cannot be allocated. */
int sio__namespace_add_socket(sio_namespace *nsp, sio_socket *s);
/* Removes s from nsp's table if it is there. */
void sio__namespace_remove_socket(sio_namespace *nsp, sio_socket *s);
sio_namespace *sio__namespace_new(sio_server *srv, const char *name);

/* ---- encoding helpers (sio_args.c) */
/* Encodes an EVENT/ACK with args into e (attachments referenced). */
int sio__encode_args(sio__encoded *e, int ack, const char *nsp, int64_t id, const char *event,
                     const sio_args *args, const char *offset);
/* Encodes a JSON-payload packet (CONNECT, CONNECT_ERROR, DISCONNECT). */
int sio__encode_json(sio__encoded *e, int type, const char *nsp, const json_t *data);
void sio__encoded_free(sio__encoded *e);
/* Bytes of an encoded packet (text + attachments). */
size_t sio__encoded_size(const sio__encoded *e);
/* Takes a decoded event/ack packet's payload as args (strips the event
 * name when event is non-NULL, storing it there as a string). */
int sio__args_from_packet(sio__packet *p, sio_args **out, char **event);
/* Appends a copy of src's argument i (null past the end) to dst, its
 * binary attachments shared. SIO_ENOMEM. */
int sio__args_push_arg(sio_args *dst, const sio_args *src, size_t i);
/* A copy of args (NULL: none) with the string offset appended: what a
 * packet kept for connection state recovery carries. NULL on OOM. */
sio_args *sio__args_with_offset(const sio_args *args, const char *offset);
/* len random URL-safe characters ([A-Za-z0-9_-], from the server's
 * random bytes) and a NUL into out (len + 1 bytes, len <= 32): socket ids
 * and private ids (20, base64id-like), the Redis adapter's uid and request
 * ids (6, uid2). SIO_EIO when no random bytes came. */
int sio__random_id(const sio_server *srv, char *out, size_t len);

/* Recoverable disconnect reasons (Node's RECOVERABLE_DISCONNECT_REASONS). */
int sio__reason_recoverable(const char *reason);

#endif
