"""hilserl: human-in-the-loop RL (HIL-SERL) for vision-based robot manipulation."""

import os

# MuJoCo picks its GL backend when it is first imported; without this it falls back to GLFW, which
# needs a display. EGL renders offscreen on the CPU (Mesa) and on GPUs alike.
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"

import hilserl.envs  # noqa: E402,F401  (registers hilserl's envs with gymnasium)
