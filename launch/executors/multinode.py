"""Spread one stage command over several Ray nodes: one copy per node, torchrun variables set for each.

LLaMA-Factory's own Ray mode (``USE_RAY=1``) is GPU-only and fragile in 0.9.5 (shared notes, section 9), so a
multi-node SFT stage runs the documented way instead: the same ``llamafactory-cli train`` on every node with
``FORCE_TORCHRUN=1 NNODES NODE_RANK MASTER_ADDR MASTER_PORT NPROC_PER_NODE`` (section 8).

This module is the entrypoint of such a stage's Ray job (``python -m launch.executors.multinode '<spec json>'``,
built by ``launch.executors.ray``). It runs inside the job, where ``RAY_ADDRESS`` points at the cluster and, with
token authentication, ``ray.init()`` finds the token of the node it runs on (``launch.executors.ray_auth``): it
picks the nodes, pins one Ray task per node with ``NodeAffinitySchedulingStrategy`` (holding that node's GPUs), runs the
command there as a subprocess with a ``[node R]`` prefix on every output line, and exits non-zero as soon as
any node fails (the other nodes are cancelled, so the executor can retry the whole stage).

Node choice (deterministic): alive nodes that have ``gpus_per_node`` GPUs and ``cpus_per_node`` CPUs; the head
node first when it qualifies, then the others by IP address and node id. Rank 0's IP is ``MASTER_ADDR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

HEAD_RESOURCE = "node:__internal_head__"


def pick_nodes(nodes: Sequence[Mapping], nnodes: int, gpus_per_node: int, cpus_per_node: int = 0) -> list[Mapping]:
    """The ``nnodes`` nodes a stage runs on, in rank order (``nodes`` as returned by ``ray.nodes()``)."""
    fit = [
        node for node in nodes
        if node.get("Alive")
        and node.get("Resources", {}).get("GPU", 0) >= gpus_per_node
        and node.get("Resources", {}).get("CPU", 0) >= cpus_per_node
    ]
    fit.sort(key=lambda n: (HEAD_RESOURCE not in n.get("Resources", {}), n["NodeManagerAddress"], n["NodeID"]))
    if len(fit) < nnodes:
        raise RuntimeError(
            f"the stage needs {nnodes} nodes with {gpus_per_node} GPUs and {cpus_per_node} CPUs each, but the "
            f"cluster has {len(fit)} such alive nodes (of {len(nodes)}); check `ray status`, or lower "
            "cluster.nnodes / cluster.gpus_per_node"
        )
    return fit[:nnodes]


def node_envs(nodes: Sequence[Mapping], gpus_per_node: int, master_port: int) -> list[dict[str, str]]:
    """torchrun variables for each picked node, rank = position in ``nodes`` (see LLaMA-Factory's launcher)."""
    master_addr = nodes[0]["NodeManagerAddress"]
    return [
        {
            "FORCE_TORCHRUN": "1",
            "NNODES": str(len(nodes)),
            "NODE_RANK": str(rank),
            "MASTER_ADDR": master_addr,
            "MASTER_PORT": str(master_port),
            "NPROC_PER_NODE": str(max(gpus_per_node, 1)),
        }
        for rank in range(len(nodes))
    ]


def run_on_node(argv: list[str], env: Mapping[str, str], cwd: str, prefix: str) -> int:
    """Run the command on this node, echoing each output line with ``prefix``; the exit code is returned.

    The child gets its own process group and dies with this worker (prctl), so a cancelled task leaves no
    training behind.
    """
    from launch.executors.processes import die_with_parent

    proc = subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
    )
    for raw in proc.stdout:
        print(f"{prefix} {raw.decode('utf-8', 'replace').rstrip()}", flush=True)
    return proc.wait()


def main(spec: Mapping) -> int:
    """Run ``spec['argv']`` on ``spec['nnodes']`` nodes of the cluster this Ray job belongs to."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ray.init(log_to_driver=True)
    gpus, cpus = int(spec["gpus_per_node"]), int(spec.get("cpus_per_node", 1))
    nodes = pick_nodes(ray.nodes(), int(spec["nnodes"]), gpus, cpus)
    envs = node_envs(nodes, gpus, int(spec["master_port"]))
    remote = ray.remote(run_on_node)
    pending = {}
    for node, env in zip(nodes, envs):
        rank = env["NODE_RANK"]
        print(f"[multinode] rank {rank} -> node {node['NodeID'][:12]} ({node['NodeManagerAddress']}) {env}",
              flush=True)
        pinned = remote.options(num_gpus=gpus, num_cpus=cpus, max_retries=0,
                                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
        ref = pinned.remote(spec["argv"], env, spec["cwd"], f"[node {rank}]")
        pending[ref] = rank
    code = 0
    while pending and code == 0:
        [done], _ = ray.wait(list(pending), num_returns=1)
        rank = pending.pop(done)
        code = ray.get(done)
        print(f"[multinode] node {rank} exited with {code}", flush=True)
    for ref in pending:
        ray.cancel(ref, force=True)
    return code


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
