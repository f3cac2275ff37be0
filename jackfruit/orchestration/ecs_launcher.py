"""Dagster runs on ECS Fargate: dagster-aws's ``EcsRunLauncher``, with each run task's network taken from strings.

The stock launcher takes a run task's subnets and security groups only inside ``run_task_kwargs``, a free-form
mapping that dagster.yaml cannot fill from the environment; the stack knows them only after it is applied. Here
they are two more settings, ``run_subnets`` and ``run_security_groups`` (comma-separated; ``{env: ...}`` in
deploy/dagster/dagster-ecs.yaml), so that the run tasks get the run security group (HTTPS egress to the ADS)
rather than the daemon's own (no egress): docs/deploy-aws.md. Needs the ``aws`` extra (dagster-aws).
"""

from __future__ import annotations

from typing import Any

from dagster import Field, StringSource
from dagster_aws.ecs import EcsRunLauncher


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class EnvConfiguredEcsRunLauncher(EcsRunLauncher):
    """``EcsRunLauncher`` plus ``run_subnets`` / ``run_security_groups``: every run task in those subnets, with
    those security groups and no public IP. Everything else is the stock launcher's."""

    def __init__(self, inst_data: Any = None, run_subnets: str | None = None, run_security_groups: str | None = None,
                 **kwargs: Any) -> None:
        subnets, groups = _split(run_subnets), _split(run_security_groups)
        if subnets or groups:
            if not (subnets and groups):
                raise ValueError("run_subnets and run_security_groups go together (each run task needs both)")
            network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": groups,
                                               "assignPublicIp": "DISABLED"}}
            kwargs["run_task_kwargs"] = {**(kwargs.get("run_task_kwargs") or {}), "networkConfiguration": network}
        super().__init__(inst_data=inst_data, **kwargs)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **super().config_type(),
            "run_subnets": Field(StringSource, is_required=False,
                                 description="Comma-separated subnet ids of every run task."),
            "run_security_groups": Field(StringSource, is_required=False,
                                         description="Comma-separated security group ids of every run task."),
        }
