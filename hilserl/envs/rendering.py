"""Offscreen camera rendering on the CPU, with a per-camera crop and resize, as a real camera set-up does."""

from __future__ import annotations

import os

import mujoco
import numpy as np
from PIL import Image

from hilserl.config import CameraConfig
from hilserl.envs.scene import CAMERA_GEOM_GROUPS

RENDER_HELP = (
    "Offscreen rendering failed (MUJOCO_GL={gl!r}): {error}\n"
    "hilserl renders on the CPU through EGL. On Debian/Ubuntu install the packages with\n"
    "    sudo apt-get install -y libegl1 libgl1 libgl1-mesa-dri libegl-mesa0\n"
    "and run with MUJOCO_GL=egl (hilserl sets it when unset). With OSMesa instead: install\n"
    "libosmesa6 and set MUJOCO_GL=osmesa. MuJoCo reads MUJOCO_GL when it is first imported: set it in\n"
    "the shell, or import hilserl before mujoco. Or run without cameras: --env.state_only true."
)


class RenderingUnavailable(RuntimeError):
    pass


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


class CameraRig:
    """Renders each configured camera and applies its crop and resize; returns uint8 HxWx3."""

    def __init__(self, model: mujoco.MjModel, cameras: tuple[CameraConfig, ...]):
        self.cameras = cameras
        self._option = mujoco.MjvOption()
        self._option.geomgroup[:] = CAMERA_GEOM_GROUPS
        self._renderers: dict[int, mujoco.Renderer] = {}
        try:
            for cam in cameras:
                if cam.render_size not in self._renderers:
                    self._renderers[cam.render_size] = mujoco.Renderer(model, cam.render_size, cam.render_size)
        except Exception as exc:  # MuJoCo raises several types depending on the GL backend
            self.close()
            raise RenderingUnavailable(RENDER_HELP.format(gl=os.environ.get("MUJOCO_GL"), error=exc)) from exc

    def render(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        frames = {}
        for cam in self.cameras:
            renderer = self._renderers[cam.render_size]
            renderer.update_scene(data, camera=cam.name, scene_option=self._option)
            image = renderer.render()
            if cam.crop is not None:
                r0, r1, c0, c1 = cam.crop
                image = image[r0:r1, c0:c1]
            frames[cam.name] = np.ascontiguousarray(_resize(image, cam.size))
        return frames

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers = {}
