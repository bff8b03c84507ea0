import hilserl  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
import pytest

from hilserl.config import EnvConfig
from hilserl.envs.grasp_env import GraspCubeEnv


@pytest.fixture(scope="session")
def state_env():
    env = GraspCubeEnv(EnvConfig(state_only=True))
    yield env
    env.close()


@pytest.fixture(scope="session")
def camera_env():
    env = GraspCubeEnv(EnvConfig(), render_mode="rgb_array")
    yield env
    env.close()
