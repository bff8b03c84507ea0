"""Pre-trains the ResNet-10 backbone on rendered simulation frames, offline.

HIL-SERL freezes a backbone pre-trained on ImageNet. ImageNet weights cannot be downloaded here, so
the simulation's default backbone is trained by the project itself: from both cameras it learns to
regress where the cube is (absolute, and relative to the gripper), where the gripper is, the cube's
yaw and the jaw opening. That is the information the policy needs from pixels, so a frozen backbone
trained this way is a fair stand-in for an ImageNet one. Weights are saved in half precision with a
JSON provenance file beside them; the package ships the result (``hilserl/assets``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hilserl.agent.augment import random_crop
from hilserl.agent.resnet import ResNet10, feature_shape, save_weights
from hilserl.config import EnvConfig, PretrainConfig
from hilserl.envs.factory import make_env, require_sim
from hilserl.teleop.scripted import expert_policy

LABEL_NAMES = ("cube_x", "cube_y", "cube_z", "rel_x", "rel_y", "rel_z", "ee_x", "ee_y", "ee_z",
               "sin4yaw", "cos4yaw", "gripper_q")


def labels_of(env: Any) -> np.ndarray:
    s = env.unwrapped.true_state()
    return np.array([*s.cube_pos, *(s.cube_pos - s.ee_pos), *s.ee_pos,
                     np.sin(4 * s.cube_yaw), np.cos(4 * s.cube_yaw), s.gripper_q], dtype=np.float32)


def render_dataset(env_cfg: EnvConfig, cfg: PretrainConfig) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Frames of every camera and their labels, from episodes of expert and noisy actions."""
    require_sim(env_cfg, "encoder pre-training")
    env = make_env(env_cfg)
    expert = expert_policy(env)
    rng = np.random.default_rng(cfg.seed)
    images: dict[str, list[np.ndarray]] = {c.name: [] for c in env_cfg.cameras}
    labels: list[np.ndarray] = []
    bar = tqdm(total=cfg.frames, desc="rendering frames", unit="frame")
    episode = 0
    while len(labels) < cfg.frames:
        obs, _ = env.reset(seed=cfg.seed * 100_000 + episode)
        use_expert = rng.random() < cfg.expert_share
        noise = rng.uniform(0.0, 0.8)
        for _ in range(int(rng.integers(1, cfg.max_episode_frames))):
            action = expert(obs) if use_expert else np.zeros(4, np.float32)
            action = action + rng.normal(0, noise, 4).astype(np.float32)
            obs, _, term, trunc, _ = env.step(np.clip(action, -1, 1))
            if rng.random() < 0.3:
                for name in images:
                    images[name].append(obs[name])
                labels.append(labels_of(env))
                bar.update(1)
            if term or trunc or len(labels) >= cfg.frames:
                break
        episode += 1
    bar.close()
    env.close()
    return {k: np.stack(v) for k, v in images.items()}, np.stack(labels)


class PoseHead(nn.Module):
    def __init__(self, cameras: int, image_size: int, outputs: int):
        super().__init__()
        c, h, w = feature_shape(image_size)
        self.reduce = nn.Conv2d(c, 32, 1)
        self.mlp = nn.Sequential(nn.Linear(cameras * 32 * h * w, 256), nn.ReLU(), nn.Linear(256, outputs))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        flat = [self.reduce(f).flatten(1) for f in features]
        return self.mlp(torch.cat(flat, dim=1))


def pretrain_backbone(env_cfg: EnvConfig, cfg: PretrainConfig, out: Path) -> dict:
    torch.manual_seed(cfg.seed)
    started = time.time()
    images, labels = render_dataset(env_cfg, cfg)
    names = list(images)
    mean, std = labels.mean(0), labels.std(0) + 1e-6
    y_all = torch.from_numpy((labels - mean) / std)
    x_all = {k: torch.from_numpy(v) for k, v in images.items()}
    n = len(labels)
    n_val = max(1, n // 10)
    perm = torch.randperm(n)
    val_idx, train_idx = perm[:n_val], perm[n_val:]

    backbone = ResNet10()
    head = PoseHead(len(names), env_cfg.cameras[0].size, labels.shape[1])
    opt = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(range(cfg.steps), desc="pre-training ResNet-10", unit="step")
    for _ in bar:
        idx = train_idx[torch.randint(len(train_idx), (cfg.batch_size,), generator=gen)]
        feats = [backbone(random_crop(x_all[k][idx], cfg.crop_padding, gen)) for k in names]
        loss = nn.functional.mse_loss(head(feats), y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")

    backbone.eval()
    head.eval()
    with torch.no_grad():
        pred = torch.cat([head([backbone(x_all[k][val_idx[i:i + 64]]) for k in names])
                          for i in range(0, n_val, 64)])
    err = (pred.numpy() - y_all[val_idx].numpy()) * std
    r2 = 1 - (err**2).mean(0) / (labels[val_idx.numpy()].var(0) + 1e-12)
    save_weights(backbone, out)
    report = {
        "weights": out.name,
        "config": asdict(cfg),
        "frames": n,
        "cameras": names,
        "seconds": round(time.time() - started, 1),
        "final_train_loss": round(float(loss.item()), 4),
        "validation_r2": {name: round(float(v), 3) for name, v in zip(LABEL_NAMES, r2)},
        "validation_cube_rel_error_cm": round(float(np.linalg.norm(err[:, 3:6], axis=1).mean() * 100), 2),
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    return report
