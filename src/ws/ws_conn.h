/* A server-side WebSocket connection (RFC 6455), sans-I/O: the library's
 * one WebSocket framer.
 *
 * Input: the caller feeds the bytes it read (sio__ws_conn_feed), which are
 * unmasked in place: frames are checked, text is validated as UTF-8,
 * fragmented messages are reassembled, pings are answered and close frames
 * handled here. Complete messages come out through on_message.
 *
 * Output has two sources, both made of whole frames:
 *  - control frames (pong, the close echo, error closes) and the close
 *    frame of sio__ws_conn_close land in the connection's output buffer
 *    (sio__ws_conn_output) while feed/close run;
 *  - data frames the caller builds itself with the frame builders below.
 *    Server frames are unmasked, so a frame's bytes are the same for every
 *    recipient: a broadcast is encoded once (sio__ws_frame_new) and shared.
 *
 * Ordering rule: every write to the output buffer is a complete frame, so
 * the caller may interleave control output and data frames in any order AT
 * FRAME BOUNDARIES: either append data frames to sio__ws_conn_output (one
 * stream, e.g. with sio__ws_conn_send), or keep its own queue of data frames
 * and write the control output between two of them, never inside one. Once
 * sio__ws_conn_wants_close() is 1, send no more data frames: a close frame
 * is in (or already went out of) the output, and nothing may follow it.
 *
 * Memory: an idle connection holds only its small struct; a read allocates
 * nothing. An incomplete frame waits in a tail buffer of at most
 * max_message + 14 bytes, the fragments of an open message in a message
 * buffer of at most max_message bytes (and max_fragments frames), and empty
 * buffers are freed (the output after sio__ws_conn_output_done or at the
 * next feed).
 *
 * Lifetime: callbacks run inside feed/close; they must not free the
 * connection (free it after feed returns). */
#ifndef SIO_WS_CONN_H
#define SIO_WS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rcbuf.h"
#include "ws/ws_frame.h"

/* Close codes of RFC 6455 section 7.4.1 that this module produces. */
enum {
    SIO_WS_CLOSE_NORMAL = 1000,
    SIO_WS_CLOSE_GOING_AWAY = 1001,
    SIO_WS_CLOSE_PROTOCOL_ERROR = 1002,
    SIO_WS_CLOSE_NO_STATUS = 1005,
    SIO_WS_CLOSE_ABNORMAL = 1006,
    SIO_WS_CLOSE_INVALID_DATA = 1007,
    SIO_WS_CLOSE_POLICY = 1008,
    SIO_WS_CLOSE_TOO_BIG = 1009,
    SIO_WS_CLOSE_INTERNAL_ERROR = 1011,
};

/* Frames one message may be made of, unless set otherwise. */
#define SIO_WS_DEFAULT_MAX_FRAGMENTS 1024

typedef struct sio__ws_conn sio__ws_conn;

typedef struct sio__ws_callbacks {
    /* A complete message; text is valid UTF-8 (invalid text fails the
     * connection with close 1007 and never reaches here). data is only
     * valid during the call. Not called once we started closing. */
    void (*on_message)(sio__ws_conn *c, int binary, const char *data, size_t len, void *data_);
    /* Reading is over, called once: the peer's close frame arrived (code
     * is its status, 1005 if it had none), or the connection failed (code
     * is the one we sent: 1002 protocol error, 1007 invalid UTF-8, 1008
     * too many fragments, 1009 message too big, 1011 out of memory; 1006
     * if our own close had already gone out). Not called by
     * sio__ws_conn_close itself. */
    void (*on_close)(sio__ws_conn *c, int code, void *data_);
} sio__ws_callbacks;

/* The connection's state. Its fields are private to ws_conn.c: the struct is
 * here only so that a caller can embed it (sio__ws_conn_init/fini) and save
 * an allocation per connection. 128 bytes. */
struct sio__ws_conn {
    const sio__ws_callbacks *cb;   /* the user's callbacks (NULL: none), not copied */
    void *data;                    /* passed back to every callback */
    sio__buf out;                  /* bytes for the peer, whole frames only */
    sio__buf tail;                 /* start of an incomplete frame (still masked) */
    sio__buf msg;                  /* payload of the open fragmented message */
    uint32_t max_message;          /* message limit (never 0); 32 bits keep the struct small */
    uint32_t max_fragments;        /* frame limit of one message (never 0) */
    uint32_t nfrags;               /* frames of the open fragmented message */
    uint16_t peer_code;            /* status of the peer's close; 0 until it came */
    uint8_t u8_need, u8_lo, u8_hi; /* UTF-8 validator: continuation bytes due, range
                                    * of the next one (carried across fragments) */
    unsigned frag_open : 1;        /* a data frame without FIN was handled */
    unsigned frag_binary : 1;      /* the open message is binary */
    unsigned we_closed : 1;        /* our close frame is in the output */
    unsigned done : 1;             /* reading is over and on_close was called */
};

/* New connection (after the 101 response went out). cb is NOT copied: it
 * must outlive the connection (a static table), or be NULL; data is
 * passed to the callbacks. max_message: messages longer than this fail the
 * connection with close 1009 before any of their payload is buffered (0
 * means 2^31-1; values above 2^32-1 are capped there).
 * NULL on out-of-memory. */
sio__ws_conn *sio__ws_conn_new(const sio__ws_callbacks *cb, void *data, size_t max_message);
/* Frees the connection and its unsent output. NULL is a no-op. */
void sio__ws_conn_free(sio__ws_conn *c);
/* The same as new/free for a connection embedded in the caller's own
 * struct: init cannot fail (nothing is allocated until input arrives);
 * fini frees what the connection holds, not c itself. */
void sio__ws_conn_init(sio__ws_conn *c, const sio__ws_callbacks *cb, void *data,
                       size_t max_message);
void sio__ws_conn_fini(sio__ws_conn *c);

/* Feeds received bytes (all are consumed, and unmasked in place: data is
 * scratch afterwards); callbacks run inside. Returns 0,
 * or a negative error after which the caller flushes the output and closes
 * the socket: SIO_EPROTO (protocol violation or invalid UTF-8), SIO_ELIMIT
 * (message too big, too many fragments), SIO_ENOMEM, SIO_ECLOSED (reading was already over:
 * the bytes are discarded, as section 5.5.1 allows after a close). A clean
 * close by the peer returns 0 with sio__ws_conn_wants_close() set. A frame
 * header is judged as soon as its bytes are in (bad framing, or a message
 * over max_message), before any of its payload is buffered. */
int sio__ws_conn_feed(sio__ws_conn *c, char *data, size_t len);

/* Frames one message may be made of (default SIO_WS_DEFAULT_MAX_FRAGMENTS;
 * 0 means 1): more fail the connection with close 1008. */
void sio__ws_conn_set_max_fragments(sio__ws_conn *c, uint32_t n);

/* The output buffer (control frames, plus data frames the caller appends).
 * The caller removes what it wrote with sio__buf_consume, or swaps the
 * whole sio__buf out for an empty one. Its `limit` may be set to cap it
 * (it survives the buffer's memory being freed). The pointer stays valid
 * for the connection's life; out->data may move at any feed/close. */
sio__buf *sio__ws_conn_output(sio__ws_conn *c);

/* The caller emptied the output buffer (out->len == 0): give its memory
 * back now rather than at the next feed. A no-op while bytes remain. */
void sio__ws_conn_output_done(sio__ws_conn *c);

/* 1 once a close frame was sent or received (or the connection failed):
 * send no more data, and close the socket once the output is flushed. */
int sio__ws_conn_wants_close(const sio__ws_conn *c);

/* Starts the closing handshake: appends a close frame with code (0 for
 * none) and reason (NULL, or at most 123 bytes of UTF-8) to the output.
 * Returns 0, SIO_EINVAL (reason too long, reason without code, or a code
 * that may not be sent such as 1005/1006), SIO_ECLOSED (a close frame was
 * already queued, sent or received), SIO_ENOMEM or SIO_ELIMIT (the output
 * buffer refused the frame: just close the socket). */
int sio__ws_conn_close(sio__ws_conn *c, int code, const char *reason);

/* Appends one data frame to the output buffer. SIO_ECLOSED once closing. */
int sio__ws_conn_send(sio__ws_conn *c, int binary, const void *payload, size_t len);

/* Test and measurement hooks. heap_bytes: what the connection holds
 * through our allocator (its struct and buffer capacities); equal to that
 * of a new connection when idle. engine_alive: 1 while a fragmented
 * message is open (its reassembly state lives). */
size_t sio__ws_conn_heap_bytes(const sio__ws_conn *c);
int sio__ws_conn_engine_alive(const sio__ws_conn *c);

/* Frame builders for data frames (FIN set, unmasked, server to client). */

/* Appends header + payload to out, all or nothing: 0, SIO_ENOMEM, SIO_ELIMIT. */
int sio__ws_frame_append(sio__buf *out, int binary, const void *payload, size_t len);
/* A whole frame in a shared buffer (refs = 1); NULL on out-of-memory. */
sio__rcbuf *sio__ws_frame_new(int binary, const void *payload, size_t len);
/* Writes the header for a len-byte payload into hdr and returns its size
 * (2, 4 or 10), for a writev of header + shared payload. */
size_t sio__ws_frame_header(char hdr[SIO_WS_FRAME_HEADER_MAX], int binary, size_t len);

#endif
