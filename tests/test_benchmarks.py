"""The benchmarks are one suite: each script answers --help, takes --quick, saves its JSON through
the harness, and none imports the tests (read from the source, like test_layout.py)."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))

import harness  # noqa: E402

#: the modules that are not benchmarks themselves
SUPPORT = {"harness", "results_doc", "sshd", "run_all", "candidates_motion"}
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem not in SUPPORT)


def _tree(name: str) -> ast.Module:
    path = BENCHMARKS / f"{name}.py"
    return ast.parse(path.read_text(), str(path))


def _imported(tree: ast.Module) -> set:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
    return names


def test_the_suite_is_all_there():
    assert len(SCRIPTS) >= 15
    assert {"bench_device", "bench_fleet", "bench_hands", "micro_parity"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", [*SCRIPTS, *sorted(SUPPORT)])
def test_no_benchmark_imports_the_tests_or_edits_sys_path(name):
    tree = _tree(name)
    test_modules = {"tests", "conftest", *(p.stem for p in TESTS.glob("*.py"))}
    assert _imported(tree) & test_modules == set()
    text = ast.unparse(tree)
    assert "sys.path" not in text  # run as `python benchmarks/x.py`, the folder is on the path


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_saves_its_json_through_the_harness(name):
    calls = {
        ast.unparse(node.func)
        for node in ast.walk(_tree(name))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert "harness.save" in calls
    assert "harness.parse" in calls  # so it takes --quick, --results (and --data)


@pytest.mark.parametrize("name", [*SCRIPTS, "run_all"])
def test_every_script_answers_help_with_quick(name, capsys):
    module = importlib.import_module(name)
    with pytest.raises(SystemExit) as stopped:
        module.main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert f"benchmarks/{name}.py" in out and "--quick" in out and "--results" in out


def test_commands_are_saved_and_shown_without_this_machines_paths(tmp_path):
    data = tmp_path / "data"
    command = harness.command_line(
        "bench_x.py",
        [
            "--bundle",
            str(harness.ROOT / "artifacts" / "b"),
            "--photos",
            str(data / "asl_letters"),
            "--work",
            "/somewhere/else",
            "--frames",
            "3",
        ],
        data,
    )
    assert command == (
        "python benchmarks/bench_x.py --bundle artifacts/b --photos $EDGESIGN_DATA/asl_letters "
        "--frames 3"
    )
    old = (
        "python benchmarks/bench_motion.py --bundle /work/main/artifacts/loso/bundle --fit-photos "
        "/work/shared/data/asl_photos/train --cache /tmp/motion_cache --clips 20"
    )
    assert harness.portable_command(old) == (
        "python benchmarks/bench_motion.py --bundle artifacts/loso/bundle --fit-photos "
        "$EDGESIGN_DATA/asl_photos/train --clips 20"
    )
    assert harness.portable("../shared/data") == "../shared/data"


def test_quick_runs_save_apart_from_the_full_results(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    parser = harness.parser(__file__, "a benchmark\n\nmore", data="optional")
    parser.add_argument("--out", default="artifacts/x")
    args = harness.parse(parser, ["--quick"])
    assert args.results.parent == tmp_path  # never benchmarks/results/
    assert harness.work_folder(args, "out").parent == tmp_path
    path = harness.save("probe", {"value": 1}, args)
    assert path.parent == args.results and harness.load("probe", args)["quick"] is True
    full = tmp_path / "full"
    args = harness.parse(parser, ["--results", str(full), "--out", "here"])
    assert harness.work_folder(args, "out") == Path("here")
    harness.save("probe", {"value": 2}, args)
    record = harness.load("probe", args)
    assert record["results"] == {"value": 2} and "quick" not in record
    assert record["command"] == "python benchmarks/test_benchmarks.py"


def test_timing_memory_and_the_pi_estimate():
    summary = harness.summary_ms([0.001, 0.002, 0.003, 0.004])
    assert summary["min"] == 1.0 and summary["p50"] == 2.5 and summary["mean"] == 2.5
    assert harness.percentile_ms([0.001, 0.003], 50) == pytest.approx(2.0)
    assert len(harness.time_calls(lambda: None, 5, warmup=1)) == 5
    assert 0 < harness.rss_mb() <= harness.peak_rss_mb() + 1
    assert harness.pi4_ms(10.0) == 10.0 * harness.PI4_PER_CORE_SLOWDOWN
    assert harness.pi4_ms(10.0, four_threads=True) < harness.pi4_ms(10.0)


def test_run_all_gives_each_step_only_options_it_knows(tmp_path, monkeypatch):
    """`make bench`: every step's command line parses with that step's own parser (it stops
    there), so run_all never hands a step an option it does not take."""
    run_all = importlib.import_module("run_all")
    real_parse, parsed = harness.parse, []

    class Parsed(Exception):
        pass

    def parse(parser, argv=None):
        if parser.prog == "benchmarks/run_all.py":
            return real_parse(parser, argv)
        parser.parse_args(argv)  # an unknown option: SystemExit(2)
        parsed.append(parser.prog)
        raise Parsed

    def stopping(main):
        def step(argv):
            with pytest.raises(Parsed):
                main(argv)
            return 0

        return step

    monkeypatch.setattr(harness, "parse", parse)
    steps = ("bench_pipeline", "bench_realworld", "bench_hands_accuracy", "bench_device")
    for name in (*steps, "micro_parity"):
        module = importlib.import_module(name)
        monkeypatch.setattr(module, "main", stopping(module.main))
    assert run_all.main(["--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert parsed == [
        "benchmarks/bench_pipeline.py",
        "benchmarks/bench_realworld.py",
        "benchmarks/bench_hands_accuracy.py",
        "benchmarks/bench_device.py",
        "benchmarks/micro_parity.py",
    ]


def test_results_that_is_a_file_is_refused_at_once(tmp_path, capsys):
    """`run_all.py --quick --results FILE` ran a minute of benchmarks, then ended in a
    FileExistsError traceback (round 6): a --results that is not a folder is refused first."""
    import run_all

    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    with pytest.raises(SystemExit) as stopped:
        run_all.main(["--quick", "--results", str(mine), "--data", str(tmp_path)])
    assert stopped.value.code == 2
    assert "--results" in capsys.readouterr().err and mine.read_text() == "mine"
