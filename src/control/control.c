/* SPDX-License-Identifier: MIT */
/*
 * The control server's thread: one poll loop over the JSON-RPC Unix socket,
 * the metrics HTTP listener and their connections.
 *
 * Connections are non-blocking with bounded input (a request line, an HTTP
 * header block) and output that is flushed as the peer reads it; a client
 * that sends garbage gets an error and is closed, one that stalls is timed
 * out, and neither delays the others. Requests are served in arrival order,
 * one at a time, which also serialises every change the control path makes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "control/control_internal.h"
#include "control/http.h"
#include "control/metrics.h"
#include "transport/tcp_target.h"

#define MAX_CONNS 64
#define MAX_HTTP_CONNS 32 /* scrapers can never take every slot from RPC clients */
#define RPC_MAX_LINE (1u << 20) /* one request; larger is refused */
#define RPC_MAX_PENDING_OUT (8u << 20) /* stop reading while this much is unsent */
#define RPC_IDLE_TIMEOUT_MS 300000
#define HTTP_TIMEOUT_MS 10000
#define READ_CHUNK 65536

enum conn_kind { CONN_RPC, CONN_HTTP };

struct conn {
	int fd;
	enum conn_kind kind;
	struct strbuf in, out;
	size_t out_off;
	uint64_t deadline_ms;
	bool closing; /* close once out is flushed; read nothing more */
	char client[80];
};

struct control_server {
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	int wake_fd;
	int rpc_fd;
	char *rpc_path;
	dev_t rpc_dev;
	ino_t rpc_ino;
	int http_fd;
	char http_name[96];
	struct conn *conns[MAX_CONNS];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Listener map                                                          */

int control_listener_put(struct control *c, uint16_t portid, struct tcp_listener *l)
{
	int rc = 0;

	pthread_mutex_lock(&c->listeners_lock);
	for (size_t i = 0; i < c->n_listeners; i++) {
		if (c->listeners[i].portid == portid) {
			rc = -EEXIST;
			goto out;
		}
	}
	if (c->n_listeners == c->cap_listeners) {
		size_t cap = c->cap_listeners ? c->cap_listeners * 2 : 8;
		struct port_listener *p = realloc(c->listeners, cap * sizeof(*p));
		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		c->listeners = p;
		c->cap_listeners = cap;
	}
	c->listeners[c->n_listeners].portid = portid;
	c->listeners[c->n_listeners].listener = l;
	c->n_listeners++;
out:
	pthread_mutex_unlock(&c->listeners_lock);
	return rc;
}

int control_listener_take(struct control *c, uint16_t portid, struct tcp_listener **out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&c->listeners_lock);
	for (size_t i = 0; i < c->n_listeners; i++) {
		if (c->listeners[i].portid == portid) {
			*out = c->listeners[i].listener;
			c->listeners[i] = c->listeners[--c->n_listeners];
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&c->listeners_lock);
	return rc;
}

int control_adopt_listener(struct control *c, uint16_t portid, struct tcp_listener *l)
{
	return control_listener_put(c, portid, l);
}

int control_take_listener(struct control *c, uint16_t portid, struct tcp_listener **out)
{
	return control_listener_take(c, portid, out);
}

/* ------------------------------------------------------------------ */
/* Stats                                                                 */

struct json_object *control_stats_snapshot(struct control *c)
{
	struct json_object *snap = nvmf_tgt_snapshot(c->tgt);
	struct json_object *rs;

	if (!snap)
		return NULL;
	rs = json_object_new_array();
	if (!rs) {
		json_object_put(snap);
		return NULL;
	}
	for (unsigned int i = 0; i < c->n_reactors; i++) {
		struct reactor_stats st;
		struct json_object *r = json_object_new_object();

		if (!r)
			break;
		reactor_get_stats(c->reactors[i], &st);
		json_object_object_add(r, "id", json_object_new_int64(reactor_id(c->reactors[i])));
		json_object_object_add(r, "loops", json_object_new_uint64(st.loops));
		json_object_object_add(r, "completions", json_object_new_uint64(st.completions));
		json_object_object_add(r, "busy_polls", json_object_new_uint64(st.busy_polls));
		json_object_object_add(r, "spin_misses", json_object_new_uint64(st.spin_misses));
		json_object_object_add(r, "sleeps", json_object_new_uint64(st.sleeps));
		json_object_object_add(r, "busy_ns", json_object_new_uint64(st.busy_ns));
		json_object_object_add(r, "idle_ns", json_object_new_uint64(st.idle_ns));
		json_object_array_add(rs, r);
	}
	json_object_object_add(snap, "reactors", rs);
	json_object_object_add(snap, "connections",
			       json_object_new_int64(tcp_transport_connections()));
	return snap;
}

/* ------------------------------------------------------------------ */
/* Endpoints                                                             */

static int mkdir_parents(const char *path)
{
	char dir[PATH_MAX];

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	/* Create each missing component owner-only, like `mkdir -p -m 0700`. */
	for (char *p = dir + 1; ; p++) {
		bool last = *p == '\0';
		if (*p == '/' || last) {
			char saved = *p;
			*p = '\0';
			if (mkdir(dir, 0700) < 0 && errno != EEXIST)
				return -errno;
			*p = saved;
		}
		if (last)
			break;
	}
	return 0;
}

/* A socket file left by a daemon that died is removed; a live one is not. */
static int clear_stale_socket(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int err = errno;
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (err != ECONNREFUSED)
		return -err;
	return unlink(path) < 0 ? -errno : 0;
}

static int open_rpc_socket(struct control_server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("control", "rpc socket %s: path longer than %zu bytes", path,
			  sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	rc = mkdir_parents(path);
	if (rc) {
		log_error("control", "rpc socket %s: cannot create its directory: %s", path,
			  strerror(-rc));
		return rc;
	}
	rc = clear_stale_socket(path, &sa);
	if (rc) {
		log_error("control", "rpc socket %s: %s", path,
			  rc == -EADDRINUSE ? "another daemon is serving it"
			  : rc == -EEXIST	 ? "exists and is not a socket"
					       : strerror(-rc));
		return rc;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Linux creates the socket file with the socket inode's mode, so the
	 * file is never reachable by others, even for an instant. */
	if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 16) < 0 || stat(path, &st) < 0) {
		rc = -errno;
		log_error("control", "rpc socket %s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	s->rpc_fd = fd;
	s->rpc_dev = st.st_dev;
	s->rpc_ino = st.st_ino;
	s->rpc_path = strdup(path);
	return s->rpc_path ? 0 : -ENOMEM;
}

static int parse_host_port(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;

	if (spec[0] == '[') {
		const char *close_br = strchr(spec, ']');
		if (!close_br || close_br[1] != ':')
			return -EINVAL;
		if ((size_t)(close_br - spec - 1) >= hostlen)
			return -EINVAL;
		snprintf(host, hostlen, "%.*s", (int)(close_br - spec - 1), spec + 1);
		colon = close_br + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= hostlen)
			return -EINVAL;
		snprintf(host, hostlen, "%.*s", (int)(colon - spec), spec);
	}
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || p == 0 || p > 65535)
		return -EINVAL;
	snprintf(port, portlen, "%lu", p);
	return 0;
}

static int open_http_socket(struct control_server *s, const char *spec)
{
	char host[64], port[8];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int rc, fd, one = 1;

	if (parse_host_port(spec, host, sizeof(host), port, sizeof(port))) {
		log_error("control", "metrics address '%s': expected ADDR:PORT or [ADDR6]:PORT", spec);
		return -EINVAL;
	}
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc) {
		log_error("control", "metrics address '%s': %s", spec, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		close(fd);
		goto out;
	}
	s->http_fd = fd;
	snprintf(s->http_name, sizeof(s->http_name), "%s", spec);
	rc = 0;
out:
	if (rc)
		log_error("control", "metrics listener %s: %s", spec, strerror(-rc));
	freeaddrinfo(ai);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Connections                                                           */

static void conn_close(struct control_server *s, unsigned int slot)
{
	struct conn *cn = s->conns[slot];

	log_debug("control", "client=%s disconnected", cn->client);
	close(cn->fd);
	strbuf_free(&cn->in);
	strbuf_free(&cn->out);
	free(cn);
	s->conns[slot] = NULL;
}

static void name_client(struct conn *cn)
{
	if (cn->kind == CONN_RPC) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(cn->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			snprintf(cn->client, sizeof(cn->client), "pid=%d,uid=%u", (int)cred.pid,
				 (unsigned int)cred.uid);
		else
			snprintf(cn->client, sizeof(cn->client), "unix");
		return;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?", port[8] = "?";
	if (getpeername(cn->fd, (struct sockaddr *)&ss, &len) == 0)
		getnameinfo((struct sockaddr *)&ss, len, addr, sizeof(addr), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(cn->client, sizeof(cn->client), "%s:%s", addr, port);
}

static void accept_conn(struct control_server *s, int lfd, enum conn_kind kind)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("control", "accept: %s", strerror(errno));
		return;
	}
	unsigned int slot = MAX_CONNS, same_kind = 0;
	for (unsigned int i = 0; i < MAX_CONNS; i++) {
		if (!s->conns[i]) {
			if (slot == MAX_CONNS)
				slot = i;
		} else if (s->conns[i]->kind == kind) {
			same_kind++;
		}
	}
	unsigned int limit = kind == CONN_HTTP ? MAX_HTTP_CONNS : MAX_CONNS;
	struct conn *cn = slot < MAX_CONNS && same_kind < limit ? calloc(1, sizeof(*cn)) : NULL;
	if (!cn) {
		/* Refusing by closing keeps the listen queue from spinning the loop. */
		log_warn("control", "%s connection refused: %u such clients already connected",
			 kind == CONN_RPC ? "rpc" : "metrics", same_kind);
		close(fd);
		return;
	}
	cn->fd = fd;
	cn->kind = kind;
	strbuf_init(&cn->in);
	strbuf_init(&cn->out);
	cn->deadline_ms = now_ms() + (kind == CONN_RPC ? RPC_IDLE_TIMEOUT_MS : HTTP_TIMEOUT_MS);
	name_client(cn);
	s->conns[slot] = cn;
	log_debug("control", "client=%s connected (%s)", cn->client,
		  kind == CONN_RPC ? "rpc" : "metrics");
}

static void rpc_process(struct control *c, struct conn *cn, bool eof)
{
	const struct rpc_dispatcher d = { control_methods, control_n_methods, c };

	for (;;) {
		char *nl = cn->in.len ? memchr(cn->in.data, '\n', cn->in.len) : NULL;
		size_t line_len;

		if (nl)
			line_len = (size_t)(nl - cn->in.data);
		else if (eof && cn->in.len)
			line_len = cn->in.len; /* a last request without its newline */
		else
			break;
		bool blank = true;
		for (size_t i = 0; i < line_len; i++)
			if (cn->in.data[i] != ' ' && cn->in.data[i] != '\t' && cn->in.data[i] != '\r')
				blank = false;
		if (!blank)
			jsonrpc_handle(&d, cn->client, cn->in.data, line_len, &cn->out);
		strbuf_consume(&cn->in, nl ? line_len + 1 : line_len);
		if (strbuf_failed(&cn->out)) {
			log_error("control", "client=%s: out of memory for the response", cn->client);
			cn->closing = true;
			return;
		}
	}
	if (cn->in.len > RPC_MAX_LINE) {
		char msg[128];
		snprintf(msg, sizeof(msg),
			 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,\"message\":"
			 "\"request larger than %u bytes\"}}\n",
			 JSONRPC_PARSE_ERROR, RPC_MAX_LINE);
		log_warn("control", "client=%s: request larger than %u bytes, closing", cn->client,
			 RPC_MAX_LINE);
		strbuf_puts(&cn->out, msg);
		strbuf_reset(&cn->in);
		cn->closing = true;
	}
}

static void http_serve(struct control *c, struct conn *cn, bool eof)
{
	struct http_request req;
	enum http_parse_result pr = http_parse_request(cn->in.data, cn->in.len, &req);
	static const char text[] = "text/plain; charset=utf-8";

	if (pr == HTTP_INCOMPLETE) {
		if (eof)
			cn->closing = true; /* the peer gave up before finishing: nothing to answer */
		return;
	}
	cn->closing = true;
	if (pr == HTTP_TOO_LARGE) {
		http_response(&cn->out, 431, text, "request too large\n", 18, 0);
		log_warn("control", "metrics client=%s: request headers too large", cn->client);
		return;
	}
	if (pr == HTTP_BAD_REQUEST) {
		http_response(&cn->out, 400, text, "bad request\n", 12, 0);
		log_warn("control", "metrics client=%s: malformed request", cn->client);
		return;
	}
	bool head = strcmp(req.method, "HEAD") == 0;
	if (strcmp(req.path, "/metrics") != 0) {
		http_response(&cn->out, 404, text, "not found\n", 10, head);
		log_debug("control", "metrics client=%s %s %s -> 404", cn->client, req.method, req.path);
		return;
	}
	if (!head && strcmp(req.method, "GET") != 0) {
		http_response(&cn->out, 405, text, "method not allowed\n", 19, 0);
		return;
	}
	struct json_object *snap = control_stats_snapshot(c);
	struct strbuf body;
	strbuf_init(&body);
	int rc = snap ? metrics_render(snap, &body) : -ENOMEM;
	json_object_put(snap);
	if (rc) {
		http_response(&cn->out, 500, text, "out of memory\n", 14, head);
		log_error("control", "metrics client=%s: %s", cn->client, strerror(-rc));
	} else {
		http_response(&cn->out, 200, METRICS_CONTENT_TYPE, body.data, body.len, head);
		log_debug("control", "metrics client=%s %s /metrics -> 200 (%zu bytes)", cn->client,
			  req.method, body.len);
	}
	strbuf_free(&body);
}

static void conn_read(struct control *c, struct conn *cn)
{
	char buf[READ_CHUNK];
	bool eof = false;
	ssize_t n = recv(cn->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("control", "client=%s: recv: %s", cn->client, strerror(errno));
		cn->closing = true;
		strbuf_reset(&cn->out);
		return;
	}
	if (n == 0)
		eof = true;
	else
		strbuf_append(&cn->in, buf, (size_t)n);
	if (strbuf_failed(&cn->in)) {
		cn->closing = true;
		return;
	}
	if (cn->kind == CONN_RPC) {
		cn->deadline_ms = now_ms() + RPC_IDLE_TIMEOUT_MS;
		rpc_process(c, cn, eof);
		if (eof)
			cn->closing = true;
	} else {
		http_serve(c, cn, eof);
	}
}

/* Returns false when the connection is finished and should be closed. */
static bool conn_write(struct conn *cn)
{
	while (cn->out_off < cn->out.len) {
		ssize_t n = send(cn->fd, cn->out.data + cn->out_off, cn->out.len - cn->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			log_debug("control", "client=%s: send: %s", cn->client, strerror(errno));
			return false;
		}
		cn->out_off += (size_t)n;
	}
	strbuf_reset(&cn->out);
	cn->out_off = 0;
	return !cn->closing;
}

/* ------------------------------------------------------------------ */
/* Loop                                                                  */

static void *control_thread(void *arg)
{
	struct control *c = arg;
	struct control_server *s = c->server;
	struct pollfd pfd[3 + MAX_CONNS];
	int slot_of[3 + MAX_CONNS];

	while (!atomic_load(&s->stop)) {
		unsigned int n = 0;
		uint64_t now = now_ms(), next = now + 1000;

		pfd[n] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		slot_of[n++] = -1;
		if (s->rpc_fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = s->rpc_fd, .events = POLLIN };
			slot_of[n++] = -2;
		}
		if (s->http_fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = s->http_fd, .events = POLLIN };
			slot_of[n++] = -3;
		}
		for (unsigned int i = 0; i < MAX_CONNS; i++) {
			struct conn *cn = s->conns[i];
			if (!cn)
				continue;
			if (cn->deadline_ms <= now) {
				log_info("control", "client=%s timed out", cn->client);
				conn_close(s, i);
				continue;
			}
			if (cn->deadline_ms < next)
				next = cn->deadline_ms;
			short ev = 0;
			size_t pending = cn->out.len - cn->out_off;
			if (!cn->closing && pending < RPC_MAX_PENDING_OUT)
				ev |= POLLIN;
			if (pending)
				ev |= POLLOUT;
			if (!ev) {
				conn_close(s, i);
				continue;
			}
			pfd[n] = (struct pollfd){ .fd = cn->fd, .events = ev };
			slot_of[n++] = (int)i;
		}

		int rc = poll(pfd, n, (int)(next - now));
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_error("control", "poll: %s", strerror(errno));
			break;
		}
		for (unsigned int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (slot_of[i] == -1) {
				uint64_t v;
				if (read(s->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("control", "wake: %s", strerror(errno));
				continue;
			}
			if (slot_of[i] == -2 || slot_of[i] == -3) {
				accept_conn(s, pfd[i].fd, slot_of[i] == -2 ? CONN_RPC : CONN_HTTP);
				continue;
			}
			unsigned int slot = (unsigned int)slot_of[i];
			struct conn *cn = s->conns[slot];
			if (!cn)
				continue;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(c, cn);
			if (!conn_write(cn) && (cn->closing || pfd[i].revents & POLLERR))
				conn_close(s, slot);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */

static void server_close(struct control_server *s)
{
	for (unsigned int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i])
			conn_close(s, i);
	if (s->rpc_fd >= 0) {
		struct stat st;
		close(s->rpc_fd);
		/* Unlink only our own socket file, not a successor's. */
		if (s->rpc_path && stat(s->rpc_path, &st) == 0 && st.st_dev == s->rpc_dev &&
		    st.st_ino == s->rpc_ino)
			unlink(s->rpc_path);
	}
	if (s->http_fd >= 0)
		close(s->http_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s->rpc_path);
	free(s);
}

int control_start(struct nvmf_tgt *tgt, struct reactor **reactors, unsigned int n,
		  const struct control_opts *opts, struct control **out)
{
	struct control *c = calloc(1, sizeof(*c));
	struct control_server *s = calloc(1, sizeof(*s));
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (!c || !s) {
		free(c);
		free(s);
		return -ENOMEM;
	}
	c->tgt = tgt;
	c->n_reactors = n;
	c->reactors = n ? calloc(n, sizeof(*reactors)) : NULL;
	if (n && !c->reactors) {
		free(c);
		free(s);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++)
		c->reactors[i] = reactors[i];
	pthread_mutex_init(&c->listeners_lock, NULL);
	c->server = s;
	s->rpc_fd = s->http_fd = -1;
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (opts && opts->rpc_socket && *opts->rpc_socket && strcmp(opts->rpc_socket, "none") != 0) {
		rc = open_rpc_socket(s, opts->rpc_socket);
		if (rc && opts->rpc_socket_optional) {
			log_warn("control", "running without a control socket; give --rpc-socket PATH");
			rc = 0;
		}
		if (rc)
			goto fail;
	}
	if (opts && opts->metrics_addr && *opts->metrics_addr) {
		rc = open_http_socket(s, opts->metrics_addr);
		if (rc)
			goto fail;
	}

	/* Signals belong to the daemon's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&s->thread, NULL, control_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto fail;
	s->thread_started = true;
	if (s->rpc_fd >= 0 || s->http_fd >= 0)
		log_notice("control", "serving%s%s%s%s", s->rpc_fd >= 0 ? " json-rpc on " : "",
			   s->rpc_fd >= 0 ? s->rpc_path : "",
			   s->http_fd >= 0 ? " metrics on http://" : "",
			   s->http_fd >= 0 ? s->http_name : "");
	*out = c;
	return 0;

fail:
	server_close(s);
	pthread_mutex_destroy(&c->listeners_lock);
	free(c->reactors);
	free(c);
	return rc;
}

void control_request_stop(struct control *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	atomic_store(&c->server->stop, true);
	if (write(c->server->wake_fd, &one, sizeof(one)) < 0)
		log_debug("control", "wake: %s", strerror(errno));
}

void control_stop(struct control *c)
{
	if (!c)
		return;
	struct control_server *s = c->server;
	if (s->thread_started) {
		control_request_stop(c);
		pthread_join(s->thread, NULL);
	}
	server_close(s);
	pthread_mutex_destroy(&c->listeners_lock);
	free(c->listeners);
	free(c->reactors);
	free(c);
}
