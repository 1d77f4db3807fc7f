// SPDX-License-Identifier: MIT
// A process whose threads come and go all the time, for attaching while they do: the
// main thread starts a short-lived thread about every millisecond (each makes a few
// syscalls and exits within about 2 ms) and prints how many it has started, every
// 100th, as "started N". A tracer that attaches thread by thread meets threads that
// exit between its listing of /proc/<pid>/task and its attach.
//
// Usage: thread-flicker
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int null_fd;

static void *worker(void *arg)
{
	// 0 to 2 ms of life, with syscalls for a tracer to see.
	long life_us = (long)(size_t)arg;
	struct timespec ts = { 0, life_us * 1000 };
	char byte = 0;

	if (write(null_fd, &byte, 1) < 0)
		_exit(1);
	nanosleep(&ts, NULL);
	if (write(null_fd, &byte, 1) < 0)
		_exit(1);
	return NULL;
}

int main(void)
{
	pthread_attr_t attr;
	struct timespec tick = { 0, 1000 * 1000 };
	unsigned long started = 0;
	unsigned int seed = (unsigned int)getpid();

	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0) {
		perror("thread-churn: open /dev/null");
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		pthread_t t;
		int err = pthread_create(&t, &attr, worker, (void *)(size_t)(rand_r(&seed) % 2000));

		// EAGAIN: too many alive at once (a slow tracer); wait for some to end.
		if (err && err != EAGAIN) {
			fprintf(stderr, "thread-churn: pthread_create: %s\n", strerror(err));
			return 1;
		}
		if (!err && ++started % 100 == 0)
			printf("started %lu\n", started);
		nanosleep(&tick, NULL);
	}
}
