import numpy as np
import pytest

from hilserl.config import ConfigError, CurriculumConfig, load_config
from hilserl.training.curriculum import ResetCurriculum


def test_the_curriculum_widens_on_success_and_never_exceeds_the_full_range():
    cur = ResetCurriculum(CurriculumConfig(enabled=True, start_fraction=0.3, step=0.3, success_threshold=0.75, window=4))
    assert cur.reset_options() == {"reset_scale": 0.3}
    widened = [cur.record(s) for s in (True, False, True, False)]  # 50% < 75%
    assert not any(widened) and cur.fraction == 0.3
    assert [cur.record(True) for _ in range(2)] == [False, True]  # window: 2/4, then 3/4 reaches 75%
    assert cur.fraction == pytest.approx(0.6)
    for _ in range(40):
        cur.record(True)
    assert cur.fraction == 1.0
    assert not cur.record(True)


def test_a_new_window_starts_after_each_widening():
    cur = ResetCurriculum(CurriculumConfig(enabled=True, start_fraction=0.5, step=0.25, success_threshold=1.0, window=2))
    cur.record(True)
    assert cur.record(True)
    assert not cur.record(True)  # one success on the wider range is not yet a full window
    assert cur.record(True) and cur.fraction == 1.0


def test_a_disabled_curriculum_uses_the_full_range():
    cur = ResetCurriculum(CurriculumConfig())
    assert cur.reset_options() == {"reset_scale": 1.0}
    assert not cur.record(True)


def test_the_state_round_trips():
    cfg = CurriculumConfig(enabled=True, window=3)
    cur = ResetCurriculum(cfg)
    cur.record(True)
    other = ResetCurriculum(cfg)
    other.load_state_dict(cur.state_dict())
    assert other.state_dict() == cur.state_dict()


def test_narrowed_resets_stay_around_the_centre_of_the_cube_region(state_env):
    cfg = state_env.config
    low, high = np.array(cfg.cube_region.low[:2]), np.array(cfg.cube_region.high[:2])
    centre, half = (low + high) / 2, (high - low) / 2
    for seed in range(12):
        _, info = state_env.reset(seed=seed, options={"reset_scale": 0.25})
        assert np.all(np.abs(info["cube_start"][:2] - centre) <= half * 0.25 + 0.002)
        assert abs(info["cube_yaw"]) <= cfg.cube_yaw_range * 0.25 + 0.02
    with pytest.raises(ValueError, match="reset_scale"):
        state_env.reset(seed=0, options={"reset_scale": 1.5})


def test_curriculum_config_is_checked():
    with pytest.raises(ConfigError, match="train.curriculum.step"):
        load_config(None, ["train.curriculum.step=0"])
