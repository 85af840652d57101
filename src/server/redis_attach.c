/* sio_redis_adapter: the Redis connection (redis_conn, hiredis on the
 * loop) joined to the Redis adapter's protocol (adapter/redis_adapter,
 * sans-I/O). This file is only the wiring: the I/O table the adapter
 * publishes through, and the messages the connection receives handed to
 * the adapter. */
#include <stdio.h>
#include <string.h>

#include "adapter/redis_adapter.h"
#include "core/alloc.h"
#include "core/error.h"
#include "net/redis_conn.h"

struct sio_redis_adapter {
    sio__redis *conn;
    sio__rcluster *cluster;
};

#define DEFAULT_MAX_PENDING ((size_t)64 << 20)

void sio_redis_options_init(sio_redis_options *o)
{
    memset(o, 0, sizeof *o);
    o->key = "socket.io";
    o->requests_timeout = 5000;
    o->max_pending_bytes = DEFAULT_MAX_PENDING;
}

static int io_publish(void *io, const char *channel, const void *data, size_t len)
{
    return sio__redis_publish(((sio_redis_adapter *)io)->conn, channel, data, len);
}

static int io_subscribe(void *io, const char *channel, int pattern)
{
    return sio__redis_subscribe(((sio_redis_adapter *)io)->conn, channel, pattern);
}

static void io_unsubscribe(void *io, const char *channel, int pattern)
{
    sio__redis_unsubscribe(((sio_redis_adapter *)io)->conn, channel, pattern);
}

static int io_numsub(void *io, const char *channel, void (*done)(void *d, int err, long long n),
                     void *d)
{
    return sio__redis_numsub(((sio_redis_adapter *)io)->conn, channel, done, d);
}

static void io_log(void *io, const char *line)
{
    fprintf(stderr, "%s\n", line);
}

static void on_message(void *data, sio__slice channel, sio__slice payload)
{
    sio__rcluster_message(((sio_redis_adapter *)data)->cluster, channel, payload);
}

static void on_up(void *data)
{
    sio__rcluster_link_up(((sio_redis_adapter *)data)->cluster);
}

int sio_redis_adapter_new(sio_redis_adapter **out, sio_loop *loop, const char *url,
                          const sio_redis_options *opts)
{
    static const sio__rio io = {io_publish, io_subscribe, io_unsubscribe, io_numsub, io_log};
    sio_redis_options defaults;
    if (opts == NULL) {
        sio_redis_options_init(&defaults);
        opts = &defaults;
    }
    *out = NULL;
    sio_redis_adapter *r = sio__calloc(1, sizeof *r);
    if (r == NULL)
        return SIO_ENOMEM;
    r->cluster = sio__rcluster_new(opts, &io, r);
    if (r->cluster == NULL) {
        sio__free(r);
        return SIO_ENOMEM;
    }
    sio__redis_callbacks cb = {on_message, NULL, on_up};
    int rc = sio__redis_new(&r->conn, loop, url, opts->max_pending_bytes, &cb, r);
    if (rc < 0) {
        sio__rcluster_free(r->cluster);
        sio__free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void sio_redis_adapter_use(sio_redis_adapter *r, sio_server_options *o)
{
    o->adapter = sio__rcluster_factory;
    o->adapter_data = r->cluster;
}

void sio_redis_adapter_stats(const sio_redis_adapter *r, sio_redis_stats *out)
{
    sio__redis_stats s;
    sio__redis_get_stats(r->conn, &s);
    memset(out, 0, sizeof *out);
    out->published = s.published;
    out->dropped = s.dropped;
    out->reconnects = s.reconnects;
    out->connected = s.pub_up && s.sub_up;
    out->malformed = sio__rcluster_malformed(r->cluster);
}

void sio_redis_adapter_free(sio_redis_adapter *r)
{
    if (r == NULL)
        return;
    sio__redis_free(r->conn);
    sio__rcluster_free(r->cluster);
    sio__free(r);
}
