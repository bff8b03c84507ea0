"""The SO-101's servo bus over a serial port (``pyserial``): ping, read, write, sync read, sync write.

A status packet that comes back corrupted or not at all (the bus under load does this) is asked for
again, up to ``retries`` times; after that :class:`BusError` names the motor and the register.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import serial

from hilserl.envs.so101.faults import RobotFault
from hilserl.envs.so101.protocol import (
    BROADCAST_ID,
    MODEL_NUMBER,
    PING,
    READ,
    REGISTERS,
    SYNC_READ,
    SYNC_WRITE,
    WRITE,
    Incomplete,
    ProtocolError,
    Status,
    decode,
    encode,
    packet,
    parse_status,
)

BAUDRATE = 1_000_000
RETRIES = 3
"""Tries after the first for one exchange."""
REPLY_TIMEOUT_S = 0.02
"""How long a motor may take to answer (its return delay is set to 0, a reply takes well under 1 ms)."""
MOTORS = {"shoulder_pan": 1, "shoulder_lift": 2, "elbow_flex": 3, "wrist_flex": 4, "wrist_roll": 5, "gripper": 6}
"""The SO-101's motors and their bus IDs (the leader arm uses the same)."""


class BusError(RobotFault):
    """A motor did not answer properly after the retries; the message names it and the register."""


class MissingReplies(TimeoutError):
    def __init__(self, replies: list[Status], count: int, seconds: float):
        super().__init__(f"{len(replies)} of {count} status packets within {seconds:.3f} s")
        self.replies = replies


@dataclass
class BusStats:
    exchanges: int = 0
    retries: int = 0


class FeetechBus:
    def __init__(self, port: str, motors: dict[str, int] | None = None, baudrate: int = BAUDRATE,
                 retries: int = RETRIES, timeout_s: float = REPLY_TIMEOUT_S):
        self.motors = dict(motors or MOTORS)
        self.names = {i: n for n, i in self.motors.items()}
        self.retries, self.timeout_s = retries, timeout_s
        self.stats = BusStats()
        try:
            self.port = serial.Serial(port, baudrate=baudrate, timeout=0)
        except serial.SerialException as exc:
            raise BusError(f"cannot open the servo bus at {port}: {exc}") from None

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> "FeetechBus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------ exchanges
    def _receive(self, count: int) -> list[Status]:
        """``count`` status packets, or ProtocolError / TimeoutError."""
        data, replies = b"", []
        deadline = time.monotonic() + self.timeout_s * count
        while len(replies) < count:
            chunk = self.port.read(self.port.in_waiting or 1)
            if chunk:
                data += chunk
                deadline = max(deadline, time.monotonic() + self.timeout_s)
            while len(replies) < count:
                try:
                    status, data = parse_status(data)
                except Incomplete:
                    break  # wait for more bytes
                replies.append(status)
            if len(replies) < count and time.monotonic() > deadline:
                raise MissingReplies(replies, count, self.timeout_s * count)
            if not chunk:
                time.sleep(0.0002)
        return replies

    def _exchange(self, out: bytes, ids: list[int], what: str) -> list[Status]:
        """Send ``out`` and take one status packet from each of ``ids``, in order, retrying."""
        last: Exception | None = None
        silent = list(ids)
        for attempt in range(self.retries + 1):
            self.stats.exchanges += 1
            self.stats.retries += attempt > 0
            self.port.reset_input_buffer()
            self.port.write(out)
            try:
                replies = self._receive(len(ids))
            except MissingReplies as exc:
                last, silent = exc, [i for i in ids if i not in {r.motor_id for r in exc.replies}]
                continue
            except ProtocolError as exc:
                last = exc
                continue
            if [r.motor_id for r in replies] != ids:
                last = ProtocolError(f"answers came from motors {[r.motor_id for r in replies]}, expected {ids}")
                continue
            failed = [r for r in replies if r.error]
            if failed:
                raise BusError(f"{what}: motor {self._name(failed[0].motor_id)} reports error bits "
                               f"{failed[0].error:#010b}")
            return replies
        motors = ", ".join(self._name(i) for i in (silent or ids))
        raise BusError(f"{what}: no valid answer from {motors} after {self.retries + 1} tries ({last})")

    def _name(self, motor_id: int) -> str:
        return f"{self.names.get(motor_id, '?')} (id {motor_id})"

    # ---------------------------------------------------------------------------- instructions
    def ping(self, motor: str) -> int:
        """The motor's model number (777 for an STS3215)."""
        i = self.motors[motor]
        self._exchange(packet(i, PING), [i], f"ping {motor}")
        return self.read(motor, "Model_Number")

    def read(self, motor: str, register: str) -> int:
        reg, i = REGISTERS[register], self.motors[motor]
        (status,) = self._exchange(packet(i, READ, bytes([reg.address, reg.size])), [i], f"reading {register} of {motor}")
        return decode(reg, status.params)

    def write(self, motor: str, register: str, value: int) -> None:
        reg, i = REGISTERS[register], self.motors[motor]
        self._exchange(packet(i, WRITE, bytes([reg.address]) + encode(reg, value)), [i],
                       f"writing {register} = {value} to {motor}")

    def sync_read(self, register: str, motors: list[str] | None = None) -> dict[str, int]:
        """One register of several motors in one exchange."""
        reg = REGISTERS[register]
        names = motors or list(self.motors)
        ids = [self.motors[n] for n in names]
        out = packet(BROADCAST_ID, SYNC_READ, bytes([reg.address, reg.size, *ids]))
        replies = self._exchange(out, ids, f"sync-reading {register}")
        return {n: decode(reg, r.params) for n, r in zip(names, replies)}

    def sync_write(self, register: str, values: dict[str, int]) -> None:
        """One register of several motors in one packet; motors do not answer a sync write."""
        reg = REGISTERS[register]
        params = bytes([reg.address, reg.size])
        for name, value in values.items():
            params += bytes([self.motors[name]]) + encode(reg, value)
        self.stats.exchanges += 1
        self.port.write(packet(BROADCAST_ID, SYNC_WRITE, params))
        self.port.flush()

    def check_models(self) -> dict[str, int]:
        """Ping every motor; BusError naming the first that is missing or not an STS3215."""
        found = {}
        for name in self.motors:
            model = self.ping(name)
            if model != MODEL_NUMBER:
                raise BusError(f"motor {self._name(self.motors[name])} is model {model}, not an STS3215 ({MODEL_NUMBER})")
            found[name] = model
        return found
