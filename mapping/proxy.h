/* Trusted proxies (plugin_opt_trusted_proxies): the address list and the
 * forwarding headers a proxy adds, pure. From a trusted peer, Forwarded
 * (RFC 7239) or X-Forwarded-For name the client, walked from the right: the
 * right-most address that is not itself a trusted proxy is the client (every
 * address to its left was written by a host nobody vouches for). From any
 * other peer the headers are ignored. */
#ifndef WSGW_PROXY_H
#define WSGW_PROXY_H

#include <stdbool.h>
#include <stddef.h>

/* An address or a network: IPv4 ones as IPv4-mapped IPv6 (::ffff:a.b.c.d,
 * bits counted from the start of the 128), so that an IPv4 client seen on a
 * dual-stack socket matches the IPv4 network. */
struct proxy_net {
	unsigned char addr[16];
	int bits;
};

/* "192.0.2.1", "192.0.2.0/24", "2001:db8::1", "2001:db8::/32" (an IPv6
 * literal may be in brackets). 0, or -1 if s is none of these; the bits
 * under the mask must be zero ("10.0.0.1/8" is refused as a likely typo). */
int proxy_net_parse(const char *s, struct proxy_net *net);

/* addr: an IPv4 or IPv6 literal, as the socket gives it. False for anything
 * else. */
bool proxy_trusted(const struct proxy_net *nets, size_t n, const char *addr);

/* What the proxies say about a connection from peer (its socket address).
 * forwarded, xff and xproto are the Forwarded, X-Forwarded-For and
 * X-Forwarded-Proto header values (NULL when absent; several header lines
 * joined with ","). Forwarded wins over X-Forwarded-For when both are sent.
 * Writes the client's address to client (peer itself when peer is not
 * trusted, or the headers name nobody) and the scheme the client used to
 * proto ("http" or "https"; "" when nobody trusted said). A hop that is not
 * an address ("unknown", an obfuscated name, garbage) ends the walk: the
 * client is the trusted hop that reported it. */
void proxy_client(const struct proxy_net *nets, size_t n, const char *peer,
		const char *forwarded, const char *xff, const char *xproto,
		char *client, size_t clientlen, char *proto, size_t protolen);

#endif
