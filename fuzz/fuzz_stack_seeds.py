#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_stack.c into fuzz/corpus/fuzz_stack/.

Each seed is a real session in the driver's record format (see the top of
fuzz_stack.c): records separated by 0xC0 0xC1, each a command byte (bits
0-1 connection, bits 2-4 operation) and a payload. Run it again after
changing the format; the files it writes are committed."""
import os
import sys

SEP = b"\xc0\xc1"
RAW, PIECES, WS, POST, GET, UPGRADE, TIME, OTHER = range(8)


def rec(op, payload=b"", conn=0):
    if isinstance(payload, str):
        payload = payload.encode()
    return bytes([conn | op << 2]) + payload


def ws(text, conn=0, opcode=1, flags=0):
    if isinstance(text, str):
        text = text.encode()
    return rec(WS, bytes([opcode | flags]) + text, conn)


def ms(n):
    n //= 10
    return rec(TIME, bytes([n & 255, n >> 8]))


def action(n):
    return rec(OTHER, bytes([0x80 | n]))


def close(conn=0, half=False):
    return rec(OTHER, bytes([1 if half else 0]), conn)


SEEDS = {
    # polling: handshake, CONNECT, events with and without ack, a long poll
    "polling_connect_event": [
        rec(GET, b"\x00"), rec(POST, "40"), rec(GET, b"\x01"),
        rec(POST, '42["echo","hi"]'), rec(GET, b"\x01"),
        rec(POST, '421["ack",{"a":[1,2]}]\x1e42["join","r1"]'), rec(GET, b"\x01"),
        rec(GET, b"\x01", 1), rec(POST, "3", 2), ms(2500), rec(GET, b"\x01"),
    ],
    # WebSocket directly: CONNECT, events, an ack, a server question whose
    # ack times out, a ping answer, a close frame
    "ws_connect_event_ack": [
        rec(UPGRADE, b"\x00"), ws("40"), ws('42["echo",1,"two",{"x":null}]'),
        ws('421["ack","a"]'), ws('42["ask","q"]'), ms(600), ws("3"),
        ws('42["bcast","all","to everyone"]'), ws('42["forbidden"]'),
        ws('42["later",1]'), ws('423["later",2]'), ms(100),
        ws(b"\x03\xe8", opcode=8),
    ],
    # a binary event and a binary ack over WebSocket
    "ws_binary": [
        rec(UPGRADE, b"\x00"), ws("40"),
        ws('451-["echo",{"_placeholder":true,"num":0}]'), ws(b"\x00\x01\xff", opcode=2),
        ws('452-3["ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'),
        ws(b"ab", opcode=2), ws(b"cd", opcode=2), ws('425["bin"]'), ws('42["bin"]'),
    ],
    # polling session upgraded to WebSocket on a second connection
    "polling_upgrade": [
        rec(GET, b"\x00"), rec(POST, "40"), rec(GET, b"\x01"),
        rec(UPGRADE, b"\x01", 1), ws("2probe", 1), rec(GET, b"\x01"), ws("5", 1),
        ws('42["echo","upgraded"]', 1), rec(GET, b"\x01"), ms(3000),
    ],
    # namespaces: deferred middleware, dynamic ones, a refused CONNECT, a
    # namespace disconnect, a fragmented message
    "namespaces": [
        rec(UPGRADE, b"\x00"), ws("40/admin,"), ms(10), ws('40/dyn-1,{"token":"x"}'),
        ws('40/dyn-2,{"token":"bad"}'), ws('42/dyn-1,["echo","d"]'), ws("41/dyn-1,"),
        ws('40{"room":"kick"}'), ws('42["bye",false]'), ws("40"),
        ws('42["ech', flags=0x10), ws('o","frag"]', opcode=0), ws('42["bye",true]'),
    ],
    # connection state recovery: a kept packet, a lost transport, a restore
    "recovery": [
        rec(UPGRADE, b"\x00"), ws("40"), action(0), action(2), close(),
        rec(UPGRADE, b"\x00", 1), ws('40{"pid":"$PID","offset":"1"}', 1),
        ws('42["echo","back"]', 1), ms(6000),
    ],
    # raw HTTP: pipelined requests, chunked body, CORS preflight, a bad
    # WebSocket version, a bad session, an unknown transport, HEAD
    "raw_http": [
        rec(RAW, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /form HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5;ext=1\r\nhello\r\n0\r\n\r\n"
                 "HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        rec(RAW, "OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
                 "Origin: http://a.example\r\nAccess-Control-Request-Method: POST\r\n\r\n", 1),
        rec(RAW, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 2),
        rec(RAW, "GET /socket.io/?EIO=4&transport=polling&sid=nope HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /socket.io/?EIO=3&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /socket.io/?EIO=4&transport=flash HTTP/1.1\r\nHost: x\r\n\r\n", 3),
        ms(6000),
    ],
    # the server's own work: broadcast with acks, volatile, room
    # disconnect, fetchSockets, then a shutdown with clients on both
    # transports
    "server_actions": [
        rec(UPGRADE, b"\x00"), ws("40"), rec(GET, b"\x00", 1), rec(POST, "40", 2),
        rec(GET, b"\x01", 3), action(1), ws('43["pong"]'), action(2), action(4), action(5),
        action(3), ms(400), ws("40"), action(7), ws('42["echo"]'),
    ],
    # bytes in small pieces, and half-closes
    "pieces": [
        rec(PIECES, b"\x02GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"),
        rec(POST, "40", 1),
        rec(PIECES, b"\x04POST /socket.io/?EIO=4&transport=polling&sid=$SID HTTP/1.1\r\n"
                    b"Host: x\r\nContent-Length: 11\r\n\r\n42[\"echo\"]", 2), close(1, True),
        rec(GET, b"\x01", 1), close(0, True), ms(1000),
    ],
    # regressions: a broadcast with acks pending while its dynamic
    # namespace is cleaned up (use after free in the callback), and while
    # the server shuts down (leaked, then fired on freed memory)
    "regress_bcack_dyn_cleanup": [
        rec(UPGRADE, b"\x00"), ws("40/dyn-1,"), ws('42/dyn-1,["bcack"]'), ws("41/dyn-1,"),
        ms(400),
    ],
    "regress_bcack_shutdown": [
        rec(UPGRADE, b"\x00"), ws("40"), rec(GET, b"\x00", 1), rec(POST, "40", 1), action(1),
        action(7), ms(400),
    ],
    # regression: a POST refused by verify (polling to a WebSocket session)
    # left its connection in the session, used after the connection closed
    "regress_refused_post": [
        rec(UPGRADE, b"\x00"), ws("40"), rec(POST, "4x", 1), close(1), ms(6000),
    ],
    # regression: a POST pipelined behind a held polling GET ran inside the
    # GET's answer (a ping from the heartbeat) and freed the session
    "regress_pipelined_post_behind_get": [
        rec(GET, b"\x00"),
        rec(RAW, "GET /socket.io/?EIO=4&transport=polling&sid=$SID HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /socket.io/?EIO=4&transport=polling&sid=$SID HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 1\r\n\r\n1"),
        ms(2500),
    ],
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_stack")
    if len(sys.argv) > 1:
        out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, recs in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(SEP.join(recs))


if __name__ == "__main__":
    main()
