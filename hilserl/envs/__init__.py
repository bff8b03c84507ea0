"""The simulated grasp task and its parts (scene, IK, cameras), registered with gymnasium."""

import gymnasium as gym

ENV_ID = "hilserl/GraspCube-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="hilserl.envs.grasp_env:GraspCubeEnv")
