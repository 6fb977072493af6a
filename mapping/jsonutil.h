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

/* Room for jsonutil_parse's error sentence. */
#define JSONUTIL_ERR_SIZE 200

/* Parses buf[0..len) as one JSON text, with jansson's decoding flags
 * (JSON_DECODE_ANY, JSON_REJECT_DUPLICATES, JSON_ALLOW_NUL, ...). Every
 * decoding of text from outside goes through here. Unlike json_loadb it
 * refuses a raw NUL byte anywhere: JSON text cannot hold one, and jansson 2.14
 * skips one after a number or true/false/null ("[1\0,2]" loads as [1,2]), so
 * whoever keeps or slices the raw text would disagree with the parsed value.
 * (\u0000 inside a string is JSON_ALLOW_NUL's business.) Returns a new
 * reference, or NULL with a sentence in err (when errlen > 0, truncated to
 * whole UTF-8 characters): "invalid JSON at line L column C: <jansson's text>",
 * "invalid JSON at line L column C: a raw NUL byte" or "invalid JSON: the text
 * is empty". */
json_t *jsonutil_parse(const void *buf, size_t len, size_t flags, char *err, size_t errlen);

/* jsonutil_parse for parsers that report errors as a const char *: on failure
 * *msg (when msg is not NULL) points to the sentence, in a buffer of the
 * calling thread that the next failing call overwrites. */
json_t *jsonutil_parse_msg(const void *buf, size_t len, size_t flags, const char **msg);

/* Turns an MQTT payload into a JSON value (new reference): the payload's own
 * JSON value when it parses (jsonutil_parse: no NUL byte, no duplicate keys),
 * a JSON string when it is other UTF-8 text (a NUL byte is then \u0000), NULL
 * when it is not UTF-8. An empty payload is the empty string. */
json_t *jsonutil_from_payload(const void *payload, size_t len);

/* Compact text of v (caller frees), or NULL. Accepts any JSON value. */
char *jsonutil_dump(const json_t *v);
/* The same, taking v (decref'd; NULL gives NULL): for replies built with
 * json_pack, whose failure is NULL too. */
char *jsonutil_dump_take(json_t *v);

/* base64url (RFC 4648 section 5) without padding. Both return new buffers
 * (caller frees), NUL-terminated, or NULL; decode refuses other characters. */
char *jsonutil_b64url_encode(const void *buf, size_t len);
unsigned char *jsonutil_b64url_decode(const char *in, size_t len, size_t *outlen);

#endif
