"""
Creating the files and directories logd writes to: with the permissions
the configuration says, whatever the umask (twistd's daemon mode sets 077),
and owned by whoever must write to them after twistd's C{-u}/C{-g} have
dropped root.

logd opens its files and binds its sockets while it is still root (in
C{privilegedStartService}), but a rotation later makes it create a new file,
and a stop removes its Unix sockets: both need a directory that the user it
then runs as can write.  So the directories logd creates belong to that
user, as systemd's C{LogsDirectory=} would make them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class RunAs:
    """
    The user and group logd runs as once twistd has dropped privileges;
    only known (and only acted on) while logd is still root.
    """

    uid: int
    gid: int


def directoryMode(fileMode: int) -> int:
    """
    The mode for a directory holding files (or sockets) of C{fileMode}:
    whoever may use them may also enter the directory, and only its owner
    may add or remove anything (0640 -> 0750, 0666 -> 0755).
    """
    return 0o700 | (0o050 if fileMode & 0o070 else 0) | (0o005 if fileMode & 0o007 else 0)


def setOwner(target: int | str, uid: int | None, gid: int | None) -> None:
    """
    Give C{target} (a descriptor or a path) to C{uid}/C{gid}.  Only root
    can give a file away; anyone else can still hand it to another group
    of theirs (a sink's C{group: adm} after the privilege drop), and what
    they create is theirs anyway.
    """
    if os.geteuid() != 0:
        uid = None
        if gid == os.getegid():
            gid = None
    if uid is None and gid is None:
        return
    uid, gid = -1 if uid is None else uid, -1 if gid is None else gid
    if isinstance(target, int):
        os.fchown(target, uid, gid)
    else:
        os.chown(target, uid, gid, follow_symlinks=False)


def makeDirectories(directory: str, mode: int, runAs: RunAs | None, group: int | None = None) -> None:
    """
    Create C{directory} and any missing parents with C{mode} exactly, owned
    by C{runAs} (group C{group} if given).  Directories that already exist
    are left as they are: they are the administrator's.
    """
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            continue
        os.chmod(path, mode)
        if runAs is not None:
            setOwner(path, runAs.uid, runAs.gid if group is None else group)
