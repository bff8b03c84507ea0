"""The env an actor runs, with the reward its config names: the simulator's success, or the
classifier's (wrapped, with an audit against the simulator's truth)."""

from __future__ import annotations

import gymnasium as gym

from hilserl.config import EnvConfig
from hilserl.envs.grasp_env import GraspCubeEnv
from hilserl.reward.classifier_reward import ClassifierReward, RewardAudit, reward_env_config


def make_env(env_cfg: EnvConfig) -> tuple[gym.Env, RewardAudit | None]:
    if env_cfg.reward.source == "sim":
        return GraspCubeEnv(env_cfg), None
    from hilserl.reward.classifier import load_classifier

    classifier = load_classifier(env_cfg.reward.classifier, env_cfg)
    audit = RewardAudit()
    return ClassifierReward(GraspCubeEnv(reward_env_config(env_cfg)), classifier, env_cfg.reward, audit), audit
