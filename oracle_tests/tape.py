"""The tape: every call a check made to the adapter, with copies of what went in and out.

Recording is off in a normal run, so a passing implementation pays nothing for it. When
a check fails, the plugin runs it once more with the tape on (hypothesis replays the
failing example), and the diagnosis (diagnosis.py) replays the tape on the reference.

One `Recorded` object per factory call (a layer, a loss, an optimizer), holding its
calls in order; `order` interleaves the calls of every object as they happened. The
tape is reset at the start of each hypothesis example, so after a failure it holds
the failing example only.
"""

from dataclasses import dataclass, field

import numpy as np

# A tape longer than this stops recording (the finite-difference checks make thousands
# of calls): the diagnosis then replays the prefix, which is still a valid replay.
MAX_BYTES = 256 * 2**20


@dataclass
class Call:
    """One call to an adapter object: method ("forward", "backward", "grads", "step"),
    the arguments, and the output, or the exception's type name if it raised."""

    method: str
    args: tuple
    out: object = None
    raised: str | None = None
    wrote: tuple = ()  # the indices of the arguments it wrote into


@dataclass
class Recorded:
    """One object an adapter factory built: the factory, its arguments, its calls."""

    factory: str
    args: tuple
    call: str  # the factory call in words, e.g. "maxpool2d(2, 2)"
    index: int  # its place in Tape.objects
    calls: list[Call] = field(default_factory=list)
    # The adapter's own factory, so the diagnosis can build the layer again with one
    # thing changed (signatures.py: does it agree with stride 1? on a square input?).
    maker: object = field(default=None, repr=False, compare=False)


class Tape:
    def __init__(self):
        self.recording = False
        self.reset()

    def reset(self) -> None:
        self.objects: list[Recorded] = []
        self.order: list[tuple[int, int]] = []  # (object index, call index) in time order
        self.nbytes = 0
        self.truncated = False

    def _room(self, *values) -> bool:
        self.nbytes += sum(_nbytes(v) for v in values)
        if self.nbytes > MAX_BYTES:
            self.truncated = True
        return not self.truncated

    def built(self, factory: str, args: tuple, call: str, maker=None) -> Recorded | None:
        """Record a factory call; returns its record (None when not recording)."""
        if not self.recording:
            return None
        args = copied(args)
        if not self._room(args):
            return None
        self.objects.append(Recorded(factory, args, call, len(self.objects), maker=maker))
        return self.objects[-1]

    def called(self, rec: Recorded | None, method: str, args, out=None, raised=None, wrote=()):
        """Record one call to the object of `rec` (nothing if it was not recorded)."""
        if rec is None or not self.recording or self.truncated:
            return
        args, out = copied(args), copied(out)
        if not self._room(args, out):
            return
        rec.calls.append(Call(method, args, out, raised, wrote))
        self.order.append((rec.index, len(rec.calls) - 1))


def copied(value):
    """A deep copy of arrays (keeping their memory order), lists, tuples and dicts."""
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True, order="K")
    if isinstance(value, list | tuple):
        return type(value)(copied(v) for v in value)
    if isinstance(value, dict):
        return {k: copied(v) for k, v in value.items()}
    return value


def _nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, list | tuple):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return 0


TAPE = Tape()
