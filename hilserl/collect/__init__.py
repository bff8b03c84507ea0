"""The collect layer: rollouts, demonstrations, classifier frames and encoder pre-training frames."""
