"""What the real arm raises when it has to stop: each one leaves the torque off and names what failed."""


class RobotFault(IOError):
    """A fault of the real arm (its bus, a joint, a camera); the torque is off when it reaches you."""
