/* SPDX-License-Identifier: MIT */
/* Lab server for I/O multiplexing with poll: one thread waits in poll() on an
 * array of pollfds, then reads or writes the ready non-blocking sockets once
 * each. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "conn.h"

static struct conn *conns[CONN_MAX];
/* pfds[0] is the listener, pfds[i + 1] is conns[i]. */
static struct pollfd pfds[CONN_MAX + 1];

int main(int argc, char **argv)
{
	int lfd, max, nconns = 0, ret = 0;

	lfd = conn_server_start(argc, argv, 1);
	lab_announce(lab_port(lfd));
	max = conn_limit();

	/* A SIGTERM landing between this test and the wait below is not lost:
	 * the handler shuts the listener down, which ends the wait (proto.h,
	 * lab_stop_wakes). */
	while (!lab_stop) {
		pfds[0].fd = lfd;
		pfds[0].events = POLLIN;
		for (int i = 0; i < nconns; i++) {
			struct conn *c = conns[i];
			pfds[i + 1].fd = c->fd;
			pfds[i + 1].events = (conn_wants_read(c) ? POLLIN : 0) |
					     (conn_wants_write(c) ? POLLOUT : 0);
		}
		if (poll(pfds, (nfds_t)nconns + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("poll: poll");
			ret = 1;
			break;
		}
		/* Backwards, so that moving the last connection into a closed
		 * one's slot moves one already handled. */
		for (int i = nconns - 1; i >= 0; i--) {
			struct conn *c = conns[i];
			short rev = pfds[i + 1].revents;

			if (!rev)
				continue;
			/* POLLHUP and POLLERR come whatever was asked (poll(2));
			 * the read or write then sees the EOF or the error. */
			c->readable = !!(rev & (POLLIN | POLLHUP | POLLERR));
			if (conn_pump(c, 0) == CONN_CLOSE) {
				conn_free(c);
				conns[i] = conns[--nconns];
			}
		}
		if (pfds[0].revents & POLLIN) {
			/* One accept per report: the next poll says if more wait. */
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			struct conn *c = NULL;

			if (fd >= 0 && nconns < max)
				c = conn_new(fd);
			if (c)
				conns[nconns++] = c;
			else if (fd >= 0)
				close(fd);
		}
	}
	while (nconns > 0)
		conn_free(conns[--nconns]);
	close(lfd);
	return ret;
}
