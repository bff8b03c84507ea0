"""Real teleoperation devices: a keyboard and a gamepad, behind the intervention interface.

Each device reads a small input backend (what keys are held; the gamepad's axes and buttons) so that
the mapping from inputs to actions is ours and testable on recorded or synthetic inputs, while the
backend that talks to the hardware is a thin adapter: ``pynput`` for the keyboard and ``pygame`` for
gamepads, imported only when a real device is asked for.

Keyboard: space toggles intervention; arrows move in x/y; ``w``/``s`` move up/down; ``c`` closes,
``o`` opens the gripper. Gamepad: hold the right bumper to intervene; left stick x/y, right stick
vertical for z; A closes, B opens. These follow LeRobot's and HIL-SERL's layouts. Where the action
turns the jaws too (``env.jaw_yaw_action``), ``a``/``d`` or the right stick's horizontal turn them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from hilserl.envs.actions import ARM_DIMS, YAW_INDEX, make_action
from hilserl.envs.contract import GRIPPER_CLOSE, GRIPPER_OPEN, GRIPPER_STAY
from hilserl.teleop.interface import NO_INTERVENTION, Intervention

KEY_AXES = {"up": (0, 1.0), "down": (0, -1.0), "left": (1, 1.0), "right": (1, -1.0), "w": (2, 1.0), "s": (2, -1.0)}
"""Key -> (axis, sign). 'up' moves away from the base (+x), 'left' to +y."""
KEY_YAW = {"a": 1.0, "d": -1.0}
"""Key -> sign of the jaw yaw: 'a' turns the jaws anticlockwise seen from above."""
KEY_TOGGLE = "space"
KEY_CLOSE = "c"
KEY_OPEN = "o"
STICK_DEADZONE = 0.1


class KeyBackend(Protocol):
    def poll(self) -> tuple[set[str], set[str]]:
        """Keys held now, and keys pressed since the last poll."""

    def held(self) -> set[str]:
        """Keys held now, leaving the presses for ``poll`` (a second reader of the same keyboard)."""


class GamepadBackend(Protocol):
    def poll(self) -> "GamepadState":
        ...


@dataclass(frozen=True)
class GamepadState:
    left_x: float = 0.0
    left_y: float = 0.0
    right_y: float = 0.0
    right_x: float = 0.0
    intervene: bool = False
    close: bool = False
    open: bool = False


class KeyboardTeleop:
    def __init__(self, backend: KeyBackend, yaw: bool = False):
        """``yaw``: the action has a jaw yaw before the gripper command (``env.jaw_yaw_action``)."""
        self.backend = backend
        self.yaw = yaw
        self.active = False

    def reset(self, episode: int) -> None:
        self.active = False

    def step(self, policy_action: np.ndarray) -> Intervention:
        held, pressed = self.backend.poll()
        if KEY_TOGGLE in pressed:
            self.active = not self.active
        if not self.active:
            return NO_INTERVENTION
        arm = np.zeros(ARM_DIMS + int(self.yaw))
        for key in held:
            if key in KEY_AXES:
                axis, sign = KEY_AXES[key]
                arm[axis] += sign
            if self.yaw and key in KEY_YAW:
                arm[YAW_INDEX] += KEY_YAW[key]
        gripper = GRIPPER_CLOSE if KEY_CLOSE in held else GRIPPER_OPEN if KEY_OPEN in held else GRIPPER_STAY
        return Intervention(make_action(arm, gripper))


class GamepadTeleop:
    def __init__(self, backend: GamepadBackend, yaw: bool = False):
        """``yaw``: the action has a jaw yaw before the gripper command (``env.jaw_yaw_action``)."""
        self.backend = backend
        self.yaw = yaw

    def reset(self, episode: int) -> None:
        pass

    def step(self, policy_action: np.ndarray) -> Intervention:
        s = self.backend.poll()
        if not s.intervene:
            return NO_INTERVENTION
        # Sticks report "up" as negative y, as most gamepad drivers do.
        axes = [-s.left_y, -s.left_x, -s.right_y] + ([-s.right_x] if self.yaw else [])
        arm = np.array(axes)
        arm[np.abs(arm) < STICK_DEADZONE] = 0.0
        gripper = GRIPPER_CLOSE if s.close else GRIPPER_OPEN if s.open else GRIPPER_STAY
        return Intervention(make_action(arm, gripper))


@dataclass
class ScriptedKeys:
    """A recorded or synthetic key stream: one (held, pressed) pair per step, then nothing."""

    frames: list[tuple[set[str], set[str]]] = field(default_factory=list)

    def poll(self) -> tuple[set[str], set[str]]:
        return self.frames.pop(0) if self.frames else (set(), set())

    def held(self) -> set[str]:
        return set(self.frames[0][0]) if self.frames else set()


@dataclass
class ScriptedGamepad:
    frames: list[GamepadState] = field(default_factory=list)

    def poll(self) -> GamepadState:
        return self.frames.pop(0) if self.frames else GamepadState()


class PynputKeys:
    """Keyboard backend on ``pynput`` (needs a display or uinput access)."""

    def __init__(self) -> None:
        try:
            from pynput import keyboard  # type: ignore[import-not-found]
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise RuntimeError("the keyboard device needs pynput: pip install pynput") from exc
        self._held: set[str] = set()
        self._pressed: set[str] = set()

        def name(key: object) -> str:
            return getattr(key, "char", None) or str(key).removeprefix("Key.")

        def on_press(key: object) -> None:
            n = name(key)
            if n not in self._held:
                self._pressed.add(n)
            self._held.add(n)

        def on_release(key: object) -> None:
            self._held.discard(name(key))

        self._listener = keyboard.Listener(on_press=on_press, on_release=on_release)
        self._listener.start()

    def poll(self) -> tuple[set[str], set[str]]:  # pragma: no cover - needs hardware
        pressed, self._pressed = self._pressed, set()
        return set(self._held), pressed

    def held(self) -> set[str]:  # pragma: no cover - needs hardware
        return set(self._held)


class PygameGamepad:
    """Gamepad backend on ``pygame`` (Xbox layout: axes 0/1 left stick, 3/4 right stick x/y)."""

    def __init__(self, index: int = 0) -> None:
        try:
            import pygame  # type: ignore[import-not-found]
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise RuntimeError("the gamepad device needs pygame: pip install pygame") from exc
        pygame.init()
        pygame.joystick.init()
        if pygame.joystick.get_count() <= index:
            raise RuntimeError(f"no gamepad at index {index}; {pygame.joystick.get_count()} connected")
        self._pygame = pygame
        self._pad = pygame.joystick.Joystick(index)

    def poll(self) -> GamepadState:  # pragma: no cover - needs hardware
        self._pygame.event.pump()
        p = self._pad
        return GamepadState(
            left_x=p.get_axis(0), left_y=p.get_axis(1), right_y=p.get_axis(4), right_x=p.get_axis(3),
            intervene=bool(p.get_button(5)), close=bool(p.get_button(0)), open=bool(p.get_button(1)),
        )


def make_device(kind: str, yaw: bool = False) -> KeyboardTeleop | GamepadTeleop:
    if kind == "keyboard":
        return KeyboardTeleop(PynputKeys(), yaw)
    if kind == "gamepad":
        return GamepadTeleop(PygameGamepad(), yaw)
    raise ValueError(f"unknown teleop device {kind!r}; allowed keyboard, gamepad")

