/* Requests waiting for the broker: a table keyed by packet id, with a
 * deadline per request. Pure code, no I/O: the owner embeds a struct
 * pending_req in its own request, registers the packet ids it waits for, and
 * feeds in the broker's answers (one hash lookup each) and the clock. A
 * request may wait for several packet ids (one per topic), or for none (it
 * waits for something else until its deadline). */
#ifndef WSGW_PENDING_H
#define WSGW_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pending_req;
struct pending_mid;

/* A packet id's answer: index is what pending_await was given with it,
 * reason the broker's reason code (PUBACK, or the SUBACK's first granted
 * value). r is still in the table; the callback may pending_remove it (and
 * free it). */
typedef void (*pending_answer_cb)(struct pending_req *r, size_t index, int reason);
/* The deadline passed: r is out of the table already (its packet ids are
 * forgotten; r->nmids still counts the answers that did not come); the
 * callback owns it. */
typedef void (*pending_expire_cb)(struct pending_req *r);

struct pending_req {
	struct pending_req *prev, *next;   /* the table's requests, in the order added */
	struct pending_mid *mids;          /* the packet ids that may still be answered */
	size_t nmids;                      /* answers still missing */
	int64_t deadline_ms;               /* 0 = none */
	pending_answer_cb answer;
	pending_expire_cb expire;
	bool in_table;
	bool due;                          /* in a sweep's list, its callback not called yet */
};

struct pending {
	struct pending_req *head, *tail;
	struct pending_mid *by_mid;
	struct pending_req *due;           /* during pending_sweep: those whose callback is next */
	size_t count;                      /* requests in the table */
};

void pendtab_init(struct pending *t);
/* Adds r (zeroed or fresh) to the table with its deadline and callbacks. */
void pendtab_add(struct pending *t, struct pending_req *r, int64_t deadline_ms,
		pending_answer_cb answer, pending_expire_cb expire);
/* r waits for packet id mid (index is handed back with the answer).
 * 0, or -1 (no memory, or mid is awaited already). */
int pendtab_await(struct pending *t, struct pending_req *r, int mid, size_t index);
/* The broker answered mid: calls the answer callback of the request that
 * awaits it. False if no request does (not ours, or timed out). */
bool pendtab_answer(struct pending *t, int mid, int reason);
/* Takes every request whose deadline is at or before now out of the table
 * and hands it to its expire callback, unless a callback before removes it. */
void pendtab_sweep(struct pending *t, int64_t now_ms);
/* Takes r out of the table and forgets the packet ids it waited for (no
 * callback; r->nmids stays). Idempotent. */
void pendtab_remove(struct pending *t, struct pending_req *r);
/* Forgets every packet id awaited (the session they were sent on is gone:
 * no answer comes); the requests stay, their answers missing, until their
 * deadlines. */
void pendtab_forget_mids(struct pending *t);
/* Takes every request of a kind (its expire callback; NULL: every one) out,
 * handing each to fn (e.g. its free): for a table several owners share. */
void pendtab_clear(struct pending *t, pending_expire_cb kind, void (*fn)(struct pending_req *r));

#endif
