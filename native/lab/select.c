/* SPDX-License-Identifier: MIT */
/* Lab server for I/O multiplexing with select: one thread waits in select()
 * on read and write fd_sets, then reads or writes the ready non-blocking
 * sockets once each. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdio.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "conn.h"

/* Indexed by fd: select's fd_sets are indexed by fd too. */
static struct conn *conns[FD_SETSIZE];

/* glibc 2.36 implements select() with the pselect6 syscall; the lab must
 * show the select syscall itself (x86-64 has it; arm64 never had one). */
static int sys_select(int nfds, fd_set *rd, fd_set *wr)
{
	return (int)syscall(SYS_select, nfds, rd, wr, NULL, NULL);
}

int main(int argc, char **argv)
{
	int lfd, max, nconns = 0, top, ret = 0;

	lfd = conn_server_start(argc, argv, 1);
	lab_announce(lab_port(lfd));
	max = conn_limit();
	top = lfd; /* highest fd in use */

	/* A SIGTERM landing between this test and the wait below is not lost:
	 * the handler shuts the listener down, which ends the wait (proto.h,
	 * lab_stop_wakes). */
	while (!lab_stop) {
		fd_set rd, wr;
		int n, hi = lfd;

		FD_ZERO(&rd);
		FD_ZERO(&wr);
		FD_SET(lfd, &rd);
		for (int fd = 0; fd <= top; fd++) {
			struct conn *c = conns[fd];
			if (!c)
				continue;
			if (conn_wants_read(c))
				FD_SET(fd, &rd);
			if (conn_wants_write(c))
				FD_SET(fd, &wr);
			hi = fd > hi ? fd : hi;
		}
		top = hi;
		n = sys_select(hi + 1, &rd, &wr);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("select: select");
			ret = 1;
			break;
		}
		for (int fd = 0; fd <= top && n > 0; fd++) {
			struct conn *c = conns[fd];
			int r, w;

			if (!c)
				continue;
			r = FD_ISSET(fd, &rd);
			w = FD_ISSET(fd, &wr);
			if (!r && !w)
				continue;
			n -= !!r + !!w;
			c->readable = r;
			if (conn_pump(c, 0) == CONN_CLOSE) {
				conns[fd] = NULL;
				conn_free(c);
				nconns--;
			}
		}
		if (FD_ISSET(lfd, &rd)) {
			/* One accept per report: the next select says if more wait. */
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			struct conn *c = NULL;

			/* FD_SET on an fd >= FD_SETSIZE writes past the fd_set
			 * (select(2), BUGS): such a connection cannot be watched, so
			 * it is refused, like one past the connection cap. */
			if (fd >= 0 && fd < FD_SETSIZE && nconns < max)
				c = conn_new(fd);
			if (c) {
				conns[fd] = c;
				nconns++;
				top = fd > top ? fd : top;
			} else if (fd >= 0) {
				close(fd);
			}
		}
	}
	for (int fd = 0; fd <= top; fd++)
		if (conns[fd])
			conn_free(conns[fd]);
	close(lfd);
	return ret;
}
