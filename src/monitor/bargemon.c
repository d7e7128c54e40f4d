/*
 * bargemon — barge's per-container monitor.
 *
 * One bargemon runs for each container (and for each exec process). It starts the process through
 * the OCI runtime (runc), owns the process's stdio, writes the json-file log, serves clients over a
 * unix socket and records the exit status. Because the container's stdio and exit status belong to
 * bargemon, not to barged, barged can die and restart while containers keep running; it reconnects
 * to the socket (or reads the exit file) later.
 *
 * Processes:
 *
 *   barged ──spawn──> bargemon ──fork──> bargemon (the monitor: setsid, child subreaper)
 *                        │                   │
 *                        └ exits 0 as soon   ├──fork/exec──> runc run -d / runc exec -d  (exits once started)
 *                          as the socket     │
 *                          listens           └── container process: runc's grandchild, reparented to the
 *                                                monitor when runc exits because the monitor is a subreaper
 *
 * Phases of the monitor:
 *   WAIT_START  socket listening, nothing started; exits after --start-timeout without a START frame
 *   STARTING    runc is running; the container's pipes are not read yet (runc's own errors go there)
 *   RUNNING     output is copied to the log and to subscribed clients; stdin, resize, etc. served
 *   DRAINING    the container's process exited; reading what is left on its pipes / pty
 *   FLUSHING    exit file written, EXIT sent to every client; waiting (bounded) for client buffers
 *               to empty, then unlink the socket and exit
 *
 * Everything happens in one thread around one poll() loop. Every descriptor the monitor owns is
 * non-blocking and close-on-exec, so runc inherits only the stdio we hand it.
 *
 * Socket protocol (both directions): frames shaped like Docker's stdcopy frames,
 * [type:u8, 0, 0, 0, length:u32 big-endian] + payload. Types are the FRAME_* constants below.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---- protocol ----------------------------------------------------------------------------- */

enum {
	FRAME_STDIN = 0,       /* client -> monitor: data for the container's stdin */
	FRAME_STDOUT = 1,      /* monitor -> client */
	FRAME_STDERR = 2,      /* monitor -> client */
	FRAME_RESIZE = 3,      /* client -> monitor: rows u16 BE, cols u16 BE */
	FRAME_CLOSE_STDIN = 4, /* client -> monitor: close the stdin pipe (ignored with a TTY) */
	FRAME_EXIT = 5,        /* monitor -> client: {"exitCode":N,"signal":S,"finishedAt":"..."} */
	FRAME_SUBSCRIBE = 6,   /* client -> monitor: 1 byte, bit 1 = stdout, bit 2 = stderr */
	FRAME_START = 7,       /* client -> monitor: start the container (first one counts) */
	FRAME_STARTED = 8,     /* monitor -> client: {"pid":N} or {"error":"..."} */
	FRAME_STATUS = 9,      /* both ways: request (empty) / answer {"pid":N,"running":B} */
};

/* ---- limits and timings ------------------------------------------------------------------- */

#define CLIENT_OUT_MAX (4u << 20)       /* a client further behind than this is disconnected */
#define STDIN_MAX (1u << 20)            /* stop reading stdin-writing clients above this */
#define STDIN_PRESTART_MAX (16u << 20)  /* stdin buffered before start beyond this is dropped */
#define CTL_MAX 64                      /* largest control-frame payload we keep (others: skipped) */
#define LOG_LINE_MAX 16384              /* Docker's json-file splits longer lines at 16 KiB */
#define READ_CHUNK 16384
#define RUNC_ERR_MAX 65536
#define DRAIN_EXEC_MS 1000   /* exec: background children may hold the pipes open for ever */
#define DRAIN_IDLE_MS 3000   /* run: the pid namespace dies with init, so EOF comes fast; backstop */
#define FLUSH_MS 3000        /* at the end, how long slow clients get to take their output */

/* ---- options ------------------------------------------------------------------------------ */

static struct {
	const char *runtime, *runtime_root, *id, *socket, *exit_file, *pid_file;
	const char *bundle, *exec_process, *log_file, *runtime_log, *debug_log;
	long long log_max_size;
	int log_max_files;
	int tty, stdin_open;
	int start_timeout;
} opt = { .log_max_files = 1, .start_timeout = 60 };

/* ---- state -------------------------------------------------------------------------------- */

enum phase { WAIT_START, STARTING, RUNNING, DRAINING, FLUSHING };
static enum phase phase = WAIT_START;
static int64_t deadline;                /* monotonic ms; meaning depends on the phase; 0 = none */

static int listen_fd = -1;
static dev_t sock_dev;                  /* identity of our socket file, so that we never unlink */
static ino_t sock_ino;                  /* a socket a newer monitor has put at the same path */
static int sig_fd = -1;

static pid_t runc_pid;                  /* while STARTING */
static pid_t ctr_pid;                   /* the container's (or exec process's) pid, from --pid-file */
static off_t runtime_log_off;           /* size of --runtime-log before runc ran */
static int runc_out_fd = -1;            /* TTY mode: runc's own stdout+stderr */

/* Children reaped before the container's pid was known (it can exit before runc does). */
static struct { pid_t pid; int status; } early[16];
static unsigned n_early;

static int exited;                      /* the container's process has been reaped */
static int exit_code, exit_signal;
static struct timespec finished_at;
static char exit_json[128];

/* TTY mode: runc connects to the console socket and sends the pty master with SCM_RIGHTS. */
static char console_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char console_dir[32];            /* set when the console socket had to go to a temp dir */
static int console_listen = -1, console_conn = -1;
static int pty_master = -1;
static int have_winsize;
static struct winsize winsz;

/* A growable byte queue: live bytes are p[off .. off+len). */
struct buf {
	char *p;
	size_t off, len, cap;
};

/* Container output: a pipe read end, or the pty master (then all output is stdout). */
struct stream {
	int fd;
	int type;            /* FRAME_STDOUT or FRAME_STDERR; also the SUBSCRIBE bit it needs */
	const char *name;    /* "stdout" / "stderr" in the log */
	char *line;          /* the log's pending partial line (allocated only when needed) */
	size_t line_len;
};
static struct stream out_s = { -1, FRAME_STDOUT, "stdout", NULL, 0 };
static struct stream err_s = { -1, FRAME_STDERR, "stderr", NULL, 0 };

static int stdin_fd = -1;               /* our end of the container's stdin (pipe, or a dup of the pty master) */
static struct buf stdin_buf;
static int stdin_close_req;             /* CLOSE_STDIN received: close once stdin_buf is written */
static int stdin_dead;                  /* closed or broken: further input is dropped */

static int log_fd = -1;
static long long log_size;

struct client {
	struct client *next;
	int fd;
	int dead;                /* dropped; freed at the end of the loop iteration */
	int rd_eof;              /* the client shut down its writing side */
	int wants_started;       /* sent START, waits for STARTED */
	int sent_stdin;          /* has written stdin: subject to stdin back-pressure */
	unsigned subs;           /* SUBSCRIBE mask */
	unsigned char hdr[8];    /* frame header being read */
	unsigned hdr_len;
	int in_frame;            /* header complete, reading the payload */
	unsigned type;
	uint32_t left;           /* payload bytes of the current frame still to read */
	unsigned char ctl[CTL_MAX];
	unsigned ctl_len;
	struct buf out;          /* output the socket would not take yet */
};
static struct client *clients;

/* ---- small helpers ------------------------------------------------------------------------ */

static void dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void dbg(const char *fmt, ...)
{
	if (!opt.debug_log)
		return;
	char line[1024];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int n = snprintf(line, sizeof line, "%lld.%06ld bargemon[%d] ", (long long)ts.tv_sec,
			 ts.tv_nsec / 1000, (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	if (write(2, line, n) < 0) { /* nowhere to report it */ }
}

static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fatal(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof msg - 2)
		n = sizeof msg - 2;
	msg[n++] = '\n';
	if (write(2, "bargemon: ", 10) < 0 || write(2, msg, n) < 0) { /* nothing to do */ }
	exit(1);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* Go's time.RFC3339Nano in UTC: nanoseconds with trailing zeros dropped, as Docker writes it. */
static size_t fmt_time(char *out, size_t cap, const struct timespec *ts)
{
	struct tm tm;
	time_t s = ts->tv_sec;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ts->tv_nsec > 0) {
		char frac[24];
		snprintf(frac, sizeof frac, "%09ld", ts->tv_nsec);
		size_t k = 9;
		while (k > 0 && frac[k - 1] == '0')
			k--;
		out[n++] = '.';
		memcpy(out + n, frac, k);
		n += k;
	}
	out[n++] = 'Z';
	out[n] = 0;
	return n;
}

/* ---- byte queues ---------------------------------------------------------------------------- */

static int buf_append(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (b->off + b->len + n > b->cap) {
		if (b->off > 0) {
			memmove(b->p, b->p + b->off, b->len);
			b->off = 0;
		}
		if (b->len + n > b->cap) {
			size_t cap = b->cap ? b->cap : 4096;
			while (cap < b->len + n)
				cap *= 2;
			char *p = realloc(b->p, cap);
			if (!p)
				return -1;
			b->p = p;
			b->cap = cap;
		}
	}
	memcpy(b->p + b->off + b->len, data, n);
	b->len += n;
	return 0;
}

/* Drops n bytes from the front. An emptied queue gives its memory back: idle monitors stay small. */
static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0) {
		free(b->p);
		b->p = NULL;
		b->off = b->cap = 0;
	}
}

static void buf_free(struct buf *b)
{
	if (b->len)
		buf_consume(b, b->len);
	free(b->p);
	b->p = NULL;
	b->off = b->cap = 0;
}

/* ---- JSON ----------------------------------------------------------------------------------- */

/*
 * Length of the valid UTF-8 sequence at s (lead byte >= 0x80), or 0 if invalid — with exactly the
 * rules of Go's utf8.DecodeRune (no overlongs, no surrogates, nothing above U+10FFFF, no truncated
 * sequences), so that invalid input turns into the same \ufffd's Docker would write.
 */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t need;
	uint32_t v;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		need = 2; v = c & 0x1F;
	} else if (c < 0xF0) {
		need = 3; v = c & 0x0F;
		if (c == 0xE0) lo = 0xA0;
		else if (c == 0xED) hi = 0x9F;
	} else if (c < 0xF5) {
		need = 4; v = c & 0x07;
		if (c == 0xF0) lo = 0x90;
		else if (c == 0xF4) hi = 0x8F;
	} else {
		return 0;
	}
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	v = v << 6 | (s[1] & 0x3F);
	for (size_t k = 2; k < need; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[k] & 0x3F);
	}
	*cp = v;
	return need;
}

/*
 * Escapes bytes as the contents of a JSON string the way Go's encoding/json (and Docker's
 * json-file writer) does. dst must hold 6*n bytes. Returns the length written.
 */
static size_t json_escape(char *dst, const void *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = src;
	char *d = dst;
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
				*d++ = (char)c;
				continue;
			}
			*d++ = '\\';
			switch (c) {
			case '"': case '\\': *d++ = (char)c; break;
			case '\n': *d++ = 'n'; break;
			case '\r': *d++ = 'r'; break;
			case '\t': *d++ = 't'; break;
			default:
				*d++ = 'u'; *d++ = '0'; *d++ = '0';
				*d++ = hex[c >> 4]; *d++ = hex[c & 15];
			}
			continue;
		}
		uint32_t cp;
		size_t k = utf8_seq(s + i, n - i, &cp);
		if (k == 0) {
			memcpy(d, "\\ufffd", 6);
			d += 6;
			i++;
		} else if (cp == 0x2028 || cp == 0x2029) {
			/* valid JSON, but not valid JavaScript: Go escapes them */
			memcpy(d, "\\u202", 5);
			d += 5;
			*d++ = hex[cp & 15];
			i += k;
		} else {
			memcpy(d, s + i, k);
			d += k;
			i += k;
		}
	}
	return (size_t)(d - dst);
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) { o[0] = (char)cp; return 1; }
	if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static uint32_t hexnum(const char *s, int digits)
{
	uint32_t v = 0;
	for (int i = 0; i < digits; i++) {
		int h = hexval((unsigned char)s[i]);
		if (h < 0)
			return 0xFFFD;
		v = v << 4 | (uint32_t)h;
	}
	return v;
}

/*
 * Decodes a quoted string whose opening quote is just before s, up to the closing quote or end.
 * Understands JSON escapes and those of Go's strconv.Quote (logrus' text format quotes with it).
 * Writes at most cap-1 bytes plus a NUL. Returns the length.
 */
static size_t unquote(const char *s, const char *end, char *out, size_t cap)
{
	size_t n = 0;
	while (s < end && *s != '"' && n + 5 < cap) {
		char c = *s++;
		if (c != '\\' || s >= end) {
			out[n++] = c;
			continue;
		}
		c = *s++;
		uint32_t cp;
		switch (c) {
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case 'r': out[n++] = '\r'; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'a': out[n++] = '\a'; break;
		case 'v': out[n++] = '\v'; break;
		case 'x':
			if (end - s >= 2) { out[n++] = (char)hexnum(s, 2); s += 2; }
			break;
		case 'u':
			if (end - s < 4)
				break;
			cp = hexnum(s, 4);
			s += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && end - s >= 6 && s[0] == '\\' && s[1] == 'u') {
				uint32_t lo = hexnum(s + 2, 4);
				if (lo >= 0xDC00 && lo < 0xE000) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					s += 6;
				}
			}
			if (cp >= 0xD800 && cp < 0xE000)
				cp = 0xFFFD;
			n += put_utf8(out + n, cp);
			break;
		case 'U':
			if (end - s < 8)
				break;
			cp = hexnum(s, 8);
			s += 8;
			n += put_utf8(out + n, cp > 0x10FFFF ? 0xFFFD : cp);
			break;
		default: out[n++] = c; /* \" \\ \/ \' */
		}
	}
	out[n] = 0;
	return n;
}

/* ---- the json-file log ---------------------------------------------------------------------- */

static int log_open(int trunc)
{
	log_fd = open(opt.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (trunc ? O_TRUNC : 0), 0640);
	if (log_fd < 0)
		return -1;
	struct stat st;
	log_size = fstat(log_fd, &st) == 0 ? st.st_size : 0;
	return 0;
}

/* log.(N-2) -> log.(N-1), ..., log.1 -> log.2, log -> log.1; with one file, start over. */
static void log_rotate(void)
{
	close_fd(&log_fd);
	if (opt.log_max_files > 1) {
		size_t len = strlen(opt.log_file) + 16;
		char from[len], to[len];
		for (int i = opt.log_max_files - 1; i >= 2; i--) {
			snprintf(from, len, "%s.%d", opt.log_file, i - 1);
			snprintf(to, len, "%s.%d", opt.log_file, i);
			rename(from, to);   /* ENOENT for files not there yet: fine */
		}
		snprintf(to, len, "%s.1", opt.log_file);
		rename(opt.log_file, to);
	}
	if (log_open(opt.log_max_files <= 1) < 0)
		dbg("reopening the log after rotation: %s", strerror(errno));
}

/* One log entry: {"log":"...","stream":"stdout","time":"..."}\n — data includes its '\n' if any. */
static void log_entry(const char *stream, const char *data, size_t n, const struct timespec *ts)
{
	if (log_fd < 0)
		return;
	char small[4096], *line = small;
	size_t need = 6 * n + 96;
	if (need > sizeof small && !(line = malloc(need)))
		return;
	size_t len = 0;
	memcpy(line, "{\"log\":\"", 8);
	len = 8;
	len += json_escape(line + len, data, n);
	len += (size_t)sprintf(line + len, "\",\"stream\":\"%s\",\"time\":\"", stream);
	len += fmt_time(line + len, 40, ts);
	memcpy(line + len, "\"}\n", 3);
	len += 3;
	if (opt.log_max_size > 0 && log_size > 0 && log_size + (long long)len > opt.log_max_size)
		log_rotate();
	if (log_fd >= 0 && write_all(log_fd, line, len) == 0)
		log_size += (long long)len;
	if (line != small)
		free(line);
}

/*
 * Feeds output to the log the way Docker's log copier does: each complete line is one entry
 * (with its '\n'); a line that fills the 16 KiB buffer without a newline is written as a partial
 * entry (no '\n'); what is left when the stream closes is flushed as a partial entry.
 */
static void log_feed(struct stream *s, const char *p, size_t n, const struct timespec *ts)
{
	if (log_fd < 0)
		return;
	while (n > 0) {
		size_t room = LOG_LINE_MAX - s->line_len;
		size_t scan = n < room ? n : room;
		const char *nl = memchr(p, '\n', scan);
		if (nl && s->line_len == 0) {
			/* the common case: a whole line inside the chunk just read, no copy */
			size_t k = (size_t)(nl - p) + 1;
			log_entry(s->name, p, k, ts);
			p += k;
			n -= k;
			continue;
		}
		size_t k = nl ? (size_t)(nl - p) + 1 : scan;
		if (!s->line && !(s->line = malloc(LOG_LINE_MAX)))
			return;
		memcpy(s->line + s->line_len, p, k);
		s->line_len += k;
		p += k;
		n -= k;
		if (nl || s->line_len == LOG_LINE_MAX) {
			log_entry(s->name, s->line, s->line_len, ts);
			s->line_len = 0;
		}
	}
	if (s->line_len == 0) {
		free(s->line);
		s->line = NULL;
	}
}

static void log_flush_partial(struct stream *s)
{
	if (s->line_len > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		log_entry(s->name, s->line, s->line_len, &ts);
	}
	free(s->line);
	s->line = NULL;
	s->line_len = 0;
}

/* ---- clients ---------------------------------------------------------------------------------- */

static void client_drop(struct client *c, const char *why)
{
	if (c->dead)
		return;
	dbg("client fd %d dropped: %s", c->fd, why);
	c->dead = 1;
	close_fd(&c->fd);
	buf_free(&c->out);
}

/* Queues a frame; writes straight away when nothing is queued before it. Never blocks. */
static void client_send(struct client *c, int type, const void *data, size_t n)
{
	if (c->dead)
		return;
	unsigned char h[8] = { (unsigned char)type, 0, 0, 0 };
	put_be32(h + 4, (uint32_t)n);
	size_t skip = 0;
	if (c->out.len == 0) {
		struct iovec iov[2] = { { h, 8 }, { (void *)data, n } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n ? 2 : 1 };
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				client_drop(c, strerror(errno));
				return;
			}
			w = 0;
		}
		skip = (size_t)w;
		if (skip == 8 + n)
			return;
	}
	if (c->out.len + 8 + n - skip > CLIENT_OUT_MAX) {
		client_drop(c, "output buffer over its limit");
		return;
	}
	int err = 0;
	if (skip < 8)
		err = buf_append(&c->out, h + skip, 8 - skip);
	skip = skip > 8 ? skip - 8 : 0;
	if (!err)
		err = buf_append(&c->out, (const char *)data + skip, n - skip);
	if (err)
		client_drop(c, "out of memory");
}

static void client_send_str(struct client *c, int type, const char *s)
{
	client_send(c, type, s, strlen(s));
}

static void client_flush(struct client *c)
{
	while (!c->dead && c->out.len > 0) {
		ssize_t w = send(c->fd, c->out.p + c->out.off, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			client_drop(c, strerror(errno));
			return;
		}
		buf_consume(&c->out, (size_t)w);
	}
}

static void send_status(struct client *c)
{
	char js[64];
	snprintf(js, sizeof js, "{\"pid\":%d,\"running\":%s}", (int)ctr_pid,
		 ctr_pid > 0 && !exited ? "true" : "false");
	client_send_str(c, FRAME_STATUS, js);
}

static void send_started_pid(struct client *c)
{
	char js[32];
	snprintf(js, sizeof js, "{\"pid\":%d}", (int)ctr_pid);
	client_send_str(c, FRAME_STARTED, js);
	c->wants_started = 0;
}

/* ---- stdin ---------------------------------------------------------------------------------- */

static void stdin_feed(struct client *c, const unsigned char *data, size_t n)
{
	if (!opt.stdin_open || stdin_dead || stdin_close_req)
		return;
	if (phase < RUNNING && stdin_buf.len + n > STDIN_PRESTART_MAX) {
		dbg("dropping %zu bytes of stdin sent before start", n);
		return;
	}
	if (buf_append(&stdin_buf, data, n) < 0)
		return;
	c->sent_stdin = 1;
}

static void stdin_shut(void)
{
	if (!opt.tty || stdin_fd != pty_master)
		close_fd(&stdin_fd);
	stdin_fd = -1;
	stdin_dead = 1;
	buf_free(&stdin_buf);
}

static void stdin_write(void)
{
	while (stdin_fd >= 0 && stdin_buf.len > 0) {
		ssize_t w = write(stdin_fd, stdin_buf.p + stdin_buf.off, stdin_buf.len);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			dbg("stdin: %s", strerror(errno));   /* EPIPE: nobody reads it any more */
			stdin_shut();
			return;
		}
		buf_consume(&stdin_buf, (size_t)w);
	}
}

/* After every loop iteration: honour CLOSE_STDIN once everything before it is written. */
static void stdin_service(void)
{
	if (stdin_fd >= 0 && stdin_close_req && stdin_buf.len == 0) {
		dbg("closing stdin");
		stdin_shut();
	}
}

/* ---- the pty ---------------------------------------------------------------------------------- */

static void apply_winsize(void)
{
	if (pty_master >= 0 && have_winsize && ioctl(pty_master, TIOCSWINSZ, &winsz) < 0)
		dbg("TIOCSWINSZ: %s", strerror(errno));
}

static void console_cleanup(void)
{
	close_fd(&console_listen);
	close_fd(&console_conn);
	if (console_path[0]) {
		unlink(console_path);
		console_path[0] = 0;
	}
	if (console_dir[0]) {
		rmdir(console_dir);
		console_dir[0] = 0;
	}
}

static void console_accept(void)
{
	int fd = accept4(console_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	console_conn = fd;
	close_fd(&console_listen);
}

/* runc sends one message: the pty's name as data and the master in SCM_RIGHTS. */
static void console_recv(void)
{
	char name[256];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { name, sizeof name };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl };
	ssize_t r = recvmsg(console_conn, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	for (struct cmsghdr *cm = r >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm), sizeof fd);
			if (pty_master < 0) {
				pty_master = fd;
				set_nonblock(fd);
				apply_winsize();   /* a RESIZE may have come before the pty */
				dbg("got the pty master");
			} else {
				close(fd);
			}
		}
	}
	console_cleanup();
}

/* A second listening socket, next to the main one when the name fits in sun_path. */
static int console_listen_create(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(opt.socket) + 9 <= sizeof sa.sun_path) {
		snprintf(console_path, sizeof console_path, "%s.console", opt.socket);
	} else {
		strcpy(console_dir, "/tmp/bargemon-XXXXXX");
		if (!mkdtemp(console_dir)) {
			console_dir[0] = 0;
			return -1;
		}
		snprintf(console_path, sizeof console_path, "%s/console", console_dir);
	}
	unlink(console_path);
	strcpy(sa.sun_path, console_path);
	console_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (console_listen < 0)
		return -1;
	mode_t old = umask(0177);
	int r = bind(console_listen, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0 || listen(console_listen, 2) < 0)
		return -1;
	return 0;
}

/* ---- starting the container --------------------------------------------------------------------- */

/* Reads what is available on a non-blocking fd (runc has exited: its writes are all there). */
static void read_available(int fd, struct buf *b)
{
	char chunk[4096];
	while (fd >= 0 && b->len < RUNC_ERR_MAX) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		buf_append(b, chunk, (size_t)r);
	}
}

/* The message of the last error (else last) entry runc wrote to --runtime-log during this start. */
static void runtime_log_msg(char *out, size_t cap)
{
	out[0] = 0;
	if (!opt.runtime_log)
		return;
	int fd = open(opt.runtime_log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	off_t from = runtime_log_off;
	if (fstat(fd, &st) == 0 && st.st_size - from > RUNC_ERR_MAX)
		from = st.st_size - RUNC_ERR_MAX;
	struct buf b = { 0 };
	if (lseek(fd, from, SEEK_SET) >= 0)
		read_available(fd, &b);
	close(fd);
	if (buf_append(&b, "", 1) < 0 || !b.p)   /* NUL-terminate */
		return;
	char *text = b.p + b.off;
	const char *best = NULL, *end = NULL;
	int best_err = 0;
	for (char *line = text; *line; ) {
		char *nl = strchr(line, '\n');
		char *eol = nl ? nl : line + strlen(line);
		if (nl)
			*nl = 0;
		const char *m = strstr(line, "\"msg\":\"");
		int is_err = strstr(line, "\"level\":\"error\"") || strstr(line, "\"level\":\"fatal\"");
		if (m && (is_err || !best_err)) {
			best = m + 7;
			end = eol;
			best_err = is_err;
		}
		line = nl ? nl + 1 : eol;
	}
	if (best)
		unquote(best, end, out, cap);
	buf_free(&b);
}

static void str_trim(char *s)
{
	size_t n = strlen(s), i = 0;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
		s[--n] = 0;
	while (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
		i++;
	memmove(s, s + i, n - i + 1);
}

/*
 * runc failed: everything on its stdio is its error text. Without --log, runc writes logrus'
 * text format (time="..." level=error msg="..."): keep just the message of such lines.
 * Returns a malloc'd, trimmed string.
 */
static char *runc_error_text(int status)
{
	struct buf raw = { 0 };
	if (opt.tty) {
		read_available(runc_out_fd, &raw);
	} else {
		read_available(err_s.fd, &raw);
		read_available(out_s.fd, &raw);
	}
	buf_append(&raw, "", 1);
	size_t cap = raw.len + 4096 + 64;
	char *msg = calloc(1, cap);
	if (!msg)
		return NULL;
	size_t n = 0;
	for (char *line = raw.p ? raw.p + raw.off : NULL; line && *line; ) {
		char *nl = strchr(line, '\n');
		char *eol = nl ? nl : line + strlen(line);
		if (nl)
			*nl = 0;
		const char *m = strstr(line, " msg=\"");
		if (m && strstr(line, "level="))
			n += unquote(m + 6, eol, msg + n, cap - n);
		else
			n += (size_t)snprintf(msg + n, cap - n, "%s", line);
		if (n > 0 && msg[n - 1] != '\n')
			msg[n++] = '\n';
		line = nl ? nl + 1 : eol;
	}
	msg[n] = 0;
	buf_free(&raw);
	str_trim(msg);

	char logmsg[4096];
	runtime_log_msg(logmsg, sizeof logmsg);
	str_trim(logmsg);
	if (logmsg[0] && !strstr(msg, logmsg)) {
		n = strlen(msg);
		snprintf(msg + n, cap - n, "%s%s", n ? "\n" : "", logmsg);
	}
	if (!msg[0]) {
		if (WIFSIGNALED(status))
			snprintf(msg, cap, "%s killed by signal %d", opt.runtime, WTERMSIG(status));
		else
			snprintf(msg, cap, "%s exited with status %d", opt.runtime, WEXITSTATUS(status));
	}
	return msg;
}

static void unlink_socket(void)
{
	struct stat st;
	if (stat(opt.socket, &st) == 0 && st.st_dev == sock_dev && st.st_ino == sock_ino)
		unlink(opt.socket);
}

static void send_started_all(const char *json)
{
	for (struct client *c = clients; c; c = c->next) {
		if (c->wants_started) {
			client_send_str(c, FRAME_STARTED, json);
			c->wants_started = 0;
		}
	}
}

/* The start failed: tell the waiting clients, stop listening, and leave (no exit file). */
static void start_failed(const char *msg)
{
	dbg("start failed: %s", msg);
	size_t len = strlen(msg);
	char *js = malloc(6 * len + 16);
	if (js) {
		size_t n = (size_t)sprintf(js, "{\"error\":\"");
		n += json_escape(js + n, msg, len);
		strcpy(js + n, "\"}");
		send_started_all(js);
		free(js);
	} else {
		send_started_all("{\"error\":\"start failed\"}");
	}
	close_fd(&listen_fd);
	unlink_socket();
	console_cleanup();
	close_fd(&out_s.fd);
	close_fd(&err_s.fd);
	close_fd(&runc_out_fd);
	stdin_shut();
	close_fd(&pty_master);
	phase = FLUSHING;
	deadline = now_ms() + FLUSH_MS;
}

static int read_pid_file(void)
{
	char s[32];
	int fd = open(opt.pid_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, s, sizeof s - 1);
	close(fd);
	if (r <= 0)
		return -1;
	s[r] = 0;
	long pid = strtol(s, NULL, 10);
	return pid > 0 && pid < INT_MAX ? (int)pid : -1;
}

static void container_exited(int status);

/* runc has exited: either the container runs now, or runc's output says why not. */
static void runc_done(int status)
{
	runc_pid = 0;
	int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	dbg("runtime exited, status 0x%x", status);

	/* runc sent the master before it exited, so it is queued on the socket if at all */
	if (console_listen >= 0)
		console_accept();
	if (console_conn >= 0)
		console_recv();
	console_cleanup();

	if (!ok) {
		char *msg = runc_error_text(status);
		start_failed(msg ? msg : "start failed");
		free(msg);
		return;
	}
	int pid = read_pid_file();
	if (pid < 0) {
		start_failed("cannot read the runtime's pid file");
		return;
	}
	ctr_pid = pid;
	if (opt.tty) {
		if (pty_master < 0) {
			kill(ctr_pid, SIGKILL);
			start_failed("the runtime did not send the pty master to the console socket");
			return;
		}
		struct buf junk = { 0 };   /* warnings of a successful runc: debug log only */
		read_available(runc_out_fd, &junk);
		if (junk.len)
			dbg("runtime said: %.*s", (int)junk.len, junk.p + junk.off);
		buf_free(&junk);
		close_fd(&runc_out_fd);
		out_s.fd = pty_master;
		if (opt.stdin_open)
			stdin_fd = pty_master;
	}
	dbg("started, pid %d", pid);
	phase = RUNNING;
	deadline = 0;
	for (struct client *c = clients; c; c = c->next)
		if (c->wants_started)
			send_started_pid(c);
	for (unsigned i = 0; i < n_early; i++)
		if (early[i].pid == ctr_pid)
			container_exited(early[i].status);
	n_early = 0;
}

static void start_container(void)
{
	int in_child = -1, out_child = -1, err_child = -1, p[2];
	char errbuf[256];

	phase = STARTING;
	deadline = 0;
	if (opt.runtime_log) {
		struct stat st;
		runtime_log_off = stat(opt.runtime_log, &st) == 0 ? st.st_size : 0;
	}
	unlink(opt.pid_file);   /* never read a stale pid */

	if (opt.tty) {
		if (console_listen_create() < 0) {
			snprintf(errbuf, sizeof errbuf, "console socket: %s", strerror(errno));
			goto fail;
		}
		if (pipe2(p, O_CLOEXEC) < 0)
			goto fail_errno;
		runc_out_fd = p[0];
		out_child = p[1];
		err_child = dup(p[1]);
		set_nonblock(runc_out_fd);
	} else {
		if (pipe2(p, O_CLOEXEC) < 0)
			goto fail_errno;
		out_s.fd = p[0];
		out_child = p[1];
		if (pipe2(p, O_CLOEXEC) < 0)
			goto fail_errno;
		err_s.fd = p[0];
		err_child = p[1];
		/* only our ends are non-blocking: the container gets ordinary blocking pipes */
		set_nonblock(out_s.fd);
		set_nonblock(err_s.fd);
		if (opt.stdin_open) {
			if (pipe2(p, O_CLOEXEC) < 0)
				goto fail_errno;
			in_child = p[0];
			stdin_fd = p[1];
			set_nonblock(stdin_fd);
		}
	}
	if (in_child < 0 && (in_child = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		goto fail_errno;

	const char *argv[24];
	int a = 0;
	argv[a++] = opt.runtime;
	argv[a++] = "--root";
	argv[a++] = opt.runtime_root;
	if (opt.runtime_log) {
		argv[a++] = "--log";
		argv[a++] = opt.runtime_log;
		argv[a++] = "--log-format";
		argv[a++] = "json";
	}
	argv[a++] = opt.bundle ? "run" : "exec";
	argv[a++] = "-d";
	argv[a++] = "--pid-file";
	argv[a++] = opt.pid_file;
	if (opt.tty) {
		argv[a++] = "--console-socket";
		argv[a++] = console_path;
	}
	if (opt.bundle) {
		argv[a++] = "--bundle";
		argv[a++] = opt.bundle;
	} else {
		argv[a++] = "--process";
		argv[a++] = opt.exec_process;
	}
	argv[a++] = opt.id;
	argv[a] = NULL;

	pid_t pid = fork();
	if (pid < 0)
		goto fail_errno;
	if (pid == 0) {
		/* dup2 clears close-on-exec on the copies; our own fds 0-2 are /dev/null or the debug log */
		if (dup2(in_child, 0) < 0 || dup2(out_child, 1) < 0 || dup2(err_child, 2) < 0)
			_exit(127);
		/* the signal mask and ignored signals survive exec: give runc (and the container) defaults */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execv(opt.runtime, (char *const *)argv);
		dprintf(2, "exec %s: %s\n", opt.runtime, strerror(errno));
		_exit(127);
	}
	runc_pid = pid;
	dbg("runtime started, pid %d", (int)pid);
	close(in_child);
	close(out_child);
	close(err_child);
	return;

fail_errno:
	snprintf(errbuf, sizeof errbuf, "setting up the container's stdio: %s", strerror(errno));
fail:
	if (in_child >= 0) close(in_child);
	if (out_child >= 0) close(out_child);
	if (err_child >= 0) close(err_child);
	start_failed(errbuf);
}

/* ---- the end ---------------------------------------------------------------------------------- */

static void container_exited(int status)
{
	exited = 1;
	if (WIFSIGNALED(status)) {
		exit_signal = WTERMSIG(status);
		exit_code = 128 + exit_signal;
	} else {
		exit_code = WEXITSTATUS(status);
		exit_signal = 0;
	}
	clock_gettime(CLOCK_REALTIME, &finished_at);
	dbg("container exited: code %d, signal %d", exit_code, exit_signal);
	phase = DRAINING;
	deadline = now_ms() + (opt.bundle ? DRAIN_IDLE_MS : DRAIN_EXEC_MS);
}

static void write_exit_file(void)
{
	size_t len = strlen(opt.exit_file);
	char tmp[len + 32];
	snprintf(tmp, sizeof tmp, "%s.tmp%d", opt.exit_file, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, exit_json, strlen(exit_json)) < 0 || fsync(fd) < 0 ||
	    close(fd) < 0 || rename(tmp, opt.exit_file) < 0) {
		dbg("writing the exit file: %s", strerror(errno));
		unlink(tmp);
		return;
	}
	/* make the rename itself durable */
	char dir[len + 2];
	strcpy(dir, opt.exit_file);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

/* Output drained (or given up on): record the exit and tell everyone. */
static void finish(void)
{
	log_flush_partial(&out_s);
	log_flush_partial(&err_s);
	stdin_shut();   /* first: with a TTY, stdin_fd is the pty master closed just below */
	if (out_s.fd == pty_master)
		pty_master = -1;
	close_fd(&out_s.fd);
	close_fd(&err_s.fd);
	close_fd(&pty_master);
	close_fd(&log_fd);

	char t[40];
	fmt_time(t, sizeof t, &finished_at);
	snprintf(exit_json, sizeof exit_json, "{\"exitCode\":%d,\"signal\":%d,\"finishedAt\":\"%s\"}",
		 exit_code, exit_signal, t);
	write_exit_file();
	for (struct client *c = clients; c; c = c->next)
		client_send_str(c, FRAME_EXIT, exit_json);
	phase = FLUSHING;
	deadline = now_ms() + FLUSH_MS;
}

static void terminate(void) __attribute__((noreturn));
static void terminate(void)
{
	dbg("exiting");
	if (listen_fd >= 0) {
		unlink_socket();
		close_fd(&listen_fd);
	}
	console_cleanup();
	exit(0);
}

/* ---- events ------------------------------------------------------------------------------------- */

static void reap(void)
{
	struct signalfd_siginfo si;
	while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
		;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == runc_pid) {
			runc_done(status);
		} else if (ctr_pid > 0 && pid == ctr_pid) {
			if (!exited)
				container_exited(status);
		} else if (phase == STARTING && n_early < sizeof early / sizeof early[0]) {
			early[n_early].pid = pid;
			early[n_early].status = status;
			n_early++;
		}
		/* else: an orphan that ended up with us (we are a subreaper) */
	}
}

static void stream_close(struct stream *s)
{
	log_flush_partial(s);
	if (s->fd == pty_master) {
		/* keep the master itself for stdin/resize; the stream just stops reading it */
		s->fd = -1;
		return;
	}
	close_fd(&s->fd);
}

static void stream_read(struct stream *s)
{
	char chunk[READ_CHUNK];
	ssize_t r = read(s->fd, chunk, sizeof chunk);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		/* EOF on a pipe; EIO on the pty master once every slave fd is closed */
		dbg("%s closed (%s)", s->name, r == 0 ? "EOF" : strerror(errno));
		stream_close(s);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	log_feed(s, chunk, (size_t)r, &ts);
	for (struct client *c = clients; c; c = c->next)
		if (c->subs & (unsigned)s->type)
			client_send(c, s->type, chunk, (size_t)r);
	if (phase == DRAINING && opt.bundle)
		deadline = now_ms() + DRAIN_IDLE_MS;
}

static void frame_done(struct client *c)
{
	switch (c->type) {
	case FRAME_RESIZE:
		if (c->ctl_len >= 4) {
			winsz.ws_row = (unsigned short)(c->ctl[0] << 8 | c->ctl[1]);
			winsz.ws_col = (unsigned short)(c->ctl[2] << 8 | c->ctl[3]);
			have_winsize = 1;
			apply_winsize();
		}
		break;
	case FRAME_CLOSE_STDIN:
		if (!opt.tty)
			stdin_close_req = 1;
		break;
	case FRAME_SUBSCRIBE:
		c->subs = c->ctl_len ? c->ctl[0] & 3u : 0;
		break;
	case FRAME_START:
		if (phase == WAIT_START) {
			c->wants_started = 1;
			start_container();
		} else if (phase == STARTING) {
			c->wants_started = 1;
		} else if (ctr_pid > 0) {
			send_started_pid(c);
		}
		break;
	case FRAME_STATUS:
		send_status(c);
		break;
	default:
		break;   /* unknown frames are skipped: room for newer clients */
	}
	c->in_frame = 0;
	c->hdr_len = 0;
	c->ctl_len = 0;
}

static void client_read(struct client *c)
{
	unsigned char chunk[8192];
	ssize_t r = read(c->fd, chunk, sizeof chunk);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_drop(c, strerror(errno));
		return;
	}
	if (r == 0) {
		/* the client closed its writing side; it may still want output (POLLHUP drops it) */
		c->rd_eof = 1;
		return;
	}
	size_t i = 0, n = (size_t)r;
	while (i < n && !c->dead) {
		if (!c->in_frame) {
			c->hdr[c->hdr_len++] = chunk[i++];
			if (c->hdr_len == 8) {
				c->type = c->hdr[0];
				c->left = (uint32_t)c->hdr[4] << 24 | (uint32_t)c->hdr[5] << 16 |
					  (uint32_t)c->hdr[6] << 8 | c->hdr[7];
				c->in_frame = 1;
				if (c->left == 0)
					frame_done(c);
			}
			continue;
		}
		size_t take = n - i < c->left ? n - i : c->left;
		if (c->type == FRAME_STDIN) {
			stdin_feed(c, chunk + i, take);   /* streamed: frames may be any size */
		} else {
			size_t keep = take < CTL_MAX - c->ctl_len ? take : CTL_MAX - c->ctl_len;
			memcpy(c->ctl + c->ctl_len, chunk + i, keep);
			c->ctl_len += (unsigned)keep;
		}
		i += take;
		c->left -= (uint32_t)take;
		if (c->left == 0)
			frame_done(c);
	}
}

static void accept_clients(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;   /* EAGAIN, or a transient error (EMFILE...): try again on the next event */
		struct client *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->next = clients;
		clients = c;
		dbg("client fd %d connected", fd);
		if (exit_json[0])
			client_send_str(c, FRAME_EXIT, exit_json);
	}
}

/* ---- the loop ------------------------------------------------------------------------------------ */

enum slot_kind { S_LISTEN, S_SIGNAL, S_CONSOLE_LISTEN, S_CONSOLE_CONN, S_STREAM, S_STDIN, S_CLIENT };
struct slot {
	enum slot_kind kind;
	void *ptr;
};

static struct pollfd *pfds;
static struct slot *slots;
static size_t n_pfds, cap_pfds;

static void watch(int fd, short events, enum slot_kind kind, void *ptr)
{
	if (n_pfds == cap_pfds) {
		size_t cap = cap_pfds ? cap_pfds * 2 : 16;
		struct pollfd *np = realloc(pfds, cap * sizeof *np);
		if (np)
			pfds = np;
		struct slot *ns = realloc(slots, cap * sizeof *ns);
		if (ns)
			slots = ns;
		if (!np || !ns)
			return;
		cap_pfds = cap;
	}
	pfds[n_pfds] = (struct pollfd){ .fd = fd, .events = events };
	slots[n_pfds] = (struct slot){ kind, ptr };
	n_pfds++;
}

static void loop(void)
{
	for (;;) {
		n_pfds = 0;
		watch(sig_fd, POLLIN, S_SIGNAL, NULL);
		if (listen_fd >= 0)
			watch(listen_fd, POLLIN, S_LISTEN, NULL);
		if (console_listen >= 0)
			watch(console_listen, POLLIN, S_CONSOLE_LISTEN, NULL);
		if (console_conn >= 0)
			watch(console_conn, POLLIN, S_CONSOLE_CONN, NULL);
		if (phase == RUNNING || phase == DRAINING) {
			/* not while STARTING: what is on the pipes then may be runc's error */
			if (out_s.fd >= 0)
				watch(out_s.fd, POLLIN, S_STREAM, &out_s);
			if (err_s.fd >= 0)
				watch(err_s.fd, POLLIN, S_STREAM, &err_s);
			if (stdin_fd >= 0 && stdin_buf.len > 0)
				watch(stdin_fd, POLLOUT, S_STDIN, NULL);
		}
		int stdin_full = phase >= RUNNING && stdin_buf.len >= STDIN_MAX;
		for (struct client *c = clients; c; c = c->next) {
			short ev = 0;
			if (!c->rd_eof && !(stdin_full && c->sent_stdin))
				ev |= POLLIN;
			if (c->out.len > 0)
				ev |= POLLOUT;
			watch(c->fd, ev, S_CLIENT, c);   /* events 0 still reports POLLHUP */
		}

		int timeout = -1;
		if (deadline) {
			int64_t left = deadline - now_ms();
			timeout = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
		}
		int r = poll(pfds, n_pfds, timeout);
		if (r < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));

		for (size_t i = 0; r > 0 && i < n_pfds; i++) {
			short re = pfds[i].revents;
			if (!re)
				continue;
			struct slot *s = &slots[i];
			switch (s->kind) {
			case S_SIGNAL:
				reap();
				break;
			case S_LISTEN:
				if (listen_fd == pfds[i].fd)
					accept_clients();
				break;
			case S_CONSOLE_LISTEN:
				if (console_listen == pfds[i].fd)
					console_accept();
				break;
			case S_CONSOLE_CONN:
				if (console_conn == pfds[i].fd)
					console_recv();
				break;
			case S_STREAM: {
				struct stream *st = s->ptr;
				if (st->fd == pfds[i].fd && (phase == RUNNING || phase == DRAINING))
					stream_read(st);
				break;
			}
			case S_STDIN:
				if (stdin_fd == pfds[i].fd) {
					if (re & POLLOUT)
						stdin_write();
					else if (re & (POLLERR | POLLHUP))
						stdin_shut();   /* the reading end is gone */
				}
				break;
			case S_CLIENT: {
				struct client *c = s->ptr;
				if (c->dead)
					break;
				if (re & POLLOUT)
					client_flush(c);
				if (!c->dead && (re & POLLIN))
					client_read(c);
				if (!c->dead && (re & POLLERR))
					client_drop(c, "socket error");
				/* a full close: drop once everything it sent is read */
				if (!c->dead && (re & POLLHUP) && (c->rd_eof || !(re & POLLIN)))
					client_drop(c, "hung up");
				break;
			}
			}
		}

		/* free dropped clients */
		for (struct client **pp = &clients; *pp; ) {
			struct client *c = *pp;
			if (c->dead) {
				*pp = c->next;
				free(c);
			} else {
				pp = &c->next;
			}
		}
		stdin_service();

		int64_t now = now_ms();
		switch (phase) {
		case WAIT_START:
			if (now >= deadline) {
				dbg("no START within %d s", opt.start_timeout);
				terminate();
			}
			break;
		case DRAINING:
			if ((out_s.fd < 0 && err_s.fd < 0) || now >= deadline)
				finish();   /* -> FLUSHING, checked right below rather than after a poll */
			break;
		default:
			break;
		}
		if (phase == FLUSHING) {
			int pending = 0;
			for (struct client *c = clients; c; c = c->next)
				pending |= c->out.len > 0;
			if (!pending || now >= deadline)
				terminate();
		}
	}
}

/* ---- start-up --------------------------------------------------------------------------------- */

static const char *abs_path(const char *p)
{
	if (!p || p[0] == '/')
		return p;
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		fatal("getcwd: %s", strerror(errno));
	size_t n = strlen(cwd) + strlen(p) + 2;
	char *s = malloc(n);
	if (!s)
		fatal("out of memory");
	snprintf(s, n, "%s/%s", cwd, p);
	return s;
}

static long long num_arg(const char *name, const char *v, long long min)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || *end || end == v || n < min)
		fatal("--%s: not a valid number: %s", name, v);
	return n;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fprintf(stderr,
		"usage: bargemon --runtime PATH --runtime-root DIR --id ID --socket PATH --exit-file PATH\n"
		"                --pid-file PATH (--bundle DIR | --exec-process FILE)\n"
		"                [--log-file PATH [--log-max-size BYTES] [--log-max-files N]]\n"
		"                [--tty] [--stdin] [--runtime-log FILE] [--debug-log FILE] [--start-timeout SECONDS]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runtime", required_argument, NULL, 'r' },
		{ "runtime-root", required_argument, NULL, 'R' },
		{ "id", required_argument, NULL, 'i' },
		{ "socket", required_argument, NULL, 's' },
		{ "exit-file", required_argument, NULL, 'e' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "exec-process", required_argument, NULL, 'x' },
		{ "log-file", required_argument, NULL, 'l' },
		{ "log-max-size", required_argument, NULL, 'S' },
		{ "log-max-files", required_argument, NULL, 'F' },
		{ "tty", no_argument, NULL, 't' },
		{ "stdin", no_argument, NULL, 'I' },
		{ "runtime-log", required_argument, NULL, 'L' },
		{ "debug-log", required_argument, NULL, 'd' },
		{ "start-timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': opt.runtime = optarg; break;
		case 'R': opt.runtime_root = optarg; break;
		case 'i': opt.id = optarg; break;
		case 's': opt.socket = optarg; break;
		case 'e': opt.exit_file = optarg; break;
		case 'p': opt.pid_file = optarg; break;
		case 'b': opt.bundle = optarg; break;
		case 'x': opt.exec_process = optarg; break;
		case 'l': opt.log_file = optarg; break;
		case 'S': opt.log_max_size = num_arg("log-max-size", optarg, 0); break;
		case 'F': opt.log_max_files = (int)num_arg("log-max-files", optarg, 1); break;
		case 't': opt.tty = 1; break;
		case 'I': opt.stdin_open = 1; break;
		case 'L': opt.runtime_log = optarg; break;
		case 'd': opt.debug_log = optarg; break;
		case 'T': opt.start_timeout = (int)num_arg("start-timeout", optarg, 1); break;
		default: usage();
		}
	}
	if (optind != argc)
		fatal("unexpected argument: %s", argv[optind]);
	const char *missing = !opt.runtime ? "--runtime" : !opt.runtime_root ? "--runtime-root"
		: !opt.id ? "--id" : !opt.socket ? "--socket" : !opt.exit_file ? "--exit-file"
		: !opt.pid_file ? "--pid-file" : NULL;
	if (missing)
		fatal("%s is required", missing);
	if (!opt.bundle == !opt.exec_process)
		fatal("exactly one of --bundle and --exec-process is required");
	if (opt.log_max_files > 1000000)
		fatal("--log-max-files: too many");
	/* the monitor moves to / so as not to pin the caller's directory: make every path absolute */
	opt.runtime = abs_path(opt.runtime);
	opt.runtime_root = abs_path(opt.runtime_root);
	opt.socket = abs_path(opt.socket);
	opt.exit_file = abs_path(opt.exit_file);
	opt.pid_file = abs_path(opt.pid_file);
	opt.bundle = abs_path(opt.bundle);
	opt.exec_process = abs_path(opt.exec_process);
	opt.log_file = abs_path(opt.log_file);
	opt.runtime_log = abs_path(opt.runtime_log);
	opt.debug_log = abs_path(opt.debug_log);
}

static void listen_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(opt.socket) >= sizeof sa.sun_path)
		fatal("--socket: path longer than %zu bytes: %s", sizeof sa.sun_path - 1, opt.socket);
	strcpy(sa.sun_path, opt.socket);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		fatal("socket: %s", strerror(errno));
	if (unlink(opt.socket) < 0 && errno != ENOENT)
		fatal("removing stale socket %s: %s", opt.socket, strerror(errno));
	mode_t old = umask(0177);   /* born 0600: no window in which others could connect */
	int r = bind(listen_fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0)
		fatal("bind %s: %s", opt.socket, strerror(errno));
	struct stat st;
	if (chmod(opt.socket, 0600) < 0 || stat(opt.socket, &st) < 0)
		fatal("%s: %s", opt.socket, strerror(errno));
	sock_dev = st.st_dev;
	sock_ino = st.st_ino;
	if (listen(listen_fd, 64) < 0)
		fatal("listen %s: %s", opt.socket, strerror(errno));
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);

	/* Everything that can fail for a reason the caller should hear about happens before the fork. */
	if (access(opt.runtime, X_OK) < 0)
		fatal("runtime %s: %s", opt.runtime, strerror(errno));
	if (opt.log_file && log_open(0) < 0)
		fatal("log file %s: %s", opt.log_file, strerror(errno));
	int dbg_fd = -1;
	if (opt.debug_log &&
	    (dbg_fd = open(opt.debug_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0)
		fatal("debug log %s: %s", opt.debug_log, strerror(errno));
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		fatal("/dev/null: %s", strerror(errno));

	/* SIGCHLD arrives through a signalfd, so it must be blocked; SIGPIPE: EPIPE is handled */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		fatal("sigprocmask: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	listen_socket();

	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);   /* the socket listens: the caller may connect */

	/* The monitor proper. Not the caller's child any more (our parent just exited), in a
	 * session of its own, and the reaper of the orphans runc leaves behind: the container. */
	setsid();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		dbg("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	dup2(null_fd, 0);
	dup2(dbg_fd >= 0 ? dbg_fd : null_fd, 1);
	dup2(dbg_fd >= 0 ? dbg_fd : null_fd, 2);
	close(null_fd);
	if (dbg_fd >= 0)
		close(dbg_fd);
	if (chdir("/") < 0) { /* cannot happen; nothing depends on it */ }

	sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0)
		fatal("signalfd: %s", strerror(errno));

	dbg("monitoring %s, socket %s", opt.id, opt.socket);
	deadline = now_ms() + (int64_t)opt.start_timeout * 1000;
	loop();
	return 0;
}
