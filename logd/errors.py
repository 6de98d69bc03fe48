"""
Errors that stop logd from starting.
"""


class StartupError(Exception):
    """
    A listener could not bind or a sink could not open its file.

    It is an ordinary exception on purpose: a daemonizing twistd reports it
    to its waiting parent as C{An error has occurred: ...}, where a
    C{SystemExit} would leave the parent waiting forever.  The message is
    one line naming the listener or sink.
    """
