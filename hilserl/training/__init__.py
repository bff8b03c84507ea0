"""Training: the actor, the learner, checkpoints, the run lifecycle, evaluation and run logs (in one process;
``distributed`` carries the same parts over gRPC)."""
