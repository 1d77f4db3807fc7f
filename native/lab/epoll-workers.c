/* SPDX-License-Identifier: MIT */
/* Lab server for N event loops: --workers N forked processes, each with its
 * own SO_REUSEPORT listening socket on the same port and its own
 * level-triggered epoll loop, under a parent that only starts and stops them. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "conn.h"

static struct conn *conns[CONN_MAX];
static int nconns;

/* As in epoll-lt.c: interest follows need, EPOLLOUT only while pending. */
static int update(int ep, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	ev.events = (conn_wants_read(c) ? EPOLLIN : 0) | (conn_wants_write(c) ? EPOLLOUT : 0);
	if (ev.events == c->events)
		return 0;
	c->events = ev.events;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void drop(struct conn *c)
{
	conns[c->slot] = conns[--nconns];
	conns[c->slot]->slot = c->slot;
	conn_free(c);
}

static void accept_one(int ep, int lfd, int max)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c;

	if (fd < 0)
		return;
	if (nconns >= max || !(c = conn_new(fd))) {
		close(fd);
		return;
	}
	c->events = ev.events;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("epoll-workers: epoll_ctl(EPOLL_CTL_ADD)");
		conn_free(c);
		return;
	}
	c->slot = nconns;
	conns[nconns++] = c;
}

/* One worker's loop; returns its exit status. Known race as in epoll-lt.c:
 * a SIGTERM just before epoll_wait blocks waits for the next wake-up. */
static int worker(int lfd)
{
	struct epoll_event evs[64], lev = { .events = EPOLLIN, .data.ptr = NULL };
	int ep, max = conn_limit(), ret = 0;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
		perror("epoll-workers: epoll_create1/epoll_ctl");
		return 1;
	}
	while (!lab_stop) {
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll-workers: epoll_wait");
			ret = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c) {
				accept_one(ep, lfd, max);
				continue;
			}
			c->readable = !!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR));
			if (conn_pump(c, 0) == CONN_CLOSE || update(ep, c) < 0)
				drop(c);
		}
	}
	while (nconns > 0)
		drop(conns[nconns - 1]);
	close(ep);
	close(lfd);
	return ret;
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
