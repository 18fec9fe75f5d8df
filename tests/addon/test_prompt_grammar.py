import json
import re

import pytest

from addon.core.errors import PromptError
from addon.core.prompt_grammar import MAX_NAME_CHARS, MAX_PROMPT_CHARS, PromptKind, expression_name, parse_prompt


def test_prompt_kinds_are_the_strings_json_carries():
    assert [str(kind) for kind in PromptKind] == ["emotions", "action_units", "free_text"]
    assert json.dumps({"kind": parse_prompt("AU12").kind}) == '{"kind": "action_units"}'


def emotions_of(text):
    parsed = parse_prompt(text)
    assert parsed.kind == PromptKind.EMOTIONS
    return parsed.emotions


# --- checks on any prompt -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_prompt_is_refused_with_an_example(text):
    with pytest.raises(PromptError, match=r"empty prompt: type an expression such as 'happy'"):
        parse_prompt(text)


def test_too_long_prompt_names_its_length_and_the_limit():
    text = "a" * (MAX_PROMPT_CHARS + 1)
    with pytest.raises(PromptError, match=rf"{MAX_PROMPT_CHARS + 1} characters.*limit is {MAX_PROMPT_CHARS}"):
        parse_prompt(text)


def test_prompt_at_the_limit_is_accepted():
    assert parse_prompt("a" * MAX_PROMPT_CHARS).kind == PromptKind.FREE_TEXT


@pytest.mark.parametrize("text", ["!!!", "70%", "12 34", "+ +"])
def test_prompt_without_letters_is_refused(text):
    with pytest.raises(PromptError, match="has no words"):
        parse_prompt(text)


def test_text_keeps_case_and_normalises_whitespace():
    parsed = parse_prompt("  A   Delighted\tSurprise ")
    assert parsed.text == "A Delighted Surprise"


def test_fields_of_other_kinds_are_empty():
    parsed = parse_prompt("happy")
    assert (parsed.action_units, parsed.free_text, parsed.intensity) == ({}, "", 1.0)
    parsed = parse_prompt("AU12")
    assert (parsed.emotions, parsed.free_text, parsed.intensity) == ({}, "", 1.0)
    parsed = parse_prompt("a grin")
    assert (parsed.emotions, parsed.action_units) == ({}, {})


# --- emotion mixtures ---------------------------------------------------------------------------


def test_weighted_mixture_from_the_design():
    assert emotions_of("70% happy + 30% surprised") == pytest.approx({"happy": 0.7, "surprised": 0.3})


@pytest.mark.parametrize("text", ["70 % happy + 30 % surprised", "0.7 happy + 0.3 surprised", "70%happy+30%surprised"])
def test_weights_as_percent_with_space_fraction_or_glued(text):
    assert emotions_of(text) == pytest.approx({"happy": 0.7, "surprised": 0.3})


def test_single_emotion_has_weight_one():
    assert emotions_of("happy") == {"happy": 1.0}


def test_unweighted_terms_split_equally():
    assert emotions_of("happy + surprised") == pytest.approx({"happy": 0.5, "surprised": 0.5})
    assert emotions_of("happy + sad + angry") == pytest.approx({"happy": 1 / 3, "sad": 1 / 3, "angry": 1 / 3})


def test_and_joins_emotion_terms():
    assert emotions_of("happy and surprised") == pytest.approx({"happy": 0.5, "surprised": 0.5})
    assert emotions_of("70% happy and 30% surprised") == pytest.approx({"happy": 0.7, "surprised": 0.3})


def test_and_between_non_emotions_stays_free_text():
    parsed = parse_prompt("calm and collected")
    assert parsed.kind == PromptKind.FREE_TEXT
    assert parsed.free_text == "calm and collected"


def test_synonyms_are_canonicalised_case_insensitively():
    assert emotions_of("JOY") == {"happy": 1.0}
    assert emotions_of("Fear + Disgust") == pytest.approx({"afraid": 0.5, "disgusted": 0.5})


def test_intensity_words_multiply_the_weight():
    assert emotions_of("very happy") == pytest.approx({"happy": 1.3})
    assert emotions_of("slightly sad") == pytest.approx({"sad": 0.4})


def test_two_word_intensity_and_weight_combine():
    assert emotions_of("50% a little happy") == pytest.approx({"happy": 0.25})
    assert emotions_of("very happy + a bit surprised") == pytest.approx({"happy": 0.65, "surprised": 0.25})


def test_several_intensity_words_multiply():
    assert emotions_of("very very angry") == pytest.approx({"angry": 1.69})


def test_same_emotion_twice_adds_up():
    assert emotions_of("50% happy + 30% joy") == pytest.approx({"happy": 0.8})
    assert emotions_of("happy + smile") == pytest.approx({"happy": 1.0})


def test_percentages_need_not_sum_to_100():
    assert emotions_of("50% happy") == pytest.approx({"happy": 0.5})
    assert emotions_of("80% happy + 80% surprised") == pytest.approx({"happy": 0.8, "surprised": 0.8})


def test_full_weight_is_allowed():
    assert emotions_of("100% happy") == pytest.approx({"happy": 1.0})
    assert emotions_of("1 happy") == pytest.approx({"happy": 1.0})


def test_mixing_explicit_and_implicit_weights_is_refused():
    with pytest.raises(PromptError, match=r"'surprised' has no weight.*give every term a weight"):
        parse_prompt("70% happy + surprised")


@pytest.mark.parametrize("text", ["150% happy", "1.5 happy", "70% happy + 101% sad"])
def test_weight_above_100_percent_is_refused(text):
    with pytest.raises(PromptError, match="above 100%"):
        parse_prompt(text)


@pytest.mark.parametrize("text, weight", [("0% happy", "0%"), ("-30% happy", "-30%"), ("0 happy", "0")])
def test_zero_or_negative_weight_is_refused(text, weight):
    with pytest.raises(PromptError, match=rf"weight '{weight}' .* must be above zero"):
        parse_prompt(text)


def test_plus_with_a_non_emotion_term_is_refused():
    with pytest.raises(PromptError, match=r"'grin' in 'happy \+ grin' is not an emotion term.*emotion word"):
        parse_prompt("happy + grin")


def test_percent_with_a_non_emotion_is_refused():
    with pytest.raises(PromptError, match="'done' is not made of intensity words"):
        parse_prompt("100% done smiling")


def test_unknown_intensity_word_in_a_mixture_is_named():
    with pytest.raises(PromptError, match="'little' is not made of intensity words"):
        parse_prompt("little happy + sad")


def test_empty_term_in_a_mixture_is_refused():
    with pytest.raises(PromptError, match="an empty term in 'happy \\+'"):
        parse_prompt("happy +")


# --- action units -------------------------------------------------------------------------------


def test_action_units_from_the_design():
    parsed = parse_prompt("AU12:0.8 AU6:0.5")
    assert parsed.kind == PromptKind.ACTION_UNITS
    assert parsed.action_units == {"AU12": 0.8, "AU6": 0.5}


def test_action_unit_forms():
    parsed = parse_prompt("au06:0.5, AU12L:0.5 AU25 AU12R:80% AU26 : 40 %")
    assert parsed.action_units == pytest.approx({"AU6": 0.5, "AU12L": 0.5, "AU25": 1.0, "AU12R": 0.8, "AU26": 0.4})


def test_action_unit_value_bounds_are_inclusive():
    assert parse_prompt("AU12:0 AU6:1").action_units == {"AU12": 0.0, "AU6": 1.0}
    assert parse_prompt("AU12:100%").action_units == {"AU12": 1.0}


def test_unknown_action_unit_lists_the_known_ones():
    with pytest.raises(PromptError, match=r"unknown action unit 'AU99' in 'AU99:0.5'; known: AU1, AU2, "):
        parse_prompt("AU99:0.5")


def test_one_sided_form_of_a_bilateral_only_unit_is_refused():
    with pytest.raises(PromptError, match="AU9 .* has no one-sided form AU9L"):
        parse_prompt("AU9L")


@pytest.mark.parametrize("text", ["AU12:1.5", "AU12:80", "AU12:-0.1", "AU12:120%"])
def test_action_unit_value_outside_0_1_is_refused(text):
    with pytest.raises(PromptError, match=r"outside 0–1.*'AU12:0.8' or 'AU12:80%'"):
        parse_prompt(text)


def test_action_unit_value_that_is_no_number_is_refused():
    with pytest.raises(PromptError, match="'abc' .* is not a number"):
        parse_prompt("AU12:abc")


def test_action_unit_without_value_after_colon_is_refused():
    with pytest.raises(PromptError, match="no value after ':'"):
        parse_prompt("AU12:")


def test_action_units_mixed_with_words_are_refused():
    with pytest.raises(PromptError, match=r"mixes action units with other words \('smile'\)"):
        parse_prompt("AU12:0.8 smile")
    with pytest.raises(PromptError, match="mixes action units"):
        parse_prompt("happy + AU12")


@pytest.mark.parametrize("text", ["AU12 AU12:0.5", "AU06 au6"])
def test_repeated_action_unit_is_refused(text):
    with pytest.raises(PromptError, match="appears twice"):
        parse_prompt(text)


# --- free text ----------------------------------------------------------------------------------


def test_free_text_without_intensity_words():
    parsed = parse_prompt("a delighted surprise")
    assert parsed.kind == PromptKind.FREE_TEXT
    assert (parsed.free_text, parsed.intensity) == ("a delighted surprise", 1.0)


def test_free_text_intensity_words_are_removed_and_multiplied():
    parsed = parse_prompt("Very, VERY big grin!")
    assert parsed.free_text == "big grin!"
    assert parsed.intensity == pytest.approx(1.69)


def test_two_word_intensity_phrase_in_free_text():
    parsed = parse_prompt("a little girl smiling")
    assert (parsed.free_text, parsed.intensity) == ("girl smiling", 0.5)


def test_intensity_words_match_whole_words_only():
    parsed = parse_prompt("everyday quiet look")
    assert (parsed.free_text, parsed.intensity) == ("everyday quiet look", 1.0)


def test_emotion_word_followed_by_more_words_is_free_text():
    parsed = parse_prompt("extremely happy face")
    assert parsed.kind == PromptKind.FREE_TEXT
    assert (parsed.free_text, parsed.intensity) == ("happy face", 1.6)


def test_bare_leading_number_outside_a_mixture_stays_free_text():
    assert parse_prompt("2 people smiling").free_text == "2 people smiling"


@pytest.mark.parametrize("text", ["very", "a little", "very, extremely!"])
def test_only_intensity_words_is_refused(text):
    with pytest.raises(PromptError, match="only intensity words"):
        parse_prompt(text)


# --- expression names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt, name",
    [
        ("70% happy + 30% surprised", "happy70_surprised30"),
        ("0.7 happy + 0.3 surprised", "happy70_surprised30"),
        ("AU12:0.8 AU6:0.5", "au12_80_au6_50"),
        ("AU12L AU06:0.25", "au12l_au6_25"),
        ("happy", "happy"),
        ("Happy + Surprised", "happy_surprised"),
        ("very happy", "very_happy"),
        ("12.5% sad", "sad12_5"),
        ("A delighted surprise!", "a_delighted_surprise"),
        ("café smile", "cafe_smile"),
    ],
)
def test_expression_names(prompt, name):
    assert expression_name(prompt) == name


@pytest.mark.parametrize("prompt", ["", "!!!", "笑顔", "   "])
def test_expression_name_is_never_empty(prompt):
    assert expression_name(prompt) == "expression"


def test_expression_name_of_an_invalid_prompt_is_still_a_slug():
    assert expression_name("150% happy") == "150_happy"


def test_expression_name_is_safe_and_short():
    name = expression_name("an extremely long description of a wistful, half-remembered smile at dusk")
    assert re.fullmatch(r"[a-z0-9_]+", name)
    assert len(name) <= MAX_NAME_CHARS
    assert name == "an_extremely_long_description_of_a"


def test_expression_name_cuts_a_single_long_word_at_the_limit():
    assert expression_name("x" * 60) == "x" * MAX_NAME_CHARS


def test_taken_names_get_a_number():
    assert expression_name("happy", {"happy"}) == "happy_2"
    assert expression_name("happy", frozenset({"happy", "happy_2"})) == "happy_3"
    assert expression_name("", {"expression"}) == "expression_2"


def test_numbered_name_stays_within_the_limit():
    base = expression_name("x" * 60)
    name = expression_name("x" * 60, {base})
    assert name == "x" * (MAX_NAME_CHARS - 2) + "_2"


def test_prompts_never_take_the_names_calibration_gives():
    from addon.core.prompt_grammar import prompt_expression_names
    assert prompt_expression_names(["as photographed", "neutral", "happy", "happy", "base"]) == [
        "as_photographed_2", "neutral_2", "happy", "happy_2", "base_2"]
