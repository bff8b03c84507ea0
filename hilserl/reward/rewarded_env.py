"""The env an actor runs, with the reward its config names: the env's own success, or the reward
classifier's (wrapped, with an audit against the env's own success signal)."""

from __future__ import annotations

import gymnasium as gym

from hilserl.config import EnvConfig
from hilserl.envs.contract import layout_of
from hilserl.envs.factory import make_env
from hilserl.reward.classifier_reward import ClassifierReward, RewardAudit, reward_env_config


def make_rewarded_env(env_cfg: EnvConfig) -> tuple[gym.Env, RewardAudit | None]:
    if env_cfg.reward.source == "sim":
        return make_env(env_cfg), None
    from hilserl.reward.classifier import load_classifier

    env = make_env(reward_env_config(env_cfg))
    try:
        classifier = load_classifier(env_cfg.reward.classifier, layout_of(env).observation.image_shapes)
    except Exception:
        env.close()
        raise
    audit = RewardAudit()
    return ClassifierReward(env, classifier, env_cfg.reward, audit), audit
