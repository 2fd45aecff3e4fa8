"""How many music workers a cluster gets and what each asks of Ray's scheduler: a GPU each where there are
GPUs, else a share of the CPUs. Plain arithmetic on `ray.cluster_resources()`, no Ray import."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CPUS_PER_CPU_WORKER = 4  # a CPU-only cluster gets one worker per this many CPUs unless told how many


@dataclass(frozen=True)
class ReplicaPlan:
    """The workers to start.

    Attributes:
        replicas: how many (one song at a time each).
        num_gpus: GPUs each asks for (1 on a GPU cluster, 0 without).
        num_cpus: CPUs each asks for; on a CPU-only cluster a share, so that the asked number always fits.
        threads: torch CPU threads each worker uses (the CPUs it was given, at least 1).
    """

    replicas: int
    num_gpus: float
    num_cpus: float
    threads: int

    def actor_options(self) -> dict[str, Any]:
        """Ray Serve's `ray_actor_options` for one worker."""
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}


def plan_replicas(resources: dict[str, float], replicas: int = 0, threads: int = 0) -> ReplicaPlan:
    """The workers for a cluster with `resources` (`ray.cluster_resources()`).

    Args:
        resources: the cluster's totals, e.g. {"CPU": 64.0, "GPU": 8.0, ...}.
        replicas: workers wanted; 0: one per GPU, or on a cluster without GPUs one per
            `CPUS_PER_CPU_WORKER` CPUs (at least one).
        threads: torch threads per worker; 0: the CPUs the worker asks for (at least 1).
    """
    gpus = int(resources.get("GPU", 0))
    cpus = float(resources.get("CPU", 1.0))
    if gpus:
        count = replicas or gpus
        if count > gpus:
            raise ValueError(f"{count} music workers asked for, but the cluster has {gpus} GPUs (one worker each)")
        # One CPU each feeds its GPU; a cluster with fewer CPUs than GPUs shares them out.
        num_cpus = min(1.0, cpus / count)
        return ReplicaPlan(count, 1.0, num_cpus, threads or 1)
    count = replicas or max(1, int(cpus // CPUS_PER_CPU_WORKER))
    # At most one CPU each, so that workers fit whatever the machines' sizes; more workers than CPUs get a share
    # (rounded down to a hundredth, so that they all fit). Ray does not pin threads to CPUs: the number only
    # spreads the workers over the machines. Torch threads follow the CPUs per worker over the whole cluster.
    num_cpus = min(1.0, math.floor(100 * cpus / count) / 100)
    if num_cpus <= 0:
        raise ValueError(f"{count} music workers do not fit a cluster with {cpus:g} CPUs")
    return ReplicaPlan(count, 0.0, num_cpus, threads or max(1, int(cpus // count)))
