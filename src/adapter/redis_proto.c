/* The Redis adapter's wire protocol: channel names and the msgpack / JSON
 * messages of @socket.io/redis-adapter 8.3. See redis_proto.h.
 *
 * msgpack values go through the msgpack parser's value codec
 * (socketio/sio_msgpack: a bounded reader of its own, msgpack-c's packer),
 * which maps them to and from jansson trees where a msgpack bin is a
 * Socket.IO placeholder plus an attachment, as notepack.io maps them to
 * JavaScript; this file only knows the shapes of the adapter's messages. */
#include "adapter/redis_proto.h"

#include <msgpack.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "socketio/sio_msgpack.h"
#include "socketio/sio_packet.h"

/* ---- channels */

static char *join3(const char *a, const char *b, const char *c, const char *d)
{
    sio__buf s;
    sio__buf_init(&s, 0);
    if (sio__buf_appendf(&s, "%s%s%s%s", a, b, c, d) < 0) {
        sio__buf_free(&s);
        return NULL;
    }
    size_t len;
    return sio__buf_steal(&s, &len);
}

int sio__rchan_init(sio__rchan *c, const char *key, const char *nsp, const char *uid)
{
    c->bcast = join3(key, "#", nsp, "#");
    c->request = join3(key, "-request#", nsp, "#");
    c->response = join3(key, "-response#", nsp, "#");
    c->specific = c->response ? join3(c->response, uid, "#", "") : NULL;
    if (c->bcast && c->request && c->response && c->specific)
        return 0;
    sio__rchan_fini(c);
    return SIO_ENOMEM;
}

void sio__rchan_fini(sio__rchan *c)
{
    sio__free(c->bcast);
    sio__free(c->request);
    sio__free(c->response);
    sio__free(c->specific);
    memset(c, 0, sizeof *c);
}

int sio__rchan_broadcast(const sio__rchan *c, char *const *rooms, size_t nrooms, sio__buf *out)
{
    int rc = sio__buf_append_str(out, c->bcast);
    if (rc == 0 && nrooms == 1)
        rc = sio__buf_appendf(out, "%s#", rooms[0]);
    return rc;
}

int sio__rchan_room(const sio__rchan *c, sio__slice channel, sio__slice *room)
{
    size_t plen = strlen(c->bcast);
    if (channel.len < plen || memcmp(channel.base, c->bcast, plen) != 0)
        return SIO_EPROTO;
    /* Node: channel.slice(prefix.length, -1), the trailing '#' dropped. */
    if (channel.len == plen) {
        *room = (sio__slice){channel.base + plen, 0};
        return 0;
    }
    if (channel.base[channel.len - 1] != '#')
        return SIO_EPROTO;
    *room = (sio__slice){channel.base + plen, channel.len - plen - 1};
    return 0;
}

int sio__rchan_response_to(const sio__rchan *c, int specific, const char *uid, sio__buf *out)
{
    if (!specific)
        return sio__buf_append_str(out, c->response);
    return sio__buf_appendf(out, "%s%s#", c->response, uid);
}

/* ---- msgpack (the value codec of socketio/sio_msgpack) */

static void rmsg_clear(sio__rmsg *m)
{
    memset(m, 0, sizeof *m);
    m->type = -1;
    m->uid = "";
}

void sio__rmsg_free(sio__rmsg *m)
{
    json_decref(m->obj);
    for (size_t i = 0; i < m->natt; i++)
        sio__rcbuf_unref(m->att[i]);
    sio__free(m->att);
    rmsg_clear(m);
}

/* One msgpack value filling the whole message into m->obj (the message's
 * size is Redis's business: no binary cap here). */
static int mp_decode(const void *data, size_t len, sio__rmsg *m)
{
    sio__rcbuf **att = NULL;
    unsigned natt = 0;
    int rc =
        sio__msgpack_decode_value(data, len, SIO__REDIS_MAX_DEPTH, SIZE_MAX, &m->obj, &att, &natt);
    m->att = att;
    m->natt = m->catt = natt;
    return rc;
}

/* ---- decoding messages */

/* Reads uid, requestId and type; checks placeholders against att. */
static int rmsg_fields(sio__rmsg *m)
{
    if (!json_is_object(m->obj))
        return SIO_EPROTO;
    json_t *uid = json_object_get(m->obj, "uid");
    json_t *rid = json_object_get(m->obj, "requestId");
    json_t *type = json_object_get(m->obj, "type");
    if ((uid && !json_is_string(uid)) || (rid && !json_is_string(rid)))
        return SIO_EPROTO;
    if (type) {
        if (!json_is_integer(type) || json_integer_value(type) < SIO__RT_SOCKETS ||
            json_integer_value(type) > SIO__RT_BROADCAST_ACK)
            return SIO_EPROTO;
        m->type = (int)json_integer_value(type);
    }
    m->uid = uid ? json_string_value(uid) : "";
    m->request_id = rid ? json_string_value(rid) : NULL;
    return sio__packet_check_placeholders(m->obj, (unsigned)m->natt);
}

int sio__rmsg_decode_broadcast(const void *data, size_t len, sio__rmsg *m)
{
    rmsg_clear(m);
    sio__rmsg raw;
    rmsg_clear(&raw);
    int rc = mp_decode(data, len, &raw);
    json_t *a = raw.obj;
    if (rc == 0 &&
        (!json_is_array(a) || json_array_size(a) != 3 || !json_is_string(json_array_get(a, 0)) ||
         !json_is_object(json_array_get(a, 1)) || !json_is_object(json_array_get(a, 2))))
        rc = SIO_EPROTO;
    if (rc == 0) {
        m->obj = json_pack("{s:O,s:O,s:O}", "uid", json_array_get(a, 0), "packet",
                           json_array_get(a, 1), "opts", json_array_get(a, 2));
        rc = m->obj ? 0 : SIO_ENOMEM;
    }
    m->att = raw.att;
    m->natt = raw.natt;
    m->catt = raw.catt;
    json_decref(raw.obj);
    if (rc == 0)
        rc = rmsg_fields(m);
    if (rc == 0 && m->type != -1)
        rc = SIO_EPROTO; /* the packet's type is packet.type, not a request type */
    if (rc < 0)
        sio__rmsg_free(m);
    return rc;
}

int sio__rmsg_decode_request(const void *data, size_t len, sio__rmsg *m)
{
    rmsg_clear(m);
    int rc = 0;
    if (len > 0 && ((const char *)data)[0] == '{') {
        json_error_t err;
        m->obj = json_loadb(data, len, 0, &err);
        if (m->obj == NULL && json_error_code(&err) == json_error_numeric_overflow)
            m->obj = json_loadb(data, len, JSON_DECODE_INT_AS_REAL, &err);
        rc = m->obj ? 0 : SIO_EPROTO;
    } else {
        rc = mp_decode(data, len, m);
    }
    if (rc == 0)
        rc = rmsg_fields(m);
    if (rc < 0)
        sio__rmsg_free(m);
    return rc;
}

/* ---- typed access */

void sio__rstrv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        sio__free(v[i]);
    sio__free(v);
}

/* Copies a JSON array of strings (NULL: empty). */
static int strv_copy(const json_t *arr, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (arr == NULL)
        return 0;
    if (!json_is_array(arr))
        return SIO_EPROTO;
    size_t cnt = json_array_size(arr);
    char **v = cnt ? sio__calloc(cnt, sizeof *v) : NULL;
    if (cnt && v == NULL)
        return SIO_ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *s = json_array_get(arr, i);
        int rc = !json_is_string(s) ? SIO_EPROTO : 0;
        if (rc == 0 && (v[i] = sio__strndup(json_string_value(s), json_string_length(s))) == NULL)
            rc = SIO_ENOMEM;
        if (rc < 0) {
            sio__rstrv_free(v, cnt);
            return rc;
        }
    }
    *out = v;
    *n = cnt;
    return 0;
}

int sio__rmsg_strings(const sio__rmsg *m, const char *field, char ***out, size_t *n)
{
    const json_t *a = json_object_get(m->obj, field);
    if (!json_is_array(a)) {
        *out = NULL;
        *n = 0;
        return SIO_EPROTO;
    }
    return strv_copy(a, out, n);
}

void sio__rbopts_fini(sio__bopts *o)
{
    sio__rstrv_free(o->rooms, o->nrooms);
    sio__rstrv_free(o->except, o->nexcept);
    memset(o, 0, sizeof *o);
}

int sio__rmsg_bopts(const sio__rmsg *m, const char *field, sio__bopts *o)
{
    memset(o, 0, sizeof *o);
    const json_t *opts = json_object_get(m->obj, field);
    if (!json_is_object(opts))
        return SIO_EPROTO;
    int rc = strv_copy(json_object_get(opts, "rooms"), &o->rooms, &o->nrooms);
    if (rc == 0)
        rc = strv_copy(json_object_get(opts, "except"), &o->except, &o->nexcept);
    const json_t *flags = json_object_get(opts, "flags");
    if (rc == 0 && flags && !json_is_object(flags) && !json_is_null(flags))
        rc = SIO_EPROTO;
    if (rc < 0) {
        sio__rbopts_fini(o);
        return rc;
    }
    if (json_is_true(json_object_get(flags, "volatile")))
        o->flags |= SIO__BC_VOLATILE;
    if (json_is_true(json_object_get(flags, "local")))
        o->flags |= SIO__BC_LOCAL;
    const json_t *c = json_object_get(flags, "compress");
    if (json_is_boolean(c))
        o->flags |= json_is_true(c) ? SIO__BC_COMPRESS : SIO__BC_NOCOMPRESS;
    const json_t *t = json_object_get(flags, "timeout");
    if (json_is_number(t) && json_number_value(t) > 0)
        o->timeout =
            json_number_value(t) < UINT32_MAX ? (uint32_t)json_number_value(t) : UINT32_MAX;
    return 0;
}

/* New args over values[from..], sharing m's attachments. */
static int args_from(const sio__rmsg *m, const json_t *values, size_t from, sio_args **out)
{
    json_t *arr = json_array();
    for (size_t i = from; arr && i < json_array_size(values); i++)
        if (json_array_append_new(arr, json_deep_copy(json_array_get(values, i))) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    sio_args *a = sio_args_json(arr);
    if (a == NULL)
        return SIO_ENOMEM;
    if (m->natt) {
        a->att = sio__calloc(m->natt, sizeof *a->att);
        if (a->att == NULL) {
            sio_args_free(a);
            return SIO_ENOMEM;
        }
        for (size_t i = 0; i < m->natt; i++)
            a->att[i] = sio__rcbuf_ref(m->att[i]);
        a->natt = a->catt = m->natt;
    }
    *out = a;
    return 0;
}

/* [event, ...args] with a string event. */
static int split_event(const sio__rmsg *m, const json_t *data, const char **event, sio_args **args)
{
    if (!json_is_array(data) || !json_is_string(json_array_get(data, 0)))
        return SIO_EPROTO;
    *event = json_string_value(json_array_get(data, 0));
    return args_from(m, data, 1, args);
}

int sio__rmsg_event(const sio__rmsg *m, const char *field, const char **nsp, const char **event,
                    sio_args **args)
{
    *args = NULL;
    const json_t *p = json_object_get(m->obj, field);
    const json_t *type = json_object_get(p, "type");
    const json_t *n = json_object_get(p, "nsp");
    if (!json_is_object(p) || !json_is_integer(type) || (n && !json_is_string(n)))
        return SIO_EPROTO;
    json_int_t t = json_integer_value(type);
    if (t != SIO_PKT_EVENT && t != SIO_PKT_BINARY_EVENT)
        return SIO_EPROTO;
    *nsp = n ? json_string_value(n) : "/";
    return split_event(m, json_object_get(p, "data"), event, args);
}

int sio__rmsg_args(const sio__rmsg *m, const char *field, int as_list, sio_args **out)
{
    *out = NULL;
    const json_t *v = json_object_get(m->obj, field);
    if (v == NULL)
        return SIO_EPROTO;
    if (as_list && json_is_array(v))
        return args_from(m, v, 0, out);
    json_t *one = json_pack("[O]", v);
    if (one == NULL)
        return SIO_ENOMEM;
    int rc = args_from(m, one, 0, out);
    json_decref(one);
    return rc;
}

/* ---- encoding */

static int mp_write(void *data, const char *buf, size_t len)
{
    return sio__buf_append((sio__buf *)data, buf, len) == 0 ? 0 : -1;
}

static int pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    return msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, s, len) ? SIO_ENOMEM : 0;
}

#define PACK_CSTR(pk, s) pack_str((pk), (s), strlen(s))

/* {type: 2, data: [event, ...args], nsp} (args NULL: none). */
static int pack_packet(msgpack_packer *pk, const char *nsp, const char *event, const sio_args *args)
{
    size_t n = args ? json_array_size(args->arr) : 0;
    int rc = msgpack_pack_map(pk, 3) ? SIO_ENOMEM : 0;
    if (rc == 0 && (rc = PACK_CSTR(pk, "type")) == 0)
        rc = msgpack_pack_int(pk, SIO_PKT_EVENT) ? SIO_ENOMEM : 0;
    if (rc == 0 && (rc = PACK_CSTR(pk, "data")) == 0)
        rc = msgpack_pack_array(pk, n + 1) ? SIO_ENOMEM : PACK_CSTR(pk, event);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = sio__msgpack_pack_value(pk, json_array_get(args->arr, i), args->att, args->natt);
    if (rc == 0 && (rc = PACK_CSTR(pk, "nsp")) == 0)
        rc = PACK_CSTR(pk, nsp);
    return rc;
}

static int pack_strv(msgpack_packer *pk, char *const *v, size_t n)
{
    if (msgpack_pack_array(pk, n))
        return SIO_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (PACK_CSTR(pk, v[i]) < 0)
            return SIO_ENOMEM;
    return 0;
}

/* {volatile?, compress?, timeout?}: what Node's BroadcastOperator flags
 * hold, in the order its methods usually set them. */
static int pack_flags(msgpack_packer *pk, const sio__bopts *o)
{
    int vol = (o->flags & SIO__BC_VOLATILE) != 0, tmo = o->timeout > 0;
    int cmp = (o->flags & (SIO__BC_COMPRESS | SIO__BC_NOCOMPRESS)) != 0;
    int rc = msgpack_pack_map(pk, (size_t)(vol + cmp + tmo)) ? SIO_ENOMEM : 0;
    if (rc == 0 && vol && (rc = PACK_CSTR(pk, "volatile")) == 0)
        rc = msgpack_pack_true(pk) ? SIO_ENOMEM : 0;
    if (rc == 0 && cmp && (rc = PACK_CSTR(pk, "compress")) == 0)
        rc = ((o->flags & SIO__BC_COMPRESS) ? msgpack_pack_true(pk) : msgpack_pack_false(pk))
                 ? SIO_ENOMEM
                 : 0;
    if (rc == 0 && tmo && (rc = PACK_CSTR(pk, "timeout")) == 0)
        rc = msgpack_pack_uint32(pk, o->timeout) ? SIO_ENOMEM : 0;
    return rc;
}

/* {rooms, except, flags}. */
static int pack_opts(msgpack_packer *pk, const sio__bopts *o)
{
    int rc = msgpack_pack_map(pk, 3) ? SIO_ENOMEM : 0;
    if (rc == 0 && (rc = PACK_CSTR(pk, "rooms")) == 0)
        rc = pack_strv(pk, o->rooms, o->nrooms);
    if (rc == 0 && (rc = PACK_CSTR(pk, "except")) == 0)
        rc = pack_strv(pk, o->except, o->nexcept);
    if (rc == 0 && (rc = PACK_CSTR(pk, "flags")) == 0)
        rc = pack_flags(pk, o);
    return rc;
}

int sio__renc_broadcast(sio__buf *out, const char *uid, const char *nsp, const char *event,
                        const sio_args *args, const sio__bopts *o)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, mp_write);
    int rc = msgpack_pack_array(&pk, 3) ? SIO_ENOMEM : PACK_CSTR(&pk, uid);
    if (rc == 0)
        rc = pack_packet(&pk, nsp, event, args);
    if (rc == 0)
        rc = pack_opts(&pk, o);
    return rc;
}

int sio__renc_broadcast_request(sio__buf *out, const char *uid, const char *request_id,
                                const char *nsp, const char *event, const sio_args *args,
                                const sio__bopts *o)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, mp_write);
    int rc = msgpack_pack_map(&pk, 5) ? SIO_ENOMEM : 0;
    if (rc == 0 && (rc = PACK_CSTR(&pk, "uid")) == 0)
        rc = PACK_CSTR(&pk, uid);
    if (rc == 0 && (rc = PACK_CSTR(&pk, "requestId")) == 0)
        rc = PACK_CSTR(&pk, request_id);
    if (rc == 0 && (rc = PACK_CSTR(&pk, "type")) == 0)
        rc = msgpack_pack_int(&pk, SIO__RT_BROADCAST) ? SIO_ENOMEM : 0;
    if (rc == 0 && (rc = PACK_CSTR(&pk, "packet")) == 0)
        rc = pack_packet(&pk, nsp, event, args);
    if (rc == 0 && (rc = PACK_CSTR(&pk, "opts")) == 0)
        rc = pack_opts(&pk, o);
    return rc;
}

int sio__renc_broadcast_ack(sio__buf *out, const char *request_id, const sio_args *ack_args)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, mp_write);
    int rc = msgpack_pack_map(&pk, 3) ? SIO_ENOMEM : 0;
    if (rc == 0 && (rc = PACK_CSTR(&pk, "type")) == 0)
        rc = msgpack_pack_int(&pk, SIO__RT_BROADCAST_ACK) ? SIO_ENOMEM : 0;
    if (rc == 0 && (rc = PACK_CSTR(&pk, "requestId")) == 0)
        rc = PACK_CSTR(&pk, request_id);
    if (rc == 0 && (rc = PACK_CSTR(&pk, "packet")) == 0) {
        const json_t *first = ack_args ? json_array_get(ack_args->arr, 0) : NULL;
        rc = first ? sio__msgpack_pack_value(&pk, first, ack_args->att, ack_args->natt)
                   : (msgpack_pack_nil(&pk) ? SIO_ENOMEM : 0);
    }
    return rc;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return sio__buf_append((sio__buf *)data, buffer, size) == 0 ? 0 : -1;
}

int sio__renc_json(sio__buf *out, const json_t *obj)
{
    size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17);
    return json_dump_callback(obj, dump_cb, out, flags) == 0 ? 0 : SIO_ENOMEM;
}

json_t *sio__rjson_request(const char *uid, const char *request_id, int type)
{
    json_t *o = json_pack("{s:s}", "uid", uid);
    if (o && request_id && json_object_set_new(o, "requestId", json_string(request_id)) < 0)
        goto fail;
    if (o && json_object_set_new(o, "type", json_integer(type)) < 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

json_t *sio__rjson_response(int type, const char *request_id)
{
    json_t *o = json_object();
    if (o && type >= 0 && json_object_set_new(o, "type", json_integer(type)) < 0)
        goto fail;
    if (o && json_object_set_new(o, "requestId", json_string(request_id)) < 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

json_t *sio__rjson_strings(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *sio__rjson_selector(const sio__bopts *o)
{
    return json_pack("{s:o,s:o}", "rooms", sio__rjson_strings(o->rooms, o->nrooms), "except",
                     sio__rjson_strings(o->except, o->nexcept));
}

/* {"type":"Buffer","data":[bytes]}: JSON.stringify of a Node Buffer. */
static json_t *buffer_json(const sio__rcbuf *b)
{
    json_t *bytes = json_array();
    for (size_t i = 0; bytes && i < b->len; i++)
        if (json_array_append_new(bytes, json_integer((unsigned char)b->data[i])) < 0) {
            json_decref(bytes);
            return NULL;
        }
    return json_pack("{s:s,s:o}", "type", "Buffer", "data", bytes);
}

json_t *sio__rjson_value(const json_t *v, sio__rcbuf *const *att, size_t natt)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < json_array_size(v); i++)
            if (json_array_append_new(a, sio__rjson_value(json_array_get(v, i), att, natt)) < 0) {
                json_decref(a);
                return NULL;
            }
        return a;
    }
    if (!json_is_object(v))
        return json_incref((json_t *)v);
    int num = sio__placeholder_num(v);
    if (num >= 0 && (size_t)num < natt)
        return buffer_json(att[num]);
    json_t *o = json_object();
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        if (o && json_object_set_new(o, key, sio__rjson_value(val, att, natt)) < 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}
