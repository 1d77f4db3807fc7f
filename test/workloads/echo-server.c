// SPDX-License-Identifier: MIT
// A small single-threaded epoll TCP echo server on 127.0.0.1, used as a real target for
// attach/detach tests; the line "stats\n" reports how many SIGUSR1s it has handled.
//
// Usage: echo-server [--port P]   (P=0, the default, picks a free port)
// Prints "port=<n>\n" once listening. SIGTERM or SIGINT ends it with status 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 256
#define IN_CAP 4096
#define OUT_CAP 8192
// Room a single input byte may need in the output: 5 held bytes of "stats" plus the byte,
// or a "usr1=<count>\n" reply (at most 5 + 20 digits + 1).
#define OUT_RESERVE 32
#define STATS "stats"
#define STATS_LEN 5

struct conn {
	int fd;
	unsigned events;    // what is registered in epoll now
	int eof;            // peer shut its side; finish echoing, then close
	int match;          // chars of "stats" matched at this line's start, or -1
	size_t in_len;
	size_t out_off, out_len;
	char in[IN_CAP];
	char out[OUT_CAP];
};

static volatile sig_atomic_t usr1_count;
static int nconns;
// Tags the epoll entries that are not connections.
static char listener_tag, signalfd_tag;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}

static void die(const char *what)
{
	fprintf(stderr, "echo-server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void conn_close(int epfd, struct conn *c)
{
	// Closing removes the fd from the epoll set; the explicit DEL is for clarity only.
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
	nconns--;
}

static void out_put(struct conn *c, const char *p, size_t n)
{
	memcpy(c->out + c->out_off + c->out_len, p, n);
	c->out_len += n;
}

// Moves bytes from in to out, holding back a line start that may still become "stats\n".
static void process(struct conn *c)
{
	size_t i = 0;

	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len);
		c->out_off = 0;
	}
	while (i < c->in_len && OUT_CAP - c->out_len >= OUT_RESERVE) {
		char ch = c->in[i++];

		if (c->match >= 0 && c->match < STATS_LEN && ch == STATS[c->match]) {
			c->match++;
			continue;
		}
		if (c->match == STATS_LEN && ch == '\n') {
			char reply[OUT_RESERVE];
			int n = snprintf(reply, sizeof(reply), "usr1=%ld\n", (long)usr1_count);
			out_put(c, reply, (size_t)n);
			c->match = 0;
			continue;
		}
		if (c->match > 0)
			out_put(c, STATS, (size_t)c->match);
		out_put(c, &ch, 1);
		c->match = ch == '\n' ? 0 : -1;
	}
	memmove(c->in, c->in + i, c->in_len - i);
	c->in_len -= i;
	// At EOF a held "stat" prefix is just data: echo it.
	if (c->eof && c->in_len == 0 && c->match > 0) {
		out_put(c, STATS, (size_t)c->match);
		c->match = -1;
	}
}

// Returns 0, or -1 when the connection should be closed.
static int conn_io(int epfd, struct conn *c, unsigned revents)
{
	unsigned want;

	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		while (!c->eof && c->in_len < IN_CAP) {
			ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
			if (n > 0) {
				c->in_len += (size_t)n;
				process(c);
			} else if (n == 0) {
				c->eof = 1;
			} else if (errno == EINTR) {
				continue;
			} else if (errno == EAGAIN) {
				break;
			} else {
				return -1;
			}
		}
	}
	process(c);
	while (c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len);
		if (n > 0) {
			c->out_off += (size_t)n;
			c->out_len -= (size_t)n;
			process(c);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			break;
		} else {
			return -1;
		}
	}
	if (c->eof && c->in_len == 0 && c->out_len == 0)
		return -1;

	// Bounded memory: stop reading while the buffers are full, resume once drained.
	want = (!c->eof && c->in_len < IN_CAP ? EPOLLIN : 0) | (c->out_len ? EPOLLOUT : 0);
	if (want != c->events) {
		struct epoll_event ev = { .events = want, .data.ptr = c };
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			return -1;
		c->events = want;
	}
	return 0;
}

static void accept_all(int epfd, int lfd)
{
	for (;;) {
		struct epoll_event ev;
		struct conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				fprintf(stderr, "echo-server: accept4: %s\n", strerror(errno));
			return;
		}
		if (nconns >= MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->events = EPOLLIN;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		nconns++;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	struct epoll_event ev;
	sigset_t term;
	long port = 0;
	int lfd, sfd, epfd, one = 1;

	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = strtol(argv[++i], &end, 10);
			if (*end || port < 0 || port > 65535) {
				fprintf(stderr, "echo-server: bad port '%s'\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: echo-server [--port P]\n");
			return 2;
		}
	}

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		die("sigaction SIGUSR1");
	// A dead client must cost a failed write (EPIPE), not the process.
	signal(SIGPIPE, SIG_IGN);
	// SIGTERM through a signalfd in the epoll set: no window between checking a flag and
	// sleeping in epoll_wait, so a SIGTERM is never left waiting for the next event.
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	if (sigprocmask(SIG_BLOCK, &term, NULL) < 0)
		die("sigprocmask");
	sfd = signalfd(-1, &term, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd");

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("setsockopt SO_REUSEADDR");
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind");
	if (listen(lfd, 128) < 0)
		die("listen");
	if (getsockname(lfd, (struct sockaddr *)&addr, &len) < 0)
		die("getsockname");

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.ptr = &listener_tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl listener");
	ev.data.ptr = &signalfd_tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) < 0)
		die("epoll_ctl signalfd");

	printf("port=%d\n", ntohs(addr.sin_port));
	if (fflush(stdout) == EOF)
		die("fflush stdout");

	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(epfd, evs, 64, -1);

		if (n < 0) {
			// epoll_wait is never restarted after a handler, SA_RESTART or not
			// (signal(7)), and a ptrace attach interrupts it too.
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &signalfd_tag)
				return 0; // exit() closes the fds; connections need no goodbye
			if (tag == &listener_tag) {
				accept_all(epfd, lfd);
				continue;
			}
			if (conn_io(epfd, tag, evs[i].events) < 0)
				conn_close(epfd, tag);
		}
	}
}
