/* The chat's static files, served from memory like Node's serveClient.
 *
 * Files are read once at start-up (the page and the socket.io-client
 * bundle), each with a strong ETag and a gzip copy, so serving never touches
 * the disk or blocks the loop. Only the files registered here are served:
 * no request path is ever mapped onto the file system. */
#ifndef CHAT_STATIC_H
#define CHAT_STATIC_H

#include "sioc.h"

typedef struct chat_static chat_static;

/* Loads the page from public_dir/index.html and the client bundle files from
 * client_dir. SIO_EIO if the page or socket.io.js cannot be read. */
int chat_static_load(chat_static **out, const char *public_dir, const char *client_dir);
void chat_static_free(chat_static *st);
/* Answers req if its path is one of the files (GET/HEAD; 304 on a matching
 * If-None-Match; gzip when accepted); else 404 (405 for other methods). */
void chat_static_serve(chat_static *st, sio_req *req);

#endif
