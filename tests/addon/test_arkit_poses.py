"""What a schedule target means on a rigged face: a named pose, or a mixture of the prompts' poses."""
import pytest

from addon.core.arkit_poses import mixed_pose, named_pose, resolve_pose_target
from addon.core.errors import ScheduleError

POSES = {"neutral": {}, "happy": {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "cheekSquintLeft": 0.5},
         "surprised": {"browInnerUp": 1.0, "jawOpen": 0.5, "mouthSmileLeft": 0.4},
         "viseme_aa": {"jawOpen": 0.6}}
PROMPTS = {"happy": "happy", "surprised": "surprised"}


def test_a_pose_is_found_by_its_name_in_any_case():
    assert named_pose("Viseme_AA", POSES) == {"jawOpen": 0.6}
    assert named_pose("  neutral ", POSES) == {}
    assert named_pose("angry", POSES) is None


def test_a_mixture_is_the_weighted_sum_of_the_prompts_poses_capped_at_one():
    pose = resolve_pose_target("70% happy + 30% surprised", PROMPTS, POSES)
    assert pose["mouthSmileLeft"] == pytest.approx(0.7 * 0.9 + 0.3 * 0.4)
    assert pose["browInnerUp"] == pytest.approx(0.3) and pose["jawOpen"] == pytest.approx(0.15)
    assert mixed_pose({"happy": 1.0, "surprised": 1.0}, POSES)["mouthSmileLeft"] == 1.0


def test_a_target_that_is_neither_a_pose_nor_a_prompt_is_a_schedule_error():
    with pytest.raises(ScheduleError):
        resolve_pose_target("furious", PROMPTS, POSES)
    with pytest.raises(KeyError, match="expression 'angry' has no pose"):
        mixed_pose({"angry": 1.0}, POSES)
