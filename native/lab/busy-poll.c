/* SPDX-License-Identifier: MIT */
/* Lab server for non-blocking busy polling: one thread retries accept, read
 * and write on non-blocking sockets in a loop with no wait syscall at all,
 * so it burns a CPU even when idle. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include "conn.h"

static struct conn *conns[CONN_MAX];
static int nconns;

int main(int argc, char **argv)
{
	int lfd, max, ret = 0;

	lfd = conn_server_start(argc, argv, 1);
	lab_announce(lab_port(lfd));
	max = conn_limit();

	/* lab_stop is set by the signal handler between two calls: nothing here
	 * ever sleeps, so there is no race with a blocked call. */
	while (!lab_stop) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			struct conn *c = nconns < max ? conn_new(fd) : NULL;
			if (c)
				conns[nconns++] = c;
			else
				close(fd);
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			   errno != ECONNABORTED && errno != EPROTO && errno != EMFILE &&
			   errno != ENFILE && errno != ENOBUFS && errno != ENOMEM) {
			perror("busy-poll: accept");
			ret = 1;
			break;
		}
		for (int i = 0; i < nconns;) {
			struct conn *c = conns[i];

			/* Try a read every round: most return EAGAIN, which is the
			 * model. conn_pump also retries pending output. */
			c->readable = 1;
			if (conn_pump(c, 0) == CONN_CLOSE) {
				conn_free(c);
				conns[i] = conns[--nconns];
				continue;
			}
			i++;
		}
	}
	while (nconns > 0)
		conn_free(conns[--nconns]);
	close(lfd);
	return ret;
}
