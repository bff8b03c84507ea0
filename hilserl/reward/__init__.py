"""The learned reward: the classifier, its training, and the wrapper that makes it the env's reward."""
