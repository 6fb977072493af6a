/* Trusted proxies: see proxy.h. */
#include "proxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The right-most hops a header names that are looked at: a chain of more
 * trusted proxies than this ends at the 32nd, which is then the client. */
#define MAX_HOPS 32

struct hop {
	char addr[INET6_ADDRSTRLEN + 8];   /* as written, unquoted; "" if too long */
	char proto[8];                     /* Forwarded's proto= of the hop, or "" */
};

static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* An IPv4 or IPv6 literal (no brackets, no port) into out. */
static bool parse_ip(const char *s, unsigned char out[16])
{
	struct in_addr a4;

	if(inet_pton(AF_INET, s, &a4) == 1){
		memcpy(out, v4mapped, 12);
		memcpy(out + 12, &a4, 4);
		return true;
	}
	return inet_pton(AF_INET6, s, out) == 1;
}

int proxy_net_parse(const char *s, struct proxy_net *net)
{
	char lit[INET6_ADDRSTRLEN + 2];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	bool v4;
	int max, bits;

	if(len == 0 || len >= sizeof(lit)) return -1;
	memcpy(lit, s, len);
	lit[len] = '\0';
	if(lit[0] == '[' && len > 2 && lit[len - 1] == ']'){
		memmove(lit, lit + 1, len - 2);
		lit[len - 2] = '\0';
	}
	if(!parse_ip(lit, net->addr)) return -1;
	v4 = strchr(lit, ':') == NULL;
	max = v4 ? 32 : 128;
	bits = max;
	if(slash){
		const char *p = slash + 1;
		if(!*p || strlen(p) > 3) return -1;
		bits = 0;
		for(; *p; p++){
			if(!isdigit((unsigned char)*p)) return -1;
			bits = bits * 10 + (*p - '0');
		}
		if(bits > max) return -1;
	}
	net->bits = v4 ? bits + 96 : bits;
	for(int i = net->bits; i < 128; i++){
		if(net->addr[i / 8] & (0x80 >> (i % 8))) return -1;
	}
	return 0;
}

static bool in_net(const struct proxy_net *net, const unsigned char a[16])
{
	int full = net->bits / 8, rest = net->bits % 8;

	if(memcmp(net->addr, a, (size_t)full)) return false;
	if(!rest) return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (a[full] & mask);
}

static bool trusted_bin(const struct proxy_net *nets, size_t n, const unsigned char a[16])
{
	for(size_t i = 0; i < n; i++){
		if(in_net(&nets[i], a)) return true;
	}
	return false;
}

bool proxy_trusted(const struct proxy_net *nets, size_t n, const char *addr)
{
	unsigned char a[16];

	return addr && parse_ip(addr, a) && trusted_bin(nets, n, a);
}

/* A hop as a header writes it: an IPv4 or IPv6 literal, "[v6]", "[v6]:port"
 * or "v4:port". Its address into bin and, canonical (IPv4 dotted), into text. */
static bool parse_hop(const char *s, unsigned char bin[16], char *text, size_t textlen)
{
	char lit[INET6_ADDRSTRLEN + 8];
	const char *colon = strchr(s, ':');
	size_t len;

	if(s[0] == '['){
		const char *end = strchr(s, ']');
		if(!end || (end[1] && (end[1] != ':' || !end[2] || strspn(end + 2, "0123456789") != strlen(end + 2)))) return false;
		len = (size_t)(end - s - 1);
		if(len >= sizeof(lit)) return false;
		memcpy(lit, s + 1, len);
		lit[len] = '\0';
		if(!strchr(lit, ':')) return false;   /* brackets are for IPv6 */
	}else if(colon && !strchr(colon + 1, ':')){
		/* one colon: IPv4 with a port */
		if(!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1)) return false;
		len = (size_t)(colon - s);
		if(len >= sizeof(lit)) return false;
		memcpy(lit, s, len);
		lit[len] = '\0';
		if(strchr(lit, ':')) return false;
	}else{
		if(strlen(s) >= sizeof(lit)) return false;
		snprintf(lit, sizeof(lit), "%s", s);
	}
	if(!parse_ip(lit, bin)) return false;
	if(!memcmp(bin, v4mapped, 12)) return inet_ntop(AF_INET, bin + 12, text, (socklen_t)textlen) != NULL;
	return inet_ntop(AF_INET6, bin, text, (socklen_t)textlen) != NULL;
}

/* Appends a hop to the ring of the last MAX_HOPS; returns the new count. */
static size_t hop_push(struct hop *hops, size_t n)
{
	if(n == MAX_HOPS){
		memmove(hops, hops + 1, (MAX_HOPS - 1) * sizeof(*hops));
		n--;
	}
	memset(&hops[n], 0, sizeof(hops[n]));
	return n + 1;
}

static void copy_trimmed(char *dst, size_t dstlen, const char *s, size_t len)
{
	while(len && (*s == ' ' || *s == '\t')){
		s++;
		len--;
	}
	while(len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
	if(len >= dstlen){
		dst[0] = '\0';   /* too long for an address: not one */
		return;
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* X-Forwarded-For: addresses separated by commas. */
static size_t parse_xff(const char *v, struct hop *hops)
{
	size_t n = 0;

	for(;;){
		const char *comma = strchr(v, ',');
		size_t len = comma ? (size_t)(comma - v) : strlen(v);
		n = hop_push(hops, n);
		copy_trimmed(hops[n - 1].addr, sizeof(hops[n - 1].addr), v, len);
		if(!comma) break;
		v = comma + 1;
	}
	return n;
}

static bool tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Forwarded (RFC 7239): elements separated by commas, each pairs
 * name=value separated by semicolons, a value a token or a quoted string.
 * The number of elements, or -1 if the header is malformed. */
static int parse_forwarded(const char *v, struct hop *hops)
{
	size_t n = hop_push(hops, 0);

	for(;;){
		char name[16], value[INET6_ADDRSTRLEN + 8];
		size_t nl = 0, vl = 0;
		bool toolong = false;

		while(*v == ' ' || *v == '\t') v++;
		while(tchar(*v)){
			if(nl + 1 < sizeof(name)) name[nl++] = *v;
			else toolong = true;
			v++;
		}
		name[nl] = '\0';
		if(!nl || *v++ != '=') return -1;
		if(*v == '"'){
			for(v++; *v != '"'; v++){
				if(!*v) return -1;
				if(*v == '\\' && !*++v) return -1;
				if(vl + 1 < sizeof(value)) value[vl++] = *v;
				else toolong = true;
			}
			v++;
		}else{
			while(tchar(*v)){
				if(vl + 1 < sizeof(value)) value[vl++] = *v;
				else toolong = true;
				v++;
			}
			if(!vl) return -1;
		}
		value[vl] = '\0';
		if(!toolong){
			struct hop *h = &hops[n - 1];
			if(!strcasecmp(name, "for")) snprintf(h->addr, sizeof(h->addr), "%s", value);
			else if(!strcasecmp(name, "proto") && vl < sizeof(h->proto)) memcpy(h->proto, value, vl + 1);
		}
		while(*v == ' ' || *v == '\t') v++;
		if(!*v) break;
		if(*v == ','){
			n = hop_push(hops, n);
		}else if(*v != ';'){
			return -1;
		}
		v++;
	}
	return (int)n;
}

/* "http" or "https" for a scheme a proxy wrote (any case), else "". */
static const char *scheme_of(const char *s)
{
	if(!strcasecmp(s, "https")) return "https";
	if(!strcasecmp(s, "http")) return "http";
	return "";
}

void proxy_client(const struct proxy_net *nets, size_t n, const char *peer,
		const char *forwarded, const char *xff, const char *xproto,
		char *client, size_t clientlen, char *proto, size_t protolen)
{
	struct hop hops[MAX_HOPS];
	unsigned char bin[16];
	int nhops = -1;
	bool from_forwarded = false;

	snprintf(client, clientlen, "%s", peer);
	if(protolen) proto[0] = '\0';
	if(!proxy_trusted(nets, n, peer)) return;
	if(forwarded){
		nhops = parse_forwarded(forwarded, hops);
		from_forwarded = nhops > 0;
	}
	if(nhops < 0 && xff) nhops = (int)parse_xff(xff, hops);
	for(int i = nhops - 1; i >= 0; i--){
		char text[INET6_ADDRSTRLEN];
		if(!parse_hop(hops[i].addr, bin, text, sizeof(text))) break;
		snprintf(client, clientlen, "%s", text);
		if(from_forwarded) snprintf(proto, protolen, "%s", scheme_of(hops[i].proto));
		if(!trusted_bin(nets, n, bin)) break;
	}
	if(!from_forwarded && xproto){
		/* the right-most value: the nearest proxy's, which is trusted */
		const char *last = strrchr(xproto, ',');
		char v[8];
		last = last ? last + 1 : xproto;
		copy_trimmed(v, sizeof(v), last, strlen(last));
		snprintf(proto, protolen, "%s", scheme_of(v));
	}
}
