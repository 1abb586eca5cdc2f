from tasks.ingest.fields import prompt_id
from tasks.text import normalize_text, text_hash
from tasks.verify.extract import extract_answer, last_boxed


def test_normalize_nfkc_and_whitespace():
    assert normalize_text("  Find\u00a0x:\r\n  ｘ² =\t4 ") == "Find x: x2 = 4"
    assert normalize_text("plain ascii   text") == "plain ascii text"


def test_normalize_keeps_latex_and_case_and_collapses_every_unicode_space():
    text = "ﬁnd\u2028$\\dfrac{１}{2}$\x1c\u3000Ünïcödé\u0085 cafe\u0301 ΣΑΣ"
    assert normalize_text(text) == "find $\\dfrac{1}{2}$ Ünïcödé café ΣΑΣ"
    assert normalize_text(normalize_text(text)) == normalize_text(text)


def test_hash_ignores_whitespace_and_width_but_not_content():
    assert text_hash(normalize_text("a  +\nb")) == text_hash(normalize_text("a + b"))
    assert text_hash(normalize_text("ａ + b")) == text_hash(normalize_text("a + b"))
    assert text_hash(normalize_text("a + b")) != text_hash(normalize_text("a + c"))


def test_prompt_id_depends_on_every_part():
    base = prompt_id("gsm8k", "f.jsonl", "1", "h")
    assert base == prompt_id("gsm8k", "f.jsonl", "1", "h")
    assert len({base, prompt_id("x", "f.jsonl", "1", "h"), prompt_id("gsm8k", "g", "1", "h"),
                prompt_id("gsm8k", "f.jsonl", "2", "h"), prompt_id("gsm8k", "f.jsonl", "1", "i")}) == 5


def test_gsm8k_answer_after_hashes():
    answer, raw = extract_answer("She pays 5 * 2 = <<5*2=10>>10.\n#### 1,250")
    assert answer == "1250"
    assert raw.startswith("She pays")


def test_boxed_nested_and_last():
    text = r"First \boxed{1}. So the answer is $\boxed{\frac{1}{\sqrt{2}}}$."
    assert last_boxed(text) == r"\frac{1}{\sqrt{2}}"
    assert extract_answer(text)[0] == r"\frac{1}{\sqrt{2}}"
    assert last_boxed(r"\boxed 5.") == "5"
    assert last_boxed(r"\boxed{unclosed") is None


def test_scalars_and_lists():
    assert extract_answer(27.0) == ("27", "27")
    assert extract_answer(2.5) == ("2.5", "2.5")
    assert extract_answer(113) == ("113", "113")
    assert extract_answer(["3", "5"]) == ("3, 5", "3, 5")
    assert extract_answer(None) == (None, None)
    assert extract_answer("  ") == (None, "  ")


def test_dict_answer_is_a_type_error():
    import pytest

    with pytest.raises(TypeError):
        extract_answer({"a": 1})
