"""``hilserl diagnose encoder``: can the frozen encoder see where the cube is?

Comparing the embeddings of two cube positions by hand (a cosine of 0.9997, say) suggests "the encoder
barely tells them apart". A similarity alone is hard to read: a spatial feature map can differ in a few
cells and still have a cosine near 1. So besides the pair, a **linear probe** predicts the cube's
(x, y) from frozen embeddings over many rendered positions: R^2 and the error in cm on held-out
frames say how much position a linear head can read out. Both the spatial map (what HIL-SERL's
spatial-embedding head sees) and its global average (what a pooled head would see) are probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from hilserl.agent.resnet import FEATURE_CHANNELS, ResNet10
from hilserl.config import EnvConfig
from hilserl.envs.factory import make_env, require_sim

RIDGE_PENALTIES = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
"""Candidates for the probe's ridge penalty (features scaled to unit mean variance), chosen on a validation split."""
TEST_SHARE = 0.25
VALIDATION_SHARE = 0.2
CM = 100.0
ENCODE_BATCH = 64


@dataclass
class ProbeResult:
    r2: float
    """Over x and y together: 1 - residual / total sum of squares, on held-out frames."""
    error_cm: float
    """Mean distance between predicted and true cube position, held-out frames."""
    baseline_error_cm: float
    """The same for a probe that always answers the mean position."""
    penalty: float
    predictions: np.ndarray
    targets: np.ndarray

    def to_dict(self) -> dict:
        return {"r2": self.r2, "error_cm": self.error_cm, "baseline_error_cm": self.baseline_error_cm,
                "penalty": self.penalty}


def _ridge_fit(x: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge weights in the dual form (fewer frames than features), with an unpenalised bias."""
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    gram = xc @ xc.T
    alpha = np.linalg.solve(gram + penalty * len(x) * np.eye(len(x)), yc)
    w = xc.T @ alpha
    return w, y_mean - x_mean @ w


def _r2(pred: np.ndarray, y: np.ndarray) -> float:
    return float(1.0 - ((pred - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def linear_probe(features: np.ndarray, targets: np.ndarray, seed: int = 0) -> ProbeResult:
    """Fit a ridge regression from features to targets on part of the frames; score it on the rest."""
    n = len(features)
    if n < 10:
        raise ValueError(f"a linear probe needs at least 10 frames, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(2, int(n * TEST_SHARE))
    test, train = order[:n_test], order[n_test:]
    # One scale for all features, not one each: a ReLU unit that fires on one fit frame has a tiny
    # spread, and dividing by it turns its firing on a held-out frame into an outlier of thousands.
    mean = features[train].mean(0)
    scale = float(np.sqrt(features[train].var(0).mean())) + 1e-12
    x = (features - mean) / scale
    n_val = max(2, int(len(train) * VALIDATION_SHARE))
    val, fit = train[:n_val], train[n_val:]
    scores = {}
    for penalty in RIDGE_PENALTIES:
        w, b = _ridge_fit(x[fit], targets[fit], penalty)
        scores[penalty] = _r2(x[val] @ w + b, targets[val])
    best = max(scores, key=scores.get)
    w, b = _ridge_fit(x[train], targets[train], best)
    pred = x[test] @ w + b
    y = targets[test]
    baseline = np.broadcast_to(targets[train].mean(0), y.shape)
    return ProbeResult(
        r2=_r2(pred, y),
        error_cm=float(np.linalg.norm(pred - y, axis=1).mean() * CM),
        baseline_error_cm=float(np.linalg.norm(baseline - y, axis=1).mean() * CM),
        penalty=best, predictions=pred, targets=y,
    )


def render_cube_positions(env: Any, count: int, seed: int = 0,
                          positions: np.ndarray | None = None, progress: bool = True) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Camera frames of the cube at ``count`` random positions and rotations of its reset range (or at
    the given ``positions``), the arm always at the centre of its reset range, so only the cube moves."""
    env_cfg = env.unwrapped.config
    rng = np.random.default_rng(seed)
    lo, hi = np.array(env_cfg.cube_region.low[:2]), np.array(env_cfg.cube_region.high[:2])
    xy = positions if positions is not None else rng.uniform(lo, hi, (count, 2))
    frames: dict[str, list[np.ndarray]] = {c.name: [] for c in env_cfg.cameras}
    actual = []
    for i in tqdm(range(len(xy)), desc="rendering cube positions", unit="frame", disable=not progress):
        yaw = float(rng.uniform(-env_cfg.cube_yaw_range, env_cfg.cube_yaw_range)) if positions is None else 0.0
        obs, info = env.reset(seed=seed + i, options={"cube_xy": xy[i], "cube_yaw": yaw, "ee_offset": np.zeros(3)})
        for name in frames:
            frames[name].append(obs[name])
        actual.append(info["cube_start"][:2])
    return {k: np.stack(v) for k, v in frames.items()}, np.asarray(actual)


@torch.no_grad()
def embed(backbone: ResNet10, images: np.ndarray) -> np.ndarray:
    """Flattened spatial feature maps (N, C*H*W) of uint8 images (N, H, W, 3)."""
    backbone.eval()
    out = [backbone(torch.from_numpy(images[i:i + ENCODE_BATCH])).flatten(1).numpy()
           for i in range(0, len(images), ENCODE_BATCH)]
    return np.concatenate(out).astype(np.float64)


def pooled(spatial: np.ndarray, channels: int) -> np.ndarray:
    """Global average over the spatial cells: (N, C*H*W) -> (N, C)."""
    return spatial.reshape(len(spatial), channels, -1).mean(-1)


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Cosine similarity and L2 distance of two embeddings."""
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
    return cos, float(np.linalg.norm(a - b))


def load_image(path: Path, size: int) -> np.ndarray:
    """An RGB image file as uint8 (size, size, 3), resized if needed."""
    import matplotlib.image as mpimg

    image = mpimg.imread(str(path))
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    image = image[..., :3]
    if image.shape[:2] != (size, size):
        t = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        image = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0]
        image = image.permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    return image


def plot_probe(results: dict[str, ProbeResult], path: Path) -> Path:
    """Held-out cube positions (dots) and where the spatial probe puts them (arrows), per camera."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items()):
        t, p = r.targets * CM, r.predictions * CM
        ax.quiver(t[:, 1], t[:, 0], p[:, 1] - t[:, 1], p[:, 0] - t[:, 0], angles="xy", scale_units="xy",
                  scale=1, width=0.004, color="tab:red", alpha=0.7)
        ax.scatter(t[:, 1], t[:, 0], s=10, color="k", label="true")
        ax.set_title(f"{name}: R² {r.r2:.2f}, error {r.error_cm:.1f} cm")
        ax.set_xlabel("cube y (cm)")
        ax.set_ylabel("cube x (cm)")
        ax.set_aspect("equal")
    fig.suptitle("linear probe on frozen spatial features: arrows go from true to predicted position")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


DEFAULT_PAIR = ((0.18, -0.03), (0.24, 0.03))
"""Two cube positions 8.5 cm apart, one in each region, for the pair comparison."""


@dataclass
class EncoderDiagnosis:
    pair: dict[str, dict[str, float]]
    """Per camera (or 'images'): cosine and L2 of the spatial and pooled embeddings of the pair, and
    the L2 against the median L2 between probe frames (how far apart the pair is, in context)."""
    probes: dict[str, dict[str, dict]]
    """Per camera: the spatial and pooled probes' figures."""

    def lines(self) -> list[str]:
        out = ["pair of cube positions (spatial map | pooled):"]
        for cam, s in self.pair.items():
            out.append(f"  {cam:<7} cosine {s['cosine']:.4f} | {s['pooled_cosine']:.4f}   L2 {s['l2']:.1f} "
                       f"({s['l2_vs_median']:.2f} x the median distance between probe frames)")
        out.append("linear probe of the cube's (x, y), held-out frames (spatial map | pooled):")
        for cam, p in self.probes.items():
            sp, po = p["spatial"], p["pooled"]
            out.append(f"  {cam:<7} R² {sp['r2']:.3f} | {po['r2']:.3f}   error {sp['error_cm']:.2f} | "
                       f"{po['error_cm']:.2f} cm (always-the-mean: {sp['baseline_error_cm']:.2f} cm)")
        best = max(p["spatial"]["r2"] for p in self.probes.values())
        verdict = ("the frozen features locate the cube" if best > 0.9 else
                   "the frozen features locate the cube only roughly" if best > 0.5 else
                   "the frozen features barely see where the cube is: fine-tune the encoder "
                   "(agent.encoder.freeze=false) or pre-train it on your scene")
        out.append(f"verdict: {verdict} (best R² {best:.2f})")
        return out

    def to_dict(self) -> dict:
        return {"pair": self.pair, "probes": self.probes}


def _pair(a: np.ndarray, b: np.ndarray, channels: int, median: float) -> dict[str, float]:
    cos, l2 = similarity(a, b)
    pooled_cos, _ = similarity(pooled(a[None], channels)[0], pooled(b[None], channels)[0])
    return {"cosine": cos, "l2": l2, "pooled_cosine": pooled_cos, "l2_vs_median": l2 / max(median, 1e-12)}


def diagnose_encoder(env_cfg: EnvConfig, backbone: ResNet10, count: int = 300, seed: int = 0,
                     pair: tuple[tuple[float, float], tuple[float, float]] = DEFAULT_PAIR,
                     images: tuple[Path, Path] | None = None, plot: Path | None = None,
                     progress: bool = True) -> EncoderDiagnosis:
    require_sim(env_cfg, "diagnose encoder")
    if env_cfg.state_only:
        raise ValueError("diagnose encoder needs cameras: env.state_only is true")
    env = make_env(env_cfg)
    try:
        frames, positions = render_cube_positions(env, count, seed, progress=progress)
        pair_frames, _ = render_cube_positions(env, 2, seed, positions=np.asarray(pair), progress=False)
    finally:
        env.close()
    channels = FEATURE_CHANNELS
    probes, results, pair_stats, medians = {}, {}, {}, {}
    for cam, imgs in frames.items():
        spatial = embed(backbone, imgs)
        sp = linear_probe(spatial, positions, seed)
        po = linear_probe(pooled(spatial, channels), positions, seed)
        probes[cam] = {"spatial": sp.to_dict(), "pooled": po.to_dict()}
        results[cam] = sp
        a, b = embed(backbone, pair_frames[cam])
        rng = np.random.default_rng(seed)
        i, j = rng.integers(0, len(spatial), (2, 200))
        medians[cam] = float(np.median(np.linalg.norm(spatial[i] - spatial[j], axis=1)))
        pair_stats[cam] = _pair(a, b, channels, medians[cam])
    if images is not None:
        # Two image files: put in context with the probe frames of the first camera.
        size = env_cfg.cameras[0].size
        a, b = embed(backbone, np.stack([load_image(p, size) for p in images]))
        pair_stats["images"] = _pair(a, b, channels, medians[env_cfg.cameras[0].name])
    if plot is not None:
        plot_probe(results, plot)
    return EncoderDiagnosis(pair_stats, probes)
