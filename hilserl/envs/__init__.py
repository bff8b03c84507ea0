"""Envs that keep the contract of ``hilserl.envs.contract``, registered with gymnasium."""

import gymnasium as gym

from hilserl.envs.planar_reach import EPISODE_STEPS as REACH_STEPS

ENV_ID = "hilserl/GraspCube-v0"
REACH_ID = "hilserl/PlanarReach-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="hilserl.envs.grasp_env:GraspCubeEnv")
if REACH_ID not in gym.registry:
    gym.register(id=REACH_ID, entry_point="hilserl.envs.planar_reach:PlanarReachEnv", max_episode_steps=REACH_STEPS)
