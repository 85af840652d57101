/* libFuzzer driver for the msgpack parser (socket.io-msgpack-parser
 * packets, src/socketio/sio_msgpack.c).
 *
 * The input is one binary Engine.IO message. A packet that decodes is
 * encoded again, which must decode to the same type, namespace and id and
 * encode to the same bytes (the attachment count may shrink: a binary value
 * under a repeated map key is dropped with its key): the codec accepts its own
 * output, and nothing may crash, leak or allocate beyond what the input's
 * size allows. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "socketio/sio_msgpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sio__packet_limits lim;
    sio__packet_limits_init(&lim);
    lim.max_binary_bytes = 4096;
    sio__packet *p = NULL;
    if (sio__msgpack_decode((const char *)data, size, &lim, &p) != 0)
        return 0;
    /* encode(decode(encode(p))) == encode(p): integral reals become
     * integers on the first encode (as notepack does), so the bytes, not
     * the JSON values, are what must be stable */
    sio__buf b1, b2;
    sio__buf_init(&b1, 0);
    sio__buf_init(&b2, 0);
    if (sio__msgpack_encode(&b1, p->type, p->nsp, p->id, p->data, p->att, p->nrecv) == 0) {
        sio__packet *q = NULL;
        if (sio__msgpack_decode(b1.data, b1.len, &lim, &q) != 0 || q->type != p->type ||
            q->id != p->id || strcmp(q->nsp, p->nsp) != 0)
            __builtin_trap();
        if (sio__msgpack_encode(&b2, q->type, q->nsp, q->id, q->data, q->att, q->nrecv) != 0 ||
            b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)
            __builtin_trap();
        sio__packet_free(q);
    }
    sio__buf_free(&b1);
    sio__buf_free(&b2);
    sio__packet_free(p);
    return 0;
}
