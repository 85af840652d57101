/* A socket's handlers (Node's EventEmitter listeners, onAny, onAnyOutgoing
 * and socket.use lists): storage, removal and dispatch order.
 *
 * All handlers of a socket, of every kind, live back to back in one buffer
 * (s->hbuf, s->hlen bytes), each record 8-byte aligned with its event name
 * inline, so the handlers an application registers per connection cost one
 * allocation in all. Registration order is buffer order; prepend*() inserts
 * at the front.
 *
 * Dispatch follows Node's EventEmitter.emit: it calls the listeners that
 * were registered when the emit began (a copy of the array), so a handler
 * that adds or removes handlers changes the next emit, not this one. Here
 * that copy is a snapshot of the buffer (on the stack when it is small). A
 * once() record is removed from the live buffer just before its call; if
 * it is gone already (a nested emit fired it), it is skipped, so it never
 * runs twice. */
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "socketio/sio_handlers.h"

/* Largest handler buffer: hlen's width in sio_socket. */
#define HBUF_MAX ((1u << 25) - 1)

/* Bytes of a record whose event name has n bytes (NUL included). */
static size_t record_size(size_t n)
{
    return (offsetof(sio__handler, event) + n + 7) & ~(size_t)7;
}

static size_t size_of(const sio__handler *h)
{
    return record_size(strlen(h->event) + 1);
}

/* Recomputes the flags that summarise the buffer. */
static void update_flags(sio_socket *s)
{
    unsigned any_out = 0, any_drain = 0;
    for (size_t off = 0; off < s->hlen;) {
        const sio__handler *h = (const sio__handler *)(s->hbuf + off);
        any_out |= (h->kind & SIO__H_KIND) == SIO__H_ANY_OUT;
        any_drain |= (h->kind & SIO__H_KIND) == SIO__H_DRAIN;
        off += size_of(h);
    }
    s->any_out = any_out & 1;
    s->any_drain = any_drain & 1;
}

int sio__handler_add(sio_socket *s, int kind, const char *event, void (*fn)(void), void *data,
                     int prepend)
{
    if (fn == NULL)
        return SIO_EINVAL;
    size_t n = event ? strlen(event) + 1 : 1;
    size_t size = record_size(n);
    if (n > HBUF_MAX || s->hlen + size > HBUF_MAX)
        return SIO_ENOMEM; /* hlen's width: 64 MiB of handlers */
    char *b = sio__realloc(s->hbuf, s->hlen + size);
    if (b == NULL)
        return SIO_ENOMEM;
    if (prepend)
        memmove(b + size, b, s->hlen);
    sio__handler *h = (sio__handler *)(prepend ? b : b + s->hlen);
    memset(h, 0, size);
    memcpy(h->event, event ? event : "", n);
    h->kind = (uint8_t)kind;
    h->fn = fn;
    h->data = data;
    s->hbuf = b;
    s->hlen = (unsigned)(s->hlen + size) & HBUF_MAX;
    update_flags(s);
    return 0;
}

/* Removes the record at off (the buffer shrinks; freed when empty). */
static void remove_at(sio_socket *s, size_t off)
{
    size_t size = size_of((sio__handler *)(s->hbuf + off));
    memmove(s->hbuf + off, s->hbuf + off + size, s->hlen - off - size);
    s->hlen = (unsigned)(s->hlen - size) & HBUF_MAX;
    if (s->hlen == 0) {
        sio__free(s->hbuf);
        s->hbuf = NULL;
    }
}

/* Whether record h is a handler of kind (once or not) for event. */
static int matches(const sio__handler *h, int kind, const char *event)
{
    return (h->kind & SIO__H_KIND) == kind && (event == NULL || strcmp(h->event, event) == 0);
}

int sio__handler_remove(sio_socket *s, int kind, const char *event, void (*fn)(void), void *data,
                        int which)
{
    int removed = 0;
    size_t found = SIZE_MAX;
    for (size_t off = 0; off < s->hlen;) {
        sio__handler *h = (sio__handler *)(s->hbuf + off);
        int hit = matches(h, kind, event) && (fn == NULL || (h->fn == fn && h->data == data));
        if (hit && which == SIO__RM_ALL) {
            remove_at(s, off);
            removed++;
            continue;
        }
        if (hit) {
            found = off;
            if (which == SIO__RM_FIRST)
                break;
        }
        off += size_of(h);
    }
    if (found != SIZE_MAX) {
        remove_at(s, found);
        removed++;
    }
    update_flags(s);
    return removed;
}

int sio__hsnap_take(sio__hsnap *sn, const sio_socket *s)
{
    sn->len = s->hlen;
    sn->off = 0;
    sn->buf = sn->len <= sizeof sn->local ? sn->local : sio__malloc(sn->len);
    if (sn->buf == NULL) {
        sn->len = 0;
        sn->buf = sn->local;
        return SIO_ENOMEM;
    }
    if (sn->len)
        memcpy(sn->buf, s->hbuf, sn->len);
    return 0;
}

void sio__hsnap_free(sio__hsnap *sn)
{
    if (sn->buf != sn->local)
        sio__free(sn->buf);
    sn->buf = sn->local;
    sn->len = 0;
}

/* Removes the live twin of once-record h; 0 if it is no longer there. */
static int take_once(sio_socket *s, const sio__handler *h)
{
    for (size_t off = 0; off < s->hlen;) {
        const sio__handler *l = (const sio__handler *)(s->hbuf + off);
        if (l->kind == h->kind && l->fn == h->fn && l->data == h->data &&
            strcmp(l->event, h->event) == 0) {
            remove_at(s, off);
            update_flags(s);
            return 1;
        }
        off += size_of(l);
    }
    return 0;
}

const sio__handler *sio__hsnap_next(sio__hsnap *sn, sio_socket *s, int kind, const char *event)
{
    while (sn->off < sn->len) {
        const sio__handler *h = (const sio__handler *)(sn->buf + sn->off);
        sn->off += size_of(h);
        int k = h->kind & SIO__H_KIND;
        if (k != kind && !(event != NULL && k == SIO__H_EVENT && strcmp(h->event, event) == 0))
            continue;
        if ((h->kind & SIO__H_ONCE) && !take_once(s, h))
            continue;
        return h;
    }
    return NULL;
}

const sio__handler *sio__handler_nth(const sio_socket *s, int kind, size_t i)
{
    for (size_t off = 0; off < s->hlen;) {
        const sio__handler *h = (const sio__handler *)(s->hbuf + off);
        if ((h->kind & SIO__H_KIND) == kind && i-- == 0)
            return h;
        off += size_of(h);
    }
    return NULL;
}

size_t sio__handler_count(const sio_socket *s, int kind, const char *event)
{
    size_t n = 0;
    for (size_t off = 0; off < s->hlen;) {
        const sio__handler *h = (const sio__handler *)(s->hbuf + off);
        n += matches(h, kind, event);
        off += size_of(h);
    }
    return n;
}
