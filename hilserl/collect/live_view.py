"""A live view of a run in rerun, the viewer LeRobot's users already have.

Per control step it logs each camera as the policy sees it, the action (the arm's values and the
gripper command), who is in control, the reward and, under a reward classifier, its probability with
the threshold and the consecutive-frames count, and the critic's value of the state; per episode its
success and length. Three timelines: ``env_step`` (the run's), ``episode`` and ``step`` (within the
episode), so that an episode can be played on its own.

Logging runs in a thread of its own behind a bounded queue: the control loop only enqueues. In real
time (an actor at its control rate), when the viewer or the disk falls behind, steps are dropped, and
counted in the recording (``view/dropped_steps``), rather than the loop delayed; elsewhere (a
single-process run, an evaluation) the loop waits, and every step is kept.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import numpy as np

from hilserl.collect.rollout import Step, camera_images

APPLICATION_ID = "hilserl"
WEB_VIEWER_PORT = 9090
"""Where the web viewer is served when there is no display (rerun's default)."""
QUEUE_STEPS = 64
"""Steps waiting to be logged before new ones are dropped: 6 s at 10 Hz."""
RECORDINGS = "recordings"
"""A run's folder for ``--record``."""


class LiveViewUnavailable(RuntimeError):
    """rerun is not installed."""


@dataclass(frozen=True)
class ViewTarget:
    """Where the view goes: a viewer (``display``: a window where there is a display, else the web
    viewer served on this machine) or a recording file (``record``) to open later with ``rerun FILE``."""

    mode: Literal["display", "record"]
    path: Path | None = None

    @classmethod
    def recording_in(cls, folder: Path, name: str) -> "ViewTarget":
        return cls("record", Path(folder) / RECORDINGS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.rrd")


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("darwin", "win32")


@dataclass
class _EpisodeEnd:
    episode: int
    env_step: int
    length: int
    success: bool
    intervention_steps: int


class LiveView:
    """Logs steps and episodes to rerun from a background thread (see the module's docstring).

    ``gripper_index``: the action's gripper dimension (None: an arm only). ``threshold``: the reward
    classifier's, drawn beside its probability. ``human``: who intervenes ("person", "simulated human").
    ``realtime``: drop steps rather than wait when the queue is full."""

    def __init__(self, target: ViewTarget, *, gripper_index: int | None = None, threshold: float | None = None,
                 human: str = "person", realtime: bool = False, queue_steps: int = QUEUE_STEPS, say=print):
        try:
            import rerun as rr
        except ImportError:
            raise LiveViewUnavailable("the live view needs rerun: pip install 'rerun-sdk>=0.24,<0.27'") from None
        self._rr = rr
        self.gripper_index = gripper_index
        self.threshold = threshold
        self.human = human
        self.rec = rr.RecordingStream(APPLICATION_ID, recording_id=uuid.uuid4())
        self.address: str | None = None
        if target.mode == "record":
            assert target.path is not None
            target.path.parent.mkdir(parents=True, exist_ok=True)
            self.rec.save(target.path)
            say(f"live view: recording to {target.path} (open it with: rerun {target.path})")
        elif has_display():
            self.rec.spawn()
            say("live view: opened in the rerun viewer")
        else:
            server = self.rec.serve_grpc()
            rr.serve_web_viewer(web_port=WEB_VIEWER_PORT, connect_to=server, open_browser=False)
            self.address = f"http://localhost:{WEB_VIEWER_PORT}/?url={quote(server, safe=':/')}"
            grpc_port = server.rsplit(":", 1)[-1].split("/")[0]
            say(f"live view: no display here; the web viewer is served at {self.address} (from another "
                f"computer, forward ports {WEB_VIEWER_PORT} and {grpc_port})")
        self.path = target.path
        self.realtime = realtime
        self._queue: queue.Queue = queue.Queue(maxsize=queue_steps)
        self.logged = 0
        self.dropped = 0
        self._control: str | None = None
        self._say = say
        self.error: Exception | None = None
        """What stopped the logging, if anything did: the run goes on without its view."""
        self._thread = threading.Thread(target=self._work, name="live-view", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ called by the control loop
    def step(self, episode: int, env_step: int, step: Step, value: float | None = None) -> None:
        """Enqueue one step (images copied: an env may reuse its buffers); in real time, never waits."""
        obs = {**step.obs, **{k: np.array(v) for k, v in camera_images(step.obs).items()}}
        info = {k: step.info[k] for k in ("classifier_prob", "success_streak") if k in step.info}
        self._put((episode, env_step, Step(step.index, obs, step.action, step.intervened, step.reward, info), value))

    def episode_end(self, episode: int, env_step: int, length: int, success: bool, intervention_steps: int) -> None:
        self._put(_EpisodeEnd(episode, env_step, length, success, intervention_steps))

    def _put(self, item: Any) -> None:
        if not self.realtime:
            self._queue.put(item)
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Log what is queued, then close the recording (a file is complete after this)."""
        self._queue.put(None)
        self._thread.join()
        self.rec.flush()
        self.rec.disconnect()

    # ------------------------------------------------------------------ the logging thread
    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.error is not None:
                continue  # keep emptying the queue: the control loop must never wait on a dead view
            try:
                if isinstance(item, _EpisodeEnd):
                    self._log_end(item)
                else:
                    self._log_step(*item)
                    self.logged += 1
            except Exception as exc:  # a view that fails must not take the run with it
                self.error = exc
                self._say(f"live view: stopped logging ({type(exc).__name__}: {exc}); the run goes on")

    def _times(self, episode: int, env_step: int, step: int) -> None:
        self.rec.set_time("env_step", sequence=env_step)
        self.rec.set_time("episode", sequence=episode)
        self.rec.set_time("step", sequence=step)

    def _layout(self, step: Step) -> None:
        """The viewer's layout, once the first step says which cameras and values there are: the
        cameras, the plots, the episodes' log, on the run's timeline."""
        import rerun.blueprint as rrb

        cameras = [rrb.Spatial2DView(origin=f"cameras/{name}", name=name) for name in camera_images(step.obs)]
        plots = [rrb.TimeSeriesView(origin="action", name="action"),
                 rrb.TimeSeriesView(contents=["/reward", "/control/intervention"], name="reward, intervention"),
                 rrb.TimeSeriesView(origin="critic", name="critic's value")]
        if "classifier_prob" in step.info:
            plots.insert(1, rrb.TimeSeriesView(origin="classifier", name="reward classifier"))
        logs = [rrb.TextLogView(contents=["/control/who", "/episode/summary"], name="who is in control, episodes"),
                rrb.TimeSeriesView(origin="episode", name="episodes")]
        columns = ([rrb.Vertical(*cameras)] if cameras else []) + [rrb.Vertical(*plots), rrb.Vertical(*logs)]
        self.rec.send_blueprint(rrb.Blueprint(rrb.Horizontal(*columns), rrb.TimePanel(timeline="env_step"),
                                              collapse_panels=True))

    def _log_step(self, episode: int, env_step: int, step: Step, value: float | None) -> None:
        rr, log = self._rr, self.rec.log
        if not self.logged:
            self._layout(step)
        self._times(episode, env_step, step.index)
        for name, image in camera_images(step.obs).items():
            log(f"cameras/{name}", rr.Image(image))
        action = np.asarray(step.action, np.float64)
        arm = np.delete(action, self.gripper_index) if self.gripper_index is not None else action
        log("action/arm", rr.Scalars(arm))
        if self.gripper_index is not None:
            log("action/gripper", rr.Scalars(action[self.gripper_index]))
        log("control/intervention", rr.Scalars(float(step.intervened)))
        control = self.human if step.intervened else "policy"
        if control != self._control:
            log("control/who", rr.TextLog(f"{control} in control from step {step.index}"))
            self._control = control
        log("reward", rr.Scalars(step.reward))
        if "classifier_prob" in step.info:
            log("classifier/probability", rr.Scalars(float(step.info["classifier_prob"])))
            if self.threshold is not None:
                log("classifier/threshold", rr.Scalars(float(self.threshold)))
            log("classifier/consecutive_frames", rr.Scalars(float(step.info.get("success_streak", 0))))
        if value is not None:
            log("critic/value", rr.Scalars(value))

    def _log_end(self, end: _EpisodeEnd) -> None:
        rr = self._rr
        self._times(end.episode, end.env_step, end.length)
        self.rec.log("episode/success", rr.Scalars(float(end.success)))
        self.rec.log("episode/length", rr.Scalars(float(end.length)))
        self.rec.log("episode/summary", rr.TextLog(
            f"episode {end.episode}: {'success' if end.success else 'failure'} after {end.length} steps, "
            f"{end.intervention_steps} with {self.human} in control"))
        self.rec.log("view/dropped_steps", rr.Scalars(float(self.dropped)))
        self._control = None

