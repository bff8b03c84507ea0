"""``hilserl sweep``: configs x seeds as independent runs, on Ray or this machine's processes, each
result written as its run ends; a run that fails is named with its traceback and the others go on; the
same command again runs only what is missing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_process import hilserl_command

from hilserl.cli import main
from hilserl.sweep.executors import ray_installed
from hilserl.sweep.plan import SweepSpecError, parse_vary, plan_sweep

TINY = ["env.kind=hilserl/PlanarReach-v0", "train.env_steps=60", "train.demo_episodes=1", "train.learning_starts=20",
        "agent.hidden_dims=[16]", "agent.batch_size=8"]


def sweep(out, *args) -> list[str]:
    return ["sweep", "--out", str(out), "--eval-episodes", "3", "--quiet", *args,
            *[a for o in TINY for a in ("--set", o)]]


def test_the_plan_is_every_combination_of_the_varied_values_with_every_seed(tmp_path):
    runs = plan_sweep(tmp_path, [0, 1], ["agent.hidden_dims=[16,16],[64]", "train.updates_per_env_step=1,4"],
                      ["env.state_only=true"], None, 10, 1)
    assert len(runs) == 2 * 2 * 2
    first = runs[0]
    assert first.variant == "hidden_dims=[16,16]+updates_per_env_step=1" and first.seed == 0
    assert first.overrides == ("env.state_only=true", "agent.hidden_dims=[16,16]", "train.updates_per_env_step=1")
    assert first.run_dir == tmp_path / first.variant / "seed_0"
    assert first.result_file == tmp_path / first.variant / "seed_0.json"
    assert [r.variant for r in plan_sweep(tmp_path, [3], [], [], None, 10, 1)] == ["base"]
    assert parse_vary(['human.strategy="brief","takeover"']) == [("human.strategy", ['"brief"', '"takeover"'])]


@pytest.mark.parametrize("vary, problem", [
    (["train.updates_per_env_step"], "expected FIELD=VALUE1,VALUE2"),
    (["train.updates_per_env_step=1,1"], "a value is repeated"),
    (["seed=1", "seed=2"], "names seed twice"),
])
def test_a_vary_that_cannot_be_read_is_refused_in_words(tmp_path, vary, problem):
    with pytest.raises(SweepSpecError, match=problem):
        plan_sweep(tmp_path, [0], vary, [], None, 10, 1)


def test_a_bad_value_is_refused_before_any_run_starts(tmp_path, capsys):
    assert main(sweep(tmp_path, "--seeds", "0", "--backend", "processes", "--vary", "agent.batch_size=8,-3")) == 2
    assert "batch_size" in capsys.readouterr().err and not (tmp_path / "sweep.json").exists()


def test_local_processes_a_failed_run_then_the_same_command_finishes_only_it(tmp_path):
    """As a user runs it, in a process of its own (its worker processes end with it)."""
    blocked = tmp_path / "base" / "seed_1"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run's folder goes: its run cannot start")
    args = hilserl_command(*sweep(tmp_path, "--seeds", "0", "1", "--backend", "processes", "--jobs", "2"))
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "on 2 processes on this machine" in out and "1 run failed (base seed 1)" in out
    assert (tmp_path / "base" / "seed_0.json").exists() and not (tmp_path / "base" / "seed_1.json").exists()
    assert "Traceback" in (tmp_path / "base" / "seed_1.error.txt").read_text()
    first = json.loads((tmp_path / "base" / "seed_0.json").read_text())

    blocked.unlink()
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 already finished, 1 to run" in done.stdout
    summary = json.loads((tmp_path / "sweep.json").read_text())
    assert sorted(r["seed"] for r in summary["runs"]) == [0, 1]
    assert json.loads((tmp_path / "base" / "seed_0.json").read_text()) == first  # not run again
    assert first["source_digest"] == summary["source"]["source_digest"]  # the same code ran both
    assert summary["variants"]["base"]["seeds_finished"] == 2
    assert all(r["env_steps"] >= 60 and 0 <= r["success_rate"] <= 1 for r in summary["runs"])
    assert (tmp_path / "sweep.png").stat().st_size > 0 and not (tmp_path / "base" / "seed_1.error.txt").exists()


@pytest.mark.skipif(not ray_installed(), reason='Ray is an extra: pip install -e ".[sweep]" (scripts/setup.sh installs it)')
def test_the_same_sweep_runs_as_ray_tasks(tmp_path, capsys):
    assert main(sweep(tmp_path, "--seeds", "0", "--backend", "ray", "--jobs", "1")) == 0
    assert "on a local Ray instance, 1 task at a time" in capsys.readouterr().out
    run = json.loads((tmp_path / "base" / "seed_0.json").read_text())
    assert run["env_steps"] >= 60 and (tmp_path / "base" / "seed_0" / "checkpoints").is_dir()


def test_ray_asked_for_where_it_is_missing_is_refused_with_the_install_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("hilserl.sweep.executors.ray_installed", lambda: False)
    assert main(sweep(tmp_path, "--seeds", "0", "--address", "auto")) == 2
    assert 'pip install -e ".[sweep]"' in capsys.readouterr().err


SWEEP_KILLED = """
import sys, time
from hilserl.sweep.executors import LocalProcesses
for _ in LocalProcesses(1).run(exec, ["import os, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"]):
    pass
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_sweep_killed_by_sigterm_leaves_no_run_going(tmp_path):
    pid_file = tmp_path / "worker.pid"
    sweep = subprocess.Popen([sys.executable, "-c", SWEEP_KILLED.replace("sys.argv[1]", repr(str(pid_file)))])
    deadline = time.monotonic() + 120
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    worker = int(pid_file.read_text())
    assert alive(worker)
    sweep.send_signal(signal.SIGTERM)
    sweep.wait(30)
    deadline = time.monotonic() + 30
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker)  # without the kernel's word of its parent's death, it went on


EDITED_DURING_SWEEP = """
import json
from edited_pkg.work import work
from hilserl.source import SourceFingerprint
from hilserl.sweep.executors import LocalProcesses
runner = LocalProcesses(1, source=SourceFingerprint.of_this_process())
outcomes = {item: [type(out).__name__, str(out)] for item, out in runner.run(work, ["edits", "after the edit"])}
runner.close()
print(json.dumps(outcomes))
"""


def test_a_run_that_would_start_on_edited_source_is_refused_and_names_the_file(tmp_path):
    """Each run of a sweep is a fresh process that imports the source as it is on disk when it starts:
    an edit during a long sweep gave its later runs other code than its earlier ones, silently."""
    package = tmp_path / "edited_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "work.py").write_text(
        "from pathlib import Path\n\n\ndef work(item):\n"
        "    if item == 'edits':  # a person editing the code while the sweep runs\n"
        "        Path(__file__).write_text(Path(__file__).read_text() + '# edited\\n')\n"
        "    return item\n")
    (package / "__main__.py").write_text(EDITED_DURING_SWEEP)  # run as python -m edited_pkg, as a benchmark is
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "edited_pkg"], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcomes["edits"] == ["str", "edits"]
    kind, message = outcomes["after the edit"]
    assert kind == "SourceChanged" and "edited_pkg/work.py" in message and "would run other code" in message


def test_the_source_fingerprint_names_added_removed_and_edited_files():
    from hilserl.source import SourceFingerprint

    before = SourceFingerprint({"pkg": {"a.py": "1", "b.py": "2"}})
    after = SourceFingerprint({"pkg": {"a.py": "1", "b.py": "3", "c.py": "4"}, "other": {"d.py": "5"}})
    assert after.changes_since(before) == ["other/d.py", "pkg/b.py", "pkg/c.py"]
    assert before.changes_since(before) == [] and after.digest != before.digest
    before.require_same(SourceFingerprint({"pkg": {"b.py": "2", "a.py": "1"}}))  # the same files: no refusal


def test_a_result_names_the_commit_its_source_is_at():
    from hilserl.source import SourceFingerprint, package_root

    checkout = package_root("hilserl").parent
    if not (checkout / ".git").exists():
        pytest.skip("hilserl is not in a git checkout here")
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    described = SourceFingerprint.of().describe()
    assert described["commit"] == head and isinstance(described["uncommitted_changes"], bool)
    assert described["source_digest"] == SourceFingerprint.of().digest


THREADS_OF_A_RUN = """
import json
from hilserl.sweep.executors import LocalProcesses
asked = "(__import__('torch').get_num_threads(), __import__('os').environ['OMP_NUM_THREADS'])"
found = {}
for cpus in (1, 3):
    runner = LocalProcesses(1, cpus)
    [(_, found[cpus])] = list(runner.run(eval, [asked]))
    runner.close()
print(json.dumps(found))
"""


def test_each_run_of_local_processes_computes_on_the_threads_it_was_given():
    """A run that sets no thread count of its own (a benchmark's grading) took torch's default, one
    per core: two of them side by side on two cores graded four times slower than as Ray tasks."""
    out = subprocess.run([sys.executable, "-c", THREADS_OF_A_RUN], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {"1": [1, "1"], "3": [3, "3"]}


RUN_FAILS_BESIDE_A_LONG_ONE = """
import sys, time
from pathlib import Path
from hilserl.sweep.executors import LocalProcesses
PID = Path(sys.argv[1])
LONG = f"import os, time; open({str(PID)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
FAILS = (f"import time; from pathlib import Path\\nwhile not Path({str(PID)!r}).exists(): time.sleep(0.05)\\n"
         "raise ValueError('x')")
runner = LocalProcesses(2)
try:
    for item, out in runner.run(exec, [LONG, FAILS]):
        if isinstance(out, BaseException):
            raise out
finally:
    runner.close()
"""


def test_a_failed_run_stops_the_benchmark_now_and_the_runs_beside_it(tmp_path):
    """A benchmark raises its failed run's exception and closes its executor: the run still going beside
    it is killed, so the benchmark ends now (Python's exit would wait for it), with no error of the
    pool's manager thread after the run's own."""
    pid_file = tmp_path / "worker.pid"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", RUN_FAILS_BESIDE_A_LONG_ONE, str(pid_file)], capture_output=True,
                          text=True, timeout=240)
    assert done.returncode != 0 and "ValueError: x" in done.stderr
    assert time.monotonic() - started < 200  # the long run sleeps 300 s
    assert "Exception in thread" not in done.stderr, done.stderr
    assert not alive(int(pid_file.read_text()))
