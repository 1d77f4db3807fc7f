/* SPDX-License-Identifier: MIT */
/* Lab server for I/O multiplexing with level-triggered epoll: one thread
 * waits in epoll_wait, reads or writes each ready non-blocking socket once,
 * and asks for EPOLLOUT only while output is pending. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "conn.h"

static struct conn *conns[CONN_MAX];
static int nconns;

/* Level-triggered epoll reports a ready fd on every epoll_wait, so interest
 * must follow need: EPOLLIN only while a read is wanted (else unread input
 * would wake the loop forever), EPOLLOUT only while output is pending. */
static int update(int ep, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	ev.events = (conn_wants_read(c) ? EPOLLIN : 0) | (conn_wants_write(c) ? EPOLLOUT : 0);
	if (ev.events == c->events)
		return 0;
	c->events = ev.events;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void drop(struct conn *c)
{
	/* close() also removes the fd from the epoll set: no dup of it exists. */
	conns[c->slot] = conns[--nconns];
	conns[c->slot]->slot = c->slot;
	conn_free(c);
}

static void accept_one(int ep, int lfd, int max)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c;

	if (fd < 0)
		return; /* EAGAIN: another report raced us; else a lost connection */
	if (nconns >= max || !(c = conn_new(fd))) {
		close(fd);
		return;
	}
	c->events = ev.events;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("epoll-lt: epoll_ctl(EPOLL_CTL_ADD)");
		conn_free(c);
		return;
	}
	c->slot = nconns;
	conns[nconns++] = c;
}

int main(int argc, char **argv)
{
	struct lab_opts o;
	struct epoll_event evs[64], lev = { .events = EPOLLIN, .data.ptr = NULL };
	int lfd, ep, max, ret = 0;

	lab_parse_args(argc, argv, &o);
	lab_signals();
	conn_open_file(o.file);
	lfd = lab_listen(o.port, 0, 1);
	max = conn_limit();
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
		perror("epoll-lt: epoll_create1/epoll_ctl");
		return 1;
	}
	lab_announce(lab_port(lfd));

	/* Known race: a SIGTERM landing after this test but before epoll_wait
	 * blocks is only seen on the next wake-up (epoll_pwait would close it,
	 * but that is another syscall than the one this server demonstrates). */
	while (!lab_stop) {
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll-lt: epoll_wait");
			ret = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c) {
				/* One accept per report: level-triggered, the
				 * listener is reported again while more wait. */
				accept_one(ep, lfd, max);
				continue;
			}
			c->readable = !!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR));
			if (conn_pump(c, 0) == CONN_CLOSE || update(ep, c) < 0)
				drop(c);
		}
	}
	while (nconns > 0)
		drop(conns[nconns - 1]);
	close(ep);
	close(lfd);
	return ret;
}
