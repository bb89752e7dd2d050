"""Faults on a cluster: writes through one node, reads through another, and a node killed mid-apply.

On SQLite (one node) the first two run as well, node B being node A; the node-kill needs the cluster.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from tests.faultproxy import FaultProxy
from tests.reliability.conftest import Project, delete_tasks
from tests.reliability.test_faults import (
    TASKDEFS,
    _apply_core,
    _two_projects,
    body_has,
    pending,
    retry_counts,
    short,
)

pytestmark = pytest.mark.integration


def test_read_back_through_another_node_after_a_lost_answer(project, proxy, server, unique, cluster, scenario):
    from tests.conftest import remote_for

    obs = scenario(
        f"Cluster-shaped ({cluster.backend}, {len(cluster.urls)} node(s)): updates go to node A and reads to node "
        "B, which cached the old definitions when it created them; the answer to two updates is lost after the "
        "server applied them (reset, retries: 1)",
        "the read-back sees what the database holds (list call, not node B's cache): both reported applied "
        "(confirmed), the next plan through node B shows no changes",
    )
    project.configure(timeout=5, retries=1)
    node_b = remote_for(cluster.b, project.root)
    names = [f"{unique}_r{i}" for i in range(2)]
    node_b.create_task_defs([{"name": n, "retryCount": 3, "ownerEmail": project.owner} for n in names])
    for name in names:
        project.write_task(name, retry_count=5)
    assert project("plan").exit_code == 0
    rules = [proxy.add_rule("PUT", TASKDEFS, "reset", body_regex=body_has(n)) for n in names]
    run = project("apply", "-y")
    report = project.last_report()
    status = {r["name"]: (r["status"], r["detail"]) for r in report["results"]}
    cached = {n: (node_b.get_task_def(n) or {}).get("retryCount") for n in names}
    assert retry_counts(server, names) == dict.fromkeys(names, 5)
    assert set(status) == set(names), status
    assert all(s == "applied" and d.startswith("confirmed on the server after:") for s, d in status.values()), status
    assert run.exit_code == 0, run.output
    proxy.clear_rules()
    final = project("plan", "--detailed-exitcode")
    assert final.exit_code == 0 and "No changes." in final.stdout
    obs.observed = (
        f"exit 0; {sum(r.hits for r in rules)} faulted PUTs; both reported applied (confirmed); node B's single "
        f"read meanwhile answered retryCount {sorted(set(cached.values()))} (5 = current, 3 = its stale cache); "
        "next plan: No changes"
    )


def test_two_applies_racing_through_different_nodes(tmp_path, proxy, server, unique, cluster, scenario):
    obs = scenario(
        f"Two applies of different plans for the same task, started together, one through node A and one "
        f"through node B ({cluster.backend}, {len(cluster.urls)} node(s))",
        "the server lock (a workflow def created with POST, 409 when it exists) holds across nodes: exactly one "
        "apply succeeds, the other is refused as stale, and the server holds the winner's content",
    )
    with FaultProxy(cluster.b.removesuffix("/api"), max_lifetime=300) as proxy_b:
        a, b, task = _two_projects(tmp_path, (proxy.api_url, proxy_b.api_url), unique)
        ready = threading.Barrier(2)
        outcome: dict[str, str] = {}
        threads = [
            threading.Thread(target=lambda n=n, p=p: outcome.setdefault(n, _apply_core(p, ready)))
            for n, p in (("a", a), ("b", b))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
    listed = next(d for d in server.list_task_defs() if d["name"] == task)["retryCount"]
    holder = "a" if listed == 1 else "b"
    obs.observed = f"outcomes {dict(sorted(outcome.items()))}; the database holds retryCount {listed} ({holder}'s)"
    assert sorted(outcome.values()) == ["applied", "stale"] and outcome[holder] == "applied", outcome


@pytest.mark.cluster
def test_the_node_apply_talks_to_is_killed_mid_apply(cluster, tmp_path, unique, scenario):
    from idflow.server import local as local_server
    from idflow.server.local import free_port
    from tests.conftest import remote_for
    from tests.reliability.test_faults import planned_updates

    obs = scenario(
        "A third node joins the cluster; `idflow apply --parallelism 1` talks to it alone and it is killed "
        "(SIGKILL) during the third of 6 updates; the re-run goes to a surviving node",
        "nothing reported applied that the database lacks; the rest reported failed; re-plan + apply against "
        "a surviving node converges",
    )
    assert cluster.data_dir is not None, "needs the cluster this session started"
    node = local_server.add_node(cluster.data_dir, free_port(), timeout=420)  # a third JVM on 2 busy cores
    try:
        with FaultProxy(node.url.removesuffix("/api"), max_lifetime=300) as proxy:
            project = Project(tmp_path / "project", proxy.api_url, f"{unique}@test.idflow")
            project.configure(timeout=5, retries=1)
            u = planned_updates(project, unique, 6)
            proxy.add_rule("PUT", TASKDEFS, "delay", delay=2.0, body_regex=body_has(u[2]))
            killed = threading.Event()

            def killer() -> None:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if any(r.action == "delay" for r in proxy.requests):
                        os.killpg(node.pid, signal.SIGKILL)  # the node's own process group (a new session)
                        killed.set()
                        return
                    time.sleep(0.02)

            thread = threading.Thread(target=killer, daemon=True)
            thread.start()
            run = project("apply", "-y", "--parallelism", "1")
            thread.join(timeout=60)
            assert killed.is_set(), "the node was not killed during the apply"
        assert run.exit_code == 1, run.output
        report = project.last_report()
        status = {r["name"]: r["status"] for r in report["results"]}
        survivor = remote_for(cluster.b, tmp_path)
        listed = {d["name"]: d.get("retryCount") for d in survivor.list_task_defs() if d["name"] in u}
        applied = sorted(n for n, s in status.items() if s == "applied")
        failed = sorted(n for n, s in status.items() if s == "failed")
        assert applied == sorted(u[:2]) and failed == sorted(u[2:]), status
        assert all(listed[n] == 5 for n in applied), listed  # nothing reported applied that is not stored
        assert all(listed[n] == 3 for n in failed), listed

        project.api_url = cluster.b  # the re-run goes to a surviving node
        replan = project("plan", "--format", "json")
        assert replan.exit_code == 0, replan.output
        assert pending(json.loads(replan.stdout)) == failed
        again = project("apply", "-y")
        assert again.exit_code == 0, again.output
        final = project("plan", "--detailed-exitcode")
        assert final.exit_code == 0 and "No changes." in final.stdout
        first_failure = next(r["detail"] for r in report["results"] if r["status"] == "failed")
        obs.observed = (
            f"exit 1; report: applied {short(applied, unique)}, failed {short(failed, unique)} (e.g. "
            f"`{first_failure}`); the database (listed through node B) holds exactly the applied ones; re-plan on "
            "node B listed the failed ones; apply, then plan: No changes"
        )
        delete_tasks(survivor, unique)
    finally:
        local_server.remove_node(cluster.data_dir, node, timeout=10)
