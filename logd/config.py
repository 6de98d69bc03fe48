"""
The YAML configuration: loaded, checked completely, and turned into frozen
dataclasses before anything binds a socket or opens a file.

Every problem is reported with the file, the line and the key
(C{etc/logd.yaml:14: listeners[2].sinks: unknown sink 'al'}), and all of
them are reported at once, so one run of C{logd check} shows everything
there is to fix.
"""

from __future__ import annotations

import difflib
import grp
import importlib
import ipaddress
import os
import pwd
import re
import socket
import string
import sys
from dataclasses import dataclass
from typing import Any, Callable

import yaml

from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import DatagramProtocol, Protocol

from logd.fields import RECORD_FIELDS
from logd.filters import Filter
from logd.syslog import FACILITIES, SEVERITIES

BUILTIN_PROTOCOLS = ("raw", "line", "syslog")
SINK_TYPES = ("file", "stdout")
FILTER_KEYS = ("severity", "facility", "listener", "match")
FORMATS = ("text", "json")
LIMIT_KEYS = ("allow", "max_connections", "max_connections_per_peer", "idle_timeout", "rate_limit")
RATE_KEYS = ("records", "per", "burst", "when_over")
WHEN_OVER = ("pause", "drop")
FILE_KEYS = ("mode", "owner", "group")
"""What a file sink's files are created with (rsyslog's C{$FileCreateMode}, C{$FileOwner}, C{$FileGroup})."""
WHEN_FULL = ("pause", "drop")
"""What a sink over its buffer limit does: hold the senders back, or drop what it cannot take."""
DEFAULT_MAX_LINE = 65536
DEFAULT_KEEP = 7
DEFAULT_BUFFER = 16 * 1024 * 1024
DEFAULT_MAX_PARTIAL_BYTES = 64 * 1024 * 1024
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
CLIENT_CERT = ("none", "optional", "required")
TLS_VERSIONS = ("1.2", "1.3")
TLS_KEYS = ("cert", "key", "ca", "client_cert", "permitted_peers", "min_version", "handshake_timeout", "verify_depth")
DEFAULT_VERIFY_DEPTH = 9
"""Intermediate CAs a client's chain may hold (OpenSSL's own default is 100)."""
DEFAULT_FILE_MODE = 0o640
DEFAULT_SOCKET_MODE = 0o660
"""Unix sockets: the user logd runs as and its group may send; say C{mode=666} for a C{/dev/log}."""
MAX_UNIX_PATH = 107
"""The kernel's limit on a Unix socket path (sun_path less its NUL)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_SIZE = re.compile(r"\s*(\d+)\s*(?:([KMGT])(i?)B|(B)|([KMGT]))?\s*\Z", re.IGNORECASE)


class ConfigError(Exception):
    """
    The configuration is wrong; C{problems} holds one line per problem.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Rotation:
    maxBytes: int
    keep: int = DEFAULT_KEEP


@dataclass(frozen=True)
class SinkConfig:
    name: str
    type: str
    path: str | None = None
    format: str = "text"
    rotate: Rotation | None = None
    buffer: int = DEFAULT_BUFFER
    template: str | None = None
    filter: Filter | None = None
    whenFull: str = "pause"
    """C{pause}: stop reading the stream connections that feed a full sink; C{drop}: drop (and count) what it cannot take."""
    mode: int = DEFAULT_FILE_MODE
    """The permissions of a file the sink creates, whatever the process's umask."""
    owner: int | None = None
    """The uid a created file gets; C{None}: the user logd runs as (after twistd's C{-u})."""
    group: int | None = None
    """The gid a created file gets; C{None}: the group logd runs as (after twistd's C{-g})."""

    def describe(self) -> str:
        where = self.path if self.type == "file" else "standard output"
        shape = f"template {self.template!r}" if self.template else self.format
        rotation = f", rotated at {self.rotate.maxBytes} bytes, keeping {self.rotate.keep}" if self.rotate else ""
        filtered = ", filtered" if self.filter else ""
        full = ", drops when full" if self.whenFull == "drop" else ""
        return f"sink {self.name!r}: {where} ({shape}{rotation}, buffer {self.buffer} bytes{full}{filtered})"


@dataclass(frozen=True)
class RateLimit:
    """
    A token bucket per sender address over records: C{records} every
    C{per} seconds, up to C{burst} at once.  C{whenOver}: C{pause} stops
    reading that sender's connections until it has tokens again; C{drop}
    (the only choice for datagrams) drops the excess, counted.
    """

    records: int
    per: float
    burst: int
    whenOver: str


@dataclass(frozen=True)
class Limits:
    """
    Who may send to a listener and how much of it they may hold: the
    edge of a log server open to a network (see L{logd.inputs.limits}).

    @ivar allow: the sender addresses and networks accepted; L{None}: any.
    @ivar maxConnections: open connections at most, in all (streams).
    @ivar maxConnectionsPerPeer: open connections at most from one address.
    @ivar idleTimeout: seconds a connection may send nothing before it is
        closed; L{None}: for ever.
    """

    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = None
    maxConnections: int | None = None
    maxConnectionsPerPeer: int | None = None
    idleTimeout: float | None = None
    rateLimit: RateLimit | None = None

    def __bool__(self) -> bool:
        return self != Limits()


@dataclass(frozen=True)
class TLSConfig:
    """
    TLS on a stream listener (see L{logd.inputs.tls}); paths are absolute.

    @ivar clientCert: C{none}, C{optional} or C{required}.
    @ivar permittedPeers: name patterns (C{client1.example.com},
        C{*.example.com}) and certificate fingerprints (C{sha256:9F:86:...},
        kept as lower-case hex without colons) a client must match.
    """

    cert: str
    key: str
    ca: str | None = None
    clientCert: str = "none"
    permittedPeers: tuple[str, ...] = ()
    minVersion: str = "1.2"
    handshakeTimeout: float = DEFAULT_HANDSHAKE_TIMEOUT
    verifyDepth: int = DEFAULT_VERIFY_DEPTH


@dataclass(frozen=True)
class ListenerConfig:
    """
    @ivar kind: C{"stream"} for anything Twisted's C{serverFromString}
        understands, C{"udp"} or C{"unixgram"} for logd's datagram endpoints.
    @ivar endpoint: the endpoint string with relative socket paths made
        absolute against the config file's directory.
    @ivar address: for datagram kinds, the parsed address: C{(port,
        interface)} for UDP, C{(path, mode)} for Unix datagrams; L{None}
        for a datagram socket inherited from systemd
        (C{systemd:domain=INET:name=syslog-udp:type=datagram}), whose
        address is the socket unit's.
    @ivar unixPath: the socket file of a C{unix:} or C{unixgram:} listener.
    @ivar protocolClass: the class for a custom C{"module:Class"} protocol.
    """

    name: str
    endpoint: str
    kind: str
    protocol: str
    sinks: tuple[str, ...]
    maxLine: int = DEFAULT_MAX_LINE
    banner: bytes | None = None
    address: tuple | None = None
    unixPath: str | None = None
    socketMode: int | None = None
    """The permissions of a C{unix:} or C{unixgram:} listener's socket file."""
    protocolClass: type | None = None
    limits: Limits = Limits()
    tls: TLSConfig | None = None

    def describe(self) -> str:
        secured = f", TLS, client certificates {self.tls.clientCert}" if self.tls else ""
        return f"listener {self.name!r}: {self.endpoint} ({self.protocol}{secured}) -> {', '.join(self.sinks)}"


@dataclass(frozen=True)
class AdminConfig:
    """The admin HTTP endpoint (see L{logd.admin.web})."""

    endpoint: str


@dataclass(frozen=True)
class Config:
    path: str
    sinks: dict[str, SinkConfig]
    listeners: tuple[ListenerConfig, ...]
    maxPartialBytes: int = DEFAULT_MAX_PARTIAL_BYTES
    """The most bytes of unfinished lines held across all connections (see L{logd.inputs.partials})."""
    admin: AdminConfig | None = None
    statsInterval: float | None = None
    """Seconds between two logged reports of the counts; L{None}: only at shutdown."""


# YAML with line numbers ----------------------------------------------------


class _Map(dict):
    line: int
    keyLines: dict[Any, int]
    duplicates: list[tuple[int, Any]]


class _Seq(list):
    line: int
    itemLines: list[int]


class _Int(int):
    """An integer that remembers how it was written: C{mode: 640} means 0o640."""

    text: str


class _Loader(yaml.SafeLoader):
    """
    A safe loader whose mappings and sequences remember the line of every
    key and item, and which treats a duplicate key as an error (PyYAML
    silently keeps the last one).
    """



def _constructMapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.keyLines = {}
    result.duplicates = []
    for keyNode, valueNode in node.value:
        key = loader.construct_object(keyNode, deep=True)
        line = keyNode.start_mark.line + 1
        if key in result:
            result.duplicates.append((line, key))
        result[key] = loader.construct_object(valueNode, deep=True)
        result.keyLines[key] = line
    return result


def _constructSequence(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.itemLines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _constructMapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _constructSequence)


def _constructInt(loader: _Loader, node: yaml.ScalarNode) -> _Int:
    result = _Int(loader.construct_yaml_int(node))
    result.text = node.value
    return result


_Loader.add_constructor("tag:yaml.org,2002:int", _constructInt)


# Checking ------------------------------------------------------------------


class _Problems:
    """
    Every problem found, reported in the order of the file's lines (the
    checks run sink by sink, listener by listener, not line by line).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._found: list[tuple[int, str]] = []

    def add(self, line: int, key: str, message: str) -> None:
        self._found.append((line, f"{self.path}:{line}: {key}: {message}"))

    def __len__(self) -> int:
        return len(self._found)

    @property
    def lines(self) -> list[str]:
        return [text for _, text in sorted(self._found, key=lambda found: found[0])]


def parseSize(value: Any) -> int:
    """
    A byte count: an integer, or a string such as C{16MiB} (2^20 bytes a
    MiB) or C{100MB} (10^6 bytes a MB).  A bare C{16M} is refused rather
    than guessed at: log tools disagree on what it means.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected a size such as 16MiB, not {_show(value)}")
    if isinstance(value, int):
        size = int(value)
    else:
        match = _SIZE.match(value)
        if not match:
            raise ValueError(f"expected a size such as 16MiB or 100MB, not {_show(value)}")
        number, prefix, binary, _, bare = match.groups()
        if bare:
            unit = bare.upper()
            raise ValueError(f"{value!r} is ambiguous: write {number}{unit}iB (binary, 1024-based) or {number}{unit}B (decimal)")
        power = " KMGT".index(prefix.upper()) if prefix else 0
        size = int(number) * (1024 if binary else 1000) ** power
    if size <= 0:
        raise ValueError("must be greater than zero")
    return size


def _splitEndpoint(description: str) -> list[str]:
    """
    Split an endpoint string on its unescaped colons, as Twisted does.
    """
    parts, current, escaped = [], [], False
    for ch in description:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unescape(part: str) -> str:
    return re.sub(r"\\(.)", r"\1", part)


def _escapeColons(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


class _Checker:
    def __init__(self, path: str, data: Any, problems: _Problems) -> None:
        self.base = os.path.dirname(os.path.abspath(path))
        self.data = data
        self.problems = problems
        self.filterListeners: list[tuple[_Map, str, frozenset[str]]] = []

    def checkFilterListeners(self, names: set[str]) -> None:
        """
        A filter may name listeners only once they are known.
        """
        for spec, where, wanted in self.filterListeners:
            for name in sorted(wanted - names):
                self.problems.add(spec.keyLines["listener"], where, f"unknown listener {name!r}")

    def resolve(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.base, os.path.expanduser(path)))

    def keys(
        self, mapping: _Map, where: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> bool:
        ok = True
        meant = set()
        for key in mapping:
            if key not in required and key not in optional:
                close = _closest(key, (*required, *optional))
                meant.add(close)
                suggestion = f" (did you mean {close!r}?)" if close else ""
                self.problems.add(mapping.keyLines[key], _join(where, key), "unknown key" + suggestion)
                ok = False
        for key in required:
            if key not in mapping:
                if key not in meant:  # a typo of it is reported already
                    self.problems.add(mapping.line, _join(where, key), "missing required key")
                ok = False
        return ok

    def value(
        self, mapping: _Map, key: str, where: str, check: Callable[[Any], Any], default: Any = None
    ) -> Any:
        if key not in mapping:
            return default
        try:
            return check(mapping[key])
        except ValueError as e:
            self.problems.add(mapping.keyLines[key], _join(where, key), str(e))
            return default

    # sinks

    def sinks(self) -> dict[str, SinkConfig]:
        top = self.data
        node = top.get("sinks")
        if not isinstance(node, _Map) or not node:
            problem = "no sinks: name at least one" if isinstance(node, _Map) else "expected a mapping of sink names to sinks"
            self.problems.add(top.keyLines.get("sinks", top.line), "sinks", problem)
            return {}
        result = {}
        for name, spec in node.items():
            where = f"sinks.{name}"
            line = node.keyLines[name]
            if not isinstance(name, str) or not _NAME.match(name):
                self.problems.add(line, where, "a sink name is letters, digits, '_', '.' and '-'")
                continue
            if not isinstance(spec, _Map):
                self.problems.add(line, where, "expected a mapping")
                continue
            sink = self.sink(name, spec, where)
            if sink is not None:
                result[name] = sink
        return result

    def sink(self, name: str, spec: _Map, where: str) -> SinkConfig | None:
        ok = self.keys(
            spec,
            where,
            ("type",),
            ("path", "format", "rotate", "buffer", "when_full", "template", "filter", *FILE_KEYS),
        )
        if "type" not in spec:
            return None
        kind = spec["type"]
        if kind not in SINK_TYPES:
            self.problems.add(
                spec.keyLines["type"], f"{where}.type", f"unknown sink type {kind!r} (one of: {', '.join(SINK_TYPES)})"
            )
            return None
        path = None
        if kind == "file":
            if "path" not in spec:
                self.problems.add(spec.line, f"{where}.path", "missing required key (a file sink needs a path)")
                ok = False
            elif not isinstance(spec["path"], str) or not spec["path"]:
                self.problems.add(spec.keyLines["path"], f"{where}.path", "expected a file path")
                ok = False
            else:
                path = self.resolve(spec["path"])
        elif "path" in spec:
            self.problems.add(spec.keyLines["path"], f"{where}.path", f"a {kind} sink has no path")
            ok = False
        if "rotate" in spec and kind != "file":
            self.problems.add(spec.keyLines["rotate"], f"{where}.rotate", "only file sinks rotate")
            ok = False
        for key in FILE_KEYS:
            if key in spec and kind != "file":
                self.problems.add(spec.keyLines[key], f"{where}.{key}", "only file sinks create files")
                ok = False
        before = len(self.problems)
        mode = self.value(spec, "mode", where, _fileMode, DEFAULT_FILE_MODE)
        owner = self.value(spec, "owner", where, _uid)
        group = self.value(spec, "group", where, _gid)
        ok = ok and len(self.problems) == before
        fmt = self.value(spec, "format", where, _oneOf(FORMATS), "text")
        rotate = self.rotation(spec, f"{where}.rotate") if kind == "file" and "rotate" in spec else None
        buffer = self.value(spec, "buffer", where, parseSize, DEFAULT_BUFFER)
        whenFull = self.value(spec, "when_full", where, _oneOf(WHEN_FULL), "pause")
        template = self.value(spec, "template", where, _template)
        if template is not None and fmt != "text":
            self.problems.add(spec.keyLines["template"], f"{where}.template", "a template writes text; drop format: json")
            ok = False
        recordFilter = self.filter(spec, f"{where}.filter") if "filter" in spec else None
        if ("rotate" in spec and kind == "file" and rotate is None) or ("filter" in spec and recordFilter is None):
            ok = False
        if not ok:
            return None
        return SinkConfig(
            name=name,
            type=kind,
            path=path,
            format=fmt,
            rotate=rotate,
            buffer=buffer,
            template=template,
            filter=recordFilter,
            whenFull=whenFull,
            mode=mode,
            owner=owner,
            group=group,
        )

    def nested(self, spec: _Map, key: str, where: str, allowed: tuple[str, ...]) -> _Map | None:
        """
        A sub-mapping such as C{rotate} or C{filter}: its own keys are checked
        (and reported at their own lines) by the caller.
        """
        node = spec[key]
        if not isinstance(node, _Map) or not node:
            self.problems.add(spec.keyLines[key], where, f"expected a mapping with {', '.join(allowed)}")
            return None
        return node

    def filter(self, spec: _Map, where: str) -> Filter | None:
        node = self.nested(spec, "filter", where, FILTER_KEYS)
        if node is None:
            return None
        before = len(self.problems)
        self.keys(node, where, (), FILTER_KEYS)
        severity = self.value(node, "severity", where, _severity)
        facilities = self.value(node, "facility", where, _facilities)
        listeners = self.value(node, "listener", where, lambda value: frozenset(_nameList(value)))
        match = self.value(node, "match", where, _regex)
        if len(self.problems) > before:
            return None
        if listeners:
            self.filterListeners.append((node, f"{where}.listener", listeners))
        return Filter(severity=severity, facilities=facilities, listeners=listeners, match=match)

    def rotation(self, spec: _Map, where: str) -> Rotation | None:
        node = self.nested(spec, "rotate", where, ("max_bytes", "keep"))
        if node is None:
            return None
        before = len(self.problems)
        self.keys(node, where, ("max_bytes",), ("keep",))
        maxBytes = self.value(node, "max_bytes", where, parseSize)
        keep = self.value(node, "keep", where, _positiveInt, DEFAULT_KEEP)
        if len(self.problems) > before:
            return None
        return Rotation(maxBytes=maxBytes, keep=keep)

    # listeners

    def listeners(self, sinkNames: set[str]) -> tuple[ListenerConfig, ...]:
        top = self.data
        node = top.get("listeners")
        if not isinstance(node, _Seq) or not node:
            problem = "no listeners: give at least one" if isinstance(node, _Seq) else "expected a list of listeners"
            self.problems.add(top.keyLines.get("listeners", top.line), "listeners", problem)
            return ()
        result = []
        seen: dict[str, int] = {}
        for index, (spec, line) in enumerate(zip(node, node.itemLines)):
            where = f"listeners[{index}]"
            if not isinstance(spec, _Map):
                self.problems.add(line, where, "expected a mapping")
                continue
            name = spec.get("name")
            if isinstance(name, str) and name in seen:
                self.problems.add(
                    spec.keyLines["name"], f"{where}.name", f"duplicate listener name {name!r} (first on line {seen[name]})"
                )
            elif isinstance(name, str):
                seen[name] = spec.keyLines["name"]
            listener = self.listener(spec, where, sinkNames)
            if listener is not None:
                result.append(listener)
        return tuple(result)

    def listener(self, spec: _Map, where: str, sinkNames: set[str]) -> ListenerConfig | None:
        ok = self.keys(spec, where, ("name", "endpoint", "protocol", "sinks"), ("max_line", "banner", "tls", *LIMIT_KEYS))
        name = self.value(spec, "name", where, _name)
        endpoint = self.value(spec, "endpoint", where, self.endpoint)
        protocol, protocolClass = self.value(spec, "protocol", where, lambda v: _protocol(v, self.base), (None, None))
        sinks = self.value(spec, "sinks", where, lambda v: _sinkList(v, spec, where, sinkNames, self.problems))
        maxLine = self.value(spec, "max_line", where, _positiveInt, DEFAULT_MAX_LINE)
        banner = self.value(spec, "banner", where, _banner)
        if None in (name, endpoint, protocol, sinks):
            return None
        kind, resolved, address, unixPath, socketMode = endpoint
        if banner is not None and kind != "stream":
            self.problems.add(spec.keyLines["banner"], f"{where}.banner", "a datagram listener cannot send a banner")
            ok = False
        if protocolClass is not None:
            wanted = Protocol if kind == "stream" else DatagramProtocol
            if not issubclass(protocolClass, wanted):
                self.problems.add(
                    spec.keyLines["protocol"],
                    f"{where}.protocol",
                    f"{spec['protocol']} is not a {wanted.__module__}.{wanted.__name__} subclass, "
                    f"as a {'stream' if kind == 'stream' else 'datagram'} listener needs",
                )
                ok = False
        limits = self.limits(spec, where, kind, resolved)
        tls = self.tls(spec, f"{where}.tls", kind, resolved) if "tls" in spec else None
        if not ok or limits is None or ("tls" in spec and tls is None):
            return None
        return ListenerConfig(
            name=name,
            endpoint=resolved,
            kind=kind,
            protocol=protocol,
            sinks=sinks,
            maxLine=maxLine,
            banner=banner,
            address=address,
            unixPath=unixPath,
            socketMode=socketMode,
            protocolClass=protocolClass,
            limits=limits,
            tls=tls,
        )

    def tls(self, spec: _Map, where: str, kind: str, endpoint: str) -> TLSConfig | None:
        """
        The C{tls:} block, checked as far as it can be before anything
        binds: the files are read, the key must match the certificate, the
        CA file must load (see L{logd.inputs.tls.checkFiles}).
        """
        if kind != "stream":
            self.problems.add(spec.keyLines["tls"], where, "TLS needs a stream listener (tcp, tcp6, unix, systemd)")
            return None
        if endpoint.startswith("ssl:"):
            self.problems.add(spec.keyLines["tls"], where, "an ssl: endpoint is TLS already: use tcp: with tls:")
            return None
        node = self.nested(spec, "tls", where, TLS_KEYS)
        if node is None:
            return None
        before = len(self.problems)
        self.keys(node, where, ("cert", "key"), TLS_KEYS[2:])
        cert = self.value(node, "cert", where, self.filePath)
        key = self.value(node, "key", where, self.filePath)
        ca = self.value(node, "ca", where, self.filePath)
        clientCert = self.value(node, "client_cert", where, _oneOf(CLIENT_CERT), "none")
        peers = self.value(node, "permitted_peers", where, _permittedPeers, ())
        minVersion = self.value(node, "min_version", where, lambda v: _oneOf(TLS_VERSIONS)(str(v)), "1.2")
        timeout = self.value(node, "handshake_timeout", where, parseDuration, DEFAULT_HANDSHAKE_TIMEOUT)
        depth = self.value(node, "verify_depth", where, _positiveInt, DEFAULT_VERIFY_DEPTH)
        if clientCert != "none" and "ca" not in node:
            self.problems.add(node.line, f"{where}.ca", f"client_cert: {clientCert} needs a ca to check client certificates against")
        if peers and clientCert == "none":
            self.problems.add(node.keyLines["permitted_peers"], f"{where}.permitted_peers", "needs client_cert: optional or required")
        if len(self.problems) > before:
            return None
        from logd.inputs.tls import checkFiles

        for key_, problem in checkFiles(cert, key, ca):
            self.problems.add(node.keyLines.get(key_, node.line), f"{where}.{key_}", problem)
        if len(self.problems) > before:
            return None
        return TLSConfig(
            cert=cert, key=key, ca=ca, clientCert=clientCert, permittedPeers=peers, minVersion=minVersion, handshakeTimeout=timeout,
            verifyDepth=depth,
        )

    def filePath(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError("expected a file path")
        path = self.resolve(value)
        if not os.path.isfile(path):
            raise ValueError(f"no such file: {path}")
        return path

    def limits(self, spec: _Map, where: str, kind: str, endpoint: str) -> Limits | None:
        """
        C{allow}, C{max_connections}, C{max_connections_per_peer} and
        C{idle_timeout}: the last three only where there are connections,
        C{allow} only where senders have IP addresses.
        """
        before = len(self.problems)
        if kind != "stream":
            for key in ("max_connections", "max_connections_per_peer", "idle_timeout"):
                if key in spec:
                    self.problems.add(spec.keyLines[key], f"{where}.{key}", "a datagram listener has no connections to limit")
        if "allow" in spec and not _hasIPSenders(kind, endpoint):
            self.problems.add(
                spec.keyLines["allow"], f"{where}.allow", "a Unix socket's senders have no address: its file mode decides who may send"
            )
        allow = self.value(spec, "allow", where, _networks)
        maxConnections = self.value(spec, "max_connections", where, _positiveInt)
        perPeer = self.value(spec, "max_connections_per_peer", where, _positiveInt)
        idle = self.value(spec, "idle_timeout", where, parseDuration)
        rate = self.rateLimit(spec, f"{where}.rate_limit", kind) if "rate_limit" in spec else None
        if len(self.problems) > before:
            return None
        return Limits(allow=allow, maxConnections=maxConnections, maxConnectionsPerPeer=perPeer, idleTimeout=idle, rateLimit=rate)

    def rateLimit(self, spec: _Map, where: str, kind: str) -> RateLimit | None:
        node = self.nested(spec, "rate_limit", where, RATE_KEYS)
        if node is None:
            return None
        before = len(self.problems)
        self.keys(node, where, ("records",), RATE_KEYS[1:])
        records = self.value(node, "records", where, _positiveInt)
        per = self.value(node, "per", where, parseDuration, 1.0)
        burst = self.value(node, "burst", where, _positiveInt, records)
        whenOver = self.value(node, "when_over", where, _oneOf(WHEN_OVER), "pause" if kind == "stream" else "drop")
        if whenOver == "pause" and kind != "stream":
            self.problems.add(node.keyLines["when_over"], f"{where}.when_over", "a datagram listener cannot pause its senders: drop")
        if len(self.problems) > before or records is None:
            return None
        return RateLimit(records=records, per=per, burst=burst or records, whenOver=whenOver)

    def admin(self) -> AdminConfig | None:
        spec = self.data.get("admin")
        if spec is None:
            return None
        if not isinstance(spec, _Map):
            self.problems.add(self.data.keyLines["admin"], "admin", "expected a mapping with an endpoint")
            return None
        if not self.keys(spec, "admin", ("endpoint",), ()):
            return None
        found = self.value(spec, "endpoint", "admin", self.endpoint)
        if found is None:
            return None
        kind, endpoint = found[0], found[1]
        if kind != "stream":
            self.problems.add(spec.keyLines["endpoint"], "admin.endpoint", "the admin endpoint serves HTTP: a stream endpoint (tcp:, unix:, ...)")
            return None
        return AdminConfig(endpoint)

    def endpoint(self, value: Any) -> tuple[str, str, tuple | None, str | None, int | None]:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("expected an endpoint string such as tcp:5140:interface=127.0.0.1")
        parts = _splitEndpoint(value.strip())
        kind = parts[0]
        if kind == "udp":
            return self.udp(parts[1:])
        if kind == "unixgram":
            return self.unixgram(parts[1:])
        named = _namePositionals(parts)
        unixPath = socketMode = None
        if kind == "unix":
            parts, unixPath, socketMode = self.unixAddress(named)
        elif kind == "ssl":
            parts = self.sslPaths(named)
        if kind in ("tcp", "tcp6", "ssl"):
            _checkInternet(kind, named[1:])
        description = ":".join(parts)
        if kind == "systemd":
            given = _checkSystemd(parts[1:])
            description = ":".join(part for part in parts if part != "type=stream")
            if given.get("type") == "datagram":
                return ("unixgram" if given["domain"] == "UNIX" else "udp"), description, None, None, None
            return "stream", description, None, None, None
        try:
            serverFromString(_NoReactor(), description)
        except Exception as e:
            raise ValueError(f"bad endpoint {value!r}: {e}") from None
        return "stream", description, None, unixPath, socketMode

    def sslPaths(self, parts: list[str]) -> list[str]:
        """
        Key, certificate and chain files resolve against the configuration
        file's directory like every other path (Twisted would read them
        relative to whatever directory twistd was started in), and the
        key's default, C{server.pem}, is looked for there too.
        """
        parts = list(parts)
        named = {part.partition("=")[0] for part in parts[1:] if "=" in part}
        for i, part in enumerate(parts[1:], start=1):
            key, sep, rest = part.partition("=")
            if sep and key in _SSL_PATH_KEYS:
                parts[i] = f"{key}=" + _escapeColons(self.resolve(_unescape(rest)))
        if "privateKey" not in named:
            parts.append("privateKey=" + _escapeColons(self.resolve("server.pem")))
        return parts

    def unixAddress(self, parts: list[str]) -> tuple[list[str], str, int]:
        """
        The socket path made absolute and put first (C{unix:/abs/path:...}),
        and the mode, 0660 unless given.
        """
        given = dict(part.partition("=")[::2] for part in parts[1:])
        if not given.get("address"):
            raise ValueError("a unix: endpoint needs a socket path")
        path = self.socketPath(_unescape(given.pop("address")))
        text = given.setdefault("mode", f"{DEFAULT_SOCKET_MODE:o}")  # Twisted's default, 0666, lets anyone write
        try:
            mode = int(text, 8)
        except ValueError:
            raise ValueError(f"bad mode {text!r} (expected octal, such as 660)") from None
        return ["unix", _escapeColons(path), *(f"{key}={value}" for key, value in given.items())], path, mode

    def socketPath(self, path: str) -> str:
        if not path:
            raise ValueError("empty socket path")
        resolved = self.resolve(path)
        if len(os.fsencode(resolved)) > MAX_UNIX_PATH:
            raise ValueError(
                f"socket path {resolved!r} is {len(os.fsencode(resolved))} bytes; "
                f"the kernel allows at most {MAX_UNIX_PATH}"
            )
        return resolved

    def udp(self, args: list[str]) -> tuple[str, str, tuple, None, None]:
        port, interface = None, ""
        for arg in args:
            key, sep, rest = arg.partition("=")
            if not sep and port is None:
                port = key
            elif sep and key in ("port",):
                port = rest
            elif sep and key == "interface":
                interface = _unescape(rest)
            else:
                raise ValueError(f"bad udp endpoint argument {arg!r} (expected udp:PORT[:interface=ADDR])")
        if port is None or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected udp:PORT[:interface=ADDR] with PORT from 0 to 65535")
        if interface:
            _checkInterface(interface, "udp")
        description = f"udp:{port}" + (f":interface={_escapeColons(interface)}" if interface else "")
        return "udp", description, (int(port), interface), None, None

    def unixgram(self, args: list[str]) -> tuple[str, str, tuple, str, int]:
        path, mode = None, DEFAULT_SOCKET_MODE
        for arg in args:
            key, sep, rest = arg.partition("=")
            if not sep and path is None:
                path = _unescape(key)
            elif sep and key == "address":
                path = _unescape(rest)
            elif sep and key == "mode":
                try:
                    mode = int(rest, 8)
                except ValueError:
                    raise ValueError(f"bad mode {rest!r} (expected octal, such as 660)") from None
            else:
                raise ValueError(f"bad unixgram endpoint argument {arg!r} (expected unixgram:PATH[:mode=660])")
        if path is None:
            raise ValueError("a unixgram: endpoint needs a socket path")
        resolved = self.socketPath(path)
        description = f"unixgram:{_escapeColons(resolved)}:mode={mode:o}"
        return "unixgram", description, (resolved, mode), resolved, mode


_SSL_PATH_KEYS = ("privateKey", "certKey", "extraCertChain", "dhParameters")

_POSITIONAL = {
    "tcp": ("port", "interface", "backlog"),
    "tcp6": ("port", "backlog", "interface"),
    "ssl": ("port", "privateKey", "certKey", "sslmethod", "interface", "backlog", "extraCertChain", "dhParameters"),
    "unix": ("address", "mode", "backlog", "lockfile"),
}
"""The order of each endpoint parser's positional arguments in Twisted (tcp6 differs from tcp)."""


def _isNamed(part: str) -> bool:
    """Whether an endpoint argument is C{name=value}: an unescaped C{=}, as Twisted's tokenizer sees it."""
    escaped = False
    for ch in part:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "=":
            return True
    return False


def _namePositionals(parts: list[str]) -> list[str]:
    """
    C{tcp:5140:127.0.0.1} as C{tcp:port=5140:interface=127.0.0.1}: with every
    argument named, the checks and path resolutions below need to look in
    one place only, and whatever logd adds (a mode, a key path) cannot
    collide with a positional one.
    """
    names = _POSITIONAL.get(parts[0])
    if names is None:
        return parts
    named, position = [parts[0]], 0
    for part in parts[1:]:
        if _isNamed(part):
            named.append(part)
        elif position < len(names):
            named.append(f"{names[position]}={part}")
            position += 1
        else:
            raise ValueError(f"too many arguments for a {parts[0]}: endpoint ({', '.join(names)})")
    return named


def _checkInternet(kind: str, args: list[str]) -> None:
    """
    The port and interface of a C{tcp:}, C{tcp6:} or C{ssl:} endpoint, with
    messages a person can act on (Twisted's parser says C{invalid literal
    for int()}, and takes an interface such as C{999.1.1.1} that only
    fails at bind time).
    """
    named = dict(arg.partition("=")[::2] for arg in args)
    port = named.get("port")
    if port is None:
        raise ValueError(f"a {kind}: endpoint needs a port, as in {kind}:5140")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"port {port!r} is not a number from 0 to 65535")
    interface = named.get("interface")
    if interface:
        _checkInterface(_unescape(interface), kind)


def _checkInterface(interface: str, kind: str) -> None:
    """
    An interface is an IP address of this machine (or a name that resolves
    to one).  A dotted quad that is no IPv4 address is refused here, not
    looked up as a host name.
    """
    try:
        address = ipaddress.ip_address(interface)
    except ValueError:
        if re.fullmatch(r"[\d.]+", interface) or ":" in interface:
            raise ValueError(f"interface {interface!r} is not an IP address") from None
        try:
            socket.getaddrinfo(interface, None, socket.AF_INET6 if kind == "tcp6" else socket.AF_UNSPEC)
        except OSError:
            raise ValueError(f"interface {interface!r} is neither an IP address nor a name that resolves") from None
        return
    if kind == "tcp6" and address.version != 6:
        raise ValueError(f"interface {interface!r} is not an IPv6 address (tcp6: listens on IPv6)")


def _permittedPeers(value: Any) -> tuple[str, ...]:
    """
    Names (one leading C{*.} wildcard at most) and C{sha256:} fingerprints,
    kept lower-case; a fingerprint as hex without its colons.
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) and item for item in items):
        raise ValueError("expected a list of names or sha256: fingerprints")
    peers = []
    for item in items:
        item = item.strip().lower()
        if item.startswith("sha256:"):
            digest = item[len("sha256:") :].replace(":", "")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"{item!r} is not a SHA-256 fingerprint (32 bytes in hex)")
            peers.append("sha256:" + digest)
        elif "*" in item[2:] or (item.startswith("*") and not item.startswith("*.")) or not re.fullmatch(r"[a-z0-9*.:-]+", item):
            raise ValueError(f"{item!r} is not a host name (one leading '*.' at most) or an IP address")
        else:
            peers.append(item)
    return tuple(peers)


def _hasIPSenders(kind: str, endpoint: str) -> bool:
    if kind == "udp":
        return True
    if kind == "unixgram":
        return False
    scheme = endpoint.split(":", 1)[0]
    if scheme == "unix" or (scheme == "systemd" and "domain=UNIX" in endpoint):
        return False
    return True


def _networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """
    Addresses and networks, written as C{192.168.1.7}, C{10.0.0.0/8} or
    C{::1}.  A network with host bits set (C{10.0.0.1/8}) is refused: it
    is more likely a typo than a way of writing C{10.0.0.0/8}.
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        raise ValueError("expected an address or network, or a list of them, such as [10.0.0.0/8, \"::1\"]")
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip()))
        except ValueError as e:
            try:
                loose = ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an address or network: {e}") from None
            raise ValueError(f"{item!r} has host bits set (did you mean {str(loose)!r}?)") from None
    return tuple(networks)


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*\Z")


def parseDuration(value: Any) -> float:
    """
    Seconds: a number, or a string such as C{300s}, C{5m}, C{1h}, C{500ms}.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a duration such as 300s or 5m, not {_show(value)}")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"expected a duration such as 300s, 5m or 500ms, not {_show(value)}")
        seconds = float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    else:
        seconds = float(value)
    if seconds <= 0:
        raise ValueError("must be greater than zero")
    return seconds


def _checkSystemd(args: list[str]) -> dict[str, str]:
    """
    Twisted's parser looks the inherited socket up while parsing, so it fails
    outside the service that systemd starts; check the string's shape here
    and leave the socket to start-up.
    """
    given = dict(arg.partition("=")[::2] for arg in args)
    if given.get("domain") not in ("INET", "INET6", "UNIX"):
        raise ValueError("a systemd: endpoint needs domain=INET, INET6 or UNIX")
    if ("index" in given) == ("name" in given):
        raise ValueError("a systemd: endpoint needs index=N or name=NAME")
    if "index" in given and not given["index"].isdigit():
        raise ValueError("systemd: index must be a whole number")
    if given.get("type", "stream") not in ("stream", "datagram"):
        raise ValueError("systemd: type must be stream (ListenStream=) or datagram (ListenDatagram=)")
    unknown = set(given) - {"domain", "index", "name", "type"}
    if unknown:
        raise ValueError(f"unknown systemd: endpoint argument {sorted(unknown)[0]!r}")
    return given


def _show(value: Any) -> str:
    """
    A value for an error message, never the whole of it: through YAML
    aliases a few lines can stand for a structure of a billion leaves.
    """
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _closest(word: Any, choices: Any) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1) if isinstance(word, str) else []
    return close[0] if close else None


def _didYouMean(word: Any, choices: Any) -> str:
    close = _closest(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


class _NoReactor:
    """
    Endpoint parsers only keep the reactor for later; checking a string must
    not import (and so install) the global reactor before twistd picks one.
    """


def _oneOf(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, not {_show(value)}{_didYouMean(value, choices)}")
        return value

    return check


def _nameList(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a name or a list of names")
    return value


def _severity(value: Any) -> int:
    if not isinstance(value, str) or value not in SEVERITIES:
        raise ValueError(f"expected one of {', '.join(SEVERITIES)}, not {_show(value)}")
    return SEVERITIES.index(value)


def _facilities(value: Any) -> frozenset[int]:
    names = _nameList(value)
    for name in names:
        if name not in FACILITIES:
            raise ValueError(f"unknown facility {name!r}{_didYouMean(name, FACILITIES)} (one of: {', '.join(FACILITIES)})")
    return frozenset(FACILITIES.index(name) for name in names)


def _regex(value: Any) -> re.Pattern[bytes]:
    if not isinstance(value, str):
        raise ValueError("expected a regular expression")
    try:
        return re.compile(value.encode("utf-8"))
    except re.error as e:
        raise ValueError(f"bad regular expression: {e}") from None


def _template(value: Any) -> str:
    """
    Check a template once, when the configuration loads: its syntax and its
    field names.
    """
    if not isinstance(value, str) or not value:
        raise ValueError("expected a template string such as \"{time} {hostname} {message}\"")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as e:
        raise ValueError(f"bad template: {e}") from None
    for name in names:
        if name not in RECORD_FIELDS:
            raise ValueError(f"unknown field {{{name}}} (fields: {', '.join(RECORD_FIELDS)})")
    try:
        value.format_map({name: "" for name in RECORD_FIELDS})
    except (ValueError, KeyError, IndexError) as e:
        raise ValueError(f"bad template: {e}") from None
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError("a name is letters, digits, '_', '.' and '-', starting with a letter or digit")
    return value


def _positiveInt(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("expected a whole number greater than zero")
    return int(value)


def _fileMode(value: Any) -> int:
    """
    Permissions in octal, as chmod takes them: C{640}, C{0640} or C{"0640"}
    all mean rw-r-----.
    """
    text = getattr(value, "text", value)
    if isinstance(value, bool) or not isinstance(text, str):
        raise ValueError(f"expected permissions in octal such as 0640, not {_show(value)}")
    digits = text.strip().lower().removeprefix("0o")
    if not re.fullmatch(r"[0-7]{1,4}", digits) or int(digits, 8) > 0o777:
        raise ValueError(f"expected permissions in octal from 0 to 0777 such as 0640, not {_show(value)}")
    return int(digits, 8)


def _uid(value: Any) -> int:
    return _account(value, "user", lambda name: pwd.getpwnam(name).pw_uid)


def _gid(value: Any) -> int:
    return _account(value, "group", lambda name: grp.getgrnam(name).gr_gid)


def _account(value: Any, what: str, lookUp: Callable[[str], int]) -> int:
    """A user or group by name (looked up now, so a typo fails the check) or by number."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return int(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a {what} name or number, not {_show(value)}")
    try:
        return lookUp(value)
    except KeyError:
        raise ValueError(f"no {what} named {value!r} on this machine") from None


def _banner(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value.encode("utf-8")


def _protocol(value: Any, base: str) -> tuple[str, type | None]:
    """
    A built-in protocol, or a custom class imported like any Python module:
    from logd's environment, C{PYTHONPATH}, or (searched last, so it shadows
    nothing) the configuration file's directory.
    """
    if isinstance(value, str) and value in BUILTIN_PROTOCOLS:
        return value, None
    if not isinstance(value, str) or ":" not in value:
        raise ValueError(
            f"unknown protocol {_show(value)}{_didYouMean(value, BUILTIN_PROTOCOLS)} "
            f"(one of: {', '.join(BUILTIN_PROTOCOLS)}, or \"package.module:Class\")"
        )
    moduleName, _, className = value.partition(":")
    if base not in sys.path:
        sys.path.append(base)
    try:
        module = importlib.import_module(moduleName)
    except Exception as e:
        raise ValueError(f"cannot import {moduleName!r}: {e}") from None
    cls = getattr(module, className, None)
    if not isinstance(cls, type):
        raise ValueError(f"module {moduleName!r} has no class {className!r}")
    return value, cls


def _sinkList(value: Any, spec: _Map, where: str, sinkNames: set[str], problems: _Problems) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("expected a list of sink names")
    line = spec.keyLines["sinks"]
    if not all(isinstance(name, str) for name in value):
        raise ValueError("expected a list of sink names")
    unknown = [name for name in value if name not in sinkNames]
    for name in unknown:
        problems.add(line, f"{where}.sinks", f"unknown sink {name!r}{_didYouMean(name, sinkNames)}")
    if unknown:
        return None  # type: ignore[return-value]
    return tuple(dict.fromkeys(value))


def _reportDuplicates(node: Any, where: str, problems: _Problems, seen: set[int] | None = None) -> None:
    """
    Report duplicate keys, visiting each node once: a node that YAML
    aliases share is reported under the first path that reaches it, so
    nested aliases (the "billion laughs") cost their size in the file, not
    the size they expand to.
    """
    if seen is None:
        seen = set()
    if not isinstance(node, (_Map, _Seq)) or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, _Map):
        for line, key in node.duplicates:
            problems.add(line, _join(where, key), "duplicate key")
        for key, value in node.items():
            _reportDuplicates(value, _join(where, key), problems, seen)
    else:
        for index, value in enumerate(node):
            _reportDuplicates(value, f"{where}[{index}]", problems, seen)


def load(path: str) -> Config:
    """
    Read and check a configuration file.

    @raise ConfigError: with every problem found, each naming the file,
        the line and the key.
    """
    problems = _Problems(path)
    try:
        with open(path, "rb") as f:
            loader = _Loader(f)
            try:
                data = loader.get_single_data()
            finally:
                loader.dispose()
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror}"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise ConfigError([f"{where}: YAML syntax error: {getattr(e, 'problem', None) or e}"]) from None
    _reportDuplicates(data, "", problems)
    if not isinstance(data, _Map):
        raise ConfigError(problems.lines + [f"{path}:1: expected a mapping with sinks and listeners"])
    checker = _Checker(path, data, problems)
    checker.keys(data, "", (), ("sinks", "listeners", "max_partial_bytes", "admin", "stats_interval"))
    maxPartialBytes = checker.value(data, "max_partial_bytes", "", parseSize, DEFAULT_MAX_PARTIAL_BYTES)
    statsInterval = checker.value(data, "stats_interval", "", parseDuration)
    admin = checker.admin()
    sinkNames = set(data["sinks"]) if isinstance(data.get("sinks"), dict) else set()
    sinks = checker.sinks()
    listeners = checker.listeners(sinkNames)
    rawListeners = data.get("listeners") if isinstance(data.get("listeners"), list) else []
    checker.checkFilterListeners({spec.get("name") for spec in rawListeners if isinstance(spec, dict)})
    if problems.lines:
        raise ConfigError(problems.lines)
    return Config(
        path=path,
        sinks=sinks,
        listeners=listeners,
        maxPartialBytes=maxPartialBytes,
        admin=admin,
        statsInterval=statsInterval,
    )
