"""The command line (SPEC §2, §3): exact option names with "did you mean"
suggestions, contradictions refused before any request (exit 64), --help that
lists every option, and a man page that says what the option table says.

Every usage error runs against the mock API with its request log: a usage error
must make no request at all, and leave no file behind."""
import datetime
import os
import re

import pytest

from conftest import ROOT, run
from fetch_helpers import (ACCOUNT, fetch_env, samples_mock,  # noqa: F401
                           samples_server, stderr_lines)

FETCH = ["fetch", "--from", ACCOUNT]


def usage_error(mock, tmp_path, args):
    """Run args (with the mock's URL and a key) in tmp_path: exit 64, one stderr line,
    no request to the mock, no file written. Returns the line."""
    r = run(args, env=fetch_env(WAEXPORT_URL=mock.url), cwd=tmp_path)
    assert r.returncode == 64, (args, r.returncode, r.stderr)
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert r.stdout == b""
    assert mock.requests() == [], "a usage error made a request"
    assert os.listdir(tmp_path) == []
    return lines[0]


# ------------------------------------------------------------------ typos: did you mean

@pytest.mark.parametrize("args,suggestion", [
    (FETCH + ["--excell"], "did you mean --excel?"),
    (FETCH + ["--concurency", "8"], "did you mean --concurrency?"),
    (FETCH + ["--timezone", "Asia/Jerusalem"], "did you mean --tz?"),
    (["fetch", "--form", ACCOUNT], "--from"),
    (["fetch", "--form", ACCOUNT], "--format"),
    (FETCH + ["--ex"], "did you mean --excel?"),
    (FETCH + ["--outptu", "x.csv"], "did you mean --output?"),
    (["fecth", "--from", ACCOUNT], "did you mean fetch?"),
    (["convrt", "x.json"], "did you mean convert?"),
    (["--verison"], "did you mean --version?"),
])
def test_a_typo_is_a_usage_error_that_suggests_the_name(samples_mock, tmp_path, args,
                                                         suggestion):
    line = usage_error(samples_mock, tmp_path, args)
    assert suggestion in line, line


def test_a_prefix_is_not_taken_for_the_option_it_begins(samples_mock, tmp_path):
    """getopt took --form for --format and --ex for --excel; exact names only now."""
    line = usage_error(samples_mock, tmp_path, ["fetch", "--form", ACCOUNT, "-o", "x.csv"])
    assert "unknown option '--form'" in line
    assert "expected csv" not in line


def test_a_name_far_from_every_option_gets_no_suggestion(samples_mock, tmp_path):
    line = usage_error(samples_mock, tmp_path, FETCH + ["--frobnicate"])
    assert "unknown option '--frobnicate'" in line and "did you mean" not in line


def test_an_option_of_the_other_command_says_which_command_takes_it(samples_mock, tmp_path):
    line = usage_error(samples_mock, tmp_path, ["convert", "--state", "st.json", "x.json"])
    assert "--state" in line and "'fetch'" in line


# ------------------------------------------------------------------ contradictions

@pytest.mark.parametrize("args,shown", [
    (FETCH + ["--from", "972501111111"], "--from given twice"),
    (FETCH + ["--format", "csv", "--format", "ndjson"], "--format given twice"),
    (FETCH + ["-o", "a.csv", "--output=b.csv"], "--output given twice"),
    (FETCH + ["--tz", "UTC", "--tz=Asia/Jerusalem"], "--tz given twice"),
    (FETCH + ["--concurrency", "2", "--concurrency", "3"], "--concurrency given twice"),
])
def test_a_single_value_option_given_twice_is_a_usage_error(samples_mock, tmp_path, args,
                                                             shown):
    assert shown in usage_error(samples_mock, tmp_path, args)


def test_to_is_repeatable(samples_mock, tmp_path):
    r = run(FETCH + ["--to", "972502222222", "--to", "972503333333", "-q"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("out", ["dup.csv", "dup-{to}.csv"])
def test_a_contact_named_twice_is_walked_once(samples_mock, tmp_path, out):
    """A list with a repeat: the contact (over 100 messages) was walked twice and the
    second walk's repeats ended the night with 65 blaming the server ({to}: 64)."""
    to = "972505492890"
    r = run(FETCH + ["--to", to, "--to", to, "-o", out, "--concurrency", "1"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    twice = len(samples_mock.requests())
    once = run(FETCH + ["--to", to, "-o", "once.csv", "--concurrency", "1"],
               env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    assert len(samples_mock.requests()) == 2 * twice, "the repeat was walked again"
    [written] = [p for p in tmp_path.iterdir() if p.name.startswith("dup")]
    assert written.read_bytes() == (tmp_path / "once.csv").read_bytes()


@pytest.mark.parametrize("args,expected", [
    (["fetch", "--from", "0501234567"], "972501234567"),
    (FETCH + ["--to", "0509876543"], "972509876543"),
    (FETCH + ["--to", "+972509876543"], "972509876543"),
    # 00 is the dialling prefix: the number follows it (was "972972501234567")
    (["fetch", "--from", "00972501234567"], ": 972501234567"),
    (FETCH + ["--to", "0044207946000"], ": 44207946000"),
])
def test_a_local_format_number_shows_the_international_form(samples_mock, tmp_path, args,
                                                            expected):
    line = usage_error(samples_mock, tmp_path, args)
    assert expected in line, line
    assert any(w in line for w in ("no leading 0", "without '+'", "dialling prefix 00")), line
    assert "972972" not in line and "97244" not in line, line


@pytest.mark.parametrize("since,until", [
    ("2024-05-01", "2024-04-01"),
    ("2024-05-01", "2024-05-01"),
    ("1d", "7d"),
])
def test_since_at_or_after_until_is_a_usage_error(samples_mock, tmp_path, since, until):
    line = usage_error(samples_mock, tmp_path, FETCH + ["--since", since, "--until", until])
    assert "--since" in line and "--until" in line


@pytest.mark.parametrize("name", ["out.json", "out.parquet", "out.tsv", "out.txt", "out.xls",
                                  "out.tsv.gz"])
def test_an_unknown_output_extension_is_a_usage_error(samples_mock, tmp_path, name):
    line = usage_error(samples_mock, tmp_path, FETCH + ["-o", name])
    ext = name.split(".")[1]
    assert "'.%s'" % ext in line
    for known in (".csv", ".ndjson", ".jsonl", ".gz"):
        assert known in line


def test_an_unknown_extension_is_fine_with_format(samples_mock, tmp_path):
    r = run(FETCH + ["-q", "-o", "out.json", "--format", "ndjson"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.json").read_bytes().startswith(b'{"unique":')


@pytest.mark.parametrize("args, said", [
    (["-o", "out.csv", "--format", "ndjson"], "the name says CSV, but --format ndjson writes NDJSON"),
    (["-o", "out.jsonl.gz", "--format", "xlsx", "--gzip-level", "1"], None),  # 64 (xlsx + gzip)
    (["-o", "out.ndjson", "--format", "csv"], "the name says NDJSON, but --format csv writes CSV"),
    (["-o", "out.csv", "--gzip"], "--gzip (or --gzip-level) writes gzip data under a name"),
    (["-o", "out.ndjson", "--gzip-level", "9"], "writes gzip data under a name without .gz"),
    (["-o", "out.csv", "--format", "csv"], ""),
    (["-o", "out.csv.gz", "--gzip-level", "9"], ""),
    (["-o", "out.json", "--format", "ndjson"], ""),
])
def test_a_name_that_says_another_format_is_a_warning(samples_mock, tmp_path, args, said):
    """--format and --gzip choose what is written; a known extension that says otherwise
    (NDJSON in a .csv, gzip data in a .ndjson) would be misread by whatever goes by the
    name (a spreadsheet, psql's COPY), so the run says so, once, and writes as asked."""
    r = run(FETCH + args, env=fetch_env(WAEXPORT_URL=samples_mock.url),
            cwd=tmp_path)
    if said is None:
        assert r.returncode == 64, r.stderr
        return
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stderr.decode().splitlines() if "the name says" in line or
             "under a name without .gz" in line]
    if said:
        assert len(notes) == 1 and said in notes[0], r.stderr
        assert notes[0].startswith("waexport: warning: -o %s: " % args[1]), notes
    else:
        assert notes == [], r.stderr


@pytest.mark.parametrize("name", ["out", "out.gz"])
def test_a_path_without_extension_stays_csv(samples_mock, tmp_path, name):
    r = run(FETCH + ["-q", "-o", name], env=fetch_env(WAEXPORT_URL=samples_mock.url),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = (tmp_path / name).read_bytes()
    if name.endswith(".gz"):
        import gzip
        data = gzip.decompress(data)
    assert data.startswith(b"unique,timestamp,")


@pytest.mark.parametrize("value", ["0", "65", "many"])
def test_threads_out_of_range_is_a_usage_error(samples_mock, tmp_path, value):
    assert "--threads" in usage_error(samples_mock, tmp_path, FETCH + ["--threads", value])


# ------------------------------------------------------------------ paths: empty, or one file twice

NIGHT = b"unique,time\nlast night's export,1\n"


def refused_before_any_file(mock, tmp_path, args, message, name="night.csv"):
    """args exit 64 with message before any request, name byte-identical, nothing new."""
    (tmp_path / name).write_bytes(NIGHT)
    r = run(args, env=fetch_env(WAEXPORT_URL=mock.url), cwd=tmp_path)
    assert r.returncode == 64, (args, r.returncode, r.stderr)
    assert stderr_lines(r) == ["waexport: " + message], r.stderr
    assert mock.requests() == [], "refused after a request"
    assert (tmp_path / name).read_bytes() == NIGHT
    assert os.listdir(tmp_path) == [name]


@pytest.mark.parametrize("option", ["--save-raw", "--state", "--metrics-file", "--media-dir",
                                    "--api-key-file", "--cacert"])
def test_an_empty_path_is_a_usage_error_before_anything_is_written(samples_mock, tmp_path,
                                                                    option):
    """The cron mistake: --save-raw "$RAW" with RAW unset started the run and failed late."""
    refused_before_any_file(samples_mock, tmp_path, FETCH + ["-o", "night.csv", option, ""],
                            option + ": the path is empty (an unset shell variable?)")


@pytest.mark.parametrize("option", ["--manifest", "--save-raw", "--metrics-file", "--state",
                                    "--log-file"])
def test_an_option_naming_the_output_file_is_a_usage_error(samples_mock, tmp_path, option):
    """The export was replaced by the manifest, raw pages, metrics or state, exit 0."""
    refused_before_any_file(samples_mock, tmp_path,
                            FETCH + ["-o", "night.csv", option, "night.csv"],
                            "-o and %s name the same file (night.csv): each needs its own path"
                            % option)


@pytest.mark.parametrize("option,companion", [("--save-raw", "journal"),
                                              ("--metrics-file", "lock")])
def test_a_path_over_a_state_companion_is_a_usage_error(samples_mock, tmp_path, option,
                                                         companion):
    """--state writes STATE.journal and locks STATE.lock beside it."""
    refused_before_any_file(samples_mock, tmp_path,
                            FETCH + ["-o", "night.csv", option, "s." + companion,
                                     "--state", "./s"],
                            "%s and --state's %s name the same file (s.%s and ./s.%s): each "
                            "needs its own path" % (option, companion, companion, companion))


@pytest.mark.parametrize("option", ["-o", "--manifest", "--log-file"])
def test_a_path_over_the_state_commit_plan_is_a_usage_error(samples_mock, tmp_path, option):
    """-o s.commit --state s: the commit plan's rename removed the export, state moved, exit 0."""
    args = FETCH + ["--state", "./s", option, "s.commit"]
    args += ["--format", "csv"] if option == "-o" else ["-o", "night.csv"]
    pair = "%s and --state's commit plan name the same file (s.commit and ./s.commit)" % option
    if option == "--log-file":  # named in the order of the options' table
        pair = "--state's commit plan and --log-file name the same file (./s.commit and s.commit)"
    refused_before_any_file(samples_mock, tmp_path, args, pair + ": each needs its own path")


def test_a_link_to_the_output_is_the_same_file(samples_mock, tmp_path):
    (tmp_path / "sub").mkdir()
    os.symlink("../night.csv", tmp_path / "sub" / "link.csv")
    (tmp_path / "night.csv").write_bytes(NIGHT)
    r = run(FETCH + ["-o", "sub/../night.csv", "--manifest", "sub/link.csv"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 64, r.stderr
    assert "-o and --manifest name the same file" in r.stderr.decode()
    assert samples_mock.requests() == []
    assert (tmp_path / "night.csv").read_bytes() == NIGHT


@pytest.mark.parametrize("template,fixed", [("-o", "--manifest"), ("--manifest", "-o"),
                                             ("--save-raw", "-o"), ("-o", "--log-file")])
def test_a_path_that_names_the_output_once_date_is_expanded_is_a_usage_error(
        samples_mock, tmp_path, template, fixed):
    """-o 'n-{date}.csv' --manifest n-<today>.csv: today's export was replaced, exit 0."""
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    first, second = sorted([template, fixed], key=lambda o: o != "-o")
    refused_before_any_file(samples_mock, tmp_path,
                            FETCH + [template, "n-{date}.csv", fixed, "n-%s.csv" % today],
                            "%s and %s name the same file (n-%s.csv): each needs its own path"
                            % (first, second, today), "n-%s.csv" % today)


def test_two_to_files_made_one_by_dot_dot_are_a_usage_error(samples_mock, tmp_path):
    """-o 'z/{to}/../t.csv' with two --to and --create-dirs: both contacts' files were
    z/t.csv, the second renamed over the first, exit 0 (messages lost)."""
    refused_before_any_file(samples_mock, tmp_path,
                            FETCH + ["--to", "972521123781", "--to", "972543554801",
                                     "--create-dirs", "-o", "z/{to}/../t.csv"],
                            "-o and -o name the same file (z/972521123781/../t.csv and "
                            "z/972543554801/../t.csv): each needs its own path")


def test_a_chat_template_whose_dot_dot_leaves_the_chat_out_is_a_usage_error(samples_mock,
                                                                            tmp_path):
    """-o 'y/{chat}/../same.csv': every chat's file was y/same.csv, each renamed over the
    one before, exit 0 with a manifest listing eight files (messages lost)."""
    refused_before_any_file(samples_mock, tmp_path,
                            FETCH + ["--create-dirs", "-o", "y/{chat}/../same.csv"],
                            "-o y/{chat}/../same.csv: '..' leads out of {chat}'s directory, "
                            "so every chat would have the same file; put {chat} in the part "
                            "that stays")


def test_a_log_file_linked_to_an_output_not_made_yet_is_the_same_file(samples_mock, tmp_path):
    os.symlink("ln.csv", tmp_path / "ln.log")
    r = run(FETCH + ["-o", "ln.csv", "--log-file", "ln.log"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 64, r.stderr
    assert stderr_lines(r) == ["waexport: -o and --log-file name the same file (ln.csv and "
                               "ln.log): each needs its own path"]
    assert samples_mock.requests() == []
    assert os.listdir(tmp_path) == ["ln.log"]


@pytest.mark.parametrize("option", ["--log-file", "-o", "--manifest", "--save-raw"])
def test_a_path_over_the_api_key_file_is_a_usage_error(samples_mock, tmp_path, option):
    """The key file was overwritten by the export, the manifest, raw pages or log lines."""
    out = [] if option == "-o" else ["-o", "night.csv"]
    refused_before_any_file(samples_mock, tmp_path,
                            FETCH + out + ["--api-key-file", "key9", option, "key9"],
                            "%s and --api-key-file name the same file (key9): each needs its "
                            "own path" % option, "key9")


def test_a_path_the_chat_template_can_make_is_a_usage_error(samples_mock, tmp_path):
    """{chat} has no value before the run: any name it could take is refused."""
    refused_before_any_file(samples_mock, tmp_path,
                            FETCH + ["-o", "c-{chat}.csv", "--log-file", "c-x.csv"],
                            "-o and --log-file can name the same file (c-{chat}.csv makes "
                            "c-x.csv for a chat of that name): each needs its own path", "c-x.csv")


def test_convert_over_its_own_input_is_a_usage_error(tmp_path):
    """raw.jsonl is the only lossless copy of the pages: convert must not replace it."""
    page = next(iter(sorted((ROOT / "samples" / "pages").glob("page-*.json")))).read_bytes()
    (tmp_path / "raw.jsonl").write_bytes(page)
    for out in ("raw.jsonl", "./raw.jsonl"):
        r = run(["convert", "raw.jsonl", "-o", out], cwd=tmp_path)
        assert r.returncode == 64, r.stderr
        assert stderr_lines(r) == ["waexport: -o and the input file name the same file "
                                   "(%s%s): each needs its own path"
                                   % (out, "" if out == "raw.jsonl" else " and raw.jsonl")]
        assert (tmp_path / "raw.jsonl").read_bytes() == page
    assert os.listdir(tmp_path) == ["raw.jsonl"]


# ------------------------------------------------------------------ forms that work

def test_equals_and_short_forms(samples_mock, tmp_path):
    r = run(["fetch", "--from=" + ACCOUNT, "-qoout.csv", "--concurrency=2", "--threads", "2"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    assert (tmp_path / "out.csv").read_bytes().startswith(b"unique,")


def test_double_dash_ends_options_and_dash_is_stdin(tmp_path):
    page = (ROOT / "samples" / "pages").glob("page-*.json")
    body = next(iter(sorted(page))).read_bytes()
    (tmp_path / "--excel").write_bytes(body)
    r = run(["convert", "-q", "--", "--excel"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not r.stdout.startswith(b"\xef\xbb\xbf")      # not taken for --excel
    r2 = run(["convert", "-q", "-"], input=body)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == r.stdout


# ------------------------------------------------------------------ help and man page

def test_help_lists_every_option():
    man = run(["--help-man"])
    assert man.returncode == 0
    names = re.findall(r"^\\fB\\-\\-(\S+?)\\fR", man.stdout.decode().replace("\\fB\\-o\\fR, ", ""),
                       re.M)
    names = [n.replace("\\-", "-") for n in names]
    assert len(names) > 25 and "threads" in names and "tz" in names
    text = run(["--help"]).stdout.decode()
    fetch = run(["fetch", "--help"]).stdout.decode()
    schema = run(["schema", "--help"]).stdout.decode()
    for n in names:
        assert re.search(r"^  (-\w, |    )--%s\b" % re.escape(n), text, re.M), n
        only_schema = n in ("dialect", "table")
        assert re.search(r"^  (-\w, |    )--%s\b" % re.escape(n), schema if only_schema else fetch,
                         re.M), n
    convert = run(["convert", "--help"]).stdout.decode()
    assert not re.search(r"^      --state\b", convert, re.M)
    assert re.search(r"^      --threads\b", convert, re.M)


def test_man_page_is_in_sync_with_the_option_table():
    """waexport.1's OPTIONS sections are what the table renders; 'make man' rewrites them."""
    generated = run(["--help-man"]).stdout.decode()
    page = (ROOT / "waexport.1").read_text()
    assert generated.startswith('.\\" BEGIN OPTIONS'), generated[:80]
    assert generated in page, "waexport.1 differs from the option table: run 'make man'"


@pytest.mark.parametrize("manifest", ["exports/", "exports", "exports/{date}/"])
def test_a_manifest_naming_a_directory_fails_before_anything_moves(samples_mock, tmp_path,
                                                                    manifest):
    """--manifest exports/ was found only at the commit: the first run committed its CSV
    and exited 73, and every later run on the state failed 74 retrying the plan's rename."""
    (tmp_path / "exports").mkdir()
    args = FETCH + ["--state", "st", "-o", "exports/n.csv", "--manifest", manifest]
    r = run(args, env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 73, r.stderr
    assert "is a directory; give a file name" in r.stderr.decode(), r.stderr
    assert samples_mock.requests() == []
    assert sorted(os.listdir(tmp_path)) == ["exports", "st.lock"]  # the lock is taken first
    assert os.listdir(tmp_path / "exports") == []
    r = run(FETCH + ["--state", "st", "-o", "exports/n.csv"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_placeholders_expand_in_every_path_the_run_writes(samples_mock, tmp_path):
    """One cron line per account: --metrics-file 'st/{from}.prom' made a file named
    '{from}.prom' that every account overwrote (likewise --log-file, --state)."""
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    (tmp_path / "st").mkdir()
    r = run(FETCH + ["-q", "--metrics-file", "st/{from}.prom", "--log-file", "log-{date}.txt",
                     "--state", "st/{from}-{to}", "--to", "972505492890",
                     "--media-dir", "media-{from}", "-o", "out.csv"],
            env=fetch_env(WAEXPORT_URL=samples_mock.url), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = set(os.listdir(tmp_path / "st"))
    assert {ACCOUNT + ".prom", ACCOUNT + "-972505492890"} <= names, names
    assert (tmp_path / ("log-%s.txt" % today)).exists()
    assert (tmp_path / ("media-" + ACCOUNT)).is_dir()
    assert not [n for n in os.listdir(tmp_path) if "{" in n]


@pytest.mark.parametrize("option,path,message", [
    ("--metrics-file", "{chat}.prom", "{chat} has no single value here"),
    ("--save-raw", "r-{chat}.jsonl", "{chat} has no single value here"),
    ("--log-file", "{nope}.log", "unknown placeholder '{nope}'"),
])
def test_a_placeholder_without_a_value_is_a_usage_error_naming_its_option(
        samples_mock, tmp_path, option, path, message):
    line = usage_error(samples_mock, tmp_path, FETCH + [option, path, "-o", "x.csv"])
    assert line.startswith("waexport: %s %s: " % (option, path)), line
    assert message in line, line


def test_to_in_save_raw_with_several_to_is_a_usage_error(samples_mock, tmp_path):
    """--save-raw is one file for the run, as --state and --manifest are: with several --to,
    {to} has no value there (it became 'all', where every other path option refused it)."""
    line = usage_error(samples_mock, tmp_path, FETCH + ["--to", "972500000001", "--to",
                                                        "972500000002", "--save-raw",
                                                        "r-{to}.jsonl", "-o", "x.csv"])
    assert line.startswith("waexport: --save-raw r-{to}.jsonl: "), line
    assert "{to} has no single value here" in line, line


@pytest.mark.parametrize("args", [
    FETCH + ["--columns", "unique,media_file", "-o", "x.csv"],
    ["convert", "--columns", "media_file,unique", "-o", "x.csv", "in.json"],
    ["schema", "--dialect", "postgres", "--columns", "unique,media_file"],
])
def test_media_file_without_media_dir_is_a_usage_error(samples_mock, tmp_path, args):
    """SPEC §4.1: media_file is filled only with --media-dir; asked for without it, every
    cell would be empty, silently (a user who forgot --media-dir)."""
    line = usage_error(samples_mock, tmp_path, args)
    assert "media_file" in line and "without --media-dir" in line, line


def test_schema_of_a_workbook_is_a_usage_error(samples_mock, tmp_path):
    """SPEC §4.8: schema [--format csv|ndjson]; --format xlsx printed a table, exit 0."""
    line = usage_error(samples_mock, tmp_path, ["schema", "--dialect", "postgres", "--format",
                                                "xlsx"])
    assert "schema describes the rows of a CSV or NDJSON file" in line, line


def test_metrics_file_dash_is_a_usage_error_not_a_file_named_dash(samples_mock, tmp_path):
    line = usage_error(samples_mock, tmp_path, FETCH + ["--metrics-file", "-", "-o", "x.csv"])
    assert "--metrics-file needs a file name" in line, line


def test_a_log_file_dash_refused_leaves_no_file_named_dash(samples_mock, tmp_path):
    line = usage_error(samples_mock, tmp_path, FETCH + ["--log-file", "-", "-o", "x.csv"])
    assert "--log-file needs a file name" in line, line
