/* Unit tests for mapping/proxy.c: trusted_proxies networks and the client
 * address and scheme the forwarding headers give. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proxy.h"

static struct proxy_net nets[8];
static size_t nnets;

static void trust(const char *const *list)
{
	nnets = 0;
	for(; *list; list++) assert_int_equal(proxy_net_parse(*list, &nets[nnets++]), 0);
}

/* The client and scheme for peer and the three headers (NULL: absent). */
static void check(const char *peer, const char *fwd, const char *xff, const char *xproto,
		const char *want_client, const char *want_proto)
{
	char client[64], proto[8];
	memset(client, 'x', sizeof(client));
	memset(proto, 'x', sizeof(proto));
	proxy_client(nets, nnets, peer, fwd, xff, xproto, client, sizeof(client), proto, sizeof(proto));
	assert_string_equal(client, want_client);
	assert_string_equal(proto, want_proto);
}

static void test_net_parse(void **state)
{
	struct proxy_net n;
	(void)state;
	assert_int_equal(proxy_net_parse("192.0.2.1", &n), 0);
	assert_int_equal(n.bits, 128);
	assert_int_equal(proxy_net_parse("10.0.0.0/8", &n), 0);
	assert_int_equal(n.bits, 104);
	assert_int_equal(proxy_net_parse("0.0.0.0/0", &n), 0);
	assert_int_equal(n.bits, 96);
	assert_int_equal(proxy_net_parse("2001:db8::/32", &n), 0);
	assert_int_equal(n.bits, 32);
	assert_int_equal(proxy_net_parse("[::1]", &n), 0);
	assert_int_equal(n.bits, 128);
	assert_int_equal(proxy_net_parse("::/0", &n), 0);
	assert_int_equal(n.bits, 0);
	/* refused */
	const char *bad[] = { "", "/8", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x",
		"2001:db8::1/129", "10.0.0", "host.example", "10.0.0.0/-1", "[10.0.0.1]x", "1.2.3.4 ", NULL };
	for(const char **b = bad; *b; b++){
		if(!proxy_net_parse(*b, &n)) fail_msg("\"%s\" parsed", *b);
	}
}

static void test_trusted(void **state)
{
	const char *list[] = { "127.0.0.1", "10.0.0.0/8", "2001:db8:1::/48", NULL };
	(void)state;
	trust(list);
	assert_true(proxy_trusted(nets, nnets, "127.0.0.1"));
	assert_true(proxy_trusted(nets, nnets, "::ffff:127.0.0.1"));   /* dual-stack socket */
	assert_true(proxy_trusted(nets, nnets, "10.255.1.2"));
	assert_true(proxy_trusted(nets, nnets, "2001:db8:1:ffff::5"));
	assert_false(proxy_trusted(nets, nnets, "127.0.0.2"));
	assert_false(proxy_trusted(nets, nnets, "11.0.0.1"));
	assert_false(proxy_trusted(nets, nnets, "2001:db8:2::5"));
	assert_false(proxy_trusted(nets, nnets, "::1"));
	assert_false(proxy_trusted(nets, nnets, "garbage"));
	assert_false(proxy_trusted(nets, nnets, NULL));
	assert_false(proxy_trusted(nets, 0, "127.0.0.1"));
}

static void test_untrusted_peer(void **state)
{
	const char *list[] = { "127.0.0.1", NULL };
	(void)state;
	trust(list);
	check("192.0.2.7", "for=198.51.100.1;proto=https", "198.51.100.1", "https", "192.0.2.7", "");
	check("192.0.2.7", NULL, NULL, NULL, "192.0.2.7", "");
}

static void test_xff(void **state)
{
	const char *list[] = { "127.0.0.1", "10.0.0.0/8", NULL };
	(void)state;
	trust(list);
	check("127.0.0.1", NULL, "198.51.100.1", NULL, "198.51.100.1", "");
	/* the right-most untrusted one: what the client wrote itself is left of it */
	check("127.0.0.1", NULL, "6.6.6.6, 198.51.100.1", NULL, "198.51.100.1", "");
	check("127.0.0.1", NULL, "6.6.6.6,198.51.100.1, 10.1.1.1", "https", "198.51.100.1", "https");
	/* every hop trusted: the left-most */
	check("127.0.0.1", NULL, "10.0.0.2, 10.0.0.3", NULL, "10.0.0.2", "");
	/* a hop that is no address ends the walk at the trusted hop right of it */
	check("127.0.0.1", NULL, "198.51.100.1, unknown, 10.0.0.3", NULL, "10.0.0.3", "");
	check("127.0.0.1", NULL, "garbage", NULL, "127.0.0.1", "");
	check("127.0.0.1", NULL, "", NULL, "127.0.0.1", "");
	/* ports and brackets, IPv6 canonical */
	check("127.0.0.1", NULL, "198.51.100.1:4711", NULL, "198.51.100.1", "");
	check("127.0.0.1", NULL, "[2001:DB8::0:1]:80", NULL, "2001:db8::1", "");
	check("127.0.0.1", NULL, "2001:db8::1", NULL, "2001:db8::1", "");
	check("127.0.0.1", NULL, "::ffff:198.51.100.1", NULL, "198.51.100.1", "");
	check("127.0.0.1", NULL, "198.51.100.1:", NULL, "127.0.0.1", "");
	check("127.0.0.1", NULL, "[198.51.100.1]", NULL, "127.0.0.1", "");
	/* X-Forwarded-Proto: the right-most value, http or https only */
	check("127.0.0.1", NULL, "198.51.100.1", "HTTPS", "198.51.100.1", "https");
	check("127.0.0.1", NULL, "198.51.100.1", "https, http", "198.51.100.1", "http");
	check("127.0.0.1", NULL, "198.51.100.1", "gopher", "198.51.100.1", "");
	check("127.0.0.1", NULL, NULL, "https", "127.0.0.1", "https");
	/* on a dual-stack socket */
	check("::ffff:127.0.0.1", NULL, "198.51.100.1", NULL, "198.51.100.1", "");
}

static void test_forwarded(void **state)
{
	const char *list[] = { "127.0.0.1", "10.0.0.0/8", NULL };
	(void)state;
	trust(list);
	check("127.0.0.1", "for=198.51.100.1;proto=https", NULL, NULL, "198.51.100.1", "https");
	check("127.0.0.1", "For=\"[2001:db8:cafe::17]:4711\";Proto=HTTP", NULL, NULL, "2001:db8:cafe::17", "http");
	check("127.0.0.1", "for=6.6.6.6;proto=http, for=198.51.100.1;proto=https;by=10.0.0.1, for=10.0.0.9;proto=http",
			NULL, NULL, "198.51.100.1", "https");
	check("127.0.0.1", "for=\"198.51.100.1:80\"", NULL, NULL, "198.51.100.1", "");
	/* quoted commas and escapes are a value, not a separator */
	check("127.0.0.1", "for=198.51.100.1;ext=\"a,b\\\"c\"", NULL, NULL, "198.51.100.1", "");
	/* hidden or obfuscated: the trusted hop that says so */
	check("127.0.0.1", "for=unknown", NULL, NULL, "127.0.0.1", "");
	check("127.0.0.1", "for=198.51.100.1, for=_hidden, for=10.0.0.4;proto=https", NULL, NULL, "10.0.0.4", "https");
	/* Forwarded wins over X-Forwarded-For and X-Forwarded-Proto */
	check("127.0.0.1", "for=198.51.100.1", "203.0.113.5", "https", "198.51.100.1", "");
	/* malformed: ignored, X-Forwarded-For is read */
	check("127.0.0.1", "for=198.51.100.1;", "203.0.113.5", NULL, "203.0.113.5", "");
	check("127.0.0.1", "for=\"198.51.100.1", "203.0.113.5", NULL, "203.0.113.5", "");
	check("127.0.0.1", "=x", NULL, NULL, "127.0.0.1", "");
	check("127.0.0.1", "for=a b", NULL, NULL, "127.0.0.1", "");
	/* an element without for= names nobody */
	check("127.0.0.1", "proto=https", NULL, NULL, "127.0.0.1", "");
}

static void test_long_chain(void **state)
{
	const char *list[] = { "10.0.0.0/8", NULL };
	char xff[2048] = "198.51.100.1";
	(void)state;
	trust(list);
	for(int i = 0; i < 40; i++){
		char hop[16];
		snprintf(hop, sizeof(hop), ", 10.0.0.%d", i + 1);
		strcat(xff, hop);
	}
	/* 40 trusted hops: the walk stops at the 32nd from the right */
	check("10.0.0.200", NULL, xff, NULL, "10.0.0.9", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_parse),
		cmocka_unit_test(test_trusted),
		cmocka_unit_test(test_untrusted_peer),
		cmocka_unit_test(test_xff),
		cmocka_unit_test(test_forwarded),
		cmocka_unit_test(test_long_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
