/* The Redis adapter (Node's @socket.io/redis-adapter 8.3, the classic
 * pub/sub adapter), sans-I/O: what to publish, what a received message
 * means, which requests wait for which answers and until when. The Redis
 * connection itself is given as an I/O table (src/server/redis_attach.c plugs in
 * hiredis); time and timers come from the namespace's server.
 *
 * One sio__rcluster per Redis connection (a server and all its
 * namespaces, as Node shares its two clients); one adapter per namespace,
 * made by sio__rcluster_factory (the sio_server_options.adapter factory).
 * Each namespace adapter WRAPS an in-memory adapter for the local part (see
 * adapter.h) and adds: publish after the local part unless
 * SIO__BC_LOCAL; apply what other nodes publish with SIO__BC_LOCAL set;
 * answer their requests; track its own requests (fetchSockets,
 * serverSideEmit with ack, broadcast with acks) with requestsTimeout.
 *
 * Faithful to Node 8.3 where it matters to a mixed cluster: the same
 * channels, uid and request ids of 6 characters, the same messages (see
 * redis_proto.h), the server count from PUBSUB NUMSUB of the request
 * channel, responses on the shared response channel unless
 * publishOnSpecificResponseChannel (serverSideEmit's answers always go to
 * the shared one, as Node sends them). One deliberate difference: the local
 * part of socketsJoin / socketsLeave / disconnectSockets runs at once
 * instead of when Redis echoes the request back (Node's way), so it also
 * works while Redis is away; our own echo is recognised by its uid.
 *
 * A malformed message (bad msgpack or JSON, wrong types, unknown request
 * type) is dropped with one log line and counted. */
#ifndef SIO_ADAPTER_REDIS_ADAPTER_H
#define SIO_ADAPTER_REDIS_ADAPTER_H

#include "adapter/adapter.h"
#include "core/buf.h"

/* How the adapter reaches Redis (implemented in net). */
typedef struct sio__rio {
    /* PUBLISH; < 0 when dropped (link down, backlog full). */
    int (*publish)(void *io, const char *channel, const void *data, size_t len);
    /* (P)SUBSCRIBE now and after every reconnect. SIO_ENOMEM. */
    int (*subscribe)(void *io, const char *channel, int pattern);
    void (*unsubscribe)(void *io, const char *channel, int pattern);
    /* PUBSUB NUMSUB channel: done exactly once unless < 0 is returned. */
    int (*numsub)(void *io, const char *channel, void (*done)(void *d, int err, long long n),
                  void *d);
    /* One log line. */
    void (*log)(void *io, const char *line);
} sio__rio;

typedef struct sio__rcluster sio__rcluster;

/* Copies opts (key, requests_timeout, publish_on_specific_response_channel).
 * NULL on OOM. */
sio__rcluster *sio__rcluster_new(const sio_redis_options *opts, const sio__rio *io, void *io_data);
/* The adapter factory for sio_server_options (data: the cluster). */
sio_adapter *sio__rcluster_factory(sio_namespace *nsp, void *cluster);
/* A message Redis delivered on one of the subscribed channels. */
void sio__rcluster_message(sio__rcluster *c, sio__slice channel, sio__slice payload);
/* The command link is (again) up: the server counts that waited for it
 * are asked now. */
void sio__rcluster_link_up(sio__rcluster *c);
/* Messages dropped as malformed. */
uint64_t sio__rcluster_malformed(const sio__rcluster *c);
/* Frees the cluster; its namespace adapters must be gone already (the
 * server freed). */
void sio__rcluster_free(sio__rcluster *c);

#endif
