/*
 * warn: counted always, the first few shown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "warn.h"

struct fx {
	struct warn w;
	char *text;
	size_t len;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	warn_init(&fx->w, 0);
	fx->w.to = open_memstream(&fx->text, &fx->len);
	*state = fx;
	return fx->w.to ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	fclose(fx->w.to);
	free(fx->text);
	free(fx);
	return 0;
}

static const char *shown(struct fx *fx)
{
	fflush(fx->w.to);
	return fx->len ? fx->text : "";
}

static void test_first_few_shown_all_counted(void **state)
{
	struct fx *fx = *state;

	warn_where(&fx->w, "a.json");
	for (int i = 0; i < 7; i++)
		warn_note(&fx->w, "note %d", i);
	assert_int_equal(fx->w.count, 7);
	assert_string_equal(
		shown(fx),
		"waexport: warning: a.json: note 0\n"
		"waexport: warning: a.json: note 1\n"
		"waexport: warning: a.json: note 2\n"
		"waexport: warning: a.json: note 3\n"
		"waexport: warning: a.json: note 4\n"
		"waexport: warning: further warnings are only counted (see the summary)\n");
}

/* Quiet counts and shows nothing. */
static void test_quiet(void **state)
{
	struct fx *fx = *state;

	fx->w.quiet = 1;
	warn_note(&fx->w, "one");
	warn_note(&fx->w, "two");
	assert_int_equal(fx->w.count, 2);
	assert_string_equal(shown(fx), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_few_shown_all_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
