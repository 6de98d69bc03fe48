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
from functools import cached_property
from itertools import compress
from typing import Sequence

from logd.fields import SyslogFields
from logd.records import Batch


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
        messages = batch.messages
        if self.severity is None and self.facilities is None:
            keep = [index for index, message in enumerate(messages) if self.match.search(message) is not None]  # type: ignore[union-attr]
        elif not isinstance(fields, SyslogFields):
            return None
        else:
            # One byte per record, 1 where its priority passes: the whole
            # decision in C, with no parse and no Python call per record.
            passing = fields.priorities().translate(self._passingPriorities)
            if self.match is None and passing and 0 not in passing:
                return batch
            keep = list(compress(range(len(passing)), passing))
            if self.match is not None:
                search = self.match.search
                keep = [index for index in keep if search(messages[index]) is not None]
        if not keep:
            return None
        if len(keep) == len(messages):
            return batch
        return batch._replace(messages=[messages[i] for i in keep], fields=_subset(fields, keep))

    @cached_property
    def _passingPriorities(self) -> bytes:
        """A bytes.translate table: priority (facility * 8 + severity) to 1 if it passes, else 0."""
        return bytes(
            (self.severity is None or pri & 7 <= self.severity)
            and (self.facilities is None or pri >> 3 in self.facilities)
            for pri in range(256)
        )


def _subset(fields: Sequence[dict] | None, keep: list[int]) -> Sequence[dict] | None:
    if fields is None:
        return None
    if isinstance(fields, SyslogFields):
        return fields.subset(keep)
    return [fields[i] for i in keep]
