"""Typed configuration for every part of hilserl, with the HIL-SERL reference values as defaults.

This is the one place where defaults live. Each dataclass validates itself in ``validate()`` and
raises :class:`ConfigError` naming the field and the allowed range, so that a bad value is refused
at start rather than discovered an hour into training.

Units: metres, radians, seconds. Positions are in the arm's base frame (x forward, z up).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from hilserl.threads import MAX_THREADS, resolve_threads

CAMERA_NAMES = ("wrist", "front")
"""Cameras the simulated scene provides: a wrist ("gripper") camera and a front camera."""


class ConfigError(ValueError):
    """A configuration value is out of its allowed range or inconsistent with another."""


def _check_range(name: str, value: float, lo: float, hi: float, *, lo_open: bool = False) -> None:
    ok = (value > lo if lo_open else value >= lo) and value <= hi
    if not ok or (isinstance(value, float) and math.isnan(value)):
        bracket = "(" if lo_open else "["
        raise ConfigError(f"{name} = {value!r} is out of range; allowed {bracket}{lo}, {hi}]")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} = {value!r} is unknown; allowed {', '.join(allowed)}")


def _check_vec(name: str, value: tuple[float, ...], length: int) -> None:
    if len(value) != length:
        raise ConfigError(f"{name} must have {length} values, got {len(value)}: {value!r}")


@dataclass(frozen=True)
class Box3:
    """An axis-aligned box given by its low and high corners."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]

    def validate(self, name: str) -> None:
        _check_vec(f"{name}.low", self.low, 3)
        _check_vec(f"{name}.high", self.high, 3)
        for axis, lo, hi in zip("xyz", self.low, self.high):
            if lo > hi:
                raise ConfigError(f"{name}: low {axis} = {lo} is above high {axis} = {hi}")

    def contains(self, point: tuple[float, ...] | Any, tol: float = 1e-9) -> bool:
        return all(lo - tol <= p <= hi + tol for p, lo, hi in zip(point, self.low, self.high))


@dataclass(frozen=True)
class CameraConfig:
    """One camera: an optional crop of the rendered frame, then a resize to ``size``."""

    name: str
    size: int = 128
    render_size: int = 128
    crop: tuple[int, int, int, int] | None = None
    """(row0, row1, col0, col1) of the rendered frame, for example [0:480, 80:560] of a 640x480 camera."""
    source: str = ""
    """The real arm's camera (``env.kind=so101``): a device index, a device path, or a video file or image
    sequence (``frames/%04d.png``); unused in the simulation."""
    loop: bool = False
    """A file source starts again at its end (replays, the digital twin)."""
    capture_width: int = 0
    capture_height: int = 0
    capture_fps: float = 0.0
    """What the real camera is asked to deliver (0: its own default), before the crop."""

    def validate(self, prefix: str) -> None:
        if self.name not in CAMERA_NAMES:
            raise ConfigError(f"{prefix}.name = {self.name!r} is unknown; allowed {list(CAMERA_NAMES)}")
        _check_range(f"{prefix}.size", self.size, 16, 1024)
        _check_range(f"{prefix}.render_size", self.render_size, 16, 2048)
        if self.crop is not None:
            _check_vec(f"{prefix}.crop", self.crop, 4)
            r0, r1, c0, c1 = self.crop
            if not (0 <= r0 < r1 <= self.render_size and 0 <= c0 < c1 <= self.render_size):
                raise ConfigError(
                    f"{prefix}.crop = {self.crop} must satisfy 0 <= row0 < row1 <= render_size and "
                    f"0 <= col0 < col1 <= render_size (render_size = {self.render_size})"
                )


@dataclass(frozen=True)
class RewardConfig:
    """HIL-SERL's success rules: a success counts only after ``min_steps_before_success`` steps and
    after ``consecutive_success_frames`` frames in a row say success."""

    min_steps_before_success: int = 30
    consecutive_success_frames: int = 10
    success_reward: float = 1.0
    step_reward: float = 0.0
    terminate_on_success: bool = True
    source: Literal["sim", "classifier"] = "sim"
    """Who says "success" per frame: the simulator's truth (cube grasped and lifted) or a learned
    classifier on the camera images (HIL-SERL; ``hilserl train --reward classifier``)."""
    classifier: str = ""
    """Path of a classifier saved by ``hilserl train-classifier`` (its .safetensors file)."""
    classifier_threshold: float = 0.7
    """Probability above which a frame counts as success (HIL-SERL's 0.7)."""

    def validate(self) -> None:
        _check_range("env.reward.min_steps_before_success", self.min_steps_before_success, 0, 10_000)
        _check_range("env.reward.consecutive_success_frames", self.consecutive_success_frames, 1, 10_000)
        _check_range("env.reward.classifier_threshold", self.classifier_threshold, 0.0, 1.0)
        _check_choice("env.reward.source", self.source, ("sim", "classifier"))
        if self.source == "classifier" and not self.classifier:
            raise ConfigError("env.reward.source = 'classifier' needs env.reward.classifier (a file of "
                              "`hilserl train-classifier`)")


@dataclass(frozen=True)
class RobotConfig:
    """The real SO-101 (``env.kind=so101``): its servo bus and its calibration (LeRobot's file format)."""

    port: str = ""
    """The servo bus's serial port, e.g. /dev/ttyACM0."""
    arm_id: str = "follower"
    """The arm's name in LeRobot's calibration folder (``robots/so_follower/<arm_id>.json``)."""
    calibration: str = ""
    """A calibration file; empty: found by ``arm_id`` under HF_LEROBOT_CALIBRATION."""
    max_joint_step: float = 0.25
    """Radians a joint may move per command (2.5 rad/s at 10 Hz; a full-scale 2 cm action needs about
    0.2 rad): no jumps."""
    jump_tolerance: float = 0.5
    """Radians a joint may lag its last command before the arm stops itself (torque off); above
    ``max_joint_step``, since a servo may still be on its way to the last command."""
    leader_port: str = ""
    """The leader arm's bus, for ``--teleop leader``."""
    leader_arm_id: str = "leader"
    """The leader's name in LeRobot's calibration folder (``teleoperators/so_leader/<id>.json``)."""
    leader_calibration: str = ""
    """The leader's calibration file; empty: found by ``leader_arm_id``."""
    learner_timeout_s: float = 30.0
    """An actor on the arm that has not reached its learner for this long stops the arm (torque off):
    nobody is watching the run any more."""
    leader_follows: bool = False
    """While nobody takes over, the leader follows the follower (its torque on), so the hand finds it
    where the follower is."""
    leader_takeover: Literal["space", "always"] = "space"
    """When the leader drives: while the space bar is held (interventions in training), or always
    (recording demonstrations)."""
    guided_placement: bool = False
    """At each reset the cube's place is drawn (the evaluation grid's cells, else uniformly over
    env.cube_region and env.cube_yaw_range), shown on the front camera's image, and the episode starts
    once the person has put the cube there and confirmed; episodes record where it was detected. Needs
    ``hilserl robot table`` first."""
    placement_camera: str = "front"
    """The env.cameras entry that sees the table (the one ``hilserl robot table`` calibrated)."""
    placement_pose: tuple[float, float, float] = (0.12, 0.10, 0.15)
    """Where the fingertip waits while the cube is put (m, base frame): out of that camera's way, since the
    gripper above the cube region hides cubes from a front camera."""
    placement_tolerance_m: float = 0.01
    placement_tolerance_deg: float = 10.0
    """How far the cube may lie from its drawn place for the episode to start."""

    def validate(self) -> None:
        _check_range("env.robot.max_joint_step", self.max_joint_step, 0.0, 0.5, lo_open=True)
        _check_range("env.robot.jump_tolerance", self.jump_tolerance, 0.0, 1.5, lo_open=True)
        _check_range("env.robot.learner_timeout_s", self.learner_timeout_s, 0.0, 3600.0, lo_open=True)
        _check_vec("env.robot.placement_pose", self.placement_pose, 3)
        _check_range("env.robot.placement_tolerance_m", self.placement_tolerance_m, 0.0, 0.1, lo_open=True)
        _check_range("env.robot.placement_tolerance_deg", self.placement_tolerance_deg, 0.0, 45.0, lo_open=True)
        if self.jump_tolerance <= self.max_joint_step:
            raise ConfigError(f"env.robot.jump_tolerance = {self.jump_tolerance} must be above env.robot.max_joint_step "
                              f"= {self.max_joint_step}: a servo may lag its last command by one step")


SIM, SO101 = "sim", "so101"
"""The two env kinds that ``EnvConfig``'s own settings configure: the simulated grasp, the real arm."""
ENV_SCOPES: dict[str, tuple[str, ...]] = {
    "control_hz": (SIM, SO101), "episode_seconds": (SIM, SO101), "physics_timestep": (SIM,),
    "action_scale": (SIM, SO101), "ee_base": (SIM, SO101), "ee_reset_offset": (SIM, SO101),
    "ee_bounds": (SIM, SO101), "cube_region": (SIM, SO101), "cube_yaw_range": (SIM, SO101),
    "front_back_split_x": (SIM, SO101), "cube_size": (SIM, SO101), "cube_lift_height": (SIM,),
    "jaw_yaw_action": (SIM,), "yaw_action_scale": (SIM,),
    "cameras": (SIM, SO101), "state_only": (SIM, SO101),
    "robot": (SO101,),
}
"""The env kinds each ``env.*`` field applies to; a field not named applies to every env (``kind``,
``grasp_penalty`` on an env with a gripper). Any other env sets these itself: a value set for it is
refused (``hilserl.envs.declared``)."""
SUCCESS_RULES = ("reward.min_steps_before_success", "reward.consecutive_success_frames")
"""hilserl's success rules: they judge the simulated grasp's and the real arm's frames, and a
classifier's on any env; another env with its own success keeps its own rule."""


def applies(path: str, env: "EnvConfig") -> bool:
    """Does ``env.<path>`` (``control_hz``, ``reward.min_steps_before_success``...) configure the env
    that ``env`` names?"""
    if path in SUCCESS_RULES:
        return env.kind in (SIM, SO101) or env.reward.source == "classifier"
    return env.kind in ENV_SCOPES.get(path.split(".")[0], (env.kind,))


def applied_settings(env: "EnvConfig") -> dict[str, Any]:
    """``env``'s fields that configure its env, as JSON data: what a recording of it should say."""
    data = to_dict(env)
    data["reward"] = {k: v for k, v in data["reward"].items() if applies(f"reward.{k}", env)}
    return {k: v for k, v in data.items() if applies(k, env)}


@dataclass(frozen=True)
class EnvConfig:
    """Which env a run uses (``kind``) and, for the simulated grasp task, its settings. Defaults
    follow HIL-SERL's reference set-up, adapted to the SO-101's reach.

    HIL-SERL's reference base EE pose on an SO-101 is [0.25, 0.0, 0.03] m. Ours is the fingertip site of the
    simulated SO-101, whose wrist-flex limit allows a top-down gripper only up to about x = 0.25 m at
    z = 0.06 m; the base is moved 4 cm closer to the base and 2 cm up so that the whole reset range
    (+-3 cm, +-3 cm, +-2 cm, the reference) is reachable top-down and starts the open jaws above the
    cube. ``hilserl diagnose`` and the README explain the difference.
    """

    kind: str = "sim"
    """``sim``: the simulated SO-101 grasp task configured by the fields below; otherwise a gymnasium
    env id whose entry point is importable (``module:Class``, or registered, e.g. by ``import hilserl``),
    made with its own defaults; it must keep the env contract (``hilserl check-env``)."""
    grasp_penalty: float = -0.02
    """Added to the grasp critic's reward when a gripper command changes the gripper's state (envs with
    a discrete gripper only)."""
    grasp_penalty_on: Literal["change", "release"] = "change"
    """Which commands pay ``grasp_penalty``: "change" (every change of the gripper's state, HIL-SERL's)
    or "release" (an open after a close only: the grasp itself is free, chatter still pays)."""
    control_hz: float = 10.0
    episode_seconds: float = 8.0
    physics_timestep: float = 0.002
    action_scale: float = 0.02
    """Metres per step for an action of 1.0 on an axis."""
    ee_base: tuple[float, float, float] = (0.21, 0.0, 0.05)
    ee_reset_offset: tuple[float, float, float] = (0.03, 0.03, 0.02)
    """Half-width of the uniform random offset added to ``ee_base`` at reset."""
    ee_bounds: Box3 = Box3(low=(0.12, -0.10, 0.008), high=(0.27, 0.10, 0.075))
    """Workspace bounds the end effector is clipped to, whatever the action."""
    cube_region: Box3 = Box3(low=(0.16, -0.05, 0.0), high=(0.26, 0.05, 0.0))
    """Where the cube's centre is placed at reset (z is ignored: it rests on the table)."""
    cube_yaw_range: float = math.pi / 4
    """Cube yaw is uniform in [-range, range]."""
    front_back_split_x: float = 0.21
    """Cubes with x above this are 'front' (far from the base, hard), below are 'back' (easy)."""
    cube_size: float = 0.025
    cube_lift_height: float = 0.02
    """Height above its resting height at which the held cube counts as lifted."""
    jaw_yaw_action: bool = False
    """The action gains a wrist-roll delta before the gripper command, ``[dx, dy, dz, dyaw, gripper]``,
    so that the jaws can turn to meet a turned cube face to face. Without it they stay square to the
    table, and a cube turned towards 45 degrees is gripped near its corners."""
    yaw_action_scale: float = 0.2
    """Radians the jaws turn per step for a yaw action of 1.0 (``jaw_yaw_action``)."""
    cameras: tuple[CameraConfig, ...] = (CameraConfig("wrist"), CameraConfig("front"))
    state_only: bool = False
    """No cameras; the state carries the cube's true pose (privileged) for fast tests and ablations."""
    observe_elapsed: bool = False
    """Append the elapsed share of the episode (steps since the reset over the env's time limit) to the
    state, on any env: the time limit and a success rule that counts steps are otherwise hidden from
    the critics (``hilserl.envs.elapsed``)."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)

    @property
    def max_episode_steps(self) -> int:
        return int(round(self.episode_seconds * self.control_hz))

    @property
    def substeps(self) -> int:
        return int(round(1.0 / (self.control_hz * self.physics_timestep)))

    def validate(self) -> None:
        if not self.kind.strip():
            raise ConfigError("env.kind is empty: 'sim' or a gymnasium env id")
        _check_range("env.grasp_penalty", self.grasp_penalty, -1.0, 0.0)
        _check_range("env.control_hz", self.control_hz, 0.0, 1000.0, lo_open=True)
        _check_range("env.episode_seconds", self.episode_seconds, 0.0, 3600.0, lo_open=True)
        _check_range("env.physics_timestep", self.physics_timestep, 0.0, 0.02, lo_open=True)
        _check_range("env.action_scale", self.action_scale, 0.0, 0.1, lo_open=True)
        _check_vec("env.ee_base", self.ee_base, 3)
        _check_vec("env.ee_reset_offset", self.ee_reset_offset, 3)
        for axis, off in zip("xyz", self.ee_reset_offset):
            _check_range(f"env.ee_reset_offset[{axis}]", off, 0.0, 0.2)
        self.ee_bounds.validate("env.ee_bounds")
        self.cube_region.validate("env.cube_region")
        reset_low = tuple(round(b - o, 6) for b, o in zip(self.ee_base, self.ee_reset_offset))
        reset_high = tuple(round(b + o, 6) for b, o in zip(self.ee_base, self.ee_reset_offset))
        if not (self.ee_bounds.contains(reset_low) and self.ee_bounds.contains(reset_high)):
            raise ConfigError(
                f"env.ee_base +- env.ee_reset_offset spans {reset_low}..{reset_high}, which leaves the "
                f"workspace env.ee_bounds {self.ee_bounds.low}..{self.ee_bounds.high}"
            )
        for axis in range(2):
            lo, hi = self.cube_region.low[axis], self.cube_region.high[axis]
            if lo < self.ee_bounds.low[axis] or hi > self.ee_bounds.high[axis]:
                raise ConfigError(
                    f"env.cube_region {'xy'[axis]} range [{lo}, {hi}] leaves the workspace "
                    f"env.ee_bounds [{self.ee_bounds.low[axis]}, {self.ee_bounds.high[axis]}]: "
                    "the gripper could never reach such a cube"
                )
        _check_range("env.cube_yaw_range", self.cube_yaw_range, 0.0, math.pi)
        _check_range("env.cube_size", self.cube_size, 0.01, 0.05)
        _check_range("env.cube_lift_height", self.cube_lift_height, 0.0, 0.1, lo_open=True)
        _check_range("env.yaw_action_scale", self.yaw_action_scale, 0.0, 1.0, lo_open=True)
        if self.kind == SIM and abs(self.control_hz * self.physics_timestep * self.substeps - 1.0) > 1e-6:
            raise ConfigError(
                f"env.physics_timestep = {self.physics_timestep} must divide the control period "
                f"1/env.control_hz = {1.0 / self.control_hz} a whole number of times"
            )
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise ConfigError(f"env.cameras names must be unique, got {names}")
        if not self.state_only and not self.cameras:
            raise ConfigError("env.cameras is empty: give at least one camera, or set env.state_only")
        for i, cam in enumerate(self.cameras):
            cam.validate(f"env.cameras[{i}]")
        self.reward.validate()
        self.robot.validate()

    def camera_with_source(self, name: str) -> CameraConfig | None:
        """The camera ``name`` of ``cameras`` if it has a source to open (a real camera), else None."""
        return next((c for c in self.cameras if c.name == name and c.source), None)


Strategy = Literal["brief", "takeover", "none"]
DemoPlacement = Literal["grid", "random"]


@dataclass(frozen=True)
class HumanConfig:
    """The simulated human who intervenes. ``brief`` is the paper's advice, ``takeover`` its
    anti-pattern (long interventions that finish the task), ``none`` never intervenes."""

    strategy: Strategy = "brief"
    explore_seconds: tuple[float, float] = (2.0, 3.0)
    """The policy acts alone for a time (s) drawn uniformly from this range. The timings are in
    seconds, counted in the env's own steps at its rate, so that a correction does as much on an env
    at 50 Hz as at 10 Hz."""
    correction_seconds: float = 0.4
    """Length of one brief correction (s)."""
    drift_threshold: float = 0.04
    """A brief correction starts when the gripper is farther than this (m) from the cube and moving
    away from it, or when it has made no progress towards the cube for ``stall_seconds``."""
    drift_speed: float = 0.02
    """Speed away from the cube (m/s) that counts as moving away: 2 mm a step at 10 Hz."""
    stall_seconds: float = 1.0
    """Time (s) without 5 mm of progress towards the cube after which a brief correction starts."""
    cooldown_seconds: float = 0.5
    """Time (s) the policy acts alone after a brief correction before another may start."""
    prob_start: float = 1.0
    """Probability that the human watches a given episode, at the first episode..."""
    prob_end: float = 0.2
    """...decaying linearly to this value..."""
    decay_episodes: int = 200
    """...over this many episodes."""

    def validate(self) -> None:
        _check_choice("human.strategy", self.strategy, ("brief", "takeover", "none"))
        lo, hi = self.explore_seconds
        if not 0 <= lo <= hi:
            raise ConfigError(f"human.explore_seconds = {self.explore_seconds} must satisfy 0 <= low <= high")
        _check_range("human.correction_seconds", self.correction_seconds, 0.0, 100.0, lo_open=True)
        _check_range("human.drift_threshold", self.drift_threshold, 0.0, 1.0)
        _check_range("human.drift_speed", self.drift_speed, 0.0, 10.0)
        _check_range("human.stall_seconds", self.stall_seconds, 0.0, 1000.0, lo_open=True)
        _check_range("human.cooldown_seconds", self.cooldown_seconds, 0.0, 100.0)
        _check_range("human.prob_start", self.prob_start, 0.0, 1.0)
        _check_range("human.prob_end", self.prob_end, 0.0, 1.0)
        _check_range("human.decay_episodes", self.decay_episodes, 1, 10**9)


@dataclass(frozen=True)
class EncoderConfig:
    """Per camera: frozen ResNet-10 -> spatial learned embeddings -> dropout -> Dense + LayerNorm + tanh."""

    backbone: Literal["resnet10"] = "resnet10"
    weights: str = "default"
    """'default': the project's own weights pre-trained on simulated frames (``hilserl pretrain-encoder``,
    found in the cache without a network); a path to a .safetensors file; a Hugging Face hub id such
    as 'helper2424/resnet10' (downloads, so online only); or 'random' for none."""
    freeze: bool = True
    """Unfreezing the encoder is ``freeze=false`` (needs ``agent.feature_cache=false``)."""
    num_spatial_features: int = 8
    image_latent_dim: int = 256
    state_latent_dim: int = 64
    dropout: float = 0.1

    def validate(self) -> None:
        _check_range("agent.encoder.num_spatial_features", self.num_spatial_features, 1, 64)
        _check_range("agent.encoder.image_latent_dim", self.image_latent_dim, 1, 4096)
        _check_range("agent.encoder.state_latent_dim", self.state_latent_dim, 1, 4096)
        _check_range("agent.encoder.dropout", self.dropout, 0.0, 0.9)


@dataclass(frozen=True)
class AgentConfig:
    """SAC with a critic ensemble and a discrete grasp critic: HIL-SERL's reference values."""

    discount: float = 0.97
    temperature_init: float = 0.01
    target_entropy: float | None = None
    """None: -arm_action_dims / 2 (HIL-SERL)."""
    backup_entropy: bool = False
    critic_ensemble_size: int = 2
    critic_subsample_size: int | None = None
    hidden_dims: tuple[int, ...] = (256, 256)
    activation: Literal["tanh", "relu"] = "tanh"
    use_layer_norm: bool = True
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    temperature_lr: float = 3e-4
    grasp_critic_lr: float = 3e-4
    grasp_temperature: float = 0.0
    """Exploration of the gripper command while training: commands drawn with probabilities
    softmax(Q / grasp_temperature) of the grasp critic's values, in reward units; 0: always the best
    (HIL-SERL). A greedy grasp critic never tries a command it undervalues, so an early near-tie
    between staying open and closing at the object can stall for good; drawn commands try the
    near-ties and almost never one far worse (opening on a held object). Evaluation stays greedy."""
    grasp_demo_margin: float = 0.05
    """DQfD's large-margin loss on the grasp critic, in reward units: on rows from the demo buffer
    (demos and interventions), every other command's value plus this margin is pushed below the
    demonstrated command's; 0: none (HIL-SERL). Where the task's reward cannot tell two commands apart
    (closing at the object now or a few steps later succeeds at the same step under a success rule that
    waits), the grasp critic's near-tie is otherwise settled by its noise and the penalty, which favours
    waiting, and a greedy grasp critic can stall at the object for good: the margin settles it as the
    demonstrator did (measured on every task with a gripper: docs/experiments.md, 2026-12-06)."""
    grasp_demo_margin_rows: Literal["all", "changes", "effects"] = "changes"
    """Which commands the margin holds below the demonstrated one (``hilserl.agent.sac.margin_against``):
    "all", every other command on every demo row; "changes", every other command on the rows whose
    command changed the gripper's state (those that paid the grasp penalty: the demonstrator's decisions
    to close and to open), none on the others; "effects", every row, against only the commands that
    would leave the gripper otherwise than the demonstrated one does (close against an open that kept
    the jaws open), so that two commands with the same effect are never set apart. On every row, the
    margin also pushes "close" down all along the approach, and the policy learns to close wherever the
    demos were at the object's height, beside it or not; on the decisions only it does not."""
    actor_demo_bc: float = 1.0
    """Weight of behaviour cloning in the actor's loss: on rows from the demo buffer (demos and
    interventions), the squared distance of the actor's mean from the shown arm action, kept only where
    the critic values the shown action above the actor's draw (Nair et al. 2018's Q-filter); 0: none
    (HIL-SERL). The critic's values tell a grasp centred on the object from one a few millimetres off
    only after many updates; the demonstrator shows it from the first (measured on every task:
    docs/experiments.md, 2026-12-06)."""
    eval_actions: Literal["mean", "sample"] = "mean"
    """How the trained policy moves the arm when it is graded or deployed (``hilserl eval``, the closing
    report): "mean", the actor's mean action; "sample", drawn from the actor as while training, with a
    stream seeded per evaluation, as HIL-SERL's evaluation acts (``argmax=False``). The gripper takes the
    grasp critic's best command either way. A mean that stalls a few millimetres from the object stays
    stalled; a draw can move it on. Changeable at evaluation: ``hilserl eval --set agent.eval_actions=sample``."""
    soft_target_update_rate: float = 0.005
    policy_average_rate: float = 0.001
    """Rate of the policy's weight average (encoder heads, actor, grasp critic, critic ensemble), moved
    towards the live weights by this much after every update (more in a run's first updates:
    ``hilserl.agent.sac.AVERAGE_WARMUP``): the policy that is graded, deployed and
    exported; training acts with the live weights. Late in training the live policy swings between
    updates, so that one snapshot's grade is a draw (docs/experiments.md); the average, over about
    1 / rate updates, swings less. 0: no average (at evaluation, ``--set agent.policy_average_rate=0``
    grades a checkpoint's live weights)."""
    critic_actor_ratio: int = 2
    """Critic updates per actor update (HIL-SERL 2)."""
    batch_size: int = 256
    std_min: float = 1e-5
    std_max: float = 5.0
    augmentation: bool = True
    """Random crop with edge padding ``crop_padding`` on every image of every batch."""
    crop_padding: int = 4
    feature_cache: bool = True
    """Encode ``cache_crops`` random crops of each frame once, when it enters the buffer, with the
    frozen backbone; batches then sample among them. False: exact per-batch crops and encoding."""
    cache_crops: int = 4
    cache_dtype: Literal["float16", "uint8"] = "float16"
    """How cached feature maps are stored. ``uint8``: 8 bits a value, scaled per crop and channel to the
    channel's maximum, 0.56 of float16's bytes; the values move by about a thousandth of their spread,
    over a hundred times less than between two crops of one frame (tests/test_data.py)."""
    demo_cache_crops: int | None = None
    """Crops cached per frame in the demo buffer; None: ``cache_crops``. Half of every batch comes
    from a few hundred demo frames, each drawn several times as often as an online frame: this sets
    how often one demo crop repeats, at little memory (measured before raising it: docs/experiments.md)."""
    normalize_state: bool = True
    """Standardise each state dimension with the demonstrations' mean and std (fixed for the run)."""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """The learner's device (networks, feature-cache encoding, batches); ``auto``: CUDA, else MPS, else
    the CPU. Actors act on the CPU. Runs on different devices do not repeat each other exactly."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    @property
    def keeps_policy_average(self) -> bool:
        """Whether the agent keeps a weight average, which then acts as the trained policy."""
        return self.policy_average_rate > 0

    def validate(self) -> None:
        _check_range("agent.discount", self.discount, 0.0, 1.0, lo_open=True)
        _check_range("agent.temperature_init", self.temperature_init, 0.0, 100.0, lo_open=True)
        _check_range("agent.critic_ensemble_size", self.critic_ensemble_size, 1, 100)
        if self.critic_subsample_size is not None:
            _check_range("agent.critic_subsample_size", self.critic_subsample_size, 1, self.critic_ensemble_size)
        if not self.hidden_dims or any(h < 1 for h in self.hidden_dims):
            raise ConfigError(f"agent.hidden_dims = {self.hidden_dims} must be a non-empty list of positive sizes")
        for name in ("actor_lr", "critic_lr", "temperature_lr", "grasp_critic_lr"):
            _check_range(f"agent.{name}", getattr(self, name), 0.0, 1.0, lo_open=True)
        _check_range("agent.grasp_temperature", self.grasp_temperature, 0.0, 100.0)
        _check_range("agent.grasp_demo_margin", self.grasp_demo_margin, 0.0, 100.0)
        _check_choice("agent.grasp_demo_margin_rows", self.grasp_demo_margin_rows, ("all", "changes", "effects"))
        _check_range("agent.actor_demo_bc", self.actor_demo_bc, 0.0, 1000.0)
        _check_choice("agent.eval_actions", self.eval_actions, ("mean", "sample"))
        _check_range("agent.soft_target_update_rate", self.soft_target_update_rate, 0.0, 1.0, lo_open=True)
        _check_range("agent.policy_average_rate", self.policy_average_rate, 0.0, 1.0)
        _check_range("agent.critic_actor_ratio", self.critic_actor_ratio, 1, 1000)
        _check_range("agent.batch_size", self.batch_size, 2, 65536)
        _check_range("agent.crop_padding", self.crop_padding, 0, 32)
        _check_range("agent.cache_crops", self.cache_crops, 1, 64)
        _check_choice("agent.cache_dtype", self.cache_dtype, ("float16", "uint8"))
        if self.demo_cache_crops is not None:
            _check_range("agent.demo_cache_crops", self.demo_cache_crops, 1, 64)
        _check_range("agent.std_min", self.std_min, 0.0, 100.0, lo_open=True)
        if self.std_min >= self.std_max:
            raise ConfigError(f"agent.std_min = {self.std_min} must be under agent.std_max = {self.std_max}")
        if self.feature_cache and not self.encoder.freeze:
            raise ConfigError(
                "agent.feature_cache = true needs agent.encoder.freeze = true: cached features come from "
                "a frozen backbone. Set agent.feature_cache=false to fine-tune the encoder."
            )
        self.encoder.validate()


@dataclass(frozen=True)
class BufferConfig:
    online_capacity: int = 200_000
    demo_capacity: int = 50_000
    demo_ratio: float = 0.5
    """Share of each batch drawn from the demo buffer (RLPD: half)."""

    def validate(self) -> None:
        _check_range("buffer.online_capacity", self.online_capacity, 1, 10**8)
        _check_range("buffer.demo_capacity", self.demo_capacity, 1, 10**8)
        _check_range("buffer.demo_ratio", self.demo_ratio, 0.0, 1.0)


@dataclass(frozen=True)
class DetourConfig:
    """Detours in the expert's demos (DART's noise injection, Laskey et al. 2017): now and then the
    arm moves in a random direction at full speed for ``seconds`` while the gripper does what the
    expert commands, then the expert recovers. Its own path only shows the commands it gives on that
    path; after a detour the demos also show them from poses it never passes through by itself (low
    beside the cube with the jaws open: rise, do not close), which a margin on the demonstrated
    gripper command needs to set a close apart by position, not by height alone."""

    rate: float = 0.0
    """Detours started per second of a demo (each step's chance: rate / control rate); 0: none."""
    seconds: float = 0.2
    """How long a detour lasts (at least one step)."""

    def validate(self) -> None:
        _check_range("train.demo_detours.rate", self.rate, 0.0, 100.0)
        _check_range("train.demo_detours.seconds", self.seconds, 0.0, 60.0, lo_open=True)


@dataclass(frozen=True)
class CurriculumConfig:
    """A reset-range curriculum (a fix for a policy stuck on easy cubes):
    cubes start in a narrow range around the centre of ``env.cube_region`` (and of the yaw range),
    which widens by ``step`` each time success over the last ``window`` episodes reaches
    ``success_threshold``, up to the full range."""

    enabled: bool = False
    start_fraction: float = 0.25
    """Share of the full range (half-extents and yaw) used at first."""
    step: float = 0.25
    success_threshold: float = 0.7
    window: int = 20

    def validate(self) -> None:
        _check_range("train.curriculum.start_fraction", self.start_fraction, 0.0, 1.0, lo_open=True)
        _check_range("train.curriculum.step", self.step, 0.0, 1.0, lo_open=True)
        _check_range("train.curriculum.success_threshold", self.success_threshold, 0.0, 1.0)
        _check_range("train.curriculum.window", self.window, 1, 10_000)


@dataclass(frozen=True)
class TrainConfig:
    env_steps: int = 15_000
    learning_starts: int = 100
    """Online transitions before the first update (HIL-SERL: 100)."""
    updates_per_env_step: int = 2
    """Learner updates (each: ``critic_actor_ratio`` critic steps and one actor step) per env step,
    when actor and learner share one process. HIL-SERL's learner runs asynchronously and does several
    updates per 10 Hz env step (SERL's examples use an update-to-data ratio of 8)."""
    demo_episodes: int = 20
    demo_placement: DemoPlacement = "grid"
    """Where the recorded demos put the cube: 'grid' spreads them over the whole reset range, edges
    and corners included (the largest square grid that fits, the rest random; rotations spread over
    the yaw range), so that no part of the range lacks an example; 'random' draws them as training
    resets do. Demos are half of every batch: with 20 random ones, corners go unshown and the
    policy missed cubes there."""
    demo_dir: str = ""
    """Demonstrations to load; '' = ``<run_dir>/demos``, recorded with the scripted expert if absent."""
    demo_detours: DetourConfig = field(default_factory=DetourConfig)
    log_every: int = 100
    """Learner updates between step-metric lines (the ``Step N: critic=...`` lines)."""
    checkpoint_every: int = 2_000
    """Learner updates between full checkpoints (``checkpoints/ckpt_<update>.pt``, buffers included)."""
    keep_checkpoints: int = 3
    """The last this many checkpoints are kept."""
    params_every: int = 50
    """Learner updates between parameter pushes to actors (HIL-SERL's steps_per_update: 50)."""
    actor_queue: int = 2_000
    """Transitions an actor holds while the learner is away; when full the oldest is dropped (and
    counted): 2,000 is 200 s at 10 Hz, about 400 MB with two 128x128 cameras."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)

    def validate(self) -> None:
        self.curriculum.validate()
        self.demo_detours.validate()
        _check_range("train.env_steps", self.env_steps, 1, 10**9)
        _check_range("train.learning_starts", self.learning_starts, 1, 10**9)
        _check_range("train.updates_per_env_step", self.updates_per_env_step, 0, 1000)
        _check_range("train.demo_episodes", self.demo_episodes, 0, 100_000)
        _check_choice("train.demo_placement", self.demo_placement, ("grid", "random"))
        _check_range("train.log_every", self.log_every, 1, 10**9)
        _check_range("train.checkpoint_every", self.checkpoint_every, 1, 10**9)
        _check_range("train.keep_checkpoints", self.keep_checkpoints, 1, 1000)
        _check_range("train.params_every", self.params_every, 1, 10**9)
        _check_range("train.actor_queue", self.actor_queue, 1, 10**7)


@dataclass(frozen=True)
class ClassifierConfig:
    """The reward classifier: frozen backbone (``agent.encoder``'s weights), a small trainable head
    per camera, trained on labelled frames (``hilserl record-classifier-data``)."""

    positives: int = 200
    negatives: int = 1000
    """Frames to record per class (the paper: about 200 positives and 1000 negatives)."""
    num_spatial_features: int = 8
    latent_dim: int = 64
    hidden_dim: int = 64
    dropout: float = 0.2
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    crops: int = 4
    """Random crops per training frame, encoded once (pad ``crop_padding``, as the agent)."""
    crop_padding: int = 4
    validation_share: float = 0.2
    """Share of the recorded episodes held out (whole episodes: their frames are alike)."""
    min_per_class: int = 20
    accuracy_goal: float = 0.95
    """Validation accuracy under which training warns (HIL-SERL: above 95% before RL)."""

    def validate(self) -> None:
        _check_range("classifier.positives", self.positives, 1, 10**6)
        _check_range("classifier.negatives", self.negatives, 1, 10**6)
        _check_range("classifier.epochs", self.epochs, 1, 10_000)
        _check_range("classifier.batch_size", self.batch_size, 1, 10**5)
        _check_range("classifier.crops", self.crops, 1, 64)
        _check_range("classifier.crop_padding", self.crop_padding, 0, 32)
        _check_range("classifier.validation_share", self.validation_share, 0.0, 0.9, lo_open=True)
        _check_range("classifier.min_per_class", self.min_per_class, 1, 10**6)
        _check_range("classifier.dropout", self.dropout, 0.0, 0.9)


@dataclass(frozen=True)
class PretrainConfig:
    """``hilserl pretrain-encoder``: the ResNet-10 backbone trained on rendered simulation frames to
    regress the cube's and the gripper's pose. These defaults made the shipped weights. A backbone
    trained on fewer frames or steps reads the cube's yaw less well; one trained on more reads it
    better; the policies trained on either grasp less often (docs/experiments.md), so the regression's
    validation score alone does not choose a backbone."""

    frames: int = 6000
    steps: int = 1500
    batch_size: int = 48
    lr: float = 1e-3
    crop_padding: int = 4
    max_episode_frames: int = 40
    """Frames are taken from the first steps of episodes driven by a mix of expert and noise."""
    expert_share: float = 0.6
    seed: int = 0


@dataclass(frozen=True)
class DeclaredEnv:
    """What the run's env does, as the env declares it (filled when a run starts; empty before): its
    rate and episode length, its cameras, its gripper and the reset options it takes."""

    kind: str = ""
    """The ``env.kind`` these facts are of."""
    control_hz: float = 0.0
    episode_steps: int = 0
    cameras: tuple[str, ...] = ()
    """``name HxW`` per camera image."""
    gripper: bool = False
    reset_options: tuple[str, ...] = ()
    """Reset options the env takes (``reset_scale``: the curriculum narrows its start)."""


@dataclass(frozen=True)
class Config:
    """Everything a run needs. ``hilserl <command> --config FILE --set env.action_scale=0.03``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    human: HumanConfig = field(default_factory=HumanConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    declared_env: DeclaredEnv = field(default_factory=DeclaredEnv)
    """Recorded by the run, not set: what its env really does (``hilserl.envs.declared``)."""
    seed: int = 0
    threads: int = 0
    """Torch threads of each process of the run (learner, actor). 0: half the cores, at least one
    (``hilserl.threads``); a run records the count it used here, since a seeded run reproduces only
    at the same count."""

    def validate(self) -> None:
        _check_range("threads", self.threads, 0, MAX_THREADS)
        self.env.validate()
        self.human.validate()
        self.agent.validate()
        self.buffer.validate()
        self.train.validate()
        self.classifier.validate()
        reads_changes = self.agent.grasp_demo_margin > 0 and self.agent.grasp_demo_margin_rows != "all"
        if reads_changes and (self.env.grasp_penalty == 0 or self.env.grasp_penalty_on != "change"):
            raise ConfigError(
                f"agent.grasp_demo_margin_rows = {self.agent.grasp_demo_margin_rows!r} tells a command that changed "
                "the gripper by the grasp penalty it paid, which needs env.grasp_penalty < 0 and "
                f"env.grasp_penalty_on = 'change' (got {self.env.grasp_penalty}, {self.env.grasp_penalty_on!r}); "
                "set agent.grasp_demo_margin_rows=all or agent.grasp_demo_margin=0")
        if self.train.learning_starts > self.train.env_steps:
            raise ConfigError(f"train.learning_starts = {self.train.learning_starts} is above train.env_steps = "
                              f"{self.train.env_steps}: the run would end before its first update")


T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


MOVED_FIELDS = {("agent", "grasp_penalty"): ("env", "grasp_penalty")}
"""Fields that moved, read at their old place from the configs of older runs."""
STEPS_TO_SECONDS = {"explore_steps": "explore_seconds", "correction_steps": "correction_seconds",
                    "cooldown_steps": "cooldown_seconds"}
"""Simulated-human timings that older runs counted in steps, read as seconds at the run's own rate."""


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a config from a (possibly partial) dict over the defaults. Unknown keys are refused, and
    every value is checked against its field's type (booleans are true or false, whole numbers are
    whole, choices are among the allowed ones, lists have their length), naming the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected an object of fields, got {data!r}")
    if cls is Config:
        data = _moved(data)
    return _merge(cls(), data, cls.__name__)  # type: ignore[call-arg]


def _moved(data: dict[str, Any]) -> dict[str, Any]:
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for (old, name), (new, new_name) in MOVED_FIELDS.items():
        if isinstance(data.get(old), dict) and name in data[old]:
            value = data[old].pop(name)
            if isinstance(data.setdefault(new, {}), dict):
                data[new].setdefault(new_name, value)
    human, env = data.get("human"), data.get("env")
    if isinstance(human, dict):
        hz = env.get("control_hz", EnvConfig.control_hz) if isinstance(env, dict) else EnvConfig.control_hz
        for old, new in STEPS_TO_SECONDS.items():
            if old in human and isinstance(hz, (int, float)) and hz > 0:
                steps = human.pop(old)
                human.setdefault(new, [n / hz for n in steps] if isinstance(steps, list) else steps / hz)
    return data


def _merge(template: Any, data: dict[str, Any], path: str) -> Any:
    names = {f.name for f in dataclasses.fields(template)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {sorted(unknown)}; known: {sorted(names)}")
    hints = typing.get_type_hints(type(template))
    return dataclasses.replace(
        template, **{k: _coerce(hints[k], getattr(template, k), v, f"{path}.{k}") for k, v in data.items()}
    )


def _refuse(path: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{path.partition('.')[2] or path} = {value!r}: expected {expected}")


def _coerce(hint: Any, template: Any, value: Any, path: str) -> Any:
    """``value`` as the field's type ``hint``, or a ConfigError naming the field and what it takes."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, template, value, path)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _refuse(path, f"an object of fields {sorted(f.name for f in dataclasses.fields(hint))}", value)
        return _merge(template if dataclasses.is_dataclass(template) else hint(name=value.get("name")), value, path)
    if origin is typing.Literal:
        if value not in args:
            raise _refuse(path, "one of " + ", ".join(repr(a) for a in args), value)
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _refuse(path, "a list", value)
        if len(args) == 2 and args[1] is Ellipsis:
            kinds = [args[0]] * len(value)
            items = list(template) if isinstance(template, tuple) else []
        else:
            if len(value) != len(args):
                raise _refuse(path, f"a list of {len(args)} values", value)
            kinds, items = list(args), []
        def start(i: int, v: Any) -> Any:  # a named element (a camera) starts from its own defaults
            named = isinstance(v, dict) and "name" in v
            return items[i] if i < len(items) and not named else None

        return tuple(_coerce(kind, start(i, v), v, f"{path}[{i}]") for i, (kind, v) in enumerate(zip(kinds, value)))
    if hint is bool:
        if not isinstance(value, bool):
            raise _refuse(path, "true or false (JSON, lower case)", value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(path, "a whole number", value)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(path, "a number", value)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _refuse(path, "a string", value)
        return value
    raise TypeError(f"{path}: no check for fields of type {hint!r}")


def apply_overrides(cfg: T, overrides: list[str]) -> T:
    """Apply ``a.b.c=value`` strings; values are JSON where they parse, else strings."""
    data = to_dict(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"override {item!r}: no config section {part!r}")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"override {item!r}: unknown field {parts[-1]!r}; known: {sorted(node)}")
        node[parts[-1]] = value
    return from_dict(type(cfg), data)


def load_config(path: Path | None = None, overrides: list[str] | None = None, base: Config | None = None) -> Config:
    """``base`` (default: the defaults), then the fields the file at ``path`` gives, then ``overrides``."""
    cfg = base or Config()
    if path is not None:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected an object of fields, got {data!r}")
        cfg = _merge(cfg, _moved(data), "Config")
    cfg = apply_overrides(cfg, overrides or [])
    cfg.validate()
    return cfg


def pin_threads(cfg: Config) -> Config:
    """``cfg`` with its thread count resolved (0 becomes the machine's default), as a run records it."""
    return dataclasses.replace(cfg, threads=resolve_threads(cfg.threads))


def save_json(cfg: Any, path: Path) -> None:
    path.write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
