/*
 * The page shape (page.h): the tokens of json.c read as the API's array of
 * message objects (a root object: page_fail.c); records and extras extracted.
 */
#include "json.h"
#include "keyset.h"
#include "page.h"
#include "page_fail.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct page {
	struct json json;
	size_t *elem; /* token index of each array element */
	size_t nelem, elem_cap;
	struct record *rec; /* every element, extracted once per page */
	size_t rec_cap;
	int extracted;
	struct extra *extra; /* unknown fields of all records, in order */
	size_t nextra, extra_cap;
	size_t root_end;
	struct keyset keys; /* finds repeated extras */
};

struct page *page_new(void)
{
	struct page *pg = calloc(1, sizeof(*pg));

	if (!pg)
		return NULL;
	if (json_init(&pg->json)) {
		free(pg);
		return NULL;
	}
	page_reset(pg);
	return pg;
}

void page_free(struct page *pg)
{
	if (!pg)
		return;
	json_free(&pg->json);
	free(pg->elem);
	free(pg->rec);
	free(pg->extra);
	keyset_free(&pg->keys);
	free(pg);
}

void page_drop_tokens(struct page *pg)
{
	json_drop_tokens(&pg->json);
}

void page_reset(struct page *pg)
{
	json_reset(&pg->json);
	pg->nelem = 0;
	pg->root_end = 0;
	pg->extracted = 0;
	pg->nextra = 0;
}

static const char *type_name(const jsmntok_t *t, const char *body)
{
	switch (t->type) {
	case JSMN_ARRAY: return "an array";
	case JSMN_STRING: return "a string";
	case JSMN_PRIMITIVE:
		return body[t->start] == 'n'                            ? "null"
		       : body[t->start] == 't' || body[t->start] == 'f' ? "a boolean"
									: "a number";
	default: return "not an object";
	}
}

/* The token of every element; each must be a message object (SPEC §5.7). */
static int collect_elements(struct page *pg, const char *body, struct err *e)
{
	const struct json *j = &pg->json;
	size_t n = (size_t)j->tok[0].size;
	int i = 1;

	if (n > pg->elem_cap) {
		size_t *p = realloc(pg->elem, n * sizeof(*p));

		if (!p)
			return err_nomem(e);
		pg->elem = p;
		pg->elem_cap = n;
	}
	for (size_t k = 0; k < n; k++) {
		if (i >= j->ntok)
			return err_data(e, j->tok[0].start, "malformed array");
		if (j->tok[i].type != JSMN_OBJECT)
			return err_data(e, j->tok[i].start - (j->tok[i].type == JSMN_STRING),
					"array element %zu is %s, not a message object", k,
					type_name(&j->tok[i], body));
		pg->elem[k] = (size_t)i;
		/* A flat object is its key and value tokens: no walk needed. */
		i = j->flat ? i + 1 + 2 * j->tok[i].size : json_skip(j, i);
	}
	if (i != j->ntok)
		return err_data(e, j->tok[i].start, "unexpected value after the array");
	pg->nelem = n;
	return 0;
}

int page_parse(struct page *pg, const char *body, size_t len, int final, struct err *e)
{
	struct json *j = &pg->json;
	int r;

	if (json_scan(&j->scan, j->blocks, body, len, e))
		return -1;
	if (j->scan.root_start != SIZE_MAX && body[j->scan.root_start] != '[' &&
	    body[j->scan.root_start] != '{')
		return err_data(e, (long long)j->scan.root_start,
				"expected a JSON array of messages");
	r = json_parse(j, body, len, final, e);
	if (r != JSON_DONE)
		return r == JSON_MORE ? PAGE_MORE : -1;
	pg->extracted = 0;
	pg->nelem = 0;
	if (!j->ntok) {
		pg->root_end = len;
		return PAGE_DONE;
	}
	pg->root_end = (size_t)j->tok[0].end;
	if (j->tok[0].type == JSMN_OBJECT)
		return page_root_object(j, body, e);
	if (j->tok[0].type != JSMN_ARRAY)
		return err_data(e, j->tok[0].start, "expected a JSON array of messages");
	return collect_elements(pg, body, e) ? -1 : PAGE_DONE;
}

size_t page_count(const struct page *pg)
{
	return pg->nelem;
}

size_t page_root_end(const struct page *pg)
{
	return pg->root_end;
}

static void set_field(struct field *f, const char *body, const jsmntok_t *t)
{
	f->p = body + t->start;
	f->len = (size_t)(t->end - t->start);
	switch (t->type) {
	case JSMN_STRING: f->kind = FIELD_STRING; break;
	case JSMN_PRIMITIVE:
		/* json_parse let through only numbers and the three literals. */
		f->kind = *f->p == 't' || *f->p == 'f' ? FIELD_BOOL
			  : *f->p == 'n'               ? FIELD_ABSENT
						       : FIELD_NUMBER;
		break;
	default: f->kind = FIELD_COMPOUND; break;
	}
}

/* Index of the token after a value: scalars (the common case) are one token. */
static inline int skip_value(const struct json *j, int i)
{
	return j->tok[i].size == 0 ? i + 1 : json_skip(j, i);
}

/* record_key_of, but a key written with escapes ("messag\u0065") is decoded first. */
static int key_of(const char *p, size_t len)
{
	char tmp[TEXT_DECODE_MAX(RECORD_KEY_ESCAPED_MAX)];
	unsigned bad = 0;
	int k = record_key_of(p, len);

	/* A known name has no backslash: only a key that is not one can be escaped. */
	if (k >= 0 || len > RECORD_KEY_ESCAPED_MAX || !memchr(p, '\\', len))
		return k;
	return record_key_of(tmp, text_decode(tmp, p, len, &bad));
}

static int add_extra(struct page *pg, const char *body, int k)
{
	struct extra *x;

	if (pg->nextra == pg->extra_cap) {
		size_t cap = pg->extra_cap ? 2 * pg->extra_cap : 16;

		x = realloc(pg->extra, cap * sizeof(*x));
		if (!x)
			return -1;
		pg->extra = x;
		pg->extra_cap = cap;
	}
	x = &pg->extra[pg->nextra++];
	set_field(&x->key, body, &pg->json.tok[k]);
	set_field(&x->value, body, &pg->json.tok[k + 1]);
	return 0;
}

/*
 * Keep the first of extras pg->extra[first..] that share a decoded key
 * (SPEC §5.7). Adds the repeats dropped to *dups; -1 on ENOMEM.
 */
static int drop_repeated_extras(struct page *pg, size_t first, unsigned *dups)
{
	size_t bytes = 0, kept = first;

	for (size_t i = first; i < pg->nextra; i++)
		bytes += pg->extra[i].key.len;
	if (keyset_start(&pg->keys, pg->nextra - first, bytes))
		return -1;
	for (size_t i = first; i < pg->nextra; i++) {
		if (keyset_add(&pg->keys, pg->extra[i].key.p, pg->extra[i].key.len))
			pg->extra[kept++] = pg->extra[i];
		else
			++*dups;
	}
	pg->nextra = kept;
	return 0;
}

static void clear_record(struct record *r, size_t offset)
{
	/*
	 * Field by field, not memset: GCC turns a memset of this size into
	 * `rep stos`, slow to start for so few bytes (docs/performance.md).
	 */
	for (int f = 0; f < REC_NKEYS; f++) {
		r->f[f].p = NULL;
		r->f[f].len = 0;
		r->f[f].kind = FIELD_ABSENT;
	}
	r->extra = NULL; /* set by extract once the extras stop moving */
	r->n_extra = 0;
	r->ts = r->dir = r->state = 0;
	r->ts_ok = r->dir_ok = r->state_ok = 0;
	r->dup_keys = 0;
	r->offset = offset;
}

/* The eight keys, each as the API writes it, in the order it writes them. */
static int api_keys(const char *body, const jsmntok_t *t)
{
	return json_token_is(body, &t[0], "unique") && json_token_is(body, &t[2], "timestamp") &&
	       json_token_is(body, &t[4], "direction") && json_token_is(body, &t[6], "from") &&
	       json_token_is(body, &t[8], "to") && json_token_is(body, &t[10], "type") &&
	       json_token_is(body, &t[12], "state") && json_token_is(body, &t[14], "message");
}

/*
 * A message as the API sends it, its keys as api_keys says and its values
 * scalars (a flat page): each value is the token after its key, with no
 * name to look up, no repeat, no extra, so no key_of (a lookup by length
 * for every key) on the common path.
 */
static int api_message(const struct json *j, const char *body, int t, struct record *r)
{
	const jsmntok_t *kv = &j->tok[t + 1];
	static const enum record_key order[] = { REC_UNIQUE, REC_TIMESTAMP, REC_DIRECTION,
						 REC_FROM,   REC_TO,        REC_TYPE,
						 REC_STATE,  REC_MESSAGE };

	if (!j->flat || j->tok[t].size != 8 || !api_keys(body, kv))
		return 0;
	for (int n = 0; n < 8; n++)
		set_field(&r->f[order[n]], body, &kv[2 * n + 1]);
	return 1;
}

/* Element i into *r. -1 on ENOMEM. */
static int extract_one(struct page *pg, const char *body, size_t i, struct record *r)
{
	const struct json *j = &pg->json;
	int t = (int)pg->elem[i], k = t + 1;
	size_t first = pg->nextra;
	unsigned known = 0, dups = 0;

	clear_record(r, (size_t)j->tok[t].start);
	for (int n = api_message(j, body, t, r) ? j->tok[t].size : 0; n < j->tok[t].size; n++) {
		const jsmntok_t *key = &j->tok[k];
		int which = key_of(body + key->start, (size_t)(key->end - key->start));

		if (which >= 0 && (known & (1u << which))) {
			dups++; /* SPEC §5.7: the first wins */
		} else if (which >= 0) {
			known |= 1u << which;
			set_field(&r->f[which], body, &j->tok[k + 1]);
		} else if (add_extra(pg, body, k)) {
			return -1;
		}
		k = skip_value(j, k + 1);
	}
	if (pg->nextra - first > 1 && drop_repeated_extras(pg, first, &dups))
		return -1;
	r->ts_ok = !record_epoch(&r->f[REC_TIMESTAMP], &r->ts);
	r->dir_ok = !record_int(&r->f[REC_DIRECTION], &r->dir);
	r->state_ok = !record_int(&r->f[REC_STATE], &r->state);
	r->n_extra = (unsigned)(pg->nextra - first);
	r->dup_keys = (unsigned char)(dups > 255 ? 255 : dups);
	return 0;
}

/* All records of the page at once; extras pointers are fixed at the end. */
static int extract(struct page *pg, const char *body)
{
	size_t first = 0;

	if (pg->nelem > pg->rec_cap) {
		struct record *rec = realloc(pg->rec, pg->nelem * sizeof(*rec));

		if (!rec)
			return -1;
		pg->rec = rec;
		pg->rec_cap = pg->nelem;
	}
	pg->nextra = 0;
	for (size_t i = 0; i < pg->nelem; i++)
		if (extract_one(pg, body, i, &pg->rec[i]))
			return -1;
	/* Unknown fields (rare): point each record at its own, now that the array stays put. */
	for (size_t i = 0; pg->nextra && i < pg->nelem; i++) {
		if (pg->rec[i].n_extra)
			pg->rec[i].extra = pg->extra + first;
		first += pg->rec[i].n_extra;
	}
	pg->extracted = 1;
	return 0;
}

int page_extract(struct page *pg, const char *body)
{
	return pg->extracted ? 0 : extract(pg, body);
}

const struct record *page_rec(struct page *pg, const char *body, size_t i)
{
	if (!pg->extracted && extract(pg, body))
		return NULL;
	return &pg->rec[i];
}

int page_record(struct page *pg, const char *body, size_t i, struct record *r)
{
	if (!pg->extracted && extract(pg, body))
		return -1;
	*r = pg->rec[i];
	return 0;
}
