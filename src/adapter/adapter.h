/* The adapter contract: everything about rooms, broadcasts, the sockets of
 * other nodes and the connection-state-recovery store of ONE namespace
 * (Node's socket.io-adapter: lib/in-memory-adapter.ts, lib/cluster-adapter.ts).
 *
 * Who owns what. The namespace owns its adapter (made by the server
 * options' factory, sio_mem_adapter_new by default, freed by ops->free when
 * the server is freed). Each socket carries an sio__adapter_slot and the
 * abit flag that ONLY the adapter reads or writes: nothing outside
 * src/adapter/ reads a room set. Room names passed in are borrowed (copy
 * what you keep); names handed out (socket_rooms, rooms) are borrowed and
 * valid until the next call that changes rooms.
 *
 * Two halves.
 *  1. This node ("local"), synchronous, never published: add, del,
 *     del_all, has, socket_rooms, room_size, rooms, local_sockets. These
 *     emit the room events (create-room, join-room, leave-room,
 *     delete-room) through sio__adapter_room_event, exactly where Node's
 *     in-memory adapter emits them.
 *  2. The whole cluster: broadcast, broadcast_with_ack, add_sockets,
 *     del_sockets, disconnect_sockets, fetch_sockets, server_side_emit,
 *     server_count, all_rooms. The in-memory adapter does the local part only; a
 *     cluster adapter does "local part + publish/request to the other
 *     nodes", unless o->flags has SIO__BC_LOCAL (then never published).
 *     Operations that wait for other nodes (fetch_sockets, server_count,
 *     all_rooms, server_side_emit with an ack, the client counts of broadcast_with_ack)
 *     complete asynchronously through their callback, after at most the
 *     adapter's requestsTimeout; the in-memory adapter completes them
 *     before returning (documented per op).
 *
 * A cluster adapter is built by WRAPPING the in-memory one: it creates an
 * inner sio_mem_adapter_new(nsp, NULL) for the same namespace, forwards
 * every local op to it, and for the cluster ops calls the inner op (the
 * local part, which already encodes once and keeps recovery offsets) and
 * then publishes. When a message from another node arrives it applies it
 * locally by calling the inner op with SIO__BC_LOCAL set (a remote
 * BROADCAST is inner->ops->broadcast; a remote BROADCAST with ack is
 * inner->ops->broadcast_with_ack with an sio__bcast_ack of its own whose
 * count and response callbacks publish BROADCAST_CLIENT_COUNT and
 * BROADCAST_ACK back to the requester; REMOTE_JOIN is inner add_sockets; REMOTE_FETCH is
 * inner local_sockets then sio__socket_describe; SERVER_SIDE_EMIT is
 * sio__namespace_server_side_dispatch with an sio_server_ack from
 * sio__server_ack_new).
 *
 * Errors: negative SIO_E* codes. An op that returns an error never calls
 * its callback; an op that returns 0 calls it exactly once (sinks: see
 * sio__bcast_ack). SIO_ENOTSUP: the adapter cannot do it (the in-memory
 * adapter's server_side_emit, as Node's only warns).
 *
 * Recovery (Node's SessionAwareAdapter, in the in-memory adapter): every
 * event broadcast without an ack and not volatile gets an offset (a
 * per-namespace counter, decimal) as its last argument and is kept,
 * encoded, with its room options; a recoverable disconnect keeps the
 * session (sid, pid, rooms, data); a CONNECT with pid and offset gets the
 * session back plus the kept packets after that offset which its rooms
 * match. Both stores are bounded by age (maxDisconnectionDuration) and the
 * packets also by count and bytes. */
#ifndef SIO_ADAPTER_ADAPTER_H
#define SIO_ADAPTER_ADAPTER_H

#include "socketio/sio_internal.h"

/* A session restored by restore_session. */
typedef struct sio__session {
    char sid[SIO__ID_SIZE]; /* the socket id to take again */
    char pid[SIO__ID_SIZE]; /* the private id */
    char **rooms;           /* rooms to rejoin (owned) */
    size_t nrooms;
    json_t *data;         /* socket.data (owned reference) */
    sio__encoded *missed; /* packets to replay, in order (owned) */
    size_t nmissed;
} sio__session;

void sio__session_free(sio__session *s);

/* A broadcast-with-ack collector (Node's clientCountCallback + ack pair).
 * Reference counted: the operator that made it holds one reference, and
 * each adapter or socket that may still report holds one. Reporting after
 * the maker gave up (timeout) is allowed and ignored by the maker. */
struct sio__bcast_ack {
    unsigned refs;
    /* A node queued the packet to n of its clients. */
    void (*count)(sio__bcast_ack *k, size_t n);
    /* One client answered; args are its ack arguments (borrowed). */
    void (*response)(sio__bcast_ack *k, const sio_args *args);
    /* Last reference gone. */
    void (*free)(sio__bcast_ack *k);
};
void sio__bcast_ack_ref(sio__bcast_ack *k);
void sio__bcast_ack_unref(sio__bcast_ack *k);

/* The receiving side of serverSideEmit's acks: a cluster adapter makes one
 * per request that wants an answer; reply(ctx, args) publishes the answer
 * (Node sends the first argument), free(ctx) runs with the last reference.
 * NULL on OOM. */
struct sio_server_ack {
    unsigned refs;
    int sent;
    void (*reply)(void *ctx, const sio_args *args);
    void (*free)(void *ctx);
    void *ctx;
};
sio_server_ack *sio__server_ack_new(void (*reply)(void *ctx, const sio_args *args),
                                    void (*free_ctx)(void *ctx), void *ctx);
/* Runs the namespace's server-side handlers for event (Node's
 * _onServerSideEmit); ack may be NULL (no answer wanted). */
void sio__namespace_server_side_dispatch(sio_namespace *nsp, const char *event,
                                         const sio_args *args, sio_server_ack *ack);

/* Completion of fetch_sockets: err 0 and r (the callee gives ownership:
 * sio_fetch_result_free), or err < 0 and r NULL (SIO_ETIMEDOUT: some node
 * did not answer within requestsTimeout, as Node rejects). */
typedef void (*sio__fetch_done)(int err, sio_fetch_result *r, void *data);
/* Completion of server_count. */
typedef void (*sio__count_done)(int err, size_t servers, void *data);
/* Completion of all_rooms: err 0 and the n room names (borrowed for the
 * call, each once), or err < 0 and none. */
typedef void (*sio__rooms_done)(int err, const char *const *rooms, size_t n, void *data);

typedef struct sio__adapter_ops {
    /* ---- this node: synchronous, never published ---- */

    /* s joins room (no-op if in it already): create-room when the room is
     * new here, then join-room. SIO_ENOMEM (nothing changed). */
    int (*add)(sio__adapter *a, sio_socket *s, const char *room);
    /* s leaves room (no-op if not in it): leave-room, then delete-room when
     * the room empties. */
    void (*del)(sio__adapter *a, sio_socket *s, const char *room);
    /* s leaves every room (each as del, in join order). */
    void (*del_all)(sio__adapter *a, sio_socket *s);
    /* 1 if s is in room. */
    int (*has)(const sio__adapter *a, const sio_socket *s, const char *room);
    /* Stores up to max of s's rooms in out (join order, own id first) and
     * returns how many there are. */
    size_t (*socket_rooms)(const sio__adapter *a, const sio_socket *s, const char **out,
                           size_t max);
    /* Sockets of this node in room (Node's adapter.rooms.get(r).size). */
    size_t (*room_size)(const sio__adapter *a, const char *room);
    /* Stores up to max room names of this node in out (every socket's own
     * id included, as in Node's adapter.rooms) and returns how many. */
    size_t (*rooms)(const sio__adapter *a, const char **out, size_t max);
    /* This node's connected sockets matching o (Node's apply), each once
     * and referenced; free with sio_sockets_release. SIO_ENOMEM. */
    int (*local_sockets)(sio__adapter *a, const sio__bopts *o, sio_socket ***out, size_t *n);

    /* ---- the cluster: local part now, the rest published ---- */

    /* Encodes event+args once and queues the shared bytes to every
     * matching socket here (recovery: offset added, packet kept), then
     * publishes unless SIO__BC_LOCAL. SIO_ENOMEM. */
    int (*broadcast)(sio__adapter *a, const char *event, const sio_args *args, const sio__bopts *o);
    /* Node's broadcastWithAck: like broadcast (never kept for recovery)
     * but each recipient is asked for an ack. Reports through k: one
     * sio__bcast_ack_count per node that sent (this one included, before
     * returning) and one sio__bcast_ack_response per client answer, for as
     * long as k wants them (o->timeout). References k while it needs it.
     * SIO_ENOMEM (a cluster adapter may have published already and keep
     * reporting: the maker ignores reports after a failure). */
    int (*broadcast_with_ack)(sio__adapter *a, const char *event, const sio_args *args,
                              const sio__bopts *o, sio__bcast_ack *k);
    /* socketsJoin / socketsLeave: the matching sockets join/leave every
     * room of rooms[0..n). SIO_ENOMEM. */
    int (*add_sockets)(sio__adapter *a, const sio__bopts *o, char *const *rooms, size_t n);
    int (*del_sockets)(sio__adapter *a, const sio__bopts *o, char *const *rooms, size_t n);
    /* disconnectSockets(close). */
    int (*disconnect_sockets)(sio__adapter *a, const sio__bopts *o, int close);
    /* fetchSockets: local sockets (sio__fetch_result_add_local) and the
     * descriptors other nodes send (sio__fetch_result_add_remote). The
     * in-memory adapter calls done before returning. SIO_ENOMEM. */
    int (*fetch_sockets)(sio__adapter *a, const sio__bopts *o, sio__fetch_done done, void *data);
    /* serverSideEmit to every OTHER node's namespace handlers (this node's
     * handlers never get it, as in Node). With cb: cb gets one response
     * per other node, or SIO_ETIMEDOUT with those that came after
     * timeout_ms (0: the adapter's requestsTimeout); with no other node,
     * (0, no responses). The in-memory adapter: SIO_ENOTSUP, cb never
     * called (Node's in-memory adapter warns and never calls back). */
    int (*server_side_emit)(sio__adapter *a, const char *event, const sio_args *args,
                            uint32_t timeout_ms, sio_server_side_ack_cb cb, void *data);
    /* serverCount(): nodes in the cluster, this one included (in-memory:
     * done(0, 1) before returning). SIO_ENOMEM. */
    int (*server_count)(sio__adapter *a, sio__count_done done, void *data);
    /* allRooms() of Node's Redis adapter: every room of every node (this
     * one's first; in-memory: done before returning), or SIO_ETIMEDOUT
     * when a node did not answer within requestsTimeout (Node rejects:
     * the answers that came are dropped). Optional (NULL: the namespace
     * call says SIO_ENOTSUP). SIO_ENOMEM. */
    int (*all_rooms)(sio__adapter *a, sio__rooms_done done, void *data);

    /* ---- recovery store (this node) ---- */

    /* Keeps s's session for recovery. SIO_ENOMEM. */
    int (*persist_session)(sio__adapter *a, sio_socket *s);
    /* The session for pid if it is alive and offset is still kept (it is
     * removed from the store), else SIO_ENOTFOUND. SIO_ENOMEM. */
    int (*restore_session)(sio__adapter *a, const char *pid, const char *offset,
                           sio__session **out);
    void (*stats)(const sio__adapter *a, sio_recovery_stats *out);

    /* Frees the adapter (sockets have all left by then). */
    void (*free)(sio__adapter *a);
} sio__adapter_ops;

/* One subscriber to room events. */
typedef struct sio__room_sub {
    sio_room_cb cb; /* user callback */
    void *data;     /* its data */
} sio__room_sub;

/* The base every adapter starts with (embed it first). */
struct sio_adapter {
    const sio__adapter_ops *ops; /* implementation */
    sio_namespace *nsp;          /* owner */
    sio__room_sub *subs;         /* room event subscribers (namespace-level,
                                  * kept here so a wrapped adapter shares them) */
    size_t nsubs;
};

/* Fills the base (ops, nsp, no subscribers). */
void sio__adapter_init(sio__adapter *a, const sio__adapter_ops *ops, sio_namespace *nsp);
/* Frees what the base holds (subscribers). */
void sio__adapter_fini(sio__adapter *a);
/* Tells the namespace's subscribers about a room event (sid NULL for
 * create/delete). Cheap when nobody listens. An adapter wrapping another
 * passes the inner adapter's events on by giving both the same nsp: the
 * subscribers live on nsp->adapter. */
void sio__adapter_room_event(const sio__adapter *a, sio_room_event ev, const char *room,
                             const char *sid);

/* ---- helpers for implementations */

/* This node's room names (a->ops->rooms) as a new array of borrowed names
 * (valid until rooms change; free the array with sio__free). SIO_ENOMEM. */
int sio__adapter_local_rooms(const sio__adapter *a, const char ***out, size_t *n);

/* Adds a local socket (referenced) to r. SIO_ENOMEM. */
int sio__fetch_result_add_local(sio_fetch_result *r, sio_socket *s);
/* Adds another node's socket: desc is {id, handshake, rooms, data} as
 * Node's REMOTE_FETCH response carries it (a reference is taken).
 * SIO_EINVAL (no string id), SIO_ENOMEM. */
int sio__fetch_result_add_remote(sio_fetch_result *r, json_t *desc);
sio_fetch_result *sio__fetch_result_new(sio_namespace *nsp);
/* A local socket as Node's RemoteSocket descriptor {id, handshake:{headers,
 * time, address, xdomain, secure, issued, url, query, auth}, rooms, data}
 * (new reference; NULL on OOM). */
json_t *sio__socket_describe(sio_socket *s);

/* The in-memory adapter is sio_mem_adapter_new (sioc.h), the default
 * factory; a cluster adapter makes its inner one with it. */

#endif
