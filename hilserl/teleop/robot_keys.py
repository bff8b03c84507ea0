"""A person's keys on the real arm: success and failure labels for the episode, and the emergency stop.

Keys are read as held at each control step (the same keyboard may drive the arm too): hold ``l``
when the episode has succeeded (``l`` for label, as in classifier data; ``s`` drives the arm down),
``f`` when it has failed (it ends at once), ``escape`` to stop the arm (torque off, the run ends with
a message).
"""

from __future__ import annotations

from hilserl.envs.so101.faults import RobotFault
from hilserl.teleop.devices import KeyBackend

SUCCESS_KEY = "l"
FAILURE_KEY = "f"
STOP_KEY = "esc"


class EmergencyStop(RobotFault):
    """The person pressed the emergency-stop key."""


class KeyLabels:
    """The real-arm env's labels (``SO101Env.labels``) from a keyboard."""

    def __init__(self, keys: KeyBackend):
        self.keys = keys

    def poll(self) -> str | None:
        held = self.keys.held()
        if STOP_KEY in held:
            raise EmergencyStop(f"emergency stop ({STOP_KEY} pressed): torque off")
        if SUCCESS_KEY in held:
            return "success"
        if FAILURE_KEY in held:
            return "failure"
        return None
