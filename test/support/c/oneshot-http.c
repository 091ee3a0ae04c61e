/*
 * A tiny HTTP/1.1 server for the zero-drop tests: it answers every request
 * (keep-alive) with its text, the whole response in one write(), the way
 * common app servers send a small answer. It has no shutdown logic: the
 * container's shell exits at once on SIGTERM and the kernel kills it, as
 * many real apps do. Usage: oneshot-http <ip> <port> <text>
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void serve(int fd, const char *text) {
  char buf[8192];
  char resp[1024];
  size_t used = 0;
  int n = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s\n", strlen(text) + 1, text);
  for (;;) {
    ssize_t got = read(fd, buf + used, sizeof buf - used - 1);
    if (got <= 0) return;
    used += (size_t)got;
    buf[used] = 0;
    char *end;
    while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
      if (write(fd, resp, (size_t)n) != n) return;
      size_t consumed = (size_t)(end + 4 - buf);
      memmove(buf, buf + consumed, used - consumed);
      used -= consumed;
      buf[used] = 0;
    }
    if (used >= sizeof buf - 1) return;
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s <ip> <port> <text>\n", argv[0]);
    return 2;
  }
  signal(SIGCHLD, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(argv[2]));
  inet_pton(AF_INET, argv[1], &a.sin_addr);
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 512) != 0) {
    perror("bind/listen");
    return 1;
  }
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    if (fork() == 0) {
      close(s);
      serve(c, argv[3]);
      _exit(0);
    }
    close(c);
  }
}
