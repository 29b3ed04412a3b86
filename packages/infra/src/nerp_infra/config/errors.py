"""One error type for every configuration problem.

A user fixing a config needs three things: which file, which key and why. Pydantic's
errors know the key but not the file (sections come from different files and ``--set``
flags), so the loader folds them into a :class:`ConfigError` that carries all three.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigProblem", "KeyedValueError", "did_you_mean"]


@dataclass(frozen=True)
class ConfigProblem:
    """One problem: where it is (file and dotted key path) and why it is wrong."""

    file: str
    key_path: str
    reason: str

    def __str__(self) -> str:
        if self.key_path:
            return f"{self.file}: {self.key_path}: {self.reason}"
        return f"{self.file}: {self.reason}"


class ConfigError(ValueError):
    """A configuration that cannot be used, with every problem found in one message.

    ``file``, ``key_path`` and ``reason`` describe the first problem; ``problems`` holds
    all of them, and ``str()`` prints one ``<file>: <key.path>: <reason>`` line each.
    """

    def __init__(
        self,
        file: str,
        key_path: str,
        reason: str,
        *,
        more: Sequence[ConfigProblem] = (),
    ) -> None:
        first = ConfigProblem(file=file, key_path=key_path, reason=reason)
        self.problems: tuple[ConfigProblem, ...] = (first, *more)
        self.file = file
        self.key_path = key_path
        self.reason = reason
        super().__init__("\n".join(str(problem) for problem in self.problems))

    @classmethod
    def from_problems(cls, problems: Sequence[ConfigProblem]) -> ConfigError:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        first, *rest = problems
        return cls(first.file, first.key_path, first.reason, more=rest)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``; did you mean 'x'?`` suffix for the closest candidate, or a list of valid ones.

    Misspelt keys are the most common config mistake; naming the intended key (or, when
    nothing is close, the valid keys) saves a trip to the documentation.
    """
    options = sorted(set(candidates))
    if not options:
        return ""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid keys: {', '.join(options)}"


class KeyedValueError(ValueError):
    """A validator's complaint about one key *below* the field it validates.

    Pydantic reports a field validator's error at the field (``hpo.search_space``); the
    loader appends ``sub_path`` so the user reads ``hpo.search_space.batch_size``.
    """

    def __init__(self, sub_path: Sequence[str | int], reason: str) -> None:
        self.sub_path = tuple(sub_path)
        self.reason = reason
        super().__init__(f"{'.'.join(str(part) for part in self.sub_path)}: {reason}")
