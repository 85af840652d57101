/* libFuzzer driver for the Socket.IO packet decoder.
 *
 * The input is split at 0xff bytes into Engine.IO messages; a message whose
 * first byte is 0xfe is fed as binary (the rest of it), others as text. Every
 * complete packet is re-encoded and decoded again: the codec must accept its
 * own output, and nothing may crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "socketio/sio_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encodes an event or ack packet and checks that it decodes again. */
static void reencode(const sio__packet *p, const sio__packet_limits *lim)
{
    int ack = p->type == SIO_PKT_ACK || p->type == SIO_PKT_BINARY_ACK;
    int ev = p->type == SIO_PKT_EVENT || p->type == SIO_PKT_BINARY_EVENT;
    if (!ack && !ev)
        return;
    json_t *args = p->data ? json_copy(p->data) : json_array();
    const char *event = NULL;
    char name[64];
    if (ev) {
        json_t *first = json_array_get(args, 0);
        if (!json_is_string(first))
            goto out;
        snprintf(name, sizeof name, "%s", json_string_value(first));
        if (strlen(name) != json_string_length(first))
            goto out;
        event = name;
        json_array_remove(args, 0);
    }
    sio__buf b;
    sio__buf_init(&b, 0);
    if (sio__packet_encode_args(&b, ack, p->nsp, p->id, event, args, p->nattach, NULL) == 0) {
        sio__packet *q = NULL;
        if (sio__packet_decode(b.data + 1, b.len - 1, lim, &q) != 0 || q->type != p->type)
            __builtin_trap();
        sio__packet_free(q);
    }
    sio__buf_free(&b);
out:
    json_decref(args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sio__packet_limits lim;
    sio__packet_limits_init(&lim);
    lim.max_binary_bytes = 4096;
    sio__decoder d;
    sio__decoder_init(&d, &lim);
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != 0xff)
            continue;
        const char *msg = (const char *)data + start;
        size_t len = i - start;
        int binary = len > 0 && data[start] == 0xfe;
        sio__packet *p = NULL;
        int rc = sio__decoder_add(&d, msg + binary, len - binary, binary, i, &p);
        if (rc == 1) {
            reencode(p, &lim);
            sio__packet_free(p);
        }
        start = i + 1;
    }
    sio__decoder_reset(&d);
    return 0;
}
