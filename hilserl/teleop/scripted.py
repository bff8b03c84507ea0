"""An env's scripted expert (the contract's optional ``scripted_expert`` and ``true_state`` hooks),
as a policy of observations: recorded demos, the simulated human and some diagnostics drive it."""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from hilserl.envs.contract import HOOKS


class Expert(Protocol):
    def reset(self) -> None:
        """A new episode, or a takeover from someone else, begins."""

    def act(self, truth: Any) -> np.ndarray:
        """The action for the env's true state (``env.unwrapped.true_state()``)."""


class MissingHook(ValueError):
    """The env offers no scripted expert or no true state; the message says who needs it."""


def require_hooks(env: Any, *hooks: str, purpose: str) -> Any:
    """``env.unwrapped``, checked to offer ``hooks`` (the contract's optional ones) for ``purpose``."""
    base = env.unwrapped
    missing = [h for h in hooks if not hasattr(base, h)]
    if missing:
        name = type(base).__name__
        raise MissingHook(f"{purpose} needs the env to offer {', '.join(missing)} "
                               f"({'; '.join(HOOKS[h] for h in missing)}); {name} does not "
                               "(docs/env_contract.md)")
    return base


def expert_policy(env: Any, believe: Callable[[Any], Any] | None = None) -> Callable[[dict], np.ndarray]:
    """The env's scripted expert as a policy: it ignores the observation and reads the true state.
    ``believe`` changes what it reads (a cube moved, a cube always in one place): diagnostics use it
    to ask how a grasp fares when perception is off."""
    base = require_hooks(env, "scripted_expert", "true_state", "elapsed_steps", purpose="a scripted policy")
    expert = base.scripted_expert()
    last_step = [-1]

    def act(_obs: dict) -> np.ndarray:
        if base.elapsed_steps <= last_step[0]:
            expert.reset()  # a new episode began
        last_step[0] = base.elapsed_steps
        truth = base.true_state()
        return expert.act(truth if believe is None else believe(truth))

    return act
