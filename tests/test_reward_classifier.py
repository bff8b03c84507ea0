"""The reward classifier: its data, its training, the reward it gives and the audit of that reward."""

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

from hilserl.collect.classifier_data import HARD_NEGATIVES, frame_label, record_classifier_data
from hilserl.config import ClassifierConfig, EnvConfig, RewardConfig, load_config
from hilserl.data.frames import load_frames
from hilserl.envs.grasp_env import GRIPPER_STATE_INDEX, PROPRIO_DIMS  # the grasp task's state layout
from hilserl.reward.classifier_reward import ClassifierReward, RewardAudit
from hilserl.reward.train_classifier import NotEnoughData, train_classifier

FRONT_ONLY = ['env.cameras=[{"name": "front"}]']
EE_Z = 14
"""Index of the end effector's height in the proprioceptive state."""


class ScriptedEnv(gym.Env):
    """Frames whose truth (held and lifted) and own success signal follow given sequences."""

    observation_space = gym.spaces.Dict({"front": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)})
    action_space = gym.spaces.Box(-1, 1, (4,), np.float32)

    def __init__(self, truth, sim_success, length):
        self.truth, self.sim_success, self.length = truth, sim_success, length

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return {"front": np.zeros((8, 8, 3), np.uint8)}, {}

    def true_state(self):
        return SimpleNamespace(done=bool(self.truth[self.t - 1]))

    def step(self, action):
        self.t += 1
        info = {"is_success": bool(self.sim_success[self.t - 1])}
        return {"front": np.full((8, 8, 3), self.t, np.uint8)}, 0.0, False, self.t >= self.length, info


def fake_classifier(probs):
    it = iter(probs)
    return SimpleNamespace(probability=lambda obs: next(it), head=SimpleNamespace(cameras=["front"]))


def run(env, steps):
    env.reset()
    out = []
    for _ in range(steps):
        _, reward, terminated, truncated, info = env.step(np.zeros(4))
        out.append((reward, terminated, info))
        if terminated or truncated:
            break
    return out


RULES = RewardConfig(min_steps_before_success=4, consecutive_success_frames=3, success_reward=1.0,
                     step_reward=-0.05, classifier_threshold=0.7)


def test_success_needs_the_threshold_for_consecutive_frames():
    probs = [0.9, 0.9, 0.69, 0.8, 0.75, 0.71, 0.95, 0.95]
    env = ClassifierReward(ScriptedEnv([1] * 8, [0] * 8, 8), fake_classifier(probs), RULES)
    steps = run(env, 8)
    # 0.69 breaks the streak; three frames over 0.7 again at step 6, after the 4-step minimum
    assert len(steps) == 6
    assert [r for r, _, _ in steps] == [-0.05] * 5 + [1.0]
    assert steps[-1][1] and steps[-1][2]["is_success"]
    assert steps[-1][2]["classifier_prob"] == 0.71


def test_no_success_before_the_minimum_steps():
    env = ClassifierReward(ScriptedEnv([1] * 8, [0] * 8, 8), fake_classifier([0.99] * 8), RULES)
    steps = run(env, 8)
    assert len(steps) == 4  # frames 1-3 are a streak of 3, but success waits for step 4
    assert [s[2]["is_success"] for s in steps] == [False, False, False, True]


def test_threshold_is_a_setting_not_a_constant():
    strict = RewardConfig(min_steps_before_success=0, consecutive_success_frames=1, classifier_threshold=0.95)
    env = ClassifierReward(ScriptedEnv([1] * 3, [0] * 3, 3), fake_classifier([0.9, 0.94, 0.96]), strict)
    assert [s[2]["is_success"] for s in run(env, 3)] == [False, False, True]


def test_the_audit_counts_false_positives_and_missed_successes():
    audit = RewardAudit()
    rule = RewardConfig(min_steps_before_success=0, consecutive_success_frames=2)
    # the classifier says success on frames where the cube is not held: a false-positive episode
    env = ClassifierReward(ScriptedEnv([0] * 5, [0] * 5, 5), fake_classifier([0.9] * 5), rule, audit)
    steps = run(env, 5)
    assert steps[-1][2]["reward_false_positive"] and not steps[-1][2]["reward_missed_success"]
    # the simulator declares success at step 4, the classifier never does: a missed success
    env = ClassifierReward(ScriptedEnv([0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1], 6), fake_classifier([0.1] * 6), rule, audit)
    steps = run(env, 6)
    assert steps[-1][2]["reward_missed_success"] and not steps[-1][2]["reward_false_positive"]
    s = audit.summary()
    assert (s["episodes"], s["false_positive_episodes"], s["missed_success_episodes"]) == (2, 1, 1)
    assert s["frame_false_positives"] == 2 and s["frame_false_negatives"] == 5


def test_the_audit_keeps_the_worst_frames(tmp_path):
    audit = RewardAudit()
    env = ClassifierReward(ScriptedEnv([0] * 6, [0] * 6, 6), fake_classifier([0.8, 0.99, 0.75, 0.1, 0.2, 0.3]),
                           RewardConfig(min_steps_before_success=10), audit)
    run(env, 6)
    written = audit.write(tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["reward_audit.json", "worst_false_positive_00.png", "worst_false_positive_01.png",
                     "worst_false_positive_02.png"]


def test_frame_label_is_held_and_lifted():
    from hilserl.envs.grasp_env import TrueState

    def truth(grasped, lifted):
        return TrueState(np.zeros(3), np.zeros(3), 0.0, True, 0.0, grasped, lifted)
    assert frame_label(truth(True, True))
    assert not frame_label(truth(True, False))
    assert not frame_label(truth(False, True))


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("classifier_data")
    cfg = load_config(None, FRONT_ONLY)
    counts = record_classifier_data(cfg.env, ClassifierConfig(positives=40, negatives=80), root, progress=False)
    return root, counts


def test_recorded_labels_match_the_simulators_truth(small_dataset):
    root, counts = small_dataset
    frames = load_frames(root, PROPRIO_DIMS, {"front": (128, 128, 3)})
    assert frames.counts() == {"positives": 40, "negatives": 80} == {k: counts[k] for k in ("positives", "negatives")}
    positives = frames.states[frames.labels]
    # held and lifted: jaws closed and the fingertip above the lift height
    assert np.all(positives[:, GRIPPER_STATE_INDEX] == 1.0)
    assert np.all(positives[:, EE_Z] > EnvConfig().cube_lift_height)
    hard = {k for k in frames.kinds[~frames.labels]} & set(HARD_NEGATIVES)
    assert hard and counts["hard_negatives"] > 0


def test_a_small_classifier_beats_the_majority_baseline(small_dataset):
    root, _ = small_dataset
    cfg = load_config(None, [*FRONT_ONLY, "classifier.epochs=15", "classifier.crops=2", "classifier.min_per_class=10"])
    clf, report = train_classifier(cfg, root, progress=False)
    assert report.accuracy > report.majority_accuracy
    assert sum(report.validation_counts.values()) == sum(report.confusion.values())
    frames = load_frames(root, PROPRIO_DIMS, {"front": (128, 128, 3)})
    probs = clf.probabilities({"front": frames.images["front"][:8]})
    assert probs.shape == (8,) and np.all((probs >= 0) & (probs <= 1))


def test_too_little_data_is_refused_with_the_counts(small_dataset):
    root, _ = small_dataset
    cfg = load_config(None, [*FRONT_ONLY, "classifier.min_per_class=50"])
    with pytest.raises(NotEnoughData, match="40 positive and 80 negative frames.*at least 50"):
        train_classifier(cfg, root, progress=False)


def test_one_class_only_is_refused(tmp_path):
    cfg = load_config(None, FRONT_ONLY)
    record_classifier_data(cfg.env, ClassifierConfig(positives=0 + 1, negatives=30), tmp_path, progress=False)
    with pytest.raises(NotEnoughData, match="1 positive and 30 negative"):
        train_classifier(cfg, tmp_path, progress=False)


def test_a_classifier_for_other_cameras_is_refused(small_dataset, tmp_path):
    from hilserl.reward.classifier import ClassifierMismatch, load_classifier

    root, _ = small_dataset
    cfg = load_config(None, [*FRONT_ONLY, "classifier.epochs=1", "classifier.crops=1", "classifier.min_per_class=10"])
    clf, _ = train_classifier(cfg, root, progress=False)
    path = clf.save(tmp_path / "clf")
    with pytest.raises(ClassifierMismatch, match="camera 'front'.*the env has \\['wrist'\\]"):
        load_classifier(path, {"wrist": (128, 128, 3)})
    with pytest.raises(ClassifierMismatch, match=r"\(128, 128, 3\) for the classifier, \(96, 96, 3\) in the env"):
        load_classifier(path, {"front": (96, 96, 3)})
    assert load_classifier(path, {"front": (128, 128, 3)}).report["validation_counts"]


def test_train_with_the_classifier_reward_end_to_end(small_dataset, tmp_path, capsys):
    import json

    from hilserl.cli import main
    from hilserl.training.run_log import read_jsonl

    root, _ = small_dataset
    cfg = load_config(None, [*FRONT_ONLY, "classifier.epochs=3", "classifier.crops=1", "classifier.min_per_class=10"])
    clf, _ = train_classifier(cfg, root, progress=False)
    path = clf.save(tmp_path / "clf.safetensors")
    run_dir = tmp_path / "run"
    code = main(["train", "--single-process", "--reward", "classifier", "--classifier", str(path), "--run-dir", str(run_dir),
                 "--eval-seeds", "0", *[a for o in FRONT_ONLY for a in ("--set", o)],
                 "--set", "train.env_steps=90", "--set", "train.learning_starts=40", "--set", "train.demo_episodes=1",
                 "--set", "agent.hidden_dims=[16]", "--set", "agent.batch_size=8",
                 "--set", "agent.encoder.image_latent_dim=16", "--set", "env.episode_seconds=3"])
    assert code == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["reward_audit"]["episodes"] == len(read_jsonl(run_dir / "episodes.jsonl")) >= 3
    assert summary["reward_audit"]["frames"] >= 90
    assert (run_dir / "reward_audit" / "reward_audit.json").exists()
    assert {"sim_success", "reward_false_positive", "reward_missed_success"} <= set(read_jsonl(run_dir / "episodes.jsonl")[0])
    assert json.loads((run_dir / "config.json").read_text())["env"]["reward"]["source"] == "classifier"


def test_reward_classifier_without_a_file_is_refused(capsys):
    from hilserl.cli import main

    assert main(["train", "--reward", "classifier"]) == 2
    assert "--classifier PATH" in capsys.readouterr().err


def test_a_person_labels_frames_with_a_key_while_driving(tmp_path):
    from hilserl.collect.classifier_data import SUCCESS_KEY, KeyLabels
    from hilserl.teleop.devices import KeyboardTeleop, ScriptedKeys

    # take over, drive down for 5 steps, then hold the success key for 4 steps
    script = [({"s"}, {"space"})] + [({"s"}, set())] * 4 + [({SUCCESS_KEY}, set())] * 4
    keys = KeyLabels(ScriptedKeys(list(script)))
    cfg = load_config(None, [*FRONT_ONLY, "env.episode_seconds=1"])
    counts = record_classifier_data(cfg.env, ClassifierConfig(positives=4, negatives=5), tmp_path,
                                    progress=False, teleop=(KeyboardTeleop(keys), keys))
    assert (counts["positives"], counts["negatives"]) == (4, 5)
    frames = load_frames(tmp_path, PROPRIO_DIMS, {"front": (128, 128, 3)})
    assert frames.labels.tolist() == [False] * 5 + [True] * 4  # every frame kept, labelled by the key
    assert frames.states[4, EE_Z] < frames.states[0, EE_Z]  # the keys drove the arm down
    assert set(frames.kinds) == {"teleop"}


def test_a_trained_policy_adds_its_episodes(tmp_path):
    cfg = load_config(None, FRONT_ONLY)
    calls = []

    def policy(obs):
        calls.append(obs["front"].shape)
        return np.zeros(4, np.float32)

    counts = record_classifier_data(cfg.env, ClassifierConfig(positives=1, negatives=300), tmp_path, seed=3,
                                    progress=False, policy=policy)
    assert calls and calls[0] == (128, 128, 3)
    assert any(k.startswith("policy") for k in counts["by_kind"])


def classifier_actor(tmp_path, extra=()):
    """An actor whose reward is an (untrained) classifier on the same frozen backbone as its policy."""
    import json

    from hilserl.envs.factory import task_layout
    from hilserl.reward.classifier import build_classifier
    from hilserl.training.actor import Actor
    from hilserl.training.learner import build_agent

    sim = load_config(None, ["env.episode_seconds=2"])
    layout = task_layout(sim.env)
    path = build_classifier(layout.observation.image_shapes, sim.agent.encoder, ClassifierConfig()).save(tmp_path / "clf")
    cfg = load_config(None, ["env.episode_seconds=2", "env.reward.source=classifier",
                             f"env.reward.classifier={json.dumps(str(path))}", "agent.hidden_dims=[16]", *extra])
    return Actor(cfg, build_agent(cfg, layout))


def test_policy_and_classifier_encode_each_frame_once(tmp_path):
    shared = classifier_actor(tmp_path)
    alone = classifier_actor(tmp_path)
    alone.agent.frame_features = alone.env.classifier.frame_features = None
    assert shared.frame_features is not None and shared.env.classifier.frame_features is shared.frame_features
    runs = []
    for actor in (shared, alone):
        steps: list = []
        stats = actor.run_episode(steps.append)
        runs.append((stats, steps))
    (stats, steps), (stats_alone, steps_alone) = runs
    # the same episode, action for action and reward for reward
    assert len(steps) == len(steps_alone) == stats.length
    for a, b in zip(steps, steps_alone):
        np.testing.assert_array_equal(a.action, b.action)
        assert a.reward == b.reward
    assert stats.q_start == pytest.approx(stats_alone.q_start)
    # The classifier encodes each new frame and the policy finds it encoded. Calls: the policy's
    # (one a step), the classifier's (one a step), the first state's value at the end of the episode.
    memo = shared.frame_features
    assert memo.calls == 2 * stats.length + 1
    assert memo.hits == stats.length - 1


def test_a_fine_tuned_encoder_does_not_share_the_classifiers_frames(tmp_path):
    actor = classifier_actor(tmp_path, ["agent.encoder.freeze=false", "agent.feature_cache=false"])
    assert actor.frame_features is None and actor.agent.frame_features is None
