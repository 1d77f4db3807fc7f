/* SPDX-License-Identifier: MIT */
/* The lab servers' shared protocol and set-up code (see proto.h). */
#include "proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

volatile int lab_stop;

const char PROTO_HTTP_400[] =
	"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static const char *find(const char *buf, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, needle, n) == 0)
			return buf + i;
	return NULL;
}

void proto_parse(const char *buf, size_t len, struct req *r)
{
	memset(r, 0, sizeof(*r));
	if (len >= 4 && memcmp(buf, "GET ", 4) == 0) {
		const char *end = find(buf, len < PROTO_MAX_REQUEST ? len : PROTO_MAX_REQUEST, "\r\n\r\n");
		if (!end) {
			r->kind = len >= PROTO_MAX_REQUEST ? REQ_BAD : REQ_INCOMPLETE;
			return;
		}
		r->consumed = (size_t)(end - buf) + 4;
		r->keep_alive = !find(buf, r->consumed, "\r\nConnection: close\r\n");
		const char *path = buf + 4;
		if (strncmp(path, "/file ", 6) == 0) {
			r->kind = REQ_HTTP_FILE;
			return;
		}
		if (*path == '/' && path[1] >= '0' && path[1] <= '9') {
			char *stop;
			unsigned long long n = strtoull(path + 1, &stop, 10);
			if (*stop == ' ' && n <= PROTO_MAX_BODY) {
				r->kind = REQ_HTTP_SIZE;
				r->size = (size_t)n;
				return;
			}
		}
		r->kind = REQ_BAD;
		return;
	}
	/* "GET" may still be arriving: wait before calling it an echo line. */
	if (len < 4 && memcmp(buf, "GET ", len) == 0) {
		r->kind = REQ_INCOMPLETE;
		return;
	}
	const char *nl = memchr(buf, '\n', len < PROTO_MAX_REQUEST ? len : PROTO_MAX_REQUEST);
	if (!nl) {
		r->kind = len >= PROTO_MAX_REQUEST ? REQ_BAD : REQ_INCOMPLETE;
		return;
	}
	r->kind = REQ_ECHO;
	r->consumed = (size_t)(nl - buf) + 1;
	r->keep_alive = 1;
}

size_t proto_http_head(char *out, size_t cap, size_t length, int keep_alive)
{
	int n = snprintf(out, cap,
			 "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
			 "Content-Length: %zu\r\n%s\r\n",
			 length, keep_alive ? "" : "Connection: close\r\n");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void proto_fill_pattern(char *out, size_t offset, size_t n)
{
	/* One period byte by byte, then doubling copies: the pattern repeats
	 * every 26 bytes, and a byte loop was the bottleneck of large bodies. */
	size_t done = n < 26 ? n : 26;
	for (size_t i = 0; i < done; i++)
		out[i] = proto_pattern_byte(offset + i);
	while (done < n) {
		size_t chunk = done <= n - done ? done - done % 26 : n - done;
		memcpy(out + done, out, chunk);
		done += chunk;
	}
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--port P] [--file PATH] [--workers N]\n", prog);
	exit(2);
}

void lab_parse_args(int argc, char **argv, struct lab_opts *o)
{
	o->port = 0;
	o->file = "/tmp/iotrace-lab-file.bin";
	o->workers = 2;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage(argv[0]);
		if (strcmp(argv[i], "--port") == 0)
			o->port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--file") == 0)
			o->file = argv[++i];
		else if (strcmp(argv[i], "--workers") == 0)
			o->workers = atoi(argv[++i]);
		else
			usage(argv[0]);
	}
	if (o->port < 0 || o->port > 65535 || o->workers < 1 || o->workers > 64)
		usage(argv[0]);
}

static void die(const char *what)
{
	fprintf(stderr, "lab server: %s: %s\n", what, strerror(errno));
	exit(1);
}

int lab_listen(int port, int reuseport, int nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("setsockopt(SO_REUSEADDR)");
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		die("setsockopt(SO_REUSEPORT)");
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* the lab listens on 127.0.0.1 only */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind");
	if (listen(fd, 1024) < 0)
		die("listen");
	return fd;
}

int lab_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("getsockname");
	return ntohs(a.sin_port);
}

void lab_announce(int port)
{
	printf("port=%d\n", port);
	fflush(stdout);
}

int lab_open_file(const char *path, off_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* The default file: 64 KiB of the body pattern, written atomically. */
		char tmp[4096], buf[65536];
		snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
		int w = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (w < 0)
			die("create the served file");
		proto_fill_pattern(buf, 0, sizeof(buf));
		if (lab_write_all(w, buf, sizeof(buf)) < 0 || close(w) < 0 || rename(tmp, path) < 0)
			die("write the served file");
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		die("open the served file");
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	*size = st.st_size;
	return fd;
}

static volatile int stop_wake_fd = -1;

void lab_stop_wakes(int lfd)
{
	stop_wake_fd = lfd;
}

static void on_stop(int sig)
{
	int saved = errno;

	(void)sig;
	lab_stop = 1;
	if (stop_wake_fd >= 0)
		shutdown(stop_wake_fd, SHUT_RDWR); /* async-signal-safe (signal-safety(7)) */
	errno = saved;
}

void lab_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: blocking calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int lab_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR && !lab_stop)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}
