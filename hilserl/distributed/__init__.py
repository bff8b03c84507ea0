"""Actor and learner: the two halves of HIL-SERL, in one process or over gRPC."""
