/* mapping/proxy.c: trusted_proxies entries from the configuration and the
 * forwarding headers a client may forge. The input is four strings split at
 * NUL bytes: a network, a Forwarded value, an X-Forwarded-For value, an
 * X-Forwarded-Proto value; the network (if it parses), 127.0.0.1 and ::1
 * are trusted, and the peer is 127.0.0.1, then 192.0.2.1. */
#include "fuzz.h"
#include "proxy.h"

#include <arpa/inet.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *part[4];
	size_t at = 0;
	struct proxy_net nets[3];
	size_t n = 0;
	char client[64], proto[8];
	unsigned char bin[16];

	for(int i = 0; i < 4; i++){
		const uint8_t *nul = at < size ? memchr(data + at, 0, size - at) : NULL;
		size_t len = at >= size ? 0 : nul ? (size_t)(nul - (data + at)) : size - at;
		part[i] = fuzz_cstr(data + at, len);
		at += len + (nul ? 1 : 0);
	}
	if(!proxy_net_parse(part[0], &nets[n])){
		FUZZ_CHECK(nets[n].bits >= 0 && nets[n].bits <= 128);
		n++;
	}
	FUZZ_CHECK(!proxy_net_parse("127.0.0.1", &nets[n++]));
	FUZZ_CHECK(!proxy_net_parse("::1/128", &nets[n++]));
	proxy_trusted(nets, n, part[0]);
	proxy_client(nets, n, "127.0.0.1", part[1][0] ? part[1] : NULL, part[2], part[3],
			client, sizeof(client), proto, sizeof(proto));
	/* the client is an address, and the scheme one of the two */
	FUZZ_CHECK(inet_pton(AF_INET, client, bin) == 1 || inet_pton(AF_INET6, client, bin) == 1);
	FUZZ_CHECK(!strcmp(proto, "") || !strcmp(proto, "http") || !strcmp(proto, "https"));
	/* an untrusted peer's headers are not read (the fuzzed network may
	 * hold that peer) */
	proxy_client(nets, n, "192.0.2.1", part[1], part[2], part[3], client, sizeof(client), proto, sizeof(proto));
	if(!proxy_trusted(nets, n, "192.0.2.1")) FUZZ_CHECK(!strcmp(client, "192.0.2.1") && !proto[0]);
	for(int i = 0; i < 4; i++) free(part[i]);
	return 0;
}
