"""Transitions, replay buffers, and demonstrations on disk."""
