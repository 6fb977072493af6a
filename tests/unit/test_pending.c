/* Unit tests for mapping/pending.c: requests keyed by packet id, with
 * deadlines. The contract is pending.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pending.h"

struct req {
	struct pending_req pr;          /* first: the callbacks cast back */
	struct pending *t;
	int answers;
	size_t last_index;
	int last_reason;
	int expired;
	bool remove_on_answer;          /* the answer callback removes and frees it */
	struct req *victim;             /* the expire callback removes this one too */
	int *freed;
};

static struct pending table;
static int expired_total;

static void on_answer(struct pending_req *pr, size_t index, int reason)
{
	struct req *r = (struct req *)pr;
	r->answers++;
	r->last_index = index;
	r->last_reason = reason;
	if(r->remove_on_answer && pr->nmids == 0){
		pendtab_remove(r->t, pr);
		if(r->freed) (*r->freed)++;
		free(r);
	}
}

static void on_expire(struct pending_req *pr)
{
	struct req *r = (struct req *)pr;
	r->expired++;
	expired_total++;
	assert_false(pr->in_table);
	if(r->victim){
		pendtab_remove(r->t, &r->victim->pr);
		r->victim->expired = -1;   /* marks: removed by another's callback */
	}
}

static struct req *req_new(int64_t deadline)
{
	struct req *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->t = &table;
	pendtab_add(&table, &r->pr, deadline, on_answer, on_expire);
	return r;
}

static int setup(void **state)
{
	(void)state;
	pendtab_init(&table);
	expired_total = 0;
	return 0;
}

static void free_req(struct pending_req *pr)
{
	free(pr);
}

static int teardown(void **state)
{
	(void)state;
	pendtab_clear(&table, NULL, free_req);
	assert_null(table.head);
	assert_null(table.by_mid);
	assert_int_equal(table.count, 0);
	return 0;
}

static void test_answer_one_lookup(void **state)
{
	struct req *a = req_new(1000), *b = req_new(1000);
	(void)state;
	assert_int_equal(pendtab_await(&table, &a->pr, 1, 0), 0);
	assert_int_equal(pendtab_await(&table, &a->pr, 2, 1), 0);
	assert_int_equal(pendtab_await(&table, &b->pr, 3, 7), 0);
	assert_int_equal(a->pr.nmids, 2);
	assert_true(pendtab_answer(&table, 2, 0x87));
	assert_int_equal(a->answers, 1);
	assert_int_equal(a->last_index, 1);
	assert_int_equal(a->last_reason, 0x87);
	assert_int_equal(a->pr.nmids, 1);
	assert_int_equal(b->answers, 0);
	/* answered once: a second answer for the same id is not ours */
	assert_false(pendtab_answer(&table, 2, 0));
	assert_false(pendtab_answer(&table, 99, 0));
	assert_true(pendtab_answer(&table, 3, 0));
	assert_int_equal(b->last_index, 7);
	assert_int_equal(b->pr.nmids, 0);
	assert_true(b->pr.in_table);   /* the owner decides when it is done */
	assert_int_equal(table.count, 2);
}

static void test_duplicate_mid(void **state)
{
	struct req *a = req_new(0), *b = req_new(0);
	(void)state;
	assert_int_equal(pendtab_await(&table, &a->pr, 5, 0), 0);
	assert_int_equal(pendtab_await(&table, &b->pr, 5, 0), -1);
	assert_int_equal(b->pr.nmids, 0);
	pendtab_remove(&table, &a->pr);
	free(a);
	/* the id is free again once its request is gone */
	assert_int_equal(pendtab_await(&table, &b->pr, 5, 0), 0);
	assert_true(pendtab_answer(&table, 5, 0));
	assert_int_equal(b->answers, 1);
}

static void test_answer_callback_removes(void **state)
{
	struct req *a = req_new(0);
	int freed = 0;
	(void)state;
	a->remove_on_answer = true;
	a->freed = &freed;
	pendtab_await(&table, &a->pr, 10, 0);
	pendtab_await(&table, &a->pr, 11, 1);
	assert_true(pendtab_answer(&table, 10, 0));
	assert_int_equal(freed, 0);
	assert_true(pendtab_answer(&table, 11, 0));
	assert_int_equal(freed, 1);
	assert_int_equal(table.count, 0);
	assert_false(pendtab_answer(&table, 10, 0));
}

static void test_sweep(void **state)
{
	struct req *a = req_new(100), *b = req_new(300), *c = req_new(200), *d = req_new(0);
	(void)state;
	pendtab_await(&table, &a->pr, 1, 0);
	pendtab_await(&table, &c->pr, 2, 0);
	pendtab_sweep(&table, 99);
	assert_int_equal(expired_total, 0);
	pendtab_sweep(&table, 200);
	assert_int_equal(a->expired, 1);
	assert_int_equal(c->expired, 1);
	assert_int_equal(a->pr.nmids, 1);   /* the answer that did not come */
	assert_int_equal(b->expired, 0);
	assert_int_equal(d->expired, 0);
	/* expired: its ids are forgotten, the request is the owner's */
	assert_false(pendtab_answer(&table, 1, 0));
	assert_false(pendtab_answer(&table, 2, 0));
	assert_int_equal(table.count, 2);
	free(a);
	free(c);
	pendtab_sweep(&table, 1000000);
	assert_int_equal(b->expired, 1);
	assert_int_equal(d->expired, 0);   /* no deadline */
	free(b);
	assert_int_equal(table.count, 1);
	assert_ptr_equal(table.head, &d->pr);
}

static void test_sweep_callback_removes_other(void **state)
{
	struct req *a = req_new(100), *b = req_new(100), *c = req_new(500);
	(void)state;
	/* a's callback removes b, due too */
	a->victim = b;
	pendtab_sweep(&table, 100);
	assert_int_equal(a->expired, 1);
	/* due ones are called back in the table's order: b, removed by a's
	 * callback before its turn, never is */
	assert_int_equal(b->expired, -1);
	assert_int_equal(expired_total, 1);
	free(a);
	free(b);
	a = NULL;
	c->victim = NULL;
	assert_int_equal(table.count, 1);
	pendtab_sweep(&table, 500);
	assert_int_equal(c->expired, 1);
	free(c);
	assert_int_equal(table.count, 0);
}

static void test_remove_idempotent(void **state)
{
	struct req *a = req_new(10);
	(void)state;
	pendtab_await(&table, &a->pr, 4, 0);
	pendtab_remove(&table, &a->pr);
	pendtab_remove(&table, &a->pr);
	assert_int_equal(table.count, 0);
	assert_int_equal(pendtab_await(&table, &a->pr, 4, 0), -1);   /* not in the table */
	assert_false(pendtab_answer(&table, 4, 0));
	pendtab_sweep(&table, 100);
	assert_int_equal(a->expired, 0);
	free(a);
}

static void test_forget_mids(void **state)
{
	struct req *a = req_new(100), *b = req_new(200);
	(void)state;
	pendtab_await(&table, &a->pr, 1, 0);
	pendtab_await(&table, &a->pr, 2, 1);
	pendtab_await(&table, &b->pr, 3, 0);
	pendtab_forget_mids(&table);
	/* still missing, never to come */
	assert_int_equal(a->pr.nmids, 2);
	assert_int_equal(b->pr.nmids, 1);
	assert_null(table.by_mid);
	assert_false(pendtab_answer(&table, 1, 0));
	/* a new session numbers from 1 again: the ids are free */
	assert_int_equal(pendtab_await(&table, &b->pr, 1, 0), 0);
	assert_int_equal(b->pr.nmids, 2);
	assert_int_equal(table.count, 2);
	pendtab_sweep(&table, 100);
	assert_int_equal(a->expired, 1);
	free(a);
}

static void on_expire_other(struct pending_req *pr)
{
	(void)pr;
}

static void test_clear_kind(void **state)
{
	struct req *a = req_new(100), *b = calloc(1, sizeof(*b)), *c = req_new(100);
	int n = 0;
	(void)state;
	assert_non_null(b);
	pendtab_add(&table, &b->pr, 100, on_answer, on_expire_other);
	pendtab_await(&table, &b->pr, 8, 0);
	pendtab_clear(&table, on_expire_other, free_req);
	assert_int_equal(table.count, 2);
	assert_false(pendtab_answer(&table, 8, 0));
	for(struct pending_req *r = table.head; r; r = r->next) n++;
	assert_int_equal(n, 2);
	assert_ptr_equal(table.head, &a->pr);
	assert_ptr_equal(table.tail, &c->pr);
}

static void test_many(void **state)
{
	enum { N = 5000 };
	struct req *r[N];
	(void)state;
	for(int i = 0; i < N; i++){
		r[i] = req_new(1000 + i);
		assert_int_equal(pendtab_await(&table, &r[i]->pr, i + 1, (size_t)i), 0);
	}
	for(int i = N - 1; i >= 0; i -= 2){
		assert_true(pendtab_answer(&table, i + 1, 0));
		assert_int_equal(r[i]->last_index, (size_t)i);
	}
	pendtab_sweep(&table, 1000 + N / 2 - 1);
	assert_int_equal(expired_total, N / 2);
	for(int i = 0; i < N / 2; i++) free(r[i]);
	assert_int_equal(table.count, N - N / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answer_one_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_mid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_callback_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_callback_removes_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_mids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
