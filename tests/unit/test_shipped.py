"""
The shipped files say what is true: the README's examples are the files
in etc/, the commands it shows print what it says, and the shipped
configurations agree with each other (one owner of rotation per file, the
unit pointing where the documented install puts logd).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex

import pytest
import yaml

from logd import cli
from logd.config import load

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme() -> str:
    with open(os.path.join(REPO, "README.md")) as f:
        return f.read()


def section(title: str) -> str:
    text = readme()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def blocks(text: str, language: str | None = None) -> list[str]:
    """The fenced blocks of C{text} (of one C{language}, if given), in order."""
    found, current, kind = [], None, ""
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, kind = [], line[3:].strip()
            else:
                if language is None or kind == language:
                    found.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return found


def test_broken_yaml_prints_what_the_readme_shows(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    shown = [b for b in blocks(readme()) if b.startswith("$ logd check etc/broken.yaml\n")]
    assert len(shown) == 1
    shown = shown[0]
    monkeypatch.chdir(REPO)
    assert cli.main(["check", "etc/broken.yaml"]) == 1
    assert "$ logd check etc/broken.yaml\n" + capsys.readouterr().err == shown


def test_readme_syslog_configuration_is_etc_syslog_yaml() -> None:
    shown = yaml.safe_load(blocks(section("Syslog"), "yaml")[0])
    with open(os.path.join(REPO, "etc", "syslog.yaml")) as f:
        assert yaml.safe_load(f) == shown
    load(os.path.join(REPO, "etc", "syslog.yaml"))


def test_readme_syslog_senders_talk_to_etc_syslog_yaml() -> None:
    """Every port and socket the Senders examples name is one etc/syslog.yaml listens on."""
    config = load(os.path.join(REPO, "etc", "syslog.yaml"))
    ports = {int(re.search(r"(?:tcp|udp):(\d+)", l.endpoint).group(1)) for l in config.listeners if l.kind != "unixgram"}
    sockets = {os.path.relpath(l.unixPath, REPO) for l in config.listeners if l.unixPath}
    senders = section("Syslog").split("### Senders", 1)[1]
    named = {int(p) for p in re.findall(r"-P (\d+)|port=\"(\d+)\"|port\((\d+)\)|, (\d+)\), socktype", senders) for p in p if p}
    assert named and named <= ports, (named, ports)
    paths = set(re.findall(r"logger -u (\S+)", senders))
    assert paths and paths <= sockets, (paths, sockets)


def test_etc_logd_yaml_names_its_unix_sockets_rightly() -> None:
    """The comments' logger commands: -T to the stream socket, -d to the datagram one."""
    path = os.path.join(REPO, "etc", "logd.yaml")
    with open(path) as f:
        text = f.read()
    config = load(path)
    byKind = {l.kind: os.path.relpath(l.unixPath, REPO) for l in config.listeners if l.unixPath}
    commands = [shlex.split(c) for c in re.findall(r"(logger [^\n]*-u [^\n]*)", text)]
    assert commands
    for command in commands:
        target = command[command.index("-u") + 1]
        if "-T" in command:
            assert target == byKind["stream"], command
        else:
            assert "-d" in command and target == byKind["unixgram"], command


def logrotateGlobs() -> list[str]:
    with open(os.path.join(REPO, "etc", "logrotate.d", "logd")) as f:
        text = f.read()
    return [glob for line in text.splitlines() if line.strip().endswith("{") for glob in line.split()[:-1]]


@pytest.mark.parametrize("config", ["systemd/logd.yaml", "etc/logd.yaml"])
def test_one_owner_of_rotation_per_file(config: str) -> None:
    """No file is rotated both by logd's rotate: and by the shipped logrotate configuration."""
    globs = logrotateGlobs()
    assert globs == ["/var/log/logd/*.log", "/var/log/logd/*.json"]
    sinks = load(os.path.join(REPO, config)).sinks.values()
    for sink in sinks:
        if sink.rotate is not None:
            assert not any(fnmatch.fnmatch(sink.path, glob) for glob in globs), sink
    if config.startswith("systemd"):
        assert all(any(fnmatch.fnmatch(s.path, g) for g in globs) for s in sinks), "a systemd sink nobody rotates"


def test_unit_points_into_the_documented_virtualenv() -> None:
    with open(os.path.join(REPO, "systemd", "logd.service")) as f:
        unit = f.read()
    commands = dict(re.findall(r"^(Exec\w+)=(\S+)", unit, re.MULTILINE))
    assert commands["ExecStart"] == "/opt/logd/bin/twistd" and commands["ExecStartPre"] == "/opt/logd/bin/logd"
    assert "man:" not in unit
    steps = blocks(section("systemd"), "sh")[0]
    assert "python3 -m venv /opt/logd\n/opt/logd/bin/pip install .\n" in steps


def test_readme_run_command_writes_no_pid_file() -> None:
    first = blocks(readme(), "sh")[0]
    assert "twistd -n --pidfile= logd --config etc/logd.yaml" in first
