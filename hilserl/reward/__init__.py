"""Rewards: the success rules of the user's log, the simulator's truth, and the learned classifier."""
