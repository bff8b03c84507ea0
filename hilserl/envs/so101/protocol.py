"""The Feetech STS/SMS servo protocol (protocol 0), as the SO-101's STS3215 servos speak it.

An instruction packet is ``FF FF ID LEN INSTR params... CHK`` with ``LEN = len(params) + 2`` and
``CHK = ~(ID + LEN + INSTR + sum(params)) & 0xFF``; a status packet is ``FF FF ID LEN ERROR
params... CHK`` the same way. Multi-byte registers are little-endian; some hold a sign-magnitude
value (the sign in one bit, the magnitude below it). Pure functions: the bus (``bus.py``) and the
digital twin (``twin.py``) share them.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = b"\xff\xff"
BROADCAST_ID = 0xFE
PING, READ, WRITE, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x82, 0x83
STEPS_PER_TURN = 4096
MODEL_NUMBER = 777
"""The STS3215's model number (register 3, two bytes)."""


@dataclass(frozen=True)
class Register:
    name: str
    address: int
    size: int
    sign_bit: int | None = None
    """The bit holding the sign of a sign-magnitude value; None for unsigned registers."""


REGISTERS = {r.name: r for r in (
    Register("Model_Number", 3, 2),
    Register("ID", 5, 1),
    Register("Baud_Rate", 6, 1),
    Register("Return_Delay_Time", 7, 1),
    Register("Min_Position_Limit", 9, 2),
    Register("Max_Position_Limit", 11, 2),
    Register("Max_Torque_Limit", 16, 2),
    Register("P_Coefficient", 21, 1),
    Register("D_Coefficient", 22, 1),
    Register("I_Coefficient", 23, 1),
    Register("Protection_Current", 28, 2),
    Register("Homing_Offset", 31, 2, sign_bit=11),
    Register("Operating_Mode", 33, 1),
    Register("Overload_Torque", 36, 1),
    Register("Torque_Enable", 40, 1),
    Register("Acceleration", 41, 1),
    Register("Goal_Position", 42, 2, sign_bit=15),
    Register("Goal_Velocity", 46, 2, sign_bit=15),
    Register("Torque_Limit", 48, 2),
    Register("Lock", 55, 1),
    Register("Present_Position", 56, 2, sign_bit=15),
    Register("Present_Velocity", 58, 2, sign_bit=15),
    Register("Present_Load", 60, 2, sign_bit=10),
    Register("Present_Voltage", 62, 1),
    Register("Present_Temperature", 63, 1),
    Register("Moving", 66, 1),
    Register("Present_Current", 69, 2),
    Register("Maximum_Acceleration", 85, 1),
)}


class ProtocolError(ValueError):
    """A packet that breaks the protocol: bad header, length or checksum."""


class Incomplete(ProtocolError):
    """Not all of a packet has arrived yet."""


def checksum(body: bytes) -> int:
    """Of ID, LEN, INSTR (or ERROR) and the params."""
    return ~sum(body) & 0xFF


def packet(motor_id: int, instruction: int, params: bytes = b"") -> bytes:
    """An instruction packet (or, with ``instruction`` the error byte, a status packet)."""
    body = bytes([motor_id, len(params) + 2, instruction]) + params
    return HEADER + body + bytes([checksum(body)])


@dataclass(frozen=True)
class Status:
    motor_id: int
    error: int
    params: bytes


def parse_status(data: bytes) -> tuple[Status, bytes]:
    """The first status packet in ``data`` and what follows it: :class:`Incomplete` until it has all
    arrived, :class:`ProtocolError` if it is malformed."""
    start = data.find(HEADER)
    if start < 0 or len(data) < start + 6:
        raise Incomplete(f"no complete status packet in {data.hex(' ') or 'nothing'}")
    motor_id, length = data[start + 2], data[start + 3]
    end = start + 4 + length
    if length < 2 or len(data) < end:
        raise Incomplete(f"status packet of motor {motor_id} cut short ({len(data) - start} of {end - start} bytes)")
    body = data[start + 2:end - 1]
    if checksum(body) != data[end - 1]:
        raise ProtocolError(f"status packet of motor {motor_id}: checksum {data[end - 1]:#04x}, expected "
                            f"{checksum(body):#04x}")
    return Status(motor_id, data[start + 4], bytes(data[start + 5:end - 1])), data[end:]


def encode(register: Register, value: int) -> bytes:
    """A value as the register's little-endian bytes (sign-magnitude where the register is)."""
    if register.sign_bit is not None:
        magnitude = abs(int(value))
        if magnitude >= 1 << register.sign_bit:
            raise ValueError(f"{register.name}: magnitude {magnitude} exceeds {(1 << register.sign_bit) - 1}")
        raw = magnitude | ((1 << register.sign_bit) if value < 0 else 0)
    else:
        raw = int(value)
        if not 0 <= raw < 1 << (8 * register.size):
            raise ValueError(f"{register.name}: {raw} does not fit {register.size} byte(s)")
    return raw.to_bytes(register.size, "little")


def decode(register: Register, data: bytes) -> int:
    raw = int.from_bytes(data[:register.size], "little")
    if register.sign_bit is not None and raw & (1 << register.sign_bit):
        return -(raw & ((1 << register.sign_bit) - 1))
    return raw
