"""The front camera's view of the table, measured with the arm.

The arm is the measuring tool: its fingertip is moved (torque off, by hand) to points spread over the
workspace, some on the table and some above it; the kinematics give each point in the arm's base frame
and a click (or a detector) gives it in the camera's image. A camera matrix ``P`` (3x4, pixels from
base-frame metres) is fitted to them by the direct linear transform, with Hartley's normalisation:
points at two heights or more are needed, since a cube's visible faces stand above the table. From
``P``, the homography of any horizontal plane follows (the table's for the success map, the cube's
top face for its pose). Saved as JSON beside the arm's calibration, with its reprojection error.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

MIN_POINTS = 6
"""A camera matrix has 11 degrees of freedom: six points at least, not all at one height."""
MIN_HEIGHT_SPREAD_M = 0.02
MIN_AREA_SPREAD_M = 0.05
"""The points must span at least this much in x and in y on the table, and this much in height."""


class TableCalibrationError(ValueError):
    """Points that cannot give a camera model (too few, all at one height, bunched); says which."""


@dataclass
class TableCamera:
    """A fitted front camera: ``projection`` (3x4, pixels from base-frame metres), the image size it
    was fitted at, and how well it fits the points it came from."""

    projection: list[list[float]]
    width: int
    height: int
    points: int
    error_mm_rms: float
    """Each point's pixel taken back to its own height's plane, against where the arm measured it."""
    error_mm_max: float
    error_px_rms: float

    @property
    def P(self) -> np.ndarray:
        return np.asarray(self.projection, float)

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """Base-frame points (N x 3) to pixels (N x 2)."""
        xyz = np.atleast_2d(np.asarray(xyz, float))
        h = np.c_[xyz, np.ones(len(xyz))] @ self.P.T
        return h[:, :2] / h[:, 2:3]

    def plane_homography(self, z: float) -> np.ndarray:
        """The homography from (x, y, 1) on the plane at height ``z`` to pixels."""
        P = self.P
        return np.c_[P[:, 0], P[:, 1], P[:, 2] * z + P[:, 3]]

    def to_plane(self, pixels: np.ndarray, z: float) -> np.ndarray:
        """Pixels (N x 2) taken back to (x, y) on the plane at height ``z`` (N x 2, metres)."""
        pixels = np.atleast_2d(np.asarray(pixels, float))
        h = np.c_[pixels, np.ones(len(pixels))] @ np.linalg.inv(self.plane_homography(z)).T
        return h[:, :2] / h[:, 2:3]

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> TableCamera:
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (TypeError, ValueError) as exc:
            raise TableCalibrationError(f"{path} is not a table calibration ({exc}): run hilserl robot table") from None


def table_file(calibration_file: Path) -> Path:
    """Where the table calibration of an arm goes: beside its calibration, ``ARM_ID.table.json``."""
    calibration_file = Path(calibration_file)
    return calibration_file.with_name(f"{calibration_file.stem}.table.json")


def cube_colour_file(calibration_file: Path) -> Path:
    """Where the cube's colour goes: beside the arm's calibration, ``ARM_ID.cube.json``."""
    calibration_file = Path(calibration_file)
    return calibration_file.with_name(f"{calibration_file.stem}.cube.json")


def _normaliser(points: np.ndarray) -> np.ndarray:
    """Hartley's similarity: centroid at the origin, mean distance sqrt(dimension)."""
    centre = points.mean(axis=0)
    scale = np.sqrt(points.shape[1]) / max(1e-12, np.mean(np.linalg.norm(points - centre, axis=1)))
    T = np.eye(points.shape[1] + 1)
    T[:-1, :-1] *= scale
    T[:-1, -1] = -scale * centre
    return T


def check_spread(xyz: np.ndarray) -> None:
    if len(xyz) < MIN_POINTS:
        raise TableCalibrationError(f"{len(xyz)} points: a camera model needs {MIN_POINTS} at least")
    span = xyz.max(axis=0) - xyz.min(axis=0)
    if span[2] < MIN_HEIGHT_SPREAD_M:
        raise TableCalibrationError(
            f"the points span {span[2] * 100:.1f} cm in height: raise some {MIN_HEIGHT_SPREAD_M * 100:.0f} cm or more "
            "above the table (the camera's depth cannot be told from one plane)")
    if min(span[0], span[1]) < MIN_AREA_SPREAD_M:
        raise TableCalibrationError(
            f"the points span {span[0] * 100:.1f} x {span[1] * 100:.1f} cm: spread them over the workspace "
            f"({MIN_AREA_SPREAD_M * 100:.0f} cm at least each way)")


def fit_table_camera(xyz: np.ndarray, pixels: np.ndarray, width: int, height: int) -> TableCamera:
    """The camera matrix of base-frame points ``xyz`` (N x 3, metres) seen at ``pixels`` (N x 2)."""
    xyz, pixels = np.asarray(xyz, float), np.asarray(pixels, float)
    if xyz.shape != (len(pixels), 3) or pixels.shape != (len(xyz), 2):
        raise TableCalibrationError(f"points {xyz.shape} and pixels {pixels.shape} do not pair up")
    check_spread(xyz)
    T, U = _normaliser(xyz), _normaliser(pixels)
    X = np.c_[xyz, np.ones(len(xyz))] @ T.T
    u = np.c_[pixels, np.ones(len(pixels))] @ U.T
    rows = []
    for Xi, (ui, vi, _) in zip(X, u):
        rows.append(np.r_[np.zeros(4), -Xi, vi * Xi])
        rows.append(np.r_[Xi, np.zeros(4), -ui * Xi])
    _, singular, vt = np.linalg.svd(np.asarray(rows))
    P = np.linalg.inv(U) @ vt[-1].reshape(3, 4) @ T
    if singular[-2] < 1e-9 * singular[0]:
        raise TableCalibrationError("the points do not pin the camera down (degenerate layout): spread them more")
    P /= np.linalg.norm(P[2, :3])
    camera = TableCamera(P.tolist(), int(width), int(height), len(xyz), 0.0, 0.0, 0.0)
    errors_m = np.array([np.linalg.norm(camera.to_plane(p, z)[0] - xy)
                         for p, (*xy, z) in zip(pixels, xyz)])
    errors_px = np.linalg.norm(camera.project(xyz) - pixels, axis=1)
    camera.error_mm_rms = float(np.sqrt(np.mean(errors_m**2)) * 1000)
    camera.error_mm_max = float(errors_m.max() * 1000)
    camera.error_px_rms = float(np.sqrt(np.mean(errors_px**2)))
    return camera


def calibration_targets(region_low: tuple[float, float], region_high: tuple[float, float], table_z: float,
                        raised_m: float = 0.06) -> np.ndarray:
    """Where to ask the person to put the fingertip: a 3 x 3 grid over the region a little wider than
    the cube's, on the table, and its four corners and centre raised by ``raised_m``."""
    lo, hi = np.asarray(region_low, float), np.asarray(region_high, float)
    margin = 0.1 * (hi - lo)
    xs = np.linspace(lo[0] - margin[0], hi[0] + margin[0], 3)
    ys = np.linspace(lo[1] - margin[1], hi[1] + margin[1], 3)
    flat = [(x, y, table_z) for x in xs for y in ys]
    raised = [(x, y, table_z + raised_m) for x, y in ((xs[0], ys[0]), (xs[0], ys[2]), (xs[2], ys[0]),
                                                       (xs[2], ys[2]), (xs[1], ys[1]))]
    return np.asarray(flat + raised)
