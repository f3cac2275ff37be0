"""Tier 2: the re-plan after apply must change nothing, except where the emulator cannot read back what it
was given (each such case is listed here, with the reason, and only that attribute of that resource passes).

Usage: python3 replan_check.py PLAN.json   (the output of `tofu show -json PLAN`). Exit 1 on any other change.
"""

import json
import sys

# (resource address, attribute): why the emulator, not the stack, makes the re-plan differ
EMULATOR_READ_BACK_GAPS = {
    ("module.catalog.aws_db_parameter_group.this", "parameter"):
        "moto returns DB parameters without their Source; the provider keeps only Source=user ones",
}


def changed_attributes(change: dict) -> set[str]:
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k) or unknown.get(k)}


def main() -> int:
    plan = json.load(open(sys.argv[1]))
    problems, tolerated = [], []
    for rc in plan.get("resource_changes", []):
        actions = rc["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        attrs = changed_attributes(rc["change"]) if actions == ["update"] else {"(" + "/".join(actions) + ")"}
        for attr in sorted(attrs):
            reason = EMULATOR_READ_BACK_GAPS.get((rc["address"], attr))
            (tolerated if reason else problems).append(f"{rc['address']}.{attr}" + (f": {reason}" if reason else ""))
    for line in tolerated:
        print(f"iac-check: re-plan: tolerated (emulator): {line}", file=sys.stderr)
    for line in problems:
        print(f"iac-check: re-plan: CHANGE {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
