"""``hilserl train-classifier``: the reward classifier's head on frozen features, with a report.

Frames are split by episode (frames of one episode look alike: a frame-level split would flatter the
validation figures). Training frames are encoded once per random crop, as the agent's feature
cache does, so an epoch costs only the head. Classes are balanced by weighting the positives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hilserl.agent.augment import crop_with_offsets, random_offsets
from hilserl.config import Config
from hilserl.data.frames import LabelledFrames, load_frames
from hilserl.envs.factory import task_layout
from hilserl.reward.classifier import RewardClassifier, build_classifier

ENCODE_BATCH = 128
PR_THRESHOLDS = np.linspace(0.02, 0.98, 49)


class NotEnoughData(ValueError):
    pass


@dataclass
class ClassifierReport:
    threshold: float
    accuracy: float
    precision: float
    recall: float
    confusion: dict[str, int]
    """tp, fp, tn, fn on the validation frames at ``threshold``."""
    majority_accuracy: float
    """Accuracy of always answering the validation set's most common class."""
    train_counts: dict[str, int]
    validation_counts: dict[str, int]
    pr_curve: dict[str, list[float]]
    warning: str = ""

    def lines(self) -> list[str]:
        c = self.confusion
        out = [
            f"training frames: {self.train_counts}; validation frames: {self.validation_counts} (split by episode)",
            f"at threshold {self.threshold}: accuracy {self.accuracy:.1%} (always-majority {self.majority_accuracy:.1%}), "
            f"precision {self.precision:.1%}, recall {self.recall:.1%}",
            "confusion (rows truth, columns prediction):",
            "                 predicted success   predicted failure",
            f"  true success   {c['tp']:>17}   {c['fn']:>17}",
            f"  true failure   {c['fp']:>17}   {c['tn']:>17}",
        ]
        if self.warning:
            out.append(f"WARNING: {self.warning}")
        return out

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("threshold", "accuracy", "precision", "recall", "confusion",
                                               "majority_accuracy", "train_counts", "validation_counts",
                                               "pr_curve", "warning")}


def check_counts(frames: LabelledFrames, minimum: int, root: Path) -> None:
    counts = frames.counts()
    if min(counts.values()) < minimum:
        raise NotEnoughData(f"{root}: {counts['positives']} positive and {counts['negatives']} negative frames; "
                            f"training needs at least {minimum} of each (classifier.min_per_class). Record more "
                            f"with `hilserl record-classifier-data`.")


def split_by_episode(frames: LabelledFrames, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and validation frames, whole episodes on each side, both classes in each
    (episodes are drawn until the validation side holds its share of each class)."""
    rng = np.random.default_rng(seed)
    episodes = rng.permutation(np.unique(frames.episode))
    val_eps: list[int] = []
    want = {label: share * (frames.labels == label).sum() for label in (True, False)}
    have = {True: 0, False: 0}
    for ep in episodes:
        if all(have[k] >= want[k] for k in have):
            break
        mask = frames.episode == ep
        gain = {label: int((frames.labels[mask] == label).sum()) for label in (True, False)}
        if any(have[k] < want[k] and gain[k] for k in have):
            val_eps.append(ep)
            for k in have:
                have[k] += gain[k]
    val = np.isin(frames.episode, val_eps)
    return np.flatnonzero(~val), np.flatnonzero(val)


@torch.no_grad()
def encode(clf: RewardClassifier, images: dict[str, np.ndarray], crops: int, padding: int,
           generator: torch.Generator | None, progress: bool = False) -> dict[str, torch.Tensor]:
    """Per camera, features (N, crops, C, h, w): random crops, or the uncropped frame when
    ``generator`` is None (validation and acting)."""
    out = {}
    for cam, frames in images.items():
        chunks = []
        for i in tqdm(range(0, len(frames), ENCODE_BATCH), desc=f"encoding {cam} frames", disable=not progress):
            batch = torch.from_numpy(frames[i:i + ENCODE_BATCH]).repeat_interleave(crops, dim=0)
            if generator is not None and padding > 0:
                batch = crop_with_offsets(batch, random_offsets(len(batch), padding, generator), padding)
            feats = clf.backbone(batch)
            chunks.append(feats.view(-1, crops, *feats.shape[1:]).half())
        out[cam] = torch.cat(chunks)
    return out


def metrics_at(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float | dict[str, int]]:
    pred = probs >= threshold
    tp, fp = int((pred & labels).sum()), int((pred & ~labels).sum())
    tn, fn = int((~pred & ~labels).sum()), int((~pred & labels).sum())
    return {"accuracy": (tp + tn) / max(len(labels), 1), "precision": tp / max(tp + fp, 1),
            "recall": tp / max(tp + fn, 1), "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn}}


def train_classifier(cfg: Config, data: Path, progress: bool = True) -> tuple[RewardClassifier, ClassifierReport]:
    c = cfg.classifier
    layout = task_layout(cfg.env).observation
    shapes = layout.image_shapes
    if not shapes:
        raise ValueError(f"the reward classifier needs cameras: env {cfg.env.kind!r} has none"
                         + (" (env.state_only is true)" if cfg.env.state_only else ""))
    frames = load_frames(data, layout.state_dim, shapes)
    check_counts(frames, c.min_per_class, Path(data))
    train_idx, val_idx = split_by_episode(frames, c.validation_share, cfg.seed)
    train_set, val_set = frames.subset(train_idx), frames.subset(val_idx)
    if min(val_set.counts().values()) == 0:
        raise NotEnoughData(f"{data}: the validation episodes hold {val_set.counts()}; record more episodes")

    torch.manual_seed(cfg.seed)
    clf = build_classifier(shapes, cfg.agent.encoder, c)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_feats = encode(clf, train_set.images, c.crops, c.crop_padding, gen, progress)
    val_feats = {k: v[:, 0] for k, v in encode(clf, val_set.images, 1, 0, None).items()}
    labels = torch.from_numpy(train_set.labels.astype(np.float32))
    positives = float(labels.sum())
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(labels) - positives) / max(positives, 1.0)))
    opt = torch.optim.Adam(clf.head.parameters(), lr=c.lr)
    n = len(labels)
    steps_per_epoch = math.ceil(n / c.batch_size)
    for _ in tqdm(range(c.epochs), desc="training the classifier", unit="epoch", disable=not progress):
        clf.head.train()
        order = torch.randperm(n, generator=gen)
        for b in range(steps_per_epoch):
            idx = order[b * c.batch_size:(b + 1) * c.batch_size]
            crop = torch.randint(0, c.crops, (len(idx),), generator=gen)
            logits = clf.head({cam: f[idx, crop].float() for cam, f in train_feats.items()})
            loss = loss_fn(logits, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    clf.head.eval()
    with torch.no_grad():
        probs = torch.sigmoid(clf.head({cam: f.float() for cam, f in val_feats.items()})).numpy()
    truth = val_set.labels
    threshold = cfg.env.reward.classifier_threshold
    at = metrics_at(probs, truth, threshold)
    curve = [metrics_at(probs, truth, float(t)) for t in PR_THRESHOLDS]
    majority = max(truth.mean(), 1 - truth.mean())
    report = ClassifierReport(
        threshold=threshold, accuracy=at["accuracy"], precision=at["precision"], recall=at["recall"],
        confusion=at["confusion"], majority_accuracy=float(majority),
        train_counts=train_set.counts(), validation_counts=val_set.counts(),
        pr_curve={"threshold": PR_THRESHOLDS.tolist(), "precision": [m["precision"] for m in curve],
                  "recall": [m["recall"] for m in curve]},
    )
    if report.accuracy < c.accuracy_goal:
        report.warning = (f"validation accuracy {report.accuracy:.1%} is under {c.accuracy_goal:.0%}: a reward this "
                          "noisy misleads the agent. Record more frames (hard negatives especially) before RL.")
    clf.report = report.to_dict()
    return clf, report


def plot_pr_curve(report: ClassifierReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = report.pr_curve
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(9, 3.8))
    ax.plot(curve["recall"], curve["precision"], marker=".", color="tab:blue")
    ax.scatter([report.recall], [report.precision], color="tab:red", zorder=3,
               label=f"threshold {report.threshold}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("precision / recall on validation frames")
    ax.legend(loc="lower left")
    ax_t.plot(curve["threshold"], curve["precision"], label="precision")
    ax_t.plot(curve["threshold"], curve["recall"], label="recall")
    ax_t.axvline(report.threshold, color="tab:red", linestyle="--", linewidth=1)
    ax_t.set_xlabel("threshold")
    ax_t.set_ylim(0, 1.02)
    ax_t.set_title("against the threshold")
    ax_t.legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
