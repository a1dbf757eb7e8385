# SPDX-License-Identifier: Apache-2.0
"""No error message names the host's own directories: what tools and engines say when they
fail is shown with those paths hidden (magnum.common.hostpaths, applied by MagnumError)."""

from __future__ import annotations

import errno
import pathlib

import pytest

from magnum import conf as magnum_conf
from magnum.common import exceptions, hostpaths, rpc


@pytest.fixture
def state(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "state"
    conf = magnum_conf.load([], config_files=[], overrides={"DEFAULT": {"state_path": str(root)}})
    hostpaths.register_conf(conf)
    return root


def test_paths_under_the_state_path_are_hidden(state: pathlib.Path) -> None:
    img = state / "bays" / "ab12" / "node-1.img"
    error = exceptions.ClusterOperationFailed(
        reason=f"'mount -o loop {img} {state}/bays/ab12/mnt' failed (32): mount: {img}: "
        f'can\'t read superblock; see "{state}" or ({state}/x)'
    )
    assert str(state) not in error.message
    assert error.message == (
        "'mount -o loop <host path> <host path>' failed (32): mount: <host path>: "
        'can\'t read superblock; see "<host path>" or (<host path>)'
    )
    assert str(state) not in str(error.kwargs)  # what crosses RPC, to be rebuilt


def test_other_paths_stay(state: pathlib.Path) -> None:
    text = (
        f'exec: "/bin/sh": stat /bin/sh: no such file; {state}2/other; '
        "pull http://registry:5000/v2/x; /var/lib/docker"
    )
    assert exceptions.InvalidParameterValue(err=text).message == text


def test_resolved_and_configured_forms(tmp_path: pathlib.Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    hostpaths.register(tmp_path / "link", None, "/")
    assert hostpaths.scrub(f"open {real}/f: denied") == "open <host path>: denied"
    assert hostpaths.scrub(f"open {tmp_path}/link/f: denied") == "open <host path>: denied"
    assert hostpaths.scrub("open /etc/passwd") == "open /etc/passwd"  # "/" is never a root


def test_unexpected_errors_crossing_rpc_hide_them(state: pathlib.Path) -> None:
    """An OSError names its file: the upload a conductor could not open, say."""
    upload = state / "uploads" / "0123.tar"

    def fail() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(upload))

    with pytest.raises(exceptions.DriverError) as caught:
        rpc.answer("Loading the image", fail)
    assert str(state) not in caught.value.message
    assert "No such file or directory: '<host path>'" in caught.value.message
