/* The adapter: rooms, broadcast and the connection-state-recovery store of
 * one namespace, behind a small ops table (Node's socket.io-adapter).
 *
 * The in-memory implementation keeps the two-way index Redis keeps for
 * pub/sub (room -> sockets in adapter->rooms, socket -> rooms in each
 * socket's own map) and encodes each broadcast ONCE into shared buffers
 * that every recipient's outbound queue references. The room named by a
 * socket's own id is not stored: the socket's own_room flag says whether
 * it is in it, and a room name that is the id of a socket of the namespace
 * resolves to that socket (plus whoever joined that name explicitly), so a
 * connection costs no room, member map or key copies for it. A distributed adapter
 * (Redis) would wrap these ops, publishing what is not flagged local.
 *
 * Recovery (Node's SessionAwareAdapter): every event broadcast without an
 * ack and not volatile gets an offset (a per-namespace counter, decimal) as
 * its last argument and is kept, encoded, with its room options; a
 * recoverable disconnect keeps the session (sid, pid, rooms, data); a
 * CONNECT with pid and offset gets the session back plus the kept packets
 * after that offset which its rooms match. Both stores are bounded by age
 * (maxDisconnectionDuration) and the packets also by count and bytes. */
#ifndef SIO_ADAPTER_ADAPTER_H
#define SIO_ADAPTER_ADAPTER_H

#include "socketio/sio_internal.h"

/* A session restored by restore_session. */
typedef struct sio__session {
    char sid[SIO__ID_SIZE]; /* the socket id to take again */
    char pid[SIO__ID_SIZE]; /* the private id */
    char **rooms;          /* rooms to rejoin (owned) */
    size_t nrooms;
    json_t *data;          /* socket.data (owned reference) */
    sio__encoded *missed;  /* packets to replay, in order (owned) */
    size_t nmissed;
} sio__session;

void sio__session_free(sio__session *s);

typedef struct sio__adapter_ops {
    /* Adds s to a room (no-op if already in). SIO_ENOMEM. */
    int (*add)(sio__adapter *a, sio_socket *s, const char *room);
    /* Removes s from a room (no-op if not in). */
    void (*del)(sio__adapter *a, sio_socket *s, const char *room);
    /* Removes s from every room. */
    void (*del_all)(sio__adapter *a, sio_socket *s);
    /* Encodes event+args once and queues it to every matching connected
     * socket (recovery: adds the offset and keeps it). SIO_ENOMEM. */
    int (*broadcast)(sio__adapter *a, const char *event, const sio_args *args,
                     const sio__bopts *o);
    /* The matching connected sockets, each referenced (free the array with
     * sio_sockets_release). SIO_ENOMEM. */
    int (*sockets)(sio__adapter *a, const sio__bopts *o, sio_socket ***out, size_t *n);
    /* Keeps s's session for recovery. SIO_ENOMEM. */
    int (*persist_session)(sio__adapter *a, sio_socket *s);
    /* The session for pid if it is alive and offset is still kept (it is
     * removed from the store), else SIO_ENOTFOUND. SIO_ENOMEM. */
    int (*restore_session)(sio__adapter *a, const char *pid, const char *offset,
                           sio__session **out);
    void (*stats)(const sio__adapter *a, sio_recovery_stats *out);
    void (*free)(sio__adapter *a);
} sio__adapter_ops;

struct sio__adapter {
    const sio__adapter_ops *ops; /* implementation */
    sio_namespace *nsp;          /* owner */
};

/* The in-memory adapter. NULL on OOM. */
sio__adapter *sio__mem_adapter_new(sio_namespace *nsp);

#endif
