/* libFuzzer driver for the Redis adapter's message decoder.
 *
 * The first byte picks the decoder (even: a broadcast-channel message,
 * odd: a request or response), the rest is the message. Whatever decodes is
 * taken apart with every accessor the adapter uses and a broadcast is
 * encoded again and decoded back: bad msgpack, wrong types, huge declared
 * lengths and unknown request types must all end in an error code, never a
 * crash, a leak or a large allocation. Seeds: the golden vectors
 * (fuzz/corpus/fuzz_redis_msg). */
#include <stddef.h>
#include <stdint.h>

#include "adapter/redis_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void take_apart(const sio__rmsg *m, int bcast)
{
    const char *nsp, *event;
    sio_args *args = NULL;
    sio__bopts o;
    int ev = sio__rmsg_event(m, "packet", &nsp, &event, &args);
    int op = sio__rmsg_bopts(m, "opts", &o);
    if (ev == 0 && op == 0 && bcast) {
        sio__buf b;
        sio__buf_init(&b, 0);
        if (sio__renc_broadcast(&b, m->uid, nsp, event, args, &o) == 0) {
            sio__rmsg again;
            if (sio__rmsg_decode_broadcast(b.data, b.len, &again) != 0)
                __builtin_trap(); /* the codec must accept its own output */
            sio__rmsg_free(&again);
        }
        sio__buf_free(&b);
    }
    if (op == 0)
        sio__rbopts_fini(&o);
    sio_args_free(args);
    char **v;
    size_t n;
    if (sio__rmsg_strings(m, "rooms", &v, &n) == 0)
        sio__rstrv_free(v, n);
    if (sio__rmsg_args(m, "data", 1, &args) == 0) {
        json_t *plain = sio__rjson_value(args->arr, args->att, args->natt);
        json_decref(plain);
        sio_args_free(args);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int bcast = (data[0] & 1) == 0;
    sio__rmsg m;
    int rc = bcast ? sio__rmsg_decode_broadcast(data + 1, size - 1, &m)
                   : sio__rmsg_decode_request(data + 1, size - 1, &m);
    if (rc == 0) {
        take_apart(&m, bcast);
        sio__rmsg_free(&m);
    }
    return 0;
}
