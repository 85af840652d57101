/* A Redis pub/sub link on the loop: hiredis' async API attached to libuv
 * through hiredis' own adapters/libuv.h. Two connections, as Node's
 * adapter uses two clients: one for commands (PUBLISH, PUBSUB NUMSUB),
 * one in subscribed mode.
 *
 * Failures. Each connection reconnects on its own after a failed connect
 * or a lost link, with a backoff (100 ms doubling to 2 s, reset once
 * connected); the subscriber renews every subscription it was asked for.
 * The state changes are logged (one line each: "unreachable", "lost",
 * "connected"), never every retry. While the command connection is down a
 * publish is dropped and counted; while it is up, bytes of PUBLISH not yet
 * acknowledged by Redis are capped (max_pending): past it a publish is
 * dropped and counted too, so a stalled Redis cannot grow memory without
 * bound. A command that needs a reply (NUMSUB) fails with SIO_ECLOSED when
 * the link is down or drops before the reply; the caller may wait for the
 * callbacks' up and ask again.
 *
 * The handles are unreferenced: the link never keeps the loop alive, which
 * ends when the servers close; sio__redis_free then releases it (the
 * hiredis contexts finish closing while the loop runs, or in
 * sio_loop_free). Single-threaded, loop thread only. */
#ifndef SIO_NET_REDIS_CONN_H
#define SIO_NET_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "sioc.h"

typedef struct sio__redis sio__redis;

typedef struct sio__redis_callbacks {
    /* A message on a subscribed channel or pattern (views valid during the
     * call). */
    void (*message)(void *data, sio__slice channel, sio__slice payload);
    /* One line for the operator (no newline). NULL: stderr. */
    void (*log)(void *data, const char *line);
    /* The command connection is established (first time and after each
     * reconnect): what waited for it may go. NULL: nobody asked. */
    void (*up)(void *data);
} sio__redis_callbacks;

/* Counters (monotonic). */
typedef struct sio__redis_stats {
    uint64_t published;  /* PUBLISH commands sent */
    uint64_t dropped;    /* publishes dropped: link down or max_pending */
    uint64_t reconnects; /* connections made after the first */
    int pub_up, sub_up;  /* links currently established */
} sio__redis_stats;

/* Parses redis://[[user]:password@]host[:port][/db] (also a bare
 * host[:port]); starts connecting. SIO_EINVAL (bad URL), SIO_ENOMEM. A
 * Redis that is not there is not an error: it is retried. */
int sio__redis_new(sio__redis **out, sio_loop *loop, const char *url, size_t max_pending,
                   const sio__redis_callbacks *cb, void *data);
/* Subscribes (pattern: PSUBSCRIBE) now if connected, and after every
 * reconnect. SIO_ENOMEM. */
int sio__redis_subscribe(sio__redis *r, const char *channel, int pattern);
/* Forgets a subscription and unsubscribes if connected. */
void sio__redis_unsubscribe(sio__redis *r, const char *channel, int pattern);
/* PUBLISH channel payload. SIO_ECLOSED (link down) or SIO_ELIMIT
 * (max_pending): dropped and counted. */
int sio__redis_publish(sio__redis *r, const char *channel, const void *payload, size_t len);
/* PUBSUB NUMSUB channel: done(err, n) later, exactly once, unless this
 * returns an error (SIO_ECLOSED, SIO_ENOMEM). */
typedef void (*sio__redis_count_cb)(void *data, int err, long long n);
int sio__redis_numsub(sio__redis *r, const char *channel, sio__redis_count_cb done, void *data);
void sio__redis_get_stats(const sio__redis *r, sio__redis_stats *out);
/* Disconnects both links; pending NUMSUB callbacks get SIO_ECLOSED before
 * this returns. No callback runs afterwards. */
void sio__redis_free(sio__redis *r);

#endif
