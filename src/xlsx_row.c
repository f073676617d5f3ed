#include "xlsx_row.h"

#include <stdint.h>
#include <string.h>

int xlsx_row_begin(struct buf *out, size_t ncolumns)
{
	size_t start = out->len;

	if (buf_reserve(out, XLSX_ROW_HEAD(ncolumns)))
		return -1;
	out->len += XLSX_ROW_HEAD(ncolumns);
	for (size_t i = 0; i < ncolumns; i++)
		xlsx_row_parts(out, start, i, 1);
	return 0;
}

void xlsx_row_parts(struct buf *out, size_t row_start, size_t column, unsigned parts)
{
	uint16_t np = (uint16_t)parts;

	memcpy(out->data + row_start + 4 + 2 * column, &np, 2);
}

void xlsx_row_end(struct buf *out, size_t row_start)
{
	uint32_t len = (uint32_t)(out->len - row_start - 4);

	memcpy(out->data + row_start, &len, 4);
}

long xlsx_cell_begin(struct buf *out, enum xlsx_cell t, size_t n)
{
	uint32_t len = (uint32_t)n;

	if (buf_reserve(out, XLSX_CELL_HEAD + n))
		return -1;
	out->data[out->len] = (char)t;
	memcpy(out->data + out->len + 1, &len, 4);
	out->len += XLSX_CELL_HEAD;
	return (long)out->len;
}

int xlsx_cell(struct buf *out, enum xlsx_cell t, const void *p, size_t n)
{
	if (xlsx_cell_begin(out, t, n) < 0)
		return -1;
	return buf_add(out, p, n);
}

int xlsx_cell_number(struct buf *out, long long v)
{
	int64_t x = v;

	return xlsx_cell(out, XLSX_NUMBER, &x, sizeof(x));
}

int xlsx_cell_datetime(struct buf *out, const struct xlsx_datetime *d)
{
	unsigned char p[XLSX_DATETIME_LEN];
	uint16_t y = (uint16_t)d->year;

	memcpy(p, &y, 2);
	p[2] = (unsigned char)d->month;
	p[3] = (unsigned char)d->day;
	p[4] = (unsigned char)d->hour;
	p[5] = (unsigned char)d->min;
	p[6] = (unsigned char)d->sec;
	return xlsx_cell(out, XLSX_DATETIME, p, sizeof(p));
}

int xlsx_next_cell(struct xlsx_cursor *c, enum xlsx_cell *t, const char **p, size_t *n)
{
	uint32_t len;

	if (c->p == c->end)
		return 0;
	if ((size_t)(c->end - c->p) < XLSX_CELL_HEAD)
		return -1;
	memcpy(&len, c->p + 1, 4);
	if (c->p[0] > XLSX_URL || (size_t)(c->end - c->p) - XLSX_CELL_HEAD < len)
		return -1;
	*t = (enum xlsx_cell)c->p[0];
	*p = (const char *)c->p + XLSX_CELL_HEAD;
	*n = len;
	c->p += XLSX_CELL_HEAD + len;
	if ((*t == XLSX_NUMBER && len != 8) || (*t == XLSX_DATETIME && len != XLSX_DATETIME_LEN))
		return -1;
	return 1;
}

long long xlsx_payload_number(const char *p)
{
	int64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

void xlsx_payload_datetime(const char *p, struct xlsx_datetime *d)
{
	uint16_t y;

	memcpy(&y, p, 2);
	d->year = y;
	d->month = (unsigned char)p[2];
	d->day = (unsigned char)p[3];
	d->hour = (unsigned char)p[4];
	d->min = (unsigned char)p[5];
	d->sec = (unsigned char)p[6];
}
