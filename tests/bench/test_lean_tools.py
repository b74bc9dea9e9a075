"""B5's lean sink and sender (benchmarks/lean.py), against each other on loopback: the
sink notes every delivery's webhook-id and answers 204; the sender counts any answer
but 200 as a failure and says which."""

from __future__ import annotations

import httpx
from benchmarks import lean


async def test_the_sink_notes_receipts_and_the_sender_reports_what_was_not_200() -> None:
    server = await lean.start_sink("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            delivered = await client.post("/hook", content=b"{}", headers={"webhook-id": "msg_1"})
            assert delivered.status_code == 204
            requests = [
                (f"k{i}", lean.request_bytes("127.0.0.1", port, "/hook", b"{}")) for i in range(3)
            ]
            sent = await lean.send_at_rate("127.0.0.1", port, requests, rate=1000.0)
            # The sink answers 204, not the 200 a callback gets: none counts as answered.
            assert sent.answered == {} and sent.failures == 3
            assert sorted(sent.problems) == ["k0: HTTP 204", "k1: HTTP 204", "k2: HTTP 204"]
            assert len(sent.late_ms) == 3
            receipts = (await client.get("/receipts")).json()["receipts"]
        assert [r[0] for r in receipts] == ["msg_1", "", "", ""]  # ours carried no webhook-id
    finally:
        server.close()
        await server.wait_closed()
