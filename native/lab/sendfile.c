/* SPDX-License-Identifier: MIT */
/* Lab server for the `sendfile` data path: an epoll level-triggered loop
 * whose GET /file body goes from the page cache to the socket with
 * sendfile(2), never through user space. */
#define _GNU_SOURCE
#include <sys/sendfile.h>

#include "datapath.h"

static ssize_t sendfile_send(struct dp_server *s, struct dp_conn *c)
{
	/* Each connection keeps its own offset: sendfile(2) with a non-NULL
	 * offset leaves the shared file position alone. On a full socket it
	 * moves what fits, or fails with EAGAIN and the loop waits for
	 * EPOLLOUT. */
	off_t off = (off_t)c->body_off;
	ssize_t n = sendfile(c->fd, s->file_fd, &off, dp_min(DP_CHUNK, c->body_len - c->body_off));

	if (n == 0)
		errno = EIO; /* the file shrank since it was opened */
	return n == 0 ? -1 : n;
}

static const struct dp_ops sendfile_ops = {
	.file_send = sendfile_send,
};

int main(int argc, char **argv)
{
	static struct dp_server s;

	dp_setup(&s, &sendfile_ops, argc, argv);
	dp_epoll_init(&s);
	return dp_epoll_run(&s);
}
