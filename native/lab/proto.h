/* SPDX-License-Identifier: MIT */
/* The lab servers' one protocol, shared by every I/O model so that the model
 * is the only thing that differs between them: echo lines and a minimal
 * HTTP/1.1 GET, told apart by the first bytes of each request. */
#ifndef IOTRACE_LAB_PROTO_H
#define IOTRACE_LAB_PROTO_H

#include <stddef.h>
#include <sys/types.h>

/* Longest echo line and longest HTTP request head accepted. */
#define PROTO_MAX_REQUEST 8192
/* Largest GET /<size> body served. */
#define PROTO_MAX_BODY (64u << 20)

enum req_kind {
	REQ_INCOMPLETE = 0, /* need more bytes */
	REQ_ECHO,           /* a line ending in '\n': answer the same bytes */
	REQ_HTTP_SIZE,      /* GET /<size>: answer a header, then `size` pattern bytes */
	REQ_HTTP_FILE,      /* GET /file: answer a header, then the server's file */
	REQ_BAD,            /* malformed or too long: answer 400 (HTTP) and close */
};

struct req {
	enum req_kind kind;
	size_t consumed;   /* bytes of the input this request used */
	size_t size;       /* REQ_HTTP_SIZE: body length */
	int keep_alive;    /* HTTP: 0 after "Connection: close" */
};

/* Parses the request at the start of buf[0..len). Never reads past len. */
void proto_parse(const char *buf, size_t len, struct req *r);

/* Writes the HTTP/1.1 200 head for a body of `length` bytes; returns its
 * length (< cap), or 0 if cap is too small. */
size_t proto_http_head(char *out, size_t cap, size_t length, int keep_alive);
/* The 400 answer, head and body. */
extern const char PROTO_HTTP_400[];

/* Body byte at offset i of every GET /<size> answer: 'a' + i % 26, so a
 * client checks each byte without a copy of the body. */
static inline char proto_pattern_byte(size_t i) { return (char)('a' + i % 26); }
void proto_fill_pattern(char *out, size_t offset, size_t n);

/* Common command line: --port P (0: any free port), --file PATH (served by
 * GET /file; a 64 KiB file is made in /tmp if absent), --workers N. */
struct lab_opts {
	int port;
	const char *file;
	int workers;
};
void lab_parse_args(int argc, char **argv, struct lab_opts *o);

/* socket + SO_REUSEADDR (+ SO_REUSEPORT if reuseport) + bind 127.0.0.1:port
 * + listen; exits with a message on failure. */
int lab_listen(int port, int reuseport, int nonblock);
/* The bound port of a listening socket. */
int lab_port(int fd);
/* Prints "port=<n>\n" on stdout and flushes: how the lab learns the port. */
void lab_announce(int port);

/* Opens --file (creating the default one if needed); returns fd and size. */
int lab_open_file(const char *path, off_t *size);

/* SIGTERM and SIGINT set lab_stop (no SA_RESTART, so blocking calls return
 * EINTR and loops see the flag); SIGPIPE is ignored. */
extern volatile int lab_stop;
void lab_signals(void);
/* A stop also shuts down this listening socket (-1: none). A signal that lands
 * between a loop's lab_stop test and its blocking accept/select/poll/
 * epoll_wait would otherwise wait for a connection that never comes; a shut
 * down listener fails accept with EINVAL and is ready for every multiplexer,
 * before or during the wait. */
void lab_stop_wakes(int lfd);

/* write() until done or error (blocking fds); returns 0, or -1 with errno. */
int lab_write_all(int fd, const char *buf, size_t len);

#endif /* IOTRACE_LAB_PROTO_H */
