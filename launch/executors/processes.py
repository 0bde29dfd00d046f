"""Child processes of a stage: each in its own session, dying with its parent, its output read line by line.

Shared by the local executor, the Ray executor's loopback head and the multi-node launcher.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import signal
import sys

from launch.stage import OnLine


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In the child before exec: own session and process group, and ``sig`` when the parent dies (Linux prctl)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, sig)


class LineSplitter:
    """Hands each non-blank line of a text stream (``\\n`` or ``\\r`` terminated) to ``on_line``.

    Carriage-return updates of progress bars count as lines; text after the last terminator waits for more.
    """

    def __init__(self, on_line: OnLine) -> None:
        self.on_line, self.pending = on_line, ""

    def feed(self, text: str) -> None:
        *lines, self.pending = (self.pending + text).replace("\r", "\n").split("\n")
        for line in lines:
            if line.strip():
                self.on_line(line)

    def close(self) -> None:
        """The unterminated rest, if any, is a line too."""
        if self.pending.strip():
            self.on_line(self.pending)
        self.pending = ""


def stream_lines(stream, sink, on_line: OnLine | None) -> None:
    """Copy a child's binary output to ``sink`` and hand each line (see :class:`LineSplitter`) to ``on_line``."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    lines = LineSplitter(on_line) if on_line is not None else None
    while chunk := stream.read1(65536):
        sink.write(chunk)
        sink.flush()
        if lines is not None:
            lines.feed(decoder.decode(chunk))
    if lines is not None:
        lines.feed(decoder.decode(b"", final=True))
        lines.close()
