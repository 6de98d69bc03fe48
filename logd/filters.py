"""
Sink filters: which records of a batch reach a sink.

A sink with no filter takes whole batches untouched (the fast path).  A
filter first decides what it can for the whole batch (its listener), then,
only if it must, looks at records one by one: severity and facility need a
syslog record's parsed fields, C{match} a regular expression search of the
message as received.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing import Sequence

from logd.fields import SyslogFields
from logd.records import Batch
from logd.syslog import SyslogMessage


@dataclass(frozen=True)
class Filter:
    """
    @ivar severity: the least urgent severity code that passes (C{warning}
        is 4: codes 0 to 4 pass).  Records without a severity (not syslog)
        do not pass a severity or facility filter.
    @ivar facilities: facility codes that pass.
    @ivar listeners: listener names whose records pass.
    @ivar match: a pattern searched for in the message bytes.
    """

    severity: int | None = None
    facilities: frozenset[int] | None = None
    listeners: frozenset[str] | None = None
    match: re.Pattern[bytes] | None = None

    def select(self, batch: Batch) -> Batch | None:
        """
        The batch of records that pass, or L{None} if none does.
        """
        if self.listeners is not None and batch.listener not in self.listeners:
            return None
        if self.severity is None and self.facilities is None and self.match is None:
            return batch
        fields = batch.fields
        needsSyslog = self.severity is not None or self.facilities is not None
        if needsSyslog and not isinstance(fields, SyslogFields):
            return None
        parsed = fields.parsed() if needsSyslog else None
        keep = [index for index, message in enumerate(batch.messages) if self._passes(message, parsed, index)]
        if not keep:
            return None
        if len(keep) == len(batch.messages):
            return batch
        messages = batch.messages
        return Batch(batch.time, batch.listener, batch.peer, [messages[i] for i in keep], _subset(fields, keep))

    def _passes(self, message: bytes, parsed: list[SyslogMessage] | None, index: int) -> bool:
        if parsed is not None:
            record = parsed[index]
            if self.severity is not None and record.severity > self.severity:
                return False
            if self.facilities is not None and record.facility not in self.facilities:
                return False
        return self.match is None or self.match.search(message) is not None


def _subset(fields: Sequence[dict] | None, keep: list[int]) -> Sequence[dict] | None:
    if fields is None:
        return None
    if isinstance(fields, SyslogFields):
        return fields.subset(keep)
    return [fields[i] for i in keep]
