"""hilserl's LeRobot export laid out as LeRobot's own writer lays out the same features: every parquet
table's columns and types, info.json's keys and the stats' keys, against tests/data/lerobot/export_schema
(written by LeRobot, scripts/lerobot_fixtures.py). A drift fails here without LeRobot installed; the
compatibility check (benchmarks/lerobot_compat.py) runs LeRobot's own tools on an export."""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from hilserl.config import EnvConfig
from hilserl.data.lerobot_convert import DEFAULT_TASK, export_lerobot

LEROBOT = Path(__file__).parent / "data" / "lerobot" / "export_schema" / "dataset"
TABLES = ("data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet", "meta/tasks.parquet")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    from hilserl.collect.demos import record_demos

    root = tmp_path_factory.mktemp("schema")
    record_demos(EnvConfig(), 2, root / "demos", seed=1)
    export_lerobot(root / "demos", root / "export")
    return root / "export"


def _schema(path):
    return {field.name: str(field.type) for field in pq.read_schema(path)}


@pytest.mark.parametrize("table", TABLES)
def test_every_table_has_lerobots_columns_and_types(export, table):
    assert _schema(export / table) == _schema(LEROBOT / table)


def test_the_task_is_the_tables_index_as_lerobot_reads_it(export):
    tasks = pd.read_parquet(export / "meta" / "tasks.parquet")
    assert list(tasks.index) == [DEFAULT_TASK] and tasks.loc[DEFAULT_TASK, "task_index"] == 0
    episodes = pq.read_table(export / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert [e["tasks"] for e in episodes] == [[DEFAULT_TASK]] * 2


def test_info_and_stats_have_lerobots_keys(export):
    ours, theirs = (json.loads((root / "meta" / "info.json").read_text()) for root in (export, LEROBOT))
    assert set(ours) == set(theirs)
    assert isinstance(ours["fps"], int) and ours["fps"] == theirs["fps"]
    assert set(ours["features"]) == set(theirs["features"])
    for name, feature in theirs["features"].items():
        assert {k: v for k, v in ours["features"][name].items() if k != "info"} == \
               {k: v for k, v in feature.items() if k != "info"}, name
        assert set(ours["features"][name].get("info", {})) == set(feature.get("info", {})), name
    ours, theirs = (json.loads((root / "meta" / "stats.json").read_text()) for root in (export, LEROBOT))
    assert set(ours) == set(theirs)
    for name, stats in theirs.items():
        assert set(ours[name]) == set(stats), name
        assert {k: len(v) for k, v in ours[name].items()} == {k: len(v) for k, v in stats.items()}, name
