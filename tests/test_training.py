import json

import pytest
import torch

from hilserl.config import load_config
from hilserl.data.episodes import DatasetMismatch, read_meta
from hilserl.training.run import TrainingDiverged
from hilserl.training.run_log import read_jsonl
from hilserl.training.train import train
from hilserl.training.trained_agent import load_agent

SMALL_AGENT = ["agent.hidden_dims=[32,32]", "agent.batch_size=16", "agent.encoder.image_latent_dim=32"]


def test_image_training_with_feature_cache_runs_end_to_end(tmp_path):
    cfg = load_config(None, [
        "train.env_steps=120", "train.learning_starts=40", "train.demo_episodes=2", "train.log_every=20",
        "agent.cache_crops=2", "env.episode_seconds=4", *SMALL_AGENT,
    ])
    result = train(cfg, tmp_path, progress=False, tensorboard=False)
    assert result.env_steps >= 120 and result.updates > 50
    metrics = read_jsonl(tmp_path / "metrics.jsonl")
    assert metrics and {"critic_loss", "actor_loss", "temperature_loss", "alpha", "online_buffer"} <= set(metrics[-1])
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    assert len(episodes) == result.episodes and {"intervention_rate", "success", "q_start"} <= set(episodes[0])
    assert read_meta(tmp_path / "demos")["episodes"] == 2  # recorded because none existed
    assert (tmp_path / "checkpoints" / "policy.safetensors").exists() and len(list((tmp_path / "checkpoints").glob("ckpt_*/state.pt"))) >= 1
    _, checkpointed = load_agent(tmp_path)
    _, exported = load_agent(tmp_path / "checkpoints" / "policy.safetensors")
    averaged, live = checkpointed.trained_policy_state_dict(), checkpointed.policy_state_dict()
    assert all(torch.equal(v, averaged[k]) for k, v in exported.policy_state_dict().items())  # the average exported
    assert any(not torch.equal(averaged[k], live[k]) for k in live)
    summary = json.loads((tmp_path / "summary.json").read_text())
    # each frame once: two cameras x 2 crops x 512x4x4 float16 features and the frame ring's slack
    # (a sixteenth), under what storing obs and next obs apart would take
    frame = 2 * 2 * 512 * 16 * 2
    assert frame < summary["bytes_per_transition"] < 1.1 * frame


def test_demo_buffer_caches_its_own_number_of_crops(tmp_path):
    """``agent.demo_cache_crops``: demo frames hold that many crops, online frames ``cache_crops``;
    both crop streams are checkpointed, so a resume draws the crops the run would have drawn."""
    from hilserl.training.learner import Learner

    run = ["train.learning_starts=20", "train.demo_episodes=1", "train.checkpoint_every=10", "agent.cache_crops=2",
           "env.episode_seconds=3", *SMALL_AGENT]
    cfg = load_config(None, ["train.env_steps=60", "agent.demo_cache_crops=5", *run])
    train(cfg, tmp_path, progress=False, tensorboard=False)
    episodes = (tmp_path / "episodes.jsonl").read_text()
    with pytest.raises(ValueError, match=r"camera 'front' are float16 \(5, .*stores float16 \(3, .*agent.demo_cache_crops"):
        train(load_config(None, ["train.env_steps=90", "agent.demo_cache_crops=3", *run]), tmp_path,
              progress=False, tensorboard=False, resume=True)
    assert (tmp_path / "episodes.jsonl").read_text() == episodes  # refused before the run went on
    learner = Learner(cfg)
    assert learner.demo.buffer.frame_specs["front"].shape[0] == 5
    assert learner.online.buffer.frame_specs["front"].shape[0] == 2
    assert learner.demo_bytes_per_transition > 2 * learner.bytes_per_transition
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["bytes_per_transition"], summary["demo_bytes_per_transition"]) == (
        learner.bytes_per_transition, learner.demo_bytes_per_transition)
    state = torch.load(sorted((tmp_path / "checkpoints").glob("ckpt_*/state.pt"))[-1], weights_only=False)
    assert {"cache_rng", "demo_cache_rng"} <= set(state)
    same = Learner(load_config(None, ["agent.cache_crops=2", *SMALL_AGENT]))
    assert same.demo_cache is same.cache and same.demo.buffer.frame_specs["front"].shape[0] == 2


def test_uint8_feature_cache_trains_and_samples_what_float16_would(tmp_path):
    """``agent.cache_dtype=uint8``: a run trains end to end on 0.56 of float16's feature bytes, a resume
    with the other storage is refused, and the learner's batches hold the float16 run's features (same
    seed: same crops, same rows) to within the quantisation."""
    from hilserl.training.learner import Learner

    run = ["train.env_steps=40", "train.learning_starts=20", "train.demo_episodes=1", "train.checkpoint_every=10",
           "env.episode_seconds=3", *SMALL_AGENT]
    result = train(load_config(None, ["agent.cache_dtype=uint8", *run]), tmp_path, progress=False, tensorboard=False)
    assert result.updates >= 10
    with pytest.raises(ValueError, match=r"camera 'front' are uint8 .*stores float16 .*agent.cache_dtype"):
        train(load_config(None, [*run, "train.env_steps=60"]), tmp_path, progress=False, tensorboard=False, resume=True)

    from hilserl.collect.rollout import run_episode
    from hilserl.envs.factory import make_env
    from hilserl.teleop.scripted import expert_policy

    learners = {dtype: Learner(load_config(None, [f"agent.cache_dtype={dtype}", "env.episode_seconds=2", *SMALL_AGENT]))
                for dtype in ("float16", "uint8")}
    ratio = learners["uint8"].bytes_per_transition / learners["float16"].bytes_per_transition
    assert 0.55 < ratio < 0.6
    env = make_env(learners["uint8"].cfg.env)
    steps = []
    run_episode(env, expert_policy(env), seed=0, on_transition=steps.append)
    env.close()
    for learner in learners.values():
        for t in steps:
            learner.add(t)
    batches = {dtype: learner._batch(learner.online.buffer.sample(32)) for dtype, learner in learners.items()}
    for key in ("obs", "next_obs"):
        f16, u8 = batches["float16"][key]["front"].float(), batches["uint8"][key]["front"]
        assert u8.shape == f16.shape == (32, 512, 4, 4) and u8.dtype == torch.float32
        assert (u8 - f16).abs().mean() < 0.01 * (f16[0] - f16[1:]).abs().mean()


def test_exact_per_batch_augmentation_mode_runs(tmp_path):
    cfg = load_config(None, [
        "train.env_steps=30", "train.learning_starts=20", "train.demo_episodes=1",
        "agent.feature_cache=false", "agent.batch_size=4", "agent.critic_actor_ratio=1",
        "agent.hidden_dims=[16]", "env.episode_seconds=3",
    ])
    result = train(cfg, tmp_path, progress=False, tensorboard=False)
    assert result.updates >= 10
    summary = json.loads((tmp_path / "summary.json").read_text())
    frame = 2 * 128 * 128 * 3  # uint8 images of two cameras, stored once
    assert frame < summary["bytes_per_transition"] < 1.1 * frame


def test_nan_loss_stops_with_step_and_name_after_a_checkpoint(tmp_path, monkeypatch):
    from hilserl.agent import sac

    real = sac.critic_loss

    def poisoned(agent, batch, z, generator=None):
        loss, info = real(agent, batch, z, generator)
        if agent.updates >= 5:
            loss = loss * float("nan")
        return loss, info

    monkeypatch.setattr(sac, "critic_loss", poisoned)
    cfg = load_config(None, ["env.state_only=true", "train.env_steps=400", "train.learning_starts=20",
                             "train.demo_episodes=1", *SMALL_AGENT])
    with pytest.raises(TrainingDiverged, match=r"critic_loss became nan at learner update 5") as info:
        train(cfg, tmp_path, progress=False, tensorboard=False)
    saved = sorted((tmp_path / "checkpoints").glob("ckpt_*"))
    assert saved and str(saved[-1]) in str(info.value)
    state = torch.load(saved[-1] / "state.pt", weights_only=False)
    # the run as the episode in which the loss diverged began: whole episodes, before the NaN
    assert state["updates"] < 5 and state["actor"]["env_steps"] < 20 + 5


def test_demos_with_another_camera_layout_are_refused(tmp_path):
    demo_cfg = load_config(None, ["env.state_only=true", "train.demo_episodes=1"])
    from hilserl.collect.demos import record_demos

    record_demos(demo_cfg.env, 1, tmp_path / "demos")
    cfg = load_config(None, ["train.env_steps=10", "train.learning_starts=5", f"train.demo_dir={tmp_path / 'demos'}"])
    with pytest.raises(DatasetMismatch, match="state has 24 dims, the env gives 16"):
        train(cfg, tmp_path / "run", progress=False, tensorboard=False)


def test_episodes_log_the_curriculum_range_and_the_discounted_return(tmp_path):
    cfg = load_config(None, [
        "env.state_only=true", "train.env_steps=200", "train.learning_starts=50", "train.demo_episodes=1",
        "train.log_every=10", "agent.hidden_dims=[16]", "agent.batch_size=8",
        "train.curriculum.enabled=true", "train.curriculum.start_fraction=0.5",
        "train.curriculum.window=1", "train.curriculum.success_threshold=0.0",
    ])
    train(cfg, tmp_path, progress=False, tensorboard=False)
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    # threshold 0 with a window of 1: every episode widens the range by one step, up to the full one
    assert [e["reset_scale"] for e in episodes[:3]] == [0.5, 0.75, 1.0]
    for e in episodes:
        assert 0.0 <= e["discounted_return"] <= e["episode_return"] + 1e-9
        if e["success"]:
            assert e["discounted_return"] == pytest.approx(0.97 ** (e["length"] - 1))
    assert {"demo_steps", "policy_steps", "intervention_steps"} <= set(read_jsonl(tmp_path / "metrics.jsonl")[-1])


def test_an_expert_that_cannot_succeed_is_a_message_not_a_hang(tmp_path, capsys):
    from hilserl.cli import main

    code = main(["record-demos", "--episodes", "2", "--out", str(tmp_path / "demos"),
                 "--set", "env.state_only=true", "--set", "env.episode_seconds=0.5"])
    err = capsys.readouterr().err
    assert code == 2 and "succeeded in 0 of 10 episodes" in err and "0.5 s (5 steps)" in err
