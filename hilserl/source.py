"""Which code a run ran: the Python source of hilserl (and of the package that called it), file by
file, so that a long experiment can say what made its figures and refuse to mix two versions.

A sweep's runs start one after another over hours, each in a fresh process that imports the source
as it is on disk at that moment: an edit or a ``git checkout`` in the meantime silently gives the
later runs other code than the earlier ones, and seeded runs that should repeat do not. The
executors (``hilserl.sweep.executors``) take the fingerprint when the sweep starts and each run checks
it before it begins.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SHOWN_CHANGES = 5
"""Changed files named in a refusal; the rest are counted."""
GIT_TIMEOUT_S = 10.0


class SourceChanged(RuntimeError):
    """The source on disk differs from the one a sweep started with."""


def package_root(module: str) -> Path | None:
    """The folder of ``module``'s top-level package, or None for a module outside any package
    (a script, ``__main__``)."""
    top = module.split(".")[0]
    spec = importlib.util.find_spec(top) if top and top != "__main__" else None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class SourceFingerprint:
    """Per package, a digest of each of its ``.py`` files (by path within the package)."""

    files: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, *modules: str) -> "SourceFingerprint":
        """The source of hilserl and of the packages of ``modules`` (a benchmark's, say)."""
        files = {}
        for name in dict.fromkeys(("hilserl", *modules)):
            root = package_root(name)
            if root is not None:
                files[root.name] = {str(p.relative_to(root)): _digest(p) for p in sorted(root.rglob("*.py"))}
        return cls(files)

    @classmethod
    def of_this_process(cls) -> "SourceFingerprint":
        """hilserl's source and that of the package whose module this process runs (``python -m
        benchmarks.x`` adds ``benchmarks``)."""
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        return cls.of(*([spec.name] if spec is not None and spec.name else []))

    @property
    def digest(self) -> str:
        h = hashlib.blake2b(digest_size=8)
        for package, files in sorted(self.files.items()):
            for path, digest in sorted(files.items()):
                h.update(f"{package}/{path}:{digest}\n".encode())
        return h.hexdigest()

    def changes_since(self, earlier: "SourceFingerprint") -> list[str]:
        """Files added, removed or edited since ``earlier``, as ``package/path``."""
        changed = []
        for package in sorted(set(self.files) | set(earlier.files)):
            now, then = self.files.get(package, {}), earlier.files.get(package, {})
            changed += [f"{package}/{p}" for p in sorted(set(now) | set(then)) if now.get(p) != then.get(p)]
        return changed

    def require_same(self, started: "SourceFingerprint", what: str = "this run") -> None:
        """Raise :class:`SourceChanged` when the source differs from ``started``'s."""
        changed = self.changes_since(started)
        if changed:
            shown = ", ".join(changed[:SHOWN_CHANGES])
            more = f" and {len(changed) - SHOWN_CHANGES} more" if len(changed) > SHOWN_CHANGES else ""
            raise SourceChanged(
                f"the source changed since the sweep started ({shown}{more}): {what} would run other code than "
                "the runs before it, and their figures would not compare. Restore that source, or start the "
                "sweep again (finished runs are kept)")

    def describe(self) -> dict[str, object]:
        """For a result file: the digest, and the git commit of the checkout the source is in (with
        whether it has uncommitted changes), where it is one."""
        info: dict[str, object] = {"source_digest": self.digest}
        root = package_root("hilserl")
        commit = _git(root.parent, "rev-parse", "HEAD") if root is not None else None
        if commit:
            dirty = _git(root.parent, "status", "--porcelain", "--untracked-files=no", "--", *sorted(self.files))
            info.update(commit=commit, uncommitted_changes=bool(dirty))
        return info


def _digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()


def _git(where: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def run_checked(fn, started: SourceFingerprint, item):
    """``fn(item)`` in a sweep's worker, once the source on disk is checked to be ``started``'s."""
    SourceFingerprint.of(*started.files).require_same(started, f"the run of {item!r}"[:200])
    return fn(item)
