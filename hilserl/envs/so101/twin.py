"""A digital twin of the SO-101's servo bus: six STS3215 servos answering the Feetech protocol on a
pseudo-terminal, so that the real bus code (``FeetechBus`` over pyserial) runs against it unchanged.

Each servo keeps a control table (the registers of ``protocol.REGISTERS``) and an actual position in
steps; it reports ``Present_Position = actual - Homing_Offset`` as the real servo does. With
``physics`` (:class:`ArmPhysics`) the servos' goals drive the SO-101's MuJoCo model, with its table
and cube, and the joints' positions come back from it (a servo mounted with step 2047 at the model's
zero angle); without, each servo moves to its goal at ``max_step`` steps per tick. ``set_actual``
moves a joint as a hand would. Faults for tests: ``silent`` motors never answer; ``blocked`` ones do not
move; ``corrupt_replies`` status packets leave with a wrong checksum.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import tty
from dataclasses import dataclass, field

import numpy as np

from hilserl.envs.so101.bus import MOTORS
from hilserl.envs.so101.protocol import (
    BROADCAST_ID,
    HEADER,
    MODEL_NUMBER,
    PING,
    READ,
    REGISTERS,
    STEPS_PER_TURN,
    SYNC_READ,
    SYNC_WRITE,
    WRITE,
    checksum,
    decode,
    encode,
    packet,
)

CENTRE = STEPS_PER_TURN // 2 - 1
"""2047: the middle of a turn, where calibration puts each joint's centre."""
TWIN_CAMERA_SIZE = (640, 480)
"""The twin's front camera's frame (width, height), as a USB camera's."""


@dataclass
class Servo:
    motor_id: int
    actual: float = CENTRE
    table: bytearray = field(default_factory=lambda: bytearray(256))

    def __post_init__(self) -> None:
        for name, value in (("Model_Number", MODEL_NUMBER), ("ID", self.motor_id), ("Min_Position_Limit", 0),
                            ("Max_Position_Limit", STEPS_PER_TURN - 1), ("Max_Torque_Limit", 1000)):
            self.set(name, value)

    def get(self, name: str) -> int:
        reg = REGISTERS[name]
        if name == "Present_Position":
            return int(round(self.actual)) - self.get("Homing_Offset")
        return decode(reg, bytes(self.table[reg.address:reg.address + reg.size]))

    def set(self, name: str, value: int) -> None:
        reg = REGISTERS[name]
        self.table[reg.address:reg.address + reg.size] = encode(reg, value)

    def read_bytes(self, address: int, size: int) -> bytes:
        reg = REGISTERS["Present_Position"]
        if address == reg.address and size >= reg.size:
            self.table[reg.address:reg.address + reg.size] = encode(reg, self.get("Present_Position"))
        return bytes(self.table[address:address + size])

    def tick(self, max_step: float) -> None:
        """Move towards the goal (in the actual frame: goal + Homing_Offset) when the torque is on."""
        if self.get("Torque_Enable"):
            goal = self.get("Goal_Position") + self.get("Homing_Offset")
            self.actual += max(-max_step, min(max_step, goal - self.actual))


class ArmPhysics:
    """The SO-101's MuJoCo model (the simulation's scene) behind the twin's servos: position actuators
    track the goals of the servos whose torque is on; the others hold where they are."""

    def __init__(self, max_tick_s: float = 0.05):
        import mujoco

        from hilserl.config import EnvConfig
        from hilserl.envs.scene import SceneIndex, build_spec

        self._mujoco = mujoco
        spec = build_spec(EnvConfig(state_only=True))
        spec.visual.global_.offwidth, spec.visual.global_.offheight = TWIN_CAMERA_SIZE  # the twin's camera
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.index = SceneIndex.of(self.model)
        self.qpos = [*self.index.arm_qpos, self.index.gripper_qpos]
        self.actuators = [*self.index.arm_actuators, self.index.gripper_actuator]
        self.max_steps = max(1, int(round(max_tick_s / self.model.opt.timestep)))
        """A stalled loop catches up at most this much (the model must not leap)."""
        mujoco.mj_forward(self.model, self.data)

    def advance(self, servos: list["Servo"], seconds: float) -> None:
        """Run the model for ``seconds`` of simulated time (the wall time since the last call)."""
        for k, servo in enumerate(servos):
            self.data.ctrl[self.actuators[k]] = (
                (servo.get("Goal_Position") + servo.get("Homing_Offset") - CENTRE) * 2 * np.pi / STEPS_PER_TURN
                if servo.get("Torque_Enable") else self.data.qpos[self.qpos[k]])
        steps = min(self.max_steps, int(round(seconds / self.model.opt.timestep)))
        if steps:
            self._mujoco.mj_step(self.model, self.data, nstep=steps)
        for k, servo in enumerate(servos):
            servo.actual = CENTRE + self.data.qpos[self.qpos[k]] * STEPS_PER_TURN / (2 * np.pi)

    def place_cube(self, x: float, y: float, yaw: float) -> None:
        """A person puts the cube on the table at (x, y), turned by ``yaw`` (radians)."""
        joint = self.model.body("cube").jntadr[0]
        adr = self.model.jnt_qposadr[joint]
        half = float(self.model.geom("cube").size[0])
        self.data.qpos[adr:adr + 7] = [x, y, half, np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        self.data.qvel[self.model.jnt_dofadr[joint]:self.model.jnt_dofadr[joint] + 6] = 0.0
        self._mujoco.mj_forward(self.model, self.data)

    def place(self, k: int, steps: float) -> None:
        """A hand moves joint ``k`` to ``steps``."""
        self.data.qpos[self.qpos[k]] = (steps - CENTRE) * 2 * np.pi / STEPS_PER_TURN
        self.data.qvel[:] = 0.0
        self._mujoco.mj_forward(self.model, self.data)


class ServoTwin:
    """The servos behind a pseudo-terminal; ``port`` is the path the bus opens."""

    def __init__(self, motors: dict[str, int] | None = None, max_step: float = 40.0, physics: bool = False):
        self.servos = {i: Servo(i) for i in (motors or MOTORS).values()}
        self.max_step = max_step
        self.physics = ArmPhysics() if physics else None
        self._lock = threading.Lock()
        self.silent: set[int] = set()
        self.blocked: set[int] = set()
        """Motors whose joint is held (by a hand, an obstacle): they do not move towards their goal."""
        self.corrupt_replies = 0
        self.received: list[bytes] = []
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def still(self):
        """The model held still (the serving thread waits): to read or render it, or place the cube."""
        with self._lock:
            yield self.physics

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "ServoTwin":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set_actual(self, motor_id: int, steps: float) -> None:
        with self._lock:
            self.servos[motor_id].actual = steps
            if self.physics is not None:
                self.physics.place(sorted(self.servos).index(motor_id), steps)

    # ------------------------------------------------------------------------------- serving
    def _serve(self) -> None:
        import select

        data = b""
        last = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.005)
            with self._lock:
                now = time.monotonic()
                if self.physics is not None:
                    self.physics.advance([self.servos[i] for i in sorted(self.servos)], now - last)
                else:
                    for servo in self.servos.values():
                        if servo.motor_id not in self.blocked:
                            servo.tick(self.max_step)
                last = now
            if not ready:
                continue
            try:
                data += os.read(self._master, 4096)
            except OSError:
                return
            data = self._handle_all(data)

    def _handle_all(self, data: bytes) -> bytes:
        while True:
            start = data.find(HEADER)
            if start < 0 or len(data) < start + 4:
                return data[start:] if start >= 0 else b""
            length = data[start + 3]
            end = start + 4 + length
            if len(data) < end:
                return data[start:]
            body = data[start + 2:end - 1]
            if checksum(body) == data[end - 1]:  # a corrupted instruction goes unanswered, as on the bus
                self.received.append(bytes(data[start:end]))
                self._handle(body[0], body[2], bytes(body[3:]))
            data = data[end:]

    def _reply(self, motor_id: int, params: bytes = b"") -> None:
        if motor_id in self.silent:
            return
        out = bytearray(packet(motor_id, 0, params))
        if self.corrupt_replies > 0:
            self.corrupt_replies -= 1
            out[-1] ^= 0xFF
        os.write(self._master, bytes(out))

    def _handle(self, motor_id: int, instruction: int, params: bytes) -> None:
        if instruction == SYNC_WRITE:
            address, size = params[0], params[1]
            for k in range(2, len(params), size + 1):
                servo = self.servos.get(params[k])
                if servo is not None:
                    servo.table[address:address + size] = params[k + 1:k + 1 + size]
            return
        if instruction == SYNC_READ and motor_id == BROADCAST_ID:
            address, size = params[0], params[1]
            for i in params[2:]:
                if i in self.servos:
                    self._reply(i, self.servos[i].read_bytes(address, size))
            return
        servo = self.servos.get(motor_id)
        if servo is None:
            return
        if instruction == PING:
            self._reply(motor_id)
        elif instruction == READ:
            self._reply(motor_id, servo.read_bytes(params[0], params[1]))
        elif instruction == WRITE:
            servo.table[params[0]:params[0] + len(params) - 1] = params[1:]
            self._reply(motor_id)
