/* SPDX-License-Identifier: MIT */
/* Lab server for the `mmap` data path: an epoll level-triggered loop that
 * maps the served file once and answers GET /file with write(2) straight
 * from the mapping, so the CPU copies each byte once (page cache to socket
 * buffer) and no read(2) happens. */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "datapath.h"

static const char *map;

static ssize_t mmap_send(struct dp_server *s, struct dp_conn *c)
{
	(void)s;
	/* Known limit: if another process truncates the file, touching the
	 * lost pages raises SIGBUS (mmap(2)) and the server dies. */
	return write(c->fd, map + c->body_off, dp_min(DP_CHUNK, c->body_len - c->body_off));
}

static const struct dp_ops mmap_ops = {
	.file_send = mmap_send,
};

int main(int argc, char **argv)
{
	static struct dp_server s;

	dp_setup(&s, &mmap_ops, argc, argv);
	/* mmap(2) refuses a length of 0; an empty file needs no mapping, since
	 * a body of 0 bytes never calls mmap_send. */
	if (s.file_size > 0) {
		void *p = mmap(NULL, s.file_size, PROT_READ, MAP_SHARED, s.file_fd, 0);

		if (p == MAP_FAILED)
			dp_die("mmap the served file", errno);
		map = p;
	}
	dp_epoll_init(&s);
	return dp_epoll_run(&s);
}
