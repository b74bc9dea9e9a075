"""SIGTERM under load exits cleanly and loses nothing; logs are JSON and never show a secret."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import orjson
from processes import ready, sandbox_process, start_service, wait
from support import PROVIDERS, TOKEN, bind, service_env, url_of

from receiver.core.tokens import CallbackClaim, sign_callback

SECRET_KEY = "test-secret-key-for-callback-urls"


def free_url() -> tuple[str, int]:
    sock = bind()
    url, port = url_of(sock), sock.getsockname()[1]
    sock.close()
    return url, port


def test_sigterm_under_load_exits_cleanly_and_loses_nothing(tmp_path: Path) -> None:
    url, port = free_url()
    headers = {"authorization": f"Bearer {TOKEN}"}
    accepted: list[str] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=5) as api:
            for n in range(100):  # bounded; ends at the shutdown anyway
                if stop.is_set():
                    return
                body = {"prompt": f"load {worker}-{n}", "provider": PROVIDERS[n % 4]}
                try:
                    response = api.post("/v1/tasks", json=body)
                except httpx.HTTPError:
                    return  # the service has stopped listening
                if response.status_code == 202:
                    accepted.append(response.json()["id"])

    with sandbox_process() as sandbox_url:
        env = service_env(sandbox_url, tmp_path / "r.db", url, RECEIVER_CALLBACK_GRACE="2")
        service = start_service(env, port)
        wait(lambda: ready(url), "service start")
        threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        wait(lambda: len(accepted) >= 40, "load to build up")
        service.send_signal(signal.SIGTERM)
        try:
            code = service.wait(timeout=30)  # the documented bound is 25 s
        except subprocess.TimeoutExpired:
            service.kill()
            raise AssertionError("the service did not exit within 30 s of SIGTERM") from None
        stop.set()
        for thread in threads:
            thread.join()
        assert code == 0

        service = start_service(env, port)
        try:
            wait(lambda: ready(url), "service restart")
            with httpx.Client(base_url=url, headers=headers, timeout=10) as api:

                def finished() -> bool:
                    tasks = api.get("/v1/tasks", params={"limit": 200}).json()["data"]
                    return all(t["status"] in ("completed", "failed") for t in tasks)

                wait(finished, "every accepted task to finish", within=60)
                tasks = {
                    t["id"]: t for t in api.get("/v1/tasks", params={"limit": 200}).json()["data"]
                }
        finally:
            service.terminate()
            service.wait(timeout=30)
    assert set(accepted) <= set(tasks), "a task answered 202 was lost"
    assert all(tasks[task_id]["status"] == "completed" for task_id in accepted)


def test_logs_are_json_lines_with_request_ids_and_no_secrets(tmp_path: Path) -> None:
    url, port = free_url()
    log_file = tmp_path / "service.log"
    with sandbox_process() as sandbox_url, log_file.open("wb") as sink:
        env = service_env(
            sandbox_url,
            tmp_path / "r.db",
            url,
            RECEIVER_SECRET_KEY=SECRET_KEY,
            RECEIVER_LOG_LEVEL="DEBUG",  # successful requests are logged at DEBUG
        )
        service = start_service(env, port, stderr=sink)
        try:
            wait(lambda: ready(url), "service start")
            headers = {"authorization": f"Bearer {TOKEN}", "x-request-id": "req-abc-123"}
            with httpx.Client(base_url=url, headers=headers, timeout=10) as api:
                listed = api.get("/v1/tasks")
                assert listed.headers["x-request-id"] == "req-abc-123"
                task = api.post("/v1/tasks", json={"prompt": "x", "provider": "revidapi"}).json()
                token = sign_callback(
                    SECRET_KEY, CallbackClaim(task["id"], "revidapi"), time.time()
                )
                api.post(f"/callbacks/revidapi/{token}", json={"code": 200, "data": {}})
                api.post("/v1/tasks", json={"prompt": "x", "provider": "nope"})
                fresh = api.get("/v1/tasks", headers={"x-request-id": ""})
                made = fresh.headers["x-request-id"]
                assert made and made != listed.headers["x-request-id"]
                assert api.get("/v1/tasks").headers["x-request-id"] != made
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=30)
    text = log_file.read_text()
    lines = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "receiver.access"]
    assert any(
        line.get("request_id") == "req-abc-123" and line["route"] == "/v1/tasks" for line in access
    )
    assert any(line["route"] == "/callbacks/{provider}/{token}" for line in access)
    for secret in (TOKEN, SECRET_KEY, token, "sandbox-revidapi-key", "sandbox-apimall-key"):
        assert secret not in text
