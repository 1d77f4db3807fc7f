/* SPDX-License-Identifier: MIT */
/* Lab server for N event loops: --workers N forked processes, each with its
 * own SO_REUSEPORT listening socket on the same port and its own
 * level-triggered epoll loop, under a parent that only starts and stops them. */
#define _GNU_SOURCE /* accept4 */
#include <signal.h>
#include <sys/wait.h>

#include "epoll-loop.h"

/* One worker: the loop of epoll-lt, on its own socket; returns its exit status. */
static int worker(int lfd)
{
	int ep = epoll_loop_open(lfd, "epoll-workers");

	lab_stop_wakes(lfd);
	return ep < 0 ? 1 : epoll_loop_run(ep, lfd, "epoll-workers");
}

/* Interrupts sigsuspend; the reaping is done by the loop in main. */
static void on_child(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct lab_opts o;
	struct sigaction sa;
	sigset_t block, old;
	pid_t pids[64];
	int lfds[64], first, port, live = 0;

	lab_parse_args(argc, argv, &o);
	lab_signals();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	conn_open_file(o.file); /* shared by the workers: pread needs no offset */

	/* The first socket learns the port (--port 0), then one socket per
	 * worker joins it in the SO_REUSEPORT group, which spreads incoming
	 * connections over them (socket(7)); all must set the option. They
	 * are made here, as nginx's master does for "listen ... reuseport",
	 * so each is listening before the port is announced. The first one is
	 * closed before any client knows the port: nobody accepts on it. */
	first = lab_listen(o.port, 1, 1);
	port = lab_port(first);
	for (int i = 0; i < o.workers; i++)
		lfds[i] = lab_listen(port, 1, 1);
	close(first);

	/* Blocked until sigsuspend, so that neither a worker's exit nor a
	 * SIGTERM can slip in between the checks and the wait. */
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (int i = 0; i < o.workers; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			signal(SIGCHLD, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			for (int j = 0; j < o.workers; j++)
				if (j != i)
					close(lfds[j]);
			_exit(worker(lfds[i]));
		}
		if (pids[i] < 0)
			perror("epoll-workers: fork");
		else
			live++;
	}
	for (int i = 0; i < o.workers; i++)
		close(lfds[i]);
	if (live > 0)
		lab_announce(port);

	while (live > 0 && !lab_stop) {
		pid_t pid;

		while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
			for (int i = 0; i < o.workers; i++)
				if (pids[i] == pid) {
					pids[i] = -1;
					live--;
				}
		if (live > 0 && !lab_stop)
			sigsuspend(&old);
	}
	for (int i = 0; i < o.workers; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	for (int i = 0; i < o.workers; i++)
		while (pids[i] > 0 && waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	/* 0 only for a requested stop; workers that all died on their own fail. */
	return lab_stop ? 0 : 1;
}
