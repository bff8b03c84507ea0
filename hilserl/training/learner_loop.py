"""The learner's side of a run, written once for both modes: updates at the configured ratio to the
env steps taken in, the NaN check, periodic logs, checkpoints and parameter publishing.

Single-process training feeds it from the actor's callback, one transition at a time; the gRPC
learner from its inbox, a whole episode at a time. Either way the learner owes
``train.updates_per_env_step`` updates per env step once ``train.learning_starts`` online steps are
in, counted from the run's start, so a run's update-to-data ratio is what its config says whatever
the pace of its actors.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hilserl.agent.sac import NonFiniteLoss
from hilserl.config import Config
from hilserl.training.checkpoint import (
    POLICY_FILE,
    CheckpointNotWritten,
    checkpoint_dir,
    checkpoint_path,
    export_policy,
    write_checkpoint,
)
from hilserl.training.learner import Learner
from hilserl.training.run import STEP_LINE, TrainingDiverged
from hilserl.training.run_log import RunLog


@dataclass
class CheckpointContent:
    """What a checkpoint holds beyond the buffers' rows: the state to save, and per buffer the newest
    rows to leave out (an episode not finished yet). ``identity``: set where the same state is saved
    for a while (a single-process run's episode start); a checkpoint of an identity already on disk is
    not written again."""

    state: dict
    leave_newest: dict[str, int]
    identity: tuple[int, int] | None = None


class LearnerLoop:
    def __init__(self, cfg: Config, learner: Learner, run_dir: Path, log: RunLog, *,
                 content: Callable[[], CheckpointContent], say: Callable[[str], None], progress: bool = True,
                 publish: Callable[[], None] | None = None,
                 after_checkpoint: Callable[[CheckpointContent, Path], None] | None = None):
        """``content``: what the mode saves (the learner's state and its side's); ``publish``: send the
        policy's parameters to actors (gRPC); ``after_checkpoint``: called once one is written."""
        self.cfg, self.learner, self.run_dir, self.log = cfg, learner, run_dir, log
        self.content, self.say, self.progress = content, say, progress
        self.publish, self.after_checkpoint = publish, after_checkpoint
        self.env_steps = 0
        """Env steps taken into the buffers over the run (the feeder keeps it)."""
        self.on_disk: tuple[int, int] | None = None
        """The identity of the checkpoint written last, or resumed from (the feeder sets it then)."""

    @property
    def updates(self) -> int:
        return self.learner.agent.updates

    def owed(self) -> int:
        """Updates the env steps taken in allow and not yet done."""
        train = self.cfg.train
        if not self.learner.ready:
            return 0
        return max(0, (self.env_steps - train.learning_starts + 1) * train.updates_per_env_step - self.updates)

    def update(self) -> dict[str, float]:
        """One update, then what falls due at its count: parameters, a metrics line, a checkpoint. A
        NaN or inf loss writes a checkpoint and raises :class:`TrainingDiverged`, naming them."""
        train = self.cfg.train
        try:
            info = self.learner.update()
        except NonFiniteLoss as exc:
            path = self.checkpoint()
            raise TrainingDiverged(f"{exc.name} became {exc.value} at learner update {self.updates} "
                                   f"(env step {self.env_steps}); checkpoint saved to {path}") from exc
        u = self.updates
        if self.publish is not None and u % train.params_every == 0:
            self.publish()
        if u % train.log_every == 0:
            self.log.metrics(u, self.env_steps, {**info, **self.learner.buffer_composition()})
            if self.progress:
                self.say(STEP_LINE.format(update=u, **info))
        if u % train.checkpoint_every == 0:
            try:
                self.checkpoint()
            except CheckpointNotWritten as exc:  # a full disk: the run goes on, the last one is kept
                self.say(f"warning: {exc}")
        return info

    def run_owed(self, stop: threading.Event | None = None, on_update: Callable[[], None] | None = None) -> int:
        """Every update owed (until ``stop`` is set); returns how many were done."""
        done = 0
        while self.owed() > 0 and not (stop is not None and stop.is_set()):
            self.update()
            done += 1
            if on_update is not None:
                on_update()
        return done

    def checkpoint(self) -> Path:
        """A checkpoint of the mode's content. One whose identity is on disk already is not written again
        (the buffers may be gigabytes, and a rewrite leaves a moment with only the older checkpoints);
        the policy beside the checkpoints is exported all the same, since the networks have moved on."""
        content = self.content()
        learner, train = self.learner, self.cfg.train
        updates = int(content.state["updates"])
        kept = checkpoint_path(self.run_dir, updates)
        if content.identity is not None and content.identity == self.on_disk and kept.exists():
            policy_file = checkpoint_dir(self.run_dir) / POLICY_FILE
            export_policy(learner.agent.trained_policy_state_dict(), self.cfg, policy_file, content.state.get("layout"))
            return kept
        path = write_checkpoint(self.run_dir, content.state, updates,
                                learner.agent.trained_policy_state_dict(), self.cfg, buffers=learner.buffers(),
                                keep=train.keep_checkpoints, leave_newest=content.leave_newest)
        self.on_disk = content.identity
        if self.after_checkpoint is not None:
            self.after_checkpoint(content, path)
        return path
