/* SPDX-License-Identifier: MIT */
/* Lab server for blocking I/O, thread per connection: the main thread blocks
 * in accept and hands each connection to a detached thread that blocks in
 * read and write. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "conn.h"

/* Connection threads alive; new connections past conn_limit() are closed. */
static int live;

static void *serve(void *arg)
{
	/* On the thread's stack: a malloc or free here would give the thread
	 * a malloc arena, whose set-up reads /sys/devices/system/cpu/online,
	 * file I/O that is no part of the model. */
	struct conn c;

	conn_init(&c, (int)(intptr_t)arg);
	/* A blocking fd never says EAGAIN: one pump is the whole conversation. */
	c.readable = 1;
	conn_pump(&c, 1);
	close(c.fd);
	__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_attr_t attr;
	sigset_t stop, old;
	int lfd, max, err;

	lfd = conn_server_start(argc, argv, 0);
	lab_announce(lab_port(lfd));
	max = conn_limit();

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Room for struct conn (72 KiB) and libc; the default 8 MiB (the
	 * stack rlimit) would only reserve address space per connection. */
	pthread_attr_setstacksize(&attr, 256 << 10);

	/* Threads inherit the creator's signal mask (pthread_create(3)). With
	 * SIGTERM blocked in them the kernel delivers it to the main thread,
	 * whose accept then fails with EINTR (signal(7)). */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);

	/* A SIGTERM landing between this test and the wait below is not lost:
	 * the handler shuts the listener down, which ends the wait (proto.h,
	 * lab_stop_wakes). */
	while (!lab_stop) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (fd < 0) {
			/* accept(2): these concern one connection, not the listener. */
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
			    errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				continue;
			perror("blocking-threads: accept");
			return 1;
		}
		if (__atomic_load_n(&live, __ATOMIC_RELAXED) >= max) {
			close(fd);
			continue;
		}
		__atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
		pthread_sigmask(SIG_BLOCK, &stop, &old);
		err = pthread_create(&t, &attr, serve, (void *)(intptr_t)fd);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (err) {
			fprintf(stderr, "blocking-threads: pthread_create: %s\n", strerror(err));
			close(fd);
			__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
		}
	}
	/* Connection threads still blocked in read end with the process. */
	close(lfd);
	return 0;
}
