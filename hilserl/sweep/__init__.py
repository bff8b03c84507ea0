"""Seed sweeps: a list of configs x seeds trained as independent runs, on this machine's processes or
as Ray tasks on a cluster, resumable, collected into one result file."""
