/* SPDX-License-Identifier: MIT */
/* The level-triggered epoll loop: epoll-lt.c runs it once, each worker of
 * epoll-workers.c runs it on its own SO_REUSEPORT socket. One thread waits in
 * epoll_wait, reads or writes each ready non-blocking socket once, and asks
 * for EPOLLOUT only while output is pending. */
#ifndef IOTRACE_LAB_EPOLL_LOOP_H
#define IOTRACE_LAB_EPOLL_LOOP_H

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
static int epoll_loop_update(int ep, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	ev.events = (conn_wants_read(c) ? EPOLLIN : 0) | (conn_wants_write(c) ? EPOLLOUT : 0);
	if (ev.events == c->events)
		return 0;
	c->events = ev.events;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void epoll_loop_drop(struct conn *c)
{
	/* close() also removes the fd from the epoll set: no dup of it exists. */
	conns[c->slot] = conns[--nconns];
	conns[c->slot]->slot = c->slot;
	conn_free(c);
}

static void epoll_loop_accept(int ep, int lfd, int max, const char *who)
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
		fprintf(stderr, "%s: epoll_ctl(EPOLL_CTL_ADD): %s\n", who, strerror(errno));
		conn_free(c);
		return;
	}
	c->slot = nconns;
	conns[nconns++] = c;
}

/* An epoll set watching the listening socket (data.ptr NULL), or -1. */
static int epoll_loop_open(int lfd, const char *who)
{
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
		fprintf(stderr, "%s: epoll_create1/epoll_ctl: %s\n", who, strerror(errno));
		return -1;
	}
	return ep;
}

/* Serves until lab_stop; closes everything; returns the exit status. A
 * SIGTERM landing between the lab_stop test and epoll_wait is not lost: the
 * handler shuts the listener down, which ends the wait (lab_stop_wakes). */
static int epoll_loop_run(int ep, int lfd, const char *who)
{
	struct epoll_event evs[64];
	int max = conn_limit(), ret = 0;

	while (!lab_stop) {
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: epoll_wait: %s\n", who, strerror(errno));
			ret = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c) {
				/* One accept per report: level-triggered, the
				 * listener is reported again while more wait. */
				epoll_loop_accept(ep, lfd, max, who);
				continue;
			}
			c->readable = !!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR));
			if (conn_pump(c, 0) == CONN_CLOSE || epoll_loop_update(ep, c) < 0)
				epoll_loop_drop(c);
		}
	}
	while (nconns > 0)
		epoll_loop_drop(conns[nconns - 1]);
	close(ep);
	close(lfd);
	return ret;
}

#endif /* IOTRACE_LAB_EPOLL_LOOP_H */
