"""``python -m course_utils doctor`` reports each problem with its fix and exits non-zero."""

from __future__ import annotations

import subprocess
import sys
from collections import namedtuple
from pathlib import Path

from course_utils import doctor

ROOT = Path(__file__).resolve().parents[1]


def problems(findings: list[doctor.Finding]) -> dict[str, doctor.Finding]:
    return {f.topic: f for f in findings if not f.ok}


def test_a_ready_machine_gets_a_clean_report_from_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "course_utils", "doctor"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for topic in ("python", "torch", "device", "jupyter", "data: imdb", "disk"):
        assert f"ok {topic}" in result.stdout
    assert "All good" in result.stdout


def test_every_problem_comes_with_its_fix_and_a_failing_status(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")  # no CUDA here
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "no-such-mirror"))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda _: usage(10**9, 10**9, 1024))
    found = problems(doctor.examine())
    assert set(found) == {"device", "data mirror", "disk"}
    assert all(f.fix for f in found.values())
    assert "COURSE_DATA_DIR" in found["disk"].fix
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert out.count("!! ") == 3 and "3 problem(s)" in out


def test_a_kernel_from_another_python_is_reported(monkeypatch):
    from jupyter_client import kernelspec

    spec = kernelspec.KernelSpec(argv=["/opt/other/bin/python", "-m", "ipykernel_launcher"])
    spec.resource_dir = "/opt/other/share/jupyter/kernels/rnn-course"
    asked = []

    def get_kernel_spec(self, name):
        asked.append(name)
        return spec

    monkeypatch.setattr(kernelspec.KernelSpecManager, "get_kernel_spec", get_kernel_spec)
    finding = doctor._kernel()
    assert asked == ["rnn-course"]
    assert not finding.ok and "/opt/other/bin/python" in finding.detail
    assert "ipykernel install --sys-prefix --name rnn-course" in finding.fix


def test_a_missing_course_kernel_is_reported(monkeypatch):
    from jupyter_client import kernelspec

    def get_kernel_spec(self, name):
        raise kernelspec.NoSuchKernel(name)

    monkeypatch.setattr(kernelspec.KernelSpecManager, "get_kernel_spec", get_kernel_spec)
    finding = doctor._kernel()
    assert not finding.ok and "no `rnn-course` kernel" in finding.detail
    assert "make lab" in finding.fix


def test_data_states_are_told_apart(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    remote = doctor.REGISTRY["tinyshakespeare"].files[0]
    (tmp_path / remote.path).parent.mkdir(parents=True)
    (tmp_path / remote.path).write_text("not yet checked")
    findings, missing = doctor._datasets()
    by_topic = {f.topic: f.detail for f in findings}
    assert by_topic["data: tinyshakespeare"].startswith("present, not yet verified")
    assert by_topic["data: imdb"].startswith("missing")
    assert missing == sum(
        r.size or 0
        for name, info in doctor.REGISTRY.items()
        if name != "tinyshakespeare"
        for r in info.files
    )
