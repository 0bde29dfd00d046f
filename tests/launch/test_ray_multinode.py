"""Multi-node commands without a cluster: node choice, torchrun variables, the Ray job each stage becomes, and
the shared-dir guard. prouie_4b on a 2-node x 8-GPU ``ray`` profile is rendered through the real planner."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from launch.executors.multinode import HEAD_RESOURCE, node_envs, pick_nodes
from launch.executors.ray import check_shared_paths, job_submission, submission_prefix
from launch.plan import backend, build_plan
from launch.run_pipeline import resolved_config
from launch.stage import StageJob

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def node(node_id: str, ip: str, gpus: int = 8, cpus: int = 64, alive: bool = True, head: bool = False) -> dict:
    resources = {"CPU": cpus, "GPU": gpus, f"node:{ip}": 1.0}
    if head:
        resources[HEAD_RESOURCE] = 1.0
    return {"NodeID": node_id, "NodeManagerAddress": ip, "Alive": alive, "Resources": resources}


def test_two_nodes_of_eight_gpus_get_ranks_master_and_world_size():
    nodes = [node("bb", "10.0.0.12"), node("aa", "10.0.0.11", head=True)]
    picked = pick_nodes(nodes, nnodes=2, gpus_per_node=8)
    envs = node_envs(picked, gpus_per_node=8, master_port=29500)
    assert [n["NodeID"] for n in picked] == ["aa", "bb"]  # the head first
    assert [e["NODE_RANK"] for e in envs] == ["0", "1"]
    assert {e["MASTER_ADDR"] for e in envs} == {"10.0.0.11"}
    assert {e["MASTER_PORT"] for e in envs} == {"29500"}
    assert {e["NNODES"] for e in envs} == {"2"} and {e["FORCE_TORCHRUN"] for e in envs} == {"1"}
    world = sum(int(e["NPROC_PER_NODE"]) for e in envs)
    assert world == 16


def test_node_choice_skips_dead_and_small_nodes_and_orders_by_address():
    nodes = [node("h", "10.0.0.1", gpus=0, head=True),      # CPU-only head: not a training node
             node("d", "10.0.0.2", alive=False),
             node("c", "10.0.0.9"), node("b", "10.0.0.3"), node("s", "10.0.0.4", gpus=4)]
    picked = pick_nodes(nodes, nnodes=2, gpus_per_node=8)
    assert [n["NodeID"] for n in picked] == ["b", "c"]
    assert node_envs(picked, 8, 29501)[1]["MASTER_ADDR"] == "10.0.0.3"
    with pytest.raises(RuntimeError, match="needs 3 nodes with 8 GPUs .* has 2 such alive nodes"):
        pick_nodes(nodes, nnodes=3, gpus_per_node=8)


def test_cpu_nodes_run_one_process_each():
    envs = node_envs([node("a", "127.0.0.1", gpus=0)], gpus_per_node=0, master_port=29500)
    assert envs == [{"FORCE_TORCHRUN": "1", "NNODES": "1", "NODE_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                     "MASTER_PORT": "29500", "NPROC_PER_NODE": "1"}]


@pytest.fixture(scope="module")
def prouie_4b_two_nodes(tmp_path_factory) -> tuple[dict, Path, object]:
    """prouie_4b composed with cluster=ray, 2 nodes x 8 GPUs, run dir inside a shared dir."""
    shared = tmp_path_factory.mktemp("shared")
    run_dir = shared / "runs" / "p4b"
    overrides = ["+experiment=prouie_4b", "cluster=ray", "cluster.address=http://head:8265", "cluster.nnodes=2",
                 "cluster.gpus_per_node=8", "cluster.master_port=29533", f"cluster.shared_dir={shared}",
                 f"pipeline.run_dir={run_dir}"]
    with initialize_config_dir(config_dir=str(RECIPES), version_base=None):
        cfg = resolved_config(compose(config_name="config", overrides=overrides))
    return cfg, shared, build_plan(cfg)


def _stage_job(plan, cfg, name: str) -> StageJob:
    stage = next(s for s in plan.stages if s.name == name)
    [job] = backend(stage.engine).jobs(stage)
    return job


def test_prouie_4b_sft_stage_runs_one_torchrun_per_node(prouie_4b_two_nodes):
    cfg, shared, plan = prouie_4b_two_nodes
    job = _stage_job(plan, cfg, "cm_ner")
    assert (job.nnodes, job.num_gpus, job.multinode) == (2, 8, "torchrun")
    sub = job_submission(job, cfg["cluster"])
    assert "entrypoint_num_gpus" not in sub  # the per-node tasks hold the GPUs, not the coordinator
    command = shlex.split(sub["entrypoint"])
    assert command[:4] == ["cd", job.cwd, "&&", "exec"]
    assert command[4:7] == ["python", "-m", "launch.executors.multinode"]
    spec = json.loads(command[7])
    assert spec == {"argv": job.argv, "cwd": job.cwd, "nnodes": 2, "gpus_per_node": 8, "cpus_per_node": 1,
                    "master_port": 29533}
    assert spec["argv"][:2] == ["llamafactory-cli", "train"]
    assert Path(spec["argv"][2]).is_relative_to(shared)  # the stage config is on the shared dir
    assert sub["runtime_env"]["env_vars"]["PYTHONPATH"].split(":")[0] == str(Path(job.cwd))
    # what each node then runs with (two nodes as ray.nodes() reports them)
    envs = node_envs(pick_nodes([node("n1", "10.1.0.5", head=True), node("n2", "10.1.0.6")], 2, 8), 8, 29533)
    merged = [{**sub["runtime_env"]["env_vars"], **env} for env in envs]
    assert [(m["NODE_RANK"], m["MASTER_ADDR"], m["NNODES"], m["NPROC_PER_NODE"]) for m in merged] == [
        ("0", "10.1.0.5", "2", "8"), ("1", "10.1.0.5", "2", "8")]
    assert {m["MASTER_PORT"] for m in merged} == {"29533"}
    check_shared_paths({**cfg["cluster"]}, plan.run_dir, [job.log_path])


def test_prouie_4b_easyr1_stage_joins_the_cluster_with_two_by_eight(prouie_4b_two_nodes):
    cfg, shared, plan = prouie_4b_two_nodes
    stage = next(s for s in plan.stages if s.name == "de_ner")
    assert stage.config["trainer"]["nnodes"] == 2
    assert stage.config["trainer"]["n_gpus_per_node"] == 8
    assert Path(stage.config["trainer"]["save_checkpoint_path"]).is_relative_to(shared)
    job = _stage_job(plan, cfg, "de_ner")
    assert job.multinode == "ray_driver"
    sub = job_submission(job, cfg["cluster"])
    assert sub["entrypoint_num_gpus"] == 0  # EasyR1's own Ray workers take the 16 GPUs
    assert shlex.split(sub["entrypoint"])[4:] == job.argv  # run once, on the cluster (RAY_ADDRESS is set by Ray)
    assert "verl.trainer.main" in job.argv


def test_single_node_job_holds_its_resources_and_profile_env():
    job = StageJob(stage="cm ner/1", argv=["python", "-c", "print(1)"], env={"A": "job"}, cwd="/w d",
                   log_path="/runs/x/cm_ner/stage.log", num_gpus=2, num_cpus=3)
    sub = job_submission(job, {"runtime_env": {"env_vars": {"A": "profile", "B": "profile"}, "pip": ["x"]}})
    assert sub["entrypoint"] == "cd '/w d' && exec python -c 'print(1)'"
    assert (sub["entrypoint_num_gpus"], sub["entrypoint_num_cpus"]) == (2, 3)
    assert sub["runtime_env"] == {"env_vars": {"A": "job", "B": "profile"}, "pip": ["x"]}
    assert submission_prefix(job).startswith("prouie-cm_ner_1-")
    other_run = StageJob(**{**job.__dict__, "log_path": "/runs/y/cm_ner/stage.log"})
    assert submission_prefix(other_run) != submission_prefix(job)
    changed = job_submission(StageJob(**{**job.__dict__, "env": {"A": "other"}}), {})
    assert changed["metadata"]["prouie_fingerprint"] != sub["metadata"]["prouie_fingerprint"]
    with_working_dir = job_submission(job, {"runtime_env": {"working_dir": "s3://b/code.zip"}})
    assert with_working_dir["entrypoint"] == "python -c 'print(1)'"  # Ray runs it in the shipped working_dir


def test_shared_dir_guard(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    check_shared_paths({"shared_dir": str(shared)}, shared / "runs" / "a", [shared / "models" / "m"])
    with pytest.raises(ValueError, match=r"run dir .* is not inside cluster.shared_dir"):
        check_shared_paths({"shared_dir": str(shared)}, tmp_path / "elsewhere")
    with pytest.raises(ValueError, match=r"path .*models.* is not inside"):
        check_shared_paths({"shared_dir": str(shared)}, shared / "run", [tmp_path / "models"])
    with pytest.raises(ValueError, match="does not exist"):
        check_shared_paths({"shared_dir": str(tmp_path / "missing")}, tmp_path / "missing" / "run")
    with pytest.raises(ValueError, match="nnodes=2 needs cluster.shared_dir"):
        check_shared_paths({"nnodes": 2, "shared_dir": None}, tmp_path)
    check_shared_paths({"nnodes": 1, "shared_dir": None}, tmp_path)  # one node: nothing to share
