"""What a sweep runs: each variant of the base config (one value per ``--vary`` field, all
combinations) with each seed, and where each run's folder and result go.

``OUT/<variant>/seed_<N>/`` is the run's folder (checkpoints, logs) and ``OUT/<variant>/seed_<N>.json``
its result, written by the sweep's driver once the run has ended: a sweep started again skips the runs
that have a result and resumes the others from their latest checkpoint.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

BASE_VARIANT = "base"
"""The variant's name when nothing is varied."""


class SweepSpecError(ValueError):
    """A ``--vary`` that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class SweepRun:
    variant: str
    seed: int
    overrides: tuple[str, ...]
    """The base overrides, then the variant's."""
    config: Path | None
    run_dir: Path
    result_file: Path
    eval_episodes: int
    threads: int

    @property
    def name(self) -> str:
        return f"{self.variant} seed {self.seed}"

    def finished(self) -> bool:
        return self.result_file.exists()


def split_values(text: str) -> list[str]:
    """``a,b,c`` into its values; commas inside brackets or quotes belong to a value (``[16,16]``)."""
    values, depth, quoted, current = [], 0, False, ""
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "[{":
            depth += 1
        elif not quoted and ch in "]}":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            values.append(current)
            current = ""
        else:
            current += ch
    values.append(current)
    return [v.strip() for v in values]


def parse_vary(items: list[str]) -> list[tuple[str, list[str]]]:
    """``["train.updates_per_env_step=1,4", ...]`` into ``[(field, values), ...]``: no value empty or
    repeated, each field named once (the values themselves are checked by loading each variant's config)."""
    fields: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, rest = item.partition("=")
        key = key.strip()
        if not sep or not key or not rest.strip():
            raise SweepSpecError(f"--vary {item!r}: expected FIELD=VALUE1,VALUE2 (e.g. train.updates_per_env_step=1,4)")
        values = split_values(rest)
        if not all(values):
            raise SweepSpecError(f"--vary {item!r}: an empty value")
        if any(key == k for k, _ in fields):
            raise SweepSpecError(f"--vary names {key} twice: give all its values in one --vary {key}=A,B")
        if len(set(values)) != len(values):
            raise SweepSpecError(f"--vary {item!r}: a value is repeated")
        fields.append((key, values))
    return fields


def variant_name(assignments: list[tuple[str, str]]) -> str:
    """A folder name that says the variant: ``updates_per_env_step=4+hidden_dims=[16,16]`` (each field's
    last part; the full names are in the result file)."""
    if not assignments:
        return BASE_VARIANT
    name = "+".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in assignments)
    return name.replace("/", "_").replace(" ", "").replace('"', "")


def plan_sweep(out: Path, seeds: list[int], vary: list[str], overrides: list[str], config: Path | None,
               eval_episodes: int, threads: int) -> list[SweepRun]:
    """Every run of the sweep, variant by variant, seed by seed."""
    if len(set(seeds)) != len(seeds):
        raise SweepSpecError(f"a seed is repeated in {seeds}")
    fields = parse_vary(vary)
    combos = itertools.product(*[[(key, v) for v in values] for key, values in fields])
    runs = []
    for assignments in combos:
        variant = variant_name(list(assignments))
        extra = tuple(f"{key}={value}" for key, value in assignments)
        for seed in seeds:
            folder = Path(out) / variant
            runs.append(SweepRun(variant, seed, (*overrides, *extra), config, folder / f"seed_{seed}",
                                 folder / f"seed_{seed}.json", eval_episodes, threads))
    names = [r.variant for r in runs]
    if len({n.lower() for n in names}) != len(set(names)):
        raise SweepSpecError("two variants differ only in letter case: their folders would collide")
    return runs
