"""
The documented systemd install, for real: a virtualenv under /opt/logd
with logd installed into it by pip, checked with systemd-analyze verify
against the shipped units.  It runs in a private mount namespace with a
tmpfs on /opt, so the machine's own /opt is never touched, and the paths
inside are exactly the ones the unit names.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from logd import __version__
from tests.e2e.helpers import REPO


@pytest.mark.skipif(os.geteuid() != 0, reason="a private mount namespace takes root")
def test_opt_logd_virtualenv_install_verifies_with_the_shipped_unit() -> None:
    for tool in ("unshare", "systemd-analyze", "python3"):
        assert shutil.which(tool), f"{tool} is missing: tests/run installs it"
    script = f"""
set -e
mount -t tmpfs -o size=2g tmpfs /opt
python3 -m venv /opt/logd
/opt/logd/bin/pip install -q --disable-pip-version-check {REPO}
systemd-analyze verify {REPO}/systemd/logd.service {REPO}/systemd/logd.socket
/opt/logd/bin/logd check {REPO}/systemd/logd.yaml {REPO}/systemd/logd-activated.yaml
/opt/logd/bin/twistd logd --version
test -f /opt/logd/share/doc/logd/README.md
"""
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=900,
        cwd="/",
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "logd.service" not in result.stderr and "logd.socket" not in result.stderr, result.stderr  # nothing to say
    assert f"{REPO}/systemd/logd.yaml: OK" in result.stdout
    assert f"{REPO}/systemd/logd-activated.yaml: OK" in result.stdout
    assert f"logd {__version__} (Twisted " in result.stdout
