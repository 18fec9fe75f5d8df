from itertools import pairwise

import pytest

from addon.core.errors import PromptError, ScheduleError
from addon.core.schedule import (
    DEFAULT_TRANSITION_S,
    Key,
    ScheduleEntry,
    format_schedule,
    parse_schedule,
    schedule_duration,
    schedule_keys,
)

DESIGN_SCHEDULE = "neutral 0.5s, happy 1s, surprised 0.5s @0.3s, neutral"
EXPRESSIONS = {"neutral": {}, "happy": {"happy": 1.0}, "surprised": {"surprised": 1.0}}


def times_of(keys):
    return [key.time_s for key in keys]


# --- parse_schedule -----------------------------------------------------------------------------


def test_design_example_parses_to_four_entries():
    assert parse_schedule(DESIGN_SCHEDULE) == [
        ScheduleEntry("neutral", 0.5, None),
        ScheduleEntry("happy", 1.0, None),
        ScheduleEntry("surprised", 0.5, 0.3),
        ScheduleEntry("neutral", 0.0, None),
    ]


def test_mixture_target_and_milliseconds():
    entries = parse_schedule("neutral, 70% happy +  30% surprised 500ms @ 200 ms")
    assert entries[1] == ScheduleEntry("70% happy + 30% surprised", 0.5, pytest.approx(0.2))


def test_duration_with_a_space_before_the_unit():
    assert parse_schedule("happy 1.5 s") == [ScheduleEntry("happy", 1.5, None)]


def test_transition_without_a_hold():
    assert parse_schedule("neutral, happy @0.1s")[1] == ScheduleEntry("happy", 0.0, pytest.approx(0.1))


def test_action_unit_target_separated_by_spaces():
    assert parse_schedule("AU12:0.8 AU6:0.5 1s")[0] == ScheduleEntry("AU12:0.8 AU6:0.5", 1.0, None)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_schedule_is_refused(text):
    with pytest.raises(ScheduleError, match="empty schedule"):
        parse_schedule(text)


@pytest.mark.parametrize(
    "text, position", [("happy,,sad", "entry 2 of 3"), ("happy,", "entry 2 of 2"), (" , sad", "entry 1 of 2")]
)
def test_empty_entry_is_refused_with_its_position(text, position):
    with pytest.raises(ScheduleError, match=f"{position} is empty"):
        parse_schedule(text)


def test_transition_on_the_first_entry_is_refused():
    with pytest.raises(ScheduleError, match=r"entry 1 \('happy @0.3s'\) has a transition, but nothing comes before"):
        parse_schedule("happy @0.3s, sad")


def test_bare_number_duration_suggests_seconds():
    with pytest.raises(ScheduleError, match=r"entry 2 \('happy 1.5'\): the duration '1.5' has no unit: write '1.5s'"):
        parse_schedule("neutral, happy 1.5")


def test_bare_number_transition_suggests_seconds():
    with pytest.raises(ScheduleError, match="the transition '0.3' has no unit: write '0.3s'"):
        parse_schedule("neutral, happy @0.3")


@pytest.mark.parametrize(
    "text, word", [("happy 1min", "1min"), ("neutral, happy @soon", "soon"), ("neutral, happy @", "")]
)
def test_unreadable_time_is_refused(text, word):
    with pytest.raises(ScheduleError, match=f"cannot read the (duration|transition) '{word}'"):
        parse_schedule(text)


@pytest.mark.parametrize("text", ["happy -1s", "happy 0s", "happy 0ms"])
def test_zero_or_negative_hold_is_refused(text):
    with pytest.raises(ScheduleError, match=r"entry 1 .*a hold must be longer than zero"):
        parse_schedule(text)


@pytest.mark.parametrize("text", ["neutral, happy @0s", "neutral, happy @-0.2s"])
def test_zero_or_negative_transition_is_refused(text):
    with pytest.raises(ScheduleError, match=r"entry 2 .*a transition must be longer than zero"):
        parse_schedule(text)


def test_transition_before_the_duration_is_refused():
    with pytest.raises(ScheduleError, match="put the transition '@0.3s' last"):
        parse_schedule("neutral, happy @0.3s 1s")


def test_two_durations_are_refused():
    with pytest.raises(ScheduleError, match=r"entry 1 \('happy 1s 2s'\) has two durations"):
        parse_schedule("happy 1s 2s")


@pytest.mark.parametrize("text, position", [("1s", 1), ("neutral, @0.3s", 2)])
def test_entry_without_target_is_refused(text, position):
    with pytest.raises(ScheduleError, match=f"entry {position} .* has no expression"):
        parse_schedule(text)


# --- schedule_keys ------------------------------------------------------------------------------


def test_design_example_keys():
    keys = schedule_keys(parse_schedule(DESIGN_SCHEDULE), EXPRESSIONS.__getitem__)
    assert times_of(keys) == pytest.approx([0.0, 0.5, 0.8, 1.8, 2.1, 2.6, 2.9])
    assert [key.weights for key in keys] == [
        {"happy": 0.0, "surprised": 0.0},
        {"happy": 0.0, "surprised": 0.0},
        {"happy": 1.0, "surprised": 0.0},
        {"happy": 1.0, "surprised": 0.0},
        {"happy": 0.0, "surprised": 1.0},
        {"happy": 0.0, "surprised": 1.0},
        {"happy": 0.0, "surprised": 0.0},
    ]
    assert schedule_duration(keys) == pytest.approx(2.9)


def test_default_transition_can_be_changed():
    keys = schedule_keys(parse_schedule("neutral, happy, surprised @0.1s"), EXPRESSIONS.__getitem__, 1.0)
    assert times_of(keys) == pytest.approx([0.0, 1.0, 1.1])


def test_default_transition_is_used_when_none_given():
    keys = schedule_keys(parse_schedule("neutral, happy"), EXPRESSIONS.__getitem__)
    assert times_of(keys) == pytest.approx([0.0, DEFAULT_TRANSITION_S])


def test_mixture_weights_and_union_of_names():
    resolved = {"a": {"x": 0.7, "y": 0.3}, "b": {"z": 1.0}}
    keys = schedule_keys(parse_schedule("a 1s, b"), resolved.__getitem__)
    assert keys == [
        Key(0.0, {"x": 0.7, "y": 0.3, "z": 0.0}),
        Key(1.0, {"x": 0.7, "y": 0.3, "z": 0.0}),
        Key(pytest.approx(1.3), {"x": 0.0, "y": 0.0, "z": 1.0}),
    ]


def test_no_two_keys_share_a_time():
    keys = schedule_keys(parse_schedule("neutral, happy, happy 1s, surprised, neutral 0.2s"), EXPRESSIONS.__getitem__)
    times = times_of(keys)
    assert all(later > earlier for earlier, later in pairwise(times))
    assert len(keys) == 7


def test_single_entry_without_hold_is_one_key():
    keys = schedule_keys(parse_schedule("happy"), EXPRESSIONS.__getitem__)
    assert keys == [Key(0.0, {"happy": 1.0})]
    assert schedule_duration(keys) == 0.0


def test_schedule_duration_of_no_keys_is_zero():
    assert schedule_duration([]) == 0.0


def test_no_entries_is_refused():
    with pytest.raises(ScheduleError, match="no entries"):
        schedule_keys([], EXPRESSIONS.__getitem__)


def test_unknown_target_becomes_a_schedule_error_naming_it():
    with pytest.raises(ScheduleError, match=r"entry 2 \('grin'\) names no known expression"):
        schedule_keys(parse_schedule("happy, grin"), EXPRESSIONS.__getitem__)


@pytest.mark.parametrize("error", [ScheduleError("from resolve"), PromptError("from resolve")])
def test_schedule_and_prompt_errors_from_resolve_pass_through(error):
    def resolve(target):
        raise error

    with pytest.raises(type(error), match="^from resolve$"):
        schedule_keys(parse_schedule("happy"), resolve)


def test_other_errors_from_resolve_are_not_hidden():
    def resolve(target):
        raise RuntimeError("backend down")

    with pytest.raises(RuntimeError, match="backend down"):
        schedule_keys(parse_schedule("happy"), resolve)


def test_hand_made_entries_are_checked():
    with pytest.raises(ScheduleError, match="nothing comes before"):
        schedule_keys([ScheduleEntry("happy", 0.0, 0.3)], EXPRESSIONS.__getitem__)
    with pytest.raises(ScheduleError, match="a hold must be longer than zero"):
        schedule_keys([ScheduleEntry("happy", -1.0, None)], EXPRESSIONS.__getitem__)
    with pytest.raises(ScheduleError, match="a transition must be longer than zero"):
        schedule_keys([ScheduleEntry("happy", 0.0, None), ScheduleEntry("happy", 0.0, 0.0)], EXPRESSIONS.__getitem__)


def test_non_positive_default_transition_is_refused():
    with pytest.raises(ScheduleError, match="the default transition: a transition must be longer than zero"):
        schedule_keys(parse_schedule("neutral, happy"), EXPRESSIONS.__getitem__, 0.0)


# --- continuing a timeline and writing a schedule back --------------------------------------------


def test_a_continued_schedule_may_start_with_a_transition():
    assert parse_schedule("happy 1s @0.5s, sad", continues=True)[0] == ScheduleEntry("happy", 1.0, 0.5)


def test_continued_keys_start_after_the_first_transition():
    keys = schedule_keys(parse_schedule("happy 1s @0.5s, surprised", continues=True), EXPRESSIONS.__getitem__,
                         continues=True)
    assert times_of(keys) == pytest.approx([0.5, 1.5, 1.8])
    keys = schedule_keys(parse_schedule("happy"), EXPRESSIONS.__getitem__, continues=True)
    assert times_of(keys) == pytest.approx([DEFAULT_TRANSITION_S])


def test_a_first_transition_is_still_refused_when_not_continuing():
    with pytest.raises(ScheduleError, match="nothing comes before the first entry"):
        schedule_keys([ScheduleEntry("happy", 1.0, 0.5)], EXPRESSIONS.__getitem__)


@pytest.mark.parametrize("text", [DESIGN_SCHEDULE, "neutral, 70% happy + 30% surprised 500ms @0.125s",
                                  "AU12:0.8 AU6:0.5 1.5s, happy 0.000001s @2s"])
def test_format_schedule_reads_back_to_the_same_entries(text):
    entries = parse_schedule(text)
    assert parse_schedule(format_schedule(entries)) == entries


def test_format_schedule_writes_plain_seconds():
    assert format_schedule(parse_schedule(DESIGN_SCHEDULE)) == DESIGN_SCHEDULE
    assert format_schedule(parse_schedule("neutral, happy 500ms @ 200 ms")) == "neutral, happy 0.5s @0.2s"
