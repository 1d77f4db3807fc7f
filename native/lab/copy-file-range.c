/* SPDX-License-Identifier: MIT */
/* Lab server for the `copy-file-range` data path: an epoll level-triggered
 * loop that answers GET /file by staging a private snapshot of the served
 * file with copy_file_range(2), then sending the snapshot with sendfile(2).
 *
 * Why: sendfile from the served file sends what it holds as each piece leaves,
 * so a file rewritten during a slow answer goes out mixed; some caches and
 * backup tools stage a copy and send that. copy_file_range may use reflinks
 * (copy_file_range(2), NOTES); on ext4 or tmpfs the kernel copies each byte
 * through the page cache, not atomically against writers, so the snapshot
 * narrows that window to the copy. It takes regular files only (EINVAL, a
 * socket included), hence sendfile. No body byte enters user space. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <sys/sendfile.h>

#include "datapath.h"

/* The served file's directory: elsewhere copy_file_range may fail with EXDEV. */
static int dir_fd = -1;

/* One O_TMPFILE per connection, made at its first GET /file, reused by its
 * later ones and closed with it: unnamed, so nothing is left behind, and "lost
 * when the last file descriptor is closed" (open(2)). Until then it holds the
 * last snapshot: up to DP_MAX_CONNS file sizes of disk and page cache. */
struct snap {
	int fd;
	size_t len; /* bytes of the current answer's body staged so far */
};

static int snap_open(void)
{
	return openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

static ssize_t stage(struct dp_server *s, int fd, size_t pos, size_t len)
{
	loff_t in = (loff_t)pos, out = (loff_t)pos; /* the shared position stays */

	return copy_file_range(s->file_fd, &in, fd, &out, len, 0);
}

static ssize_t cfr_send(struct dp_server *s, struct dp_conn *c)
{
	struct snap *p = c->priv;
	ssize_t n;

	if (!p) {
		p = malloc(sizeof(*p));
		if (!p || (p->fd = snap_open()) < 0) {
			free(p);
			return -1;
		}
		p->len = 0;
		c->priv = p;
	}
	/* The whole snapshot first; the loop waits (3.5 ms per 10 MB on ext4
	 * here). A short copy "could be" (copy_file_range(2)) and happens at
	 * 10 MB: go on. EINTR is unlikely with SIGTERM blocked for the signalfd;
	 * EAGAIN waits for EPOLLOUT, ready at once, and resumes here. */
	while (p->len < c->body_len) {
		n = stage(s, p->fd, p->len, c->body_len - p->len);
		if (n > 0)
			p->len += (size_t)n;
		else if (n == 0)
			return errno = EIO, -1; /* the file shrank since it was opened */
		else if (errno != EINTR)
			return -1;
	}
	/* As in sendfile.c: the connection's own offset; EAGAIN: socket full. */
	off_t off = (off_t)c->body_off;
	n = sendfile(c->fd, p->fd, &off, dp_min(DP_CHUNK, c->body_len - c->body_off));
	if (n == 0)
		return errno = EIO, -1;
	if (n > 0 && c->body_off + (size_t)n == c->body_len)
		p->len = 0; /* answer out: the next GET /file takes a new snapshot */
	return n;
}

static void cfr_done(struct dp_server *s, struct dp_conn *c)
{
	struct snap *p = c->priv;

	(void)s;
	if (p)
		close(p->fd);
	free(p);
	c->priv = NULL;
}

static const struct dp_ops cfr_ops = {
	.file_send = cfr_send,
	.conn_done = cfr_done,
};

/* Fails once at start where staging cannot work (no O_TMPFILE: EOPNOTSUPP;
 * another file system: EXDEV; no support: EOPNOTSUPP or ENOSYS) rather than
 * per request, and never falls back to a user-space copy, another data path. */
static void probe(struct dp_server *s)
{
	char *dir = strdup(s->file_path);
	int fd, err;

	if (!dir || (dir_fd = open(dirname(dir), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		dp_die("open the served file's directory", errno);
	free(dir);
	fd = snap_open();
	if (fd >= 0 && stage(s, fd, 0, dp_min(1, s->file_size)) >= 0) {
		close(fd);
		return;
	}
	err = errno;
	fprintf(stderr, "%s: %s: %s: %s; this server has no fallback\n",
		program_invocation_short_name, s->file_path,
		fd < 0 ? "cannot make an O_TMPFILE snapshot next to it"
		       : "copy_file_range cannot stage it into its directory",
		strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	static struct dp_server s;

	dp_setup(&s, &cfr_ops, argc, argv);
	probe(&s);
	dp_epoll_init(&s);
	return dp_epoll_run(&s);
}
