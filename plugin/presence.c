/* The watch index: for each presence key, the local sessions that get its
 * events (a channel's members list, a dialect's presence subscription). */
#include "wsgw.h"
#include "session_int.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct wsgw_channel_index {
	UT_hash_handle hh;
	char *key;
	struct wsgw_watch *head;
};

/* One (session, presence key) pair: in its channel's list and its session's. */
struct wsgw_watch {
	struct wsgw_watch *cprev, *cnext;
	struct wsgw_watch *snext;
	struct wsgw_session *s;
	struct wsgw_channel_index *ci;
};

void presence_init(struct wsgw_gw *gw)
{
	gw->session_gone = session_unwatch_all;
}

static struct wsgw_watch *watch_find(struct wsgw_session *s, const char *key, struct wsgw_watch ***link)
{
	struct wsgw_watch **pp;
	for(pp = &s->watches; *pp; pp = &(*pp)->snext){
		if(!strcmp((*pp)->ci->key, key)){
			if(link) *link = pp;
			return *pp;
		}
	}
	return NULL;
}

int session_watch(struct wsgw_session *s, const char *key)
{
	struct wsgw_gw *gw = s->gw;
	struct wsgw_channel_index *ci = NULL;
	struct wsgw_watch *w;

	if(watch_find(s, key, NULL)) return 0;
	w = calloc(1, sizeof(*w));
	if(!w) return -1;
	HASH_FIND_STR(gw->channels, key, ci);
	if(!ci){
		ci = calloc(1, sizeof(*ci));
		if(!ci || !(ci->key = strdup(key))){
			free(ci);
			free(w);
			return -1;
		}
		HASH_ADD_KEYPTR(hh, gw->channels, ci->key, strlen(ci->key), ci);
	}
	w->s = s;
	w->ci = ci;
	w->cnext = ci->head;
	if(ci->head) ci->head->cprev = w;
	ci->head = w;
	w->snext = s->watches;
	s->watches = w;
	return 0;
}

static void watch_drop(struct wsgw_gw *gw, struct wsgw_watch *w)
{
	struct wsgw_channel_index *ci = w->ci;
	if(w->cprev) w->cprev->cnext = w->cnext;
	else ci->head = w->cnext;
	if(w->cnext) w->cnext->cprev = w->cprev;
	if(!ci->head){
		HASH_DEL(gw->channels, ci);
		free(ci->key);
		free(ci);
	}
	free(w);
}

void session_unwatch(struct wsgw_session *s, const char *key)
{
	struct wsgw_watch **pp = NULL, *w = watch_find(s, key, &pp);
	if(!w) return;
	*pp = w->snext;
	watch_drop(s->gw, w);
}

void session_unwatch_all(struct wsgw_session *s)
{
	while(s->watches){
		struct wsgw_watch *w = s->watches;
		s->watches = w->snext;
		watch_drop(s->gw, w);
	}
}

void presence_dispatch(struct wsgw_gw *gw, const char *key, enum wsgw_presence_event ev,
		const struct mirror_member *m)
{
	struct wsgw_channel_index *ci = NULL;

	HASH_FIND_STR(gw->channels, key, ci);
	if(!ci) return;
	gw->presence_seq++;
	for(struct wsgw_watch *w = ci->head; w; w = w->cnext){
		struct wsgw_session *s = w->s;
		if(!s->closing && s->dialect->presence) s->dialect->presence(s, key, ev, m);
	}
}
