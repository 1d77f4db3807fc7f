/* SPDX-License-Identifier: MIT */
/* Lab server for blocking I/O, process per connection: the parent blocks in
 * accept and forks a child per connection that blocks in read and write. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "conn.h"

/* Live children's pids, 0 for a free slot. The SIGCHLD handler clears the
 * slots of reaped children; the main loop fills slots with SIGCHLD blocked,
 * so a child that exits at once is never recorded after it is reaped. */
static volatile pid_t kids[CONN_MAX];

static void on_child(int sig)
{
	int saved = errno;
	pid_t pid;

	(void)sig;
	/* Signals do not queue: one SIGCHLD may stand for several children. */
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		for (int i = 0; i < CONN_MAX; i++)
			if (kids[i] == pid) {
				kids[i] = 0;
				break;
			}
	errno = saved;
}

static void child(int lfd, int fd, const sigset_t *mask)
{
	struct conn *c;

	signal(SIGCHLD, SIG_DFL);
	lab_stop_wakes(-1); /* the listener is the parent's, and closed here */
	sigprocmask(SIG_SETMASK, mask, NULL);
	close(lfd);
	c = conn_new(fd);
	if (!c)
		_exit(1);
	/* SIGTERM (lab_signals, no SA_RESTART) makes the blocked read or write
	 * fail with EINTR, and conn_pump then gives up on seeing lab_stop. */
	c->readable = 1;
	conn_pump(c, 1);
	conn_free(c);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct lab_opts o;
	struct sigaction sa;
	sigset_t chld, old;
	int lfd, max;

	lab_parse_args(argc, argv, &o);
	lab_signals();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_child;
	/* SA_RESTART: a child's exit must not abort the blocking accept. */
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);

	conn_open_file(o.file);
	lfd = lab_listen(o.port, 0, 0);
	lab_stop_wakes(lfd);
	lab_announce(lab_port(lfd));
	max = conn_limit();

	/* A SIGTERM landing between this test and the wait below is not lost:
	 * the handler shuts the listener down, which ends the wait (proto.h,
	 * lab_stop_wakes). */
	while (!lab_stop) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		int slot = -1, n = 0;
		pid_t pid;

		if (fd < 0) {
			/* accept(2): these concern one connection, not the listener. */
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
			    errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				continue;
			perror("blocking-fork: accept");
			break;
		}
		sigprocmask(SIG_BLOCK, &chld, &old);
		for (int i = 0; i < CONN_MAX; i++) {
			if (kids[i])
				n++;
			else if (slot < 0)
				slot = i;
		}
		if (slot >= 0 && n < max) {
			pid = fork();
			if (pid == 0)
				child(lfd, fd, &old);
			if (pid < 0)
				perror("blocking-fork: fork");
			else
				kids[slot] = pid;
		}
		close(fd); /* the child has its own copy */
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	close(lfd);

	/* With SIGCHLD blocked no slot changes and every recorded pid is alive
	 * or an unreaped zombie, so kill cannot hit a recycled pid. */
	sigprocmask(SIG_BLOCK, &chld, NULL);
	for (int i = 0; i < CONN_MAX; i++)
		if (kids[i])
			kill(kids[i], SIGTERM);
	for (int i = 0; i < CONN_MAX; i++)
		while (kids[i] && waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
			;
	return lab_stop ? 0 : 1;
}
