"""The elapsed share of the episode as the state's last value (``env.observe_elapsed``).

An episode that ends at a time limit makes the return depend on the steps left, which a state
without time does not show: the critic averages over them (Pardo et al., "Time Limits in
Reinforcement Learning", 2018). A success rule that counts steps (no success before step N) is the
same kind of hidden clock. Any env of the contract gets it, from its own episode length.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from hilserl.envs.contract import STATE_KEY, ContractViolation, episode_steps


def episode_limit(env: gym.Env) -> int:
    """The env's time limit in steps (:func:`episode_steps`); :class:`ContractViolation` if it declares none."""
    limit = episode_steps(env)
    if limit is None:
        raise ContractViolation(
            f"env.observe_elapsed needs the episode's length: {type(env.unwrapped).__name__} declares no "
            "max_episode_steps (register it with one, or give env.unwrapped a max_episode_steps attribute)")
    return limit


def with_elapsed(space: gym.spaces.Dict) -> gym.spaces.Dict:
    """``space`` with one more state value in [0, 1]."""
    state = space.spaces[STATE_KEY]
    low = np.append(state.low, np.float32(0.0)).astype(np.float32)
    high = np.append(state.high, np.float32(1.0)).astype(np.float32)
    return gym.spaces.Dict({**space.spaces, STATE_KEY: gym.spaces.Box(low, high, dtype=np.float32)})


class ObserveElapsed(gym.Wrapper):
    """Appends ``steps since the reset / episode limit`` (0 at the reset, 1 at the last step) to the
    observation's state."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.limit = episode_limit(env)
        self.observation_space = with_elapsed(env.observation_space)
        self._steps = 0

    def _observe(self, obs: dict) -> dict:
        share = np.float32(min(self._steps / self.limit, 1.0))
        return {**obs, STATE_KEY: np.append(obs[STATE_KEY], share).astype(np.float32)}

    def reset(self, **kwargs):
        self._steps = 0
        obs, info = self.env.reset(**kwargs)
        return self._observe(obs), info

    def step(self, action):
        self._steps += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observe(obs), reward, terminated, truncated, info
