"""Who may override the policy: real teleop devices and the simulated human, behind one interface."""
