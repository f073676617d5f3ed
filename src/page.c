#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "page.h"
#include "seen.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct page {
	jsmn_parser parser;
	jsmntok_t *tok;
	unsigned ntok_cap;
	int ntok;               /* tokens of the parsed body */
	size_t *elem;           /* token index of each array element */
	size_t nelem, elem_cap;
	struct record *rec;     /* every element, extracted once per page */
	unsigned char *is_obj;
	size_t rec_cap;
	int extracted;
	struct extra *extra;    /* unknown fields of all records, in order */
	size_t nextra, extra_cap;
	size_t root_end;
	size_t nul_scanned;     /* bytes of the body already searched for NUL */
};

struct page *page_new(void)
{
	struct page *pg = calloc(1, sizeof(*pg));

	if (!pg)
		return NULL;
	pg->ntok_cap = 1024;
	pg->tok = malloc(pg->ntok_cap * sizeof(*pg->tok));
	if (!pg->tok) {
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
	free(pg->tok);
	free(pg->elem);
	free(pg->rec);
	free(pg->is_obj);
	free(pg->extra);
	free(pg);
}

void page_reset(struct page *pg)
{
	jsmn_init(&pg->parser);
	pg->ntok = 0;
	pg->nelem = 0;
	pg->root_end = 0;
	pg->extracted = 0;
	pg->nextra = 0;
	pg->nul_scanned = 0;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* RFC 8259 §6 number grammar, in full (jsmn accepts `01`, `-`, `1.`). */
static int valid_number(const char *p, size_t len)
{
	const char *end = p + len;

	if (p < end && *p == '-')
		p++;
	if (p == end)
		return 0;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (p < end && *p == '.') {
		if (++p == end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p == end;
}

static enum field_kind primitive_kind(const char *p, size_t len)
{
	if ((len == 4 && !memcmp(p, "true", 4)) || (len == 5 && !memcmp(p, "false", 5)))
		return FIELD_BOOL;
	if (len == 4 && !memcmp(p, "null", 4))
		return FIELD_ABSENT;
	if (valid_number(p, len))
		return FIELD_NUMBER;
	return (enum field_kind)-1;
}

/* Index of the token after tok's whole subtree. */
static int skip(const struct page *pg, int i)
{
	int pending = 1;

	while (pending && i < pg->ntok) {
		pending += pg->tok[i].size - 1;
		i++;
	}
	return i;
}

static int is_container(const jsmntok_t *t)
{
	return t->type == JSMN_OBJECT || t->type == JSMN_ARRAY;
}

/* Where a token's text ends, closing quote included. */
static int token_after(const jsmntok_t *t)
{
	return is_container(t) ? t->start + 1 : t->end + (t->type == JSMN_STRING);
}

static int skip_ws(const char *body, int p, int end)
{
	while (p < end && is_ws(body[p]))
		p++;
	return p;
}

/*
 * The bytes between token i and token i + 1 (or the root's end when next is
 * -1) must be what RFC 8259 puts there: after a key, ':'; after a container's
 * opening bracket, nothing; otherwise the closing brackets of every container
 * that ends here, then ',' before a sibling. jsmn does not check this: it
 * takes `[1 2]`, `[1,,2]` and `{"a":1,}`.
 */
static int check_gap_slow(const struct page *pg, const char *body, int i, int next, struct err *e)
{
	const jsmntok_t *t = &pg->tok[i];
	int p = token_after(t);
	int end = next >= 0 ? pg->tok[next].start - (pg->tok[next].type == JSMN_STRING)
			    : pg->tok[0].end;
	int parent = next >= 0 ? pg->tok[next].parent : -1;

	if (next >= 0 && parent == i) {
		p = skip_ws(body, p, end);
		if (t->type == JSMN_STRING) {   /* a key and its value */
			if (p >= end || body[p] != ':')
				return err_data(e, p, "expected ':' after an object key");
			p = skip_ws(body, p + 1, end);
		}
		return p == end ? 0 : err_data(e, p, "unexpected '%c' in JSON", body[p]);
	}
	/* Close every container from token i up to the next token's parent. */
	for (int x = i; x != parent && x >= 0; x = pg->tok[x].parent) {
		if (!is_container(&pg->tok[x]))
			continue;
		p = skip_ws(body, p, end);
		if (p >= end || body[p] != (pg->tok[x].type == JSMN_OBJECT ? '}' : ']'))
			return err_data(e, p < end ? p : end, "expected '%c' or ','",
					pg->tok[x].type == JSMN_OBJECT ? '}' : ']');
		p++;
	}
	p = skip_ws(body, p, end);
	if (next >= 0) {
		if (p >= end || body[p] != ',')
			return err_data(e, p, "expected ',' between values");
		p = skip_ws(body, p + 1, end);
	}
	if (p != end)
		return err_data(e, p, "unexpected '%c' in JSON", body[p]);
	return 0;
}

/*
 * The common gaps, compact as the API sends them (`":"`, `","`, nothing after
 * an opening bracket), are recognised here; anything else takes the full
 * check above.
 */
static inline int check_gap(const struct page *pg, const char *body, int i, int next,
			    struct err *e)
{
	const jsmntok_t *t = &pg->tok[i];

	if (next >= 0) {
		const jsmntok_t *n = &pg->tok[next];
		int p = token_after(t), end = n->start - (n->type == JSMN_STRING);

		if (n->parent == i) {
			if (t->type == JSMN_STRING ? end - p == 1 && body[p] == ':' : p == end)
				return 0;
		} else if (!is_container(t) && end - p == 1 && body[p] == ',' &&
			   (t->parent == n->parent ||
			    (t->parent >= 0 && pg->tok[t->parent].parent == n->parent &&
			     pg->tok[t->parent].type == JSMN_STRING))) {
			return 0;
		}
	}
	return check_gap_slow(pg, body, i, next, e);
}

/*
 * What jsmn lets through (LIBRARY-NOTES §1): the separators between tokens,
 * every object key a string with exactly one value, every primitive a real
 * number or literal.
 */
/* Key sizes and primitives of token i (the structure jsmn does not check). */
static inline int check_token(const struct page *pg, const char *body, int i, struct err *e)
{
	const jsmntok_t *t = &pg->tok[i];
	int parent = t->parent;

	if (parent >= 0 && pg->tok[parent].type == JSMN_OBJECT &&
	    (t->type != JSMN_STRING || t->size != 1))
		return err_data(e, t->start - (t->type == JSMN_STRING), "object key without a value");
	if (parent >= 0 && pg->tok[parent].type == JSMN_STRING && pg->tok[parent].size != 1)
		return err_data(e, t->start, "object key with more than one value");
	/* jsmn makes any string before a ':' a key, even a value ({"a":"b":1}, ["a":1]). */
	if (t->type == JSMN_STRING && t->size && (parent < 0 || pg->tok[parent].type != JSMN_OBJECT))
		return err_data(e, t->end + 1, "':' after a value (only an object key takes one)");
	if (t->type == JSMN_PRIMITIVE &&
	    (int)primitive_kind(body + t->start, (size_t)(t->end - t->start)) < 0)
		return err_data(e, t->start, "invalid JSON value '%.*s'",
				t->end - t->start > 20 ? 20 : t->end - t->start, body + t->start);
	return 0;
}

/*
 * One pass over the tokens. Token i - 1 is checked after the gap behind
 * token i, so a missing separator is reported where it is missing rather
 * than as the odd key sizes it makes jsmn produce.
 */
static int check_tokens(const struct page *pg, const char *body, struct err *e)
{
	for (int i = 0; i < pg->ntok; i++) {
		if (check_gap(pg, body, i, i + 1 < pg->ntok ? i + 1 : -1, e))
			return -1;
		if (i > 0 && check_token(pg, body, i - 1, e))
			return -1;
	}
	return pg->ntok > 0 ? check_token(pg, body, pg->ntok - 1, e) : 0;
}

const char *page_fail_reason(long long code)
{
	switch (code) {
	case 2: return "the 'from' account does not exist (or the request was malformed)";
	case 3: return "wrong apiKey";
	case 4: return "'to' is empty or in a wrong format";
	default: return NULL;
	}
}

static int token_is(const char *body, const jsmntok_t *t, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(t->end - t->start) == n && !memcmp(body + t->start, s, n);
}

/* A root object: the API's refusal, or something we do not understand. */
static int root_object(const struct page *pg, const char *body, struct err *e)
{
	const jsmntok_t *status = NULL, *reason = NULL;
	int i = 1;

	for (int k = 0; k < pg->tok[0].size && i + 1 < pg->ntok; k++) {
		if (token_is(body, &pg->tok[i], "status"))
			status = &pg->tok[i + 1];
		else if (token_is(body, &pg->tok[i], "reason"))
			reason = &pg->tok[i + 1];
		i = skip(pg, i + 1);
	}
	if (status && token_is(body, status, "FAIL")) {
		struct field f = { 0 };
		long long code;
		const char *meaning = NULL;

		if (!reason)
			return err_set(e, ERR_REFUSED, "the API refused the request (status FAIL, no reason given)");
		f.p = body + reason->start;
		f.len = (size_t)(reason->end - reason->start);
		f.kind = reason->type == JSMN_STRING ? FIELD_STRING : FIELD_NUMBER;
		if (!record_int(&f, &code))
			meaning = page_fail_reason(code);
		if (meaning)
			return err_set(e, ERR_REFUSED, "the API refused the request: reason %lld, %s",
				       code, meaning);
		return err_set(e, ERR_REFUSED,
			       "the API refused the request: reason '%.*s' (a code this tool does not know)",
			       (int)(f.len > 40 ? 40 : f.len), f.p);
	}
	return err_data(e, pg->tok[0].start, "expected a JSON array of messages, got an object");
}

/*
 * The shape the API sends — an array of flat objects, compact — checked and
 * its elements collected in one tight pass: every separator exactly where
 * it belongs, every key a string with one scalar value (a nested value,
 * even an empty one, takes the general check). Returns 1 when the
 * page has that shape and is valid, 0 when it has not (or is not valid):
 * then the general check decides, and names what is wrong.
 */
static int flat_array(struct page *pg, const char *body)
{
	const jsmntok_t *t = pg->tok;
	int n = pg->ntok, i = 1, pos = t[0].start + 1; /* where the next value must begin */
	size_t nelem = (size_t)t[0].size;

	if (t[0].type != JSMN_ARRAY || nelem > pg->elem_cap)
		return 0;
	for (size_t k = 0; k < nelem; k++) {
		int obj = i, q;

		if (i >= n || t[i].type != JSMN_OBJECT || t[i].start != pos || t[i].parent != 0)
			return 0;
		pg->elem[k] = (size_t)i;
		q = pos + 1;
		i++;
		for (int m = 0; m < t[obj].size; m++, i += 2) {
			const jsmntok_t *key = &t[i], *val = &t[i + 1];
			int after, end;

			if (i + 1 >= n || key->type != JSMN_STRING || key->size != 1 ||
			    key->start != q + 1 || key->parent != obj)
				return 0;
			after = key->end + 1;
			/* Scalars only: jsmn makes no token for a ',' or ':' inside `[,]` or `{:}`. */
			if (body[after] != ':' || is_container(val) || val->size != 0 || val->parent != i ||
			    val->start - (val->type == JSMN_STRING) != after + 1)
				return 0;
			if (val->type == JSMN_PRIMITIVE &&
			    (int)primitive_kind(body + val->start, (size_t)(val->end - val->start)) < 0)
				return 0;
			end = val->end + (val->type == JSMN_STRING);
			if (m + 1 < t[obj].size) {
				if (body[end] != ',')
					return 0;
				end++;
			}
			q = end;
		}
		if (body[q] != '}' || t[obj].end != q + 1)
			return 0;
		pos = q + 1;
		if (k + 1 < nelem) {
			if (body[pos] != ',')
				return 0;
			pos++;
		}
	}
	if (i != n || body[pos] != ']' || t[0].end != pos + 1)
		return 0;
	pg->nelem = nelem;
	return 1;
}

static int grow_elements(struct page *pg, size_t n, struct err *e)
{
	if (n > pg->elem_cap) {
		size_t *p = realloc(pg->elem, n * sizeof(*p));

		if (!p)
			return err_nomem(e);
		pg->elem = p;
		pg->elem_cap = n;
	}
	return 0;
}

static int collect_elements(struct page *pg, struct err *e)
{
	size_t n = (size_t)pg->tok[0].size;
	int i = 1;

	if (grow_elements(pg, n, e))
		return -1;
	for (size_t k = 0; k < n; k++) {
		if (i >= pg->ntok)
			return err_data(e, pg->tok[0].start, "malformed array");
		pg->elem[k] = (size_t)i;
		i = skip(pg, i);
	}
	if (i != pg->ntok)
		return err_data(e, pg->tok[i].start, "unexpected value after the array");
	pg->nelem = n;
	return 0;
}

int page_parse(struct page *pg, const char *body, size_t len, int final, struct err *e)
{
	int r;
	size_t pos;

	if (len > PAGE_MAX_BODY)
		return err_data(e, 0, "body of %zu bytes is larger than the %u-byte limit",
			       len, PAGE_MAX_BODY);
	/* jsmn stops at a NUL byte as if the text ended there: look for one first. */
	if (len > pg->nul_scanned) {
		const char *nul = memchr(body + pg->nul_scanned, '\0', len - pg->nul_scanned);

		if (nul)
			return err_data(e, (long long)(nul - body), "NUL byte in JSON");
		pg->nul_scanned = len;
	}
	for (;;) {
		r = jsmn_parse(&pg->parser, body, len, pg->tok, pg->ntok_cap);
		if (r != JSMN_ERROR_NOMEM)
			break;
		if (pg->ntok_cap > (1u << 27))
			return err_nomem(e);
		jsmntok_t *t = realloc(pg->tok, 2 * pg->ntok_cap * sizeof(*t));
		if (!t)
			return err_nomem(e);
		pg->tok = t;
		pg->ntok_cap *= 2;
	}
	pos = pg->parser.pos;
	for (size_t k = 0; k < len && k < pos + 1; k++) {
		if (is_ws(body[k]))
			continue;
		if (body[k] != '[' && body[k] != '{')
			return err_data(e, (long long)k, "expected a JSON array of messages");
		break;
	}
	if (r == JSMN_ERROR_INVAL)
		return err_data(e, (long long)pos, "invalid JSON");
	if (r == JSMN_ERROR_PART || (r > 0 && pg->tok[0].end < 0)) {
		if (!final)
			return PAGE_MORE;
		return err_data(e, (long long)len, "JSON ends early (truncated?)");
	}
	if (r == 0) {
		for (pos = 0; pos < len; pos++)
			if (!is_ws(body[pos]))
				return err_data(e, (long long)pos, "invalid JSON");
		if (!final)
			return PAGE_MORE; /* nothing but white space yet */
		pg->ntok = 0;
		pg->nelem = 0;
		pg->root_end = len;
		return PAGE_DONE;
	}
	pg->ntok = r;
	pg->extracted = 0;
	pg->root_end = (size_t)pg->tok[0].end;
	for (pos = pg->root_end; pos < len; pos++)
		if (!is_ws(body[pos]))
			return err_data(e, (long long)pos, "unexpected data after the JSON value");
	if (pg->tok[0].type == JSMN_ARRAY && grow_elements(pg, (size_t)pg->tok[0].size, e))
		return -1;
	if (flat_array(pg, body))
		return PAGE_DONE;
	if (check_tokens(pg, body, e))
		return -1;
	if (pg->tok[0].type == JSMN_OBJECT)
		return root_object(pg, body, e);
	if (pg->tok[0].type != JSMN_ARRAY)
		return err_data(e, pg->tok[0].start, "expected a JSON array of messages");
	return collect_elements(pg, e) ? -1 : PAGE_DONE;
}

size_t page_count(const struct page *pg)
{
	return pg->nelem;
}

size_t page_root_end(const struct page *pg)
{
	return pg->root_end;
}

static void set_field(struct field *f, const char *body, const jsmntok_t *t, int idx)
{
	f->p = body + t->start;
	f->len = (size_t)(t->end - t->start);
	f->tok = idx;
	switch (t->type) {
	case JSMN_STRING:
		f->kind = FIELD_STRING;
		break;
	case JSMN_PRIMITIVE:
		/* check_tokens let through only numbers and the three literals. */
		f->kind = *f->p == 't' || *f->p == 'f' ? FIELD_BOOL
			: *f->p == 'n' ? FIELD_ABSENT : FIELD_NUMBER;
		break;
	default:
		f->kind = FIELD_COMPOUND;
		break;
	}
}

/* Index of the token after a value: scalars (the common case) are one token. */
static inline int skip_value(const struct page *pg, int i)
{
	return pg->tok[i].size == 0 ? i + 1 : skip(pg, i);
}

/* record_key_of, but a key written with escapes ("messag\u0065") is decoded first. */
static int key_of(const char *p, size_t len)
{
	char tmp[16 * 3];
	unsigned bad = 0;
	int k = record_key_of(p, len);

	/* A known name has no backslash: only a key that is not one can be escaped. */
	if (k >= 0 || len > 16 || !memchr(p, '\\', len))
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
	set_field(&x->key, body, &pg->tok[k], k);
	set_field(&x->value, body, &pg->tok[k + 1], k + 1);
	return 0;
}

/*
 * Store a finished record. For a page another thread will read (handoff),
 * past the cache: the record array was last read by that thread's core, so
 * ordinary stores would each wait for the line to be taken back from it —
 * perf put a seventh of the reader's time there. Streaming stores (SSE2)
 * do not fetch the line first. The reader fences before it hands over.
 */
static void put_record(struct record *out, const struct record *r, int handoff)
{
#ifdef __SSE2__
	_Static_assert(sizeof(*r) % 16 == 0, "a record is stored 16 bytes at a time");
	if (handoff && ((uintptr_t)out & 15) == 0) {
		const __m128i *from = (const __m128i *)(const void *)r;
		__m128i *to = (__m128i *)(void *)out;

		for (size_t i = 0; i < sizeof(*r) / 16; i++)
			_mm_stream_si128(to + i, _mm_loadu_si128(from + i));
		return;
	}
#endif
	(void)handoff;
	*out = *r;
}

/* Element i into *out, built in a local (the stores and loads stay in cache). */
static void extract_one(struct page *pg, const char *body, size_t i, struct record *out,
			int handoff)
{
	int t = (int)pg->elem[i];
	const jsmntok_t *obj = &pg->tok[t];
	int k = t + 1;
	size_t first = pg->nextra;
	struct record rec, *r = &rec;

	/*
	 * Field by field, not memset: GCC turns a memset of this size into
	 * `rep stos`, whose start-up cost and unforwardable stores showed in
	 * perf as a stall here and in the record_int loads that follow.
	 */
	for (int f = 0; f < REC_NKEYS; f++) {
		r->f[f].p = NULL;
		r->f[f].len = 0;
		r->f[f].kind = FIELD_ABSENT;
		r->f[f].tok = 0;
	}
	r->extra = NULL;                 /* set by extract once the extras stop moving */
	r->n_extra = 0;
	r->ts = r->dir = r->state = 0;
	r->unique_hash = 0;
	r->ts_ok = r->dir_ok = r->state_ok = 0;
	r->offset = (size_t)obj->start;
	pg->is_obj[i] = obj->type == JSMN_OBJECT;
	if (!pg->is_obj[i]) {
		put_record(out, r, handoff);
		return;
	}
	for (int n = 0; n < obj->size; n++) {
		const jsmntok_t *key = &pg->tok[k];
		int which = key_of(body + key->start, (size_t)(key->end - key->start));

		if (which >= 0)
			set_field(&r->f[which], body, &pg->tok[k + 1], k + 1);
		else if (add_extra(pg, body, k))
			pg->is_obj[i] = 2; /* out of memory: reported by page_record */
		k = skip_value(pg, k + 1);
	}
	r->ts_ok = !record_int(&r->f[REC_TIMESTAMP], &r->ts);
	r->dir_ok = !record_int(&r->f[REC_DIRECTION], &r->dir);
	r->state_ok = !record_int(&r->f[REC_STATE], &r->state);
	if (r->f[REC_UNIQUE].kind != FIELD_ABSENT)
		r->unique_hash = seen_hash(r->f[REC_UNIQUE].p, r->f[REC_UNIQUE].len);
	r->n_extra = (unsigned)(pg->nextra - first);
	put_record(out, r, handoff);
}

/* All records of the page at once; extras pointers are fixed at the end. */
static int extract(struct page *pg, const char *body, int handoff)
{
	size_t first = 0;

	if (pg->nelem > pg->rec_cap) {
		struct record *rec = realloc(pg->rec, pg->nelem * sizeof(*rec));
		unsigned char *obj;

		if (!rec)
			return -1;
		pg->rec = rec;
		obj = realloc(pg->is_obj, pg->nelem);
		if (!obj)
			return -1;
		pg->is_obj = obj;
		pg->rec_cap = pg->nelem;
	}
	pg->nextra = 0;
	for (size_t i = 0; i < pg->nelem; i++) {
		extract_one(pg, body, i, &pg->rec[i], handoff);
		if (pg->is_obj[i] == 2)
			return -1;
	}
	/* Unknown fields (rare): point each record at its own, now that the array stays put. */
	for (size_t i = 0; pg->nextra && i < pg->nelem; i++) {
		if (pg->rec[i].n_extra)
			pg->rec[i].extra = pg->extra + first;
		first += pg->rec[i].n_extra;
	}
#ifdef __SSE2__
	if (handoff)
		_mm_sfence(); /* the streaming stores are seen before the page is handed over */
#endif
	pg->extracted = 1;
	return 0;
}

void page_prefetch(const struct page *pg, const char *body, size_t len)
{
	const char *p = (const char *)pg->rec;
	const char *end = pg->extracted ? p + pg->nelem * sizeof(*pg->rec) : p;

	for (; p < end; p += 64)
		__builtin_prefetch(p);
	for (size_t o = 0; o < len; o += 64)
		__builtin_prefetch(body + o);
}

int page_extract(struct page *pg, const char *body)
{
	return pg->extracted ? 0 : extract(pg, body, 0);
}

int page_extract_handoff(struct page *pg, const char *body)
{
	return pg->extracted ? 0 : extract(pg, body, 1);
}

void page_swap(struct page *a, struct page *b)
{
	struct page t = *a;

	*a = *b;
	*b = t;
}

const struct record *page_rec(struct page *pg, const char *body, size_t i)
{
	if (!pg->extracted && extract(pg, body, 0))
		return NULL;
	return pg->is_obj[i] ? &pg->rec[i] : NULL;
}

int page_record(struct page *pg, const char *body, size_t i, struct record *r)
{
	if (!pg->extracted && extract(pg, body, 0))
		return -1;
	*r = pg->rec[i];
	return pg->is_obj[i] ? 0 : 1;
}

/* Deeper than this, a nested value is written as null and counted as bad. */
#define MAX_DEPTH 64

static int value_json(const struct page *pg, const char *body, int i, struct buf *out,
		      unsigned *bad, int *next, int depth)
{
	const jsmntok_t *t = &pg->tok[i];
	size_t len = (size_t)(t->end - t->start);

	if (depth > MAX_DEPTH && t->type != JSMN_STRING && t->type != JSMN_PRIMITIVE) {
		++*bad;
		*next = skip(pg, i);
		return buf_adds(out, "null");
	}
	switch (t->type) {
	case JSMN_STRING:
		if (buf_reserve(out, TEXT_RECODE_MAX(len) + 2))
			return -1;
		out->data[out->len++] = '"';
		out->len += text_json_recode(buf_tail(out), body + t->start, len, bad);
		out->data[out->len++] = '"';
		*next = i + 1;
		return 0;
	case JSMN_PRIMITIVE:
		*next = i + 1;
		return buf_add(out, body + t->start, len);
	default: {
		int obj = t->type == JSMN_OBJECT, k = i + 1;

		if (buf_addc(out, obj ? '{' : '['))
			return -1;
		for (int n = 0; n < t->size; n++) {
			if (n && buf_addc(out, ','))
				return -1;
			if (obj) {
				if (value_json(pg, body, k, out, bad, &k, depth + 1) || buf_addc(out, ':'))
					return -1;
			}
			if (value_json(pg, body, k, out, bad, &k, depth + 1))
				return -1;
		}
		*next = k;
		return buf_addc(out, obj ? '}' : ']');
	}
	}
}

int page_value_json(const struct page *pg, const char *body, int tok, struct buf *out,
		    unsigned *bad)
{
	int next;

	return value_json(pg, body, tok, out, bad, &next, 0);
}
