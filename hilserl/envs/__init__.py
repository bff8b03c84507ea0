"""Envs that keep the contract of ``hilserl.envs.contract``, registered with gymnasium."""

import gymnasium as gym

from hilserl.envs.panda_pick import EPISODE_STEPS as PANDA_STEPS
from hilserl.envs.planar_reach import EPISODE_STEPS as REACH_STEPS

ENV_ID = "hilserl/GraspCube-v0"
REACH_ID = "hilserl/PlanarReach-v0"
REACH_IMAGES_ID = "hilserl/PlanarReachImages-v0"
"""The reach seen by one camera from above (no gripper, one camera: the other shape of task)."""
REACH_CAMERA_SIZE = 128
PANDA_ID = "hilserl/PandaPickCube-v0"
"""gym-hil's PandaPickCube from state (needs the gym-hil extra: ``hilserl.envs.panda_pick``)."""
PANDA_IMAGES_ID = "hilserl/PandaPickCubeImages-v0"
"""The same task from the front and wrist cameras and the robot's state."""

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="hilserl.envs.grasp_env:GraspCubeEnv")
if REACH_ID not in gym.registry:
    gym.register(id=REACH_ID, entry_point="hilserl.envs.planar_reach:PlanarReachEnv", max_episode_steps=REACH_STEPS)
if REACH_IMAGES_ID not in gym.registry:
    gym.register(id=REACH_IMAGES_ID, entry_point="hilserl.envs.planar_reach:PlanarReachEnv",
                 max_episode_steps=REACH_STEPS, kwargs={"camera_size": REACH_CAMERA_SIZE})
if PANDA_ID not in gym.registry:
    gym.register(id=PANDA_ID, entry_point="hilserl.envs.panda_pick:PandaPickCubeEnv", max_episode_steps=PANDA_STEPS)
if PANDA_IMAGES_ID not in gym.registry:
    gym.register(id=PANDA_IMAGES_ID, entry_point="hilserl.envs.panda_pick:PandaPickCubeEnv",
                 max_episode_steps=PANDA_STEPS, kwargs={"images": True})
