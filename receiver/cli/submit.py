"""`receiver submit`: create a task, and with `--wait` follow it to the end."""

from __future__ import annotations

import time

import click

from receiver.cli.client import JSON, ApiClient, segment
from receiver.cli.errors import CliError, ExitCode
from receiver.cli.options import json_object_value, json_option, session
from receiver.cli.output import Output
from receiver.cli.tasks import error_text, show_task
from receiver.core.model import PROVIDERS, QUALITIES

POLL_SECONDS = 0.5
FINAL = ("completed", "failed")


@click.command()
@click.argument("prompt")
@click.option(
    "--provider",
    type=click.Choice(PROVIDERS),
    help="Where to send it (default: the service's RECEIVER_DEFAULT_PROVIDER).",
)
@click.option("--aspect-ratio", metavar="W:H", help="Such as 16:9 (default 1:1).")
@click.option("--quality", type=click.Choice(QUALITIES), help="Output size (default 2K).")
@click.option(
    "--image-url",
    "image_urls",
    multiple=True,
    metavar="URL",
    help="An input image, which makes the task an edit; repeat for several.",
)
@click.option(
    "--metadata",
    metavar="JSON",
    callback=json_object_value,
    help="A JSON object, echoed back on the task and its events.",
)
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="Submitting again with the same key and input gives the same task, not a second one.",
)
@click.option(
    "--wait", is_flag=True, help="Follow the task: exit 0 when it completes, 1 when it fails."
)
@json_option
def submit(
    prompt: str,
    provider: str | None,
    aspect_ratio: str | None,
    quality: str | None,
    image_urls: tuple[str, ...],
    metadata: JSON | None,
    idempotency_key: str | None,
    wait: bool,
) -> None:
    """Submit an image-generation task for PROMPT."""
    s = session()
    body: JSON = {"prompt": prompt}
    optional = {
        "provider": provider,
        "aspect_ratio": aspect_ratio,
        "quality": quality,
        "image_urls": list(image_urls) or None,
        "metadata": metadata,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    headers = {"idempotency-key": idempotency_key} if idempotency_key else None
    answer = s.api.call("POST", "/v1/tasks", body=body, headers=headers)
    task = answer.data
    if answer.headers.get("idempotent-replayed") == "true" and not s.out.json_mode:
        s.out.line("This Idempotency-Key was used before: this is that task, not a new one.")
    if wait:
        task = follow(s.api, s.out, task)
        show_task(s.out, task)
        if task.get("status") == "failed":
            raise CliError(ExitCode.FAILED, f"task {task['id']} failed: {error_text(task)}")
    else:
        show_task(s.out, task, title=None if s.out.json_mode else "Submitted")


def follow(api: ApiClient, out: Output, task: JSON) -> JSON:
    """Poll the task until it is final: a live spinner on a terminal, plain lines otherwise."""
    task_id = str(task["id"])
    started = time.monotonic()
    seen = str(task.get("status"))

    def say(status: str) -> str:
        return f"{task_id}  {status}  ({time.monotonic() - started:.1f}s)"

    live = not out.json_mode and out.console.is_terminal
    if not out.json_mode:
        out.line(say(seen))
    spinner = out.console.status(say(seen)) if live else None
    if spinner is not None:
        spinner.start()
    try:
        while str(task.get("status")) not in FINAL:
            time.sleep(POLL_SECONDS)
            task = api.get(f"/v1/tasks/{segment(task_id)}")
            current = str(task.get("status"))
            if spinner is not None:
                spinner.update(say(current))
            if current != seen and not out.json_mode:
                out.line(say(current))
            seen = current
    except KeyboardInterrupt:
        click.echo(f"\nstopped waiting; the task goes on: receiver tasks show {task_id}", err=True)
        raise click.Abort() from None
    finally:
        if spinner is not None:
            spinner.stop()
    return task
