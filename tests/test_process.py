"""Process tuning: physical cores, torch threads, glibc's reuse of freed memory."""

import pytest
import torch

from semfuse.process import physical_cores, torch_threads


def test_physical_cores_is_a_positive_count():
    assert 1 <= physical_cores()


def test_torch_threads_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_freed_tensor_memory_is_reused_without_page_faults():
    """After reuse_freed_memory (as the computing commands set it), a large tensor freed and allocated again
    is soon served from memory already mapped: no fresh zero-filled pages (counted in a child process; glibc
    needs a few rounds before its freed blocks line up with the aligned requests)."""
    import subprocess
    import sys

    script = (
        "import resource, torch\n"
        "from semfuse.process import reuse_freed_memory\n"
        "faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "def touch():\n"
        "    before = faults(); torch.empty(16 * 2**20).fill_(1.0); return faults() - before\n"
        "default = [touch() for _ in range(4)]\n"
        "assert reuse_freed_memory()\n"
        "reused = [touch() for _ in range(12)]\n"
        "print(min(default), min(reused[-4:]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode and "assert reuse_freed_memory()" in result.stderr:
        pytest.skip("not glibc: mallopt is not available")
    assert result.returncode == 0, result.stderr[-2000:]
    default, reused = (int(value) for value in result.stdout.split())
    pages = 16 * 2**20 * 4 // 4096  # a 64 MB tensor
    assert default > pages // 2  # glibc's default: a fresh mapping, page-faulted in, every time
    assert reused < pages // 20
