"""Transport only: the gRPC protocol, its wire format and checks, the learner and actor processes, and their launch."""
