"""The GitHub Actions workflow an instructor's fork runs: valid, and the same steps as .ci/run.

GitHub cannot be reached from here, so the workflow is checked against GitHub's published
schema (vendored in ``check-jsonschema``: no network) and compared with ``.ci/run``, the CI
entry point that does run here: when one gains a step, the other must too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CI_RUN = ROOT / ".ci" / "run"


def workflow() -> dict:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def commands(job: dict) -> list[str]:
    """The shell commands of a job's steps, one string per step."""
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def uses(job: dict) -> list[str]:
    """The actions a job uses, without their versions."""
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def ci_run_steps() -> list[str]:
    """The ``make`` commands ``.ci/run`` runs, in order (its other lines set the scene)."""
    text = CI_RUN.read_text(encoding="utf-8")
    return re.findall(r"^(make [^\n#]*?)\s*$", text, flags=re.M)


def test_workflow_validates_against_githubs_schema():
    checker = Path(sys.executable).with_name("check-jsonschema")
    schema = ["--builtin-schema", "vendor.github-workflows"]
    done = subprocess.run(
        [str(checker), *schema, str(WORKFLOW)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_tests_every_push_and_pull_request_with_the_steps_of_ci_run():
    flow = workflow()
    assert {"push", "pull_request"} <= set(flow["on"])
    steps = ci_run_steps()
    assert steps[-2:] == ["make lint", "make test"], steps
    make_steps = [c for c in commands(flow["jobs"]["test"]) if c.startswith("make ")]
    assert make_steps == steps, "the workflow's test job and .ci/run must run the same steps"


def test_workflow_installs_the_pytorch_build_ci_run_pins():
    pinned = re.search(r'^export TORCH_SPEC="([^"]+)"', CI_RUN.read_text(), flags=re.M)
    assert pinned, ".ci/run no longer pins torch"
    assert workflow()["env"]["TORCH_SPEC"] == pinned[1]


def test_workflow_publishes_the_site_from_the_default_branch_only_after_the_tests():
    jobs = workflow()["jobs"]
    site = next(job for job in jobs.values() if "make book" in commands(job))
    assert site["needs"] == "test"
    assert "github.event.repository.default_branch" in site["if"]
    upload = next(s for s in site["steps"] if s.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == "book/_build/html"
    deploy = next(job for job in jobs.values() if "actions/deploy-pages" in uses(job))
    assert jobs[deploy["needs"]] is site
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
