"""Split one manifest over N independent runs (``run --shard K/N``): Slurm arrays, k8s indexed jobs,
CI matrices, with nothing to install and nothing shared but the manifest and ``--out``.

Shards are numbered 1..N. A row belongs to shard ``1 + sha1(row id) mod N`` (the first 8 bytes of
the digest, big-endian), where the row id is the manifest's ``id`` cell or, when that is empty,
``row<n>`` with n the row's data-row number (1 = the first row under the header): exactly the id
the report shows. sha1 rather than Python's ``hash()`` because every process on every machine must
agree whatever PYTHONHASHSEED is. Duplicate ids land in the same shard, so the "duplicate id"
failure is reported by the shard that also runs the original row.

Each shard keeps its own lock, journal and report (``report.K-of-N.csv/.json``), so all shards
can write into one ``--out`` at once; ``attgan-batch report merge`` joins the reports.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_SHARDS = 100_000


def shard_of(row_id: str, count: int) -> int:
    """The 1-based shard of ``row_id`` among ``count`` shards (stable across machines and runs)."""
    digest = hashlib.sha1(row_id.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    index: int  # 1..count
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"the number of shards must be between 1 and {MAX_SHARDS}, got {self.count}")
        if not 1 <= self.index <= self.count:
            hint = (f"; shards are numbered 1..{self.count}: for a 0-based index such as "
                    "$JOB_COMPLETION_INDEX pass $((i+1))" if self.index == 0 else "")
            raise ValueError(f"shard {self.index} of {self.count} does not exist (K must be 1..{self.count}){hint}")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"K/N"`` -> Shard(K, N); ValueError saying what is wrong otherwise."""
        match = _SPEC.match(text or "")
        if not match:
            raise ValueError(f"expected K/N such as 2/8 (shard K of N, K from 1 to N), got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def tag(self) -> str:
        """``K-of-N``: the suffix of this shard's report, journal and lock files."""
        return f"{self.index}-of-{self.count}"

    def owns(self, row_id: str) -> bool:
        return shard_of(row_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def select(items: Iterable[T], shard: Shard | None) -> Iterator[T]:
    """The manifest items (ManifestRow or RowFailure, both carry ``id``) that ``shard`` runs."""
    if shard is None or shard.count == 1:
        yield from items
        return
    for item in items:
        if shard.owns(item.id):
            yield item


def run_tag(shard: Shard | None) -> str:
    """'' for a whole-manifest run, else ``K-of-N`` (used in file names)."""
    return "" if shard is None else shard.tag


def lock_name(shard: Shard | None) -> str:
    return "lock" if shard is None else f"lock.{shard.tag}"


def report_stem(shard: Shard | None) -> str:
    return "report" if shard is None else f"report.{shard.tag}"
