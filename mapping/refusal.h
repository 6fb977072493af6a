/* A refused or lost broker session, as every dialect reports it: pure
 * classification of the CONNACK reason code (MQTT 5) into the
 * dialect-neutral outcome; each dialect renders it in its own frames. */
#ifndef WSGW_REFUSAL_H
#define WSGW_REFUSAL_H

#include <stdbool.h>

#define REFUSAL_CLOSE_POLICY 1008        /* WebSocket close: policy violation */
#define REFUSAL_CLOSE_UNEXPECTED 1011    /* WebSocket close: unexpected condition */
#define REFUSAL_LOST (-1)                /* the session ended before any CONNACK */

struct refusal {
	/* The broker refused these credentials (0x87 not authorized, 0x86 bad
	 * user name or password): the client's identity, not the broker's state. */
	bool denied;
	bool bad_credentials;    /* 0x86 in particular */
	const char *code;        /* "FORBIDDEN" or "BROKER_UNAVAILABLE" */
	int close_code;          /* REFUSAL_CLOSE_POLICY if denied, else REFUSAL_CLOSE_UNEXPECTED */
};

/* reason_code: the CONNACK's (nonzero), or a negative value for a session
 * that ended before any CONNACK came (the broker closed it, or it timed out). */
void refusal_classify(int reason_code, struct refusal *out);

#endif
