import math

import numpy as np
import pytest
import torch

from hilserl.agent.augment import crop_with_offsets, random_crop
from hilserl.agent.networks import SpatialLearnedEmbeddings, dropout_mask, tanh_gaussian_log_prob
from hilserl.agent.resnet import ResNet10, WeightsMismatch, convert_hf_state_dict, feature_shape, load_weights
from hilserl.agent.sac import (
    AVERAGE_WARMUP,
    Latents,
    SACAgent,
    actor_loss,
    critic_loss,
    grasp_critic_loss,
    gripper_classes,
    margin_against,
    soft_update,
    temperature_loss,
)
from hilserl.config import AgentConfig, ConfigError, EncoderConfig
from hilserl.envs.contract import ActionLayout

STATE_DIM = 24
ACTION = ActionLayout(arm_dims=3, gripper=True)


def small_config(**kw) -> AgentConfig:
    return AgentConfig(hidden_dims=(32, 32), batch_size=8, **kw)


def batch(n=8, seed=0, terminated=None, reward=None, actions=None, penalty=None):
    g = torch.Generator().manual_seed(seed)
    state = torch.randn(n, STATE_DIM, generator=g)
    return {
        "grasp_penalty": penalty if penalty is not None else torch.zeros(n),
        "obs": {"state": state},
        "next_obs": {"state": torch.randn(n, STATE_DIM, generator=g)},
        "action": actions if actions is not None else torch.rand(n, 4, generator=g) * 2 - 1,
        "reward": reward if reward is not None else torch.rand(n, generator=g),
        "terminated": terminated if terminated is not None else torch.zeros(n),
    }


def test_critic_target_by_hand():
    """With a constant next value, the target is r + discount * (1 - done) * min_i Q_i."""
    cfg = small_config(critic_ensemble_size=2)
    agent = SACAgent(cfg, STATE_DIM, {}, action=ACTION, seed=0)
    for i, member in enumerate(agent.target_critic.ensemble.members):
        last = member[-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.constant_(last.bias, 2.0 + i)  # Q_0 = 2, Q_1 = 3 everywhere
    for member in agent.critic.ensemble.members:
        torch.nn.init.zeros_(member[-1].weight)
        torch.nn.init.constant_(member[-1].bias, 0.0)  # predicted Q = 0
    b = batch(4, reward=torch.tensor([1.0, 0.0, 1.0, 0.5]), terminated=torch.tensor([0.0, 0.0, 1.0, 0.0]))
    loss, info = critic_loss(agent, b, Latents.of(agent, b))
    target = torch.tensor([1 + 0.97 * 2, 0.97 * 2, 1.0, 0.5 + 0.97 * 2])
    assert info["target_mean"] == pytest.approx(target.mean().item(), rel=1e-5)
    assert loss.item() == pytest.approx((target**2).mean().item(), rel=1e-5)


def test_backup_entropy_lowers_the_target():
    b = batch(16, seed=3)
    targets = {}
    for flag in (False, True):
        agent = SACAgent(small_config(backup_entropy=flag, temperature_init=1.0), STATE_DIM, {}, action=ACTION, seed=0)
        targets[flag] = critic_loss(agent, b, Latents.of(agent, b), torch.Generator().manual_seed(0))[1]["target_mean"]
    # log pi of a 3-d tanh Gaussian with std ~1 is negative... the entropy bonus is then positive;
    # either way the two targets differ by alpha * E[log pi], which is not zero.
    assert targets[True] != pytest.approx(targets[False])


def test_actor_loss_by_hand():
    agent = SACAgent(small_config(temperature_init=0.5), STATE_DIM, {}, action=ACTION, seed=0)
    b = batch(8)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    loss, _ = actor_loss(agent, b, Latents.of(agent, b), g1)
    latent = agent.critic.encoder(b["obs"]).detach()
    a, logp = agent.actor.sample(latent, g2)
    expected = (0.5 * logp - agent.critic.ensemble(latent, a).mean(0)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_actor_loss_does_not_train_the_encoder():
    agent = SACAgent(small_config(), STATE_DIM, {}, action=ACTION, seed=0)
    b = batch(8)
    loss, _ = actor_loss(agent, b, Latents.of(agent, b))
    loss.backward()
    assert all(p.grad is None for p in agent.critic.encoder.parameters())
    assert any(p.grad is not None for p in agent.actor.parameters())


def test_actor_demo_bc_by_hand():
    """The cloning term: on demo rows whose shown action the critic values above the actor's draw,
    the squared distance of the actor's mean from it, averaged over the demo rows; online rows, rows
    the critic prefers the draw on, and a weight of 0 add nothing."""
    b = {**batch(4, seed=5), "demonstrated": torch.tensor([1.0, 1.0, 1.0, 0.0])}
    agent = SACAgent(small_config(actor_demo_bc=2.0), STATE_DIM, {}, action=ACTION, seed=0)
    z = Latents.of(agent, b)
    plain_agent = SACAgent(small_config(actor_demo_bc=0.0), STATE_DIM, {}, action=ACTION, seed=0)  # same weights
    plain, plain_info = actor_loss(plain_agent, b, z, torch.Generator().manual_seed(1))
    assert "actor_bc_loss" not in plain_info  # a weight of 0: no term
    loss, info = actor_loss(agent, b, z, torch.Generator().manual_seed(1))
    latent = z.obs.detach()
    draw, _ = agent.actor.sample(latent, torch.Generator().manual_seed(1))
    shown = b["action"][:, :3]
    kept = (agent.critic.ensemble(latent, shown).mean(0) > agent.critic.ensemble(latent, draw).mean(0)).float()
    kept = kept * b["demonstrated"]
    error = ((agent.actor.mode(latent) - shown) ** 2).sum(-1)
    expected = (error * kept).sum() / 3
    assert 0 < kept.sum() < 3  # the filter keeps some demo rows and drops others on this batch
    assert info["actor_bc_loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert info["actor_bc_kept"] == pytest.approx(kept.sum().item() / 3)
    assert loss.item() == pytest.approx(plain.item() + 2.0 * expected.item(), rel=1e-5)
    _, info = actor_loss(agent, {**b, "demonstrated": torch.zeros(4)}, z)
    assert "actor_bc_loss" not in info


def test_actor_demo_bc_pulls_the_mean_to_the_shown_action():
    """Trained on one state with a critic that values the shown action highest, the cloned actor's
    mean reaches it; the actor's gradient alone, at a small learning budget, stays farther."""
    def train(weight):
        agent = SACAgent(small_config(actor_demo_bc=weight), STATE_DIM, {}, action=ACTION, seed=0)
        state = torch.randn(1, STATE_DIM, generator=torch.Generator().manual_seed(3)).expand(8, -1)
        shown = torch.tensor([[0.5, -0.4, 0.3, -1.0]]).expand(8, -1)
        b = {"obs": {"state": state}, "next_obs": {"state": state}, "action": shown, "reward": torch.ones(8),
             "terminated": torch.ones(8), "grasp_penalty": torch.zeros(8), "demonstrated": torch.ones(8)}
        for _ in range(150):
            z = Latents.of(agent, b)
            loss, _ = critic_loss(agent, b, z)
            agent._step(agent.critic_opt, loss, "critic_loss")
            loss, _ = actor_loss(agent, b, Latents.of(agent, b))
            agent._step(agent.actor_opt, loss, "actor_loss")
        with torch.no_grad():
            return (agent.actor.mode(agent.critic.encoder(b["obs"]))[0] - shown[0, :3]).norm().item()

    cloned, plain = train(1.0), train(0.0)
    assert cloned < 0.1 and cloned < plain / 2, (cloned, plain)


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    mean, std = torch.tensor([[0.3, -0.2]]), torch.tensor([[0.5, 1.2]])
    u = torch.tensor([[0.1, 0.7]])
    expected = torch.distributions.Normal(mean, std).log_prob(u).sum() - torch.log(1 - torch.tanh(u) ** 2).sum()
    assert tanh_gaussian_log_prob(u, mean, std).item() == pytest.approx(expected.item(), rel=1e-5)


def test_soft_update():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    torch.nn.init.constant_(a.weight, 0.0)
    torch.nn.init.constant_(b.weight, 1.0)
    soft_update(a, b, 0.005)
    assert torch.allclose(a.weight, torch.full((2, 2), 0.005))


def test_temperature_moves_toward_the_target_entropy():
    log_alpha = torch.nn.Parameter(torch.tensor(math.log(0.01)))
    opt = torch.optim.Adam([log_alpha], lr=0.1)
    for entropy, direction in ((torch.tensor(-5.0), 1), (torch.tensor(3.0), -1)):
        before = log_alpha.item()
        for _ in range(5):
            opt.zero_grad()
            temperature_loss(log_alpha, entropy, -1.5).backward()
            opt.step()
        # entropy below target -> alpha grows; above -> alpha shrinks
        assert (log_alpha.item() - before) * direction > 0


def test_target_entropy_default_is_minus_half_the_arm_dims():
    assert SACAgent(small_config(), STATE_DIM, {}, action=ACTION).target_entropy == -1.5


def test_gripper_classes_round_the_command():
    actions = torch.tensor([[0, 0, 0, -1.0], [0, 0, 0, -0.4], [0, 0, 0, 0.6], [0, 0, 0, 1.0]])
    assert gripper_classes(actions, 3).tolist() == [0, 1, 2, 2]


def test_grasp_critic_double_q_target_by_hand():
    agent = SACAgent(small_config(), STATE_DIM, {}, action=ACTION, seed=0)
    online_last = agent.grasp_critic.net[-1]
    target_last = agent.target_grasp_critic.net[-1]
    torch.nn.init.zeros_(online_last.weight)
    torch.nn.init.zeros_(target_last.weight)
    with torch.no_grad():
        online_last.bias.copy_(torch.tensor([0.0, 5.0, 1.0]))  # online prefers "stay"
        target_last.bias.copy_(torch.tensor([9.0, 2.0, 4.0]))  # target's own max would be 9
    actions = torch.tensor([[0, 0, 0, -1.0], [0, 0, 0, 0.0]])  # close (from open: penalty), stay
    b = batch(2, reward=torch.tensor([1.0, 0.0]), terminated=torch.zeros(2), actions=actions,
              penalty=torch.tensor([-0.02, 0.0]))
    loss, _ = grasp_critic_loss(agent, b, Latents.of(agent, b))
    # double Q: argmax by online (stay) valued by target (2.0), not the target's max (9.0)
    target = torch.tensor([1.0 - 0.02 + 0.97 * 2.0, 0.0 + 0.97 * 2.0])
    q = torch.tensor([0.0, 5.0])
    assert loss.item() == pytest.approx(((q - target) ** 2).mean().item(), rel=1e-5)


def test_grasp_demo_margin_by_hand():
    """DQfD's margin: on demonstrated rows, max over commands of Q + margin (none for the shown one)
    minus Q of the shown one, averaged over those rows; online rows and a margin of 0 add nothing."""
    def loss_of(margin, demonstrated, rows="all", penalty=None):
        agent = SACAgent(small_config(grasp_demo_margin=margin, grasp_demo_margin_rows=rows), STATE_DIM, {},
                         action=ACTION, seed=0)
        for last in (agent.grasp_critic.net[-1], agent.target_grasp_critic.net[-1]):
            torch.nn.init.zeros_(last.weight)
            with torch.no_grad():
                last.bias.copy_(torch.tensor([0.50, 0.52, 0.30]))  # stay just ahead of close, as at a stall
        actions = torch.tensor([[0, 0, 0, -1.0], [0, 0, 0, 1.0], [0, 0, 0, -1.0]])  # close, open, close
        b = {**batch(3, actions=actions, reward=torch.zeros(3), penalty=penalty), "demonstrated": demonstrated}
        return grasp_critic_loss(agent, b, Latents.of(agent, b))

    td, _ = loss_of(0.0, torch.tensor([1.0, 1.0, 0.0]))
    loss, info = loss_of(0.05, torch.tensor([1.0, 1.0, 0.0]))
    # row 0 shows close: max(0.50, 0.52 + 0.05, 0.30 + 0.05) - 0.50 = 0.07; row 1 shows open:
    # max(0.55, 0.57, 0.30) - 0.30 = 0.27; row 2 is online.
    assert info["grasp_margin_loss"] == pytest.approx((0.07 + 0.27) / 2, abs=1e-6)
    assert loss.item() == pytest.approx(td.item() + (0.07 + 0.27) / 2, abs=1e-6)
    online, info = loss_of(0.05, torch.zeros(3))
    assert online.item() == pytest.approx(td.item()) and "grasp_margin_loss" not in info
    # "changes": only the demo rows whose command changed the gripper (paid the penalty: row 0, the
    # close), still averaged over the demo rows; row 1's open kept the jaws open and adds nothing.
    _, info = loss_of(0.05, torch.tensor([1.0, 1.0, 0.0]), rows="changes", penalty=torch.tensor([-0.02, 0.0, -0.02]))
    assert info["grasp_margin_loss"] == pytest.approx(0.07 / 2, abs=1e-6)
    # "effects": row 0's close changed the jaws, so it leads both others; row 1's open did not (the
    # jaws were open: stay does the same), so it leads only close: max(0.30, 0.50 + 0.05) - 0.30 = 0.25.
    _, info = loss_of(0.05, torch.tensor([1.0, 1.0, 0.0]), rows="effects", penalty=torch.tensor([-0.02, 0.0, -0.02]))
    assert info["grasp_margin_loss"] == pytest.approx((0.07 + 0.25) / 2, abs=1e-6)


def test_margin_against_sets_apart_only_commands_of_another_effect():
    close, stay, opn = 0, 1, 2
    classes = torch.tensor([close, close, opn, opn, stay, stay])
    changed = torch.tensor([True, False, True, False, True, False])
    assert margin_against(classes, changed, "effects").tolist() == [
        [False, True, True],    # a close that closed: stay and open both keep the jaws open
        [False, False, True],   # a close on closed jaws: only open lets go
        [True, True, False],    # an open that opened
        [True, False, False],   # an open on open jaws: only close differs
        [True, False, True],    # a stay that paid: cannot happen, held against both
        [False, False, False],  # a stay: open or closed jaws, not known from the row
    ]
    assert margin_against(classes, changed, "changes").tolist() == [
        [False, True, True], [False, False, False], [True, True, False], [False, False, False],
        [True, False, True], [False, False, False]]
    assert margin_against(classes, changed, "all")[1].tolist() == [False, True, True]


def test_grasp_demo_margin_lifts_the_demonstrated_command_over_a_stall():
    """Trained on one state where the demonstrator closes and the reward cannot tell closing from
    staying (both worth the same), the margin puts close ahead; without it stay keeps its lead. On
    every demo row: the shown closes here pay no penalty, so "changes" would see no decision."""
    def train(margin):
        agent = SACAgent(small_config(grasp_demo_margin=margin, grasp_demo_margin_rows="all"), STATE_DIM, {},
                         action=ACTION, seed=0)
        with torch.no_grad():
            agent.grasp_critic.net[-1].bias.copy_(torch.tensor([0.0, 0.1, 0.0]))
        state = torch.randn(1, STATE_DIM, generator=torch.Generator().manual_seed(3)).expand(8, -1)
        actions = torch.tensor([[0, 0, 0, -1.0], [0, 0, 0, 0.0]]).repeat(4, 1)  # close, stay
        b = {"obs": {"state": state}, "next_obs": {"state": state}, "action": actions,
             "reward": torch.ones(8), "terminated": torch.ones(8), "grasp_penalty": torch.zeros(8),
             "demonstrated": torch.tensor([1.0, 0.0] * 4)}  # the closes shown, the stays the policy's
        for _ in range(300):
            loss, _ = grasp_critic_loss(agent, b, Latents.of(agent, b))
            agent.grasp_opt.zero_grad()
            loss.backward()
            agent.grasp_opt.step()
        with torch.no_grad():
            return agent.grasp_critic(Latents.of(agent, b).obs)[0]

    q = train(0.05)
    assert q[0] > q[1] + 0.02, q  # close leads stay
    q = train(0.0)
    assert abs(q[0] - q[1]) < 0.02, q  # a tie, settled by noise


def test_update_runs_the_critic_actor_ratio_and_reports_metrics():
    agent = SACAgent(small_config(critic_actor_ratio=3), STATE_DIM, {}, action=ACTION, seed=0)
    before = [p.clone() for p in agent.critic.parameters()]
    info = agent.update([batch(8, seed=i) for i in range(3)])
    assert {"critic_loss", "actor_loss", "temperature_loss", "alpha", "grasp_critic_loss"} <= set(info)
    assert agent.updates == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.critic.parameters()))


def test_dropout_mask_drops_p_and_keeps_the_mean():
    mask = dropout_mask((400, 1000), 0.1, np.random.default_rng(0))
    dropped = (mask == 0).float().mean().item()
    assert dropped == pytest.approx(0.1, abs=0.005)
    assert mask.mean().item() == pytest.approx(1.0, abs=0.01)  # inverted dropout: expectation unchanged
    assert torch.equal(mask, dropout_mask((400, 1000), 0.1, np.random.default_rng(0)))  # seeded
    assert torch.all(dropout_mask((10, 10), 0.0, np.random.default_rng(0)) == 1.0)


def image_agent(dropout: float) -> SACAgent:
    cfg = small_config(encoder=EncoderConfig(dropout=dropout, image_latent_dim=16))
    return SACAgent(cfg, STATE_DIM, {"wrist": (512, 4, 4)}, action=ACTION, backbone=ResNet10(), seed=0)


def test_one_dropout_mask_is_shared_by_a_critic_steps_encodings():
    """Same features in obs and next obs: the online encodings agree only if they share the mask;
    the target encoder (a copy before any update) then agrees too; eval mode drops nothing."""
    agent = image_agent(dropout=0.5).train()
    features = torch.randn(8, 512, 4, 4)
    b = batch(8)
    b["obs"]["wrist"] = b["next_obs"]["wrist"] = features
    b["next_obs"]["state"] = b["obs"]["state"]
    z = Latents.of(agent, b)
    assert torch.allclose(z.obs, z.next_obs) and torch.allclose(z.next_obs, z.target_next_obs)
    agent.eval()
    assert not torch.allclose(Latents.of(agent, b).obs, z.obs)


def test_the_agents_random_streams_are_saved_and_restored():
    agent = image_agent(dropout=0.1)
    saved = agent.rng_state()
    first = (torch.randn(3, generator=agent.generator), agent.dropout_rng.random())
    agent.set_rng_state(saved)
    assert torch.equal(torch.randn(3, generator=agent.generator), first[0])
    assert agent.dropout_rng.random() == first[1]


def test_act_returns_a_valid_action():
    agent = SACAgent(small_config(), STATE_DIM, {}, action=ACTION, seed=0)
    a = agent.act({"state": np.zeros(STATE_DIM, np.float32)})
    assert a.shape == (4,) and np.all(np.abs(a[:3]) <= 1) and a[3] in (-1.0, 0.0, 1.0)


def test_random_crop_shapes_randomness_and_edges():
    imgs = torch.arange(2 * 8 * 8 * 3, dtype=torch.int64).reshape(2, 8, 8, 3).to(torch.uint8)
    out = random_crop(imgs.repeat(16, 1, 1, 1), 2, torch.Generator().manual_seed(0))
    assert out.shape == (32, 8, 8, 3) and out.dtype == torch.uint8
    assert len({bytes(o.numpy()) for o in out[::2]}) > 1  # different shifts per sample
    # offset (padding, padding) is the identity; offset (0, 0) shifts down-right with edge copies
    same = crop_with_offsets(imgs, torch.tensor([[2, 2], [2, 2]]), 2)
    assert torch.equal(same, imgs)
    shifted = crop_with_offsets(imgs, torch.tensor([[0, 0], [0, 0]]), 2)
    assert torch.equal(shifted[:, 2:, 2:], imgs[:, :-2, :-2])
    assert torch.equal(shifted[:, 0, 0], imgs[:, 0, 0])


def test_spatial_embeddings_keep_position():
    emb = SpatialLearnedEmbeddings(1, 4, 4, 2)
    a = torch.zeros(1, 1, 4, 4)
    b = torch.zeros(1, 1, 4, 4)
    a[0, 0, 0, 0] = 1.0
    b[0, 0, 3, 3] = 1.0
    assert not torch.allclose(emb(a), emb(b))  # global pooling would make these equal


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_spatial_embeddings_match_einsum_and_its_gradients(dtype):
    """The hand-written forward and backward against autograd through the plain einsum, with a
    dropout mask and with features that need a gradient (encoder fine-tuning)."""
    g = torch.Generator().manual_seed(0)
    emb = SpatialLearnedEmbeddings(6, 3, 2, 4)
    x = torch.randn(5, 6, 3, 2, generator=g).to(dtype).requires_grad_(True)
    mask = dropout_mask((5, 24), 0.3, np.random.default_rng(0))
    upstream = torch.randn(5, 24, generator=g)

    out = emb(x, mask)
    out.backward(upstream)
    ref_x = x.detach().float().requires_grad_(True)
    ref_kernel = emb.kernel.detach().clone().requires_grad_(True)
    ref = torch.einsum("bchw,chwf->bcf", ref_x, ref_kernel).flatten(1) * mask
    ref.backward(upstream)

    assert out.dtype == torch.float32 and out.shape == (5, 24)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(emb.kernel.grad, ref_kernel.grad, rtol=1e-5, atol=1e-5)
    assert x.grad.dtype == dtype
    torch.testing.assert_close(x.grad.float(), ref_x.grad, rtol=1e-2 if dtype == torch.float16 else 1e-5, atol=1e-3)
    unmasked = torch.einsum("bchw,chwf->bcf", x.detach().float(), emb.kernel.detach()).flatten(1)
    torch.testing.assert_close(emb(x.detach()), unmasked, rtol=1e-5, atol=1e-5)


def test_resnet10_shapes_and_weight_checks(tmp_path):
    model = ResNet10()
    out = model(torch.zeros(2, 128, 128, 3, dtype=torch.uint8))
    assert out.shape == (2, *feature_shape(128)) == (2, 512, 4, 4)
    state = model.state_dict()
    bad = dict(state)
    bad["stages.3.conv2.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(WeightsMismatch, match=r"stages.3.conv2.weight has shape \(3, 3, 3, 3\)"):
        load_weights(ResNet10(), bad, "other.safetensors")
    with pytest.raises(WeightsMismatch, match="not a ResNet-10"):
        load_weights(ResNet10(), {"fc.weight": torch.zeros(2)}, "x")


def test_resnet10_loads_hugging_face_layout():
    ours = ResNet10().state_dict()
    inverse = {
        "stem.0.": "embedder.embedder.convolution.", "stem.1.": "embedder.embedder.normalization.",
    }
    hf = {}
    for k, v in ours.items():
        new = k
        for a, b in inverse.items():
            new = new.replace(a, b)
        for i in range(4):
            for ours_name, hf_name in (("conv1.", "layer.0.convolution."), ("bn1.", "layer.0.normalization."),
                                       ("conv2.", "layer.1.convolution."), ("bn2.", "layer.1.normalization."),
                                       ("shortcut.0.", "shortcut.convolution."), ("shortcut.1.", "shortcut.normalization.")):
                new = new.replace(f"stages.{i}.{ours_name}", f"encoder.stages.{i}.layers.0.{hf_name}")
        hf[new] = v + 1.0 if v.is_floating_point() else v
    hf["classifier.1.weight"] = torch.zeros(10, 512)
    converted = convert_hf_state_dict(hf)
    assert set(converted) == set(ours)
    model = ResNet10()
    load_weights(model, hf, "helper2424/resnet10")
    assert torch.equal(model.state_dict()["stem.0.weight"], ours["stem.0.weight"] + 1.0)


def test_fine_tuning_needs_exact_augmentation():
    with pytest.raises(ConfigError, match="agent.feature_cache"):
        AgentConfig(encoder=EncoderConfig(freeze=False)).validate()
    AgentConfig(feature_cache=False, encoder=EncoderConfig(freeze=False)).validate()


def test_state_normalizer_is_fitted_and_saved():
    agent = SACAgent(small_config(), STATE_DIM, {}, action=ACTION, seed=0)
    states = np.random.default_rng(0).normal(5.0, 3.0, (500, STATE_DIM)).astype(np.float32)
    states[:, 0] = 1.0  # a constant dimension keeps the floor std
    agent.set_state_normalizer(states)
    enc = agent.critic.encoder
    assert torch.allclose(enc.state_mean[1:], torch.full((STATE_DIM - 1,), 5.0), atol=0.5)
    assert enc.state_std[0].item() == pytest.approx(1e-2)
    other = SACAgent(small_config(), STATE_DIM, {}, action=ACTION, seed=1)
    other.load_state_dict(agent.state_dict())
    assert torch.equal(other.critic.encoder.state_std, enc.state_std)
    assert torch.equal(other.target_critic.encoder.state_mean, enc.state_mean)


def test_device_auto_resolves_and_an_absent_accelerator_is_refused_by_name():
    from hilserl.agent.device import DeviceUnavailable, resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailable, match="agent.device = 'cuda'.*set agent.device=cpu or auto"):
            resolve_device("cuda")
        with pytest.raises(DeviceUnavailable):
            SACAgent(small_config(device="cuda"), STATE_DIM, {}, action=ACTION)
    agent = SACAgent(small_config(device="cpu"), STATE_DIM, {}, action=ACTION, seed=0)
    assert agent.device.type == "cpu" and agent.generator.device.type == "cpu"
    assert all(p.device.type == "cpu" for p in agent.parameters())


def grasp_agent_with_values(values: list[float], **kw) -> SACAgent:
    """An agent whose grasp critic values (close, stay, open) the same in every state."""
    agent = SACAgent(small_config(**kw), STATE_DIM, {}, action=ACTION, seed=0)
    last = agent.grasp_critic.net[-1]
    torch.nn.init.zeros_(last.weight)
    with torch.no_grad():
        last.bias.copy_(torch.tensor(values))
    agent.reset_average()
    return agent


def gripper_commands(agent: SACAgent, n: int, deterministic: bool = False) -> np.ndarray:
    obs = {"state": np.zeros(STATE_DIM, np.float32)}
    return np.array([agent.act(obs, deterministic)[3] for _ in range(n)])


def test_grasp_temperature_tries_near_ties_and_not_far_worse_commands():
    """Stay open beats close by 0.04 (a stall at the object): a greedy critic never closes, a
    temperature of 0.02 closes about exp(-2) as often as it stays; a command 0.5 worse is not drawn."""
    stall = [0.54, 0.58, 0.08]
    assert set(gripper_commands(grasp_agent_with_values(stall), 200)) == {0.0}
    drawn = gripper_commands(grasp_agent_with_values(stall, grasp_temperature=0.02), 2000)
    closes, stays = np.sum(drawn == -1.0), np.sum(drawn == 0.0)
    assert closes + stays == 2000  # "open", 0.5 below "stay", not once (e^-25)
    assert 0.07 < closes / 2000 < 0.17  # softmax: e^-2 / (1 + e^-2) = 0.119
    evaluated = gripper_commands(grasp_agent_with_values(stall, grasp_temperature=0.02), 200, deterministic=True)
    assert set(evaluated) == {0.0}  # evaluation stays greedy


def test_grasp_temperature_is_validated():
    with pytest.raises(ConfigError, match="grasp_temperature"):
        AgentConfig(grasp_temperature=-0.1).validate()


def test_a_graded_policy_draws_its_arm_actions_from_its_own_stream_and_takes_the_best_gripper_command():
    """``agent.eval_actions=sample``: arm actions drawn around the mean from a stream seeded per
    evaluation, training's stream untouched; the gripper greedy even with a ``grasp_temperature``."""
    stall = [0.54, 0.58, 0.08]
    obs = {"state": np.zeros(STATE_DIM, np.float32)}
    agent = grasp_agent_with_values(stall, grasp_temperature=0.02, eval_actions="sample")
    training = agent.generator.get_state()
    first = np.array([agent.act_trained(obs, agent.evaluation_stream(7))[0] for _ in range(3)])
    stream = agent.evaluation_stream(7)
    drawn = np.array([agent.act_trained(obs, stream)[0] for _ in range(200)])
    assert np.array_equal(first, np.repeat(drawn[:1], 3, axis=0))  # the same seed, the same first draw
    assert torch.equal(agent.generator.get_state(), training)
    mean, value = agent.act_trained(obs, None)
    assert np.array_equal(mean, agent.act(obs, deterministic=True)) and value == agent.value(obs)
    assert np.all(drawn[:, :3].std(axis=0) > 0.05) and len(np.unique(drawn[:, 0])) == 200
    assert set(drawn[:, 3]) == {0.0}  # "stay", the best; exploring would close about one time in nine
    assert grasp_agent_with_values(stall).evaluation_stream(7) is None  # "mean", the default
    with pytest.raises(ConfigError, match="eval_actions"):
        AgentConfig(eval_actions="median").validate()


def test_the_policy_average_follows_the_live_weights_at_its_rate_and_is_the_graded_policy():
    """After each update every averaged parameter moves ``policy_average_rate`` of the way to the live
    one (more in the first updates); grading (``act_trained``) and export act by the average, training
    (``act``) by the live."""
    agent = SACAgent(small_config(policy_average_rate=0.3), STATE_DIM, {}, action=ACTION, seed=0)
    obs = {"state": np.random.default_rng(0).normal(size=STATE_DIM).astype(np.float32)}
    assert np.array_equal(agent.act_trained(obs, None)[0], agent.act(obs, deterministic=True))  # starts at the live
    for i in range(3 * AVERAGE_WARMUP):
        before = {k: v.clone() for k, v in agent.trained_policy_state_dict().items()}
        rate = max(0.3, AVERAGE_WARMUP / (agent.updates + AVERAGE_WARMUP))
        agent.update([batch(8, seed=10 * i + j) for j in range(2)])
        live = agent.policy_state_dict()
        if i == 0:  # the first update starts the average at the live weights, not at the initial ones
            assert all(torch.equal(v, live[k]) for k, v in agent.trained_policy_state_dict().items())
        for key, value in agent.trained_policy_state_dict().items():
            assert torch.allclose(value, before[key] + rate * (live[key] - before[key]), atol=1e-6), key
    trained, live = agent.trained_policy_state_dict(), agent.policy_state_dict()
    assert set(trained) == set(live) and any(not torch.equal(trained[k], live[k]) for k in live)
    assert not np.array_equal(agent.act_trained(obs, None)[0][:3], agent.act(obs, deterministic=True)[:3])
    plain = SACAgent(small_config(policy_average_rate=0.0), STATE_DIM, {}, action=ACTION, seed=0)
    plain.update([batch(8, seed=j) for j in range(2)])
    assert plain.averaged is None and np.array_equal(plain.act_trained(obs, None)[0], plain.act(obs, deterministic=True))
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="policy_average_rate"):
            AgentConfig(policy_average_rate=bad).validate()


def test_the_policy_average_is_saved_and_loads_into_agents_with_or_without_one():
    obs = {"state": np.random.default_rng(1).normal(size=STATE_DIM).astype(np.float32)}
    agent = SACAgent(small_config(policy_average_rate=0.3), STATE_DIM, {}, action=ACTION, seed=0)
    agent.set_state_normalizer(np.random.default_rng(0).normal(5.0, 3.0, (100, STATE_DIM)).astype(np.float32))
    assert torch.equal(agent.averaged["encoder"].state_mean, agent.critic.encoder.state_mean)
    for i in range(3):
        agent.update([batch(8, seed=10 * i + j) for j in range(2)])
    same = SACAgent(small_config(policy_average_rate=0.3), STATE_DIM, {}, action=ACTION, seed=5)
    same.load_state_dict(agent.state_dict())  # a resume: the average exactly as it was
    assert all(torch.equal(v, agent.trained_policy_state_dict()[k]) for k, v in same.trained_policy_state_dict().items())
    live_only = SACAgent(small_config(policy_average_rate=0.0), STATE_DIM, {}, action=ACTION, seed=5)
    live_only.load_state_dict(agent.state_dict())  # grading a checkpoint's live weights
    assert np.array_equal(live_only.act_trained(obs, None)[0], agent.act(obs, deterministic=True))
    fresh = SACAgent(small_config(policy_average_rate=0.3), STATE_DIM, {}, action=ACTION, seed=5)
    fresh.load_state_dict(live_only.state_dict())  # a state kept without an average: it starts at the live
    assert all(torch.equal(v, live_only.policy_state_dict()[k]) for k, v in fresh.trained_policy_state_dict().items())
    with pytest.raises(RuntimeError, match="does not fit"):
        fresh.load_state_dict({k: v for k, v in live_only.state_dict().items() if not k.startswith("actor.")})
    exported = SACAgent(small_config(policy_average_rate=0.3), STATE_DIM, {}, action=ACTION, seed=5)
    exported.load_policy_state_dict(agent.trained_policy_state_dict())  # an exported policy acts as graded
    assert np.array_equal(exported.act_trained(obs, None)[0], agent.act_trained(obs, None)[0])
