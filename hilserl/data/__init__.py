"""Transitions, replay buffers (RLPD sampling, feature cache) and datasets on disk."""
