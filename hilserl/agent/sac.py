"""SAC as HIL-SERL runs it, for the arm; double-Q learning for the gripper.

Read top to bottom: the four losses are small functions of a batch; :class:`SACAgent` owns the
networks and optimisers and applies them in HIL-SERL's schedule (``critic_actor_ratio`` critic
updates, then one actor and temperature update).

- Critic target: r + discount * (1 - terminated) * min over the (sub-sampled) target ensemble of
  Q(s', a'), a' ~ pi(s'); minus alpha * log pi(a'|s') only with ``backup_entropy``.
- Actor: alpha * log pi(a|s) - mean over the ensemble of Q(s, a), on the encoder's output detached.
- Temperature: a Lagrange multiplier, loss alpha * (entropy - target_entropy).
- Policy average: after every update, a copy of the policy's weights (encoder heads, actor, grasp
  critic, critic ensemble) moves ``policy_average_rate`` of the way to the live ones (more early on:
  ``AVERAGE_WARMUP``). Training acts with the live weights; grading, deployment and export with the
  average.
- Grasp critic (only for an action layout with a discrete gripper): double DQN over (close, stay,
  open), the argmax from the online net and its value from the target net, on the reward plus the
  batch's ``grasp_penalty`` (the env's, for commands that change the gripper's state). It acts by
  its argmax, or while exploring with ``grasp_temperature`` by a draw from softmax(Q / temperature).
  With ``grasp_demo_margin``, DQfD's large-margin loss on the batch's ``demonstrated`` rows keeps the
  demonstrated command ahead of the others by that margin.
- Demo cloning (``actor_demo_bc``): on the ``demonstrated`` rows, the actor's mean is also pulled to
  the shown arm action where the critic values that action above the actor's draw (a Q-filter).

The agent knows no task: it is sized from an observation layout (state length, camera feature
shapes) and an :class:`ActionLayout`. A batch is a dict: ``obs`` and ``next_obs`` (dicts of
tensors: ``state`` and, per camera, backbone features or uint8 images), ``action`` (B, action dims),
``reward``, ``grasp_penalty``, ``terminated`` and ``demonstrated`` (B,; optional: 1 for a row from the
demo buffer). The losses take the batch's encoder outputs
(:class:`Latents`), computed once per batch and shared.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from hilserl.agent.augment import random_crop
from hilserl.agent.device import resolve_device
from hilserl.agent.frame_features import FrameFeatures
from hilserl.agent.networks import Critic, Encoder, GraspCritic, TanhGaussianActor, channel_major
from hilserl.agent.resnet import ResNet10
from hilserl.config import AgentConfig
from hilserl.envs.contract import GRIPPER_CLASSES, GRIPPER_STAY, ActionLayout, gripper_value

Batch = dict[str, Any]
STATE_STD_FLOOR = 1e-2
"""Smallest std used to standardise a state dimension (constant dimensions are left near as is)."""
AVERAGE_WARMUP = 8
"""The policy average moves at AVERAGE_WARMUP / (updates + AVERAGE_WARMUP) where that is above
``policy_average_rate``: early in a run it spans about the last eighth of the updates so far, so that
a run still improving is not held back by its own past (docs/experiments.md)."""


class NonFiniteLoss(FloatingPointError):
    def __init__(self, name: str, value: float):
        super().__init__(f"{name} is {value}")
        self.name = name
        self.value = value


def to_device(batch: Batch, device: torch.device) -> Batch:
    """The batch's tensors on ``device`` (copied without blocking from pinned memory on CUDA)."""
    def move(v: Any) -> Any:
        return {k: move(x) for k, x in v.items()} if isinstance(v, dict) else v.to(device, non_blocking=True)
    return move(batch)


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters()):
            t.lerp_(s, tau)


def blend(average: nn.Module, live: nn.Module, rate: float) -> None:
    """Move ``average``'s parameters ``rate`` of the way to ``live``'s; its buffers (the state
    normaliser's statistics) become ``live``'s."""
    soft_update(average, live, rate)
    with torch.no_grad():
        for a, b in zip(average.buffers(), live.buffers()):
            a.copy_(b)


def gripper_classes(actions: torch.Tensor, index: int) -> torch.Tensor:
    """Class index (0 close, 1 stay, 2 open) of each action's gripper command (column ``index``), by rounding."""
    return (actions[:, index].round().clamp(-1, 1) + 1).long()


@dataclass
class Latents:
    """Encoder outputs of one batch: ``obs`` with gradient (the critic trains the encoder), ``next_obs``
    by the online and the target encoder without. The three encodings share one dropout mask per
    camera, as HIL-SERL's critic loss passes one dropout key to the online and the target critic."""

    obs: torch.Tensor
    next_obs: torch.Tensor
    target_next_obs: torch.Tensor

    @classmethod
    def of(cls, agent: "SACAgent", batch: Batch) -> "Latents":
        masks = agent.critic.encoder.dropout_masks(len(batch["reward"]), agent.dropout_rng) if agent.training else None
        with torch.no_grad():
            next_obs = agent.critic.encoder(batch["next_obs"], masks)
            target_next = agent.target_critic.encoder(batch["next_obs"], masks)
        return cls(agent.critic.encoder(batch["obs"], masks), next_obs, target_next)


def critic_loss(agent: "SACAgent", batch: Batch, z: Latents, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    cfg = agent.config
    with torch.no_grad():
        next_action, next_log_prob = agent.actor.sample(z.next_obs, generator)
        next_q = agent.target_critic.ensemble(z.target_next_obs, next_action)
        if cfg.critic_subsample_size is not None:
            pick = torch.randperm(next_q.shape[0], generator=generator, device=next_q.device)[: cfg.critic_subsample_size]
            next_q = next_q[pick]
        next_v = next_q.min(dim=0).values
        if cfg.backup_entropy:
            next_v = next_v - agent.alpha.detach() * next_log_prob
        target = batch["reward"] + cfg.discount * (1.0 - batch["terminated"]) * next_v
    q = agent.critic.ensemble(z.obs, batch["action"][:, :agent.action.arm_dims])
    loss = ((q - target.unsqueeze(0)) ** 2).mean()
    return loss, {"critic_loss": loss.item(), "q_mean": q.mean().item(), "target_mean": target.mean().item()}


def actor_loss(agent: "SACAgent", batch: Batch, z: Latents,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    latent = z.obs.detach()
    mean, std = agent.actor.distribution(latent)
    action, log_prob = agent.actor.draw(mean, std, generator)
    q = agent.critic.ensemble(latent, action).mean(dim=0)
    loss = (agent.alpha.detach() * log_prob - q).mean()
    entropy = -log_prob.mean().detach()
    info = {"actor_loss": loss.item(), "entropy": entropy.item(), "_entropy": entropy}
    demonstrated = batch.get("demonstrated")
    if agent.config.actor_demo_bc > 0 and demonstrated is not None and bool(demonstrated.any()):
        bc, share = demo_cloning_loss(agent, latent, torch.tanh(mean), batch["action"][:, :agent.action.arm_dims],
                                      demonstrated, q)
        loss = loss + agent.config.actor_demo_bc * bc
        info.update(actor_bc_loss=bc.item(), actor_bc_kept=share)
    return loss, info


def demo_cloning_loss(agent: "SACAgent", latent: torch.Tensor, aim: torch.Tensor, shown: torch.Tensor,
                      demonstrated: torch.Tensor, q_policy: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Behaviour cloning of the demonstrated arm actions by the actor's mean (``aim``: tanh of it, as the
    policy acts), Q-filtered (Nair et al. 2018): kept on a demo-buffer row only where the critic values
    the shown action above the actor's own draw (``q_policy``), so the demonstrator teaches the aim where
    the critic cannot yet tell it apart and stops where the policy already does better. Returns the
    squared error summed over the arm's dimensions, averaged over the demo rows, and the share of them
    kept."""
    rows = demonstrated.bool()
    with torch.no_grad():
        q_shown = agent.critic.ensemble(latent[rows], shown[rows]).mean(dim=0)
        kept = (q_shown > q_policy.detach()[rows]).to(aim.dtype)
    error = ((aim[rows] - shown[rows]) ** 2).sum(dim=-1)
    return (error * kept).sum() / len(kept), kept.mean().item()


def temperature_loss(log_alpha: torch.Tensor, entropy: torch.Tensor, target_entropy: float) -> torch.Tensor:
    return log_alpha.exp() * (entropy - target_entropy)


def margin_against(classes: torch.Tensor, changed: torch.Tensor, rows: str) -> torch.Tensor:
    """(B, 3) mask of the commands the demonstrated one (``classes``) must lead by the margin, under
    ``AgentConfig.grasp_demo_margin_rows``. ``changed``: the command changed the gripper's state (it
    paid the grasp penalty). "all": every other command; "changes": every other one on changed rows,
    none elsewhere; "effects": only commands that would leave the gripper otherwise than the shown
    one: all others on a changed row; on an unchanged one, open against close and close against open
    (an open that changed nothing was shown on open jaws, a close on closed ones), none against stay."""
    others = ~nn.functional.one_hot(classes, GRIPPER_CLASSES).bool()
    if rows == "all":
        return others
    if rows == "changes":
        return others & changed.unsqueeze(-1)
    opposite = nn.functional.one_hot(GRIPPER_CLASSES - 1 - classes, GRIPPER_CLASSES).bool()
    opposite &= (classes != GRIPPER_STAY).unsqueeze(-1)
    return torch.where(changed.unsqueeze(-1), others, opposite)


def grasp_critic_loss(agent: "SACAgent", batch: Batch, z: Latents) -> tuple[torch.Tensor, dict]:
    cfg = agent.config
    latent = z.obs.detach()
    with torch.no_grad():
        best_next = agent.grasp_critic(z.next_obs).argmax(dim=-1, keepdim=True)
        next_q = agent.target_grasp_critic(z.target_next_obs).gather(-1, best_next).squeeze(-1)
        classes = gripper_classes(batch["action"], agent.action.gripper_index)
        target = batch["reward"] + batch["grasp_penalty"] + cfg.discount * (1.0 - batch["terminated"]) * next_q
    all_q = agent.grasp_critic(latent)
    q = all_q.gather(-1, classes.unsqueeze(-1)).squeeze(-1)
    loss = nn.functional.mse_loss(q, target)
    info = {"grasp_critic_loss": loss.item()}
    demonstrated = batch.get("demonstrated")
    if cfg.grasp_demo_margin > 0 and demonstrated is not None and bool(demonstrated.any()):
        changed = batch["grasp_penalty"] != 0
        against = margin_against(classes, changed, cfg.grasp_demo_margin_rows)
        rival = all_q.masked_fill(~against, -math.inf).max(dim=-1).values + cfg.grasp_demo_margin
        excess = (rival - q).clamp(min=0.0)  # 0 where the shown command leads its rivals by the margin
        margin_loss = (excess * demonstrated).sum() / demonstrated.sum()
        loss = loss + margin_loss
        info["grasp_margin_loss"] = margin_loss.item()
    return loss, info


class SACAgent(nn.Module):
    def __init__(
        self,
        config: AgentConfig,
        state_dim: int,
        cameras: dict[str, tuple[int, int, int]],
        *,
        action: ActionLayout,
        backbone: ResNet10 | None = None,
        seed: int = 0,
        device: torch.device | str | None = None,
    ):
        """``cameras``: each camera's backbone feature shape; ``action``: what the env's actions hold
        (the grasp critic exists only when they end with a discrete gripper command); ``device``:
        where the networks and batches live (default: ``config.device`` resolved)."""
        super().__init__()
        config.validate()
        torch.manual_seed(seed)
        self.config = config
        self.action = action
        self.camera_names = list(cameras)
        arm = action.arm_dims
        self.target_entropy = config.target_entropy if config.target_entropy is not None else -arm / 2
        if cameras and backbone is None:
            raise ValueError("an agent with cameras needs a backbone")
        self.backbone = backbone
        if backbone is not None:
            backbone.eval()
            backbone.requires_grad_(not config.encoder.freeze)
        encoder = Encoder(state_dim, cameras, config.encoder)
        self.critic = Critic(encoder, arm, config)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor = TanhGaussianActor(encoder.out_dim, arm, config)
        self.grasp_critic = GraspCritic(encoder.out_dim, GRIPPER_CLASSES, config) if action.gripper else None
        self.target_grasp_critic = copy.deepcopy(self.grasp_critic).requires_grad_(False) if action.gripper else None
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.temperature_init)))
        self.averaged = (nn.ModuleDict(copy.deepcopy(self.policy_parts())).requires_grad_(False)
                         if config.keeps_policy_average else None)
        """The policy's weight average (see ``AgentConfig.policy_average_rate``); None without one."""
        self.device = torch.device(device) if device is not None else resolve_device(config.device)
        self.to(self.device)  # the backbone, a submodule, with the rest

        critic_params = list(self.critic.parameters())
        if backbone is not None and not config.encoder.freeze:
            critic_params += list(backbone.parameters())
        # Fused Adam: one kernel per step instead of one per tensor (about 15% of an update on a CPU).
        self.critic_opt = torch.optim.Adam(critic_params, lr=config.critic_lr, fused=True)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr, fused=True)
        self.temperature_opt = torch.optim.Adam([self.log_alpha], lr=config.temperature_lr)
        self.grasp_opt = (torch.optim.Adam(self.grasp_critic.parameters(), lr=config.grasp_critic_lr, fused=True)
                          if self.grasp_critic is not None else None)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.dropout_rng = np.random.default_rng(seed)
        self.updates = 0
        self.frame_features: FrameFeatures | None = None
        """Set by an actor whose reward classifier runs this same frozen backbone: acting then reuses
        the features the classifier computed for the frame (see ``hilserl.agent.frame_features``)."""

    def set_state_normalizer(self, states: np.ndarray) -> None:
        """Standardise the state with the mean and std of ``states`` (the demonstrations'); the
        statistics are buffers of the encoder, so they are saved and restored with the agent."""
        mean = torch.as_tensor(states.mean(0), dtype=torch.float32)
        std = torch.as_tensor(states.std(0), dtype=torch.float32).clamp_min(STATE_STD_FLOOR)
        encoders = [self.critic.encoder, self.target_critic.encoder]
        if self.averaged is not None:
            encoders.append(self.averaged["encoder"])
        for enc in encoders:
            enc.state_mean.copy_(mean)
            enc.state_std.copy_(std)

    def train(self, mode: bool = True) -> "SACAgent":
        super().train(mode)
        if self.backbone is not None:
            self.backbone.eval()  # batch-norm statistics stay those of pre-training
        return self

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    # ----------------------------------------------------------------------------- features
    def image_features(self, images: torch.Tensor, augment: bool) -> torch.Tensor:
        """Backbone features of uint8 images (B, H, W, 3), optionally randomly cropped first."""
        assert self.backbone is not None
        if augment and self.config.augmentation:
            images = random_crop(images, self.config.crop_padding, self.generator)
        if self.config.encoder.freeze:
            with torch.no_grad():
                return self.backbone(images)
        return self.backbone(images)

    def featurize(self, obs: dict[str, torch.Tensor], augment: bool,
                  encode: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Replace uint8 camera images by backbone features; features pass through unchanged.
        ``encode`` replaces ``image_features(images, augment)`` (acting passes ``frame_features``)."""
        if encode is None:
            def encode(images: torch.Tensor) -> torch.Tensor:
                return self.image_features(images, augment)
        out = dict(obs)
        raw = [n for n in self.camera_names if obs[n].dtype == torch.uint8]
        if raw and len({obs[n].shape for n in raw}) == 1:  # one backbone call for all cameras
            feats = encode(torch.cat([obs[n] for n in raw]))
            for name, f in zip(raw, feats.chunk(len(raw))):
                out[name] = f
        else:
            for name in raw:
                out[name] = encode(obs[name])
        if self.config.encoder.freeze:  # converted once per batch, read by every encoding of it
            for name in self.camera_names:
                out[name] = channel_major(out[name])
        return out

    # ------------------------------------------------------------------------------- update
    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor, name: str) -> None:
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteLoss(name, value)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def update(self, batches: list[Batch]) -> dict[str, float]:
        """One learner update: a critic step per batch (``critic_actor_ratio`` of them), then an
        actor and temperature step on the last batch. As in HIL-SERL, whose last update computes
        every loss from the same parameters, the actor sees the last critic step's latents (from
        before that step), detached: no second pass through the encoder."""
        cfg = self.config
        self.train()
        info: dict[str, float] = {}
        for batch in batches:
            batch = to_device(batch, self.device)
            batch = {**batch, "obs": self.featurize(batch["obs"], True), "next_obs": self.featurize(batch["next_obs"], True)}
            z = Latents.of(self, batch)
            if self.grasp_critic is not None:
                loss_g, info_g = grasp_critic_loss(self, batch, z)
                self._step(self.grasp_opt, loss_g, "grasp_critic_loss")
                info.update(info_g)
            loss, info_c = critic_loss(self, batch, z, self.generator)
            self._step(self.critic_opt, loss, "critic_loss")
            soft_update(self.target_critic, self.critic, cfg.soft_target_update_rate)
            if self.grasp_critic is not None:
                soft_update(self.target_grasp_critic, self.grasp_critic, cfg.soft_target_update_rate)
            info.update(info_c)
        loss, info_a = actor_loss(self, batch, z, self.generator)
        self._step(self.actor_opt, loss, "actor_loss")
        t_loss = temperature_loss(self.log_alpha, info_a.pop("_entropy"), self.target_entropy)
        self._step(self.temperature_opt, t_loss, "temperature_loss")
        info.update(info_a)
        info["temperature_loss"] = t_loss.item()
        info["alpha"] = self.alpha.item()
        if self.averaged is not None:
            rate = max(cfg.policy_average_rate, AVERAGE_WARMUP / (self.updates + AVERAGE_WARMUP))
            live = self.policy_parts()
            for name, average in self.averaged.items():
                blend(average, live[name], rate)
        self.updates += 1
        return info

    def load_state_dict(self, state: dict[str, Any], strict: bool = True, assign: bool = False):
        """As ``nn.Module``'s, for the states of agents with or without a policy average: one without
        starts this agent's average at its live weights; one with, loaded by an agent without (rate 0),
        gives its live weights."""
        averaged = {k for k in state if k.startswith("averaged.")}
        if self.averaged is None:
            return super().load_state_dict({k: v for k, v in state.items() if k not in averaged}, strict, assign)
        if averaged:
            return super().load_state_dict(state, strict, assign)
        result = super().load_state_dict(state, strict=False, assign=assign)
        if strict and (result.unexpected_keys or any(not k.startswith("averaged.") for k in result.missing_keys)):
            raise RuntimeError(f"agent state does not fit: missing {result.missing_keys}, "
                               f"unexpected {result.unexpected_keys}")
        self.reset_average()
        return result

    def reset_average(self) -> None:
        """Start the policy average again at the live weights."""
        if self.averaged is not None:
            for name, module in self.policy_parts().items():
                self.averaged[name].load_state_dict(module.state_dict())

    def rng_state(self) -> dict[str, Any]:
        """The agent's random streams (sampling and crops; dropout), for an exact resume."""
        return {"torch": self.generator.get_state(), "device": self.device.type,
                "dropout": self.dropout_rng.bit_generator.state}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Restore the streams; a run resumed on another device type keeps its own sampling stream
        (another device's generator state does not fit, and its kernels differ anyway)."""
        if state.get("device", "cpu") == self.device.type:
            self.generator.set_state(state["torch"])
        self.dropout_rng.bit_generator.state = state["dropout"]

    # -------------------------------------------------------------------------------- acting
    def policy_parts(self) -> dict[str, nn.Module]:
        """The live networks an actor acts with, by name: encoder heads, actor, critic ensemble (the
        value shown beside an action) and the grasp critic when the layout has a gripper."""
        parts = {"encoder": self.critic.encoder, "actor": self.actor, "critic": self.critic.ensemble}
        if self.grasp_critic is not None:
            parts["grasp_critic"] = self.grasp_critic
        return parts

    def trained_parts(self) -> dict[str, nn.Module]:
        """The networks of the trained policy: the weight average where the agent keeps one, else the live."""
        return dict(self.averaged) if self.averaged is not None else self.policy_parts()

    @torch.no_grad()
    def latent(self, obs: dict[str, np.ndarray], parts: dict[str, nn.Module] | None = None) -> torch.Tensor:
        """Encoder output for one observation (images uncropped), as a batch of one; ``parts``: the
        networks to use (default the live)."""
        self.eval()
        batch = {k: torch.as_tensor(np.asarray(v), device=self.device)[None] for k, v in obs.items()}
        batch["state"] = batch["state"].float()
        encoder = (parts or self.policy_parts())["encoder"]
        return encoder(self.featurize(batch, augment=False, encode=self.frame_features))

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], deterministic: bool = False) -> np.ndarray:
        """The action for one observation (images uint8 or features): the arm's values, then the grasp
        critic's gripper command when the layout has one. Exploring (not ``deterministic``): drawn from
        the actor and, with a ``grasp_temperature``, the gripper's too; ``deterministic``: the actor's
        mean and the best gripper command."""
        return self._action(self.latent(obs), not deterministic, not deterministic, self.generator)

    @torch.no_grad()
    def act_with_value(self, obs: dict[str, np.ndarray], deterministic: bool = False) -> tuple[np.ndarray, float]:
        """``act`` and ``value`` from one pass of the encoder (the live view shows both every step)."""
        latent = self.latent(obs)
        return self._action(latent, not deterministic, not deterministic, self.generator), self._value(latent)

    def evaluation_stream(self, seed: int) -> torch.Generator | None:
        """The random stream a graded or deployed policy draws its arm actions from (``agent.eval_actions``
        "sample"), seeded for the evaluation and apart from training's; None: it acts by the mean."""
        if self.config.eval_actions == "mean":
            return None
        return torch.Generator(device=self.device).manual_seed(seed)

    @torch.no_grad()
    def act_trained(self, obs: dict[str, np.ndarray], stream: torch.Generator | None) -> tuple[np.ndarray, float]:
        """The trained policy's action without exploring, and its value, by the trained networks
        (:meth:`trained_parts`): the arm's action drawn from the actor with ``stream`` (from
        :meth:`evaluation_stream`), or its mean without one; the gripper's best command either way."""
        parts = self.trained_parts()
        latent = self.latent(obs, parts)
        return self._action(latent, stream is not None, False, stream, parts), self._value(latent, parts)

    def _action(self, latent: torch.Tensor, sample_arm: bool, explore_gripper: bool,
                generator: torch.Generator | None, parts: dict[str, nn.Module] | None = None) -> np.ndarray:
        parts = parts or self.policy_parts()
        actor = parts["actor"]
        arm = actor.sample(latent, generator)[0] if sample_arm else actor.mode(latent)
        action = np.empty(self.action.dims, dtype=np.float32)
        action[:self.action.arm_dims] = arm[0].cpu().numpy()
        if self.grasp_critic is not None:
            command = self._gripper_class(parts["grasp_critic"], latent, explore_gripper, generator)
            action[self.action.gripper_index] = gripper_value(command)
        return action

    def _gripper_class(self, grasp_critic: nn.Module, latent: torch.Tensor, explore: bool,
                       generator: torch.Generator | None) -> int:
        """The grasp critic's best command, or, while exploring with a ``grasp_temperature``, one drawn
        with probabilities softmax(Q / temperature)."""
        q = grasp_critic(latent)[0]
        temperature = self.config.grasp_temperature
        if not explore or temperature == 0:
            return int(q.argmax())
        probs = torch.softmax(q / temperature, dim=-1)
        return int(torch.multinomial(probs, 1, generator=generator)[0])

    def _value(self, latent: torch.Tensor, parts: dict[str, nn.Module] | None = None) -> float:
        parts = parts or self.policy_parts()
        return float(parts["critic"](latent, parts["actor"].mode(latent)).mean())

    @torch.no_grad()
    def value(self, obs: dict[str, np.ndarray]) -> float:
        """Mean ensemble Q of the deterministic action: the value the agent predicts for a state."""
        return self._value(self.latent(obs))

    def policy_state_dict(self) -> dict[str, torch.Tensor]:
        """What an actor needs to act while training: the live :meth:`policy_parts` (not the backbone)."""
        return _flat_state(self.policy_parts())

    def trained_policy_state_dict(self) -> dict[str, torch.Tensor]:
        """The trained policy to export and deploy: :meth:`trained_parts`, keyed as :meth:`policy_state_dict`."""
        return _flat_state(self.trained_parts())

    def load_policy_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load an actor's or an exported policy into the live networks; the average starts there."""
        parts: dict[str, dict[str, torch.Tensor]] = {"encoder": {}, "actor": {}, "grasp_critic": {}, "critic": {}}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            parts[head][rest] = value
        self.critic.encoder.load_state_dict(parts["encoder"])
        self.actor.load_state_dict(parts["actor"])
        if self.grasp_critic is not None:
            self.grasp_critic.load_state_dict(parts["grasp_critic"])
        self.critic.ensemble.load_state_dict(parts["critic"])
        self.reset_average()


def _flat_state(parts: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v for name, module in parts.items() for k, v in module.state_dict().items()}
