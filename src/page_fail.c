/*
 * A page's root object (page_fail.h): the API's refusal, its reason code
 * named when we know it, or bad data.
 */
#include "page_fail.h"
#include "printable.h"
#include "record.h"
#include "text.h"

#include <string.h>

const char *page_fail_reason(long long code)
{
	switch (code) {
	case 2: return "the 'from' account does not exist (or the request was malformed)";
	case 3: return "wrong apiKey (check WAEXPORT_API_KEY or the --api-key-file)";
	case 4: return "'to' is empty or in a wrong format";
	default: return NULL;
	}
}

/* The refusal's reason, as a code we know or the server's text made safe to print. */
static int refused(const char *body, const jsmntok_t *reason, struct err *e)
{
	struct field f = { 0 };
	long long code;
	const char *meaning = NULL;
	char shown[41 * 4 + 1];

	if (!reason)
		return err_set(e, ERR_REFUSED,
			       "the API refused the request (status FAIL, no reason given)");
	f.p = body + reason->start;
	f.len = (size_t)(reason->end - reason->start);
	f.kind = reason->type == JSMN_STRING ? FIELD_STRING : FIELD_NUMBER;
	if (!record_int(&f, &code))
		meaning = page_fail_reason(code);
	if (meaning)
		return err_set(e, ERR_REFUSED, "the API refused the request: reason %lld, %s", code,
			       meaning);
	printable(shown, sizeof(shown), f.p, f.len > 40 ? 40 : f.len);
	return err_set(e, ERR_REFUSED,
		       "the API refused the request: reason '%s' (a code this tool does not know)",
		       shown);
}

/* Is string token t the text s, escapes decoded ("F\u0041IL" is "FAIL", SPEC §5.7)? */
static int text_is(const char *body, const jsmntok_t *t, const char *s)
{
	char text[TEXT_DECODE_MAX(6 * 8)];
	size_t len = (size_t)(t->end - t->start), n = strlen(s);
	unsigned bad = 0;

	if (t->type != JSMN_STRING)
		return 0;
	if (json_token_is(body, t, s))
		return 1;
	/* Each character of s is at most a 6-byte escape; a longer token is another text. */
	if (n > 8 || len > 6 * n || !memchr(body + t->start, '\\', len))
		return 0;
	return text_decode(text, body + t->start, len, &bad) == n && !memcmp(text, s, n);
}

int page_root_object(const struct json *j, const char *body, struct err *e)
{
	const jsmntok_t *status = NULL, *reason = NULL;
	int i = 1;

	for (int k = 0; k < j->tok[0].size && i + 1 < j->ntok; k++) {
		if (text_is(body, &j->tok[i], "status"))
			status = &j->tok[i + 1];
		else if (text_is(body, &j->tok[i], "reason"))
			reason = &j->tok[i + 1];
		i = json_skip(j, i + 1);
	}
	if (status && text_is(body, status, "FAIL"))
		return refused(body, reason, e);
	return err_data(e, j->tok[0].start, "expected a JSON array of messages, got an object");
}
