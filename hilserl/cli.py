"""The ``hilserl`` command line. Each subcommand is a thin layer over a function of the package."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hilserl.config import Config, ConfigError, load_config

COMMON_HELP = """Every command takes --config FILE.json (a saved or hand-written config) and any number of
--set section.field=value overrides (values are JSON), for example
  --set env.action_scale=0.03 --set human.strategy=takeover --set env.state_only=true"""


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="JSON config file (defaults: the HIL-SERL reference values)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one config field, e.g. env.action_scale=0.03 (repeatable)",
    )


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def cmd_expert(args: argparse.Namespace) -> int:
    """Run the scripted expert; print its success by region; save an image strip and a video."""
    from hilserl.envs.showcase import run_expert_showcase

    cfg = _config(args)
    summary = run_expert_showcase(cfg, episodes=args.episodes, out_dir=args.out, seed=args.seed)
    print(summary.table())
    for path in summary.files:
        print(f"wrote {path}")
    return 0


def cmd_pretrain_encoder(args: argparse.Namespace) -> int:
    """Pre-train the ResNet-10 backbone on rendered simulation frames and save it."""
    from hilserl.agent.pretrain import PretrainConfig, pretrain_backbone

    cfg = _config(args)
    report = pretrain_backbone(
        cfg.env,
        PretrainConfig(frames=args.frames, steps=args.steps, batch_size=args.batch_size, seed=args.seed),
        args.out,
    )
    print(json.dumps(report, indent=2))
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hilserl",
        description="Human-in-the-loop RL (HIL-SERL) for robot grasping, on a simulated SO-101 by default.",
        epilog=COMMON_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "expert", help="run the scripted expert: success by region, image strip and video of what the cameras see"
    )
    _add_config_args(p)
    p.add_argument("--episodes", type=int, default=20, help="episodes to run (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    p.add_argument("--out", type=Path, default=Path("outputs/expert"), help="folder for the strip and video")
    p.set_defaults(func=cmd_expert)

    p = sub.add_parser(
        "pretrain-encoder",
        help="pre-train the ResNet-10 backbone on rendered simulation frames (the offline default weights)",
    )
    _add_config_args(p)
    p.add_argument("--frames", type=int, default=4000, help="rendered frames per camera (default 4000)")
    p.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    p.add_argument("--batch-size", type=int, default=64, help="frames per step (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("outputs/resnet10_sim.safetensors"), help="weights file")
    p.set_defaults(func=cmd_pretrain_encoder)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"hilserl: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hilserl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
