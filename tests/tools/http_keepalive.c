/* http_keepalive PORT PATH CONNECTIONS SECONDS: POSTs {"a":1} to PATH on
 * 127.0.0.1:PORT over CONNECTIONS keep-alive connections, each request sent
 * the moment the previous reply is complete, for SECONDS. Prints
 * "ok N other M" and the first replies that were not 200; exits 0 when every
 * reply was a 200 and no connection was closed, 1 otherwise, 2 on a usage or
 * socket error. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64
#define BUF 8192

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int send_request(int fd, const char *req, size_t len)
{
	return write(fd, req, len) == (ssize_t)len ? 0 : -1;
}

int main(int argc, char **argv)
{
	static char buf[MAXC][BUF];
	size_t have[MAXC] = {0};
	struct pollfd pf[MAXC];
	char req[512];
	long ok = 0, other = 0;
	int port, n, reqlen;
	double end;

	if(argc != 5 || (n = atoi(argv[3])) < 1 || n > MAXC || (port = atoi(argv[1])) <= 0){
		fprintf(stderr, "usage: http_keepalive PORT PATH CONNECTIONS(1-%d) SECONDS\n", MAXC);
		return 2;
	}
	end = now() + atof(argv[4]);
	reqlen = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			"Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}", argv[2]);
	if(reqlen < 0 || reqlen >= (int)sizeof(req)) return 2;
	for(int i = 0; i < n; i++){
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		int one = 1;
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		pf[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		pf[i].events = POLLIN;
		if(pf[i].fd < 0 || setsockopt(pf[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
				|| connect(pf[i].fd, (struct sockaddr *)&a, sizeof(a))
				|| send_request(pf[i].fd, req, (size_t)reqlen)){
			perror("http_keepalive: connect");
			return 2;
		}
	}
	while(now() < end){
		if(poll(pf, (nfds_t)n, 200) <= 0) continue;
		for(int i = 0; i < n; i++){
			char *hend, *cl;
			size_t total;
			ssize_t r;

			if(!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
			r = read(pf[i].fd, buf[i] + have[i], BUF - 1 - have[i]);
			if(r <= 0){
				printf("ok %ld other %ld: connection %d closed by the gateway\n", ok, other, i);
				return 1;
			}
			have[i] += (size_t)r;
			buf[i][have[i]] = '\0';
			if(!(hend = strstr(buf[i], "\r\n\r\n"))) continue;
			cl = strcasestr(buf[i], "content-length:");
			total = (size_t)(hend + 4 - buf[i]) + (cl && cl < hend ? strtoul(cl + 15, NULL, 10) : 0);
			if(have[i] < total) continue;
			if(!strncmp(buf[i], "HTTP/1.1 200", 12)){
				ok++;
			}else if(other++ < 3){
				printf("reply %ld on connection %d:\n%.*s\n", ok + other, i, (int)total, buf[i]);
			}
			memmove(buf[i], buf[i] + total, have[i] - total);
			have[i] -= total;
			if(send_request(pf[i].fd, req, (size_t)reqlen)){
				printf("ok %ld other %ld: connection %d closed by the gateway\n", ok, other, i);
				return 1;
			}
		}
	}
	printf("ok %ld other %ld\n", ok, other);
	return other ? 1 : 0;
}
