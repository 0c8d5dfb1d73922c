"""Three `gantry serve` processes sharing one PostgreSQL database and one S3 bucket: nodes of one cluster.

The servers are the ones `scripts/test.sh` starts (a throwaway PostgreSQL cluster, SeaweedFS); each test gets a
database of its own (made with `psql`) and key prefix-free use of the shared test bucket. Every node runs gantry/echo
with concurrency 4 and 5 s leases, so a killed node's work is rescued quickly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from gantry_compat import functions_copy, wait_for
from webhook_receiver import WebhookReceiver, fetch_jwks, verify_webhook

ECHO = "gantry/echo"
KEY = "alice:cluster"
TERMINAL = {"COMPLETED"}

pytestmark = pytest.mark.skipif(
    not (os.environ.get("GANTRY_TEST_POSTGRES") and os.environ.get("GANTRY_TEST_S3")),
    reason="needs the PostgreSQL and S3 servers scripts/test.sh starts")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def database():
    """A fresh database on the test cluster, dropped afterwards."""
    server = os.environ["GANTRY_TEST_POSTGRES"]
    plain = urlunsplit(urlsplit(server)._replace(query=""))
    name = f"gantry_cluster_{uuid.uuid4().hex}"
    subprocess.run(["psql", plain, "-qc", f"CREATE DATABASE {name}"], check=True)
    yield with_database(server, name)
    subprocess.run(["psql", plain, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


def sql(database_url: str, query: str) -> list[list[str]]:
    plain = urlunsplit(urlsplit(database_url)._replace(query=""))
    out = subprocess.run(["psql", plain, "-AtF", "\t", "-c", query], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


@pytest.fixture
def cluster(gantry_pool, tmp_path, database):
    """Three nodes on one database and one bucket."""
    functions = functions_copy(tmp_path / "functions", {ECHO: {"concurrency": 4}})
    credentials = {"AWS_ACCESS_KEY_ID": os.environ["GANTRY_TEST_S3_ACCESS_KEY"],
                   "AWS_SECRET_ACCESS_KEY": os.environ["GANTRY_TEST_S3_SECRET_KEY"]}
    args = ["--database-url", database, "--file-store", os.environ["GANTRY_TEST_S3"], "--lease-seconds", "5"]
    nodes = [gantry_pool.start(f"node-{name}", functions_dir=functions, api_keys=KEY, allow_egress=["127.0.0.1/32"],
                               extra_args=args, extra_env=credentials) for name in "abc"]
    return nodes


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.headers["Authorization"] = f"Key {KEY}"
    return s


def status_of(node, request_id: str, http: requests.Session) -> dict:
    r = http.get(f"{node.queue_url}/{ECHO}/requests/{request_id}/status", timeout=10)
    assert r.status_code in (200, 202), r.text
    return r.json()


def test_traffic_spread_over_nodes_and_a_node_killed_mid_queue(cluster, database):
    """Requests submitted round-robin to three nodes; one node is killed with work running. Every request reaches
    exactly one terminal state with its own result, and the database holds exactly those requests."""
    a, b, c = cluster
    http = [session() for _ in range(6)]
    markers: dict[str, str] = {}
    for i in range(120):
        node = cluster[i % 3]
        marker = f"m-{i:03d}-{uuid.uuid4().hex[:8]}"
        r = http[0].post(f"{node.queue_url}/{ECHO}", json={"marker": marker, "delay_ms": 200}, timeout=10)
        assert r.status_code == 200, r.text
        markers[r.json()["request_id"]] = marker

    def running():
        rows = sql(database, "SELECT count(*) FROM requests WHERE state = 'running'")
        return int(rows[0][0]) >= 6 or None
    wait_for(running, 20, 0.05, "work running on the nodes")
    c.kill9()

    def all_done():
        rows = sql(database, "SELECT count(*) FROM requests WHERE state NOT IN ('succeeded')")
        return int(rows[0][0]) == 0 or None
    wait_for(all_done, 90, 0.2, "every request to succeed after the kill")

    with ThreadPoolExecutor(max_workers=6) as pool:
        def check(pair):
            index, (request_id, marker) = pair
            node = (a, b)[index % 2]
            r = http[index % 6].get(f"{node.queue_url}/{ECHO}/requests/{request_id}", timeout=10)
            assert r.status_code == 200, r.text
            assert r.json()["marker"] == marker
        list(pool.map(check, enumerate(markers.items())))
    rows = sql(database, "SELECT id, state, attempt FROM requests")
    assert sorted(row[0] for row in rows) == sorted(markers)
    assert all(row[1] == "succeeded" for row in rows)
    # The killed node's attempts ran again elsewhere: some requests took a second attempt, none more than max.
    assert max(int(row[2]) for row in rows) <= 3


def test_webhooks_delivered_once_each_across_nodes(cluster):
    """200 requests with webhooks, submitted across the nodes: each is delivered exactly once, signed by a key every
    node publishes."""
    receiver = WebhookReceiver()
    try:
        http = session()
        ids = []
        for i in range(200):
            node = cluster[i % 3]
            r = http.post(f"{node.queue_url}/{ECHO}", params={"fal_webhook": receiver.url()}, json={"n": i}, timeout=10)
            assert r.status_code == 200, r.text
            ids.append(r.json()["request_id"])
        deliveries = receiver.wait_for(200, 60)
        time.sleep(1)
        deliveries = receiver.snapshot()
        assert sorted(d.request_id for d in deliveries) == sorted(ids)
        jwks = [fetch_jwks(node) for node in cluster]
        assert jwks[0] == jwks[1] == jwks[2]
        for delivery in deliveries[:20]:
            verify_webhook(delivery.headers, delivery.body, jwks[0])
    finally:
        receiver.close()


def test_upload_through_one_node_read_through_another(cluster):
    a, _, c = cluster
    http = session()
    token = http.post(f"{a.url}/storage/auth/token", json={}, timeout=10).json()["token"]
    payload = os.urandom(300_000)
    r = requests.post(f"{a.url}/files/upload", data=payload, timeout=30,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    url = r.json()["access_url"]
    path = urlsplit(url).path
    served = requests.get(f"{c.url}{path}", timeout=30)
    assert served.status_code == 200
    assert served.content == payload
    ranged = requests.get(f"{c.url}{path}", headers={"Range": "bytes=10-19"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == payload[10:20]


def test_multipart_upload_with_its_parts_through_different_nodes(cluster):
    """fal's multipart upload maps onto the bucket's: created on A, one part through each node, completed through
    C, read (streamed from the bucket) through B."""
    a, b, c = cluster
    http = session()
    token = http.post(f"{a.url}/storage/auth/token", json={}, timeout=10).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(f"{a.url}/files/upload/multipart", timeout=10,
                            headers={**auth, "Content-Type": "application/octet-stream", "X-Fal-File-Name": "spread.bin"})
    assert created.status_code == 200, created.text
    access_url, upload_id = created.json()["access_url"], created.json()["uploadId"]
    path = urlsplit(access_url).path
    parts = [os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(123_457)]
    etags = []
    for number, (node, data) in enumerate(zip(cluster, parts), start=1):
        r = requests.put(f"{node.url}{path}/multipart/{upload_id}/{number}", data=data, headers=auth, timeout=60)
        assert r.status_code == 200, r.text
        etags.append({"partNumber": number, "etag": r.headers["ETag"]})
    done = requests.post(f"{c.url}{path}/multipart/{upload_id}/complete", json={"parts": etags[::-1]}, headers=auth, timeout=60)
    assert done.status_code == 200, done.text
    served = requests.get(f"{b.url}{path}", stream=True, timeout=60)
    assert served.status_code == 200
    assert int(served.headers["Content-Length"]) == sum(map(len, parts))
    digest = hashlib.sha256()
    for chunk in served.iter_content(1 << 16):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(b"".join(parts)).hexdigest()


class FreezableProxy:
    """A TCP forwarder on loopback in front of a server. Frozen, it holds every byte in both directions: to the node
    behind it, the server has stopped answering (a partition, not a refused connection)."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket):
        try:
            while data := source.recv(1 << 16):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.flowing.set()
        self.listener.close()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass


def test_ready_fails_while_the_database_does_not_answer_and_recovers(gantry_pool, tmp_path, database):
    """A node whose database stops answering says so on /ready within its 2 s probe (not the 30 s call timeout),
    keeps answering /health, and is ready again by itself once the database answers."""
    parts = urlsplit(database)
    proxy = FreezableProxy(parts.hostname, parts.port)
    try:
        proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        credentials = {"AWS_ACCESS_KEY_ID": os.environ["GANTRY_TEST_S3_ACCESS_KEY"],
                       "AWS_SECRET_ACCESS_KEY": os.environ["GANTRY_TEST_S3_SECRET_KEY"]}
        node = gantry_pool.start("node-ready", api_keys=KEY, extra_env=credentials,
                                 extra_args=["--database-url", proxied, "--file-store", os.environ["GANTRY_TEST_S3"]])
        assert requests.get(f"{node.url}/ready", timeout=10).status_code == 200
        proxy.flowing.clear()
        started = time.monotonic()
        r = requests.get(f"{node.url}/ready", timeout=20)
        elapsed = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert r.json()["store"] == "unreachable" and r.json()["files"] == "ok"
        assert elapsed < 5, elapsed
        assert requests.get(f"{node.url}/health", timeout=5).status_code == 200
        proxy.flowing.set()
        wait_for(lambda: requests.get(f"{node.url}/ready", timeout=10).status_code == 200, timeout_s=30, message="ready again")
        submitted = session().post(f"{node.queue_url}/{ECHO}", json={"prompt": "after"}, timeout=10)
        assert submitted.status_code == 200, submitted.text
    finally:
        proxy.close()


def test_status_stream_on_one_node_sees_a_request_run_on_another(cluster):
    """A status stream on node A follows a request submitted to (and started by) node C to its end."""
    a, _, c = cluster
    http = session()
    r = http.post(f"{c.queue_url}/{ECHO}", json={"delay_ms": 1500}, timeout=10)
    request_id = r.json()["request_id"]
    seen = []
    started = time.monotonic()
    with http.get(f"{a.queue_url}/{ECHO}/requests/{request_id}/status/stream", stream=True, timeout=30) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                seen.append(event["status"])
                if event["status"] == "COMPLETED":
                    break
            assert time.monotonic() - started < 30
    assert seen[-1] == "COMPLETED" and "IN_PROGRESS" in seen


def leaders(cluster) -> list[str]:
    names = []
    for node in cluster:
        if node.proc.poll() is not None:
            continue
        text = requests.get(f"{node.url}/metrics", timeout=10).text
        if re.search(r"^gantry_maintenance_leader(\{[^}]*\})? 1(\.0)?$", text, re.M):
            names.append(node.name)
    return names


def test_maintenance_moves_to_another_node_when_its_leader_dies(cluster, database):
    """One node leads the maintenance; after it is killed another takes over, and a lease it left behind is
    rescued by the new leader."""
    by_name = {node.name: node for node in cluster}
    first = wait_for(lambda: leaders(cluster) if len(leaders(cluster)) == 1 else None, 30, 0.2, "one maintenance leader")
    leader = by_name[first[0]]
    # An abandoned attempt the dead leader can no longer rescue: a running row whose lease already expired.
    r = session().post(f"{leader.queue_url}/{ECHO}", json={"delay_ms": 60_000}, timeout=10)
    request_id = r.json()["request_id"]
    wait_for(lambda: sql(database, f"SELECT state FROM requests WHERE id = '{request_id}'")[0][0] == "running", 20, 0.05,
             "the request to run on the leader")
    leader.kill9()
    survivors = [node for node in cluster if node is not leader]
    second = wait_for(lambda: leaders(survivors) if len(leaders(survivors)) == 1 else None, 40, 0.25, "a new maintenance leader")
    assert second[0] != leader.name
    # The new leader rescues the dead node's attempt (lease 5 s): it runs again on a survivor.
    wait_for(lambda: int(sql(database, f"SELECT attempt FROM requests WHERE id = '{request_id}'")[0][0]) >= 2, 40, 0.25,
             "the dead leader's attempt to be rescued and run again")


@pytest.fixture
def tls_cluster(gantry_pool, tmp_path, database, tls_files):
    """Three TLS nodes (fal_client speaks https only) on one database and one bucket. The first node's address
    stands in for the load balancer: every node hands out URLs under it (`--public-url`), as behind a real one."""
    functions = functions_copy(tmp_path / "functions", {ECHO: {"concurrency": 4}})
    credentials = {"AWS_ACCESS_KEY_ID": os.environ["GANTRY_TEST_S3_ACCESS_KEY"],
                   "AWS_SECRET_ACCESS_KEY": os.environ["GANTRY_TEST_S3_SECRET_KEY"]}
    args = ["--database-url", database, "--file-store", os.environ["GANTRY_TEST_S3"]]
    first = gantry_pool.start("tls-node-a", functions_dir=functions, api_keys=KEY, tls=tls_files, extra_args=args,
                              extra_env=credentials)
    others = [gantry_pool.start(f"tls-node-{name}", functions_dir=functions, api_keys=KEY, tls=tls_files,
                                extra_args=args + ["--public-url", first.url], extra_env=credentials) for name in "bc"]
    return [first, *others]


def test_fal_client_traffic_across_nodes(tls_cluster, fal):
    """The official client submits through each node in turn and reads every result through another one; it
    subscribes through a third; a file uploaded through one node is the input of a run through another, read from the
    bucket (no egress is allowed, so it cannot have been fetched over HTTP)."""
    handles = []
    for i in range(30):
        client = fal(tls_cluster[i % 3], KEY)
        handles.append((i, client.submit(ECHO, {"i": i}).request_id))
    for i, request_id in handles:
        client = fal(tls_cluster[(i + 1) % 3], KEY)
        assert client.result(ECHO, request_id)["i"] == i
    assert fal(tls_cluster[2], KEY).subscribe(ECHO, {"via": "subscribe"})["via"] == "subscribe"
    url = fal(tls_cluster[0], KEY).upload(b"cluster bytes", "text/plain")
    digest = fal(tls_cluster[1], KEY).run("gantry/file/digest", {"file_url": url})
    assert digest["size"] == len(b"cluster bytes")


def test_fal_client_multipart_upload_into_the_bucket(tls_cluster, fal, tmp_path):
    """Over fal_client's 100 MiB threshold the official client uploads in parts of 10 MiB, in parallel; on a
    cluster they become the bucket's multipart upload. The file is a run input on another node and is served whole."""
    size = 100 * 1024 * 1024 + 654_321
    path = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 8 << 20))
            digest.update(chunk)
            out.write(chunk)
            remaining -= len(chunk)
    url = fal(tls_cluster[0], KEY).upload_file(path)
    result = fal(tls_cluster[1], KEY).subscribe("gantry/file/digest", arguments={"file_url": url}, client_timeout=120)
    assert result["sha256"] == digest.hexdigest() and result["size"] == size
