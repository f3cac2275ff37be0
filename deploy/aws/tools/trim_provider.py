"""Trims a copy of the AWS provider's source to an allowlist of service packages, before `go build`.

Run in the provider module's root: python3 trim_provider.py ALLOWLIST. It edits two generated files:
- internal/provider/sdkv2/service_packages_gen.go: the provider registers only the allowed service packages;
- internal/conns/awsclient_gen.go: only the SDK clients still imported by the code the binary links are kept,
  so the other ~250 SDK service clients are not compiled.
Fails loudly if an allowlisted name is not a service package, or if a file no longer has the shape it expects.
"""

import re
import sys
from pathlib import Path

MODULE = "github.com/hashicorp/terraform-provider-aws/"
SDK = "github.com/aws/aws-sdk-go-v2/service/"
PACKAGES_GEN = Path("internal/provider/sdkv2/service_packages_gen.go")
CLIENTS_GEN = Path("internal/conns/awsclient_gen.go")
IMPORT_RE = re.compile(r'^\s*(?:(\w+)\s+)?"([^"]+)"\s*$')


def read_allowlist(path: str) -> set[str]:
    lines = Path(path).read_text().splitlines()
    return {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}


def imports(go_file: Path) -> list[tuple[str | None, str]]:
    out, in_block = [], False
    for line in go_file.read_text().splitlines():
        if line.startswith("import ("):
            in_block = True
        elif in_block and line.startswith(")"):
            in_block = False
        elif in_block or line.startswith("import "):
            m = IMPORT_RE.match(line.removeprefix("import "))
            if m:
                out.append((m.group(1), m.group(2)))
    return out


def trim_service_packages(allowed: set[str]) -> None:
    text = PACKAGES_GEN.read_text()
    present = set(re.findall(r"^\t\t(\w+)\.ServicePackage\(ctx\),$", text, re.M))
    missing = allowed - present
    if missing:
        sys.exit(f"trim_provider: not service packages of this provider: {sorted(missing)}")
    drop = present - allowed
    kept = [
        ln for ln in text.splitlines(keepends=True)
        if not any(ln == f'\t"{MODULE}internal/service/{p}"\n' or ln == f"\t\t{p}.ServicePackage(ctx),\n" for p in drop)
    ]
    PACKAGES_GEN.write_text("".join(kept))
    print(f"trim_provider: {len(allowed)} of {len(present)} service packages kept")


def linked_sdk_services() -> set[str]:
    """SDK service packages imported by the provider's packages reachable from main (awsclient_gen.go aside)."""
    seen, todo, sdk = set(), [""], set()
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        for go_file in Path(pkg or ".").glob("*.go"):
            if go_file.name.endswith("_test.go") or go_file == CLIENTS_GEN:
                continue
            for _, path in imports(go_file):
                if path.startswith(MODULE):
                    todo.append(path.removeprefix(MODULE))
                elif path.startswith(SDK):
                    sdk.add(path)
    return sdk


def trim_clients(needed: set[str]) -> None:
    text = CLIENTS_GEN.read_text()
    names = {alias or path.rsplit("/", 1)[1]: path for alias, path in imports(CLIENTS_GEN) if path.startswith(SDK)}
    drop = {name for name, path in names.items() if path not in needed}
    func_re = re.compile(r"^func \(c \*AWSClient\) \w+\(ctx context\.Context\) \*(\w+)\.Client \{\n.*?\n\}\n\n?", re.M | re.S)
    text = func_re.sub(lambda m: "" if m.group(1) in drop else m.group(0), text)
    lines = [ln for ln in text.splitlines(keepends=True) if not any(f'"{names[n]}"' in ln for n in drop)]
    text = "".join(lines)
    leftover = [n for n in drop if re.search(rf"\b{n}\.", text)]
    if leftover:
        sys.exit(f"trim_provider: {CLIENTS_GEN} still uses dropped clients {leftover[:5]}: its shape changed")
    CLIENTS_GEN.write_text(text)
    print(f"trim_provider: {len(names) - len(drop)} of {len(names)} SDK clients kept")


def main() -> None:
    allowed = read_allowlist(sys.argv[1])
    trim_service_packages(allowed)
    trim_clients(linked_sdk_services())


if __name__ == "__main__":
    main()
