// SPDX-License-Identifier: MIT
// A target that counts the signals it handles, so a test can tell whether a tracer lost,
// added or merged any: each handled signal is acknowledged on stdout before the test sends
// the next one (standard signals do not queue: two sent before the first is handled count
// once, traced or not).
//
// Usage: signals [--exec-on-hup PROG ARG...]
//                                     wait for signals, acknowledge each one
//        signals --exit CODE          exit(CODE) at once
//        signals --segv               crash on a null pointer write
//        signals --spawn N PROG ARG...
//                                     fork N children one after the other, each execv'ing
//                                     PROG, wait for each; exit 0 if all exited 0
//
// Waiting mode prints "ready pid=<pid>" and then one line per event:
//   SIGUSR1  "usr1=<n>"
//   SIGUSR2  forks a child that exits 7 at once; its SIGCHLD: "chld=<n> status=7"
//   SIGCONT  "cont=<n>" (the continue after a job-control stop)
//   SIGTERM  "final usr1=<n> usr2=<n> chld=<n> cont=<n>" and exit 0
//   SIGQUIT  a real crash: a write through a null pointer (SIGSEGV)
//   SIGHUP   with --exec-on-hup: "exec", then execv PROG
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t usr1, usr2, chld, cont, term, quit, hup;

static void on_signal(int sig)
{
	switch (sig) {
	case SIGUSR1: usr1++; break;
	case SIGUSR2: usr2++; break;
	case SIGCHLD: chld++; break;
	case SIGCONT: cont++; break;
	case SIGTERM: term = 1; break;
	case SIGQUIT: quit = 1; break;
	case SIGHUP: hup = 1; break;
	}
}

static void die(const char *what)
{
	fprintf(stderr, "signals: %s: %s\n", what, strerror(errno));
	exit(1);
}

// volatile: at -O2 GCC turns a plain null store into a trap (SIGILL), not a fault.
static void crash(void)
{
	volatile int *p = NULL;
	*p = 1;
}

static int spawn(long n, char **argv)
{
	int failed = 0;

	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid");
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	return failed;
}

int main(int argc, char **argv)
{
	static const int handled[] = { SIGUSR1, SIGUSR2, SIGCHLD, SIGCONT, SIGTERM, SIGQUIT, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigset_t block, wait_mask;
	long seen_usr1 = 0, seen_usr2 = 0, seen_chld = 0, seen_cont = 0;
	int last_status = -1;

	if (argc == 3 && !strcmp(argv[1], "--exit"))
		return atoi(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "--segv"))
		crash();
	if (argc >= 4 && !strcmp(argv[1], "--spawn"))
		return spawn(atol(argv[2]), argv + 3);
	if (argc != 1 && (argc < 3 || strcmp(argv[1], "--exec-on-hup"))) {
		fprintf(stderr, "usage: see the top of test/workloads/signals.c\n");
		return 2;
	}

	// Handlers run only inside sigsuspend, so each event is seen and acknowledged once.
	sigemptyset(&block);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) {
		sigaddset(&block, handled[i]);
		if (sigaction(handled[i], &sa, NULL) < 0)
			die("sigaction");
	}
	if (sigprocmask(SIG_BLOCK, &block, &wait_mask) < 0)
		die("sigprocmask");
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		sigdelset(&wait_mask, handled[i]);

	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	for (;;) {
		int status;
		pid_t pid;

		sigsuspend(&wait_mask);
		// Reap first: a SIGCHLD is acknowledged with its child's status.
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			last_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (usr1 != seen_usr1)
			printf("usr1=%ld\n", seen_usr1 = usr1);
		if (cont != seen_cont)
			printf("cont=%ld\n", seen_cont = cont);
		if (chld != seen_chld)
			printf("chld=%ld status=%d\n", seen_chld = chld, last_status);
		if (usr2 != seen_usr2) {
			seen_usr2 = usr2;
			pid = fork();
			if (pid < 0)
				die("fork");
			if (pid == 0)
				_exit(7);
		}
		if (quit)
			crash();
		if (hup && argc >= 3) {
			// execve(2) keeps the signal mask: the new program must not start with these blocked.
			sigprocmask(SIG_SETMASK, &wait_mask, NULL);
			printf("exec\n");
			fflush(stdout);
			execv(argv[2], argv + 2);
			die("execv");
		}
		if (term) {
			printf("final usr1=%ld usr2=%ld chld=%ld cont=%ld\n", (long)usr1, (long)usr2, (long)chld, (long)cont);
			return 0;
		}
		fflush(stdout);
	}
}
