/* Response heads: see http_response.h. Reason phrases follow RFC 9110 15;
 * the field order is fixed so that tests (and caches of whole responses)
 * can rely on it. Any failure truncates out back to its original length so
 * a half-written head can never be sent. */
#include "http/http_response.h"

#include <string.h>

#include "core/error.h"

/* Reason phrases of the statuses this server sends (RFC 9110 15). */
static const struct {
    int status;
    const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {505, "HTTP Version Not Supported"},
};

const char *sio__http_status_text(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].text;
    return "Unknown";
}

/* extra_headers must be whole "Name: value\r\n" lines: no bare CR or LF,
 * no empty line (which would end the head early), ending in CRLF. */
static int extra_is_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return 1;
    if (n < 2 || s[n - 2] != '\r' || s[n - 1] != '\n')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' && s[i + 1] != '\n')
            return 0;
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            return 0;
        if (s[i] == '\r' && (i == 0 || s[i - 1] == '\n'))
            return 0; /* empty line */
    }
    return 1;
}

/* Statuses whose responses never carry a body or Content-Length. */
static int bodyless(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* Writes the fields in order; out is rolled back by the caller on error. */
static int write_head(sio__buf *out, int status, const char *extra, const char *type,
                      int64_t length, int keep_alive)
{
    int rc = sio__buf_appendf(out, "HTTP/1.1 %d %s\r\n", status, sio__http_status_text(status));
    if (rc == 0 && type)
        rc = sio__buf_appendf(out, "Content-Type: %s\r\n", type);
    if (rc == 0 && length >= 0 && !bodyless(status))
        rc = sio__buf_appendf(out, "Content-Length: %lld\r\n", (long long)length);
    /* Interim responses (100, 103) carry no Connection: the final one will. */
    if (rc == 0 && (status >= 200 || status == 101)) {
        const char *conn = status == 101 ? "Upgrade" : keep_alive ? "keep-alive" : "close";
        rc = sio__buf_appendf(out, "Connection: %s\r\n", conn);
    }
    if (rc == 0 && extra)
        rc = sio__buf_append_str(out, extra);
    if (rc == 0)
        rc = sio__buf_append(out, "\r\n", 2);
    return rc;
}

int sio__http_response_head(sio__buf *out, int status, const char *extra_headers,
                            const char *content_type, int64_t content_length, int keep_alive)
{
    if (status < 100 || status > 599)
        return SIO_EINVAL;
    if (content_type && strpbrk(content_type, "\r\n") != NULL)
        return SIO_EINVAL;
    if (extra_headers && !extra_is_valid(extra_headers))
        return SIO_EINVAL;
    size_t mark = out->len;
    int rc = write_head(out, status, extra_headers, content_type, content_length, keep_alive);
    if (rc < 0)
        out->len = mark;
    return rc;
}

int sio__http_response_simple(sio__buf *out, int status, const char *content_type, const void *body,
                              size_t len, const char *extra_headers, int keep_alive)
{
    size_t mark = out->len;
    if (len > INT64_MAX)
        return SIO_EINVAL;
    int rc =
        sio__http_response_head(out, status, extra_headers, content_type, (int64_t)len, keep_alive);
    if (rc == 0 && !bodyless(status))
        rc = sio__buf_append(out, body, len);
    if (rc < 0)
        out->len = mark;
    return rc;
}
