/* SPDX-License-Identifier: MIT */
/* Load generator for the lab servers: closed-loop echo or HTTP requests over
 * many loopback connections, every answer checked byte for byte, and one JSON
 * line of totals and latency percentiles at the end.
 *
 * Threads: --threads workers (default 2, as `wrk -t2`), each owning its share
 * of the connections and one level-triggered epoll. They share only the
 * read-only config and three atomics (requests claimed, stop flag, first-error
 * flags); counters and histograms are per worker and merged after join. */
#include "proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DURATION_S 600.0
#define MAX_CONNECTIONS 4096
#define MAX_THREADS 16
#define DEFAULT_FILE_SIZE 65536 /* proto.c's lab_open_file() default file */
#define HEAD_MAX 4096		/* longest HTTP answer head we accept */
#define READ_BUF (256 * 1024)	/* per worker; one read() takes up to this */
#define RETRY_NS 10000000ull	/* wait 10 ms before reconnecting after a failure */
#define POLL_MAX_MS 50		/* how late a worker may notice a signal */

/* Latency histogram, log-linear over nanoseconds: values below 32 exactly,
 * then 32 sub-buckets per power of two, so a bucket's midpoint is within
 * 1/64 (1.6 %) of any value in it (the HdrHistogram layout with 5 bits). */
#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

enum mode { MODE_ECHO, MODE_HTTP_SIZE, MODE_HTTP_FILE };

struct config {
	struct sockaddr_in addr;
	enum mode mode;
	int connections;
	int threads;
	double duration_s;
	uint64_t max_requests; /* 0: no limit */
	char *req;	       /* the request sent, the same every time */
	size_t req_len;
	size_t body_len;      /* HTTP: the Content-Length every answer must have */
	int check_body;	      /* HTTP: check each body byte against the pattern */
};

enum conn_state {
	C_CONNECTING,	/* non-blocking connect() in progress */
	C_SENDING,	/* request partly written, waiting for EPOLLOUT */
	C_RECEIVING,	/* request written, answer not complete */
	C_RETRY,	/* closed after a failure, reconnect at retry_ns */
	C_DONE,		/* closed for good: time is up or --requests reached */
};

struct conn {
	int fd;
	enum conn_state state;
	uint32_t events;      /* the epoll interest currently registered */
	size_t sent;	      /* bytes of the request written */
	size_t got;	      /* echo: reply bytes; HTTP: body bytes */
	size_t head_len;      /* HTTP: bytes in head[] */
	size_t body_len;      /* HTTP: Content-Length of this answer */
	int in_body;
	int close_after;      /* HTTP: the answer said "Connection: close" */
	uint64_t start_ns;    /* request's first write, CLOCK_MONOTONIC */
	uint64_t retry_ns;
	char head[HEAD_MAX + 1];
};

struct stats {
	uint64_t requests;
	uint64_t bytes; /* every byte read from the server */
	uint64_t err_connect;
	uint64_t err_wrong;
	uint64_t err_status;
	uint64_t err_closed;
	uint64_t max_ns;
	uint64_t hist[HIST_BUCKETS];
};

struct worker {
	pthread_t tid;
	int index;
	int epfd;
	struct conn *conns;
	int nconns;
	int active;  /* connections not C_DONE */
	int retries; /* connections in C_RETRY */
	uint64_t end_ns;
	int err;	       /* negative errno if the worker failed to run */
	const char *err_step;  /* the call that failed */
	char *buf;
	struct stats st;
};

static struct config cfg;
static uint64_t deadline_ns;
/* The pattern repeated, long enough to compare any read against it at any
 * phase: pattern + (offset % 26) lines up with body offset `offset`. */
static char pattern[READ_BUF + 26];
static atomic_uint_fast64_t claimed; /* requests started, for --requests */
static atomic_int stop_flag;
static atomic_int reported[4]; /* first error of each kind goes to stderr */

enum err_kind { ERR_CONNECT, ERR_WRONG, ERR_STATUS, ERR_CLOSED };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, 1);
}

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
	unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
	return (e - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

/* The midpoint of bucket i, in ns. */
static double hist_value(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	unsigned e = i / HIST_SUB + HIST_SUB_BITS - 1;
	unsigned sub = i % HIST_SUB;
	double width = (double)(1ull << (e - HIST_SUB_BITS));
	return ((double)(HIST_SUB + sub) + 0.5) * width;
}

static double hist_percentile(const struct stats *s, double p)
{
	if (s->requests == 0)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)s->requests + 0.999999);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += s->hist[i];
		if (seen >= rank) {
			double v = hist_value(i);
			return v > (double)s->max_ns ? (double)s->max_ns : v;
		}
	}
	return (double)s->max_ns;
}

static void count_error(struct worker *w, enum err_kind kind, const struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void count_error(struct worker *w, enum err_kind kind, const struct conn *c, const char *fmt, ...)
{
	static const char *const names[] = { "connect", "wrong", "status", "closed" };
	switch (kind) {
	case ERR_CONNECT: w->st.err_connect++; break;
	case ERR_WRONG: w->st.err_wrong++; break;
	case ERR_STATUS: w->st.err_status++; break;
	case ERR_CLOSED: w->st.err_closed++; break;
	}
	/* One line per kind, so a run against a broken server says what broke
	 * without flooding stderr. */
	if (atomic_exchange(&reported[kind], 1) == 0) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "load: first %s error (worker %d, connection %d): ", names[kind], w->index,
			(int)(c - w->conns));
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

/* A call the run cannot go on without failed: the worker stops and main
 * prints "load: worker N: <step>: <reason>". */
static int fail(struct worker *w, const char *step)
{
	int err = errno;
	w->err_step = step;
	return -err;
}

static int set_events(struct worker *w, struct conn *c, uint32_t events)
{
	if (c->events == events)
		return 0;
	struct epoll_event ev = { .events = events, .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return fail(w, "epoll_ctl(EPOLL_CTL_MOD)");
	c->events = events;
	return 0;
}

static void conn_close(struct worker *w, struct conn *c, enum conn_state next)
{
	if (c->fd >= 0) {
		/* close() drops the fd from the epoll set (epoll(7)): we never dup it. */
		close(c->fd);
		c->fd = -1;
	}
	c->state = next;
	if (next == C_RETRY) {
		c->retry_ns = now_ns() + RETRY_NS;
		w->retries++;
	} else if (next == C_DONE) {
		w->active--;
	}
}

static int time_is_up(void)
{
	return atomic_load_explicit(&stop_flag, memory_order_relaxed) || now_ns() >= deadline_ns;
}

static int conn_send(struct worker *w, struct conn *c);

/* Starts the next request on an open connection, or closes it for good when
 * the run is over. */
static int conn_next(struct worker *w, struct conn *c)
{
	if (time_is_up()) {
		conn_close(w, c, C_DONE);
		return 0;
	}
	if (cfg.max_requests &&
	    atomic_fetch_add_explicit(&claimed, 1, memory_order_relaxed) >= cfg.max_requests) {
		conn_close(w, c, C_DONE);
		return 0;
	}
	c->sent = 0;
	c->got = 0;
	c->head_len = 0;
	c->body_len = 0;
	c->in_body = 0;
	c->close_after = 0;
	c->start_ns = now_ns();
	c->state = C_SENDING;
	return conn_send(w, c);
}

/* Opens a connection; on failure counts it and schedules a retry. */
static int conn_open(struct worker *w, struct conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		count_error(w, ERR_CONNECT, c, "socket: %s", strerror(errno));
		conn_close(w, c, C_RETRY);
		return 0;
	}
	int one = 1;
	/* Each request is one write(); no Nagle delay on the loopback either. */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return fail(w, "setsockopt(TCP_NODELAY)");
	int r = connect(c->fd, (struct sockaddr *)&cfg.addr, sizeof(cfg.addr));
	if (r < 0 && errno != EINPROGRESS) {
		count_error(w, ERR_CONNECT, c, "connect: %s", strerror(errno));
		conn_close(w, c, C_RETRY);
		return 0;
	}
	c->events = EPOLLOUT;
	struct epoll_event ev = { .events = c->events, .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return fail(w, "epoll_ctl(EPOLL_CTL_ADD)");
	c->state = C_CONNECTING;
	return 0;
}

/* After "Connection: close": a new connection at once. */
static int conn_reopen(struct worker *w, struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	return conn_open(w, c);
}

static int conn_send(struct worker *w, struct conn *c)
{
	while (c->sent < cfg.req_len) {
		ssize_t n = send(c->fd, cfg.req + c->sent, cfg.req_len - c->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return set_events(w, c, EPOLLIN | EPOLLOUT);
			count_error(w, ERR_CLOSED, c, "send: %s", strerror(errno));
			conn_close(w, c, C_RETRY);
			return 0;
		}
		c->sent += (size_t)n;
	}
	c->state = C_RECEIVING;
	return set_events(w, c, EPOLLIN);
}

static void record(struct worker *w, uint64_t ns)
{
	w->st.requests++;
	w->st.hist[hist_index(ns)]++;
	if (ns > w->st.max_ns)
		w->st.max_ns = ns;
}

/* Parses an answer head (NUL-terminated, ending with the blank line).
 * Returns 0, or -1 with the reason in why. */
static int parse_head(struct conn *c, char *why, size_t cap)
{
	const char *h = c->head;
	if (strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ') {
		snprintf(why, cap, "not an HTTP/1.x status line: %.40s", h);
		return -1;
	}
	int status = atoi(h + 9);
	if (status != 200) {
		snprintf(why, cap, "HTTP status %d", status);
		return -1;
	}
	int have_length = 0;
	for (const char *line = strstr(h, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
		const char *f = line + 2;
		if (strncasecmp(f, "Content-Length:", 15) == 0) {
			char *end;
			unsigned long long n = strtoull(f + 15, &end, 10);
			if (end == f + 15 || (*end != '\r' && *end != ' ')) {
				snprintf(why, cap, "bad Content-Length");
				return -1;
			}
			c->body_len = (size_t)n;
			have_length = 1;
		} else if (strncasecmp(f, "Connection:", 11) == 0) {
			const char *v = f + 11;
			while (*v == ' ')
				v++;
			if (strncasecmp(v, "close", 5) == 0)
				c->close_after = 1;
		} else if (strncasecmp(f, "Transfer-Encoding:", 18) == 0) {
			snprintf(why, cap, "Transfer-Encoding is not supported: the lab answers with Content-Length");
			return -1;
		}
	}
	if (!have_length) {
		snprintf(why, cap, "no Content-Length");
		return -1;
	}
	return 0;
}

/* Only on the error path: memcmp() says whether, this says where. */
static size_t first_diff(const char *a, const char *b, size_t n)
{
	size_t i = 0;
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

enum feed { FEED_MORE, FEED_DONE, FEED_ERROR };

/* Checks n answer bytes; FEED_DONE when the answer is complete (and nothing
 * came after it: a closed loop never has two answers in flight). */
static enum feed conn_feed(struct worker *w, struct conn *c, const char *data, size_t n)
{
	if (cfg.mode == MODE_ECHO) {
		size_t want = cfg.req_len - c->got;
		if (n > want) {
			count_error(w, ERR_WRONG, c, "%zu bytes more than the echoed line", n - want);
			return FEED_ERROR;
		}
		if (memcmp(data, cfg.req + c->got, n) != 0) {
			count_error(w, ERR_WRONG, c, "echo differs at byte %zu",
				    c->got + first_diff(data, cfg.req + c->got, n));
			return FEED_ERROR;
		}
		c->got += n;
		return c->got == cfg.req_len ? FEED_DONE : FEED_MORE;
	}
	while (n > 0 || (c->in_body && c->got == c->body_len)) {
		if (!c->in_body) {
			size_t old = c->head_len;
			size_t take = n < HEAD_MAX - old ? n : HEAD_MAX - old;
			memcpy(c->head + old, data, take);
			c->head_len += take;
			c->head[c->head_len] = '\0';
			/* The blank line may straddle two reads: search from 3 back. */
			const char *end = strstr(c->head + (old > 3 ? old - 3 : 0), "\r\n\r\n");
			if (!end) {
				if (c->head_len == HEAD_MAX) {
					count_error(w, ERR_STATUS, c, "answer head longer than %d bytes", HEAD_MAX);
					return FEED_ERROR;
				}
				return FEED_MORE;
			}
			size_t head_total = (size_t)(end - c->head) + 4;
			c->head[head_total] = '\0';
			char why[128];
			if (parse_head(c, why, sizeof(why)) < 0) {
				count_error(w, ERR_STATUS, c, "%s", why);
				return FEED_ERROR;
			}
			if (c->body_len != cfg.body_len) {
				count_error(w, ERR_WRONG, c, "Content-Length %zu, expected %zu", c->body_len,
					    cfg.body_len);
				return FEED_ERROR;
			}
			size_t used = head_total - old;
			data += used;
			n -= used;
			c->in_body = 1;
			continue;
		}
		size_t left = c->body_len - c->got;
		if (left == 0) {
			if (n > 0) {
				count_error(w, ERR_WRONG, c, "%zu bytes after the end of the body", n);
				return FEED_ERROR;
			}
			return FEED_DONE;
		}
		size_t take = n < left ? n : left;
		if (cfg.check_body && memcmp(data, pattern + c->got % 26, take) != 0) {
			count_error(w, ERR_WRONG, c, "body byte %zu is not the pattern's",
				    c->got + first_diff(data, pattern + c->got % 26, take));
			return FEED_ERROR;
		}
		c->got += take;
		data += take;
		n -= take;
	}
	return FEED_MORE;
}

static int conn_readable(struct worker *w, struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, w->buf, READ_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			/* The server closed (or reset) with our request unanswered. */
			if (n == 0)
				count_error(w, ERR_CLOSED, c, "closed by the server with a request unanswered");
			else
				count_error(w, ERR_CLOSED, c, "read: %s", strerror(errno));
			/* Wait before reconnecting: a server at its connection limit
			 * closes what it accepts, and at once would be a busy loop. */
			conn_close(w, c, C_RETRY);
			return 0;
		}
		w->st.bytes += (uint64_t)n;
		if (c->state != C_RECEIVING) {
			/* Bytes before our request was complete: nothing asked for them. */
			count_error(w, ERR_WRONG, c, "%zd bytes before the request was sent", n);
			conn_close(w, c, C_RETRY);
			return 0;
		}
		switch (conn_feed(w, c, w->buf, (size_t)n)) {
		case FEED_ERROR:
			/* The stream is out of step: start again on a new connection. */
			conn_close(w, c, C_RETRY);
			return 0;
		case FEED_DONE:
			record(w, now_ns() - c->start_ns);
			if (c->close_after)
				return conn_reopen(w, c);
			return conn_next(w, c);
		case FEED_MORE:
			break;
		}
		/* A short read means the socket is drained; skip the EAGAIN read. */
		if ((size_t)n < READ_BUF)
			return 0;
	}
}

static int conn_event(struct worker *w, struct conn *c, uint32_t events)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return fail(w, "getsockopt(SO_ERROR)");
		if (err != 0) {
			count_error(w, ERR_CONNECT, c, "connect: %s", strerror(err));
			conn_close(w, c, C_RETRY);
			return 0;
		}
		return conn_next(w, c);
	}
	if (c->state == C_SENDING && (events & EPOLLOUT)) {
		int r = conn_send(w, c);
		if (r < 0 || c->state != C_RECEIVING)
			return r;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		return conn_readable(w, c);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	int r = 0;

	for (int i = 0; i < w->nconns; i++) {
		w->conns[i].fd = -1;
		r = conn_open(w, &w->conns[i]);
		if (r < 0)
			goto cleanup;
	}
	while (w->active > 0 && !time_is_up()) {
		uint64_t now = now_ns();
		int timeout = (int)((deadline_ns - now + 999999) / 1000000);
		if (timeout > POLL_MAX_MS)
			timeout = POLL_MAX_MS;
		if (w->retries > 0 && timeout > (int)(RETRY_NS / 1000000))
			timeout = (int)(RETRY_NS / 1000000);
		int n = epoll_wait(w->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = fail(w, "epoll_wait");
			goto cleanup;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			/* An earlier event in this batch may have closed it. */
			if (c->fd < 0)
				continue;
			r = conn_event(w, c, evs[i].events);
			if (r < 0)
				goto cleanup;
		}
		if (w->retries > 0) {
			now = now_ns();
			for (int i = 0; i < w->nconns; i++) {
				struct conn *c = &w->conns[i];
				if (c->state != C_RETRY || c->retry_ns > now)
					continue;
				w->retries--;
				if (time_is_up()) {
					conn_close(w, c, C_DONE);
					continue;
				}
				r = conn_open(w, c);
				if (r < 0)
					goto cleanup;
			}
		}
	}
cleanup:
	w->end_ns = now_ns();
	w->err = r;
	for (int i = 0; i < w->nconns; i++)
		if (w->conns[i].fd >= 0)
			close(w->conns[i].fd);
	return NULL;
}

static void usage(const char *msg)
{
	fprintf(stderr, "load: %s (see load --help)\n", msg);
	exit(2);
}

static void help(void)
{
	printf(
		"usage: load --target 127.0.0.1:PORT [--connections 32] [--duration 5] [--requests N]\n"
		"            [--threads 2] [--http /SIZE | --http /file] [--echo-size 64] [--file-size BYTES]\n"
		"Closed loop: each connection sends one request and checks the whole answer before the\n"
		"next. Echo mode (default) sends lines of --echo-size bytes ending in '\\n'; --http sends\n"
		"GET requests. Stops after --duration seconds (at most %.0f; 600 if only --requests is\n"
		"given), after --requests answers, or on SIGINT/SIGTERM, then prints one JSON line.\n"
		"--requests N sends at most N requests. In the JSON, requests counts correct answers,\n"
		"bytes every byte read; errors count connect failures, wrong bytes or lengths, bad\n"
		"status or head, and closes with a request unanswered.\n"
		"Targets must be in 127.0.0.0/8. Exit 1 if an answer was wrong (wrong or status) or\n"
		"no answer came; 2 on a usage error.\n"
		"Examples:\n"
		"  load --target 127.0.0.1:8080 --duration 2\n"
		"  load --target 127.0.0.1:8080 --http /4096 --connections 64\n"
		"  load --target 127.0.0.1:8080 --http /file --file-size 1048576 --requests 1000\n",
		MAX_DURATION_S);
	exit(0);
}

static long long parse_int(const char *s, const char *name, long long min, long long max)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "load: %s must be an integer in [%lld, %lld], not '%s'\n", name, min, max, s);
		exit(2);
	}
	return v;
}

static void parse_target(const char *t)
{
	const char *colon = strrchr(t, ':');
	if (!colon)
		usage("--target must be HOST:PORT");
	char host[64];
	size_t hl = (size_t)(colon - t);
	if (hl == 0 || hl >= sizeof(host))
		usage("--target must be HOST:PORT");
	memcpy(host, t, hl);
	host[hl] = '\0';
	/* No name resolution: only dotted quads, and "localhost" as 127.0.0.1. */
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	memset(&cfg.addr, 0, sizeof(cfg.addr));
	cfg.addr.sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &cfg.addr.sin_addr) != 1) {
		fprintf(stderr, "load: --target host '%s' is not an IPv4 address\n", host);
		exit(2);
	}
	if ((ntohl(cfg.addr.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "load: refusing target %s: the lab only loads loopback (127.0.0.0/8)\n", host);
		exit(2);
	}
	cfg.addr.sin_port = htons((unsigned short)parse_int(colon + 1, "--target port", 1, 65535));
}

static void parse_args(int argc, char **argv)
{
	const char *target = NULL, *http = NULL;
	long long echo_size = 64, file_size = -1;
	int have_duration = 0;

	cfg.connections = 32;
	cfg.threads = 2;
	cfg.duration_s = 5;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			help();
		if (i + 1 >= argc) {
			fprintf(stderr, "load: %s needs a value\n", a);
			exit(2);
		}
		const char *v = argv[++i];
		if (strcmp(a, "--target") == 0) {
			target = v;
		} else if (strcmp(a, "--connections") == 0) {
			cfg.connections = (int)parse_int(v, a, 1, MAX_CONNECTIONS);
		} else if (strcmp(a, "--threads") == 0) {
			cfg.threads = (int)parse_int(v, a, 1, MAX_THREADS);
		} else if (strcmp(a, "--duration") == 0) {
			char *end;
			cfg.duration_s = strtod(v, &end);
			if (end == v || *end || !(cfg.duration_s > 0) || cfg.duration_s > MAX_DURATION_S) {
				fprintf(stderr, "load: --duration must be seconds in (0, %.0f], not '%s'\n",
					MAX_DURATION_S, v);
				exit(2);
			}
			have_duration = 1;
		} else if (strcmp(a, "--requests") == 0) {
			cfg.max_requests = (uint64_t)parse_int(v, a, 1, (long long)1 << 53);
		} else if (strcmp(a, "--http") == 0) {
			http = v;
		} else if (strcmp(a, "--echo-size") == 0) {
			/* The servers look for the '\n' within PROTO_MAX_REQUEST bytes. */
			echo_size = parse_int(v, a, 1, PROTO_MAX_REQUEST);
		} else if (strcmp(a, "--file-size") == 0) {
			file_size = parse_int(v, a, 0, (long long)1 << 40);
		} else {
			fprintf(stderr, "load: unknown option %s (see load --help)\n", a);
			exit(2);
		}
	}
	if (!target)
		usage("--target is required");
	parse_target(target);
	if (cfg.max_requests && !have_duration)
		cfg.duration_s = MAX_DURATION_S;
	if (cfg.threads > cfg.connections)
		cfg.threads = cfg.connections;

	if (!http) {
		cfg.mode = MODE_ECHO;
		cfg.req_len = (size_t)echo_size;
		cfg.req = malloc(cfg.req_len);
		if (!cfg.req)
			exit(1);
		proto_fill_pattern(cfg.req, 0, cfg.req_len - 1);
		cfg.req[cfg.req_len - 1] = '\n';
		if (file_size >= 0)
			usage("--file-size goes with --http /file");
		return;
	}
	if (strcmp(http, "/file") == 0) {
		cfg.mode = MODE_HTTP_FILE;
		/* A file of our own: only its length is known. */
		cfg.body_len = file_size >= 0 ? (size_t)file_size : DEFAULT_FILE_SIZE;
		cfg.check_body = file_size < 0;
	} else if (http[0] == '/' && http[1] >= '0' && http[1] <= '9') {
		cfg.mode = MODE_HTTP_SIZE;
		cfg.body_len = (size_t)parse_int(http + 1, "--http /SIZE", 0, PROTO_MAX_BODY);
		cfg.check_body = 1;
		if (file_size >= 0)
			usage("--file-size goes with --http /file");
	} else {
		usage("--http must be /SIZE or /file");
	}
	char req[128];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", http);
	if (n <= 0 || (size_t)n >= sizeof(req))
		usage("--http path too long");
	cfg.req = strdup(req);
	if (!cfg.req)
		exit(1);
	cfg.req_len = (size_t)n;
}

/* Each connection is an fd: raise the soft limit toward the hard one. */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg.connections + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		fprintf(stderr, "load: setrlimit(RLIMIT_NOFILE): %s\n", strerror(errno));
}

int main(int argc, char **argv)
{
	struct worker *workers = NULL;
	struct conn *conns = NULL;
	int started = 0, status = 1;

	parse_args(argc, argv);
	raise_nofile();
	proto_fill_pattern(pattern, 0, sizeof(pattern));

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
		perror("load: sigaction");
		goto cleanup;
	}
	signal(SIGPIPE, SIG_IGN);

	workers = calloc((size_t)cfg.threads, sizeof(*workers));
	conns = calloc((size_t)cfg.connections, sizeof(*conns));
	if (!workers || !conns) {
		fprintf(stderr, "load: out of memory\n");
		goto cleanup;
	}
	for (int t = 0; t < cfg.threads; t++)
		workers[t].epfd = -1;
	uint64_t start = now_ns();
	deadline_ns = start + (uint64_t)(cfg.duration_s * 1e9);
	for (int t = 0, first = 0; t < cfg.threads; t++) {
		struct worker *w = &workers[t];
		/* Spread the connections evenly; the first ones take the remainder. */
		int n = cfg.connections / cfg.threads + (t < cfg.connections % cfg.threads);
		w->index = t;
		w->conns = conns + first;
		w->nconns = n;
		w->active = n;
		first += n;
		w->buf = malloc(READ_BUF);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!w->buf || w->epfd < 0) {
			fprintf(stderr, "load: set up worker %d: %s\n", t, strerror(errno));
			goto join;
		}
		int r = pthread_create(&w->tid, NULL, worker_main, w);
		if (r != 0) {
			fprintf(stderr, "load: pthread_create: %s\n", strerror(r));
			goto join;
		}
		started++;
	}
join:
	if (started < cfg.threads)
		atomic_store(&stop_flag, 1);
	struct stats total;
	memset(&total, 0, sizeof(total));
	uint64_t end = start;
	int failed = started < cfg.threads;
	for (int t = 0; t < started; t++) {
		struct worker *w = &workers[t];
		pthread_join(w->tid, NULL);
		if (w->err < 0) {
			fprintf(stderr, "load: worker %d: %s: %s\n", t, w->err_step, strerror(-w->err));
			failed = 1;
		}
		if (w->end_ns > end)
			end = w->end_ns;
		total.requests += w->st.requests;
		total.bytes += w->st.bytes;
		total.err_connect += w->st.err_connect;
		total.err_wrong += w->st.err_wrong;
		total.err_status += w->st.err_status;
		total.err_closed += w->st.err_closed;
		if (w->st.max_ns > total.max_ns)
			total.max_ns = w->st.max_ns;
		for (unsigned i = 0; i < HIST_BUCKETS; i++)
			total.hist[i] += w->st.hist[i];
	}
	double seconds = (double)(end - start) / 1e9;
	printf("{\"requests\":%" PRIu64 ",\"seconds\":%.3f,\"requestsPerSec\":%.1f,"
	       "\"p50Us\":%.1f,\"p99Us\":%.1f,\"maxUs\":%.1f,\"bytes\":%" PRIu64 ","
	       "\"errors\":{\"connect\":%" PRIu64 ",\"wrong\":%" PRIu64 ",\"status\":%" PRIu64
	       ",\"closed\":%" PRIu64 "},\"connections\":%d}\n",
	       total.requests, seconds, seconds > 0 ? (double)total.requests / seconds : 0.0,
	       hist_percentile(&total, 0.50) / 1e3, hist_percentile(&total, 0.99) / 1e3,
	       (double)total.max_ns / 1e3, total.bytes, total.err_connect, total.err_wrong, total.err_status,
	       total.err_closed, cfg.connections);
	fflush(stdout);
	status = failed || total.err_wrong || total.err_status || total.requests == 0 ? 1 : 0;
cleanup:
	if (workers) {
		for (int t = 0; t < cfg.threads; t++) {
			free(workers[t].buf);
			if (workers[t].epfd >= 0)
				close(workers[t].epfd);
		}
	}
	free(workers);
	free(conns);
	free(cfg.req);
	return status;
}
