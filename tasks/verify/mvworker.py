"""Tasks layer (verify): the math-verify worker process, run as `python -m tasks.verify.mvworker`.

Why a process: math-verify's own timeouts use SIGALRM, which only works in the main thread,
and a pathological expression can spin inside sympy (or in C) where no thread can be stopped.
The pool (mvpool.py) runs math-verify here and kills this process when a call overruns.

Protocol: one JSON request per stdin line, one JSON reply per stdout line (each reply is a
single small write, so the parent reads whole lines). The first line written is
{"status": "ready"}. Request: {"gold", "pred", "timeout", "symmetric"}. Reply status:
"ok" (with "equal"), "unparsed" (neither side became a sympy object), "timeout", "error".
Exits on end of input (the parent is gone or done).
"""

from __future__ import annotations

import json
import logging
import resource
import signal
import sys

MEMORY_LIMIT_BYTES = 4 * 1024**3  # sympy blow-ups end as MemoryError, not as a swapping host
CPU_BACKSTOP_S = 30  # per request beyond its timeout: an orphaned, spinning worker still dies


class _Budget(BaseException):
    """Raised from SIGALRM; a BaseException so `except Exception` inside sympy cannot eat it."""


def _on_alarm(signum, frame):
    raise _Budget


def _as_math(text: str) -> str:
    # math-verify's LaTeX extractor looks for math spans; an extracted answer is one. "\$" is
    # a currency sign, which would otherwise be paired up as a math delimiter.
    text = text.replace("\\$", "")
    return text if "$" in text else f"${text}$"


def _handle(request: dict, parse, verify, configs) -> dict:
    timeout = max(0.01, float(request.get("timeout", 5.0)))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_soft = int(used.ru_utime + used.ru_stime + timeout + CPU_BACKSTOP_S)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, resource.getrlimit(resource.RLIMIT_CPU)[1]))
    except (ValueError, OSError):  # a hard limit below it is already stricter
        pass
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        gold = parse(_as_math(request["gold"]), configs, parsing_timeout=None)
        pred = parse(_as_math(request["pred"]), configs, parsing_timeout=None)
        if all(isinstance(item, str) for item in (*gold, *pred)):
            return {"status": "unparsed"}
        equal = verify(gold, pred, timeout_seconds=None)
        if not equal and request.get("symmetric"):
            equal = verify(pred, gold, timeout_seconds=None)
        return {"status": "ok", "equal": bool(equal)}
    except MemoryError:
        return {"status": "error", "error": "memory_limit"}
    except Exception as error:  # math-verify/sympy failures on odd input are an answer, not a crash
        return {"status": "error", "error": f"{type(error).__name__}: {error}"[:300]}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main() -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ValueError, OSError):  # a lower hard limit is already in place: keep it
        pass
    logging.disable(logging.WARNING)  # math-verify logs every timeout/parse failure
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    configs = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    signal.signal(signal.SIGALRM, _on_alarm)
    # Warm-up: lazy parser construction must not eat the first request's budget.
    half = parse("$\\frac{1}{2}$", configs, parsing_timeout=None)
    verify(half, parse("$0.5$", configs, parsing_timeout=None), timeout_seconds=None)
    out = sys.stdout
    out.write('{"status": "ready"}\n')
    out.flush()
    for line in sys.stdin:
        try:
            reply = _handle(json.loads(line), parse, verify, configs)
        except _Budget:  # raised anywhere in _handle: the request overran its budget
            reply = {"status": "timeout"}
        except (ValueError, KeyError, TypeError) as error:  # a malformed request
            reply = {"status": "error", "error": f"bad request: {error}"[:300]}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
