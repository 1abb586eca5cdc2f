"""Flows layer (runtime): tell someone when a run fails, and tell automations when a release is out.

- `ALERT_HOOKS` (on_failure, on_crashed) send one message through the Prefect notification
  block named by $TEACHABLE_NOTIFY_BLOCK (`<block-type-slug>/<block-name>`, e.g.
  `slack-webhook/nightly` or `custom-webhook/teachable-alerts`), only for a top-level flow run:
  a failed stage subflow fails its parent `curate` run too, and that is one failure, one message.
  Unset: nothing is sent. A notification that cannot be sent is a warning in the run's log,
  never a second failure.
- `emit_release_published` emits the event `teachable.release.published` (name, version, rows,
  sha256, path) when publish wrote a new version, for an automation (e.g. start training).
"""

from __future__ import annotations

import os

from prefect.client.schemas.objects import FlowRun, State
from prefect.events import emit_event
from prefect.logging import get_logger

NOTIFY_BLOCK_ENV = "TEACHABLE_NOTIFY_BLOCK"
RELEASE_EVENT = "teachable.release.published"
logger = get_logger("teachable.alerts")


def message_of(flow_name: str, flow_run: FlowRun, state: State) -> tuple[str, str]:
    subject = f"teachable: {flow_name} run {flow_run.name} {state.name}"
    lines = [f"Flow run {flow_run.name} ({flow_run.id}) of `{flow_name}` ended {state.name}.",
             (state.message or "").strip().splitlines()[0] if state.message else ""]
    if flow_run.deployment_id:
        lines.append(f"Deployment {flow_run.deployment_id}.")
    ui = os.environ.get("PREFECT_UI_URL", "").rstrip("/")
    if ui:
        lines.append(f"{ui}/runs/flow-run/{flow_run.id}")
    return subject, "\n".join(line for line in lines if line)


def notify_failure(flow, flow_run: FlowRun, state: State) -> None:
    block_ref = os.environ.get(NOTIFY_BLOCK_ENV, "").strip()
    if not block_ref or flow_run.parent_task_run_id is not None:
        return
    try:
        from prefect.blocks.core import Block

        block = Block.load(block_ref)
        subject, body = message_of(flow.name, flow_run, state)
        block.notify(body=body, subject=subject)
    except Exception as exc:  # an alert that fails must not hide the failure it reports
        logger.warning("could not send the failure notification through %s: %s", block_ref, type(exc).__name__)


ALERT_HOOKS = {"on_failure": [notify_failure], "on_crashed": [notify_failure]}


def emit_release_published(result: dict) -> None:
    """After a publish that wrote a new version (an unchanged release emits nothing)."""
    if not result.get("created"):
        return
    name, version = result["name"], result["version"]
    emit_event(
        RELEASE_EVENT,
        resource={"prefect.resource.id": f"teachable.release.{name}.v{version}",
                  "prefect.resource.name": f"{name}@v{version}"},
        payload={"name": name, "version": version, "rows": result["rows"], "sha256": result["sha256"],
                 "path": str(result.get("path", ""))},
    )
