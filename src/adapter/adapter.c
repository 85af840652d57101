/* What every adapter shares (see adapter.h): the base struct, room event
 * subscribers, the per-socket slot and the reference counting of the
 * broadcast-with-ack collectors and server-side acks. */
#include "adapter/adapter.h"

#include "core/alloc.h"
#include "core/error.h"

void sio__adapter_init(sio__adapter *a, const sio__adapter_ops *ops, sio_namespace *nsp)
{
    a->ops = ops;
    a->nsp = nsp;
    a->subs = NULL;
    a->nsubs = 0;
}

void sio__adapter_fini(sio__adapter *a)
{
    sio__free(a->subs);
    a->subs = NULL;
    a->nsubs = 0;
}

int sio__adapter_local_rooms(const sio__adapter *a, const char ***out, size_t *n)
{
    size_t k = a->ops->rooms(a, NULL, 0);
    const char **v = sio__calloc(k ? k : 1, sizeof *v);
    if (v == NULL)
        return SIO_ENOMEM;
    *n = a->ops->rooms(a, v, k);
    *out = v;
    return 0;
}

void sio__adapter_room_event(const sio__adapter *a, sio_room_event ev, const char *room,
                             const char *sid)
{
    /* subscribers live on the namespace's (outermost) adapter */
    const sio__adapter *top = a->nsp->adapter;
    for (size_t i = 0; top != NULL && i < top->nsubs; i++)
        top->subs[i].cb(a->nsp, ev, room, sid, top->subs[i].data);
}

int sio_namespace_on_room_event(sio_namespace *nsp, sio_room_cb cb, void *data)
{
    sio__adapter *a = nsp->adapter;
    if (cb == NULL)
        return SIO_EINVAL;
    sio__room_sub *n = sio__realloc(a->subs, (a->nsubs + 1) * sizeof *n);
    if (n == NULL)
        return SIO_ENOMEM;
    a->subs = n;
    a->subs[a->nsubs++] = (sio__room_sub){cb, data};
    return 0;
}

void sio__adapter_slot_init(sio__adapter_slot *slot)
{
    sio__map_init(&slot->rooms);
    slot->mark = 0;
}

void sio__adapter_slot_free(sio__adapter_slot *slot)
{
    sio__map_free(&slot->rooms);
}

void sio__bcast_ack_ref(sio__bcast_ack *k)
{
    k->refs++;
}

void sio__bcast_ack_unref(sio__bcast_ack *k)
{
    if (k != NULL && --k->refs == 0)
        k->free(k);
}

sio_server_ack *sio__server_ack_new(void (*reply)(void *ctx, const sio_args *args),
                                    void (*free_ctx)(void *ctx), void *ctx)
{
    sio_server_ack *ack = sio__calloc(1, sizeof *ack);
    if (ack == NULL)
        return NULL;
    ack->refs = 1;
    ack->reply = reply;
    ack->free = free_ctx;
    ack->ctx = ctx;
    return ack;
}

int sio_server_ack_send(sio_server_ack *ack, const sio_args *args)
{
    if (ack->sent)
        return SIO_EBUSY;
    ack->sent = 1;
    ack->reply(ack->ctx, args);
    return 0;
}

void sio_server_ack_retain(sio_server_ack *ack)
{
    ack->refs++;
}

void sio_server_ack_release(sio_server_ack *ack)
{
    if (ack == NULL || --ack->refs > 0)
        return;
    if (ack->free)
        ack->free(ack->ctx);
    sio__free(ack);
}
