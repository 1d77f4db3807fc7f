/* SPDX-License-Identifier: MIT */
/* Lab server for the `splice` data path: an epoll level-triggered loop whose
 * GET /file body goes file -> pipe -> socket with splice(2), each connection
 * with its own pipe, so page references move and no byte enters user space. */
#define _GNU_SOURCE
#include <fcntl.h>

#include "datapath.h"

/* splice(2) needs a pipe at one end; the bytes in it are the next ones of
 * the body, from c->body_off on. */
struct splice_pipe {
	int r, w;
	size_t len;
};

/* SPLICE_F_MOVE is only a hint (a no-op since Linux 2.6.21, splice(2));
 * SPLICE_F_NONBLOCK keeps the pipe side from blocking. */
#define SPLICE_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

static ssize_t splice_send(struct dp_server *s, struct dp_conn *c)
{
	struct splice_pipe *p = c->priv;
	ssize_t n;

	if (!p) {
		int fds[2];

		p = malloc(sizeof(*p));
		if (!p)
			return -1;
		if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
			free(p);
			return -1;
		}
		p->r = fds[0];
		p->w = fds[1];
		p->len = 0;
		c->priv = p;
	}
	/* Fill the pipe (64 KiB by default, pipe(7)) while the body has more;
	 * EAGAIN here only means the pipe is full: drain it below. */
	loff_t next = (loff_t)(c->body_off + p->len);
	if ((size_t)next < c->body_len && p->len < DP_CHUNK) {
		n = splice(s->file_fd, &next, p->w, NULL,
			   dp_min(DP_CHUNK - p->len, c->body_len - (size_t)next), SPLICE_FLAGS);
		if (n == 0)
			errno = EIO; /* the file shrank since it was opened */
		if (n > 0)
			p->len += (size_t)n;
		else if (n == 0 || errno != EAGAIN)
			return -1;
	}
	/* A partial move leaves the rest in the pipe for the next call; EAGAIN
	 * (socket full) makes the loop wait for EPOLLOUT. */
	n = splice(p->r, NULL, c->fd, NULL, p->len, SPLICE_FLAGS);
	if (n > 0)
		p->len -= (size_t)n;
	return n;
}

static void splice_done(struct dp_server *s, struct dp_conn *c)
{
	struct splice_pipe *p = c->priv;

	(void)s;
	if (!p)
		return;
	close(p->r);
	close(p->w);
	free(p);
	c->priv = NULL;
}

static const struct dp_ops splice_ops = {
	.file_send = splice_send,
	.conn_done = splice_done,
};

int main(int argc, char **argv)
{
	static struct dp_server s;

	dp_setup(&s, &splice_ops, argc, argv);
	dp_epoll_init(&s);
	return dp_epoll_run(&s);
}
