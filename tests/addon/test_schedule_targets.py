import pytest

from addon.core.errors import ScheduleError
from addon.core.schedule import parse_schedule
from addon.core.schedule_targets import missing_targets, resolve_target

# Expression name -> prompt, as an expression set records them (the first is the neutral).
EXPRESSIONS = {"neutral": "neutral", "happy": "happy", "surprised": "surprised", "big_grin": "A big  grin"}


# --- resolve_target -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["neutral", "Neutral", "calm", "relaxed", "expressionless"])
def test_neutral_and_its_synonyms_are_the_rest_face(target):
    assert resolve_target(target, EXPRESSIONS) == {}


@pytest.mark.parametrize("target", ["happy", "HAPPY", " happy "])
def test_an_expression_name(target):
    assert resolve_target(target, EXPRESSIONS) == {"happy": 1.0}


def test_a_name_that_is_no_prompt():
    assert resolve_target("big_grin", EXPRESSIONS) == {"big_grin": 1.0}


@pytest.mark.parametrize("target", ["a big grin", "A  BIG grin"])
def test_an_expressions_prompt_ignoring_case_and_whitespace(target):
    assert resolve_target(target, EXPRESSIONS) == {"big_grin": 1.0}


def test_a_name_wins_over_another_expressions_prompt():
    expressions = {"smile": "happy", "happy": "a wide smile"}
    assert resolve_target("happy", expressions) == {"happy": 1.0}


def test_a_mixture_maps_each_emotion_to_its_expression():
    assert resolve_target("70% happy + 30% surprised", EXPRESSIONS) == {"happy": 0.7, "surprised": 0.3}


def test_a_mixture_through_synonyms_and_intensity_words():
    assert resolve_target("joy + surprise", EXPRESSIONS) == {"happy": 0.5, "surprised": 0.5}
    assert resolve_target("slightly happy", EXPRESSIONS) == {"happy": pytest.approx(0.4)}


def test_an_emotion_finds_an_expression_by_a_synonym_name_or_by_its_prompt():
    assert resolve_target("70% happy + 30% surprised", {"joy": "joy", "wow": "astonished"}) == {
        "joy": 0.7, "wow": 0.3}


def test_an_expression_named_the_emotion_wins_over_one_whose_prompt_is_it():
    assert resolve_target("50% happy", {"grin": "happy", "happy": "a grin"}) == {"happy": 0.5}


def test_neutral_terms_of_a_mixture_add_nothing():
    assert resolve_target("50% neutral + 50% happy", EXPRESSIONS) == {"happy": 0.5}


def test_the_neutral_expression_is_never_a_shape_key():
    with pytest.raises(ScheduleError, match="generate it first"):
        resolve_target("a relaxed face", {"neutral": "a relaxed face"})


def test_an_unknown_target_names_itself_the_expressions_and_what_to_generate():
    with pytest.raises(ScheduleError) as raised:
        resolve_target("a shy  look", EXPRESSIONS)
    message = str(raised.value)
    assert "'a shy look' is not an expression of this face: generate it first" in message
    assert "Available: happy, surprised, big_grin; 'neutral' is always available" in message


def test_a_mixture_with_an_ungenerated_emotion_names_the_emotion():
    with pytest.raises(ScheduleError, match=r"generate 'angry' \(for '70% happy \+ 30% mad'\) first"):
        resolve_target("70% happy + 30% mad", EXPRESSIONS)


def test_a_mixture_above_full_weight_must_be_generated_as_a_whole():
    with pytest.raises(ScheduleError, match="'very happy' is not an expression of this face: generate it first"):
        resolve_target("very happy", EXPRESSIONS)


def test_action_units_must_be_generated():
    with pytest.raises(ScheduleError, match="generate it first"):
        resolve_target("AU12:0.8 AU6:0.5", EXPRESSIONS)


def test_an_invalid_prompt_is_refused_with_the_prompt_error():
    with pytest.raises(ScheduleError, match="nor a prompt that could generate one: .*above 100%"):
        resolve_target("150% happy", EXPRESSIONS)


def test_no_expressions_yet():
    with pytest.raises(ScheduleError, match="Available: none generated yet"):
        resolve_target("happy", {})


# --- missing_targets ----------------------------------------------------------------------------


def test_nothing_is_missing_when_every_entry_resolves():
    entries = parse_schedule("neutral 0.5s, happy 1s, 70% joy + 30% surprise 0.5s @0.3s, A big grin, calm")
    assert missing_targets(entries, EXPRESSIONS) == []


def test_missing_prompts_are_deduplicated_in_order():
    entries = parse_schedule(
        "neutral, a shy look 1s, 70% happy + 30% angry, mad 1s, A shy  look, sad + fear, very happy, AU12:0.8"
    )
    assert missing_targets(entries, EXPRESSIONS) == ["a shy look", "angry", "sad", "afraid", "very happy",
                                                     "AU12:0.8"]


def test_a_missing_emotion_once_generated_resolves():
    entries = parse_schedule("neutral, 70% joy + 30% surprised")
    expressions = {"surprised": "surprised"}
    assert missing_targets(entries, expressions) == ["happy"]
    expressions["happy"] = "happy"
    assert missing_targets(entries, expressions) == []
    assert resolve_target(entries[1].target, expressions) == {"happy": 0.7, "surprised": 0.3}


def test_missing_targets_refuses_an_invalid_prompt():
    with pytest.raises(ScheduleError, match="150% happy"):
        missing_targets(parse_schedule("neutral, 150% happy"), EXPRESSIONS)
