/* SPDX-License-Identifier: MIT */
/* Lab server for the `copy` data path: an epoll level-triggered loop whose
 * GET /file body is pread(2) into a user buffer, then write(2) to the socket,
 * so every file byte is copied by the CPU twice (kernel to user, user to
 * socket buffer). */
#define _GNU_SOURCE
#include "datapath.h"

static const struct dp_ops copy_ops = {
	.file_send = dp_copy_send, /* in datapath.h: signal-driven shares it */
	.conn_done = dp_priv_free,
};

int main(int argc, char **argv)
{
	static struct dp_server s;

	dp_setup(&s, &copy_ops, argc, argv);
	dp_epoll_init(&s);
	return dp_epoll_run(&s);
}
