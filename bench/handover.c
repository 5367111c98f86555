/* The cost of libmicrohttpd's hand-over, alone: no Swift, no Redis (issue 17, bench/README.md).
 * Mode a: the worker answers at once. Mode b: the worker suspends the request and another
 * thread resumes it, as batond's pipeline does. Mode c: each thread runs its own daemon in
 * external epoll mode on a shared listen socket and resumes its own requests.
 * Usage: handover MODE PORT THREADS (bench/handover.sh builds and measures it). */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static char mode;
static const char body[] = "{\"lease\":\"x\",\"holder\":\"h\",\"fencing_token\":1,\"ttl_ms\":30000}";
struct req { int state; struct MHD_Connection *c; struct req *next; };

/* mode b: a queue to a resumer thread */
static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER; static pthread_cond_t qc = PTHREAD_COND_INITIALIZER;
static struct req *qhead;
/* mode c: per-thread list */
static __thread struct req *local;

static enum MHD_Result answer(struct MHD_Connection *c) {
  struct MHD_Response *r = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ok = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *size, void **con_cls) {
  struct req *q = *con_cls;
  if (!q) { q = calloc(1, sizeof *q); q->c = c; *con_cls = q; return MHD_YES; }
  if (*size) { *size = 0; return MHD_YES; }
  if (mode == 'a' || q->state == 2) return answer(c);
  if (q->state == 1) return MHD_YES;
  q->state = 1;
  MHD_suspend_connection(c);
  if (mode == 'b') {
    pthread_mutex_lock(&qm); q->next = qhead; qhead = q; pthread_cond_signal(&qc); pthread_mutex_unlock(&qm);
  } else { q->next = local; local = q; }
  return MHD_YES;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t) {
  free(*con_cls); *con_cls = NULL;
}

static void *resumer(void *arg) {
  for (;;) {
    pthread_mutex_lock(&qm);
    while (!qhead) pthread_cond_wait(&qc, &qm);
    struct req *l = qhead; qhead = NULL;
    pthread_mutex_unlock(&qm);
    while (l) { struct req *n = l->next; l->state = 2; MHD_resume_connection(l->c); l = n; }
  }
  return NULL;
}

static int listen_fd;
static void *loop(void *arg) {
  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, handler, NULL,
                                          MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
                                          MHD_OPTION_END);
  if (!d) { perror("daemon"); exit(1); }
  int efd = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = efd };
  epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  for (;;) {
    struct epoll_event out[4];
    MHD_UNSIGNED_LONG_LONG to;
    int ms = local ? 0 : (MHD_get_timeout(d, &to) == MHD_YES ? (int)to : 1000);
    epoll_wait(ep, out, 4, ms);
    MHD_run(d);
    while (local) {
      struct req *l = local; local = NULL;
      while (l) { struct req *n = l->next; l->state = 2; MHD_resume_connection(l->c); l = n; }
      MHD_run(d);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4 || !strchr("abc", argv[1][0])) { fprintf(stderr, "usage: handover a|b|c PORT THREADS\n"); return 2; }
  mode = argv[1][0]; int port = atoi(argv[2]); int threads = atoi(argv[3]);
  if (mode == 'c') {
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1; setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001) };
    if (bind(listen_fd, (void *)&a, sizeof a) || listen(listen_fd, 511)) { perror("listen"); return 1; }
    pthread_t t[64];
    for (int i = 0; i < threads && i < 64; i++) pthread_create(&t[i], NULL, loop, NULL);
    pause();
  }
  unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC | (mode == 'b' ? MHD_ALLOW_SUSPEND_RESUME : 0);
  struct MHD_Daemon *d = MHD_start_daemon(flags, port, NULL, NULL, handler, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
                                          MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
  if (!d) { perror("start"); return 1; }
  if (mode == 'b') { pthread_t r; pthread_create(&r, NULL, resumer, NULL); }
  pause();
}
