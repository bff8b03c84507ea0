"""The real SO-101 arm: its servo bus (Feetech protocol over pyserial), LeRobot-compatible calibration, and a digital twin of the bus on a pseudo-terminal for tests."""
