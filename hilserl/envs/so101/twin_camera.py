"""The digital twin's front camera: the twin's MuJoCo model (the arm as its servos move, the table, the
cube) rendered as a USB camera at the front of the table would see it, behind the interface of
:class:`~hilserl.envs.so101.cameras.Camera`. It gives the twin what the real arm's table calibration
and cube detection read; ``true_projection`` is the rendering camera's own matrix, the ground truth
that :class:`SimulatedPerson` clicks with and that measurements compare to."""

from __future__ import annotations

import mujoco
import numpy as np

from hilserl.envs.scene import CAMERA_GEOM_GROUPS
from hilserl.envs.so101.arm import JOINTS, JointMap
from hilserl.envs.so101.calibration import MotorCalibration
from hilserl.envs.so101.cameras import CameraSpec, prepare
from hilserl.envs.so101.table_camera import TableCamera
from hilserl.envs.so101.table_session import CUBE, FINGERTIP, calibrate_table
from hilserl.envs.so101.twin import TWIN_CAMERA_SIZE, ServoTwin
from hilserl.envs.so101_model import GRIPPER_YAW, HOME_GUESS, kinematics

OUT_OF_THE_WAY = (0.12, 0.10, 0.15)
"""Where the hand leaves the fingertip while the cube is looked at: raised, behind the cube region as
the front camera sees it (at a reset pose above the cubes, the gripper hides some of them)."""


class TwinCamera:
    def __init__(self, twin: ServoTwin, spec: CameraSpec, camera: str = "front"):
        if twin.physics is None:
            raise ValueError("the twin's camera renders its MuJoCo model: start the twin with physics=True")
        self.twin, self.spec, self.camera = twin, spec, camera
        self.width, self.height = TWIN_CAMERA_SIZE
        self._renderer = mujoco.Renderer(twin.physics.model, self.height, self.width)
        self._option = mujoco.MjvOption()
        self._option.geomgroup[:] = CAMERA_GEOM_GROUPS

    def frame(self) -> np.ndarray:
        """The full frame, BGR as OpenCV gives a camera's."""
        with self.twin.still() as physics:
            self._renderer.update_scene(physics.data, camera=self.camera, scene_option=self._option)
            rgb = self._renderer.render()
        return np.ascontiguousarray(rgb[:, :, ::-1])

    def latest(self) -> np.ndarray:
        """The agent's image: the spec's crop and size, RGB."""
        return prepare(self.frame(), self.spec)

    def true_projection(self) -> np.ndarray:
        """The rendering camera's 3x4 matrix: pixels (x right, y down) from world metres."""
        with self.twin.still() as physics:
            return camera_matrix(physics.model, physics.data, self.camera, self.width, self.height)

    def close(self) -> None:
        self._renderer.close()


def camera_matrix(model: mujoco.MjModel, data: mujoco.MjData, camera: str, width: int, height: int) -> np.ndarray:
    """A MuJoCo camera's pinhole matrix (vertical field of view ``fovy``, square pixels)."""
    cam = model.camera(camera).id
    focal = 0.5 * height / np.tan(np.radians(model.cam_fovy[cam]) / 2)
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    R_cam = data.cam_xmat[cam].reshape(3, 3)  # columns: the camera's x (right), y (up), z (backwards)
    flip = np.diag([1.0, -1.0, -1.0])  # to image axes: x right, y down, z forwards
    R = flip @ R_cam.T
    t = -R @ data.cam_xpos[cam]
    return K @ np.c_[R, t]


class SimulatedPerson:
    """The person at the twin: moves the fingertip by hand (the twin's joints, torque off) and clicks
    where the rendering camera puts the fingertip or the cube's top face, ``click_noise_px`` off (a
    steady hand's pixel or so). Called as a clicker is (``table_session.Click``)."""

    def __init__(self, twin: ServoTwin, camera: TwinCamera, calibration: dict[str, MotorCalibration],
                 cube_size: float, click_noise_px: float = 1.0, seed: int = 0):
        self.twin, self.camera, self.cal, self.cube_size = twin, camera, calibration, cube_size
        self.noise, self.rng, self.ik = click_noise_px, np.random.default_rng(seed), kinematics()
        self.cube = (0.21, 0.02, 0.3)
        """Where the person puts the cube when asked to (x, y, yaw)."""
        self.hand_error = (0.002, np.radians(2.0))
        """How far off the drawn place a hand puts the cube (standard deviations: metres, radians)."""
        self.placements = 0

    def hand(self, target) -> None:
        """The fingertip to ``target`` (x, y, z in metres)."""
        q, _ = self.ik.solve(np.asarray(target, float), GRIPPER_YAW, HOME_GUESS, 200)
        for k, joint in enumerate(JOINTS[:5]):
            self.twin.set_actual(k + 1, JointMap().to_steps(joint, q[k], self.cal[joint]))

    def fingertip(self) -> np.ndarray:
        with self.twin.still() as physics:
            return self.ik.fingertip(np.array([physics.data.qpos[a] for a in physics.qpos[:5]]))[0]

    def place_cube(self, x: float, y: float, yaw: float) -> None:
        with self.twin.still() as physics:
            physics.place_cube(x, y, yaw)

    def put_cube(self) -> None:
        """Asked to put the cube in view: the arm out of the way, the cube at ``self.cube``."""
        self.hand(OUT_OF_THE_WAY)
        self.place_cube(*self.cube)

    def __call__(self, frame: np.ndarray, hint, prompt: str = FINGERTIP) -> tuple[float, float]:
        point = np.array([self.cube[0], self.cube[1], self.cube_size]) if prompt == CUBE else self.fingertip()
        h = self.camera.true_projection() @ np.r_[point, 1.0]
        return tuple(h[:2] / h[2] + self.rng.normal(0, self.noise, 2))

    def calibrate_table(self, targets: np.ndarray) -> TableCamera:
        """``hilserl robot table``'s procedure on the twin's bus: the hand puts the fingertip on each
        target, the arm's joints measure it, the person clicks it."""
        from hilserl.envs.so101.arm import SO101Arm
        from hilserl.envs.so101.bus import FeetechBus

        with FeetechBus(self.twin.port) as bus:
            return calibrate_table(SO101Arm(bus, self.cal), self.camera.frame, targets,
                                   lambda target, i, n: self.hand(target), self, say=lambda line: None)

    def confirm(self, overlay: np.ndarray, target: tuple[float, float, float], found, within: bool) -> bool:
        """As ``guided_placement.PlacementPerson``: seeing the cube off its outline, puts it there (a few
        mm and degrees off, as a hand does); confirms once it is within the tolerance."""
        if within:
            return True
        (dxy, dyaw), rng = self.hand_error, self.rng
        self.place_cube(target[0] + rng.normal(0, dxy), target[1] + rng.normal(0, dxy), target[2] + rng.normal(0, dyaw))
        self.placements += 1
        return False

    def close(self) -> None:
        pass
