/* WebSocket frame codec (RFC 6455 section 5.2), sans-I/O and stateless:
 * the one place that knows how a frame header is laid out.
 *
 * It encodes a header for either role (a server's unmasked frame, a
 * client's masked one), parses one header from the bytes received so far,
 * and masks or unmasks a payload in place. It judges nothing: which frames
 * are acceptable (RSV bits, masking by role, control frame sizes, the
 * shortest length encoding, limits) is the caller's rule. ws_conn.c, the
 * server-side connection, checks RFC 6455's rules on top of it; the load
 * generator and the floor server in bench/ use it as they are.
 *
 * Nothing here allocates: a header is encoded into a caller's array, and
 * parsing reads the bytes where they lie. */
#ifndef SIO_WS_FRAME_H
#define SIO_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Opcodes (section 5.2). */
#define SIO_WS_OP_CONT 0x0
#define SIO_WS_OP_TEXT 0x1
#define SIO_WS_OP_BINARY 0x2
#define SIO_WS_OP_CLOSE 0x8
#define SIO_WS_OP_PING 0x9
#define SIO_WS_OP_PONG 0xA

/* The FIN bit of a header's first byte. */
#define SIO_WS_FIN 0x80u

/* Longest unmasked header (a server's): 2 bytes + 8-byte extended length. */
#define SIO_WS_FRAME_HEADER_MAX 10
/* Longest header of all: a masked one carries a 4-byte key more. */
#define SIO_WS_HDR_MAX 14

/* How much of a header sio__ws_hdr_parse found, in the order the bytes
 * tell it. */
enum {
    SIO_WS_HDR_NEED = 0, /* fewer than 2 bytes: nothing is known */
    SIO_WS_HDR_BASE = 1, /* b0 and b1 (FIN, RSV, opcode, MASK, 7-bit length) */
    SIO_WS_HDR_LEN = 2,  /* the payload length too (extended length in) */
    SIO_WS_HDR_WHOLE = 3 /* the whole header, mask key included */
};

/* One frame header as parsed. */
typedef struct sio__ws_hdr {
    unsigned b0;  /* FIN, RSV1-3, opcode (the first byte) */
    unsigned b1;  /* MASK and the 7-bit length (the second byte) */
    uint64_t len; /* payload length: valid from SIO_WS_HDR_LEN on */
    size_t size;  /* header bytes, mask key included: 2 until b1 is known */
} sio__ws_hdr;

/* Fields of a parsed header. */
#define SIO_WS_HDR_FIN(h) (((h)->b0 & SIO_WS_FIN) != 0)
#define SIO_WS_HDR_OPCODE(h) ((h)->b0 & 0x0Fu)
#define SIO_WS_HDR_RSV(h) ((h)->b0 & 0x70u)
#define SIO_WS_HDR_MASKED(h) (((h)->b1 & 0x80u) != 0)

/* Decodes what the first n bytes at p hold of a frame header into h and
 * says how much that is (SIO_WS_HDR_*). The mask key of a whole masked
 * header is its last 4 bytes: p + h->size - 4. Never fails: an extended
 * length that wastes bytes or sets bit 63 is reported as it is. */
int sio__ws_hdr_parse(const unsigned char *p, size_t n, sio__ws_hdr *h);

/* Writes the header of a frame with first byte b0 (SIO_WS_FIN | opcode,
 * RSV bits as given) and a len-byte payload into out, the shortest length
 * encoding, masked with key when key is not NULL (a client's frame, 5.3).
 * out has room for SIO_WS_HDR_MAX bytes, or SIO_WS_FRAME_HEADER_MAX when
 * key is NULL. Returns the size: 2, 4 or 10 bytes, 4 more when masked. */
size_t sio__ws_hdr_encode(unsigned char *out, unsigned b0, uint64_t len, const unsigned char *key);

/* Masks or unmasks (the same XOR, 5.3) n payload bytes at p in place with
 * the 4-byte key, p being the payload's start. */
void sio__ws_mask(unsigned char *p, size_t n, const unsigned char key[4]);

#endif
