"""Analysis and plots over runs and checkpoints: report, success map, local optimum, encoder probe, config and reward audits."""
