import json
from dataclasses import asdict

import torch

from hilserl.agent.backbone import default_weights_path, load_backbone
from hilserl.config import EncoderConfig, PretrainConfig


def test_pretrain_encoder_writes_weights_the_agent_loads(tmp_path, capsys):
    from hilserl.cli import main

    out = tmp_path / "backbone.safetensors"
    code = main(["pretrain-encoder", "--frames", "24", "--steps", "3", "--batch-size", "4", "--out", str(out)])
    assert code == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["frames"] == 24 and report["config"]["steps"] == 3 and report["cameras"] == ["wrist", "front"]
    assert set(report["validation_r2"]) >= {"rel_x", "rel_y", "sin4yaw"}
    trained = load_backbone(EncoderConfig(weights=str(out))).state_dict()
    shipped = load_backbone(EncoderConfig()).state_dict()
    assert trained.keys() == shipped.keys()
    assert any(not torch.equal(trained[k], shipped[k]) for k in trained)
    assert "wrote" in capsys.readouterr().out


def test_the_shipped_weights_were_made_with_the_pretraining_defaults():
    """`hilserl pretrain-encoder` with no options rebuilds what the package ships."""
    provenance = json.loads(default_weights_path().with_suffix(".json").read_text())
    assert provenance["config"] == asdict(PretrainConfig())
