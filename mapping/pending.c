/* The pending-request table of mapping/pending.h. */
#include "pending.h"

#include <stdlib.h>
#include <uthash.h>

struct pending_mid {
	UT_hash_handle hh;
	int mid;
	size_t index;
	struct pending_req *req;
	struct pending_mid *next;   /* the request's list */
};

void pendtab_init(struct pending *t)
{
	t->head = t->tail = NULL;
	t->by_mid = NULL;
	t->due = NULL;
	t->count = 0;
}

void pendtab_add(struct pending *t, struct pending_req *r, int64_t deadline_ms,
		pending_answer_cb answer, pending_expire_cb expire)
{
	r->mids = NULL;
	r->nmids = 0;
	r->deadline_ms = deadline_ms;
	r->answer = answer;
	r->expire = expire;
	r->next = NULL;
	r->prev = t->tail;
	if(t->tail) t->tail->next = r;
	else t->head = r;
	t->tail = r;
	r->in_table = true;
	t->count++;
}

int pendtab_await(struct pending *t, struct pending_req *r, int mid, size_t index)
{
	struct pending_mid *m = NULL;

	if(!r->in_table) return -1;
	HASH_FIND_INT(t->by_mid, &mid, m);
	if(m) return -1;
	m = calloc(1, sizeof(*m));
	if(!m) return -1;
	m->mid = mid;
	m->index = index;
	m->req = r;
	m->next = r->mids;
	r->mids = m;
	r->nmids++;
	HASH_ADD_INT(t->by_mid, mid, m);
	return 0;
}

/* Forgets m (in r's list and the table); r->nmids is the caller's. */
static void mid_forget(struct pending *t, struct pending_req *r, struct pending_mid *m)
{
	for(struct pending_mid **pp = &r->mids; *pp; pp = &(*pp)->next){
		if(*pp == m){
			*pp = m->next;
			break;
		}
	}
	HASH_DEL(t->by_mid, m);
	free(m);
}

bool pendtab_answer(struct pending *t, int mid, int reason)
{
	struct pending_mid *m = NULL;
	struct pending_req *r;
	size_t index;

	HASH_FIND_INT(t->by_mid, &mid, m);
	if(!m) return false;
	r = m->req;
	index = m->index;
	mid_forget(t, r, m);
	r->nmids--;
	if(r->answer) r->answer(r, index, reason);
	return true;
}

/* Unlinks r from the list at *head (doubly linked through prev/next). */
static void list_unlink(struct pending_req **head, struct pending_req **tail, struct pending_req *r)
{
	if(r->prev) r->prev->next = r->next;
	else *head = r->next;
	if(r->next) r->next->prev = r->prev;
	else if(tail) *tail = r->prev;
	r->prev = r->next = NULL;
}

void pendtab_remove(struct pending *t, struct pending_req *r)
{
	if(r->due){
		/* taken out by a sweep, its callback not called yet: it never is */
		list_unlink(&t->due, NULL, r);
		r->due = false;
		return;
	}
	if(!r->in_table) return;
	while(r->mids) mid_forget(t, r, r->mids);
	list_unlink(&t->head, &t->tail, r);
	r->in_table = false;
	t->count--;
}

void pendtab_sweep(struct pending *t, int64_t now_ms)
{
	struct pending_req *r, *next, *last = NULL;

	/* Out of the table first, then the callbacks: a callback may remove
	 * (and free) any other request, one also due included. */
	for(r = t->head; r; r = next){
		next = r->next;
		if(!r->deadline_ms || now_ms < r->deadline_ms) continue;
		pendtab_remove(t, r);
		r->prev = last;            /* in the table's order */
		if(last) last->next = r;
		else t->due = r;
		last = r;
		r->due = true;
	}
	while((r = t->due)){
		list_unlink(&t->due, NULL, r);
		r->due = false;
		if(r->expire) r->expire(r);
	}
}

void pendtab_forget_mids(struct pending *t)
{
	for(struct pending_req *r = t->head; r; r = r->next){
		while(r->mids) mid_forget(t, r, r->mids);
	}
}

void pendtab_clear(struct pending *t, pending_expire_cb kind, void (*fn)(struct pending_req *r))
{
	struct pending_req *r, *next;
	for(r = t->head; r; r = next){
		next = r->next;
		if(kind && r->expire != kind) continue;
		pendtab_remove(t, r);
		if(fn) fn(r);
	}
}
