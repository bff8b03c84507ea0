"""A run's config against HIL-SERL's reference values, parameter by parameter.

Each parameter of a run's config is compared with the HIL-SERL reference value and marked
``equal``, ``different``, ``missing`` (not set in the file, so hilserl's default is used), ``n/a``
(a setting the run's env does not use) or, for another system's config, ``unmapped`` (it has no such
setting), with one
line on why a difference matters. The reference values are those of DESIGN.md (the paper and
rail-berkeley/hil-serl's launcher).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hilserl.config import Config, applies, from_dict, to_dict


@dataclass(frozen=True)
class Reference:
    path: str
    """Dotted path in our config."""
    value: Any
    why: str
    measured: str = ""
    """What the departure did when measured (``docs/experiments.md``), quoted next to a difference."""
    at_reference: bool = False
    """``measured`` is a cost of the reference value itself: quoted for a config that keeps it too."""


REFERENCE = (
    Reference("agent.discount", 0.97, "a higher discount lengthens the horizon and slows value propagation of the sparse reward"),
    Reference("agent.temperature_init", 0.01, "a higher temperature makes human interventions less effective and slows learning"),
    Reference("agent.backup_entropy", False, "an entropy bonus in the target inflates values of long episodes (LeRobot turns it on)",
              measured="on the simulated grasp (state only, 5,000 env steps, 3 seeds) it cut grid success from 90% "
                       "to 70% and tripled the gap between the cube's regions (6 to 17 points): "
                       "python -m benchmarks.log_ablation, docs/experiments.md 2026-12-01"),
    Reference("agent.critic_ensemble_size", 2, "the target takes the min over the ensemble: its size sets how pessimistic it is"),
    Reference("agent.critic_subsample_size", None, "sub-sampling the ensemble (REDQ-style) changes the target's pessimism"),
    Reference("agent.hidden_dims", [256, 256], "network size changes capacity and update cost"),
    Reference("agent.activation", "tanh", "HIL-SERL's MLPs use tanh"),
    Reference("agent.use_layer_norm", True, "LayerNorm in the critic curbs value overestimation with demo data (RLPD)"),
    Reference("agent.actor_lr", 3e-4, "all networks learn at 3e-4 in HIL-SERL"),
    Reference("agent.critic_lr", 3e-4, "all networks learn at 3e-4 in HIL-SERL"),
    Reference("agent.temperature_lr", 3e-4, "all networks learn at 3e-4 in HIL-SERL"),
    Reference("agent.soft_target_update_rate", 0.005, "a faster target update destabilises the critic"),
    Reference("agent.target_entropy", None, "None means -action_dim/2, HIL-SERL's target entropy"),
    Reference("agent.batch_size", 256, "batch 256, half online and half demo"),
    Reference("agent.critic_actor_ratio", 2, "more critic steps per actor step is fine but costs compute",
              measured="the log's UTD 20 (state only, 5,000 env steps; 20 critic steps per env step against 4) cut "
                       "grid success from 91, 96 and 83% to 59, 78 and 61% on three seeds (mean 90% to 66%), "
                       "the value gap rising from +0.15 to +0.24: python -m benchmarks.log_ablation --settings utd20, "
                       "docs/experiments.md 2026-12-02"),
    Reference("agent.augmentation", True, "without random crops a frozen encoder lets the critic memorise pixels",
              measured="on the simulated grasp from images (4,000 env steps, one seed each) it cut success from 92% "
                       "to 75% over 100 random resets and from 83% to 75% over the hardest, with longer episodes and "
                       "a larger value gap (+0.24 against +0.16): python -m benchmarks.grasp_images, "
                       "docs/experiments.md 2026-12-02"),
    Reference("agent.crop_padding", 4, "HIL-SERL's batched_random_crop pads by 4 pixels"),
    Reference("agent.encoder.freeze", True, "HIL-SERL freezes the pretrained ResNet-10 and trains the spatial embeddings on top"),
    Reference("agent.encoder.num_spatial_features", 8, "spatial learned embeddings keep where things are in the image"),
    Reference("buffer.online_capacity", 200_000, "a small online buffer forgets early successes",
              measured="scaled to a 5,000-step state-only run (the last 70% kept, as the log's 30,000 of ~42,000), "
                       "grid success 85% against 90% over 3 seeds, within their spread, the region gap 15 points "
                       "against 6: python -m benchmarks.log_ablation --settings small_buffer, docs/experiments.md "
                       "2026-12-02"),
    Reference("buffer.demo_ratio", 0.5, "RLPD draws half of each batch from the demo buffer"),
    Reference("env.control_hz", 10.0, "HIL-SERL's tasks run at 10 Hz"),
    Reference("env.action_scale", 0.02, "a coarse step limits fine adjustments near the cube"),
    Reference("env.reward.min_steps_before_success", 30,
              "too low lets a brief false positive end the episode; too high makes a fast grasp hold the object "
              "until then, at a step count the policy does not observe",
              measured="at 30, on our grasp from images (8 crops, seed 2, 100 random resets), 4 of 12 failures were "
                       "cubes held 16 to 23 steps and dropped at steps 26 to 29; graded with 10, the same policy "
                       "succeeds on 92% instead of 88%: docs/experiments.md 2026-12-03",
              at_reference=True),
    Reference("env.reward.consecutive_success_frames", 10, "consecutive frames filter single-frame classifier errors"),
    Reference("train.demo_episodes", 20, "20-30 demonstrations seed the demo buffer in the paper"),
)


@dataclass(frozen=True)
class AuditRow:
    path: str
    reference: Any
    value: Any
    status: str
    why: str
    measured: str = ""
    at_reference: bool = False
    source: str = ""
    """Where the value came from, for a config that is not ours (a LeRobot field, its default, its code)."""


def _get(tree: dict[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def audit(raw: dict[str, Any]) -> list[AuditRow]:
    """Compare a config as written in a file (``raw``, possibly partial) with the reference."""
    cfg = from_dict(Config, raw)
    effective = to_dict(cfg)
    rows = []
    for ref in REFERENCE:
        present, _ = _get(raw, ref.path)
        _, value = _get(effective, ref.path)
        section, _, name = ref.path.partition(".")
        if section == "env" and not applies(name, cfg.env):
            status = "n/a"  # the run's env sets this itself: no value of ours to compare
        elif not present:
            status = "missing"
        else:
            status = "equal" if same(value, ref.value) else "different"
        rows.append(AuditRow(ref.path, ref.value, value, status, ref.why, ref.measured, ref.at_reference))
    return rows


def load_raw(path: Path) -> dict[str, Any]:
    """A config file, or a run folder holding ``config.json``."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    return json.loads(path.read_text())


def format_table(rows: list[AuditRow]) -> str:
    mark = {"equal": "✓", "different": "✗", "missing": "?", "n/a": "-", "unmapped": "·"}
    width = max(len(r.path) for r in rows)
    lines = [f"{'parameter':<{width}}  {'HIL-SERL':>12}  {'this config':>12}  status"]
    for r in rows:
        lines.append(f"{r.path:<{width}}  {str(r.reference):>12}  {str(r.value):>12}  {mark[r.status]} {r.status}")
    diffs = [r for r in rows if r.status == "different"]
    if diffs:
        lines.append("")
        lines.append("Why the differences matter:")
        for r in diffs:
            lines.append(f"- {r.path}: {r.why}")
            if r.measured:
                lines.append(f"  measured: {r.measured}")
    kept = [r for r in rows if r.status in ("equal", "missing") and r.at_reference and r.measured]
    if kept:
        lines.append("")
        lines.append("What the reference value itself costs, measured:")
        for r in kept:
            lines.append(f"- {r.path} = {r.value}: {r.why}")
            lines.append(f"  measured: {r.measured}")
    counts = {s: sum(r.status == s for r in rows) for s in ("equal", "different", "missing", "n/a", "unmapped")}
    lines.append("")
    lines.append(f"{counts['equal']} equal, {counts['different']} different, {counts['missing']} missing"
                 + (f", {counts['n/a']} n/a" if counts["n/a"] else "")
                 + (f", {counts['unmapped']} unmapped" if counts["unmapped"] else ""))
    if counts["missing"]:
        lines.append("missing: not set in the file, so hilserl's default (shown above) is used")
    if counts["unmapped"]:
        lines.append("unmapped: the config's system has no such setting (see where each value comes from above)")
    if counts["n/a"]:
        lines.append("n/a: the run's env sets this itself (env.kind is not 'sim' or 'so101'), so nothing of "
                     "hilserl's applies to compare")
    return "\n".join(lines)
