"""``hilserl diagnose reward``: the classifier's reward audited over episodes of a known policy.

The scripted expert succeeds in every episode, so its episodes measure missed successes; a random
policy almost never succeeds, so its episodes measure false positives. Both compare each classifier
decision with the simulator's truth (``RewardAudit``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from hilserl.collect.rollout import run_episode
from hilserl.config import EnvConfig
from hilserl.reward.rewarded_env import make_rewarded_env
from hilserl.teleop.scripted import expert_policy

AUDIT_SEED_OFFSET = 9 * 10**6
PolicyName = Literal["expert", "random"]


def audit_reward(env_cfg: EnvConfig, policy: PolicyName, episodes: int, seed: int = 0,
                 out_dir: Path | None = None, progress: bool = True) -> dict:
    if env_cfg.reward.source != "classifier":
        raise ValueError("diagnose reward audits a classifier: set env.reward.source=classifier and env.reward.classifier")
    env, audit = make_rewarded_env(env_cfg)
    assert audit is not None
    rng = np.random.default_rng(seed)
    act = expert_policy(env.unwrapped) if policy == "expert" else (lambda _o: rng.uniform(-1, 1, 4).astype(np.float32))
    for i in tqdm(range(episodes), desc=f"auditing the reward on {policy} episodes", unit="ep", disable=not progress):
        run_episode(env, act, seed=AUDIT_SEED_OFFSET + seed + i)
    env.close()
    if out_dir is not None:
        audit.write(out_dir)
    return {"policy": policy, **audit.summary()}


def audit_lines(summary: dict) -> list[str]:
    return [
        f"{summary['policy']} policy, {summary['episodes']} episodes: the simulator saw "
        f"{summary['sim_success_episodes']} successes, the classifier declared {summary['classifier_success_episodes']}",
        f"  false-positive episodes: {summary['false_positive_episodes']} ({summary['false_positive_rate']:.1%} of episodes)",
        f"  missed successes: {summary['missed_success_episodes']} ({summary['missed_success_rate']:.1%} of the "
        f"simulator's successes)",
        f"  frames: {summary['frames']}, false positives {summary['frame_false_positives']}, "
        f"false negatives {summary['frame_false_negatives']}",
    ]
