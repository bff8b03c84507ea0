import json

import numpy as np
import pytest
import torch

from hilserl.agent.resnet import ResNet10
from hilserl.config import load_config
from hilserl.data.episodes import DatasetDamaged, DatasetMismatch, EpisodeWriter, iter_transitions
from hilserl.data.episodes import read_meta as _read_meta
from hilserl.data.feature_cache import CropFeatureCache, FeatureCodec
from hilserl.data.replay_buffer import FieldSpec, ReplayBuffer, sample_mixed
from hilserl.data.routing import route
from hilserl.data.transition import Transition
from hilserl.data.transition_store import TransitionStore, frame_specs, transition_specs
from hilserl.envs.contract import ActionLayout
from hilserl.training.learner import Learner

GRASP = ActionLayout(arm_dims=3, gripper=True)
"""The grasp task's actions: dx, dy, dz and a gripper command."""


def scalar_buffer(capacity, seed=0):
    return ReplayBuffer(capacity, {"x": FieldSpec((), np.int64), "v": FieldSpec((2,), np.float32)}, seed=seed)


def saved_rows(buf, folder):
    buf.save_rows(folder, "b")
    return np.load(folder / "b.x.npy").tolist()


def test_buffer_wraps_around_fifo(tmp_path):
    buf = scalar_buffer(5)
    for i in range(12):
        buf.add({"x": np.int64(i), "v": np.full(2, i, np.float32)})
    assert len(buf) == 5 and buf.added == 12
    assert saved_rows(buf, tmp_path) == [7, 8, 9, 10, 11]  # oldest first
    assert set(buf.sample(200)["x"].tolist()) == {7, 8, 9, 10, 11}


def test_buffer_grows_lazily_and_keeps_data(tmp_path):
    buf = scalar_buffer(100_000)
    for i in range(3000):
        buf.add({"x": np.int64(i), "v": np.zeros(2, np.float32)})
    assert buf._rows < 100_000  # did not reserve the whole capacity
    assert saved_rows(buf, tmp_path) == list(range(3000))


def test_saved_rows_load_back_in_order_and_fifo_goes_on(tmp_path):
    buf = scalar_buffer(5)
    for i in range(12):
        buf.add({"x": np.int64(i), "v": np.full(2, i, np.float32)})
    buf.save_rows(tmp_path, "b")
    back = scalar_buffer(5)
    back.load_rows(tmp_path, "b")
    again = tmp_path / "again"
    again.mkdir()
    assert len(back) == 5 and saved_rows(back, again) == [7, 8, 9, 10, 11]
    back.add({"x": np.int64(12), "v": np.zeros(2, np.float32)})  # the oldest (7) goes first
    assert set(back.sample(300)["x"].tolist()) == {8, 9, 10, 11, 12}
    small = scalar_buffer(3)
    small.load_rows(tmp_path, "b")  # a smaller capacity keeps the newest
    assert set(small.sample(100)["x"].tolist()) == {9, 10, 11}


def test_buffer_refuses_wrong_shapes_naming_the_field():
    buf = scalar_buffer(4)
    with pytest.raises(ValueError, match=r"field 'v': got shape \(3,\)"):
        buf.add({"x": np.int64(0), "v": np.zeros(3, np.float32)})
    with pytest.raises(KeyError, match="lacks"):
        buf.add({"x": np.int64(0)})


def test_sampling_is_half_demo_half_online():
    online, demo = scalar_buffer(100, 1), scalar_buffer(100, 2)
    for i in range(50):
        online.add({"x": np.int64(i), "v": np.zeros(2, np.float32)})
        demo.add({"x": np.int64(1000 + i), "v": np.zeros(2, np.float32)})
    b = sample_mixed(online, demo, 256, 0.5)
    assert (b["x"] >= 1000).sum() == 128 and (b["x"] < 1000).sum() == 128
    assert np.array_equal(b["demonstrated"], (b["x"] >= 1000).astype(np.float32))  # flagged by buffer
    b = sample_mixed(online, demo, 100, 0.25)
    assert (b["x"] >= 1000).sum() == 25
    empty = scalar_buffer(10)
    assert (sample_mixed(online, empty, 64, 0.5)["x"] < 1000).all()


def transition(intervened, state_dim=24, value=0.0):
    obs = {"state": np.full(state_dim, value, np.float32)}
    return Transition(obs, np.zeros(4, np.float32), 0.0, obs, False, False, intervened)


class Recorder:
    def __init__(self):
        self.items = []

    def add_transition(self, t):
        self.items.append(t)


def test_routing_interventions_to_both_policy_steps_to_online_only():
    online, demo = Recorder(), Recorder()
    # policy steps before, an intervention, policy steps after: as in the paper
    steps = [transition(False), transition(False), transition(True), transition(True), transition(False)]
    for t in steps:
        route(t, online, demo)
    assert online.items == steps
    assert demo.items == [steps[2], steps[3]]


def test_learner_routes_and_counts():
    cfg = load_config(None, ["env.state_only=true"])
    learner = Learner(cfg)
    for flag in (False, True, False):
        learner.add(transition(flag))
    learner.add_demo(transition(True))
    assert len(learner.online) == 3 and len(learner.demo) == 2
    assert learner.buffer_composition() == {"demo_steps": 1, "policy_steps": 2, "intervention_steps": 1}


def test_feature_cache_shapes_memo_and_crops():
    backbone = ResNet10().eval()
    cache = CropFeatureCache(backbone, padding=4, crops=3, seed=0)
    rng = np.random.default_rng(0)
    images = {"wrist": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
              "front": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)}
    feats = cache(images)
    assert feats["wrist"].shape == (3, 512, 2, 2) and feats["wrist"].dtype == np.float16
    assert not np.allclose(feats["wrist"][0], feats["wrist"][1])  # different crops
    again = cache({k: v.copy() for k, v in images.items()})
    assert again is feats and cache.computed == 1  # next obs of one step = obs of the next


def test_feature_specs_store_crops_in_half_precision_or_bytes():
    specs = frame_specs({"wrist": (128, 128, 3)}, FeatureCodec((512, 4, 4)), 4)
    assert specs["wrist"].shape == (4, 512, 4, 4) and specs["wrist"].dtype == np.float16
    specs = frame_specs({"wrist": (128, 128, 3)}, FeatureCodec((512, 4, 4), "uint8"), 4)
    assert specs["wrist"].shape == (4, 512, 16 + 2) and specs["wrist"].dtype == np.uint8
    assert frame_specs({"wrist": (128, 128, 3)}, None, 4)["wrist"].dtype == np.uint8


def test_uint8_feature_codec_keeps_the_features_far_closer_than_two_crops():
    """The shipped backbone's maps of two crops of a camera frame of the simulated grasp, stored in
    uint8 and read back: each value within half a level of its channel's scale, a channel of zeros
    stays zero, and the values move by under a hundredth of how far two crops of the frame are apart."""
    from hilserl.agent.backbone import load_backbone
    from hilserl.config import EncoderConfig, EnvConfig
    from hilserl.envs.factory import make_env

    env = make_env(EnvConfig())
    image = env.reset(seed=0)[0]["front"]
    env.close()
    codec = FeatureCodec((512, 4, 4), "uint8")
    cache = CropFeatureCache(load_backbone(EncoderConfig()), padding=4, crops=2, seed=0, codec=codec)
    stored = cache({"front": image})["front"]
    assert stored.dtype == np.uint8 and stored.shape == (2, 512, 18)
    exact = cache.backbone(torch.from_numpy(image)[None].expand(2, -1, -1, -1))
    exact[:, :3] = 0  # a ReLU channel that is off everywhere, whichever backbone is shipped
    packed = torch.from_numpy(codec.encode(exact))
    decoded = codec.decode(packed)
    assert decoded.shape == exact.shape and decoded.dtype == torch.float32
    scale = exact.flatten(2).amax(2)[..., None, None] / 255
    assert torch.all((decoded - exact).abs() <= 0.5 * scale * (1 + 2**-10) + 1e-7)
    zero = exact.flatten(2).amax(2) == 0
    assert zero[:, :3].all() and torch.all(decoded[zero] == 0)  # channels that are off stay off
    crops = codec.decode(torch.from_numpy(stored))
    float16 = CropFeatureCache(cache.backbone, padding=4, crops=2, seed=0)({"front": image})["front"]
    error = (crops - torch.from_numpy(float16).float()).abs().mean()
    between_crops = (crops[0] - crops[1]).abs().mean()
    assert error < 0.01 * between_crops


def image_buffer(capacity, frame_capacity=None, seed=0):
    return ReplayBuffer(capacity, transition_specs(1, 2), seed=seed, frames={"cam": FieldSpec((2, 2, 3), np.uint8)},
                        frame_capacity=frame_capacity)


def image_transition(step, episode=0, intervened=False):
    """Step ``step`` of an episode; frame k of episode e is filled with 10 * e + k."""
    def obs(k):
        return {"state": np.full(1, 10 * episode + k, np.float32), "cam": np.full((2, 2, 3), 10 * episode + k, np.uint8)}
    return Transition(obs(step), np.zeros(2, np.float32), float(step), obs(step + 1), False, False, intervened)


def test_frames_are_stored_once_and_batches_read_them_as_before(tmp_path):
    store = TransitionStore(image_buffer(100), ["cam"], None)
    for episode in range(3):
        for step in range(5):
            store.add_transition(image_transition(step, episode))
    buf = store.buffer
    assert len(buf) == 15 and buf.frames_held == 3 * 6  # 5 steps + the first frame, per episode
    batch = buf.sample(200)
    # each transition's frames are its own: obs shows its state, next obs the state after
    assert np.array_equal(batch["obs.cam"][:, 0, 0, 0], batch["obs.state"][:, 0].astype(np.uint8))
    assert np.array_equal(batch["next_obs.cam"][:, 0, 0, 0], batch["next_obs.state"][:, 0].astype(np.uint8))
    # interventions scattered in an episode share frames only where consecutive
    demo = TransitionStore(image_buffer(100), ["cam"], None)
    for step in (1, 2, 3, 6, 7):
        demo.add_transition(image_transition(step, intervened=True))
    assert demo.buffer.frames_held == 4 + 3


def test_the_frame_ring_drops_the_oldest_transitions_it_cannot_hold_and_checkpoints_roundtrip(tmp_path):
    store = TransitionStore(image_buffer(6, frame_capacity=7), ["cam"], None)
    for step in (0, 2, 4, 6):  # no two consecutive: two frames each, four transitions need 8 frames
        store.add_transition(image_transition(step))
    buf = store.buffer
    assert len(buf) == 3 and set(buf.sample(100)["obs.state"][:, 0]) == {2, 4, 6}
    for step in range(7, 12):  # consecutive, one frame each: 6 transitions in 7 frames
        store.add_transition(image_transition(step))
    buf.mark()
    store.add_transition(image_transition(12))
    assert len(buf) == 6 and set(buf.sample(200)["obs.state"][:, 0]) == set(range(7, 13))
    buf.save_rows(tmp_path, "b", leave_newest=1)
    back = image_buffer(6, frame_capacity=7)
    back.load_rows(tmp_path, "b")
    batch = back.sample(200)
    assert len(back) == 6 and set(batch["obs.state"][:, 0]) == set(range(6, 12))  # as at the mark: 6 put back
    assert np.array_equal(batch["next_obs.cam"][:, 0, 0, 0], batch["next_obs.state"][:, 0].astype(np.uint8))
    TransitionStore(back, ["cam"], None).add_transition(image_transition(12))  # goes on, FIFO: 2 new frames
    assert len(back) == 5 and set(back.sample(200)["obs.state"][:, 0]) == set(range(8, 13))
    small = image_buffer(2, frame_capacity=3)
    small.load_rows(tmp_path, "b")  # a smaller ring keeps the newest transitions whose frames fit
    assert len(small) == 2 and set(small.sample(50)["obs.state"][:, 0]) == {10, 11}


def _files(folder):
    return {p.name: np.load(p) for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("frame_capacity", [None, 9])
def test_a_buffer_saved_without_the_rows_since_its_mark_is_the_buffer_at_the_mark(tmp_path, frame_capacity):
    """A full buffer whose newest rows (an episode under way) overwrote old rows and frames is written
    as it was at the mark, byte for byte: the episode run again after a resume then samples the rows its
    first run pushed out. A smaller frame ring (9) pushes rows out by their frames before their rows."""
    store = TransitionStore(image_buffer(8, frame_capacity), ["cam"], None)
    for episode in range(3):
        for step in range(4):
            store.add_transition(image_transition(step, episode, intervened=step == 2))
    buf = store.buffer
    at_mark, later = tmp_path / "at_mark", tmp_path / "later"
    at_mark.mkdir(), later.mkdir()
    buf.mark()
    buf.save_rows(at_mark, "b")
    rows_at_mark = set(buf.sample(300)["obs.state"][:, 0])
    for step in range(6):  # an episode under way: it overwrites six of the eight rows and their frames
        store.add_transition(image_transition(step, episode=5))
    assert len(set(buf.sample(300)["obs.state"][:, 0]) & rows_at_mark) <= 2
    buf.save_rows(later, "b", leave_newest=6)
    saved, expected = _files(later), _files(at_mark)
    assert saved.keys() == expected.keys() and all(np.array_equal(saved[k], expected[k]) for k in saved)
    back = image_buffer(8, frame_capacity)
    back.load_rows(later, "b")
    batch = back.sample(300)
    assert set(batch["obs.state"][:, 0]) == rows_at_mark
    assert np.array_equal(batch["obs.cam"][:, 0, 0, 0], batch["obs.state"][:, 0].astype(np.uint8))
    with pytest.raises(ValueError, match="6 rows added since the mark"):
        buf.save_rows(later, "b", leave_newest=5)  # a count that is not the mark's would lose rows silently
    with pytest.raises(ValueError, match="no mark"):
        back.save_rows(later, "b", leave_newest=1)


def test_the_learner_marks_its_buffers_at_each_episodes_first_step(tmp_path, monkeypatch):
    """A checkpoint leaves out the episode under way from both buffers, the demo buffer's interventions
    included, and writes each as it was when that episode began: also after a stop (Ctrl-C) that fell
    between an intervention's online row and its demo row."""
    learner = Learner(load_config(None, ["env.state_only=true", "buffer.online_capacity=5"]))
    state_dim = learner.layout.state_dim

    def step(k, intervened=False):
        obs = {"state": np.full(state_dim, k, np.float32)}
        return Transition(obs, np.zeros(4, np.float32), 0.0, obs, False, False, intervened)

    for k in range(4):
        learner.add(step(k, intervened=k == 1))
    learner.episode_ended()
    before = tmp_path / "before"
    before.mkdir()
    for name, buf in learner.buffers().items():
        buf.save_rows(before, name)
    for k in range(10, 14):  # the next episode, under way: it overwrites the online buffer's oldest rows
        learner.add(step(k, intervened=k == 12))

    def stopped(t):
        raise KeyboardInterrupt

    monkeypatch.setattr(learner.demo, "add_transition", stopped)
    with pytest.raises(KeyboardInterrupt):
        learner.add(step(14, intervened=True))  # its online row is in, its demo row never came
    mid = tmp_path / "mid"
    mid.mkdir()
    for name, buf in learner.buffers().items():
        buf.save_rows(mid, name, learner.unfinished_rows()[name])
    saved, expected = _files(mid), _files(before)
    assert saved.keys() == expected.keys() and all(np.array_equal(saved[k], expected[k]) for k in saved)
    assert np.load(mid / "online.obs.state.npy")[:, 0].tolist() == [0, 1, 2, 3]


def test_episode_dataset_roundtrip_and_refusals(tmp_path):
    cams = {"wrist": (8, 8, 3)}
    w = EpisodeWriter(tmp_path, cams, 3, 10, source="test")
    for i in range(4):
        obs = {"state": np.full(3, i, np.float32), "wrist": np.full((8, 8, 3), i, np.uint8)}
        nxt = {"state": np.full(3, i + 1, np.float32), "wrist": np.full((8, 8, 3), i + 1, np.uint8)}
        w.add(Transition(obs, np.full(4, 0.5, np.float32), float(i), nxt, i == 3, False, True, i == 3))
    w.end_episode()
    with pytest.raises(DatasetMismatch, match="its recording was interrupted"):  # not finished yet
        list(iter_transitions(tmp_path, 3, cams, GRASP))
    w.finish()
    ts = list(iter_transitions(tmp_path, 3, cams, GRASP))
    assert len(ts) == 4
    assert ts[2].next_observation["state"][0] == 3 and ts[2].observation["wrist"][0, 0, 0] == 2
    assert ts[3].terminated and ts[3].success and all(t.intervened for t in ts)
    with pytest.raises(DatasetMismatch, match="camera 'front' is missing"):
        list(iter_transitions(tmp_path, 3, {"front": (8, 8, 3)}, GRASP))
    with pytest.raises(DatasetMismatch, match="state has 3 dims, the env gives 5"):
        list(iter_transitions(tmp_path, 5, cams, GRASP))
    with pytest.raises(DatasetMismatch, match=r"images are \(8, 8, 3\), the env gives \(16, 16, 3\)"):
        list(iter_transitions(tmp_path, 3, {"wrist": (16, 16, 3)}, GRASP))


def test_grid_placements_cover_the_reset_range_corners_included():
    from hilserl.collect.demos import grid_placements
    from hilserl.config import EnvConfig

    env = EnvConfig(state_only=True)
    lo, hi, r = env.cube_region.low, env.cube_region.high, env.cube_yaw_range
    places = grid_placements(env, 20, np.random.default_rng(0))
    xy = np.array([p[:2] for p in places])
    yaw = np.array([p[2] for p in places])
    assert len(places) == 20 and len({tuple(p) for p in xy.round(6)}) == 20
    for corner in [(lo[0], lo[1]), (lo[0], hi[1]), (hi[0], lo[1]), (hi[0], hi[1])]:
        assert np.isclose(xy, corner).all(axis=1).any(), corner
    assert (xy >= np.array(lo[:2]) - 1e-9).all() and (xy <= np.array(hi[:2]) + 1e-9).all()
    assert np.allclose(np.sort(yaw), np.linspace(-r, r, 20))  # every rotation band, once
    one = grid_placements(env, 1, np.random.default_rng(0))  # a single demo: the range's centre
    assert np.allclose(one[0][:2], [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2])


@pytest.mark.parametrize("placement", ["grid", "random"])
def test_recorded_demos_put_the_cube_where_the_placement_says(tmp_path, placement):
    from hilserl.collect.demos import grid_placements, record_demos
    from hilserl.config import EnvConfig
    from hilserl.envs.factory import task_layout

    env_cfg = EnvConfig(state_only=True)
    state_dim = task_layout(env_cfg).observation.state_dim
    assert record_demos(env_cfg, 4, tmp_path, placement=placement) == 4
    starts, new_episode = [], True
    for t in iter_transitions(tmp_path, state_dim, {}, GRASP):
        if new_episode:
            starts.append(t.observation["state"][16:18])  # the cube's true x, y (state-only mode)
        new_episode = t.terminated or t.truncated
    corners = np.array([p[:2] for p in grid_placements(env_cfg, 4, np.random.default_rng(0))])
    at_corners = np.isclose(np.array(starts), corners, atol=2e-3).all(axis=1)
    assert len(starts) == 4
    assert at_corners.all() if placement == "grid" else not at_corners.any()


def _one_episode(root, state_dim=3, fps=10):
    w = EpisodeWriter(root, {}, state_dim, fps, source="test")
    for i in range(3):
        w.add(Transition({"state": np.full(state_dim, i, np.float32)}, np.zeros(4, np.float32), 0.0,
                         {"state": np.full(state_dim, i + 1, np.float32)}, False, False, True))
    w.end_episode()
    w.finish()
    return root / "episode_000000.npz"


def test_appending_with_another_config_is_refused_naming_what_differs(tmp_path):
    _one_episode(tmp_path)
    with pytest.raises(DatasetMismatch, match=r"holds 1 episodes recorded with another config \(fps: 10 -> 20; "
                                              r"state_dim: 3 -> 5\)"):
        EpisodeWriter(tmp_path, {}, 5, 20, source="test")
    assert _read_meta(tmp_path)["state_dim"] == 3  # meta.json untouched


@pytest.mark.parametrize("damage, message", [
    ("truncate", r"episode_000000.npz: cannot be read"),
    ("drop next.reward", r"episode_000000.npz: lacks \['next.reward'\]"),
    ("nan state", r"episode_000000.npz: observation.state holds NaN or inf"),
    ("short action", r"episode_000000.npz: action has shape \(3, 3\), expected \(3, 4\)"),
])
def test_a_damaged_episode_file_is_named_with_its_field(tmp_path, damage, message):
    path = _one_episode(tmp_path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    else:
        arrays = dict(np.load(path))
        if damage == "drop next.reward":
            del arrays["next.reward"]
        elif damage == "nan state":
            arrays["observation.state"][1, 0] = np.nan
        else:
            arrays["action"] = arrays["action"][:, :3]
        np.savez(path, **arrays)
    with pytest.raises(DatasetDamaged, match=message):
        list(iter_transitions(tmp_path, 3, {}, GRASP))


def test_an_interrupted_demo_recording_is_finished_not_appended_to(tmp_path, capsys):
    from hilserl.collect.demos import record_demos
    from hilserl.config import EnvConfig

    env = EnvConfig(state_only=True)
    record_demos(env, 3, tmp_path)
    meta = _read_meta(tmp_path)
    (tmp_path / "episode_000002.npz").unlink()  # as if stopped after 2 of 3
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "episodes": 2, "complete": False}))
    assert record_demos(env, 3, tmp_path) == 3
    assert "finishing the interrupted recording" in capsys.readouterr().out
    assert _read_meta(tmp_path)["episodes"] == 3 and _read_meta(tmp_path)["complete"] is True
    assert len(list(iter_transitions(tmp_path, _read_meta(tmp_path)["state_dim"], {}, GRASP))) > 0


def test_detours_hold_one_random_direction_then_hand_back_to_the_policy():
    from hilserl.collect.demos import detoured
    from hilserl.config import DetourConfig

    calls = []

    def policy(obs):
        calls.append(obs)
        return np.array([0.1, -0.2, 0.3, 2.0], np.float32)

    rng = np.random.default_rng(0)
    never = detoured(policy, 3, DetourConfig(rate=0.0), 10.0, rng)
    assert all(np.array_equal(never({}), policy({})) for _ in range(20))

    always = detoured(policy, 3, DetourConfig(rate=10.0, seconds=0.3), 10.0, rng)  # chance 1: detours back to back
    calls.clear()
    actions = np.stack([always({"step": i}) for i in range(9)])
    assert len(calls) == 9  # the policy is asked every step, its bookkeeping runs on
    assert (actions[:, 3] == 2.0).all()  # the gripper command stays the policy's
    runs = actions[:, :3].reshape(3, 3, 3)  # three detours of 0.3 s at 10 Hz
    for run in runs:
        assert np.allclose(run, run[0]) and np.isclose(np.abs(run[0]).max(), 1.0)  # one direction, full speed
    assert not np.allclose(runs[0, 0], runs[1, 0])

    sometimes = detoured(policy, 3, DetourConfig(rate=1.0, seconds=0.1), 10.0, np.random.default_rng(1))
    moved = sum(not np.allclose(sometimes({})[:3], [0.1, -0.2, 0.3]) for _ in range(10_000))
    assert 850 < moved < 1150  # one step in ten (1 a second at 10 Hz, one step each)


def test_demos_with_detours_show_the_expert_from_poses_its_own_path_misses(tmp_path):
    from hilserl.collect.demos import record_demos
    from hilserl.config import DetourConfig, EnvConfig
    from hilserl.envs.factory import task_layout

    env_cfg = EnvConfig(state_only=True)
    state_dim = task_layout(env_cfg).observation.state_dim
    record_demos(env_cfg, 6, tmp_path / "plain", progress=False)
    detours = DetourConfig(rate=4.0, seconds=0.2)
    assert record_demos(env_cfg, 6, tmp_path / "detours", progress=False, detours=detours) == 6
    assert _read_meta(tmp_path / "detours")["env"]["demo_detours"] == {"rate": 4.0, "seconds": 0.2}
    assert "demo_detours" not in _read_meta(tmp_path / "plain")["env"]

    def low_beside_the_cube(folder):
        """Rows with the fingertip within 2 cm of the cube's height, over 1.5 cm to its side."""
        rel = np.stack([t.observation["state"][19:22]  # cube minus fingertip (state-only mode)
                        for t in iter_transitions(tmp_path / folder, state_dim, {}, GRASP)])
        return int(((rel[:, 2] > -0.02) & (np.linalg.norm(rel[:, :2], axis=1) > 0.015)).sum())

    plain, detoured = low_beside_the_cube("plain"), low_beside_the_cube("detours")
    assert detoured >= 2 * plain + 5, (plain, detoured)  # measured: 3 against 22
    with pytest.raises(DatasetMismatch, match="demo_detours"):
        record_demos(env_cfg, 6, tmp_path / "plain", progress=False, detours=detours)
