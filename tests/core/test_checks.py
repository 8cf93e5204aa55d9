"""course_utils.core.checks.require_real_data: the one check of the developers' real samples (../shared/data)."""
import pytest

from course_utils.core.checks import require_real_data


def test_a_folder_with_every_file_is_returned_as_a_path(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"")
    (tmp_path / "b.npz").write_bytes(b"")
    assert require_real_data(str(tmp_path), ["a.npz", "b.npz"], what="maps") == tmp_path


def test_missing_files_are_all_named_with_the_folder_and_where_they_live(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"")
    (tmp_path / "c.npz").mkdir()  # a folder where a file is expected does not count
    with pytest.raises(FileNotFoundError) as err:
        require_real_data(tmp_path, ["a.npz", "b.npz", "c.npz"], what="the real maps")
    assert str(err.value) == (f"b.npz, c.npz not found in {tmp_path}: the real maps live in ../shared/data beside the "
                              "repository (not in the kit); pass the folder that holds them.")


def test_folders_are_checked_as_folders(tmp_path):
    (tmp_path / "sample").mkdir()
    (tmp_path / "calibration").write_bytes(b"")  # a file where a folder is expected does not count
    assert require_real_data(tmp_path, ["sample"], what="pairs", folders=True) == tmp_path
    with pytest.raises(FileNotFoundError, match=r"^calibration not found in .*: pairs live in ../shared/data"):
        require_real_data(tmp_path, ["sample", "calibration"], what="pairs", folders=True)
