/* SPDX-License-Identifier: MIT */
/* Lab server for I/O multiplexing with level-triggered epoll: one thread
 * runs the loop of epoll-loop.h. */
#define _GNU_SOURCE /* accept4 */
#include "epoll-loop.h"

int main(int argc, char **argv)
{
	int lfd, ep;

	lfd = conn_server_start(argc, argv, 1);
	ep = epoll_loop_open(lfd, "epoll-lt");
	if (ep < 0)
		return 1;
	lab_announce(lab_port(lfd));
	return epoll_loop_run(ep, lfd, "epoll-lt");
}
