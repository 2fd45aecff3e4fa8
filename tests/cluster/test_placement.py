"""How many music workers a cluster gets and what each asks of Ray (plain arithmetic: no cluster needed)."""

from __future__ import annotations

import pytest

from app.cluster.placement import ReplicaPlan, plan_replicas


def test_one_worker_per_gpu_each_with_one_gpu() -> None:
    plan = plan_replicas({"CPU": 64.0, "GPU": 8.0, "memory": 1e12})
    assert plan == ReplicaPlan(replicas=8, num_gpus=1.0, num_cpus=1.0, threads=1)
    assert plan.actor_options() == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert plan_replicas({"CPU": 64.0, "GPU": 8.0}, replicas=3).replicas == 3


def test_more_gpu_workers_than_gpus_is_refused() -> None:
    with pytest.raises(ValueError, match="has 2 GPUs"):
        plan_replicas({"CPU": 16.0, "GPU": 2.0}, replicas=3)


def test_cpu_workers_share_the_cpus_so_that_they_always_fit() -> None:
    assert plan_replicas({"CPU": 2.0}, replicas=2) == ReplicaPlan(2, 0.0, 1.0, 1)  # this machine, in the tests
    assert plan_replicas({"CPU": 2.0}, replicas=3) == ReplicaPlan(3, 0.0, 0.66, 1)
    assert plan_replicas({"CPU": 16.0}) == ReplicaPlan(4, 0.0, 1.0, 4)  # one per 4 CPUs, 4 torch threads each
    assert plan_replicas({"CPU": 2.0}).replicas == 1
    assert plan_replicas({"CPU": 16.0}, threads=2).threads == 2
