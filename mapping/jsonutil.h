/* Small JSON and text helpers shared by the dialects. Pure code. */
#ifndef WSGW_JSONUTIL_H
#define WSGW_JSONUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* True if buf[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool jsonutil_utf8_valid(const void *buf, size_t len);

/* True if s[0..len) is UTF-8 that MQTT accepts in a topic: no C0 or C1
 * control characters (U+0000-U+001F, U+007F-U+009F) -- Mosquitto refuses them. */
bool jsonutil_topic_text_ok(const char *s, size_t len);

/* Turns an MQTT payload into a JSON value (new reference): the payload's own
 * JSON value when it parses, a JSON string when it is other UTF-8 text, NULL
 * when it is not UTF-8. An empty payload is the empty string. */
json_t *jsonutil_from_payload(const void *payload, size_t len);

/* Compact text of v (caller frees), or NULL. Accepts any JSON value. */
char *jsonutil_dump(const json_t *v);

/* base64url (RFC 4648 section 5) without padding. Both return new buffers
 * (caller frees), NUL-terminated, or NULL; decode refuses other characters. */
char *jsonutil_b64url_encode(const void *buf, size_t len);
unsigned char *jsonutil_b64url_decode(const char *in, size_t len, size_t *outlen);

#endif
