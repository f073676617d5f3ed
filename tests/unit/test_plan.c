/*
 * plan: a --state run's commit plan (plan.h), written before the renames and
 * finished by the next run: each temporary file still there is renamed over
 * its target, one already moved is skipped, and a plan that would rename a
 * file that is not a temporary file of its target renames nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "plan.h"
#include "testdir.h"

struct fx {
	char dir[256];
	char state[300];
	char plan[320];
	char out[300];
	char *tmp_out, *tmp_state; /* stage_two's */
};

static int setup(void **ctx)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx || testdir_make(fx->dir, sizeof(fx->dir), "waexport-plan"))
		return -1;
	snprintf(fx->state, sizeof(fx->state), "%s/state", fx->dir);
	snprintf(fx->plan, sizeof(fx->plan), "%s/state.commit", fx->dir);
	*ctx = fx;
	return 0;
}

static int teardown(void **ctx)
{
	struct fx *fx = *ctx;

	testdir_remove(fx->dir);
	free(fx->tmp_out);
	free(fx->tmp_state);
	free(fx);
	return 0;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void is(const char *path, const char *want)
{
	char got[64] = { 0 };
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_true(fread(got, 1, sizeof(got) - 1, f) > 0 || !*want);
	fclose(f);
	assert_string_equal(got, want);
}

/* A staged file for target, holding text: its temporary name (malloc'd). */
static char *staged(const char *target, const char *text)
{
	char *tmp;
	int fd = fsutil_temp_beside(target, &tmp);

	assert_true(fd >= 0);
	assert_int_equal(fsutil_write_all(fd, text, strlen(text)), 0);
	close(fd);
	return tmp;
}

/* The day's file and the state staged, and the plan of both written: a run about to rename. */
static void stage_two(struct fx *fx, const char *rows)
{
	struct plan *p;
	struct err e = { 0 };

	snprintf(fx->out, sizeof(fx->out), "%s/day.csv", fx->dir);
	fx->tmp_out = staged(fx->out, rows);
	fx->tmp_state = staged(fx->state, "new state");
	assert_int_equal(plan_new(&p, fx->state, &e), 0);
	plan_add(p, fx->tmp_out, fx->out);
	plan_add(p, NULL, fx->out); /* nothing staged: nothing planned */
	plan_add(p, fx->tmp_state, fx->state);
	assert_int_equal(plan_write(p, &e), 0);
	assert_true(plan_written(p));
	assert_int_equal(access(fx->plan, F_OK), 0);
	plan_free(p); /* the run stops here */
}

static void written_plan_is_finished_by_the_next_run(void **ctx)
{
	struct fx *fx = *ctx;
	struct err e = { 0 };
	struct plan_finished done = { 0 };

	put(fx->state, "old state");
	stage_two(fx, "old\nnew\n");
	assert_int_equal(plan_complete(fx->state, &done, &e), 0);
	assert_int_equal(done.moved, 2);
	/* Both targets are known as the plan's: a workbook there is the earlier run's. */
	assert_true(plan_finished_has(&done, fx->out));
	assert_true(plan_finished_has(&done, fx->state));
	assert_false(plan_finished_has(&done, fx->plan));
	is(fx->out, "old\nnew\n");
	is(fx->state, "new state");
	assert_int_equal(access(fx->tmp_out, F_OK), -1);
	assert_int_equal(access(fx->plan, F_OK), -1);
	plan_finished_free(&done);
	/* Once finished, there is nothing left to do. */
	assert_int_equal(plan_complete(fx->state, &done, &e), 0);
	assert_int_equal(done.moved, 0);
	assert_false(plan_finished_has(&done, fx->out));
}

static void a_file_already_in_place_is_skipped(void **ctx)
{
	struct fx *fx = *ctx;
	struct err e = { 0 };
	struct plan_finished done = { 0 };

	stage_two(fx, "moved before the stop\n");
	assert_int_equal(rename(fx->tmp_out, fx->out), 0); /* the first rename happened */
	assert_int_equal(plan_complete(fx->state, &done, &e), 0);
	assert_int_equal(done.moved, 1);
	assert_true(plan_finished_has(&done, fx->out)); /* in place before: still the plan's */
	plan_finished_free(&done);
	is(fx->out, "moved before the stop\n");
	is(fx->state, "new state");
}

/* The next run abandons the plan: the staged day's file is lost, nothing moves. */
static void abandoned(const struct fx *fx)
{
	struct err e = { 0 };
	struct plan_finished done = { 0 };

	assert_int_equal(plan_complete(fx->state, &done, &e), 0);
	assert_non_null(done.lost);
	assert_string_equal(done.lost, fx->tmp_out);
	assert_int_equal(done.moved, 0);
	is(fx->state, "old state");
	is(fx->out, "an earlier night\n");
	assert_int_equal(access(fx->plan, F_OK), -1);
	plan_finished_free(&done);
}

/*
 * A staged file gone without being renamed into place (a cleanup of another
 * state's old temporary files took it): nothing moves, the state stays, so
 * the run's messages are exported again. Moving the state lost them for good.
 */
static void a_staged_file_gone_abandons_the_plan(void **ctx)
{
	struct fx *fx = *ctx;

	put(fx->state, "old state");
	snprintf(fx->out, sizeof(fx->out), "%s/day.csv", fx->dir); /* as stage_two names it */
	put(fx->out, "an earlier night\n");
	stage_two(fx, "an earlier night\nthis night\n");
	assert_int_equal(unlink(fx->tmp_out), 0);
	abandoned(fx);
}

/*
 * A staged file gone before the plan was written (another run's cleanup
 * took it in the instant before it was locked): the plan holds no identity
 * for it. The run failed at its rename; its next run took the missing file
 * for one in place already and moved the state past rows no file held.
 */
static void a_file_gone_before_the_plan_abandons_it(void **ctx)
{
	struct fx *fx = *ctx;
	struct plan *p;
	struct err e = { 0 };

	put(fx->state, "old state");
	snprintf(fx->out, sizeof(fx->out), "%s/day.csv", fx->dir);
	put(fx->out, "an earlier night\n");
	fx->tmp_out = staged(fx->out, "an earlier night\nthis night\n");
	fx->tmp_state = staged(fx->state, "new state");
	assert_int_equal(unlink(fx->tmp_out), 0);
	assert_int_equal(plan_new(&p, fx->state, &e), 0);
	plan_add(p, fx->tmp_out, fx->out);
	plan_add(p, fx->tmp_state, fx->state);
	assert_int_equal(plan_write(p, &e), 0);
	plan_free(p);
	abandoned(fx);
}

/* The plan's bytes for the staged day's file and state, each named by `id` (printf: dev, ino). */
static void write_plan_with_ids(const struct fx *fx, const char *out_id_fmt)
{
	struct buf b = BUF_INIT;
	struct stat st;
	const char *tmp[2] = { fx->tmp_out, fx->tmp_state }, *target[2] = { fx->out, fx->state };
	int fd;

	assert_int_equal(buf_adds(&b, PLAN_MAGIC_2), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(stat(tmp[i], &st), 0);
		assert_int_equal(buf_add(&b, tmp[i], strlen(tmp[i]) + 1), 0);
		assert_int_equal(buf_add(&b, target[i], strlen(target[i]) + 1), 0);
		assert_int_equal(buf_addf(&b, i ? "%llu:%llu" : out_id_fmt,
					  (unsigned long long)st.st_dev,
					  (unsigned long long)st.st_ino),
				 0);
		assert_int_equal(buf_addc(&b, '\0'), 0);
	}
	fd = open(fx->plan, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fsutil_write_all(fd, b.data, b.len), 0);
	close(fd);
	buf_free(&b);
}

/*
 * A staged file removed by hand, and a file put at its target that got the
 * freed inode number again (ext4 hands them out again readily): the same
 * DEV:INO, another birth time. Taken for the staged file in place, it let
 * the state move past a night no file held. (The plan is written by hand:
 * no test can make the kernel reuse an inode number.)
 */
static void a_target_with_the_staged_inode_but_another_birth_abandons_the_plan(void **ctx)
{
	struct fx *fx = *ctx;
	struct err e = { 0 };
	struct plan_finished done = { 0 };

	put(fx->state, "old state");
	snprintf(fx->out, sizeof(fx->out), "%s/day.csv", fx->dir);
	fx->tmp_out = staged(fx->out, "this night\n");
	fx->tmp_state = staged(fx->state, "new state");
	write_plan_with_ids(fx, "%llu:%llu:B1.000000001"); /* born in 1970: another file */
	assert_int_equal(rename(fx->tmp_out, fx->out), 0);
	assert_int_equal(plan_complete(fx->state, &done, &e), 0);
	assert_non_null(done.lost);
	assert_string_equal(done.lost, fx->tmp_out);
	assert_int_equal(done.moved, 0);
	is(fx->state, "old state");
	plan_finished_free(&done);
}

/*
 * A file put in place and then touched, or added to, is still the staged
 * one (an identity by size and time took it for lost, and the night was
 * written twice).
 */
static void a_target_touched_after_its_rename_is_still_the_staged_file(void **ctx)
{
	struct fx *fx = *ctx;
	struct err e = { 0 };
	struct plan_finished done = { 0 };
	int fd;

	put(fx->state, "old state");
	stage_two(fx, "an earlier night\nthis night\n");
	assert_int_equal(rename(fx->tmp_out, fx->out), 0); /* the first rename happened */
	fd = open(fx->out, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(fsutil_write_all(fd, "more\n", 5), 0);
	assert_int_equal(futimens(fd, (struct timespec[2]){ { 1, 0 }, { 1, 0 } }), 0);
	close(fd);
	assert_int_equal(plan_complete(fx->state, &done, &e), 0);
	assert_null(done.lost);
	assert_int_equal(done.moved, 1);
	is(fx->state, "new state");
	plan_finished_free(&done);
}

/* A plan an earlier version wrote names each file by "DEV:INO" only: still read. */
static void a_plan_with_the_old_identities_is_finished(void **ctx)
{
	struct fx *fx = *ctx;
	struct err e = { 0 };
	struct plan_finished done = { 0 };

	put(fx->state, "old state");
	snprintf(fx->out, sizeof(fx->out), "%s/day.csv", fx->dir);
	fx->tmp_out = staged(fx->out, "this night\n");
	fx->tmp_state = staged(fx->state, "new state");
	write_plan_with_ids(fx, "%llu:%llu");
	assert_int_equal(rename(fx->tmp_out, fx->out), 0); /* the first rename happened */
	assert_int_equal(plan_complete(fx->state, &done, &e), 0);
	assert_null(done.lost);
	assert_int_equal(done.moved, 1);
	is(fx->out, "this night\n");
	is(fx->state, "new state");
	plan_finished_free(&done);
}

static void done_removes_the_plan(void **ctx)
{
	struct fx *fx = *ctx;
	struct plan *p;
	struct err e = { 0 };

	assert_int_equal(plan_new(&p, fx->state, &e), 0);
	assert_int_equal(plan_write(p, &e), 0);
	plan_done(p);
	assert_false(plan_written(p));
	plan_free(p);
	assert_int_equal(access(fx->plan, F_OK), -1);
}

static void write_raw_plan(const struct fx *fx, const char *tmp, const char *target)
{
	int fd = open(fx->plan, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(fsutil_write_all(fd, PLAN_MAGIC, strlen(PLAN_MAGIC)), 0);
	assert_int_equal(fsutil_write_all(fd, tmp, strlen(tmp) + 1), 0);
	assert_int_equal(fsutil_write_all(fd, target, strlen(target) + 1), 0);
	close(fd);
}

static void a_foreign_pair_renames_nothing(void **ctx)
{
	struct fx *fx = *ctx;
	char victim[300], other[300], elsewhere[300];
	struct err e = { 0 };
	struct plan_finished done = { 0 };

	snprintf(victim, sizeof(victim), "%s/victim", fx->dir);
	snprintf(other, sizeof(other), "%s/other", fx->dir);
	put(victim, "keep me");
	put(other, "not a temporary file");
	write_raw_plan(fx, other, victim);
	assert_int_equal(plan_complete(fx->state, &done, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_non_null(strstr(e.msg, "state.commit"));
	is(victim, "keep me");
	is(other, "not a temporary file");
	assert_int_equal(access(fx->plan, F_OK), 0); /* left for a person to look at */

	/* A temporary name of the target, but in another directory. */
	snprintf(elsewhere, sizeof(elsewhere), "/tmp/.victim.tmp.Ab12Cd");
	write_raw_plan(fx, elsewhere, victim);
	assert_int_equal(plan_complete(fx->state, &done, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	is(victim, "keep me");

	/* A file far larger than any plan is refused before it is read whole. */
	{
		FILE *f = fopen(fx->plan, "wb");

		assert_non_null(f);
		assert_int_equal(fseek(f, 64L << 20, SEEK_SET), 0);
		assert_int_equal(fputc('x', f), 'x');
		assert_int_equal(fclose(f), 0);
	}
	assert_int_equal(plan_complete(fx->state, &done, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_non_null(strstr(e.msg, "larger than any commit plan"));
}

static void a_relative_target_is_taken_from_the_working_directory(void **ctx)
{
	struct fx *fx = *ctx;
	char cwd[4096];
	char *tmp;
	struct plan *p;
	struct err e = { 0 };
	struct plan_finished done = { 0 };

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx->dir), 0);
	tmp = staged("rel.csv", "rows\n");
	assert_int_equal(plan_new(&p, fx->state, &e), 0);
	plan_add(p, tmp, "rel.csv");
	assert_int_equal(plan_write(p, &e), 0);
	plan_free(p);
	assert_int_equal(chdir("/"), 0); /* the next run may start anywhere */
	assert_int_equal(plan_complete(fx->state, &done, &e), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(done.moved, 1);
	assert_int_equal(chdir(fx->dir), 0);
	is("rel.csv", "rows\n");
	assert_true(plan_finished_has(&done, "rel.csv"));
	plan_finished_free(&done);
	assert_int_equal(chdir(cwd), 0);
	free(tmp);
}

static void temp_names_are_recognised(void **ctx)
{
	(void)ctx;
	assert_true(fsutil_is_temp_of("/d/.a.csv.tmp.Ab12Cd", "/d/a.csv"));
	assert_true(fsutil_is_temp_of(".a.csv.tmp.Ab12Cd", "a.csv"));
	assert_false(fsutil_is_temp_of("/e/.a.csv.tmp.Ab12Cd", "/d/a.csv"));
	assert_false(fsutil_is_temp_of("/d/.a.csv.tmp.Ab12C", "/d/a.csv"));
	assert_false(fsutil_is_temp_of("/d/.a.csv.tmp.Ab12Cd/", "/d/a.csv"));
	assert_false(fsutil_is_temp_of("/d/.a.csv.tmp.Ab/2Cd", "/d/a.csv"));
	assert_false(fsutil_is_temp_of("/d/b", "/d/a.csv"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(written_plan_is_finished_by_the_next_run, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_file_already_in_place_is_skipped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_staged_file_gone_abandons_the_plan, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_target_with_the_staged_inode_but_another_birth_abandons_the_plan, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_target_touched_after_its_rename_is_still_the_staged_file, setup,
			teardown),
		cmocka_unit_test_setup_teardown(a_plan_with_the_old_identities_is_finished, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_file_gone_before_the_plan_abandons_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(done_removes_the_plan, setup, teardown),
		cmocka_unit_test_setup_teardown(a_foreign_pair_renames_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_relative_target_is_taken_from_the_working_directory, setup, teardown),
		cmocka_unit_test(temp_names_are_recognised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
