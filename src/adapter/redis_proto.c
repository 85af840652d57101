/* The Redis adapter's wire protocol: channel names and the msgpack / JSON
 * messages of @socket.io/redis-adapter 8.3. See redis_proto.h.
 *
 * msgpack is msgpack-c (unpack into a zone, pack through a writer); this
 * file only maps its objects to and from jansson trees, where a msgpack
 * bin becomes a Socket.IO placeholder plus an attachment. msgpack-c sizes
 * its allocations from the lengths the message declares, so a bounds walk
 * (mp_check) refuses a message whose containers or strings claim more
 * bytes than it has before msgpack-c sees it: a 5-byte message cannot make
 * it allocate gigabytes. */
#include "adapter/redis_proto.h"

#include <math.h>
#include <msgpack.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "socketio/sio_packet.h"

/* ---- channels */

static char *join3(const char *a, const char *b, const char *c, const char *d)
{
    sio_buf s;
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

int sio__rchan_broadcast(const sio__rchan *c, char *const *rooms, size_t nrooms, sio_buf *out)
{
    int rc = sio__buf_append_str(out, c->bcast);
    if (rc == 0 && nrooms == 1)
        rc = sio__buf_appendf(out, "%s#", rooms[0]);
    return rc;
}

int sio__rchan_room(const sio__rchan *c, sio_slice channel, sio_slice *room)
{
    size_t plen = strlen(c->bcast);
    if (channel.len < plen || memcmp(channel.base, c->bcast, plen) != 0)
        return SIO_EPROTO;
    /* Node: channel.slice(prefix.length, -1), the trailing '#' dropped. */
    if (channel.len == plen) {
        *room = (sio_slice){channel.base + plen, 0};
        return 0;
    }
    if (channel.base[channel.len - 1] != '#')
        return SIO_EPROTO;
    *room = (sio_slice){channel.base + plen, channel.len - plen - 1};
    return 0;
}

int sio__rchan_response_to(const sio__rchan *c, int specific, const char *uid, sio_buf *out)
{
    if (!specific)
        return sio__buf_append_str(out, c->response);
    return sio__buf_appendf(out, "%s%s#", c->response, uid);
}

/* ---- msgpack bounds walk */

/* Big-endian unsigned of n bytes (1, 2 or 4). */
static uint32_t be(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static size_t mp_value(const uint8_t *p, const uint8_t *e, unsigned depth);

/* n values (or n key/value pairs: n doubled by the caller) after head bytes. */
static size_t mp_items(const uint8_t *p, const uint8_t *e, size_t head, uint64_t n, unsigned depth)
{
    if (depth >= SIO__REDIS_MAX_DEPTH || (size_t)(e - p) < head || n > (uint64_t)(e - p - head))
        return 0;
    const uint8_t *q = p + head;
    for (uint64_t i = 0; i < n; i++) {
        size_t k = mp_value(q, e, depth + 1);
        if (k == 0)
            return 0;
        q += k;
    }
    return (size_t)(q - p);
}

/* A value of fixed size, or one of head bytes then len bytes. */
static size_t mp_sized(const uint8_t *p, const uint8_t *e, size_t head, uint64_t len)
{
    size_t avail = (size_t)(e - p);
    return avail >= head && len <= avail - head ? head + (size_t)len : 0;
}

/* Length of a length-prefixed value (str, bin, ext) with an n-byte length. */
static size_t mp_lenpfx(const uint8_t *p, const uint8_t *e, int n, int ext)
{
    if (e - p < 1 + n)
        return 0;
    return mp_sized(p, e, 1 + (size_t)n + (size_t)ext, be(p + 1, n));
}

/* Bytes of the msgpack value at p, 0 if malformed or past e. */
static size_t mp_value(const uint8_t *p, const uint8_t *e, unsigned depth)
{
    if (p >= e)
        return 0;
    uint8_t b = *p;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 1;
    if (b >= 0x80 && b <= 0x8f)
        return mp_items(p, e, 1, 2u * (b & 0x0f), depth);
    if (b >= 0x90 && b <= 0x9f)
        return mp_items(p, e, 1, b & 0x0f, depth);
    if (b >= 0xa0 && b <= 0xbf)
        return mp_sized(p, e, 1, b & 0x1f);
    switch (b) {
    case 0xc4: case 0xd9: return mp_lenpfx(p, e, 1, 0);
    case 0xc5: case 0xda: return mp_lenpfx(p, e, 2, 0);
    case 0xc6: case 0xdb: return mp_lenpfx(p, e, 4, 0);
    case 0xc7: return mp_lenpfx(p, e, 1, 1);
    case 0xc8: return mp_lenpfx(p, e, 2, 1);
    case 0xc9: return mp_lenpfx(p, e, 4, 1);
    case 0xca: case 0xce: case 0xd2: return mp_sized(p, e, 5, 0);
    case 0xcb: case 0xcf: case 0xd3: return mp_sized(p, e, 9, 0);
    case 0xcc: case 0xd0: return mp_sized(p, e, 2, 0);
    case 0xcd: case 0xd1: return mp_sized(p, e, 3, 0);
    case 0xd4: return mp_sized(p, e, 3, 0);
    case 0xd5: return mp_sized(p, e, 4, 0);
    case 0xd6: return mp_sized(p, e, 6, 0);
    case 0xd7: return mp_sized(p, e, 10, 0);
    case 0xd8: return mp_sized(p, e, 18, 0);
    case 0xdc: return e - p >= 3 ? mp_items(p, e, 3, be(p + 1, 2), depth) : 0;
    case 0xdd: return e - p >= 5 ? mp_items(p, e, 5, be(p + 1, 4), depth) : 0;
    case 0xde: return e - p >= 3 ? mp_items(p, e, 3, 2ull * be(p + 1, 2), depth) : 0;
    case 0xdf: return e - p >= 5 ? mp_items(p, e, 5, 2ull * be(p + 1, 4), depth) : 0;
    default: return 0; /* 0xc1: never used */
    }
}

/* ---- msgpack -> JSON */

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

/* Keeps bytes as attachment k of m; returns the placeholder for it. */
static json_t *bin_placeholder(sio__rmsg *m, const char *p, size_t len)
{
    if (m->natt >= 0x7fffffff)
        return NULL;
    if (m->natt == m->catt) {
        size_t ncap = m->catt ? m->catt * 2 : 2;
        sio_rcbuf **n = sio__realloc(m->att, ncap * sizeof *n);
        if (n == NULL)
            return NULL;
        m->att = n;
        m->catt = ncap;
    }
    sio_rcbuf *b = sio__rcbuf_new(p, len);
    json_t *ph = b ? json_pack("{s:b,s:I}", "_placeholder", 1, "num", (json_int_t)m->natt) : NULL;
    if (ph == NULL) {
        sio__rcbuf_unref(b);
        return NULL;
    }
    m->att[m->natt++] = b;
    return ph;
}

static json_t *mp_to_json(const msgpack_object *o, sio__rmsg *m);

static json_t *mp_array(const msgpack_object_array *a, sio__rmsg *m)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; arr && i < a->size; i++) {
        json_t *v = mp_to_json(&a->ptr[i], m);
        if (v == NULL || json_array_append_new(arr, v) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *mp_map(const msgpack_object_map *mp, sio__rmsg *m)
{
    json_t *obj = json_object();
    for (uint32_t i = 0; obj && i < mp->size; i++) {
        const msgpack_object *k = &mp->ptr[i].key;
        json_t *v = NULL;
        if (k->type == MSGPACK_OBJECT_STR)
            v = mp_to_json(&mp->ptr[i].val, m);
        const char *kp = k->via.str.size ? k->via.str.ptr : "";
        if (v == NULL || json_object_setn_new(obj, kp, k->via.str.size, v) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/* A JavaScript number: integers that fit stay integers. */
static json_t *js_number(double d)
{
    if (!isfinite(d))
        return json_null(); /* NaN, Infinity: JSON.stringify writes null */
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
        return json_integer((json_int_t)d);
    return json_real(d);
}

/* NULL on a malformed value (non-string key, bad UTF-8) or OOM. */
static json_t *mp_to_json(const msgpack_object *o, sio__rmsg *m)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 <= INT64_MAX ? json_integer((json_int_t)o->via.u64)
                                       : json_real((double)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return js_number(o->via.f64);
    case MSGPACK_OBJECT_STR: /* msgpack-c gives a NULL pointer for "" */
        return json_stringn(o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
    case MSGPACK_OBJECT_BIN: return bin_placeholder(m, o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY: return mp_array(&o->via.array, m);
    case MSGPACK_OBJECT_MAP: return mp_map(&o->via.map, m);
    default: return json_null(); /* ext: undefined and Date in notepack */
    }
}

/* Unpacks one msgpack value filling the whole message into m->obj. */
static int mp_decode(const void *data, size_t len, sio__rmsg *m)
{
    const uint8_t *p = data;
    if (len == 0 || mp_value(p, p + len, 0) != len)
        return SIO_EPROTO;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = SIO_EPROTO;
    msgpack_unpack_return r = msgpack_unpack_next(&u, data, len, &off);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)
        rc = SIO_ENOMEM;
    else if (r == MSGPACK_UNPACK_SUCCESS && off == len) {
        m->obj = mp_to_json(&u.data, m);
        rc = m->obj ? 0 : SIO_EPROTO;
    }
    msgpack_unpacked_destroy(&u);
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
    if (rc == 0 && (!json_is_array(a) || json_array_size(a) != 3 ||
                    !json_is_string(json_array_get(a, 0)) ||
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
        o->timeout = json_number_value(t) < UINT32_MAX ? (uint32_t)json_number_value(t) : UINT32_MAX;
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
    return sio__buf_append((sio_buf *)data, buf, len) == 0 ? 0 : -1;
}

static int pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    return msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, s, len) ? SIO_ENOMEM : 0;
}

#define PACK_CSTR(pk, s) pack_str((pk), (s), strlen(s))

/* notepack's number encoding: integral values as msgpack integers in the
 * smallest form, others as float 64. */
static int pack_number(msgpack_packer *pk, const json_t *v)
{
    double d = json_number_value(v);
    if (json_is_integer(v))
        return msgpack_pack_int64(pk, json_integer_value(v)) ? SIO_ENOMEM : 0;
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
        return msgpack_pack_int64(pk, (int64_t)d) ? SIO_ENOMEM : 0;
    return msgpack_pack_double(pk, d) ? SIO_ENOMEM : 0;
}

static int pack_json(msgpack_packer *pk, const json_t *v, const sio_args *args);

static int pack_object(msgpack_packer *pk, const json_t *v, const sio_args *args)
{
    int num = args ? sio__placeholder_num(v) : -1;
    if (num >= 0 && (size_t)num < args->natt) {
        const sio_rcbuf *b = args->att[num];
        return msgpack_pack_bin(pk, b->len) || msgpack_pack_bin_body(pk, b->data, b->len)
                   ? SIO_ENOMEM : 0;
    }
    if (msgpack_pack_map(pk, json_object_size(v)))
        return SIO_ENOMEM;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        int rc = PACK_CSTR(pk, key);
        if (rc == 0)
            rc = pack_json(pk, val, args);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int pack_array(msgpack_packer *pk, const json_t *v, size_t from, const sio_args *args)
{
    size_t n = json_array_size(v);
    for (size_t i = from; i < n; i++) {
        int rc = pack_json(pk, json_array_get(v, i), args);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A JSON value (placeholders of args become bin). */
static int pack_json(msgpack_packer *pk, const json_t *v, const sio_args *args)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return pack_object(pk, v, args);
    case JSON_ARRAY:
        return msgpack_pack_array(pk, json_array_size(v)) ? SIO_ENOMEM : pack_array(pk, v, 0, args);
    case JSON_STRING: return pack_str(pk, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL: return pack_number(pk, v);
    case JSON_TRUE: return msgpack_pack_true(pk) ? SIO_ENOMEM : 0;
    case JSON_FALSE: return msgpack_pack_false(pk) ? SIO_ENOMEM : 0;
    default: return msgpack_pack_nil(pk) ? SIO_ENOMEM : 0;
    }
}

/* {type: 2, data: [event, ...args], nsp}. */
static int pack_packet(msgpack_packer *pk, const char *nsp, const char *event, const sio_args *args)
{
    size_t n = json_array_size(args->arr);
    int rc = msgpack_pack_map(pk, 3) ? SIO_ENOMEM : 0;
    if (rc == 0 && (rc = PACK_CSTR(pk, "type")) == 0)
        rc = msgpack_pack_int(pk, SIO_PKT_EVENT) ? SIO_ENOMEM : 0;
    if (rc == 0 && (rc = PACK_CSTR(pk, "data")) == 0)
        rc = msgpack_pack_array(pk, n + 1) ? SIO_ENOMEM : PACK_CSTR(pk, event);
    if (rc == 0)
        rc = pack_array(pk, args->arr, 0, args);
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
                 ? SIO_ENOMEM : 0;
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

int sio__renc_broadcast(sio_buf *out, const char *uid, const char *nsp, const char *event,
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

int sio__renc_broadcast_request(sio_buf *out, const char *uid, const char *request_id,
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

int sio__renc_broadcast_ack(sio_buf *out, const char *request_id, const sio_args *ack_args)
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
        rc = first ? pack_json(&pk, first, ack_args) : (msgpack_pack_nil(&pk) ? SIO_ENOMEM : 0);
    }
    return rc;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return sio__buf_append((sio_buf *)data, buffer, size) == 0 ? 0 : -1;
}

int sio__renc_json(sio_buf *out, const json_t *obj)
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
static json_t *buffer_json(const sio_rcbuf *b)
{
    json_t *bytes = json_array();
    for (size_t i = 0; bytes && i < b->len; i++)
        if (json_array_append_new(bytes, json_integer((unsigned char)b->data[i])) < 0) {
            json_decref(bytes);
            return NULL;
        }
    return json_pack("{s:s,s:o}", "type", "Buffer", "data", bytes);
}

json_t *sio__rjson_value(const json_t *v, sio_rcbuf *const *att, size_t natt)
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
    json_object_foreach((json_t *)v, key, val) {
        if (o && json_object_set_new(o, key, sio__rjson_value(val, att, natt)) < 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}
