/*
 * warn: counted always, the first few shown; a held pass shows its notes
 * only when released, and a note forgotten is neither counted nor shown.
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
	assert_string_equal(shown(fx),
			    "waexport: warning: a.json: note 0\n"
			    "waexport: warning: a.json: note 1\n"
			    "waexport: warning: a.json: note 2\n"
			    "waexport: warning: a.json: note 3\n"
			    "waexport: warning: a.json: note 4\n"
			    "waexport: warning: further warnings are only counted (see the summary)\n");
}

static void test_hold_forget_release(void **state)
{
	struct fx *fx = *state;
	unsigned long long first, end;

	warn_note(&fx->w, "before");
	warn_hold(&fx->w);
	warn_note(&fx->w, "kept 1");
	first = fx->w.seq;
	warn_note(&fx->w, "forgotten a");
	warn_note(&fx->w, "forgotten b");
	end = fx->w.seq;
	warn_note(&fx->w, "kept 2");
	assert_int_equal(fx->w.count, 5);
	assert_string_equal(shown(fx), "waexport: warning: before\n");   /* held: not yet */
	warn_forget(&fx->w, first, end);
	assert_int_equal(fx->w.count, 3);
	warn_release(&fx->w);
	assert_string_equal(shown(fx),
			    "waexport: warning: before\n"
			    "waexport: warning: kept 1\n"
			    "waexport: warning: kept 2\n");
	warn_note(&fx->w, "after");                                      /* shown at once again */
	assert_int_equal(fx->w.count, 4);
	assert_non_null(strstr(shown(fx), "kept 2\nwaexport: warning: after\n"));
}

static void test_discard_takes_the_pass_back(void **state)
{
	struct fx *fx = *state;

	warn_note(&fx->w, "before");
	warn_hold(&fx->w);
	for (int i = 0; i < 40; i++)   /* more than can be kept: all counted */
		warn_note(&fx->w, "held %d", i);
	assert_int_equal(fx->w.count, 41);
	warn_discard(&fx->w);
	assert_int_equal(fx->w.count, 1);
	warn_note(&fx->w, "again");
	assert_string_equal(shown(fx), "waexport: warning: before\nwaexport: warning: again\n");
}

/* Quiet counts and shows nothing, held or not. */
static void test_quiet(void **state)
{
	struct fx *fx = *state;

	fx->w.quiet = 1;
	warn_note(&fx->w, "one");
	warn_hold(&fx->w);
	warn_note(&fx->w, "two");
	warn_release(&fx->w);
	assert_int_equal(fx->w.count, 2);
	assert_string_equal(shown(fx), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_few_shown_all_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_forget_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_takes_the_pass_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
