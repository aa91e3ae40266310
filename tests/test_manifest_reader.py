"""The manifest reader on real files: forgiving where spreadsheets differ, strict where a mistake
would silently change what runs."""
from __future__ import annotations

import pytest

from attgan_batch.errors import ManifestError
from attgan_batch.manifest import ManifestReader, ManifestRow, RowFailure, scan_manifest
from attgan_batch.model import DEFAULT_ATTRS as NAMES

SOURCE = "0,0,1,0,0,0,0,1,1,1,0,0,1"


def _read(tmp_path, text: str, encoding: str = "utf-8", newline: str = "\n"):
    path = tmp_path / "m.csv"
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    scan_manifest(path)
    return list(ManifestReader(path, NAMES, tmp_path / "out"))


def test_line_numbers_are_the_physical_lines_after_quoted_newlines_and_blank_lines(tmp_path):
    items = _read(tmp_path, f'id,image,source,edit\n\nr1,a.png,"{SOURCE}","Male=1"\nr2,"a\nb.png","{SOURCE}",Bald=1\n'
                            f'\n\nr3,a.png,"{SOURCE}",Young=0\n')
    assert [(i.id, i.line) for i in items] == [("r1", 3), ("r2", 4), ("r3", 8)]


def test_an_exact_duplicate_column_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="image appear more than once"):
        _read(tmp_path, "image,image\na.png,b.png\n")


def test_a_misspelled_column_is_an_error_that_suggests_the_name(tmp_path):
    with pytest.raises(ManifestError, match="'edits' \\(did you mean 'edit'\\?\\)"):
        _read(tmp_path, f'image,source,edits\na.png,"{SOURCE}",Male=1\n')


def test_an_oversize_cell_fails_only_its_row(tmp_path):
    big = "x" * 200_000
    items = _read(tmp_path, f'id,image,source,edit\n{big},a.png,"{SOURCE}",Male=1\nok,a.png,"{SOURCE}",Male=1\n'
                            f'huge-edit,a.png,"{SOURCE}",{"Male=1;" * 20_000}\n')
    assert isinstance(items[0], RowFailure) and "over the 128 KiB limit" in items[0].error and len(items[0].id) < 300
    assert isinstance(items[1], ManifestRow) and items[1].id == "ok"
    assert isinstance(items[2], RowFailure) and "edit cell" in items[2].error


def test_semicolon_csv_with_a_bom_and_crlf_as_excel_writes_it(tmp_path):
    items = _read(tmp_path, f'id;image;source;edit\nr1;a.png;"{SOURCE}";Blond_Hair=1\n', encoding="utf-8-sig",
                  newline="\r\n")
    assert len(items) == 1 and isinstance(items[0], ManifestRow)
    assert items[0].source == [int(v) for v in SOURCE.split(",")] and items[0].line == 2


def test_tab_separated_and_spaces_after_separators(tmp_path):
    tabbed = _read(tmp_path, f"id\timage\tsource\tedit\nt1\ta.png\t{SOURCE}\tMale=1\n")
    assert isinstance(tabbed[0], ManifestRow) and tabbed[0].id == "t1"
    spaced = _read(tmp_path, f'id, image, source, edit\nsp1, photos/x.png, "{SOURCE}", Male=1\n')
    assert isinstance(spaced[0], ManifestRow) and spaced[0].image.name == "x.png"


def test_spreadsheet_spellings_names_with_spaces_and_yes_no(tmp_path):
    [row] = _read(tmp_path, 'id,image,source,edit\nr,a.png,"no,no,yes,no,no,no,no,yes,yes,yes,no,no,yes",Blond Hair=yes\n')
    assert isinstance(row, ManifestRow) and row.source == [int(v) for v in SOURCE.split(",")]
    assert row.edit.edits[0].name == "Blond_Hair" and row.edit.edits[0].value == 1.0


def test_commas_between_edit_items_suggest_semicolons(tmp_path):
    [row] = _read(tmp_path, f'id,image,source,edit\nr,a.png,"{SOURCE}","Blond_Hair=1,Eyeglasses=1"\n')
    assert isinstance(row, RowFailure) and "'Blond_Hair=1;Eyeglasses=1'" in row.error


def test_output_extensions_work_or_are_refused_never_doubled(tmp_path):
    items = _read(tmp_path, f'id,image,source,edit,output\nw,a.png,"{SOURCE}",Male=1,face1.webp\n'
                            f'b,a.png,"{SOURCE}",Male=1,face1.bmp\nn,a.png,"{SOURCE}",Male=1,face1\n')
    assert items[0].output == "face1.webp" and items[0].fmt == "webp"
    assert isinstance(items[1], RowFailure) and "use .png, .jpg or .webp" in items[1].error
    assert items[2].output == "face1.png"


def test_an_image_found_only_from_the_current_folder_says_so_and_base_dir_fixes_it(tmp_path, monkeypatch):
    from conftest import write_image

    (tmp_path / "lists").mkdir()
    write_image(tmp_path / "photos" / "x.png")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "lists" / "m.csv"
    path.write_text(f'id,image,source,edit\nr,photos/x.png,"{SOURCE}",Male=1\n')
    [row] = list(ManifestReader(path, NAMES, tmp_path / "out"))
    assert isinstance(row, RowFailure) and "--base-dir ." in row.error
    [row] = list(ManifestReader(path, NAMES, tmp_path / "out", base_dir=tmp_path))
    assert isinstance(row, ManifestRow) and row.image == tmp_path / "photos" / "x.png"


def test_an_image_name_too_long_for_the_file_system_fails_its_row_only(tmp_path):
    from attgan_batch.data.images import load_rgb
    from attgan_batch.errors import RowError

    [row] = _read(tmp_path, "image\n" + "e" * 70_000 + "\n")  # under the cell limit, over NAME_MAX
    with pytest.raises(RowError, match="cannot be looked up"):
        load_rgb(row.image)
