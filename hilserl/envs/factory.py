"""Builds the env a config names (``env.kind``), with the grasp penalty on envs that have a gripper."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from hilserl.config import SIM, SO101, EnvConfig
from hilserl.envs.contract import GripperPenalty, TaskLayout, layout_of
from hilserl.envs.elapsed import ObserveElapsed


class UnknownEnv(ValueError):
    """``env.kind`` names no env that can be made; the message says what was tried."""


def make_env(cfg: EnvConfig, render_mode: str | None = None) -> gym.Env:
    """The env of ``cfg.kind``: the simulated grasp task (``sim``, configured by ``cfg``), or a
    gymnasium env id made with its own defaults. Envs that declare a discrete gripper get
    :class:`GripperPenalty` (``cfg.grasp_penalty``, ``cfg.grasp_penalty_on``); with
    ``cfg.observe_elapsed``, the state ends with the elapsed share of the episode (:class:`ObserveElapsed`)."""
    if cfg.kind == SIM:
        from hilserl.envs.grasp_env import GraspCubeEnv

        env: gym.Env = GraspCubeEnv(cfg, render_mode=render_mode)
    elif cfg.kind == SO101:
        env = make_so101(cfg)
    else:
        try:
            env = gym.make(cfg.kind, render_mode=render_mode) if render_mode else gym.make(cfg.kind)
        except (gym.error.Error, ModuleNotFoundError, ImportError) as exc:
            known = sorted(k for k in gym.registry if k.startswith("hilserl/"))
            raise UnknownEnv(f"env.kind = {cfg.kind!r}: {exc}. Give 'sim', an id registered with gymnasium "
                             f"(hilserl's: {', '.join(known)}), or 'some.module:Id-v0' to import its "
                             "module first") from exc
    if layout_of(env).action.gripper:
        env = GripperPenalty(env, cfg.grasp_penalty, cfg.grasp_penalty_on)
    if cfg.observe_elapsed:
        env = ObserveElapsed(env)
    return env


def make_so101(cfg: EnvConfig) -> gym.Env:
    """The real arm: its bus and calibration, connected (calibration written, torque off), and its
    cameras; the torque goes off again if anything here fails."""
    from hilserl.envs.so101 import cameras as camera_sources
    from hilserl.envs.so101.arm import ArmLimits, SO101Arm
    from hilserl.envs.so101.bus import FeetechBus
    from hilserl.envs.so101.calibration import calibration_file, read_calibration
    from hilserl.envs.so101.env import SO101Env

    robot = cfg.robot
    if not robot.port:
        raise UnknownEnv("env.kind = 'so101' needs env.robot.port (the servo bus, e.g. /dev/ttyACM0)")
    calibration = read_calibration(calibration_file(robot))
    bus = FeetechBus(robot.port)
    arm = SO101Arm(bus, calibration, limits=ArmLimits.of(robot))
    cameras, opened = {}, []  # the observations' cameras; one opened for the guided placement only
    try:
        arm.connect()
        for cam in () if cfg.state_only else cfg.cameras:
            if not cam.source:
                raise UnknownEnv(f"camera {cam.name!r} has no source: set env.cameras[..].source (a device index, "
                                 "path or video file)")
            cameras[cam.name] = camera_sources.open_camera(cam)
        placement = None
        if robot.guided_placement:
            placement, own = _guided_placement(cfg, calibration_file(robot), cameras)
            opened.extend([own] if own is not None else [])
        return SO101Env(cfg, arm, cameras, placement=placement, placement_cameras=opened)
    except BaseException:
        arm.disable()
        for camera in [*cameras.values(), *opened]:
            camera.close()
        bus.close()
        raise


def _guided_placement(cfg: EnvConfig, calibration: Path, cameras: dict):
    """The guided placement of ``env.robot``, from the files ``hilserl robot table`` wrote beside the
    arm's calibration, and the camera it opened for it (None if an observation camera serves)."""
    from hilserl.envs.so101 import cameras as camera_sources
    from hilserl.envs.so101 import guided_placement
    from hilserl.envs.so101.cube_pose import CubeColour, CubeDetector
    from hilserl.envs.so101.table_camera import TableCamera, cube_colour_file, table_file

    robot = cfg.robot
    for needed in (table_file(calibration), cube_colour_file(calibration)):
        if not needed.exists():
            raise FileNotFoundError(f"guided placement needs {needed}: run hilserl robot table first")
    cam = cfg.camera_with_source(robot.placement_camera)
    if cam is None:
        raise UnknownEnv(f"guided placement needs the camera env.robot.placement_camera = {robot.placement_camera!r} "
                         "in env.cameras, with its source")
    own = None if cam.name in cameras else camera_sources.open_camera(cam)
    camera = cameras.get(cam.name, own)
    detector = CubeDetector(TableCamera.load(table_file(calibration)), CubeColour.load(cube_colour_file(calibration)),
                            cfg.cube_size)
    tolerance = guided_placement.Tolerance(robot.placement_tolerance_m, robot.placement_tolerance_deg)
    return guided_placement.GuidedPlacement(camera.frame, detector, guided_placement.WindowPerson(), tolerance), own


def task_layout(cfg: EnvConfig) -> TaskLayout:
    """The layout of ``cfg``'s env, read from an instance made and closed for the purpose (the real
    arm's from its config: a learner must not open the robot)."""
    if cfg.kind == SO101:
        from hilserl.envs.contract import ActionLayout, ObservationLayout
        from hilserl.envs.so101.env import STATE_DIMS

        images = {} if cfg.state_only else {c.name: (c.size, c.size, 3) for c in cfg.cameras}
        return TaskLayout(ObservationLayout(STATE_DIMS + int(cfg.observe_elapsed), images), ActionLayout(3, gripper=True))
    env = make_env(cfg)
    try:
        return layout_of(env)
    finally:
        env.close()


def require_sim(cfg: EnvConfig, purpose: str, instead: str = "run it with env.kind=sim",
                placement: bool = False) -> None:
    """Refuse, saying why and what to do ``instead``, a tool that needs the simulated grasp task's truth
    (cube poses, placements) on another env; with ``placement``, the real arm's guided placement serves."""
    if placement and cfg.kind == SO101 and cfg.robot.guided_placement:
        return
    if cfg.kind != SIM:
        raise UnknownEnv(f"{purpose} needs the simulated grasp task's truth (it places the cube and reads its "
                         f"pose); env.kind = {cfg.kind!r} cannot provide it: {instead}")
