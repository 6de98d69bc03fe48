"""
The C{logd} command: C{logd check CONFIG...}, C{logd send --to ENDPOINT} and
C{logd status}.

The daemon itself runs under twistd (C{twistd -n logd --config FILE}); this
command is for checking a configuration before a restart, and for sending
lines from a shell without reaching for nc.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from logd import __version__
from logd.config import ConfigError, load

CHUNK = 65536


def check(path: str) -> int:
    """
    Print what the configuration would start, or every problem with it.
    Nothing is bound or opened.
    """
    try:
        config = load(path)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(e.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{path}: OK")
    for sink in config.sinks.values():
        print("  " + sink.describe())
    for listener in config.listeners:
        print("  " + listener.describe())
    return 0


class _StdinToStream(Protocol):
    """
    Standard input's side of C{send}: forward what it reads to the network
    connection, then half-close it at end of input.
    """

    def __init__(self, network: "_Stream") -> None:
        self.network = network

    def dataReceived(self, data: bytes) -> None:
        self.network.transport.write(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.network.transport.unregisterProducer()
        self.network.transport.loseWriteConnection()


class _Stream(Protocol):
    """
    The network side: once connected, read standard input with the
    connection as its consumer (so a slow server slows the reading), and
    finish when the server closes after our half-close: by then it has read
    everything we sent.
    """

    def __init__(self, done: Deferred) -> None:
        self.done = done

    def connectionMade(self) -> None:
        from twisted.internet import stdio

        stdin = stdio.StandardIO(_StdinToStream(self))
        self.transport.registerProducer(stdin, True)

    def dataReceived(self, data: bytes) -> None:
        """Banners and the like are not ours to print."""

    def connectionLost(self, reason: Failure | None = None) -> None:
        if not self.done.called:
            self.done.callback(None)


_HOST_PORT = re.compile(r"(?:(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):)?(?P<port>\d+)\Z")


def _hostAndPort(rest: str) -> tuple[str, int] | None:
    """
    C{HOST:PORT} or C{[V6ADDR]:PORT}, as people write addresses (Twisted's
    client strings would want the colons of C{::1} escaped), or a bare
    C{PORT} on this machine.
    """
    match = _HOST_PORT.match(rest)
    if match is None:
        return None
    return match.group("v6") or match.group("host") or "127.0.0.1", int(match.group("port"))


def _streamEndpoint(reactor: Any, endpoint: str, tls: "TLSClient | None" = None) -> Any:
    from twisted.internet.endpoints import HostnameEndpoint, clientFromString, wrapClientTLS

    kind, _, rest = endpoint.partition(":")
    target = _hostAndPort(rest) if kind == "tcp" else None
    if target is not None:
        # IPv4, IPv6 and names alike (HostnameEndpoint tries every address).
        connecting = HostnameEndpoint(reactor, target[0].encode("idna"), target[1])
    else:
        connecting = clientFromString(reactor, endpoint)
    if tls is None:
        return connecting
    serverName = tls.serverName or (target[0] if target is not None else None)
    if serverName is None:
        raise ValueError("--tls needs --tls-server-name for this endpoint")
    return wrapClientTLS(tls.options(serverName), connecting)


class TLSClient:
    """
    C{logd send}'s TLS: the server's certificate checked against C{ca} (or
    the system's CAs) and C{serverName}; a client certificate if given.
    """

    def __init__(self, ca: str | None, cert: str | None, key: str | None, serverName: str | None) -> None:
        self.ca, self.cert, self.key, self.serverName = ca, cert, key, serverName

    def options(self, serverName: str) -> Any:
        from twisted.internet import ssl

        trust = ssl.Certificate.loadPEM(_read(self.ca)) if self.ca else ssl.platformTrust()
        client = None
        if self.cert:
            client = ssl.PrivateCertificate.loadPEM(_read(self.cert) + b"\n" + _read(self.key or self.cert))
        return ssl.optionsForClientTLS(serverName, trustRoot=trust, clientCertificate=client)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


async def _sendStream(reactor: Any, endpoint: str, tls: TLSClient | None = None) -> None:
    done: Deferred = Deferred()
    await _streamEndpoint(reactor, endpoint, tls).connect(Factory.forProtocol(lambda: _Stream(done)))
    await done


def _datagramTarget(endpoint: str) -> tuple[str, Any]:
    kind, _, rest = endpoint.partition(":")
    if kind == "udp":
        target = _hostAndPort(rest)
        if target is None:
            raise ValueError("expected udp:HOST:PORT, udp:[IPV6]:PORT")
        return "udp", target
    return "unixgram", rest


def _sendDatagrams(reactor: Any, endpoint: str) -> None:
    """
    One datagram per input line, read with blocking reads: datagrams have
    nothing to wait for, so there is no need for the reactor's help.
    """
    kind, target = _datagramTarget(endpoint)
    import socket

    if kind == "unixgram":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.connect(target)
    else:
        family, _, _, _, address = socket.getaddrinfo(*target, type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.connect(address)
    for line in sys.stdin.buffer:
        sock.send(line)
    sock.close()


def send(endpoint: str, tls: TLSClient | None = None) -> int:
    from twisted.internet import reactor
    from twisted.internet.task import react

    if endpoint.startswith(("udp:", "unixgram:")):
        if tls is not None:
            print(f"logd send: {endpoint}: TLS needs a stream endpoint", file=sys.stderr)
            return 1
        try:
            _sendDatagrams(reactor, endpoint)
        except (OSError, ValueError) as e:
            print(f"logd send: {endpoint}: {e}", file=sys.stderr)
            return 1
        return 0

    status = [0]

    async def main(reactor: Any) -> None:
        try:
            await _sendStream(reactor, endpoint, tls)
        except Exception as e:
            print(f"logd send: {endpoint}: {e}", file=sys.stderr)
            status[0] = 1

    try:
        react(lambda r: Deferred.fromCoroutine(main(r)))
    except SystemExit as e:
        return status[0] or (e.code or 0)
    return status[0]


def _status(url: str | None, configPath: str | None) -> int:
    from logd.admin.status import DEFAULT_URL, status, urlFor

    if url is None:
        import os

        path = configPath or "/etc/logd/logd.yaml"
        if configPath is not None or os.path.exists(path):
            try:
                config = load(path)
            except ConfigError as e:
                print(f"logd status: {e.problems[0]}", file=sys.stderr)
                return 2
            if config.admin is None:
                print(f"logd status: {path} has no admin endpoint (admin: {{endpoint: ...}})", file=sys.stderr)
                return 2
            url = urlFor(config.admin.endpoint)
        else:
            url = DEFAULT_URL
    return status(url)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="logd",
        description="Check logd configurations, send lines to logd, show a running logd's figures. "
        "Run the daemon with: twistd -n logd --config FILE",
    )
    parser.add_argument("--version", action="version", version=f"logd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    checkParser = commands.add_parser("check", help="validate configurations and show what each would start")
    checkParser.add_argument("config", nargs="+")
    sendParser = commands.add_parser("send", help="send standard input's lines to a logd listener")
    sendParser.add_argument(
        "--to",
        required=True,
        metavar="ENDPOINT",
        help="tcp:HOST:PORT, unix:PATH (any Twisted client endpoint), udp:HOST:PORT or unixgram:PATH",
    )
    sendParser.add_argument("--tls", action="store_true", help="talk TLS (implied by the other --tls options)")
    sendParser.add_argument("--tls-ca", metavar="PEM", help="CA certificates to check the server against (default: the system's)")
    sendParser.add_argument("--tls-cert", metavar="PEM", help="a client certificate (and its key, unless --tls-key)")
    sendParser.add_argument("--tls-key", metavar="PEM", help="the client certificate's key")
    sendParser.add_argument("--tls-server-name", metavar="NAME", help="the name the server's certificate must have (default: HOST)")
    statusParser = commands.add_parser("status", help="show a running logd's figures (from its admin endpoint)")
    statusParser.add_argument("--admin", metavar="URL", help="the admin endpoint's URL (default: from --config, else http://127.0.0.1:9140)")
    statusParser.add_argument("--config", metavar="FILE", help="read the admin endpoint from this configuration (default: /etc/logd/logd.yaml)")
    args = parser.parse_args(argv)
    if args.command == "check":
        return max(check(path) for path in args.config)
    if args.command == "status":
        return _status(args.admin, args.config)
    tls = None
    if args.tls or args.tls_ca or args.tls_cert or args.tls_key or args.tls_server_name:
        tls = TLSClient(args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
    return send(args.to, tls)


if __name__ == "__main__":
    sys.exit(main())
