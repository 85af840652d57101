/* The Redis adapter (src/adapter/redis_adapter.c, sans-I/O) in the adapter
 * contract tests, over a fake Redis: an in-process pub/sub that keeps each
 * node's (P)SUBSCRIBE list, queues PUBLISH and PUBSUB NUMSUB in order (as
 * one connection to Redis would) and delivers them on redis_pump(). The
 * bytes that travel are the real messages of @socket.io/redis-adapter 8.3,
 * so every case of test_adapter.c runs the real codec and request tracking
 * between nodes; only the socket to Redis is missing. Patterns are the
 * adapter's "prefix*" form only. */
#ifndef SIO_TESTS_UNIT_ADAPTER_REDIS_FAKE_H
#define SIO_TESTS_UNIT_ADAPTER_REDIS_FAKE_H

#include "adapter/redis_adapter.h"
#include "harness.h"

typedef struct rsubs {
    char *name;
    int pattern;
} rsubs;

/* One node's connection: its subscriptions and its cluster. */
typedef struct rnode {
    sio__rcluster *c;
    rsubs *subs;
    size_t nsubs;
    int deaf; /* deliveries to it are lost (it still counts as subscribed) */
    int down; /* its command link is down: NUMSUB fails with SIO_ECLOSED */
} rnode;

/* A queued command: PUBLISH (done NULL) or NUMSUB. */
typedef struct rcmd {
    sio__list node;
    char *channel;
    char *payload;
    size_t len;
    void (*done)(void *d, int err, long long n);
    void *d;
} rcmd;

static struct {
    rnode nodes[MAXNODES];
    size_t n;
    sio__list queue;
} FAKE;

static int fake_publish(void *io, const char *channel, const void *data, size_t len)
{
    rcmd *c = calloc(1, sizeof *c);
    c->channel = strdup(channel);
    c->payload = malloc(len ? len : 1);
    memcpy(c->payload, data, len);
    c->len = len;
    sio__list_insert_tail(&FAKE.queue, &c->node);
    return 0;
}

static int fake_subscribe(void *io, const char *channel, int pattern)
{
    rnode *n = io;
    n->subs = realloc(n->subs, (n->nsubs + 1) * sizeof *n->subs);
    n->subs[n->nsubs].name = strdup(channel);
    n->subs[n->nsubs++].pattern = pattern;
    return 0;
}

static void fake_unsubscribe(void *io, const char *channel, int pattern)
{
    rnode *n = io;
    for (size_t i = 0; i < n->nsubs; i++)
        if (n->subs[i].pattern == pattern && strcmp(n->subs[i].name, channel) == 0) {
            free(n->subs[i].name);
            n->subs[i] = n->subs[--n->nsubs];
            return;
        }
}

static int fake_numsub(void *io, const char *channel, void (*done)(void *d, int err, long long n),
                       void *d)
{
    if (((rnode *)io)->down)
        return SIO_ECLOSED;
    rcmd *c = calloc(1, sizeof *c);
    c->channel = strdup(channel);
    c->done = done;
    c->d = d;
    sio__list_insert_tail(&FAKE.queue, &c->node);
    return 0;
}

static void fake_log(void *io, const char *line)
{
    (void)io;
    (void)line;
}

static int matches(const rsubs *s, const char *channel)
{
    if (!s->pattern)
        return strcmp(s->name, channel) == 0;
    size_t n = strlen(s->name) - 1; /* "prefix*" */
    return strncmp(s->name, channel, n) == 0;
}

static void run_cmd(rcmd *c)
{
    if (c->done) {
        long long count = 0;
        for (size_t i = 0; i < FAKE.n; i++)
            for (size_t k = 0; k < FAKE.nodes[i].nsubs; k++)
                if (!FAKE.nodes[i].subs[k].pattern && matches(&FAKE.nodes[i].subs[k], c->channel))
                    count++;
        c->done(c->d, 0, count);
        return;
    }
    for (size_t i = 0; i < FAKE.n; i++) {
        rnode *n = &FAKE.nodes[i];
        for (size_t k = 0; k < n->nsubs && !n->deaf; k++)
            if (matches(&n->subs[k], c->channel)) {
                sio__slice ch = {c->channel, strlen(c->channel)}, pl = {c->payload, c->len};
                sio__rcluster_message(n->c, ch, pl);
                break; /* Redis: one delivery per matching subscription; ours never overlap */
            }
    }
}

static void cmd_free(rcmd *c)
{
    free(c->channel);
    free(c->payload);
    free(c);
}

static void redis_pump(void)
{
    while (!sio__list_empty(&FAKE.queue)) {
        rcmd *c = SIO_CONTAINER_OF(FAKE.queue.next, rcmd, node);
        sio__list_remove(&c->node);
        run_cmd(c);
        cmd_free(c);
    }
}

static void redis_setup(void)
{
    memset(&FAKE, 0, sizeof FAKE);
    sio__list_init(&FAKE.queue);
}

static void *redis_node(size_t i)
{
    static const sio__rio io = {fake_publish, fake_subscribe, fake_unsubscribe, fake_numsub,
                                fake_log};
    sio_redis_options o = {.key = "socket.io", .requests_timeout = 5000};
    FAKE.nodes[i].c = sio__rcluster_new(&o, &io, &FAKE.nodes[i]);
    FAKE.n = i + 1;
    return FAKE.nodes[i].c;
}

static void redis_teardown(void)
{
    while (!sio__list_empty(&FAKE.queue)) {
        rcmd *c = SIO_CONTAINER_OF(FAKE.queue.next, rcmd, node);
        sio__list_remove(&c->node);
        if (c->done)
            c->done(c->d, SIO_ECLOSED, 0); /* as the connection does when it goes */
        cmd_free(c);
    }
    for (size_t i = 0; i < FAKE.n; i++) {
        for (size_t k = 0; k < FAKE.nodes[i].nsubs; k++)
            free(FAKE.nodes[i].subs[k].name);
        free(FAKE.nodes[i].subs);
        sio__rcluster_free(FAKE.nodes[i].c);
    }
    memset(&FAKE, 0, sizeof FAKE);
}

static void redis_deafen(size_t node, int deaf)
{
    FAKE.nodes[node].deaf = deaf;
}

/* The command link of node goes down, or comes back (and says so). */
static void redis_link(size_t node, int up)
{
    FAKE.nodes[node].down = !up;
    if (up)
        sio__rcluster_link_up(FAKE.nodes[node].c);
}

#endif
