/* The Redis link: two hiredis async contexts on the libuv loop, each with
 * its own reconnect timer. See redis_conn.h for the failure policy.
 *
 * hiredis owns a context's memory: after a failed connect (connect
 * callback with an error) or a lost link (disconnect callback) it frees the
 * context itself once the callback returns, so the callbacks only forget
 * the pointer and arm the retry timer. Commands still queued on a context
 * that goes away get their callback with a NULL reply; that is where the
 * pending-byte count is given back and NUMSUB reports SIO_ECLOSED. */
#include "net/redis_conn.h"

#include <errno.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "net/net.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* hiredis 0.14 has no connect timeout, and its libuv adapter drops libuv's
 * poll error (a refused connect), so a connect attempt that has not
 * succeeded by then is abandoned and retried. */
#define CONNECT_TIMEOUT_MS 1000

/* One of the two connections. */
typedef struct rlink {
    sio__redis *r;          /* owner */
    redisAsyncContext *ac;  /* NULL while down or connecting failed */
    uv_timer_t retry;       /* reconnect timer (unreferenced) */
    uint32_t backoff_ms;    /* next retry delay */
    unsigned up : 1;        /* connect callback said OK */
    unsigned sub : 1;       /* the subscriber */
    unsigned was_up : 1;    /* connected at least once */
    unsigned told_down : 1; /* "unreachable"/"lost" logged for this outage */
} rlink;

/* One subscription to renew on reconnect. */
typedef struct rsub {
    char *name;
    int pattern;
} rsub;

struct sio__redis {
    sio_loop *loop;
    char *host;
    int port;
    char *password;     /* AUTH, or NULL */
    int db;             /* SELECT when > 0 */
    size_t max_pending; /* cap on unacknowledged PUBLISH bytes */
    size_t pending;     /* PUBLISH bytes sent, reply not yet received */
    sio__redis_callbacks cb;
    void *data;
    rlink pub, sub;
    rsub *subs;
    size_t nsubs;
    sio__redis_stats stats;
    int closing;     /* sio__redis_free called */
    int open_timers; /* retry timers not yet closed */
};

static void say(sio__redis *r, const char *fmt, const char *a, const char *b)
{
    char line[512];
    snprintf(line, sizeof line, fmt, a, b);
    if (r->cb.log)
        r->cb.log(r->data, line);
    else
        fprintf(stderr, "%s\n", line);
}

static const char *link_name(const rlink *l)
{
    return l->sub ? "subscriber" : "publisher";
}

/* ---- URL */

/* redis://[[user]:password@]host[:port][/db]; a bare host[:port] too. */
static int parse_url(sio__redis *r, const char *url)
{
    const char *p = strncmp(url, "redis://", 8) == 0 ? url + 8 : url;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        r->password = sio__strndup(pw, (size_t)(at - pw));
        if (r->password == NULL)
            return SIO_ENOMEM;
        p = at + 1;
    }
    size_t hlen = strcspn(p, ":/");
    if (hlen == 0)
        return SIO_EINVAL;
    r->host = sio__strndup(p, hlen);
    if (r->host == NULL)
        return SIO_ENOMEM;
    p += hlen;
    r->port = 6379;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535)
            return SIO_EINVAL;
        r->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (*end || db < 0 || db > 1000000)
            return SIO_EINVAL;
        r->db = (int)db;
    } else if (*p && strcmp(p, "/") != 0) {
        return SIO_EINVAL;
    }
    return 0;
}

/* ---- connecting */

static void link_connect(rlink *l);

static void retry_fire(uv_timer_t *t)
{
    link_connect(t->data);
}

/* The link is down: try again after the backoff. */
static void link_down(rlink *l, const char *why)
{
    sio__redis *r = l->r;
    l->ac = NULL;
    l->up = 0;
    if (l->sub)
        r->stats.sub_up = 0;
    else
        r->stats.pub_up = 0;
    if (r->closing)
        return;
    if (!l->told_down) {
        char where[300];
        snprintf(where, sizeof where, "%s:%d", r->host, r->port);
        say(r,
            l->was_up
                ? "sioc: Redis %s lost (%s); reconnecting, local clients are still served"
                : "sioc: Redis %s unreachable (%s); retrying, local clients are served meanwhile",
            where, why);
        l->told_down = 1;
    }
    uv_timer_start(&l->retry, retry_fire, l->backoff_ms, 0);
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static void on_message(redisAsyncContext *ac, void *reply, void *priv);

/* The subscriber is (re)connected: renew every subscription. */
static void resubscribe(rlink *l)
{
    sio__redis *r = l->r;
    for (size_t i = 0; i < r->nsubs; i++)
        redisAsyncCommand(l->ac, on_message, r,
                          r->subs[i].pattern ? "PSUBSCRIBE %s" : "SUBSCRIBE %s", r->subs[i].name);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    rlink *l = cac->data;
    uv_timer_stop(&l->retry); /* the connect watchdog */
    if (status != REDIS_OK) {
        link_down(l, cac->errstr[0] ? cac->errstr : "connect failed");
        return;
    }
    sio__redis *r = l->r;
    if (l->was_up)
        r->stats.reconnects++;
    if (l->told_down || !l->was_up) {
        char where[300];
        snprintf(where, sizeof where, "%s:%d", r->host, r->port);
        say(r, "sioc: Redis %s connected (%s)", where, link_name(l));
    }
    l->up = 1;
    l->was_up = 1;
    l->told_down = 0;
    l->backoff_ms = BACKOFF_MIN_MS;
    if (l->sub) {
        r->stats.sub_up = 1;
        resubscribe(l);
    } else {
        r->stats.pub_up = 1;
        if (r->cb.up != NULL)
            r->cb.up(r->data);
    }
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    rlink *l = cac->data;
    link_down(l, cac->errstr[0] ? cac->errstr : "closed");
}

/* AUTH and SELECT go first: hiredis sends commands in order. */
static void link_handshake(rlink *l)
{
    sio__redis *r = l->r;
    if (r->password)
        redisAsyncCommand(l->ac, NULL, NULL, "AUTH %s", r->password);
    if (r->db > 0)
        redisAsyncCommand(l->ac, NULL, NULL, "SELECT %d", r->db);
}

/* A connect attempt that never completed: drop it, try again. */
static void connect_watchdog(uv_timer_t *t)
{
    rlink *l = t->data;
    if (l->ac == NULL || l->up)
        return;
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    redisAsyncFree(ac); /* never connected: no disconnect callback */
    link_down(l, "connection refused or timed out");
}

static void link_connect(rlink *l)
{
    sio__redis *r = l->r;
    if (r->closing || l->ac)
        return;
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (ac == NULL) {
        link_down(l, "out of memory");
        return;
    }
    if (ac->err) {
        char why[256];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        link_down(l, why);
        return;
    }
    ac->data = l;
    if (redisLibuvAttach(ac, r->loop->uv) != REDIS_OK) {
        redisAsyncFree(ac);
        link_down(l, "cannot attach to the loop");
        return;
    }
    /* Never keep the loop alive: the servers decide when it ends. */
    uv_unref((uv_handle_t *)&((redisLibuvEvents *)ac->ev.data)->handle);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    link_handshake(l);
    uv_timer_start(&l->retry, connect_watchdog, CONNECT_TIMEOUT_MS, 0);
}

static void link_init(sio__redis *r, rlink *l, int sub)
{
    l->r = r;
    l->sub = sub ? 1 : 0;
    l->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(r->loop->uv, &l->retry);
    l->retry.data = l;
    uv_unref((uv_handle_t *)&l->retry);
    r->open_timers++;
}

/* ---- lifetime */

static void free_now(sio__redis *r)
{
    for (size_t i = 0; i < r->nsubs; i++)
        sio__free(r->subs[i].name);
    sio__free(r->subs);
    sio__free(r->host);
    sio__free(r->password);
    sio__free(r);
}

static void timer_closed(uv_handle_t *h)
{
    rlink *l = h->data;
    sio__redis *r = l->r;
    if (--r->open_timers == 0)
        free_now(r);
}

int sio__redis_new(sio__redis **out, sio_loop *loop, const char *url, size_t max_pending,
                   const sio__redis_callbacks *cb, void *data)
{
    *out = NULL;
    sio__redis *r = sio__calloc(1, sizeof *r);
    if (r == NULL)
        return SIO_ENOMEM;
    int rc = parse_url(r, url ? url : "");
    if (rc < 0) {
        free_now(r);
        return rc;
    }
    r->loop = loop;
    r->max_pending = max_pending;
    if (cb)
        r->cb = *cb;
    r->data = data;
    link_init(r, &r->pub, 0);
    link_init(r, &r->sub, 1);
    link_connect(&r->pub);
    link_connect(&r->sub);
    *out = r;
    return 0;
}

void sio__redis_free(sio__redis *r)
{
    if (r == NULL)
        return;
    r->closing = 1;
    rlink *links[2] = {&r->pub, &r->sub};
    for (int i = 0; i < 2; i++) {
        if (links[i]->ac) {
            redisAsyncContext *ac = links[i]->ac;
            links[i]->ac = NULL;
            redisAsyncFree(ac); /* pending callbacks run now, with NULL */
        }
        uv_timer_stop(&links[i]->retry);
        uv_close((uv_handle_t *)&links[i]->retry, timer_closed);
    }
}

/* ---- subscriptions */

static void on_message(redisAsyncContext *ac, void *reply, void *priv)
{
    sio__redis *r = priv;
    redisReply *rep = reply;
    if (rep == NULL || r->closing || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
        return;
    redisReply **e = rep->element;
    if (e[0]->type != REDIS_REPLY_STRING)
        return;
    size_t ch = 1, pl = 2;
    if (strcmp(e[0]->str, "pmessage") == 0 && rep->elements == 4)
        ch = 2, pl = 3;
    else if (strcmp(e[0]->str, "message") != 0)
        return; /* (p)subscribe confirmations */
    if (e[ch]->type != REDIS_REPLY_STRING || e[pl]->type != REDIS_REPLY_STRING)
        return;
    if (r->cb.message)
        r->cb.message(r->data, (sio__slice){e[ch]->str, e[ch]->len},
                      (sio__slice){e[pl]->str, e[pl]->len});
}

int sio__redis_subscribe(sio__redis *r, const char *channel, int pattern)
{
    rsub *n = sio__realloc(r->subs, (r->nsubs + 1) * sizeof *n);
    if (n == NULL)
        return SIO_ENOMEM;
    r->subs = n;
    n[r->nsubs].name = sio__strdup(channel);
    if (n[r->nsubs].name == NULL)
        return SIO_ENOMEM;
    n[r->nsubs++].pattern = pattern;
    if (r->sub.up)
        redisAsyncCommand(r->sub.ac, on_message, r, pattern ? "PSUBSCRIBE %s" : "SUBSCRIBE %s",
                          channel);
    return 0;
}

void sio__redis_unsubscribe(sio__redis *r, const char *channel, int pattern)
{
    for (size_t i = 0; i < r->nsubs; i++) {
        if (r->subs[i].pattern != pattern || strcmp(r->subs[i].name, channel) != 0)
            continue;
        sio__free(r->subs[i].name);
        r->subs[i] = r->subs[--r->nsubs];
        if (r->sub.up)
            redisAsyncCommand(r->sub.ac, NULL, NULL, pattern ? "PUNSUBSCRIBE %s" : "UNSUBSCRIBE %s",
                              channel);
        return;
    }
}

/* ---- commands */

static void on_published(redisAsyncContext *ac, void *reply, void *priv)
{
    rlink *l = ac->data;
    size_t len = (size_t)(uintptr_t)priv;
    l->r->pending -= len < l->r->pending ? len : l->r->pending;
}

int sio__redis_publish(sio__redis *r, const char *channel, const void *payload, size_t len)
{
    if (!r->pub.up || r->closing) {
        r->stats.dropped++;
        return SIO_ECLOSED;
    }
    if (r->max_pending && r->pending + len > r->max_pending) {
        r->stats.dropped++;
        return SIO_ELIMIT;
    }
    if (redisAsyncCommand(r->pub.ac, on_published, (void *)(uintptr_t)len, "PUBLISH %s %b", channel,
                          payload, len) != REDIS_OK) {
        r->stats.dropped++;
        return SIO_ECLOSED;
    }
    r->pending += len;
    r->stats.published++;
    return 0;
}

typedef struct numsub_req {
    sio__redis_count_cb done;
    void *data;
} numsub_req;

static void on_numsub(redisAsyncContext *ac, void *reply, void *priv)
{
    numsub_req *q = priv;
    redisReply *rep = reply;
    int err = SIO_ECLOSED;
    long long n = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[1]->type == REDIS_REPLY_INTEGER) {
        err = 0;
        n = rep->element[1]->integer;
    } else if (rep) {
        err = SIO_EIO;
    }
    q->done(q->data, err, n);
    sio__free(q);
}

int sio__redis_numsub(sio__redis *r, const char *channel, sio__redis_count_cb done, void *data)
{
    if (!r->pub.up || r->closing)
        return SIO_ECLOSED;
    numsub_req *q = sio__malloc(sizeof *q);
    if (q == NULL)
        return SIO_ENOMEM;
    q->done = done;
    q->data = data;
    if (redisAsyncCommand(r->pub.ac, on_numsub, q, "PUBSUB NUMSUB %s", channel) != REDIS_OK) {
        sio__free(q);
        return SIO_ECLOSED;
    }
    return 0;
}

void sio__redis_get_stats(const sio__redis *r, sio__redis_stats *out)
{
    *out = r->stats;
}
