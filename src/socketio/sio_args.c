/* Event arguments and packet encoding into shared buffers.
 *
 * sio_args is a JSON array plus attachments held as rcbufs: a decoded
 * BINARY_EVENT keeps the buffers it received, so echoing or broadcasting
 * them queues the very same bytes (a reference each), and encoding a packet
 * produces one text rcbuf that every recipient shares. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/base64.h"
#include "core/error.h"
#include "core/assert.h"
#include "socketio/sio_internal.h"

sio_args *sio_args_new(void)
{
    return sio_args_json(json_array());
}

sio_args *sio_args_json(json_t *array)
{
    if (!json_is_array(array)) {
        json_decref(array);
        return NULL;
    }
    sio_args *a = sio__calloc(1, sizeof *a);
    if (a == NULL) {
        json_decref(array);
        return NULL;
    }
    a->arr = array;
    return a;
}

void sio_args_free(sio_args *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->natt; i++)
        sio__rcbuf_unref(a->att[i]);
    sio__free(a->att);
    json_decref(a->arr);
    sio__free(a);
}

int sio_args_push(sio_args *a, json_t *value)
{
    if (value == NULL)
        return SIO_EINVAL;
    if (a == NULL) {
        json_decref(value);
        return SIO_ENOMEM; /* sio_args_new() failed: keep the promise to steal */
    }
    return json_array_append_new(a->arr, value) == 0 ? 0 : SIO_ENOMEM;
}

/* Adds an attachment buffer (a reference is taken); returns its num. */
static int add_attachment(sio_args *a, sio__rcbuf *b)
{
    if (a->natt >= 0x7fffffff)
        return SIO_ELIMIT;
    if (a->natt == a->catt) {
        size_t ncap = a->catt ? a->catt * 2 : 4;
        sio__rcbuf **n = sio__realloc(a->att, ncap * sizeof *n);
        if (n == NULL)
            return SIO_ENOMEM;
        a->att = n;
        a->catt = ncap;
    }
    a->att[a->natt] = sio__rcbuf_ref(b);
    return (int)a->natt++;
}

/* A {"_placeholder":true,"num":num} object. */
static json_t *placeholder(int num)
{
    return json_pack("{s:b,s:i}", "_placeholder", 1, "num", num);
}

json_t *sio_args_binary_node(sio_args *a, const void *data, size_t len)
{
    if (a == NULL)
        return NULL;
    sio__rcbuf *b = sio__rcbuf_new(data, len);
    if (b == NULL)
        return NULL;
    int num = add_attachment(a, b);
    sio__rcbuf_unref(b);
    if (num < 0)
        return NULL;
    json_t *node = placeholder(num);
    if (node == NULL) {
        /* the attachment stays unused: harmless, freed with the args */
        return NULL;
    }
    return node;
}

int sio_args_push_binary(sio_args *a, const void *data, size_t len)
{
    json_t *node = sio_args_binary_node(a, data, len);
    if (node == NULL)
        return SIO_ENOMEM;
    return sio_args_push(a, node);
}

size_t sio_args_count(const sio_args *a)
{
    return a ? json_array_size(a->arr) : 0;
}

json_t *sio_args_get(const sio_args *a, size_t i)
{
    return a ? json_array_get(a->arr, i) : NULL;
}

const void *sio_args_binary(const sio_args *a, const json_t *node, size_t *len)
{
    int num = sio__placeholder_num(node);
    if (a == NULL || num < 0 || (size_t)num >= a->natt)
        return NULL;
    *len = a->att[num]->len;
    return a->att[num]->data;
}

size_t sio_args_attachments(const sio_args *a)
{
    return a ? a->natt : 0;
}

/* Renumbers every placeholder inside v (a deep copy from src) to a slot
 * of dst holding the same buffer. */
static int rebase_placeholders(sio_args *dst, const sio_args *src, json_t *v)
{
    int num = sio__placeholder_num(v);
    if (num >= 0) {
        if ((size_t)num >= src->natt)
            return SIO_EINVAL;
        int n = add_attachment(dst, src->att[num]);
        return n < 0 ? n : json_object_set_new(v, "num", json_integer(n)) == 0 ? 0 : SIO_ENOMEM;
    }
    size_t i;
    const char *k;
    json_t *e;
    int rc = 0;
    if (json_is_array(v))
        json_array_foreach(v, i, e) if (rc == 0) rc = rebase_placeholders(dst, src, e);
    if (json_is_object(v))
        json_object_foreach(v, k, e) if (rc == 0) rc = rebase_placeholders(dst, src, e);
    return rc;
}

sio_args *sio__args_with_offset(const sio_args *args, const char *offset)
{
    sio_args *out = sio_args_new();
    int rc = out ? 0 : SIO_ENOMEM;
    for (size_t i = 0; rc == 0 && args && i < sio_args_count(args); i++)
        rc = sio__args_push_arg(out, args, i);
    if (rc == 0)
        rc = sio_args_push(out, json_string(offset));
    if (rc < 0) {
        sio_args_free(out);
        return NULL;
    }
    return out;
}

int sio__args_push_arg(sio_args *dst, const sio_args *src, size_t i)
{
    json_t *v = sio_args_get(src, i);
    json_t *c = v ? json_deep_copy(v) : json_null();
    if (c == NULL)
        return SIO_ENOMEM;
    int rc = src->natt ? rebase_placeholders(dst, src, c) : 0;
    if (rc < 0) {
        json_decref(c);
        return rc;
    }
    return sio_args_push(dst, c);
}

int sio__args_from_packet(sio__packet *p, sio_args **out, char **event)
{
    *out = NULL;
    if (event)
        *event = NULL;
    json_t *arr = p->data ? json_incref(p->data) : json_array();
    sio_args *a = sio_args_json(arr);
    if (a == NULL)
        return SIO_ENOMEM;
    if (event) {
        json_t *first = json_array_get(arr, 0);
        *event = json_is_string(first)
                     ? sio__strndup(json_string_value(first), json_string_length(first))
                     : sio__malloc(32);
        if (*event && json_is_integer(first))
            snprintf(*event, 32, "%" PRId64, (int64_t)json_integer_value(first));
        else if (*event && !json_is_string(first))
            snprintf(*event, 32, "%.17g", json_number_value(first));
        if (*event == NULL || json_array_remove(arr, 0) != 0) {
            sio__free(*event);
            sio_args_free(a);
            return SIO_ENOMEM;
        }
    }
    /* the attachments move from the packet to the args */
    a->att = p->att;
    a->natt = a->catt = p->nrecv;
    p->att = NULL;
    p->nrecv = p->nattach = 0;
    *out = a;
    return 0;
}

void sio__encoded_free(sio__encoded *e)
{
    sio__rcbuf_unref(e->text);
    sio__rcbuf_unref(e->mp);
    for (size_t i = 0; i < e->natt; i++)
        sio__rcbuf_unref(e->att[i]);
    sio__free(e->att);
    memset(e, 0, sizeof *e);
}

size_t sio__encoded_size(const sio__encoded *e)
{
    size_t n = e->text ? e->text->len : 0;
    for (size_t i = 0; i < e->natt; i++)
        n += e->att[i]->len;
    return n;
}

/* Moves the buffer's bytes into e->text. */
static int finish_text(sio__encoded *e, sio__buf *b)
{
    e->text = sio__rcbuf_new(b->data, b->len);
    sio__buf_free(b);
    return e->text ? 0 : SIO_ENOMEM;
}

int sio__encode_args(sio__encoded *e, int ack, const char *nsp, int64_t id, const char *event,
                     const sio_args *args, const char *offset)
{
    memset(e, 0, sizeof *e);
    size_t natt = args ? args->natt : 0;
    sio__buf b;
    sio__buf_init(&b, 0);
    int rc = sio__packet_encode_args(&b, ack, nsp, id, event, args ? args->arr : NULL,
                                     (unsigned)natt, offset);
    if (rc < 0) {
        sio__buf_free(&b);
        return rc;
    }
    if (natt > 0) {
        e->att = sio__malloc(natt * sizeof *e->att);
        if (e->att == NULL) {
            sio__buf_free(&b);
            return SIO_ENOMEM;
        }
        for (size_t i = 0; i < natt; i++)
            e->att[i] = sio__rcbuf_ref(args->att[i]);
        e->natt = natt;
    }
    rc = finish_text(e, &b);
    if (rc < 0)
        sio__encoded_free(e);
    return rc;
}

int sio__encode_json(sio__encoded *e, int type, const char *nsp, const json_t *data)
{
    memset(e, 0, sizeof *e);
    sio__buf b;
    sio__buf_init(&b, 0);
    int rc = sio__packet_encode_json(&b, type, nsp, data);
    if (rc < 0) {
        sio__buf_free(&b);
        return rc;
    }
    return finish_text(e, &b);
}

int sio__random_id(const sio_server *srv, char *out, size_t len)
{
    unsigned char raw[32];
    SIO_ASSERT(len <= sizeof raw);
    if (srv->env.random(srv->env.arg, raw, len) < 0)
        return SIO_EIO;
    for (size_t i = 0; i < len; i++)
        out[i] = sio__base64url_digit(raw[i]);
    out[len] = '\0';
    return 0;
}

int sio__reason_recoverable(const char *reason)
{
    static const char *const r[] = {"transport error",      "transport close",
                                    "forced close",         "ping timeout",
                                    "server shutting down", "forced server close"};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (strcmp(reason, r[i]) == 0)
            return 1;
    return 0;
}
