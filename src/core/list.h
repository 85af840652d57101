/* Intrusive circular doubly-linked lists (the libuv QUEUE idea).
 *
 * A node lives inside the object it links, so linking never allocates and
 * unlinking is O(1). An unlinked node points to itself, which makes
 * sio__list_remove idempotent and sio__list_linked a cheap test. */
#ifndef SIO_CORE_LIST_H
#define SIO_CORE_LIST_H

#include <stddef.h>

typedef struct sio__list {
    struct sio__list *next, *prev;
} sio__list;

#define SIO_CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

static inline void sio__list_init(sio__list *l)
{
    l->next = l->prev = l;
}
static inline int sio__list_empty(const sio__list *l)
{
    return l->next == l;
}
static inline int sio__list_linked(const sio__list *n)
{
    return n->next != n;
}

static inline void sio__list_insert_tail(sio__list *head, sio__list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void sio__list_insert_head(sio__list *head, sio__list *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

static inline void sio__list_remove(sio__list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

/* Iterate allowing removal of the current node. */
#define SIO_LIST_FOREACH_SAFE(it, tmp, head)                                                       \
    for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

#endif
