/* SPDX-License-Identifier: MIT */
/* Lab server for signal-driven I/O: every socket is O_ASYNC with a realtime
 * signal (F_SETSIG), the signals stay blocked and one thread takes them with
 * sigwaitinfo(2), then serves the socket named by si_fd until EAGAIN; there
 * is no select, poll or epoll. GET /file uses the copy path (pread + write).
 *
 * The kernel sends a signal when a socket gets data, a connection or, after
 * a send hit EAGAIN, send room (sock_wake_async in net/socket.c): an edge,
 * so each socket is served until EAGAIN, and once right after O_ASYNC is set
 * since anything that came before raised no signal. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <time.h>

#include "datapath.h"

static const struct dp_ops signal_ops = {
	.file_send = dp_copy_send,
	.conn_done = dp_priv_free,
};

static int sig_io; /* SIGRTMIN + 1: glibc keeps the first ones (signal(7)) */

/* F_SETSIG before O_ASYNC, so that the first signal is already the
 * realtime one carrying si_fd (fcntl(2)). */
static int make_async(int fd)
{
	if (fcntl(fd, F_SETOWN, getpid()) < 0 || fcntl(fd, F_SETSIG, sig_io) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK | O_ASYNC) < 0)
		return -errno;
	return 0;
}

/* After dp_step: signals cover every wait but the budget's, which has no
 * event to wake it, so those connections go on the again list. */
static void step(struct dp_server *s, struct dp_conn *c)
{
	if (dp_step(s, c) == DP_AGAIN && !c->again) {
		c->again = 1;
		c->next_again = s->again;
		s->again = c;
	}
}

static void accept_all(struct dp_server *s)
{
	struct dp_conn *c;

	while ((c = dp_accept(s)) != NULL) {
		if (make_async(c->fd) < 0) {
			dp_close(s, c);
			continue;
		}
		step(s, c);
	}
	/* At the cap the backlog raises no new signal for the connections
	 * already in it: the loop calls accept_all again after a close. */
	s->accepting = errno == EAGAIN;
}

static void run_again(struct dp_server *s)
{
	struct dp_conn *list = s->again;

	s->again = NULL;
	while (list) {
		struct dp_conn *c = list;

		list = c->next_again;
		c->again = 0;
		step(s, c); /* a closed one (fd -1) is skipped by dp_step */
	}
}

int main(int argc, char **argv)
{
	static struct dp_server s;
	const struct timespec zero = { 0, 0 };
	sigset_t set;
	siginfo_t si;
	int err;

	dp_setup(&s, &signal_ops, argc, argv);
	sig_io = SIGRTMIN + 1;
	/* Blocked, the signals queue up for sigwaitinfo instead of running
	 * handlers; SIGTERM and SIGINT are taken the same way, so a stop
	 * that comes at any moment ends the wait (sigwaitinfo(2)). */
	sigemptyset(&set);
	sigaddset(&set, sig_io);
	sigaddset(&set, SIGIO);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		dp_die("sigprocmask", errno);
	err = make_async(s.lfd);
	if (err < 0)
		dp_die("fcntl(listener, O_ASYNC)", -err);
	lab_announce(lab_port(s.lfd));
	accept_all(&s);
	for (;;) {
		/* With connections on the again list, only look for signals. */
		int sig = s.again ? sigtimedwait(&set, &si, &zero) : sigwaitinfo(&set, &si);

		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig < 0 && errno != EAGAIN && errno != EINTR)
			dp_die("sigwaitinfo", errno);
		if (sig == sig_io) {
			/* A signal may name an fd closed since, or reused by a newer
			 * connection: serving it then finds EAGAIN, no harm. */
			if (si.si_fd == s.lfd)
				accept_all(&s);
			else if (si.si_fd >= 0 && si.si_fd < DP_FD_MAX && s.conns[si.si_fd])
				step(&s, s.conns[si.si_fd]);
		} else if (sig == SIGIO) {
			/* The realtime queue overflowed (RLIMIT_SIGPENDING) and the
			 * kernel fell back to plain SIGIO, which names no fd
			 * (send_sigio_to_task in fs/fcntl.c): serve everything. */
			accept_all(&s);
			for (int fd = 0; fd < DP_FD_MAX; fd++)
				if (s.conns[fd])
					step(&s, s.conns[fd]);
		}
		run_again(&s);
		dp_reap(&s);
		if (!s.accepting && s.nconns < DP_MAX_CONNS)
			accept_all(&s);
	}
	return 0;
}
