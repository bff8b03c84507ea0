"""Why a failed pick episode failed, from the env's per-step ``grasped`` and ``lifted`` (optional info
keys of the env contract): a policy that never closes on the object, one that closes but never lifts,
and one that lifts and then drops it before the success rule counts it, need different fixes (aim,
the grasp decision, the grasp itself), and a success rate alone does not tell them apart. A policy
that never grasped is told apart further by whether it ever commanded a close and how near it came:
one that sits at the object with its jaws open has a grasp decision to fix, not its aim, and one that
pushed the object away (the arm ran into it) has its approach to fix. Where and
when the first close was commanded, in successes against failures, tells a grasp decided too early
(on the way down, away from the object) from one decided at the object that missed. A drop is told
apart by the jaws' command at the drop: opened (the grasp decision let go) or still shut (the grasp
did not hold, as an off-centre pinch that slips, or the arm lowered the object again).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

NEVER_GRASPED = "never grasped"
NEVER_LIFTED = "grasped, never lifted"
DROPPED = "lifted, then dropped"
HELD_TOO_LATE = "lifted, still held at the end"
"""Held when the episode ran out: lifted too late, or not for long enough, for the success rule."""
MODES = (NEVER_GRASPED, NEVER_LIFTED, DROPPED, HELD_TOO_LATE)
JAWS_OPENED = "opened"
"""A drop with the jaws commanded open at the drop step."""
JAWS_SHUT = "shut"
"""A drop with the jaws commanded shut at the drop step."""
PUSHED_DISTANCE = 0.02
"""How far (m) an object never grasped must have moved from its start to count as pushed by the arm:
well past a nudge of the jaws brushing it, short of the 4 to 6 cm a sweeping approach carries it."""


def _median(values: Sequence[float]) -> float:
    """The upper median (an observed value, as the lines quote it)."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def failure_mode(holds: Sequence[tuple[bool, bool]], close_commands: int | None = None,
                 closest_distance: float | None = None,
                 jaws_shut: Sequence[bool] | None = None,
                 object_moved: float | None = None) -> dict[str, Any] | None:
    """The mode of a failed episode from its per-step (grasped, lifted), with the steps that place it
    (1-based): the first grasp and, once lifted, the longest hold and the step the object was dropped;
    a "never grasped" one with its close commands, closest approach (m) and the farthest the object was
    moved from its start (m, ``object_moved``), a dropped one with the jaws' command at the drop
    (``JAWS_OPENED`` or ``JAWS_SHUT``, from ``jaws_shut``: per step, whether the last open-or-close
    command was "close"), where known. None without the per-step keys."""
    if not holds:
        return None
    grasped = [i + 1 for i, (g, _) in enumerate(holds) if g]
    if not grasped:
        record: dict[str, Any] = {"mode": NEVER_GRASPED}
        if close_commands is not None:
            record["close_commands"] = close_commands
        if closest_distance is not None:
            record["closest_distance"] = round(closest_distance, 4)
        if object_moved is not None:
            record["object_moved"] = round(object_moved, 4)
        return record
    held = [g and lifted for g, lifted in holds]
    if not any(held):
        return {"mode": NEVER_LIFTED, "first_grasp_step": grasped[0]}
    longest = run = 0
    for h in held:
        run = run + 1 if h else 0
        longest = max(longest, run)
    last_held = max(i + 1 for i, h in enumerate(held) if h)
    record = {"first_grasp_step": grasped[0], "longest_hold_steps": longest}
    if held[-1]:
        return {"mode": HELD_TOO_LATE, **record}
    record = {"mode": DROPPED, **record, "dropped_at_step": last_held + 1}
    if jaws_shut is not None and len(jaws_shut) == len(holds):
        record["jaws"] = JAWS_SHUT if jaws_shut[last_held] else JAWS_OPENED
    return record


def modes_line(failures: Sequence[dict[str, Any]]) -> str | None:
    """How many failed episodes (``failure_mode`` records under ``"failure"``) fell in each mode, with
    the median step of the drops and how many had the jaws shut or opened, and, of those never
    grasped, how many never commanded a close and their median closest approach, and how many pushed
    the object away; None when no failure has a mode."""
    modes = [f["failure"] for f in failures if f.get("failure")]
    if not modes:
        return None
    parts = []
    for mode in MODES:
        of_mode = [m for m in modes if m["mode"] == mode]
        if of_mode:
            part = f"{len(of_mode)} {mode}"
            drops = [m["dropped_at_step"] for m in of_mode if "dropped_at_step" in m]
            if drops:
                part += f" (at step {_median(drops)}, median{_drop_detail(of_mode)})"
            if mode == NEVER_GRASPED:
                part += _never_grasped_detail(of_mode)
            parts.append(part)
    return f"why the {len(modes)} failures failed: " + ", ".join(parts)


def _drop_detail(records: Sequence[dict[str, Any]]) -> str:
    """"; 5 with the jaws shut, 2 opened", as far as known."""
    jaws = Counter(r["jaws"] for r in records if "jaws" in r)
    if not jaws:
        return ""
    return f"; {jaws[JAWS_SHUT]} with the jaws shut, {jaws[JAWS_OPENED]} opened"


def _never_grasped_detail(records: Sequence[dict[str, Any]]) -> str:
    """" (18 never commanded a close, within 3 mm of the object at the closest, median; 5 pushed the
    object 2 cm or more, 56 mm median)", as far as known."""
    details = []
    if any("close_commands" in r for r in records):
        idle = [r for r in records if r.get("close_commands") == 0]
        detail = f"{len(idle)} never commanded a close"
        nearest = [r["closest_distance"] for r in idle if "closest_distance" in r]
        if nearest:
            detail += f", within {_median(nearest) * 1000:.0f} mm of the object at the closest, median"
        details.append(detail)
    pushed = [r["object_moved"] for r in records if r.get("object_moved", 0.0) >= PUSHED_DISTANCE]
    if pushed:
        details.append(f"{len(pushed)} pushed the object {PUSHED_DISTANCE * 100:.0f} cm or more, "
                       f"{_median(pushed) * 1000:.0f} mm median")
    return f" ({'; '.join(details)})" if details else ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith("s") else "s")


def first_close_line(episodes: Sequence[dict[str, Any]]) -> str | None:
    """Of evaluated episodes (``episode_record``), the median distance to the object and step of the
    first close command, successes against failures; None when no episode records it."""
    closed = [e for e in episodes if "first_close_step" in e]
    if not closed:
        return None
    parts = []
    for label, group in (("success", [e for e in closed if e["success"]]),
                         ("failure", [e for e in closed if not e["success"]])):
        if not group:
            continue
        where = [e["first_close_distance"] for e in group if "first_close_distance" in e]
        at = f"{_median(where) * 1000:.0f} mm from the object, " if where else ""
        parts.append(f"{at}step {_median([e['first_close_step'] for e in group])} in {_count(len(group), label)}")
    idle = sum(1 for e in episodes if "first_close_step" not in e and not e["success"])
    tail = f" ({_count(idle, 'failure')} never commanded one)" if idle else ""
    return "the first close command, median: " + "; ".join(parts) + tail
