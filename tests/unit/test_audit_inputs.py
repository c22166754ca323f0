"""Hostile input found by the second audit round, at the level of the part that decides."""

from __future__ import annotations

from urllib.parse import unquote

from plastrond.jobs.ids import MAX_SEGMENT, job_id_segment


def test_an_id_spelled_as_a_shortened_segment_does_not_share_its_folder() -> None:
    # A long id is shortened to a prefix and a hash; the id that *is* that shortened name,
    # decoded, must not land in the same folder (it would resume or overwrite the other job).
    long_id = "http://archelon.example/import_jobs/" + "x" * 300
    shortened = job_id_segment(long_id)
    assert len(shortened) == MAX_SEGMENT
    impostor = unquote(shortened)
    assert impostor != long_id
    assert job_id_segment(impostor) != shortened
    assert len(job_id_segment(impostor)) <= MAX_SEGMENT
    # ids of that length that do not look shortened keep their readable segment
    plain = "y" * MAX_SEGMENT
    assert job_id_segment(plain) == plain
