/* SPDX-License-Identifier: MIT */
/* Lab server for I/O multiplexing with edge-triggered epoll: one thread waits
 * in epoll_wait and, since an edge is reported once, drains accept, read and
 * write on each ready non-blocking socket until EAGAIN. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "conn.h"

static struct conn *conns[CONN_MAX];
static int nconns;

static void drop(struct conn *c)
{
	/* close() also removes the fd from the epoll set: no dup of it exists. */
	conns[c->slot] = conns[--nconns];
	conns[c->slot]->slot = c->slot;
	conn_free(c);
}

/* An edge on the listener may stand for many connections: accept until
 * EAGAIN, or the ones left in the queue wait for the next connection's edge
 * (epoll(7), "edge-triggered"). */
static void accept_all(int ep, int lfd, int max)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		/* Both directions, once for the connection's life: with EPOLLET
		 * EPOLLOUT reports only a change to writable, so it can stay. */
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
		struct conn *c;

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				return;
			continue; /* ECONNABORTED and the like: the next one */
		}
		if (nconns >= max || !(c = conn_new(fd))) {
			close(fd);
			continue;
		}
		ev.data.ptr = c;
		/* Data that came before EPOLL_CTL_ADD still makes an event: the
		 * add checks readiness at once (fs/eventpoll.c, ep_insert). */
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			perror("epoll-et: epoll_ctl(EPOLL_CTL_ADD)");
			conn_free(c);
			continue;
		}
		c->slot = nconns;
		conns[nconns++] = c;
	}
}

int main(int argc, char **argv)
{
	struct epoll_event evs[64], lev = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };
	int lfd, ep, max, ret = 0;

	lfd = conn_server_start(argc, argv, 1);
	max = conn_limit();
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
		perror("epoll-et: epoll_create1/epoll_ctl");
		return 1;
	}
	lab_announce(lab_port(lfd));

	/* A SIGTERM landing between this test and the wait below is not lost:
	 * the handler shuts the listener down, which ends the wait (proto.h,
	 * lab_stop_wakes). */
	while (!lab_stop) {
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll-et: epoll_wait");
			ret = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c) {
				accept_all(ep, lfd, max);
				continue;
			}
			/* c->readable stays set across events until a read says
			 * EAGAIN: input left unread while output was pending gets
			 * no new edge. */
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				c->readable = 1;
			if (conn_pump(c, 1) == CONN_CLOSE)
				drop(c);
		}
	}
	while (nconns > 0)
		drop(conns[nconns - 1]);
	close(ep);
	close(lfd);
	return ret;
}
