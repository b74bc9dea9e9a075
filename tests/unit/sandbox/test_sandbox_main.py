"""`python -m receiver.sandbox` serves the four providers on real time and prints their URLs."""

from __future__ import annotations

import asyncio
import sys

import httpx

from .conftest import AUTH, create, status, task_id_of


async def test_the_module_serves_and_prints_base_urls() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "receiver.sandbox",
        "--port",
        "0",
        "--pending-seconds",
        "0",
        "--processing-seconds",
        "0",
        "--api-key",
        "apipod=my-key",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines: dict[str, str] = {}
        async with asyncio.timeout(20):
            while len(lines) < 5:
                line = (await proc.stdout.readline()).decode()
                assert line, "the sandbox exited before printing its URLs"
                name, url, *_ = line.split()
                lines[name] = url
        root = lines["control"].removesuffix("/_sim")
        assert root.startswith("http://127.0.0.1:")
        for name in ("apimall", "apipod", "dreamcore", "revidapi"):
            assert lines[name] == f"{root}/{name}"
        async with httpx.AsyncClient(base_url=root, timeout=10) as client:
            refused = await create(client, "apipod")
            assert refused.status_code == 401
            created = await create(client, "apipod", headers={"authorization": "Bearer my-key"})
            task_id = task_id_of("apipod", created.json())
            done = await status(client, "apipod", task_id, {"authorization": "Bearer my-key"})
            assert done.json()["data"]["status"] == "completed"
            [url] = done.json()["data"]["result"]
            assert url.startswith(f"{root}/apipod/files/")
            assert (await client.get(url)).status_code == 200
            revid = await create(client, "revidapi", headers=AUTH["revidapi"])
            assert revid.status_code == 200
    finally:
        proc.terminate()
        _, stderr = await proc.communicate()
    assert proc.returncode is not None
    assert b"Traceback" not in stderr, stderr.decode()
