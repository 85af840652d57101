/* Socket.IO v5 packet codec: see sio_packet.h.
 *
 * Decoding follows socket.io-parser's Decoder.decodeString step by step
 * (type, attachment count, namespace, ack id, payload, isPayloadValid) and
 * adds the bounds listed in the header. JSON goes through jansson after a
 * cheap pre-scan that rejects nesting deeper than the limit, so the parser
 * never recurses on hostile input. Integers too big for int64 are retried as
 * reals: JavaScript sends 1e20 as "100000000000000000000". */
#include "socketio/sio_packet.h"

#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

void sio__packet_limits_init(sio__packet_limits *l)
{
    l->max_attachments = 10;
    l->max_depth = 32;
    l->max_binary_bytes = 1000000;
    l->attachment_timeout = 10000;
}

void sio__packet_free(sio__packet *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < p->nrecv; i++)
        sio__rcbuf_unref(p->att[i]);
    sio__free(p->att);
    json_decref(p->data);
    sio__free(p->nsp);
    sio__free(p);
}

int sio__event_reserved(const char *name, size_t len)
{
    static const char *const reserved[] = {"connect",       "connect_error", "disconnect",
                                           "disconnecting", "newListener",   "removeListener"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strlen(reserved[i]) == len && memcmp(reserved[i], name, len) == 0)
            return 1;
    return 0;
}

/* Rejects JSON nested deeper than max (counting arrays and objects) without
 * parsing it; strings are skipped so brackets inside them do not count. */
static int json_depth_ok(const char *s, size_t len, unsigned max)
{
    unsigned depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > max)
                return 0;
        } else if ((c == ']' || c == '}') && depth > 0)
            depth--;
    }
    return 1;
}

/* Parses a whole JSON text; big integers fall back to reals (JS numbers). */
static json_t *parse_json(const char *s, size_t len, unsigned max_depth)
{
    if (!json_depth_ok(s, len, max_depth))
        return NULL;
    json_error_t err;
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *j = json_loadb(s, len, flags, &err);
    if (j == NULL && json_error_code(&err) == json_error_numeric_overflow)
        j = json_loadb(s, len, flags | JSON_DECODE_INT_AS_REAL, &err);
    return j;
}

/* socket.io-parser's isPayloadValid, stricter for EVENT: a payload is
 * required there (Node would dispatch an undefined event name). */
int sio__packet_payload_valid(int type, const json_t *data)
{
    switch (type) {
    case SIO_PKT_CONNECT:
        return data == NULL || json_is_object(data);
    case SIO_PKT_DISCONNECT:
        return data == NULL;
    case SIO_PKT_CONNECT_ERROR:
        return data == NULL || json_is_string(data) || json_is_object(data);
    case SIO_PKT_EVENT:
    case SIO_PKT_BINARY_EVENT: {
        const json_t *first = json_array_get(data, 0);
        if (!json_is_array(data) || first == NULL)
            return 0;
        if (json_is_number(first))
            return 1;
        return json_is_string(first) &&
               !sio__event_reserved(json_string_value(first), json_string_length(first));
    }
    case SIO_PKT_ACK:
    case SIO_PKT_BINARY_ACK:
        return data == NULL || json_is_array(data);
    default:
        return 0;
    }
}

/* Reads the "<n>-" attachment count of a BINARY_* packet at *i. */
static int decode_attachments(const char *msg, size_t len, size_t *i, const sio__packet_limits *lim,
                              unsigned *out)
{
    uint64_t n = 0;
    size_t start = *i;
    while (*i < len && msg[*i] >= '0' && msg[*i] <= '9') {
        n = n * 10 + (uint64_t)(msg[*i] - '0');
        if (n > lim->max_attachments)
            return SIO_EPROTO; /* "too many attachments" */
        (*i)++;
    }
    if (*i == start || *i >= len || msg[*i] != '-' || n == 0)
        return SIO_EPROTO; /* "Illegal attachments" (and zero: never completes) */
    (*i)++;
    *out = (unsigned)n;
    return 0;
}

/* Reads an optional "/nsp," at *i (up to a ',' or the end, like Node). */
static int decode_nsp(const char *msg, size_t len, size_t *i, char **out)
{
    if (*i < len && msg[*i] == '/') {
        size_t start = *i;
        while (*i < len && msg[*i] != ',')
            (*i)++;
        *out = sio__strndup(msg + start, *i - start);
        if (*i < len)
            (*i)++;
    } else {
        *out = sio__strdup("/");
    }
    return *out ? 0 : SIO_ENOMEM;
}

/* Reads an optional ack id at *i; ids past SIO_ACK_ID_MAX are errors. */
static int decode_id(const char *msg, size_t len, size_t *i, int64_t *out)
{
    *out = -1;
    if (*i >= len || msg[*i] < '0' || msg[*i] > '9')
        return 0;
    int64_t id = 0;
    while (*i < len && msg[*i] >= '0' && msg[*i] <= '9') {
        id = id * 10 + (msg[*i] - '0');
        if (id > SIO_ACK_ID_MAX)
            return SIO_EPROTO;
        (*i)++;
    }
    *out = id;
    return 0;
}

static int decode_body(sio__packet *p, const char *msg, size_t len, const sio__packet_limits *lim)
{
    size_t i = 1;
    int rc;
    if (p->type == SIO_PKT_BINARY_EVENT || p->type == SIO_PKT_BINARY_ACK) {
        if ((rc = decode_attachments(msg, len, &i, lim, &p->nattach)) < 0)
            return rc;
    }
    if ((rc = decode_nsp(msg, len, &i, &p->nsp)) < 0)
        return rc;
    if ((rc = decode_id(msg, len, &i, &p->id)) < 0)
        return rc;
    if (i < len) {
        p->data = parse_json(msg + i, len - i, lim->max_depth);
        if (p->data == NULL)
            return SIO_EPROTO;
    }
    if (!sio__packet_payload_valid(p->type, p->data))
        return SIO_EPROTO;
    if (p->nattach > 0) {
        if (sio__packet_check_placeholders(p->data, p->nattach) < 0)
            return SIO_EPROTO;
        p->att = sio__calloc(p->nattach, sizeof *p->att);
        if (p->att == NULL)
            return SIO_ENOMEM;
    }
    return 0;
}

int sio__packet_decode(const char *msg, size_t len, const sio__packet_limits *lim,
                       sio__packet **out)
{
    *out = NULL;
    if (len == 0 || msg[0] < '0' || msg[0] > '6')
        return SIO_EPROTO; /* "unknown packet type" */
    sio__packet *p = sio__calloc(1, sizeof *p);
    if (p == NULL)
        return SIO_ENOMEM;
    p->type = msg[0] - '0';
    int rc = decode_body(p, msg, len, lim);
    if (rc < 0) {
        sio__packet_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int sio__placeholder_num(const json_t *node)
{
    if (!json_is_object(node) || !json_is_true(json_object_get(node, "_placeholder")))
        return -1;
    const json_t *num = json_object_get(node, "num");
    if (!json_is_integer(num) || json_integer_value(num) < 0 ||
        json_integer_value(num) > 0x7fffffff)
        return -2;
    return (int)json_integer_value(num);
}

int sio__packet_check_placeholders(const json_t *data, unsigned nattach)
{
    if (json_is_array(data)) {
        for (size_t k = 0; k < json_array_size(data); k++)
            if (sio__packet_check_placeholders(json_array_get(data, k), nattach) < 0)
                return SIO_EPROTO;
        return 0;
    }
    if (!json_is_object(data))
        return 0;
    int num = sio__placeholder_num(data);
    if (num >= 0)
        return (unsigned)num < nattach ? 0 : SIO_EPROTO;
    if (num == -2)
        return SIO_EPROTO; /* socket.io-parser: "illegal attachments" */
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)data, key, v)
    {
        if (sio__packet_check_placeholders(v, nattach) < 0)
            return SIO_EPROTO;
    }
    return 0;
}

void sio__decoder_init(sio__decoder *d, const sio__packet_limits *lim)
{
    d->lim = lim;
    d->pending = NULL;
    d->pending_bytes = 0;
    d->deadline = UINT64_MAX;
}

void sio__decoder_reset(sio__decoder *d)
{
    sio__packet_free(d->pending);
    d->pending = NULL;
    d->pending_bytes = 0;
    d->deadline = UINT64_MAX;
}

uint64_t sio__decoder_deadline(const sio__decoder *d)
{
    return d->pending ? d->deadline : UINT64_MAX;
}

/* Takes one attachment for the pending packet; 1 when it completes. */
static int add_attachment(sio__decoder *d, const char *msg, size_t len, sio__packet **out)
{
    sio__packet *p = d->pending;
    if (len > d->lim->max_binary_bytes - d->pending_bytes) {
        sio__decoder_reset(d);
        return SIO_ELIMIT;
    }
    sio__rcbuf *b = sio__rcbuf_new(msg, len);
    if (b == NULL) {
        sio__decoder_reset(d);
        return SIO_ENOMEM;
    }
    p->att[p->nrecv++] = b;
    d->pending_bytes += len;
    if (p->nrecv < p->nattach)
        return 0;
    *out = p;
    d->pending = NULL;
    sio__decoder_reset(d);
    return 1;
}

int sio__decoder_add(sio__decoder *d, const char *msg, size_t len, int binary, uint64_t now,
                     sio__packet **out)
{
    *out = NULL;
    if (binary) {
        if (d->pending == NULL)
            return SIO_EPROTO; /* "got binary data when not reconstructing a packet" */
        return add_attachment(d, msg, len, out);
    }
    if (d->pending != NULL) {
        sio__decoder_reset(d);
        return SIO_EPROTO; /* "got plaintext data when reconstructing a packet" */
    }
    sio__packet *p;
    int rc = sio__packet_decode(msg, len, d->lim, &p);
    if (rc < 0)
        return rc;
    if (p->nattach == 0) {
        *out = p;
        return 1;
    }
    d->pending = p;
    d->pending_bytes = 0;
    d->deadline = now + d->lim->attachment_timeout;
    return 0;
}

int sio__packet_encode_head(sio__buf *out, int type, unsigned nattach, const char *nsp, int64_t id)
{
    int rc = sio__buf_append_byte(out, '4');
    if (rc == 0)
        rc = sio__buf_append_byte(out, (char)('0' + type));
    if (rc == 0 && nattach > 0)
        rc = sio__buf_appendf(out, "%u-", nattach);
    if (rc == 0 && nsp != NULL && strcmp(nsp, "/") != 0)
        rc = sio__buf_appendf(out, "%s,", nsp);
    if (rc == 0 && id >= 0)
        rc = sio__buf_append_u64(out, (uint64_t)id);
    return rc;
}

/* jansson dump callback appending into a sio__buf. */
static int dump_cb(const char *buffer, size_t size, void *data)
{
    return sio__buf_append((sio__buf *)data, buffer, size) == 0 ? 0 : -1;
}

/* Appends one JSON value in JSON.stringify's compact form. */
static int dump_json(sio__buf *out, const json_t *j)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17);
    return json_dump_callback(j, dump_cb, out, flags) == 0 ? 0 : SIO_ENOMEM;
}

int sio__packet_encode_json(sio__buf *out, int type, const char *nsp, const json_t *data)
{
    int rc = sio__packet_encode_head(out, type, 0, nsp, -1);
    if (rc == 0 && data != NULL)
        rc = dump_json(out, data);
    return rc;
}

/* Appends a JSON string literal for s. */
static int dump_string(sio__buf *out, const char *s)
{
    json_t *j = json_string(s);
    if (j == NULL)
        return SIO_EINVAL; /* not UTF-8 (or no memory) */
    int rc = dump_json(out, j);
    json_decref(j);
    return rc;
}

int sio__packet_encode_args(sio__buf *out, int ack, const char *nsp, int64_t id, const char *event,
                            const json_t *args, unsigned nattach, const char *offset)
{
    int type = ack ? (nattach ? SIO_PKT_BINARY_ACK : SIO_PKT_ACK)
                   : (nattach ? SIO_PKT_BINARY_EVENT : SIO_PKT_EVENT);
    int rc = sio__packet_encode_head(out, type, nattach, nsp, id);
    if (rc == 0)
        rc = sio__buf_append_byte(out, '[');
    int first = 1;
    if (rc == 0 && event != NULL) {
        rc = dump_string(out, event);
        first = 0;
    }
    for (size_t k = 0; rc == 0 && k < json_array_size(args); k++) {
        if (!first)
            rc = sio__buf_append_byte(out, ',');
        if (rc == 0)
            rc = dump_json(out, json_array_get(args, k));
        first = 0;
    }
    if (rc == 0 && offset != NULL) {
        if (!first)
            rc = sio__buf_append_byte(out, ',');
        if (rc == 0)
            rc = dump_string(out, offset);
    }
    if (rc == 0)
        rc = sio__buf_append_byte(out, ']');
    return rc;
}
