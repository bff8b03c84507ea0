"""What the learner accepts from an actor: each message's content checked against the run.

The wire format alone proves little: a well-formed message can carry a state of the wrong size, an
observation without a camera, a NaN reward or an episode record that is not JSON, and each of those
would stop the learner's loop later, after the message was acknowledged. These checks run in the
service, before the acknowledgement; a message that fails one is refused (``MalformedMessage``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any

import numpy as np

from hilserl.data.transition import Transition
from hilserl.distributed.wire import MalformedMessage
from hilserl.envs.contract import TaskLayout
from hilserl.training.actor import EpisodeStats

_EPISODE_TYPES = typing.get_type_hints(EpisodeStats)


def check_transition(t: Transition, layout: TaskLayout) -> None:
    """The observations hold exactly ``state`` (the layout's number of finite floats) and the run's
    cameras (uint8 images of their shapes); the action has the layout's number of finite values; the
    reward and grasp penalty are finite."""
    state_dim, image_shapes, action_dims = (layout.observation.state_dim, layout.observation.image_shapes,
                                            layout.action.dims)
    expected = {"state", *image_shapes}
    for which, obs in (("observation", t.observation), ("next observation", t.next_observation)):
        if set(obs) != expected:
            raise MalformedMessage(f"the {which} has {sorted(obs)}; this run takes {sorted(expected)}")
        state = obs["state"]
        if state.shape != (state_dim,) or state.dtype.kind != "f":
            raise MalformedMessage(f"the {which}'s state is {state.dtype} {list(state.shape)}; this run takes "
                                   f"{state_dim} floats")
        if not np.isfinite(state).all():
            raise MalformedMessage(f"the {which}'s state holds NaN or inf")
        for cam, shape in image_shapes.items():
            image = obs[cam]
            if image.shape != shape or image.dtype != np.uint8:
                raise MalformedMessage(f"the {which}'s {cam!r} image is {image.dtype} {list(image.shape)}; this "
                                       f"run takes uint8 {list(shape)}")
    if t.action.shape != (action_dims,) or not np.isfinite(t.action).all():
        raise MalformedMessage(f"the action must be {action_dims} finite values, got {t.action.dtype} "
                               f"{list(t.action.shape)}")
    if not math.isfinite(t.reward):
        raise MalformedMessage(f"the reward is {t.reward}")
    if not math.isfinite(t.grasp_penalty):
        raise MalformedMessage(f"the grasp penalty is {t.grasp_penalty}")


def _of_type(value: Any, hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_of_type(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, hint)


def check_episode_record(text: str) -> dict[str, Any]:
    """An actor's episode record: a JSON object with every ``EpisodeStats`` field of its type (numbers
    finite), and the actor's extras (``dropped``, ``params_version``, ``actor_index``,
    ``missed_deadlines``: whole numbers of 0 or more; ``actor_state``: an object with the episode and
    env step counters). Returns it."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise MalformedMessage(f"the episode record is not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise MalformedMessage("the episode record is not a JSON object")
    for field in dataclasses.fields(EpisodeStats):
        if field.name not in record:
            raise MalformedMessage(f"the episode record lacks {field.name!r}")
        if not _of_type(record[field.name], _EPISODE_TYPES[field.name]):
            raise MalformedMessage(f"the episode record's {field.name!r} is {record[field.name]!r}, not of type "
                                   f"{_EPISODE_TYPES[field.name]}")
    for name in ("dropped", "params_version", "actor_index", "missed_deadlines"):
        value = record.get(name, 0)
        if not _of_type(value, int) or value < 0:
            raise MalformedMessage(f"the episode record's {name!r} is {value!r}, not a whole number >= 0")
    state = record.get("actor_state", {"episode": 0, "env_steps": 0})
    if not isinstance(state, dict) or not all(_of_type(state.get(k), int) for k in ("episode", "env_steps")):
        raise MalformedMessage("the episode record's 'actor_state' needs whole-number 'episode' and 'env_steps'")
    return record
