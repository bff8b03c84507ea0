import hilserl  # noqa: F401, I001  (sets MUJOCO_GL before mujoco is imported)
import pytest
import torch

from hilserl.config import EnvConfig
from hilserl.envs.grasp_env import GraspCubeEnv

pytest_plugins = ["process_guard"]


def pytest_addoption(parser):
    parser.addoption("--port", default=None, help="a real SO-101's servo bus, for the tests marked hardware")
    parser.addoption("--arm-id", default="follower", help="the real arm's calibration name (LeRobot's folder)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--port"):
        return
    skip = pytest.mark.skip(reason="needs a real SO-101: pytest -m hardware --port /dev/ttyACM0")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def torch_threads_unchanged():
    """No test may leave torch's thread count changed for the tests after it: a seeded run's numbers
    depend on it, so a leak makes a test's outcome depend on the tests that ran before."""
    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(f"the test left torch at {after} threads (was {before})")


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
