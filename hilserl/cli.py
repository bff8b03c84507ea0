"""The ``hilserl`` command line. Each subcommand is a thin layer over a function of the package."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from hilserl.config import Config, ConfigError, PretrainConfig, load_config, pin_threads
from hilserl.distributed.service import TokenRequired
from hilserl.envs.so101.faults import RobotFault
from hilserl.teleop.select import TELEOP_KINDS
from hilserl.threads import MAX_THREADS, resolve_threads, torch_threads
from hilserl.training.checkpoint import CheckpointNotWritten, ResumeRefused
from hilserl.training.preflight import CannotKeepResults, writable_folder
from hilserl.training.run_lock import RunFolderInUse

if TYPE_CHECKING:
    from hilserl.training.trained_agent import ConfigChanges

NO_CONFIG_COMMANDS = ("report", "diagnose config", "import-lerobot", "export-lerobot", "calibrate", "fleet certs")
"""Commands that read and write files only: they take no config."""
EXIT_WATCHDOG_S = 30.0
"""A learner tied to its parent that has not exited this long after its work ended dumps its threads'
stacks (to its output, or the run folder's learner_output.log) and exits: a hang, never work to save."""
COMMON_HELP = f"""Every command that builds an env, an agent or a run takes --config FILE.json (a saved or
hand-written config) and any number of --set section.field=value overrides (values are JSON), e.g.
  --set env.action_scale=0.03 --set human.strategy=takeover --set env.state_only=true
Where the config comes from a run (train --resume and eval: the run's checkpoint; actor: its learner),
they change only the fields they name; another env or network shape is refused.
{", ".join(NO_CONFIG_COMMANDS)} read and write files only and take neither."""


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="JSON config file (defaults: the HIL-SERL reference values)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one config field, e.g. env.action_scale=0.03 (repeatable)",
    )


def _int_in(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi], refused with the range otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is out of range; allowed {lo} to {hi}")
        return value
    return parse


def _positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is out of range; give seconds above 0")
    return value


def _add_threads_arg(parser: argparse.ArgumentParser, what: str = "this process") -> None:
    parser.add_argument("--threads", type=_int_in(1, MAX_THREADS), metavar="N",
                        help=f"torch threads of {what} (default: half the cores, at least 1, so that another "
                        "job beside it does not slow it many times over; recorded in the run's config)")


def _add_view_args(parser: argparse.ArgumentParser, where: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--display", action="store_true",
                       help="a live view of every step in rerun: the cameras as the policy sees them, the action, "
                       "who is in control, the reward, the classifier's probability, the critic's value; a window "
                       "where there is a display, else the web viewer served here (its address is printed)")
    group.add_argument("--record", nargs="?", const="", metavar="FILE.rrd",
                       help=f"the same, written to a file to open later with `rerun FILE.rrd` (default {where})")


def _view(args: argparse.Namespace, folder: Path, name: str):
    """The live view the arguments ask for, or None."""
    from hilserl.collect.live_view import ViewTarget

    if getattr(args, "display", False):
        return ViewTarget("display")
    if getattr(args, "record", None) is None:
        return None
    return ViewTarget("record", Path(args.record)) if args.record else ViewTarget.recording_in(folder, name)


def _overrides(args: argparse.Namespace, extra: list[str] | None = None) -> list[str]:
    """``extra``, then ``--threads`` as the override ``threads=N``, then the ``--set`` overrides."""
    threads = [f"threads={args.threads}"] if getattr(args, "threads", None) else []
    return [*(extra or []), *threads, *args.overrides]


def _changes(args: argparse.Namespace) -> ConfigChanges:
    """What ``--config`` and ``--set`` change of a config that comes from a run (eval, actor)."""
    from hilserl.training.trained_agent import ConfigChanges

    return ConfigChanges(args.config, _overrides(args))


def _config(args: argparse.Namespace, extra: list[str] | None = None) -> Config:
    """The config of the file and ``--set`` overrides over the defaults; with ``--resume``, over the
    run's own config instead (``--run-dir``), refused before anything is written if it cannot apply."""
    if getattr(args, "resume", False):
        from hilserl.training.run import resume_config

        if not args.run_dir:
            raise ValueError("--resume needs --run-dir (the run to continue)")
        return resume_config(args.run_dir, args.config, _overrides(args, extra))
    return load_config(args.config, _overrides(args, extra))


def cmd_check_env(args: argparse.Namespace) -> int:
    """Run an env through the env contract; exit 1 if it breaks it."""
    from hilserl.envs.check import check_env
    from hilserl.envs.contract import ContractViolation
    from hilserl.envs.declared import declare, facts_lines
    from hilserl.envs.factory import make_env

    cfg = _config(args, [f"env.kind={json.dumps(args.kind)}"] if args.kind else [])
    try:
        env = make_env(cfg.env)
    except ContractViolation as exc:
        print(f"env.kind = {cfg.env.kind!r}\nproblem: {exc}\nthe env breaks the contract; see docs/env_contract.md")
        return 1
    try:
        result = check_env(env, steps=args.steps)
        facts = declare(cfg, env).declared_env if result.ok else None  # refuses a setting the env does not use
    finally:
        env.close()
    print(f"env.kind = {cfg.env.kind!r} ({type(env.unwrapped).__name__})")
    print("\n".join(result.lines() + (facts_lines(facts) if facts else [])))
    return 0 if result.ok else 1


def cmd_expert(args: argparse.Namespace) -> int:
    """Run the scripted expert; print its success by region; save an image strip and a video."""
    from hilserl.diagnostics.showcase import run_expert_showcase
    from hilserl.envs.declared import declare

    cfg = declare(_config(args))  # the env's own rate, for the video
    summary = run_expert_showcase(cfg, episodes=args.episodes, out_dir=args.out, seed=args.seed)
    print(summary.table())
    for path in summary.files:
        print(f"wrote {path}")
    return 0


def cmd_pretrain_encoder(args: argparse.Namespace) -> int:
    """Pre-train the ResNet-10 backbone on rendered simulation frames and save it."""
    from hilserl.collect.pretrain_encoder import pretrain_backbone

    cfg = _config(args)
    report = pretrain_backbone(
        cfg.env,
        PretrainConfig(frames=args.frames, steps=args.steps, batch_size=args.batch_size, seed=args.seed),
        args.out,
    )
    print(json.dumps(report, indent=2))
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


def cmd_record_demos(args: argparse.Namespace) -> int:
    """Record demonstrations with the scripted expert into an episode dataset."""
    from hilserl.collect.demos import record_demos, record_teleop_demos

    cfg = _config(args)
    if args.teleop:
        from hilserl.envs.factory import make_env
        from hilserl.teleop.select import make_intervention

        env = make_env(cfg.env)
        try:
            always = (lambda: True) if args.teleop == "leader" else None  # the person drives every step
            device = make_intervention(args.teleop, env, cfg.env, takeover=always)
            kept = record_teleop_demos(cfg.env, args.episodes, args.out, device, env=env,
                                       view=_view(args, args.out, "demos"))
        finally:
            env.close()
        print(f"recorded {kept} successful demonstrations by {args.teleop} into {args.out}")
        return 0
    kept = record_demos(cfg.env, args.episodes, args.out, seed=cfg.seed, placement=cfg.train.demo_placement,
                        view=_view(args, args.out, "demos"), detours=cfg.train.demo_detours)
    print(f"recorded {kept} successful expert episodes into {args.out} (format: docs/data_format.md)")
    return 0


def cmd_import_lerobot(args: argparse.Namespace) -> int:
    """A LeRobotDataset (v3.0 or v2.1 folder) into hilserl's demo format."""
    from hilserl.data.lerobot_convert import Mapping, import_lerobot

    mapping = Mapping.from_json(args.mapping.read_text()) if args.mapping else None
    writable_folder(args.out, "the output folder")
    report = import_lerobot(args.source, args.out, mapping, fit=args.fit)
    print("\n".join(report.lines()))
    print(f"train from it: hilserl train --set train.demo_dir={json.dumps(str(args.out))}")
    return 0


def cmd_export_lerobot(args: argparse.Namespace) -> int:
    """hilserl's demos or classifier frames as a LeRobotDataset v3.0."""
    from hilserl.data.lerobot_convert import export_lerobot
    from hilserl.training.run_export import export_run

    source = Path(args.source)
    if args.transitions:
        info = export_run(source, args.out, task=args.task)
    else:
        if (source / "demos" / "meta.json").exists():  # a run folder: its demos
            source = source / "demos"
        info = export_lerobot(source, args.out, task=args.task)
    print(f"wrote a LeRobotDataset v3.0 to {args.out}: {info['total_episodes']} episodes, {info['total_frames']} "
          f"frames, features {', '.join(sorted(info['features']))}")
    return 0


def cmd_robot_check(args: argparse.Namespace) -> int:
    """Bring-up of the real arm: ports, motors, calibration, cameras, and on request a small move."""
    from hilserl.envs.so101.bringup import robot_check

    cfg = _config(args, ["env.kind=\"so101\""])
    if not cfg.env.robot.port:
        raise ValueError("robot check needs the arm's port: --set env.robot.port=/dev/ttyACM0")
    print("\n".join(robot_check(cfg.env, args.out, move=args.move)))
    return 0


def _enter_pressed(prompt: str):
    """A poll of "has the person pressed Enter?": the first call asks (in a thread, so the caller keeps
    reading the arm meanwhile), later calls say whether the answer came."""
    import threading

    done, asked = threading.Event(), threading.Event()

    def pressed() -> bool:
        if not asked.is_set():
            asked.set()
            threading.Thread(target=lambda: (input(prompt), done.set()), daemon=True).start()
        return done.is_set()
    return pressed


def cmd_robot_bounds(args: argparse.Namespace) -> int:
    """Record the end-effector bounds by moving the real arm by hand."""
    from hilserl.envs.so101.arm import ArmLimits, SO101Arm
    from hilserl.envs.so101.bounds import record_bounds
    from hilserl.envs.so101.bus import FeetechBus
    from hilserl.envs.so101.calibration import calibration_file, read_calibration

    robot = _config(args).env.robot
    if not robot.port:
        raise ValueError("robot bounds needs the arm's port: --set env.robot.port=/dev/ttyACM0")
    with FeetechBus(robot.port) as bus:
        arm = SO101Arm(bus, read_calibration(calibration_file(robot)), limits=ArmLimits.of(robot))
        with arm:
            arm.connect()
            low, high = record_bounds(arm, _enter_pressed("press Enter when done "))
    print(f"bounds: low {list(low)}, high {list(high)} (m, the arm's base frame)")
    print(f"use them: --set 'env.ee_bounds={{\"low\": {list(low)}, \"high\": {list(high)}}}' (and check that "
          "env.ee_base +- env.ee_reset_offset and env.cube_region lie inside)")
    return 0


def cmd_robot_table(args: argparse.Namespace) -> int:
    """Fit the front camera's view of the table with the arm as the measuring tool; the cube's colour."""
    from hilserl.envs.so101 import cameras as camera_sources
    from hilserl.envs.so101.arm import ArmLimits, SO101Arm
    from hilserl.envs.so101.bus import FeetechBus
    from hilserl.envs.so101.calibration import calibration_file, read_calibration
    from hilserl.envs.so101.table_camera import calibration_targets, cube_colour_file, table_file
    from hilserl.envs.so101.table_session import (
        PUT_CUBE,
        WindowClicker,
        calibrate_table,
        cube_colour,
        prompt_placed,
    )

    env = _config(args, ['env.kind="so101"']).env
    if not env.robot.port:
        raise ValueError("robot table needs the arm's port: --set env.robot.port=/dev/ttyACM0")
    cam = env.camera_with_source(args.camera)
    if cam is None:
        raise ValueError(f"no camera {args.camera!r} with a source in env.cameras: set env.cameras (docs/real_so101.md)")
    cal_path = calibration_file(env.robot)
    clicker = WindowClicker()
    camera = camera_sources.open_camera(cam)
    try:
        with FeetechBus(env.robot.port) as bus:
            arm = SO101Arm(bus, read_calibration(cal_path), limits=ArmLimits.of(env.robot))
            with arm:
                arm.connect()  # torque off: the person moves it
                targets = calibration_targets(env.cube_region.low[:2], env.cube_region.high[:2], env.ee_bounds.low[2])
                table = calibrate_table(arm, camera.frame, targets, prompt_placed, clicker)
        print(f"wrote {table.save(table_file(cal_path))}")
        colour, _ = cube_colour(camera.frame, table, clicker, env.cube_size, lambda: input(PUT_CUBE))
        print(f"wrote {colour.save(cube_colour_file(cal_path))}")
    finally:
        camera.close()
        clicker.close()
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Calibrate an SO-101 (follower or leader) and save LeRobot's calibration file."""
    from hilserl.envs.so101.bus import FeetechBus
    from hilserl.envs.so101.calibrate import calibrate
    from hilserl.envs.so101.calibration import calibration_root, write_calibration

    def centred() -> None:
        input("press Enter once every joint is in the middle of its travel ")

    swept = _enter_pressed("press Enter when every joint has been swept ")

    folder = ("teleoperators/so_leader" if args.leader else "robots/so_follower")
    path = (args.root or calibration_root()) / folder / f"{args.arm_id}.json"
    with FeetechBus(args.port) as bus:
        bus.check_models()
        cal = calibrate(bus, centred, swept)
    write_calibration(path, cal)
    for joint, c in cal.items():
        print(f"  {joint:<13} homing offset {c.homing_offset:+5d}, range {c.range_min}..{c.range_max}")
    print(f"wrote {path} (LeRobot's format: LeRobot reads it too)")
    return 0


def cmd_record_classifier_data(args: argparse.Namespace) -> int:
    """Record labelled frames (simulator truth) for the reward classifier, hard negatives included."""
    from hilserl.collect.classifier_data import record_classifier_data

    cfg = _config(args)
    policy = teleop = None
    if args.policy:
        from hilserl.training.trained_agent import load_agent

        trained, agent = load_agent(args.policy)
        stream = agent.evaluation_stream(trained.seed)
        policy = lambda obs: agent.act_trained(obs, stream)[0]  # noqa: E731
    if args.teleop:
        from hilserl.collect.classifier_data import SUCCESS_KEY, KeyLabels
        from hilserl.teleop.devices import KeyboardTeleop, PynputKeys

        keys = KeyLabels(PynputKeys())
        teleop = (KeyboardTeleop(keys), keys)
        print(f"drive with the keyboard (space takes over); hold '{SUCCESS_KEY}' while the cube is held and lifted")
    counts = record_classifier_data(cfg.env, cfg.classifier, args.out, seed=cfg.seed, policy=policy, teleop=teleop)
    print(f"recorded {counts['positives']} positive and {counts['negatives']} negative frames "
          f"({counts['hard_negatives']} hard negatives) from {counts['episodes']} episodes into {args.out}")
    for kind, n in counts["by_kind"].items():
        print(f"  {kind:<18} {n}")
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    """Train the reward classifier's head on frozen features; report and save it."""
    from hilserl.reward.train_classifier import plot_pr_curve, train_classifier

    cfg = _config(args)
    clf, report = train_classifier(cfg, args.data)
    print("\n".join(report.lines()))
    path = clf.save(args.out)
    curve = plot_pr_curve(report, path.with_name(path.stem + "_pr_curve.png"))
    print(f"wrote {path}, {path.with_suffix('.json')} and {curve}")
    print(f"use it: hilserl train --reward classifier --classifier {path}")
    return 0


def _reward_overrides(args: argparse.Namespace) -> list[str]:
    if getattr(args, "reward", None) == "classifier" or getattr(args, "classifier", None):
        if not args.classifier:
            raise ValueError("--reward classifier needs --classifier PATH (a file of `hilserl train-classifier`)")
        return ["env.reward.source=classifier", f"env.reward.classifier={json.dumps(str(args.classifier))}"]
    return []


def cmd_train(args: argparse.Namespace) -> int:
    """Train on the simulation with the simulated human and demonstrations: a learner process and an
    actor (or one process), then the closing report."""
    from hilserl.diagnostics.grading import closing_report
    from hilserl.distributed.launch import train_two_processes
    from hilserl.envs.declared import declare
    from hilserl.training.run import TrainingDiverged
    from hilserl.training.run_log import read_jsonl
    from hilserl.training.train import train

    cfg = declare(pin_threads(_config(args, _reward_overrides(args))))  # refuses settings its env does not use
    run_dir = args.run_dir or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    print(f"run folder: {run_dir} (config.json, episodes.jsonl, metrics.jsonl, tensorboard/, checkpoints/)")
    started = time.time()
    extra: dict = {}
    if args.single_process and args.teleop:
        raise ValueError("--teleop needs the actor of the two-process train (a person acts at the control rate); "
                         "drop --single-process")
    if args.single_process:
        try:
            result = train(cfg, run_dir, progress=True, resume=args.resume, view=_view(args, run_dir, "train"))
        except TrainingDiverged as exc:
            print(f"hilserl: training stopped: {exc}", file=sys.stderr)
            return 3
        counts = (result.episodes, result.env_steps, result.updates, result.success_rate_last_20)
    else:
        launched = train_two_processes(cfg, run_dir, resume=args.resume, teleop=args.teleop,
                                       view=_view(args, run_dir, "train"))
        if launched.code != 0:
            return launched.code
        learner = json.loads((run_dir / "learner_summary.json").read_text())
        successes = [e["success"] for e in read_jsonl(run_dir / "episodes.jsonl")][-20:]
        counts = (learner["episodes"], learner["env_steps"], learner["updates"],
                  sum(successes) / max(1, len(successes)))
        extra = {**learner, "actor": asdict(launched.report) if launched.report else None}
    episodes, env_steps, updates, success20 = counts
    print(_counts_line(run_dir, args.resume, episodes, env_steps, updates, time.time() - started))
    print(f"success over the last 20 training episodes: {success20:.0%}")
    final, lines = closing_report(run_dir, args.eval_seeds)
    print("\n".join(lines))
    summary_file = run_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if args.single_process else \
        {**extra, "seconds": round(time.time() - started, 1)}
    summary_file.write_text(json.dumps({**summary, "final_eval": final}, indent=2) + "\n")
    return 0


def _counts_line(run_dir: Path, resumed: bool, episodes: int, env_steps: int, updates: int, seconds: float) -> str:
    """The run's totals, and for a resumed run what this stretch added, in the time it took (the time
    is this stretch's only: a run's earlier stretches are not timed here)."""
    from hilserl.distributed.launch import duration
    from hilserl.training.run_log import read_jsonl

    whole = f"{episodes} episodes, {env_steps:,} env steps, {updates:,} learner updates"
    if not resumed:
        return f"{whole} in {duration(seconds)}"
    start = read_jsonl(run_dir / "resumes.jsonl")[-1]
    return (f"the whole run: {whole}; this stretch, resumed at env step {start['env_steps']:,}: "
            f"{episodes - start['episodes']} episodes, {env_steps - start['env_steps']:,} env steps, "
            f"{updates - start['updates']:,} updates in {duration(seconds)}")


def _token(args: argparse.Namespace) -> str | None:
    from hilserl.distributed.service import read_token

    return read_token(args.token_file)


def _file_with_descriptor(*files):
    """The first of `files` backed by an OS file descriptor: faulthandler writes from C, so a stream
    that only lives in Python (a captured or replaced sys.stderr) cannot take its dump."""
    for file in files:
        try:
            file.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
            continue
        return file
    return None


def cmd_learner(args: argparse.Namespace) -> int:
    """Serve the learner: actors send transitions, get parameters; checkpoints; resume."""
    import faulthandler
    import signal

    from hilserl.distributed.launch import die_with_parent
    from hilserl.distributed.learner_process import run_learner
    from hilserl.distributed.orphan_output import keep_output, redirect_if_orphaned

    run_dir = args.run_dir or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    stacks = _file_with_descriptor(sys.stderr, sys.__stderr__)
    if args.die_with_parent:
        die_with_parent(args.die_with_parent)
        log = keep_output(run_dir)  # its parent reads its output: once that parent is gone, the run folder does
        stacks = open(log, "a")  # noqa: SIM115 (for as long as the process lives)
    if stacks is not None:  # kill -USR1 PID: every thread's stack, from C, so even a stuck main thread shows where
        faulthandler.register(signal.SIGUSR1, file=stacks, all_threads=True)
    cfg = _config(args)
    try:
        result = run_learner(cfg, run_dir, host=args.host, port=args.port, token=_token(args), resume=args.resume,
                             port_file=args.port_file, progress=not args.quiet, tls=_server_tls(args),
                             insecure=args.insecure)
    finally:
        if args.die_with_parent:  # nothing is left to save: a learner tied to a parent never outlives its exit
            redirect_if_orphaned(run_dir)
            faulthandler.dump_traceback_later(EXIT_WATCHDOG_S, exit=True)
    print(f"learner: {result.env_steps} env steps received, {result.updates} updates, {result.episodes} episodes; "
          f"dropped by actors' queues: {result.dropped_by_actors or 0}")
    return 0


def _server_tls(args: argparse.Namespace):
    from hilserl.distributed.tls import ServerTLS

    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    if args.tls_client_ca and not args.tls_cert:
        raise ValueError("--tls-client-ca needs TLS: give --tls-cert and --tls-key too")
    return ServerTLS(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None


def _client_tls(args: argparse.Namespace):
    from hilserl.distributed.tls import ClientTLS

    if args.tls_ca is None:
        if args.tls_client_cert or args.tls_client_key:
            raise ValueError("a robot certificate needs --tls-ca too (the CA that signed the learner's certificate)")
        return None
    return ClientTLS(args.tls_ca, args.tls_client_cert, args.tls_client_key)


def cmd_fleet(args: argparse.Namespace) -> int:
    """Make a CA, the learner's certificate and one per robot."""
    from hilserl.distributed.certs import make_fleet

    written = make_fleet(args.out, args.learner_host, args.robot, args.days)
    for path in written:
        print(f"wrote {path}")
    robots = " ".join(f"robot-{r}" for r in args.robot) or "(no robot certificates: --robot NAME)"
    print(f"\nlearner:  hilserl learner --host 0.0.0.0 --tls-cert {args.out}/learner.pem --tls-key {args.out}/learner.key"
          f" --tls-client-ca {args.out}/ca.pem\n"
          f"robot:    hilserl actor --learner {args.learner_host[0]}:50051 --tls-ca {args.out}/ca.pem "
          f"--tls-client-cert {args.out}/robot-NAME.pem --tls-client-key {args.out}/robot-NAME.key\n"
          f"copy to each robot: ca.pem and its own robot-NAME.pem and .key ({robots}); keep ca.key on this computer")
    return 0


def cmd_actor(args: argparse.Namespace) -> int:
    """Run the env loop with the learner's policy; send it transitions."""
    from dataclasses import asdict

    from hilserl.distributed.actor_process import run_actor
    from hilserl.training.run import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():  # a service manager's stop, as Ctrl-C: what is queued is delivered first
            report = run_actor(args.learner, token=_token(args), actor_index=args.index, env_steps=args.env_steps,
                               realtime=args.realtime, patience_s=args.patience, progress=not args.quiet,
                               threads=args.threads, teleop=args.teleop,
                               changes=_changes(args), tls=_client_tls(args), insecure=args.insecure,
                               view=_view(args, Path("."), f"actor-{args.index}"))
    except (ConnectionError, PermissionError) as exc:
        print(f"hilserl actor: {exc}", file=sys.stderr)
        return 4
    print("actor report: " + json.dumps(asdict(report)))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Run a trained policy without interventions over a fixed grid of cube positions and rotations."""
    from hilserl.diagnostics.grading import grid_report
    from hilserl.training.checkpoint import run_folder_of
    from hilserl.training.trained_agent import ConfigChanges

    changes = _changes(args)
    if args.guided:  # the real arm's guided placement puts each cube: the grid works there too
        changes = ConfigChanges(args.config, [*changes.overrides, "env.robot.guided_placement=true"])
    ckpt = Path(args.checkpoint)
    run_dir = run_folder_of(ckpt)
    view = _view(args, run_dir, "eval")
    if args.hardest and not args.episodes:
        raise ValueError("--hardest draws the resets of --episodes N: give both (e.g. --episodes 100 --hardest)")
    if ckpt.exists() and args.episodes:  # seeded resets instead of the grid (any env; on the arm a person labels)
        return _eval_resets(ckpt, args.episodes, changes, view, args.hardest)
    if ckpt.exists():  # (a missing one is reported by the evaluation's loading)
        writable_folder(args.out.parent if args.out else run_dir, "the output folder")  # before, not after it
    _, lines = grid_report(ckpt, (args.nx, args.ny, args.nyaw), args.seeds, args.out, changes=changes, view=view,
                           prepare=_label_keys)
    print("\n".join(lines))
    return 0


def _label_keys(env, cfg) -> None:
    """On the real arm, the person labels each episode with the keyboard (l success, f failure, escape
    stops)."""
    from hilserl.envs.factory import SO101

    if cfg.env.kind == SO101:
        from hilserl.teleop.devices import PynputKeys
        from hilserl.teleop.robot_keys import KeyLabels

        env.unwrapped.labels = KeyLabels(PynputKeys())


def _eval_resets(checkpoint: Path, episodes: int, changes: ConfigChanges, view, hardest: bool) -> int:
    """The policy, without interventions, over seeded resets of its run's env (``hardest``: at the edge
    of the simulated grasp's reset range)."""
    from hilserl.diagnostics.grading import evaluate_resets, resets_line

    result, videos = evaluate_resets(checkpoint, episodes, _label_keys, changes=changes, view=view, hardest=hardest)
    print("\n".join([("hardest resets: " if hardest else "") + resets_line(result), *videos]))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Plots and a text summary of a run from its logs."""
    from hilserl.diagnostics.report import RunReport

    report = RunReport.load(args.run_dir, window=args.window)
    writable_folder(args.out or Path(args.run_dir) / "report", "the report folder")  # before the plots
    written = report.write(args.out)
    print("\n".join(report.summary_lines()))
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_diagnose_config(args: argparse.Namespace) -> int:
    """Compare a config file (or a run folder's config.json) with the HIL-SERL reference values."""
    from hilserl.diagnostics.config_audit import audit, format_table, load_raw
    from hilserl.diagnostics.lerobot_config import audit_lerobot, audit_lines, is_lerobot_config

    raw = load_raw(args.target)
    if is_lerobot_config(raw):
        result = audit_lerobot(raw)
        print("\n".join(audit_lines(result)) + "\n")
        rows = result.rows
    else:
        rows = audit(raw)
    print(format_table(rows))
    return 1 if args.strict and any(r.status == "different" for r in rows) else 0


def cmd_diagnose_reward(args: argparse.Namespace) -> int:
    """The classifier's reward against the simulator's truth, on expert or random episodes."""
    from hilserl.diagnostics.reward_audit import audit_lines, audit_reward

    cfg = _config(args, _reward_overrides(args))
    for policy in args.policy:
        summary = audit_reward(cfg.env, policy, args.episodes, seed=cfg.seed, out_dir=args.out / policy)
        print("\n".join(audit_lines(summary)))
        print(f"wrote {args.out / policy} (reward_audit.json, worst frames)")
    return 0


def cmd_diagnose_encoder(args: argparse.Namespace) -> int:
    """The encoder sensitivity test: a pair of cube positions or images, and a linear probe."""
    from hilserl.agent.backbone import load_backbone
    from hilserl.diagnostics.encoder_probe import diagnose_encoder

    cfg = _config(args)
    pair = tuple(_xy(v) for v in args.pair)
    out = args.out
    result = diagnose_encoder(cfg.env, load_backbone(cfg.agent.encoder), count=args.positions, seed=cfg.seed,
                              pair=pair, images=tuple(args.images) if args.images else None,
                              plot=out / "encoder_probe.png")
    print(f"encoder weights: {cfg.agent.encoder.weights}")
    print("\n".join(result.lines()))
    (out / "encoder_probe.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    print(f"wrote {out / 'encoder_probe.png'} and {out / 'encoder_probe.json'}")
    return 0


def _xy(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y in metres (e.g. 0.18,-0.03), got {text!r}") from None
    return x, y


def _env_commands(sub: argparse._SubParsersAction) -> None:
    """The env and data commands: the scripted expert, the contract checker, encoder pre-training, demos."""
    p = sub.add_parser(
        "expert", help="run the scripted expert: success by region, image strip and video of what the cameras see"
    )
    _add_config_args(p)
    p.add_argument("--episodes", type=_int_in(1, 1000000), default=20, help="episodes to run (default 20)")
    p.add_argument("--seed", type=_int_in(0, 2147483647), default=0,
                   help="seed of the first episode (default 0)")
    p.add_argument("--out", type=Path, default=Path("outputs/expert"), help="folder for the strip and video")
    p.set_defaults(func=cmd_expert)

    p = sub.add_parser(
        "check-env", help="run an env through the env contract (docs/env_contract.md): what it keeps and offers",
        description="Makes the env of env.kind (or KIND), resets it, runs random actions through it and checks "
                    "each observation, reward, flag and info against the env contract; lists the optional "
                    "diagnostic keys and hooks it offers and what each enables. Exit status 1 if it breaks the "
                    "contract.",
    )
    p.add_argument("kind", nargs="?", help="'sim' or a gymnasium env id (default: env.kind of the config)")
    _add_config_args(p)
    p.add_argument("--steps", type=_int_in(1, 1000000), default=200, help="random steps to run (default 200)")
    p.set_defaults(func=cmd_check_env)

    p = sub.add_parser(
        "pretrain-encoder",
        help="pre-train the ResNet-10 backbone on rendered simulation frames (the offline default weights)",
    )
    _add_config_args(p)
    pretrain = PretrainConfig()
    p.add_argument("--frames", type=_int_in(1, 10000000), default=pretrain.frames,
                   help=f"rendered frames per camera (default {pretrain.frames})")
    p.add_argument("--steps", type=_int_in(1, 10000000), default=pretrain.steps,
                   help=f"training steps (default {pretrain.steps})")
    p.add_argument("--batch-size", type=_int_in(1, 65536), default=pretrain.batch_size,
                   help=f"frames per step (default {pretrain.batch_size})")
    p.add_argument("--seed", type=_int_in(0, 2147483647), default=pretrain.seed)
    p.add_argument("--out", type=Path, default=Path("outputs/resnet10_sim.safetensors"), help="weights file")
    _add_threads_arg(p)
    p.set_defaults(func=cmd_pretrain_encoder)

    p = sub.add_parser(
        "record-demos", help="record demonstrations with the scripted expert, or a person (--teleop)",
        description="Records successful scripted-expert episodes. The cubes are placed on a grid over the "
                    "reset range, corners included, so that every part of the range has an example "
                    "(--set train.demo_placement=random: random resets instead).")
    _add_config_args(p)
    p.add_argument("--episodes", type=_int_in(1, 1000000), default=20,
                   help="successful episodes to record (default 20)")
    p.add_argument("--out", type=Path, default=Path("outputs/demos"), help="dataset folder")
    p.add_argument("--teleop", choices=TELEOP_KINDS,
                   help="a person drives instead of the scripted expert (the real arm: hold l on success, f to "
                   "drop the episode)")
    _add_view_args(p, "OUT/recordings/demos-TIME.rrd")
    p.set_defaults(func=cmd_record_demos)

    p = sub.add_parser(
        "import-lerobot", help="bring a LeRobotDataset (v3.0 or v2.1) over as hilserl demos",
        description="Reads a LeRobotDataset folder (parquet tables, mp4 videos; a Hub dataset downloaded with "
                    "`huggingface-cli download --repo-type dataset REPO --local-dir DIR`) and writes hilserl's demo "
                    "format. What maps onto what (cameras and their crop and size, state columns, action scale, "
                    "the gripper's classes, reward, done and intervention columns) is written to "
                    "OUT/lerobot_mapping.json: check it, edit it and pass it with --mapping to import again.")
    p.add_argument("source", type=Path, help="the LeRobot dataset's folder (with meta/info.json)")
    p.add_argument("--out", type=Path, required=True, help="the hilserl dataset folder to write")
    p.add_argument("--mapping", type=Path, help="a mapping file (default: inferred from the dataset's features)")
    p.add_argument("--fit", choices=("crop", "squash"),
                   help="how a camera whose frames are not square becomes the agent's square image: crop keeps "
                   "the centre square, squash resizes the whole frame. Without it (or --mapping) an import that "
                   "would drop more than 5%% of a frame stops and says how much, with a preview per camera")
    p.set_defaults(func=cmd_import_lerobot)

    p = sub.add_parser(
        "export-lerobot", help="write demos, classifier frames or a run's transitions as a LeRobotDataset v3.0",
        description="Writes a LeRobotDataset v3.0 folder that LeRobot's loader, its visualiser and the Hub read: "
                    "parquet tables with HIL-SERL's columns (observation.state, action with the gripper as 0/1/2, "
                    "next.reward, next.done, complementary_info.discrete_penalty), H.264 videos, stats.")
    p.add_argument("source", type=Path, help="a hilserl demos folder (record-demos), classifier frames "
                   "(record-classifier-data), or a run folder (its demos)")
    p.add_argument("--out", type=Path, required=True, help="an empty folder for the LeRobot dataset")
    p.add_argument("--task", default="grasp the cube", help="the task's description stored with every episode")
    p.add_argument("--transitions", action="store_true",
                   help="a run folder's transitions (its newest checkpoint's online buffer: policy and intervention "
                   "steps) instead of its demos; needs a run that kept images (agent.feature_cache=false) or has no "
                   "cameras")
    p.set_defaults(func=cmd_export_lerobot)


def _robot_commands(sub: argparse._SubParsersAction) -> None:
    """The real SO-101: calibration and bring-up (docs/real_so101.md)."""
    p = sub.add_parser(
        "calibrate", help="calibrate an SO-101 arm (LeRobot's procedure and file format)",
        description="Torque off; you centre every joint, then sweep each through its travel (the wrist roll turns "
                    "fully and is not swept). Writes the homing offsets and limits to the motors and the file to "
                    "$HF_LEROBOT_CALIBRATION/robots/so_follower/<arm-id>.json (teleoperators/so_leader with "
                    "--leader), where LeRobot finds it too.")
    p.add_argument("--port", required=True, help="the arm's servo bus, e.g. /dev/ttyACM0")
    p.add_argument("--arm-id", required=True, help="a name for this arm (the calibration file's name)")
    p.add_argument("--leader", action="store_true", help="a leader arm (teleoperator), not a follower")
    p.add_argument("--root", type=Path, help="the calibration root (default: HF_LEROBOT_CALIBRATION or LeRobot's)")
    p.set_defaults(func=cmd_calibrate)

    robot = sub.add_parser("robot", help="the real SO-101 arm: bring-up checks (see subcommands)")
    rsub = robot.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = rsub.add_parser(
        "check", help="ports, motors, calibration, camera frames and (--move) a small move of each joint",
        description="Lists the serial ports, pings the six motors, reads the calibration and where each joint is, "
                    "saves each camera's cropped frame as a PNG, and with --move moves each joint a little and back. "
                    "The arm's settings come from --set env.robot.* and env.cameras (docs/real_so101.md).",
        epilog=COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_config_args(p)
    p.add_argument("--move", action="store_true", help="move each joint by 0.1 rad and back (torque on meanwhile)")
    p.add_argument("--out", type=Path, default=Path("outputs/robot_check"), help="folder for the camera PNGs")
    p.set_defaults(func=cmd_robot_check)

    p = rsub.add_parser(
        "bounds", help="record the end-effector bounds by moving the arm by hand (torque off)",
        description="Torque off; you move the fingertip through the space the task needs and press Enter. Prints "
                    "the box around every position reached, for env.ee_bounds; refuses a box narrower than 2 cm "
                    "on an axis.", epilog=COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_config_args(p)
    p.set_defaults(func=cmd_robot_bounds)

    p = rsub.add_parser(
        "table", help="map the front camera's image to the table with the arm as the measuring tool; the cube's colour",
        description="Torque off; you put the fingertip on 14 suggested points (on the table and raised above it) "
                    "and click it in the front camera's frame each time. A camera model is fitted to the points the "
                    "kinematics measure, its error printed in mm, and saved beside the arm's calibration "
                    "(ARM_ID.table.json); then you click the cube, whose colour is saved (ARM_ID.cube.json) and its "
                    "detected pose shown. Needs a display.", epilog=COMMON_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_config_args(p)
    p.add_argument("--camera", default="front", help="the env.cameras entry that sees the table (default front)")
    p.set_defaults(func=cmd_robot_table)


def _reward_commands(sub: argparse._SubParsersAction) -> None:
    """The reward classifier's data and training."""
    p = sub.add_parser(
        "record-classifier-data",
        help="record labelled frames for the reward classifier (simulator truth, hard negatives included)",
        description="Runs episodes of the scripted expert, of hard-negative behaviours (cube lifted then "
        "dropped, touched but not held, jaws closed beside it) and of random actions, and keeps frames "
        "labelled by the simulator's truth (held and lifted) until classifier.positives and "
        "classifier.negatives are reached (defaults 200 and 1000, as the paper).",
        epilog=COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_args(p)
    p.add_argument("--out", type=Path, default=Path("outputs/classifier_data"), help="dataset folder")
    p.add_argument("--policy", type=Path, help="also record a trained policy's episodes (a run folder or checkpoint)")
    p.add_argument("--teleop", choices=["keyboard"],
                   help="a person drives and labels: hold the success key while the frame is a success")
    _add_threads_arg(p, "this process (--policy acts with torch)")
    p.set_defaults(func=cmd_record_classifier_data)

    p = sub.add_parser(
        "train-classifier",
        help="train the reward classifier on labelled frames: accuracy, precision, recall, PR curve",
        description="Frozen backbone (agent.encoder.weights), a small head per camera, random-crop "
        "augmentation, classes balanced, validation on held-out episodes. Warns when validation "
        "accuracy is under classifier.accuracy_goal (95%).",
        epilog=COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_args(p)
    p.add_argument("--data", type=Path, default=Path("outputs/classifier_data"), help="labelled frames folder")
    p.add_argument("--out", type=Path, default=Path("outputs/classifier/classifier.safetensors"),
                   help="classifier file (a .json beside it holds its settings and report)")
    _add_threads_arg(p)
    p.set_defaults(func=cmd_train_classifier)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Train configs x seeds as independent runs (Ray tasks or local processes), resumable."""
    import os

    from hilserl.sweep.executors import BackendUnavailable, make_executor
    from hilserl.sweep.plan import plan_sweep
    from hilserl.sweep.sweep import run_sweep

    threads = args.threads or 1
    runs = plan_sweep(args.out, args.seeds, args.vary, args.overrides, args.config, args.eval_episodes, threads)
    for overrides in dict.fromkeys(run.overrides for run in runs):  # each variant's config, once
        load_config(args.config, list(overrides))  # a bad value refused here, not once per run in the workers
    jobs = args.jobs or max(1, (os.cpu_count() or 1) // threads)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        executor = make_executor(args.backend, jobs, threads, args.address)
    except BackendUnavailable as exc:
        print(f"hilserl sweep: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = run_sweep(runs, executor, args.out, progress=not args.quiet)
    finally:
        executor.close()
    return 1 if outcome.failed else 0


def _training_commands(sub: argparse._SubParsersAction) -> None:
    """The training: in one command, or as the learner and actor processes."""
    p = sub.add_parser(
        "train",
        help="train a policy with HIL-SERL on the env of env.kind (default: the simulated grasp and human)",
        description="Starts a learner process and an actor on this machine (as `hilserl learner` and "
        "`hilserl actor --realtime`, over loopback gRPC), or one process with --single-process. "
        "Records demos with the scripted expert if none exist, then trains SAC with 50/50 online/demo "
        "batches while the simulated human intervenes (human.strategy). Writes JSON lines and "
        "TensorBoard logs and checkpoints, shows each phase with the time left, and ends with the final "
        "policy on the evaluation grid. Ctrl-C (or SIGTERM) stops it cleanly at any point and prints the "
        "command that resumes it.",
    )
    _add_config_args(p)
    p.add_argument("--run-dir", type=Path, help="output folder (default runs/<date-time>)")
    p.add_argument("--eval-seeds", type=_int_in(0, 100), default=2, metavar="N",
                   help="the closing evaluation: the final policy over the grid of hilserl eval (27 cube "
                   "positions and rotations), N episodes per cell (default 2; 0 skips it)")
    p.add_argument("--reward", choices=["sim", "classifier"], default=None,
                   help="who says success: the simulator (default) or a learned classifier")
    p.add_argument("--classifier", type=Path, help="classifier file for --reward classifier")
    p.add_argument("--single-process", action="store_true",
                   help="actor and learner in one process, stepping in turn (no gRPC, no real-time pacing: "
                   "the fastest way to train on the simulation, and what the tests and benchmarks use)")
    p.add_argument("--resume", action="store_true",
                   help="continue --run-dir from its latest checkpoint (buffers, optimisers, counters; logs "
                   "append) with the run's own config, env included: --config and --set change only what they "
                   "name (the differences are listed); another env or network shape is refused before "
                   "anything is written")
    _add_threads_arg(p, "the learner and of the actor, each")
    p.add_argument("--teleop", choices=TELEOP_KINDS,
                   help="a person intervenes with this device instead of the simulated human (the leader arm: "
                   "env.robot.leader_*; docs/real_so101.md)")
    _add_view_args(p, "RUN/recordings/train-TIME.rrd")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "learner",
        help="serve the learner over gRPC (the training computer): buffers, updates, parameters, checkpoints",
        description="Actors connect with `hilserl actor --learner HOST:PORT`. Listens on loopback unless "
        "--host says otherwise; any other address needs TLS (--tls-cert, --tls-key; hilserl fleet certs makes "
        "them) or an explicit --insecure, and a shared token (HILSERL_TOKEN or --token-file) that every actor "
        "presents, unless robot certificates are required (--tls-client-ca). Checkpoints every train.checkpoint_every updates and on Ctrl-C or "
        "SIGTERM; --resume continues the run folder's latest checkpoint. A learner that seems stuck: `kill -USR1 PID` "
        "prints every thread's stack (to RUN_DIR/learner_output.log for the learner `hilserl train` starts).",
        epilog=COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_args(p)
    p.add_argument("--run-dir", type=Path, help="output folder (default runs/<date-time>)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=_int_in(0, 65535), default=50051,
                   help="port (default 50051; 0 picks a free one)")
    p.add_argument("--port-file", type=Path, help="write the port listened on to this file")
    p.add_argument("--token-file", type=Path, help="file holding the shared token (else HILSERL_TOKEN)")
    p.add_argument("--tls-cert", type=Path, help="the learner's certificate (PEM): serve over TLS")
    p.add_argument("--tls-key", type=Path, help="the learner's private key (PEM)")
    p.add_argument("--tls-client-ca", type=Path,
                   help="require every actor to present a certificate signed by this CA (mutual TLS)")
    p.add_argument("--insecure", action="store_true",
                   help="listen beyond loopback without TLS: the token, parameters and camera frames in clear")
    p.add_argument("--resume", action="store_true", help="continue --run-dir from its latest checkpoint")
    _add_threads_arg(p, "the learner")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--die-with-parent", type=_int_in(1, 2**31), metavar="PID",
                   help="stop (with a checkpoint) when process PID ends: how `hilserl train` ties its learner to itself")
    p.set_defaults(func=cmd_learner)

    p = sub.add_parser(
        "actor",
        help="run the env loop (the robot computer) with the learner's policy, sending it transitions",
        description="Gets the config and the policy from the learner, then acts without ever waiting on "
        "it: transitions queue (train.actor_queue, oldest dropped and counted when full) while the learner "
        "is away, and the actor reconnects with back-off. --config and --set change the learner's config "
        "for this actor only (its robot's port and cameras, say).",
        epilog=COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_args(p)
    p.add_argument("--learner", required=True, metavar="HOST:PORT", help="the learner's address")
    p.add_argument("--token-file", type=Path, help="file holding the shared token (else HILSERL_TOKEN)")
    p.add_argument("--tls-ca", type=Path, help="connect over TLS, trusting the learner's certificate by this CA (PEM)")
    p.add_argument("--tls-client-cert", type=Path, help="this robot's certificate, for a learner that requires one")
    p.add_argument("--tls-client-key", type=Path, help="this robot's private key")
    p.add_argument("--insecure", action="store_true",
                   help="connect to a learner beyond loopback without TLS (everything in clear)")
    p.add_argument("--index", type=_int_in(0, 10000), default=0,
                   help="this actor's index when several feed one learner")
    p.add_argument("--env-steps", type=_int_in(1, 1000000000),
                   help="steps to run (default: the learner's train.env_steps)")
    p.add_argument("--realtime", action="store_true", help="hold the control rate (env.control_hz), as on a robot")
    p.add_argument("--patience", type=_positive_seconds, default=60.0, help="seconds to wait for the learner at start")
    _add_threads_arg(p, "the actor")
    p.add_argument("--quiet", action="store_true", help="no per-episode lines")
    p.add_argument("--teleop", choices=TELEOP_KINDS,
                   help="a person intervenes with this device instead of the simulated human (the leader arm: "
                   "env.robot.leader_*; docs/real_so101.md)")
    _add_view_args(p, "recordings/actor-INDEX-TIME.rrd here")
    p.set_defaults(func=cmd_actor)


def _analysis_commands(sub: argparse._SubParsersAction) -> None:
    """The evaluation, reports and diagnostics."""
    p = sub.add_parser("eval", help="evaluate a checkpoint over a fixed grid of cube poses (or --episodes "
                       "seeded resets of any env): table and heatmap",
                       description="The run's own config, changed by --config and --set where they name a field "
                       "(--set seed=1 moves the evaluation's episode seeds off those of the run's closing "
                       "evaluation; another env or network shape is refused).",
                       epilog=COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_config_args(p)
    p.add_argument("--checkpoint", type=Path, required=True, help="a run folder (its latest checkpoint), a checkpoints/ckpt_<update> folder or an exported checkpoints/policy.safetensors")
    p.add_argument("--nx", type=_int_in(1, 100), default=3, help="cube x positions (default 3)")
    p.add_argument("--ny", type=_int_in(1, 100), default=3, help="cube y positions (default 3)")
    p.add_argument("--nyaw", type=_int_in(1, 100), default=3, help="cube rotations (default 3)")
    p.add_argument("--seeds", type=_int_in(1, 1000), default=2,
                   help="repeats per cell, with other EE offsets (default 2)")
    p.add_argument("--out", type=Path, help="heatmap PNG (default <run>/success_map.png, success_map_sampled.png with "
                   "agent.eval_actions=sample); a video of each failed episode and a contact sheet go to failures/ "
                   "beside it")
    p.add_argument("--episodes", type=_int_in(1, 100000),
                   help="seeded resets instead of the grid: any env, the real arm included (a person labels "
                   "each episode there: l success, f failure)")
    p.add_argument("--hardest", action="store_true",
                   help="with --episodes, on the simulated grasp: resets at the edge of the range, where a policy "
                   "fails first (the cube on its region's border, the gripper's start at a corner of its offset box)")
    p.add_argument("--guided", action="store_true",
                   help="on the real arm: before each episode the cube's place (the grid's cell, or with --episodes "
                   "one drawn over env.cube_region) is shown on the front camera's image and the episode starts "
                   "once the cube is there; the grid's success map then comes from the arm (hilserl robot table "
                   "first; env.robot.guided_placement)")
    _add_threads_arg(p)
    _add_view_args(p, "RUN/recordings/eval-TIME.rrd")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "report",
        help="plots and a summary of a run: success, interventions, losses, value overestimation, buffers",
        description="Reads RUN_DIR/episodes.jsonl and metrics.jsonl and writes RUN_DIR/report/: success and "
        "return as running averages, the share of intervention steps with a trend line (warns when it is "
        "not falling), losses and alpha, Q(start) against the discounted return obtained (warns on "
        "overestimation), the buffers' composition, overview.png with all of them, and summary.txt.",
    )
    p.add_argument("run_dir", type=Path, help="a run folder of `hilserl train`")
    p.add_argument("--window", type=_int_in(1, 1000000), default=20,
                   help="episodes per running average (default 20, as the paper)")
    p.add_argument("--out", type=Path, help="output folder (default RUN_DIR/report)")
    p.set_defaults(func=cmd_report)

    diagnose = sub.add_parser("diagnose", help="diagnostics of a config or a run (see subcommands)")
    dsub = diagnose.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = dsub.add_parser(
        "config",
        help="compare a config with the HIL-SERL reference values, parameter by parameter",
        description="Marks each parameter equal, different or missing (not set in the file) against "
        "HIL-SERL's reference values, with one line on why each difference matters. Also reads LeRobot's SAC "
        "training config (its field names mapped onto hilserl's: hilserl/diagnostics/lerobot_config.py).",
    )
    p.add_argument("target", type=Path, help="a config JSON file (hilserl's or LeRobot's SAC train config), or a run "
                   "folder with config.json")
    p.add_argument("--strict", action="store_true", help="exit 1 when any parameter differs")
    p.set_defaults(func=cmd_diagnose_config)

    p = dsub.add_parser(
        "encoder",
        help="can the frozen encoder see where the cube is? pair similarity and a linear probe (R², cm)",
        description="Renders the cube at many positions of its reset range (the arm still), embeds the "
        "frames with the frozen backbone (agent.encoder.weights), and fits a linear probe from the "
        "embeddings to the cube's position: R² and error in cm on held-out frames, for the spatial map "
        "and for its pooled average. Also compares two cube positions (--pair) or two image files "
        "(--images) by cosine similarity and L2 distance.",
        epilog=COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_args(p)
    p.add_argument("--positions", type=_int_in(10, 100000), default=300,
                   help="rendered cube positions for the probe (default 300)")
    p.add_argument("--pair", nargs=2, default=["0.18,-0.03", "0.24,0.03"], metavar="X,Y",
                   help="two cube positions in metres to compare (default 0.18,-0.03 0.24,0.03)")
    p.add_argument("--images", nargs=2, type=Path, metavar="PNG", help="also compare two image files")
    p.add_argument("--out", type=Path, default=Path("outputs/encoder"), help="folder for the plot and JSON")
    _add_threads_arg(p)
    p.set_defaults(func=cmd_diagnose_encoder)

    p = dsub.add_parser(
        "reward",
        help="audit a classifier's reward against the simulator's truth on expert and random episodes",
        description="Runs episodes with the classifier giving the reward (its threshold, consecutive "
        "frames and minimum steps from env.reward) and counts false-positive episodes (success declared "
        "while the cube is not held and lifted) and missed successes; saves the worst frames.",
        epilog=COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_args(p)
    p.add_argument("--classifier", type=Path, required=True, help="a file of `hilserl train-classifier`")
    p.add_argument("--policy", nargs="+", choices=["expert", "random"], default=["expert", "random"])
    p.add_argument("--episodes", type=_int_in(1, 1000000), default=100,
                   help="episodes per policy (default 100)")
    p.add_argument("--out", type=Path, default=Path("outputs/reward_audit"), help="folder for the audit")
    _add_threads_arg(p)
    p.set_defaults(func=cmd_diagnose_reward)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hilserl",
        description="Human-in-the-loop RL (HIL-SERL) for robot manipulation: the simulated SO-101 grasp by default, "
                    "any env of the env contract with --set env.kind=... (hilserl check-env).",
        epilog=COMMON_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_env_commands, _robot_commands, _reward_commands, _training_commands, _sweep_commands,
                _analysis_commands, _fleet_commands):
        add(sub)
    return parser


def _sweep_commands(sub: argparse._SubParsersAction) -> None:
    """Many runs: configs x seeds."""
    from hilserl.sweep.executors import BACKENDS

    p = sub.add_parser(
        "sweep", help="train configs x seeds as independent runs, on Ray (this machine or a cluster) or local "
        "processes; resumable; one result file and a plot",
        description="Each variant of the config (--vary: every combination of the values given) is trained "
        "with each seed in a run of its own, as `hilserl train --single-process` would, then evaluated "
        "without interventions. Runs go to OUT/VARIANT/seed_N/, results to OUT/VARIANT/seed_N.json as each "
        "ends, and all of them to OUT/sweep.json and OUT/sweep.png. The same command again skips the "
        "finished runs and resumes the others from their latest checkpoint. Ray is optional "
        "(pip install -e \".[sweep]\"); without it the runs are this machine's processes.",
        epilog="examples:\n"
        "  hilserl sweep --out sweeps/utd --seeds 0 1 2 --set env.state_only=true "
        "--vary train.updates_per_env_step=1,2,4\n"
        "  hilserl sweep --out /shared/sweeps/utd --seeds 0 1 2 3 4 5 6 7 --address auto ...   (a Ray cluster)\n\n"
        + COMMON_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_args(p)
    p.add_argument("--out", type=Path, required=True, help="the sweep's folder (runs, results, sweep.json)")
    p.add_argument("--seeds", type=_int_in(0, 2**31 - 1), nargs="+", required=True, metavar="SEED",
                   help="the seeds each variant is trained with")
    p.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2",
                   help="a config field and its values, one variant each (repeatable: every combination); values "
                   "are JSON, commas inside brackets belong to a value: agent.hidden_dims=[16,16],[64,64]")
    p.add_argument("--eval-episodes", type=_int_in(0, 100000), default=50, metavar="N",
                   help="seeded episodes each final policy is evaluated on, without interventions (default 50)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto (default): Ray if installed, else this machine's processes")
    p.add_argument("--address", metavar="ADDR",
                   help="a Ray cluster to run on (auto, or ray://HOST:10001); default: a local Ray instance")
    p.add_argument("--jobs", type=_int_in(1, 4096), metavar="N",
                   help="runs at a time on this machine (default: its cores / --threads); on a cluster, Ray "
                   "places as many as its CPUs hold")
    p.add_argument("--threads", type=_int_in(1, MAX_THREADS), metavar="N",
                   help="torch threads (and CPUs asked of Ray) per run (default 1: runs side by side do not slow "
                   "each other)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)


def _fleet_commands(sub: argparse._SubParsersAction) -> None:
    """Robots and a learner on several computers."""
    fleet = sub.add_parser("fleet", help="robots and a learner on several computers: certificates")
    fsub = fleet.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = fsub.add_parser(
        "certs", help="make a CA, the learner's certificate and one per robot, for a lab without its own PKI",
        description="Writes ca.pem and ca.key (keep the key on the training computer), learner.pem and "
        "learner.key (valid for each --learner-host), and robot-NAME.pem and .key per --robot. Existing "
        "files are never overwritten.",
    )
    p.add_argument("--out", type=Path, required=True, help="folder to write the certificates and keys to")
    p.add_argument("--learner-host", action="append", required=True, metavar="HOST",
                   help="a host name or IP address robots reach the learner by (repeatable)")
    p.add_argument("--robot", action="append", default=[], metavar="NAME", help="a robot to enrol (repeatable)")
    p.add_argument("--days", type=_int_in(1, 36500), default=365, help="validity in days (default 365)")
    p.set_defaults(func=cmd_fleet)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with torch_threads(resolve_threads(getattr(args, "threads", None))):
            return int(args.func(args) or 0)
    except TokenRequired as exc:
        print(f"hilserl: {exc}", file=sys.stderr)
        return 2
    except RunFolderInUse as exc:
        print(f"hilserl: {exc}", file=sys.stderr)
        return 2
    except ResumeRefused as exc:
        print(f"hilserl: refused: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"hilserl: config error: {exc}", file=sys.stderr)
        return 2
    except (CannotKeepResults, CheckpointNotWritten) as exc:
        print(f"hilserl: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        # Missing files, datasets or weights that do not fit the env (DatasetMismatch and
        # WeightsMismatch are ValueErrors): a message, not a traceback.
        print(f"hilserl: {exc}", file=sys.stderr)
        return 2
    except RobotFault as exc:
        print(f"hilserl: the robot stopped, torque off: {exc}", file=sys.stderr)
        return 5
    except KeyboardInterrupt:
        print("hilserl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
