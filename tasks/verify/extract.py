"""Tasks layer (verify): find the answer in a dataset's answer field, a model response or a solution.

Reference answers (`extract_answer`, used by ingest, decontamination and verification alike):
a record's answer is in one of `ANSWER_FIELDS`; GSM8K rationales keep what follows `####`
(thousands commas dropped: "1,250" -> "1250"), MATH solutions their last `\\boxed{}`, numbers
become canonical strings (27.0 -> "27") and a list is joined with ", ".

Responses: `extract_final_answer` tries, in order, and returns the first that yields something:
1. the LAST `\\boxed{}` / `\\fbox{}` (braces balanced; `last_boxed`);
2. the last explicit "final answer is/:" phrase or "Final Answer" heading (answer on the next
   line), else the last "the answer is" / "Answer:";
3. the last "#### n" (GSM8K style; normalised as `extract_answer` does: "1,250" -> "1250");
4. the last number in the text (integers, decimals, "1,000", "3/4", "\\frac{3}{4}").
The answer is trimmed (math delimiters, markdown bold, end punctuation); units, "$", "%" and
"x =" stay in the extracted text and are dealt with by the comparison (normalize.py), so what
is stored is what the model wrote. When a response has a `</think>` block, only the text after
it is searched if there is any. Pure functions; only the last MAX_SCAN_CHARS are read, so a huge
or adversarial response costs at most a few linear passes.
"""

from __future__ import annotations

import re

from tasks.verify.normalize import choice_letter, clean_answer

ANSWER_FIELDS = ("answer", "final_answer", "solution")  # where a record keeps its answer, in order

MAX_SCAN_CHARS = 200_000
_PHRASE = re.compile(
    r"(?:final\s+answer|\banswer)(?:\s*\*\*|\s*__)?\s*"
    r"(?:\bis\b(?:\s+(?:therefore|thus|then|clearly))?|\bwas\b|\bwould\s+be\b|\bwill\s+be\b|[:=：])"
    r"[ \t*_]*:?",
    re.IGNORECASE,
)
_HEADING = re.compile(r"final\s+answer[ \t*_#:]*\n", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?=\s|$)")
_NUMBER_TOKEN = re.compile(
    r"-?\\[dt]?frac\{\d+\}\{\d+\}"
    r"|(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:\.\d+)?(?:/\d+(?![\d.]))?"
)
_CHOICE_PHRASE = re.compile(
    r"(?i:\b(?:answer|option|choice))(?:\s*\*\*)?\s*(?i:is|:)?[\s*]*\(?([A-J])\)?(?![\w])"
)
_CHOICE_PAREN = re.compile(r"\(([A-J])\)")
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = ("python", "py", "python3", "")
_NUMBER_WITH_COMMAS = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d+)?")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced; None if absent."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    open_brace = text.find("{", start)
    if open_brace < 0:
        rest = text[start + len("\\boxed") :].strip()  # "\boxed 5" form
        return rest.split()[0].rstrip("$.") if rest else None
    depth = 0
    for index in range(open_brace, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace + 1 : index].strip()
    return None


def _clean_number(text: str) -> str:
    text = text.strip().rstrip(".").strip()
    if _NUMBER_WITH_COMMAS.fullmatch(text):
        return text.replace(",", "")
    return text


def _scalar_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    raise TypeError(type(value).__name__)


def extract_answer(value: object) -> tuple[str | None, str | None]:
    """(extracted answer, raw answer text). Raises TypeError for a type no answer can have.

    GSM8K rationales keep what follows `####`; MATH solutions their last `\\boxed{}`; numbers
    become canonical strings (27.0 -> "27"); a list (OlympiadBench) is joined with ", ".
    """
    if isinstance(value, list):
        parts = [_scalar_text(v) for v in value]
        raw = ", ".join(p for p in parts if p is not None)
        return (raw or None), (raw or None)
    raw = _scalar_text(value)
    if raw is None:
        return None, None
    if "####" in raw:
        answer = _clean_number(raw.rsplit("####", 1)[1])
    elif "\\boxed" in raw or "\\fbox" in raw:
        answer = last_boxed(raw)
    else:
        answer = raw.strip()
    return (answer or None), raw


def _final_part(response: str) -> str:
    """Text after `</think>` when there is any (the thinking may hold drafts), tail-capped."""
    _, sep, tail = response.rpartition("</think>")
    if sep and tail.strip():
        response = tail
    return response[-MAX_SCAN_CHARS:]


def _answer_after(text: str, position: int) -> str | None:
    """The answer that follows an "answer is" phrase: a math span or the rest of the sentence."""
    rest = text[position : position + 2000].lstrip()
    for opener, closer in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if rest.startswith(opener):
            end = rest.find(closer, len(opener))
            if end > len(opener):
                return clean_answer(rest[len(opener) : end]) or None
            break
    line = rest.split("\n", 1)[0]
    match = _SENTENCE_END.search(line)  # "3.5." ends at the last dot, "is 3. So" at the first
    if match:
        line = line[: match.start()]
    return clean_answer(line) or None


def _last_phrase(text: str) -> str | None:
    """The answer after the last "final answer" phrase, else after the last "answer is/:".

    "Final answer" outranks a later plain "answer:" ("The final answer is 12. Checking the
    answer: yes" gives 12)."""
    final = generic = None
    for pattern in (_PHRASE, _HEADING):
        for match in pattern.finditer(text):
            if match.group(0)[:5].lower() == "final":
                final = match if final is None or match.start() > final.start() else final
            elif generic is None or match.start() > generic.start():
                generic = match
    for match in (final, generic):
        answer = _answer_after(text, match.end()) if match else None
        if answer:
            return answer
    return None


def _after_hashes(text: str) -> str | None:
    index = text.rfind("####")
    if index < 0:
        return None
    line = text[index + 4 :].strip().split("\n", 1)[0]
    answer, _ = extract_answer("#### " + line)  # the same normalisation ingest applies
    return clean_answer(answer) if answer else None


def _last_number(text: str) -> str | None:
    match = None
    for match in _NUMBER_TOKEN.finditer(text):
        pass
    if match is None:
        return None
    token = match.group(0)
    return token.replace(",", "") if "," in token else token


def extract_with_source(response: str) -> tuple[str | None, str]:
    """(answer, where it came from: "boxed" | "phrase" | "hashes" | "number" | "none")."""
    if not isinstance(response, str) or not response.strip():
        return None, "none"
    text = _final_part(response)
    if "\\boxed" in text or "\\fbox" in text:
        boxed = last_boxed(text)
        if boxed and clean_answer(boxed):
            return clean_answer(boxed), "boxed"
    for source, finder in (("phrase", _last_phrase), ("hashes", _after_hashes), ("number", _last_number)):
        answer = finder(text)
        if answer:
            return answer, source
    return None, "none"


def extract_final_answer(response: str) -> str | None:
    """The final answer written in `response`, or None when there is nothing answer-like."""
    return extract_with_source(response)[0]


def extract_choice(response: str) -> str | None:
    """The option letter (A-J) a response chose, or None.

    Explicit forms win (a boxed/"answer is" letter, "\\boxed{\\text{(C)}}", "Answer: (B) 42"),
    then "option C"/"choice C", then the last "(C)" in the text.
    """
    if not isinstance(response, str) or not response.strip():
        return None
    text = _final_part(response)
    if len(text) < 40:  # the whole response is just the letter: "C", "(C).", "**C**"
        letter = choice_letter(text)
        if letter:
            return letter
    answer, source = extract_with_source(text)
    if source in ("boxed", "phrase", "hashes"):
        letter = choice_letter(answer, loose=True)
        if letter:
            return letter
    for pattern in (_CHOICE_PHRASE, _CHOICE_PAREN):
        letters = pattern.findall(text)
        if letters:
            return letters[-1]
    return None


def extract_code(response: str) -> str:
    """The program in a response: the last ```python (or untagged) block, else the last fenced
    block of any language, else the whole text (an unterminated fence counts as a block)."""
    text = _final_part(response) if isinstance(response, str) else ""
    blocks = _FENCE.findall(text)
    python = [body for tag, body in blocks if tag.lower() in _PYTHON_TAGS]
    if python:
        return python[-1]
    if blocks:
        return blocks[-1][1]
    return text
