"""A local failure to save media is exit 74 with the state unchanged (SPEC §5.4).

A media link expires after 7 days: a run that moved its checkpoint past a
message whose file it could not save (disk full, no permission) would lose that
file for good.  So a local failure ends the run with 74 and leaves the state
(and the output) as they were; a dead link stays a warning (test_nightly_media).
"""
import os

import pytest

from conftest import run
from fetch_helpers import fetch_env, mock_factory  # noqa: F401
from helpers import small_tmpfs
from nightly_helpers import FETCH, write_samples
from test_nightly_media import T0, media_server, msg  # noqa: F401


@pytest.fixture(params=["size=256k", "ro,size=64k"], ids=["disk-full", "read-only"])
def small_fs(request):
    """A tmpfs too small for the media (or mounted read-only: no file can be created)."""
    with small_tmpfs(request.param) as d:
        yield d, "Read-only file system" if request.param.startswith("ro") else "No space left"


def media_night(mock_factory, media_server, tmp_path, media_dir):  # noqa: F811
    srv = media_server({"/files/big.bin": b"\x00\xff" * 300000, "/files/small.jpg": b"jpg" * 10})
    msgs = [msg("BIG001", "document", srv.url("/files/big.bin"), T0 + 20),
            msg("DEAD01", "audio", srv.url("/files/gone.ogg"), T0 + 10),
            msg("SMALL1", "image", srv.url("/files/small.jpg"), T0)]
    m = mock_factory("--samples", write_samples(tmp_path / "h.jsonl", msgs))
    state, out = tmp_path / "state", tmp_path / "out.csv"
    r = run(FETCH + ["--url", m.url, "--state", str(state), "--media-dir", str(media_dir),
                     "-o", str(out)], env=fetch_env())
    return r, state, out


def test_a_local_media_failure_is_74_and_the_state_stays(mock_factory, media_server,  # noqa: F811
                                                         tmp_path, small_fs):
    d, why = small_fs
    r, state, out = media_night(mock_factory, media_server, tmp_path, d)
    assert r.returncode == 74, r.stderr
    err = r.stderr.decode()
    assert why in err and d in err, err
    assert not state.exists(), "a failed run must not write a checkpoint"
    assert not out.exists()
    assert [p for p in os.listdir(d) if ".tmp" in p] == []
