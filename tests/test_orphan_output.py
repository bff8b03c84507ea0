"""A learner whose parent died writes on: its output goes to the run folder instead of raising
BrokenPipeError mid-shutdown."""

import os

from hilserl.distributed.orphan_output import OrphanProof, reader_gone, redirect_if_orphaned


def test_lines_written_after_the_reader_died_go_to_the_log(tmp_path):
    read, write = os.pipe()
    stream = OrphanProof(open(write, "w", buffering=1), tmp_path / "learner_output.log")
    stream.write("read by the parent\n")
    assert os.read(read, 100) == b"read by the parent\n" and not reader_gone(write)
    os.close(read)  # the parent is killed
    assert reader_gone(write)
    stream.write("after the parent\n")  # without the fallback: BrokenPipeError
    stream.write("and on\n")
    stream.flush()
    assert stream.moved and (tmp_path / "learner_output.log").read_text() == "after the parent\nand on\n"


def test_a_broken_descriptor_is_moved_before_a_write_from_c(tmp_path, monkeypatch):
    read, write = os.pipe()
    os.close(read)
    stream = open(write, "w")
    monkeypatch.setattr("sys.stdout", stream)
    redirect_if_orphaned(tmp_path)
    os.write(write, b"a stack dump\n")  # as faulthandler writes: straight to the descriptor
    assert (tmp_path / "learner_output.log").read_text() == "a stack dump\n"
